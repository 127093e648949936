//! Acceptance of the cluster network (issue 5) on three real nodes: a `kedge server` with its
//! agent and two `kedge agent`s joined to it, each node a network + mount namespace the test
//! made, joined by a test switch (a bridge in a namespace of its own). Traffic stays between
//! those namespaces; everything is driven by the real kubectl and busybox inside pods.
//!
//! - host-gw: pods reach each other across nodes; ClusterIP, NodePort and LoadBalancer
//!   Services answer from every node and pod, spread over all endpoints; scaling, readiness
//!   and hairpin; cluster DNS names (Services, headless, StatefulSet hostnames, SRV); `kill -9`
//!   of every agent leaves rules and routes identical; a deleted node's routes go away.
//! - vxlan: pods reach each other across nodes over the overlay with the reduced MTU; a
//!   NetworkPolicy admits only `role=client` pods, on the same node and across nodes;
//!   `kedge agent --cleanup` removes everything.

mod common;
#[path = "common/node.rs"]
mod node;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::multinode::{JoinedNode, Switch};
use common::{items, wait_for, Cluster};
use node::{exec, exec_ok, IMAGE};
use serde_json::Value;

/// Three nodes; dropped in field order: agents first, then the server, then the switch.
struct Nodes {
    n3: JoinedNode,
    n2: JoinedNode,
    c: Cluster,
    _sw: Switch,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // Debugging aid: keep a failed test's nodes for inspection (nsenter into the holders).
        if std::thread::panicking() && std::env::var_os("KEDGE_TEST_HOLD").is_some() {
            eprintln!(
                "HOLDING: node holders {} {} {}, kubeconfig {}",
                self.c.holder_pid(),
                self.n2.holder_pid(),
                self.n3.holder_pid(),
                self.c.kubeconfig.display()
            );
            std::thread::sleep(Duration::from_secs(900));
        }
    }
}

impl Nodes {
    fn start(backend: &str) -> Nodes {
        let sw = Switch::new();
        let c = Cluster::with_agent_on(&sw, &["--network-backend", backend]);
        common::multinode::wait_node_ready(&c, "node1");
        let n2 = JoinedNode::join(&c, &sw, 2, &[]);
        let n3 = JoinedNode::join(&c, &sw, 3, &[]);
        Nodes { n3, n2, c, _sw: sw }
    }

    /// Run `kedge netdump` on node `i` (1..=3).
    fn dump(&self, i: u8) -> String {
        let mut cmd = match i {
            1 => self.c.node_command(env!("CARGO_BIN_EXE_kedge")),
            2 => self.n2.node_command(env!("CARGO_BIN_EXE_kedge")),
            _ => self.n3.node_command(env!("CARGO_BIN_EXE_kedge")),
        };
        let out = cmd.arg("netdump").output().unwrap();
        assert!(
            out.status.success(),
            "netdump on node{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `busybox wget` run on node `i` itself (not in a pod).
    fn node_get(&self, i: u8, url: &str) -> Option<String> {
        let mut cmd = match i {
            1 => self.c.node_command("/bin/busybox"),
            2 => self.n2.node_command("/bin/busybox"),
            _ => self.n3.node_command("/bin/busybox"),
        };
        // busybox 1.35's static wget crashes with -T: `timeout` bounds it instead.
        let out = cmd
            .args(["timeout", "5", "/bin/busybox", "wget", "-qO-", url])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

const ECHO: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: echo
spec:
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: echo
        image: IMAGE
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          exec: {command: ["test", "-f", "/tmp/ready"]}
          periodSeconds: 1
"#;

fn echo_daemonset() -> String {
    ECHO.replace("IMAGE", IMAGE)
}

/// The DaemonSet's pods once one runs Ready on every node: node name → (pod name, pod IP).
fn echo_pods(c: &Cluster) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    wait_for(
        "an echo pod Running and Ready on each of the 3 nodes",
        120,
        || {
            out.clear();
            for p in items(c, &["pods", "-l", "app=echo"]) {
                if p["status"]["phase"] == "Running" && node::is_ready(&p) {
                    if let (Some(n), Some(name), Some(ip)) = (
                        p["spec"]["nodeName"].as_str(),
                        p["metadata"]["name"].as_str(),
                        p["status"]["podIP"].as_str(),
                    ) {
                        out.insert(n.to_string(), (name.to_string(), ip.to_string()));
                    }
                }
            }
            out.len() == 3
        },
    );
    out
}

/// `wget` from inside a pod; the body or None.
fn pod_get(c: &Cluster, pod: &str, url: &str) -> Option<String> {
    // busybox 1.35's static wget crashes with -T: `timeout` bounds it instead.
    let out = exec(c, "default", pod, &["timeout", "5", "wget", "-qO-", url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Each pod reaches every pod on the other nodes by IP (TCP) and by ping.
fn assert_cross_node_reach(n: &Nodes, pods: &BTreeMap<String, (String, String)>) {
    let c = &n.c;
    for (from_node, (from, _)) in pods {
        for (to_node, (to, ip)) in pods {
            if from_node == to_node {
                continue;
            }
            let body = pod_get(c, from, &format!("http://{ip}:8080/"));
            if body.as_deref() != Some(to.as_str()) {
                panic!(
                    "{from} on {from_node} fetching from {to} on {to_node} ({ip}): {body:?}\n\
                     node1:\n{}\nnode2:\n{}\nnode3:\n{}",
                    n.dump(1),
                    n.dump(2),
                    n.dump(3)
                );
            }
            exec_ok(c, "default", from, &["ping", "-c", "1", "-W", "3", ip]);
        }
    }
}

fn json_of(c: &Cluster, args: &[&str]) -> Value {
    c.json(args)
}

fn cluster_ip(c: &Cluster, svc: &str) -> String {
    json_of(c, &["service", svc])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Pod names answering `n` requests made by `get`.
fn spread(n: usize, mut get: impl FnMut() -> Option<String>) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        if let Some(b) = get() {
            *seen.entry(b).or_insert(0) += 1;
        }
    }
    seen
}

/// Wait until node `i`'s dump is stable, then return it.
fn settled_dump(n: &Nodes, i: u8) -> String {
    let mut last = n.dump(i);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = n.dump(i);
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[test]
fn host_gw_services_dns_and_restarts_across_three_nodes() {
    require_cluster!();
    let mut n = Nodes::start("host-gw");
    let c = &n.c;
    c.apply(&echo_daemonset());
    c.apply(
        r#"apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-np}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-lb}
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{port: 8088, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-headless}
spec:
  clusterIP: None
  selector: {app: echo}
  ports: [{name: http, port: 8080}]
"#,
    );
    let pods = echo_pods(c);
    let mut names: Vec<String> = pods.values().map(|(p, _)| p.clone()).collect();
    names.sort();

    // 1. Pods on different nodes reach each other by IP (routes per peer via its node IP).
    assert_cross_node_reach(&n, &pods);

    // 2. The ClusterIP answers from every node and every pod, spread over all endpoints.
    let vip = cluster_ip(c, "echo");
    for i in 1..=3u8 {
        let seen = spread(30, || n.node_get(i, &format!("http://{vip}/")));
        assert_eq!(
            seen.keys().cloned().collect::<Vec<_>>(),
            names,
            "node{i} through {vip}: {seen:?}"
        );
    }
    for (node_name, (pod, _)) in &pods {
        let seen = spread(30, || pod_get(c, pod, &format!("http://{vip}/")));
        assert_eq!(
            seen.keys().cloned().collect::<Vec<_>>(),
            names,
            "{pod} on {node_name} through {vip}: {seen:?}"
        );
    }
    // NodePort on every node address, from another node.
    for i in 1..=3u8 {
        let url = format!("http://10.231.0.{i}:30080/");
        let from = if i == 1 { 2 } else { 1 };
        let seen = spread(15, || n.node_get(from, &url));
        assert!(
            seen.len() >= 2 && seen.values().sum::<usize>() == 15,
            "{url}: {seen:?}"
        );
    }
    // LoadBalancer: node addresses in the status, answering there.
    let mut ingress = Vec::new();
    wait_for("echo-lb to get the node addresses as ingress", 30, || {
        ingress = json_of(c, &["service", "echo-lb"])["status"]["loadBalancer"]["ingress"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["ip"].as_str().map(str::to_string))
            .collect();
        ingress.len() == 3
    });
    assert_eq!(ingress, vec!["10.231.0.1", "10.231.0.2", "10.231.0.3"]);
    for ip in &ingress {
        let body = n.node_get(1, &format!("http://{ip}:8088/"));
        assert!(
            body.as_ref().is_some_and(|b| names.contains(b)),
            "{ip}:8088 -> {body:?}"
        );
    }

    // ClientIP affinity sticks to one endpoint; externalTrafficPolicy Local answers only
    // from the node's own endpoint; a Service without endpoints refuses at once.
    c.apply(
        r#"apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: local-np}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing}
  ports: [{port: 80, targetPort: 8080}]
"#,
    );
    let sticky = cluster_ip(c, "sticky");
    wait_for("the sticky Service to answer", 30, || {
        n.node_get(1, &format!("http://{sticky}/")).is_some()
    });
    let seen = spread(12, || n.node_get(1, &format!("http://{sticky}/")));
    assert_eq!(seen.len(), 1, "ClientIP affinity: {seen:?}");
    for i in 1..=3u8 {
        let url = format!("http://10.231.0.{i}:30081/");
        let from = if i == 1 { 2 } else { 1 };
        let want = &pods[&format!("node{i}")].0;
        let seen = spread(6, || n.node_get(from, &url));
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            vec![want],
            "externalTrafficPolicy Local on node{i}: {seen:?}"
        );
    }
    let empty = cluster_ip(c, "empty");
    let (p1, _) = &pods["node1"];
    let started = Instant::now();
    let out = exec(
        c,
        "default",
        p1,
        &["timeout", "5", "wget", "-qO-", &format!("http://{empty}/")],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && err.contains("refused"),
        "a Service without endpoints refuses: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once, not timed out"
    );

    // 3. A not-ready pod gets no traffic; it is back once ready again.
    let (sick, _) = pods["node2"].clone();
    exec_ok(c, "default", &sick, &["rm", "/tmp/ready"]);
    wait_for("the sick pod to leave the endpoints", 30, || {
        !node::is_ready(&node::pod(c, "default", &sick))
    });
    std::thread::sleep(Duration::from_secs(1));
    let seen = spread(30, || n.node_get(1, &format!("http://{vip}/")));
    assert!(!seen.contains_key(&sick), "{sick} is not ready: {seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");
    exec_ok(c, "default", &sick, &["touch", "/tmp/ready"]);
    wait_for("the pod to serve again", 30, || {
        spread(10, || n.node_get(1, &format!("http://{vip}/"))).contains_key(&sick)
    });

    // 3. Hairpin: a pod reaches itself through its own Service.
    let (solo, _) = pods["node3"].clone();
    c.ok(&["label", "pod", &solo, "solo=yes"]);
    c.apply(
        r#"apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {solo: "yes"}
  ports: [{port: 80, targetPort: 8080}]
"#,
    );
    let solo_ip = cluster_ip(c, "solo");
    wait_for("the pod to reach itself through its Service", 30, || {
        pod_get(c, &solo, &format!("http://{solo_ip}/")).as_deref() == Some(solo.as_str())
    });

    // 3. Scaling a Deployment updates the rules within 1 s of its endpoints changing.
    c.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: scaled}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: scaled}}
  template:
    metadata:
      labels: {{app: scaled}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {IMAGE}
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: scaled}}
spec:
  selector: {{app: scaled}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    ));
    let ready_ips = |c: &Cluster| -> Vec<String> {
        let mut ips: Vec<String> = items(
            c,
            &["endpointslices", "-l", "kubernetes.io/service-name=scaled"],
        )
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] != false)
        .filter_map(|e| e["addresses"][0].as_str().map(str::to_string))
        .collect();
        ips.sort();
        ips
    };
    wait_for("one ready endpoint of scaled", 60, || {
        ready_ips(c).len() == 1
    });
    c.ok(&["scale", "deployment", "scaled", "--replicas", "3"]);
    let mut ips = Vec::new();
    wait_for("three ready endpoints of scaled", 60, || {
        ips = ready_ips(c);
        ips.len() == 3
    });
    let seen_at = Instant::now();
    for i in 1..=3u8 {
        loop {
            // The dump shows set elements as hex: an endpoint is `0x<ip><port>`.
            let d = n.dump(i);
            if ips.iter().all(|ip| {
                let ip: std::net::Ipv4Addr = ip.parse().unwrap();
                d.contains(&format!("0x{:08x}", u32::from(ip)))
            }) {
                break;
            }
            assert!(
                seen_at.elapsed() < Duration::from_secs(1),
                "node{i} has not programmed {ips:?} 1 s after the endpoints changed:\n{d}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // 4. Cluster DNS from a pod.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: web
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {IMAGE}
        command: ["sh", "-c", "exec httpd -f -p 8080 -h /"]
"#
    ));
    let web0 = node::wait_running(c, "default", "web-0", 90);
    let web0_ip = web0["status"]["podIP"].as_str().unwrap().to_string();
    let (client, _) = pods["node1"].clone();
    let lookup = |args: &[&str]| -> String {
        let mut a = vec!["nslookup"];
        a.extend_from_slice(args);
        let out = exec(c, "default", &client, &a);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let svc = lookup(&["echo.default.svc.cluster.local"]);
    assert!(svc.contains(&vip), "{svc}");
    let short = lookup(&["echo"]);
    assert!(short.contains(&vip), "search domains: {short}");
    let headless = lookup(&["echo-headless.default.svc.cluster.local"]);
    for (_, ip) in pods.values() {
        assert!(headless.contains(ip.as_str()), "{ip} missing: {headless}");
    }
    wait_for("web-0's hostname record", 20, || {
        lookup(&["web-0.web.default.svc.cluster.local"]).contains(&web0_ip)
    });
    // busybox nslookup applies the search list only to names without a dot.
    let kip = cluster_ip(c, "kubernetes");
    let k = lookup(&["kubernetes"]);
    assert!(k.contains(&kip), "{k}");
    let k = lookup(&["kubernetes.default.svc.cluster.local"]);
    assert!(k.contains(&kip), "{k}");
    let srv = lookup(&["-type=srv", "_http._tcp.echo.default.svc.cluster.local"]);
    assert!(
        srv.contains("echo.default.svc.cluster.local") && srv.contains(" 80"),
        "{srv}"
    );
    c.apply(
        r#"apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: echo.default.svc.cluster.local
"#,
    );
    let ext = lookup(&["ext.default.svc.cluster.local"]);
    assert!(
        ext.contains(&vip),
        "ExternalName -> CNAME -> the echo VIP: {ext}"
    );
    let dashed = pods["node2"].1.replace('.', "-");
    let pod_name = lookup(&[&format!("{dashed}.default.pod.cluster.local")]);
    assert!(pod_name.contains(&pods["node2"].1), "{pod_name}");
    let missing = exec(
        c,
        "default",
        &client,
        &["nslookup", "nope.default.svc.cluster.local"],
    );
    assert!(
        !missing.status.success(),
        "an unknown Service does not resolve"
    );

    // 6. kill -9 and restart of every agent: rules and routes identical before and after.
    for i in [2u8, 3, 1] {
        let before = settled_dump(&n, i);
        assert!(before.contains("10.42."), "node{i} has routes: {before}");
        match i {
            2 => {
                n.n2.kill9();
                n.n2.launch();
            }
            3 => {
                n.n3.kill9();
                n.n3.launch();
            }
            _ => {
                n.c.kill9();
                n.c.relaunch();
            }
        }
        common::multinode::wait_node_ready(&n.c, &format!("node{i}"));
        std::thread::sleep(Duration::from_secs(2));
        let after = settled_dump(&n, i);
        assert_eq!(before, after, "node{i}'s network changed across a restart");
    }

    // 6. Deleting a node removes its routes everywhere.
    let cidr3 = json_of(&n.c, &["node", "node3"])["spec"]["podCIDR"]
        .as_str()
        .unwrap()
        .to_string();
    n.n3.kill9();
    n.c.ok(&["delete", "node", "node3"]);
    for i in [1u8, 2] {
        wait_for(&format!("node{i} to drop the route to {cidr3}"), 30, || {
            !n.dump(i).lines().any(|l| l.starts_with(&cidr3))
        });
    }
}

#[test]
fn vxlan_connects_nodes_and_policies_admit_only_clients() {
    require_cluster!();
    let mut n = Nodes::start("vxlan");
    let c = &n.c;
    c.apply(&echo_daemonset());
    let pods = echo_pods(c);

    // 1. Across the overlay, with the MTU reduced by the VXLAN overhead.
    assert_cross_node_reach(&n, &pods);
    let (p1, _) = &pods["node1"];
    let mtu = exec_ok(c, "default", p1, &["cat", "/sys/class/net/eth0/mtu"]);
    assert_eq!(mtu.trim(), "1450");

    // 5. Only role=client pods reach role=db, on the same node and from other nodes.
    let pod = |name: &str, node: &str, role: &str, script: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{role: {role}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "{script}"]
"#
        )
    };
    let idle = "exec sleep 3600";
    c.apply(&pod(
        "db",
        "node2",
        "db",
        "mkdir -p /www && echo db > /www/index.html && exec httpd -f -p 8080 -h /www",
    ));
    c.apply(&pod("client-far", "node3", "client", idle));
    c.apply(&pod("client-near", "node2", "client", idle));
    c.apply(&pod("other-far", "node1", "other", idle));
    c.apply(&pod("other-near", "node2", "other", idle));
    let db_ip = node::wait_running(c, "default", "db", 60)["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    for p in ["client-far", "client-near", "other-far", "other-near"] {
        node::wait_running(c, "default", p, 60);
    }
    let url = format!("http://{db_ip}:8080/");
    for p in ["client-far", "client-near", "other-far", "other-near"] {
        assert_eq!(
            pod_get(c, p, &url).as_deref(),
            Some("db"),
            "{p} before any policy"
        );
    }
    c.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-clients-only}
spec:
  podSelector:
    matchLabels: {role: db}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: client}
    ports:
    - {protocol: TCP, port: 8080}
"#,
    );
    wait_for("the policy to block other pods", 30, || {
        pod_get(c, "other-far", &url).is_none() && pod_get(c, "other-near", &url).is_none()
    });
    for p in ["client-far", "client-near"] {
        assert_eq!(
            pod_get(c, p, &url).as_deref(),
            Some("db"),
            "{p} is a client"
        );
    }
    c.ok(&["delete", "networkpolicy", "db-clients-only"]);
    wait_for("other pods to be admitted again", 30, || {
        pod_get(c, "other-far", &url).as_deref() == Some("db")
    });

    // `kedge agent --cleanup` removes the node's rules, routes and the VXLAN device.
    n.n3.kill9();
    let out =
        n.n3.node_command(env!("CARGO_BIN_EXE_kedge"))
            .args(["agent", "--cleanup"])
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = n.dump(3);
    assert!(!after.contains("10.42."), "{after}");
    assert!(!after.contains("kedge-vxlan"), "{after}");
    assert_eq!(after.matches(": absent").count(), 3, "{after}");
}
