//! End to end: the real `ivmd` driven by the real `ivm`. Record-mode messaging between
//! clients: online delivery, store-and-forward, several recipients, attachments, receipts,
//! restart, kill -9 during a burst, and the stored audio checked by opusinfo/opusdec.

mod harness;

use std::process::Command;
use std::time::Duration;

use harness::{blob_count, speech, tempdir, wav_seconds, Person, Server};

const WAIT: Duration = Duration::from_secs(30);

fn three_people(server: &Server, dir: &std::path::Path) -> (Person, Person, Person) {
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    (
        Person::new(server, dir, "ann", "ann-password-1"),
        Person::new(server, dir, "bob", "bob-password-1"),
        Person::new(server, dir, "carol", "carol-password-1"),
    )
}

#[test]
fn online_delivery_receipts_and_attachments() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let (ann, bob, _carol) = three_people(&server, dir.path());
    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);
    let mut ann_watch = ann.watch();
    ann_watch.wait_for(&["\"ack\""], WAIT);

    let wav = speech(
        dir.path(),
        "hello",
        "Hello Bob, this is Ann. Lunch at noon?",
    );
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"agenda: 1. lunch 2. more lunch\n").expect("write");
    let id = ann.ok(&[
        "send",
        "--to",
        "bob",
        wav.to_str().expect("path"),
        "--attach",
        notes.to_str().expect("path"),
    ]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "send prints the message id: {id:?}");

    // Pushed at once to the online recipient, saved in its local message folder.
    watch.wait_for(&["\"message\"", &id], WAIT);
    watch.wait_for(&["saved", &id], WAIT);
    let local = watch.dir.join(&id);
    assert!(local.join("audio.opus").is_file(), "audio saved locally");
    assert_eq!(
        std::fs::read(local.join("attachments").join("notes.txt")).expect("attachment"),
        std::fs::read(&notes).expect("notes")
    );

    // The sender sees "delivered", then "played" once bob plays it.
    let delivered = (0..100).any(|_| {
        let s = ann.sent();
        if s[0]["recipients"][0]["state"] == "delivered" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(
        delivered,
        "sender sees the delivered receipt: {:?}",
        ann.sent()
    );
    let out_wav = dir.path().join("played.wav");
    bob.ok(&["play", &id, "-o", out_wav.to_str().expect("path")]);
    let seconds = wav_seconds(&out_wav);
    assert!(seconds > 1.0 && seconds < 6.0, "decoded {seconds} s");
    assert_eq!(ann.sent()[0]["recipients"][0]["state"], "played");
    // ...and the sender's own client is told at once (receipts go to the sender only).
    ann_watch.wait_for(&["receipt", "delivered", &id], WAIT);
    ann_watch.wait_for(&["receipt", "played", &id], WAIT);
    assert!(
        !watch.seen.iter().any(|l| l.contains("\"receipt\"")),
        "the recipient gets no receipts"
    );

    // Attachments round trip through `get` as well.
    let att_dir = dir.path().join("got");
    let opus = dir.path().join("got.opus");
    bob.ok(&[
        "get",
        &id,
        "-o",
        opus.to_str().expect("path"),
        "--attachments",
        att_dir.to_str().expect("path"),
    ]);
    assert_eq!(
        std::fs::read(att_dir.join("notes.txt")).expect("got"),
        std::fs::read(&notes).expect("notes")
    );
    assert_eq!(&std::fs::read(&opus).expect("opus")[..4], b"OggS");
}

#[test]
fn offline_recipient_gets_it_on_connect_and_multiple_recipients() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let (ann, bob, carol) = three_people(&server, dir.path());
    let wav = speech(dir.path(), "team", "Team meeting moved to three o'clock.");
    let id = ann
        .ok(&["send", "--to", "bob,carol", wav.to_str().expect("path")])
        .trim()
        .to_owned();

    // Nobody was connected: both inboxes hold it, queued.
    for p in [&bob, &carol] {
        let inbox = p.inbox();
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0]["id"], id.as_str());
        assert_eq!(inbox[0]["state"], "queued");
    }
    // Carol connects later and gets it at check-in.
    let mut watch = carol.watch();
    watch.wait_for(&["saved", &id], WAIT);
    let sent = ann.sent();
    let states: Vec<(String, String)> = sent[0]["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&("carol".into(), "delivered".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("bob".into(), "queued".into())),
        "{states:?}"
    );
    drop(watch);

    // A second connect does not deliver it again (it is no longer queued).
    let mut again = carol.watch();
    again.wait_for(&["\"queued\":0"], WAIT);
}

/// The stored audio, checked by opus-tools, for both of the box's encode paths: espeak-ng's
/// 22.05 kHz WAV (resampled to 48 kHz and coded there) and the same speech at 16 and 8 kHz
/// (coded at its own rate, issue 18): valid Ogg Opus, mono, the spoken length less trimmed
/// silence, and metadata that matches the decode.
#[test]
fn stored_audio_is_valid_ogg_opus_of_the_spoken_length() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let (ann, bob, _) = three_people(&server, dir.path());
    let source = speech(
        dir.path(),
        "long",
        "The quick brown fox jumps over the lazy dog, twice over, slowly and clearly.",
    );
    for rate in [None, Some("16000"), Some("8000")] {
        let wav = match rate {
            None => source.clone(),
            Some(r) => {
                let to = dir.path().join(format!("long-{r}.wav"));
                harness::sox(&source, &["-r", r, "-b", "16", "-c", "1"], &to, &[]);
                to
            }
        };
        let label = rate.unwrap_or("22050");
        let spoken = wav_seconds(&wav);
        let id = ann
            .ok(&["send", "--to", "bob", wav.to_str().expect("path")])
            .trim()
            .to_owned();
        let opus = dir.path().join(format!("m-{label}.opus"));
        bob.ok(&["get", &id, "-o", opus.to_str().expect("path")]);

        let info = Command::new("opusinfo")
            .arg(&opus)
            .output()
            .expect("opusinfo (opus-tools) is installed by scripts/setup --tests");
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(info.status.success(), "{label} Hz: opusinfo failed: {text}");
        assert!(
            !text.contains("WARNING"),
            "{label} Hz: opusinfo warns: {text}"
        );
        assert!(text.contains("Channels: 1"), "{label} Hz: mono: {text}");

        let decoded = dir.path().join(format!("m-{label}.wav"));
        let out = Command::new("opusdec")
            .args(["--quiet", "--force-wav", "--rate", "48000"])
            .arg(&opus)
            .arg(&decoded)
            .output()
            .expect("opusdec");
        assert!(
            out.status.success(),
            "{label} Hz: opusdec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = wav_seconds(&decoded);
        // Leading and trailing silence is trimmed (espeak leaves a little), never speech.
        assert!(
            got <= spoken + 0.05 && got >= spoken - 0.8,
            "{label} Hz: spoken {spoken:.2} s, stored {got:.2} s"
        );
        let inbox = bob.inbox();
        let meta = inbox
            .iter()
            .find(|m| m["id"] == id.as_str())
            .expect("the message in bob's inbox");
        let ms = meta["duration_ms"].as_f64().expect("duration_ms");
        assert!(
            (ms / 1000.0 - got).abs() < 0.03,
            "{label} Hz: metadata {ms} ms vs decoded {got:.3} s"
        );
        assert_eq!(meta["peaks"].as_array().expect("peaks").len(), 100);
    }
}

#[test]
fn restart_keeps_everything() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start_on(&data, "");
    let (ann, bob, _) = three_people(&server, dir.path());
    let wav = speech(dir.path(), "keep", "Please keep this message.");
    let id = ann
        .ok(&["send", "--to", "bob", wav.to_str().expect("path")])
        .trim()
        .to_owned();
    let before = dir.path().join("before.opus");
    bob.ok(&["get", &id, "-o", before.to_str().expect("path")]);
    assert!(server.stop().success(), "SIGTERM exits 0");

    let server = Server::start_on(&data, "");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    assert_eq!(bob.inbox()[0]["id"], id.as_str());
    assert_eq!(ann.sent()[0]["id"], id.as_str());
    let after = dir.path().join("after.opus");
    bob.ok(&["get", &id, "-o", after.to_str().expect("path")]);
    assert_eq!(
        std::fs::read(&before).expect("before"),
        std::fs::read(&after).expect("after")
    );
    assert!(
        !server.stdout.iter().any(|l| l.contains("first start")),
        "no second admin on restart"
    );
    // The log is a file here, as under systemd: plain text, no terminal colour codes.
    let log = server.log();
    assert!(
        log.contains("store open") && !log.contains('\u{1b}'),
        "{log}"
    );
    // The audio is encrypted at rest: the Ogg magic appears in no blob file.
    for fan in std::fs::read_dir(data.join("blobs"))
        .expect("blobs")
        .flatten()
    {
        for f in std::fs::read_dir(fan.path()).expect("fan").flatten() {
            let bytes = std::fs::read(f.path()).expect("blob");
            assert!(
                !bytes.windows(4).any(|w| w == b"OggS"),
                "plaintext Ogg in {}",
                f.path().display()
            );
        }
    }
    assert!(blob_count(&data) >= 1);
}

#[test]
fn sigterm_tells_clients_the_server_is_going_down() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), "");
    let (_, bob, _) = three_people(&server, dir.path());
    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);
    assert!(server.stop().success(), "exit 0 on SIGTERM");
    watch.wait_for(&["server_going_down"], WAIT);
}

#[test]
fn kill9_during_a_burst_loses_no_acknowledged_message() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut server = Server::start_on(&data, "");
    let (ann, _, _) = three_people(&server, dir.path());
    let wav = speech(dir.path(), "burst", "Burst message.");
    ann.ok(&["login"]);

    // Four senders in parallel, each sending until the box dies (bounded: 40 sends each).
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut threads = Vec::new();
    for _ in 0..4 {
        let acked = acked.clone();
        let (home, server_url, wav) = (ann.home.clone(), ann.server.clone(), wav.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..40 {
                let out = harness::run_bounded(
                    Command::new(harness::ivm_bin())
                        .env("IVM_HOME", &home)
                        .env("IVM_SERVER", &server_url)
                        .env_remove("IVM_USER")
                        .env_remove("IVM_PASSWORD")
                        .args(["send", "--to", "bob"])
                        .arg(&wav),
                    Duration::from_secs(60),
                );
                if !out.status.success() {
                    break;
                }
                acked
                    .lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
            }
        }));
    }
    // Let a few land, then pull the plug mid-burst.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill9();
    for t in threads {
        t.join().expect("sender thread");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 6,
        "the burst was under way when the box was killed ({} acked)",
        acked.len()
    );

    let server = Server::start_on(&data, "");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let inbox = bob.inbox_ids();
    for id in &acked {
        assert!(
            inbox.contains(id),
            "acknowledged message {id} lost after kill -9"
        );
    }
    // Every stored message is whole: its audio decrypts and decodes.
    let last = &acked[acked.len() - 1];
    let out = dir.path().join("last.wav");
    bob.ok(&["play", last, "-o", out.to_str().expect("path")]);
    assert!(wav_seconds(&out) > 0.3);
}

#[test]
fn https_and_wss_with_the_box_certificate() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let (mut ann, mut bob, _) = three_people(&server, dir.path());
    ann.server = server.https.clone();
    bob.server = server.https.clone();
    let cert = server.data.join("tls").join("cert.pem");
    let cert = cert.to_str().expect("path");

    // The self-signed certificate is not trusted by default: a clear refusal.
    let out = ann.ivm(&["users"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Trusting the box's own certificate: REST over HTTPS and the WebSocket over WSS.
    let mut watch = {
        bob.ok(&["--cacert", cert, "login"]);
        bob.watch_with(&["--cacert", cert])
    };
    watch.wait_for(&["\"ack\""], WAIT);
    let wav = speech(dir.path(), "tls", "Sent over TLS.");
    let id = ann
        .ok(&[
            "--cacert",
            cert,
            "send",
            "--to",
            "bob",
            wav.to_str().expect("path"),
        ])
        .trim()
        .to_owned();
    watch.wait_for(&["saved", &id], WAIT);
}
