//! One key of the keyspace in one heap allocation: its [`Entry`] (value and deadline) followed
//! by its length and bytes, behind a thin pointer.
//!
//! A shard's hash table holds these pointers, 8 bytes a slot. With the key inline and a short
//! value inline in the entry (see `string.rs`), a typical lock (`lock:<n>` → a 36-byte token with
//! a deadline) is one 64-byte allocation and one slot: where a `HashMap<Bytes, Entry>` spent an
//! 80-byte slot (tables run between 44% and 88% full) and two more allocations.
//!
//! Layout: `Entry` at offset 0, the key's length (`u32`) right after it, the key's bytes after
//! that. The allocation is at least `size_of::<Entry>()` long and aligned for `Entry`.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::entry::Entry;

const LEN_AT: usize = std::mem::size_of::<Entry>();
const KEY_AT: usize = LEN_AT + std::mem::size_of::<u32>();

/// The longest key a node holds: the request parser takes no longer argument
/// (`protocol::parser::MAX_ARGUMENT_LEN`).
pub const MAX_KEY_LEN: usize = u32::MAX as usize;

/// A key and its entry, owned.
pub struct Node {
    ptr: NonNull<u8>,
}

// SAFETY: a `Node` owns its allocation exclusively, like a `Box<(Entry, [u8])>`; `Entry` is
// `Send` and `Sync`.
unsafe impl Send for Node {}
unsafe impl Sync for Node {}

fn layout(key_len: usize) -> Layout {
    let size = (KEY_AT + key_len).max(std::mem::size_of::<Entry>());
    // Cannot fail: `key_len` is at most `MAX_KEY_LEN` and the alignment is `Entry`'s.
    Layout::from_size_align(size, std::mem::align_of::<Entry>()).expect("node layout")
}

impl Node {
    /// A node for `key`. Keys longer than [`MAX_KEY_LEN`] are cut (none can arrive: the
    /// request parser refuses longer arguments).
    pub fn new(key: &[u8], entry: Entry) -> Node {
        let key = &key[..key.len().min(MAX_KEY_LEN)];
        let layout = layout(key.len());
        // SAFETY: the layout has a non-zero size (at least an `Entry`). The writes stay inside
        // it: the entry at 0 (aligned), the length at `LEN_AT` (a multiple of `Entry`'s
        // alignment, so aligned for `u32`), the key at `KEY_AT..KEY_AT + len`.
        unsafe {
            let raw = alloc::alloc(layout);
            let Some(ptr) = NonNull::new(raw) else {
                alloc::handle_alloc_error(layout);
            };
            ptr.as_ptr().cast::<Entry>().write(entry);
            ptr.as_ptr()
                .add(LEN_AT)
                .cast::<u32>()
                .write(key.len() as u32);
            std::ptr::copy_nonoverlapping(key.as_ptr(), ptr.as_ptr().add(KEY_AT), key.len());
            Node { ptr }
        }
    }

    fn key_len(&self) -> usize {
        // SAFETY: written by `new`, never changed.
        unsafe { self.ptr.as_ptr().add(LEN_AT).cast::<u32>().read() as usize }
    }

    pub fn key(&self) -> &[u8] {
        // SAFETY: `new` wrote `key_len` bytes at `KEY_AT`; they live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(KEY_AT), self.key_len()) }
    }

    pub fn entry(&self) -> &Entry {
        // SAFETY: an initialised `Entry` sits at offset 0 for the node's life.
        unsafe { &*self.ptr.as_ptr().cast::<Entry>() }
    }

    pub fn entry_mut(&mut self) -> &mut Entry {
        // SAFETY: as in `entry`, and `&mut self` makes the borrow unique.
        unsafe { &mut *self.ptr.as_ptr().cast::<Entry>() }
    }

    /// The entry, taken out; the node's memory is freed.
    pub fn into_entry(self) -> Entry {
        let layout = layout(self.key_len());
        // SAFETY: the entry is read out once, then the allocation (made with `layout`) is
        // freed; `forget` keeps `Drop` from dropping the entry a second time.
        unsafe {
            let entry = self.ptr.as_ptr().cast::<Entry>().read();
            alloc::dealloc(self.ptr.as_ptr(), layout);
            std::mem::forget(self);
            entry
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let layout = layout(self.key_len());
        // SAFETY: the entry is initialised until here; the allocation was made with `layout`.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr().cast::<Entry>());
            alloc::dealloc(self.ptr.as_ptr(), layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonoTime;
    use crate::db::entry::{Value, NO_DEADLINE};
    use crate::db::string::Str;

    #[test]
    fn holds_key_and_entry() {
        for key in [&b""[..], b"k", b"lock:123456", &[7u8; 300]] {
            let entry = Entry {
                value: Value::Str(Str::from("0123456789abcdef0123456789abcdef0123")),
                deadline: MonoTime::from_micros(42),
            };
            let mut node = Node::new(key, entry);
            assert_eq!(node.key(), key);
            assert_eq!(node.entry().deadline, MonoTime::from_micros(42));
            node.entry_mut().deadline = NO_DEADLINE;
            assert!(!node.entry().has_deadline());
            let entry = node.into_entry();
            assert!(matches!(entry.value, Value::Str(s) if s.len() == 36));
        }
    }

    #[test]
    fn a_lock_fits_in_64_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
        assert_eq!(layout(b"lock:123456".len()).size(), 63);
        assert_eq!(std::mem::size_of::<Node>(), 8);
    }

    #[test]
    fn drops_aggregates() {
        let list: Box<crate::db::list::List> = Box::default();
        drop(Node::new(
            b"l",
            Entry {
                value: Value::List(list),
                deadline: NO_DEADLINE,
            },
        ));
    }
}
