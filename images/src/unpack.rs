//! Safe extraction of one layer tar into a directory, converting whiteouts for overlayfs.
//!
//! Contract: nothing is ever created outside `dest`. Entry paths with `..` or absolute paths are
//! refused; parents are opened with `RESOLVE_BENEATH`, so a symlink used as a path prefix is
//! followed only while it stays inside the layer (the classic `evil -> /etc` + `evil/passwd` is
//! refused); relative symlinks whose target climbs out of the layer and hard links to anything
//! outside it are refused. Any refusal fails the whole layer with an error naming the entry.
//! `.wh.X` becomes a 0:0 character device `X`, `.wh..wh..opq` the xattr
//! `trusted.overlay.opaque=y` on its directory (failures there are errors: a layer without its
//! whiteouts would show deleted files). Ownership and device nodes need root: without it owners
//! are left to the caller and char/block devices are skipped. Other xattr failures are ignored
//! (filesystems without `security.*` support must still run images).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::FileType;
use rustix::io::Errno;
use tar::EntryType;

use crate::error::ImageError;
use crate::sys::{self, NodeKind};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// What the unpacker may do beyond plain files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnpackOptions {
    /// Set owners and create char/block devices (requires root).
    pub privileged: bool,
}

/// Counts worth reporting after an unpack.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnpackStats {
    pub entries: u64,
    pub skipped_devices: u64,
}

/// Owner, permissions, times and xattrs of one entry (PAX records override the header).
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nanos: u32,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Extracts the layer tar read from `reader` into the existing, empty directory `dest`.
pub(crate) fn unpack<R: Read>(
    reader: R,
    dest: &Path,
    opts: UnpackOptions,
) -> Result<UnpackStats, ImageError> {
    let root = sys::open_dir(dest)
        .map_err(|e| ImageError::io(format!("open layer dir {}", dest.display()), e))?;
    let mut archive = tar::Archive::new(reader);
    let mut dirs: BTreeMap<PathBuf, Meta> = BTreeMap::new();
    let mut stats = UnpackStats::default();
    let entries = archive
        .entries()
        .map_err(|e| ImageError::io("read layer tar", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::io("read layer tar", e))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_path(&raw).map_err(|reason| unsafe_entry(&shown, reason))?;
        let Some(name) = rel.file_name().map(Path::new) else {
            continue; // the layer root itself ("./")
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        stats.entries += 1;
        let parent = open_parent(root.as_fd(), parent_rel, &shown)?;
        let parent = parent.as_fd();
        let name_bytes = name.as_os_str().as_bytes();
        if name_bytes == OPAQUE_MARKER {
            sys::set_opaque(parent).map_err(|e| {
                ImageError::io(format!("mark {:?} opaque (needs root)", parent_rel), e)
            })?;
            continue;
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                continue; // aufs bookkeeping such as .wh..wh.plnk: meaningless for overlayfs
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(unsafe_entry(&shown, "malformed whiteout"));
            }
            let hidden = Path::new(OsStr::from_bytes(hidden));
            clear(parent, hidden, false, &shown)?;
            sys::whiteout_at(parent, hidden).map_err(|e| {
                ImageError::io(format!("create whiteout for {shown:?} (needs root)"), e)
            })?;
            continue;
        }
        let meta = read_meta(&mut entry).map_err(|e| ImageError::io(format!("{shown:?}"), e))?;
        let fail = |what: &str, e: io::Error| ImageError::io(format!("{what} {shown:?}"), e);
        match kind {
            EntryType::Directory => {
                if !clear(parent, name, true, &shown)? {
                    sys::mkdir_at(parent, name, 0o700).map_err(|e| fail("create dir", e))?;
                }
                dirs.insert(rel.clone(), meta);
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                clear(parent, name, false, &shown)?;
                let mut file = sys::create_file_at(parent, name).map_err(|e| fail("create", e))?;
                io::copy(&mut entry, &mut file).map_err(|e| fail("write", e))?;
                apply_meta_fd(file.as_fd(), &meta, opts, fail)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| fail("read link of", e))?
                    .ok_or_else(|| unsafe_entry(&shown, "symlink without a target"))?
                    .into_owned();
                if climbs_out(parent_rel, &target) {
                    return Err(unsafe_entry(
                        &shown,
                        &format!("symlink target {target:?} resolves outside the layer"),
                    ));
                }
                clear(parent, name, false, &shown)?;
                sys::symlink_at(&target, parent, name).map_err(|e| fail("symlink", e))?;
                set_owner_and_times(parent, name, &meta, opts)
                    .map_err(|e| fail("set owner/times of", e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(&shown, "hard link without a target"))?
                    .into_owned();
                let target_rel = clean_path(&target).map_err(|reason| {
                    unsafe_entry(&shown, &format!("hard link target: {reason}"))
                })?;
                if target_rel == rel {
                    continue;
                }
                let (Some(tname), Some(tparent_rel)) =
                    (target_rel.file_name(), target_rel.parent())
                else {
                    return Err(unsafe_entry(&shown, "hard link to the layer root"));
                };
                let tname = Path::new(tname);
                let tparent = sys::open_dir_beneath(root.as_fd(), tparent_rel)
                    .map_err(|e| resolve_error(&shown, e))?;
                match sys::kind_at(tparent.as_fd(), tname).map_err(|e| fail("stat", e))? {
                    None => {
                        return Err(ImageError::format(format!(
                            "hard link {shown:?}: target {target_rel:?} does not exist"
                        )))
                    }
                    Some(FileType::Directory) => {
                        return Err(unsafe_entry(&shown, "hard link to a directory"))
                    }
                    Some(_) => {}
                }
                clear(parent, name, false, &shown)?;
                sys::hardlink_at(tparent.as_fd(), tname, parent, name)
                    .map_err(|e| fail("hard link", e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let node = match kind {
                    EntryType::Char => NodeKind::Char,
                    EntryType::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                if node != NodeKind::Fifo && !opts.privileged {
                    stats.skipped_devices += 1;
                    continue;
                }
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                clear(parent, name, false, &shown)?;
                sys::mknod_at(parent, name, node, major, minor).map_err(|e| fail("mknod", e))?;
                sys::chmod_at(parent, name, meta.mode).map_err(|e| fail("chmod", e))?;
                set_owner_and_times(parent, name, &meta, opts)
                    .map_err(|e| fail("set owner/times of", e))?;
            }
            _ => stats.entries -= 1, // unknown types (e.g. Solaris ACLs) carry nothing to create
        }
    }
    // Directory metadata last: creating children changes mtimes, and a read-only directory
    // would stop an unprivileged unpack from filling it. Children first (reverse path order).
    for (rel, meta) in dirs.iter().rev() {
        apply_dir_meta(root.as_fd(), rel, meta, opts)?;
    }
    Ok(stats)
}

/// Normalizes a tar path: drops `.` components and trailing slashes, refuses `..` and
/// absolute paths.
pub(crate) fn clean_path(raw: &[u8]) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains a '..' component"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

/// Whether a relative symlink target, followed from `parent` (relative to the layer root),
/// climbs above the layer root. Absolute targets are left alone: they only matter when used as
/// a path prefix, which `RESOLVE_BENEATH` refuses.
fn climbs_out(parent: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = parent.components().count() as i64;
    for c in target.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    false
}

fn unsafe_entry(entry: &str, reason: &str) -> ImageError {
    ImageError::UnsafeEntry {
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}

fn resolve_error(entry: &str, e: io::Error) -> ImageError {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::XDEV) | Some(Errno::LOOP) => unsafe_entry(
            entry,
            "a path prefix is a symlink that leads outside the layer",
        ),
        Some(Errno::NOTDIR) => unsafe_entry(entry, "a path prefix is not a directory"),
        _ => ImageError::io(format!("open parent of {entry:?}"), e),
    }
}

/// Opens the parent directory of an entry, creating missing directories (mode 0755) the way
/// docker does for archives that omit them.
fn open_parent(root: BorrowedFd<'_>, parent: &Path, entry: &str) -> Result<OwnedFd, ImageError> {
    match sys::open_dir_beneath(root, parent) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(Errno::NOENT.raw_os_error()) => {
            return Err(resolve_error(entry, e))
        }
        Err(_) => {}
    }
    let mut prefix = PathBuf::new();
    let mut fd = sys::open_dir_beneath(root, &prefix).map_err(|e| resolve_error(entry, e))?;
    for c in parent.components() {
        prefix.push(c);
        fd = match sys::open_dir_beneath(root, &prefix) {
            Ok(next) => next,
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                let name = Path::new(c.as_os_str());
                sys::mkdir_at(fd.as_fd(), name, 0o755)
                    .map_err(|e| ImageError::io(format!("create parent of {entry:?}"), e))?;
                sys::open_dir_beneath(root, &prefix).map_err(|e| resolve_error(entry, e))?
            }
            Err(e) => return Err(resolve_error(entry, e)),
        };
    }
    Ok(fd)
}

/// Removes whatever sits at `name` so a later entry can replace it. Returns `true` when an
/// existing directory was kept because `keep_dir` was asked (tar semantics: a directory entry
/// over a directory only updates its metadata).
fn clear(
    parent: BorrowedFd<'_>,
    name: &Path,
    keep_dir: bool,
    entry: &str,
) -> Result<bool, ImageError> {
    let fail = |e| ImageError::io(format!("replace existing {entry:?}"), e);
    match sys::kind_at(parent, name).map_err(fail)? {
        None => Ok(false),
        Some(FileType::Directory) if keep_dir => Ok(true),
        Some(FileType::Directory) => sys::remove_tree_at(parent, name)
            .map(|()| false)
            .map_err(fail),
        Some(_) => sys::unlink_at(parent, name).map(|()| false).map_err(fail),
    }
}

fn set_owner_and_times(
    parent: BorrowedFd<'_>,
    name: &Path,
    meta: &Meta,
    opts: UnpackOptions,
) -> io::Result<()> {
    if opts.privileged {
        sys::chown_at(parent, name, meta.uid, meta.gid)?;
    }
    sys::set_mtime_at(parent, name, meta.mtime, meta.mtime_nanos)
}

fn apply_dir_meta(
    root: BorrowedFd<'_>,
    rel: &Path,
    meta: &Meta,
    opts: UnpackOptions,
) -> Result<(), ImageError> {
    let shown = rel.display().to_string();
    let fail = |what: &str, e: io::Error| ImageError::io(format!("{what} dir {shown:?}"), e);
    let parent = sys::open_dir_beneath(root, rel.parent().unwrap_or(Path::new("")))
        .map_err(|e| resolve_error(&shown, e))?;
    let name = Path::new(rel.file_name().unwrap_or_default());
    let dir = match sys::open_subdir(parent.as_fd(), name) {
        Ok(d) => d,
        // Replaced by a later non-directory entry: nothing to apply.
        Err(e)
            if matches!(
                e.raw_os_error().map(Errno::from_raw_os_error),
                Some(Errno::NOENT | Errno::NOTDIR | Errno::LOOP)
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(fail("open", e)),
    };
    apply_meta_fd(dir.as_fd(), meta, opts, fail)
}

/// Owner, mode, xattrs and times of an open file or directory, in the order that keeps them:
/// chown clears setuid/setgid bits and file capabilities, so it goes first.
fn apply_meta_fd(
    fd: BorrowedFd<'_>,
    meta: &Meta,
    opts: UnpackOptions,
    fail: impl Fn(&str, io::Error) -> ImageError,
) -> Result<(), ImageError> {
    if opts.privileged {
        sys::chown_fd(fd, meta.uid, meta.gid).map_err(|e| fail("chown", e))?;
    }
    sys::chmod_fd(fd, meta.mode).map_err(|e| fail("chmod", e))?;
    for (k, v) in &meta.xattrs {
        let _ = sys::set_xattr_fd(fd, k, v);
    }
    sys::set_mtime_fd(fd, meta.mtime, meta.mtime_nanos).map_err(|e| fail("set times of", e))
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut meta = Meta {
        mode: h.mode()? & 0o7777,
        uid: u32::try_from(h.uid()?).unwrap_or(u32::MAX),
        gid: u32::try_from(h.gid()?).unwrap_or(u32::MAX),
        mtime: i64::try_from(h.mtime()?).unwrap_or(0),
        mtime_nanos: 0,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let text = std::str::from_utf8(value).unwrap_or("");
            match key {
                "uid" => meta.uid = text.parse().unwrap_or(meta.uid),
                "gid" => meta.gid = text.parse().unwrap_or(meta.gid),
                "mtime" => {
                    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
                    if let Ok(s) = secs.parse() {
                        meta.mtime = s;
                        let digits: String = frac.chars().take(9).collect();
                        meta.mtime_nanos = format!("{digits:0<9}").parse().unwrap_or(0);
                    }
                }
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        meta.xattrs.push((name.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path(b"./a/./b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(clean_path(b"./").unwrap(), PathBuf::new());
        assert!(clean_path(b"a/../../b").is_err());
        assert!(clean_path(b"/etc/passwd").is_err());
    }

    #[test]
    fn detects_climbing_symlinks() {
        assert!(!climbs_out(Path::new("usr/lib"), Path::new("../../lib/x")));
        assert!(climbs_out(Path::new("usr/lib"), Path::new("../../../etc")));
        assert!(climbs_out(Path::new(""), Path::new("..")));
        assert!(!climbs_out(Path::new(""), Path::new("/etc")));
        assert!(!climbs_out(Path::new("a"), Path::new("b/../../c")));
    }
}
