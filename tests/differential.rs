//! Differential test: the same command scripts against a real `redis-server` and latchkey,
//! replies compared byte for byte, in RESP2 and in RESP3 (after `HELLO 3`).
//!
//! Runs when `redis-server` is on `PATH`; otherwise prints a skip message and passes.
//!
//! **Adding commands:** append a script to [`SCRIPTS`]: a name and command lines, written as
//! `redis-cli` would take them (Redis's quoting: `"a b"`, `""`, `"\x00"`). Each script starts
//! on a fresh connection after `FLUSHALL` on both servers. Prefix a line with `unordered: ` when
//! its reply is an array whose order Redis does not define (`KEYS`, `SMEMBERS`): its elements
//! are then compared as a multiset. Keep replies deterministic: no wall-clock values, TTLs only
//! in whole seconds right after they are set. Commands Redis 7.0 lacks (`DELIFEQ`, `DELEX`,
//! `SET … IFEQ`) cannot be compared here; their own tests cover them.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use latchkey::protocol::parser::split_args;
use latchkey::{Config, Server};

const SCRIPTS: &[(&str, &[&str])] = &[
    (
        "set and get",
        &[
            "SET k v",
            "GET k",
            "GET nokey",
            "SET k v2 NX",
            "SET other v XX",
            "SET k v3 XX",
            "SET k v4 XX GET",
            "SET fresh v NX GET",
            "SET k v NX XX",
            "SET k v EX 10 PX 10",
            "SET k v KEEPTTL EX 10",
            "SET k v EX 0",
            "SET k v EX -1",
            "SET k v PX abc",
            "SET k v EX 9223372036854775807",
            "SET k v PX 9223372036854775807",
            "SET k v FOO",
            "SET k v EX",
            "set k v ex 100 get",
            "TTL k",
            "SET k v KEEPTTL",
            "TTL k",
            "SET k v",
            "TTL k",
            "SET k \"\"",
            "GET k",
            "SET \"\" empty-key",
            "GET \"\"",
            "SET bin \"a\\x00b\\r\\n\"",
            "GET bin",
            "STRLEN bin",
            "STRLEN nokey",
            "SET",
            "GET a b",
            "SET k v EXAT 1",
            "GET k",
            "SET k v PXAT 1",
            "EXISTS k",
            "SET k v PXAT 0",
            "SET k v GET PXAT 99999999999999",
            "GETEX k PXAT 1",
            "EXISTS k",
            "SET k v nx px 1000 get",
            "set K V xx get",
            "GET K",
        ],
    ),
    (
        "string family",
        &[
            "SETNX k v",
            "SETNX k w",
            "GET k",
            "SETEX k 100 v",
            "TTL k",
            "SETEX k 0 v",
            "SETEX k -5 v",
            "SETEX k abc v",
            "PSETEX k 100000 v",
            "TTL k",
            "PSETEX k 0 v",
            "GETDEL k",
            "GETDEL k",
            "SET k v EX 100",
            "GETEX k PERSIST",
            "TTL k",
            "GETEX k EX 50",
            "TTL k",
            "GETEX k EX 10 PX 10",
            "GETEX k PERSIST EX 1",
            "GETEX k EX 0",
            "GETEX nokey EX 10",
            "GETEX k FOO",
            "MSET a 1 b 2 c 3",
            "MGET a b nokey c",
            "MSET a",
            "MSET a 1 b",
            "MSETNX a 1 z 2",
            "MSETNX y 1 z 2",
            "MGET y z",
        ],
    ),
    (
        "getrange",
        &[
            "SET s \"Hello World\"",
            "GETRANGE s 0 4",
            "GETRANGE s 0 -1",
            "GETRANGE s -5 -1",
            "GETRANGE s -100 4",
            "GETRANGE s 0 100",
            "GETRANGE s 5 3",
            "GETRANGE s -1 -5",
            "GETRANGE s 11 20",
            "GETRANGE s 10 10",
            "GETRANGE s -1 -1",
            "GETRANGE s a 1",
            "GETRANGE nokey 0 -1",
            "SET e \"\"",
            "GETRANGE e 0 -1",
            "GETRANGE e 0 0",
        ],
    ),
    (
        "counters",
        &[
            "INCR n",
            "INCR n",
            "DECR n",
            "INCRBY n 10",
            "DECRBY n 3",
            "INCRBY n abc",
            "INCRBY n 9223372036854775808",
            "SET n 9223372036854775807",
            "INCR n",
            "GET n",
            "SET n -9223372036854775808",
            "DECR n",
            "DECRBY n 1",
            "SET n 0",
            "DECRBY n -9223372036854775808",
            "SET n \" 1\"",
            "INCR n",
            "SET n 01",
            "INCR n",
            "SET n 1.5",
            "INCR n",
            "SET n abc",
            "INCR n",
            "SET n 9223372036854775806",
            "INCRBY n 1",
            "INCRBY n 1",
        ],
    ),
    (
        "keys and expiry",
        &[
            "MSET a 1 b 2 c 3",
            "DEL a nokey",
            "DEL a",
            "EXISTS b b c nokey",
            "UNLINK c",
            "TYPE b",
            "TYPE nokey",
            "TOUCH b nokey",
            "EXPIRE b 100",
            "TTL b",
            "EXPIRE b 200 NX",
            "EXPIRE b 200 XX",
            "TTL b",
            "EXPIRE b 100 GT",
            "EXPIRE b 300 GT",
            "EXPIRE b 400 LT",
            "EXPIRE b 50 LT",
            "TTL b",
            "EXPIRE b 10 NX XX",
            "EXPIRE b 10 GT LT",
            "EXPIRE b 10 FOO",
            "expire b 10 nx",
            "EXPIRE b 10 XX XX",
            "EXPIRE b abc",
            "EXPIRE b 9223372036854775807",
            "PEXPIRE b 9223372036854775807",
            "EXPIRE nokey 10",
            "PERSIST b",
            "PERSIST b",
            "TTL b",
            "PTTL b",
            "TTL nokey",
            "PTTL nokey",
            "EXPIRETIME b",
            "PEXPIRETIME nokey",
            "SET p v",
            "EXPIRE p 100 LT",
            "TTL p",
            "PERSIST p",
            "EXPIRE p 100 GT",
            "TTL p",
            "EXPIREAT p 1",
            "EXISTS p",
            "SET q v",
            "PEXPIREAT q 1000",
            "EXISTS q",
            "SET r v",
            "EXPIRE r 0",
            "EXISTS r",
            "SET r v",
            "PEXPIRE r -1",
            "EXISTS r",
            "DBSIZE",
        ],
    ),
    (
        "rename, copy, move, swapdb, object",
        &[
            "SET a 1",
            "RENAME nokey b",
            "RENAMENX nokey b",
            "RENAME a a",
            "RENAMENX a a",
            "RENAME a b",
            "GET b",
            "SET c 3",
            "RENAMENX b c",
            "RENAMENX b d",
            "EXPIRE d 100",
            "RENAME d e",
            "TTL e",
            "COPY e e",
            "COPY e f",
            "TTL f",
            "COPY e f",
            "COPY e f REPLACE",
            "COPY e f DB",
            "COPY e f DB 99",
            "COPY e f DB x",
            "COPY e f FOO",
            "COPY nokey f",
            "COPY e e DB 1",
            "MOVE e 0",
            "MOVE e 99",
            "MOVE e x",
            "MOVE nokey 1",
            "MOVE e 1",
            "MOVE f 1",
            "EXISTS e f",
            "SELECT 1",
            "GET e",
            "TTL e",
            "SELECT 0",
            "SWAPDB 0 1",
            "EXISTS e",
            "SWAPDB 0 0",
            "SWAPDB 0 99",
            "SWAPDB x 0",
            "SWAPDB 0 x",
            "SET i 123",
            "SET big 12345",
            "SET s abc",
            "SET long 0123456789012345678901234567890123456789abcdef",
            "OBJECT ENCODING i",
            "OBJECT ENCODING s",
            "OBJECT ENCODING long",
            "OBJECT ENCODING nokey",
            "OBJECT REFCOUNT i",
            "OBJECT REFCOUNT big",
            "OBJECT FREQ s",
            "OBJECT ENCODING",
            "OBJECT foo",
            "OBJECT HELP",
        ],
    ),
    (
        "enumeration",
        &[
            "MSET lock:a 1 lock:b 2 other 3",
            "unordered: KEYS *",
            "unordered: KEYS lock:*",
            "KEYS oth?r",
            "KEYS nothing*",
            "SCAN x",
            "SCAN 0 COUNT 0",
            "SCAN 0 COUNT x",
            "SCAN 0 MATCH",
            "SCAN 0 FOO bar",
            "DEL lock:a lock:b other",
            "SCAN 0",
            "RANDOMKEY",
            "SET only v",
            "RANDOMKEY",
            "SCAN 0",
            "SCAN 0 MATCH o*",
            "SCAN 0 MATCH x*",
            "SCAN 0 TYPE string",
            "SCAN 0 TYPE list",
            "SCAN 0 COUNT 1000 MATCH * TYPE string",
        ],
    ),
    (
        "connection and server",
        &[
            "PING",
            "PING hello",
            "PING a b",
            "ECHO x",
            "ECHO",
            "SELECT 15",
            "SELECT 16",
            "SELECT -1",
            "SELECT x",
            "SELECT 0",
            "DBSIZE",
            "FLUSHDB",
            "FLUSHDB ASYNC",
            "FLUSHDB SYNC",
            "FLUSHDB FOO",
            "FLUSHALL ASYNC",
            "FLUSHALL FOO",
            "FOO a b",
            "FOO",
            "CLIENT foo",
            "CLIENT",
            "CLIENT SETNAME",
            "CLIENT SETNAME \"a b\"",
            "CLIENT GETNAME",
            "CLIENT SETNAME me",
            "CLIENT GETNAME",
            "CLIENT KILL 1.2.3.4:5",
            "CLIENT KILL ID 999999",
            "CLIENT KILL ID x",
            "CLIENT KILL foo bar",
            "CLIENT KILL SKIPME maybe",
            "CLIENT KILL USER nobody",
            "CLIENT LIST TYPE foo",
            "CLIENT LIST ID x",
            "CLIENT LIST ID 999999",
            "CLIENT LIST foo",
            "CLIENT NO-EVICT maybe",
            "CLIENT NO-EVICT on",
            "CLIENT REPLY ON",
            "AUTH x",
            "AUTH a b",
            "AUTH a b c",
            "HELLO 4",
            "HELLO x",
            "HELLO 3 AUTH a",
            "HELLO 3 SETNAME",
            "HELLO 3 FOO",
            "CONFIG",
            "CONFIG GET",
            "CONFIG SET maxclients",
            "CONFIG SET foo bar",
            "CONFIG SET maxclients 10 hz",
            "CONFIG SET maxclients abc",
            "CONFIG SET maxclients 0",
            "CONFIG SET timeout -1",
            "CONFIG SET hz -1",
            "CONFIG SET hz 5 hz 6",
            "CONFIG SET databases 3",
            "CONFIG SET proto-max-bulk-len 10",
            "CONFIG SET notify-keyspace-events q",
            "CONFIG SET notify-keyspace-events KEA",
            "CONFIG GET notify-keyspace-events",
            "CONFIG SET notify-keyspace-events Exg",
            "CONFIG GET notify-keyspace-events",
            "CONFIG SET notify-keyspace-events \"\"",
            "CONFIG SET appendonly maybe",
            "CONFIG SET maxmemory-policy foo",
            "CONFIG SET maxmemory 1gb",
            "CONFIG GET maxmemory",
            "CONFIG SET maxmemory 0",
            "CONFIG GET save",
            "CONFIG GET appendonly",
            "CONFIG GET databases",
            "CONFIG GET maxmemory-policy",
            "CONFIG GET nothing*",
            "CONFIG REWRITE",
            "CONFIG RESETSTAT",
            "CONFIG HELP",
            "CONFIG foo",
            "COMMAND foo",
            "COMMAND GETKEYS SET a b",
            "COMMAND GETKEYS MSET a 1 b 2",
            "COMMAND GETKEYS nosuch a",
            "COMMAND GETKEYS GET",
            "COMMAND INFO nosuch",
            "COMMAND LIST FILTERBY foo x",
            "COMMAND GETKEYS EXPIRE k 10",
            "COMMAND GETKEYS COPY a b",
            "COMMAND GETKEYS OBJECT ENCODING k",
            "COMMAND GETKEYS DEL a b c",
            "COMMAND GETKEYS PING x",
            "COMMAND GETKEYS GET a b",
            "COMMAND COUNT x",
            "MEMORY USAGE nokey",
            "MEMORY USAGE",
            "MEMORY foo",
            "BGSAVE foo",
            "ROLE",
        ],
    ),
    (
        "lists",
        &[
            "RPUSH l a b c d e",
            "LPUSH l z",
            "LRANGE l 0 -1",
            "LRANGE l -2 100",
            "LRANGE l 5 1",
            "LLEN l",
            "LINDEX l 0",
            "LINDEX l -1",
            "LINDEX l 99",
            "LPOP l",
            "RPOP l 2",
            "LPOP l 0",
            "LPOP l -1",
            "RPUSH l a a b a",
            "LREM l 2 a",
            "LREM l -1 a",
            "LRANGE l 0 -1",
            "LTRIM l 1 2",
            "LRANGE l 0 -1",
            "LSET l 0 x",
            "LSET l 99 x",
            "LSET nolist 0 x",
            "LPUSHX nolist a",
            "RPUSHX l tail",
            "LPOS l tail",
            "LMOVE l l2 LEFT RIGHT",
            "LRANGE l2 0 -1",
            "BLPOP nolist 0.01",
            "BLPOP l 0",
            "BLPOP l -1",
            "BLPOP l abc",
            "SET s v",
            "LPUSH s a",
            "LRANGE s 0 -1",
            "TYPE l",
            "OBJECT ENCODING l",
        ],
    ),
    (
        "hashes",
        &[
            "HSET h f1 v1 f2 v2",
            "HSET h f1 again",
            "HSET h f3",
            "HGET h f1",
            "HGET h nope",
            "HMGET h f1 nope f2",
            "HSETNX h f1 x",
            "HSETNX h f9 x",
            "HEXISTS h f9",
            "HLEN h",
            "HSTRLEN h f1",
            "HINCRBY h n 5",
            "HINCRBY h n -7",
            "HINCRBY h f1 1",
            "HINCRBY h n 9223372036854775807",
            "HINCRBYFLOAT h fl 1.5",
            "HINCRBYFLOAT h fl abc",
            "HDEL h f1 nope f2",
            "HGETALL h",
            "HKEYS h",
            "HVALS h",
            "HGETALL nohash",
            "HDEL h f3 f9 n fl",
            "EXISTS h",
            "SET s v",
            "HGET s f",
            "TYPE h",
        ],
    ),
    (
        "sets",
        &[
            "SADD s 3 1 2 2",
            "SADD s 4",
            "SMEMBERS s",
            "SCARD s",
            "SISMEMBER s 2",
            "SISMEMBER s 9",
            "SMISMEMBER s 1 9 3",
            "SREM s 1 9",
            "SMOVE s t 2",
            "SMOVE s t 99",
            "SMEMBERS t",
            "SADD u 3 4 5",
            "SINTER s u",
            "SUNION s u",
            "SDIFF u s",
            "SINTERSTORE dst s u",
            "SMEMBERS dst",
            "SUNIONSTORE dst s u nope",
            "SCARD dst",
            "SDIFFSTORE dst u s",
            "SMEMBERS dst",
            "SINTERCARD 2 s u",
            "SINTERCARD 0 s",
            "unordered: SMEMBERS u",
            "SET str v",
            "SADD str a",
            "SINTER s str",
            "OBJECT ENCODING s",
        ],
    ),
    (
        "sorted sets",
        &[
            "ZADD z 1 a 2 b 3 c",
            "ZADD z NX 9 a 4 d",
            "ZADD z XX CH 5 a 9 nope",
            "ZADD z GT 1 b",
            "ZADD z LT 1 b",
            "ZADD z NX XX 1 a",
            "ZADD z GT LT 1 a",
            "ZADD z INCR 2 c",
            "ZADD z INCR 1 a 2 b",
            "ZADD z abc a",
            "ZSCORE z a",
            "ZSCORE z nope",
            "ZMSCORE z a nope b",
            "ZCARD z",
            "ZRANK z c",
            "ZREVRANK z c",
            "ZRANGE z 0 -1",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZRANGE z 0 -1 REV",
            "ZRANGE z (1 5 BYSCORE WITHSCORES",
            "ZRANGE z -inf +inf BYSCORE LIMIT 1 2",
            "ZRANGE z 5 (1 BYSCORE REV",
            "ZRANGEBYSCORE z 1 (5",
            "ZREVRANGEBYSCORE z +inf -inf WITHSCORES",
            "ZRANGEBYSCORE z x 5",
            "ZCOUNT z 2 +inf",
            "ZINCRBY z 10 a",
            "ZREMRANGEBYSCORE z -inf 2",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZPOPMIN z",
            "ZPOPMAX z 2",
            "ZREM z nope",
            "EXISTS z",
            "SET str v",
            "ZADD str 1 a",
        ],
    ),
    (
        "transactions",
        &[
            "MULTI",
            "SET a 1",
            "INCR a",
            "GET a",
            "EXEC",
            "EXEC",
            "DISCARD",
            "MULTI",
            "MULTI",
            "NOTACOMMAND",
            "SET a",
            "EXEC",
            "WATCH a",
            "MULTI",
            "WATCH a",
            "INCR a",
            "EXEC",
            "UNWATCH",
        ],
    ),
];

/// Scripts that need the Lua interpreter (the `lua` feature); the compare-and-delete would run
/// natively without it, the others not at all.
#[cfg(feature = "lua")]
const LUA_SCRIPTS: &[(&str, &[&str])] = &[
    (
        "scripts",
        &[
            "SET lock tok",
            "EVAL \"if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end\" 1 lock other",
            "EVAL \"if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end\" 1 lock tok",
            "SCRIPT LOAD \"return {1, 'two', {3}, false, true}\"",
            "EVALSHA 0d0a7f8c5e4e4e0d6bb7dc2dbb2b8d5b9b1f3b8e 0",
            "EVAL \"return {1, 'two', {3}, false, true}\" 0",
            "EVAL \"return redis.call('incr', KEYS[1])\" 1 n",
            "EVAL \"return redis.pcall('incr', KEYS[1])\" 1 lock2",
            "EVAL \"return redis.error_reply('MY fail')\" 0",
            "EVAL \"return redis.status_reply('FINE')\" 0",
            "EVAL \"return 3.99\" 0",
            "EVAL \"return tostring(1e15)\" 0",
            "EVAL \"return #ARGV\" 0 a b c",
            "EVAL \"return 1\" -1",
            "EVAL \"return 1\" 5 a",
            "SCRIPT EXISTS 0d0a7f8c5e4e4e0d6bb7dc2dbb2b8d5b9b1f3b8e",
            "SCRIPT FLUSH",
        ],
    ),
    // What a script sees of a reply does not depend on the client's protocol: RESP2 shapes
    // unless it calls `redis.setresp(3)`. (Scores are ones whose shortest text is also their
    // `%.17g` text: Redis 7.0 writes 0.1 as 0.10000000000000001, latchkey as 0.1.)
    (
        "script replies are RESP2 unless setresp(3)",
        &[
            "ZADD z 1.5 a 2 b 2.5 c",
            "ZADD one 1.5 m",
            "HSET h f v",
            "SADD s m",
            "EVAL \"return redis.call('zrange','z',0,-1,'withscores')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zrange','z',0,-1,'withscores')\" 0",
            "EVAL \"return redis.call('zrangebyscore','z','-inf','+inf','withscores')\" 0",
            "EVAL \"return redis.call('zrevrange','z',0,1,'withscores')\" 0",
            "EVAL \"return redis.call('zunion',1,'z','withscores')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zunion',1,'z','withscores')\" 0",
            "EVAL \"return redis.call('zrandmember','one',1,'withscores')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zrandmember','one',1,'withscores')\" 0",
            "EVAL \"return redis.call('hrandfield','h',1,'withvalues')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('hrandfield','h',1,'withvalues')\" 0",
            "EVAL \"return redis.call('hgetall','h')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('hgetall','h')\" 0",
            "EVAL \"redis.setresp(3); local t = redis.call('hgetall','h'); return {type(t.map), t.map.f}\" 0",
            "EVAL \"return redis.call('smembers','s')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('smembers','s')\" 0",
            "EVAL \"redis.setresp(3); local t = redis.call('smembers','s'); return {type(t.set), tostring(t.set.m)}\" 0",
            "EVAL \"return redis.call('zscore','z','a')\" 0",
            "EVAL \"return type(redis.call('zscore','z','a'))\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zscore','z','a')\" 0",
            "EVAL \"redis.setresp(3); local r = redis.call('zscore','z','c'); return {type(r), tostring(r.double)}\" 0",
            "EVAL \"return redis.call('zmscore','z','a','nope')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zmscore','z','nope','a')\" 0",
            "EVAL \"return redis.call('zincrby','z',1,'a')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zincrby','z',1,'a')\" 0",
            "EVAL \"return redis.call('zpopmin','z',1)\" 0",
            "EVAL \"redis.setresp(3); return redis.call('zpopmin','z',1)\" 0",
            "EVAL \"return redis.call('zpopmax','z')\" 0",
            "EVAL \"return {redis.call('get','nokey')}\" 0",
            "EVAL \"return type(redis.call('get','nokey'))\" 0",
            "EVAL \"redis.setresp(3); return type(redis.call('get','nokey'))\" 0",
            "EVAL \"redis.setresp(3); redis.setresp(2); return redis.call('hgetall','h')\" 0",
            "EVAL \"return redis.call('exists','h')\" 0",
            "EVAL \"redis.setresp(3); return redis.call('ping')\" 0",
        ],
    ),
    // The libraries Redis embeds, by the same cases on both servers.
    (
        "cjson",
        &[
            "EVAL \"return cjson.encode({1,2,3})\" 0",
            "EVAL \"return cjson.encode({})\" 0",
            "EVAL \"return cjson.encode({a=1.5})\" 0",
            "EVAL \"return cjson.encode({0.1, 1e20, 123456789012345, 1/3, -0.0, 100, 3.0})\" 0",
            "EVAL \"return cjson.encode('a/b\\\"c\\\\\\\\d\\\\n\\\\t\\\\r\\\\b\\\\f\\\\1\\\\31\\\\127 é')\" 0",
            "EVAL \"return cjson.encode({[1]=1,[3]=3})\" 0",
            "EVAL \"return cjson.encode({[1]=1,[20]=3})\" 0",
            "EVAL \"return cjson.encode({[1]=1,[11]=3})\" 0",
            "EVAL \"return cjson.encode({[1]=1,[10]=3})\" 0",
            "EVAL \"return cjson.encode({[2]=1.5})\" 0",
            "EVAL \"return cjson.encode({[1.5]=1})\" 0",
            "EVAL \"return cjson.encode({[true]=1})\" 0",
            "EVAL \"return cjson.encode(1/0)\" 0",
            "EVAL \"return cjson.encode(0/0)\" 0",
            "EVAL \"return cjson.encode(redis.call)\" 0",
            "EVAL \"return cjson.encode(cjson.null)\" 0",
            "EVAL \"return cjson.encode(nil)\" 0",
            "EVAL \"return cjson.encode()\" 0",
            "EVAL \"return cjson.encode(1, 2)\" 0",
            "EVAL \"return cjson.encode({true, false, cjson.null})\" 0",
            "EVAL \"local t = {} t[1] = t return cjson.encode(t)\" 0",
            "EVAL \"return cjson.encode({a={b={}}})\" 0",
            "EVAL \"return cjson.decode('[1,2,3]')\" 0",
            "EVAL \"return cjson.decode('{\\\"a\\\":[1,{\\\"b\\\":2}]}').a[2].b\" 0",
            "EVAL \"return cjson.decode('')\" 0",
            "EVAL \"return cjson.decode('[1,2')\" 0",
            "EVAL \"return cjson.decode('{\\\"a\\\" 1}')\" 0",
            "EVAL \"return cjson.decode('{1:2}')\" 0",
            "EVAL \"return cjson.decode('[1 2]')\" 0",
            "EVAL \"return cjson.decode('{\\\"a\\\":1 \\\"b\\\"}')\" 0",
            "EVAL \"return cjson.decode('1 2')\" 0",
            "EVAL \"return cjson.decode('tru')\" 0",
            "EVAL \"return cjson.decode('\\\"abc')\" 0",
            "EVAL \"return cjson.decode('\\\"a\\\\\\\\qb\\\"')\" 0",
            "EVAL \"return cjson.decode('\\\"\\\\\\\\u00e9\\\\\\\\ud83d\\\\\\\\ude00\\\"')\" 0",
            "EVAL \"return cjson.decode('\\\"\\\\\\\\ud83d\\\"')\" 0",
            "EVAL \"return cjson.decode('0x10')\" 0",
            "EVAL \"return cjson.decode('inf')\" 0",
            "EVAL \"return cjson.decode('nan')\" 0",
            "EVAL \"return tostring(cjson.decode('-Infinity'))\" 0",
            "EVAL \"return cjson.decode('012')\" 0",
            "EVAL \"return cjson.decode('+1')\" 0",
            "EVAL \"return cjson.decode('1.5e3')\" 0",
            "EVAL \"return tostring(cjson.decode('1.5'))\" 0",
            "EVAL \"return cjson.decode('-')\" 0",
            "EVAL \"return cjson.decode('.5')\" 0",
            "EVAL \"return cjson.decode('1.')\" 0",
            "EVAL \"return type(cjson.decode('null'))\" 0",
            "EVAL \"return cjson.decode('null') == cjson.null\" 0",
            "EVAL \"return cjson.decode('[1,null,3]')\" 0",
            "EVAL \"return #cjson.decode('[1,null,3]')\" 0",
            "EVAL \"return cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))\" 0",
            "EVAL \"return #cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))\" 0",
            "EVAL \"return cjson.decode()\" 0",
            "EVAL \"return cjson.decode(5)\" 0",
            "EVAL \"return cjson.decode({})\" 0",
            "EVAL \"return cjson.decode('\\\"a\\\\1b\\\"')\" 0",
            "EVAL \"return cjson.decode('  {}  ')\" 0",
            "EVAL \"return cjson.decode('[1,]')\" 0",
            "EVAL \"return cjson.decode('{\\\"a\\\":1,}')\" 0",
            "EVAL \"return cjson.decode('[\\\"\\\\\\\\/\\\"]')\" 0",
            "EVAL \"return cjson.encode({1,2,nil,4})\" 0",
            "EVAL \"return cjson._NAME .. ' ' .. cjson._VERSION\" 0",
            "EVAL \"return cjson.encode(setmetatable({}, {__index=function() return 1 end}))\" 0",
            "EVAL \"local t = {} local c = t for i=1,1001 do c[1] = {} c = c[1] end return cjson.encode(t)\" 0",
            "EVAL \"local t = {} local c = t for i=1,999 do c[1] = {} c = c[1] end return #cjson.encode(t)\" 0",
            "EVAL \"return cjson.encode({a=1, [1]=2})\" 0",
            "EVAL \"return cjson.encode(12345678901234567890)\" 0",
            "EVAL \"return cjson.encode(2^53)\" 0",
            "EVAL \"return cjson.decode('12345678901234567890')\" 0",
            "EVAL \"return tostring(cjson.decode('12345678901234567890'))\" 0",
            "EVAL \"return cjson.decode('[true,false]')\" 0",
            "EVAL \"return cjson.decode('\\\"\\\\\\\\u0000x\\\"')\" 0",
            "EVAL \"return cjson.decode('\\\"\\\\\\\\uzzzz\\\"')\" 0",
            "EVAL \"return cjson.decode('@')\" 0",
            "EVAL \"return cjson.decode('[1e400]')\" 0",
            "EVAL \"return cjson.encode({[-1]=1})\" 0",
            "EVAL \"return cjson.encode({[0]=1})\" 0",
        ],
    ),
    (
        "cmsgpack, bit and struct",
        &[
            "EVAL \"return cmsgpack.pack()\" 0",
            "EVAL \"return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)\" 0",
            "EVAL \"return cmsgpack.pack(1.5, 0.1, 1e300, -0.0, 1/0, 0/0, 2^63, -2^63, 2^64)\" 0",
            "EVAL \"return cmsgpack.pack('abc', string.rep('x', 40), true, false, nil)\" 0",
            "EVAL \"return cmsgpack.pack({1,2,3}, {}, {a=1}, {1,nil,3}, {[2]=5})\" 0",
            "EVAL \"return cmsgpack.pack(redis.call, cjson.null)\" 0",
            "EVAL \"local t = {} local c = t for i=1,20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)\" 0",
            "EVAL \"return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {x='y'}, true, 1.5))}\" 0",
            "EVAL \"return cmsgpack.unpack('')\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\147\\\\1')\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\193')\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\196\\\\2ab')\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\199\\\\1\\\\1a')\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\212\\\\1a')\" 0",
            "EVAL \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}\" 0",
            "EVAL \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}\" 0",
            "EVAL \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}\" 0",
            "EVAL \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 5)}\" 0",
            "EVAL \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}\" 0",
            "EVAL \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}\" 0",
            "EVAL \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}\" 0",
            "EVAL \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)}\" 0",
            "EVAL \"return cmsgpack.unpack(5)\" 0",
            "EVAL \"return cmsgpack.unpack({})\" 0",
            "EVAL \"return cmsgpack.unpack()\" 0",
            "EVAL \"return tostring(cmsgpack.unpack('\\\\203\\\\63\\\\185\\\\153\\\\153\\\\153\\\\153\\\\153\\\\154'))\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\207\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255')\" 0",
            "EVAL \"return tostring(cmsgpack.unpack('\\\\211\\\\128\\\\0\\\\0\\\\0\\\\0\\\\0\\\\0\\\\0'))\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\130\\\\1\\\\2\\\\3\\\\4')[3]\" 0",
            "EVAL \"return cmsgpack.unpack('\\\\129\\\\192\\\\1')\" 0",
            "EVAL \"return bit.tobit(0xffffffff)\" 0",
            "EVAL \"return {bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit('12')}\" 0",
            "EVAL \"return bit.tobit('abc')\" 0",
            "EVAL \"return bit.tobit()\" 0",
            "EVAL \"return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(255, 20), bit.tohex(255, 0), bit.tohex(0x12345678, 3)}\" 0",
            "EVAL \"return {bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.band(7)}\" 0",
            "EVAL \"return bit.band()\" 0",
            "EVAL \"return {bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}\" 0",
            "EVAL \"return bit.band(1, 'x')\" 0",
            "EVAL \"return bit.bor(1, {})\" 0",
            "EVAL \"return {struct.pack('>I2', 258), struct.pack('<i4', -2), struct.pack('b', 255), struct.pack('>d', 1.5), struct.pack('<f', 1.5)}\" 0",
            "EVAL \"return struct.pack('c5', 'abc')\" 0",
            "EVAL \"return {struct.pack('!4 b i4', 1, 2), struct.pack('!2 b i4', 1, 2), struct.pack('b x h', 1, 2), struct.pack('>l', -1), struct.pack('>T', 5)}\" 0",
            "EVAL \"return {struct.unpack('>I2 <i4 b', '\\\\1\\\\2\\\\254\\\\255\\\\255\\\\255\\\\255')}\" 0",
            "EVAL \"return {struct.unpack('s c2', 'ab\\\\0cd')}\" 0",
            "EVAL \"return {struct.unpack('b c0', '\\\\3abcd')}\" 0",
            "EVAL \"return {struct.unpack('c0', 'abcd')}\" 0",
            "EVAL \"return {struct.unpack('>i4', 'ab')}\" 0",
            "EVAL \"return {struct.unpack('s', 'ab')}\" 0",
            "EVAL \"return {struct.unpack('b', 'abc', 2)}\" 0",
            "EVAL \"return {struct.unpack('b', 'abc', 0)}\" 0",
            "EVAL \"return {struct.unpack('b', 'abc', 5)}\" 0",
            "EVAL \"return {struct.unpack('>d', struct.pack('>d', 1.5))}\" 0",
            "EVAL \"return {struct.size('>i4 h b'), struct.size('!4 b i4'), struct.size('c3 d')}\" 0",
            "EVAL \"return struct.size('s')\" 0",
            "EVAL \"return struct.size('c0')\" 0",
            "EVAL \"return struct.pack('q', 1)\" 0",
            "EVAL \"return struct.pack('i33', 1)\" 0",
            "EVAL \"return struct.pack('!3 i', 1)\" 0",
            "EVAL \"return struct.pack('i', 'x')\" 0",
            "EVAL \"return struct.pack('i')\" 0",
            "EVAL \"return struct.pack('>i16', -1)\" 0",
            "EVAL \"return {struct.unpack('>i16', struct.pack('>i16', -1))}\" 0",
            "EVAL \"return {struct.unpack('>I8', '\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255')}\" 0",
            "EVAL \"return tostring(struct.unpack('>I8', '\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255\\\\255'))\" 0",
            "EVAL \"return struct.pack('>I4', 2^40)\" 0",
            "EVAL \"return struct.pack('>i4', 1.9)\" 0",
            "EVAL \"return struct.pack('>i4', -1.9)\" 0",
            "EVAL \"return struct.pack('i99999999999', 1)\" 0",
            "EVAL \"return struct.size('!')\" 0",
            "EVAL \"return struct.size('!16 d')\" 0",
            "EVAL \"return {struct.unpack('!8 b d', struct.pack('!8 b d', 1, 2))}\" 0",
            "EVAL \"return struct.pack('c', 'abc')\" 0",
            "EVAL \"return {struct.unpack('c', 'abc')}\" 0",
            "EVAL \"return struct.pack('>i4', '12')\" 0",
            "EVAL \"return {struct.unpack('>i4', 'abcd', 1.5)}\" 0",
            "EVAL \"return {struct.pack('s', 'ab'), struct.pack('c0', 'abc'), struct.pack('c2', 'abc')}\" 0",
            "EVAL \"return {struct.pack('<h', -2), struct.pack('>H', 65535), struct.pack('>I3', 70000), struct.pack('<d', -0.5)}\" 0",
            "EVAL \"return {struct.unpack('<h >H <f', '\\\\254\\\\255\\\\255\\\\255\\\\0\\\\0\\\\192\\\\63')}\" 0",
            "EVAL \"return {cmsgpack.unpack(cmsgpack.pack(string.rep('y', 300), string.rep('z', 70000)))}\" 0",
            "EVAL \"local t = {} for i = 1, 20 do t[i] = i end return {cmsgpack.pack(t), cmsgpack.unpack(cmsgpack.pack(t))}\" 0",
            "EVAL \"return cjson.encode(cmsgpack.unpack(cmsgpack.pack({a={1,2,{b='c'}}})))\" 0",
            "EVAL \"return cjson.encode(cjson.decode('{\\\"k\\\":[1,2.5,\\\"x\\\",true,null,{}]}'))\" 0",
            "EVAL \"return cjson.decode('[1e')\" 0",
            "EVAL \"return cjson.decode('\\\"x\\\\\\\\u12\\\"')\" 0",
            "EVAL \"return cjson.decode('[\\\"\\\\\\\\b\\\\\\\\f\\\\\\\\n\\\\\\\\r\\\\\\\\t\\\\\\\\\\\\\\\\\\\"]')\" 0",
            "EVAL \"return cjson.encode({[1]=1, [2]=2, [4]=4})\" 0",
            "EVAL \"return bit.tohex(bit.bor(bit.lshift(0xff, 24), 0x10))\" 0",
            "EVAL \"return {bit.tobit(2^53 + 2), bit.tobit(-2^31), bit.tobit(1/0), bit.arshift(1, -1), bit.rol(1, 33)}\" 0",
        ],
    ),
    (
        "script results to RESP2 and RESP3 clients",
        &[
            "EVAL \"return true\" 0",
            "EVAL \"return false\" 0",
            "EVAL \"return nil\" 0",
            "EVAL \"redis.setresp(3); return true\" 0",
            "EVAL \"redis.setresp(3); return false\" 0",
            "EVAL \"redis.setresp(3); return nil\" 0",
            "EVAL \"return {double=1.5}\" 0",
            "EVAL \"redis.setresp(3); return {double=2.5}\" 0",
            "EVAL \"return {double=3}\" 0",
            "EVAL \"return {big_number='123456789012345678901234567890'}\" 0",
            "EVAL \"return {verbatim_string={format='txt', string='hi'}}\" 0",
            "EVAL \"return {map={a=1}}\" 0",
            "EVAL \"return {set={a=true}}\" 0",
            "EVAL \"return {1, {double=1.5}, {map={x={set={y=true}}}}, {false, true}}\" 0",
            "EVAL \"redis.setresp(3); return {1, {map={x=false}}, {true}}\" 0",
            "EVAL \"return {1, nil, 2}\" 0",
            "EVAL \"return redis.setresp(4)\" 0",
            "EVAL \"return redis.setresp()\" 0",
            "EVAL \"return redis.setresp(3, 4)\" 0",
            "EVAL \"return redis.setresp('3')\" 0",
            "EVAL \"return redis.setresp(3.7)\" 0",
            "EVAL \"return redis.setresp('x')\" 0",
        ],
    ),
];

/// Scripts run against both servers started with `--requirepass pw`, from a fresh,
/// unauthenticated connection (no `FLUSHALL` first).
const AUTH_SCRIPTS: &[(&str, &[&str])] = &[
    (
        "before and after AUTH",
        &[
            "PING",
            "GET k",
            "NOSUCHCOMMAND a",
            "CLIENT ID",
            "GET",
            "CLIENT",
            // (`HELLO 3` before AUTH: latchkey words its NOAUTH as Redis 7.2+, `HELLO <proto>
            // AUTH …`, where 7.0 says `HELLO AUTH …`.)
            "HELLO 3 AUTH default wrong",
            "HELLO 3 AUTH someone pw",
            "AUTH wrong",
            "AUTH default wrong",
            "AUTH someone pw",
            "AUTH a b c",
            "AUTH pw",
            "PING",
            "AUTH default pw",
            "SET k v",
            "GET k",
            "RESET",
            "GET k",
            "AUTH pw",
            "GET k",
        ],
    ),
    // (A successful HELLO names the server's version, which differs by design.)
    (
        "AUTH then SETNAME",
        &["AUTH default pw", "CLIENT SETNAME me", "CLIENT GETNAME"],
    ),
];

/// Where `redis-server` is, if on `PATH`.
fn find_redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A `redis-server` child process, killed on drop.
struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    fn start(binary: &PathBuf, extra: &[&str]) -> RedisServer {
        // Redis cannot pick its own port: take a free one from the OS.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, addr }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The elements of an array reply, for comparing unordered replies; other replies whole.
fn elements(reply: &[u8]) -> Vec<Vec<u8>> {
    let header_end = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
    if !matches!(reply.first(), Some(b'*' | b'~')) || header_end >= reply.len() {
        return vec![reply.to_vec()];
    }
    let mut items = Vec::new();
    let mut at = header_end;
    while at < reply.len() {
        let len = common::frame_len(&reply[at..]).expect("complete element");
        items.push(reply[at..at + len].to_vec());
        at += len;
    }
    items.sort();
    items
}

/// Runs every script against both servers and returns the differences found. With `flush`,
/// each script starts after `FLUSHALL`.
fn compare(
    scripts: &[(&str, &[&str])],
    flush: bool,
    redis: SocketAddr,
    latchkey: SocketAddr,
    resp3: bool,
) -> Vec<String> {
    let mut differences = Vec::new();
    for (name, lines) in scripts {
        let mut clients = [common::Raw::connect(redis), common::Raw::connect(latchkey)];
        for client in &mut clients {
            if flush {
                client.cmd(&[b"FLUSHALL"]);
            }
            if resp3 {
                // The HELLO replies differ (server name, version, id) by design.
                client.cmd(&[b"HELLO", b"3"]);
            }
        }
        for line in *lines {
            let (unordered, command) = match line.strip_prefix("unordered: ") {
                Some(rest) => (true, rest),
                None => (false, *line),
            };
            let args = split_args(command.as_bytes()).expect("script line parses");
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let [expected, actual] = clients.each_mut().map(|c| c.cmd(&args));
            let same = if unordered {
                elements(&expected) == elements(&actual)
            } else {
                expected == actual
            };
            if !same {
                differences.push(format!(
                    "[{name}] {command} (RESP{}):\n  redis:    {:?}\n  latchkey: {:?}",
                    if resp3 { 3 } else { 2 },
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&actual),
                ));
            }
        }
    }
    differences
}

#[test]
fn latchkey_replies_like_redis() {
    let Some(binary) = find_redis_server() else {
        eprintln!("differential test skipped: redis-server is not on PATH");
        return;
    };
    let redis = RedisServer::start(&binary, &[]);
    let latchkey = Server::new(Config::default())
        .start_background()
        .expect("latchkey starts");
    let mut differences = compare(SCRIPTS, true, redis.addr, latchkey.local_addr(), false);
    differences.extend(compare(
        SCRIPTS,
        true,
        redis.addr,
        latchkey.local_addr(),
        true,
    ));
    #[cfg(feature = "lua")]
    for resp3 in [false, true] {
        differences.extend(compare(
            LUA_SCRIPTS,
            true,
            redis.addr,
            latchkey.local_addr(),
            resp3,
        ));
    }
    assert!(
        differences.is_empty(),
        "{} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn latchkey_replies_like_redis_with_a_password() {
    let Some(binary) = find_redis_server() else {
        eprintln!("differential test skipped: redis-server is not on PATH");
        return;
    };
    let redis = RedisServer::start(&binary, &["--requirepass", "pw"]);
    let config = Config {
        requirepass: Some("pw".into()),
        ..Config::default()
    };
    let latchkey = Server::new(config)
        .start_background()
        .expect("latchkey starts");
    let differences = compare(
        AUTH_SCRIPTS,
        false,
        redis.addr,
        latchkey.local_addr(),
        false,
    );
    assert!(
        differences.is_empty(),
        "{} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
