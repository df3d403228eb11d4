//! Logins split around argon2: candidate, verify (anywhere), open the session; one-time
//! passwords used up by their first session and expired after their lifetime.

use std::time::{Duration, SystemTime};

use ivm_store::{hash_password, LoginRefusal, NewUser, Opened, Store};

use crate::{add_user, open};

const TTL: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn login(store: &Store, name: &str, password: &str, now: SystemTime) -> Option<Opened> {
    let c = store.login_candidate(name).unwrap();
    if !c.verify(password).unwrap() {
        return None;
    }
    Some(store.open_session(&c, TTL, now, DAY).unwrap())
}

fn session_token(o: Option<Opened>) -> String {
    match o {
        Some(Opened::Session { token, .. }) => token,
        other => panic!("expected a session, got {other:?}"),
    }
}

#[test]
fn a_right_password_opens_a_session_and_a_wrong_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    let now = SystemTime::now();
    assert!(login(&store, "alice", "wrong password", now).is_none());
    assert!(login(&store, "nobody", "password-alice", now).is_none());
    let c = store.login_candidate("nobody").unwrap();
    assert!(c.user().is_none());
    assert!(
        !c.verify("anything").unwrap(),
        "an unknown name never verifies"
    );
    let token = session_token(login(&store, "alice", "password-alice", now));
    assert_eq!(store.session_user(&token, now).unwrap(), Some(alice.guid));
    // A normal password works any number of times.
    session_token(login(&store, "alice", "password-alice", now));
}

#[test]
fn a_one_time_password_opens_exactly_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    store
        .set_one_time_password(alice.guid, "made up by the box")
        .unwrap();
    let now = SystemTime::now();
    // Two logins checked the password before either committed: only one gets a session.
    let first = store.login_candidate("alice").unwrap();
    let second = store.login_candidate("alice").unwrap();
    assert!(first.verify("made up by the box").unwrap());
    assert!(second.verify("made up by the box").unwrap());
    let token = match store.open_session(&first, TTL, now, DAY).unwrap() {
        Opened::Session { token, user, .. } => {
            assert!(user.must_change_password);
            token
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        store.open_session(&second, TTL, now, DAY).unwrap(),
        Opened::Refused(LoginRefusal::OneTimeUsed)
    ));
    assert!(matches!(
        login(&store, "alice", "made up by the box", now),
        Some(Opened::Refused(LoginRefusal::OneTimeUsed))
    ));
    // The session it opened changes the password with it; then the new one works as usual.
    let mine = store.password_candidate(alice.guid).unwrap();
    assert!(mine.verify("made up by the box").unwrap());
    let new = hash_password("alice's own choice").unwrap();
    assert!(store.replace_own_password(&mine, new, &token).unwrap());
    assert_eq!(store.session_user(&token, now).unwrap(), Some(alice.guid));
    assert!(
        !store
            .user(alice.guid)
            .unwrap()
            .unwrap()
            .must_change_password
    );
    session_token(login(&store, "alice", "alice's own choice", now));
    session_token(login(&store, "alice", "alice's own choice", now));
}

#[test]
fn a_one_time_password_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_user_one_time(NewUser {
            name: "bob".into(),
            extension: "102".into(),
            display_name: None,
            password: "made up for bob".into(),
            admin: false,
        })
        .unwrap();
    let later = SystemTime::now() + DAY + Duration::from_secs(5);
    assert!(matches!(
        login(&store, "bob", "made up for bob", later),
        Some(Opened::Refused(LoginRefusal::OneTimeExpired))
    ));
    // Just inside its lifetime it still works, once.
    let inside = SystemTime::now() + DAY - Duration::from_secs(60);
    session_token(login(&store, "bob", "made up for bob", inside));
}

#[test]
fn a_password_changed_between_check_and_commit_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    let c = store.login_candidate("alice").unwrap();
    assert!(c.verify("password-alice").unwrap());
    store.set_password(alice.guid, "changed meanwhile").unwrap();
    assert!(matches!(
        store.open_session(&c, TTL, SystemTime::now(), DAY).unwrap(),
        Opened::Refused(LoginRefusal::Changed)
    ));
    let (token, _) = store
        .create_session(alice.guid, TTL, SystemTime::now())
        .unwrap();
    let new = hash_password("yet another one").unwrap();
    assert!(
        !store.replace_own_password(&c, new, &token).unwrap(),
        "a stale check changes nothing"
    );
    session_token(login(
        &store,
        "alice",
        "changed meanwhile",
        SystemTime::now(),
    ));
}

#[test]
fn new_passwords_follow_the_rules() {
    assert!(hash_password("short").is_err());
    assert!(hash_password(&"x".repeat(2000)).is_err());
    assert!(ivm_store::validate_password("long enough").is_ok());
}
