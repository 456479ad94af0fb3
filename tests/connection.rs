//! Connection commands over raw RESP: CLIENT subcommands, AUTH and HELLO edge cases.

mod common;

/// The id a connection gets from `CLIENT ID`.
fn client_id(c: &mut common::Raw) -> u64 {
    c.call("CLIENT ID")
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn client_names_and_info() {
    let server = common::start();
    let mut c = server.raw();
    c.expect("CLIENT GETNAME", "$-1\r\n");
    c.expect("CLIENT SETNAME worker-1", "+OK\r\n");
    c.expect("CLIENT GETNAME", "$8\r\nworker-1\r\n");
    c.expect(
        "CLIENT SETNAME",
        "-ERR wrong number of arguments for 'client|setname' command\r\n",
    );
    let reply = c.cmd(&[b"CLIENT", b"SETNAME", b"a b"]);
    assert_eq!(
        reply,
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    c.cmd(&[b"CLIENT", b"SETNAME", b""]);
    c.expect("CLIENT GETNAME", "$-1\r\n");
    c.expect("CLIENT SETINFO LIB-NAME redis-py", "+OK\r\n");
    c.expect("CLIENT SETINFO lib-ver 5.0.1", "+OK\r\n");
    c.expect("CLIENT SETINFO foo x", "-ERR Unrecognized option 'foo'\r\n");
    let reply = c.cmd(&[b"CLIENT", b"SETINFO", b"lib-name", b"a b"]);
    assert_eq!(
        reply,
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    );
    let id = client_id(&mut c);
    let info = c.call("CLIENT INFO");
    assert!(info.starts_with('$'), "{info}");
    assert!(info.contains(&format!("id={id} addr=127.0.0.1:")), "{info}");
    assert!(
        info.contains(" lib-name=redis-py lib-ver=5.0.1\n"),
        "{info}"
    );
    assert!(info.contains(" cmd=client|info "), "{info}");
    c.expect(
        "CLIENT foo",
        "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
    );
    c.expect(
        "CLIENT",
        "-ERR wrong number of arguments for 'client' command\r\n",
    );
    c.expect("CLIENT NO-EVICT on", "+OK\r\n");
    c.expect("CLIENT NO-TOUCH on", "+OK\r\n");
    c.expect("CLIENT NO-EVICT maybe", "-ERR syntax error\r\n");
    assert!(c.call("CLIENT INFO").contains(" flags=eT "));
    c.expect("CLIENT REPLY ON", "+OK\r\n");
    assert!(c
        .call("CLIENT HELP")
        .starts_with("*43\r\n+CLIENT <subcommand>"));
    // RESP3: CLIENT INFO is verbatim text.
    c.call("HELLO 3");
    assert!(c.call("CLIENT INFO").starts_with('='));
}

#[test]
fn client_list_filters() {
    let server = common::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let (id_a, id_b) = (client_id(&mut a), client_id(&mut b));
    let list = a.call("CLIENT LIST");
    assert!(list.contains(&format!("id={id_a} ")) && list.contains(&format!("id={id_b} ")));
    assert_eq!(
        list.matches("\n").count(),
        4,
        "header, two lines, final CRLF: {list}"
    );
    let only_b = a.call(&format!("CLIENT LIST ID {id_b}"));
    assert!(only_b.contains(&format!("id={id_b} ")) && !only_b.contains(&format!("id={id_a} ")));
    a.expect("CLIENT LIST ID 99999", "$0\r\n\r\n");
    a.expect("CLIENT LIST ID x", "-ERR Invalid client ID\r\n");
    a.expect("CLIENT LIST TYPE foo", "-ERR Unknown client type 'foo'\r\n");
    a.expect("CLIENT LIST TYPE pubsub", "$0\r\n\r\n");
    assert!(a
        .call("CLIENT LIST TYPE normal")
        .contains(&format!("id={id_a} ")));
    a.expect("CLIENT LIST foo", "-ERR syntax error\r\n");
}

#[test]
fn client_kill_forms() {
    let server = common::start();
    let mut killer = server.raw();
    let mut victim = server.raw();
    let victim_id = client_id(&mut victim);
    killer.expect("CLIENT KILL 1.2.3.4:5", "-ERR No such client\r\n");
    killer.expect("CLIENT KILL ID 99999", ":0\r\n");
    killer.expect(
        "CLIENT KILL ID x",
        "-ERR client-id should be greater than 0\r\n",
    );
    killer.expect("CLIENT KILL foo bar", "-ERR syntax error\r\n");
    killer.expect("CLIENT KILL SKIPME maybe", "-ERR syntax error\r\n");
    killer.expect("CLIENT KILL USER nobody", "-ERR No such user 'nobody'\r\n");
    killer.expect("CLIENT KILL LADDR 1.1.1.1:1", ":0\r\n");
    killer.expect(&format!("CLIENT KILL ID {victim_id}"), ":1\r\n");
    assert!(victim.is_closed());

    // The old form, by address (the PING makes sure the server has registered it).
    let mut victim = server.raw();
    victim.expect("PING", "+PONG\r\n");
    let addr = victim.stream.local_addr().unwrap().to_string();
    killer.expect(&format!("CLIENT KILL {addr}"), "+OK\r\n");
    assert!(victim.is_closed());

    // ADDR filter; SKIPME yes (the default) spares the caller.
    let mut victim = server.raw();
    victim.expect("PING", "+PONG\r\n");
    let addr = victim.stream.local_addr().unwrap().to_string();
    killer.expect(&format!("CLIENT KILL ADDR {addr} SKIPME yes"), ":1\r\n");
    assert!(victim.is_closed());
    killer.expect("CLIENT KILL USER default", ":0\r\n");
    killer.expect("PING", "+PONG\r\n");
    // SKIPME no: the caller gets its reply, then the connection closes.
    killer.expect("CLIENT KILL USER default SKIPME no", ":1\r\n");
    assert!(killer.is_closed());
}

#[test]
fn auth_and_hello_edge_cases_without_password() {
    let server = common::start();
    let mut c = server.raw();
    c.expect(
        "AUTH x",
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    c.expect("AUTH default anything", "+OK\r\n");
    c.expect(
        "AUTH someone x",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    c.expect("AUTH a b c", "-ERR syntax error\r\n");
    c.expect("HELLO 4", "-NOPROTO unsupported protocol version\r\n");
    c.expect(
        "HELLO x",
        "-ERR Protocol version is not an integer or out of range\r\n",
    );
    c.expect(
        "HELLO 3 AUTH a",
        "-ERR Syntax error in HELLO option 'AUTH'\r\n",
    );
    c.expect(
        "HELLO 3 SETNAME",
        "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
    );
    let reply = c.call("HELLO 3 SETNAME me");
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"));
    assert!(reply.contains("$5\r\nproto\r\n:3\r\n"));
    c.expect("CLIENT GETNAME", "$2\r\nme\r\n");
}

#[test]
fn auth_and_hello_with_password() {
    let server = common::start_with(|config| config.requirepass = Some("s3cret".into()));
    let mut c = server.raw();
    c.expect("PING", "-NOAUTH Authentication required.\r\n");
    c.expect("CLIENT ID", "-NOAUTH Authentication required.\r\n");
    // As Redis: an unknown command is reported before authentication is asked for.
    c.expect(
        "NOSUCH",
        "-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
    );
    c.expect(
        "HELLO 3",
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
    );
    c.expect(
        "AUTH wrong",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    c.expect(
        "HELLO 3 AUTH default wrong",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    assert!(c.call("HELLO 3 AUTH default s3cret").starts_with("%7\r\n"));
    c.expect("PING", "+PONG\r\n");
    let mut d = server.raw();
    d.expect("AUTH default s3cret", "+OK\r\n");
    d.expect("RESET", "+RESET\r\n");
    d.expect("PING", "-NOAUTH Authentication required.\r\n");
    d.expect("AUTH s3cret", "+OK\r\n");
    d.expect("PING", "+PONG\r\n");
}

#[test]
fn pre_auth_requests_are_small() {
    let server = common::start_with(|config| config.requirepass = Some("pw".into()));
    let mut c = server.raw();
    let big = vec![b'x'; 20 * 1024];
    c.send(&common::encode(&[b"AUTH", &big]));
    assert_eq!(
        c.read_reply(),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert!(c.is_closed());
    let mut c = server.raw();
    c.send(b"*11\r\n");
    assert_eq!(
        c.read_reply(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(c.is_closed());
    // After AUTH the ordinary limits apply.
    let mut c = server.raw();
    c.expect("AUTH pw", "+OK\r\n");
    assert_eq!(c.cmd(&[b"SET", b"k", &big]), b"+OK\r\n");
}
