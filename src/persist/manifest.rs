//! Redis 7's multi-part layout: a directory (`appenddirname`) holding a manifest
//! (`<appendfilename>.manifest`), one base file (`<appendfilename>.<seq>.base.aof`) and the
//! incremental files written since (`<appendfilename>.<seq>.incr.aof`), in Redis's manifest
//! format, one line per file:
//!
//! ```text
//! file appendonly.aof.1.base.aof seq 1 type b
//! file appendonly.aof.1.incr.aof seq 1 type i
//! ```
//!
//! The manifest is replaced atomically (written to a temporary file, synced, renamed, and the
//! directory synced), so a crash leaves either the old list of files or the new one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One file named by the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
}

/// The files of the log, in the order they are loaded: the base, then the incremental files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Part>,
    pub incrs: Vec<Part>,
}

impl Manifest {
    /// Reads a manifest's text; the error names the line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut manifest = Manifest::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("Invalid AOF manifest file format (line {})", number + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair {
                    ["file", value] => name = Some(value.to_string()),
                    ["seq", value] => seq = value.parse::<u64>().ok(),
                    ["type", value] => kind = Some(*value),
                    _ => return Err(bad()),
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(bad());
            };
            if name.contains('/') {
                return Err(bad());
            }
            let part = Part { name, seq };
            match kind {
                "b" if manifest.base.is_none() => manifest.base = Some(part),
                "i" => manifest.incrs.push(part),
                // History files are left over from a rewrite and are not loaded.
                "h" => {}
                _ => return Err(bad()),
            }
        }
        Ok(manifest)
    }

    /// The manifest's text, as Redis writes it.
    pub fn format(&self) -> String {
        let mut text = String::new();
        if let Some(base) = &self.base {
            text.push_str(&format!("file {} seq {} type b\n", base.name, base.seq));
        }
        for incr in &self.incrs {
            text.push_str(&format!("file {} seq {} type i\n", incr.name, incr.seq));
        }
        text
    }

    /// The highest sequence number in use (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.base
            .iter()
            .chain(&self.incrs)
            .map(|part| part.seq)
            .max()
            .unwrap_or(0)
    }

    /// Every file named, base first.
    pub fn parts(&self) -> impl Iterator<Item = &Part> {
        self.base.iter().chain(&self.incrs)
    }
}

/// Where the log's files live: `dir/appenddirname`, files named after `appendfilename`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
    pub filename: String,
}

impl Layout {
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.filename))
    }

    pub fn base_name(&self, seq: u64) -> String {
        format!("{}.{seq}.base.aof", self.filename)
    }

    pub fn incr_name(&self, seq: u64) -> String {
        format!("{}.{seq}.incr.aof", self.filename)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The manifest in the directory, if there is one.
    pub fn read_manifest(&self) -> io::Result<Option<Manifest>> {
        match fs::read_to_string(self.manifest_path()) {
            Ok(text) => Manifest::parse(&text)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Replaces the manifest atomically.
    pub fn write_manifest(&self, manifest: &Manifest) -> io::Result<()> {
        let temp = self.dir.join(format!("temp-{}.manifest", self.filename));
        write_synced(&temp, manifest.format().as_bytes())?;
        fs::rename(&temp, self.manifest_path())?;
        sync_dir(&self.dir)
    }
}

/// Writes `bytes` to a new file at `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Syncs a directory, so that files created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_manifest_round_trip() {
        let text = "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let manifest = Manifest::parse(text).unwrap();
        assert_eq!(manifest.base.as_ref().unwrap().seq, 2);
        assert_eq!(manifest.incrs.len(), 1);
        assert_eq!(manifest.format(), text);
        assert_eq!(manifest.last_seq(), 2);
        assert!(Manifest::parse("file x seq y type b").is_err());
        assert!(Manifest::parse("file ../x seq 1 type b").is_err());
    }
}
