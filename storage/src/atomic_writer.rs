//! The kubelet's atomic writer for configMap, secret, downwardAPI and projected volumes.
//!
//! Layout of a target directory:
//! ```text
//! ..2026_11_22_03_40_00.123456789/   the current payload (a fresh directory per write)
//! ..data -> ..2026_11_22_03_40_00.123456789
//! key    -> ..data/key               one symlink per top-level payload entry
//! dir    -> ..data/dir               (nested paths: the top-level directory is linked)
//! ```
//! A write never modifies the files a reader may have open: it fills a new timestamped
//! directory, then switches `..data` with a symlink + rename(2), which is atomic, so a reader
//! sees either the old or the new payload in full. Afterwards stale top-level links and the old
//! timestamped directory are removed. Writing an identical payload changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ownership;
use crate::payload::{clean_path, FileProjection, Payload};
use crate::VolumeError;

const DATA_DIR: &str = "..data";
const DATA_TMP: &str = "..data_tmp";
const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 255;

/// Writes `payload` into `target` (which must exist). `fs_group` applies the kubelet's
/// read-only fsGroup ownership to the new files before they become visible. Returns whether
/// anything was written (false when the content, modes and file set are unchanged).
pub fn write_payload(
    target: &Path,
    payload: &Payload,
    fs_group: Option<u32>,
) -> Result<bool, VolumeError> {
    let payload = validate(payload)?;
    let expected: BTreeMap<&str, (&[u8], u32)> = payload
        .iter()
        .map(|(p, f)| {
            let mode = f.mode & 0o7777;
            let mode = if fs_group.is_some() {
                ownership::file_mode_with_group(mode, true)
            } else {
                mode
            };
            (p.as_str(), (f.data.as_slice(), mode))
        })
        .collect();

    let old_ts = fs::read_link(target.join(DATA_DIR)).ok();
    // A dangling `..data` (its directory removed by hand) counts as no payload at all.
    let old_files = old_ts
        .as_ref()
        .and_then(|ts| current_files(&target.join(ts)).ok());
    let unchanged = old_files.is_some();
    let old_files = old_files.unwrap_or_default();
    let unchanged = unchanged
        && old_files.len() == expected.len()
        && expected.iter().all(|(p, (data, mode))| {
            old_files.get(*p).is_some_and(|(old_mode, old_path)| {
                old_mode == mode && fs::read(old_path).is_ok_and(|d| d == *data)
            })
        });
    if !unchanged {
        let ts_dir = new_timestamp_dir(target)?;
        write_tree(&ts_dir, &payload)?;
        if let Some(gid) = fs_group {
            ownership::apply_fs_group(&ts_dir, gid, true)
                .map_err(VolumeError::io("set fsGroup on", &ts_dir))?;
            // The kubelet keeps the timestamped directory itself world-searchable.
            fs::set_permissions(&ts_dir, fs::Permissions::from_mode(0o2755))
                .map_err(VolumeError::io("chmod", &ts_dir))?;
        }
        let ts_name = ts_dir.file_name().expect("timestamp dir has a name");
        let tmp = target.join(DATA_TMP);
        remove_if_exists(&tmp)?;
        std::os::unix::fs::symlink(ts_name, &tmp).map_err(VolumeError::io("symlink", &tmp))?;
        fs::rename(&tmp, target.join(DATA_DIR)).map_err(VolumeError::io("rename", &tmp))?;
    }

    let new_top: BTreeSet<&str> = payload.keys().map(|p| top_level(p)).collect();
    for name in &new_top {
        let link = target.join(name);
        let want = Path::new(DATA_DIR).join(name);
        if fs::read_link(&link).ok().as_deref() != Some(want.as_path()) {
            remove_if_exists(&link)?;
            std::os::unix::fs::symlink(&want, &link).map_err(VolumeError::io("symlink", &link))?;
        }
    }
    if !unchanged {
        for old in old_files
            .keys()
            .map(|p| top_level(p))
            .collect::<BTreeSet<_>>()
        {
            if !new_top.contains(old) {
                remove_if_exists(&target.join(old))?;
            }
        }
        // Also drops directories left over by an interrupted earlier write.
        let current = fs::read_link(target.join(DATA_DIR)).ok();
        for entry in fs::read_dir(target).map_err(VolumeError::io("read", target))? {
            let entry = entry.map_err(VolumeError::io("read", target))?;
            let name = entry.file_name();
            let is_ts = name
                .to_str()
                .is_some_and(|n| n.starts_with("..") && n != DATA_DIR && n != DATA_TMP);
            if is_ts && current.as_deref() != Some(Path::new(&name)) {
                remove_if_exists(&entry.path())?;
            }
        }
    }
    Ok(!unchanged)
}

/// Cleans and validates payload paths as the kubelet does: relative, no `..` component, not
/// starting with `..`, bounded lengths, and no path that is both a file and a directory.
fn validate(payload: &Payload) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let invalid = |path: &str, why| {
        Err(VolumeError::InvalidPath {
            path: path.to_string(),
            why,
        })
    };
    let mut out = BTreeMap::new();
    for (raw, file) in payload {
        let path = clean_path(raw);
        if path.is_empty() {
            return invalid(raw, "must not be empty");
        }
        if path.starts_with('/') {
            return invalid(raw, "must be relative path");
        }
        if path.len() > MAX_PATH {
            return invalid(raw, "must be less than or equal to 4096 characters");
        }
        for item in path.split('/') {
            if item == ".." {
                return invalid(raw, "must not contain '..'");
            }
            if item.len() > MAX_NAME {
                return invalid(
                    raw,
                    "file names must be less than or equal to 255 characters",
                );
            }
        }
        if path.starts_with("..") {
            return invalid(raw, "must not start with '..'");
        }
        out.insert(path, file.clone());
    }
    for path in out.keys() {
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() && out.contains_key(&prefix) {
                return invalid(path, "a parent path is also a file");
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
        }
    }
    Ok(out)
}

fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// Relative path → (mode, absolute path) of every regular file under `dir`.
fn current_files(dir: &Path) -> io::Result<BTreeMap<String, (u32, PathBuf)>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, (u32, PathBuf)>) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(&entry.path(), &rel, out)?;
            } else {
                out.insert(rel, (meta.permissions().mode() & 0o7777, entry.path()));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

fn write_tree(dir: &Path, payload: &BTreeMap<String, FileProjection>) -> Result<(), VolumeError> {
    for (rel, file) in payload {
        let path = dir.join(rel);
        if let Some(parent) = path.parent().filter(|p| *p != dir) {
            fs::create_dir_all(parent).map_err(VolumeError::io("create directory", parent))?;
            // Make every directory on the way searchable regardless of the umask.
            let mut d = parent;
            while d != dir {
                fs::set_permissions(d, fs::Permissions::from_mode(0o755))
                    .map_err(VolumeError::io("chmod", d))?;
                d = d.parent().unwrap_or(dir);
            }
        }
        fs::write(&path, &file.data).map_err(VolumeError::io("write", &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode & 0o7777))
            .map_err(VolumeError::io("chmod", &path))?;
    }
    Ok(())
}

/// Creates `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` (UTC) with mode 0755 inside `target`.
fn new_timestamp_dir(target: &Path) -> Result<PathBuf, VolumeError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (mut secs, mut nanos) = (now.as_secs(), now.subsec_nanos());
    loop {
        let dir = target.join(timestamp_name(secs, nanos));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                    .map_err(VolumeError::io("chmod", &dir))?;
                return Ok(dir);
            }
            // Two writes within one clock tick: take the next nanosecond.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                nanos += 1;
                if nanos == 1_000_000_000 {
                    (secs, nanos) = (secs + 1, 0);
                }
            }
            Err(e) => return Err(VolumeError::io("create directory", dir)(e)),
        }
    }
}

fn timestamp_name(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "..{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}.{nanos:09}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn remove_if_exists(path: &Path) -> Result<(), VolumeError> {
    let res = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    res.map_err(VolumeError::io("remove", path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn payload(entries: &[(&str, &str, u32)]) -> Payload {
        entries
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    fn ts_dirs(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..2"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn first_write_creates_layout() {
        let t = tempfile::tempdir().unwrap();
        let p = payload(&[
            ("a", "1", 0o644),
            ("dir/b", "2", 0o600),
            ("dir/sub/c", "3", 0o644),
        ]);
        assert!(write_payload(t.path(), &p, None).unwrap());
        let data = fs::read_link(t.path().join("..data")).unwrap();
        assert_eq!(ts_dirs(t.path()), vec![data.to_string_lossy().into_owned()]);
        assert_eq!(
            fs::read_link(t.path().join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            fs::read_link(t.path().join("dir")).unwrap(),
            Path::new("..data/dir")
        );
        assert_eq!(fs::read_to_string(t.path().join("dir/sub/c")).unwrap(), "3");
        let meta = fs::metadata(t.path().join("dir/b")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert!(!t.path().join("..data_tmp").exists());
        let name = data.to_string_lossy();
        assert_eq!(
            name.len(),
            "..2026_11_22_03_40_00.123456789".len(),
            "{name}"
        );
    }

    #[test]
    fn unchanged_payload_is_not_rewritten() {
        let t = tempfile::tempdir().unwrap();
        let p = payload(&[("a", "1", 0o644)]);
        assert!(write_payload(t.path(), &p, None).unwrap());
        let before = fs::read_link(t.path().join("..data")).unwrap();
        assert!(!write_payload(t.path(), &p, None).unwrap());
        assert_eq!(fs::read_link(t.path().join("..data")).unwrap(), before);
        // A mode change alone is a change.
        assert!(write_payload(t.path(), &payload(&[("a", "1", 0o600)]), None).unwrap());
    }

    #[test]
    fn update_swaps_data_and_removes_stale_entries() {
        let t = tempfile::tempdir().unwrap();
        write_payload(
            t.path(),
            &payload(&[("a", "1", 0o644), ("old", "x", 0o644), ("d/e", "y", 0o644)]),
            None,
        )
        .unwrap();
        let first = fs::read_link(t.path().join("..data")).unwrap();
        assert!(write_payload(
            t.path(),
            &payload(&[("a", "2", 0o644), ("new", "z", 0o644)]),
            None
        )
        .unwrap());
        let second = fs::read_link(t.path().join("..data")).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            ts_dirs(t.path()),
            vec![second.to_string_lossy().into_owned()]
        );
        assert_eq!(fs::read_to_string(t.path().join("a")).unwrap(), "2");
        assert_eq!(fs::read_to_string(t.path().join("new")).unwrap(), "z");
        assert!(fs::symlink_metadata(t.path().join("old")).is_err());
        assert!(fs::symlink_metadata(t.path().join("d")).is_err());
        // An empty payload (optional source gone) leaves only `..data` and its empty dir.
        assert!(write_payload(t.path(), &Payload::new(), None).unwrap());
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn invalid_paths_are_rejected() {
        let t = tempfile::tempdir().unwrap();
        for bad in ["/abs", "../x", "a/../../x", "..hidden", "", "a/b/.."] {
            let err = write_payload(t.path(), &payload(&[(bad, "1", 0o644)]), None);
            assert!(err.is_err(), "{bad:?} accepted");
        }
        let clash = payload(&[("a", "1", 0o644), ("a/b", "2", 0o644)]);
        assert!(write_payload(t.path(), &clash, None).is_err());
        assert!(write_payload(t.path(), &payload(&[("./ok//x", "1", 0o644)]), None).unwrap());
        assert_eq!(fs::read_to_string(t.path().join("ok/x")).unwrap(), "1");
    }

    #[test]
    fn fs_group_adds_group_read() {
        let t = tempfile::tempdir().unwrap();
        let gid = fs::metadata(t.path()).unwrap().gid();
        let p = payload(&[("a", "1", 0o600)]);
        assert!(write_payload(t.path(), &p, Some(gid)).unwrap());
        let meta = fs::metadata(t.path().join("a")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert!(!write_payload(t.path(), &p, Some(gid)).unwrap());
    }

    #[test]
    fn timestamp_names_are_utc_dates() {
        assert_eq!(timestamp_name(0, 5), "..1970_01_01_00_00_00.000000005");
        assert_eq!(
            timestamp_name(1_795_318_800, 123_456_789),
            "..2026_11_22_03_40_00.123456789"
        );
    }
}
