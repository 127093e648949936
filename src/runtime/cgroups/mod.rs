//! Cgroups v1 and v2 for pods and containers (owner: CGROUPS; placeholder until written).

use serde::{Deserialize, Serialize};

/// Limits of one cgroup, derived from a container's resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub cpu_shares: Option<u64>,
    pub cpu_quota_us: Option<i64>,
    pub cpu_period_us: u64,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
}
