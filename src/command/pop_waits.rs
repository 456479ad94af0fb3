//! Blocking pops: `BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH` on lists, `BZPOPMIN`, `BZPOPMAX`
//! on sorted sets.
//!
//! When every key is empty the command queues a `PopWaiter` on each of its keys (the shard's
//! FIFO waiter queues) and hands the connection a future that waits on a oneshot channel. The
//! shard offers a changed key to its waiters under its lock, right after the command that
//! changed it: the first waiter pops an element and sends it; the element never sits unowned
//! in between, so waiters are served in arrival order. One channel sender, shared by the
//! waiter's entries on all its keys, makes sure a client is served once. A waiter whose client
//! left is skipped; an element sent to a client that leaves before taking it goes back to the
//! list or sorted set it came from (and from there to the next waiter).
//!
//! Timeouts are real time (tokio's timer), not the keyspace clock. Inside a script or a
//! transaction nothing blocks: an empty key answers as an expired timeout would.

use crate::clock::MonoTime;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::aggregate::modify;
use super::lists::{move_element, parse_end};
use super::{Ctx, Outcome};
use crate::db::list::{End, List};
use crate::db::zset::ZSet;
use crate::db::{KeyWaiter, Keyspace, Shard, ShardGuards};
use crate::errors::Error;
use crate::notify::class;
use crate::protocol::Reply;

/// Where a blocked pop takes from: an end of a list, or the lowest or highest of a sorted set.
#[derive(Clone, Copy, Debug)]
enum Source {
    List(End),
    ZSet { highest: bool },
}

/// What a pop took.
#[derive(Debug, PartialEq)]
enum Item {
    Element(Bytes),
    Scored(Bytes, f64),
}

impl Source {
    /// The keyspace event of a pop from this source, as Redis names it.
    fn event(self) -> (u32, &'static str) {
        match self {
            Source::List(end) => (class::LIST, super::lists::pop_event(end)),
            Source::ZSet { highest: false } => (class::ZSET, "zpopmin"),
            Source::ZSet { highest: true } => (class::ZSET, "zpopmax"),
        }
    }

    /// Pops one item from `key`: `Ok(None)` when absent, `WRONGTYPE` for another type.
    fn take(self, shard: &mut Shard, key: &[u8], now: MonoTime) -> Result<Option<Item>, Error> {
        let popped = match self {
            Source::List(end) => modify(shard, key, now, false, |list: &mut List| {
                list.pop(end).map(Item::Element)
            })?,
            Source::ZSet { highest } => modify(shard, key, now, false, |zset: &mut ZSet| {
                let (score, member) = zset
                    .iter_from(0, highest)
                    .next()
                    .map(|(score, member)| (score, member.clone()))?;
                zset.remove(&member);
                Some(Item::Scored(member, score))
            })?,
        };
        Ok(popped.flatten())
    }

    /// Puts an item back where [`Source::take`] found it.
    fn put_back(self, shard: &mut Shard, key: &[u8], now: MonoTime, item: Item) {
        let _ = match (self, item) {
            (Source::List(end), Item::Element(element)) => {
                modify(shard, key, now, true, |list: &mut List| {
                    list.push(end, element)
                })
            }
            (Source::ZSet { .. }, Item::Scored(member, score)) => {
                modify(shard, key, now, true, |zset: &mut ZSet| {
                    zset.insert(member, score);
                })
            }
            _ => Ok(None),
        };
    }
}

/// What a served waiter receives: the key it was served from, the item, and whether the pop
/// emptied the key (for the keyspace events the client's task publishes).
type Delivery = (Bytes, Item, bool);
/// The sender half, shared by a waiter's entries on all its keys; `None` once used.
type Slot = Arc<Mutex<Option<oneshot::Sender<Delivery>>>>;

/// A blocked pop queued on one key.
struct PopWaiter {
    slot: Slot,
    source: Source,
}

impl KeyWaiter for PopWaiter {
    fn try_serve(&mut self, shard: &mut Shard, key: &Bytes, now: MonoTime) -> bool {
        let mut slot = self.slot.lock();
        match slot.as_ref() {
            None => return true,
            Some(sender) if sender.is_closed() => {
                *slot = None;
                return true;
            }
            Some(_) => {}
        }
        // A key of another type leaves the waiter blocked, as in Redis.
        let Ok(Some(item)) = self.source.take(shard, key, now) else {
            return false;
        };
        let Some(sender) = slot.take() else {
            return true;
        };
        let emptied = !shard.contains(key, now);
        if let Err((_, item, _)) = sender.send((key.clone(), item, emptied)) {
            // The client left between the check and the send: the item goes back, to be
            // offered to the next waiter in the queue.
            self.source.put_back(shard, key, now, item);
        }
        true
    }

    fn is_abandoned(&self) -> bool {
        self.slot.lock().as_ref().is_none_or(|s| s.is_closed())
    }
}

/// The receiving end of a blocked pop. If it is dropped while an element is in flight (the
/// client disconnected just as it was served), the element is pushed back where it came from.
struct Pending {
    receiver: Option<oneshot::Receiver<Delivery>>,
    /// `DEBUG ADVANCE`'s moves of the clock, followed from the moment the pop queued.
    clock_moves: watch::Receiver<Duration>,
    /// The clock's total move when the pop queued: moves after it count against the timeout,
    /// even those made before the wait is first polled.
    moved_when_queued: Duration,
    keyspace: Arc<Keyspace>,
    db: usize,
    source: Source,
}

impl Pending {
    /// Waits for an element, for `timeout` (`None`: forever). `DEBUG ADVANCE` brings the end of
    /// the wait forward by as much as it moves the clock.
    async fn wait(&mut self, timeout: Option<Duration>) -> Option<Delivery> {
        let clock_moves = &mut self.clock_moves;
        let mut moved = self.moved_when_queued;
        // `None`: no end (no timeout, or one too far off to be a point in time).
        let mut give_up_at = timeout.and_then(|limit| Instant::now().checked_add(limit));
        let receiver = self.receiver.as_mut()?;
        let delivered = loop {
            let timer = async {
                match give_up_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                result = &mut *receiver => break result.ok(),
                Ok(()) = clock_moves.changed() => {
                    let total = *clock_moves.borrow_and_update();
                    let by = total.saturating_sub(moved);
                    moved = total;
                    give_up_at = give_up_at.map(|at| at.checked_sub(by).unwrap_or_else(Instant::now));
                }
                _ = timer => {
                    // Closing first means nothing can be sent after the check below.
                    receiver.close();
                    break receiver.try_recv().ok();
                }
            }
        };
        self.receiver = None;
        delivered
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        receiver.close();
        if let Ok((key, item, _)) = receiver.try_recv() {
            push_back(&self.keyspace, self.db, &key, self.source, item);
        }
    }
}

/// Returns an item to where it was popped from. Runs outside any command, so it takes the
/// shard itself; releasing it offers the item to the key's next waiter.
fn push_back(keyspace: &Keyspace, db: usize, key: &Bytes, source: Source, item: Item) {
    let mut guards = ShardGuards::new(keyspace);
    let now = keyspace.now();
    if let Ok(shard) = guards.shard(db, key) {
        source.put_back(shard, key, now, item);
    }
}

/// The longest wait a timeout asks for that is kept as given; longer ones (Redis accepts up to
/// 2^63 ms) wait this long, which is as good as forever.
const MAX_BLOCK: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A blocking timeout in seconds (decimals allowed, `0` = forever), read as Redis 7.0 reads
/// it: a long double, times 1000, rounded up to whole milliseconds and converted to a signed
/// 64-bit count. So `-0.0009` rounds to 0 (forever), and 2^63 ms or more (`inf`, `1e20`,
/// `9223372036854775807`) wraps to a negative count: `timeout is negative`, Redis 7.0's text
/// (7.2 and later say `timeout is out of range`).
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Error> {
    let seconds =
        timeout_seconds(arg).ok_or(Error::fixed("ERR timeout is not a float or out of range"))?;
    let ms = (seconds * 1000.0).ceil();
    // 2^63 and beyond: what a conversion to a signed 64-bit count makes negative.
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(Error::fixed("ERR timeout is negative"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64).min(MAX_BLOCK)))
}

/// The longest text Redis reads as a long double (`MAX_LONG_DOUBLE_CHARS`, less its NUL).
const MAX_LONG_DOUBLE_TEXT: usize = 5 * 1024 - 1;
/// The decimal exponents a long double reaches (x86's 80-bit format: about 1.19e4932 down to
/// 3.6e-4951): a number beyond them is not a float for Redis (`strtold`'s `ERANGE`).
const LONG_DOUBLE_EXPONENTS: std::ops::RangeInclusive<i64> = -4951..=4932;

/// A timeout as a number of seconds, as Redis's `string2ld` accepts it; an `f64` stands in for
/// the long double. A number an `f64` cannot hold but a long double can reads as an infinity
/// (too large) or as the smallest positive or negative `f64` (too small), which lead to the
/// same replies. Known differences, from the narrower type: within about a second of 2^63 ms
/// (`9223372036854775.5` is refused, Redis waits), and negative values that the long double
/// rounds just above a whole millisecond (`-0.001`: Redis waits forever, this refuses).
/// Hexadecimal numbers (`0x10`), which `strtold` reads, are not floats here.
fn timeout_seconds(arg: &[u8]) -> Option<f64> {
    if arg.len() > MAX_LONG_DOUBLE_TEXT {
        return None;
    }
    let value = super::args::parse_f64(arg)?;
    let spelled_infinity = arg.iter().any(|b| b.eq_ignore_ascii_case(&b'i'));
    if (value.is_infinite() && !spelled_infinity) || value == 0.0 {
        let Some(exponent) = decimal_exponent(arg) else {
            return Some(value); // A true zero.
        };
        if !LONG_DOUBLE_EXPONENTS.contains(&exponent) {
            return None;
        }
        if value == 0.0 {
            return Some(f64::from_bits(1).copysign(value));
        }
    }
    Some(value)
}

/// The decimal exponent of the first significant digit of a number written as
/// `[sign]digits[.digits][e[sign]digits]` (`12.5` → 1, `0.03` → -2, `4e-7` → -7); `None` when
/// every digit is zero, or the text is not in that form.
fn decimal_exponent(text: &[u8]) -> Option<i64> {
    let text = text
        .strip_prefix(b"-")
        .or(text.strip_prefix(b"+"))
        .unwrap_or(text);
    let (mantissa, exponent) = match text.iter().position(|b| b.eq_ignore_ascii_case(&b'e')) {
        Some(e) => (&text[..e], std::str::from_utf8(&text[e + 1..]).ok()?),
        None => (text, "0"),
    };
    // A long exponent saturates: it is far outside a long double's range either way.
    let exponent: i64 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
        i64::MIN / 2
    } else {
        i64::MAX / 2
    });
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let first = mantissa.iter().position(|&b| (b'1'..=b'9').contains(&b))?;
    // Digits before the point count from `point - 1` down to 0; after it, from -1 down.
    let place = if first < point {
        (point - 1 - first) as i64
    } else {
        -((first - point) as i64)
    };
    Some(exponent.saturating_add(place))
}

/// Queues a pop waiter on each of `keys` and returns the receiving end.
fn register(ctx: &mut Ctx, keys: &[Bytes], source: Source) -> Result<Pending, Error> {
    // Followed before the pop queues, so that no move of the clock is missed.
    let clock_moves = ctx.shared.keyspace.clock_moves();
    let moved_when_queued = *clock_moves.borrow();
    let (sender, receiver) = oneshot::channel();
    let slot: Slot = Arc::new(Mutex::new(Some(sender)));
    for key in keys {
        let waiter = PopWaiter {
            slot: slot.clone(),
            source,
        };
        ctx.shard(key)?.add_waiter(key, Box::new(waiter));
    }
    Ok(Pending {
        receiver: Some(receiver),
        clock_moves,
        moved_when_queued,
        keyspace: ctx.shared.keyspace.clone(),
        db: ctx.db(),
        source,
    })
}

/// `BLPOP`, `BRPOP`, `BZPOPMIN`, `BZPOPMAX` `key [key …] timeout`: from the first key that
/// has an item, at once or after blocking; the null array on timeout.
fn blocking_pop(ctx: &mut Ctx, args: &[Bytes], source: Source) -> Result<Outcome, Error> {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let timeout = parse_timeout(&timeout[0])?;
    let now = ctx.now;
    for key in keys {
        if let Some(item) = source.take(ctx.shard(key)?, key, now)? {
            let (event_class, event) = source.event();
            ctx.notify_aggregate(event_class, event, key);
            return Ok(Outcome::Reply(popped_reply(key.clone(), item)));
        }
    }
    if !ctx.may_block() {
        return Ok(Outcome::Reply(Reply::NilArray));
    }
    let mut pending = register(ctx, keys, source)?;
    let (notifier, db) = (ctx.shared.notify.clone(), ctx.db());
    Ok(Outcome::Block(Box::pin(async move {
        match pending.wait(timeout).await {
            Some((key, item, emptied)) => {
                let (event_class, event) = source.event();
                notifier.event(event_class, event, &key, db);
                if emptied {
                    notifier.event(class::GENERIC, "del", &key, db);
                }
                popped_reply(key, item)
            }
            None => Reply::NilArray,
        }
    })))
}

/// `[key, element]`, or `[key, member, score]` for a sorted set.
fn popped_reply(key: Bytes, item: Item) -> Reply {
    Reply::Array(match item {
        Item::Element(element) => vec![Reply::Bulk(key), Reply::Bulk(element)],
        Item::Scored(member, score) => {
            vec![Reply::Bulk(key), Reply::Bulk(member), Reply::Double(score)]
        }
    })
}

pub fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    blocking_pop(ctx, args, Source::List(End::Left))
}

pub fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    blocking_pop(ctx, args, Source::List(End::Right))
}

pub fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    blocking_pop(ctx, args, Source::ZSet { highest: false })
}

pub fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    blocking_pop(ctx, args, Source::ZSet { highest: true })
}

/// `BLMOVE`/`BRPOPLPUSH`: `LMOVE` at once when the source has an element; otherwise waits for
/// one, then pushes it to the destination (back to the source, with `WRONGTYPE`, if the
/// destination has meanwhile become another type).
fn blocking_move(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: Option<Duration>,
) -> Result<Outcome, Error> {
    let (source, destination) = (args[1].clone(), args[2].clone());
    if let Some(item) = move_element(ctx, &source, &destination, from, to)? {
        return Ok(Outcome::Reply(Reply::Bulk(item)));
    }
    if !ctx.may_block() {
        return Ok(Outcome::Reply(Reply::NilArray));
    }
    let mut pending = register(ctx, std::slice::from_ref(&source), Source::List(from))?;
    let (keyspace, db) = (ctx.shared.keyspace.clone(), ctx.db());
    let notifier = ctx.shared.notify.clone();
    Ok(Outcome::Block(Box::pin(async move {
        let Some((_, Item::Element(item), emptied)) = pending.wait(timeout).await else {
            return Reply::NilArray;
        };
        let reply = finish_move(&keyspace, db, &source, &destination, from, to, item);
        if !reply.is_error() {
            // As Redis: the push on the destination, then the pop on the source.
            notifier.event(class::LIST, super::lists::push_event(to), &destination, db);
            notifier.event(class::LIST, super::lists::pop_event(from), &source, db);
            if emptied {
                notifier.event(class::GENERIC, "del", &source, db);
            }
        }
        reply
    })))
}

/// Pushes a blocked `BLMOVE`'s element to its destination.
fn finish_move(
    keyspace: &Keyspace,
    db: usize,
    source: &Bytes,
    destination: &Bytes,
    from: End,
    to: End,
    item: Bytes,
) -> Reply {
    let mut guards = ShardGuards::new(keyspace);
    let now = keyspace.now();
    let keys = [&source[..], &destination[..]];
    if let Err(error) = guards.lock_keys(db, keys) {
        return error.into();
    }
    let pushed = guards.shard(db, destination).and_then(|shard| {
        modify(shard, destination, now, true, |list: &mut List| {
            list.push(to, item.clone())
        })
    });
    match pushed {
        Ok(_) => Reply::Bulk(item),
        Err(error) => {
            if let Ok(shard) = guards.shard(db, source) {
                let _ = modify(shard, source, now, true, |list: &mut List| {
                    list.push(from, item)
                });
            }
            error.into()
        }
    }
}

pub fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    let (from, to) = (parse_end(&args[3])?, parse_end(&args[4])?);
    let timeout = parse_timeout(&args[5])?;
    blocking_move(ctx, args, from, to, timeout)
}

pub fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Error> {
    let timeout = parse_timeout(&args[3])?;
    blocking_move(ctx, args, End::Right, End::Left, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn list_items(keyspace: &Keyspace, key: &[u8]) -> Vec<Bytes> {
        let mut guards = ShardGuards::new(keyspace);
        let now = keyspace.now();
        let shard = guards.shard(0, key).unwrap();
        super::super::aggregate::read::<List>(shard, key, now)
            .unwrap()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn an_element_in_flight_to_a_departed_client_goes_back() {
        let keyspace = Arc::new(Keyspace::new(1, 2, ManualClock::new()));
        let key = Bytes::from("q");
        let source = Source::List(End::Left);
        push_back(
            &keyspace,
            0,
            &key,
            Source::List(End::Right),
            Item::Element(Bytes::from("b")),
        );
        let (sender, receiver) = oneshot::channel();
        let pending = Pending {
            receiver: Some(receiver),
            clock_moves: keyspace.clock_moves(),
            moved_when_queued: Duration::ZERO,
            keyspace: keyspace.clone(),
            db: 0,
            source,
        };
        sender
            .send((key.clone(), Item::Element(Bytes::from("a")), false))
            .unwrap();
        // The connection drops the blocked reply without polling it: the client left.
        drop(pending);
        assert_eq!(
            list_items(&keyspace, b"q"),
            vec![Bytes::from("a"), Bytes::from("b")]
        );
    }

    #[test]
    fn a_waiter_whose_client_left_is_skipped() {
        let keyspace = Keyspace::new(1, 1, ManualClock::new());
        let (gone_sender, gone_receiver) = oneshot::channel();
        let (sender, mut receiver) = oneshot::channel();
        drop(gone_receiver);
        let mut guards = ShardGuards::new(&keyspace);
        let shard = guards.shard(0, b"q").unwrap();
        for sender in [gone_sender, sender] {
            let waiter = PopWaiter {
                slot: Arc::new(Mutex::new(Some(sender))),
                source: Source::List(End::Left),
            };
            shard.add_waiter(b"q", Box::new(waiter));
        }
        modify(shard, b"q", MonoTime::default(), true, |list: &mut List| {
            list.push(End::Right, Bytes::from("x"))
        })
        .unwrap();
        drop(guards);
        assert_eq!(
            receiver.try_recv().unwrap(),
            (Bytes::from("q"), Item::Element(Bytes::from("x")), true)
        );
        assert!(list_items(&keyspace, b"q").is_empty());
    }

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0").unwrap(), None);
        assert_eq!(
            parse_timeout(b"1.5").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_timeout(b"0.0001").unwrap(),
            Some(Duration::from_millis(1))
        );
        // Rounded up: a tiny wait is 1 ms, a tiny negative one is 0 (forever).
        for forever in [&b"-0"[..], b"-0.0009", b"-1e-400", b"0e99999"] {
            assert_eq!(parse_timeout(forever).unwrap(), None, "{forever:?}");
        }
        for one_ms in [&b"1e-400"[..], b"0.0000000000000000001", b"1e-4950"] {
            assert_eq!(
                parse_timeout(one_ms).unwrap(),
                Some(Duration::from_millis(1)),
                "{one_ms:?}"
            );
        }
        // Just under 2^63 ms: accepted, and waits as good as forever.
        assert_eq!(parse_timeout(b"9223372036854774").unwrap(), Some(MAX_BLOCK));
        for (arg, error) in [
            (&b"-1"[..], "ERR timeout is negative"),
            (b"inf", "ERR timeout is negative"),
            (b"-inf", "ERR timeout is negative"),
            (b"1e20", "ERR timeout is negative"),
            (b"1e400", "ERR timeout is negative"),
            (b"9223372036854775807", "ERR timeout is negative"),
            (b"9223372036854775.808", "ERR timeout is negative"),
            (b"x", "ERR timeout is not a float or out of range"),
            (b"", "ERR timeout is not a float or out of range"),
            (b" 1", "ERR timeout is not a float or out of range"),
            (b"nan", "ERR timeout is not a float or out of range"),
            (b"1e5000", "ERR timeout is not a float or out of range"),
            (b"1e-5000", "ERR timeout is not a float or out of range"),
            (
                b"-1e99999999999999999999",
                "ERR timeout is not a float or out of range",
            ),
        ] {
            assert_eq!(parse_timeout(arg).unwrap_err().0, error, "{arg:?}");
        }
        let long = format!("0.{}1", "0".repeat(MAX_LONG_DOUBLE_TEXT));
        assert!(parse_timeout(long.as_bytes()).is_err());
    }

    #[test]
    fn decimal_exponents() {
        for (text, exponent) in [
            (&b"12.5"[..], Some(1)),
            (b"0.03", Some(-2)),
            (b"4e-7", Some(-7)),
            (b"-0.5E3", Some(2)),
            (b"000", None),
            (b"0.0e5", None),
        ] {
            assert_eq!(decimal_exponent(text), exponent, "{text:?}");
        }
    }
}

#[cfg(test)]
mod zset_tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_scored_member_in_flight_to_a_departed_client_goes_back() {
        let keyspace = Arc::new(Keyspace::new(1, 1, ManualClock::new()));
        let key = Bytes::from("z");
        let (sender, receiver) = oneshot::channel();
        let pending = Pending {
            receiver: Some(receiver),
            clock_moves: keyspace.clock_moves(),
            moved_when_queued: Duration::ZERO,
            keyspace: keyspace.clone(),
            db: 0,
            source: Source::ZSet { highest: false },
        };
        sender
            .send((key.clone(), Item::Scored(Bytes::from("m"), 2.5), false))
            .unwrap();
        drop(pending);
        let mut guards = ShardGuards::new(&keyspace);
        let shard = guards.shard(0, b"z").unwrap();
        let zset = super::super::aggregate::read::<ZSet>(shard, b"z", MonoTime::default())
            .unwrap()
            .unwrap();
        assert_eq!(zset.score(b"m"), Some(2.5));
    }
}

#[cfg(test)]
mod advance_tests {
    use super::*;
    use crate::clock::ManualClock;

    /// A `DEBUG ADVANCE` made after the pop queued but before its wait is first polled (the
    /// client already shows as blocked) still counts against the timeout.
    #[test]
    fn a_move_before_the_first_poll_counts() {
        let keyspace = Arc::new(Keyspace::new(1, 1, ManualClock::new()));
        let clock_moves = keyspace.clock_moves();
        let moved_when_queued = *clock_moves.borrow();
        let (_sender, receiver) = oneshot::channel();
        let mut pending = Pending {
            receiver: Some(receiver),
            clock_moves,
            moved_when_queued,
            keyspace: keyspace.clone(),
            db: 0,
            source: Source::List(End::Left),
        };
        keyspace.advance_clock(100_001);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let waited = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                pending.wait(Some(Duration::from_secs(100))),
            )
            .await
        });
        assert_eq!(waited.ok(), Some(None), "the timeout had passed");
    }
}
