//! All-call in the client actor against a real store: the permission (admins by default,
//! others when granted), the group's expansion (members minus the speaker; an online but
//! busy member gets the stored copy, not the live talk), `talk_incoming` marked urgent, and
//! the stored copy marked urgent in every inbox.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use ivm_actors::client::{
    self, AllCallError, AllCallStart, ClientActor, ClientConfig, Connect, Outbound, OutboxReceiver,
    SetStatus, TalkEnd, TalkPortion,
};
use ivm_actors::database::groups::AllCallRefused;
use ivm_actors::database::messages::InboxPage;
use ivm_actors::database::Db;
use ivm_store::{NewUser, Store, User, UserUpdate, EVERYONE};
use ivm_wire::talk::Portion;
use ivm_wire::{Guid, Priority, Status};
use serde_json::Value;

fn user(store: &Store, name: &str, ext: &str, admin: bool) -> User {
    store
        .create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: "password-123".into(),
            admin,
        })
        .expect("user")
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

/// Whether a `talk_incoming` arrives in `rx` before it is quiet for 300 ms (at most 50 frames).
async fn has_incoming(rx: &mut OutboxReceiver) -> bool {
    for _ in 0..50 {
        match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            Ok(Some(Outbound::Frame(f))) if f.contains("\"talk_incoming\"") => return true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
    false
}

async fn all_call(
    clients: &actix::Addr<ClientActor>,
    session: u64,
    group: &str,
) -> Result<ivm_wire::talk::TalkAcceptedObject, AllCallError> {
    clients
        .send(AllCallStart {
            session,
            group: group.into(),
            frame_ms: 20,
        })
        .await
        .expect("mailbox")
}

#[actix::test]
async fn an_all_call_needs_the_permission_reaches_the_group_and_is_stored_urgent() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let boss = user(&store, "boss", "200", true);
    let ann = user(&store, "ann", "201", false);
    let bob = user(&store, "bob", "202", false);
    let carol = user(&store, "carol", "203", false);
    let dave = user(&store, "dave", "204", false);
    let erin = user(&store, "erin", "205", false);
    store
        .create_group("floor", vec![ann.guid, bob.guid, carol.guid, dave.guid])
        .expect("group");
    let db = Db::start(store.clone(), 2);
    let clients = ClientActor::new(db.clone(), ClientConfig::default()).start();
    let (ann_s, mut ann_rx) = connect(&clients, &ann).await;
    let (_bob_s, mut bob_rx) = connect(&clients, &bob).await;
    let (_dave_s, mut dave_rx) = connect(&clients, &dave).await;
    let (_erin_s, mut erin_rx) = connect(&clients, &erin).await;
    let (boss_s, _boss_rx) = connect(&clients, &boss).await;
    // Dave is online but on do-not-disturb: not idle, so he gets the stored copy.
    clients
        .send(SetStatus {
            user: dave.guid,
            status: Status::Busy,
        })
        .await
        .expect("mailbox")
        .expect("status");

    // Ann is no admin and was not granted it: refused, nothing started.
    let refused = all_call(&clients, ann_s, "floor").await;
    assert!(
        matches!(
            refused,
            Err(AllCallError::Refused(AllCallRefused::NotAllowed))
        ),
        "{refused:?}"
    );
    assert!(
        !has_incoming(&mut bob_rx).await,
        "a refused all-call reaches nobody"
    );
    // The admin may by default; an unknown group is refused by name.
    let unknown = all_call(&clients, boss_s, "nobody").await;
    assert!(
        matches!(
            unknown,
            Err(AllCallError::Refused(AllCallRefused::UnknownGroup(ref g))) if g == "nobody"
        ),
        "{unknown:?}"
    );

    store
        .update_user(
            ann.guid,
            UserUpdate {
                may_all_call: Some(true),
                ..Default::default()
            },
        )
        .expect("grant");
    let accepted = all_call(&clients, ann_s, "floor").await.expect("accepted");
    // The group less the speaker: bob live; carol (offline) and dave (busy) stored.
    assert_eq!(accepted.live, vec![bob.guid]);
    let mut stored = accepted.stored.clone();
    stored.sort();
    let mut want = vec![carol.guid, dave.guid];
    want.sort();
    assert_eq!(stored, want);
    let inc = next_action(&mut bob_rx, "talk_incoming").await;
    assert_eq!(inc["object"]["urgent"], true);
    assert_eq!(inc["object"]["from"], ann.guid.to_string());
    assert!(
        !has_incoming(&mut dave_rx).await,
        "busy dave is not called live"
    );
    assert!(
        !has_incoming(&mut erin_rx).await,
        "erin is not in the group"
    );

    let stream = accepted.stream;
    for seq in 0..5 {
        clients
            .send(TalkPortion {
                session: ann_s,
                portion: Portion {
                    stream,
                    seq,
                    last: false,
                    opus: vec![0xf8, 0xff, 0xfe],
                },
            })
            .await
            .expect("mailbox")
            .expect("portion");
    }
    clients
        .send(TalkEnd {
            session: ann_s,
            stream,
        })
        .await
        .expect("mailbox")
        .expect("end");
    let end = next_action(&mut ann_rx, "talk_end").await;
    let message: Guid = end["object"]["message"]
        .as_str()
        .expect("stored")
        .parse()
        .expect("guid");
    for u in [&bob, &carol, &dave] {
        let page = db
            .call(InboxPage {
                user: u.guid,
                before: None,
                limit: 50,
            })
            .await
            .expect("inbox");
        let m = page
            .items
            .iter()
            .find(|m| m.id == message)
            .unwrap_or_else(|| panic!("{} has the all-call", u.name));
        assert!(m.urgent, "{}'s copy is marked urgent", u.name);
    }
    let erin_inbox = db
        .call(InboxPage {
            user: erin.guid,
            before: None,
            limit: 50,
        })
        .await
        .expect("inbox");
    assert!(erin_inbox.items.is_empty(), "erin is not in the group");
}

#[actix::test]
async fn everyone_is_every_user_but_the_speaker_and_a_plain_talk_is_not_urgent() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let boss = user(&store, "boss", "200", true);
    let bob = user(&store, "bob", "202", false);
    let carol = user(&store, "carol", "203", false);
    let db = Db::start(store.clone(), 2);
    let clients = ClientActor::new(db.clone(), ClientConfig::default()).start();
    let (boss_s, _boss_rx) = connect(&clients, &boss).await;
    let (_bob_s, mut bob_rx) = connect(&clients, &bob).await;

    let accepted = all_call(&clients, boss_s, EVERYONE)
        .await
        .expect("accepted");
    assert_eq!(accepted.live, vec![bob.guid]);
    assert_eq!(accepted.stored, vec![carol.guid]);
    let inc = next_action(&mut bob_rx, "talk_incoming").await;
    assert_eq!(inc["object"]["urgent"], true);
    clients
        .send(TalkEnd {
            session: boss_s,
            stream: accepted.stream,
        })
        .await
        .expect("mailbox")
        .expect("end");
    next_action(&mut bob_rx, "talk_end").await;

    // A plain talk's talk_incoming carries no urgent mark.
    let plain = clients
        .send(client::TalkStart {
            session: boss_s,
            recipients: vec![bob.guid],
            frame_ms: 20,
            urgent: false,
        })
        .await
        .expect("mailbox")
        .expect("plain");
    let inc = next_action(&mut bob_rx, "talk_incoming").await;
    assert_eq!(inc["object"]["stream"], plain.stream);
    assert!(inc["object"].get("urgent").is_none(), "{inc}");

    // A group of the speaker alone reaches nobody: refused.
    store.create_group("solo", vec![boss.guid]).expect("group");
    let solo = all_call(&clients, boss_s, "solo").await;
    assert!(
        matches!(solo, Err(AllCallError::Refused(AllCallRefused::Empty(_)))),
        "{solo:?}"
    );
}
