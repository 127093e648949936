//! `kedge-cni` invoked exactly as a CNI runtime invokes a plugin: the `CNI_*` environment,
//! the network config on stdin, the result or error object parsed from stdout. The binary is
//! started from a thread inside a fresh network namespace (the "node"; the child inherits the
//! thread's namespace) and containers are namespaces pinned in a tempdir, so the host's
//! namespace is never touched. Tests that need root print SKIPPED without it (unless CI).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use ipnetwork::IpNetwork;
use kedge_netplugins::{netns, veth};
use rtnetlink::packet_route::address::AddressAttribute;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_kedge-cni");
const SUBNET: &str = "10.77.0.0/24";
const GATEWAY: &str = "10.77.0.1";

/// A running plugin; killed (by its pid) and reaped if the test fails before it exits.
struct Plugin(Option<Child>);

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the plugin printed and how it exited.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// Asserts a CNI error object with `code` and a non-zero exit; returns the object.
    fn error(&self, code: u64) -> Value {
        assert_ne!(self.code, 0, "expected failure, got {self:?}");
        let v = self.json();
        assert_eq!(v["code"].as_u64(), Some(code), "{v}");
        assert!(!v["msg"].as_str().unwrap_or("").is_empty(), "{v}");
        assert!(v["cniVersion"].is_string(), "{v}");
        v
    }

    fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "plugin failed: {}", self.stdout);
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// Starts the plugin in the calling thread's network namespace.
fn spawn(env: &[(&str, &str)], stdin: &[u8]) -> Plugin {
    let mut c = Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting kedge-cni");
    let mut input = c.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    Plugin(Some(c))
}

fn wait(mut p: Plugin) -> Out {
    let deadline = Instant::now() + Duration::from_secs(60);
    let child = p.0.as_mut().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "kedge-cni did not finish in 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    p.0 = None;
    Out {
        code: status.code().unwrap_or(-1),
        stdout,
    }
}

fn invoke(env: &[(&str, &str)], stdin: &Value) -> Out {
    wait(spawn(env, stdin.to_string().as_bytes()))
}

/// The environment of one command on one container.
fn env<'a>(cmd: &'a str, id: &'a str, ns: Option<&'a Path>) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("CNI_COMMAND", cmd),
        ("CNI_CONTAINERID", id),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
        ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
    ];
    if let Some(ns) = ns {
        e.push(("CNI_NETNS", ns.to_str().unwrap()));
    }
    e
}

/// The test's state dir and container namespaces, unpinned on drop even when a test fails.
struct Fixture {
    // Declared first: dropped (namespaces unpinned) before the directory is removed.
    pins: kedge_netplugins::testing::Pins,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            pins: Default::default(),
        }
    }

    fn container(&mut self, name: &str) -> PathBuf {
        self.pins.pin(self.dir.path(), name)
    }

    fn conf(&self, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "name": "kedgetest",
            "type": "kedge-cni",
            "bridge": "kedge0",
            "mtu": 1500,
            "ipMasq": true,
            "clusterCIDR": "10.77.0.0/16",
            "capabilities": {"portMappings": true},
            "ipam": {"type": "host-local", "subnet": SUBNET, "dataDir": self.state().parent().unwrap()},
            "dns": {"nameservers": ["10.43.0.10"], "search": ["default.svc.cluster.local"]}
        })
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state").join("kedgetest")
    }

    /// Addresses the IPAM holds.
    fn allocations(&self) -> Vec<IpAddr> {
        std::fs::read_dir(self.state())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn with_prev(mut conf: Value, prev: &Value) -> Value {
    conf["prevResult"] = prev.clone();
    conf
}

/// The container's IPv4 addresses on `eth0` (None when eth0 is gone) and its MAC.
fn container_eth0(ns: &Path) -> Option<(Vec<(IpAddr, u8)>, String)> {
    smol::block_on(async {
        let h = veth::connect_in(ns).unwrap();
        let (idx, mac) = veth::link(&h, "eth0").await.unwrap()?;
        let addrs = veth::addrs(&h, idx).await.unwrap();
        Some((
            addrs.into_iter().filter(|(ip, _)| ip.is_ipv4()).collect(),
            veth::format_mac(&mac),
        ))
    })
}

fn node_link_exists(name: &str) -> bool {
    smol::block_on(async {
        let h = veth::connect().unwrap();
        veth::link(&h, name).await.unwrap().is_some()
    })
}

/// Removes the IPv4 addresses of the container's eth0, as an intruder would.
fn strip_container_address(ns: &Path) {
    smol::block_on(async {
        let h = veth::connect_in(ns).unwrap();
        let (idx, _) = veth::link(&h, "eth0").await.unwrap().unwrap();
        let mut msgs = Vec::new();
        let mut s = h.address().get().set_link_index_filter(idx).execute();
        while let Some(m) = s.try_next().await.unwrap() {
            if m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(_))))
            {
                msgs.push(m);
            }
        }
        for m in msgs {
            h.address().del(m).execute().await.unwrap();
        }
    })
}

/// The container's address, checked against the result's shape.
fn result_address(res: &Value, ns: &Path, version: &str) -> IpAddr {
    assert_eq!(res["cniVersion"], version, "{res}");
    let ifs = res["interfaces"].as_array().unwrap();
    assert_eq!(ifs[0]["name"], "kedge0");
    assert!(ifs[1]["name"].as_str().unwrap().starts_with("kedge"));
    assert!(ifs[1].get("sandbox").is_none());
    assert_eq!(ifs[2]["name"], "eth0");
    assert_eq!(ifs[2]["sandbox"], ns.to_str().unwrap());
    assert_eq!(ifs[2]["mac"].as_str().unwrap().len(), 17);
    let ip = &res["ips"][0];
    assert_eq!(ip["interface"], 2);
    assert_eq!(ip["gateway"], GATEWAY);
    assert_eq!(ip.get("version").is_some(), version == "0.4.0", "{res}");
    let net: IpNetwork = ip["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(net.prefix(), 24);
    assert!(SUBNET.parse::<IpNetwork>().unwrap().contains(net.ip()));
    assert_eq!(res["routes"], json!([{"dst": "0.0.0.0/0", "gw": GATEWAY}]));
    assert_eq!(res["dns"]["nameservers"], json!(["10.43.0.10"]));
    net.ip()
}

/// Runs `f` in a fresh node namespace as root; without root, runs it where it is, which is
/// safe only for invocations that fail before touching the network (the unprivileged
/// plugin could change nothing anyway).
fn in_node_or_unprivileged(what: &str, f: impl FnOnce() + Send) {
    if nix::unistd::geteuid().is_root() {
        common::in_fresh_netns(what, f);
    } else {
        f();
    }
}

#[test]
fn version_reports_supported_versions() {
    in_node_or_unprivileged("cni VERSION", || {
        for (asked, answered) in [("1.0.0", "1.0.0"), ("0.4.0", "0.4.0"), ("9.9.9", "1.1.0")] {
            let v = invoke(&[("CNI_COMMAND", "VERSION")], &json!({"cniVersion": asked})).ok();
            assert_eq!(v["cniVersion"], answered);
            assert_eq!(v["supportedVersions"], json!(["0.4.0", "1.0.0", "1.1.0"]));
        }
    });
}

#[test]
fn bad_config_and_environment_return_cni_errors() {
    in_node_or_unprivileged("cni errors", || {
        let fx = Fixture::new();
        let ns = fx.dir.path().join("not-a-netns");
        std::fs::write(&ns, b"").unwrap();
        let add = env("ADD", "c1", Some(&ns));
        let good = fx.conf("1.0.0");

        let raw = |stdin: &[u8]| wait(spawn(&add, stdin));
        raw(b"{\"cniVersion\": \"1.0.0\", ").error(6);
        raw(b"").error(6);

        let without = |key: &str| {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(key);
            c
        };
        // Sets `/a/b` (creating the last key) in a copy of the good config.
        let with = |ptr: &str, v: Value| {
            let mut c = good.clone();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            c.pointer_mut(parent).unwrap()[key] = v;
            c
        };
        for key in ["name", "type", "ipam", "cniVersion"] {
            let e = invoke(&add, &without(key)).error(7);
            assert!(e["msg"].as_str().unwrap().contains(key), "{e}");
        }
        let e = invoke(&add, &with("/cniVersion", json!("0.3.1"))).error(1);
        assert!(e["msg"].as_str().unwrap().contains("0.3.1"), "{e}");
        invoke(&add, &with("/cniVersion", json!("2.0.0"))).error(1);
        invoke(&add, &with("/ipam/subnet", json!("10.77.0.0/33"))).error(7);
        invoke(&add, &with("/ipam/subnet", json!("banana"))).error(7);
        invoke(&add, &with("/ipam/subnet", json!("10.77.0.0/31"))).error(7);
        invoke(&add, &with("/mtu", json!(-1))).error(7);
        invoke(&add, &with("/name", json!("../escape"))).error(7);
        let e = invoke(&add, &with("/ipam/type", json!("dhcp"))).error(2);
        assert!(e["msg"].as_str().unwrap().contains("dhcp"), "{e}");
        invoke(&add, &with("/ipam/gateway", json!("10.77.0.9"))).error(2);

        // The environment: the message names the variable.
        let e = invoke(&[], &good).error(4);
        assert!(e["msg"].as_str().unwrap().contains("CNI_COMMAND"), "{e}");
        invoke(&[("CNI_COMMAND", "FROB")], &good).error(4);
        let no_id: Vec<_> = add
            .iter()
            .copied()
            .filter(|(k, _)| *k != "CNI_CONTAINERID")
            .collect();
        let e = invoke(&no_id, &good).error(4);
        assert!(
            e["msg"].as_str().unwrap().contains("CNI_CONTAINERID"),
            "{e}"
        );
        let no_ns: Vec<_> = add
            .iter()
            .copied()
            .filter(|(k, _)| *k != "CNI_NETNS")
            .collect();
        invoke(&no_ns, &good).error(4);
        let e = invoke(&add, &good).error(4);
        assert!(e["msg"].as_str().unwrap().contains("CNI_NETNS"), "{e}");
        invoke(&env("ADD", "-bad", Some(&ns)), &good).error(4);
        invoke(&env("CHECK", "c1", Some(&ns)), &good).error(7);

        // None of it reached the network.
        if nix::unistd::geteuid().is_root() {
            assert!(!node_link_exists("kedge0"));
        }
        assert!(fx.allocations().is_empty());
    });
}

#[test]
fn add_check_del_round_trip() {
    common::in_fresh_netns("cni ADD/CHECK/DEL", || {
        common::assert_proc_sys_is_ours();
        let mut fx = Fixture::new();
        let (c1, c2) = (fx.container("c1"), fx.container("c2"));
        let conf = fx.conf("1.0.0");

        let res = invoke(&env("ADD", "c1", Some(&c1)), &conf).ok();
        let ip1 = result_address(&res, &c1, "1.0.0");
        // Really configured: seen through netlink from inside the container.
        let (addrs, mac) = container_eth0(&c1).expect("eth0 in c1");
        assert_eq!(addrs, vec![(ip1, 24)]);
        assert_eq!(res["interfaces"][2]["mac"], mac);
        assert!(node_link_exists("kedge0"));
        assert!(node_link_exists(
            res["interfaces"][1]["name"].as_str().unwrap()
        ));
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
        assert_eq!(fx.allocations(), vec![ip1]);

        // CHECK with the ADD's result passes and prints nothing.
        let out = invoke(
            &env("CHECK", "c1", Some(&c1)),
            &with_prev(conf.clone(), &res),
        );
        assert_eq!(out.ok(), Value::Null);
        // A repeated ADD returns the same address.
        let again = invoke(&env("ADD", "c1", Some(&c1)), &conf).ok();
        assert_eq!(again["ips"], res["ips"]);

        // A 0.4.0 runtime gets its result format; the two containers talk.
        let conf04 = fx.conf("0.4.0");
        let res2 = invoke(&env("ADD", "c2", Some(&c2)), &conf04).ok();
        let ip2 = result_address(&res2, &c2, "0.4.0");
        assert_ne!(ip1, ip2);
        let l = netns::run_in(&c2, || TcpListener::bind((ip2, 7000)))
            .unwrap()
            .unwrap();
        let server = std::thread::spawn(move || {
            let (s, peer) = l.accept().unwrap();
            (&s).write_all(b"hello\n").unwrap();
            peer.ip()
        });
        let mut s = netns::run_in(&c1, || {
            TcpStream::connect_timeout(&SocketAddr::new(ip2, 7000), Duration::from_secs(5))
        })
        .unwrap()
        .expect("c1 reaches c2");
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).unwrap();
        assert_eq!(line, "hello\n");
        assert_eq!(server.join().unwrap(), ip1);
        invoke(
            &env("CHECK", "c2", Some(&c2)),
            &with_prev(conf04.clone(), &res2),
        )
        .ok();

        // Tampering is caught: the container's address removed ...
        strip_container_address(&c1);
        let e = invoke(
            &env("CHECK", "c1", Some(&c1)),
            &with_prev(conf.clone(), &res),
        )
        .error(100);
        assert!(e["msg"].as_str().unwrap().contains(&ip1.to_string()), "{e}");
        // ... the veth pair deleted ...
        let host2 = res2["interfaces"][1]["name"].as_str().unwrap().to_string();
        smol::block_on(async {
            let h = veth::connect().unwrap();
            assert!(veth::delete(&h, &host2).await.unwrap());
        });
        let e = invoke(
            &env("CHECK", "c2", Some(&c2)),
            &with_prev(conf04.clone(), &res2),
        )
        .error(100);
        assert!(e["msg"].as_str().unwrap().contains("missing"), "{e}");
        // ... and a prevResult from another sandbox is an invalid config.
        invoke(
            &env("CHECK", "c1", Some(&c2)),
            &with_prev(conf.clone(), &res),
        )
        .error(7);

        // DEL is idempotent, removes the veth and the address.
        let host1 = res["interfaces"][1]["name"].as_str().unwrap().to_string();
        for _ in 0..2 {
            let out = invoke(&env("DEL", "c1", Some(&c1)), &with_prev(conf.clone(), &res));
            assert_eq!(out.ok(), Value::Null);
        }
        assert!(!node_link_exists(&host1));
        assert!(container_eth0(&c1).is_none());
        assert_eq!(fx.allocations(), vec![ip2]);
        // DEL succeeds when the namespace is already gone, and without CNI_NETNS at all.
        netns::remove(&c2).unwrap();
        invoke(&env("DEL", "c2", Some(&c2)), &conf04).ok();
        invoke(&env("DEL", "c2", None), &conf04).ok();
        assert!(fx.allocations().is_empty());
        // CHECK after DEL: the container is not there any more.
        invoke(&env("CHECK", "c1", Some(&c1)), &with_prev(conf, &res)).error(100);
    });
}

/// Serves one line per connection from inside `ns`.
fn serve(ns: &Path, port: u16) {
    let l = netns::run_in(ns, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = (&s).write_all(b"from the container\n");
        }
    });
}

#[test]
fn port_mappings_gc_and_status() {
    common::in_fresh_netns("cni portMappings/GC/STATUS", || {
        common::assert_proc_sys_is_ours();
        let mut fx = Fixture::new();
        let (c1, c2) = (fx.container("c1"), fx.container("c2"));
        let mut conf = fx.conf("1.1.0");
        conf["runtimeConfig"] = json!({"portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
        ]});
        invoke(&[("CNI_COMMAND", "STATUS")], &conf).ok();

        let res = invoke(&env("ADD", "c1", Some(&c1)), &conf).ok();
        result_address(&res, &c1, "1.1.0");
        serve(&c1, 80);
        let node: SocketAddr = format!("{GATEWAY}:8080").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&node, Duration::from_secs(5))
            .expect("hostPort 8080 answers on the node");
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).unwrap();
        assert_eq!(line, "from the container\n");
        invoke(
            &env("CHECK", "c1", Some(&c1)),
            &with_prev(conf.clone(), &res),
        )
        .ok();
        let mut other = with_prev(conf.clone(), &res);
        other["runtimeConfig"]["portMappings"][0]["hostPort"] = json!(9090);
        let e = invoke(&env("CHECK", "c1", Some(&c1)), &other).error(100);
        assert!(e["msg"].as_str().unwrap().contains("hostPort"), "{e}");

        // GC keeps the listed attachment and releases the other.
        let plain = fx.conf("1.1.0");
        let res2 = invoke(&env("ADD", "c2", Some(&c2)), &plain).ok();
        let ip2 = result_address(&res2, &c2, "1.1.0");
        assert_eq!(fx.allocations().len(), 2);
        let mut gc = plain.clone();
        gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
        invoke(&[("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")], &gc).ok();
        assert!(!fx.allocations().contains(&ip2));
        assert_eq!(fx.allocations().len(), 1);
        assert!(!node_link_exists(
            res2["interfaces"][1]["name"].as_str().unwrap()
        ));
        assert!(node_link_exists(
            res["interfaces"][1]["name"].as_str().unwrap()
        ));
        // GC without the list refuses instead of releasing everything.
        invoke(&[("CNI_COMMAND", "GC")], &plain).error(7);

        invoke(&env("DEL", "c1", Some(&c1)), &conf).ok();
        assert!(fx.allocations().is_empty());
        assert!(TcpStream::connect_timeout(&node, Duration::from_secs(2)).is_err());
    });
}

#[test]
fn parallel_adds_get_distinct_addresses() {
    common::in_fresh_netns("cni parallel ADD", || {
        common::assert_proc_sys_is_ours();
        let mut fx = Fixture::new();
        let names: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
        let nss: Vec<PathBuf> = names.iter().map(|n| fx.container(n)).collect();
        let conf = fx.conf("1.0.0").to_string();
        // All started before any is waited for: the runtime may ADD containers concurrently.
        let running: Vec<Plugin> = names
            .iter()
            .zip(&nss)
            .map(|(n, ns)| spawn(&env("ADD", n, Some(ns)), conf.as_bytes()))
            .collect();
        let mut ips: Vec<IpAddr> = running
            .into_iter()
            .zip(&nss)
            .map(|(p, ns)| result_address(&wait(p).ok(), ns, "1.0.0"))
            .collect();
        for (ns, ip) in nss.iter().zip(&ips) {
            assert_eq!(container_eth0(ns).unwrap().0, vec![(*ip, 24)]);
        }
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), names.len());
        let running: Vec<Plugin> = names
            .iter()
            .map(|n| spawn(&env("DEL", n, None), conf.as_bytes()))
            .collect();
        for p in running {
            wait(p).ok();
        }
        assert!(fx.allocations().is_empty());
    });
}
