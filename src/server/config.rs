//! `kedge server` settings: command-line flags (named as in k3s) merged over the YAML config
//! file (`/etc/kedge/config.yaml`, same keys as the flags); flags win, then the file, then the
//! defaults.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use ipnetwork::Ipv4Network;
use serde::Deserialize;

use crate::agent::flags::AgentFlags;
use crate::agent::network::settings::{parse_backend, ClusterNet};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {msg}")]
    Parse { path: String, msg: String },
    #[error("invalid {what} {value:?}: {msg}")]
    Invalid {
        what: &'static str,
        value: String,
        msg: String,
    },
}

/// Flags of `kedge server`; every field is optional so the config file can fill it.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServerFlags {
    /// Directory for state (store, certificates)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "IP")]
    pub bind_address: Option<IpAddr>,
    /// HTTPS port of the API server
    #[arg(long, value_name = "PORT")]
    pub https_listen_port: Option<u16>,
    /// Address advertised to nodes and in the `kubernetes` Endpoints
    #[arg(long, value_name = "IP")]
    pub advertise_address: Option<IpAddr>,
    /// Extra subject alternative name for the serving certificate (repeatable)
    #[arg(long = "tls-san", value_name = "NAME")]
    #[serde(default)]
    pub tls_san: Vec<String>,
    /// Where to write the admin kubeconfig
    #[arg(long, value_name = "FILE")]
    pub write_kubeconfig: Option<PathBuf>,
    /// File mode of the kubeconfig, octal
    #[arg(long, value_name = "MODE")]
    pub write_kubeconfig_mode: Option<String>,
    /// Pod network
    #[arg(long, value_name = "CIDR")]
    pub cluster_cidr: Option<String>,
    /// Service network
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// Run the control plane only, no node agent
    #[arg(long)]
    #[serde(default)]
    pub disable_agent: bool,
    /// How nodes route each other's pod CIDRs: host-gw (nodes on one L2 segment), vxlan
    /// (an overlay for nodes that share only L3) or none (bring your own CNI)
    #[arg(long, value_name = "BACKEND")]
    pub network_backend: Option<String>,
    /// Do not program Services on the nodes (another service proxy does)
    #[arg(long)]
    #[serde(default)]
    pub disable_kube_proxy: bool,
    /// Do not enforce NetworkPolicies
    #[arg(long)]
    #[serde(default)]
    pub disable_network_policy: bool,
    /// A node whose heartbeat is older than this is NotReady/Unknown (e.g. 40s)
    #[arg(long, value_name = "DURATION")]
    pub node_monitor_grace_period: Option<String>,
    /// Seconds pods tolerate a not-ready or unreachable node before eviction
    #[arg(long, value_name = "SECONDS")]
    pub default_not_ready_toleration_seconds: Option<i64>,
    /// Terminated pods kept before the oldest are garbage-collected
    #[arg(long, value_name = "COUNT")]
    pub terminated_pod_gc_threshold: Option<usize>,
    /// Prefix length of each node's pod CIDR
    #[arg(long, value_name = "BITS")]
    pub node_cidr_mask_size: Option<u8>,
    /// The node agent's settings (the file's agent keys are split off in [`load_file`])
    #[command(flatten)]
    #[serde(skip)]
    pub agent: AgentFlags,
}

/// Parse `40s`, `2m`, `1h`, `500ms` (Go duration style, one unit).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs >= 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    pub port: u16,
    pub advertise_address: Option<IpAddr>,
    pub tls_san: Vec<String>,
    pub write_kubeconfig: PathBuf,
    pub write_kubeconfig_mode: u32,
    pub cluster_cidr: Ipv4Network,
    pub service_cidr: Ipv4Network,
    pub disable_agent: bool,
    /// Cluster network settings every node follows.
    pub network: crate::agent::network::settings::ClusterNet,
    pub controllers: crate::controller::Settings,
    pub agent: AgentFlags,
}

pub const DEFAULT_CONFIG: &str = "/etc/kedge/config.yaml";

/// Read the config file; a missing default file is not an error, a missing named one is.
pub fn load_file(path: &Path, explicit: bool) -> Result<ServerFlags, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ServerFlags::default())
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(ServerFlags::default());
    }
    let parse = |e: serde_yaml_ng::Error| ConfigError::Parse {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(parse)?;
    let serde_yaml_ng::Value::Mapping(map) = doc else {
        return Err(ConfigError::Parse {
            path: path.display().to_string(),
            msg: "expected a mapping of flag names to values".into(),
        });
    };
    let (agent, rest) = crate::agent::flags::split_file(map);
    let mut flags: ServerFlags = serde_yaml_ng::from_value(rest.into()).map_err(parse)?;
    flags.agent = serde_yaml_ng::from_value(agent.into()).map_err(parse)?;
    Ok(flags)
}

fn cidr(what: &'static str, v: &str) -> Result<Ipv4Network, ConfigError> {
    let n: Ipv4Network =
        v.parse()
            .map_err(|e: ipnetwork::IpNetworkError| ConfigError::Invalid {
                what,
                value: v.into(),
                msg: e.to_string(),
            })?;
    if n.prefix() > 28 {
        return Err(ConfigError::Invalid {
            what,
            value: v.into(),
            msg: "the range must be /28 or larger".into(),
        });
    }
    Ok(Ipv4Network::new(n.network(), n.prefix()).unwrap_or(n))
}

/// Merge flags over the file over the defaults.
pub fn resolve(flags: ServerFlags, file: ServerFlags) -> Result<ServerConfig, ConfigError> {
    let mode_s = flags
        .write_kubeconfig_mode
        .or(file.write_kubeconfig_mode)
        .unwrap_or_else(|| "0600".into());
    let mode = u32::from_str_radix(mode_s.trim_start_matches("0o"), 8).map_err(|e| {
        ConfigError::Invalid {
            what: "--write-kubeconfig-mode",
            value: mode_s.clone(),
            msg: e.to_string(),
        }
    })?;
    if mode > 0o777 {
        return Err(ConfigError::Invalid {
            what: "--write-kubeconfig-mode",
            value: mode_s,
            msg: "must be at most 0777".into(),
        });
    }
    let mut tls_san = file.tls_san;
    tls_san.extend(flags.tls_san);
    let cluster_cidr = cidr(
        "--cluster-cidr",
        &flags
            .cluster_cidr
            .or(file.cluster_cidr)
            .unwrap_or_else(|| "10.42.0.0/16".into()),
    )?;
    let service_cidr = cidr(
        "--service-cidr",
        &flags
            .service_cidr
            .or(file.service_cidr)
            .unwrap_or_else(|| "10.43.0.0/16".into()),
    )?;
    Ok(ServerConfig {
        data_dir: flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| "/var/lib/kedge".into()),
        bind_address: flags
            .bind_address
            .or(file.bind_address)
            .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        port: flags
            .https_listen_port
            .or(file.https_listen_port)
            .unwrap_or(6443),
        advertise_address: flags.advertise_address.or(file.advertise_address),
        tls_san,
        write_kubeconfig: flags
            .write_kubeconfig
            .or(file.write_kubeconfig)
            .unwrap_or_else(|| "/etc/kedge/kedge.yaml".into()),
        write_kubeconfig_mode: mode,
        cluster_cidr,
        service_cidr,
        disable_agent: flags.disable_agent || file.disable_agent,
        network: ClusterNet {
            cluster_cidr,
            service_cidr,
            network_backend: parse_backend(
                &flags
                    .network_backend
                    .or(file.network_backend)
                    .unwrap_or_else(|| "host-gw".into()),
            )
            .map_err(|e| ConfigError::Invalid {
                what: "--network-backend",
                msg: e.to_string(),
                value: e.0,
            })?,
            kube_proxy: !(flags.disable_kube_proxy || file.disable_kube_proxy),
            network_policy: !(flags.disable_network_policy || file.disable_network_policy),
        },
        agent: flags.agent.merge(file.agent),
        controllers: {
            let mut c = crate::controller::Settings::default();
            if let Some(g) = flags
                .node_monitor_grace_period
                .or(file.node_monitor_grace_period)
            {
                c.node_monitor_grace_period =
                    parse_duration(&g).ok_or_else(|| ConfigError::Invalid {
                        what: "--node-monitor-grace-period",
                        value: g.clone(),
                        msg: "expected a duration such as 40s or 2m".into(),
                    })?;
            }
            if let Some(t) = flags
                .default_not_ready_toleration_seconds
                .or(file.default_not_ready_toleration_seconds)
            {
                c.default_toleration_seconds = t.max(0);
            }
            if let Some(t) = flags
                .terminated_pod_gc_threshold
                .or(file.terminated_pod_gc_threshold)
            {
                c.terminated_pod_gc_threshold = t;
            }
            let mask = flags
                .node_cidr_mask_size
                .or(file.node_cidr_mask_size)
                .unwrap_or(24);
            c.node_cidr_mask_size = mask;
            c
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "https-listen-port: 7443\ntls-san:\n  - a.example\nservice-cidr: 10.96.0.0/12\n",
        )
        .unwrap();
        let file = load_file(&path, true).unwrap();
        let flags = ServerFlags {
            https_listen_port: Some(8443),
            tls_san: vec!["b.example".into()],
            ..Default::default()
        };
        let c = resolve(flags, file).unwrap();
        assert_eq!(c.port, 8443);
        assert_eq!(c.tls_san, vec!["a.example", "b.example"]);
        assert_eq!(c.service_cidr.to_string(), "10.96.0.0/12");
        assert_eq!(c.cluster_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(c.write_kubeconfig_mode, 0o600);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/kedge"));
        assert_eq!(c.controllers.node_monitor_grace_period.as_secs(), 40);
    }

    #[test]
    fn parses_go_style_durations() {
        assert_eq!(parse_duration("40s").unwrap().as_secs(), 40);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert!(parse_duration("soon").is_none());
        assert!(parse_duration("5").is_none());
    }

    #[test]
    fn bad_input_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "no-such-key: 1\n").unwrap();
        assert!(matches!(
            load_file(&path, true),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            load_file(&dir.path().join("none"), true),
            Err(ConfigError::Read { .. })
        ));
        assert!(load_file(&dir.path().join("none"), false).is_ok());
        let bad = ServerFlags {
            service_cidr: Some("10.43.0.0/33".into()),
            ..Default::default()
        };
        assert!(resolve(bad, ServerFlags::default()).is_err());
        let bad = ServerFlags {
            write_kubeconfig_mode: Some("999".into()),
            ..Default::default()
        };
        assert!(resolve(bad, ServerFlags::default()).is_err());
    }
}
