//! Removing images and collecting unreferenced content.
//!
//! Contract: images are deleted from the index first, then every blob and layer directory no
//! remaining image references is deleted (mark and sweep over the whole store, which also
//! removes leftovers of crashed imports). Images in the caller's `in_use` set (ids or any
//! reference resolving to them) are never deleted by `prune` or `gc`; `remove` is explicit and
//! does not check use.

use std::collections::HashSet;

use crate::error::ImageError;
use crate::index::Index;
use crate::reference::Reference;
use crate::store::{find, ImageStore};
use crate::sys;

/// What a [`ImageStore::gc`] run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcReport {
    /// Image ids deleted, in deletion order (least recently used first).
    pub deleted: Vec<String>,
    /// Disk usage of the store's filesystem before and after, in percent.
    pub usage_before_pct: f64,
    pub usage_after_pct: f64,
}

impl ImageStore {
    /// Removes `reference`: a tag of an image with other tags is only untagged; otherwise (or
    /// for an id) the image is deleted with all its tags. Returns the deleted image ids.
    pub fn remove(&self, reference: &str) -> Result<Vec<String>, ImageError> {
        self.collect(|idx| {
            let id = find(idx, reference)?;
            let tag = if reference.starts_with("sha256:") {
                None
            } else {
                Reference::parse(reference).ok().and_then(|r| r.tagged())
            };
            if let (Some(tag), Some(rec)) = (tag, idx.images.get_mut(&id)) {
                if rec.repo_tags.contains(&tag) && rec.repo_tags.len() > 1 {
                    rec.repo_tags.retain(|t| *t != tag);
                    return Ok(Vec::new());
                }
            }
            idx.images.remove(&id);
            Ok(vec![id])
        })
    }

    /// Deletes every image not in `in_use`. Returns the deleted image ids.
    pub fn prune(&self, in_use: &HashSet<String>) -> Result<Vec<String>, ImageError> {
        self.collect(|idx| {
            let keep = resolve_all(idx, in_use);
            let doomed: Vec<String> = idx
                .images
                .keys()
                .filter(|id| !keep.contains(*id))
                .cloned()
                .collect();
            for id in &doomed {
                idx.images.remove(id);
            }
            Ok(doomed)
        })
    }

    /// When the store's filesystem is at least `high_pct` full, deletes unused images, least
    /// recently used first, until usage drops below `low_pct` (kubelet image gc semantics).
    pub fn gc(
        &self,
        high_pct: u8,
        low_pct: u8,
        in_use: &HashSet<String>,
    ) -> Result<GcReport, ImageError> {
        let mut usage = |s: &ImageStore| {
            let (used, total) = sys::disk_usage(s.root())
                .map_err(|e| ImageError::io(format!("statvfs {}", s.root().display()), e))?;
            Ok(if total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / total as f64
            })
        };
        self.gc_with(high_pct, low_pct, in_use, &mut usage)
    }

    pub(crate) fn gc_with(
        &self,
        high_pct: u8,
        low_pct: u8,
        in_use: &HashSet<String>,
        usage: &mut dyn FnMut(&ImageStore) -> Result<f64, ImageError>,
    ) -> Result<GcReport, ImageError> {
        let before = usage(self)?;
        let mut report = GcReport {
            deleted: Vec::new(),
            usage_before_pct: before,
            usage_after_pct: before,
        };
        if before < f64::from(high_pct) {
            return Ok(report);
        }
        let _lock = self.lock()?;
        let mut idx = Index::load(&self.index_path())?;
        let keep = resolve_all(&idx, in_use);
        let mut order: Vec<(u64, u64, String)> = idx
            .images
            .values()
            .filter(|r| !keep.contains(&r.id))
            .map(|r| (r.last_used_unix, r.imported_unix, r.id.clone()))
            .collect();
        order.sort();
        for (_, _, id) in order {
            idx.images.remove(&id);
            self.commit(idx.clone())?;
            self.sweep(&idx)?;
            report.deleted.push(id);
            report.usage_after_pct = usage(self)?;
            if report.usage_after_pct < f64::from(low_pct) {
                break;
            }
        }
        Ok(report)
    }

    /// Applies `f` to the index under the lock, writes it, then sweeps unreferenced content.
    fn collect<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, ImageError>,
    ) -> Result<T, ImageError> {
        self.mutate_then(f, |idx| self.sweep(idx))
    }

    /// Deletes blobs and layers `idx` does not reference, and import leftovers (lock held).
    fn sweep(&self, idx: &Index) -> Result<(), ImageError> {
        let mut blobs: HashSet<&str> = HashSet::new();
        let mut layers: HashSet<&str> = HashSet::new();
        for r in idx.images.values() {
            blobs.insert(&r.config_hex);
            if let Some(m) = &r.manifest_hex {
                blobs.insert(m);
            }
            for l in &r.layers {
                blobs.insert(&l.blob_hex);
                layers.insert(&l.diff_hex);
            }
        }
        self.clear_tmp();
        for (dir, live) in [(self.blobs_dir(), &blobs), (self.layers_dir(), &layers)] {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| ImageError::io(format!("list {}", dir.display()), e))?;
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if live.contains(name.as_str()) {
                    continue;
                }
                let p = e.path();
                let res = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                res.map_err(|e| ImageError::io(format!("remove {}", p.display()), e))?;
            }
        }
        Ok(())
    }
}

/// Image ids of every entry of `refs` that resolves in `idx`.
fn resolve_all(idx: &Index, refs: &HashSet<String>) -> HashSet<String> {
    refs.iter().filter_map(|r| find(idx, r).ok()).collect()
}
