// Included by `src/acl.rs` and by `build.rs` (which refuses a command-table line naming any
// other category): the one list of Redis's ACL categories.

/// Redis's ACL categories, in the order `ACL CAT` lists them.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];
