use std::time::{Duration, SystemTime};

use ivm_store::{NewUser, StoreError, UserUpdate};
use ivm_wire::rest::CallSettings;
use ivm_wire::{Guid, Status};

use crate::{add_user, open};

fn new_user(name: &str, ext: &str) -> NewUser {
    NewUser {
        name: name.into(),
        extension: ext.into(),
        display_name: None,
        password: "correct horse".into(),
        admin: false,
    }
}

#[test]
fn create_and_look_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.user_count().unwrap(), 0);
    let bob = add_user(&store, "bob", "102");
    let alice = store
        .create_user(NewUser {
            display_name: Some("  Alice Liddell ".into()),
            admin: true,
            ..new_user("alice", "101")
        })
        .unwrap();
    assert_eq!(alice.display_name, "Alice Liddell");
    assert!(alice.admin);
    assert_eq!(bob.display_name, "bob");
    assert_eq!(bob.status, Status::Available);
    assert!(bob.contacts.is_empty());
    assert!(bob.created_at > 1_600_000_000);

    assert_eq!(store.user(alice.guid).unwrap().unwrap(), alice);
    assert_eq!(store.user_by_name("bob").unwrap().unwrap(), bob);
    assert_eq!(store.user_by_extension("101").unwrap().unwrap(), alice);
    assert!(store.user(Guid::new_v4()).unwrap().is_none());
    assert!(store.user_by_name("carol").unwrap().is_none());
    assert!(store.user_by_extension("999").unwrap().is_none());
    let names: Vec<_> = store.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(store.user_count().unwrap(), 2);

    // The hash never shows.
    let shown = format!("{alice:?} {:?}", new_user("x", "11"));
    assert!(
        !shown.contains("argon2") && !shown.contains("correct horse"),
        "{shown}"
    );
}

#[test]
fn names_and_extensions_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    add_user(&store, "alice", "101");
    let err = store.create_user(new_user("alice", "999")).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store.create_user(new_user("bob", "101")).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.user_count().unwrap(), 1);
    assert!(store.user_by_extension("999").unwrap().is_none());
    assert!(store.user_by_name("bob").unwrap().is_none());
}

#[test]
fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let long = "a".repeat(33);
    for name in [
        "",
        "../x",
        "..",
        ".hidden",
        "-x",
        "_x",
        "a/b",
        "Alice",
        "a b",
        "é",
        "a\0",
        long.as_str(),
    ] {
        let err = store.create_user(new_user(name, "10")).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{name:?}: {err}");
    }
    for ext in ["", "1", "123456789", "12a", "+12", "١٢٣"] {
        let err = store.create_user(new_user("alice", ext)).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{ext:?}: {err}");
    }
    let err = store
        .create_user(NewUser {
            password: "1234567".into(),
            ..new_user("alice", "10")
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = store
        .create_user(NewUser {
            display_name: Some("  ".into()),
            ..new_user("alice", "10")
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(store.user_count().unwrap(), 0);

    for name in ["a", "0day", "j.doe_x-1", "a".repeat(32).as_str()] {
        ivm_store::validate_name(name).unwrap();
    }
    store.create_user(new_user("x", "12345678")).unwrap();
    store
        .create_user(NewUser {
            password: "8 chars!".into(),
            ..new_user("y", "00")
        })
        .unwrap();
}

#[test]
fn passwords_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    assert_eq!(
        store.verify_password("alice", "password-alice").unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.verify_password("alice", "password-bob").unwrap(),
        None
    );
    assert_eq!(store.verify_password("alice", "").unwrap(), None);
    assert_eq!(
        store.verify_password("nobody", "password-alice").unwrap(),
        None
    );

    store.set_password(alice.guid, "a new password").unwrap();
    assert_eq!(
        store.verify_password("alice", "password-alice").unwrap(),
        None
    );
    assert_eq!(
        store.verify_password("alice", "a new password").unwrap(),
        Some(alice.clone())
    );
    assert!(matches!(
        store.set_password(alice.guid, "short"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_password(Guid::new_v4(), "long enough"),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn update_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    add_user(&store, "bob", "102");
    let upd = store
        .update_user(
            alice.guid,
            UserUpdate {
                display_name: Some("Alice L.".into()),
                extension: Some("201".into()),
                admin: Some(true),
                may_all_call: None,
            },
        )
        .unwrap();
    assert_eq!(
        (upd.display_name.as_str(), upd.extension.as_str(), upd.admin),
        ("Alice L.", "201", true)
    );
    assert!(store.user_by_extension("101").unwrap().is_none());
    assert_eq!(
        store.user_by_extension("201").unwrap().unwrap().guid,
        alice.guid
    );
    // Same extension again is no change, not a conflict.
    store
        .update_user(
            alice.guid,
            UserUpdate {
                extension: Some("201".into()),
                ..Default::default()
            },
        )
        .unwrap();

    let err = store
        .update_user(
            alice.guid,
            UserUpdate {
                extension: Some("102".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store
        .update_user(
            alice.guid,
            UserUpdate {
                extension: Some("x".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(matches!(
        store.update_user(Guid::new_v4(), UserUpdate::default()),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.user(alice.guid).unwrap().unwrap(), upd);
}

#[test]
fn contacts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = add_user(&store, "alice", "101");
    let b = add_user(&store, "bob", "102");
    let c = add_user(&store, "carol", "103");
    store.add_contact(a.guid, b.guid).unwrap();
    store.add_contact(a.guid, c.guid).unwrap();
    store.add_contact(a.guid, b.guid).unwrap();
    assert_eq!(
        store.user(a.guid).unwrap().unwrap().contacts,
        [b.guid, c.guid]
    );
    assert!(matches!(
        store.add_contact(a.guid, a.guid),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.add_contact(a.guid, Guid::new_v4()),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.add_contact(Guid::new_v4(), a.guid),
        Err(StoreError::NotFound)
    ));
    store.remove_contact(a.guid, b.guid).unwrap();
    store.remove_contact(a.guid, b.guid).unwrap();
    assert_eq!(store.user(a.guid).unwrap().unwrap().contacts, [c.guid]);
    assert!(matches!(
        store.remove_contact(Guid::new_v4(), a.guid),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn delete_user_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = add_user(&store, "alice", "101");
    let b = add_user(&store, "bob", "102");
    store.add_contact(a.guid, b.guid).unwrap();
    let now = SystemTime::now();
    let (token, _) = store
        .create_session(b.guid, Duration::from_secs(3600), now)
        .unwrap();
    store.delete_user(b.guid).unwrap();
    assert!(store.user(b.guid).unwrap().is_none());
    assert!(store.user_by_name("bob").unwrap().is_none());
    assert!(store.user_by_extension("102").unwrap().is_none());
    assert!(store.user(a.guid).unwrap().unwrap().contacts.is_empty());
    assert_eq!(store.session_user(&token, now).unwrap(), None);
    assert!(matches!(
        store.delete_user(b.guid),
        Err(StoreError::NotFound)
    ));
    // Name and extension are free again.
    add_user(&store, "bob", "102");
}

#[test]
fn status_and_users_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let store = open(dir.path());
        let a = add_user(&store, "alice", "101");
        let b = add_user(&store, "bob", "102");
        store.set_status(a.guid, Status::Busy).unwrap();
        store.add_contact(a.guid, b.guid).unwrap();
        assert!(matches!(
            store.set_status(Guid::new_v4(), Status::Away),
            Err(StoreError::NotFound)
        ));
        (a, b)
    };
    let store = open(dir.path());
    let a2 = store.user(a.guid).unwrap().unwrap();
    assert_eq!(a2.status, Status::Busy);
    assert_eq!(a2.contacts, [b.guid]);
    assert_eq!(store.user_count().unwrap(), 2);
    assert!(store
        .verify_password("bob", "password-bob")
        .unwrap()
        .is_some());
}

#[test]
fn concurrent_creates_cannot_both_take_an_extension() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || store.create_user(new_user(&format!("user{i}"), "555")))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Conflict(_))));
    assert_eq!(store.user_count().unwrap(), 1);
}

#[test]
fn one_time_password_raises_the_flag_and_own_choice_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let alice = add_user(&store, "alice", "101");
    assert!(!alice.must_change_password);
    let ttl = Duration::from_secs(3600);
    let (old, _) = store
        .create_session(alice.guid, ttl, SystemTime::now())
        .unwrap();

    store
        .set_one_time_password(alice.guid, "made up by the box")
        .unwrap();
    let u = store.user(alice.guid).unwrap().unwrap();
    assert!(u.must_change_password);
    assert_eq!(
        store.session_user(&old, SystemTime::now()).unwrap(),
        None,
        "a one-time password ends the sessions like any reset"
    );
    assert!(store
        .verify_password("alice", "made up by the box")
        .unwrap()
        .is_some_and(|u| u.must_change_password));
    assert!(matches!(
        store.set_one_time_password(alice.guid, "short"),
        Err(StoreError::Invalid(_))
    ));

    // The holder chooses their own: the flag goes, this session stays, the others end.
    let (mine, _) = store
        .create_session(alice.guid, ttl, SystemTime::now())
        .unwrap();
    let (other, _) = store
        .create_session(alice.guid, ttl, SystemTime::now())
        .unwrap();
    assert!(!store
        .change_own_password(alice.guid, "wrong guess", "my own choice", &mine)
        .unwrap());
    assert!(
        store
            .user(alice.guid)
            .unwrap()
            .unwrap()
            .must_change_password
    );
    assert!(matches!(
        store.change_own_password(alice.guid, "made up by the box", "short", &mine),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.change_own_password(
            alice.guid,
            "made up by the box",
            "made up by the box",
            &mine
        ),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.session_user(&other, SystemTime::now()).unwrap(),
        Some(alice.guid),
        "refused changes end nothing"
    );
    assert!(store
        .change_own_password(alice.guid, "made up by the box", "my own choice", &mine)
        .unwrap());
    assert!(
        !store
            .user(alice.guid)
            .unwrap()
            .unwrap()
            .must_change_password
    );
    assert_eq!(
        store.session_user(&mine, SystemTime::now()).unwrap(),
        Some(alice.guid)
    );
    assert_eq!(store.session_user(&other, SystemTime::now()).unwrap(), None);
    assert!(store
        .verify_password("alice", "made up by the box")
        .unwrap()
        .is_none());
    assert!(store
        .verify_password("alice", "my own choice")
        .unwrap()
        .is_some());

    // An admin's chosen password clears the flag too.
    store
        .set_one_time_password(alice.guid, "made up again")
        .unwrap();
    store.set_password(alice.guid, "chosen by admin").unwrap();
    assert!(
        !store
            .user(alice.guid)
            .unwrap()
            .unwrap()
            .must_change_password
    );
}

#[test]
fn records_without_the_flag_load() {
    // A record as written before `must_change_password` existed.
    let old = serde_json::json!({
        "guid": Guid::new_v4(), "name": "old", "extension": "150", "display_name": "Old",
        "admin": false, "contacts": [], "status": "available", "created_at": 1_700_000_000u64,
    });
    let u: ivm_store::User = serde_json::from_value(old).unwrap();
    assert!(!u.must_change_password);
    // Nor call settings: nothing forwarded, 20 s before a forward on no answer, messages
    // taken on busy and no answer.
    assert_eq!(u.calls, CallSettings::default());
    assert_eq!(u.calls.no_answer_after, 20);
    assert_eq!(u.calls.forward_always, None);
    assert!(u.calls.voicemail);
    // A record with call settings written before `voicemail` existed: on too.
    let mut old = serde_json::to_value(&u).unwrap();
    old["calls"] = serde_json::json!({"forward_busy": "151", "no_answer_after": 30});
    let u: ivm_store::User = serde_json::from_value(old).unwrap();
    assert!(u.calls.voicemail);
    assert_eq!(u.calls.forward_busy.as_deref(), Some("151"));
}

#[test]
fn call_settings_are_checked_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        let a = add_user(&store, "alice", "101");
        add_user(&store, "bob", "102");
        let good = CallSettings {
            forward_busy: Some("102".into()),
            forward_no_answer: Some("102".into()),
            no_answer_after: 10,
            voicemail: true,
            ..CallSettings::default()
        };
        assert_eq!(
            store.set_call_settings(a.guid, good.clone()).unwrap().calls,
            good
        );
        // Bad input: a clear error, and nothing changes.
        for (bad, why) in [
            (Some("101"), "own extension"),
            (Some("199"), "no user has extension 199"),
            (Some("1x"), "extension"),
        ] {
            let e = store
                .set_call_settings(
                    a.guid,
                    CallSettings {
                        forward_always: bad.map(str::to_owned),
                        ..CallSettings::default()
                    },
                )
                .unwrap_err();
            assert!(
                matches!(&e, StoreError::Invalid(m) if m.contains(why)),
                "{e}"
            );
        }
        for secs in [0, 4, 121] {
            let e = store
                .set_call_settings(
                    a.guid,
                    CallSettings {
                        no_answer_after: secs,
                        ..CallSettings::default()
                    },
                )
                .unwrap_err();
            assert!(matches!(e, StoreError::Invalid(_)), "{secs} s");
        }
        assert_eq!(store.user(a.guid).unwrap().unwrap().calls, good);
        assert!(matches!(
            store.set_call_settings(Guid::new_v4(), CallSettings::default()),
            Err(StoreError::NotFound)
        ));
        a
    };
    let store = open(dir.path());
    let calls = store.user(a.guid).unwrap().unwrap().calls;
    assert_eq!(calls.forward_busy.as_deref(), Some("102"));
    assert_eq!(calls.no_answer_after, 10);
}

#[test]
fn a_user_created_with_a_made_up_password_must_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let u = store
        .create_user_one_time(NewUser {
            name: "admin".into(),
            extension: "100".into(),
            display_name: None,
            password: "made up at first start".into(),
            admin: true,
        })
        .unwrap();
    assert!(u.must_change_password);
    assert!(store.user(u.guid).unwrap().unwrap().must_change_password);
    // An ordinary creation (a chosen password) does not.
    assert!(!add_user(&store, "bob", "102").must_change_password);
}

#[test]
fn the_last_administrator_cannot_be_removed_or_demoted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let admin = store
        .create_user(NewUser {
            admin: true,
            ..new_user("admin", "100")
        })
        .unwrap();
    let bob = add_user(&store, "bob", "102");
    assert_eq!(store.admin_count().unwrap(), 1);
    let demote = || UserUpdate {
        admin: Some(false),
        ..UserUpdate::default()
    };
    match store.delete_user(admin.guid) {
        Err(e @ StoreError::LastAdmin(_)) => assert_eq!(
            e.to_string(),
            "admin is the box's last administrator: make another user an administrator first"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.update_user(admin.guid, demote()),
        Err(StoreError::LastAdmin(_))
    ));
    assert!(store.user(admin.guid).unwrap().unwrap().admin, "unchanged");
    // Other changes to the last admin, and anything done to a non-admin, are fine.
    store
        .update_user(
            admin.guid,
            UserUpdate {
                display_name: Some("Boss".into()),
                admin: Some(true),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    store.update_user(bob.guid, demote()).unwrap();
    // With a second admin, either may go.
    store
        .update_user(
            bob.guid,
            UserUpdate {
                admin: Some(true),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(store.admin_count().unwrap(), 2);
    store.update_user(admin.guid, demote()).unwrap();
    assert!(matches!(
        store.delete_user(bob.guid),
        Err(StoreError::LastAdmin(_))
    ));
    store.delete_user(admin.guid).unwrap();
    assert_eq!(store.admin_count().unwrap(), 1);
}

#[test]
fn a_user_is_found_by_guid_extension_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let bob = add_user(&store, "bob", "102");
    for key in [
        bob.guid.to_string(),
        "102".into(),
        "bob".into(),
        " BoB ".into(),
    ] {
        assert_eq!(
            store.find_user(&key).unwrap().map(|u| u.guid),
            Some(bob.guid),
            "{key:?}"
        );
    }
    for key in ["", "  ", "103", "alice", "1o2", &Guid::new_v4().to_string()] {
        assert!(store.find_user(key).unwrap().is_none(), "{key:?}");
    }
}
