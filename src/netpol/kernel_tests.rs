//! NetworkPolicy enforcement against the kernel with real TCP traffic. Every test runs on a
//! thread moved into a fresh network namespace (the "node", with its own `kedge0` bridge);
//! pods are further namespaces pinned in a tempdir. Nothing touches the host's namespace.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kedge_netplugins::testing::{assert_proc_sys_is_ours, in_fresh_netns};
use kedge_netplugins::{netns, BridgeConfig, BridgeNet, PodNet};
use serde_json::{json, Value};

use super::PolicyEnforcer;

const NODE: &str = "node1";

/// Pod namespaces, unpinned on drop even when the test fails.
struct Pods {
    dir: tempfile::TempDir,
    netns: Vec<PathBuf>,
}

impl Pods {
    fn netns(&mut self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        netns::create(&p).unwrap();
        self.netns.push(p.clone());
        p
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        for p in &self.netns {
            let _ = netns::remove(p);
        }
    }
}

fn pod_json(name: &str, ip: Ipv4Addr, labels: Value, ports: Value) -> Value {
    json!({
        "metadata": {"namespace": "prod", "name": name, "labels": labels},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "ports": ports}]},
        "status": {"phase": "Running", "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}]}
    })
}

/// Whether a TCP handshake from inside `ns` to `to` completes within a second; a refusal
/// (no listener) fails the test, since a dropped SYN must look like a timeout.
fn connects(ns: &Path, to: SocketAddr) -> bool {
    let r = netns::run_in(ns, || {
        TcpStream::connect_timeout(&to, Duration::from_secs(1))
    })
    .unwrap();
    match r {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => false,
        Err(e) => panic!("connect from {} to {to}: {e}", ns.display()),
    }
}

fn listen(ns: &Path, port: u16) -> TcpListener {
    // The kernel completes handshakes into the backlog without accept(): enough to observe
    // whether a SYN got through.
    netns::run_in(ns, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap()
}

#[test]
fn policies_block_and_allow_real_traffic_and_removal_restores_it() {
    in_fresh_netns("netpol traffic", || {
        assert_proc_sys_is_ours();
        let mut pods = Pods {
            dir: tempfile::tempdir().unwrap(),
            netns: Vec::new(),
        };
        let mut cfg = BridgeConfig::new(
            "10.88.0.0/24".parse().unwrap(),
            &pods.dir.path().join("ipam"),
        );
        cfg.cluster_cidr = Some("10.88.0.0/16".parse().unwrap());
        let net = smol::block_on(BridgeNet::new(cfg)).expect("bridge");
        let enforcer = PolicyEnforcer::open(Path::new("/proc/sys")).expect("open");

        let mut ips = Vec::new();
        let mut nss = Vec::new();
        for name in ["db", "client", "other"] {
            let ns = pods.netns(name);
            let addr = smol::block_on(net.add(&PodNet {
                id: name.to_string(),
                netns: ns.clone(),
                ifname: "eth0".to_string(),
                host_ports: vec![],
            }))
            .expect("add pod");
            let std::net::IpAddr::V4(ip) = addr.ip else {
                panic!("{addr:?}")
            };
            ips.push(ip);
            nss.push(ns);
        }
        let (db, client, other) = (ips[0], ips[1], ips[2]);
        let (db_ns, client_ns, other_ns) = (&nss[0], &nss[1], &nss[2]);
        let _l1 = listen(db_ns, 5432);
        let _l2 = listen(other_ns, 8080);
        let objects = vec![
            pod_json(
                "db",
                db,
                json!({"role": "db"}),
                json!([{"name": "pg", "containerPort": 5432}]),
            ),
            pod_json("client", client, json!({"role": "client"}), json!([])),
            pod_json(
                "other",
                other,
                json!({"role": "other"}),
                json!([{"name": "web", "containerPort": 8080}]),
            ),
        ];
        let db_addr = SocketAddr::from((db, 5432));
        let other_addr = SocketAddr::from((other, 8080));

        assert!(connects(client_ns, db_addr), "baseline client → db");
        assert!(connects(other_ns, db_addr), "baseline other → db");

        // Ingress to role=db only from role=client on 5432.
        let ingress = json!({"metadata": {"namespace": "prod", "name": "db-from-client"}, "spec": {
            "podSelector": {"matchLabels": {"role": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                         "ports": [{"protocol": "TCP", "port": 5432}]}]}});
        let stats = enforcer
            .sync(std::slice::from_ref(&ingress), &objects, &[], NODE)
            .expect("sync");
        assert_eq!(stats.ingress_isolated, 1, "{stats:?}");
        let first = enforcer.dump();
        println!("{first}");
        assert!(connects(client_ns, db_addr), "client → db allowed");
        assert!(!connects(other_ns, db_addr), "other → db blocked");
        assert!(connects(db_ns, other_addr), "db's egress is not isolated");
        assert!(connects(client_ns, other_addr), "other is not isolated");

        // Applying the same objects again (in another order) changes nothing.
        let mut reversed = objects.clone();
        reversed.reverse();
        enforcer
            .sync(std::slice::from_ref(&ingress), &reversed, &[], NODE)
            .expect("resync");
        assert_eq!(enforcer.dump(), first);

        // An ipBlock covering every address but one: the range open at the top of the
        // address space and the hole cut by the except both reach the kernel.
        let block = json!({"metadata": {"namespace": "prod", "name": "db-block"}, "spec": {
            "podSelector": {"matchLabels": {"role": "db"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [format!("{other}/32")]}}]}]}});
        enforcer
            .sync(&[block], &objects, &[], NODE)
            .expect("sync ipBlock");
        assert!(connects(client_ns, db_addr), "client inside the block");
        assert!(
            !connects(other_ns, db_addr),
            "other excepted from the block"
        );

        // Egress: client may only reach db's named port "pg".
        let egress = json!({"metadata": {"namespace": "prod", "name": "client-out"}, "spec": {
            "podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}],
                        "ports": [{"port": "pg"}]}]}});
        let stats = enforcer
            .sync(&[egress], &objects, &[], NODE)
            .expect("sync egress");
        assert_eq!(
            (stats.ingress_isolated, stats.egress_isolated),
            (0, 1),
            "{stats:?}"
        );
        assert!(connects(client_ns, db_addr), "client → db:pg allowed");
        assert!(
            !connects(client_ns, other_addr),
            "client → other blocked by egress"
        );
        assert!(connects(other_ns, db_addr), "db no longer isolated");

        // Deleting the policies restores connectivity.
        let stats = enforcer.sync(&[], &objects, &[], NODE).expect("sync none");
        assert_eq!(stats.chains, 0);
        assert!(connects(other_ns, db_addr), "other → db after removal");
        assert!(
            connects(client_ns, other_addr),
            "client → other after removal"
        );
        assert_eq!(enforcer.dump(), "table ip kedge-policy\n");

        assert_eq!(super::dump().unwrap(), "table ip kedge-policy\n");
        enforcer.cleanup().expect("cleanup");
        assert_eq!(enforcer.dump(), "");
        super::cleanup().expect("cleanup twice");
    });
}

/// Hundreds of pods and policies: the transaction goes through and how long it takes.
#[test]
fn hundreds_of_pods_apply_in_one_transaction() {
    in_fresh_netns("netpol scale", || {
        assert_proc_sys_is_ours();
        let enforcer = match PolicyEnforcer::open(Path::new("/proc/sys")) {
            Ok(e) => e,
            Err(e) => panic!("open: {e:?}"),
        };
        let apps = 20;
        let mut pods = Vec::new();
        for i in 0..500u32 {
            let node = if i % 2 == 0 { NODE } else { "node2" };
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 42, 0, 10)) + i);
            let mut p = pod_json(
                &format!("p{i}"),
                ip,
                json!({"app": format!("a{}", i % apps), "tier": if i % 3 == 0 { "front" } else { "back" }}),
                json!([{"name": "http", "containerPort": 8000 + i % 7}]),
            );
            p["spec"]["nodeName"] = json!(node);
            pods.push(p);
        }
        let policies: Vec<Value> = (0..apps)
            .map(|a| {
                json!({"metadata": {"namespace": "prod", "name": format!("a{a}")}, "spec": {
                    "podSelector": {"matchLabels": {"app": format!("a{a}")}},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "front"}}},
                                          {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
                                 "ports": [{"port": "http"}, {"port": 9000, "endPort": 9100}]}],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": format!("a{}", (a + 1) % apps)}}}],
                                "ports": [{"port": "http"}]}]}})
            })
            .collect();
        let t = Instant::now();
        let compiled = super::compile(&policies, &pods, &[], NODE);
        let compile_time = t.elapsed();
        let batch_bytes = compiled.batch.encode(1).len();
        let t = Instant::now();
        let stats = enforcer.sync(&policies, &pods, &[], NODE).expect("sync");
        let first = t.elapsed();
        let dump = enforcer.dump();
        let t = Instant::now();
        enforcer.sync(&policies, &pods, &[], NODE).expect("resync");
        let second = t.elapsed();
        println!(
            "netpol scale: 500 pods (250 local), {apps} policies: compile {compile_time:?}, \
             batch {batch_bytes} bytes, first sync {first:?}, resync {second:?}, {stats:?}, \
             dump {} bytes",
            dump.len()
        );
        assert_eq!(stats.ingress_isolated, 250);
        assert_eq!(stats.egress_isolated, 250);
        assert_eq!(enforcer.dump(), dump);
        enforcer.cleanup().unwrap();
    });
}
