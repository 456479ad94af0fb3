//! Durability: Redis's append-only file (AOF).
//!
//! Every write that changes the keyspace is appended to the log as RESP commands, from the one
//! place writes pass through (the dispatcher, see [`crate::command`]), and from the one place
//! shards are released for changes no dispatch saw (a waiter served: [`crate::db::Journal`]).
//! The log is Redis 7's multi-part layout ([`manifest`]): a base file written by a rewrite and
//! incremental files appended since, which `redis-check-aof` accepts. Expiry is logged as
//! absolute wall-clock times ([`deadline`]), locks with their fencing token and hold count
//! ([`encode::LOCK_RESTORE`]), and commands whose effect depends on time or chance as the state
//! they left ([`propagate`]).
//!
//! How a write becomes durable: the dispatcher appends its commands to an in-memory buffer
//! under the shards it holds (so the log keeps the order of changes) and notes the end offset
//! on the client. Before a connection writes a batch's replies it waits until the log has
//! reached that offset:
//! - `appendfsync always`: written and fsynced by the log's thread. Writes arriving while an
//!   fsync runs share the next one (group commit).
//! - `everysec`: written (by the connection itself, a `write` to the page cache); the thread
//!   fsyncs once a second.
//! - `no`: written; the kernel decides when it reaches the disk.
//!
//! A failed write (disk full) keeps the bytes, marks the log failing and retries every 100 ms;
//! meanwhile write commands get `MISCONF` and replies that wait for the failed bytes stay
//! unsent, so nothing is acknowledged that is not in the file.

pub mod deadline;
pub mod encode;
pub mod grace;
pub mod load;
pub mod manifest;
pub mod propagate;

use crate::clock::MonoTime;
use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

use crate::config::Config;
use crate::db::{Journal, Keyspace, Shard, ShardGuards};
use crate::errors::Error;
use crate::server::Shared;
use deadline::ClockPair;
use manifest::{Layout, Manifest, Part};

/// When the log is fsynced (`appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl Fsync {
    /// Reads `always`, `everysec` or `no`, any case.
    pub fn parse(value: &str) -> Result<Fsync, String> {
        match value.to_ascii_lowercase().as_str() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "no" => Ok(Fsync::No),
            _ => Err("argument(s) must be one of the following: always, everysec, no".into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }

    fn from_u8(value: u8) -> Fsync {
        match value {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }
}

/// One command for the log, in the database it ran in.
#[derive(Clone, Debug)]
pub struct Effect {
    pub db: usize,
    pub argv: Vec<Bytes>,
}

/// Bytes appended but not yet handed to the file.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The log offset at the end of `bytes` (bytes appended since start).
    end: u64,
    /// The database the log's stream has selected last (`None`: a new file, select first).
    db: Option<usize>,
}

/// The incremental file being appended to.
struct Output {
    file: File,
    /// The same file, for fsyncs made without holding the output.
    sync: Arc<File>,
    /// Bytes taken from `Pending` and not yet all written (a write failed part-way).
    carry: Vec<u8>,
    done: usize,
    carry_end: u64,
}

/// The append-only file of one server. Cheap to share (`Arc`).
pub struct Aof {
    on: AtomicBool,
    fsync: AtomicU8,
    layout: Layout,
    manifest: Mutex<Manifest>,
    pending: Mutex<Pending>,
    output: Mutex<Option<Output>>,
    /// Log offsets written to the file, and fsynced.
    written: AtomicU64,
    synced: AtomicU64,
    /// Woken when `written` or `synced` moves.
    durable: Notify,
    kicked: Mutex<bool>,
    kick: Condvar,
    /// Commands appended since start (how many share an fsync).
    appends: AtomicU64,
    /// The error of the last failed write, while writes fail.
    write_error: Mutex<Option<String>>,
    failing: AtomicBool,
    rewriting: AtomicBool,
    last_rewrite_ok: AtomicBool,
    rewrites: AtomicU64,
    base_size: AtomicU64,
    current_size: AtomicU64,
    pub auto_rewrite_percentage: AtomicU64,
    pub auto_rewrite_min_size: AtomicU64,
    stop: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    shared: OnceLock<Weak<Shared>>,
}

/// How often a failed write is retried.
const RETRY: Duration = Duration::from_millis(100);

impl Aof {
    /// The log `config` describes; nothing is opened until [`start`] or [`Aof::enable`].
    pub fn new(config: &Config) -> Aof {
        Aof {
            on: AtomicBool::new(false),
            fsync: AtomicU8::new(Fsync::parse(&config.appendfsync).unwrap_or(Fsync::EverySec) as u8),
            layout: Layout {
                dir: config.dir.join(&config.appenddirname),
                filename: config.appendfilename.clone(),
            },
            manifest: Mutex::new(Manifest::default()),
            pending: Mutex::new(Pending::default()),
            output: Mutex::new(None),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            durable: Notify::new(),
            kicked: Mutex::new(false),
            kick: Condvar::new(),
            appends: AtomicU64::new(0),
            write_error: Mutex::new(None),
            failing: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            auto_rewrite_percentage: AtomicU64::new(config.auto_aof_rewrite_percentage),
            auto_rewrite_min_size: AtomicU64::new(config.auto_aof_rewrite_min_size),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
            shared: OnceLock::new(),
        }
    }

    /// Whether writes are logged (`appendonly yes`).
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub fn fsync(&self) -> Fsync {
        Fsync::from_u8(self.fsync.load(Ordering::Relaxed))
    }

    pub fn set_fsync(&self, policy: Fsync) {
        self.fsync.store(policy as u8, Ordering::Relaxed);
        self.wake_thread();
    }

    /// The error write commands get while the log cannot be written, as Redis words it.
    pub fn refusal(&self) -> Option<Error> {
        if !self.failing.load(Ordering::Relaxed) {
            return None;
        }
        let reason = self.write_error.lock().clone().unwrap_or_default();
        Some(Error(
            format!("MISCONF Errors writing to the AOF file: {reason}").into(),
        ))
    }

    /// Appends the commands of one command (a script's or a transaction's effects inside
    /// `MULTI`/`EXEC`, as Redis wraps them) and returns the log offset a reply must wait for.
    /// Called with the command's shards held.
    pub fn append(&self, effects: &[Effect]) -> u64 {
        let mut pending = self.pending.lock();
        let before = pending.bytes.len();
        let pending = &mut *pending;
        let grouped = effects.len() > 1;
        let mut select = |bytes: &mut Vec<u8>, db: usize| {
            if pending.db != Some(db) {
                encode::select(bytes, db);
                pending.db = Some(db);
            }
        };
        if let (true, Some(first)) = (grouped, effects.first()) {
            select(&mut pending.bytes, first.db);
            encode::command(&mut pending.bytes, &[Bytes::from_static(b"MULTI")]);
        }
        for effect in effects {
            select(&mut pending.bytes, effect.db);
            encode::command(&mut pending.bytes, &effect.argv);
        }
        if grouped {
            encode::command(&mut pending.bytes, &[Bytes::from_static(b"EXEC")]);
        }
        pending.end += (pending.bytes.len() - before) as u64;
        let end = pending.end;
        self.appends.fetch_add(1, Ordering::Relaxed);
        if self.fsync() == Fsync::Always {
            self.wake_thread();
        }
        end
    }

    /// The log offset of everything appended so far.
    pub fn appended(&self) -> u64 {
        self.pending.lock().end
    }

    /// Whether the log holds offset `target` as the fsync policy requires (written, or fsynced
    /// under `always`). Off, everything is.
    pub fn is_durable(&self, target: u64) -> bool {
        if !self.is_on() {
            return true;
        }
        match self.fsync() {
            Fsync::Always => self.synced.load(Ordering::Acquire) >= target,
            _ => self.written.load(Ordering::Acquire) >= target,
        }
    }

    /// The quick way for a connection: durable already, or (without `always`) after writing
    /// what is pending itself.
    pub fn make_durable(&self, target: u64) -> bool {
        if self.is_durable(target) {
            return true;
        }
        if self.fsync() != Fsync::Always && !self.failing.load(Ordering::Relaxed) {
            let _ = self.write_pending();
        }
        self.is_durable(target)
    }

    /// Waits until [`Aof::is_durable`] holds for `target`.
    pub async fn wait_durable(&self, target: u64) {
        loop {
            let notified = self.durable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_durable(target) {
                return;
            }
            self.wake_thread();
            notified.await;
        }
    }

    /// The log offset a blocked command's reply waits for: everything appended once the key's
    /// shard is free again (the client that served the waiter logs the change before releasing
    /// the shard).
    pub fn end_after_key(&self, keyspace: &Keyspace, db: usize, key: &[u8]) -> u64 {
        let mut guards = ShardGuards::new(keyspace);
        let _ = guards.shard(db, key);
        drop(guards);
        self.appended()
    }

    fn wake_thread(&self) {
        let mut kicked = self.kicked.lock();
        *kicked = true;
        self.kick.notify_one();
    }

    /// Writes what is pending to the file. On failure the bytes are kept for the next try and
    /// the log is marked failing.
    fn write_pending(&self) -> io::Result<()> {
        let mut output = self.output.lock();
        let Some(out) = output.as_mut() else {
            return Ok(());
        };
        {
            let mut pending = self.pending.lock();
            if !pending.bytes.is_empty() {
                if out.done == out.carry.len() {
                    out.carry.clear();
                    out.done = 0;
                    std::mem::swap(&mut out.carry, &mut pending.bytes);
                } else {
                    out.carry.extend_from_slice(&pending.bytes);
                    pending.bytes.clear();
                }
                out.carry_end = pending.end;
            }
        }
        while out.done < out.carry.len() {
            match out.file.write(&out.carry[out.done..]) {
                Ok(0) => return Err(self.failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    out.done += n;
                    self.current_size.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.failed(error)),
            }
        }
        out.carry.clear();
        out.done = 0;
        self.written.store(out.carry_end, Ordering::Release);
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::warn!("AOF write error looks solved, the server can write again");
            *self.write_error.lock() = None;
        }
        drop(output);
        self.durable.notify_waiters();
        Ok(())
    }

    /// Records a failed write or fsync; returns the error.
    fn failed(&self, error: io::Error) -> io::Error {
        let reason = strerror(&error);
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!("error writing to the AOF file: {reason}");
        }
        *self.write_error.lock() = Some(reason);
        self.wake_thread();
        error
    }

    /// Fsyncs the current file up to what is written now.
    fn sync_written(&self) -> io::Result<()> {
        let target = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let handle = self.output.lock().as_ref().map(|out| out.sync.clone());
        if let Some(handle) = handle {
            handle.sync_data().map_err(|error| self.failed(error))?;
        }
        self.synced.fetch_max(target, Ordering::AcqRel);
        self.durable.notify_waiters();
        Ok(())
    }

    /// The log's thread: writes and fsyncs as the policy asks, retries failed writes, starts
    /// automatic rewrites.
    fn run_thread(self: Arc<Self>) {
        let mut last_fsync = Instant::now();
        // The last fsync's duration and how many commands' writes it carried.
        let mut fsync_time = Duration::ZERO;
        let (mut group, mut appends_seen) = (0, 0);
        loop {
            {
                let mut kicked = self.kicked.lock();
                if !*kicked {
                    let wait = if self.failing.load(Ordering::Relaxed) {
                        RETRY
                    } else {
                        Duration::from_secs(1).saturating_sub(last_fsync.elapsed())
                    };
                    self.kick
                        .wait_for(&mut kicked, wait.max(Duration::from_millis(1)));
                }
                *kicked = false;
            }
            let stopping = self.stop.load(Ordering::Relaxed);
            if self.is_on() {
                if self.fsync() == Fsync::Always && group > 1 && !stopping {
                    // Commit delay: the clients the last fsync released are sending their next
                    // writes; a moment's wait lets them share this fsync instead of the next.
                    std::thread::sleep((fsync_time / 4).min(Duration::from_millis(1)));
                }
                let appends = self.appends.load(Ordering::Relaxed);
                group = appends - appends_seen;
                appends_seen = appends;
                let written = self.write_pending();
                let due = match self.fsync() {
                    Fsync::Always => true,
                    Fsync::EverySec => last_fsync.elapsed() >= Duration::from_secs(1),
                    Fsync::No => stopping,
                };
                if written.is_ok() && (due || stopping) {
                    let started = Instant::now();
                    let _ = self.sync_written();
                    fsync_time = started.elapsed();
                    last_fsync = Instant::now();
                }
                self.durable.notify_waiters();
                self.maybe_rewrite();
            }
            if stopping {
                return;
            }
        }
    }

    fn start_thread(self: &Arc<Self>) {
        let mut thread = self.thread.lock();
        if thread.is_none() {
            let aof = self.clone();
            *thread = std::thread::Builder::new()
                .name("latchkey-aof".into())
                .spawn(move || aof.run_thread())
                .ok();
        }
    }

    /// Writes and fsyncs what is pending and stops the log's thread (graceful shutdown).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake_thread();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        if self.is_on() && self.write_pending().is_ok() {
            let _ = self.sync_written();
        }
    }

    /// Starts an automatic rewrite when the log grew past `auto-aof-rewrite-percentage` of its
    /// size after the last rewrite and past `auto-aof-rewrite-min-size`.
    fn maybe_rewrite(&self) {
        let percentage = self.auto_rewrite_percentage.load(Ordering::Relaxed);
        let current = self.current_size.load(Ordering::Relaxed);
        let base = self.base_size.load(Ordering::Relaxed).max(1);
        if percentage == 0
            || self.rewriting.load(Ordering::Relaxed)
            || current < self.auto_rewrite_min_size.load(Ordering::Relaxed)
            || current.saturating_sub(base) * 100 / base < percentage
        {
            return;
        }
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            tracing::info!("starting automatic rewriting of AOF on {current} bytes");
            let _ = spawn_rewrite(shared);
        }
    }

    /// Rewrites the log from the keyspace: a new base file holding every key (and the fencing
    /// sequence), a new empty incremental file, a new manifest; the old files are deleted.
    /// With `enable`, the log is switched on in the same step (`CONFIG SET appendonly yes`).
    ///
    /// The keyspace is copied with every shard locked, so the base and the incremental file
    /// after it split the stream of writes exactly; clients wait for that copy.
    pub fn rewrite(&self, shared: &Arc<Shared>, enable: bool) -> io::Result<()> {
        self.claim_rewrite()?;
        self.run_claimed_rewrite(shared, enable)
    }

    /// Marks a rewrite in progress (`aof_rewrite_in_progress:1`), or fails when one is.
    fn claim_rewrite(&self) -> io::Result<()> {
        if self.rewriting.swap(true, Ordering::AcqRel) {
            return Err(io::Error::other(
                "Background append only file rewriting already in progress",
            ));
        }
        Ok(())
    }

    fn run_claimed_rewrite(&self, shared: &Arc<Shared>, enable: bool) -> io::Result<()> {
        let started = self.rewrite_locked(shared, enable);
        self.rewriting.store(false, Ordering::Release);
        self.last_rewrite_ok
            .store(started.is_ok(), Ordering::Relaxed);
        if let Err(error) = &started {
            tracing::warn!("AOF rewrite failed: {error}");
        } else if !enable {
            // Switching the log on writes its first base: not counted as a rewrite.
            self.rewrites.fetch_add(1, Ordering::Relaxed);
        }
        started
    }

    fn rewrite_locked(&self, shared: &Arc<Shared>, enable: bool) -> io::Result<()> {
        if !enable && !self.is_on() {
            return Err(io::Error::other("the append only file is off"));
        }
        let layout = &self.layout;
        fs::create_dir_all(&layout.dir)?;
        let keyspace = &shared.keyspace;
        let mut guards = ShardGuards::new(keyspace);
        guards
            .lock_all()
            .map_err(|error| io::Error::other(error.0.to_string()))?;
        // What was appended before this moment belongs in the old files.
        if self.is_on() {
            self.write_pending()?;
            self.sync_written()?;
        }
        let clocks = ClockPair::read(&*keyspace.clock);
        let base = dump(&mut guards, keyspace, clocks, shared.fencing.last());
        let mut manifest = self.manifest.lock();
        let old = match layout.read_manifest() {
            Ok(Some(on_disk)) if on_disk.last_seq() > manifest.last_seq() => on_disk,
            _ => manifest.clone(),
        };
        let seq = old.last_seq() + 1;
        let next = Manifest {
            base: Some(Part {
                name: layout.base_name(seq),
                seq,
            }),
            incrs: vec![Part {
                name: layout.incr_name(seq),
                seq,
            }],
        };
        manifest::write_synced(&layout.path(&layout.base_name(seq)), &base)?;
        let incr = open_append(&layout.path(&layout.incr_name(seq)))?;
        manifest::sync_dir(&layout.dir)?;
        layout.write_manifest(&next)?;
        self.switch_output(incr)?;
        *manifest = next.clone();
        self.base_size.store(base.len() as u64, Ordering::Relaxed);
        self.current_size
            .store(base.len() as u64, Ordering::Relaxed);
        if enable && !self.is_on() {
            self.on.store(true, Ordering::Release);
        }
        drop(manifest);
        drop(guards);
        for part in old.parts().filter(|part| !next.parts().any(|p| p == *part)) {
            let _ = fs::remove_file(layout.path(&part.name));
        }
        Ok(())
    }

    /// Makes `file` the file appended to; the stream restarts without a selected database.
    fn switch_output(&self, file: File) -> io::Result<()> {
        let sync = Arc::new(file.try_clone()?);
        let mut output = self.output.lock();
        let end = self.pending.lock().end;
        *output = Some(Output {
            file,
            sync,
            carry: Vec::new(),
            done: 0,
            carry_end: end,
        });
        let mut pending = self.pending.lock();
        pending.db = None;
        self.written.store(end, Ordering::Release);
        self.synced.store(end, Ordering::Release);
        Ok(())
    }

    /// `CONFIG SET appendonly yes`: writes a base from the keyspace and logs from then on.
    pub fn enable(self: &Arc<Self>, shared: &Arc<Shared>) -> io::Result<()> {
        if self.is_on() {
            return Ok(());
        }
        self.rewrite(shared, true)?;
        self.start_thread();
        Ok(())
    }

    /// `CONFIG SET appendonly no`: stops logging (what is pending is written first).
    pub fn disable(&self) {
        if !self.is_on() {
            return;
        }
        let _ = self.write_pending();
        let _ = self.sync_written();
        self.on.store(false, Ordering::Release);
        *self.output.lock() = None;
        self.durable.notify_waiters();
    }

    /// The `INFO persistence` fields of the log, in Redis's order.
    pub fn info_fields(&self) -> Vec<(&'static str, String)> {
        let ok = |good: bool| if good { "ok" } else { "err" }.to_string();
        let mut fields = vec![
            ("aof_enabled", (self.is_on() as u8).to_string()),
            (
                "aof_rewrite_in_progress",
                (self.rewriting.load(Ordering::Relaxed) as u8).to_string(),
            ),
            ("aof_rewrite_scheduled", "0".into()),
            ("aof_last_rewrite_time_sec", "-1".into()),
            ("aof_current_rewrite_time_sec", "-1".into()),
            (
                "aof_last_bgrewrite_status",
                ok(self.last_rewrite_ok.load(Ordering::Relaxed)),
            ),
            (
                "aof_rewrites",
                self.rewrites.load(Ordering::Relaxed).to_string(),
            ),
            ("aof_rewrites_consecutive_failures", "0".into()),
            (
                "aof_last_write_status",
                ok(!self.failing.load(Ordering::Relaxed)),
            ),
        ];
        if self.is_on() {
            let buffered = self.pending.lock().bytes.len();
            fields.extend([
                (
                    "aof_current_size",
                    self.current_size.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "aof_base_size",
                    self.base_size.load(Ordering::Relaxed).to_string(),
                ),
                ("aof_pending_rewrite", "0".into()),
                ("aof_buffer_length", buffered.to_string()),
                ("aof_pending_bio_fsync", "0".into()),
                ("aof_delayed_fsync", "0".into()),
            ]);
        }
        fields
    }

    /// Whether a rewrite runs now.
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewriting.load(Ordering::Relaxed)
    }

    /// Writes what is pending and fsyncs it (`DEBUG LOADAOF` first makes the files complete).
    pub fn flush(&self) -> io::Result<()> {
        if self.is_on() {
            self.write_pending()?;
            self.sync_written()?;
        }
        Ok(())
    }

    /// The directory and file names of the log.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

impl Journal for Aof {
    fn keys_changed(&self, db: usize, shard: &mut Shard, keys: &[Bytes], now: MonoTime) {
        if !self.is_on() || keys.is_empty() {
            return;
        }
        let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
            return;
        };
        let clocks = ClockPair {
            now,
            unix_us: shared.keyspace.clock.unix_us(),
        };
        let mut commands = Vec::new();
        for key in keys {
            encode::key_state(shard, key, clocks, &mut commands);
        }
        let effects: Vec<Effect> = commands
            .into_iter()
            .map(|argv| Effect { db, argv })
            .collect();
        self.append(&effects);
    }
}

/// Opens (creating) a file for appending.
fn open_append(path: &std::path::Path) -> io::Result<File> {
    File::options().create(true).append(true).open(path)
}

/// The text of an OS error as C's `strerror` gives it (what Redis puts in `MISCONF`).
fn strerror(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// The whole keyspace as commands (the content of a base file), with every shard held by
/// `locks`: the fencing sequence first, then each database's keys after its `SELECT`.
pub fn dump(
    guards: &mut ShardGuards,
    keyspace: &Keyspace,
    clocks: ClockPair,
    fencing: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    encode::command(
        &mut out,
        &[
            Bytes::from_static(encode::LOCK_SEQUENCE.as_bytes()),
            encode::number(fencing),
        ],
    );
    let mut commands = Vec::new();
    for db in 0..keyspace.databases() {
        let mut selected = false;
        for index in keyspace.db_shards(db) {
            let Ok(shard) = guards.shard_at(index) else {
                continue;
            };
            for (key, entry) in shard.iter_live(clocks.now) {
                if !selected {
                    encode::select(&mut out, db);
                    selected = true;
                }
                let key = Bytes::copy_from_slice(key);
                let meta = shard.lock_meta(&key, clocks.now);
                encode::entry_commands(&key, entry, meta, clocks, false, &mut commands);
                for argv in commands.drain(..) {
                    encode::command(&mut out, &argv);
                }
            }
        }
    }
    out
}

/// Starts a rewrite on a thread of its own (`BGREWRITEAOF`, automatic rewrites); fails when
/// one is in progress or the log is off.
pub fn spawn_rewrite(shared: Arc<Shared>) -> io::Result<()> {
    let aof = shared.aof.clone();
    if !aof.is_on() {
        return Err(io::Error::other("the append only file is off"));
    }
    aof.claim_rewrite()?;
    let thread_aof = aof.clone();
    let spawned = std::thread::Builder::new()
        .name("latchkey-aof-rewrite".into())
        .spawn(move || {
            let _ = thread_aof.run_claimed_rewrite(&shared, false);
        });
    if spawned.is_err() {
        aof.rewriting.store(false, Ordering::Release);
    }
    spawned.map(drop)
}

/// Empties the keyspace (every shard at once) and replays `bytes` into it: `DEBUG RELOAD`.
pub fn reload_from(shared: &Arc<Shared>, bytes: &[u8]) -> io::Result<()> {
    clear_keyspace(shared)?;
    load::load_bytes(shared, bytes)
}

/// The whole keyspace as log commands (`DEBUG RELOAD` replays them).
pub fn snapshot(shared: &Arc<Shared>) -> io::Result<Vec<u8>> {
    let keyspace = &shared.keyspace;
    let mut guards = ShardGuards::new(keyspace);
    guards
        .lock_all()
        .map_err(|error| io::Error::other(error.0.to_string()))?;
    let clocks = ClockPair::read(&*keyspace.clock);
    Ok(dump(&mut guards, keyspace, clocks, shared.fencing.last()))
}

/// Empties the keyspace and loads the log's files again: `DEBUG LOADAOF`.
pub fn reload_files(shared: &Arc<Shared>) -> io::Result<()> {
    let aof = &shared.aof;
    aof.flush()?;
    let Some(manifest) = aof.layout.read_manifest()? else {
        return Err(io::Error::other("no append only file to load"));
    };
    clear_keyspace(shared)?;
    load::load_files(shared, &aof.layout, &manifest).map(drop)
}

fn clear_keyspace(shared: &Arc<Shared>) -> io::Result<()> {
    let mut guards = ShardGuards::new(&shared.keyspace);
    for index in 0..shared.keyspace.shard_count() {
        guards
            .shard_at(index)
            .map_err(|error| io::Error::other(error.0.to_string()))?
            .clear();
    }
    Ok(())
}

/// Connects the log to the server and, with `appendonly yes`, loads the files in the
/// directory (or starts new ones) and starts logging. Returns whether a log was loaded.
pub fn start(shared: &Arc<Shared>) -> io::Result<bool> {
    let aof = &shared.aof;
    let _ = aof.shared.set(Arc::downgrade(shared));
    let journal: Arc<dyn Journal> = aof.clone();
    let _ = shared.keyspace.journal.set(journal);
    if !shared.config.read().appendonly {
        return Ok(false);
    }
    let layout = aof.layout.clone();
    fs::create_dir_all(&layout.dir)?;
    let Some(manifest) = layout.read_manifest()? else {
        aof.enable(shared)?;
        return Ok(false);
    };
    let loaded = load::load_files(shared, &layout, &manifest)?;
    let mut manifest = manifest;
    let incr = match manifest.incrs.last() {
        Some(last) => {
            let path = layout.path(&last.name);
            let file = open_append(&path)?;
            if let Some(valid) = loaded.truncated_to {
                file.set_len(valid)?;
                file.sync_all()?;
            }
            file
        }
        None => {
            let seq = manifest.last_seq() + 1;
            let file = open_append(&layout.path(&layout.incr_name(seq)))?;
            manifest.incrs.push(Part {
                name: layout.incr_name(seq),
                seq,
            });
            layout.write_manifest(&manifest)?;
            file
        }
    };
    let base_size = manifest
        .base
        .as_ref()
        .and_then(|base| fs::metadata(layout.path(&base.name)).ok())
        .map_or(0, |m| m.len());
    let total: u64 = manifest
        .parts()
        .filter_map(|part| fs::metadata(layout.path(&part.name)).ok())
        .map(|m| m.len())
        .sum();
    aof.base_size.store(base_size, Ordering::Relaxed);
    aof.current_size.store(total, Ordering::Relaxed);
    *aof.manifest.lock() = manifest;
    aof.switch_output(incr)?;
    aof.on.store(true, Ordering::Release);
    aof.start_thread();
    Ok(true)
}
