//! Scripting: EVAL, EVALSHA, SCRIPT, the lock libraries' script flows end to end, errors,
//! conversions, and the time limit (BUSY, SCRIPT KILL).

mod common;

use common::{start, Raw, TestServer};

/// The compare-and-delete every lock tutorial shows (run natively).
const COMPARE_DELETE: &str =
    "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end";
const COMPARE_DELETE_SHA: &str = "b70c2384248f88e6b75b9f89241a180f856ad852";

/// redis-py's `Lock` scripts, as redis-py sends them.
const PY_RELEASE: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        redis.call('del', KEYS[1])\n        return 1\n    ";
const PY_EXTEND: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        local expiration = redis.call('pttl', KEYS[1])\n        if not expiration then\n            expiration = 0\n        end\n        if expiration < 0 then\n            return 0\n        end\n\n        local newttl = ARGV[2]\n        if ARGV[3] == \"0\" then\n            newttl = ARGV[2] + expiration\n        end\n        redis.call('pexpire', KEYS[1], newttl)\n        return 1\n    ";
const PY_REACQUIRE: &str = "\n        local token = redis.call('get', KEYS[1])\n        if not token or token ~= ARGV[1] then\n            return 0\n        end\n        redis.call('pexpire', KEYS[1], ARGV[2])\n        return 1\n    ";

fn eval(c: &mut Raw, script: &str, keys: &[&str], argv: &[&str]) -> String {
    let numkeys = keys.len().to_string();
    let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), numkeys.as_bytes()];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    args.extend(argv.iter().map(|a| a.as_bytes()));
    String::from_utf8_lossy(&c.cmd(&args)).into_owned()
}

#[cfg(feature = "lua")]
fn sha1_hex(text: &str) -> String {
    latchkey::script::sha_hex(&latchkey::script::sha1(text.as_bytes()))
}

#[test]
fn card_compare_and_delete() {
    let server = start();
    let mut c = server.raw();
    c.expect("SET lock tok-1 NX PX 30000", "+OK\r\n");
    assert_eq!(
        eval(&mut c, COMPARE_DELETE, &["lock"], &["other"]),
        ":0\r\n"
    );
    c.expect("GET lock", "$5\r\ntok-1\r\n");
    assert_eq!(
        eval(&mut c, COMPARE_DELETE, &["lock"], &["tok-1"]),
        ":1\r\n"
    );
    c.expect("EXISTS lock", ":0\r\n");
    assert_eq!(
        eval(&mut c, COMPARE_DELETE, &["lock"], &["tok-1"]),
        ":0\r\n"
    );
    // EVAL cached it: EVALSHA works at once.
    c.expect("SET lock tok-2", "+OK\r\n");
    c.expect(
        &format!("EVALSHA {COMPARE_DELETE_SHA} 1 lock tok-2"),
        ":1\r\n",
    );
}

/// Both recovery paths clients take after `NOSCRIPT`. Uses a natively known script, so it
/// passes in a build without Lua too.
#[test]
fn noscript_then_eval_and_script_load_recover() {
    let server = start();
    let mut c = server.raw();
    let sha = COMPARE_DELETE_SHA;
    let noscript = "-NOSCRIPT No matching script. Please use EVAL.\r\n";
    c.expect("SET lock tok", "+OK\r\n");
    c.expect(&format!("EVALSHA {sha} 1 lock tok"), noscript);
    c.expect("EVALSHA nonsense 0", noscript);
    c.expect("GET lock", "$3\r\ntok\r\n");
    // Recovery one: EVAL, after which EVALSHA finds it.
    assert_eq!(eval(&mut c, COMPARE_DELETE, &["lock"], &["x"]), ":0\r\n");
    c.expect(&format!("EVALSHA {sha} 1 lock tok"), ":1\r\n");
    c.expect(
        &format!("SCRIPT EXISTS {sha} {}", "0".repeat(40)),
        "*2\r\n:1\r\n:0\r\n",
    );
    // Recovery two: SCRIPT LOAD, then EVALSHA (upper-case digits work too).
    c.expect("SCRIPT FLUSH", "+OK\r\n");
    c.expect(&format!("EVALSHA {sha} 1 lock tok"), noscript);
    let loaded = c.cmd(&[b"SCRIPT", b"LOAD", COMPARE_DELETE.as_bytes()]);
    assert_eq!(loaded, format!("$40\r\n{sha}\r\n").into_bytes());
    c.expect("SET lock tok2", "+OK\r\n");
    c.expect(
        &format!("EVALSHA {} 1 lock tok2", sha.to_uppercase()),
        ":1\r\n",
    );
    c.expect(&format!("EVALSHA_RO {sha} 1 lock tok2"), ":0\r\n");
}

#[test]
fn argument_and_subcommand_errors() {
    let server = start();
    let mut c = server.raw();
    c.expect(
        "EVAL x",
        "-ERR wrong number of arguments for 'eval' command\r\n",
    );
    c.expect("EVAL x -1", "-ERR Number of keys can't be negative\r\n");
    c.expect(
        "EVAL x 2 a",
        "-ERR Number of keys can't be greater than number of args\r\n",
    );
    c.expect(
        "EVAL x y",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.expect(
        "SCRIPT KILL",
        "-NOTBUSY No scripts in execution right now.\r\n",
    );
    c.expect(
        "SCRIPT KILL x",
        "-ERR wrong number of arguments for 'script|kill' command\r\n",
    );
    c.expect(
        "SCRIPT FLUSH LATER",
        "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n",
    );
    c.expect(
        "SCRIPT FOO",
        "-ERR unknown subcommand 'FOO'. Try SCRIPT HELP.\r\n",
    );
    c.expect("SCRIPT FLUSH ASYNC", "+OK\r\n");
}

#[cfg(feature = "lua")]
mod lua {
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;
    use common::start_with;

    #[test]
    fn ipairs_over_several_keys() {
        let server = start();
        let mut c = server.raw();
        let script = "local n = 0\nfor i, key in ipairs(KEYS) do\n  redis.call('set', key, ARGV[1] .. i)\n  n = n + 1\nend\nreturn n";
        assert_eq!(eval(&mut c, script, &["a", "b", "c"], &["v"]), ":3\r\n");
        c.expect("GET a", "$2\r\nv1\r\n");
        c.expect("GET c", "$2\r\nv3\r\n");
        let read = "local out = {}\nfor _, key in ipairs(KEYS) do out[#out + 1] = redis.call('get', key) end\nreturn out";
        assert_eq!(
            eval(&mut c, read, &["a", "missing", "c"], &[]),
            "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n"
        );
    }

    #[test]
    fn errors_in_redis_7_form() {
        let server = start();
        let mut c = server.raw();
        let boom = "return error('boom')";
        assert_eq!(
            eval(&mut c, boom, &[], &[]),
            format!(
                "-ERR user_script:1: boom script: {}, on @user_script:1.\r\n",
                sha1_hex(boom)
            )
        );
        c.expect("SET s abc", "+OK\r\n");
        let incr = "\nreturn redis.call('incr', KEYS[1])";
        assert_eq!(
            eval(&mut c, incr, &["s"], &[]),
            format!(
                "-ERR value is not an integer or out of range script: {}, on @user_script:2.\r\n",
                sha1_hex(incr)
            )
        );
        assert_eq!(
            eval(&mut c, "return redis.pcall('incr', KEYS[1])", &["s"], &[]),
            "-ERR value is not an integer or out of range\r\n"
        );
        let global = "x = 1";
        assert_eq!(
            eval(&mut c, global, &[], &[]),
            format!(
                "-ERR user_script:1: Attempt to modify a readonly table script: {}, on @user_script:1.\r\n",
                sha1_hex(global)
            )
        );
        let os = "return os.time()";
        assert_eq!(
            eval(&mut c, os, &[], &[]),
            format!("-ERR user_script:1: Script attempted to access nonexistent global variable 'os' script: {}, on @user_script:1.\r\n", sha1_hex(os))
        );
        assert_eq!(
            eval(&mut c, "return 'a' ..", &[], &[]),
            "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n"
        );
        let unknown = "return redis.call('nosuch')";
        assert_eq!(
            eval(&mut c, unknown, &[], &[]),
            format!(
                "-ERR Unknown Redis command called from script script: {}, on @user_script:1.\r\n",
                sha1_hex(unknown)
            )
        );
        let write = "return redis.call('set', 'k', 'v')";
        let args: Vec<&[u8]> = vec![b"EVAL_RO", write.as_bytes(), b"0"];
        assert_eq!(
            String::from_utf8_lossy(&c.cmd(&args)),
            format!("-ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.\r\n", sha1_hex(write))
        );
        assert_eq!(
            eval(&mut c, "return redis.error_reply('oops')", &[], &[]),
            "-ERR oops\r\n"
        );
        assert_eq!(
            eval(&mut c, "return redis.status_reply('FINE')", &[], &[]),
            "+FINE\r\n"
        );
        // The server is fine afterwards.
        c.expect("PING", "+PONG\r\n");
    }

    #[test]
    fn conversions_both_ways() {
        let server = start();
        let mut c = server.raw();
        assert_eq!(
            eval(&mut c, "return {1,2,3,'x',nil,5}", &[], &[]),
            "*4\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n"
        );
        assert_eq!(eval(&mut c, "return 3.99", &[], &[]), ":3\r\n");
        assert_eq!(eval(&mut c, "return true", &[], &[]), ":1\r\n");
        assert_eq!(eval(&mut c, "return false", &[], &[]), "$-1\r\n");
        assert_eq!(eval(&mut c, "return {ok='x', err='y'}", &[], &[]), "-y\r\n");
        assert_eq!(
            eval(&mut c, "return type(redis.call('get', 'nokey'))", &[], &[]),
            "$7\r\nboolean\r\n"
        );
        assert_eq!(
            eval(&mut c, "return redis.call('set', 'a', 'b').ok", &[], &[]),
            "$2\r\nOK\r\n"
        );
        // Integral numbers go to commands as exact integers; others as %.17g.
        assert_eq!(
            eval(
                &mut c,
                "return redis.call('set', 'n', 1700000000000)",
                &[],
                &[]
            ),
            "+OK\r\n"
        );
        c.expect("GET n", "$13\r\n1700000000000\r\n");
        eval(&mut c, "return redis.call('set', 'n', 0.1)", &[], &[]);
        c.expect("GET n", "$19\r\n0.10000000000000001\r\n");
        // RESP3 types under redis.setresp(3); booleans downgrade to integers for RESP2 clients.
        assert_eq!(
            eval(&mut c, "redis.setresp(3); return false", &[], &[]),
            ":0\r\n"
        );
        assert_eq!(
            eval(&mut c, "return {double=3.5}", &[], &[]),
            "$3\r\n3.5\r\n"
        );
        c.cmd(&[b"HELLO", b"3"]);
        assert_eq!(
            eval(&mut c, "redis.setresp(3); return true", &[], &[]),
            "#t\r\n"
        );
        assert_eq!(
            eval(&mut c, "return {map={a=1}}", &[], &[]),
            "%1\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(eval(&mut c, "return {double=3.5}", &[], &[]), ",3.5\r\n");
        assert_eq!(eval(&mut c, "return nil", &[], &[]), "_\r\n");
        assert_eq!(
            eval(
                &mut c,
                "redis.setresp(3); return type(redis.call('get', 'nokey'))",
                &[],
                &[]
            ),
            "$3\r\nnil\r\n"
        );
    }

    #[test]
    fn scripts_without_keys_and_select_stay_inside() {
        let server = start();
        let mut c = server.raw();
        c.expect("SELECT 2", "+OK\r\n");
        let script =
            "redis.call('select', '5'); redis.call('set', 'x', '1'); return redis.call('get', 'x')";
        assert_eq!(eval(&mut c, script, &[], &[]), "$1\r\n1\r\n");
        // The script's SELECT did not move the client.
        c.expect("EXISTS x", ":0\r\n");
        c.expect("SELECT 5", "+OK\r\n");
        c.expect("GET x", "$1\r\n1\r\n");
    }

    /// Runs `script` on a new connection in a thread; returns its reply when it ends.
    fn eval_in_thread(server: &TestServer, script: &'static str) -> thread::JoinHandle<String> {
        let mut c = server.raw();
        c.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        thread::spawn(move || eval(&mut c, script, &[], &[]))
    }

    /// Sends `line` until the reply is no longer `reply_while`; returns the first other reply.
    fn wait_until_not(c: &mut Raw, line: &str, reply_while: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reply = c.call(line);
            if reply != reply_while || Instant::now() > deadline {
                return reply;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    const BUSY: &str =
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

    #[test]
    fn infinite_loop_is_killed_and_the_server_carries_on() {
        let server = start_with(|config| config.lua_time_limit = 100);
        let mut other = server.raw();
        other.expect("SET before 1", "+OK\r\n");
        let looping = "local i = 0 while true do i = i + 1 end";
        let script = eval_in_thread(&server, looping);
        // Until the script passes the limit other clients wait; then they get BUSY.
        assert_eq!(
            wait_until_not(
                &mut other,
                "SCRIPT KILL",
                "-NOTBUSY No scripts in execution right now.\r\n"
            ),
            "+OK\r\n"
        );
        let killed = script.join().unwrap();
        assert_eq!(
            killed,
            format!(
                "-ERR Script killed by user with SCRIPT KILL... script: {}, on @user_script:1.\r\n",
                sha1_hex(looping)
            )
        );
        other.expect("PING", "+PONG\r\n");
        other.expect("GET before", "$1\r\n1\r\n");
        let mut fresh = server.raw();
        fresh.expect("SET after 2", "+OK\r\n");
        assert_eq!(eval(&mut fresh, "return 1", &[], &[]), ":1\r\n");
    }

    #[test]
    fn busy_replies_while_past_the_limit() {
        let server = start_with(|config| config.lua_time_limit = 50);
        let mut other = server.raw();
        let looping = "local i = 0 while true do i = i + 1 end";
        let script = eval_in_thread(&server, looping);
        // A connection made while the script runs gets BUSY too, and PING is refused.
        let reply = wait_until_not(&mut other, "PING", "+PONG\r\n");
        assert_eq!(reply, BUSY);
        let mut late = server.raw();
        late.expect("GET x", BUSY);
        late.expect("SCRIPT LOAD x", BUSY);
        late.expect("SCRIPT KILL", "+OK\r\n");
        assert!(script
            .join()
            .unwrap()
            .starts_with("-ERR Script killed by user"));
        late.expect("GET x", "$-1\r\n");
    }

    #[test]
    fn a_script_that_wrote_cannot_be_killed() {
        let server = start_with(|config| config.lua_time_limit = 50);
        let mut other = server.raw();
        let script = eval_in_thread(
            &server,
            "redis.call('set', 'x', '1') local i = 0 while true do i = i + 1 end",
        );
        let reply = wait_until_not(
            &mut other,
            "SCRIPT KILL",
            "-NOTBUSY No scripts in execution right now.\r\n",
        );
        assert_eq!(reply, "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n");
        other.expect("GET x", BUSY);
        // Shutting the server down stops the script.
        drop(other);
        drop(server);
        assert!(script
            .join()
            .unwrap()
            .starts_with("-ERR Script killed because the server is shutting down"));
    }

    #[test]
    fn nothing_carries_over_between_scripts() {
        let server = start();
        let mut c = server.raw();
        let spoil = "setmetatable(KEYS, {__index = function() return 'spoiled' end}) collectgarbage('stop') return 1";
        assert_eq!(eval(&mut c, spoil, &["a"], &[]), ":1\r\n");
        assert_eq!(
            eval(&mut c, "return {KEYS[1], KEYS[2]}", &["b"], &[]),
            "*1\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            eval(
                &mut c,
                "return {getmetatable('') == false, collectgarbage('count') > 0}",
                &[],
                &[]
            ),
            "*2\r\n:1\r\n:1\r\n"
        );
    }

    #[test]
    fn runaway_allocation_fails_the_script_only() {
        let server = start();
        let mut c = server.raw();
        let reply = eval(
            &mut c,
            "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
            &[],
            &[],
        );
        assert!(reply.starts_with("-ERR not enough memory"), "{reply}");
        let reply = eval(&mut c, "return #string.rep('x', 1e9)", &[], &[]);
        assert!(reply.starts_with("-ERR not enough memory"), "{reply}");
        assert_eq!(eval(&mut c, "return 7", &[], &[]), ":7\r\n");
    }
}

#[cfg(not(feature = "lua"))]
#[test]
fn without_lua_known_scripts_run_and_others_name_the_feature() {
    let server = start();
    let mut c = server.raw();
    c.expect("SET lock tok", "+OK\r\n");
    assert_eq!(eval(&mut c, COMPARE_DELETE, &["lock"], &["tok"]), ":1\r\n");
    let reply = eval(&mut c, "return 1", &[], &[]);
    assert!(reply.contains("'lua' feature"), "{reply}");
}

mod redis_py_lock {
    //! redis-py's `Lock` flows, sent through the `redis` crate the way redis-py sends them:
    //! acquire with `SET NX PX`, release/extend/reacquire with its scripts via EVALSHA (the
    //! `Script` helper falls back to `SCRIPT LOAD` on `NOSCRIPT`).
    use super::*;

    fn flows(url: &str, server: &TestServer) {
        let client = redis::Client::open(url).unwrap();
        let mut con = client.get_connection().unwrap();
        let release = redis::Script::new(PY_RELEASE);
        let extend = redis::Script::new(PY_EXTEND);
        let reacquire = redis::Script::new(PY_REACQUIRE);
        let acquire = |con: &mut redis::Connection, token: &str| -> bool {
            let reply: Option<String> = redis::cmd("SET")
                .arg("lock:py")
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(10_000)
                .query(con)
                .unwrap();
            reply.is_some()
        };
        assert!(acquire(&mut con, "token-a"));
        assert!(!acquire(&mut con, "token-b"));
        // extend(additional_time=5s): adds to the remaining TTL.
        let extended: i64 = extend
            .key("lock:py")
            .arg("token-a")
            .arg(5000)
            .arg("0")
            .invoke(&mut con)
            .unwrap();
        assert_eq!(extended, 1);
        let ttl: i64 = redis::cmd("PTTL").arg("lock:py").query(&mut con).unwrap();
        assert_eq!(ttl, 15_000);
        // extend(replace_ttl=True)
        let _: i64 = extend
            .key("lock:py")
            .arg("token-a")
            .arg(2000)
            .arg("1")
            .invoke(&mut con)
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL").arg("lock:py").query(&mut con).unwrap();
        assert_eq!(ttl, 2000);
        // reacquire: TTL back to the lock's timeout.
        let reacquired: i64 = reacquire
            .key("lock:py")
            .arg("token-a")
            .arg(10_000)
            .invoke(&mut con)
            .unwrap();
        assert_eq!(reacquired, 1);
        let ttl: i64 = redis::cmd("PTTL").arg("lock:py").query(&mut con).unwrap();
        assert_eq!(ttl, 10_000);
        // A stolen lock: it expires, another takes it; the first owner's release, extend and
        // reacquire return 0 (redis-py raises LockNotOwnedError).
        server.advance_past_ms(10_000);
        assert!(acquire(&mut con, "token-b"));
        for script in [&release, &reacquire] {
            let owned: i64 = script
                .key("lock:py")
                .arg("token-a")
                .arg(1000)
                .invoke(&mut con)
                .unwrap();
            assert_eq!(owned, 0);
        }
        let owned: i64 = extend
            .key("lock:py")
            .arg("token-a")
            .arg(1000)
            .arg("0")
            .invoke(&mut con)
            .unwrap();
        assert_eq!(owned, 0);
        // The real owner releases.
        let released: i64 = release
            .key("lock:py")
            .arg("token-b")
            .invoke(&mut con)
            .unwrap();
        assert_eq!(released, 1);
        let exists: i64 = redis::cmd("EXISTS").arg("lock:py").query(&mut con).unwrap();
        assert_eq!(exists, 0);
        // After SCRIPT FLUSH the helper recovers through SCRIPT LOAD.
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
        assert!(acquire(&mut con, "token-c"));
        let released: i64 = release
            .key("lock:py")
            .arg("token-c")
            .invoke(&mut con)
            .unwrap();
        assert_eq!(released, 1);
    }

    #[test]
    fn resp2() {
        let server = start();
        flows(&server.url(), &server);
    }

    #[test]
    fn resp3() {
        let server = start();
        flows(&format!("{}?protocol=resp3", server.url()), &server);
    }
}
