//! Update bundles across implementations: `scripts/make-bundle` (what `build-image --bundle`
//! runs) makes them with the real `openssl` (Ed25519 signature of a SHA-256), and the real
//! `ivmd bundle check` verifies them with ring. A good bundle passes; one with a changed byte,
//! one signed by another key, one cut short and one with bytes appended are refused with
//! their reason, exit status 1, and the file is left as it was.

#[path = "harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{ivmd_bin, require_tool, tempdir, text};

/// Makes an Ed25519 key pair with openssl: (private PEM, public PEM).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let ok = |c: &mut Command| assert!(c.status().expect("openssl").success());
    ok(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    (key, public)
}

fn check(bundle: &Path, public: &Path) -> (bool, String) {
    let out = Command::new(ivmd_bin())
        .args(["bundle", "check"])
        .arg(bundle)
        .arg("--key")
        .arg(public)
        .output()
        .expect("ivmd");
    (out.status.success(), text(&out))
}

#[test]
fn bundles_made_with_openssl_are_checked_by_ivmd() {
    require_tool("openssl");
    require_tool("python3");
    let dir = tempdir();
    let d = dir.path();
    let (key, public) = keypair(d, "build");
    let (_, other_public) = keypair(d, "other");
    // A root over the verifier's 1 MiB read size, so the digest spans several reads.
    let root: Vec<u8> = (0..(2 << 20) + 3).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(d.join("root.img"), &root).expect("root");
    std::fs::write(d.join("vmlinuz"), b"a kernel").expect("kernel");
    std::fs::write(d.join("initrd.img"), b"an initrd").expect("initrd");
    let bundle = d.join("ivm-box.bundle");
    let made = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/make-bundle"
    ))
    .arg("--key")
    .arg(&key)
    .args(["--version", "0.1.0-test"])
    .args([d.join("root.img"), d.join("vmlinuz"), d.join("initrd.img")])
    .arg(&bundle)
    .output()
    .expect("make-bundle");
    assert!(made.status.success(), "{}", text(&made));
    let good = std::fs::read(&bundle).expect("bundle");
    assert_eq!(good.len(), 64 + root.len() + 8 + 9 + 64);

    let (ok, out) = check(&bundle, &public);
    assert!(ok, "{out}");
    assert!(
        out.contains("update bundle 0.1.0-test")
            && out.contains(&format!("root {} bytes", root.len()))
            && out.contains("signature good"),
        "{out}"
    );

    let (ok, out) = check(&bundle, &other_public);
    assert!(
        !ok && out.contains("refused") && out.contains("signed by another key"),
        "{out}"
    );

    let refused = |bytes: &[u8], why: &str| {
        let f = d.join("bad.bundle");
        std::fs::write(&f, bytes).expect("write");
        let (ok, out) = check(&f, &public);
        assert!(!ok && out.contains(why), "expected {why:?}: {out}");
        assert_eq!(
            std::fs::read(&f).expect("read"),
            bytes,
            "the file is left as it was"
        );
    };
    let mut tampered = good.clone();
    tampered[64 + 1000] ^= 0x20;
    refused(&tampered, "does not match this box's update key");
    refused(&good[..good.len() - 1], "cut short");
    refused(&good[..good.len() / 2], "cut short");
    refused(&good[..30], "cut short");
    let mut longer = good.clone();
    longer.extend_from_slice(b"junk");
    refused(&longer, "4 bytes after its signature");
    refused(
        b"not a bundle at all, just some text in a file",
        "not an IVM update bundle",
    );

    // A key file that is not an Ed25519 public key is an error of its own.
    let (ok, out) = check(&bundle, &key);
    assert!(!ok && out.contains("not an Ed25519 public key"), "{out}");
}
