//! The HTTPS certificate with the real binaries (issue 11, item 6): the box's own names its
//! addresses and `[http] names`; an admin installs the office's certificate with `ivmd tls
//! install`, and the running box serves it from the next connection on, with no restart;
//! unusable files are refused and change nothing; `ivmd tls reset` goes back to the box's
//! own. curl checks what is served, trusting only what the test says.

#[path = "harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{ivmd, run_bounded, tempdir, text, Server};

/// `openssl` in `dir`, bounded.
fn openssl(dir: &Path, args: &[&str]) {
    let out = run_bounded(
        Command::new("openssl").current_dir(dir).args(args),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

/// An office CA and a certificate it issued for `voice.office.example` and 127.0.0.1:
/// (ca.pem, chain.pem, key.pem) in `dir`.
fn office_certificate(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Office CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/CN=voice.office.example",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:voice.office.example,IP:127.0.0.1\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ],
    );
    let chain = std::fs::read_to_string(dir.join("leaf.pem")).expect("leaf")
        + &std::fs::read_to_string(dir.join("ca.pem")).expect("ca");
    std::fs::write(dir.join("chain.pem"), chain).expect("chain");
}

/// The HTTP status of `GET /api/health` over HTTPS at `port` as `name`, trusting only
/// `cacert`; "000" when the handshake or the certificate check failed.
fn health(port: &str, name: &str, cacert: &Path) -> String {
    let out = run_bounded(
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .arg("--cacert")
            .arg(cacert)
            .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
            .arg(format!("https://{name}:{port}/api/health")),
        Duration::from_secs(20),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_office_certificate_is_installed_on_the_running_box_and_reset() {
    for tool in ["curl", "openssl"] {
        if !harness::available(tool) {
            return;
        }
    }
    let dir = tempdir();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    office_certificate(&certs);
    let server = Server::start(dir.path(), "[http]\nnames = [\"box.office.example\"]\n");
    let port = server.https.rsplit(':').next().expect("port").to_owned();
    let own = server.data.join("tls/cert.pem");

    // The box's own certificate names its configured name; the office's CA is not trusted.
    assert_eq!(health(&port, "box.office.example", &own), "200");
    assert_eq!(
        health(&port, "voice.office.example", &certs.join("ca.pem")),
        "000"
    );

    // Unusable files are refused with the reason, and nothing changes.
    let refused = ivmd(
        &server.data,
        &[
            "tls",
            "install",
            certs.join("chain.pem").to_str().expect("path"),
            certs.join("ca.key").to_str().expect("path"),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("not the certificate's"),
        "{}",
        text(&refused)
    );
    assert_eq!(health(&port, "box.office.example", &own), "200");

    // Installed while the box runs: served from the next connection, no restart.
    let pid = server.pid();
    let out = ivmd(
        &server.data,
        &[
            "tls",
            "install",
            certs.join("chain.pem").to_str().expect("path"),
            certs.join("key.pem").to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("source:      installed") && shown.contains("Office CA"),
        "{shown}"
    );
    assert!(shown.contains("voice.office.example"), "{shown}");
    assert_eq!(
        health(&port, "voice.office.example", &certs.join("ca.pem")),
        "200"
    );
    assert_eq!(server.pid(), pid);
    let show = ivmd(&server.data, &["tls", "show"]);
    assert!(
        text(&show).contains("source:      installed"),
        "{}",
        text(&show)
    );
    // Clients told to trust tls/cert.pem get the chain, which they can check by its CA.
    let pem = std::fs::read_to_string(&own).expect("pem");
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");

    // Back to the box's own: the office's CA no longer works, the new cert.pem does.
    let out = ivmd(&server.data, &["tls", "reset"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("source:      box"), "{}", text(&out));
    assert_eq!(
        health(&port, "voice.office.example", &certs.join("ca.pem")),
        "000"
    );
    assert_eq!(health(&port, "box.office.example", &own), "200");
    assert!(
        !server.log().contains("BEGIN") && !server.log().contains("PRIVATE KEY"),
        "no key material in the log"
    );
}
