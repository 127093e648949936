//! Safe `subPath` resolution. The path is resolved by the kernel with openat2
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` relative to the volume root, so `..` and symlinks
//! may move around inside the volume but any escape (absolute symlink, `../..`, /proc magic
//! link) fails; there is no check-then-use window because the result is an `O_PATH` fd of the
//! exact inode, which is then bind-mounted through its `/proc/self/fd` link. Missing
//! components are created as directories (with the root's mode), as the kubelet does.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use crate::{sys, VolumeError};

/// A resolved subPath: an `O_PATH` handle on the target inside the volume.
#[derive(Debug)]
pub struct SubPathMount {
    pub fd: OwnedFd,
    pub is_dir: bool,
}

/// Resolves `sub_path` beneath `volume_root`, creating missing directories.
pub fn resolve_subpath(volume_root: &Path, sub_path: &str) -> Result<SubPathMount, VolumeError> {
    let invalid = |why| VolumeError::SubPathInvalid {
        sub_path: sub_path.to_string(),
        why,
    };
    let rel = Path::new(sub_path);
    if sub_path.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if rel.is_absolute() {
        return Err(invalid("must be a relative path"));
    }
    let root = sys::open_root(volume_root).map_err(VolumeError::io("open volume", volume_root))?;
    let mode = sys::fd_mode(&root).map_err(VolumeError::io("stat volume", volume_root))?;
    let escape = || VolumeError::SubPathEscape {
        sub_path: sub_path.to_string(),
    };
    // EXDEV: resolution left the root; ELOOP: a magic link (or a symlink loop) was met.
    let map = |e: io::Error, at: &Path| match rustix::io::Errno::from_io_error(&e) {
        Some(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => escape(),
        _ => VolumeError::io("open subPath", volume_root.join(at))(e),
    };
    // Walk prefix by prefix so that missing directories can be created inside the directory
    // handle that was itself resolved beneath the root.
    let mut prefix = PathBuf::new();
    let mut parent: Option<OwnedFd> = None;
    for c in rel.components() {
        if matches!(c, Component::CurDir) {
            continue;
        }
        prefix.push(c);
        match sys::open_beneath(&root, &prefix) {
            Ok(fd) => parent = Some(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Component::Normal(name) = c else {
                    return Err(map(e, &prefix));
                };
                let dir = parent.as_ref().unwrap_or(&root);
                sys::mkdir_in(dir, Path::new(name), mode)
                    .map_err(VolumeError::io("create subPath", volume_root.join(&prefix)))?;
                parent = Some(sys::open_beneath(&root, &prefix).map_err(|e| map(e, &prefix))?);
            }
            Err(e) => return Err(map(e, &prefix)),
        }
    }
    let fd = parent.ok_or_else(|| invalid("must name something inside the volume"))?;
    let is_dir =
        sys::fd_is_dir(&fd).map_err(VolumeError::io("stat subPath", volume_root.join(rel)))?;
    Ok(SubPathMount { fd, is_dir })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn inside_paths_resolve_and_escapes_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("vol");
        fs::create_dir_all(root.join("data/conf")).unwrap();
        fs::write(root.join("data/file"), "x").unwrap();
        symlink("data", root.join("inside")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../..", root.join("up")).unwrap();
        symlink("/proc/self/root", root.join("magic")).unwrap();

        assert!(resolve_subpath(&root, "data/conf").unwrap().is_dir);
        assert!(!resolve_subpath(&root, "data/file").unwrap().is_dir);
        assert!(!resolve_subpath(&root, "inside/file").unwrap().is_dir);
        assert!(resolve_subpath(&root, "data/../data/conf").unwrap().is_dir);
        for bad in [
            "abs",
            "abs/passwd",
            "up",
            "up/etc",
            "..",
            "data/../..",
            "magic",
        ] {
            let err = resolve_subpath(&root, bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("subPath {bad:?} escapes the volume")
            );
        }
        assert!(resolve_subpath(&root, "/etc").is_err());
        assert!(resolve_subpath(&root, "").is_err());
    }

    #[test]
    fn missing_directories_are_created_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("vol");
        fs::create_dir(&root).unwrap();
        symlink("/tmp", root.join("abs")).unwrap();
        assert!(resolve_subpath(&root, "new/deeper").unwrap().is_dir);
        assert!(root.join("new/deeper").is_dir());
        // Creating through an escaping symlink is refused, and nothing appears outside.
        let marker = format!("kedge-subpath-{}", std::process::id());
        let err = resolve_subpath(&root, &format!("abs/{marker}")).unwrap_err();
        assert!(matches!(err, VolumeError::SubPathEscape { .. }), "{err}");
        assert!(!Path::new("/tmp").join(&marker).exists());
    }
}
