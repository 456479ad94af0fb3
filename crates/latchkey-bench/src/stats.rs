//! What every workload shares: the target, latency histograms, and the one output line.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The server under test and its label in the output.
pub struct Target {
    pub addr: SocketAddr,
    pub label: String,
}

/// A latency histogram in microseconds, from 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

/// Records `elapsed` into `histogram`, clamped to its range.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = (elapsed.as_micros() as u64).clamp(1, 600_000_000);
    histogram.saturating_record(micros);
}

/// One output line, built field by field: `workload=… server=… key=value …`.
pub struct Line {
    text: String,
}

impl Line {
    pub fn new(workload: &str, target: &Target) -> Line {
        Line {
            text: format!("workload={workload} server={}", target.label),
        }
    }

    /// Adds `key=value`; whitespace in the value becomes `_` so the line splits on spaces.
    pub fn field(mut self, key: &str, value: impl std::fmt::Display) -> Line {
        let value = value.to_string();
        let value: String = value
            .chars()
            .map(|c| {
                if c.is_whitespace() || c == '"' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let _ = write!(self.text, " {key}={value}");
        self
    }

    /// Adds a number with `digits` decimals.
    pub fn num(self, key: &str, value: f64, digits: usize) -> Line {
        self.field(key, format!("{value:.digits$}"))
    }

    /// Adds p50, p99, p99.9 and max in milliseconds, with `prefix` (e.g. `wait_`).
    pub fn latency(self, prefix: &str, histogram: &Histogram<u64>) -> Line {
        let ms = |micros: u64| micros as f64 / 1000.0;
        self.num(
            &format!("{prefix}p50_ms"),
            ms(histogram.value_at_quantile(0.50)),
            3,
        )
        .num(
            &format!("{prefix}p99_ms"),
            ms(histogram.value_at_quantile(0.99)),
            3,
        )
        .num(
            &format!("{prefix}p999_ms"),
            ms(histogram.value_at_quantile(0.999)),
            3,
        )
        .num(&format!("{prefix}max_ms"), ms(histogram.max()), 3)
    }

    pub fn print(self) {
        println!("{}", self.text);
    }
}

/// Prints the line of a workload the server cannot run (a command it lacks).
pub fn unsupported(workload: &str, target: &Target, error: &str) {
    Line::new(workload, target)
        .field("status", "unsupported")
        .field("error", error)
        .print();
}

/// Whether an error reply means the server lacks the command or script, rather than a fault.
pub fn is_unsupported(error: &str) -> bool {
    error.starts_with("ERR unknown command")
        || error.starts_with("ERR unknown subcommand")
        || error.starts_with("NOSCRIPT")
        || error.starts_with("ERR syntax error")
}

/// A token of exactly 36 bytes (UUID-shaped), unique per `(owner, sequence)`.
pub fn token(owner: u64, sequence: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        owner as u32,
        (owner >> 32) as u16,
        (sequence >> 48) as u16,
        (sequence >> 32) as u16,
        sequence & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_36_bytes() {
        assert_eq!(token(0, 0).len(), 36);
        assert_eq!(token(u64::MAX, u64::MAX).len(), 36);
        assert_ne!(token(1, 2), token(2, 1));
    }

    #[test]
    fn line_fields_have_no_spaces() {
        let target = Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            label: "x".into(),
        };
        let line = Line::new("w", &target).field("error", "ERR unknown \"x\"");
        assert_eq!(line.text, "workload=w server=x error=ERR_unknown__x_");
    }
}
