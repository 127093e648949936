//! Resource usage of the node and its containers, as served on `/metrics/resource`.
//!
//! Contract: a [`Sampler`] keeps the two latest samples of cumulative counters (node CPU time
//! from `<proc>/stat`, container CPU time from the cgroups) and reports CPU as nanocores over
//! the interval between them; memory is the latest working set (node: `MemTotal -
//! MemAvailable` from `<proc>/meminfo`). A new sample is taken when the newest is older than
//! [`MIN_INTERVAL`], so two requests a second apart already give rates. Containers seen in only
//! one sample are left out (like metrics-server, which reports nothing until it has two).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{ContainerIo, ContainerUsage, PodLookup};

pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Kernel clock ticks per second of `/proc/stat` (USER_HZ is 100 on every Linux ABI).
const USER_HZ: u64 = 100;

/// The `/metrics/resource` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: Option<Usage>,
    pub pods: Vec<PodUsage>,
}

/// Usage over a window ending at `timestamp` (RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub timestamp: String,
    pub window_seconds: f64,
    pub cpu_nano_cores: u64,
    pub memory_working_set_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub timestamp: String,
    pub window_seconds: f64,
    pub containers: Vec<NamedUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NamedUsage {
    pub name: String,
    pub cpu_nano_cores: u64,
    pub memory_working_set_bytes: u64,
}

/// Busy CPU time of the whole machine in nanoseconds, from `/proc/stat`'s `cpu` line.
pub fn parse_proc_stat(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let busy: u64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, n)| n)
        .sum();
    Some(busy * (1_000_000_000 / USER_HZ))
}

/// Working set of the machine in bytes: `MemTotal - MemAvailable`.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let l = text.lines().find(|l| l.starts_with(name))?;
        l.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some(field("MemTotal:")?.saturating_sub(field("MemAvailable:")?) * 1024)
}

/// Nanocores used between two cumulative readings.
pub fn nanocores(prev_ns: u64, cur_ns: u64, interval: Duration) -> u64 {
    let secs = interval.as_secs_f64();
    if secs <= 0.0 {
        return 0;
    }
    (cur_ns.saturating_sub(prev_ns) as f64 / secs) as u64
}

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    wall: SystemTime,
    node_cpu_ns: Option<u64>,
    node_memory: Option<u64>,
    containers: HashMap<String, ContainerUsage>,
}

/// Samples usage and turns counter pairs into rates.
pub struct Sampler {
    proc_root: PathBuf,
    samples: Mutex<(Option<Sample>, Option<Sample>)>,
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::clock::rfc3339(secs)
}

impl Sampler {
    pub fn new(proc_root: PathBuf) -> Sampler {
        Sampler {
            proc_root,
            samples: Mutex::new((None, None)),
        }
    }

    /// Take a sample now (blocking: reads /proc and cgroup files).
    pub fn sample(&self, lookup: &dyn PodLookup, io: &dyn ContainerIo) {
        let read = |f: &str| std::fs::read_to_string(self.proc_root.join(f)).ok();
        let mut containers = HashMap::new();
        for p in lookup.pods() {
            for (_, id) in p.containers {
                if let Some(u) = io.usage(&id) {
                    containers.insert(id, u);
                }
            }
        }
        let s = Sample {
            at: Instant::now(),
            wall: SystemTime::now(),
            node_cpu_ns: read("stat").as_deref().and_then(parse_proc_stat),
            node_memory: read("meminfo").as_deref().and_then(parse_meminfo),
            containers,
        };
        self.push(s);
    }

    fn push(&self, s: Sample) {
        let Ok(mut g) = self.samples.lock() else {
            return;
        };
        let newer = g.1.take();
        *g = (newer, Some(s));
    }

    /// Whether the newest sample is older than [`MIN_INTERVAL`] (or missing).
    pub fn stale(&self) -> bool {
        let Ok(g) = self.samples.lock() else {
            return true;
        };
        g.1.as_ref().is_none_or(|s| s.at.elapsed() >= MIN_INTERVAL)
    }

    /// The report from the two latest samples.
    pub fn summary(&self, lookup: &dyn PodLookup) -> Summary {
        let Ok(g) = self.samples.lock() else {
            return Summary::default();
        };
        let (Some(old), Some(new)) = (&g.0, &g.1) else {
            return Summary::default();
        };
        let interval = new.at.duration_since(old.at);
        let window = interval.as_secs_f64();
        let ts = rfc3339(new.wall);
        let node = match (old.node_cpu_ns, new.node_cpu_ns, new.node_memory) {
            (Some(a), Some(b), Some(m)) => Some(Usage {
                timestamp: ts.clone(),
                window_seconds: window,
                cpu_nano_cores: nanocores(a, b, interval),
                memory_working_set_bytes: m,
            }),
            _ => None,
        };
        let pods = lookup
            .pods()
            .into_iter()
            .filter_map(|p| {
                let containers: Vec<NamedUsage> = p
                    .containers
                    .iter()
                    .filter_map(|(name, id)| {
                        let (a, b) = (old.containers.get(id)?, new.containers.get(id)?);
                        Some(NamedUsage {
                            name: name.clone(),
                            cpu_nano_cores: nanocores(a.cpu_usage_ns, b.cpu_usage_ns, interval),
                            memory_working_set_bytes: b.memory_working_set_bytes,
                        })
                    })
                    .collect();
                (!containers.is_empty()).then(|| PodUsage {
                    namespace: p.namespace,
                    name: p.name,
                    uid: p.uid,
                    timestamp: ts.clone(),
                    window_seconds: window,
                    containers,
                })
            })
            .collect();
        Summary { node, pods }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(stat), Some(160 * 10_000_000));
        let mem = "MemTotal:       2000 kB\nMemFree:  100 kB\nMemAvailable:   500 kB\n";
        assert_eq!(parse_meminfo(mem), Some(1500 * 1024));
        assert_eq!(
            nanocores(0, 500_000_000, Duration::from_secs(2)),
            250_000_000
        );
        assert_eq!(nanocores(10, 5, Duration::from_secs(1)), 0);
    }

    struct Fake;
    impl PodLookup for Fake {
        fn container(&self, _: &str, _: &str, _: &str) -> Option<super::super::ContainerRef> {
            None
        }
        fn pods(&self) -> Vec<super::super::PodRef> {
            vec![super::super::PodRef {
                namespace: "default".into(),
                name: "web".into(),
                uid: "u1".into(),
                containers: vec![("c".into(), "id1".into())],
                netns: None,
            }]
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let s = Sampler::new(PathBuf::from("/nonexistent"));
        let t0 = Instant::now();
        let mk = |at: Instant, cpu: u64| Sample {
            at,
            wall: UNIX_EPOCH + Duration::from_secs(1_795_307_465),
            node_cpu_ns: Some(cpu),
            node_memory: Some(4096),
            containers: [(
                "id1".to_string(),
                ContainerUsage {
                    cpu_usage_ns: cpu / 2,
                    memory_working_set_bytes: 1 << 20,
                },
            )]
            .into(),
        };
        s.push(mk(t0, 1_000_000_000));
        assert_eq!(s.summary(&Fake), Summary::default());
        s.push(mk(t0 + Duration::from_secs(10), 6_000_000_000));
        let sum = s.summary(&Fake);
        let node = sum.node.unwrap();
        assert_eq!(node.cpu_nano_cores, 500_000_000);
        assert_eq!(node.timestamp, "2026-11-22T00:31:05Z");
        assert_eq!(sum.pods[0].containers[0].cpu_nano_cores, 250_000_000);
        assert_eq!(sum.pods[0].containers[0].memory_working_set_bytes, 1 << 20);
    }
}
