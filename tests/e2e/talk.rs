//! End to end: intercom (issue 13) against the real `ivmd`. `ivm talk` from ann to bob
//! (online, running `ivm watch`) and carol (offline): bob's watch prints `talk_incoming`,
//! the portions and `talk_end` as they come and saves a WAV as long as what ann said; carol
//! later finds the stored message (valid Ogg Opus by opusinfo); ann's sent list shows it.
//! Then raw WebSocket clients play the misbehaving side: a stranger's portions, an oversize
//! portion and portions after the end each get an error, nothing is stored wrongly and the
//! other listener hears exactly what the speaker sent.

mod harness;
mod rest;

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use harness::{
    blob_count, require_tool, run_bounded, speech, tempdir, wav_seconds, Person, Server,
};
use rest::{send, token, ws, Ws};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

fn setup(dir: &std::path::Path) -> Server {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("carol", "203", "carol-password-1");
    server.add_user("dan", "204", "dan-password-1");
    server
}

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

#[test]
fn ivm_talk_is_heard_live_by_ivm_watch_and_stored_for_the_offline() {
    require_tool("opusinfo");
    let dir = tempdir();
    let server = setup(dir.path());
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let carol = Person::new(&server, dir.path(), "carol", "carol-password-1");
    let users: Vec<Value> = serde_json::from_str(&ann.ok(&["users", "--json"])).expect("users");
    let (bob_guid, carol_guid) = (guid_of(&users, "bob"), guid_of(&users, "carol"));

    let mut watch = bob.watch();
    watch.wait_for(&["\"ack\""], WAIT);
    let wav = speech(
        dir.path(),
        "said",
        "Bob, the delivery is here. Can you come to the front desk?",
    );
    let said = wav_seconds(&wav);
    let out = ann.ok(&["talk", "--to", "bob,carol", wav.to_str().expect("path")]);
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
    let stream = accepted["object"]["stream"]
        .as_u64()
        .expect("stream")
        .to_string();
    let end = lines
        .iter()
        .find(|l| l["event"] == "talk_end")
        .unwrap_or_else(|| panic!("no talk_end in {out}"));
    assert_eq!(end["object"]["reason"], "finished", "{out}");
    assert_eq!(end["object"]["partial"], false, "{out}");
    let id = end["object"]["message"]
        .as_str()
        .expect("message id")
        .to_owned();

    // Bob's watch: the talk announced, portions as they came, the end, the WAV.
    watch.wait_for(&["talk_incoming", &format!("\"stream\":{stream}")], WAIT);
    watch.wait_for(
        &["\"event\":\"portion\"", &format!("\"stream\":{stream}")],
        WAIT,
    );
    watch.wait_for(&["\"action\":\"talk_end\"", &id], WAIT);
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
    assert!(rms > 300.0, "the heard talk is silent (rms {rms:.1})");
    // The portions printed were in order, each once.
    let seqs: Vec<u64> = watch
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "portion")
        .map(|v| v["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(saved["portions"].as_u64(), Some(seqs.len() as u64));
    watch.stop();

    // Carol, offline during the talk, has it in her inbox as a valid Ogg Opus message.
    let inbox = carol.inbox();
    assert!(inbox.iter().any(|m| m["id"] == id), "{inbox:?}");
    let opus = dir.path().join("carol.opus");
    carol.ok(&["get", &id, "-o", opus.to_str().expect("path")]);
    let info = run_bounded(Command::new("opusinfo").arg(&opus), Duration::from_secs(30));
    assert!(
        info.status.success(),
        "opusinfo: {}",
        String::from_utf8_lossy(&info.stdout)
    );
    // Bob heard it live: it is in his inbox, played.
    let bob_inbox = bob.inbox();
    let mine = bob_inbox
        .iter()
        .find(|m| m["id"] == id)
        .expect("in bob's inbox");
    assert_eq!(mine["state"], "played", "{mine}");
    // Ann's sent list shows it to both.
    let sent = ann.sent();
    let m = sent.iter().find(|m| m["id"] == id).expect("in ann's sent");
    assert_eq!(m["recipients"].as_array().map(Vec::len), Some(2), "{m}");
}

/// Next frame of either kind, skipping pings.
async fn next_any(s: &mut Ws) -> Message {
    loop {
        let m = tokio::time::timeout(WAIT, s.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = &m {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v["action"] == "ping" {
                continue;
            }
        }
        return m;
    }
}

async fn next_text(s: &mut Ws) -> Value {
    loop {
        if let Message::Text(t) = next_any(s).await {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

async fn connected(server: &Server, name: &str, pw: &str) -> Ws {
    let t = token(server, name, pw).await;
    let mut s = ws(server).await;
    rest::send_connect(&mut s, &t).await;
    assert_eq!(next_text(&mut s).await["action"], "ack");
    s
}

/// A portion frame: the 12-byte header and an Opus payload.
fn portion(stream: u32, seq: u32, last: bool, opus: &[u8]) -> Vec<u8> {
    let mut f = vec![b'I', b'T', 1, u8::from(last)];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(opus);
    f
}

/// A 20 ms CELT frame (valid TOC).
const OPUS: [u8; 3] = [0xf8, 0xff, 0xfe];

/// Everything a listener receives until `talk_end`: the portions' (stream, seq), the end.
async fn heard_until_end(s: &mut Ws) -> (Vec<(u32, u32)>, Value) {
    let mut got = Vec::new();
    loop {
        match next_any(s).await {
            Message::Binary(b) => {
                let stream = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                let seq = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
                assert_eq!(&b[12..], OPUS, "forwarded unchanged");
                got.push((stream, seq));
            }
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json");
                if v["action"] == "talk_end" {
                    return (got, v);
                }
            }
            _ => {}
        }
    }
}

fn error_code(v: &Value) -> String {
    assert_eq!(v["action"], "error", "expected an error frame, got {v}");
    v["object"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_portions_get_errors_and_change_nothing() {
    let dir = tempdir();
    let server = setup(dir.path());
    let users: Value = reqwest::Client::new()
        .get(format!("{}/api/users", server.http))
        .bearer_auth(token(&server, "ann", "ann-password-1").await)
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    let users = users.as_array().expect("list").clone();
    let (bob_g, carol_g) = (guid_of(&users, "bob"), guid_of(&users, "carol"));
    let mut ann = connected(&server, "ann", "ann-password-1").await;
    let mut bob = connected(&server, "bob", "bob-password-1").await;
    let mut carol = connected(&server, "carol", "carol-password-1").await;
    let mut dan = connected(&server, "dan", "dan-password-1").await;
    let blobs = blob_count(&server.data);

    // An unknown recipient: refused before anything starts.
    send(
        &mut ann,
        json!({"action":"talk_start","id":"t0","destination":["00000000-0000-4000-8000-0000000000ff"]}),
    )
    .await;
    let refused = next_text(&mut ann).await;
    assert_eq!(refused["action"], "talk_refused", "{refused}");
    assert_eq!(refused["object"]["reason"], "unknown_recipient");

    send(
        &mut ann,
        json!({"action":"talk_start","id":"t1","destination":[bob_g, carol_g],"object":{"frame_ms":20}}),
    )
    .await;
    let acc = next_text(&mut ann).await;
    assert_eq!(acc["action"], "talk_accepted", "{acc}");
    let stream = acc["object"]["stream"].as_u64().expect("stream") as u32;
    assert_eq!(acc["object"]["live"].as_array().map(Vec::len), Some(2));
    for s in [&mut bob, &mut carol] {
        let inc = next_text(s).await;
        assert_eq!(inc["action"], "talk_incoming", "{inc}");
        assert_eq!(inc["object"]["stream"], stream);
    }

    // Dan sends on ann's stream: refused, forwarded to no one.
    dan.send(Message::Binary(portion(stream, 0, false, &OPUS).into()))
        .await
        .expect("send");
    assert_eq!(error_code(&next_text(&mut dan).await), "bad_portion");
    // Ann: an oversize portion (4001 bytes of "Opus"), then junk: each refused.
    let mut big = vec![0xf8];
    big.resize(4001, 0);
    ann.send(Message::Binary(portion(stream, 0, false, &big).into()))
        .await
        .expect("send");
    assert_eq!(error_code(&next_text(&mut ann).await), "bad_portion");
    ann.send(Message::Binary(b"hello".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(error_code(&next_text(&mut ann).await), "bad_portion");
    // Ann's real portions, the last flagged.
    for seq in 0..5u32 {
        ann.send(Message::Binary(
            portion(stream, seq, seq == 4, &OPUS).into(),
        ))
        .await
        .expect("send");
    }
    let (bob_heard, bob_end) = heard_until_end(&mut bob).await;
    let (carol_heard, _) = heard_until_end(&mut carol).await;
    let want: Vec<(u32, u32)> = (0..5).map(|s| (stream, s)).collect();
    assert_eq!(bob_heard, want, "bob hears exactly ann's portions");
    assert_eq!(carol_heard, want, "carol too");
    assert_eq!(bob_end["object"]["reason"], "finished");
    let id = bob_end["object"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    // Ann: a "played" receipt from each live listener, then her talk_end.
    let mut played = Vec::new();
    loop {
        let v = next_text(&mut ann).await;
        if v["action"] == "talk_end" {
            assert_eq!(v["object"]["message"], id.as_str(), "{v}");
            break;
        }
        assert_eq!(v["action"], "receipt", "{v}");
        assert_eq!(v["object"]["state"], "played", "{v}");
        played.push(v["object"]["recipient"].as_str().expect("guid").to_owned());
    }
    played.sort();
    let mut both = vec![bob_g.clone(), carol_g.clone()];
    both.sort();
    assert_eq!(played, both);

    // After the end: portions and talk_end refused.
    ann.send(Message::Binary(portion(stream, 5, false, &OPUS).into()))
        .await
        .expect("send");
    let e = next_text(&mut ann).await;
    assert_eq!(error_code(&e), "bad_portion");
    assert!(
        e["object"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("ended"),
        "{e}"
    );
    send(
        &mut ann,
        json!({"action":"talk_end","id":"e2","object":{"stream":stream}}),
    )
    .await;
    assert_eq!(error_code(&next_text(&mut ann).await), "bad_portion");

    // Exactly one message was stored: one new audio blob, in both inboxes.
    assert_eq!(blob_count(&server.data), blobs + 1);
    let inbox: Value = reqwest::Client::new()
        .get(format!("{}/api/messages/inbox", server.http))
        .bearer_auth(token(&server, "carol", "carol-password-1").await)
        .send()
        .await
        .expect("inbox")
        .json()
        .await
        .expect("json");
    let inbox = inbox.as_array().expect("list");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_who_goes_away_leaves_a_partial_message() {
    let dir = tempdir();
    let server = setup(dir.path());
    let bob_tok = token(&server, "bob", "bob-password-1").await;
    let mut ann = connected(&server, "ann", "ann-password-1").await;
    let mut bob = connected(&server, "bob", "bob-password-1").await;
    send(
        &mut ann,
        json!({"action":"talk_start","id":"t1","destination":["bob"]}),
    )
    .await;
    // A destination must be a GUID: "bob" is malformed, and nothing starts.
    let e = next_text(&mut ann).await;
    assert_eq!(e["action"], "error", "{e}");
    let users: Value = reqwest::Client::new()
        .get(format!("{}/api/users", server.http))
        .bearer_auth(&bob_tok)
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    let bob_g = guid_of(users.as_array().expect("list"), "bob");
    send(
        &mut ann,
        json!({"action":"talk_start","id":"t2","destination":[bob_g]}),
    )
    .await;
    let acc = next_text(&mut ann).await;
    assert_eq!(acc["action"], "talk_accepted", "{acc}");
    let stream = acc["object"]["stream"].as_u64().expect("stream") as u32;
    for seq in 0..3u32 {
        ann.send(Message::Binary(portion(stream, seq, false, &OPUS).into()))
            .await
            .expect("send");
    }
    // Ann's socket goes away mid-talk.
    let _ = ann.close(None).await;
    drop(ann);
    let (heard, end) = heard_until_end(&mut bob).await;
    assert_eq!(heard, vec![(stream, 0), (stream, 1), (stream, 2)]);
    assert_eq!(end["object"]["reason"], "speaker_gone", "{end}");
    assert_eq!(end["object"]["partial"], true, "{end}");
    let id = end["object"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    let inbox: Value = reqwest::Client::new()
        .get(format!("{}/api/messages/inbox", server.http))
        .bearer_auth(&bob_tok)
        .send()
        .await
        .expect("inbox")
        .json()
        .await
        .expect("json");
    let m = inbox
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["id"] == id.as_str())
        .expect("stored")
        .clone();
    assert_eq!(m["partial"], true, "{m}");
    assert_eq!(m["state"], "played", "{m}");
}
