//! What the CNI plugin prints on stdout: ADD results, VERSION answers and error objects.
//!
//! Contract: [`CniResult`] serializes to the CNI 1.0 result (`interfaces` with `mac` and
//! `sandbox`, `ips` with `address` in CIDR form, `gateway` and the `interface` index, `routes`,
//! `dns`); [`CniResult::for_version`] adds the per-address `version` field a 0.4.0 runtime
//! expects. The same type parses a `prevResult` of either version, tolerating missing fields.
//! [`ErrorReport`] is the error object (`cniVersion`, `code`, `msg`, `details`) printed with a
//! non-zero exit code; [`code`] lists the spec's well-known codes and kedge's own (100+).

use serde::{Deserialize, Serialize};

/// Error codes: 1-99 are the spec's, 100+ are plugin specific.
pub mod code {
    /// The config's `cniVersion` is not one this plugin speaks.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// A config field this plugin does not support (message names key and value).
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// The container is unknown; the runtime need not clean up.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// A required `CNI_*` variable is missing or invalid (message names it).
    pub const INVALID_ENV: u32 = 4;
    /// Reading stdin or the plugin's state failed.
    pub const IO_FAILURE: u32 = 5;
    /// The config is not JSON.
    pub const DECODING_FAILURE: u32 = 6;
    /// The config is JSON but not a valid network config.
    pub const INVALID_CONFIG: u32 = 7;
    /// A transient condition; the runtime may retry.
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// STATUS: the plugin cannot serve ADDs.
    pub const NOT_AVAILABLE: u32 = 50;
    /// CHECK: the container's network is not what the previous ADD returned.
    pub const CHECK_FAILED: u32 = 100;
    /// Creating or inspecting links, addresses, routes or namespaces failed.
    pub const LINK_FAILURE: u32 = 101;
    /// Programming the `ip kedge` nf_tables table failed.
    pub const NFTABLES_FAILURE: u32 = 102;
    /// The subnet has no free address left.
    pub const NO_FREE_ADDRESS: u32 = 103;
}

/// Spec versions this plugin speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.4.0", "1.0.0", "1.1.0"];

/// The version used when the runtime's is unknown or unsupported.
pub const LATEST_VERSION: &str = "1.1.0";

pub fn is_supported(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The netns path for the container's interface, empty for host interfaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `"4"` or `"6"`: spec 0.4.0 only, dropped in 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `10.88.0.2/24`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings: from the config's `dns` key or the `dns` capability, handed back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        *self == Dns::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    #[serde(default)]
    pub cni_version: String,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
}

impl CniResult {
    /// The result as a runtime speaking `version` expects it.
    pub fn for_version(mut self, version: &str) -> CniResult {
        let legacy = version.starts_with("0.");
        for ip in &mut self.ips {
            ip.version = if legacy {
                Some(if ip.address.contains(':') { "6" } else { "4" }.to_string())
            } else {
                None
            };
        }
        self.cni_version = version.to_string();
        self
    }

    /// The index and entry of the container interface `ifname` (the one with a sandbox).
    pub fn sandbox_interface(&self, ifname: &str) -> Option<(usize, &Interface)> {
        self.interfaces
            .iter()
            .enumerate()
            .find(|(_, i)| i.name == ifname && !i.sandbox.is_empty())
    }
}

/// The VERSION answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub cni_version: String,
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    /// Answers in the runtime's version when supported, else in the latest.
    pub fn new(requested: Option<&str>) -> VersionInfo {
        let v = requested
            .filter(|v| is_supported(v))
            .unwrap_or(LATEST_VERSION);
        VersionInfo {
            cni_version: v.to_string(),
            supported_versions: SUPPORTED_VERSIONS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The error object printed on stdout before exiting non-zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub cni_version: String,
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl ErrorReport {
    /// `msg` is the error's own message; `details` its chain of causes.
    pub fn new(version: &str, code: u32, err: &dyn std::error::Error) -> ErrorReport {
        let mut causes = Vec::new();
        let mut src = err.source();
        while let Some(e) = src {
            causes.push(e.to_string());
            src = e.source();
        }
        ErrorReport {
            cni_version: version.to_string(),
            code,
            msg: err.to_string(),
            details: causes.join(": "),
        }
    }
}

/// A two-interface result for the unit tests of this module and of CHECK.
#[cfg(test)]
pub(crate) fn sample() -> CniResult {
    CniResult {
        cni_version: String::new(),
        interfaces: vec![
            Interface {
                name: "kedge0".into(),
                mac: "02:00:00:00:00:01".into(),
                sandbox: String::new(),
            },
            Interface {
                name: "eth0".into(),
                mac: "02:00:00:00:00:02".into(),
                sandbox: "/run/netns/c1".into(),
            },
        ],
        ips: vec![IpConfig {
            version: None,
            address: "10.88.0.2/24".into(),
            gateway: Some("10.88.0.1".into()),
            interface: Some(1),
        }],
        routes: vec![Route {
            dst: "0.0.0.0/0".into(),
            gw: Some("10.88.0.1".into()),
        }],
        dns: Dns::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_result_has_the_spec_shape() {
        let v = serde_json::to_value(sample().for_version("1.0.0")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "cniVersion": "1.0.0",
                "interfaces": [
                    {"name": "kedge0", "mac": "02:00:00:00:00:01"},
                    {"name": "eth0", "mac": "02:00:00:00:00:02", "sandbox": "/run/netns/c1"}
                ],
                "ips": [{"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 1}],
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}],
                "dns": {}
            })
        );
    }

    #[test]
    fn legacy_result_carries_ip_versions_and_round_trips() {
        let r = sample().for_version("0.4.0");
        assert_eq!(r.ips[0].version.as_deref(), Some("4"));
        let back: CniResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.sandbox_interface("eth0").unwrap().0, 1);
        assert!(back.sandbox_interface("kedge0").is_none());
    }

    #[test]
    fn version_info_falls_back_to_latest() {
        assert_eq!(VersionInfo::new(Some("0.4.0")).cni_version, "0.4.0");
        assert_eq!(VersionInfo::new(Some("9.0.0")).cni_version, LATEST_VERSION);
        let v = serde_json::to_value(VersionInfo::new(None)).unwrap();
        assert_eq!(
            v["supportedVersions"],
            serde_json::json!(SUPPORTED_VERSIONS)
        );
    }

    #[test]
    fn error_report_chains_causes_into_details() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        let r = ErrorReport::new("1.0.0", code::IO_FAILURE, &e);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion": "1.0.0", "code": 5, "msg": "outer", "details": "inner"})
        );
    }
}
