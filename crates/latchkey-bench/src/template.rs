//! Command templates: a command line such as `SET lock:__rand_int__ tok NX PX 30000`, encoded
//! once as RESP with fixed-width placeholders that are overwritten in place per request.
//!
//! `__rand_int__` becomes a zero-padded 12-digit random number below the key-space size (as in
//! redis-benchmark); `__cmpdel_sha__` becomes the SHA1 of the compare-delete release script,
//! which the generator loads with `SCRIPT LOAD` first.

use std::ops::Range;

/// The placeholder replaced by a random number per request.
pub const RAND_INT: &str = "__rand_int__";
/// The placeholder replaced by the loaded compare-delete script's SHA1.
pub const CMPDEL_SHA: &str = "__cmpdel_sha__";
/// Width of the number written for `__rand_int__`.
const DIGITS: usize = 12;

/// The classic lock release: delete the key only if it still holds the caller's token.
pub const COMPARE_DELETE: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end";

/// An encoded request with the byte ranges to fill with random digits.
#[derive(Clone)]
pub struct Template {
    encoded: Vec<u8>,
    slots: Vec<Range<usize>>,
}

impl Template {
    /// Splits `command` on whitespace, puts `sha` in place of `__cmpdel_sha__`, and encodes it.
    pub fn new(command: &str, sha: Option<&str>) -> Template {
        let args: Vec<&str> = command.split_whitespace().collect();
        let mut encoded = format!("*{}\r\n", args.len()).into_bytes();
        let mut slots = Vec::new();
        for arg in args {
            let arg = match sha {
                Some(sha) => arg.replace(CMPDEL_SHA, sha),
                None => arg.to_string(),
            };
            // Build the argument with zeros in place of each placeholder, noting where they go.
            let mut filled = Vec::new();
            let mut offsets = Vec::new();
            let mut rest = arg.as_str();
            while let Some(pos) = rest.find(RAND_INT) {
                filled.extend_from_slice(&rest.as_bytes()[..pos]);
                offsets.push(filled.len());
                filled.extend_from_slice(&[b'0'; DIGITS]);
                rest = &rest[pos + RAND_INT.len()..];
            }
            filled.extend_from_slice(rest.as_bytes());
            encoded.extend_from_slice(format!("${}\r\n", filled.len()).as_bytes());
            let start = encoded.len();
            slots.extend(
                offsets
                    .into_iter()
                    .map(|at| start + at..start + at + DIGITS),
            );
            encoded.extend_from_slice(&filled);
            encoded.extend_from_slice(b"\r\n");
        }
        Template { encoded, slots }
    }

    /// Whether the template needs the compare-delete script loaded.
    pub fn needs_script(command: &str) -> bool {
        command.contains(CMPDEL_SHA)
    }

    /// Appends one request to `out`, each placeholder filled with a number below `keyspace`.
    pub fn write(&self, out: &mut Vec<u8>, keyspace: u64, rng: &mut fastrand::Rng) {
        let start = out.len();
        out.extend_from_slice(&self.encoded);
        for slot in &self.slots {
            let mut n = rng.u64(..keyspace.max(1));
            for byte in out[start + slot.start..start + slot.end].iter_mut().rev() {
                *byte = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
    }

    /// The request with every placeholder filled with zeros (for a first probe).
    pub fn probe(&self) -> &[u8] {
        &self.encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_in_place() {
        let template = Template::new("SET k:__rand_int__:__rand_int__ v NX", None);
        let mut out = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        template.write(&mut out, 1000, &mut rng);
        let text = String::from_utf8(out).unwrap();
        let parts: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(parts[0], "*4");
        assert_eq!(parts[3], "$27");
        assert_eq!(parts[4].len(), 27);
        assert!(parts[4].starts_with("k:000000000"));
        assert_eq!(parts[4].as_bytes()[14], b':');
    }

    #[test]
    fn substitutes_the_script_sha() {
        let template = Template::new("EVALSHA __cmpdel_sha__ 1 k", Some("abc"));
        assert_eq!(
            template.probe(),
            b"*4\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$1\r\nk\r\n"
        );
    }
}
