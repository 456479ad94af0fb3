//! Compiles the command table (`src/command/commands.txt`) into Rust: one `CommandSpec` per
//! line, subcommands nested under their container. A mistake in the file (an unknown flag, a
//! malformed key spec, a subcommand without its container) fails the build with the line.

use std::fmt::Write as _;
use std::path::Path;

/// Redis's command flags the file may use (`COMMAND` shows all but `may_replicate`, which Redis
/// keeps internal too). `movablekeys` is not written: it is derived from the key specs.
const FLAGS: &[&str] = &[
    "write",
    "readonly",
    "denyoom",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "fast",
    "no_auth",
    "may_replicate",
    "no_mandatory_keys",
    "no_multi",
    "allow_busy",
    "no_async_loading",
];

/// latchkey's own bits, never shown as Redis flags.
const INTERNAL: &[&str] = &["subscribed", "immediate", "protected"];

include!("src/acl_categories.rs");

const KEY_FLAGS: &[&str] = &[
    "RW",
    "RO",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

enum Search {
    /// Redis's `index` + `range`: keys from `index` to `index + last` (`last` < 0 counts from
    /// the end of the arguments), every `step`.
    Range { index: i32, last: i32, step: i32 },
    /// Redis's `index` + `keynum`: the argument at `index` is the key count, keys follow.
    Keynum { index: i32 },
}

struct KeySpec {
    search: Search,
    flags: Vec<String>,
}

struct Row {
    line: usize,
    name: String,
    arity: i32,
    flags: Vec<String>,
    categories: Vec<String>,
    keys: Vec<KeySpec>,
    internal: Vec<String>,
    handler: String,
}

fn list(field: &str) -> Vec<String> {
    if field == "-" {
        Vec::new()
    } else {
        field.split(',').map(str::to_string).collect()
    }
}

fn parse_key_spec(text: &str) -> Result<KeySpec, String> {
    let (search, flags) = text.split_once('/').unwrap_or((text, ""));
    let flags = list(if flags.is_empty() { "-" } else { flags });
    for flag in &flags {
        if !KEY_FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown key spec flag {flag}"));
        }
    }
    let int = |s: &str| s.parse::<i32>().map_err(|_| format!("bad number {s:?}"));
    let search = if let Some(index) = search.strip_suffix('#') {
        Search::Keynum { index: int(index)? }
    } else {
        let parts: Vec<&str> = search.split(':').collect();
        match parts.as_slice() {
            [index] => Search::Range {
                index: int(index)?,
                last: 0,
                step: 1,
            },
            [index, last] => Search::Range {
                index: int(index)?,
                last: int(last)?,
                step: 1,
            },
            [index, last, step] => Search::Range {
                index: int(index)?,
                last: int(last)?,
                step: int(step)?,
            },
            _ => return Err(format!("bad key spec {search:?}")),
        }
    };
    Ok(KeySpec { search, flags })
}

fn parse_row(line: usize, text: &str) -> Result<Row, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [name, arity, flags, categories, keys, internal, handler] = fields.as_slice() else {
        return Err(format!("expected 7 fields, found {}", fields.len()));
    };
    let arity = arity
        .parse::<i32>()
        .map_err(|_| format!("bad arity {arity}"))?;
    let row = Row {
        line,
        name: name.to_string(),
        arity,
        flags: list(flags),
        categories: list(categories),
        keys: if *keys == "-" {
            Vec::new()
        } else {
            keys.split(';')
                .map(parse_key_spec)
                .collect::<Result<_, _>>()?
        },
        internal: list(internal),
        handler: handler.to_string(),
    };
    for flag in &row.flags {
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown flag {flag}"));
        }
    }
    for category in &row.categories {
        if !CATEGORIES.contains(&category.as_str()) {
            return Err(format!("unknown category {category}"));
        }
    }
    for bit in &row.internal {
        if !INTERNAL.contains(&bit.as_str()) {
            return Err(format!("unknown internal bit {bit}"));
        }
    }
    if row.arity == 0 || row.name != row.name.to_ascii_lowercase() || row.name.len() > 32 {
        return Err("names are lowercase, at most 32 bytes; arity is not 0".into());
    }
    Ok(row)
}

/// Redis's legacy `(first, last, step)` and whether the keys are movable, derived from the
/// key specs as Redis 7 derives them (`populateCommandLegacyRangeSpec`).
fn legacy_range(keys: &[KeySpec]) -> ((i32, i32, i32), bool) {
    let incomplete = |spec: &KeySpec| spec.flags.iter().any(|f| f == "incomplete");
    if keys.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [spec] = keys {
        if let Search::Range { index, last, step } = spec.search {
            let last = if last >= 0 { index + last } else { last };
            return ((index, last, step), incomplete(spec));
        }
    }
    let mut movable = false;
    let (mut first, mut last, mut prev_last) = (i32::MAX, 0i32, 0i32);
    for spec in keys {
        let Search::Range {
            index,
            last: spec_last,
            step,
        } = spec.search
        else {
            movable = true;
            continue;
        };
        if step != 1 || (prev_last != 0 && prev_last != index - 1) {
            movable = true;
            continue;
        }
        movable |= incomplete(spec);
        first = first.min(index);
        let absolute = if spec_last >= 0 {
            spec_last + index
        } else {
            spec_last
        };
        // Unsigned comparison, as Redis: a negative (count from the end) wins.
        last = (last as u32).max(absolute as u32) as i32;
        prev_last = last;
    }
    if first == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first, last, 1), movable)
}

fn quoted(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", inner.join(", "))
}

fn emit(out: &mut String, row: &Row, handler: &str, subcommands: &[&Row], indent: &str) {
    let ((first, last, step), movable) = legacy_range(&row.keys);
    let mut flags: Vec<String> = row
        .flags
        .iter()
        .map(|f| format!("flags::{}", f.to_ascii_uppercase()))
        .collect();
    if movable {
        flags.push("flags::MOVABLEKEYS".into());
    }
    let flags = if flags.is_empty() {
        "0".to_string()
    } else {
        flags.join(" | ")
    };
    let internal: Vec<String> = row
        .internal
        .iter()
        .map(|f| format!("internal::{}", f.to_ascii_uppercase()))
        .collect();
    let internal = if internal.is_empty() {
        "0".to_string()
    } else {
        internal.join(" | ")
    };
    let key_specs: Vec<String> = row
        .keys
        .iter()
        .map(|spec| {
            let search = match spec.search {
                Search::Range { index, last, step } => {
                    format!("KeySearch::Range {{ index: {index}, last: {last}, step: {step} }}")
                }
                Search::Keynum { index } => format!("KeySearch::Keynum {{ index: {index} }}"),
            };
            format!(
                "KeySpec {{ search: {search}, flags: {} }}",
                quoted(&spec.flags)
            )
        })
        .collect();
    let handler = match handler.strip_prefix("wait:") {
        Some(path) => format!("Handler::Blocking(super::{path})"),
        None => format!("Handler::Sync(super::{handler})"),
    };
    let _ = writeln!(out, "{indent}CommandSpec {{");
    let _ = writeln!(out, "{indent}    name: {:?},", row.name);
    let _ = writeln!(out, "{indent}    arity: {},", row.arity);
    let _ = writeln!(out, "{indent}    flags: {flags},");
    let _ = writeln!(out, "{indent}    internal: {internal},");
    let _ = writeln!(out, "{indent}    categories: {},", quoted(&row.categories));
    let _ = writeln!(out, "{indent}    key_specs: &[{}],", key_specs.join(", "));
    let _ = writeln!(out, "{indent}    legacy_keys: ({first}, {last}, {step}),");
    let _ = writeln!(out, "{indent}    handler: {handler},");
    if subcommands.is_empty() {
        let _ = writeln!(out, "{indent}    subcommands: &[],");
    } else {
        let _ = writeln!(out, "{indent}    subcommands: &[");
        for sub in subcommands {
            emit(out, sub, handler_of(row), &[], &format!("{indent}        "));
        }
        let _ = writeln!(out, "{indent}    ],");
    }
    let _ = writeln!(out, "{indent}}},");
}

fn handler_of(row: &Row) -> &str {
    &row.handler
}

fn main() {
    let source = Path::new("src/command/commands.txt");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=src/acl_categories.rs");
    let text = std::fs::read_to_string(source).expect("read src/command/commands.txt");
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_text = line.trim();
        if line_text.is_empty() || line_text.starts_with('#') {
            continue;
        }
        match parse_row(index + 1, line_text) {
            Ok(row) => rows.push(row),
            Err(error) => panic!("src/command/commands.txt line {}: {error}", index + 1),
        }
    }
    let mut out = String::from("// Generated by build.rs from src/command/commands.txt.\n");
    out.push_str("pub(super) static TABLE: &[CommandSpec] = &[\n");
    let mut names = std::collections::HashSet::new();
    for row in &rows {
        assert!(
            names.insert(row.name.clone()),
            "src/command/commands.txt line {}: {} listed twice",
            row.line,
            row.name
        );
        if let Some((container, _)) = row.name.split_once('|') {
            assert!(
                rows.iter().any(|r| r.name == container),
                "src/command/commands.txt line {}: no container {container}",
                row.line
            );
            assert!(
                row.handler == "-",
                "src/command/commands.txt line {}: a subcommand runs its container's handler",
                row.line
            );
            continue;
        }
        assert!(
            row.handler != "-",
            "src/command/commands.txt line {}: no handler",
            row.line
        );
        let prefix = format!("{}|", row.name);
        let subcommands: Vec<&Row> = rows
            .iter()
            .filter(|r| r.name.starts_with(&prefix))
            .collect();
        emit(&mut out, row, &row.handler, &subcommands, "    ");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("command_table.rs");
    std::fs::write(dest, out).expect("write command_table.rs");
}
