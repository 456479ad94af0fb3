//! One client connection: read, parse every complete request, execute them in order, write all
//! their replies with one write, repeat.
//!
//! While a blocking command waits, the connection keeps reading the socket (buffering what
//! arrives) so that a client that goes away is noticed at once and its wait is dropped.
//!
//! A subscribed client also wakes when its pub/sub mailbox receives messages, and writes them
//! between commands. Every write races the client's kill signal, so a subscriber that stopped
//! reading and passed its output limit is dropped even while a write to it is stuck.
//!
//! An idle connection costs little: it waits for its socket to become readable holding no read
//! or write buffer, and its task is small (see [`Connection`]). Kills, pub/sub messages and
//! shutdown reach it through its client's [`crate::client::Wakeup`].

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::client::{Client, ClientInfo};
use crate::command::{self, transactions, BlockedReply, Outcome};
use crate::protocol::{Limits, Parser, Reply};
use crate::pubsub;
use crate::server::Shared;

/// Read buffer room while a connection is busy; a buffer grown past four of these is dropped
/// once empty. The buffer grows only by this (or by doubling, once it holds more) as bytes
/// arrive, never by a length a request announces: a half-sent 512 MB bulk holds what came.
const READ_CHUNK: usize = 16 * 1024;
/// Read buffer room for the first read after a pause, and the output buffer's first room.
const IDLE_READ: usize = 1024;
/// Stop executing pipelined requests and write once the pending replies exceed this. While
/// that write is stuck (the client does not read), nothing more is read or executed: the
/// back-pressure that bounds a non-reading client's memory without any setting.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// How long the last write to a killed client may take.
const FINAL_WRITE_PATIENCE: Duration = Duration::from_millis(100);

/// A client's byte stream: a TCP socket, or a TLS stream over one. The loop is generic over
/// it (monomorphised), so the plain path pays nothing for TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// Whether [`Stream::poll_read_ready`] tells when bytes arrive, so that an idle connection
    /// can wait holding no read buffer. A TLS stream cannot tell: decrypted bytes may already
    /// wait inside it while the socket has nothing. (A report may be stale, as a new socket's
    /// first one is; a read that would block makes the next one true.)
    const READINESS: bool = false;

    /// Ready once bytes (or the end of the stream, or an error) may be read. Without
    /// [`Stream::READINESS`], always ready.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Stream for TcpStream {
    const READINESS: bool = true;

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {}

/// An in-memory stream, for tests that serve a connection without a socket.
impl Stream for tokio::io::DuplexStream {}

impl<S: Stream + ?Sized> Stream for Box<S> {
    const READINESS: bool = S::READINESS;

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_read_ready(cx)
    }
}

/// Serves one connection until the client closes it, is killed, breaks the protocol, or the
/// server shuts down; then forgets its subscriptions and watched keys. A client refused by
/// protected mode gets Redis's `DENIED` line and is closed.
pub fn serve<S: Stream>(
    shared: Arc<Shared>,
    socket: S,
    info: Arc<ClientInfo>,
) -> impl Future<Output = ()> + Send {
    Connection::new(shared, socket, info, None).serve()
}

/// [`serve`] for a connection in the server's registry: it leaves the registry when done, and
/// drops `done` so that shutdown can tell when every connection has ended.
pub(crate) fn serve_registered<S: Stream>(
    shared: Arc<Shared>,
    socket: S,
    info: Arc<ClientInfo>,
    done: mpsc::Sender<()>,
) -> impl Future<Output = ()> + Send {
    Connection::new(shared, socket, info, Some(done)).serve()
}

/// One connection's state, owned by its task.
///
/// Kept small, since an idle connection's memory is mostly its task: the future that serves
/// the connection is sized by its largest state. So the state is built before the future and
/// moved into it once (an `async fn` would keep its arguments beside their moved copies), the
/// requests of a batch are executed without awaiting, and rare, large waits (a blocking
/// command, a write bounded in time) are boxed.
struct Connection<S> {
    shared: Arc<Shared>,
    socket: S,
    client: Client,
    parser: Parser,
    /// Both buffers start empty, and are dropped whenever the connection waits with nothing
    /// pending, so an idle connection holds none.
    input: BytesMut,
    output: BytesMut,
    /// Pub/sub bytes moved into `output` but not yet written (still counted by the mailbox).
    unwritten_messages: usize,
    /// Bytes received since the last complete request (the query buffer, `limits::query_*`).
    unparsed: usize,
    /// Held while the connection is in the server's registry (see [`serve_registered`]).
    registered: Option<mpsc::Sender<()>>,
}

/// How the execution of the requests in the input buffer stopped.
enum Batch {
    /// No complete request is left, or the pending replies grew large: write them.
    Write,
    /// A command blocks: its reply comes from the future.
    Blocked(Vec<Bytes>, BlockedReply),
    /// Write the pending replies, then close (a protocol error, `QUIT`, the client killed).
    Close,
}

/// Why a connection stopped waiting for bytes.
enum Wake {
    /// This many bytes were read into the input buffer.
    Read(usize),
    /// The client's wake-up: killed, a pub/sub message, shutdown.
    Woken,
    /// The connection must close.
    Close,
}

impl<S: Stream> Connection<S> {
    fn new(
        shared: Arc<Shared>,
        socket: S,
        info: Arc<ClientInfo>,
        registered: Option<mpsc::Sender<()>>,
    ) -> Self {
        let mut client = Client::new(info, !shared.requires_auth());
        client.set_user(shared.acl.default_user());
        client.may_debug = shared
            .config
            .read()
            .enable_debug_command
            .allows(client.info.addr.ip());
        Connection {
            shared,
            socket,
            client,
            parser: Parser::new(),
            input: BytesMut::new(),
            output: BytesMut::new(),
            unwritten_messages: 0,
            unparsed: 0,
            registered,
        }
    }

    fn serve(mut self) -> impl Future<Output = ()> + Send {
        let denied = crate::acl::protected_mode_denies(
            self.shared.config.read().protected_mode,
            self.client.user.needs_no_password(),
            self.client.info.addr.ip(),
        );
        async move {
            if denied {
                crate::server::reject(&mut self.socket, crate::acl::DENIED.as_bytes()).await;
            } else {
                self.run().await;
            }
            self.close();
        }
    }

    async fn run(&mut self) {
        loop {
            // The batch's end crosses one await at most, so the task keeps no room for it.
            let batch = self.execute_batch();
            // Replies to writes wait for the append-only file (boxed: only then).
            if let Some(logged) = self.log_wait() {
                logged.await;
            }
            let close = match batch {
                Batch::Write => false,
                Batch::Close => true,
                // Boxed: a wait is rare, and its state would otherwise enlarge every
                // connection's task, idle ones included.
                Batch::Blocked(request, wait) => {
                    if !Box::pin(self.serve_blocked(request, wait)).await {
                        return;
                    }
                    continue;
                }
            };
            if close {
                write_output(&mut self.socket, &self.output, &self.client.info).await;
                return;
            }
            if self.shared.limits.output_over_hard(self.output.len()) {
                log_output_limit(&self.client.info, self.output.len());
                return;
            }
            self.unwritten_messages += take_pushes(&mut self.client, &mut self.output);
            if !self.output.is_empty() {
                let written = match self.shared.limits.output_patience(self.output.len()) {
                    None => write_output(&mut self.socket, &self.output, &self.client.info).await,
                    // Boxed: only a client over its soft limit gets here, and a timer is
                    // large.
                    Some(patience) => Box::pin(write_within(patience, self)).await,
                };
                if !written {
                    return;
                }
                mark_written(&self.client, std::mem::take(&mut self.unwritten_messages));
                self.output.clear();
                if self.output.capacity() > 4 * READ_CHUNK {
                    self.output = BytesMut::new();
                }
                // Requests left unexecuted because the output grew large: run them before
                // reading.
                if !self.input.is_empty() && parser_has_work(&self.input) {
                    continue;
                }
            }
            if *self.shared.shutdown.borrow() {
                return;
            }
            match self.wait_for_input().await {
                Wake::Read(_) => {}
                Wake::Woken => {
                    // Published messages are picked up at the top of the loop.
                    if self.client.info.killed.load(Ordering::SeqCst)
                        || *self.shared.shutdown.borrow()
                    {
                        return;
                    }
                }
                Wake::Close => return,
            }
        }
    }

    /// Executes every complete request in the input buffer, in order; their replies queue up
    /// in `output`. Settings and counters shared with other connections are touched once.
    fn execute_batch(&mut self) -> Batch {
        let max_bulk_len = self.shared.config.read().proto_max_bulk_len as i64;
        let mut executed = 0;
        let end = loop {
            let limits = Limits {
                max_bulk_len,
                authenticated: self.client.authenticated,
            };
            let request = match self.parser.next_request(&mut self.input, limits) {
                Ok(Some(request)) => {
                    self.unparsed = self.input.len();
                    request
                }
                Ok(None) => break Batch::Write,
                Err(error) => {
                    Reply::error(format!("ERR {}", error.0))
                        .encode(&mut self.output, self.client.resp3);
                    break Batch::Close;
                }
            };
            executed += 1;
            match command::execute(&self.shared, &mut self.client, &request) {
                Outcome::Reply(reply) => self.queue_reply(reply),
                Outcome::Block(wait) => break Batch::Blocked(request, wait),
            }
            if self.must_close() {
                break Batch::Close;
            }
            if self.output.len() > MAX_PENDING_OUTPUT {
                break Batch::Write;
            }
        };
        if executed > 0 {
            self.client.note_activity();
            self.shared
                .stats
                .commands_processed
                .fetch_add(executed, Ordering::Relaxed);
        }
        end
    }

    /// What the batch's replies must wait for before they are sent: the append-only file
    /// holding the writes they acknowledge (see [`crate::persist`]). `None` when nothing.
    fn log_wait(&mut self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let target = std::mem::take(&mut self.client.aof_target);
        if target == 0 || self.shared.aof.make_durable(target) {
            return None;
        }
        let aof = self.shared.aof.clone();
        Some(Box::pin(async move { aof.wait_durable(target).await }))
    }

    /// After a blocked write command got its reply (a lock granted to a waiting client): the
    /// offset that grant reached the log at, for [`Connection::log_wait`].
    fn note_blocked_write(&mut self, request: &[Bytes]) {
        let aof = &self.shared.aof;
        if !aof.is_on() {
            return;
        }
        let Some(spec) = request.first().and_then(|name| command::lookup(name)) else {
            return;
        };
        if !spec.has(command::flags::WRITE) {
            return;
        }
        let db = self.client.db;
        let keyspace = &self.shared.keyspace;
        self.client.aof_target = match spec.key_positions(request).next() {
            Some(position) => aof.end_after_key(keyspace, db, &request[position]),
            None => aof.appended(),
        };
    }

    /// Queues a command's reply. Messages the command published to its own client, and extra
    /// confirmations, come before it, as in Redis.
    fn queue_reply(&mut self, reply: Reply) {
        self.unwritten_messages += take_pushes(&mut self.client, &mut self.output);
        reply.encode(&mut self.output, self.client.resp3);
    }

    /// Whether the connection closes once the queued replies are written (`QUIT`, killed).
    fn must_close(&self) -> bool {
        self.client.close_after_reply || self.client.info.killed.load(Ordering::Relaxed)
    }

    /// Waits for bytes and reads them into `input`, or for a wake-up.
    ///
    /// A connection that waits holds no buffer it does not need: the (empty) output buffer is
    /// dropped, and so is the input buffer when it is empty and the stream tells readiness
    /// (then the wait holds no buffer at all, and one is reserved only once bytes arrived).
    async fn wait_for_input(&mut self) -> Wake {
        // Consumed requests leave their room ahead of the buffer's start, outside `capacity()`:
        // a buffer that a large request grew is seen (by taking that room back) and dropped,
        // whether or not the next request is already waiting.
        if self.input.is_empty() && self.input.try_reclaim(4 * READ_CHUNK + 1) {
            self.input = BytesMut::new();
        }
        let (socket, input, output) = (&mut self.socket, &mut self.input, &mut self.output);
        let info = &self.client.info;
        let wake = poll_fn(move |cx| {
            let mut readable = true;
            if S::READINESS && input.capacity() == 0 {
                match socket.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Wake::Close),
                    Poll::Pending => readable = false,
                }
            }
            if readable {
                // Room to read into: a little after a pause, a full chunk once the connection
                // is busy (a request is arriving in parts, or the last read filled the
                // buffer).
                if input.capacity() - input.len() < IDLE_READ {
                    input.reserve(if input.is_empty() {
                        IDLE_READ
                    } else {
                        READ_CHUNK
                    });
                }
                // Bytes first: a wake-up waits while the client keeps sending (a kill is seen
                // after each command, messages and shutdown after each batch).
                match pin!(socket.read_buf(&mut *input)).poll(cx) {
                    Poll::Ready(Ok(n)) if n > 0 => return Poll::Ready(Wake::Read(n)),
                    Poll::Ready(_) => return Poll::Ready(Wake::Close),
                    // Also after a readiness that was stale (a new socket is reported
                    // readable once): the failed read makes the next report true.
                    Poll::Pending => {}
                }
                if S::READINESS && input.is_empty() {
                    *input = BytesMut::new();
                }
            }
            if output.capacity() > 0 {
                *output = BytesMut::new();
            }
            info.wakeup.poll_take(cx).map(|()| Wake::Woken)
        })
        .await;
        if let Wake::Read(n) = wake {
            self.unparsed += n;
            if query_limit_passed(&self.shared, self.unparsed, &self.client.info) {
                return Wake::Close;
            }
            if self.output.capacity() == 0 {
                self.output.reserve(IDLE_READ);
            }
        }
        wake
    }

    /// Serves a blocked command: its reply is queued (and written, when the connection then
    /// closes). False when the connection must close.
    async fn serve_blocked(&mut self, request: Vec<Bytes>, wait: BlockedReply) -> bool {
        let Some(reply) = self.wait_blocked(&request, wait).await else {
            return false;
        };
        self.note_blocked_write(&request);
        if let Some(logged) = self.log_wait() {
            logged.await;
        }
        self.queue_reply(reply);
        if self.must_close() {
            write_output(&mut self.socket, &self.output, &self.client.info).await;
            return false;
        }
        true
    }

    /// Writes the replies queued before a blocked command, then waits for its reply while
    /// reading ahead (so a client that goes away is noticed) and delivering pub/sub
    /// messages; `None` when the connection must close.
    async fn wait_blocked(&mut self, request: &[Bytes], wait: BlockedReply) -> Option<Reply> {
        if !write_output(&mut self.socket, &self.output, &self.client.info).await {
            return None;
        }
        self.output.clear();
        let mut wait = wait;
        loop {
            // The socket first: a client seen gone drops the wait before it can complete, so
            // a lock granted to it meanwhile passes to the next waiter.
            tokio::select! {
                biased;
                read = self.socket.read_buf(&mut self.input) => {
                    match read {
                        Ok(n) if n > 0 => self.unparsed += n,
                        _ => return None,
                    }
                    if query_limit_passed(&self.shared, self.unparsed, &self.client.info) {
                        return None;
                    }
                }
                reply = &mut wait => return Some(reply),
                _ = shutting_down(&self.shared), if waits_for_others(request) => {
                    let reply: Reply = crate::errors::UNBLOCKED_SHUTDOWN.into();
                    reply.encode(&mut self.output, self.client.resp3);
                    write_output(&mut self.socket, &self.output, &self.client.info).await;
                    return None;
                }
                _ = poll_fn(|cx| self.client.info.wakeup.poll_take(cx)) => {
                    if self.client.info.killed.load(Ordering::SeqCst) {
                        return None;
                    }
                    // Messages reach a RESP3 subscriber even while it blocks.
                    let mut pushed = BytesMut::new();
                    let bytes = take_pushes(&mut self.client, &mut pushed);
                    if !write_output(&mut self.socket, &pushed, &self.client.info).await {
                        return None;
                    }
                    mark_written(&self.client, bytes);
                }
            }
        }
    }

    /// Forgets the client's subscriptions and watched keys, and leaves the registry.
    fn close(&mut self) {
        self.client.info.wakeup.clear();
        if let Some(subscriptions) = self.client.subscriptions.take() {
            pubsub::forget(&self.shared.pubsub, self.client.id(), &subscriptions);
        }
        transactions::forget(&self.shared, &mut self.client);
        if self.registered.take().is_some() {
            self.shared.clients.lock().remove(&self.client.info.id);
        }
    }
}

/// Writes `output` unless the client is killed first (a subscriber past its output limit that
/// does not read would otherwise hold the connection in a write forever); a client killed
/// before the write (the reply to killing oneself) gets [`FINAL_WRITE_PATIENCE`] instead.
/// False when the connection must close.
///
/// A `poll_fn` rather than an `async fn` around `write_all`: every batch awaits it, so its
/// size counts in every connection's task.
fn write_output<'a, S: Stream>(
    socket: &'a mut S,
    output: &'a [u8],
    info: &'a ClientInfo,
) -> impl Future<Output = bool> + Send + 'a {
    let killed_before = info.killed.load(Ordering::Relaxed);
    let mut written = 0;
    let mut patience: Option<Pin<Box<tokio::time::Sleep>>> = None;
    poll_fn(move |cx| {
        while written < output.len() {
            match Pin::new(&mut *socket).poll_write(cx, &output[written..]) {
                Poll::Ready(Ok(n)) if n > 0 => written += n,
                Poll::Ready(_) => return Poll::Ready(false),
                Poll::Pending if killed_before => {
                    let patience = patience
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(FINAL_WRITE_PATIENCE)));
                    return patience.as_mut().poll(cx).map(|()| false);
                }
                Poll::Pending => {
                    // Stuck: give up once the client is killed (registered first, then
                    // checked, so a kill in between still wakes this task).
                    info.wakeup.register(cx);
                    return if info.killed.load(Ordering::SeqCst) {
                        Poll::Ready(false)
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
        Poll::Ready(true)
    })
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

/// Writes the connection's output like [`write_output`], but gives up (and the client is
/// closed) when the write stays stuck longer than `patience` (the normal class's soft seconds,
/// while the output is over its soft limit).
async fn write_within<S: Stream>(patience: Duration, connection: &mut Connection<S>) -> bool {
    let Connection {
        socket,
        output,
        client,
        ..
    } = connection;
    let info = &client.info;
    let written = tokio::time::timeout(patience, write_output(socket, output, info)).await;
    if written.is_err() {
        log_output_limit(info, output.len());
    }
    written.unwrap_or(false)
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
fn waits_for_others(request: &[Bytes]) -> bool {
    request
        .first()
        .and_then(|name| command::lookup(name))
        .is_some_and(|spec| spec.has(command::flags::BLOCKING))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Server};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Polls `future` once: `Some` with its output if it completed, `None` if it waits.
    async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        match poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    /// A served connection (not yet running) and the client end of its socket.
    async fn connection() -> (Connection<TcpStream>, TcpStream) {
        let shared = Server::new(Config::default())
            .shared_without_listener()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let info = Arc::new(ClientInfo::new(1, peer, addr));
        (Connection::new(shared, socket, info, None), client)
    }

    fn buffer_capacities<S>(connection: &Connection<S>) -> (usize, usize) {
        (connection.input.capacity(), connection.output.capacity())
    }

    #[tokio::test]
    async fn a_waiting_connection_holds_no_buffers() {
        let (mut connection, mut client) = connection().await;
        // A new socket is reported readable once though nothing came: the wait still ends up
        // holding nothing.
        assert!(poll_once(connection.wait_for_input()).await.is_none());
        assert_eq!(buffer_capacities(&connection), (0, 0));

        client.write_all(b"PING\r\n").await.unwrap();
        assert!(matches!(connection.wait_for_input().await, Wake::Read(6)));
        assert_eq!(buffer_capacities(&connection), (IDLE_READ, IDLE_READ));
        assert!(matches!(connection.execute_batch(), Batch::Write));
        assert_eq!(&connection.output[..], b"+PONG\r\n");
        let info = &connection.client.info;
        assert!(write_output(&mut connection.socket, &connection.output, info).await);
        connection.output.clear();
        let mut reply = [0; 7];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"+PONG\r\n");

        // Waiting again after the burst: both buffers are dropped.
        assert!(poll_once(connection.wait_for_input()).await.is_none());
        assert_eq!(buffer_capacities(&connection), (0, 0));
    }

    #[tokio::test]
    async fn a_partial_request_keeps_its_buffer_while_waiting() {
        let (mut connection, mut client) = connection().await;
        client.write_all(b"*1\r\n$4\r\nPI").await.unwrap();
        assert!(matches!(connection.wait_for_input().await, Wake::Read(_)));
        assert!(matches!(connection.execute_batch(), Batch::Write));
        assert!(poll_once(connection.wait_for_input()).await.is_none());
        assert!(!connection.input.is_empty());
        assert_eq!(connection.output.capacity(), 0);
        client.write_all(b"NG\r\n").await.unwrap();
        assert!(matches!(connection.wait_for_input().await, Wake::Read(4)));
        assert!(matches!(connection.execute_batch(), Batch::Write));
        assert_eq!(&connection.output[..], b"+PONG\r\n");
    }

    #[tokio::test]
    async fn a_buffer_grown_by_a_large_request_is_dropped_even_when_busy() {
        let (mut connection, client) = connection().await;
        let value = vec![b'x'; 256 * 1024];
        let mut request = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len());
        request.push_str(std::str::from_utf8(&value).unwrap());
        request.push_str("\r\n");
        let writer = tokio::spawn(async move {
            let mut client = client;
            client.write_all(request.as_bytes()).await.unwrap();
            client
        });
        while connection.output.is_empty() {
            assert!(matches!(connection.wait_for_input().await, Wake::Read(_)));
            assert!(matches!(connection.execute_batch(), Batch::Write));
        }
        assert_eq!(&connection.output[..], b"+OK\r\n");
        connection.output.clear();
        assert!(connection.input.is_empty());

        // The next request is already waiting: the grown buffer goes all the same.
        let mut client = writer.await.unwrap();
        client.write_all(b"PING\r\n").await.unwrap();
        connection.socket.readable().await.unwrap();
        assert!(matches!(connection.wait_for_input().await, Wake::Read(6)));
        assert_eq!(connection.input.capacity(), IDLE_READ);
    }

    #[tokio::test]
    async fn a_wake_up_ends_the_wait() {
        let (mut connection, _client) = connection().await;
        assert!(poll_once(connection.wait_for_input()).await.is_none());
        connection.client.info.kill();
        assert!(matches!(connection.wait_for_input().await, Wake::Woken));
    }
}
