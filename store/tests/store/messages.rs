use std::path::{Path, PathBuf};

use ivm_store::{BlobRef, Party, Store, StoreError, StoredAttachment, StoredMessage, User};
use ivm_wire::{Guid, MailboxState};

use crate::{add_user, open};

fn blob_file(dir: &Path, b: &BlobRef) -> PathBuf {
    let hex = b.id.simple().to_string();
    dir.join("blobs").join(&hex[..2]).join(hex)
}

fn msg(store: &Store, from: &User, to: &[&User], at: u64) -> StoredMessage {
    let audio = store
        .put_blob(format!("OggS audio at {at}").as_bytes())
        .unwrap();
    let att = store.put_blob(b"%PDF attachment").unwrap();
    let m = StoredMessage {
        id: Guid::new_v4(),
        sender: from.guid,
        recipients: to.iter().map(|u| u.guid).collect(),
        created_at: at,
        duration_ms: 1500,
        peaks: vec![0, 12, 255, 40],
        audio,
        attachments: vec![StoredAttachment {
            name: "notes.pdf".into(),
            content_type: "application/pdf".into(),
            blob: att,
        }],
        idempotency_key: None,
        partial: false,
        urgent: false,
    };
    store.commit_message(&m).unwrap();
    m
}

fn ids(v: &[StoredMessage]) -> Vec<Guid> {
    v.iter().map(|m| m.id).collect()
}

#[test]
fn commit_and_views() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
    );
    let m1 = msg(&store, &a, &[&b, &c], 1000);
    let m2 = msg(&store, &a, &[&b], 2000);
    let m3 = msg(&store, &c, &[&b], 1500);

    assert_eq!(store.message(m1.id).unwrap().unwrap(), m1);
    assert!(store.message(Guid::new_v4()).unwrap().is_none());
    let inbox = store.inbox(b.guid).unwrap();
    assert_eq!(
        inbox.iter().map(|(m, _)| m.id).collect::<Vec<_>>(),
        [m2.id, m3.id, m1.id]
    );
    assert!(inbox.iter().all(|(_, s)| *s == MailboxState::Queued));
    assert_eq!(ids(&store.sent(a.guid).unwrap()), [m2.id, m1.id]);
    assert_eq!(ids(&store.sent(c.guid).unwrap()), [m3.id]);
    assert!(store.sent(b.guid).unwrap().is_empty());
    assert!(store.inbox(a.guid).unwrap().is_empty());
    assert_eq!(
        ids(&store.queued_for(b.guid).unwrap()),
        [m1.id, m3.id, m2.id]
    );
    assert_eq!(store.queued_count().unwrap(), 4);
    assert_eq!(
        store.recipient_states(m1.id).unwrap(),
        [
            (b.guid, MailboxState::Queued),
            (c.guid, MailboxState::Queued)
        ]
    );
    assert!(matches!(
        store.recipient_states(Guid::new_v4()),
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.mailbox_state(m1.id, c.guid).unwrap(),
        Some(MailboxState::Queued)
    );
    assert_eq!(store.mailbox_state(m1.id, a.guid).unwrap(), None);
    assert_eq!(store.read_blob(&m1.audio).unwrap(), b"OggS audio at 1000");
    assert_eq!(
        store.read_blob(&m1.attachments[0].blob).unwrap(),
        b"%PDF attachment"
    );
}

#[test]
fn bad_messages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let m = msg(&store, &a, &[&b], 1);
    let again = StoredMessage {
        id: m.id,
        ..m.clone()
    };
    assert!(matches!(
        store.commit_message(&again),
        Err(StoreError::Conflict(_))
    ));
    let fresh = |recipients: Vec<Guid>, sender: Guid| StoredMessage {
        id: Guid::new_v4(),
        recipients,
        sender,
        ..m.clone()
    };
    assert!(matches!(
        store.commit_message(&fresh(vec![], a.guid)),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.commit_message(&fresh(vec![b.guid, b.guid], a.guid)),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.commit_message(&fresh(vec![b.guid, Guid::new_v4()], a.guid)),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.commit_message(&fresh(vec![b.guid], Guid::new_v4())),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.inbox(b.guid).unwrap().len(), 1);
    assert_eq!(store.queued_count().unwrap(), 1);
}

#[test]
fn states_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let m = msg(&store, &a, &[&b], 1);
    use MailboxState::*;
    assert!(store.advance(m.id, b.guid, Delivered).unwrap());
    assert!(!store.advance(m.id, b.guid, Delivered).unwrap());
    assert!(!store.advance(m.id, b.guid, Queued).unwrap());
    assert_eq!(store.queued_count().unwrap(), 0);
    assert!(store.queued_for(b.guid).unwrap().is_empty());
    assert!(store.advance(m.id, b.guid, Played).unwrap());
    assert!(!store.advance(m.id, b.guid, Delivered).unwrap());
    assert_eq!(store.mailbox_state(m.id, b.guid).unwrap(), Some(Played));
    assert_eq!(store.inbox(b.guid).unwrap()[0].1, Played);
    assert!(matches!(
        store.advance(m.id, a.guid, Played),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.advance(Guid::new_v4(), b.guid, Played),
        Err(StoreError::NotFound)
    ));
    // Queued straight to played is forward too.
    let m2 = msg(&store, &a, &[&b], 2);
    assert!(store.advance(m2.id, b.guid, Played).unwrap());
    // Advancing to deleted is deleting.
    assert!(store.advance(m2.id, b.guid, Deleted).unwrap());
    assert!(!store.advance(m2.id, b.guid, Played).unwrap());
    assert_eq!(
        ids(&store
            .inbox(b.guid)
            .unwrap()
            .into_iter()
            .map(|x| x.0)
            .collect::<Vec<_>>()),
        [m.id]
    );
    // Undeliverable (the global tier's bounce) only from queued, and final; stored as such.
    assert!(!store.advance(m.id, b.guid, Undeliverable).unwrap());
    let m3 = msg(&store, &a, &[&b], 3);
    assert!(store.advance(m3.id, b.guid, Undeliverable).unwrap());
    assert!(!store.advance(m3.id, b.guid, Delivered).unwrap());
    assert_eq!(
        store.mailbox_state(m3.id, b.guid).unwrap(),
        Some(Undeliverable)
    );
    assert!(store.queued_for(b.guid).unwrap().is_empty());
}

#[test]
fn deleted_by_everyone_removes_record_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c, d) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
        add_user(&store, "dave", "104"),
    );
    let m = msg(&store, &a, &[&b, &c], 1);
    let files = [
        blob_file(dir.path(), &m.audio),
        blob_file(dir.path(), &m.attachments[0].blob),
    ];
    assert!(files.iter().all(|f| f.exists()));

    assert!(!store.delete_for(m.id, d.guid).unwrap());
    assert!(store.delete_for(m.id, b.guid).unwrap());
    assert!(store.delete_for(m.id, b.guid).unwrap());
    assert!(store.inbox(b.guid).unwrap().is_empty());
    assert_eq!(
        store.mailbox_state(m.id, b.guid).unwrap(),
        Some(MailboxState::Deleted)
    );
    assert!(store.delete_for(m.id, a.guid).unwrap());
    assert!(store.sent(a.guid).unwrap().is_empty());
    assert!(store.message(m.id).unwrap().is_some());
    assert_eq!(store.inbox(c.guid).unwrap().len(), 1);
    assert!(files.iter().all(|f| f.exists()));

    assert!(store.delete_for(m.id, c.guid).unwrap());
    assert!(store.message(m.id).unwrap().is_none());
    assert!(files.iter().all(|f| !f.exists()));
    assert!(matches!(
        store.read_blob(&m.audio),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.mailbox_state(m.id, c.guid).unwrap(), None);
    assert!(!store.delete_for(m.id, a.guid).unwrap());
    assert_eq!(store.queued_count().unwrap(), 0);

    // Sending to oneself: both sides must be deleted.
    let selfie = msg(&store, &a, &[&a], 2);
    assert!(store.delete_for(selfie.id, a.guid).unwrap());
    assert!(store.message(selfie.id).unwrap().is_none());
}

#[test]
fn deleting_a_user_deletes_their_side() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let to_b = msg(&store, &a, &[&b], 1);
    let from_b = msg(&store, &b, &[&a], 2);
    store.delete_for(to_b.id, a.guid).unwrap();
    store.delete_user(b.guid).unwrap();
    // a had already deleted `to_b`, so with b gone it is removed entirely.
    assert!(store.message(to_b.id).unwrap().is_none());
    assert!(!blob_file(dir.path(), &to_b.audio).exists());
    // a still has what b sent.
    assert_eq!(store.inbox(a.guid).unwrap()[0].0.id, from_b.id);
    assert!(store.delete_for(from_b.id, a.guid).unwrap());
    assert!(store.message(from_b.id).unwrap().is_none());
    assert_eq!(store.queued_count().unwrap(), 0);
}

#[test]
fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m1, m2) = {
        let store = open(dir.path());
        let (a, b) = (
            add_user(&store, "alice", "101"),
            add_user(&store, "bob", "102"),
        );
        let m1 = msg(&store, &a, &[&b], 10);
        let m2 = msg(&store, &b, &[&a], 20);
        store.advance(m1.id, b.guid, MailboxState::Played).unwrap();
        store.delete_for(m2.id, b.guid).unwrap();
        (a, b, m1, m2)
    };
    let store = open(dir.path());
    assert_eq!(store.message(m1.id).unwrap().unwrap(), m1);
    assert_eq!(
        store.inbox(b.guid).unwrap(),
        [(m1.clone(), MailboxState::Played)]
    );
    assert_eq!(
        store.inbox(a.guid).unwrap(),
        [(m2.clone(), MailboxState::Queued)]
    );
    assert!(store.sent(b.guid).unwrap().is_empty());
    assert_eq!(ids(&store.sent(a.guid).unwrap()), [m1.id]);
    assert_eq!(store.queued_count().unwrap(), 1);
    assert_eq!(store.read_blob(&m2.audio).unwrap(), b"OggS audio at 20");
}

#[test]
fn who_may_see_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b, c) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
        add_user(&store, "carol", "103"),
    );
    let m = msg(&store, &a, &[&b], 1);
    let party = |u: &User| {
        store
            .message_for(m.id, u.guid)
            .unwrap()
            .map(|(x, p)| (x.id, p))
    };
    assert_eq!(party(&a), Some((m.id, Party::Sender)));
    assert_eq!(party(&b), Some((m.id, Party::Recipient)));
    assert_eq!(party(&c), None, "a stranger learns nothing");
    assert_eq!(
        store
            .message_for(Guid::new_v4(), a.guid)
            .unwrap()
            .map(|x| x.1),
        None
    );
    // Deleted from one side: gone for that side only.
    assert!(store.delete_for(m.id, b.guid).unwrap());
    assert_eq!(party(&b), None);
    assert_eq!(party(&a), Some((m.id, Party::Sender)));
    assert!(store.delete_for(m.id, a.guid).unwrap());
    assert_eq!(party(&a), None);
    // To oneself: seen as its recipient while it is in the inbox, then as its sender.
    let selfie = msg(&store, &a, &[&a], 2);
    assert_eq!(
        store.message_for(selfie.id, a.guid).unwrap().map(|x| x.1),
        Some(Party::Recipient)
    );
}
