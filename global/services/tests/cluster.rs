//! The global tier against the real thing: a 3-node `nats-server` JetStream cluster with TLS
//! and NKey users (files from `devfiles`), the real `ivm-transport` and `ivm-directory`
//! binaries, and two boxes connected with exactly the permissions and connection code a box's
//! link uses (`ivm_global::nats::connect`). Loopback only.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt as _;
use ivm_global::directory::{PublishRequest, PublishedUser, Reply};
use ivm_global::envelope::{Envelope, Message, Receipt, ReceiptState};
use ivm_global::{address, subject};
use ivm_global_services::devcluster::{self, Binaries, DevCluster};
use ivm_wire::{Guid, Priority};

/// The cluster and its temp folder (dropped after the cluster, which kills its processes).
struct Cluster {
    inner: DevCluster,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Cluster {
    type Target = DevCluster;
    fn deref(&self) -> &DevCluster {
        &self.inner
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut DevCluster {
        &mut self.inner
    }
}

fn start(boxes: &[Guid]) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = DevCluster::start(
        dir.path(),
        boxes,
        Binaries {
            directory: env!("CARGO_BIN_EXE_ivm-directory").into(),
            transport: env!("CARGO_BIN_EXE_ivm-transport").into(),
        },
    );
    Cluster { inner, _dir: dir }
}

/// A box's side of the link, as the link actor will hold it.
struct BoxLink {
    id: Guid,
    client: async_nats::Client,
    js: jetstream::Context,
    /// The cluster's folder, whose logs a failing wait prints.
    logs: std::path::PathBuf,
}

async fn connect_box(cluster: &Cluster, id: Guid) -> BoxLink {
    let client = ivm_global::nats::connect(&cluster.link(id, None), "box", Some(id))
        .await
        .expect("box connects");
    let js = jetstream::new(client.clone());
    BoxLink {
        id,
        client,
        js,
        logs: cluster.files.dir.clone(),
    }
}

impl BoxLink {
    /// Asks the directory to publish users, retrying while the directory starts (bounded).
    async fn publish(&self, users: &[(Guid, &str)]) -> Reply {
        let body = serde_json::to_vec(&PublishRequest {
            users: users
                .iter()
                .map(|&(id, name)| PublishedUser {
                    id,
                    name: name.into(),
                })
                .collect(),
        })
        .expect("json");
        // A three-node cluster elects its stream leaders before the directory can answer:
        // seconds on a quiet machine, much longer while other jobs load both cores.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let asked = tokio::time::timeout(
                Duration::from_secs(3),
                self.client
                    .request(subject::directory(self.id, "publish"), body.clone().into()),
            )
            .await;
            let last = match asked {
                Ok(Ok(answer)) => {
                    let reply: Reply = serde_json::from_slice(&answer.payload).expect("reply json");
                    match reply.error {
                        None => return reply,
                        Some(e) => format!("error: {e}"),
                    }
                }
                Ok(Err(e)) => format!("request failed: {e}"),
                Err(_) => "no answer within 3 s".into(),
            };
            assert!(
                Instant::now() < deadline,
                "the directory never answered in 90 s (last: {last})\n{}",
                devcluster::logs_in(&self.logs)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Publishes an envelope on `subject` with its message id; retries a lost ack up to
    /// `attempts` times.
    async fn send_on(&self, subject: String, e: &Envelope, attempts: u32) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..attempts {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, e.msg_id().as_str());
            let sent = self
                .js
                .publish_with_headers(subject.clone(), headers, e.encode().expect("encode").into())
                .await;
            match sent {
                Ok(ack) => match tokio::time::timeout(Duration::from_secs(5), ack).await {
                    Ok(Ok(_)) => return Ok(()),
                    Ok(Err(err)) => last = err.to_string(),
                    Err(_) => last = "ack timed out".into(),
                },
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last)
    }

    /// As the box's outbox does: tries again until acked, here for at most about a minute.
    /// A stream whose leader died answers "no stream found" until the others elect a new
    /// one, which takes seconds on a loaded machine.
    async fn send(&self, e: &Envelope) -> Result<(), String> {
        self.send_on(subject::out(self.id), e, 240).await
    }

    /// Takes what waits for this box for `wait`, acking each; returns (envelope, stream
    /// sequence, delivery count).
    async fn take(&self, wait: Duration, want: usize) -> Vec<(Envelope, u64, i64)> {
        let deadline = Instant::now() + wait;
        // After a node dies the consumer's leader may be re-elected: ask again (bounded).
        let consumer: jetstream::consumer::PullConsumer = loop {
            match self
                .js
                .get_consumer_from_stream(subject::box_consumer(self.id), subject::IN_STREAM)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("own consumer not reachable yet: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("own consumer: {e}"),
            }
        };
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let Ok(mut batch) = consumer
                .batch()
                .max_messages(want - got.len())
                .expires(Duration::from_millis(500))
                .messages()
                .await
            else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            while let Some(Ok(m)) = batch.next().await {
                let (seq, delivered) = m
                    .info()
                    .map(|i| (i.stream_sequence, i.delivered))
                    .expect("jetstream message");
                let e = Envelope::decode(&m.payload).expect("the transport forwards envelopes");
                got.push((e, seq, delivered));
                let _ = m.double_ack().await;
            }
        }
        got
    }
}

fn message(id: u128, from: Guid, to: Guid) -> Envelope {
    Envelope::Message(Message {
        id: Guid::from_u128(id),
        from,
        from_name: "Ann".into(),
        from_address: String::new(),
        to,
        priority: Priority::Normal,
        sent_ms: 1,
        audio: id.to_be_bytes().to_vec(),
        duration_ms: 1000,
        peaks: Vec::new(),
    })
}

// The ids a box derives from its name and its users' names (the directory checks them).
fn box_a() -> Guid {
    address::box_id("office-a")
}
fn box_b() -> Guid {
    address::box_id("office-b")
}
fn ann() -> Guid {
    address::user_id(box_a(), "ann")
}
fn bob() -> Guid {
    address::user_id(box_b(), "bob")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_boxes_exchange_a_message_and_its_receipts_once() {
    let cluster = start(&[box_a(), box_b()]);
    let a = connect_box(&cluster, box_a()).await;
    let b = connect_box(&cluster, box_b()).await;
    assert_eq!(a.publish(&[(ann(), "ann")]).await.accepted, vec![ann()]);
    assert_eq!(b.publish(&[(bob(), "bob")]).await.accepted, vec![bob()]);
    // Box A may not take over box B's user.
    let stolen = a.publish(&[(bob(), "bob")]).await;
    assert_eq!(
        (stolen.accepted, stolen.refused),
        (vec![], vec![bob()]),
        "{}",
        cluster.logs()
    );

    let m = message(1, ann(), bob());
    a.send(&m).await.expect("box A's publish is acked");
    // A retry of the same message (a lost ack) is not a second message.
    a.send(&m).await.expect("retry acked");
    // The first copy, and then nothing more: both publishes were acked before this, so a
    // second copy would follow the first within milliseconds.
    let mut got = b.take(Duration::from_secs(60), 1).await;
    got.extend(b.take(Duration::from_secs(3), 1).await);
    assert_eq!(
        got.iter().map(|g| &g.0).collect::<Vec<_>>(),
        vec![&m],
        "{}",
        cluster.logs()
    );

    for state in [ReceiptState::Delivered, ReceiptState::Played] {
        let r = Envelope::Receipt(Receipt {
            message: Guid::from_u128(1),
            from: bob(),
            to: ann(),
            state,
            at_ms: 2,
        });
        b.send(&r).await.expect("receipt acked");
        let got = a.take(Duration::from_secs(60), 1).await;
        assert_eq!(got.len(), 1, "{}", cluster.logs());
        assert_eq!(got[0].0, r);
    }

    // A message to someone box B never published comes back to box A, in that someone's
    // name, as undeliverable; box B gets nothing.
    let nobody = address::user_id(box_b(), "nobody");
    a.send(&message(2, ann(), nobody)).await.expect("acked");
    let got = a.take(Duration::from_secs(60), 1).await;
    let Some((Envelope::Receipt(back), _, _)) = got.first() else {
        panic!("no receipt came back: {got:?}\n{}", cluster.logs());
    };
    assert_eq!(
        (back.message, back.from, back.to, back.state),
        (
            Guid::from_u128(2),
            nobody,
            ann(),
            ReceiptState::Undeliverable
        )
    );
    assert!(b.take(Duration::from_secs(2), 1).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_cannot_speak_for_or_read_another_box() {
    let cluster = start(&[box_a(), box_b()]);
    let a = connect_box(&cluster, box_a()).await;
    let b = connect_box(&cluster, box_b()).await;
    a.publish(&[(ann(), "ann")]).await;
    b.publish(&[(bob(), "bob")]).await;

    // Publishing on box B's subject, as box B's user: the servers refuse it (no ack ever).
    let forged = message(2, bob(), ann());
    assert!(
        a.send_on(subject::out(box_b()), &forged, 2).await.is_err(),
        "the server took a forged publish"
    );
    // On its own subject but claiming box B's user: the transport refuses it.
    a.send(&message(3, bob(), bob()))
        .await
        .expect("acked by the stream");
    // Reading box B's consumer: refused.
    let peek =
        a.js.get_consumer_from_stream::<pull::Config, _, _>(
            subject::box_consumer(box_b()),
            subject::IN_STREAM,
        )
        .await;
    assert!(peek.is_err(), "box A could open box B's consumer");

    // Neither forged message reached anyone; a genuine one after them does.
    let real = message(4, ann(), bob());
    a.send(&real).await.expect("acked");
    let to_b = b.take(Duration::from_secs(60), 1).await;
    assert_eq!(
        to_b.iter().map(|g| &g.0).collect::<Vec<_>>(),
        vec![&real],
        "{}",
        cluster.logs()
    );
    assert!(
        a.take(Duration::from_secs(2), 1).await.is_empty(),
        "{}",
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_loses_nothing_acknowledged_and_doubles_nothing() {
    const BURST: u128 = 60;
    let mut cluster = start(&[box_a(), box_b()]);
    let a = connect_box(&cluster, box_a()).await;
    let b = connect_box(&cluster, box_b()).await;
    a.publish(&[(ann(), "ann")]).await;
    b.publish(&[(bob(), "bob")]).await;

    let mut acked = Vec::new();
    for n in 0..BURST {
        if n == BURST / 3 {
            let mut node = cluster.nodes[1].take().expect("node 2");
            node.kill().expect("kill node 2");
            let _ = node.wait();
        }
        let m = message(100 + n, ann(), bob());
        a.send(&m)
            .await
            .unwrap_or_else(|e| panic!("message {n} never acked: {e}\n{}", cluster.logs()));
        acked.push(Guid::from_u128(100 + n));
    }
    let got = b.take(Duration::from_secs(60), acked.len()).await;
    let mut by_id: HashMap<Guid, HashSet<u64>> = HashMap::new();
    for (e, seq, _) in &got {
        let Envelope::Message(m) = e else {
            panic!("a receipt in a burst of messages")
        };
        by_id.entry(m.id).or_default().insert(*seq);
    }
    let missing: Vec<_> = acked.iter().filter(|id| !by_id.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost: {missing:?}\n{}",
        cluster.logs()
    );
    let doubled: Vec<_> = by_id.iter().filter(|(_, seqs)| seqs.len() > 1).collect();
    assert!(doubled.is_empty(), "stored twice in IVM_IN: {doubled:?}");
    assert_eq!(
        got.len(),
        acked.len(),
        "a message was delivered to box B twice"
    );
    assert!(
        b.take(Duration::from_secs(2), 1).await.is_empty(),
        "more than was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_wait_for_an_offline_box_and_bad_requests_change_nothing() {
    let cluster = start(&[box_a(), box_b()]);
    let a = connect_box(&cluster, box_a()).await;
    a.publish(&[(ann(), "ann")]).await;
    {
        let b = connect_box(&cluster, box_b()).await;
        b.publish(&[(bob(), "bob")]).await;
        b.client.drain().await.expect("box B goes offline");
    }

    // Malformed and oversized directory requests: an error reply, nothing changed.
    for body in [
        b"not json".to_vec(),
        vec![b'x'; 300 * 1024],
        br#"{"users":[{"id":"00000000-0000-0000-0000-000000000000","name":"x"}]}"#.to_vec(),
    ] {
        let answer = a
            .client
            .request(subject::directory(box_a(), "publish"), body.into())
            .await
            .expect("the directory answers");
        let reply: Reply = serde_json::from_slice(&answer.payload).expect("reply json");
        assert!(
            reply.error.is_some() && reply.accepted.is_empty(),
            "{reply:?}"
        );
    }
    let unknown = a
        .client
        .request(subject::directory(box_a(), "delete"), "{}".into())
        .await
        .expect("the directory answers");
    let reply: Reply = serde_json::from_slice(&unknown.payload).expect("reply json");
    assert_eq!(reply.error.as_deref(), Some("unknown operation"));

    // Box B is offline: the messages wait in IVM_IN.
    let sent: Vec<Envelope> = (0..5).map(|n| message(200 + n, ann(), bob())).collect();
    for m in &sent {
        a.send(m).await.expect("acked while box B is offline");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = connect_box(&cluster, box_b()).await;
    let mut got = b.take(Duration::from_secs(20), sent.len()).await;
    got.extend(b.take(Duration::from_secs(2), 1).await);
    let mut ids: Vec<Guid> = got
        .iter()
        .map(|(e, _, _)| match e {
            Envelope::Message(m) => m.id,
            Envelope::Receipt(_) => panic!("no receipts were sent"),
        })
        .collect();
    ids.sort();
    let want: Vec<Guid> = (0..5).map(|n| Guid::from_u128(200 + n)).collect();
    assert_eq!(ids, want, "each waiting message once\n{}", cluster.logs());
}
