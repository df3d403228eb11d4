//! Call history: both sides written by one call, newest first, bounded per user, kept
//! across a reopen.

use ivm_wire::rest::{CallKind, MAX_CALL_HISTORY};

use crate::{add_user, open};

#[test]
fn placed_received_missed_newest_first_bounded_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ann = add_user(&store, "ann", "201");
    let bob = add_user(&store, "bob", "202");
    let carol = add_user(&store, "carol", "203");
    store.log_call(ann.guid, bob.guid, true, 1_000).unwrap();
    store.log_call(carol.guid, bob.guid, false, 2_000).unwrap();

    let b = store.calls(bob.guid).unwrap();
    let kinds: Vec<_> = b
        .iter()
        .map(|c| (c.kind, c.peer_name.as_str(), c.at))
        .collect();
    assert_eq!(
        kinds,
        [
            (CallKind::Missed, "carol", 2_000),
            (CallKind::Received, "ann", 1_000)
        ]
    );
    assert_eq!(b[0].peer_extension, "203");
    let a = store.calls(ann.guid).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].kind, a[0].answered, a[0].peer),
        (CallKind::Placed, true, bob.guid)
    );
    assert!(store.calls(carol.guid).unwrap()[0].kind == CallKind::Placed);

    // Bounded: only the latest are kept, for each user separately.
    for i in 0..MAX_CALL_HISTORY as u64 + 5 {
        store
            .log_call(ann.guid, carol.guid, false, 10_000 + i)
            .unwrap();
    }
    let a = store.calls(ann.guid).unwrap();
    assert_eq!(a.len(), MAX_CALL_HISTORY);
    assert_eq!(
        a[0].at,
        10_000 + MAX_CALL_HISTORY as u64 + 4,
        "newest first"
    );
    assert_eq!(a.last().unwrap().at, 10_005, "the oldest were dropped");
    assert_eq!(store.calls(bob.guid).unwrap().len(), 2, "bob's are his own");

    drop(store);
    let store = open(dir.path());
    assert_eq!(store.calls(bob.guid).unwrap().len(), 2);

    // A deleted user's own history goes with them; the others keep theirs.
    store.delete_user(bob.guid).unwrap();
    assert!(store.calls(bob.guid).unwrap().is_empty());
    assert_eq!(store.calls(carol.guid).unwrap()[0].peer_name, "ann");
}
