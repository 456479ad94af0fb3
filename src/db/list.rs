//! [`List`]: a Redis list, a deque of byte strings that keeps count of the bytes it holds so
//! that `INFO memory` costs nothing per element.

use std::collections::VecDeque;

use bytes::Bytes;

/// Rough cost of one element beyond its bytes (its handle in the deque).
const ELEMENT_OVERHEAD: usize = 32;

/// Which end of a list: `LEFT` (head) or `RIGHT` (tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// A list. Never stored empty: the command that empties it deletes the key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: VecDeque<Bytes>,
    bytes: usize,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, end: End, item: Bytes) {
        self.bytes += item.len();
        match end {
            End::Left => self.items.push_front(item),
            End::Right => self.items.push_back(item),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let item = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        self.bytes -= item.len();
        Some(item)
    }

    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, item: Bytes) -> bool {
        let Some(slot) = self.items.get_mut(index) else {
            return false;
        };
        self.bytes = self.bytes - slot.len() + item.len();
        *slot = item;
        true
    }

    /// Inserts `item` before `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, item: Bytes) {
        self.bytes += item.len();
        self.items.insert(index, item);
    }

    /// Removes the element at `index`.
    pub fn remove(&mut self, index: usize) -> Option<Bytes> {
        let item = self.items.remove(index)?;
        self.bytes -= item.len();
        Some(item)
    }

    /// Keeps only the elements in `start..end`.
    pub fn keep_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        let start = start.min(end);
        self.items.truncate(end);
        self.items.drain(..start);
        self.bytes = self.items.iter().map(Bytes::len).sum();
    }

    /// Removes up to `limit` elements equal to `item` (all of them when `limit` is 0), the
    /// first ones met scanning from `from`. Returns how many were removed.
    pub fn remove_equal(&mut self, item: &[u8], limit: usize, from: End) -> usize {
        let matching = self.items.iter().filter(|x| x[..] == *item).count();
        let to_remove = if limit == 0 {
            matching
        } else {
            limit.min(matching)
        };
        // Scanning from the right removes the last `to_remove` matches: skip the others.
        let mut skip = match from {
            End::Left => 0,
            End::Right => matching - to_remove,
        };
        let mut left = to_remove;
        self.items.retain(|x| {
            if left == 0 || x[..] != *item {
                return true;
            }
            if skip > 0 {
                skip -= 1;
                return true;
            }
            left -= 1;
            false
        });
        self.bytes -= to_remove * item.len();
        to_remove
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// The elements in `start..end`.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Bytes> {
        self.items.range(start..end)
    }

    /// Bytes held, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.bytes + self.items.len() * ELEMENT_OVERHEAD
    }
}
