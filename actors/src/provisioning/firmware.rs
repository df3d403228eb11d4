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

/// The firmware an admin put in place for `model` of `vendor`: a file in
/// `<root>/<vendor>/` whose name starts with the model as the phone reports it
/// (case-insensitive: `yealink/SIP-T46S.rom`, `grandstream/gxp2170fw.bin`), the first by
/// name. Its path relative to `root` (`yealink/SIP-T46S.rom`), or `None`: then the files
/// name no firmware at all and the phone keeps its own, rather than fetching a 404.
pub fn for_model(root: &Path, vendor: &str, model: &str) -> Option<String> {
    let model = model.to_ascii_lowercase();
    if model.is_empty()
        || !model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
    {
        return None;
    }
    let mut names: Vec<String> = std::fs::read_dir(root.join(vendor))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n.to_ascii_lowercase().starts_with(&model))
        .collect();
    names.sort();
    let rel = format!("{vendor}/{}", names.first()?);
    // Served by `lookup`, so what a file names is always fetchable.
    lookup(root, &rel).map(|_| rel)
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

    #[test]
    fn firmware_per_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fw = dir.path();
        std::fs::create_dir_all(fw.join("yealink")).expect("mkdir");
        std::fs::create_dir_all(fw.join("grandstream/gxp2170.d")).expect("mkdir");
        std::fs::write(fw.join("yealink/SIP-T46S.rom"), b"fw").expect("write");
        std::fs::write(fw.join("yealink/.SIP-T46U.rom"), b"fw").expect("write");
        std::fs::write(fw.join("grandstream/gxp2170fw.bin"), b"fw").expect("write");
        assert_eq!(
            for_model(fw, "yealink", "SIP-T46S").as_deref(),
            Some("yealink/SIP-T46S.rom")
        );
        assert_eq!(
            for_model(fw, "grandstream", "GXP2170").as_deref(),
            Some("grandstream/gxp2170fw.bin")
        );
        for (vendor, model) in [
            ("yealink", "SIP-T46U"),
            ("yealink", ""),
            ("yealink", "../x"),
            ("polycom", "VVX_411"),
            ("snom", "D785"),
        ] {
            assert_eq!(for_model(fw, vendor, model), None, "{vendor} {model}");
        }
    }
}
