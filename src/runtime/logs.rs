//! Container logs in the CRI format: the writer the shim uses and the reader `kubectl logs` is
//! served from.
//!
//! Contract: each record is one line `<RFC3339Nano UTC> <stdout|stderr> <F|P> <content>\n`.
//! `F` ends a logical line (the newline itself is not part of the content); `P` is a piece of a
//! longer line: a line longer than [`MAX_LINE`] is split, and output still without a newline when
//! the stream ends is written as `P`. When the file grows past `max_bytes` it is renamed to
//! `<name>.<yyyymmdd-hhmmss>` (keeping only the newest rotated file) and reopened, as the
//! kubelet's rotation does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::clock::{parse_rfc3339, rfc3339};

/// Longest content of one record; longer lines are split into `P` records.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    pub stream: LogStream,
    /// `P`: the logical line continues in the next record of the same stream.
    pub partial: bool,
    /// Content without the record's newline.
    pub content: Vec<u8>,
}

/// `2026-11-22T03:40:00.123456789Z`.
pub fn format_timestamp(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    // `rfc3339` ends in "Z" after the seconds: splice the fraction in before it.
    let whole = rfc3339(secs);
    format!("{}.{nanos:09}Z", &whole[..whole.len() - 1])
}

/// Parses an RFC 3339 timestamp with an optional fraction into Unix nanoseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let secs = parse_rfc3339(text)?;
    let mut nanos = 0i64;
    if let Some(frac) = text.get(19..).and_then(|r| r.strip_prefix('.')) {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().ok()?;
    }
    Some(secs * 1_000_000_000 + nanos)
}

/// Parses one record (without or with its trailing newline).
pub fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(LogEntry {
        timestamp: parse_timestamp(ts)?,
        stream,
        partial,
        content: parts.next().unwrap_or_default().to_vec(),
    })
}

/// Every record of a log file; unparsable lines are skipped.
pub fn read_all(path: &Path) -> io::Result<Vec<LogEntry>> {
    let bytes = fs::read(path)?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(parse_line)
        .collect())
}

/// The records forming the last `n` logical lines (a trailing unfinished line counts as one).
pub fn tail(path: &Path, n: usize) -> io::Result<Vec<LogEntry>> {
    let entries = read_all(path)?;
    let mut lines = 0;
    let mut start = entries.len();
    for (i, e) in entries.iter().enumerate().rev() {
        let ends_line = !e.partial || i + 1 == entries.len();
        if ends_line {
            if lines == n {
                break;
            }
            lines += 1;
        }
        start = i;
    }
    Ok(entries[start..].to_vec())
}

/// The records at or after `unix_nanos`.
pub fn since(entries: Vec<LogEntry>, unix_nanos: i64) -> Vec<LogEntry> {
    entries
        .into_iter()
        .filter(|e| e.timestamp >= unix_nanos)
        .collect()
}

/// Appends CRI records to a container's log file, with size-based rotation.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    /// Output of each stream not yet ended by a newline.
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens (appending) `path`, creating its directory; `max_bytes == 0` never rotates.
    pub fn open(path: &Path, max_bytes: u64) -> io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Records output of one stream read at `now` (Unix nanoseconds).
    pub fn write(&mut self, stream: LogStream, data: &[u8], now: i64) -> io::Result<()> {
        let idx = stream as usize;
        let mut pending = std::mem::take(&mut self.pending[idx]);
        pending.extend_from_slice(data);
        let mut rest: &[u8] = &pending;
        let result = loop {
            if let Some(pos) = rest.iter().position(|b| *b == b'\n') {
                if pos <= MAX_LINE {
                    if let Err(e) = self.record(stream, false, &rest[..pos], now) {
                        break Err(e);
                    }
                    rest = &rest[pos + 1..];
                    continue;
                }
            }
            if rest.len() > MAX_LINE {
                if let Err(e) = self.record(stream, true, &rest[..MAX_LINE], now) {
                    break Err(e);
                }
                rest = &rest[MAX_LINE..];
                continue;
            }
            break Ok(());
        };
        self.pending[idx] = rest.to_vec();
        result
    }

    /// Writes output still waiting for a newline as `P` records (the stream ended).
    pub fn flush_partial(&mut self, now: i64) -> io::Result<()> {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let pending = std::mem::take(&mut self.pending[stream as usize]);
            if !pending.is_empty() {
                self.record(stream, true, &pending, now)?;
            }
        }
        Ok(())
    }

    fn record(
        &mut self,
        stream: LogStream,
        partial: bool,
        content: &[u8],
        now: i64,
    ) -> io::Result<()> {
        let mut line = Vec::with_capacity(content.len() + 48);
        line.extend_from_slice(format_timestamp(now).as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_str().as_bytes());
        line.extend_from_slice(if partial { b" P " } else { b" F " });
        line.extend_from_slice(content);
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        if self.max_bytes > 0 && self.size > self.max_bytes {
            self.rotate(now)?;
        }
        Ok(())
    }

    fn rotate(&mut self, now: i64) -> io::Result<()> {
        let ts = format_timestamp(now);
        // yyyymmdd-hhmmss from "yyyy-mm-ddThh:mm:ss...".
        let stamp: String = ts[..19]
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .map(|c| if c == 'T' { '-' } else { c })
            .collect();
        let name = self
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        fs::rename(&self.path, &rotated)?;
        if let Some(dir) = self.path.parent() {
            let prefix = format!("{name}.");
            for entry in fs::read_dir(dir)?.flatten() {
                let other = entry.file_name().to_string_lossy().into_owned();
                if other.starts_with(&prefix) && entry.path() != rotated {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_318_800_123_456_789; // 2026-11-22T03:40:00.123456789Z

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_timestamp(T), "2026-11-22T03:40:00.123456789Z");
        assert_eq!(parse_timestamp("2026-11-22T03:40:00.123456789Z"), Some(T));
        assert_eq!(
            parse_timestamp("2026-11-22T03:40:00.5Z"),
            Some(T - 123_456_789 + 500_000_000)
        );
    }

    #[test]
    fn lines_partials_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut w = LogWriter::open(&path, 0).unwrap();
        w.write(LogStream::Stdout, b"hello\nwor", T).unwrap();
        w.write(LogStream::Stderr, b"oops\n", T).unwrap();
        w.write(LogStream::Stdout, b"ld\n", T).unwrap();
        w.write(LogStream::Stdout, &vec![b'x'; MAX_LINE + 3], T)
            .unwrap();
        w.write(LogStream::Stdout, b"\nend", T).unwrap();
        w.flush_partial(T).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let first: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(
            first,
            [
                "2026-11-22T03:40:00.123456789Z stdout F hello",
                "2026-11-22T03:40:00.123456789Z stderr F oops",
                "2026-11-22T03:40:00.123456789Z stdout F world",
            ]
        );
        let all = read_all(&path).unwrap();
        assert_eq!(all.len(), 6);
        assert!(all[3].partial && all[3].content.len() == MAX_LINE);
        assert_eq!(
            (all[4].partial, all[4].content.as_slice()),
            (false, &b"xxx"[..])
        );
        assert_eq!(
            (all[5].partial, all[5].content.as_slice()),
            (true, &b"end"[..])
        );
        let last = tail(&path, 2).unwrap();
        assert_eq!(last.len(), 3, "the split line counts once: {last:?}");
        assert_eq!(tail(&path, 0).unwrap().len(), 0);
        assert_eq!(tail(&path, 100).unwrap().len(), 6);
        assert_eq!(since(all, T + 1).len(), 0);
    }

    #[test]
    fn rotation_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(&path, 100).unwrap();
        for i in 0..3 {
            w.write(
                LogStream::Stdout,
                b"0123456789012345678901234567890123456789\n",
                T + i * 1_000_000_000,
            )
            .unwrap();
            w.write(
                LogStream::Stdout,
                b"0123456789012345678901234567890123456789\n",
                T + i * 1_000_000_000,
            )
            .unwrap();
        }
        w.write(LogStream::Stdout, b"last\n", T + 5_000_000_000)
            .unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["0.log", "0.log.20261122-034002"]);
        assert_eq!(read_all(&path).unwrap().len(), 1);
    }
}
