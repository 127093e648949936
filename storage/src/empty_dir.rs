//! emptyDir volumes: a plain directory (mode 0777) on the node's disk, or with
//! `medium: Memory` a tmpfs (mode 1777) sized by `sizeLimit` (kernel default otherwise).
//! `usage` measures what a volume holds so the kubelet can enforce `sizeLimit` and evict.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

use crate::quantity::Quantity;
use crate::VolumeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Medium {
    #[default]
    Disk,
    Memory,
}

/// A parsed `volume.emptyDir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmptyDirSpec {
    pub medium: Medium,
    /// `sizeLimit` in bytes.
    pub size_limit: Option<u64>,
}

impl EmptyDirSpec {
    pub fn from_json(source: &Value) -> Result<EmptyDirSpec, VolumeError> {
        let medium = match source
            .get("medium")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "" => Medium::Disk,
            "Memory" => Medium::Memory,
            other => {
                return Err(VolumeError::InvalidSource(format!(
                    "unsupported emptyDir medium {other:?}"
                )))
            }
        };
        let size_limit = match source.get("sizeLimit").filter(|v| !v.is_null()) {
            Some(q) => Some(Quantity::from_json(q)?.value().max(0) as u64),
            None => None,
        };
        Ok(EmptyDirSpec { medium, size_limit })
    }
}

/// Bytes allocated by everything under `dir` (like `du -s --bytes` of allocated blocks), not
/// following symlinks and counting hard-linked files once. Unreadable entries count as zero:
/// this is a measurement for eviction, not an inventory.
pub fn usage(dir: &Path) -> u64 {
    fn walk(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return 0;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            return 0;
        }
        let mut total = meta.blocks() * 512;
        if meta.is_dir() {
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                total += walk(&entry.path(), seen);
            }
        }
        total
    }
    walk(dir, &mut HashSet::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_medium_and_size_limit() {
        assert_eq!(
            EmptyDirSpec::from_json(&json!({})).unwrap(),
            EmptyDirSpec::default()
        );
        let s = EmptyDirSpec::from_json(&json!({"medium": "Memory", "sizeLimit": "64Mi"})).unwrap();
        assert_eq!(
            s,
            EmptyDirSpec {
                medium: Medium::Memory,
                size_limit: Some(64 << 20)
            }
        );
        assert!(EmptyDirSpec::from_json(&json!({"medium": "HugePages"})).is_err());
    }

    #[test]
    fn usage_counts_allocated_bytes() {
        let t = tempfile::tempdir().unwrap();
        let empty = usage(t.path());
        fs::create_dir(t.path().join("d")).unwrap();
        fs::write(t.path().join("d/big"), vec![7u8; 1 << 20]).unwrap();
        fs::hard_link(t.path().join("d/big"), t.path().join("d/link")).unwrap();
        let used = usage(t.path()) - empty;
        assert!((1 << 20..3 << 20).contains(&used), "{used}");
        assert_eq!(usage(&t.path().join("missing")), 0);
    }
}
