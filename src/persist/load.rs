//! Loading the log at start (and for `DEBUG LOADAOF`/`DEBUG RELOAD`): the files the manifest
//! names are read in order and their commands replayed.
//!
//! The replay runs at keyspace time [`REPLAY_NOW`], before every deadline, so no key expires
//! while the log is replayed (as Redis does not expire keys while loading): a command that
//! changed a key with a lease replays on that key. Once the replay is over, keys whose
//! deadline has passed are dropped. Deadlines are converted from the log's wall-clock times
//! with one reading of both clocks ([`super::deadline`]).
//!
//! The state forms the log is written in (`SET key value [PXAT t]`, `PEXPIREAT`,
//! `LOCK.RESTORE`, `LOCK.SEQUENCE`) are applied here directly; every other command runs
//! through the dispatcher as a client would send it. `MULTI`/`EXEC` groups are applied whole.
//!
//! A last command cut short (a crash in the middle of a write) is dropped with a warning, as
//! Redis does with `aof-load-truncated yes`, and the file truncated before it; a malformed
//! command anywhere else stops the start, naming the file and the offset.

use crate::clock::MonoTime;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;

use super::deadline::ClockPair;
use super::encode::{LOCK_RESTORE, LOCK_SEQUENCE};
use super::manifest::{Layout, Manifest};
use crate::client::{Client, ClientInfo};
use crate::command::{self, Outcome};
use crate::db::{LockMeta, ShardGuards, Str, Value, NO_DEADLINE};
use crate::protocol::Reply;
use crate::server::Shared;

/// The keyspace time commands see while the log is replayed: before every deadline.
pub const REPLAY_NOW: MonoTime = MonoTime::from_micros(0);

/// What a load found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub commands: u64,
    /// The length the last file was cut to, when its end was incomplete.
    pub truncated_to: Option<u64>,
}

/// Loads every file `manifest` names, in order.
pub fn load_files(
    shared: &Arc<Shared>,
    layout: &Layout,
    manifest: &Manifest,
) -> io::Result<Loaded> {
    let mut replay = Replay::new(shared);
    let parts: Vec<_> = manifest.parts().collect();
    let mut loaded = Loaded::default();
    for (index, part) in parts.iter().enumerate() {
        let path = layout.path(&part.name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // An empty incremental file may not exist yet after a crash in a rewrite.
            Err(error) if error.kind() == io::ErrorKind::NotFound && index > 0 => continue,
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                ))
            }
        };
        let last = index + 1 == parts.len();
        let valid = replay.bytes(&bytes, &part.name, last)?;
        if valid < bytes.len() as u64 {
            loaded.truncated_to = Some(valid);
        }
    }
    loaded.commands = replay.commands;
    replay.finish();
    Ok(loaded)
}

/// Replays commands held in memory (`DEBUG RELOAD`).
pub fn load_bytes(shared: &Arc<Shared>, bytes: &[u8]) -> io::Result<()> {
    let mut replay = Replay::new(shared);
    replay.bytes(bytes, "memory", false)?;
    replay.finish();
    Ok(())
}

/// One command read from a file.
enum Parsed {
    Command(Vec<Bytes>, usize),
    /// An annotation line (`#…`), skipped.
    Skip(usize),
    End,
    Incomplete,
    Bad,
}

/// Reads the command at the start of `input`.
fn parse(input: &[u8]) -> Parsed {
    if input.is_empty() {
        return Parsed::End;
    }
    if input[0] == b'#' {
        return match find_crlf(input) {
            Some(end) => Parsed::Skip(end + 2),
            None => Parsed::Incomplete,
        };
    }
    let mut at = 0;
    let count = match header(input, &mut at, b'*') {
        Ok(count) if count >= 1 => count,
        Ok(_) => return Parsed::Bad,
        Err(parsed) => return parsed,
    };
    // No allocation sized by the file's claim: arguments are pushed as they are read.
    let mut argv = Vec::new();
    for _ in 0..count {
        let len = match header(input, &mut at, b'$') {
            Ok(len) => len,
            Err(parsed) => return parsed,
        };
        let Some(end) = at.checked_add(len).filter(|end| end + 2 <= input.len()) else {
            return Parsed::Incomplete;
        };
        if &input[end..end + 2] != b"\r\n" {
            return Parsed::Bad;
        }
        argv.push(Bytes::copy_from_slice(&input[at..end]));
        at = end + 2;
    }
    Parsed::Command(argv, at)
}

/// Reads `<kind><number>\r\n` at `*at`.
fn header(input: &[u8], at: &mut usize, kind: u8) -> Result<usize, Parsed> {
    let rest = &input[*at..];
    if rest.is_empty() {
        return Err(Parsed::Incomplete);
    }
    if rest[0] != kind {
        return Err(Parsed::Bad);
    }
    let Some(end) = find_crlf(rest) else {
        // A header longer than any number is not a cut-off one.
        return Err(if rest.len() > 24 {
            Parsed::Bad
        } else {
            Parsed::Incomplete
        });
    };
    let number = std::str::from_utf8(&rest[1..end])
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .ok_or(Parsed::Bad)?;
    *at += end + 2;
    Ok(number)
}

fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|pair| pair == b"\r\n")
}

/// The state of a replay: a client of its own (any command allowed, never blocking), one
/// reading of both clocks, the `MULTI` group being read.
struct Replay<'s> {
    shared: &'s Arc<Shared>,
    client: Client,
    clocks: ClockPair,
    group: Option<Vec<Vec<Bytes>>>,
    commands: u64,
}

impl<'s> Replay<'s> {
    fn new(shared: &'s Arc<Shared>) -> Self {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut client = Client::new(Arc::new(ClientInfo::new(0, addr, addr)), true);
        client.replaying = true;
        // Never blocks: a blocking pop replays as the pop it was.
        client.in_exec = true;
        Replay {
            shared,
            client,
            clocks: ClockPair::read(&*shared.keyspace.clock),
            group: None,
            commands: 0,
        }
    }

    /// Replays one file's bytes; returns the length up to the last complete command (outside
    /// an unfinished `MULTI`).
    fn bytes(&mut self, bytes: &[u8], name: &str, last: bool) -> io::Result<u64> {
        let mut offset = 0;
        let mut valid = 0;
        loop {
            match parse(&bytes[offset..]) {
                Parsed::Command(argv, used) => {
                    offset += used;
                    self.command(argv).map_err(|reason| {
                        invalid(format!(
                            "{reason} reading the append only file {name} at offset {}",
                            offset - used
                        ))
                    })?;
                    if self.group.is_none() {
                        valid = offset;
                    }
                }
                Parsed::Skip(used) => {
                    offset += used;
                    if self.group.is_none() {
                        valid = offset;
                    }
                }
                Parsed::End => break,
                Parsed::Incomplete if last => {
                    tracing::warn!(
                        "!!! Warning: short read while loading the AOF file {name}!!! \
                         AOF loaded anyway because aof-load-truncated is enabled \
                         (the last command, at offset {valid}, was dropped)"
                    );
                    break;
                }
                Parsed::Incomplete | Parsed::Bad => {
                    return Err(invalid(format!(
                        "Bad file format reading the append only file {name} at offset \
                         {offset}: make a backup of your AOF file, then use \
                         redis-check-aof --fix <filename.manifest>"
                    )));
                }
            }
        }
        if self.group.take().is_some() {
            tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
        }
        Ok(valid as u64)
    }

    fn command(&mut self, argv: Vec<Bytes>) -> Result<(), String> {
        let name = argv[0].to_ascii_lowercase();
        match (&name[..], &mut self.group) {
            (b"multi", None) => self.group = Some(Vec::new()),
            (b"multi", Some(_)) => return Err("Unexpected MULTI".into()),
            (b"exec", group) => {
                let group = group.take().ok_or("Unexpected EXEC")?;
                for argv in group {
                    self.apply(argv)?;
                }
            }
            (_, Some(group)) => group.push(argv),
            (_, None) => self.apply(argv)?,
        }
        Ok(())
    }

    /// Applies one command.
    fn apply(&mut self, argv: Vec<Bytes>) -> Result<(), String> {
        self.commands += 1;
        let name = argv[0].to_ascii_uppercase();
        let is_pxat = |arg: &Bytes| arg.eq_ignore_ascii_case(b"PXAT");
        match (&name[..], argv.len()) {
            (b"SET", 3) => self.set(&argv[1], &argv[2], None),
            (b"SET", 5) if is_pxat(&argv[3]) => self.set(&argv[1], &argv[2], Some(&argv[4])),
            (b"PEXPIREAT", 3) => {
                let deadline = self.deadline(&argv[2])?;
                let mut guards = ShardGuards::new(&self.shared.keyspace);
                let shard = guards
                    .shard(self.client.db, &argv[1])
                    .map_err(|e| e.0.to_string())?;
                shard.set_deadline(&argv[1], deadline, REPLAY_NOW);
                Ok(())
            }
            _ if name == LOCK_RESTORE.as_bytes() => self.restore_lock(&argv),
            _ if name == LOCK_SEQUENCE.as_bytes() => {
                let last = argv.get(1).ok_or("Bad LOCK.SEQUENCE")?;
                self.shared.fencing.raise_to(number(last)?);
                Ok(())
            }
            _ => self.dispatch(&argv),
        }
    }

    fn set(&mut self, key: &[u8], value: &Bytes, pxat: Option<&Bytes>) -> Result<(), String> {
        let deadline = match pxat {
            Some(pxat) => self.deadline(pxat)?,
            None => NO_DEADLINE,
        };
        let mut guards = ShardGuards::new(&self.shared.keyspace);
        let shard = guards
            .shard(self.client.db, key)
            .map_err(|e| e.0.to_string())?;
        shard.insert(key, Value::Str(Str::from(value)), deadline, REPLAY_NOW);
        Ok(())
    }

    /// `LOCK.RESTORE key token fencing holds [PXAT t]`.
    fn restore_lock(&mut self, argv: &[Bytes]) -> Result<(), String> {
        let bad = || "Bad LOCK.RESTORE".to_string();
        let [_, key, token, fencing, holds, rest @ ..] = argv else {
            return Err(bad());
        };
        let deadline = match rest {
            [] => NO_DEADLINE,
            [word, pxat] if word.eq_ignore_ascii_case(b"PXAT") => self.deadline(pxat)?,
            _ => return Err(bad()),
        };
        let meta = LockMeta {
            token: token.clone(),
            fencing: number(fencing)?,
            holds: number(holds)?.max(1),
        };
        self.shared.fencing.raise_to(meta.fencing);
        let mut guards = ShardGuards::new(&self.shared.keyspace);
        let shard = guards
            .shard(self.client.db, key)
            .map_err(|e| e.0.to_string())?;
        shard.insert(key, Value::Str(Str::from(token)), deadline, REPLAY_NOW);
        shard.set_lock_meta(key, meta);
        Ok(())
    }

    fn deadline(&self, unix_ms: &[u8]) -> Result<MonoTime, String> {
        Ok(self.clocks.from_unix_ms(number(unix_ms)?))
    }

    /// Runs a command through the dispatcher; an unknown command stops the load, as in Redis.
    fn dispatch(&mut self, argv: &[Bytes]) -> Result<(), String> {
        let reply = match command::execute(self.shared, &mut self.client, argv) {
            Outcome::Reply(reply) => reply,
            Outcome::Block(_) => return Ok(()),
        };
        match reply {
            Reply::Error(text) if text.starts_with("ERR unknown command") => Err(format!(
                "Unknown command '{}'",
                String::from_utf8_lossy(&argv[0])
            )),
            Reply::Error(text) => {
                tracing::warn!("command from the AOF failed: {text}");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Drops the keys whose deadline passed before the load (or while the server was down).
    fn finish(self) {
        let keyspace = &self.shared.keyspace;
        let now = keyspace.now();
        for index in 0..keyspace.shard_count() {
            let mut shard = keyspace.shard_mutex(index).lock();
            shard.expire_due(now, usize::MAX);
            shard.take_expired_keys();
            if shard.has_effects() {
                keyspace.journal_effects(index, &mut shard);
            }
        }
    }
}

fn number(arg: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| format!("Bad number '{}'", String::from_utf8_lossy(arg)))
}

fn invalid(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_tells_cut_from_corrupt() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        match parse(input) {
            Parsed::Command(argv, used) => {
                assert_eq!(argv, vec![Bytes::from("GET"), Bytes::from("k")]);
                assert_eq!(used, input.len());
            }
            _ => panic!("not parsed"),
        }
        for cut in 1..input.len() {
            assert!(matches!(parse(&input[..cut]), Parsed::Incomplete), "{cut}");
        }
        assert!(matches!(parse(b"*2\r\n$3\r\nGETX\r\n"), Parsed::Bad));
        assert!(matches!(parse(b"hello\r\n"), Parsed::Bad));
        assert!(matches!(parse(b"#TS:1\r\n"), Parsed::Skip(7)));
        assert!(matches!(parse(b""), Parsed::End));
    }
}
