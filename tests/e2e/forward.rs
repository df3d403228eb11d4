//! End to end: a user's forwards and do-not-disturb (issue 16), with real desk phones
//! (baresip, headless; helpers in `baresip.rs`) and the `ivm` CLI setting them, on the
//! box's embedded defaults:
//! - forward always skips the user's phone and rings the target; forward on no answer rings
//!   the user's phone for their delay, then the target; forward on busy rings the target
//!   while the user is in a call;
//! - do-not-disturb: the phone does not ring, the box answers the caller with "leave a
//!   message", and what the caller says lands in the user's inbox with the caller as sender
//!   (valid Ogg Opus for opusinfo); so does a call that meets busy on the defaults (message
//!   taking is on unless the user sets `"voicemail": false`);
//! - call history: placed, received and missed calls, newest first, each user's own
//!   (`ivm calls`);
//! - the settings are each user's own: `PATCH /api/me/settings` names no user, a body that
//!   tries to is refused, bad targets and delays are 400 and change nothing, and another
//!   user's record cannot be changed through the admin API (403).
//!
//! Loopback only; every wait is bounded; every child is killed on drop.

mod baresip;
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use baresip::{silence_wav, speech8k, Phone};
use harness::{require_tool, run_bounded, tempdir, until, Person, Server};
use serde_json::{json, Value};

/// `curl` a JSON request; (status, body).
fn curl(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
    cmd.args(["-H", "Content-Type: application/json", "--max-time", "10"]);
    if let Some(b) = body {
        cmd.args(["-d", &b.to_string()]);
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    cmd.arg(url);
    let out = run_bounded(&mut cmd, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn login(server: &Server, name: &str, password: &str) -> String {
    let (code, body) = curl(
        "POST",
        &format!("{}/api/login", server.http),
        None,
        Some(&json!({"name": name, "password": password})),
    );
    assert_eq!(code, 200, "login {name}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// A registered baresip phone for `ext` playing `source`, answering `auto` or `manual`.
fn phone(dir: &Path, server: &Server, ext: &str, name: &str, source: &Path, mode: &str) -> Phone {
    let p = Phone::start_with(
        dir,
        server,
        ext,
        &server.sip_password(name),
        source,
        &[],
        90,
        mode,
        false,
    );
    assert!(
        p.wait_for("200 OK", Duration::from_secs(15)),
        "{name} registers:\n{}",
        p.output()
    );
    p
}

fn count(p: &Phone, needle: &str) -> usize {
    p.output().matches(needle).count()
}

#[test]
fn forward_always_no_answer_and_busy_ring_the_target() {
    require_tool("baresip");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    for (name, ext) in [
        ("ann", "201"),
        ("bob", "202"),
        ("carol", "203"),
        ("dave", "204"),
    ] {
        server.add_user(name, ext, &format!("{name}-password-1"));
    }
    let silence = silence_wav(dir.path(), 90);
    let ann = phone(dir.path(), &server, "201", "ann", &silence, "auto");
    // Bob never answers by himself.
    let bob = phone(dir.path(), &server, "202", "bob", &silence, "manual");
    let carol = phone(dir.path(), &server, "203", "carol", &silence, "auto");
    let dave = phone(dir.path(), &server, "204", "dave", &silence, "auto");
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let sip = |ext: &str| format!("sip:{ext}@{}", server.sip);

    // Forward always: bob's phone does not ring, carol's does.
    let shown = bob_cli.ok(&["forward", "always", "203"]);
    assert!(shown.contains("always 203"), "{shown}");
    ann.command("dial", &sip("202"));
    assert!(
        carol.wait_for("Call established", Duration::from_secs(15)),
        "forward always reaches carol:\n{}\nlog:\n{}",
        carol.output(),
        server.log()
    );
    assert!(ann.wait_for("Call established", Duration::from_secs(10)));
    assert_eq!(count(&bob, "Incoming call"), 0, "bob's phone did not ring");
    assert!(server.log().contains("forwarded"));
    ann.command("hangup", "");
    assert!(carol.wait_for("closed", Duration::from_secs(10)));

    // Forward on no answer after 5 s: bob's phone rings first, then carol's.
    bob_cli.ok(&["forward", "off"]);
    let shown = bob_cli.ok(&["forward", "noanswer", "203", "--after", "5"]);
    assert!(
        shown.contains("always off") && shown.contains("noanswer 203 after 5 s"),
        "{shown}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    ann.command("dial", &sip("202"));
    assert!(
        bob.wait_for("Incoming call", Duration::from_secs(10)),
        "bob's phone rings first:\n{}",
        bob.output()
    );
    assert!(
        until(Duration::from_secs(20), || count(
            &carol,
            "Call established"
        ) >= 2),
        "then carol's:\n{}\nlog:\n{}",
        carol.output(),
        server.log()
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(4),
        "not before bob's delay"
    );
    ann.command("hangup", "");
    assert!(until(Duration::from_secs(10), || count(&carol, "closed") >= 2));

    // Forward on busy: while bob talks to dave, ann's call goes to carol.
    bob_cli.ok(&["forward", "off", "noanswer"]);
    bob_cli.ok(&["forward", "busy", "203"]);
    std::thread::sleep(Duration::from_secs(1));
    bob.command("dial", &sip("204"));
    assert!(
        dave.wait_for("Call established", Duration::from_secs(15)),
        "bob is in a call with dave:\n{}",
        dave.output()
    );
    ann.command("dial", &sip("202"));
    assert!(
        until(Duration::from_secs(15), || count(
            &carol,
            "Call established"
        ) >= 3),
        "forward on busy reaches carol:\n{}\nlog:\n{}",
        carol.output(),
        server.log()
    );
    ann.command("hangup", "");
    bob.command("hangup", "");
}

#[test]
fn do_not_disturb_takes_a_voice_message_from_the_caller() {
    require_tool("baresip");
    require_tool("opusinfo");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    let (wav, spoken) = speech8k(
        dir.path(),
        "dnd",
        "Hello Bob, Ann here. Please call me back about the delivery.",
        // The prompt ("leave a message after the tone", about 4 s with the beep) plays
        // first; speech before the beep is not recorded.
        6.0,
        9.0,
    );
    let silence = silence_wav(dir.path(), 60);
    let ann = phone(dir.path(), &server, "201", "ann", &wav, "auto");
    let bob = phone(dir.path(), &server, "202", "bob", &silence, "auto");
    let carol = phone(dir.path(), &server, "203", "carol", &wav, "auto");
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_eq!(bob_cli.ok(&["dnd", "on"]).trim(), "on");
    // One notion: do-not-disturb is the status busy.
    assert_eq!(bob_cli.ok(&["status"]).trim(), "busy");

    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        ann.wait_for("Call established", Duration::from_secs(15)),
        "the box answers the caller:\n{}\nlog:\n{}",
        ann.output(),
        server.log()
    );
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(60)),
        "the message is posted; log:\n{}",
        server.log()
    );
    // Bob's phone answers by itself: it says "answering call" when it rings.
    assert_eq!(count(&bob, "answering call"), 0, "bob's phone did not ring");
    let inbox = bob_cli.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    bob_cli.check_newest_voice_message(dir.path(), "ann", spoken, "left.opus");

    // Off again: bob's phone rings.
    assert_eq!(bob_cli.ok(&["dnd", "off"]).trim(), "off");
    assert_eq!(bob_cli.ok(&["status"]).trim(), "available");
    ann.command("hangup", "");
    std::thread::sleep(Duration::from_secs(1));
    ann.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        bob.wait_for("answering call", Duration::from_secs(15)),
        "rings without do-not-disturb:\n{}",
        bob.output()
    );

    // Busy and no forward, on the defaults (bob never set "voicemail"): the box takes a
    // message from carol.
    assert!(
        until(Duration::from_secs(10), || count(&bob, "Call established")
            >= 1),
        "bob is in a call with ann:\n{}",
        bob.output()
    );
    let token = login(&server, "bob", "bob-password-1");
    let (code, body) = curl(
        "GET",
        &format!("{}/api/me/settings", server.http),
        Some(&token),
        None,
    );
    assert_eq!((code, &body["voicemail"]), (200, &json!(true)), "{body}");
    carol.command("dial", &format!("sip:202@{}", server.sip));
    assert!(
        carol.wait_for("Call established", Duration::from_secs(15)),
        "the box answers carol:\n{}\nlog:\n{}",
        carol.output(),
        server.log()
    );
    assert!(
        until(Duration::from_secs(60), || server
            .log()
            .matches("message from a phone posted")
            .count()
            >= 2),
        "carol's message is posted; log:\n{}",
        server.log()
    );
    assert_eq!(
        count(&bob, "answering call"),
        1,
        "bob's phone rang only for ann"
    );
    let inbox = bob_cli.inbox();
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    bob_cli.check_newest_voice_message(dir.path(), "carol", spoken, "busy.opus");

    // Call history, newest first, each user's own: bob missed ann (do-not-disturb),
    // received her next call, missed carol (busy); ann placed two, one answered.
    let kinds = |p: &Person| -> Vec<(String, String)> {
        serde_json::from_str::<Vec<Value>>(&p.ok(&["calls", "--json"]))
            .expect("calls json")
            .iter()
            .map(|c| {
                let kind = c["kind"].as_str().unwrap_or("").to_owned();
                let answered = if c["answered"] == true {
                    "answered"
                } else {
                    "not"
                };
                (
                    format!("{kind} {answered}"),
                    c["peer_name"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let pair = |k: &str, who: &str| (k.to_owned(), who.to_owned());
    assert_eq!(
        kinds(&bob_cli),
        [
            pair("missed not", "carol"),
            pair("received answered", "ann"),
            pair("missed not", "ann")
        ]
    );
    let ann_cli = Person::new(&server, dir.path(), "ann", "ann-password-1");
    assert_eq!(
        kinds(&ann_cli),
        [pair("placed answered", "bob"), pair("placed not", "bob")]
    );
    let table = bob_cli.ok(&["calls"]);
    assert!(
        table.contains("missed") && table.contains("carol (203)"),
        "{table}"
    );
    ann.command("hangup", "");
}

#[test]
fn settings_are_each_users_own_and_bad_ones_change_nothing() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let url = format!("{}/api/me/settings", server.http);
    let ann = login(&server, "ann", "ann-password-1");
    let bob = login(&server, "bob", "bob-password-1");

    // The defaults a user gets.
    let (code, body) = curl("GET", &url, Some(&ann), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!({"forward_always": null, "forward_busy": null, "forward_no_answer": null,
               "no_answer_after": 20, "voicemail": true, "dnd": false})
    );
    // Message taking can be turned off (and on again).
    for on in [false, true] {
        let (code, body) = curl("PATCH", &url, Some(&ann), Some(&json!({"voicemail": on})));
        assert_eq!((code, &body["voicemail"]), (200, &json!(on)), "{body}");
        let (_, body) = curl("GET", &url, Some(&ann), None);
        assert_eq!(body["voicemail"], json!(on), "{body}");
    }

    let (code, body) = curl(
        "PATCH",
        &url,
        Some(&ann),
        Some(&json!({"forward_busy": "202"})),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["forward_busy"], "202");

    // Bad input: a clear 400, nothing changes.
    for bad in [
        json!({"forward_always": "299"}),
        json!({"forward_always": "201"}),
        json!({"forward_always": "2x"}),
        json!({"no_answer_after": 3}),
        json!({"no_answer_after": 121}),
        json!({"user": "bob", "forward_busy": ""}),
    ] {
        let (code, body) = curl("PATCH", &url, Some(&ann), Some(&bad));
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let (_, body) = curl("GET", &url, Some(&ann), None);
    assert_eq!(body["forward_busy"], "202", "unchanged: {body}");
    assert_eq!(body["forward_always"], Value::Null);

    // Ann's change is ann's: bob's settings are his defaults.
    let (_, body) = curl("GET", &url, Some(&bob), None);
    assert_eq!(body["forward_busy"], Value::Null, "{body}");
    // No token, no settings.
    assert_eq!(curl("GET", &url, None, None).0, 401);
    assert_eq!(
        curl("PATCH", &url, None, Some(&json!({"dnd": true}))).0,
        401
    );
    let calls = format!("{}/api/me/calls", server.http);
    assert_eq!(curl("GET", &calls, None, None).0, 401);
    assert_eq!(curl("GET", &calls, Some(&ann), None), (200, json!([])));
    // Another user's record is the admin's: ann (not an admin) cannot change bob's.
    let (_, users) = curl(
        "GET",
        &format!("{}/api/users", server.http),
        Some(&ann),
        None,
    );
    let bob_guid = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["name"] == "bob")
        .and_then(|u| u["guid"].as_str())
        .expect("bob")
        .to_owned();
    let (code, body) = curl(
        "PATCH",
        &format!("{}/api/admin/users/{bob_guid}", server.http),
        Some(&ann),
        Some(&json!({"display_name": "Not Bob"})),
    );
    assert_eq!(code, 403, "{body}");
}

#[test]
fn keypad_codes_set_forwards_and_do_not_disturb() {
    require_tool("baresip");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let silence = silence_wav(dir.path(), 60);
    let bob = phone(dir.path(), &server, "202", "bob", &silence, "auto");
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let sip = |code: &str| format!("sip:{code}@{}", server.sip);
    // Each code is answered once stored, with a confirmation tone, then the box hangs up.
    let dial = |code: &str, n: usize| {
        bob.command("dial", &sip(code));
        assert!(
            until(Duration::from_secs(15), || count(&bob, "Call established")
                >= n),
            "{code} answered:\n{}\nlog:\n{}",
            bob.output(),
            server.log()
        );
        assert!(
            until(Duration::from_secs(15), || count(&bob, "closed") >= n),
            "{code}: the box hangs up after the tone:\n{}",
            bob.output()
        );
    };
    dial("*21201", 1);
    assert!(bob_cli.ok(&["forward"]).contains("always 201"));
    dial("*67201", 2);
    dial("*61201", 3);
    let shown = bob_cli.ok(&["forward"]);
    assert!(
        shown.contains("busy 201") && shown.contains("noanswer 201"),
        "{shown}"
    );
    dial("*21", 4);
    assert!(bob_cli.ok(&["forward"]).contains("always off"));
    dial("*24", 5);
    assert_eq!(bob_cli.ok(&["dnd"]).trim(), "on");
    dial("*25", 6);
    assert_eq!(bob_cli.ok(&["dnd"]).trim(), "off");
    // A target nobody has: the error tone, and nothing changes.
    dial("*21299", 7);
    assert!(server.log().contains("call setting refused"));
    assert!(bob_cli.ok(&["forward"]).contains("always off"));
}
