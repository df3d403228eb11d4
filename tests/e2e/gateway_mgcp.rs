//! Analog phones behind an MGCP media gateway (issue 14), against the real `ivmd` on its
//! embedded defaults (only `[mgcp] listen` moved to a loopback port) and the suite's own
//! scripted residential gateway, `tests/e2e/peers/mgcp_gateway.py` (no open-source
//! residential MGCP gateway exists; that one is written from RFC 3435/3660, independently of
//! the box's MGCP core).
//!
//! One box, one gateway with aaln/1 (ann's line) and aaln/2 (nobody's), in order:
//! registration (RSIP) and audit; off-hook, dial tone and the digit map; `*7202`, 3 s of
//! speech as PCMU RTP, on-hook: bob's inbox has the message, of the right length (opusinfo);
//! a duplicate NTFY answered from the cache and not executed twice; bob's message to ann
//! lights ann's lamp (L/vmwi(+)); ring-my-phone from the web API rings the line (L/rg with
//! caller id) and records on off-hook; a datagram from an unconfigured address gets nothing; the
//! gateway restarts and is audited again; `ivmd gateway list` shows the live state. The
//! traffic is captured with tshark and dissected as MGCP: no malformed packets. Loopback
//! only; every wait is bounded.

mod harness;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use harness::{ivmd, run_bounded, tempdir, text, Person, Server};
use serde_json::Value;

/// The scripted gateway: cues on its stdin, what it saw as JSON lines.
struct Gateway {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    seen: Vec<Value>,
    addr: String,
}

impl Gateway {
    fn start(endpoints: u32) -> Gateway {
        harness::require_tool("python3");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/peers/mgcp_gateway.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(endpoints.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 mgcp_gateway.py");
        let stdin = child.stdin.take().expect("stdin");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let mut gw = Gateway {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
            addr: String::new(),
        };
        let ready = gw.wait(|v| v.get("ready").is_some(), "ready");
        gw.addr = ready["ready"].as_str().expect("addr").to_owned();
        gw
    }

    fn cue(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("cue the gateway");
        self.stdin.flush().expect("flush");
    }

    /// The first line from now (or already seen and not yet taken) that `f` accepts.
    fn wait(&mut self, f: impl Fn(&Value) -> bool, what: &str) -> Value {
        if let Some(i) = self.seen.iter().position(&f) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if f(&v) => return v,
                Ok(v) => self.seen.push(v),
                Err(_) => panic!("the gateway never saw {what}; it saw {:#?}", self.seen),
            }
        }
    }

    /// Everything seen within `d` from now.
    fn drain(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        while let Ok(v) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v);
        }
        std::mem::take(&mut self.seen)
    }

    fn command(&mut self, verb: &str, ep: &str, what: &str) -> Value {
        let (verb, ep) = (verb.to_owned(), ep.to_owned());
        self.wait(
            move |v| {
                v["cmd"] == verb.as_str()
                    && v["endpoint"]
                        .as_str()
                        .is_some_and(|e| e.to_ascii_lowercase().starts_with(&format!("{ep}@")))
            },
            what,
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_cmd(v: &Value, verb: &str, ep: &str) -> bool {
    v["cmd"] == verb
        && v["endpoint"]
            .as_str()
            .is_some_and(|e| e.to_ascii_lowercase().starts_with(&format!("{ep}@")))
}

/// How many 200 answers to transaction `id` are in `seen`.
fn answers(seen: &[Value], id: &Value) -> usize {
    seen.iter()
        .filter(|v| v["response"] == 200 && v["id"] == *id)
        .count()
}

/// A 3-second 8 kHz mono WAV of speech (espeak-ng, then sox).
fn three_seconds(dir: &Path) -> PathBuf {
    let spoken = harness::speech(
        dir,
        "long",
        "This is a message from the analog phone in the hall, it is long enough for three seconds.",
    );
    let wav = dir.join("speech8k.wav");
    harness::sox(
        &spoken,
        &["-r", "8000", "-c", "1", "-b", "16"],
        &wav,
        &["trim", "0", "3"],
    );
    wav
}

/// `opusinfo`'s playback seconds of a stored message (valid Ogg Opus, mono, no warnings).
fn opusinfo_seconds(path: &Path) -> f64 {
    harness::require_tool("opusinfo");
    let out = run_bounded(Command::new("opusinfo").arg(path), Duration::from_secs(60));
    let t = text(&out);
    assert!(
        out.status.success(),
        "opusinfo refused the stored audio: {t}"
    );
    assert!(!t.contains("WARNING"), "opusinfo warns: {t}");
    let length = t
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playback length:"))
        .unwrap_or_else(|| panic!("playback length in {t}"));
    let (m, s) = length.trim().split_once("m:").expect("m:ss");
    m.parse::<f64>().expect("minutes") * 60.0 + s.trim_end_matches('s').parse::<f64>().expect("s")
}

/// tshark capturing the gateway's port on loopback into `pcap`.
fn capture(pcap: &Path, port: &str) -> Child {
    harness::require_tool("tshark");
    let mut child = Command::new("tshark")
        .args(["-i", "lo", "-f", &format!("udp port {port}"), "-w"])
        .arg(pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark");
    // It says "Capturing on 'Loopback...'" once it captures.
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("tshark started capturing");
    child
}

/// `curl -X POST` with a JSON body: (status, parsed body).
fn curl_post(url: &str, token: Option<&str>, body: &str, limit: Duration) -> (u16, Value) {
    curl_json("POST", url, token, body, limit)
}

/// `curl` with a JSON body and `method`: (status, parsed body).
fn curl_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &str,
    limit: Duration,
) -> (u16, Value) {
    harness::require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .args(["-H", "Content-Type: application/json", "--max-time"])
        .arg(limit.as_secs().to_string())
        .args(["-d", body]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = run_bounded(cmd.arg(url), limit + Duration::from_secs(5));
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", &t));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `curl` GET with a bearer token: (status, parsed body).
fn curl_get(url: &str, token: &str) -> (u16, Value) {
    let out = run_bounded(
        Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(url),
        Duration::from_secs(15),
    );
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", &t));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn login(server: &Server, name: &str, password: &str) -> String {
    let (code, body) = curl_post(
        &format!("{}/api/login", server.http),
        None,
        &serde_json::json!({"name": name, "password": password}).to_string(),
        Duration::from_secs(10),
    );
    assert_eq!(code, 200, "login {name}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

#[test]
fn an_analog_line_registers_records_lights_its_lamp_and_is_audited_again() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let wav = three_seconds(dir.path());

    let mut gw = Gateway::start(2);
    let gw_port = harness::port(&gw.addr);
    let pcap = dir.path().join("mgcp.pcap");
    let mut tshark = capture(&pcap, &gw_port);

    // Configured on the running box; the call agent's socket opens at the next start with a
    // gateway configured.
    let toml = "[mgcp]\nlisten = \"127.0.0.1:0\"\n";
    let mut first = Server::start_on(&data, toml);
    assert!(
        first.ready.contains("mgcp=off"),
        "no gateway, no socket: {}",
        first.ready
    );
    first.add_user("ann", "201", "ann-password-1");
    first.add_user("bob", "202", "bob-password-1");
    harness::add_admin(&data, "root", "299", "root-password-1");
    let added = ivmd(
        &data,
        &[
            "gateway",
            "add",
            "hall",
            "--address",
            &gw.addr,
            "--endpoints",
            "aaln/1..aaln/2",
        ],
    );
    assert!(added.status.success(), "gateway add: {}", text(&added));
    // Bad input changes nothing: an endpoint the gateway does not have, a user nobody is.
    let bad = ivmd(&data, &["line", "assign", "hall", "aaln/3", "ann"]);
    assert!(!bad.status.success(), "aaln/3 refused: {}", text(&bad));
    let bad = ivmd(&data, &["line", "assign", "hall", "aaln/1", "nobody"]);
    assert!(!bad.status.success(), "nobody refused: {}", text(&bad));
    let ok = ivmd(&data, &["line", "assign", "hall", "aaln/1", "ann"]);
    assert!(ok.status.success(), "line assign: {}", text(&ok));
    assert!(first.stop().success(), "stopped");

    let server = Server::start_on(&data, toml);
    let ca = server
        .ready
        .split_whitespace()
        .find_map(|p| p.strip_prefix("mgcp="))
        .expect("mgcp= in the ready line")
        .to_owned();
    assert_ne!(ca, "off", "{}", server.ready);

    // Registration: RSIP answered, both endpoints audited and asked for off-hook.
    gw.cue(&format!("ca {ca}"));
    gw.cue("rsip");
    gw.wait(|v| v["response"] == 200, "RSIP answered");
    for ep in ["aaln/1", "aaln/2"] {
        gw.command("AUEP", ep, "the audit");
        let rqnt = gw.command("RQNT", ep, "RQNT for off-hook");
        assert!(
            rqnt["params"]["R"].as_str().unwrap_or("").contains("L/hd"),
            "{rqnt}"
        );
    }
    // The lamp is set from ann's mailbox at registration: nothing waiting.
    gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["S"]
                    .as_str()
                    .is_some_and(|s| s.contains("L/vmwi(-)"))
        },
        "L/vmwi(-) at registration",
    );
    let list = ivmd(&data, &["gateway", "list"]);
    let t = text(&list);
    assert!(list.status.success(), "{t}");
    assert!(
        t.contains("hall") && t.contains(" up ") && t.contains("ann"),
        "{t}"
    );

    // The admin API shows the same live state.
    let admin = login(&server, "root", "root-password-1");
    let (code, api) = curl_get(&format!("{}/api/admin/gateways", server.http), &admin);
    assert_eq!(code, 200, "{api}");
    assert_eq!(api[0]["name"], "hall", "{api}");
    assert_eq!(api[0]["state"], "up", "{api}");
    assert_eq!(api[0]["lines"][0]["user_name"], "ann", "{api}");
    assert_eq!(api[0]["lines"][0]["state"], "idle", "{api}");
    assert_eq!(api[0]["lines"][1]["user_name"], Value::Null, "{api}");
    let (code, _) = curl_get(
        &format!("{}/api/admin/gateways", server.http),
        &login(&server, "ann", "ann-password-1"),
    );
    assert_eq!(code, 403, "admins only");
    // Assigned from the admin API as with `ivmd line assign`: aaln/2 to bob, then back.
    let lines = format!("{}/api/admin/gateways/hall/lines", server.http);
    let put = |body: Value, token: &str| {
        curl_json(
            "PUT",
            &lines,
            Some(token),
            &body.to_string(),
            Duration::from_secs(10),
        )
    };
    let (code, api) = put(
        serde_json::json!({"endpoint": "aaln/2", "user": "bob"}),
        &admin,
    );
    assert_eq!(code, 200, "{api}");
    assert_eq!(api[0]["lines"][1]["user_name"], "bob", "{api}");
    assert_eq!(api[0]["lines"][1]["state"], "idle", "{api}");
    for (body, want) in [
        (
            serde_json::json!({"endpoint": "aaln/3", "user": "bob"}),
            400,
        ),
        (
            serde_json::json!({"endpoint": "aaln/2", "user": "nobody"}),
            400,
        ),
        (
            serde_json::json!({"endpoint": "aaln/2", "user": "bob", "extra": 1}),
            400,
        ),
    ] {
        assert_eq!(put(body.clone(), &admin).0, want, "{body}");
    }
    let (code, _) = curl_json(
        "PUT",
        &format!("{}/api/admin/gateways/nope/lines", server.http),
        Some(&admin),
        &serde_json::json!({"endpoint": "aaln/1", "user": "bob"}).to_string(),
        Duration::from_secs(10),
    );
    assert_eq!(code, 404, "unknown gateway");
    let ann_token = login(&server, "ann", "ann-password-1");
    let body = serde_json::json!({"endpoint": "aaln/2", "user": "ann"});
    assert_eq!(put(body, &ann_token).0, 403, "admins only");
    let (code, api) = put(
        serde_json::json!({"endpoint": "aaln/2", "user": null}),
        &admin,
    );
    assert_eq!(code, 200, "{api}");
    assert_eq!(api[0]["lines"][1]["user_name"], Value::Null, "{api}");
    assert_eq!(api[0]["lines"][0]["user_name"], "ann", "unchanged: {api}");

    // Off-hook: dial tone and the digit map; the NTFY sent twice (same transaction id) is
    // answered twice (the second from the transaction cache) and runs once: one dial-tone
    // RQNT.
    gw.cue("offhook 1");
    gw.cue("dup");
    let hd = gw.wait(|v| v["ntfy"] == "aaln/1", "the off-hook NTFY sent")["id"].clone();
    gw.wait(|v| v["dup"] == hd, "the duplicate sent");
    let dial = gw.command("RQNT", "aaln/1", "dial tone");
    assert!(
        dial["params"]["S"].as_str().unwrap_or("").contains("L/dl"),
        "{dial}"
    );
    assert!(
        dial["params"]["D"].as_str().is_some(),
        "a digit map: {dial}"
    );
    let seen = gw.drain(Duration::from_secs(2));
    assert_eq!(
        answers(&seen, &hd),
        2,
        "the NTFY and its duplicate both answered: {seen:#?}"
    );
    assert!(
        !seen.iter().any(|v| is_cmd(v, "RQNT", "aaln/1")),
        "the duplicate NTFY was executed again: {seen:#?}"
    );

    // *7202: a connection with the box's SDP offer (PCMU and PCMA), then the prompt; 3 s of
    // speech; on-hook: the connection is deleted and bob has the message.
    gw.cue("digits 1 *7202#");
    let crcx = gw.command("CRCX", "aaln/1", "CRCX");
    let sdp = crcx["sdp"].as_str().unwrap_or("");
    assert!(
        sdp.contains("m=audio") && sdp.contains("PCMU") && sdp.contains("PCMA"),
        "{crcx}"
    );
    assert_eq!(crcx["params"]["M"], "sendrecv", "{crcx}");
    gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["R"]
                    .as_str()
                    .is_some_and(|r| r.contains("L/hu"))
        },
        "in a call: on-hook and digits asked for",
    );
    gw.cue("quiet 1 600");
    let quiet = gw.wait(|v| v.get("quiet").is_some(), "the prompt played");
    assert!(
        quiet["bytes"].as_u64().unwrap_or(0) > 800,
        "the box played a prompt: {quiet}"
    );
    gw.cue(&format!("play 1 {}", wav.display()));
    gw.wait(|v| v.get("played").is_some(), "speech sent");
    // On-hook sent twice: run again, it would delete and re-arm an idle line (a second
    // RQNT); answered from the cache, it changes nothing.
    gw.cue("onhook 1");
    gw.cue("dup");
    let hu = gw.wait(
        |v| v["ntfy"] == "aaln/1" && v["events"] == "L/hu",
        "the on-hook NTFY sent",
    )["id"]
        .clone();
    gw.wait(|v| v["dup"] == hu, "the duplicate sent");
    gw.command("DLCX", "aaln/1", "DLCX");
    assert!(
        server.wait_log(
            "message from an analog line posted",
            Duration::from_secs(30)
        ),
        "posted; log:\n{}",
        server.log()
    );
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["sender_name"], "ann");
    let stored = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(
        (stored - 3.0).abs() < 1.5,
        "stored {stored} s for 3 s spoken"
    );
    let id = inbox[0]["id"].as_str().expect("id").to_owned();
    let opus = dir.path().join("got.opus");
    bob.ok(&["get", &id, "-o", opus.to_str().expect("path")]);
    let length = opusinfo_seconds(&opus);
    assert!(
        (length - stored).abs() < 0.5,
        "opusinfo {length} s, the box {stored} s"
    );
    // Back to idle: waiting for off-hook, once.
    gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["R"]
                    .as_str()
                    .is_some_and(|r| r.contains("L/hd"))
        },
        "idle again",
    );
    let seen = gw.drain(Duration::from_secs(1));
    assert_eq!(answers(&seen, &hu), 2, "both on-hooks answered: {seen:#?}");
    assert!(
        !seen.iter().any(|v| v.get("cmd").is_some()),
        "the duplicate on-hook was executed again: {seen:#?}"
    );

    // Bob's message to ann lights ann's lamp (and nothing puts it out again).
    let short = harness::speech(dir.path(), "short", "Hello Ann, call me back.");
    bob.ok(&["send", "--to", "ann", short.to_str().expect("path")]);
    let lamp = gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["S"]
                    .as_str()
                    .is_some_and(|s| s.contains("L/vmwi(+)"))
        },
        "L/vmwi(+)",
    );
    assert!(
        lamp["params"]["R"].as_str().unwrap_or("").contains("L/hd"),
        "{lamp}"
    );
    let after = gw.drain(Duration::from_millis(500));
    assert!(
        !after.iter().any(|v| v["params"]["S"]
            .as_str()
            .is_some_and(|s| s.contains("vmwi(-)"))),
        "the lamp went out again: {after:#?}"
    );

    // Ring-my-phone from the web API rings ann's analog line with caller id; off-hook
    // connects, the prompt plays, the speech is recorded and reaches bob.
    let token = login(&server, "ann", "ann-password-1");
    let url = format!("{}/api/ring-me", server.http);
    let ring = std::thread::spawn(move || {
        curl_post(
            &url,
            Some(&token),
            r#"{"to":["bob"]}"#,
            Duration::from_secs(60),
        )
    });
    let rg = gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["S"]
                    .as_str()
                    .is_some_and(|s| s.contains("L/rg"))
        },
        "L/rg",
    );
    let signals = rg["params"]["S"].as_str().unwrap_or("");
    assert!(signals.contains("L/ci("), "caller id: {rg}");
    assert!(
        rg["params"]["R"].as_str().unwrap_or("").contains("L/hd"),
        "{rg}"
    );
    gw.cue("offhook 1");
    gw.command("CRCX", "aaln/1", "CRCX on answer");
    let (code, body) = ring.join().expect("ring-me thread");
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["state"], "recording");
    gw.cue("quiet 1 600");
    gw.wait(|v| v.get("quiet").is_some(), "the ring-me prompt played");
    gw.cue(&format!("play 1 {}", wav.display()));
    gw.wait(|v| v.get("played").is_some(), "speech sent");
    gw.cue("onhook 1");
    gw.command("DLCX", "aaln/1", "DLCX after ring-me");
    assert!(
        harness::until(Duration::from_secs(30), || bob.inbox().len() == 2),
        "bob got the ring-me message; log:\n{}",
        server.log()
    );
    gw.drain(Duration::from_millis(500));

    // A stranger's NTFY gets nothing, and changes nothing.
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
    stranger
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stranger
        .send_to(
            b"NTFY 77 aaln/1@[127.0.0.1] MGCP 1.0\r\nX: 1\r\nO: L/hd\r\n",
            &ca,
        )
        .expect("send");
    let mut buf = [0u8; 1024];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "a stranger got an answer"
    );
    assert!(
        server.wait_log(
            "MGCP from an unconfigured address dropped",
            Duration::from_secs(5)
        ),
        "the drop is counted"
    );
    let status = ivmd(&data, &["status"]);
    assert!(
        text(&status).contains("gateways:     1 up of 1 (1 MGCP datagrams from unconfigured"),
        "ivmd status counts the drop: {}",
        text(&status)
    );
    let seen = gw.drain(Duration::from_millis(500));
    assert!(
        !seen.iter().any(|v| v.get("cmd").is_some()),
        "a stranger set something off: {seen:#?}"
    );

    // The gateway restarts: audited again.
    gw.cue("rsip");
    gw.command("AUEP", "aaln/1", "the second audit");
    gw.command("AUEP", "aaln/2", "the second audit");

    // tshark dissects every datagram as MGCP, none malformed.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(tshark.id().to_string())
        .status();
    let _ = harness::wait_bounded(&mut tshark, Duration::from_secs(10));
    let decode = format!("udp.port=={gw_port},mgcp");
    let all = run_bounded(
        Command::new("tshark")
            .args(["-r"])
            .arg(&pcap)
            .args(["-d", &decode, "-Y", "mgcp"]),
        Duration::from_secs(60),
    );
    let packets = String::from_utf8_lossy(&all.stdout).lines().count();
    assert!(packets >= 20, "MGCP packets dissected: {}", text(&all));
    let malformed = run_bounded(
        Command::new("tshark").args(["-r"]).arg(&pcap).args([
            "-d",
            &decode,
            "-Y",
            "_ws.malformed || _ws.expert.severity >= error",
        ]),
        Duration::from_secs(60),
    );
    assert!(malformed.status.success(), "{}", text(&malformed));
    let bad = String::from_utf8_lossy(&malformed.stdout);
    assert_eq!(bad.trim(), "", "malformed MGCP");
}

/// A gateway that vanishes mid-call: the box's keep-alive audit gets no answer, the gateway
/// is marked down (`ivmd gateway list`), the call ends, and the recording keeps what arrived.
#[test]
fn a_gateway_that_vanishes_mid_call_is_marked_down_and_the_recording_is_kept() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let wav = three_seconds(dir.path());
    let mut gw = Gateway::start(1);
    // A short keep-alive so the audit starts a second after the gateway goes quiet (it gives
    // up about 18 s later); the call's own media time-out well after that, so the test sees
    // which of the two ended the call.
    let toml = "[mgcp]\nlisten = \"127.0.0.1:0\"\nkeepalive_s = 1\n\n[sip]\nmedia_timeout_s = 40\n";
    let mut first = Server::start_on(&data, toml);
    first.add_user("ann", "201", "ann-password-1");
    first.add_user("bob", "202", "bob-password-1");
    let added = ivmd(
        &data,
        &[
            "gateway",
            "add",
            "hall",
            "--address",
            &gw.addr,
            "--endpoints",
            "1",
        ],
    );
    assert!(added.status.success(), "gateway add: {}", text(&added));
    let ok = ivmd(&data, &["line", "assign", "hall", "aaln/1", "ann"]);
    assert!(ok.status.success(), "line assign: {}", text(&ok));
    assert!(first.stop().success(), "stopped");
    let server = Server::start_on(&data, toml);
    let ca = server
        .ready
        .split_whitespace()
        .find_map(|p| p.strip_prefix("mgcp="))
        .expect("mgcp= in the ready line")
        .to_owned();

    gw.cue(&format!("ca {ca}"));
    gw.cue("rsip");
    gw.command("AUEP", "aaln/1", "the audit");
    gw.cue("offhook 1");
    gw.wait(
        |v| {
            is_cmd(v, "RQNT", "aaln/1")
                && v["params"]["S"]
                    .as_str()
                    .is_some_and(|s| s.contains("L/dl"))
        },
        "dial tone",
    );
    gw.cue("digits 1 *7202#");
    gw.command("CRCX", "aaln/1", "CRCX");
    gw.cue("quiet 1 600");
    gw.wait(|v| v.get("quiet").is_some(), "the prompt played");
    gw.cue(&format!("play 1 {}", wav.display()));
    gw.wait(|v| v.get("played").is_some(), "speech sent");
    // The gateway vanishes: no on-hook, no answers, no RTP.
    drop(gw);

    // The audit's retransmissions go unanswered (about 18 s), then the gateway is down and
    // the call ends with what arrived.
    assert!(
        server.wait_log("gateway does not answer: down", Duration::from_secs(40)),
        "marked down; log:\n{}",
        server.log()
    );
    let list = ivmd(&data, &["gateway", "list"]);
    assert!(text(&list).contains(" down "), "{}", text(&list));
    assert!(
        server.wait_log(
            "message from an analog line posted",
            Duration::from_secs(30)
        ),
        "the recording kept; log:\n{}",
        server.log()
    );
    // Ended by the gateway going down, not later by the call's own media time-out.
    assert!(
        !server.log().contains("no media from the gateway"),
        "the call outlived its gateway; log:\n{}",
        server.log()
    );
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let stored = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(stored >= 2.0, "the speech that arrived is kept: {stored} s");
}
