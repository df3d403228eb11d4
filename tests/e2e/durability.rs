//! End to end: "nothing acknowledged is lost, even to a power cut" (issue 10, item 8), proven
//! on the syscalls of the real `ivmd`. A kill -9 cannot see a missing fsync (the page cache
//! survives the process), so these tests run the box under `strace` and check the order the
//! kernel saw (`fsync_order.rs`):
//!
//! - a message posted over REST and one posted over the WebSocket: each blob's file fsynced,
//!   renamed, its folder fsynced; then redb's record write and its `fdatasync`; only then the
//!   HTTP 201 / the WebSocket `ack` to the sender and the push to the online recipient;
//! - a DHCP lease (udhcpc in a network namespace the test makes, on a veth pair): its line in
//!   `dhcp-leases.jsonl` fdatasynced before the DHCPACK leaves.
//!
//! Each test fails, naming the missing step, when a sync is removed from the product or the
//! ack moves before it; the checks' own unit tests run the same on hand-made traces.

mod fsync_order;
mod harness;
mod netns;
mod rest;
mod strace;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use harness::{run_bounded, speech, tempdir, Server};
use rest::{send, token, Ws};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// A WebSocket connected and logged in with `token`.
async fn connected(server: &Server, token: &str) -> Ws {
    let mut ws = rest::ws(server).await;
    rest::send_connect(&mut ws, token).await;
    let ack = next_where(&mut ws, |v| v["id"] == "c").await;
    assert_eq!(ack["action"], "ack", "{ack}");
    ws
}

/// The next text frame (JSON) for which `want` holds; others are skipped. Bounded.
async fn next_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    rest::next_where(ws, WAIT, want).await
}

/// The one socket write whose bytes contain every one of `needles`; fails if none or several.
fn one_write<'a>(trace: &'a strace::Trace, what: &str, needles: &[&str]) -> &'a strace::Call {
    let found: Vec<&strace::Call> = trace
        .calls
        .iter()
        .filter(|c| c.on_socket() && c.ok() && needles.iter().all(|n| c.writes(n.as_bytes())))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{what}: expected one socket write with {needles:?}, found {}: {:#?}",
        found.len(),
        found.iter().map(|c| c.short()).collect::<Vec<_>>()
    );
    found[0]
}

/// Which sync syscalls the trace used on `path`, with counts (the report shows redb's).
fn sync_kinds(trace: &strace::Trace, path: &Path) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for c in trace
        .find(|c| c.on(path) && c.is(&["fsync", "fdatasync", "sync_file_range", "syncfs", "msync"]))
    {
        match kinds.iter_mut().find(|(k, _)| *k == c.name) {
            Some((_, n)) => *n += 1,
            None => kinds.push((c.name.clone(), 1)),
        }
    }
    format!("{kinds:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_durable_before_its_ack_over_rest_and_websocket() {
    strace::require();
    let dir = tempdir();
    // strace prints resolved paths; compare with resolved paths.
    let root = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
    let data = root.join("data");
    let trace_file = root.join("ivmd.strace");
    let wrapper = strace::wrapper(&trace_file);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    // The embedded defaults: no config but the test's ports.
    let mut server = Server::start_wrapped(&data, "", &wrapper);
    let traced = strace::Traced::of(server.pid(), &trace_file);
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = token(&server, "ann", "ann-password-1").await;
    let bob = token(&server, "bob", "bob-password-1").await;
    // Bob is online: the box pushes each new message to him, also only after the commit.
    let mut bob_ws = connected(&server, &bob).await;
    let wav = std::fs::read(speech(
        &root,
        "hello",
        "Hello Bob, this is Ann. Lunch at noon?",
    ))
    .expect("wav");

    // Over REST: audio and one attachment (two blobs).
    let form = reqwest::multipart::Form::new()
        .text("to", "bob")
        .part(
            "audio",
            reqwest::multipart::Part::bytes(wav.clone()).file_name("hello.wav"),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"agenda: lunch".to_vec())
                .file_name("agenda.txt")
                .mime_str("text/plain")
                .expect("mime"),
        );
    let r = reqwest::Client::new()
        .post(format!("{}/api/messages", server.http))
        .bearer_auth(&ann)
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201, "REST post");
    let info: Value = r.json().await.expect("json");
    let rest_id = info["id"].as_str().expect("id").to_owned();
    let bob_guid = info["recipients"][0]["guid"]
        .as_str()
        .expect("guid")
        .to_owned();

    // Over the WebSocket: `post_message` with the audio and one attachment inline.
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ann_ws = connected(&server, &ann).await;
    send(
        &mut ann_ws,
        json!({"action":"post_message","id":"durable-ws","destination":[bob_guid],
               "object":{"audio": b64.encode(&wav),
                         "attachments":[{"name":"map.txt","content_type":"text/plain",
                                         "data": b64.encode(b"second floor")}]}}),
    )
    .await;
    let ack = next_where(&mut ann_ws, |v| v["id"] == "durable-ws").await;
    assert_eq!(ack["action"], "ack", "{ack}");
    let ws_id = ack["object"]["id"].as_str().expect("message id").to_owned();

    // Bob got both pushes.
    for id in [&rest_id, &ws_id] {
        next_where(&mut bob_ws, |v| v["action"] == "message" && v["id"] == *id).await;
    }
    drop((ann_ws, bob_ws));

    let trace = traced.finish();
    assert!(server.stop().success(), "ivmd under strace exited cleanly");
    assert_eq!(harness::blob_count(&data), 4, "two blobs per message");

    // The test posts once over REST: the one 201 in the trace is its answer.
    let rest_ack = one_write(&trace, "the HTTP 201", &["HTTP/1.1 201 "]);
    let rest_push = one_write(
        &trace,
        "the push to bob",
        &[&format!("\"action\":\"message\",\"id\":\"{rest_id}\"")],
    );
    let ws_ack = one_write(
        &trace,
        "the WebSocket ack",
        &["\"action\":\"ack\",\"id\":\"durable-ws\"", &ws_id],
    );
    let ws_push = one_write(
        &trace,
        "the push to bob",
        &[&format!("\"action\":\"message\",\"id\":\"{ws_id}\"")],
    );
    for (id, acks) in [
        (
            &rest_id,
            [("HTTP 201 to ann", rest_ack), ("push to bob", rest_push)],
        ),
        (
            &ws_id,
            [("WebSocket ack to ann", ws_ack), ("push to bob", ws_push)],
        ),
    ] {
        match fsync_order::message_durable_before_acks(&trace, &data, id, &acks) {
            Ok(proof) => println!("message {id}: durable before its acks:\n{proof}"),
            Err(e) => panic!(
                "{e}\n(trace: {} calls; kept in {})",
                trace.calls.len(),
                keep(&trace_file)
            ),
        }
    }
    println!(
        "ivm.redb synced with {}",
        sync_kinds(&trace, &data.join("ivm.redb"))
    );
}

/// Copies a trace out of the temporary folder for the post-mortem; returns where.
fn keep(trace: &Path) -> String {
    let dest = std::env::temp_dir().join("ivm-e2e-failed-logs");
    let _ = std::fs::create_dir_all(&dest);
    let to = dest.join(format!(
        "{}-{}",
        std::process::id(),
        trace
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("trace")
    ));
    match std::fs::copy(trace, &to) {
        Ok(_) => to.display().to_string(),
        Err(e) => format!("not kept: {e}"),
    }
}

#[test]
fn a_dhcp_lease_is_durable_before_its_ack() {
    strace::require();
    for tool in ["ip", "udhcpc"] {
        harness::require_tool(tool);
    }
    let seg = netns::Segment::new("u", "10.79.0.1/24", "00:15:65:00:00:09")
        .expect("this test makes network namespaces and needs root (CI runs as root)");
    let dir = tempdir();
    let root = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
    let data = root.join("data");
    let trace_file = root.join("ivmd.strace");
    let toml = format!(
        "[dhcp]\nenabled = true\nprobe_ms = 1000\n\
         [[dhcp.pool]]\ninterface = \"{i}\"\nnetwork = \"10.79.0.0\"\nmask = \"255.255.255.0\"\n\
         start = \"10.79.0.100\"\nend = \"10.79.0.150\"\nserver_id = \"10.79.0.1\"\n\
         routers = [\"10.79.0.1\"]\nlease_secs = 600\n",
        i = seg.server_if
    );
    let wrapper = strace::wrapper(&trace_file);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let srv = netns::NsBox::start(
        &seg.server_ns,
        &data,
        &toml,
        &wrapper,
        &harness::LOOPBACK_PORTS,
    );
    assert!(
        srv.ready.contains(&format!("dhcp={}", seg.server_if)),
        "{}\n{}",
        srv.ready,
        srv.log()
    );
    let traced = strace::Traced::of(srv.pid(), &trace_file);

    // udhcpc (busybox) as the phone: DISCOVER, OFFER, REQUEST, ACK; its script records the
    // address it was given.
    let script = root.join("udhcpc.sh");
    let bound = root.join("udhcpc.bound");
    harness::write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > {}\nexit 0\n",
            bound.display()
        ),
    );
    let out = run_bounded(&mut seg.udhcpc(&[], &script), Duration::from_secs(60));
    let ip = std::fs::read_to_string(&bound).unwrap_or_default();
    let ip = ip.trim();
    assert!(
        out.status.success() && ip.starts_with("10.79.0."),
        "udhcpc got no lease: {}\nbox log:\n{}",
        harness::text(&out),
        srv.log()
    );

    let trace = traced.finish();
    drop(srv);
    let acks = fsync_order::dhcp_acks(&trace);
    assert!(
        acks.iter().any(|(_, a)| a.to_string() == ip),
        "no DHCPACK for {ip} in the trace; acks: {:?}",
        acks.iter().map(|(c, a)| (a, c.short())).collect::<Vec<_>>()
    );
    let journal = data.join("dhcp-leases.jsonl");
    for (ack, _) in &acks {
        match fsync_order::lease_durable_before_ack(&trace, &journal, ack) {
            Ok(proof) => println!("DHCP lease durable before its ACK:\n{proof}"),
            Err(e) => panic!("{e}\n(trace kept in {})", keep(&trace_file)),
        }
    }
    println!(
        "dhcp-leases.jsonl synced with {}",
        sync_kinds(&trace, &journal)
    );
}
