//! fsGroup ownership, as the kubelet's `SetVolumeOwnership`: every entry gets the group, files
//! gain group read (and write unless the volume is read-only), directories additionally gain
//! setgid and group/owner search so new files inherit the group. Symlinks are re-grouped but
//! never chmod-ed (that would follow them).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::sys;

const RW_MASK: u32 = 0o660;
const RO_MASK: u32 = 0o440;
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// The mode a file of `mode` ends up with after the ownership pass.
pub(crate) fn file_mode_with_group(mode: u32, readonly: bool) -> u32 {
    mode | if readonly { RO_MASK } else { RW_MASK }
}

/// Applies fsGroup `gid` to `root` and everything below it, without crossing symlinks.
pub fn apply_fs_group(root: &Path, gid: u32, readonly: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    sys::lchown_group(root, gid)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() {
        let mask = if readonly { RO_MASK } else { RW_MASK };
        fs::set_permissions(
            root,
            fs::Permissions::from_mode(mode | mask | EXEC_MASK | SETGID),
        )?;
        for entry in fs::read_dir(root)? {
            apply_fs_group(&entry?.path(), gid, readonly)?;
        }
    } else {
        fs::set_permissions(
            root,
            fs::Permissions::from_mode(file_mode_with_group(mode, readonly)),
        )?;
    }
    Ok(())
}
