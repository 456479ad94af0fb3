//! TLS: the rustls server configuration built from `--tls-cert-file`, `--tls-key-file` and
//! `--tls-ca-cert-file`, and the handshake that turns an accepted TCP stream into a TLS one.
//!
//! rustls with the `ring` provider (chosen explicitly, so the build needs no cmake or nasm and
//! no process-wide default provider). When a CA file is given, clients must present a
//! certificate that chains to it, as Redis's `tls-auth-clients yes` does.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// How long a client may take to finish its TLS handshake before it is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS acceptor for `config`, or `None` when no TLS port is configured. Errors name the
/// file at fault.
pub fn acceptor(config: &Config) -> io::Result<Option<TlsAcceptor>> {
    if config.tls_port.is_none() {
        if config.no_plain {
            return Err(invalid("--no-plain needs --tls-port"));
        }
        return Ok(None);
    }
    let (Some(cert_file), Some(key_file)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Err(invalid(
            "--tls-port needs --tls-cert-file and --tls-key-file",
        ));
    };
    let server_config = server_config(cert_file, key_file, config.tls_ca_cert_file.as_deref())?;
    Ok(Some(TlsAcceptor::from(Arc::new(server_config))))
}

/// A rustls server configuration from PEM files.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
    ca_file: Option<&Path>,
) -> io::Result<ServerConfig> {
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        invalid(format!(
            "{}: no usable private key: {e}",
            key_file.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?;
    let builder = match ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca_file)? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", ca_file.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(format!("{}: {e}", ca_file.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("{}: {e}", cert_file.display())))
}

fn read_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no certificate found", path.display())));
    }
    Ok(certs)
}

/// Runs the server side of the handshake, bounded by [`HANDSHAKE_TIMEOUT`]; `None` when it
/// fails (a plain-text client, a missing or untrusted client certificate) or times out.
pub async fn handshake(acceptor: &TlsAcceptor, socket: TcpStream) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}
