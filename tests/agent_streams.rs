//! Acceptance of the agent's streaming endpoints through the API server (issue 4, criterion
//! 2): `kubectl logs -f` streams, `exec` returns the command's exit code, `exec -it` works in a
//! real terminal (tmux), `cp` both ways, `port-forward` reaches busybox httpd in the pod, and
//! `top pod` shows usage.

mod common;
#[path = "common/node.rs"]
mod node;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::wait_for;
use node::{agent_cluster, busybox_pod, exec, exec_ok, wait_running, IMAGE};

#[test]
fn logs_follow_exec_exit_codes_and_cp() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.apply(&busybox_pod(
        "ticker",
        "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done",
    ));
    wait_running(&c, "default", "ticker", 60);

    // logs -f delivers lines written after it started, as they are written.
    let mut child = c
        .ns_command(common::KUBECTL)
        .args(["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: u64 = lines
        .next()
        .unwrap()
        .unwrap()
        .trim_start_matches("tick-")
        .parse()
        .unwrap();
    let start = Instant::now();
    let mut last = first;
    while last < first + 5 {
        let l = lines.next().expect("stream ended").unwrap();
        last = l.trim_start_matches("tick-").parse().unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "lines must arrive over time"
    );
    let _ = child.kill();
    let _ = child.wait();
    // attach follows the container's own output (through its supervisor).
    let mut att = c
        .ns_command(common::KUBECTL)
        .args(["attach", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut att_lines = BufReader::new(att.stdout.take().unwrap()).lines();
    let got = att_lines.next().unwrap().unwrap();
    assert!(got.starts_with("tick-"), "{got}");
    let _ = att.kill();
    let _ = att.wait();
    // --tail and --timestamps.
    let tail = c.ok(&["logs", "ticker", "--tail=2", "--timestamps"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(
        tail.lines()
            .all(|l| l.contains('T') && l.contains("Z tick-")),
        "{tail}"
    );

    // exec returns the command's exit code.
    let out = exec(
        &c,
        "default",
        "ticker",
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next(),
        Some("err")
    );
    assert_eq!(
        exec_ok(&c, "default", "ticker", &["echo", "$HOSTNAME"]),
        "$HOSTNAME\n"
    );
    // stdin reaches the command.
    let out = c.kubectl_stdin(&["exec", "-i", "ticker", "--", "wc", "-c"], "12345");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");

    // cp both ways (tar through exec).
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("up.txt");
    std::fs::write(&local, "uploaded\n").unwrap();
    c.ok(&["cp", local.to_str().unwrap(), "ticker:/tmp/up.txt"]);
    assert_eq!(
        exec_ok(&c, "default", "ticker", &["cat", "/tmp/up.txt"]),
        "uploaded\n"
    );
    let back = dir.path().join("down.txt");
    c.ok(&["cp", "ticker:/etc/passwd", back.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&back).unwrap().starts_with("root:"));
}

#[test]
fn exec_it_runs_in_a_terminal() {
    require_cluster!();
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("tmux is needed for the terminal test (tests/run.sh installs it)");
    }
    let c = agent_cluster(&[]);
    c.apply(&busybox_pod("term", "sleep 3600"));
    wait_running(&c, "default", "term", 60);
    let session = format!("kedge-{}", std::process::id());
    let cmd = format!(
        "nsenter --net=/proc/{}/ns/net -- env HOME={} KUBECONFIG={} {} exec -it term -- sh",
        c.holder_pid(),
        c.home.display(),
        c.kubeconfig.display(),
        common::KUBECTL
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &session])
            .args(args)
            .output()
            .unwrap()
    };
    let st = tmux(&[
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "30",
        "-s",
        &session,
        &cmd,
    ]);
    assert!(st.status.success(), "{st:?}");
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    wait_for("a shell prompt", 30, || capture().contains('#'));
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "tty; stty size; echo $((6*7))",
        "Enter",
    ]);
    wait_for("the command's output", 15, || capture().contains("42"));
    let screen = capture();
    assert!(screen.contains("/dev/pts/"), "a pty inside: {screen}");
    assert!(
        screen.contains("30 120"),
        "the terminal size is passed: {screen}"
    );
    tmux(&["send-keys", "-t", &session, "exit", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux(&["kill-server"]);
}

#[test]
fn port_forward_reaches_httpd_and_top_shows_usage() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {IMAGE}
    command: ["sh", "-c", "head -c 8388608 /dev/zero > /dev/shm/fill; mkdir -p /www && echo forwarded > /www/index.html && exec httpd -f -p 80 -h /www"]
    resources:
      requests: {{cpu: 100m, memory: 16Mi}}
"#
    ));
    wait_running(&c, "default", "web", 60);
    let mut pf = c
        .ns_command(common::KUBECTL)
        .args(["port-forward", "pod/web", "18080:80"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(pf.stdout.take().unwrap()).lines();
    let first = out.next().unwrap().unwrap();
    assert!(first.contains("Forwarding from 127.0.0.1:18080"), "{first}");
    for _ in 0..3 {
        let got = c
            .ns_command("/bin/busybox")
            .args(["wget", "-qO-", "http://127.0.0.1:18080/"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            "forwarded\n",
            "{got:?}"
        );
    }
    let _ = pf.kill();
    let _ = pf.wait();

    // kubectl top: usage from the pod's cgroups, through metrics.k8s.io.
    let mut table = String::new();
    wait_for("kubectl top pod to show the pod", 60, || {
        let o = c.kubectl(&["top", "pod", "web"]);
        table = String::from_utf8_lossy(&o.stdout).into_owned();
        o.status.success() && table.contains("web")
    });
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "web");
    assert!(row[1].ends_with('m'), "cpu column: {table}");
    assert!(row[2].ends_with("Mi"), "memory column: {table}");
    let mem: u64 = row[2].trim_end_matches("Mi").parse().unwrap();
    assert!(
        mem >= 8,
        "the 8 MiB written to /dev/shm are counted: {table}"
    );
    let nodes = c.ok(&["top", "node"]);
    assert!(nodes.contains("node1"), "{nodes}");
}
