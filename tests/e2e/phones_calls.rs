//! End to end with real desk phones (Debian's baresip, headless; helpers in `baresip.rs`):
//! `*97` playback with receipts and the lamp, calls between extensions (audio both ways,
//! busy, unknown, no answer, cancel; on the defaults an unanswered call becomes a voice
//! message, and 486/480 reach the caller when the callee turned that off), ring-my-phone
//! through REST, a phone that vanishes
//! mid-recording, and the lamp after a REST delete. Loopback only; every wait is bounded;
//! every child is killed on drop. Skipped when baresip is not installed.

mod baresip;
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use baresip::{have_baresip, padded_speech, silence_wav, speech8k, Phone};
use harness::{run_bounded, tempdir, until, Person, Server};

/// Heard audio below this RMS counts as silence (G.711 idle noise is far below it).
const RMS_FLOOR: f64 = 0.01;

/// Lamp updates the box sent to one phone: the `(new, old)` of each "message-waiting update"
/// line with `phones=1`.
fn lamp_updates(server: &Server) -> Vec<(u32, u32)> {
    let field = |l: &str, k: &str| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<u32>().ok())
    };
    server
        .plain_log()
        .lines()
        .filter(|l| l.contains("message-waiting update") && l.contains("phones=1"))
        .filter_map(|l| Some((field(l, "new=")?, field(l, "old=")?)))
        .collect()
}

fn recipient_state(sent: &[serde_json::Value], name: &str) -> Option<String> {
    sent.first()?["recipients"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["state"].as_str())
        .map(str::to_owned)
}

/// `curl` a JSON request; returns (status, body).
fn curl(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &str,
    limit: Duration,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
        "--max-time",
    ])
    .arg(limit.as_secs().to_string())
    .args(["-d", body]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    cmd.arg(url);
    let out = run_bounded(&mut cmd, limit + Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn login(server: &Server, name: &str, password: &str) -> String {
    let (code, body) = curl(
        "POST",
        &format!("{}/api/login", server.http),
        None,
        &serde_json::json!({"name": name, "password": password}).to_string(),
        Duration::from_secs(10),
    );
    assert_eq!(code, 200, "login {name}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

#[test]
fn star97_plays_newest_marks_played_and_lamp_goes_off() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "[sip]\nsilence_timeout_s = 5\n");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let bob_pw = server.sip_password("bob");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let (wav, _) = speech8k(
        dir.path(),
        "msg",
        "Hello Bob, this is Ann. The meeting moved to three o'clock.",
        0.0,
        0.0,
    );
    let id = ann.ok(&["send", "--to", "bob", wav.to_str().expect("path")]);
    let id = id.trim().to_owned();

    let silence = silence_wav(dir.path(), 60);
    // baresip's own `mwi` module is left out (see `Phone::start_with`): the phone does not
    // subscribe, so the box sends it unsolicited NOTIFYs; the log shows what they say.
    let bob_phone = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &silence,
        &[],
        60,
        "auto",
        false,
    );
    assert!(
        bob_phone.wait_for("200 OK", Duration::from_secs(15)),
        "registers:\n{}",
        bob_phone.output()
    );
    assert!(
        until(Duration::from_secs(10), || lamp_updates(&server)
            .contains(&(1, 0))),
        "lamp on: {:?}",
        lamp_updates(&server)
    );
    bob_phone.command("dial", &format!("sip:*97@{}", server.sip));
    assert!(
        bob_phone.wait_for("Call established", Duration::from_secs(15)),
        "*97 answered:\n{}",
        bob_phone.output()
    );
    // Intro, the sender's extension, then the message: played to the end marks it played.
    let played = until(Duration::from_secs(40), || {
        recipient_state(&ann.sent(), "bob").as_deref() == Some("played")
    });
    assert!(
        played,
        "played for the sender: {:?}\nlog:\n{}",
        ann.sent(),
        server.log()
    );
    assert_eq!(ann.sent()[0]["id"].as_str(), Some(id.as_str()));
    assert!(
        until(Duration::from_secs(10), || lamp_updates(&server).last()
            == Some(&(0, 1))),
        "lamp off: {:?}",
        lamp_updates(&server)
    );
    bob_phone.command("hangup", "");
    std::thread::sleep(Duration::from_millis(1500));
    let rms = bob_phone.heard_rms();
    assert!(
        rms > RMS_FLOOR,
        "*97 audio heard by the phone is not silence: rms {rms}"
    );
}

#[test]
fn call_between_extensions_busy_unknown() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    let (ann_pw, bob_pw, carol_pw) = (
        server.sip_password("ann"),
        server.sip_password("bob"),
        server.sip_password("carol"),
    );
    let (ann_wav, _) = speech8k(dir.path(), "ann", "This is Ann calling Bob. Can you hear me? One two three four five six seven eight nine ten.", 0.5, 10.0);
    let (bob_wav, _) = speech8k(
        dir.path(),
        "bob",
        "Bob here, I hear you fine Ann. Ten nine eight seven six five four three two one.",
        0.5,
        10.0,
    );
    let silence = silence_wav(dir.path(), 60);

    let bob = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &bob_wav,
        &[],
        60,
        "auto",
        false,
    );
    let ann = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &ann_wav,
        &[],
        60,
        "auto",
        false,
    );
    let carol = Phone::start_with(
        dir.path(),
        &server,
        "203",
        &carol_pw,
        &silence,
        &[],
        60,
        "auto",
        false,
    );
    for p in [&bob, &ann, &carol] {
        assert!(
            p.wait_for("200 OK", Duration::from_secs(15)),
            "registers:\n{}",
            p.output()
        );
    }
    // Unknown extension: 404.
    carol.command("dial", &format!("sip:299@{}", server.sip));
    assert!(
        carol.wait_for("404 Not Found", Duration::from_secs(15)),
        "404 for an unknown extension:\n{}",
        carol.output()
    );

    // 201 calls 202: rings, bob auto-answers, audio both ways.
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        bob.wait_for("Call established", Duration::from_secs(15)),
        "callee answers:\n{}\nlog:\n{}",
        bob.output(),
        server.log()
    );
    assert!(
        ann.wait_for("Call established", Duration::from_secs(15)),
        "caller connected:\n{}",
        ann.output()
    );
    assert!(server.wait_log("bridged", Duration::from_secs(5)));

    // Busy: carol calls bob while he is in the call. Bob turned message taking off (by
    // default the box would answer carol for a message: see the no-answer test below).
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_eq!(bob_cli.ok(&["voicemail", "off"]).trim(), "off");
    carol.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        carol.wait_for("486 Busy", Duration::from_secs(15)),
        "486 when the callee is in a call:\n{}",
        carol.output()
    );

    std::thread::sleep(Duration::from_secs(5));
    ann.command("hangup", "");
    assert!(
        bob.wait_for("closed", Duration::from_secs(10)),
        "the hang-up reaches the callee:\n{}",
        bob.output()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let (a, b) = (ann.heard_rms(), bob.heard_rms());
    assert!(a > RMS_FLOOR, "ann hears bob: rms {a}");
    assert!(b > RMS_FLOOR, "bob hears ann: rms {b}");
}

#[test]
fn call_no_answer_takes_a_message_or_is_480_and_cancel_487() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "[sip]\nring_timeout_s = 3\n");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let (ann_pw, bob_pw) = (server.sip_password("ann"), server.sip_password("bob"));
    let silence = silence_wav(dir.path(), 60);
    // Ann's phone: silence while the box says "leave a message", then speech, then silence
    // (the end of the message).
    let (ann_wav, spoken) = speech8k(
        dir.path(),
        "ann",
        "Hello Bob, this is Ann. Please call me back about the delivery this afternoon.",
        6.0,
        9.0,
    );
    let bob = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &silence,
        &[],
        60,
        "manual",
        false,
    );
    let ann = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &ann_wav,
        &[],
        90,
        "auto",
        false,
    );
    for p in [&bob, &ann] {
        assert!(
            p.wait_for("200 OK", Duration::from_secs(15)),
            "registers:\n{}",
            p.output()
        );
    }
    // No answer, on the defaults: after the ring timeout the box answers ann with "leave a
    // message", and what she says lands in bob's inbox with her as sender.
    let t0 = Instant::now();
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        bob.wait_for("Incoming call", Duration::from_secs(10)),
        "the callee rings:\n{}",
        bob.output()
    );
    assert!(
        ann.wait_for("Call established", Duration::from_secs(15)),
        "the box answers the caller:\n{}\nlog:\n{}",
        ann.output(),
        server.log()
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "not before the ring timeout"
    );
    assert!(
        server.wait_log("take a message", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(60)),
        "the message is posted; log:\n{}",
        server.log()
    );
    assert!(
        !ann.output().contains("480 Temporarily Unavailable"),
        "{}",
        ann.output()
    );
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let inbox = bob_cli.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    bob_cli.check_newest_voice_message(dir.path(), "ann", spoken, "left.opus");
    ann.command("hangup", "");
    std::thread::sleep(Duration::from_secs(1));

    // Bob turns message taking off: no answer is 480 after the ring timeout.
    assert_eq!(bob_cli.ok(&["voicemail", "off"]).trim(), "off");
    let t0 = Instant::now();
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        until(Duration::from_secs(10), || bob
            .output()
            .matches("Incoming call")
            .count()
            >= 2),
        "the callee rings:\n{}",
        bob.output()
    );
    assert!(
        ann.wait_for("480 Temporarily Unavailable", Duration::from_secs(15)),
        "480 after the ring timeout:\n{}",
        ann.output()
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "not before the ring timeout"
    );

    // Cancel: the caller hangs up while it rings; the box answers 487 and cancels the callee.
    std::thread::sleep(Duration::from_secs(1));
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        until(Duration::from_secs(10), || bob
            .output()
            .matches("Incoming call")
            .count()
            >= 3),
        "rings again:\n{}",
        bob.output()
    );
    ann.command("hangup", "");
    assert!(
        server.wait_log("cancelled by the caller", Duration::from_secs(10)),
        "CANCEL handled; log:\n{}",
        server.log()
    );
    // Nothing is left stuck: bob can still be called (rings, then 480 again, not 486).
    std::thread::sleep(Duration::from_secs(1));
    let before = ann.output().matches("480 Temporarily Unavailable").count();
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        until(Duration::from_secs(15), || ann
            .output()
            .matches("480 Temporarily Unavailable")
            .count()
            > before),
        "callable again:\n{}",
        ann.output()
    );
    assert!(
        !ann.output().contains("486 Busy"),
        "no stale busy state:\n{}",
        ann.output()
    );
}

#[test]
fn ring_me_records_from_an_auto_answering_phone() {
    if !have_baresip() || !harness::available("curl") {
        return;
    }
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        "[sip]\nsilence_timeout_s = 3\nring_timeout_s = 4\n",
    );
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    let (ann_pw, bob_pw) = (server.sip_password("ann"), server.sip_password("bob"));
    let (wav, spoken) = speech8k(
        dir.path(),
        "ringme",
        "Hello Bob and Carol, Ann here recording from my desk phone.",
        1.5,
        8.0,
    );
    let ann_phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &wav,
        &[],
        60,
        "auto",
        false,
    );
    assert!(
        ann_phone.wait_for("200 OK", Duration::from_secs(15)),
        "registers:\n{}",
        ann_phone.output()
    );
    let url = format!("{}/api/ring-me", server.http);

    // No phone: 409.
    let carol_tok = login(&server, "carol", "carol-password-1");
    let (code, body) = curl(
        "POST",
        &url,
        Some(&carol_tok),
        r#"{"to":["bob"]}"#,
        Duration::from_secs(10),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"], "no_phone");

    // Ann's phone answers, records, and the message reaches both.
    let tok = login(&server, "ann", "ann-password-1");
    let (code, body) = curl(
        "POST",
        &url,
        Some(&tok),
        r#"{"to":["bob","carol"]}"#,
        Duration::from_secs(15),
    );
    assert_eq!(code, 202, "{body}\nlog:\n{}", server.log());
    assert_eq!(body["state"], "recording");
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(40)),
        "posted; log:\n{}",
        server.log()
    );
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(carol.inbox().len(), 1);
    assert_eq!(inbox[0]["sender_name"], "ann");
    let got = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(
        (got - spoken).abs() < 1.5,
        "stored {got} s for {spoken} s spoken"
    );

    // Not answered: 408 with a clear error after the ring timeout.
    let bob_phone = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &wav,
        &[],
        60,
        "manual",
        false,
    );
    assert!(
        bob_phone.wait_for("200 OK", Duration::from_secs(15)),
        "registers:\n{}",
        bob_phone.output()
    );
    let bob_tok = login(&server, "bob", "bob-password-1");
    let t0 = Instant::now();
    let (code, body) = curl(
        "POST",
        &url,
        Some(&bob_tok),
        r#"{"to":["ann"]}"#,
        Duration::from_secs(20),
    );
    assert_eq!(code, 408, "{body}");
    assert_eq!(body["error"], "no_answer");
    assert!(t0.elapsed() >= Duration::from_secs(3));
}

#[test]
fn phone_vanishing_mid_recording_keeps_speech_drops_empty() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        "[sip]\nsilence_timeout_s = 30\nmedia_timeout_s = 3\n",
    );
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann_pw = server.sip_password("ann");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");

    // Speech, then the phone is killed (no BYE) while still recording.
    let (wav, spoken) = padded_speech(
        dir.path(),
        "Bob, this is Ann, the phone will die in a moment.",
    );
    let mut ann_phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &wav,
        &[format!("/dial sip:*7202@{}", server.sip)],
        60,
        "auto",
        false,
    );
    assert!(
        ann_phone.wait_for("Call established", Duration::from_secs(15)),
        "*7 answered:\n{}",
        ann_phone.output()
    );
    assert!(server.wait_log("recording", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_secs_f64(5.0 + spoken));
    ann_phone.kill();
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(20)),
        "partial message kept; log:\n{}",
        server.log()
    );
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let got = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(got > spoken * 0.6, "stored {got} s of {spoken} s spoken");

    // Silence only, then killed: nothing delivered, nothing stuck.
    let silence = silence_wav(dir.path(), 60);
    let mut quiet = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &silence,
        &[format!("/dial sip:*7202@{}", server.sip)],
        60,
        "auto",
        false,
    );
    assert!(
        quiet.wait_for("Call established", Duration::from_secs(15)),
        "*7 answered:\n{}",
        quiet.output()
    );
    std::thread::sleep(Duration::from_secs(6));
    quiet.kill();
    assert!(
        server.wait_log("recording held no speech: dropped", Duration::from_secs(20)),
        "empty recording dropped; log:\n{}",
        server.log()
    );
    assert_eq!(bob.inbox().len(), 1);
}

#[test]
fn rest_delete_turns_the_lamp_off() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let bob_pw = server.sip_password("bob");
    let silence = silence_wav(dir.path(), 40);
    let bob_phone = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &silence,
        &[],
        40,
        "auto",
        false,
    );
    assert!(
        bob_phone.wait_for("200 OK", Duration::from_secs(15)),
        "registers:\n{}",
        bob_phone.output()
    );
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let (wav, _) = speech8k(dir.path(), "del", "Delete me.", 0.0, 0.0);
    let id = ann
        .ok(&["send", "--to", "bob", wav.to_str().expect("path")])
        .trim()
        .to_owned();
    assert!(
        until(Duration::from_secs(10), || lamp_updates(&server).last()
            == Some(&(1, 0))),
        "lamp on: {:?}",
        lamp_updates(&server)
    );
    let tok = login(&server, "bob", "bob-password-1");
    let (code, body) = curl(
        "DELETE",
        &format!("{}/api/messages/{id}", server.http),
        Some(&tok),
        "",
        Duration::from_secs(10),
    );
    assert_eq!(code, 204, "{body}");
    assert!(
        until(Duration::from_secs(10), || lamp_updates(&server).last()
            == Some(&(0, 0))),
        "lamp off after the delete: {:?}",
        lamp_updates(&server)
    );
}

#[test]
fn star97_keys_delete_next_and_reply() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "[sip]\nsilence_timeout_s = 3\n");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    let bob_pw = server.sip_password("bob");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let (a_wav, _) = speech8k(dir.path(), "a", "Short note from Ann.", 0.0, 0.0);
    let (c_wav, _) = speech8k(dir.path(), "c", "Carol here.", 0.0, 0.0);
    let ann_msg = ann
        .ok(&["send", "--to", "bob", a_wav.to_str().expect("path")])
        .trim()
        .to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let carol_msg = carol
        .ok(&["send", "--to", "bob", c_wav.to_str().expect("path")])
        .trim()
        .to_owned();
    // Bob's microphone: quiet for 10 s, then his reply spoken over and over (1 s gaps, shorter
    // than the silence timeout) for about 25 s, then quiet: whenever key 4 starts the
    // recording within that stretch, it records speech and the silence after it ends it.
    let (once, _) = speech8k(
        dir.path(),
        "reply",
        "Thanks Ann, see you at noon.",
        0.0,
        1.0,
    );
    let reply_wav = dir.path().join("reply-loop.wav");
    let mut sox = Command::new("sox");
    for _ in 0..8 {
        sox.arg(&once);
    }
    let r = run_bounded(
        sox.arg(&reply_wav).args(["pad", "10", "10"]),
        Duration::from_secs(30),
    );
    assert!(
        r.status.success(),
        "sox: {}",
        String::from_utf8_lossy(&r.stderr)
    );

    let phone = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &bob_pw,
        &reply_wav,
        &[],
        60,
        "auto",
        false,
    );
    assert!(
        phone.wait_for("200 OK", Duration::from_secs(15)),
        "registers:\n{}",
        phone.output()
    );
    phone.command("dial", &format!("sip:*97@{}", server.sip));
    assert!(
        phone.wait_for("Call established", Duration::from_secs(15)),
        "*97 answered:\n{}",
        phone.output()
    );
    assert!(
        until(Duration::from_secs(10), || server
            .plain_log()
            .contains("mailbox messages=2 new=2")),
        "two new messages"
    );
    // Newest first: carol's. 3 (during the intro) deletes it and moves on to ann's.
    std::thread::sleep(Duration::from_millis(500));
    phone.command("sndcode", "3");
    assert!(
        until(Duration::from_secs(10), || bob
            .inbox()
            .iter()
            .all(|m| m["id"] != carol_msg.as_str())),
        "3 deletes the newest (carol's): {:?}",
        bob.inbox()
    );
    assert_eq!(
        recipient_state(&carol.sent(), "bob")
            .as_deref()
            .filter(|s| *s == "played"),
        None,
        "deleted unheard, not played"
    );
    // Ann's plays to the end: played for ann.
    assert!(
        until(Duration::from_secs(30), || recipient_state(
            &ann.sent(),
            "bob"
        )
        .as_deref()
            == Some("played")),
        "ann's played: {:?}",
        ann.sent()
    );
    assert!(
        bob.inbox().iter().any(|m| m["id"] == ann_msg.as_str()),
        "ann's message stays: {:?}",
        bob.inbox()
    );
    // 4: reply to ann, recorded from the phone, sent when the silence timeout ends it.
    phone.command("sndcode", "4");
    assert!(
        until(Duration::from_secs(40), || ann
            .inbox()
            .iter()
            .any(|m| m["sender_name"] == "bob")),
        "bob's reply reaches ann: {:?}\nlog:\n{}",
        ann.inbox(),
        server.plain_log()
    );
    phone.command("hangup", "");
    if std::env::var_os("IVM_E2E_SHOW").is_some() {
        eprintln!("{}", server.plain_log());
    }
}
