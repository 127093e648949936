//! hostPath volumes: the `type` checks exactly as the kubelet runs them before a pod starts.
//! `""` checks nothing; `DirectoryOrCreate` creates the path with parents (0755);
//! `FileOrCreate` creates an empty file (0644) but never its parent directory; the other types
//! only check what exists (following symlinks). Messages are the kubelet's.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::VolumeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathType {
    Unset,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

impl HostPathType {
    pub fn parse(s: &str) -> Result<HostPathType, VolumeError> {
        Ok(match s {
            "" => HostPathType::Unset,
            "DirectoryOrCreate" => HostPathType::DirectoryOrCreate,
            "Directory" => HostPathType::Directory,
            "FileOrCreate" => HostPathType::FileOrCreate,
            "File" => HostPathType::File,
            "Socket" => HostPathType::Socket,
            "CharDevice" => HostPathType::CharDevice,
            "BlockDevice" => HostPathType::BlockDevice,
            other => return Err(VolumeError::InvalidHostPathType(other.to_string())),
        })
    }
}

/// Checks (and for the `*OrCreate` types creates) a hostPath volume from the pod's
/// `volume.hostPath` (`path`, `type`) and returns the path to bind-mount.
pub fn setup_host_path(source: &Value) -> Result<PathBuf, VolumeError> {
    let path = source
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| VolumeError::InvalidSource("hostPath without path".to_string()))?;
    let ty = HostPathType::parse(
        source
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    check_host_path(Path::new(path), ty)?;
    Ok(PathBuf::from(path))
}

/// Runs the kubelet's check for `ty` on `path`.
pub fn check_host_path(path: &Path, ty: HostPathType) -> Result<(), VolumeError> {
    let meta = fs::metadata(path).ok();
    let fail = |what| {
        Err(VolumeError::HostPathType {
            path: path.to_path_buf(),
            what,
        })
    };
    let ft = meta.as_ref().map(|m| m.file_type());
    match ty {
        HostPathType::Unset => Ok(()),
        HostPathType::DirectoryOrCreate if meta.is_none() => {
            fs::create_dir_all(path).map_err(VolumeError::io("create directory", path))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                .map_err(VolumeError::io("chmod", path))
        }
        HostPathType::DirectoryOrCreate | HostPathType::Directory => {
            if ft.is_some_and(|t| t.is_dir()) {
                Ok(())
            } else {
                fail("a directory")
            }
        }
        HostPathType::FileOrCreate if meta.is_none() => {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
            {
                Ok(_) => Ok(()),
                // Lost a race with someone creating it: fine if it is a file now.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    check_host_path(path, HostPathType::File)
                }
                Err(e) => Err(VolumeError::io("create file", path)(e)),
            }
        }
        HostPathType::FileOrCreate | HostPathType::File => {
            if ft.is_some_and(|t| t.is_file()) {
                Ok(())
            } else {
                fail("a file")
            }
        }
        HostPathType::Socket => {
            if ft.is_some_and(|t| t.is_socket()) {
                Ok(())
            } else {
                fail("a socket file")
            }
        }
        HostPathType::CharDevice => {
            if ft.is_some_and(|t| t.is_char_device()) {
                Ok(())
            } else {
                fail("a character device")
            }
        }
        HostPathType::BlockDevice => {
            if ft.is_some_and(|t| t.is_block_device()) {
                Ok(())
            } else {
                fail("a block device")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn type_checks_match_kubernetes() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        let file = t.path().join("f");
        fs::create_dir(&dir).unwrap();
        fs::write(&file, "").unwrap();
        let check = |p: &Path, ty| check_host_path(p, ty).map_err(|e| e.to_string());
        assert_eq!(check(&dir, HostPathType::Directory), Ok(()));
        assert_eq!(
            check(&file, HostPathType::Directory),
            Err(format!(
                "hostPath type check failed: {} is not a directory",
                file.display()
            ))
        );
        assert_eq!(check(&file, HostPathType::File), Ok(()));
        assert_eq!(
            check(&dir, HostPathType::File),
            Err(format!(
                "hostPath type check failed: {} is not a file",
                dir.display()
            ))
        );
        let missing = t.path().join("missing");
        assert!(check(&missing, HostPathType::Directory)
            .unwrap_err()
            .ends_with("is not a directory"));
        assert_eq!(check(&missing, HostPathType::Unset), Ok(()));
        assert_eq!(
            check(&file, HostPathType::Socket),
            Err(format!(
                "hostPath type check failed: {} is not a socket file",
                file.display()
            ))
        );
        assert!(check(&file, HostPathType::CharDevice)
            .unwrap_err()
            .ends_with("is not a character device"));
        assert!(check(&file, HostPathType::BlockDevice)
            .unwrap_err()
            .ends_with("is not a block device"));
        assert_eq!(
            check(Path::new("/dev/null"), HostPathType::CharDevice),
            Ok(())
        );
        let sock = t.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(check(&sock, HostPathType::Socket), Ok(()));
    }

    #[test]
    fn or_create_types_create_with_kubernetes_modes() {
        let t = tempfile::tempdir().unwrap();
        let nested = t.path().join("a/b/c");
        check_host_path(&nested, HostPathType::DirectoryOrCreate).unwrap();
        assert_eq!(
            fs::metadata(&nested).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let f = t.path().join("a/file");
        check_host_path(&f, HostPathType::FileOrCreate).unwrap();
        assert!(fs::metadata(&f).unwrap().is_file());
        // The parent of a FileOrCreate path is not created.
        let orphan = t.path().join("nope/file");
        assert!(check_host_path(&orphan, HostPathType::FileOrCreate).is_err());
        // An existing path of the wrong kind still fails.
        assert!(check_host_path(&f, HostPathType::DirectoryOrCreate).is_err());
        assert!(check_host_path(&nested, HostPathType::FileOrCreate).is_err());
    }

    #[test]
    fn setup_reads_the_volume_source() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x");
        let src = json!({"path": p, "type": "DirectoryOrCreate"});
        assert_eq!(setup_host_path(&src).unwrap(), p);
        assert_eq!(
            setup_host_path(&json!({"path": "/x", "type": "Bogus"}))
                .unwrap_err()
                .to_string(),
            "Bogus is an invalid volume type"
        );
    }
}
