//! Builders of real image archives for tests and benchmarks.
//!
//! [`busybox_oci_archive`] packs the host's static `/bin/busybox` (Debian `busybox-static`) into
//! an OCI image-layout archive: a deterministic base layer (the same bytes for every image, so
//! stores share it) plus, when `extra_files` is not empty, a second layer with those files.
//! [`LayerBuilder`], [`write_oci_archive`] and [`write_docker_archive`] build arbitrary images;
//! [`malicious_archive`] builds archives the store must refuse.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::Command;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use tar::{EntryType, Header};

use crate::digest::sha256_hex;
use crate::formats::host_arch;

/// Fixed mtime of generated entries, so identical content gives identical layer digests.
const MTIME: u64 = 1_700_000_000;
const BUSYBOX: &str = "/bin/busybox";
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Archives the store must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malicious {
    /// A file entry named `../kedge-escape`.
    DotDot,
    /// `evil -> /etc` followed by `evil/kedge-escape`.
    AbsSymlinkEscape,
    /// `up -> ../../../../../../..`: a relative symlink climbing out of the layer.
    RelSymlinkEscape,
    /// A hard link to `../../../../etc/passwd`.
    HardlinkEscape,
}

/// Builds one uncompressed layer tar with deterministic headers (root-owned, fixed mtime).
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> io::Result<&mut Self> {
        let mut h = header(EntryType::Directory, mode, 0);
        self.b.append_data(
            &mut h,
            format!("{}/", path.trim_end_matches('/')),
            io::empty(),
        )?;
        Ok(self)
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<&mut Self> {
        self.file_owned(path, data, mode, 0, 0)
    }

    pub fn file_owned(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> io::Result<&mut Self> {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.b.append_data(&mut h, path, data)?;
        Ok(self)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<&mut Self> {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target)?;
        Ok(self)
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> io::Result<&mut Self> {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, path, target)?;
        Ok(self)
    }

    /// A character or block device (`kind` `EntryType::Char`/`Block`) or a fifo.
    pub fn node(
        &mut self,
        path: &str,
        kind: EntryType,
        major: u32,
        minor: u32,
    ) -> io::Result<&mut Self> {
        let mut h = header(kind, 0o666, 0);
        h.set_device_major(major)?;
        h.set_device_minor(minor)?;
        self.b.append_data(&mut h, path, io::empty())?;
        Ok(self)
    }

    /// Appends an entry with the name and link name written verbatim (at most 100 bytes each),
    /// bypassing the tar crate's path checks: for hostile archives.
    pub fn raw(
        &mut self,
        name: &[u8],
        kind: EntryType,
        link: Option<&[u8]>,
        data: &[u8],
    ) -> io::Result<&mut Self> {
        let mut h = header(kind, 0o644, data.len() as u64);
        let slot = &mut h.as_old_mut().name;
        if name.len() > slot.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw name too long",
            ));
        }
        slot[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            h.set_link_name_literal(link)?;
        }
        h.set_cksum();
        self.b.append(&h, data)?;
        Ok(self)
    }

    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.b.into_inner()
    }
}

/// The image config section (`Cmd`, `Env`, ...) of the busybox test image.
pub fn busybox_config() -> serde_json::Value {
    json!({ "Cmd": ["sh"], "Env": [DEFAULT_PATH] })
}

/// The applet names the host busybox provides (`busybox --list`).
pub fn busybox_applets() -> io::Result<Vec<String>> {
    let out = Command::new(BUSYBOX).arg("--list").output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("{BUSYBOX} --list failed")));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect())
}

/// The busybox base layer (uncompressed): `/bin/busybox`, an applet symlink per applet in
/// `/bin`, `/etc/passwd` (root, user 1000, nobody 65534), `/etc/group` and the usual dirs.
pub fn busybox_layer() -> io::Result<Vec<u8>> {
    let busybox = std::fs::read(BUSYBOX)?;
    let mut l = LayerBuilder::new();
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("var/www", 0o755),
    ] {
        l.dir(dir, mode)?;
    }
    l.file("bin/busybox", &busybox, 0o755)?;
    for applet in busybox_applets()? {
        l.symlink(&format!("bin/{applet}"), "busybox")?;
    }
    l.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n\
          user:x:1000:1000:user:/home/user:/bin/sh\n\
          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    )?;
    l.file(
        "etc/group",
        b"root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
        0o644,
    )?;
    let mut h = header(EntryType::Directory, 0o755, 0);
    h.set_uid(1000);
    h.set_gid(1000);
    l.b.append_data(&mut h, "home/user/", io::empty())?;
    l.finish()
}

/// Writes an OCI archive of the busybox image named `name` (e.g. `kedge.test/busybox:1`),
/// with `extra_files` (`(path in image, content, mode)`) in a second layer.
pub fn busybox_oci_archive(
    out: &Path,
    name: &str,
    extra_files: &[(&str, Vec<u8>, u32)],
) -> io::Result<()> {
    let mut layers = vec![busybox_layer()?];
    if !extra_files.is_empty() {
        let mut l = LayerBuilder::new();
        for (path, data, mode) in extra_files {
            l.file(path.trim_start_matches('/'), data, *mode)?;
        }
        layers.push(l.finish()?);
    }
    write_oci_archive(out, Some(name), &layers, busybox_config(), true)
}

fn image_config(layers: &[Vec<u8>], config: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    json!({
        "architecture": host_arch(),
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    })
    .to_string()
    .into_bytes()
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

/// An OCI descriptor of `blob`.
pub fn descriptor(media_type: &str, blob: &[u8]) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": format!("sha256:{}", sha256_hex(blob)), "size": blob.len() })
}

/// Writes an OCI image-layout archive of one image made of `layers` (uncompressed tars,
/// bottom first; gzip-compressed in the archive when `gzip_layers`) and the config section
/// `config`. `name` goes into the `io.containerd.image.name` and
/// `org.opencontainers.image.ref.name` annotations.
pub fn write_oci_archive(
    out: &Path,
    name: Option<&str>,
    layers: &[Vec<u8>],
    config: serde_json::Value,
    gzip_layers: bool,
) -> io::Result<()> {
    let (mut mdesc, blobs) = oci_image(layers, config, gzip_layers)?;
    if let Some(n) = name {
        mdesc["annotations"] = json!({
            "io.containerd.image.name": n,
            "org.opencontainers.image.ref.name": n,
        });
    }
    write_oci_layout(out, &[mdesc], blobs)
}

/// The blobs (config, layers, manifest) of one image and the manifest's descriptor (with the
/// host platform), for composing indexes.
pub fn oci_image(
    layers: &[Vec<u8>],
    config: serde_json::Value,
    gzip_layers: bool,
) -> io::Result<(serde_json::Value, Vec<Vec<u8>>)> {
    let config = image_config(layers, config);
    let mut blobs = vec![config.clone()];
    let mut layer_descs = Vec::new();
    for l in layers {
        let (blob, mt) = if gzip_layers {
            (gzip(l)?, "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (l.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        layer_descs.push(descriptor(mt, &blob));
        blobs.push(blob);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layer_descs,
    })
    .to_string()
    .into_bytes();
    let mut mdesc = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    mdesc["platform"] = json!({ "architecture": host_arch(), "os": "linux" });
    blobs.push(manifest);
    Ok((mdesc, blobs))
}

/// Writes an OCI layout archive: `oci-layout`, `index.json` listing `manifests` and every blob
/// under `blobs/sha256/`.
pub fn write_oci_layout(
    out: &Path,
    manifests: &[serde_json::Value],
    blobs: Vec<Vec<u8>>,
) -> io::Result<()> {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), index.to_string().into_bytes()),
    ];
    for b in blobs {
        let path = format!("blobs/sha256/{}", sha256_hex(&b));
        if !files.iter().any(|(p, _)| *p == path) {
            files.push((path, b));
        }
    }
    write_outer(out, &files)
}

/// Writes a docker-save archive (`manifest.json` + `<hex>.json` + `<hex>/layer.tar`) of one
/// image tagged `repo_tags`.
pub fn write_docker_archive(
    out: &Path,
    repo_tags: &[&str],
    layers: &[Vec<u8>],
    config: serde_json::Value,
) -> io::Result<()> {
    let config = image_config(layers, config);
    let config_path = format!("{}.json", sha256_hex(&config));
    let mut files = vec![(config_path.clone(), config)];
    let mut layer_paths = Vec::new();
    for l in layers {
        let p = format!("{}/layer.tar", sha256_hex(l));
        layer_paths.push(p.clone());
        files.push((p, l.clone()));
    }
    let manifest = json!([{ "Config": config_path, "RepoTags": repo_tags, "Layers": layer_paths }]);
    files.insert(
        0,
        ("manifest.json".into(), manifest.to_string().into_bytes()),
    );
    write_outer(out, &files)
}

fn write_outer(out: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut b = tar::Builder::new(BufWriter::new(File::create(out)?));
    for (path, data) in files {
        let mut h = header(EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, path, data.as_slice())?;
    }
    b.into_inner()?.flush()
}

/// Writes an OCI archive named `kedge.test/malicious:<kind>` whose only layer is hostile.
pub fn malicious_archive(out: &Path, kind: Malicious) -> io::Result<()> {
    let mut l = LayerBuilder::new();
    l.dir("etc", 0o755)?;
    let tag = match kind {
        Malicious::DotDot => {
            l.raw(b"../kedge-escape", EntryType::Regular, None, b"pwned\n")?;
            "dotdot"
        }
        Malicious::AbsSymlinkEscape => {
            l.symlink("evil", "/etc")?;
            l.file("evil/kedge-escape", b"pwned\n", 0o644)?;
            "abs-symlink"
        }
        Malicious::RelSymlinkEscape => {
            l.raw(
                b"up",
                EntryType::Symlink,
                Some(b"../../../../../../.."),
                b"",
            )?;
            "rel-symlink"
        }
        Malicious::HardlinkEscape => {
            l.raw(b"hl", EntryType::Link, Some(b"../../../../etc/passwd"), b"")?;
            "hardlink"
        }
    };
    let layers = [l.finish()?];
    let name = format!("kedge.test/malicious:{tag}");
    write_oci_archive(out, Some(&name), &layers, busybox_config(), true)
}
