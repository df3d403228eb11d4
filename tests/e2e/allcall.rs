//! End to end: all-call (issue 13) against the real `ivmd`. The admin makes a group of bob
//! and carol with `ivmd group add` and edits groups over the REST API; ann (no admin) gets
//! 403 from every group route and changes nothing; her `ivm talk --group` is refused until
//! `ivmd user allcall ann on`; then bob (online, `ivm watch`) hears it live, announced as
//! urgent, with audible audio, and carol (offline) finds it in her inbox marked urgent.
//! Raw `talk_start` frames with a group and recipients at once, an unknown group or an
//! overlong name get clear answers and start nothing.

mod harness;
mod rest;

use std::time::Duration;

use harness::{ivmd, speech, tempdir, text, wav_seconds, Person, Server};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// RMS of a 16-bit mono WAV's samples (after the 44-byte header `ivm` writes).
fn wav_rms(path: &std::path::Path) -> f64 {
    let b = std::fs::read(path).expect("wav");
    let s: Vec<f64> = b[44..]
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
        .collect();
    (s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

fn guid_of(v: &[Value], name: &str) -> String {
    v.iter()
        .find(|u| u["name"] == name)
        .and_then(|u| u["guid"].as_str())
        .unwrap_or_else(|| panic!("{name} in {v:?}"))
        .to_owned()
}

/// `ivmd ARGS`, asserted to succeed; its stdout.
fn ivmd_ok(server: &Server, args: &[&str]) -> String {
    let out = ivmd(&server.data, args);
    assert!(out.status.success(), "ivmd {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An admin REST call: method, path, optional JSON body; (status, body as JSON or Null).
async fn call(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", server.http))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn members(groups: &Value, name: &str) -> Vec<String> {
    groups
        .as_array()
        .expect("list")
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {groups}"))["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_call_is_allowed_by_an_admin_heard_live_and_stored_urgent() {
    use reqwest::Method;
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    ivmd_ok(
        &server,
        &[
            "user",
            "add",
            "boss",
            "--extension",
            "200",
            "--password",
            "boss-password-1",
            "--admin",
        ],
    );
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    server.add_user("dan", "204", "dan-password-1");

    // Groups from the command line: made, listed (everyone built in), members edited.
    ivmd_ok(
        &server,
        &["group", "add", "floor", "--members", "bob,carol"],
    );
    let listed = ivmd_ok(&server, &["group", "list"]);
    assert!(
        listed.contains("floor") && listed.contains("bob,carol"),
        "{listed}"
    );
    assert!(listed.contains("everyone"), "{listed}");
    let dup = ivmd(&server.data, &["group", "add", "floor"]);
    assert!(!dup.status.success(), "a taken name is refused");
    let bad = ivmd(
        &server.data,
        &["group", "add", "typos", "--members", "bobb"],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("bobb"),
        "{}",
        text(&bad)
    );
    ivmd_ok(&server, &["group", "members", "floor", "--add", "dan"]);
    ivmd_ok(&server, &["group", "members", "floor", "--remove", "dan"]);

    // Over the API: the admin sees and edits; ann, no admin, gets 403 everywhere.
    let boss = rest::token(&server, "boss", "boss-password-1").await;
    let ann_t = rest::token(&server, "ann", "ann-password-1").await;
    let (s, groups) = call(&server, &boss, Method::GET, "/api/admin/groups", None).await;
    assert_eq!(s, 200, "{groups}");
    assert_eq!(members(&groups, "floor"), ["bob", "carol"]);
    assert_eq!(groups[0]["name"], "everyone");
    assert_eq!(groups[0]["builtin"], true);
    let (s, made) = call(
        &server,
        &boss,
        Method::POST,
        "/api/admin/groups",
        Some(json!({"name": "desk", "members": ["bob"]})),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let (s, changed) = call(
        &server,
        &boss,
        Method::PATCH,
        "/api/admin/groups/desk",
        Some(json!({"add": ["carol"], "remove": ["bob"]})),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["members"][0]["name"], "carol", "{changed}");
    let (s, e) = call(
        &server,
        &boss,
        Method::POST,
        "/api/admin/groups",
        Some(json!({"name": "everyone"})),
    )
    .await;
    assert_eq!(s, 400, "the built-in name is refused: {e}");
    for (method, path, body) in [
        (Method::GET, "/api/admin/groups", None),
        (
            Method::POST,
            "/api/admin/groups",
            Some(json!({"name": "mine", "members": ["ann"]})),
        ),
        (
            Method::PATCH,
            "/api/admin/groups/floor",
            Some(json!({"add": ["ann"]})),
        ),
        (Method::DELETE, "/api/admin/groups/desk", None),
        (
            Method::PATCH,
            "/api/admin/users/ann",
            Some(json!({"may_all_call": true})),
        ),
    ] {
        let (s, e) = call(&server, &ann_t, method.clone(), path, body).await;
        assert_eq!(s, 403, "{method} {path} as ann: {e}");
    }
    let (_, groups) = call(&server, &boss, Method::GET, "/api/admin/groups", None).await;
    assert_eq!(
        members(&groups, "floor"),
        ["bob", "carol"],
        "403 changed nothing"
    );
    assert_eq!(members(&groups, "desk"), ["carol"], "403 changed nothing");
    assert!(groups
        .as_array()
        .expect("list")
        .iter()
        .all(|g| g["name"] != "mine"));
    let (s, _) = call(
        &server,
        &boss,
        Method::DELETE,
        "/api/admin/groups/desk",
        None,
    )
    .await;
    assert_eq!(s, 204);

    // Ann may not all-call yet: refused, with what to do, nothing stored.
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let wav = speech(
        dir.path(),
        "said",
        "Attention please. The meeting starts in five minutes in the big room.",
    );
    let wav_s = wav.to_str().expect("path");
    let refused = ann.ivm(&["talk", "--group", "floor", wav_s]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("NotAllowed") && text(&refused).contains("administrator"),
        "{}",
        text(&refused)
    );
    assert!(
        carol.inbox().is_empty(),
        "a refused all-call stores nothing"
    );

    // The admin allows it; the API shows it.
    let granted = ivmd_ok(&server, &["user", "allcall", "ann", "on"]);
    assert!(granted.contains("all-call: allowed"), "{granted}");
    let (_, users) = call(&server, &boss, Method::GET, "/api/admin/users", None).await;
    let users = users.as_array().expect("users").clone();
    let ann_row = users.iter().find(|u| u["name"] == "ann").expect("ann");
    assert_eq!(ann_row["may_all_call"], true, "{ann_row}");
    let bob_row = users.iter().find(|u| u["name"] == "bob").expect("bob");
    assert_eq!(bob_row["may_all_call"], false, "{bob_row}");
    let (bob_guid, carol_guid) = (guid_of(&users, "bob"), guid_of(&users, "carol"));

    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);
    let said = wav_seconds(&wav);
    let out = ann.ok(&["talk", "--group", "floor", wav_s]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let accepted = lines
        .iter()
        .find(|l| l["event"] == "talk_accepted")
        .unwrap_or_else(|| panic!("no talk_accepted in {out}"));
    assert_eq!(accepted["object"]["live"], json!([bob_guid]), "{out}");
    assert_eq!(accepted["object"]["stored"], json!([carol_guid]), "{out}");
    let stream = accepted["object"]["stream"].as_u64().expect("stream");
    let end = lines
        .iter()
        .find(|l| l["event"] == "talk_end")
        .unwrap_or_else(|| panic!("no talk_end in {out}"));
    let id = end["object"]["message"]
        .as_str()
        .expect("stored")
        .to_owned();

    // Bob heard it live, announced as urgent, and it is audible.
    let inc = watch.wait_for(&["talk_incoming", &format!("\"stream\":{stream}")], WAIT);
    let inc: Value = serde_json::from_str(&inc).expect("json");
    assert_eq!(inc["object"]["urgent"], true, "{inc}");
    let saved = watch.wait_for(&["talk_saved", &format!("\"stream\":{stream}")], WAIT);
    let saved: Value = serde_json::from_str(&saved).expect("json");
    let heard = std::path::PathBuf::from(saved["path"].as_str().expect("path"));
    let heard_s = wav_seconds(&heard);
    assert!(
        (heard_s - said).abs() <= 0.2,
        "said {said:.3} s, heard {heard_s:.3} s"
    );
    let rms = wav_rms(&heard);
    eprintln!("said {said:.3} s, heard {heard_s:.3} s, rms {rms:.0}");
    assert!(rms > 300.0, "the heard all-call is silent (rms {rms:.1})");
    watch.stop();

    // Carol, offline, finds it marked urgent (JSON and the table); bob has it played.
    let inbox = carol.inbox();
    let m = inbox
        .iter()
        .find(|m| m["id"] == id)
        .expect("in carol's inbox");
    assert_eq!(m["urgent"], true, "{m}");
    assert_ne!(m["state"], "played", "carol did not hear it: {m}");
    let table = carol.ok(&["inbox"]);
    assert!(table.contains("URGENT"), "{table}");
    let bob_inbox = bob.inbox();
    let b = bob_inbox
        .iter()
        .find(|m| m["id"] == id)
        .expect("in bob's inbox");
    assert_eq!(
        (b["urgent"].clone(), b["state"].clone()),
        (json!(true), json!("played"))
    );
    // A plain message is not marked.
    let plain = ann.ok(&["send", "--to", "carol", wav_s]);
    assert!(!plain.is_empty());
    let inbox = carol.inbox();
    assert_eq!(
        inbox.iter().filter(|m| m["urgent"] == true).count(),
        1,
        "{inbox:?}"
    );

    // Revoked again: refused again.
    ivmd_ok(&server, &["user", "allcall", "ann", "off"]);
    let again = ann.ivm(&["talk", "--group", "everyone", wav_s]);
    assert!(!again.status.success(), "{}", text(&again));
}

/// `talk_start` frames an old or careless client might send: each gets a clear answer and
/// starts nothing; an old client's frame (no `group`) is a plain talk as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_all_call_requests_get_clear_answers_and_start_nothing() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    ivmd_ok(
        &server,
        &[
            "user",
            "add",
            "boss",
            "--extension",
            "200",
            "--password",
            "boss-password-1",
            "--admin",
        ],
    );
    server.add_user("bob", "202", "bob-password-1");
    ivmd_ok(&server, &["group", "add", "floor", "--members", "bob"]);
    let boss = rest::token(&server, "boss", "boss-password-1").await;
    let bob = rest::guid(&server, &boss, "bob").await;
    let mut s = rest::ws(&server).await;
    rest::send_connect(&mut s, &boss).await;
    let ack = rest::next_where(&mut s, WAIT, |v| v["id"] == "c").await;
    assert_eq!(ack["action"], "ack", "{ack}");

    let answer = |id: &'static str| move |v: &Value| v["id"] == id;
    // A group and recipients at once: malformed, said so.
    rest::send(
        &mut s,
        json!({"action":"talk_start","id":"1","destination":[bob],"object":{"group":"floor"}}),
    )
    .await;
    let v = rest::next_where(&mut s, WAIT, answer("1")).await;
    assert_eq!(v["action"], "error", "{v}");
    assert!(
        v["object"]["message"]
            .as_str()
            .expect("message")
            .contains("not both"),
        "{v}"
    );
    // A group the box does not have.
    rest::send(
        &mut s,
        json!({"action":"talk_start","id":"2","destination":[],"object":{"group":"nobody"}}),
    )
    .await;
    let v = rest::next_where(&mut s, WAIT, answer("2")).await;
    assert_eq!(v["action"], "talk_refused", "{v}");
    assert_eq!(v["object"]["reason"], "unknown_group", "{v}");
    // A group name longer than any the box makes.
    let long = "g".repeat(33);
    rest::send(
        &mut s,
        json!({"action":"talk_start","id":"3","destination":[],"object":{"group":long}}),
    )
    .await;
    let v = rest::next_where(&mut s, WAIT, answer("3")).await;
    assert_eq!(v["action"], "error", "{v}");
    // Nothing started: a plain talk (an old client's frame, no group) is accepted now, to
    // bob, not urgent.
    rest::send(
        &mut s,
        json!({"action":"talk_start","id":"4","destination":[bob],"object":{"frame_ms":20}}),
    )
    .await;
    let v = rest::next_where(&mut s, WAIT, answer("4")).await;
    assert_eq!(v["action"], "talk_accepted", "{v}");
    assert_eq!(v["object"]["stored"], json!([bob]), "{v}");
}
