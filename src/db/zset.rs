//! [`ZSet`]: a sorted set. A [`Dict`] from member to score answers `ZSCORE` in `O(1)` and
//! gives `ZSCAN` its stable cursors; a [`RankTree`] keeps `(score, member)` in order for
//! ranges and ranks in `O(log n)`. The two always hold the same members.

use bytes::Bytes;

use super::dict::Dict;
use super::ranktree::{Iter, RankTree};

/// A sorted set. Never stored empty.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: Dict<f64>,
    order: RankTree,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.scores == other.scores
    }
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; returns the previous one.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let previous = self.scores.insert(member.clone(), score);
        if let Some(old) = previous {
            if old == score {
                // Equal scores (0 and -0 included) change nothing, as in Redis.
                self.scores.insert(member, old);
                return previous;
            }
            self.order.remove(old, &member);
        }
        self.order.insert(score, member);
        previous
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.scores.remove(member)?;
        self.order.remove(score, member);
        Some(score)
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.order.rank(score, member))
    }

    /// How many members satisfy `before`, which must hold for a prefix of the order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.order.count_before(before)
    }

    /// Members from rank `start` on, ascending (or descending when `reverse`, ranks counted
    /// from the highest).
    pub fn iter_from(&self, start: usize, reverse: bool) -> Iter<'_> {
        self.order.iter_from(start, reverse)
    }

    /// Members and scores in insertion order, with stable cursors (see [`Dict::scan`]).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &f64)>) {
        self.scores.scan(cursor, count)
    }

    /// Bytes held, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.scores.heap_size() + self.order.heap_size()
    }
}

impl ZSet {
    /// A random member and its score (see [`Dict::random`]).
    pub fn random(&self) -> Option<(&Bytes, f64)> {
        self.scores.random().map(|(m, s)| (m, *s))
    }

    /// Up to `count` distinct random members (see [`Dict::random_distinct`]).
    pub fn random_distinct(&self, count: usize) -> Vec<&Bytes> {
        self.scores.random_distinct(count)
    }
}
