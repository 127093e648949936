//! Reading the two archive formats into import candidates.
//!
//! docker-save: `manifest.json` = `[{Config, RepoTags, Layers}]` with paths into the archive.
//! OCI image layout: `index.json` whose descriptors point at `blobs/sha256/<hex>`; a descriptor
//! may be an index (nested indexes, docker manifest lists), of which the `linux/<host arch>`
//! manifest is taken. Names come from `io.containerd.image.name` or a full reference in
//! `org.opencontainers.image.ref.name` (a bare tag there names no repository and is ignored).
//! Every referenced blob's content digest and size are checked against its descriptor.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::sha256_of;
use crate::error::ImageError;
use crate::reference::Reference;
use crate::staging::Staged;

const MAX_INDEX_DEPTH: usize = 4;
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image found in an archive, with staged blob digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Normalized `name:tag` references.
    pub names: Vec<String>,
    pub manifest_hex: Option<String>,
    pub config_hex: String,
    /// Layer blobs, bottom first.
    pub layer_hexes: Vec<String>,
}

/// The OCI name of the architecture this process runs on.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

pub(crate) fn candidates(staged: &Staged, arch: &str) -> Result<Vec<Candidate>, ImageError> {
    if staged.contains("manifest.json") {
        docker_save(staged)
    } else if staged.contains("index.json") {
        oci_layout(staged, arch)
    } else {
        Err(ImageError::format(
            "neither manifest.json (docker save) nor index.json (OCI layout) found",
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_save(staged: &Staged) -> Result<Vec<Candidate>, ImageError> {
    let (entries, _) = staged.read_json::<Vec<SaveEntry>>("manifest.json")?;
    let mut out: Vec<Candidate> = Vec::new();
    for e in entries {
        let config_hex = staged_blob(staged, &e.config)?;
        let layer_hexes = e
            .layers
            .iter()
            .map(|l| staged_blob(staged, l))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names = Vec::new();
        for tag in e.repo_tags.unwrap_or_default() {
            names.extend(Reference::parse(&tag)?.tagged());
        }
        merge(
            &mut out,
            Candidate {
                names,
                manifest_hex: None,
                config_hex,
                layer_hexes,
            },
        );
    }
    Ok(out)
}

/// The digest of the file at `path`; a `blobs/sha256/<hex>` path must match its content.
fn staged_blob(staged: &Staged, path: &str) -> Result<String, ImageError> {
    let (hex, _) = staged.lookup(path)?;
    if let Some(named) = path.trim_start_matches("./").strip_prefix("blobs/sha256/") {
        if named != hex {
            return Err(ImageError::DigestMismatch {
                what: path.to_string(),
                expected: format!("sha256:{named}"),
                actual: format!("sha256:{hex}"),
            });
        }
    }
    Ok(hex.to_string())
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Whether a blob is an index (or manifest list) rather than a manifest; blobs without a
/// descriptor media type are recognized by their `manifests` key.
#[derive(Deserialize)]
struct Sniff {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

fn is_index_type(t: &str) -> bool {
    t.ends_with("image.index.v1+json") || t.ends_with("manifest.list.v2+json")
}

fn oci_layout(staged: &Staged, arch: &str) -> Result<Vec<Candidate>, ImageError> {
    let (index, _) = staged.read_json::<Index>("index.json")?;
    let mut out = Vec::new();
    let mut other_platforms = false;
    for desc in &index.manifests {
        let name = image_name(&desc.annotations)?;
        let Some(manifest_hex) = pick_manifest(staged, desc, arch, 0)? else {
            other_platforms = true;
            continue;
        };
        let manifest: Manifest = staged.read_blob_json(&manifest_hex, "image manifest")?;
        for layer in &manifest.layers {
            if layer.media_type.contains("zstd") {
                return Err(ImageError::Unsupported(format!(
                    "layer {} is zstd-compressed",
                    layer.digest
                )));
            }
        }
        let config_hex = blob(staged, &manifest.config)?;
        let layer_hexes = manifest
            .layers
            .iter()
            .map(|l| blob(staged, l))
            .collect::<Result<Vec<_>, _>>()?;
        merge(
            &mut out,
            Candidate {
                names: name.into_iter().collect(),
                manifest_hex: Some(manifest_hex),
                config_hex,
                layer_hexes,
            },
        );
    }
    if out.is_empty() {
        return Err(if other_platforms {
            ImageError::NoPlatform {
                arch: arch.to_string(),
            }
        } else {
            ImageError::format("index.json lists no image")
        });
    }
    Ok(out)
}

/// Follows `desc` down nested indexes to the manifest for `linux/<arch>`; `None` if the
/// descriptor is for another platform.
fn pick_manifest(
    staged: &Staged,
    desc: &Descriptor,
    arch: &str,
    depth: usize,
) -> Result<Option<String>, ImageError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(ImageError::format("indexes nested too deeply"));
    }
    if let Some(p) = &desc.platform {
        if p.os != "linux" || p.architecture != arch {
            return Ok(None);
        }
    }
    let hex = blob(staged, desc)?;
    let is_index = if desc.media_type.is_empty() {
        let sniff: Sniff = staged.read_blob_json(&hex, "manifest or index")?;
        is_index_type(&sniff.media_type) || sniff.manifests.is_some()
    } else {
        is_index_type(&desc.media_type)
    };
    if !is_index {
        return Ok(Some(hex));
    }
    let nested: Index = staged.read_blob_json(&hex, "image index")?;
    for child in &nested.manifests {
        if let Some(found) = pick_manifest(staged, child, arch, depth + 1)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The staged digest of the blob a descriptor points at, checked against digest and size.
fn blob(staged: &Staged, desc: &Descriptor) -> Result<String, ImageError> {
    let hex = sha256_of(&desc.digest)?;
    let path = format!("blobs/sha256/{hex}");
    let (actual, size) = staged.lookup(&path)?;
    if actual != hex {
        return Err(ImageError::DigestMismatch {
            what: path,
            expected: desc.digest.clone(),
            actual: format!("sha256:{actual}"),
        });
    }
    if size != desc.size {
        return Err(ImageError::format(format!(
            "{path}: size {size} does not match descriptor size {}",
            desc.size
        )));
    }
    Ok(hex.to_string())
}

fn image_name(annotations: &BTreeMap<String, String>) -> Result<Option<String>, ImageError> {
    if let Some(n) = annotations.get(ANNOTATION_CONTAINERD_NAME) {
        let r = Reference::parse(n)?;
        return Ok(r.tagged().or_else(|| r.digested()));
    }
    match annotations.get(ANNOTATION_REF_NAME) {
        Some(n) if n.contains('/') || n.contains(':') => {
            let r = Reference::parse(n)?;
            Ok(r.tagged().or_else(|| r.digested()))
        }
        _ => Ok(None),
    }
}

/// Adds `c`, folding it into an earlier candidate for the same config (same image id).
fn merge(out: &mut Vec<Candidate>, c: Candidate) {
    if let Some(prev) = out.iter_mut().find(|p| p.config_hex == c.config_hex) {
        for n in c.names {
            if !prev.names.contains(&n) {
                prev.names.push(n);
            }
        }
        if prev.manifest_hex.is_none() {
            prev.manifest_hex = c.manifest_hex;
        }
    } else {
        out.push(c);
    }
}
