//! Staging of an outer image archive (docker-save or OCI layout, optionally gzip-compressed).
//!
//! Every regular file of the archive is copied once into a temp directory under the store and
//! named by its sha256, so a blob's digest is known by construction and committing it to the
//! store is a rename. Paths map to those digests; symlinks and hard links of the archive (old
//! docker-save links repeated layers) are recorded as path aliases. Dropping a [`Staged`]
//! removes the temp directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::DeserializeOwned;
use tar::EntryType;

use crate::digest::HashWriter;
use crate::error::ImageError;
use crate::unpack::clean_path;

/// Config, manifest and index documents are small; refuse to parse anything huge.
const MAX_JSON: u64 = 16 << 20;
const MAX_LINK_DEPTH: usize = 16;

pub(crate) struct Staged {
    dir: tempfile::TempDir,
    /// archive path -> (sha256 hex, size)
    files: HashMap<String, (String, u64)>,
    /// archive path -> archive path it stands for
    links: HashMap<String, String>,
}

/// Wraps `reader` in a gzip decoder when the stream starts with the gzip magic.
pub(crate) fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "zstd-compressed data is not supported",
        ))
    } else {
        Ok(Box::new(reader))
    }
}

pub(crate) fn stage(archive: &Path, tmp_root: &Path) -> Result<Staged, ImageError> {
    let shown = archive.display().to_string();
    let dir = tempfile::Builder::new()
        .prefix("stage-")
        .tempdir_in(tmp_root)
        .map_err(|e| ImageError::io(format!("create staging dir in {}", tmp_root.display()), e))?;
    let file = File::open(archive).map_err(|e| ImageError::io(format!("open {shown}"), e))?;
    let reader = maybe_gunzip(BufReader::with_capacity(1 << 16, file))
        .map_err(|e| ImageError::io(format!("read {shown}"), e))?;
    let mut tar = tar::Archive::new(reader);
    let mut staged = Staged {
        dir,
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let read_err = |e| ImageError::io(format!("read {shown}"), e);
    for entry in tar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw = entry.path_bytes().into_owned();
        let path = clean_path(&raw)
            .map_err(|r| ImageError::format(format!("{}: {r}", String::from_utf8_lossy(&raw))))?;
        let key = path.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                let incoming = staged.dir.path().join("incoming");
                let out = File::create(&incoming)
                    .map_err(|e| ImageError::io("create staging file", e))?;
                let mut w = HashWriter::new(out);
                io::copy(&mut entry, &mut w).map_err(read_err)?;
                let (_, hex, size) = w.finish();
                std::fs::rename(&incoming, staged.dir.path().join(&hex))
                    .map_err(|e| ImageError::io("rename staging file", e))?;
                staged.files.insert(key, (hex, size));
            }
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = Path::new(std::ffi::OsStr::new(
                    std::str::from_utf8(&target).unwrap_or(""),
                ))
                .to_path_buf();
                let base = if entry.header().entry_type() == EntryType::Symlink {
                    path.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                if let Some(resolved) = join_lexically(&base, &target) {
                    staged.links.insert(key, resolved);
                }
            }
            _ => {}
        }
    }
    Ok(staged)
}

/// `base/target` with `.`/`..` folded; `None` if it climbs above the archive root.
fn join_lexically(base: &Path, target: &Path) -> Option<String> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    let start = if target.is_absolute() {
        Path::new("")
    } else {
        base
    };
    for c in start.components().chain(target.components()) {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(
        out.iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

impl Staged {
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.lookup(path).is_ok()
    }

    /// The `(sha256 hex, size)` of the file at `path`, following archive links.
    pub(crate) fn lookup(&self, path: &str) -> Result<(&str, u64), ImageError> {
        let mut key = clean_path(path.as_bytes())
            .map_err(|r| ImageError::format(format!("{path}: {r}")))?
            .to_string_lossy()
            .into_owned();
        for _ in 0..MAX_LINK_DEPTH {
            if let Some((hex, size)) = self.files.get(&key) {
                return Ok((hex, *size));
            }
            match self.links.get(&key) {
                Some(next) => key = next.clone(),
                None => break,
            }
        }
        Err(ImageError::format(format!(
            "{path:?} is missing from the archive"
        )))
    }

    /// Where the staged content with digest `hex` lives.
    pub(crate) fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.path().join(hex)
    }

    pub(crate) fn read_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, String), ImageError> {
        let (hex, _) = self.lookup(path)?;
        let hex = hex.to_string();
        Ok((self.read_blob_json(&hex, path)?, hex))
    }

    pub(crate) fn read_blob_json<T: DeserializeOwned>(
        &self,
        hex: &str,
        what: &str,
    ) -> Result<T, ImageError> {
        let mut data = Vec::new();
        File::open(self.blob_path(hex))
            .and_then(|f| f.take(MAX_JSON).read_to_end(&mut data))
            .map_err(|e| ImageError::io(format!("read {what}"), e))?;
        serde_json::from_slice(&data).map_err(|e| ImageError::json(format!("parse {what}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_links_lexically() {
        let base = Path::new("abc");
        assert_eq!(
            join_lexically(base, Path::new("../def/layer.tar")).unwrap(),
            "def/layer.tar"
        );
        assert_eq!(join_lexically(base, Path::new("/x/y")).unwrap(), "x/y");
        assert!(join_lexically(base, Path::new("../../x")).is_none());
    }
}
