//! The compatibility suite's Rust part: the `redis` crate over RESP2 and RESP3 (plain lock flow,
//! compare-and-delete, the `Script` helper with its EVALSHA → SCRIPT LOAD recovery) and the
//! `rslock` crate over three instances, each with a mutual-exclusion check.
//!
//! It runs without libtest's harness so it can report skips: a test whose commands the server
//! lacks (`COMMAND INFO`) is skipped with the reason, and runs by itself once they land. Every
//! result is printed as a `compat-result:` line for `tests/compat/runner.py`, which passes the
//! servers in `LATCHKEY_ADDRS`; without it (plain `cargo test`) three servers start in-process.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey::{BackgroundServer, Config, Server};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};

type TestResult = Result<(), String>;
type TestFuture = Pin<Box<dyn Future<Output = TestResult>>>;

/// What each test gets: the servers' addresses.
#[derive(Clone)]
struct Env {
    addrs: Arc<Vec<String>>,
}

impl Env {
    fn url(&self, index: usize, resp3: bool) -> String {
        let protocol = if resp3 { "?protocol=resp3" } else { "" };
        format!("redis://{}/{protocol}", self.addrs[index])
    }

    async fn connect(&self, index: usize, resp3: bool) -> Result<MultiplexedConnection, String> {
        let client = redis::Client::open(self.url(index, resp3)).map_err(|e| e.to_string())?;
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())
    }
}

/// Fails the test with a message naming what differed.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Turns a client error into a test failure naming the step.
fn step<T>(result: redis::RedisResult<T>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e}"))
}

struct Case {
    library: &'static str,
    name: String,
    requires: &'static [&'static str],
    run: Box<dyn Fn(Env) -> TestFuture>,
}

fn case<F, Fut>(
    library: &'static str,
    name: impl Into<String>,
    requires: &'static [&'static str],
    run: F,
) -> Case
where
    F: Fn(Env) -> Fut + 'static,
    Fut: Future<Output = TestResult> + 'static,
{
    Case {
        library,
        name: name.into(),
        requires,
        run: Box::new(move |env| Box::pin(run(env))),
    }
}

const SCRIPTS: &[&str] = &["eval", "evalsha", "script"];
const RELEASE: &str = r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#;

fn unique(name: &str) -> String {
    format!("compat:{name}:{:08x}", fastrand::u32(..))
}

fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    for resp3 in [false, true] {
        let proto = if resp3 { "RESP3" } else { "RESP2" };
        all.push(case(
            "redis (Rust)",
            format!("{proto} SET NX PX lock flow"),
            &[],
            move |env| lock_flow(env, resp3),
        ));
        all.push(case(
            "redis (Rust)",
            format!("{proto} release by DELIFEQ and DELEX"),
            &["delifeq", "delex"],
            move |env| compare_and_delete(env, resp3),
        ));
        all.push(case(
            "redis (Rust)",
            format!("{proto} Script: EVALSHA, NOSCRIPT, SCRIPT LOAD recovery"),
            SCRIPTS,
            move |env| script_recovery(env, resp3),
        ));
    }
    all.push(case(
        "redis (Rust)",
        "mutual exclusion with SET NX PX and DELIFEQ",
        &["delifeq"],
        mutual_exclusion_plain,
    ));
    all.push(case(
        "redis (Rust)",
        "mutual exclusion with SET NX PX and a release Script",
        SCRIPTS,
        mutual_exclusion_script,
    ));
    all.push(case(
        "rslock",
        "lock, contend, extend, unlock over three instances",
        SCRIPTS,
        rslock_flow,
    ));
    all.push(case(
        "rslock",
        "acquire guard and using() with renewal",
        SCRIPTS,
        rslock_guard_and_using,
    ));
    all.push(case(
        "rslock",
        "mutual exclusion",
        SCRIPTS,
        rslock_mutual_exclusion,
    ));
    all
}

async fn lock_flow(env: Env, resp3: bool) -> TestResult {
    let mut con = env.connect(0, resp3).await?;
    let key = unique("rust-flow");
    let set_nx = |token: &str, ms: u64| {
        redis::cmd("SET")
            .arg(&key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .clone()
    };
    let first: Option<String> = step(set_nx("tok", 5000).query_async(&mut con).await, "SET NX")?;
    check!(first.as_deref() == Some("OK"), "first SET NX PX: {first:?}");
    let second: Option<String> = step(set_nx("other", 5000).query_async(&mut con).await, "SET")?;
    check!(second.is_none(), "contended SET NX PX: {second:?}");
    let holder: Option<String> = step(con.get(&key).await, "GET")?;
    check!(holder.as_deref() == Some("tok"), "GET: {holder:?}");
    let pttl: i64 = step(con.pttl(&key).await, "PTTL")?;
    check!(pttl > 4000 && pttl <= 5000, "PTTL {pttl}");
    let extended: bool = step(con.pexpire(&key, 20_000).await, "PEXPIRE")?;
    check!(extended, "PEXPIRE returned false");
    let pttl: i64 = step(con.pttl(&key).await, "PTTL")?;
    check!(pttl > 19_000, "PTTL after PEXPIRE {pttl}");
    let deleted: i64 = step(con.del(&key).await, "DEL")?;
    check!(deleted == 1, "DEL {deleted}");
    let short: Option<String> = step(set_nx("tok", 50).query_async(&mut con).await, "SET")?;
    check!(short.is_some(), "SET NX PX 50: {short:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let taken: Option<String> = step(set_nx("next", 5000).query_async(&mut con).await, "SET")?;
        if taken.is_some() {
            break;
        }
        check!(
            Instant::now() < deadline,
            "the 50 ms lock did not expire within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn compare_and_delete(env: Env, resp3: bool) -> TestResult {
    let mut con = env.connect(0, resp3).await?;
    let key = unique("rust-cad");
    let ok: bool = step(con.set_options(&key, "tok", nx_px(5000)).await, "SET")?;
    check!(ok, "SET NX PX failed");
    let wrong: i64 = step(
        redis::cmd("DELIFEQ")
            .arg(&key)
            .arg("x")
            .query_async(&mut con)
            .await,
        "DELIFEQ",
    )?;
    check!(wrong == 0, "DELIFEQ with another token: {wrong}");
    let right: i64 = step(
        redis::cmd("DELIFEQ")
            .arg(&key)
            .arg("tok")
            .query_async(&mut con)
            .await,
        "DELIFEQ",
    )?;
    check!(right == 1, "DELIFEQ with the token: {right}");
    let ok: bool = step(con.set_options(&key, "t2", nx_px(5000)).await, "SET")?;
    check!(ok, "SET NX PX failed");
    let wrong: i64 = step(
        redis::cmd("DELEX")
            .arg(&key)
            .arg("IFEQ")
            .arg("tok")
            .query_async(&mut con)
            .await,
        "DELEX",
    )?;
    check!(wrong == 0, "DELEX IFEQ another token: {wrong}");
    let right: i64 = step(
        redis::cmd("DELEX")
            .arg(&key)
            .arg("IFEQ")
            .arg("t2")
            .query_async(&mut con)
            .await,
        "DELEX",
    )?;
    check!(right == 1, "DELEX IFEQ the token: {right}");
    Ok(())
}

fn nx_px(ms: u64) -> redis::SetOptions {
    redis::SetOptions::default()
        .conditional_set(redis::ExistenceCheck::NX)
        .with_expiration(redis::SetExpiry::PX(ms))
}

async fn script_recovery(env: Env, resp3: bool) -> TestResult {
    let mut con = env.connect(0, resp3).await?;
    let key = unique("rust-script");
    let release = redis::Script::new(RELEASE);
    let flushed: String = step(
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await,
        "SCRIPT FLUSH",
    )?;
    check!(flushed == "OK", "SCRIPT FLUSH: {flushed}");
    // EVALSHA of an unknown SHA: exactly Redis's NOSCRIPT error.
    let missing: redis::RedisResult<Value> = redis::cmd("EVALSHA")
        .arg(release.get_hash())
        .arg(0)
        .query_async(&mut con)
        .await;
    match missing {
        Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
            let text = e.detail().unwrap_or_default().to_string();
            check!(
                text == "No matching script. Please use EVAL.",
                "NOSCRIPT detail: {text:?}"
            );
        }
        other => return Err(format!("EVALSHA of an unknown script: {other:?}")),
    }
    let ok: bool = step(con.set_options(&key, "tok", nx_px(5000)).await, "SET")?;
    check!(ok, "SET NX PX failed");
    // invoke: EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA again.
    let other: i64 = step(
        release.key(&key).arg("other").invoke_async(&mut con).await,
        "invoke",
    )?;
    check!(other == 0, "release with another token: {other}");
    let exists: Vec<bool> = step(
        redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(release.get_hash())
            .query_async(&mut con)
            .await,
        "SCRIPT EXISTS",
    )?;
    check!(
        exists == vec![true],
        "SCRIPT EXISTS after invoke: {exists:?}"
    );
    let mine: i64 = step(
        release.key(&key).arg("tok").invoke_async(&mut con).await,
        "invoke",
    )?;
    check!(mine == 1, "release with the token: {mine}");
    let gone: bool = step(con.exists(&key).await, "EXISTS")?;
    check!(!gone, "the key survived its release");
    Ok(())
}

/// A counter kept outside latchkey, in this process, updated by a deliberate read-sleep-write
/// so that overlapping holders lose increments; `inside` counts overlapping holders directly.
#[derive(Default)]
struct Counter {
    value: AtomicU64,
    inside: AtomicU64,
    max_inside: AtomicU64,
}

impl Counter {
    async fn increment(&self) {
        let now_inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inside.fetch_max(now_inside, Ordering::SeqCst);
        let read = self.value.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.value.store(read + 1, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }

    fn verify(&self, expected: u64) -> TestResult {
        let (value, max) = (
            self.value.load(Ordering::SeqCst),
            self.max_inside.load(Ordering::SeqCst),
        );
        check!(max == 1, "{max} holders were inside the lock at once");
        check!(value == expected, "counter {value}, expected {expected}");
        Ok(())
    }
}

const WORKERS: u64 = 6;
const ROUNDS: u64 = 8;

/// Runs `WORKERS` workers on their own tasks and waits for all of them.
async fn run_workers<F, Fut>(work: F) -> TestResult
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = TestResult> + Send + 'static,
{
    let handles: Vec<_> = (0..WORKERS).map(|i| tokio::spawn(work(i))).collect();
    for handle in handles {
        handle
            .await
            .map_err(|e| format!("worker panicked: {e}"))??;
    }
    Ok(())
}

async fn acquire_plain(con: &mut MultiplexedConnection, key: &str, token: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok: bool = step(
            con.set_options(key, token, nx_px(10_000)).await,
            "SET NX PX",
        )?;
        if ok {
            return Ok(());
        }
        check!(Instant::now() < deadline, "could not acquire within 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn mutual_exclusion_plain(env: Env) -> TestResult {
    let key = Arc::new(unique("rust-mutex"));
    let counter = Arc::new(Counter::default());
    run_workers(|i| {
        let (env, key, counter) = (env.clone(), key.clone(), counter.clone());
        async move {
            let mut con = env.connect(0, i % 2 == 1).await?;
            let token = format!("worker-{i}");
            for _ in 0..ROUNDS {
                acquire_plain(&mut con, &key, &token).await?;
                counter.increment().await;
                let released: i64 = step(
                    redis::cmd("DELIFEQ")
                        .arg(&*key)
                        .arg(&token)
                        .query_async(&mut con)
                        .await,
                    "DELIFEQ",
                )?;
                check!(released == 1, "DELIFEQ released {released}");
            }
            Ok(())
        }
    })
    .await?;
    counter.verify(WORKERS * ROUNDS)
}

async fn mutual_exclusion_script(env: Env) -> TestResult {
    let key = Arc::new(unique("rust-mutex-script"));
    let counter = Arc::new(Counter::default());
    run_workers(|i| {
        let (env, key, counter) = (env.clone(), key.clone(), counter.clone());
        async move {
            let mut con = env.connect(0, i % 2 == 0).await?;
            let release = redis::Script::new(RELEASE);
            let token = format!("worker-{i}");
            for _ in 0..ROUNDS {
                acquire_plain(&mut con, &key, &token).await?;
                counter.increment().await;
                let released: i64 = step(
                    release.key(&*key).arg(&token).invoke_async(&mut con).await,
                    "release",
                )?;
                check!(released == 1, "release script returned {released}");
            }
            Ok(())
        }
    })
    .await?;
    counter.verify(WORKERS * ROUNDS)
}

fn manager(env: &Env) -> rslock::LockManager {
    let uris: Vec<String> = (0..3).map(|i| env.url(i, false)).collect();
    rslock::LockManager::new(uris)
}

async fn on_all<T: redis::FromRedisValue>(env: &Env, cmd: &redis::Cmd) -> Result<Vec<T>, String> {
    let mut replies = Vec::new();
    for index in 0..3 {
        let mut con = env.connect(index, false).await?;
        replies.push(step(cmd.query_async(&mut con).await, "query")?);
    }
    Ok(replies)
}

async fn rslock_flow(env: Env) -> TestResult {
    let key = unique("rslock");
    let mut locks = manager(&env);
    locks.set_retry(1, Duration::from_millis(10));
    let lock = locks
        .lock(key.as_bytes(), Duration::from_millis(2000))
        .await
        .map_err(|e| format!("lock: {e:?}"))?;
    let values: Vec<Option<Vec<u8>>> = on_all(&env, redis::cmd("GET").arg(&key)).await?;
    check!(
        values.iter().all(|v| v.as_deref() == Some(&lock.val[..])),
        "the lock is not on every instance: {values:?}"
    );
    let contended = locks
        .lock(key.as_bytes(), Duration::from_millis(2000))
        .await;
    check!(
        contended.is_err(),
        "a second lock was granted: {contended:?}"
    );
    let extended = locks
        .extend(&lock, Duration::from_millis(10_000))
        .await
        .map_err(|e| format!("extend: {e:?}"))?;
    let pttls: Vec<i64> = on_all(&env, redis::cmd("PTTL").arg(&key)).await?;
    check!(
        pttls.iter().all(|p| *p > 9000 && *p <= 10_000),
        "PTTL after extend: {pttls:?}"
    );
    check!(
        locks.is_freed(&extended).await.is_ok(),
        "is_freed failed on a held lock"
    );
    locks.unlock(&extended).await;
    let exists: Vec<i64> = on_all(&env, redis::cmd("EXISTS").arg(&key)).await?;
    check!(exists == vec![0, 0, 0], "keys after unlock: {exists:?}");
    let again = locks
        .lock(key.as_bytes(), Duration::from_millis(2000))
        .await
        .map_err(|e| format!("lock after unlock: {e:?}"))?;
    again.release().await;
    Ok(())
}

async fn rslock_guard_and_using(env: Env) -> TestResult {
    let key = unique("rslock-guard");
    let locks = manager(&env);
    let guard = tokio::time::timeout(
        Duration::from_secs(10),
        locks.acquire(key.as_bytes(), Duration::from_millis(5000)),
    )
    .await
    .map_err(|_| "acquire did not return within 10 s".to_string())?
    .map_err(|e| format!("acquire: {e:?}"))?;
    guard.release().await;
    let exists: Vec<i64> = on_all(&env, redis::cmd("EXISTS").arg(&key)).await?;
    check!(
        exists == vec![0, 0, 0],
        "keys after guard release: {exists:?}"
    );
    // using(): a 1 s lease renewed while the routine runs for 2 s.
    let probe = env.clone();
    let probe_key = key.clone();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        locks.using(key.as_bytes(), Duration::from_millis(1000), async || {
            tokio::time::sleep(Duration::from_millis(2000)).await;
            on_all::<i64>(&probe, redis::cmd("PTTL").arg(&probe_key)).await
        }),
    )
    .await
    .map_err(|_| "using did not return within 20 s".to_string())?
    .map_err(|e| format!("using: {e:?}"))?;
    let pttls = outcome?;
    check!(
        pttls.iter().all(|p| *p > 0),
        "the lease lapsed inside using(): {pttls:?}"
    );
    let exists: Vec<i64> = on_all(&env, redis::cmd("EXISTS").arg(&key)).await?;
    check!(exists == vec![0, 0, 0], "keys after using(): {exists:?}");
    Ok(())
}

async fn rslock_mutual_exclusion(env: Env) -> TestResult {
    let key = Arc::new(unique("rslock-mutex"));
    let counter = Arc::new(Counter::default());
    run_workers(|_| {
        let (env, key, counter) = (env.clone(), key.clone(), counter.clone());
        async move {
            let mut locks = manager(&env);
            locks.set_retry(5, Duration::from_millis(5));
            for _ in 0..ROUNDS {
                let guard = tokio::time::timeout(
                    Duration::from_secs(60),
                    locks.acquire(key.as_bytes(), Duration::from_millis(10_000)),
                )
                .await
                .map_err(|_| "acquire did not return within 60 s".to_string())?
                .map_err(|e| format!("acquire: {e:?}"))?;
                counter.increment().await;
                guard.release().await;
            }
            Ok(())
        }
    })
    .await?;
    counter.verify(WORKERS * ROUNDS)
}

/// Whether the first server's `COMMAND INFO <name>` has an entry rather than a nil.
async fn server_knows(env: &Env, name: &str) -> Result<bool, String> {
    let mut con = env.connect(0, false).await?;
    let reply: Value = step(
        redis::cmd("COMMAND")
            .arg("INFO")
            .arg(name)
            .query_async(&mut con)
            .await,
        "COMMAND INFO",
    )?;
    Ok(match reply {
        Value::Array(items) => matches!(items.first(), Some(Value::Array(_))),
        _ => false,
    })
}

/// The servers: the runner's, or three started in-process for a plain `cargo test`.
fn servers() -> (Vec<String>, Vec<BackgroundServer>) {
    if let Ok(addrs) = std::env::var("LATCHKEY_ADDRS") {
        return (addrs.split(',').map(str::to_string).collect(), Vec::new());
    }
    let started: Vec<BackgroundServer> = (0..3)
        .map(|_| {
            let config = Config {
                port: 0,
                bind: "127.0.0.1".into(),
                ..Config::default()
            };
            Server::new(config)
                .start_background()
                .unwrap_or_else(|e| panic!("cannot start an in-process server: {e}"))
        })
        .collect();
    let addrs = started.iter().map(|s| s.local_addr().to_string()).collect();
    (addrs, started)
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("LATCHKEY_ADDRS").is_none() && !cfg!(feature = "lua") {
        // rslock's scripts need the Lua engine; the runner covers the default (Lua) build.
        println!("compat_rust: the in-process run needs the `lua` feature; nothing to do");
        return std::process::ExitCode::SUCCESS;
    }
    let (addrs, _in_process) = servers();
    let env = Env {
        addrs: Arc::new(addrs),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in cases() {
        let outcome: Result<TestResult, String> = runtime.block_on(async {
            let mut missing = Vec::new();
            for command in case.requires {
                if !server_knows(&env, command).await? {
                    missing.push(*command);
                }
            }
            if !missing.is_empty() {
                return Err(format!(
                    "requires {} (not in the server's COMMAND INFO)",
                    missing.join(", ")
                ));
            }
            match tokio::time::timeout(Duration::from_secs(90), (case.run)(env.clone())).await {
                Ok(result) => Ok(result),
                Err(_) => Ok(Err("did not finish within 90 s".to_string())),
            }
        });
        let (library, name) = (case.library, &case.name);
        match outcome {
            Ok(Ok(())) => {
                passed += 1;
                println!("compat-result: passed [{library}] {name}");
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("compat-result: failed [{library}] {name}");
                println!("    {why}");
            }
            Err(reason) if reason.starts_with("requires ") => {
                skipped += 1;
                println!("compat-result: skipped [{library}] {name} :: {reason}");
            }
            Err(why) => {
                failed += 1;
                println!("compat-result: failed [{library}] {name}");
                println!("    {why}");
            }
        }
    }
    println!("rust suite: {passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
