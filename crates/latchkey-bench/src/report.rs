//! The comparison report: reads result lines of two servers (several rounds each) and a list of
//! comparisons, and writes a Markdown table of ratios (ours / reference) and an SVG bar chart.
//!
//! The comparison list has one line per row, fields separated by `|`:
//! `title | our workload | reference workload | metric | higher or lower (is better) | target`,
//! where the target is the ratio to reach (`1.5` means ours ≥ 1.5 × reference when higher is
//! better, ours ≤ 1.5 × reference when lower is better; `-` for none). `#` starts a comment.
//!
//! The ratio of a row is paired by round: each round measures both servers back to back, so the
//! ratio is the median over rounds of that round's ours / reference. Drift on a shared machine
//! (another job starting, a slower minute) then moves both sides of a pair together instead of
//! landing on one server's median. Rows without common rounds fall back to the ratio of the
//! medians.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The result lines (other lines are ignored).
    #[arg(long)]
    pub results: PathBuf,
    /// The comparison list.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Where to write the Markdown table (stdout when absent).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Where to write the SVG chart.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// `server=` label of our server.
    #[arg(long, default_value = "latchkey")]
    pub ours: String,
    /// `server=` label of the reference server.
    #[arg(long, default_value = "redis")]
    pub reference: String,
}

/// One comparison row as listed.
struct Pair {
    title: String,
    ours: String,
    reference: String,
    metric: String,
    higher_is_better: bool,
    target: Goal,
}

/// What a row must reach.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Goal {
    None,
    /// ours / reference at least this (higher is better) or at most this (lower is better).
    Ratio(f64),
    /// Our own value at most this…
    AtMost(f64),
    /// …or at least this.
    AtLeast(f64),
}

impl Goal {
    fn parse(text: &str) -> Goal {
        let number = |s: &str| s.trim().parse::<f64>().ok();
        if let Some(n) = text.strip_prefix("abs<=").and_then(number) {
            Goal::AtMost(n)
        } else if let Some(n) = text.strip_prefix("abs>=").and_then(number) {
            Goal::AtLeast(n)
        } else {
            number(text).map_or(Goal::None, Goal::Ratio)
        }
    }
}

/// A side of a row: the value of each round (with the round's label, empty when the line had
/// none), or why there are none.
enum Side {
    Values(Vec<(String, f64)>),
    Missing(String),
}

/// The median of `values` (`None` when empty).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// ours / reference: the median of the per-round ratios where both sides have the round, else
/// the ratio of the medians.
fn paired_ratio(ours: &Side, reference: &Side) -> Option<f64> {
    if let (Side::Values(a), Side::Values(b)) = (ours, reference) {
        let ratios: Vec<f64> = a
            .iter()
            .filter(|(round, _)| !round.is_empty())
            .filter_map(|(round, x)| {
                let (_, y) = b.iter().find(|(r, _)| r == round)?;
                (*y != 0.0).then(|| x / y)
            })
            .collect();
        if !ratios.is_empty() {
            return median(ratios);
        }
    }
    match (ours.median(), reference.median()) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

impl Side {
    fn median(&self) -> Option<f64> {
        let Side::Values(values) = self else {
            return None;
        };
        median(values.iter().map(|(_, v)| *v).collect())
    }

    fn cell(&self) -> String {
        match (self, self.median()) {
            (Side::Values(values), Some(median)) => {
                let rounds: Vec<String> = values.iter().map(|(_, v)| format_value(*v)).collect();
                format!("{} ({})", format_value(median), rounds.join(" / "))
            }
            (Side::Missing(why), _) => why.clone(),
            _ => "no data".to_string(),
        }
    }
}

/// A computed row.
struct Row<'p> {
    pair: &'p Pair,
    ours: Side,
    reference: Side,
    /// ours / reference.
    ratio: Option<f64>,
}

impl Row<'_> {
    /// How many times better ours is (> 1: ours better), whichever direction is better.
    fn advantage(&self) -> Option<f64> {
        let ratio = self.ratio?;
        if self.pair.higher_is_better {
            Some(ratio)
        } else if ratio > 0.0 {
            Some(1.0 / ratio)
        } else {
            None
        }
    }

    fn met(&self) -> Option<bool> {
        match self.pair.target {
            Goal::None => None,
            Goal::Ratio(target) if self.pair.higher_is_better => Some(self.ratio? >= target),
            Goal::Ratio(target) => Some(self.ratio? <= target),
            Goal::AtMost(bound) => Some(self.ours.median()? <= bound),
            Goal::AtLeast(bound) => Some(self.ours.median()? >= bound),
        }
    }
}

pub fn run(args: &Args) -> io::Result<()> {
    let results = std::fs::read_to_string(&args.results)?;
    let pairs = parse_pairs(&std::fs::read_to_string(&args.pairs)?)?;
    let lines = parse_results(&results);
    let rows: Vec<Row> = pairs
        .iter()
        .map(|pair| {
            let ours = side(&lines, &pair.ours, &args.ours, &pair.metric);
            let reference = side(&lines, &pair.reference, &args.reference, &pair.metric);
            let ratio = paired_ratio(&ours, &reference);
            Row {
                pair,
                ours,
                reference,
                ratio,
            }
        })
        .collect();
    let table = markdown(&rows, &args.ours, &args.reference);
    match &args.markdown {
        Some(path) => std::fs::write(path, &table)?,
        None => print!("{table}"),
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&rows, &args.ours, &args.reference))?;
    }
    Ok(())
}

fn parse_pairs(text: &str) -> io::Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [title, ours, reference, metric, better, target] = fields[..] else {
            return Err(io::Error::other(format!("bad comparison line: {line}")));
        };
        pairs.push(Pair {
            title: title.to_string(),
            ours: ours.to_string(),
            reference: reference.to_string(),
            metric: metric.to_string(),
            higher_is_better: better == "higher",
            target: Goal::parse(target),
        });
    }
    Ok(pairs)
}

type Fields = HashMap<String, String>;

fn parse_results(text: &str) -> Vec<Fields> {
    text.lines()
        .filter(|line| line.starts_with("workload="))
        .map(|line| {
            line.split_whitespace()
                .filter_map(|field| field.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn side(lines: &[Fields], workload: &str, server: &str, metric: &str) -> Side {
    let mut values = Vec::new();
    let mut missing = None;
    for line in lines {
        if line.get("workload").map(String::as_str) != Some(workload)
            || line.get("server").map(String::as_str) != Some(server)
        {
            continue;
        }
        match line.get("status").map(String::as_str) {
            Some("ok") | Some("partial") => {
                if let Some(value) = line.get(metric).and_then(|v| v.parse::<f64>().ok()) {
                    let round = line.get("round").cloned().unwrap_or_default();
                    values.push((round, value));
                }
            }
            Some(status) => missing = Some(status.to_string()),
            None => {}
        }
    }
    if values.is_empty() {
        Side::Missing(missing.unwrap_or_else(|| "not run".to_string()))
    } else {
        Side::Values(values)
    }
}

fn format_value(value: f64) -> String {
    if !value.is_finite() {
        "∞".to_string()
    } else if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn format_ratio(ratio: f64) -> String {
    if !ratio.is_finite() {
        "∞".to_string()
    } else if ratio >= 10.0 {
        format!("{ratio:.1}×")
    } else {
        format!("{ratio:.2}×")
    }
}

fn markdown(rows: &[Row], ours: &str, reference: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload | metric | {ours} | {reference} | ratio {ours}/{reference} (median of per-round ratios) | target | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for row in rows {
        let ratio = row.ratio.map_or_else(|| "–".to_string(), format_ratio);
        let target = match row.pair.target {
            Goal::Ratio(t) if row.pair.higher_is_better => format!("≥ {t}×"),
            Goal::Ratio(t) => format!("≤ {t}×"),
            Goal::AtMost(bound) => format!("{ours} ≤ {bound}"),
            Goal::AtLeast(bound) => format!("{ours} ≥ {bound}"),
            Goal::None => "–".to_string(),
        };
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.pair.title,
            row.pair.metric,
            row.ours.cell(),
            row.reference.cell(),
            ratio,
            target,
            met
        );
    }
    out
}

/// A horizontal bar chart of each row's advantage on a log scale: bars grow right of the 1×
/// line when ours is better, left when it is worse; a tick marks the target.
fn svg(rows: &[Row], ours: &str, reference: &str) -> String {
    const LABEL_W: f64 = 330.0;
    const PLOT_W: f64 = 520.0;
    const ROW_H: f64 = 26.0;
    const TOP: f64 = 56.0;
    let (min_log, max_log) = (-2.0f64, 2.0f64); // 0.01× … 100×
    let x = |advantage: f64| {
        let log = advantage.max(1e-9).log10().clamp(min_log, max_log);
        LABEL_W + (log - min_log) / (max_log - min_log) * PLOT_W
    };
    let height = TOP + ROW_H * rows.len() as f64 + 40.0;
    let width = LABEL_W + PLOT_W + 120.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{ours} vs {reference}: how many times better (log scale; right of 1× = {ours} better)</text>"#
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="38" fill="#555">bar: ratio, median of per-round ratios; tick: target; green = target met, orange = missed, grey = no comparison</text>"##
    );
    for grid in [0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0] {
        let gx = x(grid);
        let stroke = if grid == 1.0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            out,
            r#"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="{stroke}"/>"#,
            TOP + ROW_H * rows.len() as f64
        );
        let _ = writeln!(
            out,
            r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{grid}×</text>"##,
            TOP + ROW_H * rows.len() as f64 + 16.0
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_W - 8.0,
            y + ROW_H * 0.65,
            escape(&format!("{} ({})", row.pair.title, row.pair.metric))
        );
        let Some(advantage) = row.advantage() else {
            let why = match (&row.ours, &row.reference) {
                (Side::Missing(why), _) => format!("{ours}: {why}"),
                (_, Side::Missing(why)) => format!("{reference}: {why}"),
                _ => "no comparison".to_string(),
            };
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#999">{}</text>"##,
                x(1.0) + 6.0,
                y + ROW_H * 0.65,
                escape(&why)
            );
            continue;
        };
        let (x0, x1) = (x(1.0), x(advantage));
        let color = match row.met() {
            Some(true) => "#4caf50",
            Some(false) => "#ff9800",
            None => "#90a4ae",
        };
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            x0.min(x1),
            y + 4.0,
            (x1 - x0).abs().max(1.0),
            ROW_H - 8.0
        );
        if let Goal::Ratio(target) = row.pair.target {
            let target_advantage = if row.pair.higher_is_better {
                target
            } else {
                1.0 / target
            };
            let tx = x(target_advantage);
            let _ = writeln!(
                out,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
                y + 2.0,
                y + ROW_H - 2.0
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x0.max(x1) + 6.0,
            y + ROW_H * 0.65,
            escape(&format!(
                "{}/{} = {}",
                ours,
                reference,
                format_ratio(row.ratio.unwrap_or(0.0))
            ))
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_use_medians_and_directions() {
        let results = "workload=a server=latchkey status=ok ops_per_s=300\n\
                       workload=a server=latchkey status=ok ops_per_s=100\n\
                       workload=a server=redis status=ok ops_per_s=100\n\
                       workload=b server=latchkey status=unsupported error=x\n\
                       workload=b server=redis status=ok ops_per_s=5\n";
        let pairs = parse_pairs(
            "A | a | a | ops_per_s | higher | 1.5\nB | b | b | ops_per_s | lower | -\n",
        )
        .unwrap();
        let lines = parse_results(results);
        let a = side(&lines, "a", "latchkey", "ops_per_s");
        assert_eq!(a.median(), Some(200.0));
        let redis = side(&lines, "a", "redis", "ops_per_s");
        assert_eq!(
            paired_ratio(&a, &redis),
            Some(2.0),
            "no rounds: ratio of medians"
        );
        let b = side(&lines, "b", "latchkey", "ops_per_s");
        assert!(matches!(b, Side::Missing(ref why) if why == "unsupported"));
        assert!(!pairs[1].higher_is_better);
        assert_eq!(pairs[0].target, Goal::Ratio(1.5));
        assert_eq!(Goal::parse("abs<=10"), Goal::AtMost(10.0));
        assert_eq!(Goal::parse("-"), Goal::None);
    }

    #[test]
    fn ratios_pair_rounds() {
        // Round 2 ran on a slower machine for both servers: pairing keeps the ratio at 2.
        let results = "workload=a server=latchkey status=ok ops_per_s=400 round=1\n\
                       workload=a server=redis status=ok ops_per_s=200 round=1\n\
                       workload=a server=redis status=ok ops_per_s=50 round=2\n\
                       workload=a server=latchkey status=ok ops_per_s=100 round=2\n\
                       workload=a server=latchkey status=ok ops_per_s=300 round=3\n";
        let lines = parse_results(results);
        let ours = side(&lines, "a", "latchkey", "ops_per_s");
        let reference = side(&lines, "a", "redis", "ops_per_s");
        assert_eq!(paired_ratio(&ours, &reference), Some(2.0));
        assert_eq!(ours.median(), Some(300.0));
    }
}
