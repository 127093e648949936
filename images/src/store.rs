//! The image store: opening, locking, the index cache, resolving, listing and recording use
//! of images (importing is in `import.rs`, removal and collection in `gc.rs`).
//!
//! Contract: an image becomes visible only when the index naming it is written, after its
//! blobs and layers are complete on disk (`syncfs` first), so a crash mid-import leaves at
//! worst unreferenced files under `tmp/`, `blobs/` or `layers/`, removed by the next import
//! (tmp) or collection (blobs, layers). Mutations take an in-process mutex plus an `flock` on
//! `<root>/lock`, so the agent and a `kedge images` command can share a store; readers use the
//! index as last read and re-read it when the file changed.
//!
//! Blocking: `import`, `import_dir`, `remove`, `prune`, `gc` and `touch` do file I/O and wait
//! for the store lock (an import holds it while unpacking): call them from a blocking thread
//! (`blocking::unblock`), not on the async executor. `resolve` and `list` only stat and, when
//! it changed, read the index.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::ImageConfig;
use crate::digest::is_lower_hex;
use crate::error::ImageError;
use crate::index::{ImageRecord, Index};
use crate::reference::Reference;
use crate::sys;

const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = "lock";

/// An image ready for the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:<config digest hex>`, as docker and the CRI report it.
    pub id: String,
    /// Normalized `name:tag` references.
    pub repo_tags: Vec<String>,
    /// `name@sha256:<manifest digest>` when the archive carried a manifest (OCI layout).
    pub repo_digest: Option<String>,
    pub config: ImageConfig,
    /// Unpacked layer directories, BOTTOM layer first: overlayfs `lowerdir` lists the top layer
    /// first, so the runtime must reverse this list.
    pub layers: Vec<PathBuf>,
    /// Sum of the uncompressed layer sizes in bytes.
    pub size: u64,
}

/// What one import produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub id: String,
    pub repo_tags: Vec<String>,
}

/// One line of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub imported_unix: u64,
    pub last_used_unix: u64,
}

/// The outcome of importing one archive found by [`ImageStore::import_dir`].
#[derive(Debug)]
pub struct DirImport {
    pub archive: PathBuf,
    pub result: Result<Vec<ImageRef>, ImageError>,
}

/// The content-addressed image store rooted at `<data>/agent/images`.
pub struct ImageStore {
    root: PathBuf,
    pub(crate) privileged: bool,
    /// Serializes mutations of this process (an `flock` does not exclude threads sharing it).
    write: Mutex<()>,
    cache: Mutex<Cached>,
}

struct Cached {
    /// `(inode, mtime ns, size)` of the index file when read.
    stamp: Option<(u64, i128, u64)>,
    index: Index,
}

/// Held while mutating the store.
pub(crate) struct StoreLock<'a> {
    _inner: MutexGuard<'a, ()>,
    _flock: OwnedFd,
}

pub(crate) fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for dir in [
            root.join("blobs/sha256"),
            root.join("layers"),
            root.join("tmp"),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ImageError::io(format!("create {}", dir.display()), e))?;
        }
        let store = ImageStore {
            root: root.to_path_buf(),
            privileged: sys::is_root(),
            write: Mutex::new(()),
            cache: Mutex::new(Cached {
                stamp: None,
                index: Index::default(),
            }),
        };
        store.reload()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub(crate) fn layer_fs(&self, diff_hex: &str) -> PathBuf {
        self.layers_dir().join(diff_hex).join("fs")
    }

    pub(crate) fn index_stamp(&self) -> Option<(u64, i128, u64)> {
        let m = std::fs::metadata(self.index_path()).ok()?;
        Some((m.ino(), mtime_ns(&m), m.len()))
    }

    fn reload(&self) -> Result<(), ImageError> {
        let stamp = self.index_stamp();
        let index = Index::load(&self.index_path())?;
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.stamp = stamp;
        c.index = index;
        Ok(())
    }

    /// The index as last written by anyone (re-read when the file changed).
    pub(crate) fn snapshot(&self) -> Index {
        let stamp = self.index_stamp();
        {
            let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.stamp == stamp {
                return c.index.clone();
            }
        }
        // A broken index must not hide the images we already know: keep the cached copy.
        let _ = self.reload();
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.index.clone()
    }

    pub(crate) fn lock(&self) -> Result<StoreLock<'_>, ImageError> {
        let inner = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join(LOCK_FILE);
        let flock = sys::lock_exclusive(&path)
            .map_err(|e| ImageError::io(format!("lock {}", path.display()), e))?;
        Ok(StoreLock {
            _inner: inner,
            _flock: flock,
        })
    }

    /// Writes `index` (the caller holds the lock) and makes it the cached copy.
    pub(crate) fn commit(&self, index: Index) -> Result<(), ImageError> {
        index.save(&self.index_path())?;
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.stamp = self.index_stamp();
        c.index = index;
        Ok(())
    }

    /// Runs `f` on the current index under the lock and writes the result.
    pub(crate) fn mutate<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, ImageError>,
    ) -> Result<T, ImageError> {
        self.mutate_then(f, |_| Ok(()))
    }

    /// Like [`mutate`](Self::mutate), then runs `after` on the written index, still locked.
    pub(crate) fn mutate_then<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, ImageError>,
        after: impl FnOnce(&Index) -> Result<(), ImageError>,
    ) -> Result<T, ImageError> {
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path())?;
        let out = f(&mut index)?;
        self.commit(index.clone())?;
        after(&index)?;
        Ok(out)
    }

    /// Removes leftovers of interrupted imports (the caller holds the lock).
    pub(crate) fn clear_tmp(&self) {
        if let Ok(entries) = std::fs::read_dir(self.tmp_dir()) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }

    /// Resolves a reference (`busybox`, `busybox:1`, `docker.io/library/busybox:latest`,
    /// `name@sha256:...`, `sha256:<id>`, a unique id prefix) to an image.
    pub fn resolve(&self, reference: &str) -> Option<Image> {
        let index = self.snapshot();
        let id = find(&index, reference).ok()?;
        Some(self.image_of(&index.images[&id]))
    }

    /// Like [`resolve`](Self::resolve) but returns the image id, distinguishing unknown,
    /// ambiguous and malformed references.
    pub fn resolve_id(&self, reference: &str) -> Result<String, ImageError> {
        find(&self.snapshot(), reference)
    }

    fn image_of(&self, r: &ImageRecord) -> Image {
        Image {
            id: r.id.clone(),
            repo_tags: r.repo_tags.clone(),
            repo_digest: r.repo_digests.first().cloned(),
            config: r.config.clone(),
            layers: r
                .layers
                .iter()
                .map(|l| self.layer_fs(&l.diff_hex))
                .collect(),
            size: r.size,
        }
    }

    /// All images, most recently imported first.
    pub fn list(&self) -> Vec<ImageSummary> {
        let mut out: Vec<ImageSummary> = self
            .snapshot()
            .images
            .into_values()
            .map(|r| ImageSummary {
                id: r.id,
                repo_tags: r.repo_tags,
                repo_digests: r.repo_digests,
                size: r.size,
                imported_unix: r.imported_unix,
                last_used_unix: r.last_used_unix,
            })
            .collect();
        out.sort_by(|a, b| b.imported_unix.cmp(&a.imported_unix).then(a.id.cmp(&b.id)));
        out
    }

    /// Records that image `reference` was used now (containers started from it), for `gc`.
    pub fn touch(&self, reference: &str) -> Result<(), ImageError> {
        self.touch_at(reference, now_unix())
    }

    pub(crate) fn touch_at(&self, reference: &str, unix: u64) -> Result<(), ImageError> {
        self.mutate(|idx| {
            let id = find(idx, reference)?;
            if let Some(r) = idx.images.get_mut(&id) {
                r.last_used_unix = unix;
            }
            Ok(())
        })
    }
}

/// Resolves `reference` in `index` to an image id, the way docker does: a `sha256:` id or id
/// prefix, then a (normalized) name, then a bare unique id prefix.
pub(crate) fn find(index: &Index, reference: &str) -> Result<String, ImageError> {
    let s = reference.trim();
    if let Some(hex) = s.strip_prefix("sha256:") {
        return by_id_prefix(index, hex, s);
    }
    match Reference::parse(s) {
        Ok(r) => {
            let found = match r.digested() {
                Some(d) => index
                    .images
                    .values()
                    .find(|i| i.repo_digests.contains(&d))
                    .map(|i| i.id.clone()),
                None => r
                    .tagged()
                    .and_then(|t| index.by_tag(&t).map(str::to_string)),
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        Err(e) if !is_lower_hex(s) => return Err(e),
        Err(_) => {}
    }
    if is_lower_hex(s) {
        return by_id_prefix(index, s, s);
    }
    Err(ImageError::NotFound(s.to_string()))
}

fn by_id_prefix(index: &Index, hex: &str, shown: &str) -> Result<String, ImageError> {
    if !is_lower_hex(hex) {
        return Err(ImageError::NotFound(shown.to_string()));
    }
    let prefix = format!("sha256:{hex}");
    let mut matches = index.images.keys().filter(|id| id.starts_with(&prefix));
    match (matches.next(), matches.next()) {
        (Some(id), None) => Ok(id.clone()),
        (None, _) => Err(ImageError::NotFound(shown.to_string())),
        (Some(_), Some(_)) => Err(ImageError::Ambiguous(shown.to_string())),
    }
}
