//! Pub/sub: who listens on which channel or pattern, and the delivery of messages to them.
//!
//! The registry ([`PubSub`]) maps each channel (and each pattern, and each shard channel) to
//! the mailboxes of its subscribers. A [`Mailbox`] belongs to one connection: `PUBLISH` puts a
//! message in it and wakes the connection, which writes it out between commands. Publishing
//! never waits on a subscriber, so a publisher (a script, a keyspace notification) may call
//! [`publish`] while it holds shards.
//!
//! A mailbox is bounded by bytes, not by count: a subscriber whose queued and unwritten
//! messages pass the output limit (Redis's `client-output-buffer-limit pubsub`, 32 MiB hard) is
//! disconnected and its messages dropped, so a subscriber that does not read costs at most the
//! limit.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};

use crate::client::ClientInfo;
use crate::protocol::Reply;
use crate::server::Shared;

/// The default output limit of a subscriber, in bytes (Redis's pub/sub hard limit).
pub const DEFAULT_OUTPUT_LIMIT: usize = 32 * 1024 * 1024;

/// Bytes counted per message beside its payload and names: the framing.
const MESSAGE_OVERHEAD: usize = 48;

/// The three namespaces: plain channels, patterns, shard channels (`SSUBSCRIBE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The confirmation word of a subscription of this kind.
    pub fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    /// The confirmation word of an unsubscription of this kind.
    pub fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// One message on its way to one subscriber. Payloads are `Bytes`, shared by all receivers.
#[derive(Clone, Debug)]
pub enum Message {
    /// To a channel subscriber: `message channel payload`.
    Message { channel: Bytes, payload: Bytes },
    /// To a pattern subscriber: `pmessage pattern channel payload`.
    PMessage {
        pattern: Bytes,
        channel: Bytes,
        payload: Bytes,
    },
    /// To a shard channel subscriber: `smessage channel payload`.
    SMessage { channel: Bytes, payload: Bytes },
}

impl Message {
    /// Bytes this message counts against the output limit.
    pub fn size(&self) -> usize {
        MESSAGE_OVERHEAD
            + match self {
                Message::Message { channel, payload } | Message::SMessage { channel, payload } => {
                    channel.len() + payload.len()
                }
                Message::PMessage {
                    pattern,
                    channel,
                    payload,
                } => pattern.len() + channel.len() + payload.len(),
            }
    }

    /// The push frame the client receives (an array in RESP2).
    pub fn into_reply(self) -> Reply {
        match self {
            Message::Message { channel, payload } => Reply::Push(vec![
                Reply::bulk("message"),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
            Message::PMessage {
                pattern,
                channel,
                payload,
            } => Reply::Push(vec![
                Reply::bulk("pmessage"),
                Reply::Bulk(pattern),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
            Message::SMessage { channel, payload } => Reply::Push(vec![
                Reply::bulk("smessage"),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
        }
    }
}

/// A connection's incoming messages: a byte-bounded queue and a wake-up for the connection.
pub struct Mailbox {
    state: Mutex<MailboxState>,
    /// Woken (through its [`crate::client::Wakeup`]) when a message is queued.
    client: Arc<ClientInfo>,
}

#[derive(Default)]
struct MailboxState {
    queue: VecDeque<Message>,
    /// Bytes accepted and not yet written to the socket (queued or drained-but-unwritten).
    pending_bytes: usize,
    /// Set once the limit was passed: the client is being disconnected, nothing more is queued.
    overflowed: bool,
}

impl Mailbox {
    pub fn new(client: Arc<ClientInfo>) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            state: Mutex::new(MailboxState::default()),
            client,
        })
    }

    /// Queues `message` and wakes the connection. A message that would take the pending bytes
    /// past `limit` disconnects the client instead (its queue is dropped).
    fn deliver(&self, message: Message, limit: usize) {
        let mut state = self.state.lock();
        if state.overflowed {
            return;
        }
        let size = message.size();
        if state.pending_bytes + size > limit {
            state.overflowed = true;
            state.queue = VecDeque::new();
            drop(state);
            tracing::info!(
                client = self.client.id,
                "pub/sub output limit reached, disconnecting"
            );
            self.client.kill();
            return;
        }
        state.pending_bytes += size;
        state.queue.push_back(message);
        drop(state);
        self.client.wakeup.wake();
    }

    /// Moves the queued messages to `out`; returns their byte count, which stays counted
    /// against the limit until the connection reports it written with [`Mailbox::written`].
    pub fn drain(&self, out: &mut Vec<Message>) -> usize {
        let mut state = self.state.lock();
        let mut bytes = 0;
        for message in state.queue.drain(..) {
            bytes += message.size();
            out.push(message);
        }
        bytes
    }

    /// The connection wrote `bytes` of drained messages to the socket.
    pub fn written(&self, bytes: usize) {
        let mut state = self.state.lock();
        state.pending_bytes = state.pending_bytes.saturating_sub(bytes);
    }
}

/// What one client listens on, kept in its [`crate::client::Client`].
pub struct Subscriptions {
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    pub shard_channels: HashSet<Bytes>,
    pub mailbox: Arc<Mailbox>,
}

impl Subscriptions {
    pub fn new(client: Arc<ClientInfo>) -> Self {
        Subscriptions {
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard_channels: HashSet::new(),
            mailbox: Mailbox::new(client),
        }
    }

    /// The subscriptions of one kind.
    pub fn of(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The count a (un)subscribe confirmation of `kind` reports: channels and patterns count
    /// together, shard channels apart (as Redis counts them).
    pub fn count_for(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.shard_channels.len(),
        }
    }

    /// Every subscription of every kind.
    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// The server-wide registry of channels and patterns.
///
/// `parking_lot` read-write locks: publishing (the common case) only reads. These locks and the
/// mailbox locks are leaves: nothing is locked while they are held, so publishing under shard
/// locks cannot deadlock.
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard_channels: RwLock<HashMap<Bytes, Subscribers>>,
    output_limit: AtomicUsize,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub {
            channels: RwLock::default(),
            patterns: RwLock::default(),
            shard_channels: RwLock::default(),
            output_limit: AtomicUsize::new(DEFAULT_OUTPUT_LIMIT),
        }
    }
}

impl PubSub {
    fn table(&self, kind: Kind) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// The output limit of subscribers, in bytes.
    pub fn output_limit(&self) -> usize {
        self.output_limit.load(Ordering::Relaxed)
    }

    /// Sets the output limit of subscribers (`CONFIG SET client-output-buffer-limit`); applies
    /// to the next message delivered.
    pub fn set_output_limit(&self, bytes: usize) {
        self.output_limit.store(bytes.max(1), Ordering::Relaxed);
    }

    /// Adds `mailbox` (of client `id`) to the subscribers of `name`.
    pub fn subscribe(&self, kind: Kind, name: Bytes, id: u64, mailbox: &Arc<Mailbox>) {
        self.table(kind)
            .write()
            .entry(name)
            .or_default()
            .insert(id, mailbox.clone());
    }

    /// Removes client `id` from the subscribers of `name`; a name left without subscribers is
    /// forgotten.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut table = self.table(kind).write();
        if let Some(subscribers) = table.get_mut(name) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                table.remove(name);
            }
        }
    }

    /// Sends `payload` to the subscribers of `channel` and of every pattern matching it;
    /// returns how many received it (a client subscribed both ways counts twice, as in Redis).
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let limit = self.output_limit();
        let mut receivers = 0;
        let mut shared_bytes: Option<(Bytes, Bytes)> = None;
        let mut names = || {
            shared_bytes
                .get_or_insert_with(|| {
                    (
                        Bytes::copy_from_slice(channel),
                        Bytes::copy_from_slice(payload),
                    )
                })
                .clone()
        };
        if let Some(subscribers) = self.channels.read().get(channel) {
            for mailbox in subscribers.values() {
                let (channel, payload) = names();
                mailbox.deliver(Message::Message { channel, payload }, limit);
                receivers += 1;
            }
        }
        let patterns = self.patterns.read();
        for (pattern, subscribers) in patterns.iter() {
            if !crate::glob::matches(pattern, channel) {
                continue;
            }
            for mailbox in subscribers.values() {
                let (channel, payload) = names();
                let pattern = pattern.clone();
                mailbox.deliver(
                    Message::PMessage {
                        pattern,
                        channel,
                        payload,
                    },
                    limit,
                );
                receivers += 1;
            }
        }
        receivers
    }

    /// Sends `payload` to the subscribers of shard channel `channel` (`SPUBLISH`).
    pub fn spublish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let limit = self.output_limit();
        let table = self.shard_channels.read();
        let Some(subscribers) = table.get(channel) else {
            return 0;
        };
        let (channel, payload) = (
            Bytes::copy_from_slice(channel),
            Bytes::copy_from_slice(payload),
        );
        for mailbox in subscribers.values() {
            let message = Message::SMessage {
                channel: channel.clone(),
                payload: payload.clone(),
            };
            mailbox.deliver(message, limit);
        }
        subscribers.len()
    }

    /// Names of `kind` with at least one subscriber, matching `pattern` if given
    /// (`PUBSUB CHANNELS`, `PUBSUB SHARDCHANNELS`).
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .read()
            .keys()
            .filter(|name| pattern.is_none_or(|p| crate::glob::matches(p, name)))
            .cloned()
            .collect()
    }

    /// Number of subscribers of `name` (`PUBSUB NUMSUB`, `PUBSUB SHARDNUMSUB`).
    pub fn subscriber_count(&self, kind: Kind, name: &[u8]) -> usize {
        self.table(kind).read().get(name).map_or(0, |s| s.len())
    }

    /// Number of distinct patterns subscribed to (`PUBSUB NUMPAT`).
    pub fn pattern_count(&self) -> usize {
        self.patterns.read().len()
    }
}

/// Publishes `message` on `channel` to channel and pattern subscribers; returns the number of
/// receivers. Callable from anywhere, shards held or not: scripts and keyspace notifications
/// use it.
pub fn publish(shared: &Shared, channel: &[u8], message: &[u8]) -> usize {
    shared.pubsub.publish(channel, message)
}

/// Removes every subscription of a client that is going away.
pub fn forget(pubsub: &PubSub, id: u64, subscriptions: &Subscriptions) {
    for (kind, names) in [
        (Kind::Channel, &subscriptions.channels),
        (Kind::Pattern, &subscriptions.patterns),
        (Kind::Shard, &subscriptions.shard_channels),
    ] {
        for name in names {
            pubsub.unsubscribe(kind, name, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: u64) -> Arc<ClientInfo> {
        let addr = "127.0.0.1:1".parse().unwrap();
        Arc::new(ClientInfo::new(id, addr, addr))
    }

    #[test]
    fn channel_and_pattern_receivers_counted() {
        let pubsub = PubSub::default();
        let a = Mailbox::new(client(1));
        let b = Mailbox::new(client(2));
        pubsub.subscribe(Kind::Channel, Bytes::from("news"), 1, &a);
        pubsub.subscribe(Kind::Pattern, Bytes::from("n*"), 1, &a);
        pubsub.subscribe(Kind::Pattern, Bytes::from("x*"), 2, &b);
        assert_eq!(pubsub.publish(b"news", b"hi"), 2);
        assert_eq!(pubsub.publish(b"other", b"hi"), 0);
        let mut out = Vec::new();
        a.drain(&mut out);
        assert_eq!(out.len(), 2);
        pubsub.unsubscribe(Kind::Channel, b"news", 1);
        assert_eq!(pubsub.subscriber_count(Kind::Channel, b"news"), 0);
        assert!(pubsub.active(Kind::Channel, None).is_empty());
        assert_eq!(pubsub.pattern_count(), 2);
    }

    #[test]
    fn overflowing_subscriber_is_killed_and_bounded() {
        let pubsub = PubSub::default();
        pubsub.set_output_limit(1000);
        let info = client(7);
        let mailbox = Mailbox::new(info.clone());
        pubsub.subscribe(Kind::Channel, Bytes::from("c"), 7, &mailbox);
        for _ in 0..100 {
            pubsub.publish(b"c", &[b'x'; 100]);
        }
        assert!(info.killed.load(Ordering::SeqCst));
        let mut out = Vec::new();
        assert_eq!(mailbox.drain(&mut out), 0);
        assert!(out.is_empty());
    }
}
