//! The busy lamp field's view of a user's lines, and the set of users whose view changed.

use super::*;
use crate::{Activity, Direction, Phase};

/// (phase, direction, peer's extension) of each of `ext`'s lines.
fn view(t: &T, ext: &str) -> Vec<(Phase, Direction, Option<String>)> {
    t.x.activity(party(ext).user)
        .into_iter()
        .map(
            |Activity {
                 phase,
                 direction,
                 peer,
                 ..
             }| (phase, direction, peer.map(|p| p.ext)),
        )
        .collect()
}

fn changed(t: &mut T) -> Vec<Guid> {
    t.x.take_changed()
}

#[test]
fn a_call_goes_trying_early_confirmed_then_nothing_on_both_sides() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    assert_eq!(
        view(&t, "201"),
        [(Phase::Trying, Direction::Initiator, None)]
    );
    assert_eq!(changed(&mut t), [party("201").user]);
    assert!(
        view(&t, "202").is_empty(),
        "the callee is idle while the box looks up"
    );
    t.feed(a, Input::ExtensionFound(Ok(Some(party("202").into()))));
    let mut c = changed(&mut t);
    c.sort();
    let mut both = vec![party("201").user, party("202").user];
    both.sort();
    assert_eq!(
        c, both,
        "the callee's line opened ringing, the caller's rings"
    );
    assert_eq!(
        view(&t, "202"),
        [(Phase::Early, Direction::Recipient, Some("201".to_string()))]
    );
    assert_eq!(
        view(&t, "201"),
        [(Phase::Early, Direction::Initiator, Some("202".to_string()))]
    );
    t.feed(2, Input::Alerting);
    assert!(changed(&mut t).is_empty(), "ringback changes no phase");
    t.feed(2, Input::Answered);
    assert_eq!(
        view(&t, "202"),
        [(
            Phase::Confirmed,
            Direction::Recipient,
            Some("201".to_string())
        )]
    );
    assert_eq!(
        view(&t, "201"),
        [(
            Phase::Confirmed,
            Direction::Initiator,
            Some("202".to_string())
        )]
    );
    assert_eq!(changed(&mut t).len(), 2);
    t.feed(a, Input::HungUp);
    assert!(view(&t, "201").is_empty() && view(&t, "202").is_empty());
    assert_eq!(changed(&mut t).len(), 2, "both lines ended");
    assert!(changed(&mut t).is_empty(), "taken once");
}

#[test]
fn a_service_of_the_box_is_confirmed_without_a_peer() {
    let mut t = T::new();
    let _ = recording_star7(&mut t);
    assert_eq!(
        view(&t, "201"),
        [(Phase::Confirmed, Direction::Initiator, None)]
    );
}

#[test]
fn an_unanswered_call_ends_for_the_callee() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    t.feed(a, Input::ExtensionFound(Ok(Some(party("202").into()))));
    changed(&mut t);
    t.feed(a, Input::Cancelled);
    assert!(view(&t, "202").is_empty());
    assert!(changed(&mut t).contains(&party("202").user));
}
