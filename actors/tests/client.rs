//! The client actor against a real store in a temporary folder: delivery to online sessions,
//! store-and-forward at check-in, receipts to the sender, presence to watchers, shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext as _};
use ivm_actors::client::{
    self, AddMailboxListener, CheckIn, ClientActor, ClientConfig, Connect, GetPresence, GetStats,
    GoingDown, MailboxChanged, Outbound, PhonePresence, PostMessage, PostPrepared, PreparedAudio,
    PresenceSource, Receipt, Subscribe,
};
use ivm_actors::database::{DatabaseActor, Db};
use ivm_store::{NewUser, Store, User};
use ivm_wire::object::{decode_server, ServerEvent, DEFAULT_MAX_FRAME};
use ivm_wire::{Guid, MailboxState, Priority, Status};

fn speech_wav() -> Vec<u8> {
    // 1.5 s of a voiced, amplitude-modulated tone: enough "speech" for the pipeline.
    let rate = 16_000;
    let samples: Vec<i16> = (0..rate * 3 / 2)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin();
            let v = (2.0 * std::f32::consts::PI * 180.0 * t).sin()
                + 0.5 * (2.0 * std::f32::consts::PI * 360.0 * t).sin();
            (v * env * 8000.0) as i16
        })
        .collect();
    ivm_media::encode_wav_mono(&samples, rate as u32).expect("wav")
}

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

async fn next_event(rx: &mut client::OutboxReceiver) -> ServerEvent {
    loop {
        let out = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a frame in time")
            .expect("open");
        if let Outbound::Frame(f) = out {
            let ev = decode_server(&f, DEFAULT_MAX_FRAME).expect("valid frame");
            if !matches!(ev, ServerEvent::Ping { .. }) {
                return ev;
            }
        }
    }
}

#[actix::test]
async fn delivers_online_forwards_offline_and_reports_receipts() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob, carol) = (
        user(&store, "ann", "201"),
        user(&store, "bob", "202"),
        user(&store, "carol", "203"),
    );
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();

    let (ann_out, mut ann_rx) = client::outbox();
    let ann_session = clients
        .send(Connect {
            user: ann.clone(),
            client: "test".into(),
            priority: Priority::Normal,
            outbox: ann_out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    // Ann follows bob: she sees him offline, then online when he connects.
    clients
        .send(Subscribe {
            session: ann_session,
            targets: vec![bob.guid],
        })
        .await
        .expect("mailbox")
        .expect("subscribe");
    assert_eq!(
        next_event(&mut ann_rx).await,
        ServerEvent::Presence {
            user: bob.guid,
            status: Status::Offline
        }
    );
    let (bob_out, mut bob_rx) = client::outbox();
    clients
        .send(Connect {
            user: bob.clone(),
            client: "test".into(),
            priority: Priority::High,
            outbox: bob_out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    assert_eq!(
        next_event(&mut ann_rx).await,
        ServerEvent::Presence {
            user: bob.guid,
            status: Status::Available
        }
    );

    // Ann → bob and carol: bob (online) gets a push; carol (offline) has it queued.
    let info = clients
        .send(PostMessage {
            sender: ann.guid,
            to: vec!["bob".into(), "203".into()],
            audio: speech_wav(),
            attachments: vec![],
        })
        .await
        .expect("mailbox")
        .expect("posted");
    assert_eq!(info.recipients.len(), 2);
    assert!(info.duration_ms > 1000, "{}", info.duration_ms);
    match next_event(&mut bob_rx).await {
        ServerEvent::Message(m) => {
            assert_eq!(m.id, info.id);
            assert_eq!(m.state, Some(MailboxState::Queued));
        }
        other => panic!("bob got {other:?}"),
    }
    // Bob confirms; ann gets the receipt.
    clients
        .send(Receipt {
            user: bob.guid,
            message: info.id,
            state: MailboxState::Delivered,
        })
        .await
        .expect("mailbox")
        .expect("receipt");
    match next_event(&mut ann_rx).await {
        ServerEvent::Receipt(r) => {
            assert_eq!((r.recipient, r.state), (bob.guid, MailboxState::Delivered))
        }
        other => panic!("ann got {other:?}"),
    }
    // A receipt from someone who is not a recipient is refused.
    let refused = clients
        .send(Receipt {
            user: ann.guid,
            message: info.id,
            state: MailboxState::Played,
        })
        .await
        .expect("mailbox");
    assert!(refused.is_err());

    // Carol connects later and checks in: the message is there.
    let (carol_out, _carol_rx) = client::outbox();
    let carol_session = clients
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
    let queued = clients
        .send(CheckIn(carol_session))
        .await
        .expect("mailbox")
        .expect("check in");
    assert_eq!(
        queued.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![info.id]
    );

    // Unknown recipients and silence are refused, and store nothing.
    let before = store.sent(ann.guid).expect("sent").len();
    let e = clients
        .send(PostMessage {
            sender: ann.guid,
            to: vec!["nobody".into()],
            audio: speech_wav(),
            attachments: vec![],
        })
        .await
        .expect("mailbox");
    assert!(
        matches!(e, Err(client::PostError::UnknownUser(ref n)) if n == "nobody"),
        "{e:?}"
    );
    let silence = ivm_media::encode_wav_mono(&vec![0i16; 16_000], 16_000).expect("wav");
    let e = clients
        .send(PostMessage {
            sender: ann.guid,
            to: vec!["bob".into()],
            audio: silence,
            attachments: vec![],
        })
        .await
        .expect("mailbox");
    assert!(matches!(e, Err(client::PostError::BadAudio(_))), "{e:?}");
    assert_eq!(store.sent(ann.guid).expect("sent").len(), before);

    // Shutdown: every session is told, then closed.
    clients
        .send(GoingDown {
            reason: "test".into(),
        })
        .await
        .expect("mailbox");
    assert!(matches!(
        next_event(&mut ann_rx).await,
        ServerEvent::ServerGoingDown(_)
    ));
    let refused = clients
        .send(Connect {
            user: ann,
            client: "late".into(),
            priority: Priority::Normal,
            outbox: client::outbox().0,
            token: None,
        })
        .await
        .expect("mailbox");
    assert!(refused.is_err(), "no new sessions while going down");
}

fn post(from: &User, to: &str, audio: Vec<u8>, attachment: usize) -> PostMessage {
    PostMessage {
        sender: from.guid,
        to: vec![to.into()],
        audio,
        attachments: if attachment > 0 {
            vec![client::NewAttachment {
                name: "a.bin".into(),
                content_type: String::new(),
                data: vec![7u8; attachment],
            }]
        } else {
            vec![]
        },
    }
}

#[actix::test]
async fn a_retry_with_its_key_gets_the_stored_message_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, _bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();
    let once = |key: &str, attachment: usize| client::PostOnce {
        post: post(&ann, "bob", speech_wav(), attachment),
        key: key.into(),
    };
    let first = clients
        .send(once("k-1", 10))
        .await
        .expect("mailbox")
        .expect("stored");
    assert!(!first.replayed);
    let again = clients
        .send(once("k-1", 10))
        .await
        .expect("mailbox")
        .expect("answered");
    assert!(again.replayed);
    assert_eq!(again.info.id, first.info.id);
    assert_eq!(store.sent(ann.guid).expect("sent").len(), 1, "no duplicate");
    // The same key for another message is refused; a bad key too.
    let e = clients.send(once("k-1", 11)).await.expect("mailbox");
    assert!(
        matches!(e, Err(client::PostError::KeyReused(id)) if id == first.info.id),
        "{e:?}"
    );
    let e = clients
        .send(once("has a space", 10))
        .await
        .expect("mailbox");
    assert!(matches!(e, Err(client::PostError::BadKey(_))), "{e:?}");
    assert_eq!(store.sent(ann.guid).expect("sent").len(), 1);
}

#[actix::test]
async fn quota_and_rate_refuse_before_storing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, _bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = DatabaseActor::start(store.clone(), 2);
    let cfg = ClientConfig {
        user_quota_bytes: 100_000,
        messages_per_minute: 3,
        ..ClientConfig::default()
    };
    let clients = ClientActor::new(db, cfg).start();
    // Attachments alone over the quota: refused, and the refusal names them alone.
    let e = clients
        .send(post(&ann, "bob", speech_wav(), 150_000))
        .await
        .expect("mailbox");
    match e {
        Err(client::PostError::QuotaExceeded {
            used,
            adding,
            quota,
        }) => {
            assert_eq!((used, adding, quota), (0, 150_000, 100_000))
        }
        other => panic!("{other:?}"),
    }
    // Fits: stored, and counted.
    clients
        .send(post(&ann, "bob", speech_wav(), 60_000))
        .await
        .expect("mailbox")
        .expect("stored");
    let used = store.usage(ann.guid).expect("usage");
    assert!(used > 60_000, "{used}");
    // The next one passes the attachment check but not the exact one in the commit.
    let e = clients
        .send(post(&ann, "bob", speech_wav(), 100_000 - used as usize))
        .await
        .expect("mailbox");
    assert!(
        matches!(e, Err(client::PostError::QuotaExceeded { .. })),
        "{e:?}"
    );
    assert_eq!(store.sent(ann.guid).expect("sent").len(), 1);
    assert_eq!(store.usage(ann.guid).expect("usage"), used);
    // Three posts were taken this minute (refused ones too: they cost audio work); the fourth
    // is refused by the rate, with the wait.
    let e = clients
        .send(post(&ann, "bob", speech_wav(), 0))
        .await
        .expect("mailbox");
    match e {
        Err(client::PostError::RateLimited {
            per_minute,
            retry_after,
        }) => {
            assert_eq!(per_minute, 3);
            assert!(retry_after <= Duration::from_secs(60));
        }
        other => panic!("{other:?}"),
    }
}

#[actix::test]
async fn a_post_is_one_database_trip_and_a_prepared_one_is_stored_as_given() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = Db::start(store.clone(), 2);
    let clients = ClientActor::new(db.clone(), ClientConfig::default()).start();

    // An upload: recipients, quota, disk, files, commit and both views in one trip.
    let before = db.trips();
    clients
        .send(post(&ann, "bob", speech_wav(), 10))
        .await
        .expect("mailbox")
        .expect("posted");
    assert_eq!(db.trips() - before, 1, "an upload is one database trip");

    // A recording prepared by its caller (the station's recorder) is stored as it is: the
    // same Ogg bytes, and the caller's waveform, which a second decode would have replaced.
    let prepared = ivm_media::prepare_upload(&speech_wav(), 600).expect("prepared");
    let peaks = vec![7u8; ivm_media::PEAKS];
    assert_ne!(prepared.peaks, peaks);
    let before = db.trips();
    let info = clients
        .send(PostPrepared {
            sender: ann.guid,
            to: vec!["202".into()],
            audio: PreparedAudio {
                ogg: prepared.ogg.clone(),
                duration_ms: prepared.duration_ms,
                peaks: peaks.clone(),
            },
        })
        .await
        .expect("mailbox")
        .expect("posted");
    assert_eq!(
        db.trips() - before,
        1,
        "a prepared post is one database trip"
    );
    assert_eq!(info.recipients[0].guid, bob.guid);
    assert_eq!(
        (info.duration_ms, &info.peaks),
        (prepared.duration_ms, &peaks)
    );
    let stored = store.message(info.id).expect("read").expect("stored");
    assert_eq!(stored.peaks, peaks);
    assert_eq!(store.read_blob(&stored.audio).expect("audio"), prepared.ogg);

    // A keyed post looks its key up first (a retry is answered before anything else).
    let before = db.trips();
    clients
        .send(client::PostOnce {
            post: post(&ann, "bob", speech_wav(), 0),
            key: "k-trips".into(),
        })
        .await
        .expect("mailbox")
        .expect("posted");
    assert_eq!(db.trips() - before, 2, "key lookup, then the post");

    // Prepared audio is still checked: empty, or longer than the box takes, is refused.
    let sent = store.sent(ann.guid).expect("sent").len();
    for (ogg, duration_ms) in [(Vec::new(), 1000), (prepared.ogg.clone(), 601_000)] {
        let e = clients
            .send(PostPrepared {
                sender: ann.guid,
                to: vec!["bob".into()],
                audio: PreparedAudio {
                    ogg,
                    duration_ms,
                    peaks: peaks.clone(),
                },
            })
            .await
            .expect("mailbox");
        assert!(matches!(e, Err(client::PostError::BadAudio(_))), "{e:?}");
    }
    assert_eq!(
        store.sent(ann.guid).expect("sent").len(),
        sent,
        "nothing stored"
    );
}

/// Counts the mailbox changes it is told about; stops when asked.
struct Listener(tokio::sync::mpsc::UnboundedSender<Guid>);

impl Actor for Listener {
    type Context = actix::Context<Self>;
}

impl actix::Handler<MailboxChanged> for Listener {
    type Result = ();
    fn handle(&mut self, m: MailboxChanged, _: &mut actix::Context<Self>) {
        let _ = self.0.send(m.user);
    }
}

#[derive(actix::Message)]
#[rtype(result = "()")]
struct StopListening;

impl actix::Handler<StopListening> for Listener {
    type Result = ();
    fn handle(&mut self, _: StopListening, ctx: &mut actix::Context<Self>) {
        ctx.stop();
    }
}

async fn told(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Guid>) -> Guid {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("told in time")
        .expect("open")
}

#[actix::test]
async fn every_mailbox_listener_is_told_and_a_stopped_one_is_dropped() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();
    let (tx1, mut rx1) = tokio::sync::mpsc::unbounded_channel();
    let (tx2, mut rx2) = tokio::sync::mpsc::unbounded_channel();
    let first = Listener(tx1).start();
    let second = Listener(tx2).start();
    for l in [&first, &second] {
        clients.do_send(AddMailboxListener(l.clone().recipient()));
    }
    let stats = clients.send(GetStats).await.expect("mailbox");
    assert_eq!(
        stats.mailbox_listeners, 2,
        "the second did not replace the first"
    );

    // A message to bob: both hear of it.
    clients
        .send(post(&ann, "bob", speech_wav(), 0))
        .await
        .expect("mailbox")
        .expect("posted");
    assert_eq!(told(&mut rx1).await, bob.guid);
    assert_eq!(told(&mut rx2).await, bob.guid);

    // The first stops: the next change reaches the second alone, and the first is dropped.
    first.send(StopListening).await.expect("stopped");
    drop(first);
    clients.do_send(MailboxChanged { user: ann.guid });
    assert_eq!(told(&mut rx2).await, ann.guid);
    let stats = clients.send(GetStats).await.expect("mailbox");
    assert_eq!(stats.mailbox_listeners, 1);
    assert!(rx1.try_recv().is_err());
}

#[actix::test]
async fn presence_is_counted_per_source() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();
    let (ann_out, mut ann_rx) = client::outbox();
    let session = clients
        .send(Connect {
            user: ann.clone(),
            client: "test".into(),
            priority: Priority::Normal,
            outbox: ann_out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    clients
        .send(Subscribe {
            session,
            targets: vec![bob.guid],
        })
        .await
        .expect("mailbox")
        .expect("subscribe");
    let presence = |status| ServerEvent::Presence {
        user: bob.guid,
        status,
    };
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Offline));
    let report = |source, online| PhonePresence {
        user: bob.guid,
        source,
        online,
    };
    let bob_now = || clients.send(GetPresence(vec![bob.guid]));

    // Bob's desk phone registers, then his analog line comes up too.
    clients.do_send(report(PresenceSource::DeskPhone, true));
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Available));
    clients.do_send(report(PresenceSource::AnalogLine, true));
    // The desk phone goes: the analog line keeps bob available (it used to clobber it).
    clients.do_send(report(PresenceSource::DeskPhone, false));
    assert_eq!(bob_now().await.expect("mailbox"), [Status::Available]);
    // A second report from a source that was never online changes nothing...
    clients.do_send(report(PresenceSource::RemoteBox, false));
    assert_eq!(bob_now().await.expect("mailbox"), [Status::Available]);
    // ...and the last source going takes bob off-line, once.
    clients.do_send(report(PresenceSource::AnalogLine, false));
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Offline));
    assert_eq!(bob_now().await.expect("mailbox"), [Status::Offline]);

    // Two devices of one source are counted: one going leaves bob available.
    clients.do_send(report(PresenceSource::RemoteBox, true));
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Available));
    clients.do_send(report(PresenceSource::RemoteBox, true));
    clients.do_send(report(PresenceSource::RemoteBox, false));
    assert_eq!(bob_now().await.expect("mailbox"), [Status::Available]);
    clients.do_send(report(PresenceSource::RemoteBox, false));
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Offline));
}

#[actix::test]
async fn a_user_online_only_by_phone_shows_their_chosen_status() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (ann, bob) = (user(&store, "ann", "201"), user(&store, "bob", "202"));
    // Bob chose busy (do-not-disturb) before the box started.
    store.set_status(bob.guid, Status::Busy).expect("status");
    let db = DatabaseActor::start(store.clone(), 2);
    let clients = ClientActor::new(db, ClientConfig::default()).start();
    let (ann_out, mut ann_rx) = client::outbox();
    let session = clients
        .send(Connect {
            user: ann.clone(),
            client: "test".into(),
            priority: Priority::Normal,
            outbox: ann_out,
            token: None,
        })
        .await
        .expect("mailbox")
        .expect("connect");
    clients
        .send(Subscribe {
            session,
            targets: vec![bob.guid],
        })
        .await
        .expect("mailbox")
        .expect("subscribe");
    let presence = |status| ServerEvent::Presence {
        user: bob.guid,
        status,
    };
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Offline));
    let bob_now = || clients.send(GetPresence(vec![bob.guid]));

    // His desk phone registers: available at once, then busy once the store answers.
    clients.do_send(PhonePresence {
        user: bob.guid,
        source: PresenceSource::DeskPhone,
        online: true,
    });
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Available));
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Busy));
    assert_eq!(bob_now().await.expect("mailbox"), [Status::Busy]);

    // A status set while only his phone is online shows too (`ivm dnd off`, `*25`).
    clients
        .send(client::SetStatus {
            user: bob.guid,
            status: Status::Available,
        })
        .await
        .expect("mailbox")
        .expect("set");
    assert_eq!(next_event(&mut ann_rx).await, presence(Status::Available));
    assert_eq!(
        store.user(bob.guid).expect("read").expect("bob").status,
        Status::Available
    );
}
