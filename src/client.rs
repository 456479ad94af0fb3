//! Clients: the state a connection keeps for itself ([`Client`]) and the part other
//! connections may see (`CLIENT LIST`, `CLIENT KILL`) through the registry ([`ClientInfo`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::acl::User;
use crate::command::transactions::{Transaction, WatchedKey};
use crate::protocol::Reply;
use crate::pubsub::Subscriptions;

/// What other connections may read or do to a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub created: Instant,
    /// The selected database, mirrored for `CLIENT LIST`.
    pub db: AtomicUsize,
    /// Milliseconds since `created` of the last command, for `idle=`.
    pub last_active_ms: AtomicU64,
    pub meta: Mutex<ClientMeta>,
    /// Set by `CLIENT KILL`; the connection closes when woken.
    pub killed: AtomicBool,
    /// Wakes the connection: killed, a pub/sub message queued, server shutting down.
    pub wakeup: Wakeup,
}

/// The wake-up of one connection task, which is its only waiter: a flag and one waker slot.
///
/// Not a `tokio::sync::Notify`: waiting on one puts a waiter node (64 bytes) into the waiting
/// future, and so into the task of every idle connection; waiting here keeps nothing.
#[derive(Default)]
pub struct Wakeup {
    /// Set by [`Wakeup::wake`], cleared by [`Wakeup::poll_take`].
    pending: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Wakeup {
    /// Marks a wake-up pending and wakes the task if it waits.
    pub fn wake(&self) {
        self.pending.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }

    /// Makes the next [`Wakeup::wake`] wake the task polled with `cx`. A caller that checks a
    /// condition set before `wake` (such as `killed`) checks it after registering.
    pub fn register(&self, cx: &Context<'_>) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
    }

    /// Ready (and no longer pending) once [`Wakeup::wake`] was called since the last time it
    /// was ready; otherwise the task polled with `cx` is woken by the next call.
    pub fn poll_take(&self, cx: &Context<'_>) -> Poll<()> {
        if self.pending.swap(false, Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.register(cx);
        if self.pending.swap(false, Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Drops the registered waker (the task is ending).
    pub fn clear(&self) {
        self.waker.lock().take();
    }
}

/// Text fields of a client, changed rarely.
#[derive(Default, Clone)]
pub struct ClientMeta {
    /// Boxed on first use: most connections never name themselves, and the registry keeps a
    /// `ClientInfo` for every open connection, idle ones included.
    names: Option<Box<ClientNames>>,
    pub last_command: &'static str,
    pub resp: u8,
    /// `CLIENT NO-EVICT ON` (shown as flag `e`; latchkey never evicts clients).
    pub no_evict: bool,
    /// `CLIENT NO-TOUCH ON` (shown as flag `T`).
    pub no_touch: bool,
    /// The name of the user the client is authenticated as (`None`: `default`).
    pub user: Option<Arc<str>>,
}

/// What a client called itself: `CLIENT SETNAME`, `CLIENT SETINFO LIB-NAME|LIB-VER`.
#[derive(Default, Clone)]
struct ClientNames {
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
}

impl ClientMeta {
    /// The name given by `CLIENT SETNAME` (or `HELLO … SETNAME`).
    pub fn name(&self) -> Option<&Bytes> {
        self.names.as_ref()?.name.as_ref()
    }

    pub fn lib_name(&self) -> Option<&Bytes> {
        self.names.as_ref()?.lib_name.as_ref()
    }

    pub fn lib_ver(&self) -> Option<&Bytes> {
        self.names.as_ref()?.lib_ver.as_ref()
    }

    pub fn set_name(&mut self, name: Option<Bytes>) {
        self.set_names_field(name, |names| &mut names.name);
    }

    pub fn set_lib_name(&mut self, lib_name: Option<Bytes>) {
        self.set_names_field(lib_name, |names| &mut names.lib_name);
    }

    pub fn set_lib_ver(&mut self, lib_ver: Option<Bytes>) {
        self.set_names_field(lib_ver, |names| &mut names.lib_ver);
    }

    /// Sets one of the names; clearing one that was never set allocates nothing.
    fn set_names_field(
        &mut self,
        value: Option<Bytes>,
        field: fn(&mut ClientNames) -> &mut Option<Bytes>,
    ) {
        if value.is_none() && self.names.is_none() {
            return;
        }
        *field(self.names.get_or_insert_with(Box::default)) = value;
    }
}

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, local_addr: SocketAddr) -> Self {
        ClientInfo {
            id,
            addr,
            local_addr,
            created: Instant::now(),
            db: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            meta: Mutex::new(ClientMeta {
                resp: 2,
                last_command: "NULL",
                ..ClientMeta::default()
            }),
            killed: AtomicBool::new(false),
            wakeup: Wakeup::default(),
        }
    }

    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.wakeup.wake();
    }

    /// Milliseconds since the client's last command (or since it connected).
    pub fn idle_ms(&self) -> u64 {
        (self.created.elapsed().as_millis() as u64)
            .saturating_sub(self.last_active_ms.load(Ordering::Relaxed))
    }

    /// One line of `CLIENT LIST` / `CLIENT INFO`, with Redis's field names.
    pub fn describe(&self) -> String {
        let meta = self.meta.lock().clone();
        let age = self.created.elapsed();
        let idle_ms = self.idle_ms();
        let text = |b: Option<&Bytes>| {
            b.map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if meta.no_evict {
            flags.push('e');
        }
        if meta.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={flags} db={} sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.local_addr,
            text(meta.name()),
            age.as_secs(),
            idle_ms / 1000,
            self.db.load(Ordering::Relaxed),
            meta.last_command,
            meta.user.as_deref().unwrap_or("default"),
            meta.resp,
            text(meta.lib_name()),
            text(meta.lib_ver()),
        )
    }
}

/// A connection's own state.
pub struct Client {
    pub info: Arc<ClientInfo>,
    /// The name last written to `info.meta.last_command`: the shared copy is locked only when
    /// the command changes, not once per command.
    last_command: &'static str,
    /// The selected database.
    pub db: usize,
    /// Replies in RESP3 (after `HELLO 3`).
    pub resp3: bool,
    pub authenticated: bool,
    /// The user whose permissions apply (the server's `default` until `AUTH`).
    pub user: Arc<User>,
    /// Close the connection once the current reply is written (`QUIT`).
    pub close_after_reply: bool,
    /// Pub/sub: what this client listens on and its mailbox; `None` until it first subscribes.
    pub subscriptions: Option<Box<Subscriptions>>,
    /// Replies a command produced ahead of its own (all but the last confirmation of a
    /// `SUBSCRIBE` to several channels); written before the command's reply.
    pub pushes: Vec<Reply>,
    /// The commands queued since `MULTI`, `None` outside a transaction.
    pub multi: Option<Box<Transaction>>,
    /// Keys under `WATCH`, with the version each had when watched.
    pub watched: Vec<WatchedKey>,
    /// `EXEC` is running this client's queued commands: blocking commands must not block.
    pub in_exec: bool,
    /// Where this connection's last `SCAN` call stopped (see `command::scan`).
    pub scan_snapshot: Option<Box<crate::command::scan::ScanSnapshot>>,
    /// The append-only file's offset this client's pending replies wait for (0: none): they
    /// are sent once the log holds it (see [`crate::persist`]).
    pub aof_target: u64,
    /// The append-only file's loader: commands run at the replay's time and are not logged
    /// again.
    pub replaying: bool,
    /// May run `DEBUG` (`enable-debug-command` and where the client connected from; decided
    /// when the connection starts). In-process callers may.
    pub may_debug: bool,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Client {
            info,
            last_command: "NULL",
            db: 0,
            resp3: false,
            authenticated,
            user: User::placeholder(),
            close_after_reply: false,
            subscriptions: None,
            pushes: Vec::new(),
            multi: None,
            watched: Vec::new(),
            in_exec: false,
            scan_snapshot: None,
            aof_target: 0,
            replaying: false,
            may_debug: true,
        }
    }

    /// Switches to `user` (after `AUTH`, `HELLO … AUTH`, `RESET`).
    pub fn set_user(&mut self, user: Arc<User>) {
        let name = (user.name() != "default").then(|| Arc::from(user.name()));
        self.info.meta.lock().user = name;
        self.user = user;
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Records that the client ran commands now (for `idle=` and `timeout`). Called once per
    /// batch of pipelined requests, not per command: it reads the clock.
    pub fn note_activity(&self) {
        self.info.last_active_ms.store(
            self.info.created.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    /// Records the command's name for `CLIENT LIST`'s `cmd=`.
    pub fn note_command(&mut self, name: &'static str) {
        if !std::ptr::eq(self.last_command, name) {
            self.last_command = name;
            self.info.meta.lock().last_command = name;
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    /// Number of channels, patterns and shard channels this client is subscribed to.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.as_ref().map_or(0, |s| s.total())
    }

    /// RESP2 subscribed mode: only (un)subscribe commands, `PING`, `QUIT` and `RESET` run.
    pub fn in_resp2_pubsub(&self) -> bool {
        !self.resp3 && self.subscription_count() > 0
    }

    /// This client's subscriptions, created on first use.
    pub fn subscriptions_mut(&mut self) -> &mut Subscriptions {
        let info = self.info.clone();
        self.subscriptions
            .get_or_insert_with(|| Box::new(Subscriptions::new(info)))
    }

    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
        self.info.meta.lock().resp = if resp3 { 3 } else { 2 };
    }
}
