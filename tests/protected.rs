//! Protected mode: with no password for the default user, clients that do not come from the
//! loopback interface get Redis's `DENIED` line and are closed, unless protected mode is off.
//!
//! Traffic stays on this machine: the servers listen on 127.0.0.1 or 0.0.0.0 and are reached
//! through 127.0.0.1; a non-loopback client is simulated by serving an in-memory stream with a
//! remote peer address.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use latchkey::client::ClientInfo;
use latchkey::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves an in-memory connection that claims to come from `peer`; returns all the server
/// wrote after the client sent `PING` and closed its side.
async fn serve_from(server: &latchkey::ServerHandle, peer: &str) -> String {
    let peer: SocketAddr = peer.parse().unwrap();
    let (mut client, server_side) = tokio::io::duplex(64 * 1024);
    let info = Arc::new(ClientInfo::new(9_999, peer, server.local_addr()));
    let task = tokio::spawn(latchkey::connection::serve(
        server.shared().clone(),
        server_side,
        info,
    ));
    client.write_all(b"PING\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    // The server closes after DENIED; otherwise stop after the first reply.
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut chunk)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                reply.extend_from_slice(&chunk[..n]);
                if reply.ends_with(b"\r\n") && !reply.starts_with(b"-DENIED") {
                    break;
                }
            }
        }
    }
    drop(client);
    let _ = task.await;
    String::from_utf8_lossy(&reply).into_owned()
}

fn config(configure: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config {
        bind: "0.0.0.0".into(),
        ..Config::default()
    };
    configure(&mut config);
    config
}

#[tokio::test]
async fn remote_client_denied_without_password() {
    let server = Server::new(config(|_| {})).start().await.unwrap();
    let reply = serve_from(&server, "203.0.113.7:50000").await;
    assert_eq!(reply, latchkey::acl::DENIED);
    assert!(reply.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."));
    // Loopback clients are served, by the in-memory path and through the real listener.
    assert_eq!(serve_from(&server, "127.0.0.1:50000").await, "+PONG\r\n");
    assert_eq!(serve_from(&server, "[::1]:50000").await, "+PONG\r\n");
    let addr = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(b"PING\r\n").await.unwrap();
    let mut reply = [0u8; 7];
    socket.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
    server.shutdown().await;
}

#[tokio::test]
async fn remote_client_served_with_a_password_or_protected_mode_off() {
    let server = Server::new(config(|c| c.requirepass = Some("pw".into())))
        .start()
        .await
        .unwrap();
    assert_eq!(
        serve_from(&server, "198.51.100.2:4000").await,
        "-NOAUTH Authentication required.\r\n"
    );
    server.shutdown().await;

    let server = Server::new(config(|c| c.protected_mode = false))
        .start()
        .await
        .unwrap();
    assert_eq!(serve_from(&server, "198.51.100.2:4000").await, "+PONG\r\n");
    server.shutdown().await;
}

#[tokio::test]
async fn config_set_changes_protection_for_new_clients() {
    let server = Server::new(config(|_| {})).start().await.unwrap();
    let shared = server.shared().clone();
    // CONFIG SET requirepass gives the default user a password: no longer protected.
    shared.acl.set_default_password(Some("pw"));
    assert_eq!(
        serve_from(&server, "198.51.100.2:4000").await,
        "-NOAUTH Authentication required.\r\n"
    );
    shared.acl.set_default_password(None);
    assert_eq!(
        serve_from(&server, "198.51.100.2:4000").await,
        latchkey::acl::DENIED
    );
    server.shutdown().await;
}

#[test]
fn protected_mode_is_a_config_parameter() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "CONFIG GET protected-mode",
        "*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n",
    );
    c.expect("CONFIG SET protected-mode no", "+OK\r\n");
    c.expect(
        "CONFIG GET protected-mode",
        "*2\r\n$14\r\nprotected-mode\r\n$2\r\nno\r\n",
    );
    c.expect(
        "CONFIG SET protected-mode maybe",
        "-ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'\r\n",
    );
}
