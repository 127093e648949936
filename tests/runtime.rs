//! The container runtime against the real kernel: shim, logs, re-adoption, attach, exec, OOM,
//! pids limit and cleanup. Needs root, cgroups and a static /bin/busybox; otherwise each test
//! prints `SKIPPED` (and fails when `CI` is set). Tests run in parallel: every test has its own
//! run/data/log dirs, cgroup parent `kedge-test-<random>` and pod sandbox, all removed on drop.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt};
use kedge::runtime::attach::{read_frame, write_frame, Frame};
use kedge::runtime::cgroups::{Cgroups, Resources};
use kedge::runtime::logs;
use kedge::runtime::spec::{ContainerSpec, Namespaces, Security, User};
use kedge::runtime::{ExecSpec, Runtime, RuntimeConfig, RuntimeError, Sandbox, SandboxSpec, State};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn skip(why: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("required in CI: {why}");
    }
    println!("SKIPPED: {why}");
    true
}

fn unsupported() -> bool {
    if !rustix::process::geteuid().is_root() {
        return skip("needs root");
    }
    if !Path::new("/bin/busybox").exists() {
        return skip("needs a static /bin/busybox");
    }
    if !Path::new("/sys/fs/cgroup/pids").exists()
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        return skip("needs cgroups");
    }
    false
}

/// A busybox root layer shared by all tests of this process (read-only lowerdir). It lives
/// under cargo's per-target scratch directory with a fixed name and is rebuilt by the first
/// test of each run: a static TempDir is never dropped, so one in /tmp leaked every run.
fn layer() -> PathBuf {
    static LAYER: OnceLock<PathBuf> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-busybox-layer");
            let _ = std::fs::remove_dir_all(&root);
            for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
            let list = std::process::Command::new("/bin/busybox")
                .arg("--list")
                .output()
                .unwrap();
            for applet in String::from_utf8_lossy(&list.stdout).lines() {
                if applet != "busybox" && !applet.is_empty() {
                    let _ = symlink("busybox", root.join("bin").join(applet));
                }
            }
            std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
            std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
            root
        })
        .clone()
}

fn random() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// One test's runtime, cgroup parent and pod sandbox; everything is removed on drop.
struct Env {
    tmp: tempfile::TempDir,
    cfg: RuntimeConfig,
    rt: Option<Runtime>,
    parent: String,
    pod_uid: String,
    sandbox: Sandbox,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let parent = format!("kedge-test-{}", random());
        let cgroups = Cgroups::detect(Path::new(CGROUP_ROOT), &parent).unwrap();
        let cfg = RuntimeConfig {
            run_dir: tmp.path().join("run"),
            data_dir: tmp.path().join("data"),
            cgroups: Arc::new(cgroups),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_kedge")),
        };
        let rt = Runtime::new(cfg.clone()).unwrap();
        let pod_uid = format!("pod-{}", random());
        let sandbox = rt
            .create_sandbox(&SandboxSpec {
                pod_uid: pod_uid.clone(),
                hostname: "testpod".into(),
                host_network: false,
                host_ipc: false,
                shm_size: None,
            })
            .unwrap();
        Env {
            tmp,
            cfg,
            rt: Some(rt),
            parent,
            pod_uid,
            sandbox,
        }
    }

    fn rt(&self) -> &Runtime {
        self.rt.as_ref().unwrap()
    }

    /// Simulates an agent restart: a fresh `Runtime` over the same directories.
    fn restart_agent(&mut self) {
        self.rt = None;
        self.rt = Some(Runtime::new(self.cfg.clone()).unwrap());
    }

    fn spec(&self, name: &str, args: &[&str]) -> ContainerSpec {
        let id = format!("{name}-{}", random());
        ContainerSpec {
            id: id.clone(),
            pod_uid: self.pod_uid.clone(),
            pod_namespace: "default".into(),
            pod_name: "test".into(),
            name: name.into(),
            layers: vec![layer()],
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            cwd: "/".into(),
            user: User::default(),
            hostname: "testpod".into(),
            namespaces: Namespaces {
                net: self.sandbox.netns.clone(),
                uts: self.sandbox.uts.clone(),
                ipc: self.sandbox.ipc.clone(),
                pid: None,
                host_pid: false,
            },
            security: Security::default(),
            mounts: vec![],
            cgroup_path: format!("{}/{id}", self.parent),
            resources: Resources::default(),
            log_path: self.tmp.path().join("logs").join(name).join("0.log"),
            log_max_bytes: 0,
            tty: false,
            stdin: false,
            stdin_once: false,
            rootfs: Default::default(),
        }
    }

    fn wait(&self, id: &str) -> State {
        wait_exit(self.rt(), id)
    }
}

fn wait_exit(rt: &Runtime, id: &str) -> State {
    async_io::block_on(future::or(
        async { rt.wait_exit(id).await.unwrap() },
        async {
            async_io::Timer::after(Duration::from_secs(60)).await;
            panic!("container {id} did not exit in time")
        },
    ))
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.rt.is_none() {
            self.rt = Runtime::new(self.cfg.clone()).ok();
        }
        if let Some(rt) = &self.rt {
            for id in rt.list() {
                if let Err(e) = rt.remove(&id) {
                    eprintln!("cleanup {id}: {e}");
                }
            }
            let _ = rt.remove_sandbox(&self.pod_uid);
        }
        let _ = self.cfg.cgroups.remove(&self.parent);
    }
}

fn exited_code(s: State) -> i32 {
    match s {
        State::Exited { exit_code, .. } => exit_code,
        other => panic!("not exited: {other:?}"),
    }
}

/// Alive and not a zombie (an exited shim waits for init to reap it).
fn process_exists(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .next();
    state != Some("Z") && state != Some("X")
}

#[test]
fn exit_code_and_cri_log() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let spec = env.spec(
        "echo",
        &["sh", "-c", "echo hello; echo oops >&2; printf tail; exit 3"],
    );
    let started = env.rt().start(&spec).unwrap();
    assert!(started.pid > 0 && started.shim_pid > 0);
    let state = env.wait(&spec.id);
    assert_eq!(exited_code(state), 3);
    assert_eq!(env.rt().state(&spec.id).unwrap(), state);
    let entries = logs::read_all(&spec.log_path).unwrap();
    let text: Vec<(logs::LogStream, bool, String)> = entries
        .iter()
        .map(|e| {
            (
                e.stream,
                e.partial,
                String::from_utf8_lossy(&e.content).into_owned(),
            )
        })
        .collect();
    assert!(
        text.contains(&(logs::LogStream::Stdout, false, "hello".into())),
        "{text:?}"
    );
    assert!(
        text.contains(&(logs::LogStream::Stderr, false, "oops".into())),
        "{text:?}"
    );
    assert!(
        text.contains(&(logs::LogStream::Stdout, true, "tail".into())),
        "{text:?}"
    );
    let raw = std::fs::read_to_string(&spec.log_path).unwrap();
    let first = raw.lines().find(|l| l.ends_with(" F hello")).unwrap();
    assert_eq!(
        first.len(),
        "2026-11-22T03:40:00.123456789Z stdout F hello".len()
    );
    assert!(first.ends_with('Z') || first.contains("Z stdout"));
}

#[test]
fn start_error_is_reported() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let spec = env.spec("nope", &["/bin/does-not-exist"]);
    match env.rt().start(&spec) {
        Err(RuntimeError::StartError(msg)) => assert!(msg.contains("does-not-exist"), "{msg}"),
        other => panic!("expected a start error, got {other:?}"),
    }
}

#[test]
fn container_survives_agent_restart_and_is_readopted() {
    if unsupported() {
        return;
    }
    let mut env = Env::new();
    let spec = env.spec("sleeper", &["sleep", "1000"]);
    let started = env.rt().start(&spec).unwrap();
    env.restart_agent();
    assert!(env.rt().list().contains(&spec.id));
    match env.rt().state(&spec.id).unwrap() {
        State::Running { pid, .. } => assert_eq!(pid, started.pid),
        other => panic!("not running after restart: {other:?}"),
    }
    assert_eq!(env.rt().spec(&spec.id).unwrap().args, spec.args);
    env.rt().signal(&spec.id, 9).unwrap();
    match env.wait(&spec.id) {
        State::Exited {
            exit_code,
            signal,
            oom_killed,
            ..
        } => assert_eq!((exit_code, signal, oom_killed), (137, Some(9), false)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exit_while_agent_is_down_is_recorded() {
    if unsupported() {
        return;
    }
    let mut env = Env::new();
    let spec = env.spec("short", &["sh", "-c", "sleep 0.3; echo done; exit 7"]);
    let started = env.rt().start(&spec).unwrap();
    env.rt = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while process_exists(started.shim_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    env.restart_agent();
    assert_eq!(exited_code(env.rt().state(&spec.id).unwrap()), 7);
    assert_eq!(exited_code(env.wait(&spec.id)), 7);
    let text = std::fs::read_to_string(&spec.log_path).unwrap();
    assert!(text.contains("stdout F done"), "{text}");
}

#[test]
fn tty_container_via_attach() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let mut spec = env.spec("tty", &["sh"]);
    spec.tty = true;
    spec.stdin = true;
    env.rt().start(&spec).unwrap();
    let mut conn = env.rt().attach(&spec.id).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write_frame(
        &mut conn,
        &Frame::Resize {
            width: 100,
            height: 40,
        },
    )
    .unwrap();
    write_frame(
        &mut conn,
        &Frame::Stdin(b"echo sum-$((40+2)); stty size\n".to_vec()),
    )
    .unwrap();
    let mut seen = String::new();
    while !(seen.contains("sum-42") && seen.contains("40 100")) {
        match read_frame(&mut conn).unwrap() {
            Some(Frame::Stdout(d)) => seen.push_str(&String::from_utf8_lossy(&d)),
            Some(other) => panic!("unexpected frame {other:?}"),
            None => panic!("attach closed early: {seen:?}"),
        }
    }
    write_frame(&mut conn, &Frame::Stdin(b"exit 5\n".to_vec())).unwrap();
    conn.flush().unwrap();
    assert_eq!(exited_code(env.wait(&spec.id)), 5);
    let text = std::fs::read_to_string(&spec.log_path).unwrap();
    assert!(text.contains("sum-42"), "{text}");
}

#[test]
fn exec_runs_in_the_container_pid_namespace() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let spec = env.spec("target", &["sleep", "1000"]);
    env.rt().start(&spec).unwrap();
    let exec = ExecSpec {
        args: vec![
            "sh".into(),
            "-c".into(),
            "cat /proc/1/cmdline; echo; echo pid=$$; hostname; exit 4".into(),
        ],
        env_extra: vec![],
        tty: false,
        stdin: false,
    };
    let mut p = env.rt().exec(&spec.id, &exec).unwrap();
    let mut out = String::new();
    let mut stdout = p.stdout.take().unwrap();
    let code = async_io::block_on(async {
        stdout.read_to_string(&mut out).await.unwrap();
        p.wait().await.unwrap()
    });
    assert_eq!(code, 4, "{out}");
    assert!(out.starts_with("sleep"), "pid 1 is the container's: {out}");
    let pid: i32 = out
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pid < 100 && pid != p.child.id() as i32, "{out}");
    assert!(out.contains("testpod"), "pod hostname: {out}");
}

#[test]
fn memory_limit_reports_oom_killed() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let mut spec = env.spec("oom", &["tail", "/dev/zero"]);
    spec.resources.memory_limit_bytes = Some(32 << 20);
    env.rt().start(&spec).unwrap();
    match env.wait(&spec.id) {
        State::Exited {
            exit_code,
            oom_killed,
            ..
        } => assert_eq!((exit_code, oom_killed), (137, true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pids_limit_contains_a_fork_bomb() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let mut spec = env.spec("bomb", &["sh", "-c", "b() { b | b & }; b; sleep 1000"]);
    spec.resources.pids_limit = Some(20);
    let started = env.rt().start(&spec).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let current = Path::new(CGROUP_ROOT)
        .join("pids")
        .join(&spec.cgroup_path)
        .join("pids.current");
    let current = if current.exists() {
        current
    } else {
        Path::new(CGROUP_ROOT)
            .join(&spec.cgroup_path)
            .join("pids.current")
    };
    let n: u64 = std::fs::read_to_string(&current)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(n <= 20, "pids.current = {n}");
    env.rt().remove(&spec.id).unwrap();
    assert!(!process_exists(started.pid));
    assert!(!current.parent().unwrap().exists());
}

#[test]
fn remove_leaves_nothing_behind() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let spec = env.spec("doomed", &["sleep", "1000"]);
    let started = env.rt().start(&spec).unwrap();
    let bundle = env.cfg.run_dir.join("containers").join(&spec.id);
    assert!(bundle.join("state.json").exists());
    env.rt().remove(&spec.id).unwrap();
    env.rt().remove(&spec.id).unwrap();
    assert!(!bundle.exists());
    assert!(!env.cfg.data_dir.join("containers").join(&spec.id).exists());
    assert!(!process_exists(started.pid));
    assert!(!process_exists(started.shim_pid));
    for h in std::fs::read_dir(CGROUP_ROOT).unwrap().flatten() {
        assert!(
            !h.path().join(&spec.cgroup_path).exists(),
            "{}",
            h.path().display()
        );
    }
    assert!(matches!(
        env.rt().state(&spec.id),
        Err(RuntimeError::NotFound(_))
    ));
    let pod_dir = env.cfg.run_dir.join("pods").join(&env.pod_uid);
    let mounted = |p: &Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(p.to_str().unwrap())
    };
    assert!(mounted(&pod_dir));
    env.rt().remove_sandbox(&env.pod_uid).unwrap();
    assert!(!mounted(&pod_dir), "sandbox mounts left");
    assert!(!mounted(&bundle), "rootfs mount left");
    assert!(!pod_dir.exists());
}

#[test]
fn stdin_once_closes_stdin_when_the_first_client_leaves() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let mut spec = env.spec("cat", &["cat"]);
    spec.stdin = true;
    spec.stdin_once = true;
    env.rt().start(&spec).unwrap();
    {
        let mut conn = env.rt().attach(&spec.id).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write_frame(&mut conn, &Frame::Stdin(b"through stdin\n".to_vec())).unwrap();
        match read_frame(&mut conn).unwrap() {
            Some(Frame::Stdout(d)) => assert_eq!(d, b"through stdin\n"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(exited_code(env.wait(&spec.id)), 0);
    let text = std::fs::read_to_string(&spec.log_path).unwrap();
    assert!(text.contains("stdout F through stdin"), "{text}");
}

#[test]
fn exec_with_a_tty() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let spec = env.spec("ttyexec", &["sleep", "1000"]);
    env.rt().start(&spec).unwrap();
    let exec = ExecSpec {
        args: vec!["sh".into()],
        env_extra: vec!["GREETING=hi".into()],
        tty: true,
        stdin: true,
    };
    let mut p = env.rt().exec(&spec.id, &exec).unwrap();
    p.resize(90, 33).unwrap();
    assert!(p.stderr.is_none());
    let mut stdin = p.stdin.take().unwrap();
    let mut stdout = p.stdout.take().unwrap();
    let seen = async_io::block_on(async {
        use futures_lite::AsyncWriteExt;
        stdin
            .write_all(b"echo $GREETING-$((6*7)); stty size; exit 9\n")
            .await
            .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        // The master reports EIO once the session's last process is gone.
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    });
    assert!(seen.contains("hi-42") && seen.contains("33 90"), "{seen:?}");
    assert_eq!(async_io::block_on(p.wait()).unwrap(), 9);
}

#[test]
fn sandboxes_are_idempotent_and_honour_host_namespaces() {
    if unsupported() {
        return;
    }
    let env = Env::new();
    let again = env
        .rt()
        .create_sandbox(&SandboxSpec {
            pod_uid: env.pod_uid.clone(),
            hostname: "testpod".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(again, env.sandbox);
    let shm = std::fs::metadata(&env.sandbox.shm).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(shm.permissions().mode() & 0o7777, 0o1777);
    let uid = format!("host-{}", random());
    let host = env
        .rt()
        .create_sandbox(&SandboxSpec {
            pod_uid: uid.clone(),
            hostname: "ignored".into(),
            host_network: true,
            host_ipc: true,
            shm_size: None,
        })
        .unwrap();
    assert_eq!((host.netns, host.uts, host.ipc), (None, None, None));
    assert_eq!(host.shm, PathBuf::from("/dev/shm"));
    env.rt().remove_sandbox(&uid).unwrap();
    env.rt().remove_sandbox(&uid).unwrap();
    assert!(!env.cfg.run_dir.join("pods").join(&uid).exists());
}
