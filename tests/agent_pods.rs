//! Acceptance of the node agent with real containers (issue 4, criteria 1, 7 and 8): a
//! Deployment's pods run with IPs on the node's bridge and reach each other; configMap
//! updates reach mounted files; subPath escapes and malicious image layers are refused; the
//! securityContext is in effect inside the container.
//!
//! Each test runs a real `kedge server` with its agent inside network and mount namespaces the
//! harness made, pods from the busybox test image, driven by the real kubectl.

mod common;
#[path = "common/node.rs"]
mod node;

use common::{items, wait_for};
use node::{agent_cluster, exec, exec_ok, pod, wait_running, IMAGE};
use serde_json::Value;

#[test]
fn deployment_pods_get_ips_and_reach_each_other() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
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
        command: ["sh", "-c", "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 1
"#
    ));
    let mut pods = Vec::new();
    wait_for("3 Running and Ready pods with IPs", 90, || {
        pods = items(&c, &["pods", "-l", "app=web"]);
        pods.len() == 3
            && pods.iter().all(|p| {
                p["status"]["phase"] == "Running"
                    && node::is_ready(p)
                    && p["status"]["podIP"].is_string()
            })
    });
    let cidr = c.json(&["node", "node1"])["spec"]["podCIDR"]
        .as_str()
        .unwrap()
        .to_string();
    let net: ipnetwork::Ipv4Network = cidr.parse().unwrap();
    let ips: Vec<String> = pods
        .iter()
        .map(|p| p["status"]["podIP"].as_str().unwrap().to_string())
        .collect();
    for ip in &ips {
        assert!(net.contains(ip.parse().unwrap()), "{ip} not in {cidr}");
        assert_eq!(pods[0]["status"]["hostIP"], common::NODE_IP);
    }
    let mut uniq = ips.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "pod IPs must differ: {ips:?}");
    // Every pod pings every other pod and fetches its page over TCP.
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        for (q, ip) in pods.iter().zip(&ips) {
            if q["metadata"]["name"] == p["metadata"]["name"] {
                continue;
            }
            exec_ok(&c, "default", name, &["ping", "-c", "1", "-W", "3", ip]);
            let page = exec_ok(
                &c,
                "default",
                name,
                &["wget", "-qO-", &format!("http://{ip}:8080/")],
            );
            assert_eq!(
                page.trim(),
                format!("hello-{}", q["metadata"]["name"].as_str().unwrap())
            );
        }
    }
    // The node reaches pods too (from the node's network namespace).
    let out = c
        .ns_command("/bin/busybox")
        .args(["wget", "-qO-", &format!("http://{}:8080/", ips[0])])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node → pod: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn configmap_updates_reach_the_volume_and_subpath_escapes_are_refused() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.ok(&[
        "create",
        "configmap",
        "conf",
        "--from-literal=greeting=hello",
    ]);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sleep", "3600"]
    volumeMounts:
    - {{name: conf, mountPath: /etc/conf}}
  volumes:
  - name: conf
    configMap: {{name: conf}}
"#
    ));
    wait_running(&c, "default", "reader", 60);
    assert_eq!(
        exec_ok(&c, "default", "reader", &["cat", "/etc/conf/greeting"]),
        "hello"
    );
    c.ok(&[
        "patch",
        "configmap",
        "conf",
        "--type=merge",
        "-p",
        r#"{"data":{"greeting":"bonjour"}}"#,
    ]);
    wait_for("the new configMap content in the mounted file", 60, || {
        let out = exec(&c, "default", "reader", &["cat", "/etc/conf/greeting"]);
        String::from_utf8_lossy(&out.stdout) == "bonjour"
    });

    // A subPath through a symlink that leaves the volume: the container is not started and an
    // event says why.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: escape
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: plant
    image: {IMAGE}
    command: ["sh", "-c", "ln -s /etc /data/link"]
    volumeMounts:
    - {{name: data, mountPath: /data}}
  containers:
  - name: main
    image: {IMAGE}
    command: ["sleep", "3600"]
    volumeMounts:
    - {{name: data, mountPath: /mnt/x, subPath: link/passwd}}
  volumes:
  - name: data
    emptyDir: {{}}
"#
    ));
    wait_for("a warning event about the subPath", 60, || {
        let events = items(
            &c,
            &["events", "--field-selector", "involvedObject.name=escape"],
        );
        events.iter().any(|e| {
            e["type"] == "Warning" && e["message"].as_str().unwrap_or("").contains("subPath")
        })
    });
    let p = pod(&c, "default", "escape");
    let st = node::container_status(&p, "main");
    assert!(st["state"]["running"].is_null(), "must not run: {st}");
}

#[test]
fn malicious_image_layers_are_refused_at_import() {
    require_cluster!();
    let dir = tempfile::tempdir().unwrap();
    for kind in [
        kedge_images::testimage::Malicious::DotDot,
        kedge_images::testimage::Malicious::AbsSymlinkEscape,
    ] {
        let archive = dir.path().join("evil.tar");
        kedge_images::testimage::malicious_archive(&archive, kind).unwrap();
        let data = dir.path().join("data");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kedge"))
            .args(["images", "import", "--data-dir"])
            .arg(&data)
            .arg(&archive)
            .output()
            .unwrap();
        assert!(!out.status.success(), "import of {kind:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("evil") || err.contains("escape") || err.contains(".."),
            "{err}"
        );
        let ls = std::process::Command::new(env!("CARGO_BIN_EXE_kedge"))
            .args(["images", "ls", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&ls.stdout).contains("evil"));
        // The payload (`kedge-escape`) was written nowhere: not through the `/etc` symlink on
        // the host, not beside the layer through `..`, not anywhere under the data dir.
        assert!(!std::path::Path::new("/etc/kedge-escape").exists());
        let found = std::process::Command::new("find")
            .arg(dir.path())
            .args(["-name", "kedge-escape"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&found.stdout),
            "",
            "{kind:?} wrote its payload"
        );
    }
}

#[test]
fn security_context_is_in_effect_inside_the_container() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: locked
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    supplementalGroups: [4000]
    seccompProfile: {{type: RuntimeDefault}}
  containers:
  - name: main
    image: {IMAGE}
    command: ["sleep", "3600"]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {{drop: [ALL]}}
  - name: plain
    image: {IMAGE}
    command: ["sleep", "3600"]
    securityContext:
      runAsUser: 0
"#
    ));
    wait_running(&c, "default", "locked", 60);
    let id = exec_ok(&c, "default", "locked", &["id"]);
    assert!(
        id.contains("uid=1000") && id.contains("gid=3000") && id.contains("4000"),
        "{id}"
    );
    let status = exec_ok(&c, "default", "locked", &["cat", "/proc/self/status"]);
    let field = |name: &str| -> String {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("Seccomp:"), "2");
    assert_eq!(field("NoNewPrivs:"), "1");
    let out = exec(&c, "default", "locked", &["touch", "/probe"]);
    assert!(
        !out.status.success(),
        "the root filesystem must be read-only"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only"),
        "{:?}",
        out
    );
    // A root container of the same pod keeps the default capabilities, so the checks above
    // are not vacuous.
    let c2 = container_cap_eff(&c, "plain");
    assert_ne!(c2, "0000000000000000");
    let v: Value = pod(&c, "default", "locked");
    assert_eq!(v["status"]["qosClass"], "BestEffort");
}

fn container_cap_eff(c: &common::Cluster, container: &str) -> String {
    let out = c.ok(&[
        "exec",
        "locked",
        "-c",
        container,
        "--",
        "cat",
        "/proc/self/status",
    ]);
    out.lines()
        .find(|l| l.starts_with("CapEff:"))
        .map(|l| l[7..].trim().to_string())
        .unwrap_or_default()
}
