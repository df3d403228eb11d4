//! Forward always, on busy, on no answer; the loop bound; do-not-disturb and messages for
//! calls nobody answered.

use super::*;
use crate::{Extension, Forwarding, PostOutcome, RingFailure};

/// `ext` with these settings.
fn with(ext: &str, forwarding: Forwarding) -> Input {
    Input::ExtensionFound(Ok(Some(Extension {
        party: party(ext),
        forwarding,
    })))
}

fn to(ext: &str) -> Option<String> {
    Some(ext.into())
}

#[test]
fn forward_always_skips_ringing_and_rings_the_target() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    let always = Forwarding {
        always: to("203"),
        ..Forwarding::default()
    };
    assert_eq!(t.feed(a, with("202", always)), ["1: LookUpExtension(203)"]);
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(Some(party("203").into())))),
        ["2: Ring(203 from 201)"]
    );
    assert!(!t.x.is_busy(party("202").user), "202's phone never rang");
    assert_eq!(
        t.feed(2, Input::Answered),
        ["1: LogCall(203, answered)", "1: Answer", "1: Bridge(2)"]
    );
}

#[test]
fn forward_on_busy_rings_the_target() {
    let mut t = T::new();
    // 202 is busy listening to messages.
    t.dial("202", "*97");
    let (a, _) = t.dial("201", "202");
    let busy = Forwarding {
        busy: to("203"),
        ..Forwarding::default()
    };
    assert_eq!(t.feed(a, with("202", busy)), ["2: LookUpExtension(203)"]);
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(Some(party("203").into())))),
        ["3: Ring(203 from 201)"]
    );
    // And a phone answering 486 itself is busy too.
    let (c, _) = t.dial("204", "205");
    let busy = Forwarding {
        busy: to("206"),
        ..Forwarding::default()
    };
    assert_eq!(t.feed(c, with("205", busy)), ["5: Ring(205 from 204)"]);
    assert_eq!(
        t.feed(5, Input::RingFailed(RingFailure::Busy)),
        ["5: Release", "4: LookUpExtension(206)"]
    );
}

#[test]
fn forward_on_no_answer_rings_for_the_users_delay_then_the_target() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    let late = Forwarding {
        no_answer: Some(("203".into(), Duration::from_secs(10))),
        ..Forwarding::default()
    };
    assert_eq!(t.feed(a, with("202", late)), ["2: Ring(202 from 201)"]);
    assert_eq!(t.x.poll_timeout(), Some(t.now + Duration::from_secs(10)));
    assert!(t.advance(Duration::from_millis(9_990)).is_empty());
    assert_eq!(
        t.advance(Duration::from_millis(10)),
        ["2: Release", "1: LookUpExtension(203)"]
    );
    assert_eq!(
        t.feed(a, Input::ExtensionFound(Ok(Some(party("203").into())))),
        ["3: Ring(203 from 201)"]
    );
    // A delay longer than the ring timeout is the ring timeout.
    let (c, _) = t.dial("204", "205");
    let slow = Forwarding {
        no_answer: Some(("206".into(), Duration::from_secs(600))),
        ..Forwarding::default()
    };
    t.feed(c, with("205", slow));
    assert_eq!(t.x.poll_timeout(), Some(t.now + Duration::from_secs(30)));
}

#[test]
fn a_forward_loop_stops_and_no_user_is_rung_twice() {
    let mut t = T::new();
    // 202 -> 203 -> 202: the second forward is not followed; 203 rings.
    let (a, _) = t.dial("201", "202");
    let f = |x: &str| Forwarding {
        always: to(x),
        ..Forwarding::default()
    };
    assert_eq!(
        t.feed(a, with("202", f("203"))),
        ["1: LookUpExtension(203)"]
    );
    assert_eq!(t.feed(a, with("203", f("202"))), ["2: Ring(203 from 201)"]);
    // Forwarding back to the caller is a loop too.
    let (b, _) = t.dial("204", "205");
    assert_eq!(t.feed(b, with("205", f("204"))), ["4: Ring(205 from 204)"]);
}

#[test]
fn at_most_three_forwards() {
    let mut t = T::new();
    let f = |x: &str| Forwarding {
        always: to(x),
        ..Forwarding::default()
    };
    let (a, _) = t.dial("201", "210");
    assert_eq!(
        t.feed(a, with("210", f("211"))),
        ["1: LookUpExtension(211)"]
    );
    assert_eq!(
        t.feed(a, with("211", f("212"))),
        ["1: LookUpExtension(212)"]
    );
    assert_eq!(
        t.feed(a, with("212", f("213"))),
        ["1: LookUpExtension(213)"]
    );
    // Three forwards made: 213's own forward is not followed; 213 rings.
    assert_eq!(t.feed(a, with("213", f("214"))), ["2: Ring(213 from 201)"]);
}

#[test]
fn do_not_disturb_answers_and_takes_a_message_from_the_caller() {
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    let dnd = Forwarding {
        dnd: true,
        ..Forwarding::default()
    };
    assert_eq!(
        t.feed(a, with("202", dnd)),
        [
            "1: LogCall(202, missed)",
            "1: Answer",
            "1: Play(LeaveMessage)"
        ]
    );
    assert!(!t.x.is_busy(party("202").user), "202's phone does not ring");
    t.feed(a, Input::PlaybackDone);
    t.audio(a, &speech(2.0));
    let steps = t.feed(a, Input::Digit(ivm_rtp::Digit::Pound));
    assert!(
        steps.iter().any(|s| s.starts_with("1: Post([\"202\"]")),
        "{steps:?}"
    );
    let Some((_, Action::Post { sender, to, .. })) =
        t.log.iter().find(|(_, a)| matches!(a, Action::Post { .. }))
    else {
        panic!("no post");
    };
    assert_eq!(
        (*sender, to.clone()),
        (party("201").user, vec!["202".into()])
    );
    assert_eq!(
        t.feed(a, Input::Posted(PostOutcome::Sent)),
        [said(&[Prompt::MESSAGE_SENT, Prompt::GOODBYE]).replace("Play", "1: Play")]
    );
    assert_eq!(t.feed(a, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn busy_and_no_answer_take_a_message_by_default() {
    let vm = Forwarding::default();
    assert!(vm.voicemail, "on unless the user turns it off");
    // No answer within the ring timeout.
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    t.feed(a, with("202", vm.clone()));
    assert_eq!(
        t.advance(Duration::from_secs(30)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Answer",
            "1: Play(LeaveMessage)"
        ]
    );
    // Busy.
    let mut t = T::new();
    t.dial("202", "*97");
    let (a, _) = t.dial("201", "202");
    assert_eq!(
        t.feed(a, with("202", vm.clone())),
        [
            "2: LogCall(202, missed)",
            "2: Answer",
            "2: Play(LeaveMessage)"
        ]
    );
    // A refusal is not a reason to take a message: it passes through.
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    t.feed(a, with("202", vm));
    assert_eq!(
        t.feed(2, Input::RingFailed(RingFailure::Refused(603))),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Reject(Refused(603))",
            "1: Release"
        ]
    );
}

#[test]
fn a_forward_that_cannot_be_followed_takes_a_message() {
    let mut t = T::new();
    // 202 forwards on busy to 201, the caller: a loop, so the caller leaves 202 a message.
    t.dial("202", "*97");
    let (a, _) = t.dial("201", "202");
    let busy = Forwarding {
        busy: to("201"),
        ..Forwarding::default()
    };
    assert_eq!(
        t.feed(a, with("202", busy)),
        [
            "2: LogCall(202, missed)",
            "2: Answer",
            "2: Play(LeaveMessage)"
        ]
    );
    // A forward to an extension nobody has any more: a message for the one who forwarded.
    let (c, _) = t.dial("203", "204");
    let always = Forwarding {
        always: to("299"),
        ..Forwarding::default()
    };
    t.feed(c, with("204", always));
    assert_eq!(
        t.feed(c, Input::ExtensionFound(Ok(None))),
        [
            "3: LogCall(204, missed)",
            "3: Answer",
            "3: Play(LeaveMessage)"
        ]
    );
}

#[test]
fn with_message_taking_off_busy_and_no_answer_pass_through() {
    let off = Forwarding {
        voicemail: false,
        ..Forwarding::default()
    };
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    t.feed(a, with("202", off.clone()));
    assert_eq!(
        t.advance(Duration::from_secs(30)),
        [
            "2: Release",
            "1: LogCall(202, missed)",
            "1: Reject(Unavailable)",
            "1: Release"
        ]
    );
    let mut t = T::new();
    t.dial("202", "*97");
    let (a, _) = t.dial("201", "202");
    assert_eq!(
        t.feed(a, with("202", off.clone())),
        ["2: LogCall(202, missed)", "2: Reject(Busy)", "2: Release"]
    );
    // Do-not-disturb takes a message all the same.
    let mut t = T::new();
    let (a, _) = t.dial("201", "202");
    let dnd = Forwarding { dnd: true, ..off };
    assert_eq!(
        t.feed(a, with("202", dnd)),
        [
            "1: LogCall(202, missed)",
            "1: Answer",
            "1: Play(LeaveMessage)"
        ]
    );
}

#[test]
fn keypad_settings_are_stored_before_the_confirmation_tone() {
    use crate::{Failure, SettingChange};
    let mut t = T::new();
    let (a, steps) = t.dial("201", "*21203");
    assert_eq!(
        steps.len(),
        1,
        "nothing answered before it is stored: {steps:?}"
    );
    let Some((_, Action::ChangeSetting { user, change })) = t.log.last() else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (*user, change.clone()),
        (
            party("201").user,
            SettingChange::ForwardAlways(Some("203".into()))
        )
    );
    assert_eq!(
        t.feed(a, Input::SettingChanged(Ok(()))),
        ["1: Answer", "1: Play(ConfirmTone)"]
    );
    assert_eq!(t.feed(a, Input::PlaybackDone), ["1: Release"]);
    // A target nobody has: the error tone.
    let (b, _) = t.dial("201", "*67299");
    assert_eq!(
        t.feed(
            b,
            Input::SettingChanged(Err(Failure("no user has extension 299".into())))
        ),
        ["2: Answer", "2: Play(ErrorTone)"]
    );
    assert_eq!(t.feed(b, Input::HungUp), ["2: Release"]);
    // Do-not-disturb; a caller who gives up before it is stored.
    let (c, steps) = t.dial("201", "*24");
    assert_eq!(steps, ["3: ChangeSetting(Dnd(true))"]);
    assert_eq!(
        t.feed(c, Input::Cancelled),
        ["3: Reject(Cancelled)", "3: Release"]
    );
    assert!(t.x.is_empty());
}
