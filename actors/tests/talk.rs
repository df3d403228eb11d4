//! Intercom in the client actor against a real store: a talk from ann to bob (online) and
//! carol (offline); bob gets `talk_incoming`, the portions on his lossy lane and `talk_end`;
//! the stored copy lands in both inboxes (played for bob, who heard it live, new for carol);
//! a stranger's portions, portions after the end and a slow listener change nothing else.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use ivm_actors::client::{
    self, ClientActor, ClientConfig, Connect, Disconnect, Outbound, OutboxReceiver, TalkEnd,
    TalkPortion, TalkRequestError, TalkStart,
};
use ivm_actors::database::messages::InboxPage;
use ivm_actors::database::{DatabaseActor, Db};
use ivm_store::{NewUser, Store, User};
use ivm_talk::TalkError;
use ivm_wire::talk::Portion;
use ivm_wire::{Guid, MailboxState, Priority};
use serde_json::Value;

fn user(store: &Store, name: &str, ext: &str) -> User {
    store
        .create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: "password-123".into(),
            admin: false,
        })
        .expect("user")
}

/// A 20 ms CELT packet (valid TOC, code 0).
fn opus() -> Vec<u8> {
    vec![0xf8, 0xff, 0xfe]
}

async fn connect(clients: &actix::Addr<ClientActor>, u: &User) -> (u64, OutboxReceiver) {
    let (out, rx) = client::outbox();
    let id = clients
        .send(Connect {
            user: u.clone(),
            client: "test".into(),
            priority: Priority::Normal,
            outbox: out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    (id, rx)
}

/// The next text frame with this action (others skipped), as JSON.
async fn next_action(rx: &mut OutboxReceiver, action: &str) -> Value {
    loop {
        let out = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a frame in time")
            .expect("open");
        if let Outbound::Frame(f) = out {
            let v: Value = serde_json::from_str(&f).expect("json");
            if v["action"] == action {
                return v;
            }
        }
    }
}

/// Every portion frame and the `talk_end` that follows them.
async fn portions_until_end(rx: &mut OutboxReceiver) -> (Vec<Portion>, Value) {
    let mut got = Vec::new();
    loop {
        let out = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a frame in time")
            .expect("open");
        match out {
            Outbound::Portion(p) => got.push(Portion::decode(&p).expect("portion")),
            Outbound::Frame(f) => {
                let v: Value = serde_json::from_str(&f).expect("json");
                if v["action"] == "talk_end" {
                    return (got, v);
                }
            }
            Outbound::Close { .. } => panic!("closed"),
        }
    }
}

async fn inbox_state(db: &Db, user: Guid, message: Guid) -> Option<MailboxState> {
    let page = db
        .call(InboxPage {
            user,
            before: None,
            limit: 50,
        })
        .await
        .expect("inbox");
    page.items
        .into_iter()
        .find(|m| m.id == message)
        .and_then(|m| m.state)
}

fn portion(stream: u32, seq: u32, last: bool) -> Portion {
    Portion {
        stream,
        seq,
        last,
        opus: opus(),
    }
}

#[actix::test]
async fn a_talk_is_heard_live_and_stored_for_everyone() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob, carol, dan) = (
        user(&store, "ann", "201"),
        user(&store, "bob", "202"),
        user(&store, "carol", "203"),
        user(&store, "dan", "204"),
    );
    let db = Db::start(store.clone(), 2);
    let clients = ClientActor::new(db.clone(), ClientConfig::default()).start();
    let (ann_s, mut ann_rx) = connect(&clients, &ann).await;
    let (_bob_s, mut bob_rx) = connect(&clients, &bob).await;
    let (dan_s, _dan_rx) = connect(&clients, &dan).await;

    let accepted = clients
        .send(TalkStart {
            session: ann_s,
            recipients: vec![bob.guid, carol.guid],
            frame_ms: 20,
            urgent: false,
        })
        .await
        .expect("mailbox")
        .expect("accepted");
    assert_eq!(accepted.live, vec![bob.guid]);
    assert_eq!(accepted.stored, vec![carol.guid]);
    let stream = accepted.stream;
    let inc = next_action(&mut bob_rx, "talk_incoming").await;
    assert_eq!(inc["object"]["stream"], stream);
    assert_eq!(inc["object"]["from"], ann.guid.to_string());

    // A second talk by ann is refused while the first is live.
    let again = clients
        .send(TalkStart {
            session: ann_s,
            recipients: vec![bob.guid],
            frame_ms: 20,
            urgent: false,
        })
        .await
        .expect("mailbox");
    assert!(
        matches!(
            again,
            Err(TalkRequestError::Talk(TalkError::AlreadyTalking(_)))
        ),
        "{again:?}"
    );

    for seq in 0..10 {
        clients
            .send(TalkPortion {
                session: ann_s,
                portion: portion(stream, seq, false),
            })
            .await
            .expect("mailbox")
            .expect("portion accepted");
    }
    // Dan's portion on ann's stream is refused and forwarded to no one.
    let stranger = clients
        .send(TalkPortion {
            session: dan_s,
            portion: portion(stream, 10, false),
        })
        .await
        .expect("mailbox");
    assert!(
        matches!(
            stranger,
            Err(TalkRequestError::Talk(TalkError::NotOwner { .. }))
        ),
        "{stranger:?}"
    );
    clients
        .send(TalkEnd {
            session: ann_s,
            stream,
        })
        .await
        .expect("mailbox")
        .expect("ended");

    let (heard, end) = portions_until_end(&mut bob_rx).await;
    assert_eq!(
        heard.iter().map(|p| p.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(heard.iter().all(|p| p.stream == stream && p.opus == opus()));
    assert_eq!(end["object"]["reason"], "finished");
    assert_eq!(end["object"]["partial"], false);
    // 10 x 20 ms, less the 312-sample (6.5 ms) pre-skip.
    assert_eq!(end["object"]["duration_ms"], 193);
    let message: Guid = end["object"]["message"]
        .as_str()
        .expect("message")
        .parse()
        .expect("guid");
    // Ann gets bob's "played" receipt, then her talk_end.
    let receipt = next_action(&mut ann_rx, "receipt").await;
    assert_eq!(receipt["object"]["recipient"], bob.guid.to_string());
    assert_eq!(receipt["object"]["state"], "played");
    let ann_end = next_action(&mut ann_rx, "talk_end").await;
    assert_eq!(ann_end["object"]["message"], message.to_string());

    // After the end: refused, nothing stored twice.
    let late = clients
        .send(TalkPortion {
            session: ann_s,
            portion: portion(stream, 11, false),
        })
        .await
        .expect("mailbox");
    assert!(
        matches!(late, Err(TalkRequestError::Talk(TalkError::Ended(_)))),
        "{late:?}"
    );

    // Carol has it new; bob, who heard it live, has it played (marked after the commit).
    assert_eq!(
        inbox_state(&db, carol.guid, message).await,
        Some(MailboxState::Queued)
    );
    let page = db
        .call(InboxPage {
            user: carol.guid,
            before: None,
            limit: 50,
        })
        .await
        .expect("inbox");
    assert!(
        page.items.iter().all(|m| !m.partial),
        "a finished talk is whole"
    );
    // Marked before talk_end went out.
    assert_eq!(
        inbox_state(&db, bob.guid, message).await,
        Some(MailboxState::Played)
    );
}

#[actix::test]
async fn the_speaker_going_away_ends_the_talk_as_partial_and_keeps_what_arrived() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = Db::start(store.clone(), 2);
    let clients = ClientActor::new(db.clone(), ClientConfig::default()).start();
    let (ann_s, _ann_rx) = connect(&clients, &ann).await;
    let (_bob_s, mut bob_rx) = connect(&clients, &bob).await;
    let stream = clients
        .send(TalkStart {
            session: ann_s,
            recipients: vec![bob.guid],
            frame_ms: 20,
            urgent: false,
        })
        .await
        .expect("mailbox")
        .expect("accepted")
        .stream;
    for seq in 0..3 {
        clients
            .send(TalkPortion {
                session: ann_s,
                portion: portion(stream, seq, false),
            })
            .await
            .expect("mailbox")
            .expect("portion");
    }
    clients.send(Disconnect(ann_s)).await.expect("mailbox");
    let (heard, end) = portions_until_end(&mut bob_rx).await;
    assert_eq!(heard.len(), 3);
    assert_eq!(end["object"]["reason"], "speaker_gone");
    assert_eq!(end["object"]["partial"], true);
    let message: Guid = end["object"]["message"]
        .as_str()
        .expect("message")
        .parse()
        .expect("guid");
    // The stored message says it is partial (what arrived, 3 x 20 ms less the pre-skip).
    let page = db
        .call(InboxPage {
            user: bob.guid,
            before: None,
            limit: 50,
        })
        .await
        .expect("inbox");
    let m = page.items.iter().find(|m| m.id == message).expect("stored");
    assert!(m.partial, "{m:?}");
    assert_eq!(m.duration_ms, 53);
}

#[actix::test]
async fn a_listener_that_never_reads_loses_portions_not_control_and_slows_no_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob, carol) = (
        user(&store, "ann", "201"),
        user(&store, "bob", "202"),
        user(&store, "carol", "203"),
    );
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();
    let (ann_s, _ann_rx) = connect(&clients, &ann).await;
    let (_bob_s, mut bob_rx) = connect(&clients, &bob).await;
    // Carol's session never reads until the end.
    let (carol_out, mut carol_rx) = client::outbox();
    let carol_lane = carol_out.clone();
    clients
        .send(Connect {
            user: carol.clone(),
            client: "test".into(),
            priority: Priority::Normal,
            outbox: carol_out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    let stream = clients
        .send(TalkStart {
            session: ann_s,
            recipients: vec![bob.guid, carol.guid],
            frame_ms: 20,
            urgent: false,
        })
        .await
        .expect("mailbox")
        .expect("accepted")
        .stream;
    // 45 portions (0.9 s of audio, within the 1 s pace allowance) twice over two seconds:
    // more than carol's lane holds.
    let mut sent = 0u32;
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        for _ in 0..45 {
            clients
                .send(TalkPortion {
                    session: ann_s,
                    portion: portion(stream, sent, false),
                })
                .await
                .expect("mailbox")
                .expect("portion");
            sent += 1;
        }
        // Bob reads as it comes.
        let mut n = 0;
        while n < 45 {
            let out = tokio::time::timeout(Duration::from_secs(5), bob_rx.recv())
                .await
                .expect("in time")
                .expect("open");
            if let Outbound::Portion(_) = out {
                n += 1;
            }
        }
    }
    clients
        .send(TalkEnd {
            session: ann_s,
            stream,
        })
        .await
        .expect("mailbox")
        .expect("ended");
    let (bob_heard, _) = portions_until_end(&mut bob_rx).await;
    assert!(bob_heard.is_empty(), "bob read them all already");
    let (carol_heard, end) = portions_until_end(&mut carol_rx).await;
    assert_eq!(
        carol_heard.len(),
        client::PORTION_FRAMES,
        "carol's lane held what it could"
    );
    assert_eq!(
        end["object"]["reason"], "finished",
        "control still reached carol"
    );
    // 90 sent, 50 held, the rest dropped and counted.
    assert_eq!(
        carol_lane.portions_dropped(),
        90 - client::PORTION_FRAMES as u64
    );
}
