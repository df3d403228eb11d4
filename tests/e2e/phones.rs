//! End to end with real desk-phone peers: Debian's baresip (headless: `aufile` as the
//! microphone playing an espeak-ng WAV, `sndfile` capturing, `mwi` subscribing to the lamp)
//! against the real `ivmd`. Loopback only; every wait is bounded; every child is killed on
//! drop.
//!
//! Skipped (with a message) when baresip is not installed: `scripts/setup --tests` installs it.

mod baresip;
mod harness;

use std::time::Duration;

use baresip::{have_baresip, padded_speech, silence_wav, Phone, SIP_TOML};
use harness::{tempdir, Person, Server};

#[test]
fn register_show_presence_star7_to_two_and_mwi() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    let (ann_pw, bob_pw, carol_pw) = (
        server.sip_password("ann"),
        server.sip_password("bob"),
        server.sip_password("carol"),
    );
    assert_eq!(
        ann_pw,
        server.sip_password("ann"),
        "the SIP password is stable"
    );
    let silence = silence_wav(dir.path(), 60);

    // Recipients' phones: registered with digest auth, subscribed to the lamp.
    let bob_phone = Phone::start(dir.path(), &server, "202", &bob_pw, &silence, &[], 60);
    let carol_phone = Phone::start(dir.path(), &server, "203", &carol_pw, &silence, &[], 60);
    assert!(
        bob_phone.wait_for("200 OK", Duration::from_secs(15)),
        "bob's phone registers:\n{}",
        bob_phone.output()
    );
    assert!(
        carol_phone.wait_for("200 OK", Duration::from_secs(15)),
        "carol's phone registers:\n{}",
        carol_phone.output()
    );
    assert!(server.wait_log("phone registered", Duration::from_secs(5)));
    assert!(
        server.wait_log("desk phone presence", Duration::from_secs(5)),
        "registration makes the user available"
    );
    assert!(
        bob_phone.wait_for("Voice-Message: 0/0", Duration::from_secs(15)),
        "lamp off at first:\n{}",
        bob_phone.output()
    );

    // A wrong password is refused (403) and logged.
    let wrong = Phone::start_with(
        dir.path(),
        &server,
        "201",
        "not-the-password",
        &silence,
        &[],
        4,
        "auto",
        false,
    );
    assert!(
        server.wait_log("SIP authentication failed", Duration::from_secs(10)),
        "wrong password logged"
    );
    drop(wrong);

    // *7202*203 from ann's phone: speech after the beep, then hang-up (end of the file).
    let (wav, spoken) = padded_speech(
        dir.path(),
        "Hello Bob and Carol, this is Ann on the desk phone. Lunch at noon?",
    );
    let dial = format!("/dial sip:*7202*203@{}", server.sip);
    let mut ann_phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &wav,
        &[dial],
        25,
        "auto",
        false,
    );
    assert!(
        ann_phone.wait_for("Call established", Duration::from_secs(15)),
        "*7 answered:\n{}",
        ann_phone.output()
    );
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(40)),
        "posted; log:\n{}",
        server.log()
    );
    ann_phone.wait_exit(Duration::from_secs(30));

    // Delivered to both as a normal message, downloadable by a REST/ivm user.
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(carol.inbox().len(), 1);
    let ms = inbox[0]["duration_ms"].as_f64().expect("duration") / 1000.0;
    assert!(
        (ms - spoken).abs() < 1.5,
        "stored {ms} s for {spoken} s spoken"
    );
    assert_eq!(inbox[0]["sender_name"], "ann");
    let id = inbox[0]["id"].as_str().expect("id").to_owned();
    let opus = dir.path().join("got.opus");
    bob.ok(&["get", &id, "-o", opus.to_str().expect("path")]);
    assert_eq!(&std::fs::read(&opus).expect("opus")[..4], b"OggS");

    // The lamp: the recipients' phones get the message-summary NOTIFY.
    assert!(
        bob_phone.wait_for("Voice-Message: 1/0", Duration::from_secs(15)),
        "bob's lamp:\n{}",
        bob_phone.output()
    );
    assert!(
        carol_phone.wait_for("Voice-Message: 1/0", Duration::from_secs(15)),
        "carol's lamp:\n{}",
        carol_phone.output()
    );
    // Played through REST: the lamp goes out.
    bob.ok(&[
        "play",
        &id,
        "-o",
        dir.path().join("played.wav").to_str().expect("path"),
    ]);
    assert!(
        bob_phone.wait_for("Voice-Message: 0/1", Duration::from_secs(15)),
        "bob's lamp after playing:\n{}",
        bob_phone.output()
    );
}

#[test]
fn star7_to_unknown_extension_is_404() {
    if !have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    let silence = silence_wav(dir.path(), 10);
    let phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &pw,
        &silence,
        &[format!("/dial sip:*7299@{}", server.sip)],
        8,
        "auto",
        false,
    );
    assert!(
        phone.wait_for("404", Duration::from_secs(15)),
        "404 for an unknown extension:\n{}",
        phone.output()
    );
}
