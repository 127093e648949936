//! Store-level tests: archives are built in the test with [`crate::testimage`].

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::ImageError;
use crate::index::{ImageRecord, Index};
use crate::store::{find, ImageStore};
use crate::testimage::{self, LayerBuilder, Malicious};

fn store(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("images")).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Blobs, layers and temp files of the store, for "nothing left behind" checks.
fn content(s: &ImageStore) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        names(&s.root().join("blobs/sha256")),
        names(&s.root().join("layers")),
        names(&s.root().join("tmp")),
    )
}

fn small_layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut l = LayerBuilder::new();
    for (p, data) in files {
        l.file(p, data.as_bytes(), 0o644).unwrap();
    }
    l.finish().unwrap()
}

fn docker_archive(dir: &Path, file: &str, tags: &[&str], layers: &[Vec<u8>]) -> PathBuf {
    let path = dir.join(file);
    testimage::write_docker_archive(&path, tags, layers, json!({"Cmd": ["true"]})).unwrap();
    path
}

/// A store with one docker-save image tagged `busybox:latest` and `me/app:v1`.
fn two_tag_image(dir: &Path, layers: &[Vec<u8>]) -> (ImageStore, PathBuf, Vec<crate::ImageRef>) {
    let tags = ["busybox:latest", "me/app:v1"];
    let archive = docker_archive(dir, "d.tar", &tags, layers);
    let s = store(dir);
    let refs = s.import(&archive).unwrap();
    (s, archive, refs)
}

fn require_root(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} needs root and CI is set");
    }
    println!("SKIPPED: {what} needs root (CAP_MKNOD, trusted.* xattrs)");
    false
}

#[test]
fn imports_oci_busybox_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("bb.tar");
    let extra = [("/var/www/index.html", b"hello\n".to_vec(), 0o640)];
    testimage::busybox_oci_archive(&archive, "kedge.test/busybox:1", &extra).unwrap();
    let s = store(tmp.path());
    let refs = s.import(&archive).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].repo_tags, vec!["kedge.test/busybox:1"]);

    let img = s.resolve("kedge.test/busybox:1").unwrap();
    assert_eq!(img.id, refs[0].id);
    assert_eq!(img.config.cmd, vec!["sh"]);
    assert_eq!(img.config.env, vec![testimage::DEFAULT_PATH]);
    assert!(img
        .repo_digest
        .unwrap()
        .starts_with("kedge.test/busybox@sha256:"));
    assert_eq!(
        img.layers.len(),
        2,
        "busybox base + extra files, bottom first"
    );
    let base = &img.layers[0];
    let bb = std::fs::metadata(base.join("bin/busybox")).unwrap();
    assert_eq!(bb.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::read_link(base.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let tmpdir = std::fs::symlink_metadata(base.join("tmp")).unwrap();
    assert_eq!(tmpdir.permissions().mode() & 0o7777, 0o1777);
    let passwd = std::fs::read_to_string(base.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nobody:x:65534:65534"));
    assert_eq!(bb.mtime(), 1_700_000_000);
    let page = img.layers[1].join("var/www/index.html");
    assert_eq!(std::fs::read(&page).unwrap(), b"hello\n");
    assert_eq!(
        std::fs::metadata(&page).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(img.size > bb.len());

    // Every docker spelling of the id resolves.
    let hex = img.id.strip_prefix("sha256:").unwrap();
    for r in [img.id.as_str(), hex, &hex[..12], &img.id[..19]] {
        assert_eq!(s.resolve(r).unwrap().id, img.id, "{r}");
    }
    assert!(s.resolve("kedge.test/busybox:2").is_none());
    assert_eq!(s.list().len(), 1);
    // A second store instance (another process) sees the same index.
    assert_eq!(
        store(tmp.path()).resolve("kedge.test/busybox:1").unwrap(),
        s.resolve(hex).unwrap()
    );
}

#[test]
fn imports_docker_save_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [
        small_layer(&[("etc/os-release", "ID=test\n")]),
        small_layer(&[("app/run", "#!/bin/sh\n")]),
    ];
    let (s, archive, refs) = two_tag_image(tmp.path(), &layers);
    assert_eq!(refs.len(), 1);
    let id = &refs[0].id;
    for r in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "me/app:v1",
    ] {
        assert_eq!(&s.resolve(r).unwrap().id, id, "{r}");
    }
    let img = s.resolve("busybox").unwrap();
    assert_eq!(img.repo_digest, None);
    assert_eq!(img.config.cmd, vec!["true"]);
    assert!(img.layers[0].join("etc/os-release").is_file());
    assert!(img.layers[1].join("app/run").is_file());
    // Importing again is idempotent.
    assert_eq!(s.import(&archive).unwrap(), refs);
    assert_eq!(s.list().len(), 1);
}

#[test]
fn shares_common_layers_between_images() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.tar");
    let b = tmp.path().join("b.tar");
    testimage::busybox_oci_archive(&a, "kedge.test/a:1", &[("/a", b"a".to_vec(), 0o644)]).unwrap();
    testimage::busybox_oci_archive(&b, "kedge.test/b:1", &[("/b", b"b".to_vec(), 0o644)]).unwrap();
    let s = store(tmp.path());
    s.import(&a).unwrap();
    let ia = s.resolve("kedge.test/a:1").unwrap();
    let inode = std::fs::metadata(ia.layers[0].join("bin/busybox"))
        .unwrap()
        .ino();
    s.import(&b).unwrap();
    let ib = s.resolve("kedge.test/b:1").unwrap();
    assert_ne!(ia.id, ib.id);
    assert_eq!(ia.layers[0], ib.layers[0], "base layer shared");
    assert_ne!(ia.layers[1], ib.layers[1]);
    let again = std::fs::metadata(ib.layers[0].join("bin/busybox"))
        .unwrap()
        .ino();
    assert_eq!(inode, again, "base layer unpacked once");
    let (_, layers, tmp_left) = content(&s);
    assert_eq!(layers.len(), 3);
    assert!(tmp_left.is_empty());

    // Removing one image keeps the shared layer.
    s.remove("kedge.test/a:1").unwrap();
    assert!(ib.layers[0].join("bin/busybox").is_file());
    assert!(!ia.layers[1].exists());
    assert_eq!(content(&s).1.len(), 2);
}

#[test]
fn converts_whiteouts_and_opaque_dirs() {
    if !require_root("whiteout conversion") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lower = small_layer(&[("a/keep", "k"), ("a/gone", "g"), ("o/old", "o")]);
    let mut upper = LayerBuilder::new();
    upper
        .dir("a", 0o755)
        .unwrap()
        .file("a/.wh.gone", b"", 0o644)
        .unwrap()
        .dir("o", 0o750)
        .unwrap()
        .file("o/.wh..wh..opq", b"", 0o644)
        .unwrap()
        .file("o/new", b"n", 0o644)
        .unwrap()
        .file(".wh..wh.plnk", b"", 0o644)
        .unwrap()
        .node("dev/null", tar::EntryType::Char, 1, 3)
        .unwrap()
        .node("run/fifo", tar::EntryType::Fifo, 0, 0)
        .unwrap();
    let archive = tmp.path().join("w.tar");
    let layers = [lower, upper.finish().unwrap()];
    testimage::write_oci_archive(&archive, Some("kedge.test/wh:1"), &layers, json!({}), false)
        .unwrap();
    let s = store(tmp.path());
    s.import(&archive).unwrap();
    let img = s.resolve("kedge.test/wh:1").unwrap();
    let top = &img.layers[1];
    let wh = std::fs::symlink_metadata(top.join("a/gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!top.join("a/.wh.gone").exists());
    assert!(!top.join("o/.wh..wh..opq").exists());
    assert!(!top.join(".wh..wh.plnk").exists());
    let mut buf = [0u8; 8];
    let n = rustix::fs::lgetxattr(top.join("o"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert_eq!(
        std::fs::metadata(top.join("o"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o750
    );
    assert!(top.join("o/new").is_file());
    let null = std::fs::symlink_metadata(top.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o777, 0o666);
    assert!(std::fs::symlink_metadata(top.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(
        img.layers[0].join("a/gone").is_file(),
        "lower layer untouched"
    );
    overlay_hides_whiteouts(&img.layers, &tmp.path().join("mnt"));
}

/// Mounts the layers with the kernel's overlayfs in a private mount namespace (dies with the
/// `unshare` child, so nothing stays mounted) and lists what a container would see.
fn overlay_hides_whiteouts(layers: &[PathBuf], mnt: &Path) {
    std::fs::create_dir_all(mnt).unwrap();
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let script = format!(
        "mount -t overlay overlay -o lowerdir={} {} && cd {} && find . | sort",
        lower.join(":"),
        mnt.display(),
        mnt.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        other => {
            assert!(std::env::var_os("CI").is_none(), "overlay mount: {other:?}");
            println!("SKIPPED: overlay mount in a private namespace failed: {other:?}");
            return;
        }
    };
    let seen = String::from_utf8_lossy(&out.stdout);
    let seen: Vec<&str> = seen.lines().collect();
    assert!(
        seen.contains(&"./a/keep") && seen.contains(&"./o/new"),
        "{seen:?}"
    );
    assert!(
        !seen.contains(&"./a/gone"),
        "whiteout must hide a/gone: {seen:?}"
    );
    assert!(
        !seen.contains(&"./o/old"),
        "opaque dir must hide o/old: {seen:?}"
    );
}

#[test]
fn refuses_escaping_archives_leaving_nothing() {
    let cases = [
        (Malicious::DotDot, "../kedge-escape"),
        (Malicious::AbsSymlinkEscape, "evil/kedge-escape"),
        (Malicious::RelSymlinkEscape, "up"),
        (Malicious::HardlinkEscape, "hl"),
    ];
    for (kind, entry) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("m.tar");
        testimage::malicious_archive(&archive, kind).unwrap();
        let s = store(tmp.path());
        let err = s.import(&archive).unwrap_err();
        match &err {
            ImageError::UnsafeEntry { entry: e, .. } => assert_eq!(e, entry, "{kind:?}"),
            other => panic!("{kind:?}: unexpected error {other}"),
        }
        assert!(err.to_string().contains(entry));
        assert_eq!(
            content(&s),
            (vec![], vec![], vec![]),
            "{kind:?} left content"
        );
        assert!(s.list().is_empty());
        assert!(!Path::new("/etc/kedge-escape").exists());
        assert!(!s.root().join("tmp/kedge-escape").exists());
    }
}

#[test]
fn refuses_layer_with_wrong_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_layer(&[("x", "1")]);
    let evil = small_layer(&[("x", "2")]);
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", crate::digest::sha256_hex(&good))]},
    })
    .to_string();
    let cfg_hex = crate::digest::sha256_hex(config.as_bytes());
    let manifest = json!([{ "Config": format!("{cfg_hex}.json"), "RepoTags": ["x:1"], "Layers": ["l/layer.tar"] }]);
    let path = tmp.path().join("bad.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, data) in [
        (
            "manifest.json".to_string(),
            manifest.to_string().into_bytes(),
        ),
        (format!("{cfg_hex}.json"), config.into_bytes()),
        ("l/layer.tar".to_string(), evil),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let s = store(tmp.path());
    assert!(matches!(
        s.import(&path),
        Err(ImageError::DigestMismatch { .. })
    ));
    assert_eq!(content(&s), (vec![], vec![], vec![]));
}

#[test]
fn remove_untags_then_deletes_and_sweeps() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, _, refs) = two_tag_image(tmp.path(), &[small_layer(&[("f", "1")])]);
    let id = refs[0].id.clone();
    assert_eq!(s.remove("busybox").unwrap(), Vec::<String>::new());
    assert!(s.resolve("busybox").is_none());
    assert_eq!(s.resolve("me/app:v1").unwrap().id, id);
    assert_eq!(s.remove("me/app:v1").unwrap(), vec![id.clone()]);
    assert_eq!(content(&s), (vec![], vec![], vec![]));
    assert!(matches!(s.remove(&id), Err(ImageError::NotFound(_))));
}

#[test]
fn prune_keeps_images_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = small_layer(&[("base", "b")]);
    let a = docker_archive(
        tmp.path(),
        "a.tar",
        &["a:1"],
        &[shared.clone(), small_layer(&[("a", "a")])],
    );
    let b = docker_archive(
        tmp.path(),
        "b.tar",
        &["b:1"],
        &[shared, small_layer(&[("b", "b")])],
    );
    let s = store(tmp.path());
    s.import(&a).unwrap();
    s.import(&b).unwrap();
    // Leftovers of a crashed import are swept too.
    std::fs::create_dir_all(s.root().join("layers/deadbeef/fs")).unwrap();
    std::fs::write(s.root().join("tmp/junk"), b"x").unwrap();
    let keep: HashSet<String> = ["a:1".to_string()].into();
    let deleted = s.prune(&keep).unwrap();
    assert_eq!(deleted.len(), 1);
    assert!(s.resolve("a:1").is_some());
    assert!(s.resolve("b:1").is_none());
    let (blobs, layers, tmp_left) = content(&s);
    assert_eq!(layers.len(), 2, "shared + a's own layer: {layers:?}");
    assert_eq!(blobs.len(), 3, "config + 2 layer blobs: {blobs:?}");
    assert!(tmp_left.is_empty());
    for l in &s.resolve("a:1").unwrap().layers {
        assert!(l.is_dir());
    }
}

#[test]
fn gc_deletes_least_recently_used_until_below_low() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let layers = [small_layer(&[(name, name)])];
        let archive = docker_archive(
            tmp.path(),
            &format!("{name}.tar"),
            &[&format!("{name}:1")],
            &layers,
        );
        s.import(&archive).unwrap();
        s.touch_at(&format!("{name}:1"), 1000 + i as u64).unwrap();
    }
    let in_use: HashSet<String> = ["a:1".to_string()].into();
    // Fake disk: every image fills 25%.
    let mut usage = |st: &ImageStore| Ok(st.list().len() as f64 * 25.0);
    let idle = s.gc_with(101, 60, &in_use, &mut usage).unwrap();
    assert!(idle.deleted.is_empty());
    let report = s.gc_with(80, 60, &in_use, &mut usage).unwrap();
    let b = s.resolve_id("a:1").unwrap();
    assert_eq!(report.usage_before_pct, 100.0);
    assert_eq!(report.usage_after_pct, 50.0);
    assert_eq!(report.deleted.len(), 2);
    assert!(
        s.resolve("a:1").is_some(),
        "in use, although least recently used"
    );
    assert!(s.resolve("b:1").is_none() && s.resolve("c:1").is_none());
    assert!(s.resolve("d:1").is_some());
    assert!(!report.deleted.contains(&b));
    assert_eq!(content(&s).1.len(), 2);
    // The real statvfs path works on the test filesystem.
    s.gc(100, 0, &HashSet::new()).unwrap();
}

#[test]
fn import_dir_imports_changed_archives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    docker_archive(
        s.root(),
        "one.tar",
        &["one:1"],
        &[small_layer(&[("f", "1")])],
    );
    std::fs::write(s.root().join("broken.tar"), b"not a tar").unwrap();
    let first = s.import_dir().unwrap();
    assert_eq!(first.len(), 2);
    assert!(first
        .iter()
        .any(|d| d.archive.ends_with("one.tar") && d.result.is_ok()));
    assert!(first
        .iter()
        .any(|d| d.archive.ends_with("broken.tar") && d.result.is_err()));
    assert!(s.resolve("one:1").is_some());
    let second = s.import_dir().unwrap();
    assert_eq!(second.len(), 1, "only the failed archive is retried");
}

#[test]
fn finds_ids_by_unique_prefix() {
    let mut idx = Index::default();
    for hex in ["aaaa".repeat(16), format!("aaab{}", "0".repeat(60))] {
        let id = format!("sha256:{hex}");
        idx.images.insert(
            id.clone(),
            ImageRecord {
                id,
                repo_tags: vec![],
                repo_digests: vec![],
                manifest_hex: None,
                config_hex: hex,
                config: Default::default(),
                layers: vec![],
                size: 0,
                imported_unix: 0,
                last_used_unix: 0,
            },
        );
    }
    idx.tag(
        &format!("sha256:{}", "aaaa".repeat(16)),
        "docker.io/library/aaa:latest",
    );
    assert!(matches!(
        find(&idx, "sha256:aaa"),
        Err(ImageError::Ambiguous(_))
    ));
    assert!(find(&idx, "aaab").unwrap().starts_with("sha256:aaab"));
    // A name wins over an id prefix, like docker.
    assert!(find(&idx, "aaa").unwrap().starts_with("sha256:aaaa"));
    assert!(matches!(find(&idx, "ccc"), Err(ImageError::NotFound(_))));
    assert!(matches!(
        find(&idx, "Bad:Ref"),
        Err(ImageError::InvalidReference { .. })
    ));
}

#[test]
fn picks_host_platform_from_nested_index() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [small_layer(&[("hello", "world")])];
    let (host, mut blobs) = testimage::oci_image(&layers, json!({"Cmd": ["x"]}), true).unwrap();
    let foreign_arch = if crate::formats::host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    };
    // Descriptors for other platforms are skipped without their blobs being read.
    let foreign = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "0".repeat(64)), "size": 1,
        "platform": {"architecture": foreign_arch, "os": "linux"},
    });
    let nested = |manifests: Vec<serde_json::Value>| {
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": manifests})
        .to_string()
        .into_bytes()
    };
    let list = nested(vec![foreign.clone(), host]);
    let mut top = testimage::descriptor("application/vnd.oci.image.index.v1+json", &list);
    top["annotations"] = json!({"io.containerd.image.name": "docker.io/library/multi:2"});
    blobs.push(list);
    let archive = tmp.path().join("multi.tar");
    testimage::write_oci_layout(&archive, &[top], blobs).unwrap();
    let s = store(tmp.path());
    s.import(&archive).unwrap();
    let img = s.resolve("multi:2").unwrap();
    assert_eq!(img.config.cmd, vec!["x"]);
    assert!(img.layers[0].join("hello").is_file());

    let only_foreign = nested(vec![foreign]);
    let top = testimage::descriptor("application/vnd.oci.image.index.v1+json", &only_foreign);
    let archive = tmp.path().join("foreign.tar");
    testimage::write_oci_layout(&archive, &[top], vec![only_foreign]).unwrap();
    assert!(matches!(
        s.import(&archive),
        Err(ImageError::NoPlatform { .. })
    ));
}

#[test]
fn accepts_links_that_stay_inside_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = LayerBuilder::new();
    l.dir("usr/lib", 0o755)
        .unwrap()
        .symlink("lib", "usr/lib")
        .unwrap()
        .file("lib/libx.so", b"x", 0o644)
        .unwrap()
        .symlink("lib64", "/lib")
        .unwrap()
        .symlink("usr/lib/up", "../../etc")
        .unwrap()
        .hardlink("usr/lib/liby.so", "usr/lib/libx.so")
        .unwrap();
    let archive = tmp.path().join("links.tar");
    let layers = [l.finish().unwrap()];
    testimage::write_oci_archive(
        &archive,
        Some("kedge.test/links:1"),
        &layers,
        json!({}),
        true,
    )
    .unwrap();
    let s = store(tmp.path());
    s.import(&archive).unwrap();
    let root = &s.resolve("kedge.test/links:1").unwrap().layers[0];
    assert!(
        root.join("usr/lib/libx.so").is_file(),
        "written through lib -> usr/lib"
    );
    assert_eq!(
        std::fs::read_link(root.join("lib64")).unwrap(),
        Path::new("/lib")
    );
    let a = std::fs::metadata(root.join("usr/lib/libx.so")).unwrap();
    let b = std::fs::metadata(root.join("usr/lib/liby.so")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn leftovers_of_a_crashed_import_are_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = small_layer(&[("real", "1")]);
    let diff = crate::digest::sha256_hex(&layer);
    let archive = docker_archive(tmp.path(), "a.tar", &["a:1"], &[layer]);
    let s = store(tmp.path());
    // As if a crash hit between unpacking and the marker: a layer dir without `.complete`,
    // a half-written staging dir, no index entry.
    let stale = s.root().join("layers").join(&diff);
    std::fs::create_dir_all(stale.join("fs")).unwrap();
    std::fs::write(stale.join("fs/garbage"), b"x").unwrap();
    std::fs::create_dir_all(s.root().join("tmp/stage-crashed")).unwrap();
    assert!(s.resolve("a:1").is_none());
    s.import(&archive).unwrap();
    let img = s.resolve("a:1").unwrap();
    assert!(img.layers[0].join("real").is_file());
    assert!(
        !img.layers[0].join("garbage").exists(),
        "stale layer replaced"
    );
    assert!(content(&s).2.is_empty(), "tmp cleared");
}
