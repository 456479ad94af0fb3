//! One client connection: read, parse every complete request, execute them in order, write all
//! their replies with one write, repeat.
//!
//! While a blocking command waits, the connection keeps reading the socket (buffering what
//! arrives) so that a client that goes away is noticed at once and its wait is dropped.
//!
//! A subscribed client also wakes when its pub/sub mailbox receives messages, and writes them
//! between commands. Every write races the client's kill signal, so a subscriber that stopped
//! reading and passed its output limit is dropped even while a write to it is stuck.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::{Client, ClientInfo};
use crate::command::{self, transactions, Outcome};
use crate::protocol::{Limits, Parser, Reply};
use crate::pubsub::{self, Mailbox};
use crate::server::Shared;

/// Read buffer room while a connection is busy; a buffer grown past four of these is dropped
/// once empty.
const READ_CHUNK: usize = 16 * 1024;
/// Read buffer room while a connection is idle.
const IDLE_READ: usize = 1024;
/// Stop executing pipelined requests and write once the pending replies exceed this. While
/// that write is stuck (the client does not read), nothing more is read or executed: the
/// back-pressure that bounds a non-reading client's memory without any setting.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// How long the last write to a killed client may take.
const FINAL_WRITE_PATIENCE: Duration = Duration::from_millis(100);

/// A client's byte stream: a TCP socket, or a TLS stream over one. The loop is generic over
/// it (monomorphised), so the plain path pays nothing for TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// Serves one connection until the client closes it, is killed, breaks the protocol, or the
/// server shuts down; then forgets its subscriptions and watched keys. A client refused by
/// protected mode gets Redis's `DENIED` line and is closed.
pub async fn serve<S: Stream>(shared: Arc<Shared>, socket: S, info: Arc<ClientInfo>) {
    let default_user = shared.acl.default_user();
    let protected_mode = shared.config.read().protected_mode;
    if crate::acl::protected_mode_denies(
        protected_mode,
        default_user.needs_no_password(),
        info.addr.ip(),
    ) {
        crate::server::reject(socket, crate::acl::DENIED.as_bytes()).await;
        return;
    }
    let mut client = Client::new(info.clone(), !shared.requires_auth());
    client.set_user(default_user);
    serve_client(&shared, socket, &info, &mut client).await;
    if let Some(subscriptions) = client.subscriptions.take() {
        pubsub::forget(&shared.pubsub, client.id(), &subscriptions);
    }
    transactions::forget(&shared, &mut client);
}

async fn serve_client<S: Stream>(
    shared: &Arc<Shared>,
    mut socket: S,
    info: &Arc<ClientInfo>,
    client: &mut Client,
) {
    let mut parser = Parser::new();
    // Both buffers start empty and grow with use, so an idle connection costs little.
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut shutdown = shared.shutdown.clone();
    // Pub/sub bytes moved into `output` but not yet written (still counted by the mailbox).
    let mut unwritten_messages = 0;
    // Bytes received since the last complete request (the query buffer, `limits::query_*`).
    let mut unparsed = 0;
    loop {
        // Execute every complete request in the buffer; replies queue up in `output`. Settings
        // and counters shared with other connections are touched once per batch.
        let max_bulk_len = shared.config.read().proto_max_bulk_len as i64;
        let mut executed = 0;
        loop {
            let limits = Limits {
                max_bulk_len,
                authenticated: client.authenticated,
            };
            let request = match parser.next_request(&mut input, limits) {
                Ok(Some(request)) => {
                    unparsed = input.len();
                    request
                }
                Ok(None) => break,
                Err(error) => {
                    Reply::error(format!("ERR {}", error.0)).encode(&mut output, client.resp3);
                    write_output(&mut socket, &output, info).await;
                    return;
                }
            };
            executed += 1;
            let reply = match command::execute(shared, client, &request) {
                Outcome::Reply(reply) => reply,
                Outcome::Block(wait) => {
                    if !write_output(&mut socket, &output, info).await {
                        return;
                    }
                    output.clear();
                    tokio::pin!(wait);
                    let mailbox = client_mailbox(client);
                    loop {
                        // The socket first: a client seen gone drops the wait before it can
                        // complete, so a lock granted to it meanwhile passes to the next waiter.
                        tokio::select! {
                            biased;
                            read = socket.read_buf(&mut input) => {
                                match read {
                                    Ok(n) if n > 0 => unparsed += n,
                                    _ => return,
                                }
                                if query_limit_passed(shared, unparsed, info) {
                                    return;
                                }
                            }
                            reply = &mut wait => break reply,
                            _ = shutting_down(shared), if waits_for_others(&request) => {
                                let reply: Reply = crate::errors::UNBLOCKED_SHUTDOWN.into();
                                reply.encode(&mut output, client.resp3);
                                write_output(&mut socket, &output, info).await;
                                return;
                            }
                            _ = mail_ready(&mailbox) => {
                                // Messages reach a RESP3 subscriber even while it blocks.
                                let mut pushed = BytesMut::new();
                                let bytes = take_pushes(client, &mut pushed);
                                if !write_output(&mut socket, &pushed, info).await {
                                    return;
                                }
                                mark_written(client, bytes);
                            }
                            _ = info.kill.notified() => return,
                        }
                    }
                }
            };
            // Messages this command published to its own client, and extra confirmations,
            // come before its reply, as in Redis.
            unwritten_messages += take_pushes(client, &mut output);
            reply.encode(&mut output, client.resp3);
            if client.close_after_reply || info.killed.load(Ordering::Relaxed) {
                write_output(&mut socket, &output, info).await;
                return;
            }
            if output.len() > MAX_PENDING_OUTPUT {
                break;
            }
        }
        shared
            .stats
            .commands_processed
            .fetch_add(executed, Ordering::Relaxed);
        if shared.limits.output_over_hard(output.len()) {
            log_output_limit(info, output.len());
            return;
        }
        unwritten_messages += take_pushes(client, &mut output);
        if !output.is_empty() {
            if !write_within_limits(shared, &mut socket, &output, info).await {
                return;
            }
            mark_written(client, std::mem::take(&mut unwritten_messages));
            output.clear();
            if output.capacity() > 4 * READ_CHUNK {
                output = BytesMut::new();
            }
            // Requests left unexecuted because the output grew large: run them before reading.
            if !input.is_empty() && parser_has_work(&input) {
                continue;
            }
        }
        if input.is_empty() && input.capacity() > 4 * READ_CHUNK {
            input = BytesMut::new();
        }
        // Room to read into: a little while the connection is idle, a full chunk once it is
        // busy (a request is arriving in parts, or the last read filled the buffer).
        if input.capacity() - input.len() < IDLE_READ {
            input.reserve(if input.is_empty() {
                IDLE_READ
            } else {
                READ_CHUNK
            });
        }
        if *shutdown.borrow() {
            return;
        }
        let mailbox = client_mailbox(client);
        tokio::select! {
            read = socket.read_buf(&mut input) => {
                match read {
                    Ok(n) if n > 0 => unparsed += n,
                    _ => return,
                }
                if query_limit_passed(shared, unparsed, info) {
                    return;
                }
            }
            // Published messages are picked up at the top of the loop.
            _ = mail_ready(&mailbox) => {}
            _ = info.kill.notified() => return,
            _ = shutdown.changed() => return,
        }
    }
}

/// Writes `output` unless the client is killed first (a subscriber past its output limit that
/// does not read would otherwise hold the connection in a write forever). False when the
/// connection must close.
async fn write_output<S: Stream>(socket: &mut S, output: &[u8], info: &ClientInfo) -> bool {
    if output.is_empty() {
        return true;
    }
    if info.killed.load(Ordering::Relaxed) {
        // Already killed: one last attempt, bounded in time (the reply to killing oneself).
        let last = tokio::time::timeout(FINAL_WRITE_PATIENCE, socket.write_all(output)).await;
        return matches!(last, Ok(Ok(())));
    }
    tokio::select! {
        written = socket.write_all(output) => written.is_ok(),
        _ = info.kill.notified() => false,
    }
}

/// The client's pub/sub mailbox, if it ever subscribed.
fn client_mailbox(client: &Client) -> Option<Arc<Mailbox>> {
    client.subscriptions.as_ref().map(|s| s.mailbox.clone())
}

/// Completes when the mailbox may hold messages; never without a mailbox.
async fn mail_ready(mailbox: &Option<Arc<Mailbox>>) {
    match mailbox {
        Some(mailbox) => mailbox.ready().await,
        None => std::future::pending().await,
    }
}

/// Encodes the client's pending pushes and mailbox messages into `out`; returns the mailbox
/// bytes taken, to report written once they are.
fn take_pushes(client: &mut Client, out: &mut BytesMut) -> usize {
    let resp3 = client.resp3;
    for push in client.pushes.drain(..) {
        push.encode(out, resp3);
    }
    let Some(subscriptions) = &client.subscriptions else {
        return 0;
    };
    let mut messages = Vec::new();
    let bytes = subscriptions.mailbox.drain(&mut messages);
    for message in messages {
        message.into_reply().encode(out, resp3);
    }
    bytes
}

/// Reports mailbox bytes written to the socket, freeing room under the output limit.
fn mark_written(client: &Client, bytes: usize) {
    if let (Some(subscriptions), true) = (&client.subscriptions, bytes > 0) {
        subscriptions.mailbox.written(bytes);
    }
}

/// Whether the buffer may hold a complete request (cheap check: it ends a line).
fn parser_has_work(input: &BytesMut) -> bool {
    input.contains(&b'\n')
}

// Limits and shutdown (see `crate::limits`): kept apart from the loop above.

/// Writes `output` like [`write_output`], but gives up (and the client is closed) when the
/// write stays stuck longer than the normal class's soft seconds while `output` is over its
/// soft limit.
async fn write_within_limits<S: Stream>(
    shared: &Shared,
    socket: &mut S,
    output: &[u8],
    info: &ClientInfo,
) -> bool {
    match shared.limits.output_patience(output.len()) {
        None => write_output(socket, output, info).await,
        Some(patience) => {
            let written = tokio::time::timeout(patience, write_output(socket, output, info)).await;
            if written.is_err() {
                log_output_limit(info, output.len());
            }
            written.unwrap_or(false)
        }
    }
}

fn log_output_limit(info: &ClientInfo, pending: usize) {
    tracing::warn!(
        client = info.id,
        pending,
        "client output buffer limit reached, closing the client"
    );
}

/// Whether the client passed the query buffer limit (then it is closed, as in Redis).
fn query_limit_passed(shared: &Shared, unparsed: usize, info: &ClientInfo) -> bool {
    let passed = shared.limits.query_over_limit(unparsed);
    if passed {
        tracing::warn!(
            client = info.id,
            unparsed,
            "client query buffer limit reached, closing the client"
        );
    }
    passed
}

/// Completes once the server shuts down (never for a server without a shutdown signal).
async fn shutting_down(shared: &Shared) {
    let mut shutdown = shared.shutdown.clone();
    if shutdown.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether the request is a blocking command (`LOCK.ACQUIRE … WAIT`, `BLPOP`-style) that
/// waits for other clients, and so is woken at shutdown; a timed command such as `DEBUG SLEEP`
/// is in flight and is answered instead.
fn waits_for_others(request: &[bytes::Bytes]) -> bool {
    request
        .first()
        .and_then(|name| command::lookup(name))
        .is_some_and(|spec| spec.has(command::flags::BLOCKING))
}
