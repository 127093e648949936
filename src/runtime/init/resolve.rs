//! Path and name resolution inside a container root that is not (yet) our `/`: symlinks in
//! the image are resolved as if the root were `/`, so a hostile image cannot point a mount
//! destination at a host path; `argv[0]` is looked up in the container's `PATH`; user names
//! and supplementary groups come from the container's `/etc/passwd` and `/etc/group`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Longest symlink chain followed, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// `PATH` used when the environment has none (the same as runc/Go's default for containers).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Join `path` (absolute, inside the container) to `root`, following symlinks inside the
/// root and clamping `..` at it. Missing trailing components are kept as they are, so the
/// result can be created afterwards. The returned path always starts with `root`.
pub fn in_root(root: &Path, path: &str) -> PathBuf {
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> = components(Path::new(path));
    pending.reverse();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(resolved.iter().collect::<PathBuf>()).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && links < MAX_LINKS => {
                links += 1;
                let Ok(target) = std::fs::read_link(&candidate) else {
                    resolved.push(c);
                    continue;
                };
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved.push(c),
        }
    }
    root.join(resolved.iter().collect::<PathBuf>())
}

fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Why `argv[0]` could not be resolved; the message follows Go's `exec.LookPath`, which is
/// what users of Kubernetes see from runc.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LookupError {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: stat {0}: no such file or directory")]
    NoSuchFile(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error("exec: {0:?}: is a directory")]
    IsDirectory(String),
}

impl LookupError {
    /// The shell's exit code for this failure (127 not found, 126 not executable).
    pub fn exit_code(&self) -> i32 {
        match self {
            LookupError::NotFound(_) | LookupError::NoSuchFile(_) => 127,
            _ => 126,
        }
    }
}

/// Resolve `cmd` against `PATH` from `env`, inside `root` (`/` once pivoted). A command with
/// a slash is taken as is. Returns the path relative to the container's `/`.
pub fn lookup_path(root: &Path, cmd: &str, env: &[String]) -> Result<PathBuf, LookupError> {
    let check = |p: &str| -> Result<PathBuf, LookupError> {
        let host = in_root(root, p);
        let m = std::fs::metadata(&host).map_err(|_| LookupError::NoSuchFile(cmd.into()))?;
        if m.is_dir() {
            return Err(LookupError::IsDirectory(cmd.into()));
        }
        if m.permissions().mode() & 0o111 == 0 {
            return Err(LookupError::NotExecutable(cmd.into()));
        }
        Ok(PathBuf::from(p))
    };
    if cmd.is_empty() {
        return Err(LookupError::NotFound(cmd.into()));
    }
    if cmd.contains('/') {
        return check(cmd);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let full = format!("{}/{cmd}", dir.trim_end_matches('/'));
        match check(&full) {
            Ok(p) => return Ok(p),
            Err(e @ LookupError::NotExecutable(_)) => denied = denied.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or(LookupError::NotFound(cmd.into())))
}

/// One `/etc/passwd` entry, the fields the runtime needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Find `name` (or a numeric uid given as a name) in passwd file contents.
pub fn find_user(passwd: &str, name: &str) -> Option<PasswdEntry> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].starts_with('#') {
            return None;
        }
        let e = PasswdEntry {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
        };
        (e.name == name || name.parse() == Ok(e.uid)).then_some(e)
    })
}

/// The gids of every group in group file contents that lists `user` as a member.
pub fn member_gids(group: &str, user: &str) -> Vec<u32> {
    group
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].starts_with('#') {
                return None;
            }
            let gid = f[2].parse().ok()?;
            f[3].split(',').any(|m| m.trim() == user).then_some(gid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn in_root_clamps_dotdot_and_absolute_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc/shadow", root.join("etc/hosts")).unwrap();
        symlink("../../../../tmp", root.join("etc/up")).unwrap();
        assert_eq!(in_root(root, "/etc/hosts"), root.join("etc/shadow"));
        assert_eq!(in_root(root, "/etc/up/x"), root.join("tmp/x"));
        assert_eq!(in_root(root, "/../../a/./b"), root.join("a/b"));
        assert_eq!(in_root(root, "/"), root.to_path_buf());
    }

    #[test]
    fn in_root_survives_link_loops() {
        let d = tempfile::tempdir().unwrap();
        symlink("/b", d.path().join("a")).unwrap();
        symlink("/a", d.path().join("b")).unwrap();
        assert!(in_root(d.path(), "/a").starts_with(d.path()));
    }

    #[test]
    fn lookup_path_follows_container_path_and_reports_like_go() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("opt/x")).unwrap();
        std::fs::write(root.join("bin/sh"), "").unwrap();
        std::fs::set_permissions(root.join("bin/sh"), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(root.join("opt/x/data"), "").unwrap();
        let env = vec!["PATH=/opt/x:/bin".to_string()];
        assert_eq!(lookup_path(root, "sh", &env), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(lookup_path(root, "/bin/sh", &[]), Ok("/bin/sh".into()));
        let e = lookup_path(root, "nope", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            lookup_path(root, "data", &env),
            Err(LookupError::NotExecutable("data".into()))
        );
        assert_eq!(
            lookup_path(root, "/x", &env).unwrap_err().to_string(),
            "exec: \"/x\": stat /x: no such file or directory"
        );
        assert_eq!(
            lookup_path(root, "/bin", &env).unwrap_err().exit_code(),
            126
        );
    }

    #[test]
    fn passwd_and_group_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n#c\napp:x:1000:2000::/home/app:/bin/sh\n";
        let group = "root:x:0:\nwheel:x:10:root,app\nusers:x:100: app \n";
        let e = find_user(passwd, "app").unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (1000, 2000, "/home/app"));
        assert_eq!(find_user(passwd, "1000").unwrap().name, "app");
        assert!(find_user(passwd, "nobody").is_none());
        assert_eq!(member_gids(group, "app"), vec![10, 100]);
    }
}
