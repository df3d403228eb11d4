//! SIP correctness inside calls and subscriptions that PJSIP and liblinphone found (issue 16),
//! against the real `ivmd` on its embedded defaults:
//! - OPTIONS lists what the box handles (`Allow` with UPDATE, `Supported`, `Allow-Events`,
//!   `Accept`), and the box's own INVITEs carry `Allow` and `Supported`;
//! - hold: an offer `inactive` (in an UPDATE, RFC 3311) is answered `inactive` and one
//!   `sendonly` (in a re-INVITE) `recvonly` (RFC 3264 §6.1); the box then sends no RTP
//!   toward the held phone and does not hang up on the media timeout (20 s) while held; an
//!   offer `sendrecv` resumes the audio;
//! - unsubscribing from the lamp (SUBSCRIBE `Expires: 0`) gets a last NOTIFY, terminated;
//! - a phone that registers again from the same contact with a new Call-ID (it restarted
//!   after a power cut, its binding still live) gets its lamp again; a refresh does not;
//! - the box's INVITE, checked by SIPp as the answering phone, carries `Allow` and `Supported`;
//! - qualify: a phone (SIPp) that stops answering the box's OPTIONS goes offline before its
//!   registration lapses, and comes back when it answers again.
//!
//! Peers: small raw-UDP user agents (`dialog_ua.rs`: one socket each, digest with
//! `ivm_sip::auth`), RTP as plain PCMU packets, and SIPp (`tests/e2e/sipp/`). Loopback only; every wait is bounded.

mod dialog_ua;
mod harness;
mod rtp;
mod sip_ua;
mod sipp;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialog_ua::{box_with_ann_and_bob, count_rtp, direction, media_port, sdp, talk, Ua};
use harness::{tempdir, Server};
use ivm_sip::message::Response;
use sip_ua::token;

#[test]
fn options_lists_what_the_box_handles() {
    let dir = tempdir();
    let (server, ann, _) = box_with_ann_and_bob(dir.path());
    let call_id = token();
    let uri = format!("sip:{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    ann.send(&ann.request(
        "OPTIONS",
        &uri,
        &from,
        "<sip:ivm@ivm>",
        &call_id,
        1,
        "Accept: application/sdp\r\n",
        "",
    ));
    let r = ann
        .final_for(&call_id, Duration::from_secs(5))
        .expect("an answer to OPTIONS");
    assert_eq!(r.status, 200);
    let allow = r.headers.get("Allow").expect("Allow").to_owned();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    for m in [
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "UPDATE",
        "INFO",
        "REFER",
    ] {
        assert!(methods.contains(&m), "{m} in Allow: {allow}");
    }
    assert!(r.headers.get("Supported").is_some(), "Supported: {r:?}");
    assert_eq!(
        r.headers.get("Allow-Events"),
        Some("message-summary, dialog, presence")
    );
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    drop(server);
}

/// ann calls bob (both raw user agents); bob's phone sees the box's INVITE carry `Allow`
/// and `Supported`. Then ann holds (UPDATE `inactive`, re-INVITE `sendonly`), stays held
/// past the media timeout while bob keeps talking, and resumes.
#[test]
fn hold_is_answered_by_direction_stops_rtp_and_outlives_the_media_timeout() {
    let dir = tempdir();
    let (server, ann, bob) = box_with_ann_and_bob(dir.path());
    assert_eq!(bob.register(&token(), 1), 200);
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann_port = ann_rtp.local_addr().expect("addr").port();
    let bob_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let bob_port = bob_rtp.local_addr().expect("addr").port();

    // ann dials 202 (challenge, then authenticated) on a thread; bob answers here.
    let call_id = token();
    let uri = format!("sip:202@{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let offer = sdp(ann_port, "sendrecv", 1);
    let caller = {
        let (call_id, uri, from, offer) =
            (call_id.clone(), uri.clone(), from.clone(), offer.clone());
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
    let allow = inv.headers.get("Allow").unwrap_or_default().to_owned();
    assert!(
        allow.contains("INVITE") && allow.contains("BYE") && allow.contains("UPDATE"),
        "the box's INVITE has Allow: {inv:?}"
    );
    assert!(
        inv.headers.get("Supported").is_some(),
        "the box's INVITE has Supported: {inv:?}"
    );
    let box_to_bob = media_port(&inv.body);
    bob.reply(&inv, 200, &sdp(bob_port, "sendrecv", 1));
    let (ann, ok) = caller.join().expect("caller");
    assert_eq!(ok.status, 200, "ann's call answered");
    let to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &to, &call_id, 2);
    let box_to_ann: SocketAddr = ([127, 0, 0, 1], media_port(&ok.body)).into();

    // bob talks for the whole test (his leg must not time out); ann talks until she holds.
    let talking = Arc::new(AtomicBool::new(true));
    let bob_talks = {
        let talking = talking.clone();
        let to: SocketAddr = ([127, 0, 0, 1], box_to_bob).into();
        std::thread::spawn(move || talk(&bob_rtp, to, &talking, Duration::from_secs(90)))
    };
    let ann_sock = ann_rtp.try_clone().expect("clone");
    rtp::send_pcmu(&ann_sock, box_to_ann, 0xa22, 100, |_| 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let heard = count_rtp(ann_rtp, stop.clone());
    std::thread::sleep(Duration::from_secs(1));

    // UPDATE with an `inactive` offer: 200 with an answer, `inactive`.
    ann.send(&ann.request(
        "UPDATE",
        &uri,
        &from,
        &to,
        &call_id,
        3,
        "",
        &sdp(ann_port, "inactive", 2),
    ));
    let r = ann
        .final_to(&call_id, 3, Duration::from_secs(5))
        .expect("an answer to UPDATE");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.headers.get("Content-Type"),
        Some("application/sdp"),
        "an answer: {r:?}"
    );
    assert_eq!(
        direction(&r.body),
        "inactive",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // re-INVITE `sendonly`: answered `recvonly`.
    ann.send(&ann.request(
        "INVITE",
        &uri,
        &from,
        &to,
        &call_id,
        4,
        "",
        &sdp(ann_port, "sendonly", 3),
    ));
    let r = ann
        .final_to(&call_id, 4, Duration::from_secs(5))
        .expect("an answer to the re-INVITE");
    assert_eq!(r.status, 200, "{r:?}");
    ann.ack(&uri, &from, &to, &call_id, 4);
    assert_eq!(
        direction(&r.body),
        "recvonly",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let held_at = Instant::now();

    // Held for 25 s (past the 20 s media timeout), ann silent: no BYE to either phone.
    let bye_to_ann = ann.recv_request("BYE", Duration::from_secs(25));
    assert!(
        bye_to_ann.is_none(),
        "the box hung up on the held phone: {bye_to_ann:?}"
    );
    let bye_to_bob = bob.recv_request("BYE", Duration::from_millis(100));
    assert!(
        bye_to_bob.is_none(),
        "the box hung up on bob: {bye_to_bob:?}"
    );
    let resumed_at = Instant::now();

    // Resume: `sendrecv` answered `sendrecv`, and bob's audio reaches ann again.
    ann.send(&ann.request(
        "INVITE",
        &uri,
        &from,
        &to,
        &call_id,
        5,
        "",
        &sdp(ann_port, "sendrecv", 4),
    ));
    let r = ann
        .final_to(&call_id, 5, Duration::from_secs(5))
        .expect("an answer to the resume");
    assert_eq!(r.status, 200, "{r:?}");
    ann.ack(&uri, &from, &to, &call_id, 5);
    assert_eq!(
        direction(&r.body),
        "sendrecv",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let at = heard.join().expect("counter");
    let before = at
        .iter()
        .filter(|t| **t < held_at - Duration::from_millis(600))
        .count();
    let during = at
        .iter()
        .filter(|t| **t > held_at + Duration::from_millis(500) && **t < resumed_at)
        .count();
    let after = at
        .iter()
        .filter(|t| **t > resumed_at + Duration::from_millis(200))
        .count();
    eprintln!("RTP to ann: {before} before the hold, {during} while held, {after} after");
    assert!(
        before > 10,
        "bob's audio reached ann before the hold ({before})"
    );
    assert_eq!(during, 0, "no RTP toward the held phone");
    assert!(after > 50, "audio again after the resume ({after})");

    ann.send(&ann.request("BYE", &uri, &from, &to, &call_id, 6, "", ""));
    let r = ann
        .final_to(&call_id, 6, Duration::from_secs(5))
        .expect("an answer to BYE");
    assert_eq!(r.status, 200);
    assert!(
        bob.recv_request("BYE", Duration::from_secs(5)).is_some(),
        "bob's phone hung up"
    );
    talking.store(false, Ordering::Relaxed);
    bob_talks.join().expect("bob");
    drop(server);
}

/// SUBSCRIBE to `message-summary` with `expires`, in dialog `call_id` (To-tag `to_tag`
/// once known): the final answer.
fn subscribe(
    ua: &Ua,
    call_id: &str,
    from: &str,
    to_tag: Option<&str>,
    cseq: u32,
    expires: u32,
) -> Response {
    let uri = format!("sip:{}@{}", ua.ext, ua.server);
    let to = match to_tag {
        Some(t) => format!("<sip:{}@ivm>;tag={t}", ua.ext),
        None => format!("<sip:{}@ivm>", ua.ext),
    };
    ua.authed("SUBSCRIBE", &uri, call_id, cseq, |seq, auth| {
        ua.request(
            "SUBSCRIBE",
            &uri,
            from,
            &to,
            call_id,
            seq,
            &format!("Event: message-summary\r\nAccept: application/simple-message-summary\r\nExpires: {expires}\r\n{auth}"),
            "",
        )
    })
}

#[test]
fn unsubscribing_from_the_lamp_gets_a_last_notify_terminated() {
    let dir = tempdir();
    let (server, _, bob) = box_with_ann_and_bob(dir.path());
    let call_id = token();
    let from = format!("<sip:202@ivm>;tag={}", token());
    let ok = subscribe(&bob, &call_id, &from, None, 1, 600);
    assert_eq!(ok.status, 200, "{ok:?}");
    let tag = sip_ua_tag(&ok);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("the lamp's state");
    assert!(
        n.headers
            .get("Subscription-State")
            .is_some_and(|s| s.starts_with("active")),
        "{n:?}"
    );
    bob.reply(&n, 200, "");

    let ok = subscribe(&bob, &call_id, &from, Some(&tag), 3, 0);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.headers.get("Expires"), Some("0"));
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("a last NOTIFY after unsubscribing");
    bob.reply(&n, 200, "");
    assert_eq!(
        n.headers.call_id().ok(),
        Some(call_id.as_str()),
        "in the subscription's dialog"
    );
    assert!(
        n.headers
            .get("Subscription-State")
            .is_some_and(|s| s.starts_with("terminated")),
        "{n:?}"
    );
    let body = String::from_utf8_lossy(&n.body);
    assert!(
        body.starts_with("Messages-Waiting: no"),
        "the state: {body}"
    );
    drop(server);
}

/// Our tag in a response's To.
fn sip_ua_tag(r: &Response) -> String {
    let to = r.headers.get("To").expect("To");
    to.split(";tag=")
        .nth(1)
        .expect("a To tag")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_phone_restarted_with_its_binding_live_gets_its_lamp_again() {
    let dir = tempdir();
    let (server, _, bob) = box_with_ann_and_bob(dir.path());
    let first = token();
    assert_eq!(bob.register(&first, 1), 200);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the lamp after the first registration");
    assert_eq!(n.headers.get("Event"), Some("message-summary"));
    bob.reply(&n, 200, "");

    // A refresh (same Call-ID) changes nothing: no NOTIFY.
    assert_eq!(bob.register(&first, 3), 200);
    let again = bob.recv_request("NOTIFY", Duration::from_secs(4));
    assert!(again.is_none(), "no lamp update on a refresh: {again:?}");

    // The phone lost power and came back: same contact, new Call-ID, binding still live.
    assert_eq!(bob.register(&token(), 1), 200);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the lamp again after the restart");
    assert_eq!(n.headers.get("Event"), Some("message-summary"));
    assert!(
        String::from_utf8_lossy(&n.body).contains("Messages-Waiting:"),
        "{n:?}"
    );
    bob.reply(&n, 200, "");
    drop(server);
}

/// A second phone of the same user coming up gets its lamp; the user's phone already up does
/// not get another NOTIFY (its lamp is right). Before, every phone of the user was sent one per
/// restart, and a storm of REGISTERs with fresh Call-IDs (bench-sip (d)) filled the
/// transaction table with unanswered NOTIFYs.
#[test]
fn a_phone_coming_up_gets_its_lamp_and_the_users_other_phones_get_none() {
    let dir = tempdir();
    let (server, _, desk) = box_with_ann_and_bob(dir.path());
    assert_eq!(desk.register(&token(), 1), 200);
    let n = desk
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the lamp after the first registration");
    desk.reply(&n, 200, "");

    let second = Ua::new(&server, "202", &server.sip_password("bob"));
    assert_eq!(second.register(&token(), 1), 200);
    let n = second
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the second phone's lamp");
    assert_eq!(n.headers.get("Event"), Some("message-summary"));
    second.reply(&n, 200, "");
    let extra = desk.recv_request("NOTIFY", Duration::from_secs(3));
    assert!(
        extra.is_none(),
        "the phone already up got another lamp: {extra:?}"
    );
    drop(server);
}

/// Qualify with SIPp as the phone: it registers (an hour), answers the box's OPTIONS for a
/// few seconds (`-aa`), then vanishes without unregistering; after the misses the box shows
/// it offline (presence, and `reachable: false` in the admin's list), long before the hour.
/// A SIPp back on the same address that answers one OPTIONS brings it back online. The
/// interval is shortened to 2 s (default 30 s) and misses to 2 (default 3) to keep the test
/// short; the rule is the same.
#[test]
fn a_phone_that_stops_answering_options_goes_offline_and_comes_back() {
    harness::require_tool("sipp");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[sip]\nqualify_s = 2\nqualify_misses = 2\n");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n201;;ivm;\n").expect("csv");
    let port = sipp::free_port("127.0.0.1");
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "30s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-aa",
            "-sf",
            sipp::scenario("register_then_vanish.xml")
                .to_str()
                .expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "201",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "registered and stayed 6 s:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = server.plain_log();
    assert!(log.contains("phone registered"), "{log}");
    assert!(
        !log.contains("unreachable"),
        "answered OPTIONS while up:\n{log}"
    );
    // SIPp is gone: within a few intervals the phone is unreachable and ann offline.
    assert!(
        server.wait_log(
            "phone does not answer OPTIONS: unreachable",
            Duration::from_secs(20)
        ),
        "{}",
        server.log()
    );
    assert!(
        harness::until(Duration::from_secs(5), || server.plain_log().lines().any(
            |l| l.contains("desk phone presence") && l.contains("online=false")
        )),
        "presence offline:\n{}",
        server.log()
    );
    assert!(
        !server.plain_log().contains("phone registration expired"),
        "offline before the registration lapsed"
    );

    // Back on the same address, answering: reachable and online again.
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "20s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-sf",
            sipp::scenario("options_uas.xml").to_str().expect("path"),
            "-m",
            "1",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "answered an OPTIONS:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        server.wait_log(
            "phone answers OPTIONS again: reachable",
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    assert!(
        harness::until(Duration::from_secs(5), || {
            let log = server.plain_log();
            let last = log
                .lines()
                .rfind(|l| l.contains("desk phone presence"))
                .unwrap_or_default()
                .to_owned();
            last.contains("online=true")
        }),
        "presence online again:\n{}",
        server.log()
    );
}

/// The box's INVITE to a phone says what the box handles: SIPp, registered as bob, answers
/// on the address it registered from and fails the call unless the INVITE carries `Allow`
/// (INVITE, BYE, UPDATE) and `Supported`.
#[test]
fn the_box_s_invite_carries_allow_and_supported_checked_by_sipp() {
    harness::require_tool("sipp");
    let dir = tempdir();
    let (server, ann, _) = box_with_ann_and_bob(dir.path());
    let pw = server.sip_password("bob");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n202;;ivm;\n").expect("csv");
    let port = sipp::free_port("127.0.0.1");
    let register = sipp::scenario("register_auth.xml");
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "20s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-sf",
            register.to_str().expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "202",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "bob registered:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // bob's phone, back on the address it registered from, takes one call.
    let uas = {
        let (dir, sip, port) = (dir.path().to_owned(), server.sip.clone(), port.clone());
        std::thread::spawn(move || {
            let scenario = sipp::scenario("uas_check_invite.xml");
            sipp::run(
                &dir,
                &sip,
                "127.0.0.1",
                "30s",
                &[
                    "-p",
                    &port,
                    "-t",
                    "u1",
                    "-sf",
                    scenario.to_str().expect("path"),
                    "-m",
                    "1",
                ],
                Duration::from_secs(50),
            )
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port_a = ann_rtp.local_addr().expect("addr").port();
    let call_id = token();
    let uri = format!("sip:202@{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let ok = ann.authed("INVITE", &uri, &call_id, 1, |seq, auth| {
        ann.request(
            "INVITE",
            &uri,
            &from,
            "<sip:202@ivm>",
            &call_id,
            seq,
            auth,
            &sdp(port_a, "sendrecv", 1),
        )
    });
    assert_eq!(ok.status, 200, "bob's phone answered: {ok:?}");
    let to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &to, &call_id, 2);
    std::thread::sleep(Duration::from_secs(1));
    ann.send(&ann.request("BYE", &uri, &from, &to, &call_id, 3, "", ""));
    let r = ann
        .final_to(&call_id, 3, Duration::from_secs(5))
        .expect("an answer to BYE");
    assert_eq!(r.status, 200);
    let out = uas.join().expect("sipp uas");
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "SIPp found Allow and Supported in the box's INVITE:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
