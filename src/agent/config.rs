//! The agent's settings, resolved from flags and the config file.
//!
//! Contract: [`AgentConfig`] is plain data the lead builds once ([`AgentConfig::from_flags`]
//! fills defaults as k3s does); taints use k3s' `key=value:Effect` syntax and reserved
//! resources `cpu=100m,memory=256Mi`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::flags::AgentFlags;
use crate::scheduler::resources::{int_value, milli_value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("invalid taint {0:?}: want key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute")]
    Taint(String),
    #[error("invalid label {0:?}: want key=value")]
    Label(String),
    #[error("invalid reserved resources {0:?}: want cpu=100m,memory=256Mi")]
    Reserved(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub node_name: String,
    pub node_ip: Option<IpAddr>,
    pub labels: Vec<(String, String)>,
    /// Taints as API objects (`{"key","value","effect"}`).
    pub taints: Vec<Value>,
    /// `/var/lib/kedge`; the agent keeps its state under `<data_dir>/agent`.
    pub data_dir: PathBuf,
    /// `/run/kedge`.
    pub run_dir: PathBuf,
    /// `/var/log/pods`.
    pub log_dir: PathBuf,
    pub cgroup_parent: String,
    pub max_pods: u32,
    pub reserved_milli_cpu: i64,
    pub reserved_memory: i64,
    pub pod_max_pids: Option<i64>,
    pub port: u16,
    pub cluster_dns: Option<IpAddr>,
    pub cluster_domain: String,
    /// The cluster's network settings (from the server's configuration).
    pub network: super::network::settings::ClusterNet,
    pub image_gc_high: u8,
    pub image_gc_low: u8,
    /// Label the node as a control-plane node (servers).
    pub server_role: bool,
    /// Roots of the machine facts, parameters for tests.
    pub proc_root: PathBuf,
    pub etc_root: PathBuf,
    pub sys_root: PathBuf,
}

impl AgentConfig {
    /// Defaults for a node called `node_name` keeping state under `data_dir`.
    pub fn new(node_name: &str, data_dir: &Path) -> AgentConfig {
        AgentConfig {
            node_name: node_name.to_string(),
            node_ip: None,
            labels: vec![],
            taints: vec![],
            data_dir: data_dir.to_path_buf(),
            run_dir: PathBuf::from("/run/kedge"),
            log_dir: PathBuf::from("/var/log/pods"),
            cgroup_parent: "kedge".into(),
            max_pods: 110,
            reserved_milli_cpu: 0,
            reserved_memory: 0,
            pod_max_pids: None,
            port: 10250,
            cluster_dns: None,
            cluster_domain: "cluster.local".into(),
            network: Default::default(),
            image_gc_high: 85,
            image_gc_low: 80,
            server_role: false,
            proc_root: PathBuf::from("/proc"),
            etc_root: PathBuf::from("/etc"),
            sys_root: PathBuf::from("/sys"),
        }
    }

    /// From the agent flags; the node name defaults to the hostname.
    pub fn from_flags(
        f: &AgentFlags,
        data_dir: &Path,
        server_role: bool,
    ) -> Result<AgentConfig, ConfigError> {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let mut c = AgentConfig::new(
            &f.node_name.clone().unwrap_or(host).to_lowercase(),
            data_dir,
        );
        c.node_ip = f.node_ip;
        c.labels = f
            .node_label
            .iter()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| ConfigError::Label(l.clone()))
            })
            .collect::<Result<_, _>>()?;
        c.taints = f
            .node_taint
            .iter()
            .map(|t| parse_taint(t))
            .collect::<Result<_, _>>()?;
        if let Some(d) = &f.run_dir {
            c.run_dir = d.clone();
        }
        if let Some(d) = &f.pod_logs_dir {
            c.log_dir = d.clone();
        }
        if let Some(p) = &f.cgroup_parent {
            c.cgroup_parent = p.clone();
        }
        if let Some(m) = f.max_pods {
            c.max_pods = m;
        }
        c.pod_max_pids = f.pod_max_pids;
        if let Some(r) = &f.system_reserved {
            (c.reserved_milli_cpu, c.reserved_memory) = parse_reserved(r)?;
        }
        c.cluster_dns = f.cluster_dns;
        if let Some(d) = &f.cluster_domain {
            c.cluster_domain = d.clone();
        }
        if let Some(p) = f.agent_port {
            c.port = p;
        }
        c.server_role = server_role;
        Ok(c)
    }

    /// `<data_dir>/agent`.
    pub fn agent_dir(&self) -> PathBuf {
        self.data_dir.join("agent")
    }

    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.agent_dir().join("pods").join(uid)
    }
}

/// k3s' `key=value:Effect` (value optional).
pub fn parse_taint(s: &str) -> Result<Value, ConfigError> {
    let (kv, effect) = s
        .rsplit_once(':')
        .ok_or_else(|| ConfigError::Taint(s.into()))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(ConfigError::Taint(s.into()));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(ConfigError::Taint(s.into()));
    }
    let mut t = json!({"key": key, "effect": effect});
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        t["value"] = json!(v);
    }
    Ok(t)
}

/// `cpu=100m,memory=256Mi` → (milli cpu, bytes).
pub fn parse_reserved(s: &str) -> Result<(i64, i64), ConfigError> {
    let (mut cpu, mut mem) = (0, 0);
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || ConfigError::Reserved(s.into());
        let (k, v) = part.split_once('=').ok_or_else(bad)?;
        match k {
            "cpu" => cpu = milli_value(v).ok_or_else(bad)?,
            "memory" => mem = int_value(v).ok_or_else(bad)?,
            "ephemeral-storage" | "pid" => {}
            _ => return Err(bad()),
        }
    }
    Ok((cpu, mem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k3s_taints_and_reserved() {
        assert_eq!(
            parse_taint("dedicated=gpu:NoSchedule").unwrap(),
            json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})
        );
        assert_eq!(
            parse_taint("node-role.kubernetes.io/control-plane:NoExecute").unwrap(),
            json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoExecute"})
        );
        assert!(parse_taint("a=b:Sometimes").is_err());
        assert!(parse_taint("a=b").is_err());
        assert_eq!(
            parse_reserved("cpu=100m,memory=256Mi").unwrap(),
            (100, 256 << 20)
        );
        assert!(parse_reserved("gpu=1").is_err());
    }
}
