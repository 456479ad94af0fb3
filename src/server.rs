//! The server: what all connections share ([`Shared`]), the accept loop, and the embedding API
//! ([`Server`], [`ServerHandle`]).
//!
//! Shutdown is graceful: the listener stops accepting, each connection finishes the batch it is
//! executing and writes its replies, then closes; [`ServerHandle::shutdown`] returns when every
//! connection task has ended.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::acl::Acl;
use crate::client::ClientInfo;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::connection;
use crate::db::expiry::{self, ExpiryControl};
use crate::db::Keyspace;
use crate::limits::ClientLimits;
use crate::locks::FencingSequence;
use crate::notify::Notifier;
use crate::pubsub::PubSub;

/// Counters for `INFO stats`.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
}

/// Everything the connections share. Reached through an `Arc` held by each connection.
pub struct Shared {
    pub keyspace: Arc<Keyspace>,
    /// The settings; `CONFIG SET` changes the runtime-changeable ones.
    pub config: RwLock<Config>,
    pub clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    pub stats: Stats,
    pub expiry: Arc<ExpiryControl>,
    pub started: Instant,
    /// The port the server listens on, for `INFO server`.
    pub port: u16,
    /// A random 40-hex-digit id of this run (`INFO server`'s `run_id`).
    pub run_id: String,
    /// Unix seconds of the last `SAVE`/`BGSAVE` (start time until one), for `LASTSAVE`.
    /// latchkey persists nothing; the commands only move this.
    pub last_save_unix: AtomicU64,
    /// The highest `used_memory` `INFO` has reported.
    pub memory_peak: AtomicU64,
    next_client_id: AtomicU64,
    /// Flips to `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The fencing tokens `LOCK.ACQUIRE` hands out, seeded from the wall clock at start-up.
    pub fencing: Arc<FencingSequence>,
    /// Pub/sub channels and patterns, and their subscribers.
    pub pubsub: Arc<PubSub>,
    /// Keyspace notification settings (`notify-keyspace-events`).
    pub notify: Arc<Notifier>,
    /// The script cache and the scripts running past the time limit.
    pub scripts: crate::script::Scripts,
    /// The users (`default`, and those of `--aclfile` or `ACL SETUSER`).
    pub acl: Arc<Acl>,
    /// The limits connections check per batch and the dispatcher per write (`maxmemory`).
    pub limits: ClientLimits,
}

impl Shared {
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether clients must AUTH before other commands: the default user has a password or
    /// is off.
    pub fn requires_auth(&self) -> bool {
        self.acl.requires_auth()
    }
}

/// A server to start in-process: the Rust counterpart of running the binary in CI.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = latchkey::Server::new(latchkey::Config::default()).start().await?;
/// let url = format!("redis://{}", server.local_addr());
/// // … connect with any Redis client …
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Server {
    config: Config,
    clock: SharedClock,
}

impl Server {
    /// A server with `config`; `Config::default()` listens on `127.0.0.1:0`.
    pub fn new(config: Config) -> Self {
        Server {
            config,
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// Uses `clock` for deadlines instead of the system clock (tests drive time with
    /// [`crate::clock::ManualClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Binds the listeners (plain, and TLS with `tls_port`) and starts serving on the current
    /// tokio runtime. Fails on an unreadable ACL file or TLS certificate.
    pub async fn start(self) -> io::Result<ServerHandle> {
        let acl = Arc::new(load_acl(&self.config)?);
        let tls = crate::tls::acceptor(&self.config)?;
        let plain_listener = if self.config.no_plain {
            None
        } else {
            Some(TcpListener::bind((self.config.bind.as_str(), self.config.port)).await?)
        };
        let tls_listener = match (self.config.tls_port, &tls) {
            (Some(port), Some(_)) => {
                Some(TcpListener::bind((self.config.bind.as_str(), port)).await?)
            }
            _ => None,
        };
        let tls_local_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let local_addr = match &plain_listener {
            Some(listener) => listener.local_addr()?,
            None => tls_local_addr.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no listener configured")
            })?,
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = build_shared(self.config, self.clock, local_addr.port(), shutdown_rx, acl);
        let (done_tx, done_rx) = mpsc::channel::<()>(1);
        let mut accept = Vec::new();
        if let Some(listener) = plain_listener {
            let loop_ = accept_loop(listener, None, shared.clone(), done_tx.clone());
            accept.push(tokio::spawn(loop_));
        }
        if let (Some(listener), Some(tls)) = (tls_listener, tls) {
            let loop_ = accept_loop(listener, Some(tls), shared.clone(), done_tx.clone());
            accept.push(tokio::spawn(loop_));
        }
        drop(done_tx);
        let expiry_task = expiry::spawn(shared.keyspace.clone(), shared.expiry.clone());
        let idle_task = tokio::spawn(close_idle_clients(shared.clone()));
        Ok(ServerHandle {
            local_addr,
            tls_local_addr,
            shared,
            shutdown_tx,
            done_rx,
            accept,
            expiry_task,
            idle_task,
        })
    }

    /// The shared state of a server that listens nowhere and runs no background task: for
    /// driving the command layer directly (the command fuzz target, tests). Keys expire
    /// lazily only.
    /// Fails only when `--aclfile` cannot be loaded.
    pub fn shared_without_listener(self) -> io::Result<Arc<Shared>> {
        let (_, shutdown_rx) = watch::channel(false);
        let acl = Arc::new(load_acl(&self.config)?);
        Ok(build_shared(self.config, self.clock, 0, shutdown_rx, acl))
    }
}

/// Builds the state every connection shares, with `config` applied.
fn build_shared(
    mut config: Config,
    clock: SharedClock,
    port: u16,
    shutdown_rx: watch::Receiver<bool>,
    acl: Arc<Acl>,
) -> Arc<Shared> {
    // As `CONFIG SET hz` does (and Redis): any value is taken, and clamped to 1..=500.
    config.hz = config.hz.clamp(1, 500);
    let expiry_control = Arc::new(ExpiryControl::new(config.hz));
    let pubsub = Arc::new(PubSub::default());
    let notify = Arc::new(Notifier::new(pubsub.clone()));
    notify.set(crate::notify::parse_flags(config.notify_keyspace_events.as_bytes()).unwrap_or(0));
    let started_unix = clock.unix_ms() / 1000;
    let shared = Arc::new(Shared {
        keyspace: Arc::new(Keyspace::new(
            config.databases,
            config.shards_per_db(),
            clock,
        )),
        config: RwLock::new(config),
        clients: Mutex::new(HashMap::new()),
        stats: Stats::default(),
        expiry: expiry_control,
        started: Instant::now(),
        port,
        run_id: random_hex_id(),
        last_save_unix: AtomicU64::new(started_unix),
        memory_peak: AtomicU64::new(0),
        next_client_id: AtomicU64::new(0),
        shutdown: shutdown_rx,
        fencing: Arc::new(FencingSequence::from_wall_clock()),
        pubsub,
        notify: notify.clone(),
        limits: ClientLimits::default(),
        scripts: crate::script::Scripts::default(),
        acl,
    });
    let _ = shared.keyspace.notifier.set(notify);
    shared.limits.apply(&shared.config.read(), &shared.pubsub);
    shared
}

impl Server {
    /// Starts the server on a runtime of its own, in a background thread: for synchronous
    /// tests. The server stops when the returned handle is dropped.
    pub fn start_background(self) -> io::Result<BackgroundServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let handle = runtime.block_on(self.start())?;
        Ok(BackgroundServer {
            local_addr: handle.local_addr,
            handle: Some(handle),
            runtime: Some(runtime),
        })
    }
}

/// How long shutdown waits for connections to finish on their own before killing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
/// The longest a shutdown takes.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_millis(2000);

/// A running server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    tls_local_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    done_rx: mpsc::Receiver<()>,
    accept: Vec<tokio::task::JoinHandle<()>>,
    expiry_task: tokio::task::JoinHandle<()>,
    idle_task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The address the server listens on (with the port it got, for port 0): the plain
    /// listener's, or the TLS listener's when there is no plain one (`no_plain`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the TLS listener, when `tls_port` is set.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls_local_addr
    }

    /// Whether `local_addr` is the plain listener's (false for a TLS-only server).
    pub fn has_plain_listener(&self) -> bool {
        self.tls_local_addr != Some(self.local_addr)
    }

    /// The shared state, for tests that look inside.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, lets every connection finish its current batch and close (clients
    /// blocked in a wait get an `UNBLOCKED` error first), and returns when all have ended.
    /// Connections still open after [`SHUTDOWN_GRACE`] (a client that does not read its
    /// replies) are killed; the whole shutdown takes at most [`SHUTDOWN_LIMIT`].
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for accept in &self.accept {
            accept.abort();
        }
        for accept in self.accept {
            let _ = accept.await;
        }
        self.expiry_task.abort();
        self.idle_task.abort();
        // Idle connections wait on their own wake-up, not on the shutdown signal; every
        // connection is registered by now (the accept loops have ended).
        for client in self.shared.clients.lock().values() {
            client.wakeup.wake();
        }
        // Every connection task holds a sender; recv returns None when all are gone.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.done_rx.recv())
            .await
            .is_err()
        {
            let stuck: Vec<Arc<ClientInfo>> =
                self.shared.clients.lock().values().cloned().collect();
            for client in stuck {
                client.kill();
            }
            let _ =
                tokio::time::timeout(SHUTDOWN_LIMIT - SHUTDOWN_GRACE, self.done_rx.recv()).await;
        }
    }
}

/// A server running on its own runtime; dropping it shuts the server down.
pub struct BackgroundServer {
    local_addr: SocketAddr,
    handle: Option<ServerHandle>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BackgroundServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `redis://host:port/`, for client libraries.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.local_addr)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        self.handle.as_ref().expect("running").shared()
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let (Some(handle), Some(runtime)) = (self.handle.take(), self.runtime.take()) {
            runtime.block_on(handle.shutdown());
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// The users the server starts with: `--aclfile`'s (when given) over `--requirepass`.
fn load_acl(config: &Config) -> io::Result<Acl> {
    let requirepass = config.requirepass.as_deref();
    let Some(path) = &config.aclfile else {
        let acl = Acl::new();
        acl.set_default_password(requirepass);
        return Ok(acl);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Acl::from_file_text(&text, requirepass).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Accepts connections on one listener; `tls`: run a TLS handshake first.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    done: mpsc::Sender<()>,
) {
    loop {
        let (socket, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        shared.limits.set_keepalive(&socket);
        let maxclients = shared.config.read().maxclients;
        if shared.clients.lock().len() >= maxclients {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            let tls = tls.clone();
            tokio::spawn(async move {
                let line = b"-ERR max number of clients reached\r\n";
                match tls {
                    None => reject(socket, line).await,
                    Some(tls) => {
                        if let Some(stream) = crate::tls::handshake(&tls, socket).await {
                            reject(stream, line).await;
                        }
                    }
                }
            });
            continue;
        }
        let local_addr = socket.local_addr().unwrap_or(addr);
        let info = Arc::new(ClientInfo::new(shared.next_client_id(), addr, local_addr));
        shared.clients.lock().insert(info.id, info.clone());
        let shared = shared.clone();
        let done = done.clone();
        // Two task kinds, so a plain connection's task is not sized for the TLS handshake and
        // stream it never uses (a task's memory is its largest state, held while it idles).
        match tls.clone() {
            None => {
                tokio::spawn(connection::serve_registered(shared, socket, info, done));
            }
            Some(tls) => {
                tokio::spawn(async move {
                    // Both boxed: the handshake's state is large and short-lived, and the TLS
                    // stream would otherwise sit inside every state of the connection loop.
                    let handshake = Box::pin(crate::tls::handshake(&tls, socket));
                    match handshake.await.map(Box::new) {
                        Some(stream) => {
                            connection::serve_registered(shared, stream, info, done).await;
                        }
                        None => {
                            shared.clients.lock().remove(&info.id);
                        }
                    }
                });
            }
        }
    }
}

/// Writes one error line to a client that will not be served, then closes.
pub(crate) async fn reject<S: AsyncWrite + Unpin>(mut stream: S, line: &[u8]) {
    let _ = stream.write_all(line).await;
    let _ = stream.shutdown().await;
}

/// Closes clients idle for longer than `timeout` seconds (`CONFIG SET timeout`), checking once
/// a second; 0 disables it. A client waiting in a blocking command counts as idle.
async fn close_idle_clients(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let timeout_ms = shared.config.read().timeout.saturating_mul(1000);
        if timeout_ms == 0 {
            continue;
        }
        let clients: Vec<Arc<ClientInfo>> = shared.clients.lock().values().cloned().collect();
        for client in clients {
            if client.idle_ms() > timeout_ms {
                client.kill();
            }
        }
    }
}

/// 40 random hex digits, like Redis's run ids.
fn random_hex_id() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}
