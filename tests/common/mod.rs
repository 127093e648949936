//! Test harness: a real `kedge server` process in its own network and mount namespaces, driven
//! by the real `/usr/bin/kubectl` (and the Python client) entered into that network namespace.
//!
//! Every cluster gets a fresh temporary data dir and HOME (kubectl caches discovery and the
//! `/version` answer there). The server is ended by PID on drop, which also removes its network
//! namespace, so nothing outlives a test even when it fails.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const KUBECTL: &str = "/usr/bin/kubectl";
/// The address of the test node inside its network namespace.
pub const NODE_IP: &str = "10.231.0.1";

/// Why this machine cannot run cluster tests, if it cannot.
pub fn unavailable() -> Option<String> {
    if !nix_is_root() {
        return Some("needs root to create network and mount namespaces".into());
    }
    for tool in ["/usr/bin/unshare", "/usr/bin/nsenter", KUBECTL] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing"));
        }
    }
    None
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Skip (loudly) unless cluster tests can run; on CI they must.
#[macro_export]
macro_rules! require_cluster {
    () => {
        if let Some(why) = common::unavailable() {
            if std::env::var_os("CI").is_some() {
                panic!("cluster test cannot run on CI: {why}");
            }
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

pub struct Cluster {
    child: Option<Child>,
    /// Holds the node's network and mount namespaces across server restarts (pods' namespace
    /// files are bind mounts inside that mount namespace, so a restarted agent must see them).
    holder: Option<Child>,
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub kubeconfig: PathBuf,
    pub data_dir: PathBuf,
    pub extra_args: Vec<String>,
    /// Whether the server runs its node agent (real pods); otherwise `--disable-agent`.
    pub agent: bool,
    /// The cgroup parent of this cluster's pods, unique per cluster.
    pub cgroup_parent: String,
}

/// The node namespaces: loopback up and a node address on a veth link (both ends stay in the
/// namespace; the API server advertises it in the `kubernetes` Endpoints).
const NODE_SETUP: &str = "ip link set lo up && ip link add kedgetest0 type veth peer name kedgetest1 && ip addr add 10.231.0.1/24 dev kedgetest0 && ip link set kedgetest0 up && ip link set kedgetest1 up && exec sleep 2147483647";

/// Start a process holding new network and mount namespaces after `setup` (a shell script
/// ending in `exec sleep`) ran in them; returns once the namespaces are ready.
// The child is returned: its owner kills and waits for it (the harness' Drop impls).
#[allow(clippy::zombie_processes)]
pub fn start_holder(setup: &str) -> Child {
    let mut cmd = Command::new("/usr/bin/unshare");
    cmd.args([
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        setup,
    ]);
    pdeathsig(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the node namespace holder");
    let pid = child.id();
    // The namespaces are ready once the holder has exec'd sleep (after the setup ran).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.to_string_lossy().ends_with("/sleep") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node namespace setup did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The busybox test image staged for a node's agent (auto-imported at start).
pub fn node_image(data_dir: &Path) {
    let dir = data_dir.join("agent").join("images");
    std::fs::create_dir_all(&dir).unwrap();
    kedge_images::testimage::busybox_oci_archive(&dir.join("busybox.tar"), TEST_IMAGE, &[])
        .expect("build the busybox test image");
}

/// The test image: Debian's static busybox packed into an OCI archive by the images crate.
pub const TEST_IMAGE: &str = "kedge.test/busybox:1";

/// `program` inside the network and mount namespaces `holder` holds, ended with the test.
pub fn holder_command(holder: u32, program: &str) -> Command {
    let mut c = Command::new("/usr/bin/nsenter");
    c.arg(format!("--net=/proc/{holder}/ns/net"))
        .arg(format!("--mount=/proc/{holder}/ns/mnt"))
        .arg("--")
        .arg(program);
    pdeathsig(&mut c);
    c
}

pub fn pdeathsig(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
    // which is async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            // If the test process dies (killed, aborted), the child dies with it instead of
            // outliving it; nsenter and unshare exec in place, so the program inherits this.
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Cluster {
        Cluster::start_inner(extra, false, |_| {})
    }

    /// A cluster whose server also runs the node agent: real containers, network and volumes.
    pub fn with_agent(extra: &[&str]) -> Cluster {
        Cluster::start_inner(extra, true, |_| {})
    }

    /// Like [`Cluster::with_agent`], with `stage(data_dir)` run before the server starts.
    pub fn with_agent_staged(extra: &[&str], stage: impl FnOnce(&Path)) -> Cluster {
        Cluster::start_inner(extra, true, stage)
    }

    /// A server with its agent as node 1 (`node1`, [`NODE_IP`]) of `sw`: its uplink is a port
    /// of the switch instead of a private veth, so agents on the switch reach it.
    pub fn with_agent_on(sw: &multinode::Switch, extra: &[&str]) -> Cluster {
        Cluster::start_on(extra, true, Some(sw), node_image)
    }

    fn start_inner(extra: &[&str], agent: bool, stage: impl FnOnce(&Path)) -> Cluster {
        Cluster::start_on(extra, agent, None, stage)
    }

    fn start_on(
        extra: &[&str],
        agent: bool,
        sw: Option<&multinode::Switch>,
        stage: impl FnOnce(&Path),
    ) -> Cluster {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = tempfile::Builder::new()
            .prefix("kedge-test-")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut c = Cluster {
            child: None,
            holder: None,
            agent,
            cgroup_parent: format!("kedge-test-{}-{seq}", std::process::id()),
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            data_dir: dir.path().join("data"),
            home,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            dir,
        };
        stage(&c.data_dir);
        match sw {
            None => c.holder = Some(start_holder(NODE_SETUP)),
            Some(sw) => {
                let h = start_holder(multinode::BARE_NODE);
                sw.attach(h.id(), 1);
                c.holder = Some(h);
            }
        }
        c.launch();
        c
    }

    /// A process inside the node's network and mount namespaces (ended with the test).
    pub fn node_command(&self, program: &str) -> Command {
        holder_command(self.holder_pid(), program)
    }

    pub fn holder_pid(&self) -> u32 {
        self.holder
            .as_ref()
            .map(|c| c.id())
            .expect("holder running")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("server running")
    }

    fn launch(&mut self) {
        let bin = env!("CARGO_BIN_EXE_kedge");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let holder = self.holder_pid();
        let mut args = vec![
            format!("--net=/proc/{holder}/ns/net"),
            format!("--mount=/proc/{holder}/ns/mnt"),
            "--".into(),
            bin.into(),
            "server".into(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--write-kubeconfig".into(),
            self.kubeconfig.display().to_string(),
            "--config".into(),
            "/dev/null".into(),
            "--advertise-address".into(),
            NODE_IP.into(),
        ];
        if self.agent {
            let d = self.dir.path();
            args.extend([
                "--node-name".to_string(),
                "node1".into(),
                "--node-ip".into(),
                NODE_IP.into(),
                "--run-dir".into(),
                d.join("run").display().to_string(),
                "--pod-logs-dir".into(),
                d.join("pods-logs").display().to_string(),
                "--cgroup-parent".into(),
                self.cgroup_parent.clone(),
            ]);
        } else {
            args.push("--disable-agent".into());
        }
        args.extend(self.extra_args.iter().cloned());
        let mut cmd = Command::new("/usr/bin/nsenter");
        pdeathsig(&mut cmd);
        let child = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn kedge server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("server exited early ({st}); log:\n{}", self.log());
                }
            }
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("server not ready in 60 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A command run inside the server's network namespace with this cluster's HOME.
    pub fn ns_command(&self, program: &str) -> Command {
        let mut c = Command::new("/usr/bin/nsenter");
        c.arg(format!("--net=/proc/{}/ns/net", self.holder_pid()))
            .arg("--")
            .arg(program)
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST");
        c
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.ns_command(KUBECTL)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .ns_command(KUBECTL)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn apply(&self, yaml: &str) -> String {
        let out = self.kubectl_stdin(&["apply", "-f", "-"], yaml);
        assert!(
            out.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get -o json` parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl json")
    }

    /// End the server with SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// End the server with SIGKILL at once.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn relaunch(&mut self) {
        self.launch();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
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

pub mod cleanup;
pub mod multinode;

/// Poll `f` every 250 ms until it holds; panic naming `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}");
}

/// `kubectl get <args> -o json` items.
pub fn items(c: &Cluster, args: &[&str]) -> Vec<Value> {
    c.json(args)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Sorted names of `kubectl get <args>`.
pub fn names(c: &Cluster, args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items(c, args)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}
