//! Blind transfer: a phone in a bridged call hands the other party to a third extension.

use super::*;
use crate::{Failure, Phase, RingFailure};

/// 201 calls 202, 202 answers: (caller 1, callee 2).
fn bridged(t: &mut T) -> (LineId, LineId) {
    let (a, _) = t.dial("201", "202");
    t.feed(a, Input::ExtensionFound(Ok(Some(party("202").into()))));
    t.feed(2, Input::Alerting);
    assert_eq!(
        t.feed(2, Input::Answered),
        ["1: LogCall(202, answered)", "1: Answer", "1: Bridge(2)"]
    );
    (a, 2)
}

/// The callee (202) transfers the caller (201) to 203, whose line (3) rings.
fn transferring(t: &mut T) -> (LineId, LineId, LineId) {
    let (a, b) = bridged(t);
    assert_eq!(
        t.feed(b, Input::Transfer("203".into())),
        ["2: LookUpExtension(203)"]
    );
    assert_eq!(
        t.feed(b, Input::ExtensionFound(Ok(Some(party("203").into())))),
        ["3: Ring(203 from 202)"]
    );
    (a, b, 3)
}

#[test]
fn blind_transfer_connects_the_other_party_to_the_target_and_ends_the_transferor() {
    let mut t = T::new();
    let (a, b, c) = transferring(&mut t);
    assert!(
        t.feed(c, Input::Alerting).is_empty(),
        "nothing until answered"
    );
    assert_eq!(
        t.feed(c, Input::Answered),
        [
            "2: Transferred(Ok)",
            "2: Release",
            "1: Bridge(3)",
            "3: Bridge(1)"
        ]
    );
    assert!(!t.x.contains(b));
    assert_eq!(t.x.activity(party("201").user)[0].peer, Some(party("203")));
    assert_eq!(t.x.activity(party("203").user)[0].phase, Phase::Confirmed);
    // A and C are an ordinary call now: either hangs up, both end.
    assert_eq!(t.feed(c, Input::HungUp), ["3: Release", "1: Release"]);
    assert!(!t.x.contains(a) && t.x.is_empty());
}

#[test]
fn the_caller_can_transfer_the_callee_too() {
    let mut t = T::new();
    let (a, b) = bridged(&mut t);
    t.feed(a, Input::Transfer("203".into()));
    t.feed(a, Input::ExtensionFound(Ok(Some(party("203").into()))));
    assert_eq!(
        t.feed(3, Input::Answered),
        [
            "1: Transferred(Ok)",
            "1: Release",
            "2: Bridge(3)",
            "3: Bridge(2)"
        ]
    );
    assert_eq!(t.feed(b, Input::HungUp), ["2: Release", "3: Release"]);
}

#[test]
fn unknown_target_is_reported_and_the_call_goes_on() {
    let mut t = T::new();
    let (a, b) = bridged(&mut t);
    t.feed(b, Input::Transfer("299".into()));
    assert_eq!(
        t.feed(b, Input::ExtensionFound(Ok(None))),
        ["2: Transferred(UnknownNumber)"]
    );
    assert_eq!(t.x.activity(party("202").user)[0].peer, Some(party("201")));
    // Still bridged: a hang-up ends both as before, and a second transfer works.
    t.feed(b, Input::Transfer("299".into()));
    assert_eq!(
        t.feed(b, Input::ExtensionFound(Err(Failure("disk".into())))),
        ["2: Transferred(Failed)"]
    );
    assert_eq!(t.feed(a, Input::HungUp), ["1: Release", "2: Release"]);
}

#[test]
fn busy_refused_and_unanswered_targets_are_reported() {
    // Busy: the target is the party being transferred.
    let mut t = T::new();
    let (_, b) = bridged(&mut t);
    t.feed(b, Input::Transfer("201".into()));
    assert_eq!(
        t.feed(b, Input::ExtensionFound(Ok(Some(party("201").into())))),
        ["2: Transferred(Busy)"]
    );
    // Refused by the target's phone.
    let mut t = T::new();
    let (_, b, c) = transferring(&mut t);
    assert_eq!(
        t.feed(c, Input::RingFailed(RingFailure::Refused(603))),
        ["3: Release", "2: Transferred(Refused(603))"]
    );
    assert!(t.x.contains(b));
    // No answer within the ring timeout.
    let mut t = T::new();
    let (a, b, _) = transferring(&mut t);
    assert_eq!(
        t.advance(Duration::from_secs(30)),
        ["3: Release", "2: Transferred(Unavailable)"]
    );
    assert_eq!(t.feed(b, Input::HungUp), ["2: Release", "1: Release"]);
    assert!(!t.x.contains(a));
}

#[test]
fn the_transferor_may_hang_up_before_the_target_answers() {
    let mut t = T::new();
    let (_, b, c) = transferring(&mut t);
    assert!(t.feed(b, Input::HungUp).is_empty());
    assert_eq!(
        t.feed(c, Input::Answered),
        ["2: Release", "1: Bridge(3)", "3: Bridge(1)"]
    );
    // ... and if the target then fails, the other party is hung up.
    let mut t = T::new();
    let (a, b, c) = transferring(&mut t);
    t.feed(b, Input::HungUp);
    assert_eq!(
        t.feed(c, Input::RingFailed(RingFailure::Busy)),
        ["3: Release", "2: Release", "1: Release"]
    );
    assert!(!t.x.contains(a) && t.x.is_empty());
}

#[test]
fn the_party_being_transferred_hangs_up_meanwhile() {
    let mut t = T::new();
    let (a, _, _) = transferring(&mut t);
    assert_eq!(
        t.feed(a, Input::HungUp),
        [
            "1: Release",
            "2: Transferred(Cancelled)",
            "2: Release",
            "3: Release"
        ]
    );
    assert!(t.x.is_empty());
}

#[test]
fn only_a_bridged_call_transfers() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    assert!(t.feed(a, Input::Transfer("203".into())).is_empty());
    let (m, _) = t.dial("204", "*97");
    assert!(t.feed(m, Input::Transfer("203".into())).is_empty());
}

#[test]
fn attended_transfer_joins_the_two_other_parties_and_ends_both_of_the_phone_s_lines() {
    let mut t = T::new();
    let (a, b) = bridged(&mut t); // 201 -> 202: lines 1, 2
                                  // 202 calls 203 too (202's second line 3, 203's line 4): 202 is busy on line 2, so
                                  // its second call goes out as an ordinary caller.
    let (b2, _) = t.dial("202", "203");
    t.feed(b2, Input::ExtensionFound(Ok(Some(party("203").into()))));
    let c = t.x.activity(party("203").user)[0].line;
    assert_eq!(
        t.feed(c, Input::Answered),
        ["3: LogCall(203, answered)", "3: Answer", "3: Bridge(4)"]
    );
    // 202 transfers 201 to 203, replacing its call with 203.
    assert_eq!(
        t.feed(b, Input::Replace(b2)),
        [
            "1: Bridge(4)",
            "4: Bridge(1)",
            "3: Release",
            "2: Transferred(Ok)",
            "2: Release"
        ]
    );
    assert!(!t.x.contains(b) && !t.x.contains(b2));
    assert_eq!(t.feed(a, Input::HungUp), ["1: Release", "4: Release"]);
    assert!(t.x.is_empty());
}

#[test]
fn attended_transfer_to_no_such_call_is_refused_and_the_call_goes_on() {
    let mut t = T::new();
    let (a, b) = bridged(&mut t);
    // Not a line of 202's, and a line that does not exist.
    let (other, _) = t.dial("205", "*97");
    assert_eq!(
        t.feed(b, Input::Replace(other)),
        ["2: Transferred(Refused(481))"]
    );
    assert_eq!(
        t.feed(b, Input::Replace(99)),
        ["2: Transferred(Refused(481))"]
    );
    // Its own call's other party is no other call either.
    assert_eq!(
        t.feed(b, Input::Replace(a)),
        ["2: Transferred(Refused(481))"]
    );
    assert_eq!(t.feed(a, Input::HungUp), ["1: Release", "2: Release"]);
}
