//! Peers of the provisioning tests: tftp-hpa, curl (HTTP and `tftp://`, from a chosen
//! source address with `--interface`), raw TFTP datagrams for option checks and floods,
//! and the admin REST API. Every run is bounded.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{ivmd, require_tool, run_bounded, text, Server};

/// A Yealink MAC (its OUI names the vendor).
pub const YEALINK: &str = "001565aabbcc";

pub fn run(cmd: &mut Command) -> Output {
    run_bounded(cmd, Duration::from_secs(30))
}

/// `ivmd ARGS` on the box's data folder, asserted to succeed; its standard output.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let o = ivmd(data, args);
    assert!(o.status.success(), "ivmd {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `host:port` of the TFTP service split for tftp-hpa.
pub fn host_port(addr: &str) -> (String, String) {
    let (h, p) = addr.rsplit_once(':').expect("host:port");
    (h.to_owned(), p.to_owned())
}

/// An HTTP answer as curl saw it.
pub struct Http {
    pub code: u16,
    pub body: String,
    pub headers: String,
}

/// `curl -sS ARGS URL` with the status code, headers and body.
pub fn curl(args: &[&str], url: &str) -> Http {
    let o = run(Command::new("curl")
        .args(["-sS", "-D", "/dev/stderr", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url));
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    Http {
        code: code.trim().parse().unwrap_or(0),
        body: body.to_owned(),
        headers: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn http_get(url: &str) -> (u16, String) {
    let r = curl(&[], url);
    (r.code, r.body)
}

/// `tftp -m octet HOST PORT -c get NAME OUT` (tftp-hpa): the file's text, or tftp's output
/// when it failed.
pub fn try_tftp_get(addr: &str, name: &str, out: &Path) -> Result<String, String> {
    let _ = std::fs::remove_file(out);
    let (h, p) = host_port(addr);
    let o = run(Command::new("tftp").args([
        "-m",
        "octet",
        &h,
        &p,
        "-c",
        "get",
        name,
        out.to_str().expect("path"),
    ]));
    // tftp-hpa exits 0 even on an ERROR packet; it says so on its output.
    let said = text(&o);
    if !o.status.success() || said.contains("Error code") {
        let _ = std::fs::remove_file(out);
        return Err(said);
    }
    std::fs::read_to_string(out).map_err(|e| format!("{e}: {said}"))
}

/// [`try_tftp_get`], asserted to succeed.
pub fn tftp_get(addr: &str, name: &str, out: &Path) -> String {
    try_tftp_get(addr, name, out).unwrap_or_else(|e| panic!("tftp get {name}: {e}"))
}

/// `curl tftp://ADDR/NAME` from source address `from` (`--interface`): the bytes, or curl's
/// complaint.
pub fn curl_tftp_from(from: &str, addr: &str, name: &str) -> Result<Vec<u8>, String> {
    let o = run(Command::new("curl")
        .args(["-sS", "--interface", from])
        .arg(format!("tftp://{addr}/{name}")));
    if o.status.success() {
        Ok(o.stdout)
    } else {
        Err(text(&o))
    }
}

/// A raw RRQ/WRQ with options from `from` (an address on this host); returns the first
/// answer packet (bounded by a 5 s timeout).
pub fn raw_request_from(
    from: &str,
    addr: &str,
    opcode: u8,
    name: &str,
    options: &[(&str, &str)],
) -> Vec<u8> {
    let sock = UdpSocket::bind((from, 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut pkt = vec![0, opcode];
    for part in [name, "octet"]
        .into_iter()
        .chain(options.iter().flat_map(|(k, v)| [*k, *v]))
    {
        pkt.extend_from_slice(part.as_bytes());
        pkt.push(0);
    }
    sock.send_to(&pkt, addr).expect("send");
    let mut buf = [0u8; 2048];
    let (n, from) = sock.recv_from(&mut buf).expect("an answer within 5 s");
    // End the transfer politely (ERROR 0) so the server does not retransmit.
    let _ = sock.send_to(b"\x00\x05\x00\x00done\x00", from);
    buf[..n].to_vec()
}

/// [`raw_request_from`] 127.0.0.1.
pub fn raw_request(addr: &str, opcode: u8, name: &str, options: &[(&str, &str)]) -> Vec<u8> {
    raw_request_from("127.0.0.1", addr, opcode, name, options)
}

pub fn oack_options(p: &[u8]) -> Vec<(String, String)> {
    assert_eq!(&p[..2], &[0, 6], "an OACK, got {p:?}");
    let parts: Vec<String> = p[2..]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    parts
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// Logs `admin` in over REST (after setting a known password) and returns a curl wrapper
/// that sends the bearer token: `(status, body)`.
pub fn admin_curl(server: &Server) -> impl Fn(&[&str]) -> (u16, String) {
    ok(
        &server.data,
        &["user", "passwd", "admin", "--password", "admin-password"],
    );
    let login = run(Command::new("curl").args([
        "-sS",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"admin","password":"admin-password"}"#,
        &format!("{}/api/login", server.http),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&login.stdout).expect("login json");
    let auth = format!(
        "authorization: Bearer {}",
        v["token"].as_str().expect("token")
    );
    move |args: &[&str]| {
        let o = run(Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "-H", &auth])
            .args(args));
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = t.rsplit_once('\n').expect("status");
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }
}

/// The phone `mac` in `GET /api/admin/phones`.
pub fn admin_phone(
    curl: &impl Fn(&[&str]) -> (u16, String),
    server: &Server,
    mac: &str,
) -> serde_json::Value {
    let (code, body) = curl(&[&format!("{}/api/admin/phones", server.http)]);
    assert_eq!(code, 200, "{body}");
    let phones: serde_json::Value = serde_json::from_str(&body).expect("json");
    phones
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["mac"] == mac)
        .unwrap_or_else(|| panic!("phone {mac} listed: {body}"))
        .clone()
}

/// `key = value` of a Yealink `.cfg` file.
pub fn cfg_value(body: &str, key: &str) -> String {
    body.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.trim_start().strip_prefix('='))
        })
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .trim()
        .to_owned()
}

/// The `phone list` line of `mac`.
pub fn list_line(data: &Path, mac: &str) -> Option<String> {
    ok(data, &["phone", "list"])
        .lines()
        .find(|l| l.starts_with(mac))
        .map(str::to_owned)
}

/// `xmllint --noout` on `body`, asserted to pass.
pub fn assert_xml(dir: &Path, name: &str, body: &str) {
    require_tool("xmllint");
    let f = dir.join("check.xml");
    std::fs::write(&f, body).expect("write");
    let o = run(Command::new("xmllint").arg("--noout").arg(&f));
    assert!(
        o.status.success(),
        "{name} is not XML: {}\n{body}",
        text(&o)
    );
}

/// What one `atftp --trace` download saw.
pub struct Atftp {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// ACKs it sent (ACK 0 of the OACK included).
    pub acks: usize,
    /// The options the server's OACK acknowledged, as atftp printed them.
    pub oack: String,
}

/// `atftp --trace --option "NAME VALUE"... -g -r NAME -l OUT HOST PORT` (Debian's atftp, the
/// client that sends windowsize, RFC 7440), asserted to succeed.
pub fn atftp_get(addr: &str, name: &str, options: &[(&str, &str)], out: &Path) -> Atftp {
    let _ = std::fs::remove_file(out);
    let (h, p) = host_port(addr);
    let mut cmd = Command::new("atftp");
    cmd.arg("--trace");
    for (k, v) in options {
        cmd.args(["--option", &format!("{k} {v}")]);
    }
    cmd.args(["-g", "-r", name, "-l", out.to_str().expect("path"), &h, &p]);
    let o = run(&mut cmd);
    let said = text(&o);
    assert!(o.status.success(), "atftp get {name}: {said}");
    Atftp {
        bytes: std::fs::read(out).unwrap_or_else(|e| panic!("{e}: {said}")),
        acks: said.lines().filter(|l| l.starts_with("sent ACK")).count(),
        oack: said
            .lines()
            .find(|l| l.starts_with("received OACK"))
            .unwrap_or_default()
            .to_owned(),
    }
}
