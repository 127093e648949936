//! Importing archives into the store.
//!
//! Contract: either every image of an archive becomes visible or none does. Blobs are staged
//! and verified, missing layers unpacked into `tmp/` and their uncompressed digest checked
//! against the config's diff ids; only then are blobs and layers renamed into place (after a
//! `syncfs`) and the index written. Layers already complete in the store are reused, never
//! unpacked again.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config;
use crate::digest::HashReader;
use crate::error::ImageError;
use crate::formats::{self, Candidate};
use crate::index::{ArchiveStamp, ImageRecord, Index, LayerRecord};
use crate::reference::Reference;
use crate::staging::{self, maybe_gunzip, Staged};
use crate::store::{mtime_ns, now_unix, DirImport, ImageRef, ImageStore};
use crate::sys;
use crate::unpack::{self, UnpackOptions};

const COMPLETE_MARKER: &str = ".complete";
const MAX_CONFIG: u64 = 16 << 20;

impl ImageStore {
    /// Imports a docker-save or OCI image-layout archive (plain or gzip-compressed tar).
    /// Either every image of the archive becomes visible or none does.
    pub fn import(&self, archive: &Path) -> Result<Vec<ImageRef>, ImageError> {
        let _lock = self.lock()?;
        self.clear_tmp();
        let staged = staging::stage(archive, &self.tmp_dir())?;
        let candidates = formats::candidates(&staged, formats::host_arch())?;
        let mut pending: HashMap<String, (tempfile::TempDir, u64)> = HashMap::new();
        let mut prepared = Vec::new();
        for c in &candidates {
            let parsed = config::parse(&read_small(&staged.blob_path(&c.config_hex))?)?;
            if parsed.diff_ids.len() != c.layer_hexes.len() {
                return Err(ImageError::format(format!(
                    "config sha256:{} lists {} layers, the manifest {}",
                    c.config_hex,
                    parsed.diff_ids.len(),
                    c.layer_hexes.len()
                )));
            }
            let mut layers = Vec::new();
            for (diff_hex, blob_hex) in parsed.diff_ids.iter().zip(&c.layer_hexes) {
                let size = match self.complete_layer_size(diff_hex) {
                    Some(size) => size,
                    None => match pending.get(diff_hex) {
                        Some((_, size)) => *size,
                        None => {
                            let (dir, size) =
                                self.unpack_layer(&staged.blob_path(blob_hex), diff_hex)?;
                            pending.insert(diff_hex.clone(), (dir, size));
                            size
                        }
                    },
                };
                layers.push(LayerRecord {
                    diff_hex: diff_hex.clone(),
                    blob_hex: blob_hex.clone(),
                    size,
                });
            }
            prepared.push((c, parsed.config, layers));
        }
        self.commit_content(&staged, &candidates, pending)?;

        let mut index = Index::load(&self.index_path())?;
        let now = now_unix();
        let mut refs = Vec::new();
        for (c, config, layers) in prepared {
            let id = format!("sha256:{}", c.config_hex);
            let rec = index
                .images
                .entry(id.clone())
                .or_insert_with(|| ImageRecord {
                    id: id.clone(),
                    repo_tags: Vec::new(),
                    repo_digests: Vec::new(),
                    manifest_hex: c.manifest_hex.clone(),
                    config_hex: c.config_hex.clone(),
                    config,
                    size: layers.iter().map(|l| l.size).sum(),
                    layers,
                    imported_unix: now,
                    last_used_unix: now,
                });
            if let Some(m) = &c.manifest_hex {
                for name in &c.names {
                    let repo = Reference::parse(name)?.name;
                    let d = format!("{repo}@sha256:{m}");
                    if !rec.repo_digests.contains(&d) {
                        rec.repo_digests.push(d);
                    }
                }
            }
            for name in &c.names {
                // Digest-only names are recorded as repo digests above, not tags.
                if !name.contains('@') {
                    index.tag(&id, name);
                }
            }
            refs.push(ImageRef {
                repo_tags: index.images[&id].repo_tags.clone(),
                id,
            });
        }
        self.commit(index)?;
        Ok(refs)
    }

    /// Moves verified blobs and unpacked layers into the store, durably, before any index
    /// names them.
    fn commit_content(
        &self,
        staged: &Staged,
        candidates: &[Candidate],
        pending: HashMap<String, (tempfile::TempDir, u64)>,
    ) -> Result<(), ImageError> {
        let blobs = self.blobs_dir();
        let layers = self.layers_dir();
        for c in candidates {
            let hexes = std::iter::once(&c.config_hex)
                .chain(c.manifest_hex.iter())
                .chain(c.layer_hexes.iter());
            for hex in hexes {
                let dest = blobs.join(hex);
                if !dest.exists() {
                    std::fs::rename(staged.blob_path(hex), &dest)
                        .map_err(|e| ImageError::io(format!("store blob sha256:{hex}"), e))?;
                }
            }
        }
        sys::syncfs(self.root()).map_err(|e| ImageError::io("sync image store", e))?;
        for (diff_hex, (dir, _)) in pending {
            let dest = layers.join(&diff_hex);
            if dest.exists() {
                // A leftover without marker from an interrupted import.
                std::fs::remove_dir_all(&dest)
                    .map_err(|e| ImageError::io(format!("remove stale {}", dest.display()), e))?;
            }
            let path = dir.keep();
            if let Err(e) = std::fs::rename(&path, &dest) {
                let _ = std::fs::remove_dir_all(&path);
                return Err(ImageError::io(format!("store layer {diff_hex}"), e));
            }
        }
        for dir in [&blobs, &layers] {
            sys::fsync_dir(dir)
                .map_err(|e| ImageError::io(format!("sync {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// The uncompressed size of a layer already unpacked in the store.
    fn complete_layer_size(&self, diff_hex: &str) -> Option<u64> {
        let marker = self.layers_dir().join(diff_hex).join(COMPLETE_MARKER);
        let data = std::fs::read(marker).ok()?;
        serde_json::from_slice::<serde_json::Value>(&data)
            .ok()?
            .get("size")?
            .as_u64()
    }

    /// Unpacks a layer blob into a temp dir (`fs/` + `.complete`), verifying its diff id.
    fn unpack_layer(
        &self,
        blob: &Path,
        diff_hex: &str,
    ) -> Result<(tempfile::TempDir, u64), ImageError> {
        let dir = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(self.tmp_dir())
            .map_err(|e| ImageError::io("create layer temp dir", e))?;
        let fs = dir.path().join("fs");
        let perms = std::fs::Permissions::from_mode(0o755);
        std::fs::create_dir(&fs)
            .and_then(|()| std::fs::set_permissions(&fs, perms.clone()))
            .and_then(|()| std::fs::set_permissions(dir.path(), perms))
            .map_err(|e| ImageError::io("create layer dir", e))?;
        let file = File::open(blob).map_err(|e| ImageError::io("open layer blob", e))?;
        let reader = maybe_gunzip(BufReader::with_capacity(1 << 16, file))
            .map_err(|e| ImageError::io(format!("read layer {diff_hex}"), e))?;
        let mut hashed = HashReader::new(reader);
        let opts = UnpackOptions {
            privileged: self.privileged,
        };
        unpack::unpack(&mut hashed, &fs, opts)?;
        let (actual, size) = hashed
            .finish()
            .map_err(|e| ImageError::io(format!("read layer {diff_hex}"), e))?;
        if actual != diff_hex {
            return Err(ImageError::DigestMismatch {
                what: "uncompressed layer".into(),
                expected: format!("sha256:{diff_hex}"),
                actual: format!("sha256:{actual}"),
            });
        }
        std::fs::write(
            dir.path().join(COMPLETE_MARKER),
            serde_json::json!({ "size": size }).to_string(),
        )
        .map_err(|e| ImageError::io("write layer marker", e))?;
        Ok((dir, size))
    }

    /// Imports every `*.tar` (or `*.tar.gz`, `*.tgz`) directly in the store root that changed
    /// since its last import (air-gapped nodes drop archives there). Failures are reported per
    /// archive.
    pub fn import_dir(&self) -> Result<Vec<DirImport>, ImageError> {
        let entries = std::fs::read_dir(self.root())
            .map_err(|e| ImageError::io(format!("list {}", self.root().display()), e))?;
        let mut archives: Vec<(String, PathBuf, ArchiveStamp)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            let archive_name = [".tar", ".tar.gz", ".tgz"]
                .iter()
                .any(|x| name.ends_with(x));
            if !archive_name || !meta.is_file() {
                continue;
            }
            let stamp = ArchiveStamp {
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
                images: Vec::new(),
            };
            archives.push((name, e.path(), stamp));
        }
        archives.sort_by(|a, b| a.0.cmp(&b.0));
        let known = self.snapshot();
        let mut out = Vec::new();
        for (name, path, mut stamp) in archives {
            if let Some(prev) = known.archives.get(&name) {
                // Unchanged archives are skipped even if their images were removed since:
                // otherwise every restart would undo `kedge images rm` and image gc.
                if prev.size == stamp.size && prev.mtime_ns == stamp.mtime_ns {
                    continue;
                }
            }
            let result = self.import(&path);
            if let Ok(refs) = &result {
                stamp.images = refs.iter().map(|r| r.id.clone()).collect();
                self.mutate(|idx| {
                    idx.archives.insert(name.clone(), stamp);
                    Ok(())
                })?;
            }
            out.push(DirImport {
                archive: path,
                result,
            });
        }
        Ok(out)
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, ImageError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_CONFIG).read_to_end(&mut data))
        .map_err(|e| ImageError::io(format!("read {}", path.display()), e))?;
    Ok(data)
}
