//! End to end: desk phones in live talks (issue 13, "Desk phones"), against the real `ivmd`
//! on loopback, with real peers.
//!
//! - A SIPp phone (scenario `sipp/intercom_answer.xml`) registered for a user whose phone
//!   the installer assigned with each brand (Yealink, Polycom, Snom, Grandstream, Cisco) and
//!   one with no provisioned phone: the box's INVITE for a talk carries that brand's
//!   auto-answer headers (SIPp's regexp actions fail the call otherwise), the talk arrives as
//!   audible A-law RTP (the codec the phone answered with) about as long as it was said, and
//!   the phone is hung up once it has played.
//! - A baresip with `answermode=auto` (baresip 1.0 reads no auto-answer header; its account
//!   answers by itself) hears an `ivm talk`: its captured audio is audible and as long as
//!   the talk, while the same user's `ivm watch` hears it too; the stored copy is played.
//! - A baresip dialling `*8202` talks live to bob listening with `ivm watch`: the WAV the
//!   watch saves is audible and as long as what was spoken; the message is played for bob.
//!   `*8` to an unknown extension is answered with a second of busy tone and hung up.
//! - A baresip in a call with another phone is not rung and gets the stored copy (new); so
//!   does a user whose status is busy (do-not-disturb), and one whose phone rings instead of
//!   answering by itself (`answermode=manual`): it is given up after 5 s.
//! - An all-call to a group of a desk phone's user and an `ivm watch` user plays on both at
//!   once; both copies are urgent and played.

mod baresip;
mod harness;
mod sip_ua;
mod sipp;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use baresip::{silence_wav, speech8k, Phone, SIP_TOML};
use harness::{
    ivmd, require_tool, speech, tempdir, text, until, wait_bounded, wav_seconds, Person, Server,
};
use ivm_sip::auth::Algorithm;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// REGISTERs `ext` (digest) from `sock`, the address the box will send the phone's calls to.
fn register_from(sock: &UdpSocket, server: &Server, ext: &str, password: &str) {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let box_addr: SocketAddr = server.sip.parse().expect("sip addr");
    let local = sock.local_addr().expect("addr");
    let call_id = sip_ua::token();
    let tag = sip_ua::token();
    let uri = format!("sip:{box_addr}");
    let request = |cseq: u32, auth: &str| {
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{ext}@ivm>;tag={tag}\r\nTo: <sip:{ext}@ivm>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@{local}>\r\n\
             Expires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            b = sip_ua::token()
        )
    };
    sock.send_to(request(1, "").as_bytes(), box_addr)
        .expect("send");
    let ch = sip_ua::final_for(sock, &call_id, Duration::from_secs(5)).expect("challenge");
    assert_eq!(ch.status, 401);
    let auth = sip_ua::authorization(&ch, Algorithm::Md5, ext, password, "REGISTER", &uri);
    sock.send_to(request(2, &auth).as_bytes(), box_addr)
        .expect("send");
    let ok = sip_ua::final_for(sock, &call_id, Duration::from_secs(5)).expect("200");
    assert_eq!(ok.status, 200, "registered");
}

/// The `<ereg>` lines checking a brand's auto-answer headers: each (header, regexp) must
/// match; each header in `absent` must not be there.
fn checks(required: &[(&str, &str)], absent: &[&str]) -> String {
    let mut s = String::new();
    for (i, (h, re)) in required.iter().enumerate() {
        s.push_str(&format!(
            "      <ereg regexp=\"{re}\" search_in=\"hdr\" header=\"{h}:\" check_it=\"true\" assign_to=\"r{i}\"/>\n"
        ));
    }
    for (i, h) in absent.iter().enumerate() {
        s.push_str(&format!(
            "      <ereg regexp=\".\" search_in=\"hdr\" header=\"{h}:\" check_it_inverse=\"true\" assign_to=\"a{i}\"/>\n"
        ));
    }
    // SIPp refuses a scenario with a variable assigned and never read.
    let vars: Vec<String> = (0..required.len())
        .map(|i| format!("[$r{i}]"))
        .chain((0..absent.len()).map(|i| format!("[$a{i}]")))
        .collect();
    s.push_str(&format!(
        "      <log message=\"checked {}\"/>\n",
        vars.join(" ")
    ));
    s
}

/// Waits (bounded) until SIPp holds UDP `port` on loopback.
fn wait_bound(port: u16) {
    assert!(
        until(Duration::from_secs(10), || UdpSocket::bind((
            "127.0.0.1",
            port
        ))
        .is_err()),
        "SIPp did not bind port {port}"
    );
}

/// A brand, the MAC of its phone (`None`: no provisioned phone), the headers (name,
/// regexp) its INVITE must carry, and those it must not.
type Brand<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, String)>,
    Vec<&'a str>,
);

#[test]
fn each_brand_gets_its_auto_answer_headers_and_is_hung_up_after_the_talk() {
    require_tool("sipp");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let wav = speech(dir.path(), "hello", "Intercom test. Hello.");
    let said = wav_seconds(&wav);
    let uri = "&lt;sip:[^&gt;]+&gt;";
    let brands: [Brand; 6] = [
        (
            "yealink",
            Some("805ec0000001"),
            vec![
                ("Alert-Info", format!("{uri};info=alert-autoanswer")),
                ("Call-Info", format!("{uri};answer-after=0")),
            ],
            vec!["Answer-Mode"],
        ),
        (
            "polycom",
            Some("0004f2000002"),
            vec![("Alert-Info", "^ *intercom *$".into())],
            vec!["Answer-Mode", "Call-Info"],
        ),
        (
            "snom",
            Some("000413000003"),
            vec![("Call-Info", format!("{uri};answer-after=0"))],
            vec!["Answer-Mode", "Alert-Info"],
        ),
        (
            "grandstream",
            Some("000b82000004"),
            vec![("Call-Info", "^ *answer-after=0 *$".into())],
            vec!["Answer-Mode", "Alert-Info"],
        ),
        (
            "cisco",
            Some("00562b000005"),
            vec![("Call-Info", format!("{uri};answer-after=0"))],
            vec!["Answer-Mode", "Alert-Info"],
        ),
        (
            "unknown",
            None,
            vec![("Answer-Mode", "^ *Auto *$".into())],
            vec!["Alert-Info", "Call-Info"],
        ),
    ];
    let template =
        std::fs::read_to_string(sipp::scenario("intercom_answer.xml")).expect("scenario");
    for (i, (brand, mac, required, absent)) in brands.iter().enumerate() {
        let (name, ext) = (format!("u{i}"), format!("21{i}"));
        server.add_user(&name, &ext, &format!("{name}-password-1"));
        if let Some(mac) = mac {
            let out = ivmd(
                &server.data,
                &["phone", "add", mac, "--user", &name, "--vendor", brand],
            );
            assert!(out.status.success(), "{brand}: {}", text(&out));
        }
        let required: Vec<(&str, &str)> = required.iter().map(|(h, r)| (*h, r.as_str())).collect();
        let scenario = dir.path().join(format!("intercom-{brand}.xml"));
        std::fs::write(
            &scenario,
            template.replace("@CHECKS@", &checks(&required, absent)),
        )
        .expect("scenario");

        // Register from a port, then hand that port to SIPp: the box calls the address the
        // REGISTER came from.
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = sock.local_addr().expect("addr").port();
        register_from(&sock, &server, &ext, &server.sip_password(&name));
        if mac.is_some() {
            assert!(
                server.wait_log(&format!("vendor=Some({})", cap(brand)), WAIT),
                "{brand}: the registry knows the brand"
            );
        }
        drop(sock);
        let media = sipp::free_port("127.0.0.1");
        // The answer's SDP names this socket: the test hears the RTP itself.
        let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sink_port = sink.local_addr().expect("addr").port().to_string();
        let mut uas = Command::new("sipp")
            .current_dir(dir.path())
            .args(["-sf"])
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media])
            .args(["-key", "media_sink", &sink_port])
            .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
            .args(["-trace_err", "-error_file"])
            .arg(dir.path().join(format!("sipp-{brand}-errors.log")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sipp");
        wait_bound(port);

        let out = ann.ok(&["talk", "--to", &name, wav.to_str().expect("path")]);
        assert!(out.contains("talk_end"), "{brand}: {out}");
        let status = wait_bounded(&mut uas, Duration::from_secs(40))
            .unwrap_or_else(|| panic!("{brand}: SIPp did not finish"));
        let errors = std::fs::read_to_string(dir.path().join(format!("sipp-{brand}-errors.log")))
            .unwrap_or_default();
        assert!(
            status.success(),
            "{brand}: SIPp's checks of the INVITE failed ({status}):\n{errors}\nbox log:\n{}",
            server.plain_log()
        );
        // The talk came as A-law RTP, the codec the phone answered with, audible, about as
        // long as what was said (plus the closing tone).
        let (packets, other, rms) = rtp_heard(&sink);
        let secs = f64::from(packets) * 0.02;
        eprintln!(
            "{brand}: {packets} PCMA packets ({secs:.2} s) for {said:.2} s said, rms {rms:.0}"
        );
        assert_eq!(other, 0, "{brand}: only PCMA (payload type 8)");
        assert!(
            secs >= said - 0.3 && secs <= said + 1.5,
            "{brand}: {secs:.2} s of RTP for a {said:.2} s talk"
        );
        assert!(rms > 300.0, "{brand}: the RTP is audible (rms {rms:.0})");
    }
    assert!(server.wait_log("talk heard on a desk phone", WAIT));
}

/// What reached an RTP socket: (PCMA packets, packets of another payload type, RMS of the
/// decoded A-law).
fn rtp_heard(sock: &UdpSocket) -> (u32, u32, f64) {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let (mut pcma, mut other, mut sum, mut n) = (0u32, 0u32, 0f64, 0u64);
    let mut buf = [0u8; 2048];
    while let Ok(len) = sock.recv(&mut buf) {
        if len < 12 {
            continue;
        }
        if buf[1] & 0x7f != 8 {
            other += 1;
            continue;
        }
        pcma += 1;
        for &b in &buf[12..len] {
            let v = f64::from(alaw(b));
            sum += v * v;
            n += 1;
        }
    }
    (pcma, other, (sum / n.max(1) as f64).sqrt())
}

/// G.711 A-law to linear (ITU-T G.711).
fn alaw(b: u8) -> i16 {
    let a = b ^ 0x55;
    let seg = (a & 0x70) >> 4;
    let mut t = i16::from(a & 0x0f) << 4;
    t += 8;
    if seg >= 1 {
        t += 0x100;
    }
    if seg > 1 {
        t <<= seg - 1;
    }
    if a & 0x80 != 0 {
        t
    } else {
        -t
    }
}

/// `yealink` -> `Yealink`, as the box logs a vendor.
fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// (seconds, RMS 0..1) of what a baresip phone captured (its `*-dec.wav` dumps).
fn captured(phone: &Phone) -> (f64, f64) {
    let mut secs = 0.0;
    for e in std::fs::read_dir(&phone.dir).expect("phone dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("dump-") && name.ends_with("-dec.wav") {
            secs += wav_seconds(&e.path());
        }
    }
    (secs, phone.heard_rms())
}

fn inbox_state(person: &Person, id: &str) -> String {
    let inbox = person.inbox();
    let m = inbox
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {}'s inbox: {inbox:?}", person.name));
    m["state"].as_str().expect("state").to_owned()
}

/// The message id of the `talk_end` in `ivm talk`'s output.
fn talk_message(out: &str) -> String {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "talk_end")
        .and_then(|l| l["object"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no stored talk in {out}"))
}

fn setup(dir: &Path) -> Server {
    let server = Server::start(dir, SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    server.add_user("dan", "204", "dan-password-1");
    server
}

fn registered(phone: &Phone, who: &str) {
    assert!(
        phone.wait_for("200 OK", Duration::from_secs(15)),
        "{who}'s phone registers:\n{}",
        phone.output()
    );
}

#[test]
fn a_baresip_answering_by_itself_hears_a_talk_from_ivm_talk() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    let silence = silence_wav(dir.path(), 60);
    let bob_pw = server.sip_password("bob");
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
    registered(&bob_phone, "bob");
    assert!(server.wait_log("desk phone presence", WAIT));
    // Bob also has a client open: both hear it.
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);

    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let wav = speech(
        dir.path(),
        "said",
        "Bob, your visitor is at the front desk. Please come down when you can.",
    );
    let said = wav_seconds(&wav);
    let out = ann.ok(&["talk", "--to", "bob", wav.to_str().expect("path")]);
    let id = talk_message(&out);
    assert!(
        bob_phone.wait_for("Call established", WAIT),
        "bob's phone answered by itself:\n{}",
        bob_phone.output()
    );
    assert!(
        bob_phone.wait_for("closed", WAIT),
        "the box hangs up after the talk:\n{}",
        bob_phone.output()
    );
    let (secs, rms) = captured(&bob_phone);
    eprintln!("said {said:.2} s; the phone heard {secs:.2} s at RMS {rms:.4}");
    assert!(rms > 0.01, "the phone heard the talk (RMS {rms:.4})");
    // The talk, then the closing tone (0.1 s pause, 0.2 s beep); allow for the jitter
    // buffer and packetisation at the edges.
    assert!(
        secs >= said - 0.3 && secs <= said + 1.5,
        "heard {secs:.2} s of a {said:.2} s talk"
    );
    let saved = watch.wait_for(&["talk_saved"], WAIT);
    let saved: Value = serde_json::from_str(&saved).expect("json");
    let in_client = wav_seconds(Path::new(saved["path"].as_str().expect("path")));
    assert!(
        (in_client - said).abs() <= 0.2,
        "the client heard {in_client:.2} s too"
    );
    assert_eq!(inbox_state(&bob, &id), "played", "heard live");
}

#[test]
fn a_phone_that_does_not_answer_by_itself_is_given_up_and_its_user_keeps_the_copy() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    let silence = silence_wav(dir.path(), 60);
    let bob_phone = Phone::start_with(
        dir.path(),
        &server,
        "202",
        &server.sip_password("bob"),
        &silence,
        &[],
        60,
        "manual",
        false,
    );
    registered(&bob_phone, "bob");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    // Longer than the 5 s the phone has to answer by itself.
    let wav = speech(
        dir.path(),
        "long",
        "Bob, this is a longer announcement. The delivery for the third floor has arrived \
         and is waiting at the front desk. Please collect it before the end of the day.",
    );
    let out = ann.ok(&["talk", "--to", "bob", wav.to_str().expect("path")]);
    let id = talk_message(&out);
    assert!(
        bob_phone.wait_for("Incoming call", WAIT),
        "the phone rang:\n{}",
        bob_phone.output()
    );
    assert!(
        server.wait_log("intercom not answered by the phone itself", WAIT),
        "given up; log:\n{}",
        server.plain_log()
    );
    assert!(!bob_phone.output().contains("Call established"));
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_ne!(inbox_state(&bob, &id), "played", "bob finds it unplayed");
}

#[test]
fn a_phone_dialling_star8_talks_live_to_ivm_watch() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);

    // The tone plays for 0.3 s after the answer: the speech starts after 1 s.
    let (wav, spoken) = speech8k(
        dir.path(),
        "star8",
        "Bob, this is Ann on the desk phone, live. The meeting moved to room four.",
        1.0,
        0.5,
    );
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let mut ann_watch = ann.watch();
    ann_watch.wait_for(&["\"ack\""], WAIT);
    let ann_pw = server.sip_password("ann");
    let dial = format!("/dial sip:*8202@{}", server.sip);
    let mut ann_phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &ann_pw,
        &wav,
        &[dial],
        30,
        "auto",
        false,
    );
    assert!(
        ann_phone.wait_for("Call established", WAIT),
        "*8 answered:\n{}",
        ann_phone.output()
    );
    watch.wait_for(&["talk_incoming"], WAIT);
    watch.wait_for(&["\"event\":\"portion\""], WAIT);
    // Ann's client (her only socket) closes mid-talk: the talk from her phone goes on.
    ann_watch.stop();
    let end = watch.wait_for(&["\"action\":\"talk_end\""], Duration::from_secs(60));
    let end: Value = serde_json::from_str(&end).expect("json");
    assert_eq!(
        end["object"]["reason"], "finished",
        "the hang-up ends it: {end}"
    );
    assert_eq!(end["object"]["partial"], false, "{end}");
    let id = end["object"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("stored: {end}"))
        .to_owned();
    let saved = watch.wait_for(&["talk_saved"], WAIT);
    let saved: Value = serde_json::from_str(&saved).expect("json");
    let heard = std::path::PathBuf::from(saved["path"].as_str().expect("path"));
    let heard_s = wav_seconds(&heard);
    let rms = wav_rms(&heard);
    eprintln!("spoken {spoken:.2} s (+1.5 s padding), heard {heard_s:.2} s, rms {rms:.0}");
    assert!(
        rms > 300.0,
        "the talk from the phone is audible (rms {rms:.1})"
    );
    assert!(
        heard_s >= spoken - 0.3 && heard_s <= spoken + 2.5,
        "heard {heard_s:.2} s of {spoken:.2} s spoken"
    );
    watch.stop();
    ann_phone.wait_exit(WAIT);
    assert_eq!(
        inbox_state(&bob, &id),
        "played",
        "heard live with ivm watch"
    );
    let inbox = bob.inbox();
    let m = inbox.iter().find(|m| m["id"] == id).expect("in inbox");
    assert_eq!(m["sender_name"], "ann");
}

/// RMS of a 16-bit mono WAV's samples (after the 44-byte header `ivm` writes).
fn wav_rms(path: &Path) -> f64 {
    let b = std::fs::read(path).expect("wav");
    let s: Vec<f64> = b[44..]
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
        .collect();
    (s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[test]
fn a_phone_in_a_call_and_a_busy_user_get_the_stored_copy() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    let silence = silence_wav(dir.path(), 60);
    let phone = |ext: &str, commands: &[String]| {
        let p = Phone::start_with(
            dir.path(),
            &server,
            ext,
            &server.sip_password(match ext {
                "202" => "bob",
                "203" => "carol",
                _ => "dan",
            }),
            &silence,
            commands,
            60,
            "auto",
            false,
        );
        registered(&p, ext);
        p
    };
    // Bob's phone calls carol's (which answers by itself): both are in a call.
    let carol_phone = phone("203", &[]);
    let bob_phone = phone("202", &[format!("/dial sip:203@{}", server.sip)]);
    assert!(
        carol_phone.wait_for("Call established", WAIT)
            && bob_phone.wait_for("Call established", WAIT),
        "bob and carol in a call:\n{}\n{}",
        bob_phone.output(),
        carol_phone.output()
    );
    assert!(server.wait_log("bridged", WAIT));
    // Dan's phone is idle, but dan chose "busy" (do-not-disturb) in his client.
    let dan_phone = phone("204", &[]);
    let dan = Person::new(&server, dir.path(), "dan", "dan-password-1");
    let mut dan_watch = dan.watch();
    dan_watch.wait_for(&["\"ack\""], WAIT);
    dan.ok(&["status", "busy"]);
    assert_eq!(dan.ok(&["status"]).trim(), "busy");

    let incoming = |p: &Phone| p.output().matches("Incoming call").count();
    let before = [
        incoming(&bob_phone),
        incoming(&carol_phone),
        incoming(&dan_phone),
    ];
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let wav = speech(dir.path(), "fallback", "This goes to your inbox instead.");
    let out = ann.ok(&["talk", "--to", "bob,dan", wav.to_str().expect("path")]);
    let accepted: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "talk_accepted")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        accepted["object"]["stored"].as_array().map(Vec::len),
        Some(1),
        "dan (busy) gets the stored copy only: {out}"
    );
    let id = talk_message(&out);
    assert!(
        server.wait_log("intercom not taken", WAIT),
        "bob's phone, in a call, is not rung; log:\n{}",
        server.plain_log()
    );
    // Nobody was rung: no phone saw a new call.
    assert_eq!(
        [
            incoming(&bob_phone),
            incoming(&carol_phone),
            incoming(&dan_phone)
        ],
        before,
        "no phone rung"
    );
    // Dan's client hears of the stored message, never of a live talk.
    dan_watch.wait_for(&[&id], WAIT);
    assert!(
        !dan_watch.seen.iter().any(|l| l.contains("talk_incoming")),
        "{:?}",
        dan_watch.seen
    );
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_ne!(inbox_state(&bob, &id), "played", "bob finds it unplayed");
    assert_ne!(inbox_state(&dan, &id), "played", "dan finds it unplayed");
}

#[test]
fn star8_to_an_unknown_extension_plays_an_error_tone_and_hangs_up() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    let silence = silence_wav(dir.path(), 30);
    let dial = format!("/dial sip:*8299@{}", server.sip);
    let phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &server.sip_password("ann"),
        &silence,
        &[dial],
        30,
        "auto",
        false,
    );
    assert!(
        phone.wait_for("Call established", WAIT),
        "answered to play the tone:\n{}",
        phone.output()
    );
    assert!(
        phone.wait_for("closed", WAIT),
        "hung up after the tone:\n{}",
        phone.output()
    );
    assert!(server.wait_log("*8 to an unknown recipient", WAIT));
    let (secs, rms) = captured(&phone);
    assert!(
        rms > 0.01 && secs >= 0.8,
        "heard {secs:.2} s of tone at {rms:.3}"
    );
    assert!(!server.log().contains("talk started"), "no talk");
}

#[test]
fn a_star8_talk_ended_by_the_length_limit_hangs_up_the_phone() {
    require_tool("baresip");
    let dir = tempdir();
    // A box whose messages last at most 3 s (a tuned limit: the default is 600 s).
    let server = Server::start(
        dir.path(),
        &format!("{SIP_TOML}[limits]\nmax_message_seconds = 3\n"),
    );
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);
    let (wav, _) = speech8k(
        dir.path(),
        "long8",
        "This talk goes on and on, well past the three seconds this box allows for a message, \
         so the box ends it and hangs up.",
        1.0,
        0.5,
    );
    let dial = format!("/dial sip:*8202@{}", server.sip);
    let phone = Phone::start_with(
        dir.path(),
        &server,
        "201",
        &server.sip_password("ann"),
        &wav,
        &[dial],
        30,
        "auto",
        false,
    );
    assert!(
        phone.wait_for("Call established", WAIT),
        "{}",
        phone.output()
    );
    let end = watch.wait_for(&["\"action\":\"talk_end\""], WAIT);
    assert!(end.contains("length_limit"), "{end}");
    assert!(
        phone.wait_for("closed", Duration::from_secs(10)),
        "the box hung up the speaking phone:\n{}",
        phone.output()
    );
    assert!(server.wait_log("the talk was ended by the box", WAIT));
}

/// All-call reaches phones and browsers at once: an urgent talk to a group of bob (a desk
/// phone that answers by itself) and carol (an `ivm watch` client) plays on both while it is
/// spoken, and both inboxes hold it urgent and played.
#[test]
fn an_all_call_reaches_a_desk_phone_and_a_client_at_once() {
    require_tool("baresip");
    let dir = tempdir();
    let server = setup(dir.path());
    for args in [
        &["group", "add", "floor", "--members", "bob,carol"][..],
        &["user", "allcall", "ann", "on"][..],
    ] {
        let out = ivmd(&server.data, args);
        assert!(out.status.success(), "ivmd {args:?}: {}", text(&out));
    }
    let silence = silence_wav(dir.path(), 60);
    let bob_pw = server.sip_password("bob");
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
    registered(&bob_phone, "bob");
    assert!(server.wait_log("desk phone presence", WAIT));
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let mut watch = carol.watch();
    watch.wait_for(&["\"ack\""], WAIT);

    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let wav = speech(
        dir.path(),
        "allcall",
        "Attention everyone, the delivery truck is at the loading dock.",
    );
    let said = wav_seconds(&wav);
    let out = ann.ok(&["talk", "--group", "floor", wav.to_str().expect("path")]);
    let id = talk_message(&out);
    let incoming = watch.wait_for(&["talk_incoming"], WAIT);
    assert!(
        incoming.contains("\"urgent\":true"),
        "announced urgent: {incoming}"
    );
    assert!(
        bob_phone.wait_for("Call established", WAIT),
        "bob's phone answered the all-call by itself:\n{}",
        bob_phone.output()
    );
    assert!(
        bob_phone.wait_for("closed", WAIT),
        "the box hangs up after the all-call:\n{}",
        bob_phone.output()
    );
    let (secs, rms) = captured(&bob_phone);
    eprintln!("said {said:.2} s; the phone heard {secs:.2} s at RMS {rms:.4}");
    assert!(rms > 0.01, "the phone heard the all-call (RMS {rms:.4})");
    assert!(
        secs >= said - 0.3 && secs <= said + 1.5,
        "the phone heard {secs:.2} s of a {said:.2} s all-call"
    );
    let saved = watch.wait_for(&["talk_saved"], WAIT);
    let saved: Value = serde_json::from_str(&saved).expect("json");
    let path = Path::new(saved["path"].as_str().expect("path")).to_owned();
    let in_client = wav_seconds(&path);
    assert!(
        (in_client - said).abs() <= 0.2,
        "the client heard {in_client:.2} s of a {said:.2} s all-call"
    );
    assert!(wav_rms(&path) > 300.0, "the client's copy is audible");
    for person in [&bob, &carol] {
        let inbox = person.inbox();
        let m = inbox
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {}'s inbox: {inbox:?}", person.name));
        assert_eq!(m["state"], "played", "{} heard it live", person.name);
        assert_eq!(m["urgent"], true, "{}'s copy is urgent", person.name);
    }
}
