//! Tests that mount: they need root (CAP_SYS_ADMIN) and run in a private mount namespace so
//! nothing they mount is visible to, or left behind on, the host. Each test re-executes the
//! test binary under `unshare --mount --propagation private` with only itself selected; the
//! child sees `KEDGE_STORAGE_MOUNT_NS` and runs the body. Without root they print SKIPPED,
//! unless the CI variable is set, in which case they fail.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::mountinfo::mounts_under;
use crate::{sys, FileProjection, Payload, Plugin, VolumeError, VolumeHost};

const CHILD_ENV: &str = "KEDGE_STORAGE_MOUNT_NS";

/// True when the caller should run the test body (we are the re-executed child).
fn in_private_mount_ns(test: &str) -> bool {
    if std::env::var_os(CHILD_ENV).is_some() {
        return true;
    }
    let why = if !sys::is_root() {
        Some("needs root (CAP_SYS_ADMIN) for mounts")
    } else if Command::new("unshare").arg("--version").output().is_err() {
        Some("needs the unshare(1) binary to enter a private mount namespace")
    } else {
        None
    };
    if let Some(why) = why {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {why} (CI is set: must run)"
        );
        eprintln!("SKIPPED: {test}: {why}");
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .status()
        .expect("run unshare");
    assert!(
        status.success(),
        "{test} failed in its mount namespace: {status}"
    );
    false
}

fn host() -> (tempfile::TempDir, VolumeHost) {
    let t = tempfile::tempdir().unwrap();
    let h = VolumeHost::new(t.path().join("pods"));
    (t, h)
}

/// Filesystem type mounted exactly at `path`, per the mount table.
fn fs_type_at(path: &Path) -> Option<String> {
    let path = fs::canonicalize(path).ok()?;
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap();
    table.lines().rev().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (Path::new(left.split(' ').nth(4)?) == path)
            .then(|| right.split(' ').next().unwrap().to_string())
    })
}

fn mounts_below(h: &VolumeHost, uid: &str) -> Vec<PathBuf> {
    let dir = fs::canonicalize(h.pod_dir(uid)).unwrap_or(h.pod_dir(uid));
    mounts_under(Path::new("/proc/self/mountinfo"), &dir).unwrap()
}

#[test]
fn tmpfs_empty_dir_honours_size_limit() {
    if !in_private_mount_ns("root_tests::tmpfs_empty_dir_honours_size_limit") {
        return;
    }
    let (_t, h) = host();
    let src = json!({"medium": "Memory", "sizeLimit": "1Mi"});
    let dir = h.setup_empty_dir("u1", "mem", &src, None).unwrap();
    assert_eq!(fs_type_at(&dir).as_deref(), Some("tmpfs"));
    // Setting up again (kubelet resync) does not stack a second tmpfs.
    h.setup_empty_dir("u1", "mem", &src, None).unwrap();
    assert_eq!(mounts_below(&h, "u1").len(), 1);

    fs::write(dir.join("half"), vec![1u8; 512 << 10]).unwrap();
    let used = crate::usage(&dir);
    assert!((512 << 10..1 << 20).contains(&used), "usage {used}");
    let mut f = fs::File::create(dir.join("too-much")).unwrap();
    let err = f.write_all(&vec![2u8; 1 << 20]).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::NOSPC.raw_os_error())
    );

    h.teardown_pod("u1").unwrap();
    assert!(mounts_below(&h, "u1").is_empty());
    assert!(!h.pod_dir("u1").exists());
}

#[test]
fn secret_is_on_tmpfs_and_configmap_on_disk() {
    if !in_private_mount_ns("root_tests::secret_is_on_tmpfs_and_configmap_on_disk") {
        return;
    }
    let (_t, h) = host();
    let file = |d: &str| FileProjection {
        data: d.as_bytes().to_vec(),
        mode: 0o400,
    };
    let payload: Payload = [("password".to_string(), file("hunter2"))].into();
    let s = h
        .setup_projection("u1", Plugin::Secret, "creds", &payload, Some(1234))
        .unwrap();
    assert!(s.changed);
    assert_eq!(fs_type_at(&s.path).as_deref(), Some("tmpfs"));
    assert_eq!(
        fs::read_to_string(s.path.join("password")).unwrap(),
        "hunter2"
    );
    let updated: Payload = [("password".to_string(), file("swordfish"))].into();
    assert!(
        h.setup_projection("u1", Plugin::Secret, "creds", &updated, Some(1234))
            .unwrap()
            .changed
    );
    assert_eq!(
        fs::read_to_string(s.path.join("password")).unwrap(),
        "swordfish"
    );
    assert_eq!(mounts_below(&h, "u1").len(), 1);

    let c = h
        .setup_projection("u1", Plugin::ConfigMap, "cfg", &payload, None)
        .unwrap();
    assert_eq!(fs_type_at(&c.path), None);

    h.teardown_volume("u1", Plugin::Secret, "creds").unwrap();
    assert!(mounts_below(&h, "u1").is_empty());
    h.teardown_pod("u1").unwrap();
    assert!(!h.pod_dir("u1").exists());
}

#[test]
fn subpath_escapes_are_refused_and_inside_links_work() {
    if !in_private_mount_ns("root_tests::subpath_escapes_are_refused_and_inside_links_work") {
        return;
    }
    let (_t, h) = host();
    let vol = h.setup_empty_dir("u1", "data", &json!({}), None).unwrap();
    fs::create_dir_all(vol.join("real/conf")).unwrap();
    fs::write(vol.join("real/conf/app.ini"), "x=1").unwrap();
    std::os::unix::fs::symlink("/etc", vol.join("link")).unwrap();
    std::os::unix::fs::symlink("../../..", vol.join("up")).unwrap();
    std::os::unix::fs::symlink("real/conf", vol.join("inside")).unwrap();

    for (i, bad) in ["link", "link/passwd", "up", "up/etc"].iter().enumerate() {
        let err = h
            .mount_subpath("u1", "data", &vol, bad, "app", i)
            .unwrap_err();
        assert!(
            matches!(err, VolumeError::SubPathEscape { .. }),
            "{bad}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!("subPath {bad:?} escapes the volume")
        );
    }
    assert!(mounts_below(&h, "u1").is_empty());

    let dir = h
        .mount_subpath("u1", "data", &vol, "inside", "app", 10)
        .unwrap();
    assert_eq!(fs::read_to_string(dir.join("app.ini")).unwrap(), "x=1");
    let file = h
        .mount_subpath("u1", "data", &vol, "inside/app.ini", "app", 11)
        .unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), "x=1");
    // The bind pins the inode resolved at mount time: replacing the link afterwards with an
    // escaping one does not redirect the mount.
    fs::remove_file(vol.join("inside")).unwrap();
    std::os::unix::fs::symlink("/etc", vol.join("inside")).unwrap();
    assert_eq!(fs::read_to_string(dir.join("app.ini")).unwrap(), "x=1");
    // Idempotent: an existing bind is reused.
    assert_eq!(
        h.mount_subpath("u1", "data", &vol, "inside", "app", 10)
            .unwrap(),
        dir
    );
    assert_eq!(mounts_below(&h, "u1").len(), 2);

    h.teardown_pod("u1").unwrap();
    assert!(mounts_below(&h, "u1").is_empty());
    assert!(Path::new("/etc/passwd").exists());
}

#[test]
fn teardown_leaves_no_mounts_even_when_busy() {
    if !in_private_mount_ns("root_tests::teardown_leaves_no_mounts_even_when_busy") {
        return;
    }
    let (_t, h) = host();
    let mem = h
        .setup_empty_dir("u1", "mem", &json!({"medium": "Memory"}), Some(4321))
        .unwrap();
    fs::create_dir(mem.join("sub")).unwrap();
    fs::write(mem.join("sub/f"), "x").unwrap();
    let payload: Payload = [(
        "token".to_string(),
        FileProjection {
            data: b"t".to_vec(),
            mode: 0o644,
        },
    )]
    .into();
    h.setup_projection("u1", Plugin::Projected, "sa", &payload, None)
        .unwrap();
    h.mount_subpath("u1", "mem", &mem, "sub", "app", 0).unwrap();
    h.mount_subpath("u1", "mem", &mem, "sub/f", "side", 1)
        .unwrap();
    assert_eq!(mounts_below(&h, "u1").len(), 4);

    // An open file keeps the tmpfs busy: teardown must detach it rather than fail.
    let _busy = fs::File::open(mem.join("sub/f")).unwrap();
    let _cwd_like = fs::File::open(mem.join("sub")).unwrap();
    h.teardown_pod("u1").unwrap();
    assert!(mounts_below(&h, "u1").is_empty());
    assert!(!h.pod_dir("u1").exists());
    h.teardown_pod("u1").unwrap();
}
