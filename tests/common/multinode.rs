//! Several test nodes on one test switch (tests only). The switch is a bridge in a network
//! namespace of its own; every node is a network + mount namespace (held by a holder process)
//! whose `eth0` is a port of that bridge with the address `10.231.0.<index>/24`. Node 1 is a
//! [`Cluster`] (server + agent, [`Cluster::with_agent_on`]); [`JoinedNode`]s run
//! `kedge agent` joined to it. Nothing is created in the host's network namespace: links are
//! made from inside the switch's namespace with the peer end moved into the node's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{cleanup, start_holder, wait_for, Cluster};

/// A node namespace with only loopback up; its uplink comes from [`Switch::attach`].
pub const BARE_NODE: &str = "ip link set lo up && exec sleep 2147483647";
const SWITCH: &str = "ip link set lo up && ip link add kedgesw0 type bridge && ip link set kedgesw0 up && exec sleep 2147483647";
const IP: &str = "/usr/sbin/ip";

/// The address of node `index` on the switch.
pub fn node_ip(index: u8) -> String {
    format!("10.231.0.{index}")
}

fn run_in(pid: u32, args: &[&str]) {
    let out = Command::new("/usr/bin/nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("--")
        .arg(IP)
        .args(args)
        .output()
        .expect("run ip in a test namespace");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Switch {
    holder: Child,
}

impl Switch {
    pub fn new() -> Switch {
        Switch {
            holder: start_holder(SWITCH),
        }
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Connect the node whose namespaces `node_holder` holds as node `index`.
    pub fn attach(&self, node_holder: u32, index: u8) {
        let port = format!("kedgep{index}");
        let peer_ns = node_holder.to_string();
        run_in(
            self.pid(),
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &peer_ns,
            ],
        );
        run_in(
            self.pid(),
            &["link", "set", &port, "master", "kedgesw0", "up"],
        );
        let addr = format!("{}/24", node_ip(index));
        run_in(node_holder, &["addr", "add", &addr, "dev", "eth0"]);
        run_in(node_holder, &["link", "set", "eth0", "up"]);
    }
}

impl Default for Switch {
    fn default() -> Switch {
        Switch::new()
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A node running `kedge agent` joined to a [`Cluster`].
pub struct JoinedNode {
    pub name: String,
    pub ip: String,
    pub dir: tempfile::TempDir,
    pub cgroup_parent: String,
    holder: Option<Child>,
    child: Option<Child>,
    args: Vec<String>,
}

impl JoinedNode {
    /// Start node `index` (≥ 2) on `sw`, joined to `c` with its token; waits until Ready.
    pub fn join(c: &Cluster, sw: &Switch, index: u8, extra: &[&str]) -> JoinedNode {
        let dir = tempfile::Builder::new()
            .prefix("kedge-node-")
            .tempdir()
            .expect("tempdir");
        let name = format!("node{index}");
        let ip = node_ip(index);
        let token = std::fs::read_to_string(c.data_dir.join("server/token")).expect("token");
        let data = dir.path().join("data");
        super::node_image(&data);
        let cgroup_parent = format!("{}-n{index}", c.cgroup_parent);
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            format!("https://{}:6443", super::NODE_IP),
            "--token".into(),
            token.trim().into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--node-name".into(),
            name.clone(),
            "--node-ip".into(),
            ip.clone(),
            "--run-dir".into(),
            dir.path().join("run").display().to_string(),
            "--pod-logs-dir".into(),
            dir.path().join("pod-logs").display().to_string(),
            "--cgroup-parent".into(),
            cgroup_parent.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let holder = start_holder(BARE_NODE);
        sw.attach(holder.id(), index);
        let mut n = JoinedNode {
            name,
            ip,
            dir,
            cgroup_parent,
            holder: Some(holder),
            child: None,
            args,
        };
        n.launch();
        wait_node_ready(c, &n.name);
        n
    }

    pub fn holder_pid(&self) -> u32 {
        self.holder.as_ref().map(|h| h.id()).expect("holder")
    }

    /// A process inside this node's network and mount namespaces.
    pub fn node_command(&self, program: &str) -> Command {
        super::holder_command(self.holder_pid(), program)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Start (again) the agent process.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .node_command(env!("CARGO_BIN_EXE_kedge"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn kedge agent");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("agent running")
    }
}

impl Drop for JoinedNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- agent {} log ---\n{}", self.name, self.log());
        }
        self.kill9();
        if let Some(h) = self.holder.as_ref() {
            cleanup::node_processes(h.id(), &self.cgroup_parent);
        }
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        cleanup::cgroups(&self.cgroup_parent);
    }
}

/// Wait until node `name` is Ready and has a pod CIDR.
pub fn wait_node_ready(c: &Cluster, name: &str) {
    wait_for(&format!("{name} to be Ready"), 90, || {
        let out = c.kubectl(&["get", "node", name, "-o", "json"]);
        if !out.status.success() {
            return false;
        }
        let n: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let ready = n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready && n["spec"]["podCIDR"].is_string()
    });
}
