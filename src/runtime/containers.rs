//! [`Runtime`]: the container API the kubelet and the streaming server call.
//!
//! Contract: every container is a bundle directory `<run>/containers/<id>/` (see `state`) plus
//! its writable layer `<data>/containers/<id>/{upper,work}` and its cgroup; nothing lives only
//! in this process, so a new `Runtime` over the same directories lists, queries, signals, waits
//! on and removes containers started by an earlier agent process. The agent never forks: each
//! container is supervised by a detached `kedge shim` process, and `exec` runs `kedge nsexec`.
//!
//! Blocking: `start` blocks until the container's command exec'd (or failed); `remove` may wait
//! a few seconds for processes to die; `create_sandbox`/`remove_sandbox` do a few mounts. Call
//! them from `blocking::unblock` in async code. The other methods only read small files.

use std::fs;
use std::io::{self, BufRead};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cgroups::{self, CgroupError, Cgroups};
use super::exec_process::{ExecProcess, ExecSpec};
use super::pidfd::{is_same_process, Pidfd};
use super::sandbox::{self, Sandbox, SandboxError, SandboxSpec};
use super::shim::CgroupsInfo;
use super::spec::ContainerSpec;
use super::state::{write_json, Bundle, ExitRecord, StartResult};

/// Mount point of the host's cgroup filesystems, as the shim and init use it.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long `remove` waits for the shim to finish after the container was killed.
const SHIM_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `/run/kedge`: sandboxes (`pods/`) and bundles (`containers/`).
    pub run_dir: PathBuf,
    /// `<data>/agent`: writable container layers (`containers/<id>/{upper,work}`).
    pub data_dir: PathBuf,
    pub cgroups: Arc<Cgroups>,
    /// The kedge binary (`/proc/self/exe` resolved), run as `shim` and `nsexec`.
    pub exe: PathBuf,
}

/// What `start` reports once the container's command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: String,
    /// Host pid of the container's first process.
    pub pid: i32,
    pub shim_pid: i32,
    pub started_at_unix_nanos: i64,
}

/// A container's state as read from its bundle. Times are Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running {
        pid: i32,
        started_at: i64,
    },
    Exited {
        /// Exit status, or 128 + signal; 137 for an OOM kill.
        exit_code: i32,
        signal: Option<i32>,
        oom_killed: bool,
        started_at: i64,
        finished_at: i64,
    },
    /// Not started (yet), start failed, or the supervisor vanished without an exit record.
    Unknown,
}

impl From<ExitRecord> for State {
    fn from(e: ExitRecord) -> State {
        State::Exited {
            exit_code: e.exit_code,
            signal: e.signal,
            oom_killed: e.oom_killed,
            started_at: e.started_at,
            finished_at: e.finished_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    /// The container's command could not be started; the message is for the user
    /// (`exec: "nope": executable file not found in $PATH`).
    #[error("{0}")]
    StartError(String),
    #[error("shim for {id} failed: {message}")]
    Shim { id: String, message: String },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroups")]
    Cgroup(#[from] CgroupError),
    #[error("sandbox")]
    Sandbox(#[from] SandboxError),
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RuntimeError {
    let path = path.to_path_buf();
    move |source| RuntimeError::Io { what, path, source }
}

/// The container runtime of one node. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct Runtime {
    cfg: RuntimeConfig,
    proc_root: PathBuf,
}

impl Runtime {
    pub fn new(cfg: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        for dir in [
            cfg.run_dir.join("containers"),
            cfg.run_dir.join("pods"),
            cfg.data_dir.join("containers"),
        ] {
            fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        Ok(Runtime {
            cfg,
            proc_root: PathBuf::from("/proc"),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// Creates (or returns the existing) namespaces and /dev/shm of a pod. Blocking.
    pub fn create_sandbox(&self, s: &SandboxSpec) -> Result<Sandbox, RuntimeError> {
        Ok(sandbox::create(&self.cfg.run_dir, s)?)
    }

    /// Unmounts and deletes a pod's sandbox; a missing one is fine. Blocking.
    pub fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        Ok(sandbox::remove(&self.cfg.run_dir, pod_uid)?)
    }

    fn bundle_path(&self, id: &str) -> Result<Bundle, RuntimeError> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(RuntimeError::InvalidId(id.to_string()));
        }
        Ok(Bundle::new(self.cfg.run_dir.join("containers").join(id)))
    }

    /// The bundle of an existing container.
    fn bundle(&self, id: &str) -> Result<Bundle, RuntimeError> {
        let b = self.bundle_path(id)?;
        if !b.config().exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(b)
    }

    fn layer_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_dir.join("containers").join(id)
    }

    /// Starts a container through a new shim; blocks until its command exec'd or failed.
    ///
    /// `spec.rootfs` fields left empty are filled with the runtime's layout
    /// (`<bundle>/rootfs`, `<data>/containers/<id>/{upper,work}`).
    pub fn start(&self, spec: &ContainerSpec) -> Result<Started, RuntimeError> {
        let id = spec.id.clone();
        let bundle = self.bundle_path(&id)?;
        if bundle.config().exists() {
            return Err(RuntimeError::AlreadyExists(id));
        }
        let mut spec = spec.clone();
        let layer = self.layer_dir(&id);
        if spec.rootfs.target.as_os_str().is_empty() {
            spec.rootfs.target = bundle.rootfs();
        }
        if spec.rootfs.upper.as_os_str().is_empty() {
            spec.rootfs.upper = layer.join("upper");
            spec.rootfs.work = layer.join("work");
        }
        for dir in [&bundle.dir, &spec.rootfs.target] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        for dir in [&spec.rootfs.upper, &spec.rootfs.work] {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            }
        }
        let info = CgroupsInfo {
            root: PathBuf::from(CGROUP_ROOT),
            parent: self.cfg.cgroups.parent().to_string(),
        };
        write_json(&bundle.cgroups(), &info).map_err(io_err("write", &bundle.cgroups()))?;
        self.cfg
            .cgroups
            .ensure(&spec.cgroup_path, &spec.resources)?;
        // config.json last: its presence marks a complete bundle.
        write_json(&bundle.config(), &spec).map_err(io_err("write", &bundle.config()))?;
        let result = self.run_shim(&bundle)?;
        match result {
            StartResult::Started { pid, started_at } => {
                let shim_pid = bundle.read_shim().ok().flatten().map_or(0, |s| s.pid);
                Ok(Started {
                    id,
                    pid,
                    shim_pid,
                    started_at_unix_nanos: started_at,
                })
            }
            StartResult::Error { message } => Err(RuntimeError::StartError(message)),
        }
    }

    /// Runs `kedge shim <bundle>` and reads its one-line report; EOF without a report means
    /// the shim died.
    fn run_shim(&self, bundle: &Bundle) -> Result<StartResult, RuntimeError> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(bundle.shim_log())
            .map_err(io_err("open", &bundle.shim_log()))?;
        let mut child = Command::new(&self.cfg.exe)
            .arg("shim")
            .arg(&bundle.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(io_err("spawn shim", &self.cfg.exe))?;
        // One line, or EOF when every copy of the pipe is gone (the shim died).
        let mut out = Vec::new();
        let read = io::BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_until(b'\n', &mut out);
        // The intermediate process exits right after forking the supervisor.
        let _ = child.wait();
        read.map_err(io_err("read shim report of", &bundle.dir))?;
        let id = bundle
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let line = out.split(|b| *b == b'\n').next().unwrap_or_default();
        if let Ok(result) = serde_json::from_slice::<StartResult>(line) {
            return Ok(result);
        }
        // The pipe may have broken while the shim still recorded the outcome.
        if let Ok(Some(result)) = bundle.read_start() {
            return Ok(result);
        }
        let log = fs::read_to_string(bundle.shim_log()).unwrap_or_default();
        Err(RuntimeError::Shim {
            id,
            message: format!("no start report; shim.log: {}", log.trim()),
        })
    }

    /// The container's state from its bundle.
    pub fn state(&self, id: &str) -> Result<State, RuntimeError> {
        let b = self.bundle(id)?;
        if let Some(exit) = read(&b, Bundle::read_exit)? {
            return Ok(exit.into());
        }
        let Some(st) = read(&b, Bundle::read_state)? else {
            return Ok(State::Unknown);
        };
        if is_same_process(&self.proc_root, st.pid, st.proc_starttime) {
            return Ok(State::Running {
                pid: st.pid,
                started_at: st.started_at_nanos,
            });
        }
        // The container is gone: its shim writes exit.json in a moment unless it died too.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && self.shim_alive(&b) {
            if let Some(exit) = read(&b, Bundle::read_exit)? {
                return Ok(exit.into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(read(&b, Bundle::read_exit)?.map_or(State::Unknown, State::from))
    }

    fn shim_alive(&self, b: &Bundle) -> bool {
        matches!(b.read_shim(), Ok(Some(s)) if is_same_process(&self.proc_root, s.pid, s.starttime))
    }

    /// Completes when the container exited (immediately if it already has). Works for
    /// containers started by an earlier agent: it waits on pidfds, not as a parent.
    pub async fn wait_exit(&self, id: &str) -> Result<State, RuntimeError> {
        let b = self.bundle(id)?;
        if let Some(exit) = read(&b, Bundle::read_exit)? {
            return Ok(exit.into());
        }
        // The shim outlives its container and exits right after writing exit.json.
        if let Some(s) = read(&b, Bundle::read_shim)? {
            if let Some(fd) = Pidfd::open_checked(&self.proc_root, s.pid, s.starttime)
                .map_err(io_err("pidfd_open shim of", &b.dir))?
            {
                fd.wait()
                    .await
                    .map_err(io_err("wait for shim of", &b.dir))?;
            }
        }
        if let Some(exit) = read(&b, Bundle::read_exit)? {
            return Ok(exit.into());
        }
        // No supervisor left (it was killed): wait for the container itself.
        if let Some(st) = read(&b, Bundle::read_state)? {
            if let Some(fd) = Pidfd::open_checked(&self.proc_root, st.pid, st.proc_starttime)
                .map_err(io_err("pidfd_open container", &b.dir))?
            {
                fd.wait()
                    .await
                    .map_err(io_err("wait for container", &b.dir))?;
            }
        }
        Ok(read(&b, Bundle::read_exit)?.map_or(State::Unknown, State::from))
    }

    /// Sends `sig` to the container's first process; a container that already exited is fine.
    pub fn signal(&self, id: &str, sig: i32) -> Result<(), RuntimeError> {
        let b = self.bundle(id)?;
        let Some(st) = read(&b, Bundle::read_state)? else {
            return Err(RuntimeError::NotRunning(id.to_string()));
        };
        if let Some(fd) = Pidfd::open_checked(&self.proc_root, st.pid, st.proc_starttime)
            .map_err(io_err("pidfd_open container", &b.dir))?
        {
            fd.signal(sig).map_err(io_err("signal container", &b.dir))?;
        }
        Ok(())
    }

    /// Kills whatever still runs, then deletes the cgroup, writable layer and bundle. A missing
    /// container is fine. Blocking (waits for the processes to die).
    pub fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let b = self.bundle_path(id)?;
        if !b.dir.exists() {
            let layer = self.layer_dir(id);
            return remove_dir(&layer);
        }
        let spec = b.read_spec().ok();
        if let Ok(Some(st)) = b.read_state() {
            if let Ok(Some(fd)) = Pidfd::open_checked(&self.proc_root, st.pid, st.proc_starttime) {
                let _ = fd.signal(nix::sys::signal::Signal::SIGKILL as i32);
            }
        }
        if let Some(spec) = &spec {
            self.cfg.cgroups.kill_all(&spec.cgroup_path)?;
        }
        self.stop_shim(&b);
        sandbox::detach_all(&b.rootfs());
        if let Some(spec) = &spec {
            self.cfg.cgroups.remove(&spec.cgroup_path)?;
            if !spec.rootfs.target.starts_with(&b.dir) {
                sandbox::detach_all(&spec.rootfs.target);
            }
        }
        remove_dir(&self.layer_dir(id))?;
        remove_dir(&b.dir)
    }

    /// Waits for the shim to finish its exit record; kills it if it does not.
    fn stop_shim(&self, b: &Bundle) {
        let Ok(Some(s)) = b.read_shim() else { return };
        let Ok(Some(fd)) = Pidfd::open_checked(&self.proc_root, s.pid, s.starttime) else {
            return;
        };
        let deadline = Instant::now() + SHIM_EXIT_TIMEOUT;
        while !fd.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !fd.exited() {
            let _ = fd.signal(nix::sys::signal::Signal::SIGKILL as i32);
        }
    }

    /// Ids of every container with a bundle (running or not), for re-adoption.
    pub fn list(&self) -> Vec<String> {
        let dir = self.cfg.run_dir.join("containers");
        let mut ids: Vec<String> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("config.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }

    /// The spec the container was started with (with the runtime's rootfs layout filled in).
    pub fn spec(&self, id: &str) -> Result<ContainerSpec, RuntimeError> {
        let b = self.bundle(id)?;
        b.read_spec().map_err(io_err("read", &b.config()))
    }

    /// Runs a process inside a running container (`kedge nsexec`).
    pub fn exec(&self, id: &str, e: &ExecSpec) -> Result<ExecProcess, RuntimeError> {
        let b = self.bundle(id)?;
        let State::Running { pid, .. } = self.state(id)? else {
            return Err(RuntimeError::NotRunning(id.to_string()));
        };
        ExecProcess::spawn(&self.cfg.exe, pid, &b.config(), e)
            .map_err(io_err("spawn nsexec for", &b.dir))
    }

    /// Connects to the shim's attach socket (framing: `runtime::attach`).
    pub fn attach(&self, id: &str) -> Result<UnixStream, RuntimeError> {
        let b = self.bundle(id)?;
        let sock = b.attach_socket();
        crate::runtime::state::with_socket_path(&sock, |p| UnixStream::connect(p)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::ConnectionRefused {
                RuntimeError::NotRunning(id.to_string())
            } else {
                io_err("connect", &sock)(e)
            }
        })
    }

    /// Resource usage of the container's cgroup.
    pub fn stats(&self, id: &str) -> Result<cgroups::Stats, RuntimeError> {
        let spec = self.spec(id)?;
        Ok(self.cfg.cgroups.stats(&spec.cgroup_path)?)
    }
}

fn read<T>(
    b: &Bundle,
    f: impl FnOnce(&Bundle) -> io::Result<Option<T>>,
) -> Result<Option<T>, RuntimeError> {
    f(b).map_err(io_err("read bundle", &b.dir))
}

fn remove_dir(dir: &Path) -> Result<(), RuntimeError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", dir)(e)),
    }
}
