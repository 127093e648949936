//! The last steps before `execve`, shared by the container's init and `kedge nsexec`: user
//! and groups, capabilities, umask, no_new_privs, seccomp, working directory, `argv[0]`
//! lookup. Runs with `/` already being the container's root.
//!
//! Ordering: the one documented in [`crate::runtime::security`] (runc's): bounding set and
//! KEEPCAPS first; without no_new_privs the seccomp filter goes in while CAP_SYS_ADMIN is
//! still held, with it as late as possible; then the ids, then the final capability sets.

use std::path::Path;

use nix::unistd::{Gid, Uid};

use super::resolve::{find_user, lookup_path, member_gids};
use super::sys;
use crate::runtime::security::{caps, seccomp, SecurityError};
use crate::runtime::spec::{Seccomp, Security, User};

/// The process half of a spec.
pub struct ProcessSpec<'a> {
    pub args: &'a [String],
    pub env: Vec<String>,
    pub cwd: &'a str,
    pub user: &'a User,
    pub security: &'a Security,
}

/// Why the process could not be started; `exit_code` is what `kedge nsexec` exits with
/// (127 not found, 126 not executable, 1 other).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub message: String,
    pub exit_code: i32,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            exit_code: 1,
        }
    }
}

impl From<sys::SysError> for Failure {
    fn from(e: sys::SysError) -> Failure {
        Failure::new(e.to_string())
    }
}

/// The user to switch to, with names resolved from the container's files.
#[derive(Debug, PartialEq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Resolve `user` against passwd/group contents (empty strings when the image has none).
pub fn identity(user: &User, passwd: &str, group: &str) -> Result<Identity, Failure> {
    let entry = match &user.username {
        Some(name) => Some(find_user(passwd, name).ok_or_else(|| {
            Failure::new(format!(
                "unable to find user {name}: no matching entries in passwd file"
            ))
        })?),
        None => find_user(passwd, &user.uid.to_string()),
    };
    let (uid, gid) = match (&user.username, &entry) {
        // A name from the image decides the uid and, unless runAsGroup was given, the gid.
        (Some(_), Some(e)) => (e.uid, if user.gid != 0 { user.gid } else { e.gid }),
        _ => (user.uid, user.gid),
    };
    let mut groups = vec![gid];
    if let Some(e) = &entry {
        groups.extend(member_gids(group, &e.name));
    }
    groups.extend(&user.additional_gids);
    let mut seen = std::collections::HashSet::new();
    groups.retain(|g| seen.insert(*g));
    Ok(Identity {
        uid,
        gid,
        groups,
        home: entry.map(|e| e.home).unwrap_or_else(|| "/".into()),
    })
}

/// Switch identity and exec; returns only on failure.
pub fn exec(p: ProcessSpec<'_>) -> Failure {
    match prepare_and_exec(p) {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

fn prepare_and_exec(mut p: ProcessSpec<'_>) -> Result<std::convert::Infallible, Failure> {
    let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
    let id = identity(p.user, &read("/etc/passwd"), &read("/etc/group"))?;
    if !p.env.iter().any(|e| e.starts_with("HOME=")) {
        p.env.push(format!("HOME={}", id.home));
    }
    let sec = p.security;
    // A privileged container without an explicit list keeps every capability.
    let caps = if sec.privileged && sec.capabilities.is_empty() {
        caps::all_names()
    } else {
        sec.capabilities.clone()
    };
    let filter = match sec.seccomp {
        Seccomp::RuntimeDefault => Some(seccomp::program_for(&caps).map_err(security_failure)?),
        Seccomp::Unconfined => None,
    };
    caps::apply_before_setuid(&caps).map_err(security_failure)?;
    if let (Some(f), false) = (&filter, sec.no_new_privileges) {
        seccomp::apply(f).map_err(security_failure)?;
    }
    switch_user(&id)?;
    caps::apply_after_setuid(&caps, false).map_err(security_failure)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        p.user.umask.unwrap_or(0o022) as _,
    ));
    if sec.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| sys_failure("set no_new_privs", e))?;
    }
    let path = lookup_path(Path::new("/"), p.args.first().map_or("", |a| a), &p.env).map_err(|e| {
        Failure {
            message: e.to_string(),
            exit_code: e.exit_code(),
        }
    });
    // Resolved before chdir (relative PATH entries are rare and resolved against `/`), but
    // reported after it so the first problem a user fixes is the cwd one, as with runc.
    nix::unistd::chdir(p.cwd).map_err(|e| {
        Failure::new(format!(
            "chdir to cwd ({:?}) set in config.json failed: {}",
            p.cwd,
            sys::errno_text(e)
        ))
    })?;
    let path = path?;
    if let (Some(f), true) = (&filter, sec.no_new_privileges) {
        seccomp::apply(f).map_err(security_failure)?;
    }
    let e = sys::execve(&path, p.args, &p.env);
    Err(Failure {
        message: format!("exec: {:?}: {}", p.args[0], sys::errno_text(e)),
        exit_code: if e == nix::errno::Errno::ENOENT {
            127
        } else {
            126
        },
    })
}

fn sys_failure(what: &str, e: nix::errno::Errno) -> Failure {
    Failure::new(format!("{what}: {}", sys::errno_text(e)))
}

fn security_failure(e: SecurityError) -> Failure {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Failure::new(message)
}

fn switch_user(id: &Identity) -> Result<(), Failure> {
    let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| sys_failure("setgroups", e))?;
    let gid = Gid::from_raw(id.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| sys_failure("setgid", e))?;
    let uid = Uid::from_raw(id.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| sys_failure("setuid", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:2000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app\n";

    #[test]
    fn identity_from_username_takes_image_uid_gid_and_groups() {
        let u = User {
            username: Some("app".into()),
            additional_gids: vec![3000, 10],
            ..Default::default()
        };
        let id = identity(&u, PASSWD, GROUP).unwrap();
        assert_eq!(
            id,
            Identity {
                uid: 1000,
                gid: 2000,
                groups: vec![2000, 10, 3000],
                home: "/home/app".into()
            }
        );
    }

    #[test]
    fn identity_numeric_without_entry_and_unknown_name() {
        let u = User {
            uid: 4242,
            gid: 7,
            ..Default::default()
        };
        let id = identity(&u, PASSWD, GROUP).unwrap();
        assert_eq!(
            (id.uid, id.gid, id.groups, id.home.as_str()),
            (4242, 7, vec![7], "/")
        );
        let u = User {
            username: Some("ghost".into()),
            ..Default::default()
        };
        assert_eq!(
            identity(&u, PASSWD, GROUP).unwrap_err().message,
            "unable to find user ghost: no matching entries in passwd file"
        );
    }
}
