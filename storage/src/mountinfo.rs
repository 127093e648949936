//! Reading the mount table (`/proc/self/mountinfo`, a parameter) to find what is mounted under a
//! pod's directory. Only the mount point field matters here; octal escapes (`\040` for space)
//! are decoded because pod and volume names may contain characters the kernel escapes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Mount points listed in `mountinfo`, in table order (parents before the mounts on top of them).
pub fn mount_points(mountinfo: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(parse(&fs::read_to_string(mountinfo)?))
}

/// Mount points equal to or below `dir`, deepest and most recent first: the order in which
/// they can be unmounted.
pub fn mounts_under(mountinfo: &Path, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = mount_points(mountinfo)?
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect();
    // Stacked mounts on one point appear once per layer; the later entry is the top one.
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// Whether `path` is itself a mount point according to `mountinfo`.
pub fn is_mount_point(mountinfo: &Path, path: &Path) -> io::Result<bool> {
    Ok(mount_points(mountinfo)?.iter().any(|p| p == path))
}

fn parse(text: &str) -> Vec<PathBuf> {
    // Field 5 (index 4) is the mount point relative to the process root.
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:33 / /var/lib/kedge/agent/pods/u1/volumes/kubernetes.io~empty-dir/cache rw - tmpfs tmpfs rw
41 22 0:34 / /var/lib/kedge/agent/pods/u1/volumes/kubernetes.io~secret/my\\040secret rw - tmpfs tmpfs rw
42 40 0:35 / /var/lib/kedge/agent/pods/u1/volume-subpaths/v/c/0 rw - tmpfs tmpfs rw
43 22 0:36 / /var/lib/kedge/agent/pods/u10/volumes/x rw - tmpfs tmpfs rw
";

    #[test]
    fn lists_mounts_under_a_pod_deepest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mi = dir.path().join("mountinfo");
        fs::write(&mi, SAMPLE).unwrap();
        let got = mounts_under(&mi, Path::new("/var/lib/kedge/agent/pods/u1")).unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].ends_with("volume-subpaths/v/c/0"));
        assert!(got
            .iter()
            .any(|p| p.ends_with("kubernetes.io~secret/my secret")));
        assert!(!got
            .iter()
            .any(|p| p.starts_with("/var/lib/kedge/agent/pods/u10")));
        assert!(is_mount_point(&mi, Path::new("/")).unwrap());
    }
}
