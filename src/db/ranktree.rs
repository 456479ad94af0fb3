//! [`RankTree`]: the ordered half of a sorted set, `(score, member)` pairs in order with
//! `O(log n)` insert, remove, rank and select.
//!
//! A treap (a binary search tree kept balanced in expectation by random heap priorities) whose
//! nodes know their subtree sizes, stored in one vector with indexes for links: no unsafe code,
//! no pointer per node, and rank queries for free from the sizes. Redis uses a skip list for
//! the same job; the treap needs fewer lines for the same bounds.

use std::cmp::Ordering;

use bytes::Bytes;

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    score: f64,
    member: Bytes,
    priority: u32,
    left: u32,
    right: u32,
    size: u32,
}

/// The order of a sorted set: by score, then by member bytes. Scores are never NaN; `-0` and
/// `0` compare equal, as in Redis.
pub fn compare(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

/// `(score, member)` pairs in sorted-set order, with ranks.
#[derive(Clone, Debug)]
pub struct RankTree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
}

impl Default for RankTree {
    fn default() -> Self {
        RankTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
        }
    }
}

impl RankTree {
    pub fn len(&self) -> usize {
        self.size(self.root)
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    fn size(&self, node: u32) -> usize {
        if node == NIL {
            0
        } else {
            self.nodes[node as usize].size as usize
        }
    }

    fn update(&mut self, node: u32) {
        let n = &self.nodes[node as usize];
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[node as usize].size = size as u32;
    }

    /// Splits `tree` into the nodes for which `goes_left` holds (a prefix of the order) and
    /// the rest.
    fn split(&mut self, tree: u32, goes_left: &impl Fn(&Node) -> bool) -> (u32, u32) {
        if tree == NIL {
            return (NIL, NIL);
        }
        if goes_left(&self.nodes[tree as usize]) {
            let (l, r) = self.split(self.nodes[tree as usize].right, goes_left);
            self.nodes[tree as usize].right = l;
            self.update(tree);
            (tree, r)
        } else {
            let (l, r) = self.split(self.nodes[tree as usize].left, goes_left);
            self.nodes[tree as usize].left = r;
            self.update(tree);
            (l, tree)
        }
    }

    /// Joins two trees where every node of `a` comes before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority > self.nodes[b as usize].priority {
            let right = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = right;
            self.update(a);
            a
        } else {
            let left = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = left;
            self.update(b);
            b
        }
    }

    /// Adds a pair that is not present.
    pub fn insert(&mut self, score: f64, member: Bytes) {
        let (l, r) = self.split(self.root, &|n: &Node| {
            compare(n.score, &n.member, score, &member) == Ordering::Less
        });
        let node = Node {
            score,
            member,
            priority: fastrand::u32(..),
            left: NIL,
            right: NIL,
            size: 1,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.nodes[index as usize] = node;
                index
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let left = self.merge(l, index);
        self.root = self.merge(left, r);
    }

    /// Removes a pair; false when absent.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let (l, rest) = self.split(self.root, &|n: &Node| {
            compare(n.score, &n.member, score, member) == Ordering::Less
        });
        let (found, r) = self.split(rest, &|n: &Node| {
            compare(n.score, &n.member, score, member) == Ordering::Equal
        });
        if found != NIL {
            let node = &mut self.nodes[found as usize];
            node.member = Bytes::new();
            node.left = NIL;
            node.right = NIL;
            self.free.push(found);
        }
        self.root = self.merge(l, r);
        if self.root == NIL {
            self.nodes.clear();
            self.free.clear();
        }
        found != NIL
    }

    /// How many pairs satisfy `before`, which must hold for a prefix of the order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut count = 0;
        let mut node = self.root;
        while node != NIL {
            let n = &self.nodes[node as usize];
            if before(n.score, &n.member) {
                count += self.size(n.left) + 1;
                node = n.right;
            } else {
                node = n.left;
            }
        }
        count
    }

    /// The 0-based rank of a pair that is present.
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        self.count_before(|s, m| compare(s, m, score, member) == Ordering::Less)
    }

    /// The pairs from rank `start` on, ascending, or descending from rank `start` of the
    /// reversed order when `reverse`.
    pub fn iter_from(&self, start: usize, reverse: bool) -> Iter<'_> {
        let mut iter = Iter {
            tree: self,
            stack: Vec::new(),
            reverse,
        };
        let mut rank = start;
        let mut node = self.root;
        while node != NIL {
            let n = &self.nodes[node as usize];
            let (near, far) = if reverse {
                (n.right, n.left)
            } else {
                (n.left, n.right)
            };
            let near_size = self.size(near);
            match rank.cmp(&near_size) {
                Ordering::Less => {
                    iter.stack.push(node);
                    node = near;
                }
                Ordering::Equal => {
                    iter.stack.push(node);
                    break;
                }
                Ordering::Greater => {
                    rank -= near_size + 1;
                    node = far;
                }
            }
        }
        iter
    }

    /// Bytes of node storage, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
    }
}

/// An in-order walk from a given rank; yields `(score, member)`.
pub struct Iter<'t> {
    tree: &'t RankTree,
    stack: Vec<u32>,
    reverse: bool,
}

impl<'t> Iterator for Iter<'t> {
    type Item = (f64, &'t Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.stack.pop()?;
        let n = &self.tree.nodes[node as usize];
        let (near_of, far): (fn(&Node) -> u32, u32) = if self.reverse {
            (|n| n.right, n.left)
        } else {
            (|n| n.left, n.right)
        };
        let mut next = far;
        while next != NIL {
            self.stack.push(next);
            next = near_of(&self.tree.nodes[next as usize]);
        }
        Some((n.score, &n.member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sorted_vector_under_random_changes() {
        let mut tree = RankTree::default();
        let mut model: Vec<(f64, Bytes)> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..4000 {
            let score = rng.u32(0..50) as f64;
            let member = Bytes::from(format!("m{}", rng.u32(0..300)));
            let pos = model.iter().position(|(s, m)| *s == score && *m == member);
            match pos {
                Some(i) if step % 3 != 0 => {
                    assert!(tree.remove(score, &member));
                    model.remove(i);
                }
                Some(_) => {}
                None => {
                    tree.insert(score, member.clone());
                    model.push((score, member));
                }
            }
            assert_eq!(tree.len(), model.len());
            if step % 499 == 0 {
                model.sort_by(|a, b| compare(a.0, &a.1, b.0, &b.1));
                let all: Vec<(f64, Bytes)> = tree
                    .iter_from(0, false)
                    .map(|(s, m)| (s, m.clone()))
                    .collect();
                assert_eq!(all, model);
                for (i, (s, m)) in model.iter().enumerate().step_by(13) {
                    assert_eq!(tree.rank(*s, m), i);
                    let from: Vec<_> = tree.iter_from(i, false).map(|(s, _)| s).collect();
                    assert_eq!(from.len(), model.len() - i);
                    let back: Vec<_> = tree.iter_from(i, true).map(|(_, m)| m.clone()).collect();
                    let expected: Vec<_> =
                        model.iter().rev().skip(i).map(|p| p.1.clone()).collect();
                    assert_eq!(back, expected);
                }
                let below_20 = model.iter().filter(|p| p.0 < 20.0).count();
                assert_eq!(tree.count_before(|s, _| s < 20.0), below_20);
            }
        }
        assert!(!tree.remove(1000.0, b"absent"));
    }
}
