//! hostPort mappings: DNAT from a node port to a pod port, persisted per pod.
//!
//! Contract: `<dir>/<pod id>` lists a pod's mappings, one per line (`tcp 0.0.0.0 8080 10.1.1.2
//! 80`), written atomically; [`load_all`] returns them sorted by pod id so the generated rules
//! are the same after a restart. [`rules`] builds the `hostports` chain: a mapping matches
//! packets to a local address (or to its `host_ip` when one is set) and DNATs them to the pod.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::nft::matchers::{self as m, Dir};
use crate::nft::{CmpOp, Rule};

#[derive(Debug, thiserror::Error)]
pub enum PortmapError {
    #[error("hostport state {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bad hostport line {line:?} in {path}")]
    Parse { path: PathBuf, line: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => m::TCP,
            Protocol::Udp => m::UDP,
            Protocol::Sctp => m::SCTP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// A Kubernetes `protocol` field: absent means TCP; `None` for unknown protocols.
    pub fn parse_or_tcp(s: Option<&str>) -> Option<Protocol> {
        s.map_or(Some(Protocol::Tcp), Protocol::parse)
    }

    /// Parses `TCP`/`tcp`/... as Kubernetes and CNI spell it.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

/// A container port published on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `0.0.0.0` (unspecified) for every local address.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl HostPort {
    pub fn new(protocol: Protocol, host_port: u16, container_port: u16) -> HostPort {
        HostPort {
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port,
            container_port,
            protocol,
        }
    }
}

/// One pod's mappings with its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPorts {
    pub id: String,
    pub ip: IpAddr,
    pub ports: Vec<HostPort>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PortmapError + '_ {
    move |source| PortmapError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Records the pod's mappings (removes the file when there are none).
pub fn save(dir: &Path, p: &PodPorts) -> Result<(), PortmapError> {
    let path = dir.join(&p.id);
    if p.ports.is_empty() {
        return remove(dir, &p.id);
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let text: String = p
        .ports
        .iter()
        .map(|h| {
            format!(
                "{} {} {} {} {}\n",
                h.protocol.name(),
                h.host_ip,
                h.host_port,
                p.ip,
                h.container_port
            )
        })
        .collect();
    let tmp = dir.join(format!(".{}.tmp", p.id));
    fs::write(&tmp, text).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))
}

pub fn remove(dir: &Path, id: &str) -> Result<(), PortmapError> {
    let path = dir.join(id);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(PortmapError::Io { path, source: e }),
        _ => Ok(()),
    }
}

fn parse_line(line: &str) -> Option<(HostPort, IpAddr)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [proto, host_ip, host_port, ip, container_port] = f.as_slice() else {
        return None;
    };
    Some((
        HostPort {
            protocol: Protocol::parse(proto)?,
            host_ip: host_ip.parse().ok()?,
            host_port: host_port.parse().ok()?,
            container_port: container_port.parse().ok()?,
        },
        ip.parse().ok()?,
    ))
}

/// Every recorded pod, sorted by id.
pub fn load_all(dir: &Path) -> Result<Vec<PodPorts>, PortmapError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(PortmapError::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(id) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if id.starts_with('.') {
            continue;
        }
        let path = e.path();
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        let mut pod = PodPorts {
            id,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ports: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (h, ip) = parse_line(line).ok_or_else(|| PortmapError::Parse {
                path: path.clone(),
                line: line.to_string(),
            })?;
            pod.ip = ip;
            pod.ports.push(h);
        }
        out.push(pod);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The DNAT rules of `chain` for all pods.
pub fn rules(chain: &str, pods: &[PodPorts]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in pods {
        let mut ports = p.ports.clone();
        ports.sort();
        for h in ports {
            let mut e = Vec::new();
            if !h.host_ip.is_unspecified() {
                let net = ipnetwork::IpNetwork::from(h.host_ip);
                e.extend(m::addr(Dir::Destination, net, CmpOp::Eq));
            }
            e.extend(m::dport(h.protocol.number(), h.host_port));
            e.extend(m::dnat(p.ip, Some(h.container_port)));
            out.push(Rule::new(chain, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_persist_and_reload_sorted() {
        let d = tempfile::tempdir().unwrap();
        let ip: IpAddr = "10.1.1.5".parse().unwrap();
        let mut h = HostPort::new(Protocol::Udp, 5353, 53);
        h.host_ip = "192.168.0.1".parse().unwrap();
        save(
            d.path(),
            &PodPorts {
                id: "b".into(),
                ip,
                ports: vec![h],
            },
        )
        .unwrap();
        save(
            d.path(),
            &PodPorts {
                id: "a".into(),
                ip,
                ports: vec![HostPort::new(Protocol::Tcp, 8080, 80)],
            },
        )
        .unwrap();
        let all = load_all(d.path()).unwrap();
        assert_eq!(
            all.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(all[1].ports, vec![h]);
        assert_eq!(all[1].ip, ip);
        let r = rules("hostports", &all);
        assert_eq!(r.len(), 2);
        // The host_ip mapping also matches the destination address.
        assert!(r[1].exprs.len() > r[0].exprs.len());
        remove(d.path(), "a").unwrap();
        remove(d.path(), "a").unwrap();
        save(
            d.path(),
            &PodPorts {
                id: "b".into(),
                ip,
                ports: vec![],
            },
        )
        .unwrap();
        assert!(load_all(d.path()).unwrap().is_empty());
    }
}
