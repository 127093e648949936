//! The store index: which images exist and which names point at them.
//!
//! Invariants: a name (`name:tag`) appears in at most one record's `repo_tags`; every layer and
//! blob a record lists is complete in the store before the record is written; the file is only
//! ever replaced atomically, so a crash leaves either the old or the new index.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::error::ImageError;
use crate::sys;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub version: u32,
    /// image id (`sha256:<config hex>`) -> record
    pub images: BTreeMap<String, ImageRecord>,
    /// archive file name in the store root -> what it was when last imported (air-gap import
    /// skips unchanged archives)
    #[serde(default)]
    pub archives: BTreeMap<String, ArchiveStamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub manifest_hex: Option<String>,
    pub config_hex: String,
    pub config: ImageConfig,
    /// Bottom first.
    pub layers: Vec<LayerRecord>,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
    pub imported_unix: u64,
    pub last_used_unix: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub diff_hex: String,
    pub blob_hex: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArchiveStamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub images: Vec<String>,
}

impl Index {
    pub(crate) fn load(path: &Path) -> Result<Index, ImageError> {
        match std::fs::read(path) {
            Ok(data) => {
                let idx: Index = serde_json::from_slice(&data)
                    .map_err(|e| ImageError::json(format!("parse {}", path.display()), e))?;
                if idx.version != VERSION {
                    return Err(ImageError::Unsupported(format!(
                        "image index version {}",
                        idx.version
                    )));
                }
                Ok(idx)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                version: VERSION,
                ..Index::default()
            }),
            Err(e) => Err(ImageError::io(format!("read {}", path.display()), e)),
        }
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), ImageError> {
        let data =
            serde_json::to_vec_pretty(self).map_err(|e| ImageError::json("encode index", e))?;
        sys::write_atomic(path, &data)
            .map_err(|e| ImageError::io(format!("write {}", path.display()), e))
    }

    /// The id of the image tagged `name_tag`.
    pub(crate) fn by_tag(&self, name_tag: &str) -> Option<&str> {
        self.images
            .values()
            .find(|r| r.repo_tags.iter().any(|t| t == name_tag))
            .map(|r| r.id.as_str())
    }

    /// Moves `name_tag` to image `id`, untagging whichever image had it.
    pub(crate) fn tag(&mut self, id: &str, name_tag: &str) {
        for r in self.images.values_mut() {
            r.repo_tags.retain(|t| t != name_tag);
        }
        if let Some(r) = self.images.get_mut(id) {
            r.repo_tags.push(name_tag.to_string());
        }
    }
}
