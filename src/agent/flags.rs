//! Node agent flags, shared by `kedge server` (which runs an agent unless `--disable-agent`)
//! and `kedge agent`. Names follow k3s where k3s has the setting; every field is optional so
//! the config file (`/etc/kedge/config.yaml`, same keys) can fill it.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AgentFlags {
    /// Node name (default: the hostname)
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Address the node advertises (default: the first non-loopback IPv4 address)
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<IpAddr>,
    /// Label to register the node with, key=value (repeatable)
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    #[serde(default)]
    pub node_label: Vec<String>,
    /// Taint to register the node with, key=value:Effect (repeatable)
    #[arg(long = "node-taint", value_name = "KEY=VALUE:EFFECT")]
    #[serde(default)]
    pub node_taint: Vec<String>,
    /// Runtime files (namespaces, container bundles)
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Container logs
    #[arg(long, value_name = "DIR")]
    pub pod_logs_dir: Option<PathBuf>,
    /// Cgroup parent of all pods (created under every hierarchy)
    #[arg(long, value_name = "NAME")]
    pub cgroup_parent: Option<String>,
    /// Pods this node accepts
    #[arg(long, value_name = "N")]
    pub max_pods: Option<u32>,
    /// Process limit of each pod
    #[arg(long, value_name = "N")]
    pub pod_max_pids: Option<i64>,
    /// Resources kept for the system, e.g. cpu=100m,memory=256Mi
    #[arg(long, value_name = "LIST")]
    pub system_reserved: Option<String>,
    /// Cluster DNS address written to pods' resolv.conf (default: the 10th service address)
    #[arg(long, value_name = "IP")]
    pub cluster_dns: Option<IpAddr>,
    /// Cluster domain
    #[arg(long, value_name = "DOMAIN")]
    pub cluster_domain: Option<String>,
    /// HTTPS port of the agent's streaming endpoint (logs, exec, port-forward, metrics)
    #[arg(long, value_name = "PORT")]
    pub agent_port: Option<u16>,
}

/// The config-file keys that belong to the agent (the file is split by these).
pub const KEYS: &[&str] = &[
    "node-name",
    "node-ip",
    "node-label",
    "node-taint",
    "run-dir",
    "pod-logs-dir",
    "cgroup-parent",
    "max-pods",
    "pod-max-pids",
    "system-reserved",
    "cluster-dns",
    "cluster-domain",
    "agent-port",
];

impl AgentFlags {
    /// Flags win over the file; repeatable flags add to the file's.
    pub fn merge(self, file: AgentFlags) -> AgentFlags {
        let mut node_label = file.node_label;
        node_label.extend(self.node_label);
        let mut node_taint = file.node_taint;
        node_taint.extend(self.node_taint);
        AgentFlags {
            node_name: self.node_name.or(file.node_name),
            node_ip: self.node_ip.or(file.node_ip),
            node_label,
            node_taint,
            run_dir: self.run_dir.or(file.run_dir),
            pod_logs_dir: self.pod_logs_dir.or(file.pod_logs_dir),
            cgroup_parent: self.cgroup_parent.or(file.cgroup_parent),
            max_pods: self.max_pods.or(file.max_pods),
            pod_max_pids: self.pod_max_pids.or(file.pod_max_pids),
            system_reserved: self.system_reserved.or(file.system_reserved),
            cluster_dns: self.cluster_dns.or(file.cluster_dns),
            cluster_domain: self.cluster_domain.or(file.cluster_domain),
            agent_port: self.agent_port.or(file.agent_port),
        }
    }
}

/// Split a config file's mapping into the agent's keys and the rest.
pub fn split_file(
    mut doc: serde_yaml_ng::Mapping,
) -> (serde_yaml_ng::Mapping, serde_yaml_ng::Mapping) {
    let mut agent = serde_yaml_ng::Mapping::new();
    for k in KEYS {
        if let Some(v) = doc.remove(*k) {
            agent.insert((*k).into(), v);
        }
    }
    (agent, doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_field_and_flags_win() {
        let mut m = serde_yaml_ng::Mapping::new();
        for k in KEYS {
            let v: serde_yaml_ng::Value = match *k {
                "node-label" | "node-taint" => serde_yaml_ng::from_str("[a=b]").unwrap(),
                "node-ip" | "cluster-dns" => "10.0.0.1".into(),
                "max-pods" | "pod-max-pids" | "agent-port" => 7.into(),
                _ => "x".into(),
            };
            m.insert((*k).into(), v);
        }
        m.insert("https-listen-port".into(), 1.into());
        let (agent, rest) = split_file(m);
        assert_eq!(rest.len(), 1);
        let file: AgentFlags = serde_yaml_ng::from_value(agent.into()).unwrap();
        assert_eq!(file.max_pods, Some(7));
        let flags = AgentFlags {
            max_pods: Some(9),
            node_label: vec!["c=d".into()],
            ..Default::default()
        };
        let merged = flags.merge(file);
        assert_eq!(merged.max_pods, Some(9));
        assert_eq!(merged.node_label, vec!["a=b", "c=d"]);
        assert_eq!(merged.cgroup_parent.as_deref(), Some("x"));
    }
}
