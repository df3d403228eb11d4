//! Update bundles across implementations: `scripts/make-bundle` (what `build-image --bundle`
//! runs) makes them with the real `openssl` (Ed25519 signature of a SHA-256), and the real
//! `ivmd bundle check` verifies them with ring. A good bundle passes; one with a changed byte,
//! one signed by another key, one cut short and one with bytes appended are refused with
//! their reason, exit status 1, and the file is left as it was. `ivmd update` hands only a
//! bundle that verifies to the installer, and so does an admin's `PUT /api/admin/update`.

#[path = "harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::{ivmd, ivmd_bin, require_tool, tempdir, text, Server};
use serde_json::{json, Value};

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

/// Makes a bundle in `dir` with `scripts/make-bundle` (openssl) from `root`, a tiny kernel
/// and initrd, signed by `key`; returns its path.
fn make_bundle(d: &Path, key: &Path, root: &[u8]) -> PathBuf {
    std::fs::write(d.join("root.img"), root).expect("root");
    std::fs::write(d.join("vmlinuz"), b"a kernel").expect("kernel");
    std::fs::write(d.join("initrd.img"), b"an initrd").expect("initrd");
    let bundle = d.join("ivm-box.bundle");
    let made = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/make-bundle"
    ))
    .arg("--key")
    .arg(key)
    .args(["--version", "0.1.0-test"])
    .args([d.join("root.img"), d.join("vmlinuz"), d.join("initrd.img")])
    .arg(&bundle)
    .output()
    .expect("make-bundle");
    assert!(made.status.success(), "{}", text(&made));
    bundle
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
    let bundle = make_bundle(d, &key, &root);
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

/// `ivmd update FILE` with the installer of a config: only a bundle that verifies is staged
/// in the data folder and handed to the installer (here `cp`, standing in for the image's
/// `systemctl start ivm-update.service`, which needs the image's root slots: scripts/boot-image
/// covers that side); a refused one leaves the data folder untouched and the installer unrun;
/// the embedded defaults install nothing.
#[test]
fn update_hands_only_verified_bundles_to_the_installer() {
    require_tool("openssl");
    require_tool("python3");
    let dir = tempdir();
    let d = dir.path();
    let (key, public) = keypair(d, "build");
    let (other_key, _) = keypair(d, "other");
    let data = d.join("data");
    std::fs::create_dir(&data).expect("data");
    let installed = d.join("installed.bundle");
    let config = d.join("ivmd.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[update]\ncommand = [\"cp\", {:?}, {:?}]\n",
            data,
            data.join("update.bundle"),
            installed
        ),
    )
    .expect("config");
    let update = |bundle: &Path, config: Option<&Path>| {
        let mut c = Command::new(ivmd_bin());
        if let Some(config) = config {
            c.arg("--config").arg(config);
        }
        let out = c
            .arg("--data")
            .arg(&data)
            .arg("update")
            .arg(bundle)
            .arg("--key")
            .arg(&public)
            .output()
            .expect("ivmd");
        (out.status.success(), text(&out))
    };
    let nothing_written = |why: &str| {
        let left: Vec<_> = std::fs::read_dir(&data)
            .expect("data")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "{why}: the data folder holds {left:?}");
        assert!(!installed.exists(), "{why}: the installer ran");
    };

    let root: Vec<u8> = (0..(1 << 20) + 5).map(|i| (i * 13 % 251) as u8).collect();
    let other = d.join("other");
    std::fs::create_dir(&other).expect("other");
    let foreign = make_bundle(&other, &other_key, &root);
    let good = make_bundle(d, &key, &root);
    let bytes = std::fs::read(&good).expect("bundle");

    let (ok, out) = update(&foreign, Some(&config));
    assert!(
        !ok && out.contains("refused") && out.contains("signed by another key"),
        "{out}"
    );
    nothing_written("a bundle signed by another key");
    let short = d.join("short.bundle");
    std::fs::write(&short, &bytes[..bytes.len() - 100]).expect("short");
    let (ok, out) = update(&short, Some(&config));
    assert!(!ok && out.contains("cut short"), "{out}");
    nothing_written("a bundle cut short");
    let mut changed = bytes.clone();
    changed[64 + 4096] ^= 1;
    let tampered = d.join("tampered.bundle");
    std::fs::write(&tampered, &changed).expect("tampered");
    let (ok, out) = update(&tampered, Some(&config));
    assert!(!ok && out.contains("does not match"), "{out}");
    nothing_written("a changed bundle");

    // The embedded defaults: no installer, nothing written, and it says so.
    let (ok, out) = update(&good, None);
    assert!(!ok && out.contains("installs no updates"), "{out}");
    nothing_written("the defaults");

    let (ok, out) = update(&good, Some(&config));
    assert!(
        ok && out.contains("0.1.0-test verified and handed to the installer"),
        "{out}"
    );
    assert_eq!(std::fs::read(&installed).expect("installed"), bytes);
    assert_eq!(
        std::fs::read(data.join("update.bundle")).expect("staged"),
        bytes
    );
    assert!(!data.join("update.bundle.partial").exists());

    // An installer that fails is reported as such.
    std::fs::write(
        &config,
        format!("data_dir = {data:?}\n[update]\ncommand = [\"false\"]\n"),
    )
    .expect("config");
    let (ok, out) = update(&good, Some(&config));
    assert!(!ok && out.contains("the installer (false) failed"), "{out}");
}

/// Logs `name` in over the box's HTTP API; the session token.
async fn token(server: &Server, name: &str, password: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/login", server.http))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "login {name}");
    let v: Value = r.json().await.expect("json");
    v["token"].as_str().expect("token").to_owned()
}

/// `PUT /api/admin/update` with `body`; (status, answer).
async fn upload(
    server: &Server,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .put(format!("{}/api/admin/update", server.http))
        .header("Content-Type", "application/octet-stream")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("upload");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An admin user `boss` and a plain user `ann` on a running box.
fn users(server: &Server) {
    let out = ivmd(
        &server.data,
        &[
            "user",
            "add",
            "boss",
            "--extension",
            "200",
            "--password",
            "boss-password-1",
            "--admin",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    server.add_user("ann", "201", "ann-password-1");
}

/// The admin page's upload against the real ivmd: only an admin may upload; a bundle signed
/// by another key or cut short is refused (400, its reason) with nothing left in the data
/// folder and the installer not run; a good one reaches the installer whole and leaves no
/// upload behind, and a second upload while it arrives is turned away (409); a box with the
/// embedded defaults installs no updates (404).
#[tokio::test]
async fn an_admin_uploads_a_bundle_and_only_a_verified_one_reaches_the_installer() {
    require_tool("openssl");
    require_tool("python3");
    let dir = tempdir();
    let d = dir.path();
    let (key, public) = keypair(d, "build");
    let (other_key, _) = keypair(d, "other");
    let root: Vec<u8> = (0..(3 << 20) + 1).map(|i| (i * 31 % 253) as u8).collect();
    let other = d.join("other");
    std::fs::create_dir(&other).expect("other");
    let foreign = std::fs::read(make_bundle(&other, &other_key, &root)).expect("foreign");
    let good = std::fs::read(make_bundle(d, &key, &root)).expect("good");
    let installed = d.join("installed.bundle");
    let data = d.join("data");
    let server = Server::start(
        d,
        &format!(
            "[update]\ncommand = [\"cp\", {:?}, {:?}]\nkey = {:?}\n",
            data.join("update.bundle"),
            installed,
            public
        ),
    );
    users(&server);
    let boss = token(&server, "boss", "boss-password-1").await;
    let ann = token(&server, "ann", "ann-password-1").await;
    let nothing_written = |why: &str| {
        let left: Vec<_> = std::fs::read_dir(&data)
            .expect("data")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("update."))
            .collect();
        assert!(left.is_empty(), "{why}: the data folder holds {left:?}");
        assert!(!installed.exists(), "{why}: the installer ran");
    };

    let (status, _) = upload(&server, None, good.clone()).await;
    assert_eq!(status, 401);
    nothing_written("no token");
    let (status, _) = upload(&server, Some(&ann), good.clone()).await;
    assert_eq!(status, 403);
    nothing_written("not an admin");
    let (status, v) = upload(&server, Some(&boss), foreign).await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("signed by another key"), "{v}");
    nothing_written("another key");
    let (status, v) = upload(&server, Some(&boss), good[..good.len() / 2].to_vec()).await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("cut short"), "{v}");
    nothing_written("cut short");

    // The good one, sent in two parts; while its first part is in, a second upload is
    // turned away (409) rather than overwrite it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let first = {
        let (http, boss) = (server.http.clone(), boss.clone());
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .put(format!("{http}/api/admin/update"))
                .bearer_auth(boss)
                .body(body)
                .send()
                .await
                .expect("upload");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    tx.send(Ok(good[..1 << 20].to_vec()))
        .await
        .expect("first part");
    let upload_file = data.join("update.upload");
    // Async waits: the upload task runs on this test's one thread.
    let mut receiving = false;
    for _ in 0..100 {
        if std::fs::metadata(&upload_file).is_ok_and(|m| m.len() > 0) {
            receiving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiving, "the first upload is not being received");
    let (status, v) = upload(&server, Some(&boss), good.clone()).await;
    assert_eq!(status, 409, "{v}");
    tx.send(Ok(good[1 << 20..].to_vec()))
        .await
        .expect("second part");
    drop(tx);
    let (status, v) = first.await.expect("first upload");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["version"], "0.1.0-test", "{v}");
    assert_eq!(std::fs::read(&installed).expect("installed"), good);
    assert!(
        !data.join("update.upload").exists(),
        "the upload is not left behind"
    );

    // The embedded defaults: no installer.
    let plain = d.join("plain");
    std::fs::create_dir(&plain).expect("plain");
    let server = Server::start(&plain, "");
    users(&server);
    let boss = token(&server, "boss", "boss-password-1").await;
    let (status, v) = upload(&server, Some(&boss), good).await;
    assert_eq!(status, 404, "{v}");
    assert!(v.to_string().contains("installs no updates"), "{v}");
}

/// `POST /api/admin/restart` with `token`; the status.
async fn restart(server: &Server, token: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new().post(format!("{}/api/admin/restart", server.http));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("restart").status().as_u16()
}

/// The admin page's restart, which starts an installed update: only an admin may ask (401
/// without a login, 403 for a user); on a box with a reboot command (the image's `systemctl
/// reboot`) that command runs, as for the panel's Reboot; without one ivmd starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_restarts_the_box_as_the_panels_reboot_does() {
    let dir = tempdir();
    let marker = dir.path().join("rebooted");
    let server = Server::start(
        dir.path(),
        &format!("[panel]\nreboot_command = [\"touch\", {marker:?}]\n"),
    );
    users(&server);
    assert_eq!(restart(&server, None).await, 401);
    let ann = token(&server, "ann", "ann-password-1").await;
    assert_eq!(restart(&server, Some(&ann)).await, 403);
    assert!(!marker.exists(), "refused, nothing ran");
    let boss = token(&server, "boss", "boss-password-1").await;
    assert_eq!(restart(&server, Some(&boss)).await, 202);
    assert!(marker.exists(), "the reboot command ran");

    let other = tempdir();
    let mut plain = Server::start(other.path(), "");
    users(&plain);
    let boss = token(&plain, "boss", "boss-password-1").await;
    assert_eq!(restart(&plain, Some(&boss)).await, 202);
    tokio::task::block_in_place(|| {
        plain.wait_stdout("ivmd: restarting", Duration::from_secs(30));
        plain.wait_stdout("ivmd: ready", Duration::from_secs(30));
    });
}
