//! Container logs as `kubectl logs` expects them, read from CRI log files.
//!
//! Contract: a CRI log file holds records `<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <text>\n`
//! where `P` marks a fragment continued by the next record of the same stream. [`stream_logs`]
//! joins fragments, applies `sinceSeconds`/`sinceTime` (message time >= since), `tailLines`
//! (last N messages), `timestamps` (prefix `<time> `) and `limitBytes` (output cut at that
//! many bytes), then with `follow` keeps reading appended records (polling every
//! [`POLL`]), switches to the new file when the log is rotated or replaced, and ends once
//! the container stops running and the file is drained. Output is sent in chunks; a closed
//! channel (client gone) ends the stream.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::AsyncReadExt;

/// How often a followed log is polled for growth.
pub const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid {param}: {value}")]
    InvalidParam { param: &'static str, value: String },
    #[error("reading log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Query options of a log request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    /// Only messages at or after this time (nanoseconds since the epoch).
    pub since_nanos: Option<i64>,
    pub limit_bytes: Option<u64>,
}

fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| v == "true" || v == "1" || v.is_empty())
}

impl LogOptions {
    /// Parse the kubelet/API query parameters; `now_nanos` resolves `sinceSeconds`.
    pub fn from_query(q: &HashMap<String, String>, now_nanos: i64) -> Result<LogOptions, LogError> {
        let num = |param: &'static str| -> Result<Option<i64>, LogError> {
            match q.get(param).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| LogError::InvalidParam {
                        param,
                        value: v.clone(),
                    }),
            }
        };
        let mut since_nanos = num("sinceSeconds")?.map(|s| now_nanos - s * 1_000_000_000);
        if let Some(t) = q.get("sinceTime").filter(|v| !v.is_empty()) {
            since_nanos = Some(parse_time_nanos(t).ok_or_else(|| LogError::InvalidParam {
                param: "sinceTime",
                value: t.clone(),
            })?);
        }
        Ok(LogOptions {
            follow: flag(q, "follow"),
            previous: flag(q, "previous"),
            timestamps: flag(q, "timestamps"),
            tail_lines: num("tailLines")?.map(|n| n as usize),
            since_nanos,
            limit_bytes: num("limitBytes")?.filter(|n| *n > 0).map(|n| n as u64),
        })
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time with optional fraction.
pub fn parse_time_nanos(s: &str) -> Option<i64> {
    let secs = crate::clock::parse_rfc3339(s)?;
    let frac = s
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|f| {
            f.bytes()
                .take_while(u8::is_ascii_digit)
                .collect::<Vec<u8>>()
        })
        .unwrap_or_default();
    let mut nanos = 0i64;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(secs * 1_000_000_000 + nanos)
}

/// One record of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub text: &'a [u8],
}

/// Parse one line (without its newline); `None` for lines that are not CRI records.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tags = parts.next()?;
    let text = parts.next().unwrap_or(b"");
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let partial = tags.split(|b| *b == b':').next() == Some(b"P");
    Some(Record {
        time,
        stream,
        partial,
        text,
    })
}

/// A complete log message (fragments joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub time: String,
    pub nanos: i64,
    pub text: Vec<u8>,
}

/// Joins `P` fragments per stream into messages.
#[derive(Debug, Default)]
pub struct Joiner {
    pending: HashMap<String, Message>,
}

impl Joiner {
    pub fn push(&mut self, r: &Record<'_>) -> Option<Message> {
        let m = self
            .pending
            .entry(r.stream.to_string())
            .or_insert_with(|| Message {
                time: r.time.to_string(),
                nanos: parse_time_nanos(r.time).unwrap_or(0),
                text: Vec::new(),
            });
        m.text.extend_from_slice(r.text);
        if r.partial {
            return None;
        }
        self.pending.remove(r.stream)
    }
}

/// Renders messages into output bytes, honouring since, timestamps and the byte limit.
#[derive(Debug)]
pub struct Renderer {
    opts: LogOptions,
    written: u64,
}

impl Renderer {
    pub fn new(opts: LogOptions) -> Renderer {
        Renderer { opts, written: 0 }
    }

    pub fn wants(&self, m: &Message) -> bool {
        self.opts.since_nanos.is_none_or(|s| m.nanos >= s)
    }

    /// Whether the byte limit is reached.
    pub fn done(&self) -> bool {
        self.opts.limit_bytes.is_some_and(|l| self.written >= l)
    }

    pub fn render(&mut self, m: &Message, out: &mut Vec<u8>) {
        let start = out.len();
        if self.opts.timestamps {
            out.extend_from_slice(m.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&m.text);
        out.push(b'\n');
        if let Some(limit) = self.opts.limit_bytes {
            let room = limit.saturating_sub(self.written) as usize;
            out.truncate(start + room.min(out.len() - start));
        }
        self.written += (out.len() - start) as u64;
    }
}

/// Messages of a whole buffer of complete lines.
pub fn messages(data: &[u8], joiner: &mut Joiner) -> Vec<Message> {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_record)
        .filter_map(|r| joiner.push(&r))
        .collect()
}

/// The initial output of a log request: every wanted message, then the tail cut.
pub fn render_all(data: &[u8], joiner: &mut Joiner, r: &mut Renderer) -> Vec<u8> {
    let mut msgs: Vec<Message> = messages(data, joiner)
        .into_iter()
        .filter(|m| r.wants(m))
        .collect();
    if let Some(n) = r.opts.tail_lines {
        let skip = msgs.len().saturating_sub(n);
        msgs.drain(..skip);
    }
    let mut out = Vec::new();
    for m in &msgs {
        if r.done() {
            break;
        }
        r.render(m, &mut out);
    }
    out
}

struct Open {
    file: smol::fs::File,
    ino: u64,
    /// Bytes after the last newline, waiting for the rest of their line.
    carry: Vec<u8>,
}

async fn open(path: &Path) -> Result<Open, LogError> {
    let io = |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = smol::fs::File::open(path).await.map_err(io)?;
    let ino = file.metadata().await.map_err(io)?.ino();
    Ok(Open {
        file,
        ino,
        carry: Vec::new(),
    })
}

/// Read what was appended; returns complete lines.
async fn read_more(o: &mut Open, path: &Path) -> Result<Vec<u8>, LogError> {
    let mut buf = Vec::new();
    o.file
        .read_to_end(&mut buf)
        .await
        .map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    o.carry.extend_from_slice(&buf);
    match o.carry.iter().rposition(|b| *b == b'\n') {
        Some(i) => {
            let rest = o.carry.split_off(i + 1);
            Ok(std::mem::replace(&mut o.carry, rest))
        }
        None => Ok(Vec::new()),
    }
}

/// Stream the log at `path` into `tx`; `running` tells whether the container still runs
/// (only consulted when following).
pub async fn stream_logs(
    path: &Path,
    opts: LogOptions,
    tx: smol::channel::Sender<Bytes>,
    running: impl Fn() -> bool,
) -> Result<(), LogError> {
    let follow = opts.follow;
    let mut renderer = Renderer::new(opts);
    let mut joiner = Joiner::default();
    let mut cur = open(path).await?;
    let initial = read_more(&mut cur, path).await?;
    let out = render_all(&initial, &mut joiner, &mut renderer);
    if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
        return Ok(());
    }
    if !follow {
        return Ok(());
    }
    loop {
        if renderer.done() {
            return Ok(());
        }
        let alive = running();
        let lines = read_more(&mut cur, path).await?;
        if !lines.is_empty() {
            let mut out = Vec::new();
            for m in messages(&lines, &mut joiner) {
                if renderer.wants(&m) && !renderer.done() {
                    renderer.render(&m, &mut out);
                }
            }
            if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                return Ok(());
            }
            continue;
        }
        // Drained: a rotated or recreated file continues under the same path.
        let replaced = std::fs::metadata(path).is_ok_and(|m| m.ino() != cur.ino);
        if replaced {
            cur = open(path).await?;
            continue;
        }
        if !alive {
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        async_io::Timer::after(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"2026-11-22T03:00:00.100000000Z stdout F one\n\
2026-11-22T03:00:01.000000000Z stderr P tw\n\
2026-11-22T03:00:01.500000000Z stdout F three\n\
2026-11-22T03:00:02.000000000Z stderr F o\n\
garbage line\n\
2026-11-22T03:00:03.000000000Z stdout F \n\
2026-11-22T03:00:04.000000000Z stdout F:x four\n";

    fn render(opts: LogOptions) -> String {
        let mut r = Renderer::new(opts);
        String::from_utf8(render_all(LOG, &mut Joiner::default(), &mut r)).unwrap()
    }

    #[test]
    fn parses_cri_records() {
        let r = parse_record(b"2026-11-22T03:00:00.1Z stdout P a b ").unwrap();
        assert_eq!(
            (r.stream, r.partial, r.text),
            ("stdout", true, &b"a b "[..])
        );
        assert!(parse_record(b"2026-11-22T03:00:00Z stdin F x").is_none());
        assert_eq!(
            parse_time_nanos("2026-11-22T03:00:00.1Z").unwrap() % 1_000_000_000,
            100_000_000
        );
    }

    #[test]
    fn joins_partials_and_strips_prefix() {
        assert_eq!(render(LogOptions::default()), "one\nthree\ntwo\n\nfour\n");
    }

    #[test]
    fn tail_since_timestamps_and_limit() {
        let tail = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(render(tail), "\nfour\n");
        let since = LogOptions {
            since_nanos: parse_time_nanos("2026-11-22T03:00:01.5Z"),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            render(since),
            "2026-11-22T03:00:01.500000000Z three\n2026-11-22T03:00:03.000000000Z \n2026-11-22T03:00:04.000000000Z four\n"
        );
        let limit = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(render(limit), "one\nth");
    }

    #[test]
    fn query_parsing() {
        let q: HashMap<String, String> = [
            ("follow", "true"),
            ("tailLines", "10"),
            ("sinceSeconds", "5"),
            ("timestamps", "true"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let o = LogOptions::from_query(&q, 10_000_000_000).unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(10));
        assert_eq!(o.since_nanos, Some(5_000_000_000));
        let bad: HashMap<String, String> = [("tailLines".to_string(), "x".to_string())].into();
        assert!(LogOptions::from_query(&bad, 0).is_err());
    }

    #[test]
    fn follow_reads_appends_and_rotation_until_exit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(
            &path,
            b"2026-11-22T03:00:00Z stdout F a\n2026-11-22T03:00:00Z stdout P b",
        )
        .unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (tx, rx) = smol::channel::unbounded();
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let p2 = path.clone();
        let r2 = running.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(250));
            let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
            std::io::Write::write_all(&mut f, b"c\n2026-11-22T03:00:01Z stdout F ").unwrap();
            std::io::Write::write_all(&mut f, b"d\n").unwrap();
            std::thread::sleep(Duration::from_millis(250));
            // Rotation: the old file is renamed and a new one takes its place.
            std::fs::rename(&p2, p2.with_extension("log.1")).unwrap();
            std::fs::write(&p2, b"2026-11-22T03:00:02Z stderr F e\n").unwrap();
            std::thread::sleep(Duration::from_millis(300));
            r2.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        smol::block_on(stream_logs(&path, opts, tx, || {
            running.load(std::sync::atomic::Ordering::SeqCst)
        }))
        .unwrap();
        writer.join().unwrap();
        let mut all = Vec::new();
        while let Ok(b) = rx.try_recv() {
            all.extend_from_slice(&b);
        }
        // "P b" + "c" stays partial until the F record: one message "bcd".
        assert_eq!(String::from_utf8(all).unwrap(), "a\nbcd\ne\n");
    }
}
