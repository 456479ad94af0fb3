//! One client connection: read, parse every complete request, execute them in order, write all
//! their replies with one write, repeat.
//!
//! While a blocking command waits, the connection keeps reading the socket (buffering what
//! arrives) so that a client that goes away is noticed at once and its wait is dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{Client, ClientInfo};
use crate::command::{self, Outcome};
use crate::protocol::{Limits, Parser, Reply};
use crate::server::Shared;

/// Read buffer size, and the size a grown read buffer shrinks back to when idle.
const READ_CHUNK: usize = 16 * 1024;
/// Stop executing pipelined requests and write once the pending replies exceed this.
const MAX_PENDING_OUTPUT: usize = 1024 * 1024;

/// Serves one connection until the client closes it, is killed, breaks the protocol, or the
/// server shuts down.
pub async fn serve(shared: Arc<Shared>, mut socket: TcpStream, info: Arc<ClientInfo>) {
    let mut client = Client::new(info.clone(), !shared.requires_auth());
    let mut parser = Parser::new();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let mut shutdown = shared.shutdown.clone();
    loop {
        // Execute every complete request in the buffer; replies queue up in `output`.
        loop {
            let limits = Limits {
                max_bulk_len: shared.config.read().proto_max_bulk_len as i64,
                authenticated: client.authenticated,
            };
            let request = match parser.next_request(&mut input, limits) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(error) => {
                    Reply::error(format!("ERR {}", error.0)).encode(&mut output, client.resp3);
                    let _ = socket.write_all(&output).await;
                    return;
                }
            };
            shared
                .stats
                .commands_processed
                .fetch_add(1, Ordering::Relaxed);
            let reply = match command::execute(&shared, &mut client, &request) {
                Outcome::Reply(reply) => reply,
                Outcome::Block(wait) => {
                    if socket.write_all(&output).await.is_err() {
                        return;
                    }
                    output.clear();
                    tokio::pin!(wait);
                    loop {
                        tokio::select! {
                            reply = &mut wait => break reply,
                            read = socket.read_buf(&mut input) => {
                                if !matches!(read, Ok(n) if n > 0) {
                                    return;
                                }
                            }
                            _ = info.kill.notified() => return,
                        }
                    }
                }
            };
            reply.encode(&mut output, client.resp3);
            if client.close_after_reply || info.killed.load(Ordering::Relaxed) {
                let _ = socket.write_all(&output).await;
                return;
            }
            if output.len() > MAX_PENDING_OUTPUT {
                break;
            }
        }
        if !output.is_empty() {
            if socket.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
            if output.capacity() > 4 * READ_CHUNK {
                output = BytesMut::with_capacity(READ_CHUNK);
            }
            // Requests left unexecuted because the output grew large: run them before reading.
            if !input.is_empty() && parser_has_work(&input) {
                continue;
            }
        }
        if input.is_empty() && input.capacity() > 4 * READ_CHUNK {
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            read = socket.read_buf(&mut input) => {
                match read {
                    Ok(n) if n > 0 => {}
                    _ => return,
                }
            }
            _ = info.kill.notified() => return,
            _ = shutdown.changed() => return,
        }
    }
}

/// Whether the buffer may hold a complete request (cheap check: it ends a line).
fn parser_has_work(input: &BytesMut) -> bool {
    input.contains(&b'\n')
}
