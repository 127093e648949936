//! The cluster zone: every DNS record Services and EndpointSlices imply, built at once into an
//! immutable [`Records`] and queried by [`Records::lookup`].
//!
//! Contract (the Kubernetes DNS specification, as CoreDNS' kubernetes plugin serves it):
//! - `<svc>.<ns>.svc.<domain>`: A/AAAA of the cluster IPs; for a headless Service, of every
//!   ready endpoint (not-ready ones too with `publishNotReadyAddresses`); CNAME for ExternalName.
//! - `<host>.<svc>.<ns>.svc.<domain>` for each endpoint of a headless Service, `<host>` being its
//!   `hostname` (StatefulSet pods) or its dashed address (`10-42-0-7`).
//! - `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: SRV per named port, targets with A/AAAA in the
//!   additional section.
//! - `<a-b-c-d>.<ns>.pod.<domain>`: A (AAAA for dashed IPv6) synthesized from the name.
//! - PTR for cluster IPs and endpoint addresses.
//! - Names are case-insensitive; answers echo the question's spelling. Under the domain a name
//!   that does not exist is NXDOMAIN and an existing name without the asked type is NODATA, both
//!   with the zone's SOA in the authority section. Every record has a [`TTL`] of 5 s.
//! - [`Records::lookup`] returns `None` for names it does not own: the caller forwards them.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;

use super::model::{Service, ServiceKind, Slice};

/// TTL of every record served, as CoreDNS' kubernetes plugin defaults to.
pub const TTL: u32 = 5;

/// CNAME chains inside the zone are followed at most this far (ExternalName to ExternalName).
const MAX_CNAME_HOPS: usize = 8;

/// The outcome of a lookup in a zone kedge owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `NoError` (with or without answers) or `NXDomain`.
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The answer ends in a CNAME to a name outside the zone, for the caller to resolve upstream
    /// with the same query type.
    pub chase: Option<Name>,
}

/// Immutable snapshot of the cluster zone and the reverse names of cluster addresses.
#[derive(Debug, Clone)]
pub struct Records {
    domain: Name,
    /// Every existing name under `domain`, empty non-terminals included (so that they answer
    /// NODATA, not NXDOMAIN). Record owners are the canonical lowercase names.
    nodes: HashMap<Name, Vec<Record>>,
    /// PTR records of cluster IPs and endpoint addresses, by reverse name.
    reverse: HashMap<Name, Vec<Record>>,
    soa: Record,
}

/// Collects record data per name before [`Records`] freezes it, deduplicating as it goes.
#[derive(Default)]
struct NodeBuilder {
    addrs: BTreeSet<IpAddr>,
    cname: Option<Name>,
    srv: BTreeSet<(u16, Name)>,
}

fn fqdn(s: &str) -> Option<Name> {
    let mut n = Name::from_ascii(s).ok()?;
    n.set_fqdn(true);
    Some(n.to_lowercase())
}

/// `10.42.0.7` → `10-42-0-7`, `fd00::7` → `fd00--7`: the endpoint label for hostname-less
/// endpoints and the pod-name scheme.
fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn undashed(label: &str) -> Option<IpAddr> {
    label
        .replace('-', ".")
        .parse::<std::net::Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| label.replace('-', ":").parse().map(IpAddr::V6))
        .ok()
}

fn addr_record(owner: Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner, TTL, data)
}

fn with_owner(r: &Record, owner: &Name) -> Record {
    let mut r = r.clone();
    r.name = owner.clone();
    r
}

fn matches(r: &Record, qtype: RecordType) -> bool {
    qtype == RecordType::ANY || r.record_type() == qtype
}

#[derive(Default)]
struct Builder {
    nodes: HashMap<Name, NodeBuilder>,
    ptr: HashMap<IpAddr, BTreeSet<Name>>,
}

impl Builder {
    fn node(&mut self, name: &Name) -> &mut NodeBuilder {
        self.nodes.entry(name.clone()).or_default()
    }

    fn service(&mut self, svc: &Service, slices: &[&Slice], zone: &Name) {
        let Some(base) = fqdn(&format!("{}.{}.{zone}", svc.name, svc.namespace)) else {
            return;
        };
        self.node(&base);
        match &svc.kind {
            ServiceKind::ExternalName(target) => {
                self.node(&base).cname = fqdn(target);
            }
            ServiceKind::ClusterIp(ips) => {
                for ip in ips {
                    self.node(&base).addrs.insert(*ip);
                    self.ptr.entry(*ip).or_default().insert(base.clone());
                }
                for p in &svc.ports {
                    self.srv(p.name.as_deref(), &p.protocol, &base, p.port, &base);
                }
            }
            ServiceKind::Headless => {
                for slice in slices {
                    for ep in &slice.endpoints {
                        if !(ep.ready || svc.publish_not_ready) {
                            continue;
                        }
                        for ip in &ep.addresses {
                            let label = ep.hostname.clone().unwrap_or_else(|| dashed(*ip));
                            let Some(host) = fqdn(&format!("{label}.{base}")) else {
                                continue;
                            };
                            self.node(&base).addrs.insert(*ip);
                            self.node(&host).addrs.insert(*ip);
                            self.ptr.entry(*ip).or_default().insert(host.clone());
                            for p in &slice.ports {
                                self.srv(p.name.as_deref(), &p.protocol, &base, p.port, &host);
                            }
                        }
                    }
                }
            }
        }
    }

    fn srv(&mut self, port: Option<&str>, proto: &str, base: &Name, number: u16, target: &Name) {
        let Some(port) = port else { return };
        if let Some(owner) = fqdn(&format!("_{port}._{proto}.{base}")) {
            self.node(&owner).srv.insert((number, target.clone()));
        }
    }
}

impl Records {
    /// A zone with nothing but its apex, SOA and the synthesized pod names.
    pub fn empty(domain: &str) -> Records {
        Records::build(domain, &[], &[])
    }

    pub fn build(domain: &str, services: &[Value], slices: &[Value]) -> Records {
        let domain = fqdn(domain.trim_end_matches('.'))
            .or_else(|| fqdn("cluster.local"))
            .unwrap_or_else(Name::root);
        let svc_zone = fqdn(&format!("svc.{domain}")).unwrap_or_else(|| domain.clone());
        let pod_zone = fqdn(&format!("pod.{domain}")).unwrap_or_else(|| domain.clone());

        let slices: Vec<Slice> = slices.iter().filter_map(Slice::parse).collect();
        let mut by_service: HashMap<(&str, &str), Vec<&Slice>> = HashMap::new();
        for s in &slices {
            by_service
                .entry((s.namespace.as_str(), s.service.as_str()))
                .or_default()
                .push(s);
        }
        let mut b = Builder::default();
        for svc in services.iter().filter_map(Service::parse) {
            let mine = by_service
                .get(&(svc.namespace.as_str(), svc.name.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            b.service(&svc, mine, &svc_zone);
        }

        let mut nodes: HashMap<Name, Vec<Record>> = HashMap::new();
        for (name, nb) in b.nodes {
            let mut records: Vec<Record> = nb
                .addrs
                .iter()
                .map(|ip| addr_record(name.clone(), *ip))
                .collect();
            records.extend(
                nb.cname
                    .map(|t| Record::from_rdata(name.clone(), TTL, RData::CNAME(CNAME(t)))),
            );
            // Equal priorities, weights sharing 100 between targets, as CoreDNS does.
            let weight = (100 / nb.srv.len().max(1)).max(1) as u16;
            records.extend(nb.srv.into_iter().map(|(port, target)| {
                Record::from_rdata(
                    name.clone(),
                    TTL,
                    RData::SRV(SRV::new(0, weight, port, target)),
                )
            }));
            // Empty non-terminals up to the apex exist too.
            let mut parent = name.base_name();
            while domain.zone_of(&parent) && !nodes.contains_key(&parent) {
                nodes.insert(parent.clone(), Vec::new());
                if parent == domain {
                    break;
                }
                parent = parent.base_name();
            }
            nodes.insert(name, records);
        }
        for n in [&domain, &svc_zone, &pod_zone] {
            nodes.entry(n.clone()).or_default();
        }
        let serial = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        let soa = Record::from_rdata(
            domain.clone(),
            TTL,
            RData::SOA(SOA::new(
                fqdn(&format!("ns.dns.{domain}")).unwrap_or_else(|| domain.clone()),
                fqdn(&format!("hostmaster.{domain}")).unwrap_or_else(|| domain.clone()),
                serial,
                7200,
                1800,
                86400,
                TTL,
            )),
        );
        if let Some(apex) = nodes.get_mut(&domain) {
            apex.push(soa.clone());
        }
        let reverse = b
            .ptr
            .into_iter()
            .map(|(ip, names)| {
                let owner = Name::from(ip);
                let records = names
                    .into_iter()
                    .map(|n| Record::from_rdata(owner.clone(), TTL, RData::PTR(PTR(n))))
                    .collect();
                (owner, records)
            })
            .collect();
        Records {
            domain,
            nodes,
            reverse,
            soa,
        }
    }

    /// The cluster domain as a fully qualified name.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// Number of names in the zone (empty non-terminals included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Answer `qname`/`qtype` if kedge owns the name; `None` means "forward it upstream".
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Option<Answer> {
        if self.domain.zone_of(qname) {
            return Some(self.lookup_zone(qname, qtype));
        }
        let ptrs = self.reverse.get(qname)?;
        Some(Answer {
            rcode: ResponseCode::NoError,
            answers: ptrs
                .iter()
                .filter(|r| matches(r, qtype))
                .map(|r| with_owner(r, qname))
                .collect(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            chase: None,
        })
    }

    fn negative(&self, rcode: ResponseCode) -> Answer {
        Answer {
            rcode,
            answers: Vec::new(),
            authorities: vec![self.soa.clone()],
            additionals: Vec::new(),
            chase: None,
        }
    }

    fn lookup_zone(&self, qname: &Name, qtype: RecordType) -> Answer {
        if let Some(ip) = self.pod_address(qname) {
            let r = addr_record(qname.clone(), ip);
            if !matches(&r, qtype) {
                return self.negative(ResponseCode::NoError);
            }
            return Answer {
                rcode: ResponseCode::NoError,
                answers: vec![r],
                authorities: Vec::new(),
                additionals: Vec::new(),
                chase: None,
            };
        }
        let Some(node) = self.nodes.get(qname).or_else(|| self.pod_namespace(qname)) else {
            return self.negative(ResponseCode::NXDomain);
        };
        let mut answers = Vec::new();
        let mut chase = None;
        let mut owner = qname.clone();
        let mut node = node;
        for _ in 0..MAX_CNAME_HOPS {
            let cname = node.iter().find_map(|r| match &r.data {
                RData::CNAME(c) if qtype != RecordType::CNAME && qtype != RecordType::ANY => {
                    Some(c.0.clone())
                }
                _ => None,
            });
            let Some(target) = cname else {
                answers.extend(
                    node.iter()
                        .filter(|r| matches(r, qtype))
                        .map(|r| with_owner(r, &owner)),
                );
                break;
            };
            answers.push(Record::from_rdata(
                owner.clone(),
                TTL,
                RData::CNAME(CNAME(target.clone())),
            ));
            match self.nodes.get(&target) {
                Some(next) => {
                    node = next;
                    owner = target;
                }
                None => {
                    // Outside the zone: the server resolves it upstream. Inside the zone a
                    // dangling target simply ends the chain.
                    if !self.domain.zone_of(&target) {
                        chase = Some(target);
                    }
                    break;
                }
            }
        }
        let additionals = answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => self.nodes.get(&s.target),
                _ => None,
            })
            .flatten()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .cloned()
            .collect();
        let authorities = match answers.is_empty() {
            true => vec![self.soa.clone()],
            false => Vec::new(),
        };
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            authorities,
            additionals,
            chase,
        }
    }

    /// `<dashed-ip>.<ns>.pod.<domain>`: the address written in the first label.
    fn pod_address(&self, qname: &Name) -> Option<IpAddr> {
        let labels: Vec<&[u8]> = qname.iter().collect();
        let extra = labels
            .len()
            .checked_sub(self.domain.num_labels() as usize)?;
        if extra != 3 || !labels[2].eq_ignore_ascii_case(b"pod") {
            return None;
        }
        undashed(std::str::from_utf8(labels[0]).ok()?)
    }

    /// `<ns>.pod.<domain>` exists for any namespace (pods insecure mode: no namespace check).
    fn pod_namespace(&self, qname: &Name) -> Option<&Vec<Record>> {
        static EMPTY: Vec<Record> = Vec::new();
        let labels: Vec<&[u8]> = qname.iter().collect();
        let extra = labels
            .len()
            .checked_sub(self.domain.num_labels() as usize)?;
        (extra == 2 && labels[1].eq_ignore_ascii_case(b"pod")).then_some(&EMPTY)
    }
}

#[cfg(test)]
pub(crate) mod tests;
