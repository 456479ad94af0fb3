//! Lua 5.1 patterns (`string.find`, `match`, `gmatch`, `gsub`), matched with a step budget.
//!
//! Lua's own matcher is C code that never returns to the interpreter while it backtracks, so the
//! instruction-count hook that enforces the script time limit and `SCRIPT KILL` never runs
//! inside it: one `string.find(string.rep('a', 30) .. 'b', string.rep('a*', 30) .. 'c')` would
//! hold its thread (and with it the shards it locked) for ever. This matcher follows Lua 5.1.5's
//! algorithm step for step, with the same results and error texts, and calls a check every
//! [`CHECK_EVERY`] steps; the check is the script's time-limit watch, so a script stuck in a
//! pattern gets `BUSY`, `SCRIPT KILL` and shutdown like any other.
//!
//! As in Lua 5.1, a pattern ends at its first NUL byte, and reading one byte past the end of
//! the subject reads a NUL (Lua strings are NUL-terminated; `%f` and `%b` see it).

/// The most captures one pattern may open (Lua's `LUA_MAXCAPTURES`).
pub const MAX_CAPTURES: usize = 32;
/// The deepest recursion of the matcher (Lua 5.2's `MAXCCALLS`; 5.1 had no limit and could
/// overflow the C stack).
const MAX_DEPTH: usize = 200;
/// Steps between two calls of the check.
pub const CHECK_EVERY: u32 = 1 << 12;

/// Why a match stopped without an answer.
#[derive(Debug, PartialEq)]
pub enum Failure<E> {
    /// A malformed pattern or a bad capture reference, with Lua's text.
    Pattern(&'static str),
    /// The check refused to go on (time limit, `SCRIPT KILL`, shutdown).
    Interrupted(E),
}

/// One capture, as the match left it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    /// Opened, not yet closed: starts at this offset.
    Open(usize),
    /// `()`: the position.
    Position(usize),
    /// Closed: offset and length.
    Closed(usize, usize),
}

/// A capture's value, for the caller to turn into a Lua value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Captured {
    /// The subject's bytes in `start..end`.
    Text(usize, usize),
    /// A position capture: the 1-based offset.
    Position(usize),
}

/// One pattern matched against one subject.
pub struct Matcher<'a, E, C: FnMut() -> Result<(), E>> {
    subject: &'a [u8],
    pattern: &'a [u8],
    slots: [Slot; MAX_CAPTURES],
    level: usize,
    depth: usize,
    steps: u32,
    check: C,
}

type Outcome<T, E> = Result<T, Failure<E>>;

impl<'a, E, C: FnMut() -> Result<(), E>> Matcher<'a, E, C> {
    /// A matcher of `pattern` (cut at its first NUL, as in Lua 5.1) against `subject`.
    pub fn new(subject: &'a [u8], pattern: &'a [u8], check: C) -> Self {
        let end = pattern
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(pattern.len());
        Matcher {
            subject,
            pattern: &pattern[..end],
            slots: [Slot::Open(0); MAX_CAPTURES],
            level: 0,
            depth: 0,
            steps: 0,
            check,
        }
    }

    /// The pattern's byte at `p`, NUL past its end.
    fn pat(&self, p: usize) -> u8 {
        self.pattern.get(p).copied().unwrap_or(0)
    }

    /// The subject's byte at `s`, NUL past its end.
    fn sub(&self, s: usize) -> u8 {
        self.subject.get(s).copied().unwrap_or(0)
    }

    fn tick(&mut self) -> Outcome<(), E> {
        self.steps = self.steps.wrapping_add(1);
        if self.steps.is_multiple_of(CHECK_EVERY) {
            (self.check)().map_err(Failure::Interrupted)?;
        }
        Ok(())
    }

    /// Tries the pattern from pattern offset `p` at subject offset `s`, with no captures open:
    /// the end of the match, if any. (`find`, `match`, `gsub` and `gmatch` call this for each
    /// start they try.)
    pub fn match_at(&mut self, s: usize, p: usize) -> Outcome<Option<usize>, E> {
        self.level = 0;
        self.do_match(s, p)
    }

    /// The captures of the last match that started at `start` and ended at `end`; the whole
    /// match when the pattern has none and `start` is given (`find` passes none).
    pub fn captures(&self, start: Option<usize>, end: usize) -> Outcome<Vec<Captured>, E> {
        let count = if self.level == 0 && start.is_some() {
            1
        } else {
            self.level
        };
        (0..count)
            .map(|i| self.capture(i, start.unwrap_or(0), end))
            .collect()
    }

    /// Capture `index` of the last match (`%1` is index 0); the whole match for index 0 of a
    /// pattern without captures.
    pub fn capture(&self, index: usize, start: usize, end: usize) -> Outcome<Captured, E> {
        if index >= self.level {
            return if index == 0 {
                Ok(Captured::Text(start, end))
            } else {
                Err(Failure::Pattern("invalid capture index"))
            };
        }
        match self.slots[index] {
            Slot::Open(_) => Err(Failure::Pattern("unfinished capture")),
            Slot::Position(at) => Ok(Captured::Position(at + 1)),
            Slot::Closed(at, len) => Ok(Captured::Text(at, at + len)),
        }
    }

    fn do_match(&mut self, s: usize, p: usize) -> Outcome<Option<usize>, E> {
        if self.depth >= MAX_DEPTH {
            return Err(Failure::Pattern("pattern too complex"));
        }
        self.depth += 1;
        let result = self.match_here(s, p);
        self.depth -= 1;
        result
    }

    fn match_here(&mut self, mut s: usize, mut p: usize) -> Outcome<Option<usize>, E> {
        loop {
            self.tick()?;
            match self.pat(p) {
                b'(' if self.pat(p + 1) == b')' => return self.start_capture(s, p + 2, true),
                b'(' => return self.start_capture(s, p + 1, false),
                b')' => return self.end_capture(s, p + 1),
                0 => return Ok(Some(s)),
                b'$' if self.pat(p + 1) == 0 => {
                    return Ok((s == self.subject.len()).then_some(s));
                }
                b'%' if self.pat(p + 1) == b'b' => match self.match_balance(s, p + 2)? {
                    Some(end) => {
                        s = end;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                b'%' if self.pat(p + 1) == b'f' => {
                    p += 2;
                    if self.pat(p) != b'[' {
                        return Err(Failure::Pattern("missing '[' after '%f' in pattern"));
                    }
                    let class_end = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.sub(s - 1) };
                    if self.bracket_class(previous, p, class_end - 1)
                        || !self.bracket_class(self.sub(s), p, class_end - 1)
                    {
                        return Ok(None);
                    }
                    p = class_end;
                    continue;
                }
                b'%' if self.pat(p + 1).is_ascii_digit() => {
                    match self.match_capture(s, self.pat(p + 1))? {
                        Some(end) => {
                            s = end;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {}
            }
            // A single-character class, maybe with a repetition after it.
            let class_end = self.class_end(p)?;
            let matches = s < self.subject.len() && self.single(self.subject[s], p, class_end);
            match self.pat(class_end) {
                b'?' => {
                    if matches {
                        if let Some(end) = self.do_match(s + 1, class_end + 1)? {
                            return Ok(Some(end));
                        }
                    }
                    p = class_end + 1;
                }
                b'*' => return self.max_expand(s, p, class_end),
                b'+' if matches => return self.max_expand(s + 1, p, class_end),
                b'+' => return Ok(None),
                b'-' => return self.min_expand(s, p, class_end),
                _ if matches => {
                    s += 1;
                    p = class_end;
                }
                _ => return Ok(None),
            }
        }
    }

    /// The offset just past the single-character class at `p`.
    fn class_end(&self, mut p: usize) -> Outcome<usize, E> {
        let first = self.pat(p);
        p += 1;
        match first {
            b'%' => {
                if self.pat(p) == 0 {
                    return Err(Failure::Pattern("malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.pat(p) == b'^' {
                    p += 1;
                }
                // The first `]` (after `[` or `[^`) is a member, as in Lua.
                loop {
                    if self.pat(p) == 0 {
                        return Err(Failure::Pattern("malformed pattern (missing ']')"));
                    }
                    let byte = self.pat(p);
                    p += 1;
                    if byte == b'%' && self.pat(p) != 0 {
                        p += 1;
                    }
                    if self.pat(p) == b']' {
                        return Ok(p + 1);
                    }
                }
            }
            _ => Ok(p),
        }
    }

    /// Whether `c` matches the single-character class `p..class_end`.
    fn single(&self, c: u8, p: usize, class_end: usize) -> bool {
        match self.pat(p) {
            b'.' => true,
            b'%' => class_matches(c, self.pat(p + 1)),
            b'[' => self.bracket_class(c, p, class_end - 1),
            literal => literal == c,
        }
    }

    /// Whether `c` is in the set `[...]` from `p` (its `[`) to `close` (its `]`).
    fn bracket_class(&self, c: u8, mut p: usize, close: usize) -> bool {
        let mut inside = true;
        if self.pat(p + 1) == b'^' {
            inside = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= close {
                return !inside;
            }
            if self.pat(p) == b'%' {
                p += 1;
                if class_matches(c, self.pat(p)) {
                    return inside;
                }
            } else if self.pat(p + 1) == b'-' && p + 2 < close {
                p += 2;
                if self.pat(p - 2) <= c && c <= self.pat(p) {
                    return inside;
                }
            } else if self.pat(p) == c {
                return inside;
            }
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, class_end: usize) -> Outcome<Option<usize>, E> {
        let mut count = 0;
        while s + count < self.subject.len() && self.single(self.subject[s + count], p, class_end) {
            count += 1;
            self.tick()?;
        }
        loop {
            if let Some(end) = self.do_match(s + count, class_end + 1)? {
                return Ok(Some(end));
            }
            if count == 0 {
                return Ok(None);
            }
            count -= 1;
        }
    }

    fn min_expand(
        &mut self,
        mut s: usize,
        p: usize,
        class_end: usize,
    ) -> Outcome<Option<usize>, E> {
        loop {
            if let Some(end) = self.do_match(s, class_end + 1)? {
                return Ok(Some(end));
            }
            if s < self.subject.len() && self.single(self.subject[s], p, class_end) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, position: bool) -> Outcome<Option<usize>, E> {
        if self.level >= MAX_CAPTURES {
            return Err(Failure::Pattern("too many captures"));
        }
        self.slots[self.level] = if position {
            Slot::Position(s)
        } else {
            Slot::Open(s)
        };
        self.level += 1;
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.level -= 1;
        }
        Ok(result)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Outcome<Option<usize>, E> {
        let Some(index) = (0..self.level)
            .rev()
            .find(|&i| matches!(self.slots[i], Slot::Open(_)))
        else {
            return Err(Failure::Pattern("invalid pattern capture"));
        };
        let Slot::Open(start) = self.slots[index] else {
            return Err(Failure::Pattern("invalid pattern capture"));
        };
        self.slots[index] = Slot::Closed(start, s - start);
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.slots[index] = Slot::Open(start);
        }
        Ok(result)
    }

    /// `%1`..`%9` (and the invalid `%0`): the same text as that capture again.
    fn match_capture(&mut self, s: usize, digit: u8) -> Outcome<Option<usize>, E> {
        let index = digit.wrapping_sub(b'1') as usize;
        if index >= self.level || matches!(self.slots[index], Slot::Open(_)) {
            return Err(Failure::Pattern("invalid capture index"));
        }
        let Slot::Closed(start, len) = self.slots[index] else {
            // A position capture has no text (Lua compares a length of `(size_t)-2`).
            return Ok(None);
        };
        let fits = self.subject.len() - s >= len;
        let same = fits && self.subject[start..start + len] == self.subject[s..s + len];
        Ok(same.then_some(s + len))
    }

    /// `%bxy`: a balanced run from `x` to its matching `y`.
    fn match_balance(&mut self, mut s: usize, p: usize) -> Outcome<Option<usize>, E> {
        if self.pat(p) == 0 || self.pat(p + 1) == 0 {
            return Err(Failure::Pattern("unbalanced pattern"));
        }
        let (open, close) = (self.pat(p), self.pat(p + 1));
        if self.sub(s) != open {
            return Ok(None);
        }
        let mut depth = 1;
        loop {
            s += 1;
            if s >= self.subject.len() {
                return Ok(None);
            }
            self.tick()?;
            let byte = self.subject[s];
            if byte == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(s + 1));
                }
            } else if byte == open {
                depth += 1;
            }
        }
    }
}

/// Whether `c` is in the class `%<class>` (C locale, as Redis runs Lua).
fn class_matches(c: u8, class: u8) -> bool {
    let found = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        // C's isspace: space, \t, \n, \v, \f, \r.
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !found
    } else {
        found
    }
}

/// Whether `pattern` has none of the characters that make a pattern special (up to its first
/// NUL, as C's `strpbrk`): `string.find` then does a plain search.
pub fn is_plain(pattern: &[u8]) -> bool {
    pattern
        .iter()
        .take_while(|&&b| b != 0)
        .all(|b| !b"^$*+?.([%-".contains(b))
}

/// The first occurrence of `needle` in `haystack`, as Lua's `lmemfind`.
pub fn find_plain(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Result<(), ()> {
        Ok(())
    }

    /// The span of the first match of `pattern` in `subject` from 0 (unanchored), as `find`.
    fn find(subject: &str, pattern: &str) -> Option<(usize, usize)> {
        let (anchored, p) = match pattern.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut matcher = Matcher::new(subject.as_bytes(), p.as_bytes(), never);
        for start in 0..=subject.len() {
            if let Some(end) = matcher.match_at(start, 0).unwrap() {
                return Some((start + 1, end));
            }
            if anchored {
                break;
            }
        }
        None
    }

    #[test]
    fn matches_as_lua_does() {
        assert_eq!(find("hello world", "o w"), Some((5, 7)));
        assert_eq!(find("hello", "l+"), Some((3, 4)));
        assert_eq!(find("hello", "^h.-l"), Some((1, 3)));
        assert_eq!(find("hello", "^e"), None);
        assert_eq!(find("key:123:x", "%d+"), Some((5, 7)));
        assert_eq!(find("THE (quick) fox", "%((%a+)%)"), Some((5, 11)));
        assert_eq!(find("x = f(a(b)c) + 1", "%b()"), Some((6, 12)));
        assert_eq!(find("THE (quick) fox", "%f[%a]%a+$"), Some((13, 15)));
        assert_eq!(find("abc", "[^%l]"), None);
        assert_eq!(find("a]b", "[]]"), Some((2, 2)));
        assert_eq!(find("abcabc", "(abc)%1"), Some((1, 6)));
        assert_eq!(find("abc", "b?c$"), Some((2, 3)));
        assert_eq!(find("a-z", "[a%-]+"), Some((1, 2)));
    }

    #[test]
    fn malformed_patterns_name_the_fault() {
        let error = |pattern: &str| {
            let mut matcher = Matcher::new(b"abc", pattern.as_bytes(), never);
            match matcher.match_at(0, 0) {
                Err(Failure::Pattern(text)) => text,
                other => panic!("{pattern}: {other:?}"),
            }
        };
        assert_eq!(error("a%"), "malformed pattern (ends with '%')");
        assert_eq!(error("[a"), "malformed pattern (missing ']')");
        assert_eq!(error("%1"), "invalid capture index");
        assert_eq!(error("a)"), "invalid pattern capture");
        assert_eq!(error("%f"), "missing '[' after '%f' in pattern");
        assert_eq!(error("%b"), "unbalanced pattern");
    }

    #[test]
    fn backtracking_calls_the_check_and_stops_when_it_refuses() {
        let subject = format!("{}b", "a".repeat(30));
        let pattern = format!("{}c", "a*".repeat(30));
        let mut checks = 0;
        let mut matcher = Matcher::new(subject.as_bytes(), pattern.as_bytes(), || {
            checks += 1;
            if checks < 3 {
                Ok(())
            } else {
                Err("stop")
            }
        });
        assert_eq!(matcher.match_at(0, 0), Err(Failure::Interrupted("stop")));
    }

    #[test]
    fn captures_and_positions() {
        let mut matcher = Matcher::new(b"key=value", b"(%w+)=()(%w+)", never);
        let end = matcher.match_at(0, 0).unwrap().unwrap();
        assert_eq!(
            matcher.captures(Some(0), end).unwrap(),
            vec![
                Captured::Text(0, 3),
                Captured::Position(5),
                Captured::Text(4, 9)
            ]
        );
    }
}
