//! End to end, issue 11 ("the thousandth message"): 10,000 messages posted through the real
//! `ivmd`'s API, then
//! - the inbox and sent lists a page at a time by cursor (`limit`, `before`, `Link`), every
//!   message exactly once, newest first; bad queries refused with 400 and nothing changed;
//! - the box's RSS across 50 list requests (it used to keep ~31 MB per full-list request);
//! - the recipient's client confirming all 10,000 over the WebSocket in `receipts` batches
//!   (one commit each), the sender told in `receipts` pushes, none lost.
//!
//! The messages are posted through `POST /api/messages` (the real path: blob files fsynced,
//! record committed), 8 at a time, bounded in count and time. The box runs with
//! `messages_per_minute = 0` only so that one sender can post 10,000 in minutes (the default
//! 30 a minute would take 5.5 hours); the paging, limits and receipts tested are the
//! embedded defaults.

mod harness;
mod rest;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use harness::{speech, tempdir, Server};
use rest::{send, Ws};
use serde_json::{json, Value};

/// Messages posted.
const N: usize = 10_000;
/// Posts in flight at once.
const IN_FLIGHT: usize = 8;
/// The whole posting loop must finish within this.
const POST_DEADLINE: Duration = Duration::from_secs(20 * 60);

struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    async fn token(&self, name: &str, password: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/login", self.base))
            .json(&json!({"name": name, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// One page: its messages and the `Link` target of the next.
    async fn page(&self, token: &str, path: &str) -> (Vec<Value>, Option<String>, usize) {
        let r = self.get(token, path).await;
        assert_eq!(r.status(), 200, "{path}");
        let link = r
            .headers()
            .get("link")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body = r.bytes().await.expect("body");
        let items: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
        let next = link.map(|l| {
            let (target, rel) = l.split_once(';').expect("target; rel");
            assert_eq!(rel.trim(), "rel=\"next\"");
            target
                .trim()
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .expect("<target>")
                .to_owned()
        });
        (items, next, body.len())
    }

    /// Every page of a list from `first`, following the links; also the number of pages.
    async fn all(&self, token: &str, first: &str) -> (Vec<Value>, usize) {
        let (mut out, mut pages, mut next) = (Vec::new(), 0, Some(first.to_owned()));
        while let Some(path) = next.take() {
            let (items, link, _) = self.page(token, &path).await;
            assert!(items.len() <= 200, "a page holds at most 200");
            out.extend(items);
            pages += 1;
            assert!(pages <= N, "paging ends");
            next = link;
        }
        (out, pages)
    }

    async fn counts(&self, token: &str) -> Value {
        let r = self.get(token, "/api/messages/counts").await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }
}

/// A short Ogg Opus recording (what the web client and `ivm send` upload).
fn opus(dir: &std::path::Path) -> Option<Vec<u8>> {
    if !harness::available("opusenc") || !harness::available("espeak-ng") {
        return None;
    }
    let wav = speech(dir, "hi", "Hi.");
    let out = dir.join("hi.opus");
    let run = harness::run_bounded(
        std::process::Command::new("opusenc")
            .arg("--quiet")
            .arg(&wav)
            .arg(&out),
        Duration::from_secs(60),
    );
    assert!(run.status.success(), "opusenc failed");
    Some(std::fs::read(out).expect("opus"))
}

/// Posts `n` messages from `token`'s user to `to`, `IN_FLIGHT` at a time; their ids.
async fn post_many(rest: &Rest, token: &str, to: &str, audio: &[u8], n: usize) -> Vec<String> {
    let started = Instant::now();
    let posts = futures_util::stream::iter(0..n)
        .map(|i| {
            let form = reqwest::multipart::Form::new()
                .text("to", to.to_owned())
                .part(
                    "audio",
                    reqwest::multipart::Part::bytes(audio.to_vec()).file_name("hi.opus"),
                );
            let req = rest
                .http
                .post(format!("{}/api/messages", rest.base))
                .bearer_auth(token)
                .multipart(form);
            async move {
                let r = req.send().await.expect("post");
                assert_eq!(r.status(), 201, "post {i}");
                r.json::<Value>().await.expect("json")["id"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let ids: Vec<String> = tokio::time::timeout(POST_DEADLINE, posts.collect())
        .await
        .expect("10,000 posts within the deadline");
    eprintln!(
        "posted {n} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ids
}

/// Newest first: created_at descending, then id descending (the box's order).
fn assert_newest_first(list: &[Value]) {
    for w in list.windows(2) {
        let a = (
            w[0]["created_at"].as_u64().expect("t"),
            w[0]["id"].as_str().expect("id"),
        );
        let b = (
            w[1]["created_at"].as_u64().expect("t"),
            w[1]["id"].as_str().expect("id"),
        );
        assert!(a.0 >= b.0, "newest first: {a:?} before {b:?}");
    }
}

async fn ws_connect(server: &Server, token: &str) -> Ws {
    let mut ws = rest::ws(server).await;
    rest::send_connect(&mut ws, token).await;
    let ack = next(&mut ws).await;
    assert_eq!(
        (ack["action"].as_str(), ack["id"].as_str()),
        (Some("ack"), Some("c"))
    );
    ws
}

/// The next frame that is not a ping.
async fn next(ws: &mut Ws) -> Value {
    rest::next_within(ws, Duration::from_secs(60))
        .await
        .expect("socket open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_paged_by_cursor_rss_flat_and_receipts_in_batches() {
    let dir = tempdir();
    let Some(audio) = opus(dir.path()) else {
        return;
    };
    let server = Server::start(dir.path(), "[limits]\nmessages_per_minute = 0\n");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    server.add_user("cat", "203", "cat-password-1");
    let rest = Rest {
        http: reqwest::Client::new(),
        base: server.http.clone(),
    };
    let ann = rest.token("ann", "ann-password-1").await;
    let bob = rest.token("bob", "bob-password-1").await;
    let cat = rest.token("cat", "cat-password-1").await;

    let posted = post_many(&rest, &ann, "bob", &audio, N).await;
    let posted: HashSet<String> = posted.into_iter().collect();
    assert_eq!(posted.len(), N);
    let cats = post_many(&rest, &ann, "cat", &audio, 3).await;

    pages(&rest, &ann, &bob, &posted).await;
    bad_queries(&rest, &bob).await;
    rss_across_list_requests(&rest, &server, &bob).await;
    receipts(&server, &rest, &ann, &bob, &posted, &cats).await;
    deletions(&rest, &bob, &cat, &cats).await;
}

/// Every message exactly once, newest first, by following the links; the sizes people get
/// without asking.
async fn pages(rest: &Rest, ann: &str, bob: &str, posted: &HashSet<String>) {
    // A client that knows nothing of paging gets the newest 50, as an array.
    let (first, next, bytes) = rest.page(bob, "/api/messages/inbox").await;
    assert_eq!(first.len(), 50, "the default page");
    let next = next.expect("a link to the next page");
    assert!(
        next.starts_with("/api/messages/inbox?limit=50&before="),
        "{next}"
    );
    assert!(bytes < 100_000, "a default page is {bytes} bytes");
    let (inbox, n_pages) = rest.all(bob, "/api/messages/inbox?limit=200").await;
    assert_eq!(n_pages, N / 200);
    assert_eq!(inbox.len(), N);
    let ids: HashSet<String> = inbox
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(&ids, posted, "every message once");
    assert_newest_first(&inbox);
    assert_eq!(first[..], inbox[..50], "the default page is the newest 50");
    assert!(inbox.iter().all(|m| m["state"] == "queued"));
    // Sent: the same 10,000 (and the 3 to cat), newest first, with states.
    let (sent, _) = rest.all(ann, "/api/messages/sent?limit=137").await;
    assert_eq!(sent.len(), N + 3);
    assert_newest_first(&sent);
    let sent_ids: HashSet<&str> = sent.iter().map(|m| m["id"].as_str().expect("id")).collect();
    assert!(posted.iter().all(|id| sent_ids.contains(id.as_str())));
    assert_eq!(
        rest.counts(bob).await,
        json!({"inbox": N, "unplayed": N, "sent": 0})
    );
    assert_eq!(rest.counts(ann).await["sent"], N + 3);
}

/// Bad input gets a 400 naming the problem, and changes nothing.
async fn bad_queries(rest: &Rest, bob: &str) {
    let before = rest.counts(bob).await;
    for (query, says) in [
        ("limit=0", "limit must be a whole number from 1 to 200"),
        ("limit=201", "limit must be a whole number from 1 to 200"),
        ("limit=ten", "limit must be a whole number from 1 to 200"),
        ("before=not-a-cursor", "not a cursor"),
        (
            "before=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "not a cursor",
        ),
        ("befor=x", "unknown query parameter \"befor\""),
        ("limit=5&limit=6", "limit is given twice"),
    ] {
        for list in ["inbox", "sent"] {
            let r = rest
                .get(bob, &format!("/api/messages/{list}?{query}"))
                .await;
            assert_eq!(r.status(), 400, "{list}?{query}");
            let body: Value = r.json().await.expect("ErrorBody");
            assert_eq!(body["error"], "bad_request");
            let message = body["message"].as_str().expect("message");
            assert!(message.contains(says), "{list}?{query}: {message}");
        }
    }
    assert_eq!(rest.counts(bob).await, before);
    let r = rest.get("not-a-token", "/api/messages/inbox?limit=5").await;
    assert_eq!(r.status(), 401);
}

/// 50 list requests, first pages and deep ones: the box's RSS stays put.
async fn rss_across_list_requests(rest: &Rest, server: &Server, bob: &str) {
    let pid = server.pid();
    // Deep cursors to ask for: every 10th page of 200.
    let mut deep = Vec::new();
    let mut next = Some("/api/messages/inbox?limit=200".to_owned());
    let mut i = 0;
    while let Some(p) = next.take() {
        let (_, link, _) = rest.page(bob, &p).await;
        if i % 10 == 5 {
            deep.push(p);
        }
        next = link;
        i += 1;
    }
    // Warm up: the allocator's first pages of each size.
    for p in &deep {
        rest.page(bob, p).await;
    }
    let start = harness::rss_kib(pid);
    let mut biggest = 0;
    for k in 0..50 {
        let path = match k % 3 {
            0 => "/api/messages/inbox".to_owned(),
            1 => deep[k % deep.len()].clone(),
            _ => "/api/messages/sent?limit=200".to_owned(),
        };
        let (_, _, bytes) = rest.page(bob, &path).await;
        biggest = biggest.max(bytes);
    }
    let end = harness::rss_kib(pid);
    eprintln!(
        "VmRSS across 50 list requests: {start} KiB -> {end} KiB ({:+} KiB); largest answer {biggest} bytes",
        end as i64 - start as i64
    );
    assert!(
        end <= start + 8 * 1024,
        "RSS grew from {start} KiB to {end} KiB across 50 list requests"
    );
    assert!(biggest < 400_000, "a page of 200 is {biggest} bytes");
}

/// Bob's client comes online: check-in pushes every queued message; it confirms them all in
/// `receipts` batches; Ann's session hears of them in `receipts` pushes; nothing is lost.
async fn receipts(
    server: &Server,
    rest: &Rest,
    ann: &str,
    bob: &str,
    posted: &HashSet<String>,
    cats: &[String],
) {
    let mut ann_ws = ws_connect(server, ann).await;
    let mut bob_ws = ws_connect(server, bob).await;
    send(&mut bob_ws, json!({"action":"check_in","id":"k"})).await;
    let mut queued = Vec::new();
    loop {
        let f = next(&mut bob_ws).await;
        match f["action"].as_str() {
            Some("message") => queued.push(f["object"]["id"].as_str().expect("id").to_owned()),
            Some("ack") if f["id"] == "k" => {
                assert_eq!(f["object"]["queued"], N);
                break;
            }
            other => panic!("unexpected {other:?}: {f}"),
        }
    }
    assert_eq!(queued.len(), N);
    // A batch over the limit, and a state that is no receipt: refused, nothing recorded.
    let big: Vec<Value> = queued[..501]
        .iter()
        .map(|id| json!({"message": id, "state": "delivered"}))
        .collect();
    send(
        &mut bob_ws,
        json!({"action":"receipts","id":"big","object":{"receipts":big}}),
    )
    .await;
    let e = next(&mut bob_ws).await;
    assert_eq!(
        (e["action"].as_str(), e["id"].as_str()),
        (Some("error"), Some("big"))
    );
    assert_eq!(e["object"]["code"], "malformed");
    let del = json!([{"message": queued[0], "state": "deleted"}]);
    send(
        &mut bob_ws,
        json!({"action":"receipts","id":"del","object":{"receipts":del}}),
    )
    .await;
    assert_eq!(next(&mut bob_ws).await["object"]["code"], "malformed");
    // 20 batches of 500, sent back to back; one with a message that is not Bob's (Cat's).
    let mut answered = 0;
    for (b, chunk) in queued.chunks(500).enumerate() {
        let mut items: Vec<Value> = chunk
            .iter()
            .map(|id| json!({"message": id, "state": "delivered"}))
            .collect();
        if b == 3 {
            items.pop();
            items.push(json!({"message": cats[0], "state": "delivered"}));
        }
        send(
            &mut bob_ws,
            json!({"action":"receipts","id":format!("b{b}"),"object":{"receipts":items}}),
        )
        .await;
    }
    let mut applied = HashSet::new();
    while answered < 20 {
        let f = next(&mut bob_ws).await;
        assert_eq!(f["action"], "ack", "{f}");
        let obj = &f["object"];
        for id in obj["applied"].as_array().expect("applied") {
            applied.insert(id.as_str().expect("id").to_owned());
        }
        let not_found = obj["not_found"].as_array().expect("not_found");
        if f["id"] == "b3" {
            assert_eq!(
                not_found,
                &vec![json!(cats[0])],
                "Cat's message is not Bob's"
            );
        } else {
            assert!(not_found.is_empty());
        }
        answered += 1;
    }
    // The one left out of batch 3 goes in a last batch.
    let left = &queued[3 * 500 + 499];
    send(
        &mut bob_ws,
        json!({"action":"receipts","id":"last","object":{"receipts":[{"message":left,"state":"delivered"}]}}),
    )
    .await;
    let f = next(&mut bob_ws).await;
    assert_eq!(f["object"]["applied"], json!([left]));
    applied.insert(left.clone());
    assert_eq!(&applied, posted, "every message applied once asked");
    // Ann heard of every one, in batches.
    let mut heard = HashSet::new();
    let mut frames = 0;
    while heard.len() < N {
        let f = next(&mut ann_ws).await;
        assert_eq!(f["action"], "receipts", "{f}");
        frames += 1;
        for r in f["object"]["receipts"].as_array().expect("receipts") {
            assert_eq!(r["state"], "delivered");
            heard.insert(r["message"].as_str().expect("id").to_owned());
        }
    }
    assert_eq!(&heard, posted);
    assert!(frames <= 21, "{frames} receipts frames for 21 batches");
    // A retried batch is answered the same and tells Ann nothing new.
    let again: Vec<Value> = queued[..10]
        .iter()
        .map(|id| json!({"message": id, "state": "delivered"}))
        .collect();
    send(
        &mut bob_ws,
        json!({"action":"receipts","id":"again","object":{"receipts":again}}),
    )
    .await;
    assert_eq!(
        next(&mut bob_ws).await["object"]["applied"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    // Played: Bob's unplayed count drops, Ann sees it.
    let played: Vec<Value> = queued[..7]
        .iter()
        .map(|id| json!({"message": id, "state": "played"}))
        .collect();
    send(
        &mut bob_ws,
        json!({"action":"receipts","id":"p","object":{"receipts":played}}),
    )
    .await;
    assert_eq!(
        next(&mut bob_ws).await["object"]["applied"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let f = next(&mut ann_ws).await;
    assert_eq!(
        f["action"], "receipts",
        "nothing came for the retried batch: {f}"
    );
    assert_eq!(f["object"]["receipts"].as_array().map(Vec::len), Some(7));
    assert_eq!(rest.counts(bob).await["unplayed"], N - 7);
    // The box agrees: nothing queued for Bob, and Ann's sent list says delivered for all.
    let (sent, _) = rest.all(ann, "/api/messages/sent?limit=200").await;
    let undelivered = sent
        .iter()
        .filter(|m| posted.contains(m["id"].as_str().expect("id")))
        .filter(|m| m["recipients"][0]["state"] == "queued")
        .count();
    assert_eq!(undelivered, 0, "receipts lost");
    send(&mut bob_ws, json!({"action":"check_in","id":"k2"})).await;
    let f = next(&mut bob_ws).await;
    assert_eq!(
        (f["action"].as_str(), &f["object"]["queued"]),
        (Some("ack"), &json!(0))
    );
}

/// A deleted message leaves the pages; a cursor naming it still works.
async fn deletions(rest: &Rest, bob: &str, cat: &str, cats: &[String]) {
    let (page, next, _) = rest.page(bob, "/api/messages/inbox?limit=3").await;
    let next = next.expect("more");
    let last = page[2]["id"].as_str().expect("id").to_owned();
    let r = rest
        .http
        .delete(format!("{}/api/messages/{last}", rest.base))
        .bearer_auth(bob)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let (after, _, _) = rest.page(bob, &next).await;
    assert_eq!(
        after.len(),
        3,
        "the cursor of a deleted message still works"
    );
    let (first, _, _) = rest.page(bob, "/api/messages/inbox?limit=3").await;
    assert!(first.iter().all(|m| m["id"] != last.as_str()));
    assert_eq!(first[..2], page[..2]);
    assert_eq!(first[2], after[0]);
    assert_eq!(rest.counts(bob).await["inbox"], N - 1);
    // Cat's inbox is hers alone.
    let (cat_inbox, _) = rest.all(cat, "/api/messages/inbox").await;
    let mut got: Vec<&str> = cat_inbox
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    let mut want: Vec<&str> = cats.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
}
