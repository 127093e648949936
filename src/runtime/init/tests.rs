//! Root-only tests of the real start-up sequence. Each scenario re-executes the test binary
//! (`helper` below, selected by an env var) so the process that clones the container is
//! single-threaded and every mount and namespace it creates dies with it: the helper first
//! unshares mount, uts, ipc and net namespaces (its own "pod sandbox") and makes `/` private.
//! The container root is a busybox image built in a tempdir from the host's static busybox.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use super::*;
use crate::runtime::spec::{Mount, MountKind, Namespaces, RootfsSpec, Seccomp, Security, User};

const SCENARIO: &str = "KEDGE_INIT_TEST_SCENARIO";
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "id", "ls", "grep", "touch", "wc", "hostname", "pwd", "sleep", "readlink",
    "mkdir", "stat", "head",
];

/// Run `scenario` in a fresh helper process; the container's stdout, or `None` when the
/// machine cannot run it (not root, no busybox).
fn run_scenario(scenario: &str) -> Option<String> {
    let skip = |why: &str| {
        if std::env::var_os("CI").is_some() {
            panic!("cannot run {scenario}: {why}");
        }
        eprintln!("SKIPPED: {why}");
    };
    if !nix::unistd::Uid::effective().is_root() {
        skip("needs root");
        return None;
    }
    if !Path::new(BUSYBOX).exists() {
        skip("needs a static /bin/busybox");
        return None;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "runtime::init::tests::helper", "--nocapture"])
        .args(["--test-threads=1", "--quiet"])
        .env(SCENARIO, scenario)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let body = text
        .split_once("<<<\n")
        .and_then(|(_, rest)| rest.split_once(">>>"))
        .map(|(body, _)| body.to_string());
    body.unwrap_or_else(|| {
        panic!(
            "helper for {scenario} printed no result: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .into()
}

/// Entry point of the re-executed helper; a no-op in the normal test run.
#[test]
fn helper() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    // libtest runs the test on a thread of its own: fork so the scenario runs in a
    // single-threaded process, as in the shim.
    // SAFETY: the other libtest threads only wait on channels; glibc's fork resets the
    // allocator's locks in the child, which runs the scenario and `_exit`s.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Parent { child } => {
            let code = sys::wait_exit_code(child.as_raw());
            if scenario == "nsexec-run" {
                // Stands in for the `kedge nsexec` process: its exit code is the result.
                std::process::exit(code);
            }
            assert_eq!(code, 0, "scenario {scenario} failed");
            return;
        }
        nix::unistd::ForkResult::Child => {}
    }
    let threads = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        threads.contains("Threads:\t1\n"),
        "helper must be single-threaded"
    );
    let outcome = std::panic::catch_unwind(|| run_helper_scenario(&scenario));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    sys::exit_now(if outcome.is_ok() { 0 } else { 1 })
}

fn run_helper_scenario(scenario: &str) {
    let result = match scenario {
        "nsexec-run" => nsexec_run(),
        s => {
            enter_sandbox();
            let image = Image::build();
            match s {
                "root" => run_container(&root_spec(&image)),
                "user" => run_container(&user_spec(&image)),
                "notfound" => {
                    let mut spec = base_spec(&image, &["nope"]);
                    spec.cwd = "/".into();
                    run_container(&spec)
                }
                "nsexec" => nsexec_scenario(&image),
                "cgroup" => cgroup_scenario(&image),
                "sharedpid" => shared_pid_scenario(&image),
                "tty" => tty_scenario(&image),
                "manylayers" => {
                    let mut spec = base_spec(&image, &["sh", "-c", "cat /etc/marker /top"]);
                    // 60 layers of ~110 characters: more than one page of mount options.
                    let mut layers = Vec::new();
                    for i in 0..60 {
                        let dir = image.path(&format!("layers/{i:0>100}"));
                        std::fs::create_dir_all(&dir).unwrap();
                        layers.push(dir);
                    }
                    std::fs::write(layers[0].join("top"), "top-layer\n").unwrap();
                    layers.push(image.path("layer"));
                    spec.layers = layers;
                    run_container(&spec)
                }
                other => panic!("unknown scenario {other}"),
            }
        }
    };
    println!("<<<\n{result}>>>");
}

fn enter_sandbox() {
    sys::unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET,
    )
    .unwrap();
    sys::set_propagation(Path::new("/"), MsFlags::MS_PRIVATE | MsFlags::MS_REC).unwrap();
    sys::sethostname("kedge-test").unwrap();
}

/// A busybox image layer plus the directories of one container.
struct Image {
    dir: tempfile::TempDir,
}

impl Image {
    fn build() -> Image {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        for d in ["bin", "etc", "tmp"] {
            std::fs::create_dir_all(layer.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, layer.join("bin/busybox")).unwrap();
        for a in APPLETS {
            symlink("busybox", layer.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            layer.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(layer.join("etc/group"), "root:x:0:\nwheel:x:10:app\n").unwrap();
        std::fs::write(layer.join("etc/marker"), "from-image\n").unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/hello"), "hello-volume\n").unwrap();
        Image { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

fn base_spec(image: &Image, args: &[&str]) -> ContainerSpec {
    let ns = |n: &str| {
        Some(PathBuf::from(format!(
            "/proc/{}/ns/{n}",
            std::process::id()
        )))
    };
    ContainerSpec {
        id: "c1".into(),
        pod_uid: "u1".into(),
        pod_namespace: "default".into(),
        pod_name: "p".into(),
        name: "c".into(),
        layers: vec![image.path("layer")],
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/bin".into(), "FOO=bar".into()],
        cwd: "/work/dir".into(),
        user: User::default(),
        hostname: "kedge-test".into(),
        namespaces: Namespaces {
            net: ns("net"),
            uts: ns("uts"),
            ipc: ns("ipc"),
            pid: None,
            host_pid: false,
        },
        security: Security::default(),
        mounts: vec![],
        cgroup_path: String::new(),
        resources: Default::default(),
        log_path: PathBuf::new(),
        log_max_bytes: 0,
        tty: false,
        stdin: false,
        stdin_once: false,
        rootfs: RootfsSpec {
            upper: image.path("upper"),
            work: image.path("work"),
            target: image.path("rootfs"),
        },
    }
}

const ROOT_SCRIPT: &str = r#"
echo pid=$$
echo host=$(hostname)
echo env=$FOO
echo cwd=$(pwd)
grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
ls /proc/1/ns >/dev/null && echo proc=ok
for f in /proc/kcore /proc/keys /proc/timer_list /sys/firmware; do
  [ -e $f ] && echo masked $f=$(cat $f 2>/dev/null | wc -c)$([ -d $f ] && ls -A $f)
done
touch /newfile 2>/dev/null || echo rootfs=ro
cat /data/hello
touch /data/x 2>/dev/null || echo bind=ro
touch /scratch/x && echo tmpfs=rw
echo shm_rmid_forced=$(cat /proc/sys/kernel/shm_rmid_forced)
echo 0 2>/dev/null > /proc/sys/kernel/shm_rmid_forced || echo procsys=ro
ls /dev/pts/ptmx >/dev/null && echo devpts=ok
echo null=$(stat -c %t,%T /dev/null)
"#;

fn root_spec(image: &Image) -> ContainerSpec {
    let mut spec = base_spec(image, &["sh", "-c", ROOT_SCRIPT]);
    spec.security = Security {
        capabilities: vec!["CHOWN".into(), "KILL".into()],
        no_new_privileges: true,
        readonly_rootfs: true,
        seccomp: Seccomp::RuntimeDefault,
        sysctls: vec![("kernel.shm_rmid_forced".into(), "1".into())],
        ..Default::default()
    };
    spec.mounts = vec![
        Mount {
            destination: "/data".into(),
            kind: MountKind::Bind {
                source: image.path("data"),
                file: false,
            },
            readonly: true,
        },
        Mount {
            destination: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size_bytes: Some(1 << 20),
            },
            readonly: false,
        },
    ];
    spec
}

fn user_spec(image: &Image) -> ContainerSpec {
    let mut spec = base_spec(
        image,
        &[
            "sh",
            "-c",
            "echo uid=$(id -u) gid=$(id -g) groups=$(id -G) umask=$(umask) home=$HOME cwd=$(pwd); \
             grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status",
        ],
    );
    spec.user = User {
        username: Some("app".into()),
        additional_gids: vec![3000],
        umask: Some(0o027),
        ..Default::default()
    };
    spec.cwd = "/home/app/missing".into();
    spec.security.capabilities = vec!["CHOWN".into()];
    // Without no_new_privs the filter is installed before the user switch.
    spec.security.seccomp = Seccomp::RuntimeDefault;
    spec
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

/// Start `spec` with piped stdout/stderr and return `stdout`, `stderr` and the exit code, or
/// the start error.
fn run_container(spec: &ContainerSpec) -> String {
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let stdio = Stdio {
        stdin: std::fs::File::open("/dev/null").unwrap().into(),
        stdout: out_w,
        stderr: err_w,
        tty: false,
    };
    let pid = match spawn(spec, stdio, &[]) {
        Ok(s) => s.pid,
        Err(e) => return format!("start error: {e}\n"),
    };
    let mut out = String::new();
    std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
    let mut err = String::new();
    std::fs::File::from(err_r).read_to_string(&mut err).unwrap();
    let code = sys::wait_exit_code(pid);
    format!("{out}stderr={err}\nexit={code}\n")
}

/// Start `spec` with stdout on a pipe (stderr discarded); the container's pid and stdout.
fn start_with_stdout(spec: &ContainerSpec, cgroup_dirs: &[PathBuf]) -> (i32, std::fs::File) {
    let (out_r, out_w) = pipe();
    let stdio = Stdio {
        stdin: std::fs::File::open("/dev/null").unwrap().into(),
        stdout: out_w,
        stderr: std::fs::File::create("/dev/null").unwrap().into(),
        tty: false,
    };
    let pid = spawn(spec, stdio, cgroup_dirs).unwrap().pid;
    (pid, out_r.into())
}

/// A container that keeps running (with `sh` as its pid 1) once it printed `ready`.
fn start_sleeper(image: &Image) -> (i32, ContainerSpec) {
    let mut spec = base_spec(image, &["sh", "-c", "echo ready; sleep 60; echo done"]);
    spec.cwd = "/".into();
    let (pid, mut stdout) = start_with_stdout(&spec, &[]);
    let mut ready = [0u8; 6];
    stdout.read_exact(&mut ready).unwrap();
    (pid, spec)
}

fn kill_container(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    sys::wait_exit_code(pid);
}

/// Start a long-running container, run `kedge nsexec` (this binary, scenario `nsexec-run`)
/// into it and report what both see.
fn nsexec_scenario(image: &Image) -> String {
    let (pid, spec) = start_sleeper(image);
    let config = image.path("config.json");
    std::fs::write(&config, serde_json::to_vec(&spec).unwrap()).unwrap();
    let container_pidns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let exec = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "runtime::init::tests::helper", "--nocapture"])
        .args(["--test-threads=1", "--quiet"])
        .env(SCENARIO, "nsexec-run")
        .env("KEDGE_TEST_PID", pid.to_string())
        .env("KEDGE_TEST_SPEC", &config)
        .output()
        .unwrap();
    kill_container(pid);
    format!(
        "container_pidns={}\n{}exec_status={}\n",
        container_pidns.display(),
        String::from_utf8_lossy(&exec.stdout),
        exec.status.code().unwrap_or(-1)
    )
}

/// The `kedge nsexec` stand-in: never returns.
fn nsexec_run() -> String {
    let pid = std::env::var("KEDGE_TEST_PID").unwrap().parse().unwrap();
    let spec = std::env::var("KEDGE_TEST_SPEC").unwrap().into();
    crate::runtime::nsexec::run(crate::runtime::nsexec::NsexecArgs {
        pid,
        spec,
        env: vec!["EXTRA=1".into()],
        tty: false,
        command: ["sh", "-c", "echo exec_pidns=$(readlink /proc/self/ns/pid); cat /etc/marker; echo extra=$EXTRA; echo init=$(cat /proc/1/cmdline | head -c 2); exit 7"]
            .map(String::from)
            .to_vec(),
    })
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
fn root_container_gets_namespaces_mounts_and_security() {
    let Some(out) = run_scenario("root") else {
        return;
    };
    assert_eq!(line(&out, "exit="), "0", "{out}");
    assert_eq!(line(&out, "pid="), "1", "{out}");
    assert_eq!(line(&out, "host="), "kedge-test");
    assert_eq!(line(&out, "env="), "bar");
    assert_eq!(line(&out, "cwd="), "/work/dir");
    assert_eq!(line(&out, "CapEff:").trim(), "0000000000000021");
    assert_eq!(line(&out, "NoNewPrivs:").trim(), "1");
    assert_eq!(line(&out, "Seccomp:").trim(), "2");
    assert_eq!(line(&out, "proc="), "ok");
    let masked: Vec<&str> = out.lines().filter(|l| l.starts_with("masked ")).collect();
    assert!(!masked.is_empty(), "{out}");
    assert!(masked.iter().all(|l| l.ends_with("=0")), "{out}");
    assert_eq!(line(&out, "rootfs="), "ro");
    assert!(out.contains("hello-volume\n"), "{out}");
    assert_eq!(line(&out, "bind="), "ro");
    assert_eq!(line(&out, "tmpfs="), "rw");
    assert_eq!(line(&out, "shm_rmid_forced="), "1");
    assert_eq!(line(&out, "procsys="), "ro");
    assert_eq!(line(&out, "devpts="), "ok");
    assert_eq!(line(&out, "null="), "1,3");
}

#[test]
fn named_user_from_image_passwd_with_groups_umask_and_created_cwd() {
    let Some(out) = run_scenario("user") else {
        return;
    };
    assert_eq!(line(&out, "exit="), "0", "{out}");
    assert_eq!(
        line(&out, "uid="),
        "1000 gid=1000 groups=1000 10 3000 umask=0027 home=/home/app cwd=/home/app/missing"
    );
    // A non-root user keeps no capabilities across exec (no ambient set, as containerd).
    assert_eq!(line(&out, "CapEff:").trim(), "0000000000000000");
    assert_eq!(line(&out, "Seccomp:").trim(), "2");
    assert_eq!(line(&out, "NoNewPrivs:").trim(), "0");
}

#[test]
fn missing_executable_is_a_start_error() {
    let Some(out) = run_scenario("notfound") else {
        return;
    };
    assert_eq!(
        out.trim(),
        "start error: exec: \"nope\": executable file not found in $PATH"
    );
}

#[test]
fn nsexec_joins_the_running_container() {
    let Some(out) = run_scenario("nsexec") else {
        return;
    };
    assert_eq!(
        line(&out, "container_pidns="),
        line(&out, "exec_pidns="),
        "{out}"
    );
    assert!(out.contains("from-image\n"), "{out}");
    assert_eq!(line(&out, "extra="), "1");
    assert_eq!(line(&out, "init="), "sh");
    assert_eq!(line(&out, "exec_status="), "7", "{out}");
}

/// A cgroup directory made for one scenario, removed (empty by then) on drop.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The container joins a real cgroup (v1: the pids hierarchy; v2: the unified root) and
/// sees it, read-only, as its /sys/fs/cgroup.
fn cgroup_scenario(image: &Image) -> String {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let base = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/pids"
    };
    let cg = TestCgroup(PathBuf::from(format!(
        "{base}/kedge-init-test-{}",
        std::process::id()
    )));
    std::fs::create_dir(&cg.0).unwrap();
    let script = "echo procs=$(cat /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs \
                  2>/dev/null | head -n 1); touch /sys/fs/cgroup/x 2>/dev/null || echo cgroupfs=ro; \
                  echo self=$(grep -E '^(0::|[0-9]+:pids:)' /proc/self/cgroup | cut -d: -f3)";
    let mut spec = base_spec(image, &["sh", "-c", script]);
    spec.cwd = "/".into();
    let (pid, mut stdout) = start_with_stdout(&spec, std::slice::from_ref(&cg.0));
    let host_procs = std::fs::read_to_string(cg.0.join("cgroup.procs")).unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    sys::wait_exit_code(pid);
    format!("{out}host_procs={}\npid={pid}\n", host_procs.trim())
}

/// A second container joins the first one's pid namespace by path.
fn shared_pid_scenario(image: &Image) -> String {
    let (pid, _) = start_sleeper(image);
    let mut second = base_spec(
        image,
        &[
            "sh",
            "-c",
            "echo second_pid=$$; echo pid1=$(head -c 2 /proc/1/cmdline)",
        ],
    );
    second.cwd = "/".into();
    second.rootfs.upper = image.path("upper2");
    second.rootfs.work = image.path("work2");
    second.rootfs.target = image.path("rootfs2");
    second.namespaces.pid = Some(format!("/proc/{pid}/ns/pid").into());
    let out = run_container(&second);
    kill_container(pid);
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let own_children = std::fs::read_link("/proc/self/ns/pid_for_children").unwrap();
    format!("{out}restored={}\n", own == own_children)
}

/// With a pty slave as stdio the container has a controlling terminal.
fn tty_scenario(image: &Image) -> String {
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut spec = base_spec(
        image,
        &["sh", "-c", "test -t 0 && test -t 1 && echo isatty; echo ctty=$(cat /proc/self/stat | cut -d' ' -f7)"],
    );
    spec.cwd = "/".into();
    spec.tty = true;
    let slave = |fd: &OwnedFd| fd.try_clone().unwrap();
    let stdio = Stdio {
        stdin: slave(&pty.slave),
        stdout: slave(&pty.slave),
        stderr: slave(&pty.slave),
        tty: true,
    };
    let pid = spawn(&spec, stdio, &[]).unwrap().pid;
    drop(pty.slave);
    let code = sys::wait_exit_code(pid);
    // Reading the master after the last slave closed ends with EIO.
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = nix::unistd::read(&pty.master, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    format!(
        "{}exit={code}\n",
        String::from_utf8_lossy(&out).replace('\r', "")
    )
}

#[test]
fn container_joins_and_sees_its_cgroup() {
    let Some(out) = run_scenario("cgroup") else {
        return;
    };
    assert_eq!(line(&out, "host_procs="), line(&out, "pid="), "{out}");
    assert_eq!(line(&out, "procs="), "1", "{out}");
    assert_eq!(line(&out, "cgroupfs="), "ro", "{out}");
    // Private cgroup namespace: the container's own cgroup is its root.
    assert!(line(&out, "self=").split(' ').all(|c| c == "/"), "{out}");
}

#[test]
fn second_container_joins_a_shared_pid_namespace() {
    let Some(out) = run_scenario("sharedpid") else {
        return;
    };
    assert_eq!(line(&out, "exit="), "0", "{out}");
    assert_ne!(line(&out, "second_pid="), "1", "{out}");
    assert_eq!(line(&out, "pid1="), "sh", "{out}");
    assert_eq!(line(&out, "restored="), "true", "{out}");
}

#[test]
fn tty_container_has_a_controlling_terminal() {
    let Some(out) = run_scenario("tty") else {
        return;
    };
    assert_eq!(line(&out, "exit="), "0", "{out}");
    assert!(out.contains("isatty\n"), "{out}");
    assert_ne!(line(&out, "ctty="), "0", "{out}");
}

#[test]
fn many_layers_exceeding_a_page_of_mount_options() {
    let Some(out) = run_scenario("manylayers") else {
        return;
    };
    assert_eq!(out, "from-image\ntop-layer\nstderr=\nexit=0\n");
}
