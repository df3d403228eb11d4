//! Transfer and hold between desk phones (issue 16), against the real `ivmd` on its embedded
//! defaults, with the raw SIP phones of `dialog_ua.rs`:
//! - blind transfer: ann (201) calls bob (202); bob sends REFER `Refer-To: <sip:299@box>`
//!   (nobody): 202, NOTIFYs `100 Trying` then `404 Not Found`, and the call goes on; then
//!   REFER to carol (203): 202, carol's phone rings and answers, NOTIFYs `100 Trying` then
//!   `200 OK`, the box hangs bob's leg up, and ann's audio reaches carol. A REFER outside the
//!   call, outside its dialog, or without credentials is refused.
//!
//! - attended transfer (RFC 5589): ann calls bob, bob calls carol, bob sends REFER in his
//!   call with ann naming his call with carol in `Replaces`: NOTIFYs `100` then `200`, both
//!   of bob's calls are hung up, and ann's audio reaches carol;
//! - music on hold: bob holds (re-INVITE `sendonly`): ann, silent before, now receives the
//!   box's music; after bob resumes (`sendrecv`), nothing more. With `[sip] music_on_hold`
//!   naming an admin's WAV (a 16 kHz square wave) ann hears that instead (packets repeating
//!   every 1 ms, which the shipped melody never gives); an unusable file stops `ivmd run`
//!   with the setting named.
//!
//! Loopback only; every wait is bounded.

mod dialog_ua;
mod harness;
mod sip_ua;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialog_ua::{box_with_ann_and_bob, direction, media_port, sdp, talk, Ua};
use harness::tempdir;
use ivm_sip::message::{Message, Request};
use sip_ua::token;

/// Whether an RTP payload carries a tone (not silence): more than 8 distinct bytes.
fn is_tone(payload: &[u8]) -> bool {
    let mut seen = [false; 256];
    for b in payload {
        seen[*b as usize] = true;
    }
    seen.iter().filter(|s| **s).count() > 8
}

/// When RTP packets carrying a tone (not silence) arrived on `sock`, until `stop`.
fn count_tone(sock: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Instant>> {
    count_rtp_if(sock, stop, is_tone)
}

/// When RTP packets whose payload passes `keep` arrived on `sock`, until `stop`.
fn count_rtp_if(
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
    keep: fn(&[u8]) -> bool,
) -> std::thread::JoinHandle<Vec<Instant>> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut at = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                if keep(buf.get(12..len).unwrap_or_default()) {
                    at.push(Instant::now());
                }
            }
        }
        at
    })
}

/// Every request `ua` gets within `limit` (each answered 200, ACKs aside), in order.
fn requests_for(ua: &Ua, limit: Duration) -> Vec<Request> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while let Some(m) = ua.recv(deadline.saturating_duration_since(Instant::now())) {
        if let Message::Request(r) = m {
            if r.method.as_str() != "ACK" {
                ua.reply(&r, 200, "");
            }
            got.push(r);
        }
    }
    got
}

/// The sipfrag status lines of the NOTIFYs in call `call_id` among `reqs` (the lamp's
/// `message-summary` NOTIFYs come in their own dialog).
fn sipfrags(reqs: &[Request], call_id: &str) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.method.as_str() == "NOTIFY" && r.headers.call_id().ok() == Some(call_id))
        .map(|r| {
            assert!(
                r.headers
                    .get("Event")
                    .unwrap_or_default()
                    .starts_with("refer"),
                "{r:?}"
            );
            assert_eq!(
                r.headers.get("Content-Type"),
                Some("message/sipfrag;version=2.0")
            );
            String::from_utf8_lossy(&r.body).trim_end().to_owned()
        })
        .collect()
}

/// ann (201) calls bob (202), who answers: ann's phone, the box's INVITE to bob, and where
/// ann's RTP goes.
fn ann_calls_bob(ann: Ua, bob: &Ua, ann_port: u16, bob_port: u16) -> (Ua, Request, SocketAddr) {
    let call_id = token();
    let uri = format!("sip:202@{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let caller = {
        let (call_id, uri, from) = (call_id.clone(), uri.clone(), from.clone());
        let offer = sdp(ann_port, "sendrecv", 1);
        std::thread::spawn(move || {
            let ok = ann.authed("INVITE", &uri, &call_id, 1, |seq, auth| {
                ann.request(
                    "INVITE",
                    &uri,
                    &from,
                    "<sip:202@ivm>",
                    &call_id,
                    seq,
                    auth,
                    &offer,
                )
            });
            (ann, ok)
        })
    };
    let inv = bob
        .recv_request("INVITE", Duration::from_secs(10))
        .expect("bob's phone rings");
    bob.reply(&inv, 200, &sdp(bob_port, "sendrecv", 1));
    let (ann, ok) = caller.join().expect("caller");
    assert_eq!(ok.status, 200, "ann's call answered");
    let ann_to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &ann_to, &call_id, 2);
    let box_to_ann: SocketAddr = ([127, 0, 0, 1], media_port(&ok.body)).into();
    (ann, inv, box_to_ann)
}

/// The phone that answered the box's INVITE `inv` hangs up (BYE in that dialog, answered 200).
fn hang_up_callee(ua: &Ua, inv: &Request) {
    let call = inv.headers.call_id().expect("Call-ID").to_owned();
    ua.send(&ua.request(
        "BYE",
        &dialog_ua::contact_of(inv),
        &format!("<sip:{0}@ivm>;tag={0}tag", ua.ext),
        inv.headers.get("From").expect("From"),
        &call,
        1,
        "",
        "",
    ));
    assert_eq!(
        ua.final_to(&call, 1, Duration::from_secs(5))
            .map(|r| r.status),
        Some(200)
    );
}

#[test]
fn blind_transfer_connects_the_caller_to_the_target_and_reports_in_notifies() {
    let dir = tempdir();
    let (server, ann, bob) = box_with_ann_and_bob(dir.path());
    server.add_user("carol", "203", "carol-password-1");
    let carol = Ua::new(&server, "203", &server.sip_password("carol"));
    assert_eq!(bob.register(&token(), 1), 200);
    assert_eq!(carol.register(&token(), 1), 200);
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann_port = ann_rtp.local_addr().expect("addr").port();
    let bob_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let bob_port = bob_rtp.local_addr().expect("addr").port();
    let carol_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let carol_port = carol_rtp.local_addr().expect("addr").port();

    // ann calls 202; bob answers.
    let (ann, inv, box_to_ann) = ann_calls_bob(ann, &bob, ann_port, bob_port);

    // ann talks all along.
    let talking = Arc::new(AtomicBool::new(true));
    let ann_talks = {
        let talking = talking.clone();
        std::thread::spawn(move || talk(&ann_rtp, box_to_ann, &talking, Duration::from_secs(40)))
    };

    // bob's dialog with the box, as bob sends in it.
    let bob_call = inv.headers.call_id().expect("Call-ID").to_owned();
    let bob_from = "<sip:202@ivm>;tag=202tag".to_owned();
    let bob_to = inv.headers.get("From").expect("From").to_owned();
    let box_uri = dialog_ua::contact_of(&inv);
    let refer = |seq: u32, target: &str, from: &str, to: &str, auth: &str| {
        bob.request(
            "REFER",
            &box_uri,
            from,
            to,
            &bob_call,
            seq,
            &format!(
                "Refer-To: <sip:{target}@{}>\r\nReferred-By: <sip:202@ivm>\r\n{auth}",
                bob.server
            ),
            "",
        )
    };

    // Refused: outside any dialog (no To tag), and with a From tag not of this dialog.
    bob.send(&refer(1, "203", &bob_from, "<sip:201@ivm>", ""));
    let r = bob
        .final_to(&bob_call, 1, Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(r.status, 403, "out-of-dialog REFER: {r:?}");
    bob.send(&refer(2, "203", "<sip:202@ivm>;tag=forged", &bob_to, ""));
    let r = bob
        .final_to(&bob_call, 2, Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(r.status, 481, "REFER with a forged tag: {r:?}");

    // Unknown target: challenged (no credentials), then 202, 100 and 404; the call goes on.
    let r = bob.authed("REFER", &box_uri, &bob_call, 3, |seq, auth| {
        refer(seq, "299", &bob_from, &bob_to, auth)
    });
    assert_eq!(r.status, 202, "{r:?}");
    let got = requests_for(&bob, Duration::from_secs(2));
    assert_eq!(
        sipfrags(&got, &bob_call),
        ["SIP/2.0 100 Trying", "SIP/2.0 404 Not Found"],
        "{got:?}"
    );
    assert!(
        got.iter().all(|r| r.method.as_str() != "BYE"),
        "bob's call stays up: {got:?}"
    );
    let last = got
        .iter()
        .rfind(|r| r.headers.call_id().ok() == Some(bob_call.as_str()))
        .expect("NOTIFY");
    assert!(last
        .headers
        .get("Subscription-State")
        .is_some_and(|s| s.starts_with("terminated")));

    // To carol: she rings and answers; bob hears 100 then 200 and is hung up.
    let r = bob.authed("REFER", &box_uri, &bob_call, 5, |seq, auth| {
        refer(seq, "203", &bob_from, &bob_to, auth)
    });
    assert_eq!(r.status, 202, "{r:?}");
    let inv_c = carol
        .recv_request("INVITE", Duration::from_secs(10))
        .expect("carol's phone rings");
    let heard = {
        let stop = Arc::new(AtomicBool::new(false));
        (count_tone(carol_rtp, stop.clone()), stop)
    };
    carol.reply(&inv_c, 200, &sdp(carol_port, "sendrecv", 1));
    let got = requests_for(&bob, Duration::from_secs(2));
    assert_eq!(
        sipfrags(&got, &bob_call),
        ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"],
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .rfind(|r| r.headers.call_id().ok() == Some(bob_call.as_str()))
            .map(|r| r.method.as_str()),
        Some("BYE"),
        "the box ends bob's leg after the last NOTIFY: {got:?}"
    );
    assert!(server.wait_log("transferred", Duration::from_secs(5)));

    // ann's audio reaches carol.
    std::thread::sleep(Duration::from_secs(2));
    heard.1.store(true, Ordering::Relaxed);
    let tone = heard.0.join().expect("counter").len();
    eprintln!("tone packets from ann at carol: {tone}");
    assert!(tone > 50, "ann's audio reaches carol ({tone} packets)");

    // carol hangs up: ann's phone is hung up too.
    hang_up_callee(&carol, &inv_c);
    assert!(
        ann.recv_request("BYE", Duration::from_secs(5)).is_some(),
        "ann's phone hung up with carol's"
    );
    talking.store(false, Ordering::Relaxed);
    ann_talks.join().expect("ann");
    drop(server);
}

#[test]
fn a_held_party_hears_music_on_hold_until_resumed() {
    let dir = tempdir();
    let (server, ann, bob) = box_with_ann_and_bob(dir.path());
    hold_and_resume(&server, ann, &bob, is_tone);
    drop(server);
}

/// An admin's music (`[sip] music_on_hold`, a 16 kHz WAV of a 1 kHz square wave) is what a
/// held party hears; a file the box cannot use stops it from starting, saying why.
#[test]
fn an_admin_s_music_on_hold_is_played_and_a_bad_file_stops_the_start() {
    let dir = tempdir();
    let bad = dir.path().join("not-music.wav");
    std::fs::write(&bad, "not a wav file").expect("write");
    let data = dir.path().join("bad-box");
    let config = data.with_extension("toml");
    std::fs::write(&config, format!("[sip]\nmusic_on_hold = {:?}\n", bad)).expect("config");
    let mut child = harness::ivmd_run(&[], Some(&config), &data, &harness::LOOPBACK_PORTS, "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ivmd");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ivmd started with an unusable music_on_hold file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("music_on_hold"),
        "the reason names the setting: {err}"
    );

    // A 1 kHz square wave, ±8000, at 16 kHz: on the phone line, two u-law bytes only.
    let mut wav = Vec::new();
    let samples: Vec<i16> = (0..16_000)
        .map(|i| if i % 16 < 8 { 8000 } else { -8000 })
        .collect();
    let bytes = (samples.len() * 2) as u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + bytes).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), 16_000, 32_000, 2 | (16 << 16)] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&bytes.to_le_bytes());
    for s in &samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    let music = dir.path().join("square.wav");
    std::fs::write(&music, wav).expect("write");
    let server = harness::Server::start_on(
        &dir.path().join("box"),
        &format!("[sip]\nmusic_on_hold = {:?}\n", music),
    );
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    hold_and_resume(&server, ann, &bob, |p| {
        // The square wave, resampled to 8 kHz: not silence, and repeating every 8 samples
        // (1 ms), which the box's melody never does for a whole packet.
        let repeats = p.windows(9).filter(|w| w[0] == w[8]).count();
        let mut seen = [false; 256];
        p.iter().for_each(|b| seen[*b as usize] = true);
        p.len() == 160 && repeats > 140 && seen.iter().filter(|s| **s).count() >= 3
    });
    drop(server);
}

/// ann calls bob; bob holds for 3 s and resumes: the packets reaching ann that pass `music`
/// come only while bob holds (and enough of them: music, not a blip).
fn hold_and_resume(server: &harness::Server, ann: Ua, bob: &Ua, music: fn(&[u8]) -> bool) {
    assert_eq!(bob.register(&token(), 1), 200);
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann_port = ann_rtp.local_addr().expect("addr").port();
    let bob_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let bob_port = bob_rtp.local_addr().expect("addr").port();

    let (_ann, inv, box_to_ann) = ann_calls_bob(ann, bob, ann_port, bob_port);
    // Both phones send a little RTP (their media latches); then they are silent.
    rtp_burst(&ann_rtp, box_to_ann);
    rtp_burst(&bob_rtp, ([127, 0, 0, 1], media_port(&inv.body)).into());
    let stop = Arc::new(AtomicBool::new(false));
    let heard = count_rtp_if(ann_rtp, stop.clone(), music);
    std::thread::sleep(Duration::from_secs(1));

    // bob holds, then resumes, with re-INVITEs in his dialog.
    let bob_call = inv.headers.call_id().expect("Call-ID").to_owned();
    let bob_from = "<sip:202@ivm>;tag=202tag".to_owned();
    let bob_to = inv.headers.get("From").expect("From").to_owned();
    let box_uri = dialog_ua::contact_of(&inv);
    let reinvite = |seq: u32, dir: &str, version: u32| {
        bob.send(&bob.request(
            "INVITE",
            &box_uri,
            &bob_from,
            &bob_to,
            &bob_call,
            seq,
            "",
            &sdp(bob_port, dir, version),
        ));
        let r = bob
            .final_to(&bob_call, seq, Duration::from_secs(5))
            .expect("an answer to the re-INVITE");
        assert_eq!(r.status, 200, "{r:?}");
        bob.ack(&box_uri, &bob_from, &bob_to, &bob_call, seq);
        direction(&r.body)
    };
    let held_at = Instant::now();
    assert_eq!(reinvite(1, "sendonly", 2), "recvonly");
    assert!(server.wait_log("music on hold", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_secs(3));
    let resumed_at = Instant::now();
    assert_eq!(reinvite(2, "sendrecv", 3), "sendrecv");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let at = heard.join().expect("counter");
    let before = at.iter().filter(|t| **t < held_at).count();
    let during = at
        .iter()
        .filter(|t| **t > held_at + Duration::from_millis(300) && **t < resumed_at)
        .count();
    let after = at
        .iter()
        .filter(|t| **t > resumed_at + Duration::from_millis(300))
        .count();
    eprintln!("music packets to ann: {before} before the hold, {during} held, {after} after");
    assert_eq!(before, 0, "nothing to ann while bob is silent");
    assert!(during > 100, "music while held ({during} packets in ~3 s)");
    assert_eq!(after, 0, "no music after the resume");
    assert!(server.wait_log("music on hold stopped", Duration::from_secs(1)));
}

/// A few RTP packets of silence from `sock` to `to` (so the box's media latches to it).
fn rtp_burst(sock: &UdpSocket, to: SocketAddr) {
    for i in 0..5u16 {
        let mut pkt = vec![0x80u8, 0];
        pkt.extend_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x5eed_u32.to_be_bytes());
        pkt.extend_from_slice(&[0xff; 160]);
        let _ = sock.send_to(&pkt, to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn attended_transfer_joins_the_caller_with_the_transferor_s_other_call() {
    let dir = tempdir();
    let (server, ann, bob) = box_with_ann_and_bob(dir.path());
    server.add_user("carol", "203", "carol-password-1");
    let carol = Ua::new(&server, "203", &server.sip_password("carol"));
    assert_eq!(bob.register(&token(), 1), 200);
    assert_eq!(carol.register(&token(), 1), 200);
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann_port = ann_rtp.local_addr().expect("addr").port();
    let bob_port = UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let carol_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let carol_port = carol_rtp.local_addr().expect("addr").port();
    let (ann, inv, box_to_ann) = ann_calls_bob(ann, &bob, ann_port, bob_port);

    // bob calls carol (his second call), carol answers.
    let z_call = token();
    let z_uri = format!("sip:203@{}", bob.server);
    let z_from_tag = token();
    let z_from = format!("<sip:202@ivm>;tag={z_from_tag}");
    let (ok, inv_c) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            bob.authed("INVITE", &z_uri, &z_call, 1, |seq, auth| {
                bob.request(
                    "INVITE",
                    &z_uri,
                    &z_from,
                    "<sip:203@ivm>",
                    &z_call,
                    seq,
                    auth,
                    &sdp(bob_port, "sendrecv", 1),
                )
            })
        });
        let inv_c = carol
            .recv_request("INVITE", Duration::from_secs(10))
            .expect("carol's phone rings");
        carol.reply(&inv_c, 200, &sdp(carol_port, "sendrecv", 1));
        (call.join().expect("bob's call"), inv_c)
    });
    assert_eq!(ok.status, 200, "bob's call to carol answered");
    let z_to = ok.headers.get("To").expect("To").to_owned();
    bob.ack(&z_uri, &z_from, &z_to, &z_call, 2);
    let z_to_tag = z_to.rsplit("tag=").next().expect("To tag").to_owned();

    let talking = Arc::new(AtomicBool::new(true));
    let ann_talks = {
        let talking = talking.clone();
        std::thread::spawn(move || talk(&ann_rtp, box_to_ann, &talking, Duration::from_secs(40)))
    };
    let stop = Arc::new(AtomicBool::new(false));
    let heard = count_tone(carol_rtp, stop.clone());

    // bob transfers ann to carol, replacing his call with carol.
    let bob_call = inv.headers.call_id().expect("Call-ID").to_owned();
    let box_uri = dialog_ua::contact_of(&inv);
    let bob_to = inv.headers.get("From").expect("From").to_owned();
    let replaces = format!("{z_call}%3Bto-tag%3D{z_to_tag}%3Bfrom-tag%3D{z_from_tag}");
    let r = bob.authed("REFER", &box_uri, &bob_call, 1, |seq, auth| {
        bob.request(
            "REFER",
            &box_uri,
            "<sip:202@ivm>;tag=202tag",
            &bob_to,
            &bob_call,
            seq,
            &format!(
                "Refer-To: <sip:203@{}?Replaces={replaces}>\r\n{auth}",
                bob.server
            ),
            "",
        )
    });
    assert_eq!(r.status, 202, "{r:?}");
    let got = requests_for(&bob, Duration::from_secs(2));
    assert_eq!(
        sipfrags(&got, &bob_call),
        ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"],
        "{got:?}"
    );
    for call in [&bob_call, &z_call] {
        assert!(
            got.iter()
                .any(|r| r.method.as_str() == "BYE"
                    && r.headers.call_id().ok() == Some(call.as_str())),
            "bob's call {call} hung up: {got:?}"
        );
    }
    assert!(
        carol
            .recv_request("BYE", Duration::from_millis(500))
            .is_none(),
        "carol stays in the call"
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let tone = heard.join().expect("counter").len();
    eprintln!("tone packets from ann at carol: {tone}");
    assert!(tone > 50, "ann's audio reaches carol ({tone} packets)");

    hang_up_callee(&carol, &inv_c);
    assert!(
        ann.recv_request("BYE", Duration::from_secs(5)).is_some(),
        "ann's phone hung up with carol's"
    );
    talking.store(false, Ordering::Relaxed);
    ann_talks.join().expect("ann");
    drop(server);
}
