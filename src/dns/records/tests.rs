use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{json, Value};

use super::*;

pub(crate) fn fixture_services() -> Vec<Value> {
    vec![
        json!({"metadata": {"name": "web", "namespace": "default"},
               "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20", "fd00:43::20"],
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                  {"name": "dns", "port": 53, "protocol": "UDP"},
                                  {"port": 9000}]}}),
        json!({"metadata": {"name": "nginx", "namespace": "apps"},
               "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80}]}}),
        json!({"metadata": {"name": "peers", "namespace": "apps"},
               "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}}),
        json!({"metadata": {"name": "ext", "namespace": "default"},
               "spec": {"type": "ExternalName", "externalName": "db.example.org"}}),
        json!({"metadata": {"name": "alias", "namespace": "default"},
               "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}}),
        json!({"metadata": {"name": "kubernetes", "namespace": "default"},
               "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443}]}}),
    ]
}

pub(crate) fn fixture_slices() -> Vec<Value> {
    let label = |svc: &str| json!({"kubernetes.io/service-name": svc});
    vec![
        json!({"metadata": {"name": "nginx-a", "namespace": "apps", "labels": label("nginx")},
               "addressType": "IPv4",
               "endpoints": [
                   {"addresses": ["10.42.1.5"], "hostname": "web-0", "conditions": {"ready": true}},
                   {"addresses": ["10.42.2.6"], "hostname": "web-1", "conditions": {"ready": true}},
                   {"addresses": ["10.42.3.7"], "hostname": "web-2", "conditions": {"ready": false}},
                   {"addresses": ["10.42.1.9"]}],
               "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}),
        json!({"metadata": {"name": "peers-a", "namespace": "apps", "labels": label("peers")},
               "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.42.4.4"], "conditions": {"ready": false}}]}),
        // Same name, other namespace: must not leak into apps/nginx.
        json!({"metadata": {"name": "nginx-b", "namespace": "other", "labels": label("nginx")},
               "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.42.9.9"]}]}),
        json!({"metadata": {"name": "web-a", "namespace": "default", "labels": label("web")},
               "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.42.7.7"]}]}),
    ]
}

fn zone() -> Records {
    Records::build("cluster.local", &fixture_services(), &fixture_slices())
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn addrs(a: &Answer) -> Vec<IpAddr> {
    crate::dns::testing::addresses(&a.answers)
}

fn ask(z: &Records, n: &str, t: RecordType) -> Answer {
    z.lookup(&name(n), t).expect("name is in a zone kedge owns")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cluster_ip_answers_a_and_aaaa() {
    let z = zone();
    let a = ask(&z, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(addrs(&a), vec![ip("10.43.0.20")]);
    assert!(a.answers.iter().all(|r| r.ttl == TTL));
    assert!(a.authorities.is_empty());
    let aaaa = ask(&z, "web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(addrs(&aaaa), vec![ip("fd00:43::20")]);
    // Endpoints of a ClusterIP Service are not published.
    assert_eq!(
        ask(
            &z,
            "10-42-7-7.web.default.svc.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
}

#[test]
fn headless_service_lists_ready_endpoints() {
    let z = zone();
    let a = ask(&z, "nginx.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(
        addrs(&a),
        vec![ip("10.42.1.5"), ip("10.42.1.9"), ip("10.42.2.6")]
    );
    // publishNotReadyAddresses publishes the not-ready endpoint.
    let p = ask(&z, "peers.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(addrs(&p), vec![ip("10.42.4.4")]);
    // No AAAA: NODATA with the SOA.
    let none = ask(&z, "nginx.apps.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(none.rcode, ResponseCode::NoError);
    assert!(none.answers.is_empty());
    assert_eq!(none.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn statefulset_hostnames_and_dashed_endpoint_names() {
    let z = zone();
    let w0 = ask(&z, "web-0.nginx.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(addrs(&w0), vec![ip("10.42.1.5")]);
    let dashed = ask(&z, "10-42-1-9.nginx.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(addrs(&dashed), vec![ip("10.42.1.9")]);
    // A not-ready pod has no name.
    let w2 = ask(&z, "web-2.nginx.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(w2.rcode, ResponseCode::NXDomain);
}

fn srv(a: &Answer) -> Vec<(u16, String)> {
    a.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect()
}

#[test]
fn srv_for_named_ports_with_additional_addresses() {
    let z = zone();
    let a = ask(
        &z,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(srv(&a), vec![(80, "web.default.svc.cluster.local.".into())]);
    assert_eq!(a.additionals.len(), 2, "A and AAAA of the target");
    let udp = ask(
        &z,
        "_dns._udp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        srv(&udp),
        vec![(53, "web.default.svc.cluster.local.".into())]
    );
    // Wrong protocol: no such name.
    let wrong = ask(
        &z,
        "_dns._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(wrong.rcode, ResponseCode::NXDomain);
    // Headless: one target per endpoint, the endpoint port (8080), addresses in additionals.
    let h = ask(
        &z,
        "_web._tcp.nginx.apps.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        srv(&h),
        vec![
            (8080, "10-42-1-9.nginx.apps.svc.cluster.local.".into()),
            (8080, "web-0.nginx.apps.svc.cluster.local.".into()),
            (8080, "web-1.nginx.apps.svc.cluster.local.".into()),
        ]
    );
    assert_eq!(h.additionals.len(), 3);
    // `_tcp.<svc>` is an empty non-terminal: NODATA.
    let ent = ask(&z, "_tcp.web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(ent.rcode, ResponseCode::NoError);
    assert!(ent.answers.is_empty());
}

#[test]
fn external_name_is_a_cname_to_chase_upstream() {
    let z = zone();
    let a = ask(&z, "ext.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.answers.len(), 1);
    assert!(matches!(&a.answers[0].data, RData::CNAME(c) if c.0 == name("db.example.org.")));
    assert_eq!(a.chase, Some(name("db.example.org.")));
    let c = ask(&z, "ext.default.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(c.answers.len(), 1);
    assert_eq!(c.chase, None);
    // A target inside the zone is followed here.
    let alias = ask(&z, "alias.default.svc.cluster.local.", RecordType::A);
    assert_eq!(alias.chase, None);
    assert_eq!(alias.answers.len(), 2);
    assert_eq!(addrs(&alias), vec![ip("10.43.0.20")]);
    assert_eq!(
        alias.answers[1].name,
        name("web.default.svc.cluster.local.")
    );
}

#[test]
fn pod_names_are_synthesized() {
    let z = zone();
    let a = ask(&z, "10-42-1-5.apps.pod.cluster.local.", RecordType::A);
    assert_eq!(addrs(&a), vec![ip("10.42.1.5")]);
    let v6 = ask(&z, "fd00--5.apps.pod.cluster.local.", RecordType::AAAA);
    assert_eq!(addrs(&v6), vec![ip("fd00::5")]);
    let nodata = ask(&z, "10-42-1-5.apps.pod.cluster.local.", RecordType::AAAA);
    assert!(nodata.answers.is_empty() && nodata.rcode == ResponseCode::NoError);
    let bad = ask(&z, "not-an-ip.apps.pod.cluster.local.", RecordType::A);
    assert_eq!(bad.rcode, ResponseCode::NXDomain);
    let ns = ask(&z, "apps.pod.cluster.local.", RecordType::A);
    assert_eq!(ns.rcode, ResponseCode::NoError);
}

#[test]
fn ptr_for_service_and_endpoint_addresses() {
    let z = zone();
    let ptr = |ip: &str| {
        let a = z
            .lookup(&Name::from(self::ip(ip)), RecordType::PTR)
            .unwrap();
        a.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ptr("10.43.0.20"), vec!["web.default.svc.cluster.local."]);
    assert_eq!(ptr("fd00:43::20"), vec!["web.default.svc.cluster.local."]);
    assert_eq!(
        ptr("10.42.1.5"),
        vec!["web-0.nginx.apps.svc.cluster.local."]
    );
    // Unknown reverse names belong to the upstream.
    assert!(z
        .lookup(&Name::from(ip("192.0.2.1")), RecordType::PTR)
        .is_none());
}

#[test]
fn nxdomain_nodata_and_forwarding() {
    let z = zone();
    let nx = ask(&z, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    assert_eq!(nx.authorities.len(), 1);
    let RData::SOA(soa) = &nx.authorities[0].data else {
        panic!("authority is not an SOA");
    };
    assert_eq!(soa.minimum, TTL);
    // The ndots:5 search path asks for names like this first: they must fail fast here.
    let searched = ask(&z, "example.com.default.svc.cluster.local.", RecordType::A);
    assert_eq!(searched.rcode, ResponseCode::NXDomain);
    for ent in [
        "default.svc.cluster.local.",
        "svc.cluster.local.",
        "cluster.local.",
    ] {
        let a = ask(&z, ent, RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NoError, "{ent}");
        assert!(a.answers.is_empty(), "{ent}");
    }
    let apex = ask(&z, "cluster.local.", RecordType::SOA);
    assert_eq!(apex.answers.len(), 1);
    // Existing name, type it does not have.
    let mx = ask(&z, "web.default.svc.cluster.local.", RecordType::MX);
    assert!(mx.answers.is_empty() && mx.rcode == ResponseCode::NoError);
    assert!(z.lookup(&name("example.com."), RecordType::A).is_none());
    assert!(z.lookup(&name("local."), RecordType::A).is_none());
}

#[test]
fn names_are_case_insensitive_and_echo_the_question() {
    let z = zone();
    let q = Name::from_ascii("WEB.Default.SVC.Cluster.LOCAL.").unwrap();
    let a = z.lookup(&q, RecordType::A).unwrap();
    assert_eq!(addrs(&a), vec![ip("10.43.0.20")]);
    assert_eq!(
        a.answers[0].name.to_ascii(),
        "WEB.Default.SVC.Cluster.LOCAL."
    );
    let s = ask(&z, "Web-0.NGINX.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(addrs(&s), vec![ip("10.42.1.5")]);
}

#[test]
fn other_domain_and_empty_zone() {
    let z = Records::build("kedge.internal.", &fixture_services(), &fixture_slices());
    assert_eq!(z.domain().to_ascii(), "kedge.internal.");
    let a = ask(&z, "web.default.svc.kedge.internal.", RecordType::A);
    assert_eq!(addrs(&a), vec![ip("10.43.0.20")]);
    assert!(z
        .lookup(&name("web.default.svc.cluster.local."), RecordType::A)
        .is_none());
    let e = Records::empty("cluster.local");
    assert_eq!(
        ask(&e, "web.default.svc.cluster.local.", RecordType::A).rcode,
        ResponseCode::NXDomain
    );
}
