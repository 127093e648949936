//! The CNI plugin's inputs: the `CNI_*` environment and the network config on stdin.
//!
//! Contract: [`CniEnv::from_map`] reads `CNI_COMMAND` (ADD, DEL, CHECK, VERSION, GC, STATUS),
//! `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS` and `CNI_PATH`;
//! [`CniEnv::attachment`] insists on the ones the command needs and validates them as the
//! spec says (container id `[A-Za-z0-9][A-Za-z0-9_.-]*`, interface names under 16 bytes
//! without `/`, `:` or whitespace). [`NetConf::parse`] reads the config:
//!
//! ```json
//! {
//!   "cniVersion": "1.0.0",           // 0.4.0, 1.0.0 or 1.1.0
//!   "name": "kedge",                 // names the state dir <dataDir>/<name>
//!   "type": "kedge-cni",
//!   "bridge": "kedge0",              // default kedge0
//!   "mtu": 1500,                     // default 1500
//!   "ipMasq": true,                  // masquerade egress; default true
//!   "clusterCIDR": "10.42.0.0/16",   // destinations never masqueraded (other nodes' pods)
//!   "isGateway": true,               // only true: the bridge holds the gateway address
//!   "isDefaultGateway": true,        // only true: pods get a default route via it
//!   "ipam": {
//!     "type": "host-local",          // built in: "host-local" or "kedge"; no delegation
//!     "subnet": "10.42.0.0/24",      // or "ranges": [[{"subnet": ..., "gateway": ...}]]
//!     "dataDir": "/var/lib/kedge/cni"
//!   },
//!   "dns": {"nameservers": [...], "search": [...], "options": [...]},
//!   "capabilities": {"portMappings": true, "dns": true},
//!   "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80,
//!                                       "protocol": "tcp", "hostIP": ""}]}
//! }
//! ```
//!
//! The gateway is always the subnet's first address (a different `gateway` is an unsupported
//! field), exactly one range is supported, and `rangeStart`/`rangeEnd` and non-default
//! `ipam.routes` are rejected as unsupported rather than ignored. Unknown top-level keys are
//! ignored, as runtimes add their own. Errors carry the spec's code ([`ConfigError::code`]):
//! not JSON → 6, bad shape or value → 7, unsupported field → 2, unknown version → 1, bad
//! environment → 4.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::Deserialize;
use serde_json::Value;

use super::result::{code, is_supported, Dns};
use crate::portmap::{HostPort, Protocol};

/// Parent of the per-network state directories.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/kedge/cni";
const DEFAULT_BRIDGE: &str = "kedge0";
const DEFAULT_MTU: u32 = 1500;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to decode the network config")]
    Decode(#[source] serde_json::Error),
    #[error("invalid network config: {0}")]
    Invalid(String),
    #[error("unsupported field {field} = {value}")]
    Unsupported { field: String, value: String },
    #[error("incompatible cniVersion {0:?}")]
    Version(String),
    #[error("invalid environment variable {var}: {why}")]
    Env { var: &'static str, why: String },
}

impl ConfigError {
    /// The CNI error code of this error.
    pub fn code(&self) -> u32 {
        match self {
            ConfigError::Decode(_) => code::DECODING_FAILURE,
            ConfigError::Invalid(_) => code::INVALID_CONFIG,
            ConfigError::Unsupported { .. } => code::UNSUPPORTED_FIELD,
            ConfigError::Version(_) => code::INCOMPATIBLE_VERSION,
            ConfigError::Env { .. } => code::INVALID_ENV,
        }
    }
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

fn unsupported(field: &str, value: impl std::fmt::Display) -> ConfigError {
    ConfigError::Unsupported {
        field: field.to_string(),
        value: value.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Gc,
    Status,
}

/// One container interface on the network: the key of all the plugin's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
    /// Required by ADD and CHECK; DEL works without it.
    pub netns: Option<PathBuf>,
}

impl Attachment {
    /// The id the bridge keys veth names, addresses and hostPorts on. `:` appears in
    /// neither a container id nor an interface name, so ids never collide.
    pub fn id(&self) -> String {
        attachment_id(&self.container_id, &self.ifname)
    }
}

pub fn attachment_id(container_id: &str, ifname: &str) -> String {
    format!("{container_id}:{ifname}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniEnv {
    pub command: Command,
    container_id: Option<String>,
    netns: Option<String>,
    ifname: Option<String>,
    /// `CNI_ARGS` as key/value pairs; kedge reads none of them but rejects malformed ones.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH`: unused, the IPAM is built in.
    pub path: Vec<PathBuf>,
}

fn non_empty<'a>(env: &'a HashMap<String, String>, var: &str) -> Option<&'a str> {
    env.get(var).map(String::as_str).filter(|s| !s.is_empty())
}

impl CniEnv {
    pub fn from_map(env: &HashMap<String, String>) -> Result<CniEnv, ConfigError> {
        let command = match non_empty(env, "CNI_COMMAND") {
            None => {
                return Err(ConfigError::Env {
                    var: "CNI_COMMAND",
                    why: "missing".into(),
                })
            }
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("VERSION") => Command::Version,
            Some("GC") => Command::Gc,
            Some("STATUS") => Command::Status,
            Some(other) => {
                return Err(ConfigError::Env {
                    var: "CNI_COMMAND",
                    why: format!("unknown command {other:?}"),
                })
            }
        };
        let mut args = Vec::new();
        for pair in non_empty(env, "CNI_ARGS").unwrap_or("").split(';') {
            if pair.is_empty() {
                continue;
            }
            let Some((k, v)) = pair.split_once('=') else {
                return Err(ConfigError::Env {
                    var: "CNI_ARGS",
                    why: format!("{pair:?} is not KEY=VALUE"),
                });
            };
            args.push((k.to_string(), v.to_string()));
        }
        Ok(CniEnv {
            command,
            container_id: non_empty(env, "CNI_CONTAINERID").map(str::to_string),
            netns: non_empty(env, "CNI_NETNS").map(str::to_string),
            ifname: non_empty(env, "CNI_IFNAME").map(str::to_string),
            args,
            path: non_empty(env, "CNI_PATH")
                .map(|p| std::env::split_paths(p).collect())
                .unwrap_or_default(),
        })
    }

    /// The attachment the command acts on; `need_netns` for ADD and CHECK.
    pub fn attachment(&self, need_netns: bool) -> Result<Attachment, ConfigError> {
        let missing = |var| ConfigError::Env {
            var,
            why: "missing".into(),
        };
        let id = self
            .container_id
            .clone()
            .ok_or_else(|| missing("CNI_CONTAINERID"))?;
        if !valid_name(&id) {
            return Err(ConfigError::Env {
                var: "CNI_CONTAINERID",
                why: format!("{id:?} must match [A-Za-z0-9][A-Za-z0-9_.-]*"),
            });
        }
        let ifname = self.ifname.clone().ok_or_else(|| missing("CNI_IFNAME"))?;
        if !valid_ifname(&ifname) {
            return Err(ConfigError::Env {
                var: "CNI_IFNAME",
                why: format!("{ifname:?} is not a valid interface name"),
            });
        }
        let netns = self.netns.as_ref().map(PathBuf::from);
        if need_netns && netns.is_none() {
            return Err(missing("CNI_NETNS"));
        }
        Ok(Attachment {
            container_id: id,
            ifname,
            netns,
        })
    }
}

/// Container ids and network names: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
}

/// The kernel's rules for interface names (IFNAMSIZ is 16 with the NUL).
fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 16
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// The network config, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    pub cni_version: String,
    pub name: String,
    pub bridge: String,
    pub mtu: u32,
    pub ip_masq: bool,
    pub cluster_cidr: Option<IpNetwork>,
    /// The pods' subnet, normalized to its network address.
    pub subnet: IpNetwork,
    /// `<dataDir>`, default [`DEFAULT_DATA_DIR`].
    pub data_dir: PathBuf,
    pub dns: Dns,
    /// From `runtimeConfig.portMappings`.
    pub port_mappings: Vec<HostPort>,
    /// The raw `prevResult`, decoded by CHECK.
    pub prev_result: Option<Value>,
    /// GC's `cni.dev/valid-attachments`.
    pub valid_attachments: Option<Vec<(String, String)>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConf {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    bridge: Option<String>,
    mtu: Option<u32>,
    is_gateway: Option<bool>,
    is_default_gateway: Option<bool>,
    ip_masq: Option<bool>,
    #[serde(rename = "clusterCIDR")]
    cluster_cidr: Option<String>,
    ipam: Option<RawIpam>,
    dns: Option<Dns>,
    #[serde(default)]
    runtime_config: RawRuntimeConfig,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<RawAttachment>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIpam {
    #[serde(rename = "type")]
    kind: String,
    subnet: Option<String>,
    gateway: Option<String>,
    ranges: Option<Vec<Vec<RawRange>>>,
    routes: Option<Vec<RawRoute>>,
    data_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRange {
    subnet: String,
    gateway: Option<String>,
    range_start: Option<String>,
    range_end: Option<String>,
}

#[derive(Deserialize)]
struct RawRoute {
    dst: String,
    gw: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawRuntimeConfig {
    #[serde(default)]
    port_mappings: Vec<RawPortMapping>,
    dns: Option<Dns>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPortMapping {
    host_port: u16,
    container_port: u16,
    protocol: Option<String>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
}

#[derive(Deserialize)]
struct RawAttachment {
    #[serde(rename = "containerID")]
    container_id: String,
    ifname: String,
}

/// The `cniVersion` of a config, if it has one (best effort, for error replies).
pub fn requested_version(stdin: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(stdin).ok()?;
    v.get("cniVersion")?.as_str().map(str::to_string)
}

fn cidr(field: &str, s: &str) -> Result<IpNetwork, ConfigError> {
    s.parse::<IpNetwork>()
        .map_err(|e| invalid(format!("{field} {s:?}: {e}")))
}

/// The first address of a subnet: the bridge's, the pods' gateway.
fn first_address(net: IpNetwork) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 1).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 1).into()),
    }
}

fn default_route(dst: &str) -> bool {
    matches!(dst, "0.0.0.0/0" | "::/0")
}

impl NetConf {
    pub fn parse(stdin: &[u8]) -> Result<NetConf, ConfigError> {
        let v: Value = serde_json::from_slice(stdin).map_err(ConfigError::Decode)?;
        if !v.is_object() {
            return Err(invalid("not a JSON object"));
        }
        let version = match v.get("cniVersion") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("cniVersion is not a string")),
            None => return Err(invalid("missing field `cniVersion`")),
        };
        if !is_supported(&version) {
            return Err(ConfigError::Version(version));
        }
        let raw: RawConf = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
        if !valid_name(&raw.name) {
            return Err(invalid(format!(
                "name {:?} must match [A-Za-z0-9][A-Za-z0-9_.-]*",
                raw.name
            )));
        }
        let bridge = raw.bridge.unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
        if !valid_ifname(&bridge) {
            return Err(invalid(format!(
                "bridge {bridge:?} is not a valid interface name"
            )));
        }
        let mtu = raw.mtu.unwrap_or(DEFAULT_MTU);
        if !(68..=65535).contains(&mtu) {
            return Err(invalid(format!("mtu {mtu} is out of range 68-65535")));
        }
        if raw.is_gateway == Some(false) {
            return Err(unsupported("isGateway", false));
        }
        if raw.is_default_gateway == Some(false) {
            return Err(unsupported("isDefaultGateway", false));
        }
        let cluster_cidr = raw
            .cluster_cidr
            .as_deref()
            .map(|s| cidr("clusterCIDR", s))
            .transpose()?;
        let ipam = raw.ipam.ok_or_else(|| invalid("missing field `ipam`"))?;
        let (subnet, data_dir) = parse_ipam(ipam)?;
        let port_mappings = raw
            .runtime_config
            .port_mappings
            .iter()
            .map(port_mapping)
            .collect::<Result<Vec<_>, _>>()?;
        let dns = raw
            .runtime_config
            .dns
            .filter(|d| !d.is_empty())
            .or(raw.dns)
            .unwrap_or_default();
        Ok(NetConf {
            cni_version: version,
            name: raw.name,
            bridge,
            mtu,
            ip_masq: raw.ip_masq.unwrap_or(true),
            cluster_cidr,
            subnet,
            data_dir,
            dns,
            port_mappings,
            prev_result: raw.prev_result,
            valid_attachments: raw
                .valid_attachments
                .map(|v| v.into_iter().map(|a| (a.container_id, a.ifname)).collect()),
        })
    }

    /// The network's IPAM and hostPort state: `<dataDir>/<name>`.
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }

    pub fn gateway(&self) -> IpAddr {
        first_address(self.subnet)
    }

    /// The bridge settings, with sysctls written under `proc_sys`.
    pub fn bridge_config(&self, proc_sys: &Path) -> crate::BridgeConfig {
        let mut c = crate::BridgeConfig::new(self.subnet, &self.state_dir());
        c.bridge = self.bridge.clone();
        c.mtu = self.mtu;
        c.masquerade = self.ip_masq;
        c.cluster_cidr = self.cluster_cidr;
        c.proc_sys = proc_sys.to_path_buf();
        c
    }
}

fn parse_ipam(ipam: RawIpam) -> Result<(IpNetwork, PathBuf), ConfigError> {
    if !matches!(ipam.kind.as_str(), "host-local" | "kedge") {
        return Err(unsupported("ipam.type", &ipam.kind));
    }
    let (subnet, gateway) = match (ipam.subnet, ipam.ranges) {
        (Some(s), None) => (s, ipam.gateway),
        (None, Some(sets)) => {
            let mut ranges: Vec<RawRange> = sets.into_iter().flatten().collect();
            if ranges.len() != 1 {
                return Err(unsupported(
                    "ipam.ranges",
                    format!("{} ranges (exactly one is supported)", ranges.len()),
                ));
            }
            let r = ranges.remove(0);
            if let Some(s) = r.range_start {
                return Err(unsupported("ipam.ranges.rangeStart", s));
            }
            if let Some(s) = r.range_end {
                return Err(unsupported("ipam.ranges.rangeEnd", s));
            }
            (r.subnet, r.gateway)
        }
        (Some(_), Some(_)) => return Err(invalid("ipam has both subnet and ranges")),
        (None, None) => return Err(invalid("ipam needs a subnet or ranges")),
    };
    let net = cidr("ipam subnet", &subnet)?;
    let subnet = IpNetwork::new(net.network(), net.prefix())
        .map_err(|e| invalid(format!("ipam subnet {subnet:?}: {e}")))?;
    // Network, gateway and (IPv4) broadcast are reserved: a pod needs a fourth address.
    let bits = if subnet.is_ipv4() { 32 } else { 128 };
    if bits - subnet.prefix() < 2 {
        return Err(invalid(format!(
            "ipam subnet {subnet} has no room for pods"
        )));
    }
    if let Some(gw) = gateway {
        let want = first_address(subnet);
        if gw.parse::<IpAddr>().ok() != Some(want) {
            return Err(unsupported(
                "ipam.gateway",
                format!("{gw} (the gateway is always {want})"),
            ));
        }
    }
    for r in ipam.routes.unwrap_or_default() {
        let via_gateway =
            r.gw.as_deref()
                .is_none_or(|g| g.parse::<IpAddr>().ok() == Some(first_address(subnet)));
        if !default_route(&r.dst) || !via_gateway {
            return Err(unsupported(
                "ipam.routes",
                format!("{} via {}", r.dst, r.gw.as_deref().unwrap_or("-")),
            ));
        }
    }
    let data_dir = PathBuf::from(ipam.data_dir.as_deref().unwrap_or(DEFAULT_DATA_DIR));
    if !data_dir.is_absolute() {
        return Err(invalid(format!(
            "ipam.dataDir {} is not absolute",
            data_dir.display()
        )));
    }
    Ok((subnet, data_dir))
}

fn port_mapping(p: &RawPortMapping) -> Result<HostPort, ConfigError> {
    let proto = p.protocol.as_deref().unwrap_or("tcp");
    let protocol = Protocol::parse(proto)
        .ok_or_else(|| invalid(format!("portMappings protocol {proto:?}")))?;
    if p.host_port == 0 || p.container_port == 0 {
        return Err(invalid(
            "portMappings need non-zero hostPort and containerPort",
        ));
    }
    let mut h = HostPort::new(protocol, p.host_port, p.container_port);
    if let Some(ip) = p.host_ip.as_deref().filter(|s| !s.is_empty()) {
        h.host_ip = ip
            .parse()
            .map_err(|_| invalid(format!("portMappings hostIP {ip:?}")))?;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<NetConf, ConfigError> {
        NetConf::parse(v.to_string().as_bytes())
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "kedge",
            "type": "kedge-cni",
            "ipam": {"type": "host-local", "subnet": "10.88.0.7/24", "dataDir": "/tmp/x"}
        })
    }

    fn code_of(v: serde_json::Value) -> u32 {
        parse(v).unwrap_err().code()
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_normalization() {
        let c = parse(base()).unwrap();
        assert_eq!(c.bridge, "kedge0");
        assert_eq!(c.mtu, 1500);
        assert!(c.ip_masq);
        assert_eq!(c.subnet.to_string(), "10.88.0.0/24");
        assert_eq!(c.gateway().to_string(), "10.88.0.1");
        assert_eq!(c.state_dir(), Path::new("/tmp/x/kedge"));
        let b = c.bridge_config(Path::new("/p"));
        assert_eq!(b.state_dir, Path::new("/tmp/x/kedge"));
        assert_eq!(b.proc_sys, Path::new("/p"));
        let mut v = base();
        v["ipam"] = serde_json::json!({"type": "host-local", "subnet": "10.1.0.0/24"});
        assert_eq!(
            parse(v).unwrap().state_dir(),
            Path::new("/var/lib/kedge/cni/kedge")
        );
    }

    #[test]
    fn ranges_port_mappings_and_dns_capability() {
        let mut v = base();
        v["ipam"] = serde_json::json!({"type": "host-local",
            "ranges": [[{"subnet": "10.9.0.0/16", "gateway": "10.9.0.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}]});
        v["dns"] = serde_json::json!({"nameservers": ["10.43.0.10"]});
        v["runtimeConfig"] = serde_json::json!({
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "udp"},
                             {"hostPort": 9090, "containerPort": 90, "hostIP": "127.0.0.1"}],
            "dns": {"search": ["svc.cluster.local"]}
        });
        let c = parse(v).unwrap();
        assert_eq!(c.subnet.to_string(), "10.9.0.0/16");
        assert_eq!(c.port_mappings[0], HostPort::new(Protocol::Udp, 8080, 80));
        assert_eq!(c.port_mappings[1].host_ip.to_string(), "127.0.0.1");
        assert_eq!(c.port_mappings[1].protocol, Protocol::Tcp);
        // The capability wins over the static key.
        assert_eq!(c.dns.search, vec!["svc.cluster.local"]);
        assert!(c.dns.nameservers.is_empty());
    }

    #[test]
    fn errors_carry_the_spec_codes() {
        assert_eq!(NetConf::parse(b"{not json").unwrap_err().code(), 6);
        assert_eq!(NetConf::parse(b"[1]").unwrap_err().code(), 7);
        let mut v = base();
        v.as_object_mut().unwrap().remove("name");
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v.as_object_mut().unwrap().remove("cniVersion");
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["cniVersion"] = "0.3.1".into();
        assert_eq!(code_of(v), 1);
        let mut v = base();
        v["ipam"]["subnet"] = "10.0.0.0/33".into();
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["ipam"]["subnet"] = "10.0.0.0/31".into();
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["ipam"]["type"] = "dhcp".into();
        assert_eq!(code_of(v), 2);
        let mut v = base();
        v["ipam"]["gateway"] = "10.88.0.254".into();
        assert_eq!(code_of(v), 2);
        let mut v = base();
        v["isGateway"] = false.into();
        assert_eq!(code_of(v), 2);
        let mut v = base();
        v["mtu"] = "big".into();
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["name"] = "../etc".into();
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["bridge"] = "a-very-long-bridge-name".into();
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["runtimeConfig"] = serde_json::json!({"portMappings": [{"hostPort": 1, "containerPort": 2, "protocol": "icmp"}]});
        assert_eq!(code_of(v), 7);
        let mut v = base();
        v["ipam"] = serde_json::json!({"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10"}]]});
        assert_eq!(code_of(v), 2);
    }

    #[test]
    fn environment_is_validated_per_command() {
        let e = CniEnv::from_map(&env(&[])).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.to_string().contains("CNI_COMMAND"));
        assert_eq!(
            CniEnv::from_map(&env(&[("CNI_COMMAND", "FROB")]))
                .unwrap_err()
                .code(),
            4
        );
        let add =
            CniEnv::from_map(&env(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")])).unwrap();
        let e = add.attachment(true).unwrap_err();
        assert!(e.to_string().contains("CNI_CONTAINERID"), "{e}");
        let full = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc-1.2_3"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_ARGS", "K8S_POD_NAME=web;IgnoreUnknown=1"),
            ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
        ]);
        let e = CniEnv::from_map(&full).unwrap();
        assert_eq!(e.args.len(), 2);
        assert_eq!(e.path.len(), 2);
        let a = e.attachment(true).unwrap();
        assert_eq!(a.id(), "abc-1.2_3:eth0");
        let mut bad = full.clone();
        bad.insert("CNI_CONTAINERID".into(), "-x".into());
        assert!(CniEnv::from_map(&bad).unwrap().attachment(true).is_err());
        let mut bad = full.clone();
        bad.insert("CNI_IFNAME".into(), "eth:0".into());
        assert!(CniEnv::from_map(&bad).unwrap().attachment(true).is_err());
        let mut bad = full.clone();
        bad.insert("CNI_ARGS".into(), "novalue".into());
        assert_eq!(CniEnv::from_map(&bad).unwrap_err().code(), 4);
        let mut del = full;
        del.insert("CNI_COMMAND".into(), "DEL".into());
        del.remove("CNI_NETNS");
        let e = CniEnv::from_map(&del).unwrap();
        assert_eq!(e.command, Command::Del);
        assert!(e.attachment(false).unwrap().netns.is_none());
        assert!(e.attachment(true).is_err());
    }

    #[test]
    fn gc_attachments_are_read() {
        let mut v = base();
        v["cniVersion"] = "1.1.0".into();
        v["cni.dev/valid-attachments"] =
            serde_json::json!([{"containerID": "a", "ifname": "eth0"}]);
        let c = parse(v).unwrap();
        assert_eq!(
            c.valid_attachments,
            Some(vec![("a".to_string(), "eth0".to_string())])
        );
    }
}
