//! TLS: a listener beside the plain one, client certificates required when a CA is given.
//! Certificates are generated at run time (rcgen); no key is committed.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use latchkey::{Config, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A CA, a server certificate for `localhost`/`127.0.0.1` and a client certificate, as PEM
/// files in a fresh directory.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn generate() -> Pki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "latchkey-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "latchkey test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

        let pki = Pki {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        };
        std::fs::write(pki.path("ca.crt"), &pki.ca_pem).unwrap();
        std::fs::write(pki.path("server.crt"), server_cert.pem()).unwrap();
        std::fs::write(pki.path("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(pki.path("client.crt"), &pki.client_cert_pem).unwrap();
        std::fs::write(pki.path("client.key"), &pki.client_key_pem).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Server settings: plain port 0, TLS port 0, this PKI's files; `require_client_cert`
    /// adds the CA file.
    fn config(&self, require_client_cert: bool) -> Config {
        Config {
            tls_port: Some(0),
            tls_cert_file: Some(self.path("server.crt")),
            tls_key_file: Some(self.path("server.key")),
            tls_ca_cert_file: require_client_cert.then(|| self.path("ca.crt")),
            ..Config::default()
        }
    }

    /// A TLS client trusting this CA, presenting the client certificate when `with_cert`.
    fn connector(&self, with_cert: bool) -> TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let certs = CertificateDer::pem_slice_iter(self.client_cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(self.client_key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `request` over TLS and reads until `expected_len` bytes arrived or the stream ends.
async fn tls_roundtrip(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    request: &[u8],
    expected_len: usize,
) -> std::io::Result<Vec<u8>> {
    let socket = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(name, socket).await?;
    stream.write_all(request).await?;
    let mut reply = vec![0u8; expected_len];
    let mut read = 0;
    while read < expected_len {
        let n = stream.read(&mut reply[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    reply.truncate(read);
    Ok(reply)
}

#[tokio::test]
async fn tls_and_plain_listeners_side_by_side() {
    let pki = Pki::generate();
    let server = Server::new(pki.config(false)).start().await.unwrap();
    let tls_addr = server.tls_local_addr().unwrap();
    assert_ne!(tls_addr, server.local_addr());
    assert!(server.has_plain_listener());
    let reply = tls_roundtrip(
        &pki.connector(false),
        tls_addr,
        b"SET lock:1 tok NX PX 10000\r\nGET lock:1\r\n",
        14,
    )
    .await
    .unwrap();
    assert_eq!(reply, b"+OK\r\n$3\r\ntok\r\n");
    // The plain listener sees the same keyspace.
    let mut plain = TcpStream::connect(server.local_addr()).await.unwrap();
    plain.write_all(b"GET lock:1\r\n").await.unwrap();
    let mut reply = [0u8; 9];
    plain.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"$3\r\ntok\r\n");
    server.shutdown().await;
}

#[tokio::test]
async fn plain_text_on_the_tls_port_is_dropped() {
    let pki = Pki::generate();
    let server = Server::new(pki.config(false)).start().await.unwrap();
    let mut socket = TcpStream::connect(server.tls_local_addr().unwrap())
        .await
        .unwrap();
    socket.write_all(b"PING\r\n").await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.read_to_end(&mut reply),
    )
    .await;
    assert!(!reply.starts_with(b"+PONG"), "{reply:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn client_certificate_required_with_a_ca() {
    let pki = Pki::generate();
    let server = Server::new(pki.config(true)).start().await.unwrap();
    let addr = server.tls_local_addr().unwrap();
    let reply = tls_roundtrip(&pki.connector(true), addr, b"PING\r\n", 7)
        .await
        .unwrap();
    assert_eq!(reply, b"+PONG\r\n");
    // Without a certificate the server aborts the handshake: no reply, only an error or EOF.
    let refused = tls_roundtrip(&pki.connector(false), addr, b"PING\r\n", 7).await;
    assert!(
        !matches!(&refused, Ok(reply) if !reply.is_empty()),
        "{refused:?}"
    );
    // A certificate from another CA is refused too.
    let stranger = Pki::generate();
    let mut mixed = Pki::generate();
    mixed.ca_pem = pki.ca_pem.clone();
    mixed.client_cert_pem = stranger.client_cert_pem.clone();
    mixed.client_key_pem = stranger.client_key_pem.clone();
    let refused = tls_roundtrip(&mixed.connector(true), addr, b"PING\r\n", 7).await;
    assert!(
        !matches!(&refused, Ok(reply) if !reply.is_empty()),
        "{refused:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tls_only_server() {
    let pki = Pki::generate();
    let config = Config {
        no_plain: true,
        ..pki.config(false)
    };
    let server = Server::new(config).start().await.unwrap();
    assert!(!server.has_plain_listener());
    assert_eq!(Some(server.local_addr()), server.tls_local_addr());
    let reply = tls_roundtrip(&pki.connector(false), server.local_addr(), b"PING\r\n", 7)
        .await
        .unwrap();
    assert_eq!(reply, b"+PONG\r\n");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tls_settings_stop_the_start() {
    let pki = Pki::generate();
    let missing_key = Config {
        tls_key_file: None,
        ..pki.config(false)
    };
    let error = Server::new(missing_key).start().await.err().unwrap();
    assert_eq!(
        error.to_string(),
        "--tls-port needs --tls-cert-file and --tls-key-file"
    );
    let not_a_cert = Config {
        tls_cert_file: Some(pki.path("server.key")),
        ..pki.config(false)
    };
    let error = Server::new(not_a_cert).start().await.err().unwrap();
    assert!(
        error.to_string().contains("no certificate found"),
        "{error}"
    );
    let no_plain_without_tls = Config {
        no_plain: true,
        ..Config::default()
    };
    assert!(Server::new(no_plain_without_tls).start().await.is_err());
}

#[tokio::test]
async fn redis_crate_over_tls_with_a_client_certificate() {
    let pki = Pki::generate();
    let server = Server::new(pki.config(true)).start().await.unwrap();
    let addr = server.tls_local_addr().unwrap();
    let url = format!("rediss://localhost:{}/", addr.port());
    let client = redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: pki.client_cert_pem.clone().into_bytes(),
                client_key: pki.client_key_pem.clone().into_bytes(),
            }),
            root_cert: Some(pki.ca_pem.clone().into_bytes()),
        },
    )
    .unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let granted: Option<String> = redis::cmd("SET")
        .arg("lock:tls")
        .arg("owner")
        .arg("NX")
        .arg("PX")
        .arg(10_000)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(granted.as_deref(), Some("OK"));
    let deleted: i64 = redis::cmd("DELIFEQ")
        .arg("lock:tls")
        .arg("owner")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    drop(connection);
    server.shutdown().await;
}

/// The binary prints one start line per listener; the TLS one ends in ` (tls)`.
#[test]
fn binary_names_the_tls_address() {
    let pki = Pki::generate();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["--port", "0", "--tls-port", "0", "--tls-cert-file"])
        .arg(pki.path("server.crt"))
        .arg("--tls-key-file")
        .arg(pki.path("server.key"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let plain = lines.next().unwrap().unwrap();
    let tls = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        plain.starts_with("latchkey listening on 127.0.0.1:"),
        "{plain}"
    );
    assert!(!plain.ends_with("(tls)"), "{plain}");
    assert!(tls.starts_with("latchkey listening on 127.0.0.1:"), "{tls}");
    assert!(tls.ends_with(" (tls)"), "{tls}");
    assert_ne!(plain, tls.trim_end_matches(" (tls)"));
}
