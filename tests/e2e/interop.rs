//! Further SIP stacks against the box on its embedded defaults (no `digest` setting, no
//! tuned config), so no behaviour rests on one phone's quirks: baresip and SIPp are tested
//! elsewhere; here PJSIP (pjsua2 from PyPI's `pjsua2-python`, driven by
//! `peers/pjsua_peer.py`) and liblinphone (Debian's `linphone-cli`).
//!
//! Each peer runs headless: no sound card (PJSIP's null device, linphone's file mode), a WAV
//! from espeak-ng as the microphone, UDP on loopback. Every wait is bounded; every child is
//! killed on drop.
//!
//! Found here and fixed in the box: a PJSIP caller's pauses (its default voice activity
//! detection sends no RTP while quiet) delayed everything after them on a bridged call by
//! the pause's length (`Event::Silence` in `ivm_rtp::session`); and `Linphonec/5.1`, which
//! names no `belle-sip/`, was offered MD5 alone (`ivm_sip::auth::offer`).
//!
//! What each stack is offered on the defaults: pjsua2 sends no `User-Agent` unless told, so
//! it gets MD5 alone; PJSIP's own app (`PJSUA v2.x`) and `Linphonec/5.1` get SHA-256 then MD5
//! and answer SHA-256. Peer quirks worked around here, not in the box:
//! - liblinphone never opens a SIP transport when it cannot create its message database
//!   (every command then fails with "No listening point"), so its HOME folder is made first;
//! - linphonec reads its commands from standard input and needs nothing else (no tty);
//! - liblinphone sends STUN keep-alives to the media ports; the box counts them as malformed
//!   RTP and drops them, which is harmless;
//! - pjsua2's recorder writes its WAV header's sizes only on close, so what a phone heard is
//!   read past the header.

mod baresip;
mod harness;
mod provision_peers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use baresip::speech8k;
use harness::{run_bounded, tempdir, Person, Server};
use provision_peers::{admin_curl, admin_phone};

/// The pjsua2 driver, committed beside this file.
const PJSUA_PEER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/e2e/peers/pjsua_peer.py"
);

/// What PJSIP's own `pjsua` app sends as `User-Agent` (pjsua2 sends none unless told): the
/// box's default offer gives it SHA-256 first.
const PJSUA_APP_AGENT: &str = "PJSUA v2.15.1 Linux-6.1/x86_64/glibc-2.36";

/// Fails unless python3 can import pjsua2 (`scripts/setup --tests` installs it from PyPI).
fn require_pjsua2() {
    harness::require_tool("python3");
    let out = run_bounded(
        Command::new("python3").args(["-c", "import pjsua2"]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "python3 cannot import pjsua2 (scripts/setup --tests installs pjsua2-python): {}",
        harness::text(&out)
    );
}

/// One pjsua2 soft phone: its event lines (see `peers/pjsua_peer.py`) arrive on a thread.
struct PjPhone {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// Every line printed so far (events and PJSIP's own log).
    seen: Vec<String>,
    name: String,
}

impl PjPhone {
    /// Starts the driver as extension `ext` with `args` (see its `--help`); `log` is PJSIP's
    /// console log level (5 prints every SIP message).
    fn start(server: &Server, ext: &str, password: &str, args: &[&str], log: u8) -> PjPhone {
        let mut child = Command::new("python3")
            .arg(PJSUA_PEER)
            .args(["--box", &server.sip, "--user", ext, "--password", password])
            .args(args)
            .env("PJSUA_LOG", log.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3 pjsua_peer.py");
        let (tx, rx) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        PjPhone {
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
            name: format!("pjsua {ext}"),
        }
    }

    /// Waits (at most `limit`) for a line starting with `prefix`; returns it.
    fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return l.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "{}: no line {prefix:?} within {limit:?}; saw:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits (bounded) for the run to end (`done`) and the process to exit; every line.
    fn finish(&mut self, limit: Duration) -> Vec<String> {
        self.wait_for("done", limit);
        if let Some(mut c) = self.child.take() {
            harness::wait_bounded(&mut c, Duration::from_secs(10));
        }
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen.clone()
    }

    /// `(received, sent)` RTP packets of its call, from its `stats` line.
    fn rtp_stats(&mut self) -> (u64, u64) {
        let line = self.wait_for("stats ", Duration::from_secs(1));
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {line:?}"))
        };
        (field("rx="), field("tx="))
    }
}

impl Drop for PjPhone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            while let Ok(l) = self.lines.try_recv() {
                self.seen.push(l);
            }
            eprintln!("--- {} printed:\n{}", self.name, self.seen.join("\n"));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// RMS (0..1) of a 16-bit mono WAV a peer recorded, past its 44-byte header (pjsua writes
/// the header's sizes only when the recorder closes; the samples are there before).
fn wav_rms(path: &Path) -> f64 {
    let bytes = std::fs::read(path).unwrap_or_default();
    let samples: Vec<f64> = bytes
        .get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect();
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|v| v * v).sum::<f64>() / samples.len() as f64).sqrt()
}

/// `opusinfo` on a stored message: valid Ogg Opus, mono, no warnings; its playback seconds.
fn opusinfo_seconds(path: &Path) -> f64 {
    harness::require_tool("opusinfo");
    let out = run_bounded(Command::new("opusinfo").arg(path), Duration::from_secs(60));
    let text = harness::text(&out);
    assert!(
        out.status.success(),
        "opusinfo refused the stored audio: {text}"
    );
    assert!(!text.contains("WARNING"), "opusinfo warns: {text}");
    assert!(text.contains("Channels: 1"), "mono: {text}");
    // "Playback length: 0m:04.640s"
    let length = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playback length:"))
        .unwrap_or_else(|| panic!("playback length in {text}"));
    let (m, s) = length.trim().split_once("m:").expect("m:ss");
    m.parse::<f64>().expect("minutes") * 60.0
        + s.trim_end_matches('s').parse::<f64>().expect("seconds")
}

/// A box on its embedded defaults with ann (201) and bob (202): their SIP passwords.
fn box_with_ann_and_bob(dir: &Path) -> (Server, String, String) {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let (ann, bob) = (server.sip_password("ann"), server.sip_password("bob"));
    (server, ann, bob)
}

/// Checks the message bob got from ann over a phone: one message, from ann, about
/// `spoken` seconds long, whose stored audio passes opusinfo.
fn assert_bob_got_speech(server: &Server, dir: &Path, spoken: f64) {
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(30)),
        "posted; log:\n{}",
        server.log()
    );
    let bob = Person::new(server, dir, "bob", "bob-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["sender_name"], "ann");
    let stored = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(
        (stored - spoken).abs() < 1.5,
        "stored {stored} s for {spoken} s spoken"
    );
    let id = inbox[0]["id"].as_str().expect("id").to_owned();
    let opus = dir.join("got.opus");
    bob.ok(&["get", &id, "-o", opus.to_str().expect("path")]);
    let length = opusinfo_seconds(&opus);
    assert!(
        (length - stored).abs() < 0.5,
        "opusinfo says {length} s, the box {stored} s"
    );
}

#[test]
fn pjsip_registers_with_digest_on_the_defaults_and_the_box_lists_it() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    let curl = admin_curl(&server);
    // Desk phones the admin assigned, so `GET /api/admin/phones` shows their registrations.
    for (mac, user) in [("0015650000a1", "ann"), ("0015650000b2", "bob")] {
        let (code, body) = curl(&[
            "-H",
            "content-type: application/json",
            "-d",
            &format!(r#"{{"mac":"{mac}","user":"{user}"}}"#),
            &format!("{}/api/admin/phones", server.http),
        ]);
        assert_eq!(code, 201, "assign {mac}: {body}");
    }

    // pjsua2 as an application gets it: no User-Agent, so the default offer is MD5 alone.
    let mut ann = PjPhone::start(&server, "201", &ann_pw, &["--run", "20"], 5);
    assert_eq!(
        ann.wait_for("registered ", Duration::from_secs(15)),
        "registered 200"
    );
    let challenge = ann.wait_for("WWW-Authenticate:", Duration::from_secs(1));
    assert!(challenge.contains("algorithm=MD5"), "{challenge}");
    // PJSIP's own app names itself: SHA-256 first, and PJSIP answers with it.
    let mut bob = PjPhone::start(
        &server,
        "202",
        &bob_pw,
        &["--run", "20", "--user-agent", PJSUA_APP_AGENT],
        5,
    );
    assert_eq!(
        bob.wait_for("registered ", Duration::from_secs(15)),
        "registered 200"
    );
    let answer = bob.wait_for("Authorization: Digest", Duration::from_secs(1));
    assert!(answer.contains("algorithm=SHA-256"), "{answer}");

    // The box lists both registrations.
    for (mac, agent) in [
        ("0015650000a1", None),
        ("0015650000b2", Some(PJSUA_APP_AGENT)),
    ] {
        let mut phone = serde_json::Value::Null;
        let listed = harness::until(Duration::from_secs(10), || {
            phone = admin_phone(&curl, &server, mac);
            phone["state"] == "registered"
        });
        assert!(listed, "{mac} registered: {phone}");
        let reg = &phone["registration"];
        assert!(
            reg["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
            "{phone}"
        );
        assert_eq!(reg["user_agent"].as_str(), agent, "{phone}");
        assert!(
            reg["expires_in_s"].as_u64().is_some_and(|s| s > 0),
            "{phone}"
        );
    }
    ann.finish(Duration::from_secs(30));
    bob.finish(Duration::from_secs(30));
}

#[test]
fn pjsip_star7_leaves_a_message_the_recipient_gets() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, _) = box_with_ann_and_bob(dir.path());
    // Silence first while the greeting and the beep play, then about 3 s of speech.
    let (wav, spoken) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, this is Ann on a PJSIP phone.",
        5.0,
        0.5,
    );
    let hangup = (5.0 + spoken + 1.0).to_string();
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--call",
            "*7202",
            "--play",
            wav.to_str().expect("path"),
            "--hangup-after",
            &hangup,
            "--run",
            "40",
        ],
        2,
    );
    ann.wait_for("registered 200", Duration::from_secs(15));
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    ann.wait_for("media active", Duration::from_secs(5));
    ann.wait_for("call DISCONNECTED", Duration::from_secs(30));
    ann.finish(Duration::from_secs(15));
    let (_, sent) = ann.rtp_stats();
    assert!(sent > 100, "ann's phone sent {sent} RTP packets");
    assert_bob_got_speech(&server, dir.path(), spoken);
}

#[test]
fn pjsip_calls_pjsip_answered_with_speech_both_ways() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    let (ann_wav, _) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, Ann here. Can you hear me?",
        0.5,
        3.0,
    );
    let (bob_wav, _) = speech8k(
        dir.path(),
        "bob",
        "Yes Ann, loud and clear, this is Bob.",
        0.5,
        3.0,
    );
    let (ann_heard, bob_heard) = (
        dir.path().join("ann-heard.wav"),
        dir.path().join("bob-heard.wav"),
    );
    let path = |p: &PathBuf| p.to_str().expect("path").to_owned();

    // bob rings for a second, then answers.
    let mut bob = PjPhone::start(
        &server,
        "202",
        &bob_pw,
        &[
            "--answer",
            "200",
            "--ring",
            "1",
            "--play",
            &path(&bob_wav),
            "--record",
            &path(&bob_heard),
            "--run",
            "40",
        ],
        2,
    );
    bob.wait_for("registered 200", Duration::from_secs(15));
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--call",
            "202",
            "--play",
            &path(&ann_wav),
            "--record",
            &path(&ann_heard),
            "--hangup-after",
            "7",
            "--run",
            "40",
        ],
        2,
    );
    ann.wait_for("call EARLY 180", Duration::from_secs(15));
    bob.wait_for("incoming ", Duration::from_secs(5));
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    bob.wait_for("call CONFIRMED 200", Duration::from_secs(5));
    // ann hangs up; bob's phone hears the BYE.
    ann.wait_for("call DISCONNECTED", Duration::from_secs(20));
    bob.wait_for("call DISCONNECTED", Duration::from_secs(10));
    ann.finish(Duration::from_secs(15));
    bob.finish(Duration::from_secs(15));

    for (who, phone, heard) in [("ann", &mut ann, &ann_heard), ("bob", &mut bob, &bob_heard)] {
        let (rx, tx) = phone.rtp_stats();
        assert!(
            rx > 100 && tx > 100,
            "{who}'s phone: {rx} RTP packets in, {tx} out"
        );
        let rms = wav_rms(heard);
        eprintln!("{who}: {rx} RTP packets in, {tx} out; heard RMS {rms:.4}");
        assert!(rms > 0.01, "{who} heard the other's speech (RMS {rms})");
    }
}

#[test]
fn pjsip_busy_callee_ends_the_call_cleanly() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    // Bob turned message taking off: his phone's busy goes to the caller instead of the box
    // answering for a message (the default; tests/e2e/phones_calls.rs and forward.rs).
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_eq!(bob_cli.ok(&["voicemail", "off"]).trim(), "off");
    let mut bob = PjPhone::start(
        &server,
        "202",
        &bob_pw,
        &["--answer", "486", "--ring", "1", "--run", "30"],
        2,
    );
    bob.wait_for("registered 200", Duration::from_secs(15));
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &["--call", "202", "--run", "30"],
        2,
    );
    ann.wait_for("call EARLY 180", Duration::from_secs(15));
    assert_eq!(
        ann.wait_for("call DISCONNECTED", Duration::from_secs(15)),
        "call DISCONNECTED 486",
        "the callee's busy reaches the caller"
    );
    bob.wait_for("call DISCONNECTED 486", Duration::from_secs(5));
    ann.finish(Duration::from_secs(15));
    bob.finish(Duration::from_secs(15));
    assert!(
        server.wait_log("call ended", Duration::from_secs(10)),
        "{}",
        server.log()
    );
}

/// Debian's `linphonec` (liblinphone) as a headless phone: its own HOME and config file
/// (`-c`), file mode instead of a sound card, SIP on a loopback UDP port, commands on its
/// standard input and its answers read from its standard output.
struct Linphonec {
    child: Option<Child>,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Its log (`-d 6 -l`): every SIP message it sent and received.
    log: PathBuf,
}

impl Linphonec {
    /// Starts `linphonec ARGS` (`-a`: answer incoming calls) with its home in `dir`.
    fn start(dir: &Path, args: &[&str]) -> Linphonec {
        harness::require_tool("linphonec");
        let home = dir.join("linphone-home");
        // liblinphone stops starting up (no SIP transport is ever opened, every command
        // then fails with "No listening point") when it cannot create its message
        // database, so its folder must exist.
        std::fs::create_dir_all(home.join(".local/share/linphone")).expect("linphone home");
        let config = home.join("linphonerc");
        // TCP and TLS off (the box is reached over UDP); RTP on a random port of a range
        // away from the box's own (16384-32767); no video.
        std::fs::write(
            &config,
            format!(
                "[sip]\nsip_port={}\nsip_tcp_port=0\nsip_tls_port=0\nbind_address=127.0.0.1\n\
                 [rtp]\naudio_rtp_port=40000-49999\n[video]\nenabled=0\ndisplay=0\ncapture=0\n",
                baresip::free_udp_port()
            ),
        )
        .expect("linphonerc");
        let log = home.join("linphone.log");
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&config)
            .args(["-d", "6", "-l"])
            .arg(&log)
            .args(args)
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn linphonec");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Linphonec {
            child: Some(child),
            stdin,
            lines: rx,
            seen: Vec::new(),
            log,
        }
    }

    /// Types `command` at its prompt.
    fn send(&mut self, command: &str) {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").expect("linphonec stdin");
        stdin.flush().expect("flush");
    }

    /// Whether a line containing `needle` arrives within `limit`.
    fn saw(&mut self, needle: &str, limit: Duration) -> bool {
        if self.seen.iter().any(|l| l.contains(needle)) {
            return true;
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Waits (at most `limit`) for a line containing `needle`, or fails with what it said.
    fn wait_for(&mut self, needle: &str, limit: Duration) {
        assert!(
            self.saw(needle, limit),
            "linphonec: no {needle:?} within {limit:?}; it printed:\n{}",
            self.seen.join("\n")
        );
    }

    /// `quit`, and waits (bounded) for it to exit.
    fn quit(&mut self) {
        self.send("quit");
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            harness::wait_bounded(&mut c, Duration::from_secs(15));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn linphone_registers_on_the_defaults_and_leaves_a_star7_message() {
    let dir = tempdir();
    let (server, ann_pw, _) = box_with_ann_and_bob(dir.path());
    let curl = admin_curl(&server);
    let mac = "0015650000c3";
    let (code, body) = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"mac":"{mac}","user":"ann"}}"#),
        &format!("{}/api/admin/phones", server.http),
    ]);
    assert_eq!(code, 201, "assign {mac}: {body}");
    let (wav, spoken) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, this is Ann on a Linphone.",
        5.0,
        0.5,
    );

    let mut ann = Linphonec::start(dir.path(), &[]);
    ann.send("soundcard use files");
    ann.wait_for(
        "Using wav files instead of soundcard",
        Duration::from_secs(15),
    );
    // The file it plays into calls, in place of a microphone.
    ann.send(&format!("play {}", wav.display()));
    let box_uri = format!("sip:{}", server.sip);
    ann.send(&format!(
        "register sip:201@{} {box_uri} {ann_pw}",
        server.sip
    ));
    let registered = harness::until(Duration::from_secs(15), || {
        ann.send("status register");
        ann.saw("registered, identity=", Duration::from_millis(500))
    });
    assert!(
        registered,
        "linphonec registers:\n{}\nits log:\n{}",
        ann.seen.join("\n"),
        ann.log()
    );
    // `Linphonec/5.1` is offered SHA-256 first (MD5 below it), and liblinphone answers it.
    let log = ann.log();
    assert!(
        log.lines().any(|l| l.starts_with("Authorization:")
            && l.contains("Digest")
            && l.contains("algorithm=SHA-256")),
        "it answered the SHA-256 challenge:\n{log}"
    );
    let phone = admin_phone(&curl, &server, mac);
    assert_eq!(phone["state"], "registered", "{phone}");
    assert!(
        phone["registration"]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("Linphonec/")),
        "{phone}"
    );

    // *7202: speech after the greeting and the beep, then hang up.
    ann.send(&format!("call sip:*7202@{}", server.sip));
    ann.wait_for("connected.", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs_f64(5.0 + spoken + 1.0));
    ann.send("terminate");
    ann.wait_for("ended", Duration::from_secs(10));
    ann.quit();
    assert_bob_got_speech(&server, dir.path(), spoken);
}

#[test]
fn pjsip_calls_linphone_and_a_pause_does_not_delay_the_talk_after_it() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    // ann (PJSIP, whose default voice activity detection sends no RTP while she is quiet)
    // says nothing for 4 s, then speaks; bob (linphone) answers at once and speaks.
    let (ann_wav, spoken) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, Ann here after a pause.",
        4.0,
        0.5,
    );
    let (bob_wav, _) = speech8k(
        dir.path(),
        "bob",
        "Hello Ann, this is Bob on a Linphone.",
        0.5,
        6.0,
    );
    let (ann_heard, bob_heard) = (
        dir.path().join("ann-heard.wav"),
        dir.path().join("bob-heard.wav"),
    );

    let mut bob = Linphonec::start(dir.path(), &["-a"]);
    bob.send("soundcard use files");
    bob.wait_for(
        "Using wav files instead of soundcard",
        Duration::from_secs(15),
    );
    bob.send(&format!("play {}", bob_wav.display()));
    // What bob's phone plays out (its "speaker") goes to this file.
    bob.send(&format!("record {}", bob_heard.display()));
    bob.send(&format!(
        "register sip:202@{} sip:{} {bob_pw}",
        server.sip, server.sip
    ));
    let registered = harness::until(Duration::from_secs(15), || {
        bob.send("status register");
        bob.saw("registered, identity=", Duration::from_millis(500))
    });
    assert!(registered, "linphonec registers:\n{}", bob.seen.join("\n"));

    // ann hangs up about a second after her last word would reach bob in real time.
    let hangup = (4.0 + spoken + 1.0).to_string();
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--call",
            "202",
            "--play",
            ann_wav.to_str().expect("path"),
            "--record",
            ann_heard.to_str().expect("path"),
            "--hangup-after",
            &hangup,
            "--run",
            "40",
        ],
        2,
    );
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    bob.wait_for("connected.", Duration::from_secs(5));
    ann.wait_for("call DISCONNECTED", Duration::from_secs(30));
    bob.wait_for("ended", Duration::from_secs(10));
    ann.finish(Duration::from_secs(15));
    bob.quit();

    let (rx, tx) = ann.rtp_stats();
    assert!(
        rx > 100 && tx > 50,
        "ann's phone: {rx} RTP packets in, {tx} out"
    );
    let ann_rms = wav_rms(&ann_heard);
    let bob_rms = wav_rms(&bob_heard);
    eprintln!("ann heard RMS {ann_rms:.4}; bob heard RMS {bob_rms:.4}");
    assert!(ann_rms > 0.01, "ann heard bob (RMS {ann_rms})");
    // ann's words after her pause reached bob before she hung up (they came as late as the
    // pause was long when the box played the pause's silence too).
    assert!(bob_rms > 0.01, "bob heard ann in time (RMS {bob_rms})");
}

/// SIP over TCP end to end, as the README claims, with PJSIP holding a TCP transport alone
/// (no UDP to fall back to): both phones register over TCP, ann calls bob, speech both
/// ways, and ann's hang-up ends bob's call at once. Before the box's Contact named
/// `;transport=tcp`, PJSIP sent ACK and BYE toward it over UDP, which it has not got, so
/// the BYE never left and bob stayed in the call until the media timeout.
#[test]
fn pjsip_over_tcp_calls_pjsip_over_tcp_and_the_hang_up_ends_both_at_once() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    let (ann_wav, _) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, Ann here, over TCP.",
        0.5,
        3.0,
    );
    let (bob_wav, _) = speech8k(dir.path(), "bob", "Yes Ann, this is Bob on TCP.", 0.5, 3.0);
    let (ann_heard, bob_heard) = (
        dir.path().join("ann-heard.wav"),
        dir.path().join("bob-heard.wav"),
    );
    let path = |p: &PathBuf| p.to_str().expect("path").to_owned();
    let mut bob = PjPhone::start(
        &server,
        "202",
        &bob_pw,
        &[
            "--transport",
            "tcp",
            "--no-vad",
            "--ring",
            "1",
            "--play",
            &path(&bob_wav),
            "--record",
            &path(&bob_heard),
            "--run",
            "40",
        ],
        5,
    );
    bob.wait_for("registered 200", Duration::from_secs(15));
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--transport",
            "tcp",
            "--no-vad",
            "--call",
            "202",
            "--play",
            &path(&ann_wav),
            "--record",
            &path(&ann_heard),
            "--hangup-after",
            "6",
            "--run",
            "40",
        ],
        5,
    );
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    bob.wait_for("call CONFIRMED 200", Duration::from_secs(5));
    ann.wait_for("call DISCONNECTED", Duration::from_secs(20));
    // At once: well inside the 20 s media timeout that ended such calls before.
    bob.wait_for("call DISCONNECTED", Duration::from_secs(3));
    let ann_lines = ann.finish(Duration::from_secs(15));
    let bob_lines = bob.finish(Duration::from_secs(15));

    for (who, lines) in [("ann", &ann_lines), ("bob", &bob_lines)] {
        // PJSIP's log (level 5) holds every message: TCP only, and the box's Contact says so.
        assert!(
            lines.iter().any(|l| l.starts_with("Via: SIP/2.0/TCP")),
            "{who}: SIP went over TCP"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("Via: SIP/2.0/UDP")),
            "{who}: nothing over UDP"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Contact: <sip:") && l.contains(";transport=tcp>")),
            "{who}: the box's Contact names TCP"
        );
    }
    for (who, phone, heard) in [("ann", &mut ann, &ann_heard), ("bob", &mut bob, &bob_heard)] {
        let (rx, tx) = phone.rtp_stats();
        let rms = wav_rms(heard);
        eprintln!("{who}: {rx} RTP packets in, {tx} out; heard RMS {rms:.4}");
        assert!(rx > 100 && tx > 100, "{who}'s phone: {rx} in, {tx} out");
        assert!(rms > 0.01, "{who} heard the other's speech (RMS {rms})");
    }
}

/// `*7` from a phone reached over TCP alone records a message the recipient gets.
#[test]
fn pjsip_over_tcp_star7_leaves_a_message_the_recipient_gets() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, _) = box_with_ann_and_bob(dir.path());
    let (wav, spoken) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, this is Ann over TCP.",
        5.0,
        0.5,
    );
    let hangup = (5.0 + spoken + 1.0).to_string();
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--transport",
            "tcp",
            "--call",
            "*7202",
            "--play",
            wav.to_str().expect("path"),
            "--hangup-after",
            &hangup,
            "--run",
            "40",
        ],
        2,
    );
    ann.wait_for("registered 200", Duration::from_secs(15));
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    ann.wait_for("call DISCONNECTED", Duration::from_secs(30));
    ann.finish(Duration::from_secs(15));
    let (_, sent) = ann.rtp_stats();
    assert!(sent > 100, "ann's phone sent {sent} RTP packets");
    // The hang-up (a BYE over TCP) reached the box: the message is posted at once.
    assert_bob_got_speech(&server, dir.path(), spoken);
}

/// Hold with PJSIP's own re-INVITEs: ann holds (PJSIP offers `sendonly`), the box answers
/// `recvonly`, sends her nothing while bob talks on, and does not hang up on the media timeout
/// (20 s) though the hold outlasts it; ann resumes (`sendrecv`) and hears bob again; her
/// hang-up ends both calls at once.
#[test]
fn pjsip_hold_outlasts_the_media_timeout_and_resume_brings_the_audio_back() {
    require_pjsua2();
    let dir = tempdir();
    let (server, ann_pw, bob_pw) = box_with_ann_and_bob(dir.path());
    let mut bob = PjPhone::start(
        &server,
        "202",
        &bob_pw,
        &["--no-vad", "--ring", "0.5", "--run", "60"],
        2,
    );
    bob.wait_for("registered 200", Duration::from_secs(15));
    let mut ann = PjPhone::start(
        &server,
        "201",
        &ann_pw,
        &[
            "--no-vad",
            "--call",
            "202",
            "--hold-after",
            "3",
            "--hold-for",
            "25",
            "--hangup-after",
            "33",
            "--run",
            "60",
        ],
        5,
    );
    ann.wait_for("call CONFIRMED 200", Duration::from_secs(15));
    bob.wait_for("call CONFIRMED 200", Duration::from_secs(5));
    ann.wait_for("held rx=", Duration::from_secs(10));
    let holding = ann.wait_for("holding rx=", Duration::from_secs(5));
    let resumed = ann.wait_for("resumed rx=", Duration::from_secs(40));
    let talking = ann.wait_for("talking rx=", Duration::from_secs(5));
    ann.wait_for("call DISCONNECTED", Duration::from_secs(15));
    bob.wait_for("call DISCONNECTED", Duration::from_secs(3));
    let lines = ann.finish(Duration::from_secs(15));
    bob.finish(Duration::from_secs(15));
    let rx = |l: &str| -> u64 {
        l.rsplit('=')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{l}"))
    };
    let (total, _) = ann.rtp_stats();
    let (while_held, after) = (
        rx(&resumed).saturating_sub(rx(&holding)),
        total.saturating_sub(rx(&talking)),
    );
    eprintln!("ann's RTP in: {while_held} in the 24 s held, {after} in the 4 s after the resume");
    // Neither phone saw the call end while held (a DISCONNECTED before "resumed" fails the
    // waits above); PJSIP's log shows the box's answers.
    let held_at = lines
        .iter()
        .position(|l| l.starts_with("held rx="))
        .expect("held");
    assert!(
        lines[held_at..].iter().any(|l| l.trim() == "a=sendonly"),
        "PJSIP offered sendonly"
    );
    assert!(
        lines[held_at..].iter().any(|l| l.trim() == "a=recvonly"),
        "the box answered recvonly"
    );
    assert!(
        lines[held_at..]
            .iter()
            .filter(|l| l.trim() == "a=sendrecv")
            .count()
            >= 2,
        "resumed: PJSIP offered sendrecv and the box answered it"
    );
    assert!(
        while_held < 10,
        "no RTP toward the held phone: {while_held} packets"
    );
    assert!(after > 100, "audio again after the resume ({after})");
}
