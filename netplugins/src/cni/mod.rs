//! kedge's bridge network as a CNI-spec plugin, for runtimes other than kedge's own.
//!
//! Contract: [`run`] executes one plugin invocation: the `CNI_*` environment, the network
//! config on stdin (see [`config`] for the keys), the answer on stdout. It returns the exit
//! code: 0 on success, 1 after printing a CNI error object ([`result::ErrorReport`]).
//! - ADD connects the container through [`BridgeNet`] and prints a result in the config's
//!   `cniVersion` (interfaces: bridge, host veth, container interface with its sandbox; one
//!   address; the default route). ADD of an existing attachment returns the same address.
//! - DEL is idempotent and needs neither `CNI_NETNS` nor the namespace to still exist: it
//!   removes the host veth (the container side goes with it), the address and hostPorts.
//! - CHECK compares `prevResult` with the node and the container ([`check`]) and changes
//!   nothing; any difference is error 100.
//! - VERSION prints the supported versions; GC (1.1) releases attachments not listed in
//!   `cni.dev/valid-attachments`; STATUS (1.1) reports whether the state dir is usable.
//!
//! State lives in `<ipam.dataDir>/<name>` (IPAM files, hostPort records), keyed by
//! `<container id>:<ifname>`. Invocations on one network are serialized by an exclusive
//! `flock` on `<state dir>/.lock`, because the bridge rewrites its hostPort rules from the
//! records of every container and two concurrent rewrites could drop each other's rule.
//! Sockets are opened by the calling process, so it must run in the node's namespace.
//! Limitation: the nf_tables table `ip kedge` belongs to one bridge per node, so one
//! kedge-cni network per node, and not alongside the kedge agent's built-in bridge.

pub mod check;
pub mod config;
pub mod result;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::bridge::host_veth_name;
use crate::ipam::IpamError;
use crate::{netns, veth, BridgeNet, NetError, PodNet};
use check::{CheckError, Expected};
use config::{attachment_id, Attachment, CniEnv, Command, ConfigError, NetConf};
use result::{code, CniResult, ErrorReport, Interface, IpConfig, Route, VersionInfo};

const LOCK: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid environment variable CNI_NETNS: {0} is not a network namespace")]
    NotNetns(PathBuf),
    #[error("network of container {id} is not as expected: {}", problems.join("; "))]
    CheckFailed { id: String, problems: Vec<String> },
    #[error("checking the container network")]
    Check(#[from] CheckError),
    #[error("bridge network")]
    Net(#[from] NetError),
    #[error("state directory {path}")]
    State {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading the network config from stdin")]
    Stdin(#[source] io::Error),
    #[error("plugin not available: state directory {path}")]
    Unavailable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CniError {
    /// The CNI error code printed with the error.
    pub fn code(&self) -> u32 {
        match self {
            CniError::Config(e) => e.code(),
            CniError::NotNetns(_) => code::INVALID_ENV,
            CniError::CheckFailed { .. } => code::CHECK_FAILED,
            CniError::Check(CheckError::PrevResult(_)) => code::INVALID_CONFIG,
            CniError::Check(CheckError::Link(_)) => code::LINK_FAILURE,
            CniError::Check(CheckError::Nft(_)) => code::NFTABLES_FAILURE,
            CniError::Check(CheckError::Portmap(_)) => code::IO_FAILURE,
            CniError::Net(e) => net_code(e),
            CniError::State { .. } | CniError::Stdin(_) => code::IO_FAILURE,
            CniError::Unavailable { .. } => code::NOT_AVAILABLE,
        }
    }
}

fn net_code(e: &NetError) -> u32 {
    match e {
        NetError::Ipam(IpamError::Exhausted(_)) => code::NO_FREE_ADDRESS,
        NetError::Ipam(IpamError::TooSmall(_)) => code::INVALID_CONFIG,
        NetError::Ipam(IpamError::Io { .. }) | NetError::Portmap(_) | NetError::Sysctl { .. } => {
            code::IO_FAILURE
        }
        NetError::Link(_) | NetError::Netns(_) => code::LINK_FAILURE,
        NetError::Nft(_) => code::NFTABLES_FAILURE,
    }
}

/// Runs one invocation with sysctls under `/proc/sys`; see the module contract.
pub fn run(env: &HashMap<String, String>, stdin: &[u8], stdout: &mut dyn Write) -> i32 {
    run_with(env, stdin, stdout, Path::new("/proc/sys"))
}

/// [`run`] with the sysctl root as a parameter.
pub fn run_with(
    env: &HashMap<String, String>,
    stdin: &[u8],
    stdout: &mut dyn Write,
    proc_sys: &Path,
) -> i32 {
    match execute(env, stdin, proc_sys) {
        Ok(None) => 0,
        Ok(Some(out)) => match writeln!(stdout, "{out}") {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Err(e) => report(stdin, e.code(), &e, stdout),
    }
}

/// Prints a failure to read stdin as a CNI I/O error; returns the exit code.
pub fn report_stdin_error(e: &io::Error, stdout: &mut dyn Write) -> i32 {
    let e = CniError::Stdin(io::Error::new(e.kind(), e.to_string()));
    report(b"", code::IO_FAILURE, &e, stdout)
}

fn report(stdin: &[u8], code: u32, e: &dyn std::error::Error, stdout: &mut dyn Write) -> i32 {
    // Answer in the runtime's version when it sent one this plugin speaks.
    let version = config::requested_version(stdin)
        .filter(|v| result::is_supported(v))
        .unwrap_or_else(|| result::LATEST_VERSION.to_string());
    let r = ErrorReport::new(&version, code, e);
    if let Ok(json) = serde_json::to_string(&r) {
        let _ = writeln!(stdout, "{json}");
    }
    1
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing these plain structs cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn execute(
    env: &HashMap<String, String>,
    stdin: &[u8],
    proc_sys: &Path,
) -> Result<Option<String>, CniError> {
    let env = CniEnv::from_map(env)?;
    if env.command == Command::Version {
        let v = config::requested_version(stdin);
        return Ok(Some(to_json(&VersionInfo::new(v.as_deref()))));
    }
    let conf = NetConf::parse(stdin)?;
    match env.command {
        Command::Add => {
            let att = env.attachment(true)?;
            let ns = require_netns(&att)?;
            let _lock = lock_state(&conf.state_dir())?;
            let res = smol::block_on(add(&conf, &att, &ns, proc_sys))?;
            Ok(Some(to_json(&res)))
        }
        Command::Del => {
            let att = env.attachment(false)?;
            // Nothing was ever added on this network: nothing to create only to delete it.
            if !conf.state_dir().is_dir() {
                return Ok(None);
            }
            let _lock = lock_state(&conf.state_dir())?;
            smol::block_on(async {
                let net = BridgeNet::new(conf.bridge_config(proc_sys)).await?;
                net.del(&att.id(), att.netns.as_deref()).await
            })?;
            Ok(None)
        }
        Command::Check => {
            let att = env.attachment(true)?;
            let prev = conf
                .prev_result
                .clone()
                .ok_or_else(|| ConfigError::Invalid("CHECK needs prevResult".into()))?;
            let prev: CniResult = serde_json::from_value(prev)
                .map_err(|e| ConfigError::Invalid(format!("prevResult: {e}")))?;
            let exp = Expected::from_prev(&prev, &att)?;
            require_netns(&att)?;
            let obs = smol::block_on(check::observe(&conf, &att))?;
            let problems = check::compare(&conf, &exp, &obs);
            if problems.is_empty() {
                Ok(None)
            } else {
                Err(CniError::CheckFailed {
                    id: att.container_id,
                    problems,
                })
            }
        }
        Command::Gc => {
            let valid = conf
                .valid_attachments
                .clone()
                .ok_or_else(|| ConfigError::Invalid("GC needs cni.dev/valid-attachments".into()))?;
            if !conf.state_dir().is_dir() {
                return Ok(None);
            }
            let live: HashSet<String> = valid.iter().map(|(c, i)| attachment_id(c, i)).collect();
            let _lock = lock_state(&conf.state_dir())?;
            smol::block_on(async {
                let net = BridgeNet::new(conf.bridge_config(proc_sys)).await?;
                net.gc(&live).await
            })?;
            Ok(None)
        }
        Command::Status => {
            let dir = conf.state_dir();
            lock_state(&dir).map_err(|e| match e {
                CniError::State { path, source } => CniError::Unavailable { path, source },
                other => other,
            })?;
            Ok(None)
        }
        Command::Version => unreachable!("answered above"),
    }
}

fn require_netns(att: &Attachment) -> Result<PathBuf, CniError> {
    let ns = att.netns.clone().unwrap_or_default();
    if !netns::is_netns(&ns) {
        return Err(CniError::NotNetns(ns));
    }
    Ok(ns)
}

/// Creates the state dir and holds its lock until the guard drops.
fn lock_state(dir: &Path) -> Result<Flock<File>, CniError> {
    let state = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CniError::State { path, source }
    };
    std::fs::create_dir_all(dir).map_err(state(dir))?;
    let path = dir.join(LOCK);
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(state(&path))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, errno)| CniError::State {
        path,
        source: errno.into(),
    })
}

async fn add(
    conf: &NetConf,
    att: &Attachment,
    ns: &Path,
    proc_sys: &Path,
) -> Result<CniResult, CniError> {
    let net = BridgeNet::new(conf.bridge_config(proc_sys)).await?;
    let id = att.id();
    let addr = net
        .add(&PodNet {
            id: id.clone(),
            netns: ns.to_path_buf(),
            ifname: att.ifname.clone(),
            host_ports: conf.port_mappings.clone(),
        })
        .await?;
    let node = veth::connect().map_err(NetError::from)?;
    let host = host_veth_name(&id);
    let mut macs = Vec::new();
    for name in [&conf.bridge, &host] {
        let l = veth::link(&node, name).await.map_err(NetError::from)?;
        macs.push(l.map(|(_, m)| veth::format_mac(&m)).unwrap_or_default());
    }
    let default = if addr.ip.is_ipv6() {
        "::/0"
    } else {
        "0.0.0.0/0"
    };
    let res = CniResult {
        cni_version: String::new(),
        interfaces: vec![
            Interface {
                name: conf.bridge.clone(),
                mac: macs[0].clone(),
                sandbox: String::new(),
            },
            Interface {
                name: host,
                mac: macs[1].clone(),
                sandbox: String::new(),
            },
            Interface {
                name: att.ifname.clone(),
                mac: addr.mac.clone(),
                sandbox: ns.to_string_lossy().into_owned(),
            },
        ],
        ips: vec![IpConfig {
            version: None,
            address: format!("{}/{}", addr.ip, addr.prefix),
            gateway: Some(addr.gateway.to_string()),
            interface: Some(2),
        }],
        routes: vec![Route {
            dst: default.to_string(),
            gw: Some(addr.gateway.to_string()),
        }],
        dns: conf.dns.clone(),
    };
    Ok(res.for_version(&conf.cni_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only invocations that fail or answer before any socket is opened: the kernel paths are
    // exercised by tests/cni.rs inside namespaces the test creates.
    fn invoke(env: &[(&str, &str)], stdin: &str) -> (i32, serde_json::Value) {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = Vec::new();
        let code = run_with(&env, stdin.as_bytes(), &mut out, Path::new("/nonexistent"));
        let v = if out.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&out).unwrap()
        };
        (code, v)
    }

    #[test]
    fn version_answers_without_a_network() {
        let (c, v) = invoke(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"1.0.0"}"#);
        assert_eq!(c, 0);
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(
            v["supportedVersions"],
            serde_json::json!(["0.4.0", "1.0.0", "1.1.0"])
        );
        let (c, v) = invoke(&[("CNI_COMMAND", "VERSION")], "");
        assert_eq!((c, v["cniVersion"].as_str()), (0, Some("1.1.0")));
    }

    #[test]
    fn errors_are_cni_error_objects() {
        let (c, v) = invoke(&[], r#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(c, 1);
        assert_eq!(v["code"], 4);
        assert_eq!(v["cniVersion"], "0.4.0");
        assert!(v["msg"].as_str().unwrap().contains("CNI_COMMAND"));
        let (c, v) = invoke(&[("CNI_COMMAND", "ADD")], "{oops");
        assert_eq!((c, v["code"].as_u64()), (1, Some(6)));
        assert_eq!(v["cniVersion"], result::LATEST_VERSION);
        assert!(!v["details"].as_str().unwrap().is_empty());
    }

    #[test]
    fn check_without_prev_result_is_an_invalid_config() {
        let conf = r#"{"cniVersion":"1.0.0","name":"n","type":"kedge-cni",
            "ipam":{"type":"host-local","subnet":"10.88.0.0/24","dataDir":"/nonexistent"}}"#;
        let env = [
            ("CNI_COMMAND", "CHECK"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/nonexistent/ns"),
        ];
        let (c, v) = invoke(&env, conf);
        assert_eq!((c, v["code"].as_u64()), (1, Some(7)));
        // DEL of a network that never had an ADD touches nothing and succeeds.
        let del = [("CNI_COMMAND", "DEL"), env[1], env[2]];
        let (c, v) = invoke(&del, conf);
        assert_eq!((c, v), (0, serde_json::Value::Null));
    }
}
