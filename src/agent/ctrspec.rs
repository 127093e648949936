//! From a pod's container to the runtime's [`ContainerSpec`]: image config merged with the
//! spec (command/args over entrypoint/cmd, env, workingDir, user), the merged pod and
//! container securityContext, and the mounts (volumes, managed /etc files, /dev/shm,
//! termination log).
//!
//! Contract: pure: everything the spec depends on arrives in [`SpecInput`]; a refusal
//! (runAsNonRoot, missing volume) is a [`SpecError`] whose text is the
//! CreateContainerConfigError message.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::deps::{ImageInfo, SandboxInfo, VolumePaths};
use super::env::expand_with;
use crate::runtime::spec::{ContainerSpec, Mount, MountKind, Namespaces, Seccomp, Security, User};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("container has runAsNonRoot and image will run as root (pod: \"{pod}\", container: {container})")]
    RunAsRoot { pod: String, container: String },
    #[error("container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: \"{pod}\", container: {container})")]
    NonNumericUser {
        user: String,
        pod: String,
        container: String,
    },
    #[error("cannot find volume \"{0}\" to mount into container")]
    NoVolume(String),
    #[error("failed to prepare subPath for volumeMount \"{name}\": {message}")]
    SubPath { name: String, message: String },
}

/// Resolves a subPath: (volume name, volume root, subPath, mount index) → bind source.
pub type SubPathFn = dyn Fn(&str, &Path, &str, usize) -> Result<PathBuf, String>;

/// Everything one container spec is made of.
pub struct SpecInput<'a> {
    pub id: &'a str,
    pub pod: &'a Value,
    pub container: &'a Value,
    pub image: &'a ImageInfo,
    /// The container's environment (from [`super::env::build`]), without the image's.
    pub env: &'a [(String, String)],
    pub sandbox: &'a SandboxInfo,
    pub volumes: &'a VolumePaths,
    /// Resolves `subPath` inside a volume: (volume name, volume root, subPath, mount index).
    pub sub_path: &'a SubPathFn,
    /// Directory of the pod's managed files (`hosts`, `hostname`, `resolv.conf`).
    pub etc_dir: &'a Path,
    pub termination_log: &'a Path,
    pub cgroup_path: String,
    pub resources: crate::runtime::cgroups::Resources,
    pub log_path: PathBuf,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// argv from the image's entrypoint/cmd and the spec's command/args, `$(VAR)` expanded.
pub fn argv(container: &Value, image: &ImageInfo, env: &[(String, String)]) -> Vec<String> {
    let command = strings(container.get("command")).filter(|c| !c.is_empty());
    let args = strings(container.get("args")).filter(|a| !a.is_empty());
    let (cmd, args) = match (command, args) {
        (Some(c), Some(a)) => (c, a),
        // A command replaces the entrypoint and drops the image's cmd.
        (Some(c), None) => (c, vec![]),
        (None, Some(a)) => (image.entrypoint.clone(), a),
        (None, None) => (image.entrypoint.clone(), image.cmd.clone()),
    };
    cmd.iter()
        .chain(args.iter())
        .map(|s| expand_with(s, env))
        .collect()
}

/// Image env overridden by the container's.
pub fn merged_env(image: &ImageInfo, env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = image
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    for (k, v) in env {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A securityContext field, container first then pod.
fn sc<'a>(pod: &'a Value, c: &'a Value, field: &str) -> Option<&'a Value> {
    c.pointer(&format!("/securityContext/{field}"))
        .or_else(|| pod.pointer(&format!("/spec/securityContext/{field}")))
}

/// The process user: runAsUser/runAsGroup over the image's `USER`.
pub fn user(pod: &Value, c: &Value, image: &ImageInfo) -> Result<User, SpecError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
    let mut u = User::default();
    let (img_user, img_group) = match image.user.split_once(':') {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (image.user.clone(), None),
    };
    let run_as_user = sc(pod, c, "runAsUser").and_then(Value::as_u64);
    match run_as_user {
        Some(uid) => u.uid = uid as u32,
        None if img_user.is_empty() => u.uid = 0,
        None => match img_user.parse::<u32>() {
            Ok(uid) => u.uid = uid,
            Err(_) => u.username = Some(img_user.clone()),
        },
    }
    if let Some(g) = sc(pod, c, "runAsGroup").and_then(Value::as_u64) {
        u.gid = g as u32;
    } else if let Some(g) = img_group.and_then(|g| g.parse::<u32>().ok()) {
        u.gid = g;
    }
    if sc(pod, c, "runAsNonRoot").and_then(Value::as_bool) == Some(true) {
        if let Some(name) = &u.username {
            return Err(SpecError::NonNumericUser {
                user: name.clone(),
                pod: pod_name.into(),
                container: cname.into(),
            });
        }
        if u.uid == 0 {
            return Err(SpecError::RunAsRoot {
                pod: pod_name.into(),
                container: cname.into(),
            });
        }
    }
    let mut groups: Vec<u32> = pod
        .pointer("/spec/securityContext/supplementalGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_u64().map(|g| g as u32))
        .collect();
    if let Some(fs) = pod
        .pointer("/spec/securityContext/fsGroup")
        .and_then(Value::as_u64)
    {
        groups.push(fs as u32);
    }
    groups.dedup();
    u.additional_gids = groups;
    Ok(u)
}

/// Capabilities after add/drop over containerd's default set (names without `CAP_`).
pub fn capabilities(c: &Value, privileged: bool) -> Vec<String> {
    let list = |f: &str| -> Vec<String> {
        strings(c.pointer(&format!("/securityContext/capabilities/{f}"))).unwrap_or_default()
    };
    crate::runtime::security::caps::effective_set(&list("add"), &list("drop"), privileged)
}

pub fn security(pod: &Value, c: &Value) -> Security {
    let privileged = c
        .pointer("/securityContext/privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let seccomp = match sc(pod, c, "seccompProfile/type").and_then(Value::as_str) {
        Some("RuntimeDefault") if !privileged => Seccomp::RuntimeDefault,
        _ => Seccomp::Unconfined,
    };
    let sysctls = pod
        .pointer("/spec/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                s.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    Security {
        privileged,
        capabilities: capabilities(c, privileged),
        no_new_privileges: c
            .pointer("/securityContext/allowPrivilegeEscalation")
            .and_then(Value::as_bool)
            == Some(false),
        readonly_rootfs: c
            .pointer("/securityContext/readOnlyRootFilesystem")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        seccomp,
        masked_paths: if privileged {
            vec![]
        } else {
            crate::runtime::init::default_masked_paths()
        },
        readonly_paths: if privileged {
            vec![]
        } else {
            crate::runtime::init::default_readonly_paths()
        },
        sysctls,
    }
}

fn bind(dest: &str, source: PathBuf, file: bool, readonly: bool) -> Mount {
    Mount {
        destination: dest.to_string(),
        kind: MountKind::Bind { source, file },
        readonly,
    }
}

/// The container's mounts: volumes, then the managed files it does not mount itself.
pub fn mounts(inp: &SpecInput<'_>) -> Result<Vec<Mount>, SpecError> {
    let mut out = Vec::new();
    for (index, vm) in inp
        .container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = vm.get("name").and_then(Value::as_str).unwrap_or("");
        let dest = vm.get("mountPath").and_then(Value::as_str).unwrap_or("");
        let readonly = vm.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
        let base = inp
            .volumes
            .get(name)
            .ok_or_else(|| SpecError::NoVolume(name.into()))?;
        let sub = vm
            .get("subPath")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                vm.get("subPathExpr")
                    .and_then(Value::as_str)
                    .map(|e| expand_with(e, inp.env))
            })
            .filter(|s| !s.is_empty());
        let source = match sub {
            Some(s) => {
                (inp.sub_path)(name, base, &s, index).map_err(|message| SpecError::SubPath {
                    name: name.into(),
                    message,
                })?
            }
            None => base.clone(),
        };
        let file = source.is_file();
        out.push(bind(dest, source, file, readonly));
    }
    let mounted = |d: &str| out.iter().any(|m: &Mount| m.destination == d);
    let mut extra = Vec::new();
    let host_network = inp
        .pod
        .pointer("/spec/hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for (dest, file) in [
        ("/etc/hosts", "hosts"),
        ("/etc/hostname", "hostname"),
        ("/etc/resolv.conf", "resolv.conf"),
    ] {
        // hostNetwork pods see the node's hostname.
        let skip = mounted(dest) || (host_network && file == "hostname");
        if !skip {
            extra.push(bind(dest, inp.etc_dir.join(file), true, false));
        }
    }
    if !mounted("/dev/shm") && !inp.sandbox.shm.as_os_str().is_empty() {
        extra.push(bind("/dev/shm", inp.sandbox.shm.clone(), false, false));
    }
    let tpath = inp
        .container
        .get("terminationMessagePath")
        .and_then(Value::as_str)
        .unwrap_or("/dev/termination-log");
    if !mounted(tpath) {
        extra.push(bind(tpath, inp.termination_log.to_path_buf(), true, false));
    }
    out.extend(extra);
    Ok(out)
}

pub fn build(inp: &SpecInput<'_>) -> Result<ContainerSpec, SpecError> {
    let pod = inp.pod;
    let c = inp.container;
    let s = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let flag = |v: &Value, f: &str| v.get(f).and_then(Value::as_bool).unwrap_or(false);
    let spec_flag = |f: &str| {
        pod.pointer(&format!("/spec/{f}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let cwd = c
        .get("workingDir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| Some(inp.image.working_dir.clone()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/".into());
    Ok(ContainerSpec {
        id: inp.id.to_string(),
        pod_uid: s("/metadata/uid"),
        pod_namespace: s("/metadata/namespace"),
        pod_name: s("/metadata/name"),
        name: c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        layers: inp.image.layers.iter().rev().cloned().collect(),
        args: argv(c, inp.image, inp.env),
        env: merged_env(inp.image, inp.env),
        cwd,
        user: user(pod, c, inp.image)?,
        hostname: super::dns::hostname(pod),
        namespaces: Namespaces {
            net: inp.sandbox.netns.clone(),
            uts: inp.sandbox.uts.clone(),
            ipc: inp.sandbox.ipc.clone(),
            pid: None,
            host_pid: spec_flag("hostPID"),
        },
        security: security(pod, c),
        mounts: mounts(inp)?,
        cgroup_path: inp.cgroup_path.clone(),
        resources: inp.resources.clone(),
        log_path: inp.log_path.clone(),
        log_max_bytes: 10 << 20,
        tty: flag(c, "tty"),
        stdin: flag(c, "stdin"),
        stdin_once: flag(c, "stdinOnce"),
        // The runtime places the overlay root under the bundle.
        rootfs: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> ImageInfo {
        ImageInfo {
            id: "sha256:abc".into(),
            entrypoint: vec!["/entry".into()],
            cmd: vec!["serve".into(), "--port=80".into()],
            env: vec!["PATH=/bin".into(), "A=image".into()],
            working_dir: "/srv".into(),
            user: "1000:50".into(),
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_override_the_image_like_docker() {
        let env = vec![("NAME".to_string(), "x".to_string())];
        let img = image();
        assert_eq!(
            argv(&json!({}), &img, &env),
            ["/entry", "serve", "--port=80"]
        );
        assert_eq!(
            argv(&json!({"args": ["$(NAME)"]}), &img, &env),
            ["/entry", "x"]
        );
        assert_eq!(argv(&json!({"command": ["sh"]}), &img, &env), ["sh"]);
        assert_eq!(
            argv(
                &json!({"command": ["sh"], "args": ["-c", "$$(NAME)"]}),
                &img,
                &env
            ),
            ["sh", "-c", "$(NAME)"]
        );
        assert_eq!(
            merged_env(&img, &[("A".into(), "spec".into())]),
            ["PATH=/bin", "A=spec"]
        );
    }

    #[test]
    fn users_and_run_as_non_root() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"securityContext": {"fsGroup": 2000, "supplementalGroups": [5]}}});
        let u = user(&pod, &json!({"name": "c"}), &image()).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 50, vec![5, 2000])
        );
        let root_img = ImageInfo::default();
        let nonroot = json!({"name": "c", "securityContext": {"runAsNonRoot": true}});
        assert_eq!(
            user(&pod, &nonroot, &root_img).unwrap_err().to_string(),
            "container has runAsNonRoot and image will run as root (pod: \"p\", container: c)"
        );
        let named = ImageInfo {
            user: "app".into(),
            ..Default::default()
        };
        assert!(matches!(
            user(&pod, &nonroot, &named),
            Err(SpecError::NonNumericUser { .. })
        ));
        let explicit =
            json!({"name": "c", "securityContext": {"runAsNonRoot": true, "runAsUser": 7}});
        assert_eq!(user(&pod, &explicit, &root_img).unwrap().uid, 7);
    }

    #[test]
    fn security_context_merges_pod_and_container() {
        let pod = json!({"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1"}]}}});
        let c = json!({"securityContext": {"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}});
        let s = security(&pod, &c);
        assert_eq!(s.seccomp, Seccomp::RuntimeDefault);
        assert!(s.no_new_privileges);
        assert_eq!(s.capabilities, ["NET_ADMIN"]);
        assert_eq!(s.sysctls.len(), 1);
        let p = security(&pod, &json!({"securityContext": {"privileged": true}}));
        assert!(p.masked_paths.is_empty() && p.capabilities.contains(&"SYS_ADMIN".to_string()));
        assert_eq!(p.seccomp, Seccomp::Unconfined);
    }
}
