//! Calls between extensions: two lines through the exchange.

use super::*;
use crate::{Extension, Failure, Forwarding, Reason, RingFailure};

/// 201 dials 202 (default settings) and the exchange rings 202's new line: (caller, callee).
fn ringing(t: &mut T) -> (LineId, LineId) {
    ringing_to(t, party("202").into())
}

/// 201 dials 202, who turned message taking off: busy and no answer reach the caller.
fn ringing_without_messages(t: &mut T) -> (LineId, LineId) {
    ringing_to(t, no_messages("202"))
}

fn ringing_to(t: &mut T, callee: Extension) -> (LineId, LineId) {
    let (a, steps) = t.dial("201", "202");
    assert_eq!(steps, ["1: LookUpExtension(202)"]);
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(Some(callee)))),
        ["2: Ring(202 from 201)"]
    );
    (a, 2)
}

/// The user at `ext` with message taking off (`"voicemail": false`).
fn no_messages(ext: &str) -> Extension {
    Extension {
        party: party(ext),
        forwarding: Forwarding {
            voicemail: false,
            ..Forwarding::default()
        },
    }
}

/// ... and 202 answers.
fn bridged(t: &mut T) -> (LineId, LineId) {
    let (a, b) = ringing(t);
    assert_eq!(t.feed(b, Input::Alerting), ["1: Ringback"]);
    assert_eq!(
        t.feed(b, Input::Answered),
        ["1: LogCall(202, answered)", "1: Answer", "1: Bridge(2)"]
    );
    (a, b)
}

#[test]
fn call_rings_the_callee_bridges_on_answer_and_caller_hangs_up() {
    let mut t = T::new();
    let (a, b) = bridged(&mut t);
    assert!(t.x.is_busy(party("201").user) && t.x.is_busy(party("202").user));
    // Media and keys on a bridged line are the adapter's to carry; the lines ignore them.
    assert!(t.audio(a, &speech(0.1)).is_empty());
    assert!(t.feed(b, Input::PlaybackDone).is_empty());
    assert_eq!(t.feed(a, Input::HungUp), ["1: Release", "2: Release"]);
    assert!(t.x.is_empty());
}

#[test]
fn callee_hangs_up_first() {
    let mut t = T::new();
    let (_, b) = bridged(&mut t);
    assert_eq!(t.feed(b, Input::HungUp), ["2: Release", "1: Release"]);
    assert!(t.x.is_empty());
}

#[test]
fn media_lost_on_either_side_ends_both() {
    let mut t = T::new();
    let (a, _) = bridged(&mut t);
    assert_eq!(
        t.feed(a, Input::MediaInactive),
        ["1: Release", "2: Release"]
    );
}

#[test]
fn busy_callee_takes_a_message_by_default() {
    let mut t = T::new();
    bridged(&mut t); // 201 and 202 talk
    let (c, _) = t.dial("203", "202");
    assert_eq!(
        t.feed(c, Input::ExtensionFound(Ok(Some(party("202").into())))),
        [
            "3: LogCall(202, missed)",
            "3: Answer",
            "3: Play(LeaveMessage)"
        ]
    );
}

#[test]
fn busy_callee_without_message_taking_is_486() {
    let mut t = T::new();
    bridged(&mut t); // 201 and 202 talk
    let (c, _) = t.dial("203", "202");
    assert_eq!(
        t.feed(c, Input::ExtensionFound(Ok(Some(no_messages("202"))))),
        ["3: LogCall(202, missed)", "3: Reject(Busy)", "3: Release"]
    );
    // Listening to messages counts as busy too.
    let (d, _) = t.dial("204", "*97");
    let (e, _) = t.dial("205", "204");
    assert_eq!(
        t.feed(e, Input::ExtensionFound(Ok(Some(no_messages("204"))))),
        [
            format!("{e}: LogCall(204, missed)"),
            format!("{e}: Reject(Busy)"),
            format!("{e}: Release")
        ]
    );
    assert!(t.x.contains(d));
}

#[test]
fn no_answer_takes_a_message_after_the_ring_timeout_by_default() {
    let mut t = T::new();
    let (a, b) = ringing(&mut t);
    t.feed(b, Input::Alerting);
    assert!(t.advance(Duration::from_millis(29_990)).is_empty());
    assert_eq!(
        t.advance(Duration::from_millis(10)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Answer",
            "1: Play(LeaveMessage)"
        ]
    );
    assert!(t.x.contains(a));
}

#[test]
fn no_answer_without_message_taking_is_480_after_the_ring_timeout() {
    let mut t = T::new();
    let (a, b) = ringing_without_messages(&mut t);
    t.feed(b, Input::Alerting);
    assert_eq!(t.x.poll_timeout(), Some(t.now + Duration::from_secs(30)));
    assert!(t.advance(Duration::from_millis(29_990)).is_empty());
    assert_eq!(
        t.advance(Duration::from_millis(10)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Reject(Unavailable)",
            "1: Release"
        ]
    );
    assert!(!t.x.contains(a) && t.x.is_empty());
    assert_eq!(t.x.poll_timeout(), None);
}

#[test]
fn callee_without_a_registered_phone_takes_a_message_or_is_480() {
    let mut t = T::new();
    let (_, b) = ringing(&mut t);
    assert_eq!(
        t.feed(b, Input::RingFailed(RingFailure::Unreachable)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Answer",
            "1: Play(LeaveMessage)"
        ]
    );
    let mut t = T::new();
    let (_, b) = ringing_without_messages(&mut t);
    assert_eq!(
        t.feed(b, Input::RingFailed(RingFailure::Unreachable)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Reject(Unavailable)",
            "1: Release"
        ]
    );
}

#[test]
fn callee_refusals_pass_through() {
    for (failure, reason) in [
        (RingFailure::Busy, Reason::Busy),
        (RingFailure::NoAnswer, Reason::Unavailable),
        (RingFailure::Refused(603), Reason::Refused(603)),
        (RingFailure::Refused(404), Reason::Refused(404)),
        (RingFailure::NoResources, Reason::NoResources),
        (RingFailure::Internal("no route".into()), Reason::Failed),
    ] {
        // (Busy and no answer reach the caller only when message taking is off.)
        let mut t = T::new();
        let (_, b) = ringing_without_messages(&mut t);
        assert_eq!(
            t.feed(b, Input::RingFailed(failure.clone())),
            [
                "2: Release".to_owned(),
                "1: LogCall(202, missed)".to_owned(),
                format!("1: Reject({reason:?})"),
                "1: Release".to_owned()
            ],
            "{failure:?}"
        );
    }
}

#[test]
fn cancel_while_ringing_is_487_and_stops_the_callee_ringing() {
    let mut t = T::new();
    let (a, b) = ringing(&mut t);
    t.feed(b, Input::Alerting);
    assert_eq!(
        t.feed(a, Input::Cancelled),
        [
            "1: LogCall(202, missed)",
            "1: Reject(Cancelled)",
            "1: Release",
            "2: Release"
        ]
    );
    assert!(t.x.is_empty());
    // Nothing is left busy: 202 can be called again.
    let (c, _) = t.dial("203", "202");
    assert_eq!(
        t.feed(c, Input::ExtensionFound(Ok(Some(party("202").into())))),
        [format!("{}: Ring(202 from 203)", c + 1)]
    );
}

#[test]
fn cancel_while_looking_up_is_487() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    assert_eq!(
        t.feed(a, Input::Cancelled),
        ["1: Reject(Cancelled)", "1: Release"]
    );
    // The lookup's answer comes too late to ring anyone.
    assert!(t
        .feed(a, Input::ExtensionFound(Ok(Some(party("202").into()))))
        .is_empty());
}

#[test]
fn unknown_extension_is_404_and_a_store_failure_500() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "299");
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(None))),
        ["1: Reject(UnknownNumber)", "1: Release"]
    );
    let (a, _) = t.dial("201", "299");
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Err(Failure("disk".into())))),
        ["2: Reject(Failed)", "2: Release"]
    );
    assert_eq!(
        t.dial("201", "123456789").1,
        ["3: Reject(UnknownNumber)", "3: Release"]
    );
}

#[test]
fn caller_cannot_be_answered_ends_the_callee() {
    let mut t = T::new();
    let (a, b) = ringing(&mut t);
    t.feed(b, Input::Answered);
    assert_eq!(
        t.feed(a, Input::AnswerFailed(Reason::NoResources)),
        ["1: Reject(NoResources)", "1: Release", "2: Release"]
    );
}

#[test]
fn calling_your_own_extension_rings_your_phone() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "201");
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(Some(party("201").into())))),
        ["2: Ring(201 from 201)"]
    );
}

#[test]
fn the_caller_is_not_told_about_a_callee_gone_before_it_rang() {
    let mut t = T::new();
    let (a, b) = ringing_without_messages(&mut t);
    // The callee's phone hangs up before answering (a ring the phone dropped).
    assert_eq!(
        t.feed(b, Input::HungUp),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Reject(Unavailable)",
            "1: Release"
        ]
    );
    assert!(!t.x.contains(a));
}
