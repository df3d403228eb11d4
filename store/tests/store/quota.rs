//! Per-sender storage use, the quota, idempotency keys and the disk reserve.

use ivm_store::{
    CommitRules, Committed, IdempotencyKey, KeyUse, Store, StoreError, StoredAttachment,
    StoredMessage, User,
};
use ivm_wire::Guid;

use crate::{add_user, open};

/// An uncommitted message from `from` to `to` with `audio` and one attachment of `att` bytes.
fn draft(store: &Store, from: &User, to: &User, audio: usize, att: usize) -> StoredMessage {
    StoredMessage {
        id: Guid::new_v4(),
        sender: from.guid,
        recipients: vec![to.guid],
        created_at: 1,
        duration_ms: 1000,
        peaks: vec![1, 2, 3],
        audio: store.put_blob(&vec![1u8; audio]).unwrap(),
        attachments: vec![StoredAttachment {
            name: "a.bin".into(),
            content_type: "application/octet-stream".into(),
            blob: store.put_blob(&vec![2u8; att]).unwrap(),
        }],
        idempotency_key: None,
        partial: false,
        urgent: false,
    }
}

#[test]
fn use_follows_what_still_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let m1 = draft(&store, &a, &b, 1000, 500);
    assert_eq!(m1.stored_bytes(), 1500);
    store.commit_message(&m1).unwrap();
    let m2 = draft(&store, &a, &b, 300, 0);
    store.commit_message(&m2).unwrap();
    assert_eq!(store.usage(a.guid).unwrap(), 1800);
    assert_eq!(store.usage(b.guid).unwrap(), 0, "receiving costs nothing");
    // Alice hides m1; Bob still has it: it still counts.
    store.delete_for(m1.id, a.guid).unwrap();
    assert_eq!(store.usage(a.guid).unwrap(), 1800);
    // Bob deletes it too: it is gone, and so is its share.
    store.delete_for(m1.id, b.guid).unwrap();
    assert_eq!(store.usage(a.guid).unwrap(), 300);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.usage(a.guid).unwrap(), 300, "kept across a reopen");
}

#[test]
fn the_quota_is_checked_in_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let rules = CommitRules {
        quota: Some(2000),
        key: None,
        talk: None,
    };
    let m1 = draft(&store, &a, &b, 1000, 500);
    assert_eq!(
        store.commit_message_with(&m1, &rules).unwrap(),
        Committed::New
    );
    let m2 = draft(&store, &a, &b, 400, 200);
    match store.commit_message_with(&m2, &rules) {
        Err(StoreError::QuotaExceeded {
            used,
            adding,
            quota,
        }) => assert_eq!((used, adding, quota), (1500, 600, 2000)),
        other => panic!("{other:?}"),
    }
    assert!(store.message(m2.id).unwrap().is_none(), "nothing stored");
    assert_eq!(store.usage(a.guid).unwrap(), 1500);
    // Bob's quota is his own.
    let m3 = draft(&store, &b, &a, 1900, 0);
    assert_eq!(
        store.commit_message_with(&m3, &rules).unwrap(),
        Committed::New
    );
}

#[test]
fn an_idempotency_key_finds_the_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (
        add_user(&store, "alice", "101"),
        add_user(&store, "bob", "102"),
    );
    let key = |body: &[u8]| IdempotencyKey::new("draft-7", [body]).unwrap();
    let rules = CommitRules {
        quota: None,
        key: Some(key(b"the request")),
        talk: None,
    };
    assert!(store
        .message_for_key(a.guid, &key(b"the request"))
        .unwrap()
        .is_none());
    let first = draft(&store, &a, &b, 100, 10);
    assert_eq!(
        store.commit_message_with(&first, &rules).unwrap(),
        Committed::New
    );
    // The same request again (the answer was lost): the stored message, nothing new.
    let retry = draft(&store, &a, &b, 100, 10);
    match store.commit_message_with(&retry, &rules).unwrap() {
        Committed::Existing(m) => assert_eq!(m.id, first.id),
        other => panic!("{other:?}"),
    }
    assert!(store.message(retry.id).unwrap().is_none());
    assert_eq!(store.sent(a.guid).unwrap().len(), 1);
    match store.message_for_key(a.guid, &key(b"the request")).unwrap() {
        Some(KeyUse::Same(m)) => assert_eq!(m.id, first.id),
        other => panic!("{other:?}"),
    }
    // The same key with another request: refused, naming the first.
    let other = draft(&store, &a, &b, 100, 10);
    let reused = CommitRules {
        quota: None,
        key: Some(key(b"another request")),
        talk: None,
    };
    assert!(matches!(
        store.commit_message_with(&other, &reused),
        Err(StoreError::KeyReused(id)) if id == first.id
    ));
    // Keys are per sender: Bob may use the same text.
    let bobs = draft(&store, &b, &a, 100, 10);
    assert_eq!(
        store.commit_message_with(&bobs, &rules).unwrap(),
        Committed::New
    );
    // Once the message is gone, so is its key.
    store.delete_for(first.id, a.guid).unwrap();
    store.delete_for(first.id, b.guid).unwrap();
    assert!(store
        .message_for_key(a.guid, &key(b"the request"))
        .unwrap()
        .is_none());
    let again = draft(&store, &a, &b, 100, 10);
    assert_eq!(
        store.commit_message_with(&again, &rules).unwrap(),
        Committed::New
    );
}

#[test]
fn more_than_the_disk_holds_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ensure_free_space(1).unwrap();
    let err = store.ensure_free_space(u64::MAX / 2).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull));
    assert!(err.is_disk_full());
    let enospc = StoreError::Io(std::io::Error::from_raw_os_error(28));
    assert!(enospc.is_disk_full(), "ENOSPC from a blob write");
    assert!(!StoreError::NotFound.is_disk_full());
}
