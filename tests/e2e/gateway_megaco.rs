//! Analog phones behind a MEGACO (H.248.1) media gateway (issue 14), against the real `ivmd`
//! on its embedded defaults (only `[mgcp]` and `[megaco] listen` moved to loopback ports) and
//! a real Media Gateway: Erlang/OTP's megaco application with the text encoding over UDP
//! (`tests/peers/megaco/mg.escript`), which also decodes every message the box sends with
//! Erlang's own decoder (a message it cannot decode fails its step).
//!
//! One box, one gateway with aaln/1 (ann's line), in order: registration (ServiceChange
//! Restart on ROOT) answered, the line audited (AuditValue) and asked for off-hook (Modify,
//! `al/of`); off-hook: dial tone and the digit map (Modify); `*7202` (`dd/ce`): an Add of the
//! line and of an RTP termination with the box's SDP as its Remote, the MG's SDP in the
//! reply; the prompt as RTP to the MG; 3 s of speech as PCMU from the MG; on-hook: both terminations
//! Subtracted, the line idle again, and bob has ann's message of the right length
//! (opusinfo); ring-my-phone from the web API rings the line (`al/ri`), off-hook connects and
//! records a second message. A second MG on an address no gateway is configured with registers too and is
//! never answered (`ivmd status` counts it). The traffic is captured with tshark and
//! dissected as MEGACO: no malformed packets. Loopback only; every wait is bounded.

mod harness;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use harness::{ivmd, run_bounded, tempdir, text, Person, Server};
use serde_json::Value;

/// The Erlang Media Gateway: cues on its stdin, what it printed, line by line.
struct Mg {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/megaco")
}

impl Mg {
    /// An MG registering with the controller at `mgc`, listening on `local` (0: any).
    fn start(mgc: &str, local: u16) -> Mg {
        harness::require_tool("escript");
        let (host, port) = mgc.rsplit_once(':').expect("host:port");
        let mut child = Command::new("escript")
            .arg(peers().join("mg.escript"))
            .args([host, port, "pretty", "1", &local.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("escript mg.escript");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Mg {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn cue(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("cue the MG");
        stdin.flush().expect("flush");
    }

    /// The first line from now (or already printed and not yet taken) that `f` accepts.
    fn wait(&mut self, f: impl Fn(&str) -> bool, what: &str) -> String {
        if let Some(i) = self.seen.iter().position(|l| f(l)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if f(&l) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("the MG never printed {what}; it printed {:#?}", self.seen),
            }
        }
    }

    fn expect(&mut self, line: &str) {
        let want = line.to_owned();
        self.wait(move |l| l == want, line);
    }

    /// Everything printed within `d` from now, and what was not taken before.
    fn drain(&mut self, d: Duration) -> Vec<String> {
        let deadline = Instant::now() + d;
        while let Ok(l) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        std::mem::take(&mut self.seen)
    }

    /// RTP packets the MG received from the box so far.
    fn rtp_received(&mut self) -> u64 {
        self.cue("rtpcount");
        let l = self.wait(|l| l.starts_with("rtp received "), "the RTP count");
        l["rtp received ".len()..].parse().expect("count")
    }
}

impl Drop for Mg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `opusinfo`'s playback seconds of a stored message (valid Ogg Opus, no warnings).
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

/// 3 s of speech (espeak-ng, then sox) as raw 8 kHz mu-law, what the MG sends as PCMU.
fn three_seconds(dir: &Path) -> PathBuf {
    let spoken = harness::speech(
        dir,
        "long",
        "This is a message from the analog phone in the hall, it is long enough for three seconds.",
    );
    let raw = dir.join("speech.ulaw");
    harness::sox(
        &spoken,
        &["-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"],
        &raw,
        &["trim", "0", "3"],
    );
    raw
}

/// tshark capturing `port` on loopback into `pcap`.
fn capture(pcap: &Path, port: u16) -> Child {
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

/// Waits until the box's prompt is over (RTP to the MG, counted from `base`, stops growing);
/// returns the packets of the prompt.
fn wait_prompt(mg: &mut Mg, server: &Server, base: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = base;
    loop {
        std::thread::sleep(Duration::from_millis(800));
        let n = mg.rtp_received();
        if n > base && n == last {
            return n - base;
        }
        last = n;
        assert!(
            Instant::now() < deadline,
            "the prompt never ended: {n} packets; log:\n{}",
            server.log()
        );
    }
}

/// `curl -X POST` with a JSON body and an optional bearer token: (status, parsed body).
fn curl_post(url: &str, token: &str, body: &str, limit: Duration) -> (u16, Value) {
    harness::require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "--max-time"])
        .arg(limit.as_secs().to_string())
        .args(["-d", body]);
    if !token.is_empty() {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = run_bounded(cmd.arg(url), limit + Duration::from_secs(5));
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
        "",
        &serde_json::json!({"name": name, "password": password}).to_string(),
        Duration::from_secs(10),
    );
    assert_eq!(code, 200, "login {name}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn a_megaco_line_registers_dials_records_and_hangs_up() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mg_port = free_udp_port();
    let speech = three_seconds(dir.path());
    let pcap = dir.path().join("megaco.pcap");
    let mut tshark = capture(&pcap, mg_port);

    let toml = "[mgcp]\nlisten = \"127.0.0.1:0\"\n[megaco]\nlisten = \"127.0.0.1:0\"\n";
    let mut first = Server::start_on(&data, toml);
    assert!(
        first.ready.contains("megaco=off"),
        "no gateway, no socket: {}",
        first.ready
    );
    first.add_user("ann", "201", "ann-password-1");
    first.add_user("bob", "202", "bob-password-1");
    // Bad input changes nothing: a protocol the box does not speak.
    let bad = ivmd(
        &data,
        &[
            "gateway",
            "add",
            "hall",
            "--protocol",
            "tpncp",
            "--address",
            "127.0.0.1",
        ],
    );
    assert!(!bad.status.success(), "tpncp refused: {}", text(&bad));
    let addr = format!("127.0.0.1:{mg_port}");
    let added = ivmd(
        &data,
        &[
            "gateway",
            "add",
            "hall",
            "--protocol",
            "megaco",
            "--address",
            &addr,
            "--endpoints",
            "aaln/1..aaln/1",
        ],
    );
    assert!(added.status.success(), "gateway add: {}", text(&added));
    let ok = ivmd(&data, &["line", "assign", "hall", "aaln/1", "ann"]);
    assert!(ok.status.success(), "line assign: {}", text(&ok));
    assert!(first.stop().success(), "stopped");

    let server = Server::start_on(&data, toml);
    let mgc = server
        .ready
        .split_whitespace()
        .find_map(|p| p.strip_prefix("megaco="))
        .expect("megaco= in the ready line")
        .to_owned();
    assert_ne!(mgc, "off", "{}", server.ready);

    // A stranger registers too: dropped before decoding, never answered.
    let mut stranger = Mg::start(&mgc, 0);
    // Registration: the ServiceChange answered, the line audited and asked for off-hook.
    let mut mg = Mg::start(&mgc, mg_port);
    mg.expect(&format!("port {mg_port}"));
    mg.expect("servicechange ok");
    mg.expect("request auditvalue aaln/1");
    mg.expect("request modify aaln/1");
    let list = ivmd(&data, &["gateway", "list"]);
    let t = text(&list);
    assert!(list.status.success(), "{t}");
    assert!(
        t.contains("hall") && t.contains(" up ") && t.contains("megaco"),
        "{t}"
    );

    // Off-hook: dial tone and the digit map. Then *7202: the call's terminations.
    mg.cue("offhook aaln/1");
    mg.expect("notify ok");
    mg.expect("request modify aaln/1");
    mg.expect("signal aaln/1 cg/dt");
    mg.cue("digits aaln/1 *7202");
    mg.expect("notify ok");
    mg.expect("request add aaln/1");
    let rtp = mg.wait(
        |l| l.starts_with("request add rtp/"),
        "the RTP termination added",
    );
    let rtp = rtp.trim_start_matches("request add ").to_owned();
    let remote = mg.wait(|l| l.starts_with("sdp remote "), "the box's SDP");
    assert!(
        remote.contains("IN IP4 127.0.0.1")
            && remote.contains("audio ")
            && remote.contains("RTP/AVP 0"),
        "{remote}"
    );
    mg.wait(|l| l.starts_with("rtp port "), "the MG's SDP sent");
    // In the call: the line's events asked for in its context.
    mg.expect("request modify aaln/1");

    // The prompt comes as RTP; once it is over, 3 s of speech.
    let prompt = wait_prompt(&mut mg, &server, 0);
    assert!(prompt > 20, "the box played a prompt: {prompt} RTP packets");
    mg.cue(&format!("speak {}", speech.display()));
    mg.expect("spoke 150");

    // On-hook: both terminations subtracted, idle again; bob has the message.
    mg.cue("onhook aaln/1");
    mg.expect("notify ok");
    mg.expect(&format!("request subtract {rtp}"));
    mg.expect("request subtract aaln/1");
    mg.expect("request modify aaln/1");
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

    // Ring-my-phone from the web API rings ann's line (al/ri); off-hook connects, the
    // prompt plays, the speech is recorded and reaches bob.
    mg.drain(Duration::from_millis(300));
    let token = login(&server, "ann", "ann-password-1");
    let url = format!("{}/api/ring-me", server.http);
    let ring = std::thread::spawn(move || {
        curl_post(&url, &token, r#"{"to":["bob"]}"#, Duration::from_secs(60))
    });
    mg.expect("signal aaln/1 al/ri");
    let before = mg.rtp_received();
    mg.cue("offhook aaln/1");
    mg.expect("notify ok");
    mg.expect("request add aaln/1");
    let rtp = mg.wait(
        |l| l.starts_with("request add rtp/"),
        "the ring's RTP termination",
    );
    let rtp = rtp.trim_start_matches("request add ").to_owned();
    let (code, body) = ring.join().expect("ring-me thread");
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["state"], "recording", "{body}");
    wait_prompt(&mut mg, &server, before);
    mg.cue(&format!("speak {}", speech.display()));
    mg.expect("spoke 150");
    mg.cue("onhook aaln/1");
    mg.expect("notify ok");
    mg.expect(&format!("request subtract {rtp}"));
    mg.expect("request subtract aaln/1");
    assert!(
        harness::until(Duration::from_secs(30), || bob.inbox().len() == 2),
        "bob got the ring-me message; log:\n{}",
        server.log()
    );

    // Erlang's decoder took every message the box sent.
    let printed = mg.drain(Duration::from_millis(500));
    assert!(
        !printed
            .iter()
            .any(|l| l.contains("syntax error") || l.contains("error")),
        "{printed:#?}"
    );

    // The stranger was dropped, not answered.
    assert!(
        server.wait_log(
            "MEGACO from an unconfigured address dropped",
            Duration::from_secs(5)
        ),
        "log:\n{}",
        server.log()
    );
    let status = ivmd(&data, &["status"]);
    let t = text(&status);
    let megaco_dropped: u64 = t
        .split_once("MGCP datagrams from unconfigured addresses dropped, ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the MEGACO drops in ivmd status: {t}"));
    assert!(megaco_dropped >= 1, "{t}");
    let printed = stranger.drain(Duration::from_millis(200));
    assert!(
        !printed.iter().any(|l| l == "servicechange ok"),
        "a stranger was answered: {printed:#?}"
    );
    mg.cue("quit");

    // tshark dissects every datagram between the box and the gateway as MEGACO, none
    // malformed.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(tshark.id().to_string())
        .status();
    let _ = harness::wait_bounded(&mut tshark, Duration::from_secs(10));
    let decode = format!("udp.port=={mg_port},megaco");
    let all = run_bounded(
        Command::new("tshark")
            .args(["-r"])
            .arg(&pcap)
            .args(["-d", &decode, "-Y", "megaco"]),
        Duration::from_secs(60),
    );
    let packets = String::from_utf8_lossy(&all.stdout).lines().count();
    assert!(packets >= 16, "MEGACO packets dissected: {}", text(&all));
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
    assert_eq!(bad.trim(), "", "malformed MEGACO");
}
