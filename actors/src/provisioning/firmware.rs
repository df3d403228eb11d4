//! Plain files from the firmware folder (`<data>/firmware/`), served as they are over TFTP
//! and HTTP to anyone who asks: firmware images and ring tones carry no secrets, and the
//! folder is the only part of the disk reachable this way.

use std::path::{Component, Path, PathBuf};

/// A file under `root` named `name` (`/provision/` stripped): relative, no `..`, no hidden
/// names, no backslash or NUL, and its canonical path (symlinks followed) still inside
/// `root`. Returns the canonical path and size, `None` for anything else.
pub fn lookup(root: &Path, name: &str) -> Option<(PathBuf, u64)> {
    let rel = name.trim_start_matches("/provision/");
    if rel.is_empty() || rel.len() > 255 || rel.contains(['\\', '\0']) {
        return None;
    }
    let path = Path::new(rel);
    if !path
        .components()
        .all(|c| matches!(c, Component::Normal(n) if !n.to_string_lossy().starts_with('.')))
    {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let full = root.join(path).canonicalize().ok()?;
    if !full.starts_with(&root) {
        return None;
    }
    let meta = std::fs::metadata(&full).ok()?;
    meta.is_file().then_some((full, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fw = dir.path().join("data/firmware");
        std::fs::create_dir_all(fw.join("sub")).expect("mkdir");
        std::fs::write(fw.join("ok.bin"), b"fw").expect("write");
        std::fs::write(fw.join("sub/deep.bin"), b"deep").expect("write");
        std::fs::write(fw.join(".hidden"), b"h").expect("write");
        std::fs::write(dir.path().join("data/secret"), b"one up").expect("write");
        std::fs::write(dir.path().join("secret2"), b"two up").expect("write");
        std::os::unix::fs::symlink(dir.path().join("data/secret"), fw.join("link")).expect("ln");
        assert_eq!(lookup(&fw, "ok.bin").map(|(_, n)| n), Some(2));
        assert_eq!(
            lookup(&fw, "/provision/sub/deep.bin").map(|(_, n)| n),
            Some(4)
        );
        for bad in [
            "../secret",
            "../../secret2",
            "sub/../../secret",
            "/etc/passwd",
            "%2e%2e/secret",
            ".hidden",
            "link",
            "sub",
            "",
            "a\\b",
            "a\0b",
        ] {
            assert_eq!(lookup(&fw, bad), None, "{bad:?}");
        }
    }
}
