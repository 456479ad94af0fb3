//! Mutual-exclusion torture test: many clients on many connections take and release a few
//! locks with every method latchkey offers, while holders are killed (`CLIENT KILL ID`), die
//! mid-hold (connection dropped), drop connections mid-frame, and outlive their TTLs.
//!
//! How overlap is detected soundly despite network delay: each lock has a slot behind a
//! `Mutex` in the test. A holder, once its grant reply arrives, writes its token into the slot
//! and asserts the slot was free; it clears the slot (only if it still holds its own token)
//! before it sends its release. The server's hold runs from its grant (before the reply
//! arrives) to its release (after the clear), so it covers the slot occupation: two
//! overlapping slot occupations prove two overlapping server holds. A holder that dies leaves
//! its entry in the slot with an expiry of `acquire sent + TTL`, which is never later than the
//! server's expiry (the server granted after the request was sent), so the entry counts as
//! free from then on (less the server's 1 ms clock granularity). Holds are milliseconds long and TTLs half a second in the exclusion phase;
//! a separate phase lets TTLs run out under holders and checks that the next waiter gets the
//! lock no earlier than the TTL allows and no later than the TTL plus a small bound, and that
//! the late holder's release no longer touches the lock.
//!
//! Size: a few seconds by default. `LATCHKEY_TORTURE_SECS` (exclusion phase length),
//! `LATCHKEY_TORTURE_CLIENTS` and `LATCHKEY_TORTURE_ROUNDS` (expiry phase rounds per lock) make
//! it larger, e.g. `LATCHKEY_TORTURE_SECS=60 LATCHKEY_TORTURE_CLIENTS=64
//! cargo test --release --test torture -- --nocapture`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey::{Config, Server};

const LOCKS: usize = 4;
/// TTL in the exclusion phase: far longer than any hold.
const EXCLUSION_TTL_MS: u64 = 500;
const MAX_HOLD_MS: u64 = 5;
/// TTL in the expiry phase, and how late after it the next waiter may be granted.
const EXPIRY_TTL_MS: u64 = 100;
const EXPIRY_BOUND_MS: u64 = 250;
/// The server counts time in whole milliseconds, so a deadline may fall up to 1 ms before
/// `grant + TTL` in real time (as in Redis).
const CLOCK_SLACK_MS: u64 = 1;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A blocking RESP connection whose failures are values (the test kills connections).
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    id: u64,
}

impl Conn {
    fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut conn = Conn {
            stream,
            pending: Vec::new(),
            id: 0,
        };
        let reply = conn.call(&[b"CLIENT", b"ID"])?;
        conn.id = integer(&reply).unwrap_or(0) as u64;
        Ok(conn)
    }

    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        self.stream.write_all(&common::encode(args))?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(len) = common::frame_len(&self.pending) {
                return Ok(self.pending.drain(..len).collect());
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

fn integer(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Who the test believes holds a lock, and until when at the latest.
#[derive(Default)]
struct Slot {
    holder: Option<(u64, Instant)>,
    last_fence: i64,
}

#[derive(Default)]
struct Counts {
    grants_set_nx: AtomicU64,
    grants_lock_acquire: AtomicU64,
    releases: AtomicU64,
    kills: AtomicU64,
    deaths_mid_hold: AtomicU64,
    mid_frame_drops: AtomicU64,
    overlaps: AtomicU64,
    lost_while_held: AtomicU64,
    fence_regressions: AtomicU64,
    expiry_checks: AtomicU64,
    expiry_violations: AtomicU64,
}

struct World {
    addr: SocketAddr,
    slots: Vec<Mutex<Slot>>,
    counts: Counts,
    /// Connection ids of the workers, for the killer.
    ids: Mutex<Vec<u64>>,
    stop: AtomicBool,
    next_token: AtomicU64,
    /// Whether `EVAL` exists (then SET NX holders release with a compare-and-delete script).
    eval: bool,
}

const RELEASE_SCRIPT: &[u8] =
    b"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl World {
    fn key(lock: usize) -> String {
        format!("torture:{lock}")
    }

    /// Records a grant in the lock's slot; counts an overlap if a live holder is there.
    fn occupy(&self, lock: usize, token: u64, live_until: Instant, fence: Option<i64>) {
        let mut slot = self.slots[lock].lock().unwrap();
        if let Some((other, until)) = slot.holder {
            if Instant::now() < until {
                eprintln!("overlap on lock {lock}: {other} still live, {token} granted");
                self.counts.overlaps.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(fence) = fence {
            if fence <= slot.last_fence {
                self.counts
                    .fence_regressions
                    .fetch_add(1, Ordering::Relaxed);
            }
            slot.last_fence = fence;
        }
        slot.holder = Some((token, live_until));
    }

    /// Clears the slot if it still names `token`.
    fn vacate(&self, lock: usize, token: u64) {
        let mut slot = self.slots[lock].lock().unwrap();
        if matches!(slot.holder, Some((t, _)) if t == token) {
            slot.holder = None;
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Method {
    SetNxScript,
    SetNxDelIfEq,
    LockAcquire,
}

/// One worker: acquire, hold, release, with faults, until told to stop.
fn worker(world: Arc<World>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut conn: Option<Conn> = None;
    while !world.stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(world.addr) {
                Ok(c) => {
                    world.ids.lock().unwrap().push(c.id);
                    conn.insert(c)
                }
                Err(_) => continue,
            },
        };
        if let Err(()) = one_hold(&world, c, &mut rng) {
            conn = None;
        }
    }
}

fn one_hold(world: &World, c: &mut Conn, rng: &mut fastrand::Rng) -> Result<(), ()> {
    let lock = rng.usize(..LOCKS);
    let key = World::key(lock);
    let token = world.next_token.fetch_add(1, Ordering::Relaxed);
    let token_text = format!("t{token}");
    let ttl = EXCLUSION_TTL_MS.to_string();
    let method = match rng.u8(..3) {
        0 => Method::SetNxScript,
        1 => Method::SetNxDelIfEq,
        _ => Method::LockAcquire,
    };
    // Fault: drop the connection in the middle of the acquire frame.
    if rng.u8(..50) == 0 {
        let frame = common::encode(&[b"SET", key.as_bytes(), token_text.as_bytes(), b"NX"]);
        let _ = c.stream.write_all(&frame[..rng.usize(1..frame.len())]);
        world.counts.mid_frame_drops.fetch_add(1, Ordering::Relaxed);
        return Err(());
    }
    let sent = Instant::now();
    let (granted, fence) = match method {
        Method::LockAcquire => {
            let reply = c
                .call(&[
                    b"LOCK.ACQUIRE",
                    key.as_bytes(),
                    token_text.as_bytes(),
                    b"PX",
                    ttl.as_bytes(),
                    b"WAIT",
                    b"300",
                ])
                .map_err(drop)?;
            let fence = integer(&reply);
            (fence.is_some(), fence)
        }
        _ => {
            let reply = c
                .call(&[
                    b"SET",
                    key.as_bytes(),
                    token_text.as_bytes(),
                    b"NX",
                    b"PX",
                    ttl.as_bytes(),
                ])
                .map_err(drop)?;
            if reply != b"+OK\r\n" {
                std::thread::sleep(Duration::from_millis(rng.u64(0..2)));
            }
            (reply == b"+OK\r\n", None)
        }
    };
    if !granted {
        return Ok(());
    }
    let live_until = sent + Duration::from_millis(EXCLUSION_TTL_MS - CLOCK_SLACK_MS);
    world.occupy(lock, token, live_until, fence);
    let counter = match method {
        Method::LockAcquire => &world.counts.grants_lock_acquire,
        _ => &world.counts.grants_set_nx,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(rng.u64(0..=MAX_HOLD_MS)));
    // Fault: the holder dies mid-hold (its entry stays until the TTL).
    if rng.u8(..150) == 0 {
        world.counts.deaths_mid_hold.fetch_add(1, Ordering::Relaxed);
        return Err(());
    }
    let safely_in_time = Instant::now() + Duration::from_millis(200) < live_until;
    world.vacate(lock, token);
    let reply = match method {
        Method::SetNxScript if world.eval => c.call(&[
            b"EVAL",
            RELEASE_SCRIPT,
            b"1",
            key.as_bytes(),
            token_text.as_bytes(),
        ]),
        Method::LockAcquire => c.call(&[b"LOCK.RELEASE", key.as_bytes(), token_text.as_bytes()]),
        _ => c.call(&[b"DELIFEQ", key.as_bytes(), token_text.as_bytes()]),
    };
    // A killed connection fails here: the lock then stays until its TTL (the slot is already
    // clear, which only weakens detection for that lock until then).
    let reply = reply.map_err(drop)?;
    if reply == b":1\r\n" {
        world.counts.releases.fetch_add(1, Ordering::Relaxed);
    } else if safely_in_time {
        eprintln!("lock {lock} lost while held by {token}: {reply:?}");
        world.counts.lost_while_held.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Kills random workers' connections with `CLIENT KILL ID` now and then.
fn killer(world: Arc<World>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let Ok(mut c) = Conn::connect(world.addr) else {
        return;
    };
    while !world.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(rng.u64(50..150)));
        let id = {
            let ids = world.ids.lock().unwrap();
            if ids.is_empty() {
                continue;
            }
            ids[rng.usize(..ids.len())]
        };
        let reply = c.call(&[b"CLIENT", b"KILL", b"ID", id.to_string().as_bytes()]);
        match reply {
            Ok(reply) if reply == b":1\r\n" => {
                world.counts.kills.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The expiry phase on one lock: each round a holder takes the lock with a short TTL and
/// outlives it; waiters queued with `LOCK.ACQUIRE … WAIT` must be granted within
/// `[acquire sent + TTL, grant received + TTL + bound]`, and the late holder's release must
/// not touch the lock the next holder has.
fn expiry_rounds(world: Arc<World>, lock: usize, rounds: u64) {
    let key = format!("expiry:{lock}");
    let ttl = EXPIRY_TTL_MS.to_string();
    let check = |ok: bool, what: &str| {
        world.counts.expiry_checks.fetch_add(1, Ordering::Relaxed);
        if !ok {
            eprintln!("expiry check failed on {key}: {what}");
            world
                .counts
                .expiry_violations
                .fetch_add(1, Ordering::Relaxed);
        }
    };
    for round in 0..rounds {
        let mut holder = Conn::connect(world.addr).expect("connect");
        let holder_token = format!("h{lock}-{round}");
        let use_set = round % 2 == 0;
        let sent = Instant::now();
        let reply = if use_set {
            holder.call(&[
                b"SET",
                key.as_bytes(),
                holder_token.as_bytes(),
                b"NX",
                b"PX",
                ttl.as_bytes(),
            ])
        } else {
            holder.call(&[
                b"LOCK.ACQUIRE",
                key.as_bytes(),
                holder_token.as_bytes(),
                b"PX",
                ttl.as_bytes(),
            ])
        }
        .expect("acquire");
        let received = Instant::now();
        check(
            reply == b"+OK\r\n" || integer(&reply).is_some(),
            "holder not granted",
        );
        // A waiter queues behind the holder; it is granted when the TTL runs out.
        let mut waiter = Conn::connect(world.addr).expect("connect");
        let waiter_token = format!("w{lock}-{round}");
        let reply = waiter
            .call(&[
                b"LOCK.ACQUIRE",
                key.as_bytes(),
                waiter_token.as_bytes(),
                b"PX",
                b"10000",
                b"WAIT",
                b"5000",
            ])
            .expect("wait");
        let granted = Instant::now();
        check(integer(&reply).is_some(), "waiter not granted");
        check(
            granted >= sent + Duration::from_millis(EXPIRY_TTL_MS - CLOCK_SLACK_MS),
            "waiter granted before the holder's TTL ran out",
        );
        check(
            granted <= received + Duration::from_millis(EXPIRY_TTL_MS + EXPIRY_BOUND_MS),
            &format!(
                "waiter granted {:?} after the holder's grant",
                granted - received
            ),
        );
        // The late holder's release must not free the waiter's lock.
        let reply = if use_set {
            holder.call(&[b"DELIFEQ", key.as_bytes(), holder_token.as_bytes()])
        } else {
            holder.call(&[b"LOCK.RELEASE", key.as_bytes(), holder_token.as_bytes()])
        }
        .expect("release");
        check(reply == b":0\r\n", "late release touched the lock");
        let reply = waiter
            .call(&[b"LOCK.RELEASE", key.as_bytes(), waiter_token.as_bytes()])
            .expect("release");
        check(reply == b":1\r\n", "waiter lost its lock");
        // A holder that dies under its TTL: the same bounds, without it ever releasing.
        let mut dying = Conn::connect(world.addr).expect("connect");
        let sent = Instant::now();
        let reply = dying
            .call(&[
                b"SET",
                key.as_bytes(),
                b"dying",
                b"NX",
                b"PX",
                ttl.as_bytes(),
            ])
            .expect("acquire");
        let received = Instant::now();
        check(reply == b"+OK\r\n", "dying holder not granted");
        drop(dying);
        let reply = waiter
            .call(&[
                b"LOCK.ACQUIRE",
                key.as_bytes(),
                b"next",
                b"PX",
                b"10000",
                b"WAIT",
                b"5000",
            ])
            .expect("wait");
        let granted = Instant::now();
        check(
            integer(&reply).is_some(),
            "waiter after a death not granted",
        );
        check(
            granted >= sent + Duration::from_millis(EXPIRY_TTL_MS - CLOCK_SLACK_MS),
            "granted early after a death",
        );
        check(
            granted <= received + Duration::from_millis(EXPIRY_TTL_MS + EXPIRY_BOUND_MS),
            "granted late after a death",
        );
        let _ = waiter.call(&[b"DEL", key.as_bytes()]);
    }
}

#[test]
fn no_two_live_holds_of_one_lock_overlap() {
    let secs = env_or("LATCHKEY_TORTURE_SECS", 2);
    let clients = env_or("LATCHKEY_TORTURE_CLIENTS", 16);
    let rounds = env_or("LATCHKEY_TORTURE_ROUNDS", 3);
    let server = Server::new(Config::default())
        .start_background()
        .expect("server starts");
    let addr = server.local_addr();
    let eval = Conn::connect(addr)
        .and_then(|mut c| c.call(&[b"EVAL", b"return 1", b"0"]))
        .is_ok_and(|reply| reply == b":1\r\n");
    let world = Arc::new(World {
        addr,
        slots: (0..LOCKS).map(|_| Mutex::default()).collect(),
        counts: Counts::default(),
        ids: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        next_token: AtomicU64::new(1),
        eval,
    });
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..clients {
        let world = world.clone();
        threads.push(std::thread::spawn(move || worker(world, 1000 + i)));
    }
    {
        let world = world.clone();
        threads.push(std::thread::spawn(move || killer(world, 7)));
    }
    let mut expiry = Vec::new();
    for lock in 0..LOCKS {
        let world = world.clone();
        expiry.push(std::thread::spawn(move || {
            expiry_rounds(world, lock, rounds)
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    world.stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("worker");
    }
    for thread in expiry {
        thread.join().expect("expiry phase");
    }
    let counts = &world.counts;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "torture: {:?}, {clients} clients, {LOCKS} locks, release script: {}; grants: {} SET NX + \
         {} LOCK.ACQUIRE, releases {}, CLIENT KILLs {}, deaths mid-hold {}, mid-frame drops {}, \
         expiry checks {}; overlaps {}, lost while held {}, fence regressions {}, expiry \
         violations {}",
        started.elapsed(),
        if eval { "EVAL" } else { "DELIFEQ" },
        get(&counts.grants_set_nx),
        get(&counts.grants_lock_acquire),
        get(&counts.releases),
        get(&counts.kills),
        get(&counts.deaths_mid_hold),
        get(&counts.mid_frame_drops),
        get(&counts.expiry_checks),
        get(&counts.overlaps),
        get(&counts.lost_while_held),
        get(&counts.fence_regressions),
        get(&counts.expiry_violations),
    );
    assert_eq!(get(&counts.overlaps), 0, "two live holds overlapped");
    assert_eq!(get(&counts.lost_while_held), 0);
    assert_eq!(get(&counts.fence_regressions), 0);
    assert_eq!(get(&counts.expiry_violations), 0);
    assert!(get(&counts.grants_set_nx) > 0 && get(&counts.grants_lock_acquire) > 0);
    assert_eq!(get(&counts.expiry_checks), rounds * LOCKS as u64 * 10);
}
