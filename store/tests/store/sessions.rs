use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ivm_store::StoreError;
use ivm_wire::Guid;

use crate::{add_user, open};

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const NOW: u64 = 1_700_000_000;

#[test]
fn create_look_up_expire_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = add_user(&store, "alice", "101");
    let (token, expires) = store
        .create_session(a.guid, Duration::from_secs(3600), t(NOW))
        .unwrap();
    assert_eq!(expires, NOW + 3600);
    assert_eq!(token.len(), 43);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(store.session_user(&token, t(NOW)).unwrap(), Some(a.guid));
    assert_eq!(
        store.session_user(&token, t(NOW + 3599)).unwrap(),
        Some(a.guid)
    );
    // Expired: None, and the row is gone (an earlier clock does not bring it back).
    assert_eq!(store.session_user(&token, t(NOW + 3600)).unwrap(), None);
    assert_eq!(store.session_user(&token, t(NOW)).unwrap(), None);

    let (t2, _) = store
        .create_session(a.guid, Duration::from_secs(60), t(NOW))
        .unwrap();
    assert_ne!(t2, token);
    store.delete_session(&t2).unwrap();
    store.delete_session(&t2).unwrap();
    assert_eq!(store.session_user(&t2, t(NOW)).unwrap(), None);

    for junk in ["", "not a token", "AAAA", &"A".repeat(43), &"!".repeat(43)] {
        assert_eq!(store.session_user(junk, t(NOW)).unwrap(), None, "{junk:?}");
        store.delete_session(junk).unwrap();
    }
    assert!(matches!(
        store.create_session(Guid::new_v4(), Duration::from_secs(60), t(NOW)),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn password_change_ends_only_that_users_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = add_user(&store, "alice", "101");
    let b = add_user(&store, "bob", "102");
    let ttl = Duration::from_secs(3600);
    let (a1, _) = store.create_session(a.guid, ttl, t(NOW)).unwrap();
    let (a2, _) = store.create_session(a.guid, ttl, t(NOW)).unwrap();
    let (b1, _) = store.create_session(b.guid, ttl, t(NOW)).unwrap();
    store.set_password(a.guid, "another password").unwrap();
    assert_eq!(store.session_user(&a1, t(NOW)).unwrap(), None);
    assert_eq!(store.session_user(&a2, t(NOW)).unwrap(), None);
    assert_eq!(store.session_user(&b1, t(NOW)).unwrap(), Some(b.guid));
}

#[test]
fn purge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, live, old) = {
        let store = open(dir.path());
        let a = add_user(&store, "alice", "101");
        let (live, _) = store
            .create_session(a.guid, Duration::from_secs(7200), t(NOW))
            .unwrap();
        let (old, _) = store
            .create_session(a.guid, Duration::from_secs(60), t(NOW))
            .unwrap();
        (a, live, old)
    };
    let store = open(dir.path());
    assert_eq!(
        store.session_user(&live, t(NOW + 100)).unwrap(),
        Some(a.guid)
    );
    assert_eq!(store.purge_expired_sessions(t(NOW + 100)).unwrap(), 1);
    assert_eq!(store.purge_expired_sessions(t(NOW + 100)).unwrap(), 0);
    assert_eq!(store.session_user(&old, t(NOW)).unwrap(), None);
    assert_eq!(
        store.session_user(&live, t(NOW + 100)).unwrap(),
        Some(a.guid)
    );
    // Purged sessions are gone from the per-user index too: a password change still works.
    store.set_password(a.guid, "another password").unwrap();
    assert_eq!(store.session_user(&live, t(NOW + 100)).unwrap(), None);
}

#[test]
fn a_token_leads_to_its_user_while_both_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let bob = add_user(&store, "bob", "102");
    let (token, _) = store
        .create_session(bob.guid, Duration::from_secs(60), t(NOW))
        .unwrap();
    assert_eq!(
        store
            .user_for_session(&token, t(NOW + 10))
            .unwrap()
            .map(|u| u.guid),
        Some(bob.guid)
    );
    assert!(
        store
            .user_for_session(&token, t(NOW + 61))
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(store
        .user_for_session("not-a-token", t(NOW + 10))
        .unwrap()
        .is_none());
    let (token, _) = store
        .create_session(bob.guid, Duration::from_secs(60), t(NOW + 100))
        .unwrap();
    store.delete_user(bob.guid).unwrap();
    assert!(
        store
            .user_for_session(&token, t(NOW + 110))
            .unwrap()
            .is_none(),
        "user deleted"
    );
}
