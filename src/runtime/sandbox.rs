//! Pod sandboxes without a pause process: namespaces kept alive by bind mounts.
//!
//! Contract: [`create`] makes, under `<run>/pods/<uid>/`, the files `ns/net` (unless
//! hostNetwork), `ns/uts` (unless hostNetwork: such pods see the node's hostname) and `ns/ipc`
//! (unless hostIPC), each a bind mount of a namespace created by `unshare` on a short-lived
//! thread, plus `shm`, a tmpfs (mode 1777) shared as the containers' /dev/shm. The result is
//! recorded in `sandbox.json`; creating an existing sandbox returns the record. [`remove`]
//! detaches every mount and deletes the directory; both are idempotent.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{mount, mount_bind, unmount, MountFlags, UnmountFlags};
use rustix::thread::UnshareFlags;
use serde::{Deserialize, Serialize};

use super::state::{read_json, write_json};

/// /dev/shm size when the pod does not ask for one.
pub const DEFAULT_SHM_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxSpec {
    pub pod_uid: String,
    pub hostname: String,
    pub host_network: bool,
    pub host_ipc: bool,
    pub shm_size: Option<u64>,
}

/// Namespace files for `ContainerSpec::namespaces` and the /dev/shm source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub netns: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    /// The tmpfs to bind at /dev/shm (the host's /dev/shm for hostIPC pods).
    pub shm: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid pod uid {0:?}")]
    InvalidUid(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("namespace thread failed")]
    Thread,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SandboxError {
    let path = path.to_path_buf();
    move |source| SandboxError::Io { what, path, source }
}

/// The pod's directory under `<run>/pods`.
pub fn pod_dir(run_dir: &Path, pod_uid: &str) -> Result<PathBuf, SandboxError> {
    if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
        return Err(SandboxError::InvalidUid(pod_uid.to_string()));
    }
    Ok(run_dir.join("pods").join(pod_uid))
}

/// Creates the sandbox of a pod, or returns the existing one.
pub fn create(run_dir: &Path, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
    let dir = pod_dir(run_dir, &spec.pod_uid)?;
    let record = dir.join("sandbox.json");
    if let Ok(Some(existing)) = read_json::<Sandbox>(&record) {
        return Ok(existing);
    }
    // A half-made sandbox (the agent died while creating it) is rebuilt from scratch.
    remove(run_dir, &spec.pod_uid)?;
    let ns_dir = dir.join("ns");
    fs::create_dir_all(&ns_dir).map_err(io_err("create", &ns_dir))?;
    let result = build(&dir, spec).and_then(|sandbox| {
        write_json(&record, &sandbox).map_err(io_err("write", &record))?;
        Ok(sandbox)
    });
    if result.is_err() {
        let _ = remove(run_dir, &spec.pod_uid);
    }
    result
}

fn build(dir: &Path, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
    let ns_dir = dir.join("ns");
    let mut kinds: Vec<(&'static str, UnshareFlags)> = Vec::new();
    if !spec.host_network {
        kinds.push(("net", UnshareFlags::NEWNET));
        kinds.push(("uts", UnshareFlags::NEWUTS));
    }
    if !spec.host_ipc {
        kinds.push(("ipc", UnshareFlags::NEWIPC));
    }
    for (name, _) in &kinds {
        let file = ns_dir.join(name);
        fs::File::create(&file).map_err(io_err("create", &file))?;
    }
    if !kinds.is_empty() {
        let hostname = (!spec.host_network).then(|| spec.hostname.clone());
        let targets: Vec<(&'static str, UnshareFlags, PathBuf)> = kinds
            .iter()
            .map(|(n, f)| (*n, *f, ns_dir.join(n)))
            .collect();
        std::thread::spawn(move || pin_namespaces(&targets, hostname.as_deref()))
            .join()
            .map_err(|_| SandboxError::Thread)??;
    }
    let shm = if spec.host_ipc {
        PathBuf::from("/dev/shm")
    } else {
        let shm = dir.join("shm");
        fs::create_dir_all(&shm).map_err(io_err("create", &shm))?;
        let size = spec.shm_size.unwrap_or(DEFAULT_SHM_BYTES);
        let data = std::ffi::CString::new(format!("mode=1777,size={size}")).expect("no nul");
        mount(
            "shm",
            &shm,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            data.as_c_str(),
        )
        .map_err(|e| io_err("mount tmpfs on", &shm)(e.into()))?;
        shm
    };
    let has = |n: &str| kinds.iter().any(|(k, _)| *k == n).then(|| ns_dir.join(n));
    Ok(Sandbox {
        netns: has("net"),
        uts: has("uts"),
        ipc: has("ipc"),
        shm,
    })
}

/// Runs on a throw-away thread: the new namespaces belong to this thread only and outlive it
/// through the bind mounts.
fn pin_namespaces(
    targets: &[(&'static str, UnshareFlags, PathBuf)],
    hostname: Option<&str>,
) -> Result<(), SandboxError> {
    let flags = targets
        .iter()
        .fold(UnshareFlags::empty(), |acc, (_, f, _)| acc | *f);
    // SAFETY: the flags never include CLONE_FILES, so no file descriptor table is unshared and
    // every fd this thread uses stays valid; the namespaces only affect this thread, which exits
    // right after pinning them.
    unsafe { rustix::thread::unshare_unsafe(flags) }
        .map_err(|e| io_err("unshare for", Path::new("/proc/thread-self/ns"))(e.into()))?;
    if let Some(name) = hostname.filter(|_| flags.contains(UnshareFlags::NEWUTS)) {
        rustix::system::sethostname(name.as_bytes())
            .map_err(|e| io_err("sethostname in", Path::new("uts"))(e.into()))?;
    }
    for (name, _, file) in targets {
        let source = Path::new("/proc/thread-self/ns").join(name);
        mount_bind(&source, file).map_err(|e| io_err("bind namespace onto", file)(e.into()))?;
    }
    Ok(())
}

/// Detaches the sandbox's mounts and deletes its directory; a missing sandbox is fine.
pub fn remove(run_dir: &Path, pod_uid: &str) -> Result<(), SandboxError> {
    let dir = pod_dir(run_dir, pod_uid)?;
    if !dir.exists() {
        return Ok(());
    }
    for path in [
        dir.join("ns/net"),
        dir.join("ns/uts"),
        dir.join("ns/ipc"),
        dir.join("shm"),
    ] {
        detach_all(&path);
    }
    fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))
}

/// Unmounts everything stacked on `path` (lazy: busy mounts go away when released).
pub(crate) fn detach_all(path: &Path) {
    // A path may carry several mounts if a create raced; unmount until none is left.
    for _ in 0..8 {
        if unmount(path, UnmountFlags::DETACH).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_must_be_a_plain_name() {
        let run = Path::new("/run/kedge");
        assert!(pod_dir(run, "../x").is_err());
        assert!(pod_dir(run, "").is_err());
        assert_eq!(pod_dir(run, "abc").unwrap(), run.join("pods/abc"));
    }
}
