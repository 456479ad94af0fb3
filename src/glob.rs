//! Glob patterns as Redis matches them (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`, `CONFIG GET`):
//! `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\` to escape. Bytes, not characters.

/// Whether `text` matches `pattern`. Iterative with one backtrack point per `*`, so the time is
/// bounded by `pattern.len() * text.len()` whatever the input.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    matches_with(pattern, text, false)
}

/// Like [`matches`], ignoring ASCII case (`CONFIG GET`).
pub fn matches_nocase(pattern: &[u8], text: &[u8]) -> bool {
    matches_with(pattern, text, true)
}

fn matches_with(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern position after it, text position).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match_class(pattern, p, text[t], nocase),
            Some(b'\\') if p + 1 < pattern.len() => eq(pattern[p + 1], text[t]).then_some(p + 2),
            Some(&c) => eq(c, text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((after_star, from))) => {
                p = after_star;
                t = from + 1;
                star = Some((after_star, from + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[open] == b'['`; returns the position after
/// the class if it matches. An unterminated class runs to the end of the pattern, as in Redis.
fn match_class(pattern: &[u8], open: usize, c: u8, nocase: bool) -> Option<usize> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    let mut i = open + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            hit |= fold(pattern[i + 1]) == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (mut lo, mut hi) = (fold(pattern[i]), fold(pattern[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            hit |= fold(pattern[i]) == c;
            i += 1;
        }
    }
    (hit != negate).then_some((i + 1).min(pattern.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_glob_rules() {
        assert!(matches(b"*", b""));
        assert!(matches(b"lock:*", b"lock:a"));
        assert!(!matches(b"lock:*", b"lok:a"));
        assert!(matches(b"h?llo", b"hello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"a\\*b", b"a*b"));
        assert!(!matches(b"a\\*b", b"axb"));
        assert!(matches(b"*a*b*c*", b"xxaxxbxxc"));
        assert!(!matches(b"*a*b*c*", b"xxaxxcxxb"));
        assert!(matches_nocase(b"MAXMEM*", b"maxmemory"));
        let long = vec![b'a'; 5000];
        assert!(!matches(b"*a*a*a*a*a*a*b", &long));
    }
}
