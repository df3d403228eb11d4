//! The global tier end to end (issue 15): a real 3-node `nats-server` cluster with TLS
//! (`ivm_global_services::devcluster`), the real `ivm-directory` and `ivm-transport`
//! binaries, and two real `ivmd` boxes linked to it by `[global]`. Loopback only.
//!
//! - ann@office-a sends to bob@office-b: bob gets it once, marks it delivered and plays it,
//!   and ann sees delivered, then played;
//! - ann's message to nobody@office-b (never published) comes back: ann sees it undeliverable;
//!   cat, on box A but not published, may not write to bob@office-b (refused, nothing stored),
//!   and her message queued while she was published comes back undeliverable once she is not;
//! - the whole cluster stopped while ann sends three more: they are accepted (the box's
//!   outbox, which `ivmd status` counts) and reach bob in order, once each, when it is back;
//! - a box configured with another box's name cannot publish that box's users or send as
//!   them: the servers refuse its subjects, and bob's directory entry stays bob's box's.

mod harness;
mod rest;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{add_admin, add_user, ivmd, speech, Person, Server};
use ivm_global::address;
use ivm_global_services::devcluster::{Binaries, DevCluster};
use serde_json::Value;

/// The service binaries, built next to `ivmd` if this run has not built them yet.
fn binaries() -> Binaries {
    let dir = Path::new(harness::ivmd_bin())
        .parent()
        .expect("bin dir")
        .to_owned();
    let bins = Binaries {
        directory: dir.join("ivm-directory"),
        transport: dir.join("ivm-transport"),
    };
    if !bins.directory.exists() || !bins.transport.exists() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let out = harness::run_bounded(
            Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-p",
                    "ivm-global-services",
                    "--bins",
                    "--manifest-path",
                ])
                .arg(&manifest),
            Duration::from_secs(600),
        );
        assert!(
            out.status.success(),
            "building the services: {}",
            harness::text(&out)
        );
    }
    bins
}

/// The `[global]` section of a box.
fn global_toml(cluster: &DevCluster, seed_of: &str, box_name: &str) -> String {
    let link = cluster.link(address::box_id(seed_of), Some(box_name));
    let urls: Vec<String> = link.urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[global]\nenabled = true\nurls = [{}]\nca_file = \"{}\"\nseed_file = \"{}\"\nbox_name = \"{}\"\n",
        urls.join(", "),
        link.ca_file.expect("ca").display(),
        link.seed_file.expect("seed").display(),
        box_name
    )
}

/// A linked box with users `users` (each published), started in `dir/<name>`.
fn linked_box(dir: &Path, toml: &str, name: &str, users: &[(&str, &str)]) -> Server {
    let data = dir.join(name);
    let server = Server::start_on(&data, toml);
    for (user, ext) in users {
        add_user(&data, user, ext, "correct horse battery");
        let out = ivmd(&data, &["user", "global", user, "on"]);
        assert!(out.status.success(), "user global: {}", harness::text(&out));
        assert!(harness::text(&out).contains("global: published"));
    }
    server
}

async fn get(server: &Server, token: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", server.http))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

async fn mark(server: &Server, token: &str, id: &str, state: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/messages/{id}/{state}", server.http))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{state}: {}", r.status());
}

/// Waits (bounded) until `f` gives `Some`.
/// On a timeout, the panic carries `logs()` (the boxes' and the cluster's).
async fn eventually<T>(
    what: &str,
    limit: Duration,
    logs: &dyn Fn() -> String,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last lines of every log under `dir` (the boxes' and the cluster's).
fn all_logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                folders.push(p);
            } else if p.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                out.push_str(&format!("--- {}\n{tail}\n", p.display()));
            }
        }
    }
    out
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

fn send(ann: &Person, wav: &Path) -> String {
    let id = ann.ok(&["send", "--to", "bob@office-b", wav.to_str().expect("path")]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "send prints the id: {id:?}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_boxes_exchange_messages_and_receipts_through_the_cluster() {
    let dir = harness::tempdir();
    let mut cluster = DevCluster::start(
        &dir.path().join("cluster"),
        &[
            address::box_id("office-a"),
            address::box_id("office-b"),
            address::box_id("office-c"),
        ],
        binaries(),
    );
    let a = linked_box(
        dir.path(),
        &global_toml(&cluster, "office-a", "office-a"),
        "a",
        &[("ann", "201")],
    );
    let b = linked_box(
        dir.path(),
        &global_toml(&cluster, "office-b", "office-b"),
        "b",
        &[("bob", "301")],
    );
    let ann = Person::new(&a, dir.path(), "ann", "correct horse battery");
    let ann_tok = rest::token(&a, "ann", "correct horse battery").await;
    let bob_tok = rest::token(&b, "bob", "correct horse battery").await;
    let wav = speech(
        dir.path(),
        "hello",
        "Hello Bob, this is Ann in the other office.",
    );
    let logs = || all_logs(dir.path());

    // Both links up and their users published (bob must be published before ann's message
    // reaches the transport, or the transport has nowhere to route it).
    for server in [&a, &b] {
        assert!(
            server.wait_log(
                "users published to the directory users=1",
                Duration::from_secs(60)
            ),
            "{}\n{}",
            server.log(),
            cluster.logs()
        );
    }

    // `ivmd status` tells the link's state.
    let status = harness::text(&ivmd(&dir.path().join("a"), &["status"]));
    assert!(
        status.contains("global:       office-a, link up, 1 user published, 0 waiting to go out"),
        "{status}"
    );
    // So does the admin status (the admin page's).
    add_admin(
        &dir.path().join("a"),
        "root",
        "299",
        "correct horse battery",
    );
    let root_tok = rest::token(&a, "root", "correct horse battery").await;
    let status = get(&a, &root_tok, "/api/admin/status").await;
    assert_eq!(
        status["global"],
        serde_json::json!({"box_name": "office-a", "up": true, "published_users": 1, "outbox": 0})
    );

    // ann@office-a -> bob@office-b: once, shown from ann's address.
    let first = send(&ann, &wav);
    let inbox = eventually(
        "bob's message",
        Duration::from_secs(60),
        &logs,
        async || {
            let inbox = get(&b, &bob_tok, "/api/messages/inbox").await;
            (!inbox.as_array()?.is_empty()).then_some(inbox)
        },
    )
    .await;
    assert_eq!(ids(&inbox), vec![first.clone()], "{}", b.log());
    assert_eq!(inbox[0]["sender_name"], "ann@office-a");
    let sent = get(&a, &ann_tok, "/api/messages/sent").await;
    assert_eq!(sent[0]["recipients"][0]["name"], "bob@office-b");
    assert_eq!(sent[0]["recipients"][0]["state"], "queued");
    // The audio is ann's, byte for byte.
    let audio_path = format!("/api/messages/{first}/audio");
    let fetch = |server: &Server, tok: &str| {
        let req = reqwest::Client::new()
            .get(format!("{}{audio_path}", server.http))
            .bearer_auth(tok.to_owned());
        async move {
            req.send()
                .await
                .expect("audio")
                .bytes()
                .await
                .expect("bytes")
        }
    };
    assert_eq!(fetch(&a, &ann_tok).await, fetch(&b, &bob_tok).await);

    // Delivered, then played: ann sees each.
    for state in ["delivered", "played"] {
        mark(&b, &bob_tok, &first, state).await;
        eventually(state, Duration::from_secs(60), &logs, async || {
            let sent = get(&a, &ann_tok, "/api/messages/sent").await;
            (sent[0]["recipients"][0]["state"] == state).then_some(())
        })
        .await;
    }

    // To a user box B never published: accepted here, then returned by the transport, and
    // ann sees it undeliverable instead of "sent" forever.
    let lost = ann.ok(&[
        "send",
        "--to",
        "nobody@office-b",
        wav.to_str().expect("path"),
    ]);
    let lost = lost.trim().to_owned();
    eventually(
        "the undeliverable receipt",
        Duration::from_secs(60),
        &logs,
        async || {
            let sent = get(&a, &ann_tok, "/api/messages/sent").await;
            let m = sent.as_array()?.iter().find(|m| m["id"] == lost.as_str())?;
            (m["recipients"][0]["state"] == "undeliverable").then_some(())
        },
    )
    .await;

    // cat is on box A but not published: she may not write to another box, and nothing is
    // stored (the transport would refuse her message after the box had acknowledged it).
    add_user(&dir.path().join("a"), "cat", "202", "correct horse battery");
    let cat = Person::new(&a, dir.path(), "cat", "correct horse battery");
    let out = cat.ivm(&["send", "--to", "bob@office-b", wav.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not in the global directory"),
        "{stderr}"
    );
    assert!(cat.sent().is_empty());

    // The cluster goes away: ann's messages are still accepted, and wait in box A.
    cluster.stop_nodes();
    assert!(
        a.wait_log("global link down", Duration::from_secs(30)),
        "{}",
        a.log()
    );
    let queued: Vec<String> = (0..3).map(|_| send(&ann, &wav)).collect();
    // cat, published for a moment, sends too; by the time the link is back she is not: her
    // message comes back to her as undeliverable and never goes out.
    let global = |on: &str| {
        let out = ivmd(&dir.path().join("a"), &["user", "global", "cat", on]);
        assert!(out.status.success(), "{}", harness::text(&out));
    };
    global("on");
    let parked = cat.ok(&["send", "--to", "bob@office-b", wav.to_str().expect("path")]);
    let parked = parked.trim().to_owned();
    global("off");
    let out = ivmd(&dir.path().join("a"), &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(
        status["global"],
        serde_json::json!({"box_name": "office-a", "up": false, "published_users": 1, "outbox": 4})
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ids(&get(&b, &bob_tok, "/api/messages/inbox").await),
        vec![first.clone()]
    );
    cluster.start_nodes();
    let inbox = eventually(
        "the queued messages",
        Duration::from_secs(120),
        &logs,
        async || {
            let inbox = get(&b, &bob_tok, "/api/messages/inbox").await;
            (inbox.as_array()?.len() >= 4).then_some(inbox)
        },
    )
    .await;
    // Newest first: the three in the order sent, after the first; none twice.
    let mut want = queued.clone();
    want.reverse();
    want.push(first.clone());
    assert_eq!(ids(&inbox), want, "{}\n{}", b.log(), cluster.logs());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ids(&get(&b, &bob_tok, "/api/messages/inbox").await), want);
    eventually(
        "cat's message returned",
        Duration::from_secs(30),
        &logs,
        async || {
            let sent = cat.sent();
            (sent.len() == 1
                && sent[0]["id"] == parked.as_str()
                && sent[0]["recipients"][0]["state"] == "undeliverable")
                .then_some(())
        },
    )
    .await;

    // A box admitted as office-c but configured as office-b: the servers refuse its subjects,
    // so it can neither take bob@office-b over nor speak for him.
    let c = linked_box(
        dir.path(),
        &global_toml(&cluster, "office-c", "office-b"),
        "c",
        &[("bob", "301")],
    );
    assert!(
        c.wait_log("publishing users failed", Duration::from_secs(60)),
        "{}",
        c.log()
    );
    let mallory = Person::new(&c, dir.path(), "bob", "correct horse battery");
    let forged = mallory.ok(&["send", "--to", "ann@office-a", wav.to_str().expect("path")]);
    assert!(
        c.wait_log("publish not acknowledged", Duration::from_secs(60)),
        "{}",
        c.log()
    );
    // bob@office-b still reaches box B: a message from ann gets there, and nothing forged
    // reached ann.
    let last = send(&ann, &wav);
    eventually(
        "a message after the impostor",
        Duration::from_secs(60),
        &logs,
        async || {
            let inbox = get(&b, &bob_tok, "/api/messages/inbox").await;
            (ids(&inbox).first() == Some(&last)).then_some(())
        },
    )
    .await;
    let ann_inbox = get(&a, &ann_tok, "/api/messages/inbox").await;
    assert!(
        !ids(&ann_inbox).contains(&forged.trim().to_owned()),
        "a forged message reached ann"
    );
    assert!(
        ann_inbox.as_array().expect("list").is_empty(),
        "{ann_inbox}"
    );
}
