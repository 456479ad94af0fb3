//! Named users: the ACL file, `AUTH user pass`, `HELLO … AUTH`, the `ACL` command, permission
//! errors, and `requirepass` as the default user's password. Exact replies, as Redis gives them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::Raw;
use latchkey::{Config, Server};

const FILE: &str = "\
# the administrator
user default on >adminpw ~* &* +@all

user app on >apppw ~lock:* resetchannels -@all +@read +@string +acl
user retired off >x ~* +@all
user open on nopass ~* +@all
";

/// A file under the temp directory, unique to this test process and call.
fn temp_file(contents: &str) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "latchkey-acl-{}-{}.acl",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

fn start_with_file(contents: &str) -> common::TestServer {
    let path = temp_file(contents);
    common::start_with(|config| config.aclfile = Some(path))
}

fn authed(server: &common::TestServer, user: &str, password: &str) -> Raw {
    let mut c = server.raw();
    c.expect(&format!("AUTH {user} {password}"), "+OK\r\n");
    c
}

const APP_HASH: &str = "71d3d4e36cf4bc4309fd7390ba79fc6a1d03d8d7b45ef26f04bcdff3ff116868";

/// Sends `line` as an inline command (Redis's quoting: `"…"` keeps spaces) and returns the
/// reply as text.
#[cfg(feature = "lua")]
fn inline(c: &mut Raw, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes());
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

#[test]
fn file_users_authenticate_and_are_limited() {
    let server = start_with_file(FILE);
    let mut c = server.raw();
    c.expect("PING", "-NOAUTH Authentication required.\r\n");
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    c.expect("AUTH app nope", wrongpass);
    c.expect("AUTH retired x", wrongpass);
    c.expect("AUTH nobody x", wrongpass);
    c.expect("AUTH wrong", wrongpass);
    c.expect("AUTH app apppw", "+OK\r\n");
    c.expect("ACL WHOAMI", "$3\r\napp\r\n");
    c.expect("SET lock:1 tok NX PX 10000", "+OK\r\n");
    c.expect("GET lock:1", "$3\r\ntok\r\n");
    c.expect(
        "SET other v",
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
    );
    c.expect(
        "MGET lock:1 other",
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n",
    );
    c.expect(
        "FLUSHALL",
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n",
    );
    c.expect(
        "CONFIG GET port",
        "-NOPERM this user has no permissions to run the 'config|get' command\r\n",
    );
    // Commands allowed before AUTH are allowed to everyone.
    c.expect("AUTH adminpw", "+OK\r\n");
    c.expect("ACL WHOAMI", "$7\r\ndefault\r\n");
    c.expect("FLUSHALL", "+OK\r\n");
    // A nopass user takes any password.
    c.expect("AUTH open whatever", "+OK\r\n");
    c.expect("ACL WHOAMI", "$4\r\nopen\r\n");
}

#[test]
fn hello_auth_with_a_named_user() {
    let server = start_with_file(FILE);
    let mut c = server.raw();
    c.expect(
        "HELLO 3 AUTH app wrong",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    let reply = c.call("HELLO 3 AUTH app apppw");
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n"), "{reply}");
    c.expect("ACL WHOAMI", "$3\r\napp\r\n");
    c.expect(
        "DEL lock:1",
        "-NOPERM this user has no permissions to run the 'del' command\r\n",
    );
}

#[test]
fn acl_list_users_getuser_cat() {
    let server = start_with_file(FILE);
    let mut c = authed(&server, "default", "adminpw");
    let admin_hash = "5fcf82bc15aef42cd3ec93e6d4b51c04df110cf77ee715f62f3f172ff8ed9de9";
    c.expect(
        "ACL LIST",
        &format!(
            "*4\r\n$126\r\nuser app on #{APP_HASH} ~lock:* resetchannels -@all +@read +@string +acl\r\n\
             $93\r\nuser default on #{admin_hash} ~* &* +@all\r\n\
             $42\r\nuser open on nopass ~* resetchannels +@all\r\n\
             $105\r\nuser retired off #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 ~* resetchannels +@all\r\n"
        ),
    );
    c.expect(
        "ACL USERS",
        "*4\r\n$3\r\napp\r\n$7\r\ndefault\r\n$4\r\nopen\r\n$7\r\nretired\r\n",
    );
    c.expect(
        "ACL GETUSER app",
        &format!(
            "*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n{APP_HASH}\r\n\
             $8\r\ncommands\r\n$26\r\n-@all +@read +@string +acl\r\n$4\r\nkeys\r\n$7\r\n~lock:*\r\n\
             $8\r\nchannels\r\n$0\r\n\r\n$9\r\nselectors\r\n*0\r\n"
        ),
    );
    c.expect("ACL GETUSER nobody", "$-1\r\n");
    let categories = c.call("ACL CAT");
    assert!(categories.starts_with("*21\r\n$8\r\nkeyspace\r\n$4\r\nread\r\n"));
    let strings = c.call("ACL CAT string");
    assert!(strings.contains("$3\r\nget\r\n") && !strings.contains("$3\r\ndel\r\n"));
    c.expect("ACL CAT nope", "-ERR Unknown category 'nope'\r\n");
    c.expect(
        "ACL WHOAMI extra",
        "-ERR wrong number of arguments for 'acl|whoami' command\r\n",
    );
    c.expect(
        "ACL foo",
        "-ERR unknown subcommand 'foo'. Try ACL HELP.\r\n",
    );
    assert!(c.call("CLIENT INFO").contains(" user=default "));
    let mut app = authed(&server, "app", "apppw");
    let list = c.call("CLIENT LIST");
    assert!(list.contains(" user=app "), "{list}");
    app.expect("GET lock:x", "$-1\r\n");
}

#[test]
fn setuser_and_deluser_at_runtime() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("ACL SETUSER worker on >pw ~job:* +get +set", "+OK\r\n");
    admin.expect(
        "ACL SETUSER broken on +@bogus",
        "-ERR Error in ACL SETUSER modifier '+@bogus': Unknown command or category name in ACL\r\n",
    );
    admin.expect("ACL GETUSER broken", "$-1\r\n");
    admin.expect(
        "ACL SETUSER worker weird",
        "-ERR Error in ACL SETUSER modifier 'weird': Syntax error\r\n",
    );
    admin.expect(
        "ACL SETUSER worker <nothere",
        "-ERR Error in ACL SETUSER modifier '<nothere': The password you are trying to remove from the user does not exist\r\n",
    );
    let mut worker = server.raw();
    worker.expect("AUTH worker pw", "+OK\r\n");
    worker.expect("SET job:1 x", "+OK\r\n");
    worker.expect(
        "DEL job:1",
        "-NOPERM this user has no permissions to run the 'del' command\r\n",
    );
    // A change applies to connections already authenticated as the user.
    admin.expect("ACL SETUSER worker +del", "+OK\r\n");
    worker.expect("DEL job:1", ":1\r\n");
    admin.expect("ACL DRYRUN worker GET job:1", "+OK\r\n");
    admin.expect(
        "ACL DRYRUN worker GET other",
        "$54\r\nThis user has no permissions to access the 'other' key\r\n",
    );
    admin.expect(
        "ACL DRYRUN worker INCR job:1",
        "$54\r\nThis user has no permissions to run the 'incr' command\r\n",
    );
    admin.expect(
        "ACL DELUSER default",
        "-ERR The 'default' user cannot be removed\r\n",
    );
    admin.expect("ACL DELUSER nobody worker", ":1\r\n");
    // Deleting a user disconnects its clients.
    assert!(worker.is_closed());
    admin.expect(
        "AUTH worker pw",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    admin.expect(
        "ACL SETUSER",
        "-ERR wrong number of arguments for 'acl|setuser' command\r\n",
    );
    let generated = admin.call("ACL GENPASS");
    assert!(generated.starts_with("$64\r\n"), "{generated}");
    assert!(admin.call("ACL GENPASS 5").starts_with("$2\r\n"));
    admin.expect(
        "ACL GENPASS 0",
        "-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096\r\n",
    );
}

#[test]
fn channel_patterns_limit_pubsub() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect(
        "ACL SETUSER notifier on nopass &locks:* +publish +subscribe +psubscribe",
        "+OK\r\n",
    );
    let mut c = authed(&server, "notifier", "x");
    c.expect("PUBLISH locks:released tok", ":0\r\n");
    c.expect(
        "PUBLISH other tok",
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
    c.expect(
        "SUBSCRIBE locks:a other",
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
    c.expect(
        "PSUBSCRIBE locks:?",
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
    admin.expect(
        "ACL DRYRUN notifier PUBLISH other x",
        "$58\r\nThis user has no permissions to access the 'other' channel\r\n",
    );
    c.expect(
        "PSUBSCRIBE locks:*",
        "*3\r\n$10\r\npsubscribe\r\n$7\r\nlocks:*\r\n:1\r\n",
    );
    // A user with no channel rule (Redis 7's resetchannels) may publish nowhere.
    admin.expect("ACL SETUSER quiet on nopass +publish", "+OK\r\n");
    let mut q = authed(&server, "quiet", "x");
    q.expect(
        "PUBLISH locks:a x",
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n",
    );
}

#[test]
fn restricted_commands_inside_multi_abort_exec() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect(
        "ACL SETUSER reader on nopass ~* +@read +multi +exec",
        "+OK\r\n",
    );
    let mut c = authed(&server, "reader", "x");
    c.expect("MULTI", "+OK\r\n");
    c.expect(
        "SET k v",
        "-NOPERM this user has no permissions to run the 'set' command\r\n",
    );
    c.expect(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = common::start_with(|config| config.requirepass = Some("pw".into()));
    let mut c = server.raw();
    c.expect("ACL WHOAMI", "-NOAUTH Authentication required.\r\n");
    c.expect("AUTH default pw", "+OK\r\n");
    c.expect(
        "ACL LIST",
        "*1\r\n$93\r\nuser default on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all\r\n",
    );
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
    c.expect(
        "ACL LIST",
        "*1\r\n$34\r\nuser default on nopass ~* &* +@all\r\n",
    );
    let mut fresh = server.raw();
    fresh.expect("PING", "+PONG\r\n");
    c.expect("CONFIG SET requirepass other", "+OK\r\n");
    let mut fresh = server.raw();
    fresh.expect("PING", "-NOAUTH Authentication required.\r\n");
    fresh.expect("AUTH other", "+OK\r\n");
    // RESET returns to the default user, unauthenticated when it has a password.
    fresh.expect("RESET", "+RESET\r\n");
    fresh.expect("PING", "-NOAUTH Authentication required.\r\n");
}

#[test]
fn a_bad_acl_file_stops_the_start() {
    let path = temp_file("user app on +nosuchcommand\n");
    let config = Config {
        aclfile: Some(path.clone()),
        ..Config::default()
    };
    let error = Server::new(config).start_background().err().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: line 1: Error in user rule '+nosuchcommand': Unknown command or category name in ACL",
            path.display()
        )
    );
    let missing = Config {
        aclfile: Some(std::env::temp_dir().join("latchkey-no-such-file.acl")),
        ..Config::default()
    };
    assert!(Server::new(missing).start_background().is_err());
}

#[cfg(feature = "lua")]
/// The reply line of a script error: the error text, then where it happened (the SHA differs
/// per script, so only the text and the line are compared).
fn expect_script_error(c: &mut Raw, line: &str, text: &str) {
    let reply = inline(c, line);
    assert!(
        reply.starts_with(&format!("-{text} script: "))
            && reply.ends_with(", on @user_script:1.\r\n"),
        "{line}: {reply:?}"
    );
}

#[cfg(feature = "lua")]
#[test]
fn scripts_run_only_the_commands_the_user_may_run() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("SET keep v", "+OK\r\n");
    admin.expect(
        "ACL SETUSER limited on nopass ~* &* +@all -del -flushall",
        "+OK\r\n",
    );
    let mut c = authed(&server, "limited", "x");
    c.expect(
        "DEL keep",
        "-NOPERM this user has no permissions to run the 'del' command\r\n",
    );
    let denied = "ERR The user executing the script can't run this command or subcommand";
    expect_script_error(
        &mut c,
        "EVAL \"return redis.call('DEL',KEYS[1])\" 1 keep",
        denied,
    );
    expect_script_error(&mut c, "EVAL \"return redis.call('FLUSHALL')\" 0", denied);
    assert_eq!(
        inline(&mut c, "EVAL \"return redis.pcall('del',KEYS[1])\" 1 keep"),
        format!("-{denied}\r\n")
    );
    admin.expect("GET keep", "$1\r\nv\r\n");
    admin.expect("DBSIZE", ":1\r\n");
}

#[cfg(feature = "lua")]
#[test]
fn keys_after_numkeys_are_checked() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("ZADD secret:z 1 a", ":1\r\n");
    admin.expect("SADD secret:s a", ":1\r\n");
    admin.expect("SET secret:str v", "+OK\r\n");
    admin.expect("ZADD app:z 1 a", ":1\r\n");
    admin.expect("ACL SETUSER app on nopass ~app:* +@all", "+OK\r\n");
    let mut c = authed(&server, "app", "x");
    let nokey =
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    for line in [
        "ZUNION 1 secret:z",
        "ZUNIONSTORE app:dst 1 secret:z",
        "ZUNIONSTORE secret:dst 1 app:z",
        "ZINTERSTORE app:dst 2 app:z secret:z",
        "ZDIFFSTORE app:dst 1 secret:z",
        "SINTERCARD 1 secret:s",
        "ZINTERCARD 1 secret:z",
        "ZDIFF 1 secret:z",
        "ZINTER 2 app:z secret:z WITHSCORES",
        "EVAL \"return 1\" 1 secret:str",
        "EVAL_RO \"return 1\" 2 app:z secret:str",
    ] {
        assert_eq!(inline(&mut c, line), nokey, "{line}");
    }
    admin.expect("EXISTS secret:dst app:dst", ":0\r\n");
    // The user's own keys still work through the same commands.
    c.expect("ZUNION 1 app:z", "*1\r\n$1\r\na\r\n");
    c.expect("ZUNIONSTORE app:dst 1 app:z", ":1\r\n");
    assert_eq!(
        inline(&mut c, "EVAL \"return KEYS[1]\" 1 app:z"),
        "$5\r\napp:z\r\n"
    );
    // A key a script touches without declaring it is checked when touched.
    expect_script_error(
        &mut c,
        "EVAL \"return redis.call('GET','secret:str')\" 0",
        "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
    );
}

#[test]
fn subcommand_rules() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("ACL SETUSER u on nopass +config|get", "+OK\r\n");
    let mut c = authed(&server, "u", "x");
    c.expect(
        "CONFIG GET maxmemory",
        "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    c.expect(
        "CONFIG SET maxmemory 1",
        "-NOPERM this user has no permissions to run the 'config|set' command\r\n",
    );
    let user = admin.call("ACL GETUSER u");
    assert!(user.contains("$17\r\n-@all +config|get\r\n"), "{user:?}");
    admin.expect("ACL SETUSER u +client -client|kill", "+OK\r\n");
    c.expect("CLIENT GETNAME", "$-1\r\n");
    c.expect(
        "CLIENT KILL ID 1",
        "-NOPERM this user has no permissions to run the 'client|kill' command\r\n",
    );
    admin.expect(
        "ACL SETUSER u +config|nosuch",
        "-ERR Error in ACL SETUSER modifier '+config|nosuch': Unknown command or category name in ACL\r\n",
    );
    admin.expect(
        "ACL DRYRUN u CONFIG SET maxmemory 1",
        "$60\r\nThis user has no permissions to run the 'config|set' command\r\n",
    );
}

#[test]
fn exec_checks_the_rules_again() {
    let server = common::start();
    let mut admin = server.raw();
    admin.expect("ACL SETUSER w on nopass ~* &* +@all", "+OK\r\n");
    let mut c = authed(&server, "w", "x");
    c.expect("MULTI", "+OK\r\n");
    c.expect("SET k v", "+QUEUED\r\n");
    c.expect("GET k", "+QUEUED\r\n");
    admin.expect("ACL SETUSER w -set", "+OK\r\n");
    c.expect(
        "EXEC",
        "*2\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n$-1\r\n",
    );
}
