//! The busy lamp field (issue 16) against the real `ivmd` on its embedded defaults:
//! - a SIPp watcher (ann, `tests/e2e/sipp/blf_watch.xml`) subscribes to `Event: dialog` on
//!   bob's extension, digest-challenged first, and checks by regexp that the NOTIFY bodies
//!   follow one call from carol to bob in order: idle (no dialog), early (recipient, carol's
//!   identity), confirmed, terminated; then unsubscribes and gets a last NOTIFY terminated;
//! - an unauthenticated SUBSCRIBE is challenged, and one to an extension the box does not
//!   have gets 404 once authenticated;
//! - a presence watcher (ann, `Event: presence`) gets bob's PIDF document at once (open,
//!   available: his phone is registered), and `closed` with the note `busy` when bob, with
//!   a web client session open (`ivm watch`), picks "busy" (`ivm status busy`: the REST
//!   API's `PUT /api/me/status`);
//! - a watch that is not refreshed ends with a NOTIFY `terminated;reason=timeout`;
//! - one user's phones hold at most 128 subscriptions: the 129th gets `403 Too Many
//!   Subscriptions` and no NOTIFY, while another user still subscribes;
//! - OPTIONS lists `dialog` and `presence` in `Allow-Events`;
//! - the box's own NOTIFYs wait their turn past 128 outstanding: 168 presence watches of bob,
//!   none answering when he goes busy, get 128 NOTIFYs; answering those lets the other 40
//!   come.
//!
//! Peers: SIPp, the `ivm` command-line client, and small raw-UDP user agents here for
//! bob's phone and carol's (digest with `ivm_sip::auth`). Loopback only; every wait is
//! bounded.

mod dialog_ua;
mod harness;
mod sip_ua;
mod sipp;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use dialog_ua::Ua;
use harness::{tempdir, Person, Server};
use ivm_sip::message::Response;
use sip_ua::token;

/// A PCMU offer at `127.0.0.1:port`.
fn sdp(port: u16) -> String {
    dialog_ua::sdp(port, "sendrecv", 1)
}

fn box_with_ann_bob_and_carol(dir: &std::path::Path) -> Server {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    server
}

#[test]
fn a_watcher_sees_bob_s_line_go_early_confirmed_terminated_then_unsubscribes() {
    harness::require_tool("sipp");
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    let carol = Ua::new(&server, "203", &server.sip_password("carol"));
    assert_eq!(bob.register(&token(), 1), 200, "bob's phone registered");

    // ann's phone watches 202 (SIPp, checking every NOTIFY body).
    std::fs::write(dir.path().join("watch.csv"), "SEQUENTIAL\n201;202;ivm;\n").expect("csv");
    let ann_pw = server.sip_password("ann");
    let watcher = {
        let (dir, sip) = (dir.path().to_owned(), server.sip.clone());
        std::thread::spawn(move || {
            let port = sipp::free_port("127.0.0.1");
            let scenario = sipp::scenario("blf_watch.xml");
            // SIPp's digest `uri` is `sip:<remote>` unless told: the box checks it against
            // the Request-URI, which names the watched extension.
            let auth_uri = format!("202@{sip}");
            sipp::run(
                &dir,
                &sip,
                "127.0.0.1",
                "40s",
                &[
                    "-p",
                    &port,
                    "-t",
                    "u1",
                    "-sf",
                    scenario.to_str().expect("path"),
                    "-inf",
                    "watch.csv",
                    "-au",
                    "201",
                    "-ap",
                    &ann_pw,
                    "-auth_uri",
                    &auth_uri,
                    "-m",
                    "1",
                ],
                Duration::from_secs(60),
            )
        })
    };
    // Let the subscription and its first NOTIFY (idle) pass before the call.
    std::thread::sleep(Duration::from_secs(2));

    // carol calls bob; bob's phone rings, then answers.
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rtp.local_addr().expect("addr").port();
    let call_id = token();
    let uri = format!("sip:202@{}", carol.server);
    let from = format!("<sip:203@ivm>;tag={}", token());
    let offer = sdp(port);
    let answering = std::thread::scope(|s| {
        let bob = &bob;
        let ringing = s.spawn(move || {
            let inv = bob
                .recv_request("INVITE", Duration::from_secs(10))
                .expect("bob's phone rung");
            bob.reply(&inv, 180, "");
            std::thread::sleep(Duration::from_secs(1));
            let bob_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let p = bob_rtp.local_addr().expect("addr").port();
            bob.reply(&inv, 200, &sdp(p));
            bob_rtp
        });
        let ok = carol.authed("INVITE", &uri, &call_id, 1, |seq, auth| {
            carol.request(
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
        (ok, ringing.join().expect("bob"))
    });
    let (ok, _bob_rtp) = answering;
    assert_eq!(ok.status, 200, "bob answered: {ok:?}");
    let to = ok.headers.get("To").expect("To").to_owned();
    carol.ack(&uri, &from, &to, &call_id, 2);
    std::thread::sleep(Duration::from_secs(1));
    carol.send(&carol.request("BYE", &uri, &from, &to, &call_id, 3, "", ""));
    let r = carol
        .final_to(&call_id, 3, Duration::from_secs(5))
        .expect("an answer to BYE");
    assert_eq!(r.status, 200);
    let bye = bob
        .recv_request("BYE", Duration::from_secs(5))
        .expect("bob's leg hung up");
    bob.reply(&bye, 200, "");

    let out = watcher.join().expect("sipp");
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "the watcher saw idle, early, confirmed, terminated, then its unsubscribe ended:\n{}\n{}\nbox log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.plain_log()
    );
    drop(server);
}

/// SUBSCRIBE `Event: dialog` from ann to `target`, without then with credentials.
fn watch(ann: &Ua, target: &str) -> Response {
    watch_from(ann, "201", target)
}

/// SUBSCRIBE `Event: dialog` from `ua` (extension `ext`) to `target`, without then with
/// credentials.
fn watch_from(ann: &Ua, ext: &str, target: &str) -> Response {
    let uri = format!("sip:{target}@{}", ann.server);
    let call_id = token();
    let from = format!("<sip:{ext}@ivm>;tag={}", token());
    let to = format!("<sip:{target}@ivm>");
    ann.authed("SUBSCRIBE", &uri, &call_id, 1, |seq, auth| {
        ann.request(
            "SUBSCRIBE",
            &uri,
            &from,
            &to,
            &call_id,
            seq,
            &format!(
                "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 600\r\n{auth}"
            ),
            "",
        )
    })
}

#[test]
fn an_unauthenticated_watch_is_challenged_and_an_unknown_extension_is_404() {
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    // `authed` asserts the 401 first.
    let r = watch(&ann, "299");
    assert_eq!(r.status, 404, "no such extension: {r:?}");
    let r = watch(&ann, "202");
    assert_eq!(r.status, 200, "a colleague's extension: {r:?}");
    assert_eq!(r.headers.get("Expires"), Some("600"));
    let n = ann
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("the state at once");
    ann.reply(&n, 200, "");
    assert_eq!(n.headers.get("Event"), Some("dialog"));
    assert_eq!(
        n.headers.get("Content-Type"),
        Some("application/dialog-info+xml")
    );
    let body = String::from_utf8_lossy(&n.body);
    assert!(
        body.contains("entity=\"sip:202@") && body.contains("version=\"0\""),
        "{body}"
    );
    assert!(!body.contains("<dialog "), "bob is idle: {body}");

    // A wrong password is refused like any other.
    let wrong = Ua::new(&server, "201", "not-the-password");
    let uri = format!("sip:202@{}", wrong.server);
    let call_id = token();
    let r = wrong.authed("SUBSCRIBE", &uri, &call_id, 1, |seq, auth| {
        wrong.request(
            "SUBSCRIBE",
            &uri,
            &format!("<sip:201@ivm>;tag={}", token()),
            "<sip:202@ivm>",
            &call_id,
            seq,
            &format!("Event: dialog\r\nExpires: 600\r\n{auth}"),
            "",
        )
    });
    assert!(
        matches!(r.status, 401 | 403),
        "no subscription without the password: {r:?}"
    );
    drop(server);
}

#[test]
fn a_lapsed_watch_ends_with_a_terminated_notify() {
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let uri = format!("sip:202@{}", ann.server);
    let call_id = token();
    let from = format!("<sip:201@ivm>;tag={}", token());
    let r = ann.authed("SUBSCRIBE", &uri, &call_id, 1, |seq, auth| {
        ann.request(
            "SUBSCRIBE",
            &uri,
            &from,
            "<sip:202@ivm>",
            &call_id,
            seq,
            &format!("Event: dialog\r\nExpires: 2\r\n{auth}"),
            "",
        )
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.headers.get("Expires"), Some("2"));
    let n = ann
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("the state at once");
    ann.reply(&n, 200, "");
    assert_eq!(
        n.headers.get("Subscription-State"),
        Some("active;expires=2")
    );
    let n = ann
        .recv_request("NOTIFY", Duration::from_secs(10))
        .expect("a last NOTIFY when the subscription lapsed");
    ann.reply(&n, 200, "");
    assert_eq!(n.headers.call_id().ok(), Some(call_id.as_str()));
    assert_eq!(
        n.headers.get("Subscription-State"),
        Some("terminated;reason=timeout")
    );
    assert!(
        String::from_utf8_lossy(&n.body).contains("version=\"1\""),
        "the next document: {n:?}"
    );
    drop(server);
}

#[test]
fn options_lists_the_dialog_and_presence_packages() {
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let ann = Ua::new(&server, "201", "x");
    let call_id = token();
    let uri = format!("sip:{}", ann.server);
    ann.send(&ann.request(
        "OPTIONS",
        &uri,
        &format!("<sip:201@ivm>;tag={}", token()),
        "<sip:201@ivm>",
        &call_id,
        1,
        "",
        "",
    ));
    let r = ann
        .final_to(&call_id, 1, Duration::from_secs(5))
        .expect("an answer to OPTIONS");
    let events = r.headers.get("Allow-Events").unwrap_or_default();
    for package in ["dialog", "presence"] {
        assert!(events.split(',').any(|e| e.trim() == package), "{events}");
    }
}

/// SUBSCRIBE `Event: presence` from ann to bob (202), authenticated: the 200.
fn watch_presence(ann: &Ua, call_id: &str) -> Response {
    watch_presence_from(ann, "201", call_id)
}

/// SUBSCRIBE `Event: presence` from `ua` (extension `ext`) to bob (202), authenticated.
fn watch_presence_from(ua: &Ua, ext: &str, call_id: &str) -> Response {
    let uri = format!("sip:202@{}", ua.server);
    let from = format!("<sip:{ext}@ivm>;tag={}", token());
    ua.authed("SUBSCRIBE", &uri, call_id, 1, |seq, auth| {
        ua.request(
            "SUBSCRIBE",
            &uri,
            &from,
            "<sip:202@ivm>",
            call_id,
            seq,
            &format!("Event: presence\r\nAccept: application/pidf+xml\r\nExpires: 600\r\n{auth}"),
            "",
        )
    })
}

#[test]
fn a_presence_watcher_sees_bob_go_busy_in_the_web_client() {
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    assert_eq!(
        bob.register(&token(), 1),
        200,
        "bob's phone registered: bob is present"
    );
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));

    let call_id = token();
    let r = watch_presence(&ann, &call_id);
    assert_eq!(r.status, 200, "{r:?}");
    let n = ann
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("bob's presence at once");
    ann.reply(&n, 200, "");
    assert_eq!(n.headers.get("Event"), Some("presence"));
    assert_eq!(n.headers.get("Content-Type"), Some("application/pidf+xml"));
    let body = String::from_utf8_lossy(&n.body).into_owned();
    assert!(
        body.contains("entity=\"pres:202@")
            && body.contains("<basic>open</basic>")
            && body.contains("<note>available</note>"),
        "{body}"
    );

    // bob opens the web client (a live session: `ivm watch`) and picks "busy" there
    // (`ivm status busy`: `PUT /api/me/status`).
    let web = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let mut session = web.watch();
    session.wait_for(&["\"ack\""], Duration::from_secs(30));
    web.ok(&["status", "busy"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = ann
            .recv_request("NOTIFY", left)
            .expect("a NOTIFY when bob went busy");
        ann.reply(&n, 200, "");
        assert_eq!(n.headers.call_id().ok(), Some(call_id.as_str()));
        assert!(
            n.headers
                .get("Subscription-State")
                .is_some_and(|s| s.starts_with("active")),
            "{n:?}"
        );
        let body = String::from_utf8_lossy(&n.body).into_owned();
        if !body.contains("<note>available</note>") {
            break body;
        }
    };
    assert!(
        busy.contains("<basic>closed</basic>") && busy.contains("<note>busy</note>"),
        "{busy}"
    );
    drop(session);
    drop(server);
}

#[test]
fn one_user_s_subscriptions_are_bounded_and_the_excess_one_is_refused() {
    // The bound (actors/src/station/blf.rs, MAX_WATCHES_PER_USER): a phone with expansion
    // modules has about this many keys.
    const BOUND: usize = 128;
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..BOUND {
        assert!(Instant::now() < deadline, "{i} subscriptions took too long");
        let target = if i % 2 == 0 { "202" } else { "203" };
        let r = watch(&ann, target);
        assert_eq!(r.status, 200, "subscription {i}: {r:?}");
        let n = ann
            .recv_request("NOTIFY", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("subscription {i}: its first NOTIFY"));
        ann.reply(&n, 200, "");
    }
    let r = watch(&ann, "202");
    assert_eq!(r.status, 403, "one past the bound: {r:?}");
    assert_eq!(r.reason, "Too Many Subscriptions", "{r:?}");
    // Refused means not kept: no NOTIFY for it.
    assert!(ann
        .recv_request("NOTIFY", Duration::from_millis(500))
        .is_none());
    // Another user's phone is not held to ann's bound.
    let carol = Ua::new(&server, "203", &server.sip_password("carol"));
    let r = watch_from(&carol, "203", "202");
    assert_eq!(r.status, 200, "carol's own bound: {r:?}");
    drop(server);
}

/// Distinct NOTIFYs (by Call-ID) arriving at `uas` within `limit`, until `want` are in;
/// each answered 200 when `answer`. Retransmissions are counted once.
fn notifies(
    uas: &[&Ua],
    seen: &mut std::collections::HashMap<String, (usize, ivm_sip::message::Request)>,
    want: usize,
    answer: bool,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    while seen.len() < want && Instant::now() < deadline {
        // Each socket drained in turn (an empty read waits out the socket's 50 ms timeout).
        for (i, ua) in uas.iter().enumerate() {
            while let Some(n) = ua.recv_request("NOTIFY", Duration::from_millis(20)) {
                if answer {
                    ua.reply(&n, 200, "");
                }
                let id = n.headers.call_id().unwrap_or_default().to_owned();
                seen.entry(id).or_insert((i, n));
            }
        }
    }
}

#[test]
fn the_box_s_own_notifies_wait_their_turn_past_128_outstanding() {
    // The gate (actors/src/station/notify_gate.rs, MAX_IN_FLIGHT).
    const IN_FLIGHT: usize = 128;
    const EXTRA: usize = 40;
    let dir = tempdir();
    let server = box_with_ann_bob_and_carol(dir.path());
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    assert_eq!(bob.register(&token(), 1), 200, "bob is present");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let carol = Ua::new(&server, "203", &server.sip_password("carol"));
    // 128 NOTIFYs at once to one socket overflow a default receive buffer.
    ann.widen_receive_buffer();
    carol.widen_receive_buffer();
    // 128 watches of bob's presence from ann's phone (her bound) and 40 from carol's, each
    // first NOTIFY answered.
    let deadline = Instant::now() + Duration::from_secs(180);
    for (ua, ext, count) in [(&ann, "201", IN_FLIGHT), (&carol, "203", EXTRA)] {
        for i in 0..count {
            assert!(Instant::now() < deadline, "{i} subscriptions took too long");
            let r = watch_presence_from(ua, ext, &token());
            assert_eq!(r.status, 200, "{ext}'s watch {i}: {r:?}");
            let n = ua
                .recv_request("NOTIFY", Duration::from_secs(5))
                .unwrap_or_else(|| panic!("{ext}'s watch {i}: its first NOTIFY"));
            ua.reply(&n, 200, "");
        }
    }

    // bob goes busy in the web client: a NOTIFY for each of the 168 watches. Nobody answers
    // for 4 s: only 128 are sent (their retransmissions counted once).
    let web = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let mut session = web.watch();
    session.wait_for(&["\"ack\""], Duration::from_secs(30));
    web.ok(&["status", "busy"]);
    let mut seen = std::collections::HashMap::new();
    notifies(
        &[&ann, &carol],
        &mut seen,
        usize::MAX,
        false,
        Duration::from_secs(4),
    );
    let by_ua = |i: usize| seen.values().filter(|(u, _)| *u == i).count();
    assert_eq!(
        seen.len(),
        IN_FLIGHT,
        "NOTIFYs outstanding at once (ann {}, carol {})\n{}",
        by_ua(0),
        by_ua(1),
        server.log()
    );
    // Answered, they make room for the other 40.
    for (i, n) in seen.values() {
        [&ann, &carol][*i].reply(n, 200, "");
    }
    notifies(
        &[&ann, &carol],
        &mut seen,
        IN_FLIGHT + EXTRA,
        true,
        Duration::from_secs(20),
    );
    assert_eq!(seen.len(), IN_FLIGHT + EXTRA, "every watch told");
    assert!(seen
        .values()
        .all(|(_, n)| String::from_utf8_lossy(&n.body).contains("<note>busy</note>")));
    // Meanwhile the box answers its phones as ever.
    assert_eq!(bob.register(&token(), 1), 200);
    drop(session);
    drop(server);
}
