//! The parts of an OCI/docker image config the node needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_of;
use crate::error::ImageError;

/// The runtime defaults of an image (OCI `config` section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` strings in image order.
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`, as written in the image (empty: root).
    pub user: String,
    /// `80/tcp`-style keys.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
}

/// A parsed image config blob.
pub(crate) struct ParsedConfig {
    pub config: ImageConfig,
    /// Hex digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(default)]
    config: Option<RawConfig>,
    rootfs: RawRootfs,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    labels: Option<BTreeMap<String, String>>,
    stop_signal: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Vec<String>,
}

pub(crate) fn parse(data: &[u8]) -> Result<ParsedConfig, ImageError> {
    let raw: RawImage =
        serde_json::from_slice(data).map_err(|e| ImageError::json("parse image config", e))?;
    if raw.rootfs.kind != "layers" {
        return Err(ImageError::format(format!(
            "unknown rootfs type {:?} in image config",
            raw.rootfs.kind
        )));
    }
    let diff_ids = raw
        .rootfs
        .diff_ids
        .iter()
        .map(|d| sha256_of(d).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let c = raw.config.unwrap_or_default();
    Ok(ParsedConfig {
        config: ImageConfig {
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            labels: c.labels.unwrap_or_default(),
            stop_signal: c.stop_signal.unwrap_or_default(),
        },
        diff_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config() {
        let d = format!("sha256:{}", "b".repeat(64));
        let json = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":null,
            "Cmd":["sh"],"Env":["PATH=/bin"],"WorkingDir":"/w","User":"1000:1000",
            "ExposedPorts":{{"80/tcp":{{}}}},"Labels":{{"a":"b"}}}},
            "rootfs":{{"type":"layers","diff_ids":["{d}"]}}}}"#
        );
        let p = parse(json.as_bytes()).unwrap();
        assert_eq!(p.config.cmd, vec!["sh"]);
        assert!(p.config.entrypoint.is_empty());
        assert_eq!(p.config.exposed_ports, vec!["80/tcp"]);
        assert_eq!(p.config.user, "1000:1000");
        assert_eq!(p.diff_ids, vec!["b".repeat(64)]);
        assert!(parse(br#"{"rootfs":{"type":"x"}}"#).is_err());
    }
}
