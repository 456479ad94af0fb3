//! What the log holds: commands in RESP, as Redis writes them, and the commands that recreate
//! one key (its value, its deadline as `PXAT`/`PEXPIREAT`, its lock metadata).

use bytes::Bytes;

use super::deadline::ClockPair;
use crate::db::{Entry, LockMeta, Shard, Value};

/// Items per command when an aggregate is written out (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const ITEMS_PER_COMMAND: usize = 64;

/// The internal command that restores a lock granted by `LOCK.ACQUIRE`:
/// `LOCK.RESTORE key token fencing holds [PXAT unix-ms]`. Only the log's loader runs it.
pub const LOCK_RESTORE: &str = "LOCK.RESTORE";
/// The internal command that raises the fencing sequence: `LOCK.SEQUENCE last-token`. Written
/// at the start of every base file, so tokens stay above those of released locks.
pub const LOCK_SEQUENCE: &str = "LOCK.SEQUENCE";

/// Appends `argv` as a RESP array of bulk strings.
pub fn command(out: &mut Vec<u8>, argv: &[Bytes]) {
    header(out, b'*', argv.len());
    for arg in argv {
        header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `SELECT db`.
pub fn select(out: &mut Vec<u8>, db: usize) {
    command(out, &[Bytes::from_static(b"SELECT"), number(db as u64)]);
}

fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn number(n: u64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

fn word(text: &'static str) -> Bytes {
    Bytes::from_static(text.as_bytes())
}

/// The commands that make `key` what it is now in `shard`: `DEL key` when it is absent, else
/// its value (replacing whatever was there), deadline and lock metadata. What a command whose
/// effect depends on time or chance is logged as.
pub fn key_state(shard: &mut Shard, key: &[u8], clocks: ClockPair, out: &mut Vec<Vec<Bytes>>) {
    let key = Bytes::copy_from_slice(key);
    let meta = shard.lock_meta(&key, clocks.now).cloned();
    match shard.get(&key, clocks.now) {
        None => out.push(vec![word("DEL"), key]),
        Some(entry) => entry_commands(&key, entry, meta.as_ref(), clocks, true, out),
    }
}

/// The command that gives `key` its deadline now in `shard`: `PEXPIREAT key unix-ms`, `PERSIST
/// key`, or `DEL key` when it is gone (a deadline in the past deletes).
pub fn key_deadline(shard: &mut Shard, key: &[u8], clocks: ClockPair, out: &mut Vec<Vec<Bytes>>) {
    let key = Bytes::copy_from_slice(key);
    let argv = match shard.get(&key, clocks.now) {
        None => vec![word("DEL"), key],
        Some(entry) if entry.has_deadline() => vec![
            word("PEXPIREAT"),
            key,
            number(clocks.to_unix_ms(entry.deadline())),
        ],
        Some(_) => vec![word("PERSIST"), key],
    };
    out.push(argv);
}

/// The commands that recreate `key` holding `entry`. With `replace`, an aggregate is deleted
/// first (a string `SET` replaces by itself).
pub fn entry_commands(
    key: &Bytes,
    entry: &Entry,
    meta: Option<&LockMeta>,
    clocks: ClockPair,
    replace: bool,
    out: &mut Vec<Vec<Bytes>>,
) {
    let pxat = entry
        .has_deadline()
        .then(|| number(clocks.to_unix_ms(entry.deadline())));
    if let (Value::Str(value), Some(meta)) = (&entry.value, meta) {
        let mut argv = vec![
            word(LOCK_RESTORE),
            key.clone(),
            value.to_bytes(),
            number(meta.fencing),
            number(meta.holds),
        ];
        if let Some(pxat) = pxat {
            argv.extend([word("PXAT"), pxat]);
        }
        out.push(argv);
        return;
    }
    if let Value::Str(value) = &entry.value {
        let mut argv = vec![word("SET"), key.clone(), value.to_bytes()];
        if let Some(pxat) = pxat {
            argv.extend([word("PXAT"), pxat]);
        }
        out.push(argv);
        return;
    }
    if replace {
        out.push(vec![word("DEL"), key.clone()]);
    }
    let mut chunked = |name: &'static str, items: &mut dyn Iterator<Item = Vec<Bytes>>| {
        let mut argv = Vec::new();
        for item in items {
            if argv.is_empty() {
                argv = vec![word(name), key.clone()];
            }
            argv.extend(item);
            if argv.len() >= 2 + ITEMS_PER_COMMAND {
                out.push(std::mem::take(&mut argv));
            }
        }
        if !argv.is_empty() {
            out.push(argv);
        }
    };
    match &entry.value {
        Value::Str(_) => {}
        Value::List(list) => chunked("RPUSH", &mut list.iter().map(|e| vec![e.clone()])),
        Value::Hash(hash) => chunked(
            "HSET",
            &mut hash.iter().map(|(f, v)| vec![f.clone(), v.clone()]),
        ),
        Value::Set(set) => chunked("SADD", &mut set.keys().map(|m| vec![m.clone()])),
        Value::ZSet(zset) => chunked(
            "ZADD",
            &mut zset.iter_from(0, false).map(|(score, member)| {
                vec![
                    Bytes::from(crate::protocol::reply::format_double(score)),
                    member.clone(),
                ]
            }),
        ),
    }
    if let Some(pxat) = pxat {
        out.push(vec![word("PEXPIREAT"), key.clone(), pxat]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Str, NO_DEADLINE};

    #[test]
    fn commands_as_redis_writes_them() {
        let mut out = Vec::new();
        select(&mut out, 3);
        command(&mut out, &[word("SET"), word("k"), word("v")]);
        assert_eq!(
            out,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }

    use crate::clock::ms;

    #[test]
    fn key_states() {
        let clocks = ClockPair {
            now: ms(100),
            unix_us: 1_000_000_000,
        };
        let mut shard = Shard::default();
        shard.insert(b"s", Value::Str(Str::from("v")), ms(600), ms(100));
        shard.insert(b"p", Value::Str(Str::from("w")), NO_DEADLINE, ms(100));
        shard.insert(b"l", Value::Str(Str::from("t")), ms(1100), ms(100));
        shard.set_lock_meta(
            b"l",
            LockMeta {
                token: Bytes::from("t"),
                fencing: 7,
                holds: 2,
            },
        );
        let mut out = Vec::new();
        for key in [&b"s"[..], b"p", b"l", b"gone"] {
            key_state(&mut shard, key, clocks, &mut out);
        }
        let text: Vec<Vec<&[u8]>> = out
            .iter()
            .map(|argv| argv.iter().map(|a| &a[..]).collect())
            .collect();
        assert_eq!(
            text,
            vec![
                vec![&b"SET"[..], b"s", b"v", b"PXAT", b"1000500"],
                vec![&b"SET"[..], b"p", b"w"],
                vec![
                    &b"LOCK.RESTORE"[..],
                    b"l",
                    b"t",
                    b"7",
                    b"2",
                    b"PXAT",
                    b"1001000"
                ],
                vec![&b"DEL"[..], b"gone"],
            ]
        );
    }
}
