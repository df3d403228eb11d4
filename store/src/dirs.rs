//! The data directory: its folders, and the file-system steps that make writes durable
//! (fsync of files and of the folders that name them).

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Name of the master key file inside the data directory.
pub(crate) const MASTER_KEY: &str = "master.key";
/// Name of the database file.
pub(crate) const DATABASE: &str = "ivm.redb";
/// Folder of encrypted blob files, fanned out in 256 subfolders.
pub(crate) const BLOBS: &str = "blobs";
/// Folder of files being written; emptied at open.
pub(crate) const TMP: &str = "tmp";

/// Creates a folder (and its parents) readable by the owner only, if it is missing.
pub(crate) fn ensure_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Tightens `path` to `mode` when it grants more (group or other bits), and says so: a data
/// folder restored from a backup or copied by hand must not stay readable by other users.
/// Checked at every open, not only at creation. Returns whether it changed anything.
pub(crate) fn restrict_mode(path: &Path, mode: u32) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let have = meta.permissions().mode() & 0o7777;
    if have & !mode == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    tracing::warn!(path = %path.display(), was = format!("{have:o}"), now = format!("{mode:o}"), "permissions tightened: only the box's own user may read its data");
    Ok(true)
}

/// Makes the entries of a folder (creations, renames, removals) durable.
pub(crate) fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Removes everything in `tmp/`: files a crash left half-written. Nothing there was ever
/// acknowledged, since a file is acknowledged only after its rename out of `tmp/`.
pub(crate) fn clear_tmp(tmp: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(tmp)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
        removed += 1;
    }
    if removed > 0 {
        fsync_dir(tmp)?;
    }
    Ok(removed)
}

/// Creates `blobs/00` … `blobs/ff` so `put_blob` never has to create a folder.
pub(crate) fn ensure_fanout(blobs: &Path) -> io::Result<()> {
    for i in 0..=255u8 {
        ensure_dir(&blobs.join(format!("{i:02x}")))?;
    }
    fsync_dir(blobs)
}

/// Writes `bytes` to `tmp/<name>` (owner-only), fsyncs it, renames it to `dest`, and fsyncs
/// both folders. When this returns, the file survives a power cut under its final name.
pub(crate) fn write_durably(
    tmp_dir: &Path,
    name: &str,
    dest: &Path,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp_path: PathBuf = tmp_dir.join(name);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp_path, dest)?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        fsync_dir(tmp_dir)
    })();
    if result.is_err() {
        // Best effort: the file is not acknowledged, and `open` would clear it anyway.
        let _ = fs::remove_file(&tmp_path);
    }
    result
}
