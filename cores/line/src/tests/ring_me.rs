//! Ring-my-phone: the box rings the user's phone and records on answer.

use super::*;
use crate::{Failure, PostOutcome, Recipients, RingFailure};
use ivm_rtp::Digit;

/// 201 asks to record to 202 on the desk phone; the recipients are known: the phone rings.
fn ringing(t: &mut T) -> LineId {
    let line = t.open("201");
    assert_eq!(
        t.feed(line, Input::RingMe(vec![" 202 ".into(), "".into()])),
        [r#"1: CheckRecipients(["202"])"#]
    );
    assert_eq!(
        t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known))),
        ["1: Ring(201 from the box)"]
    );
    assert!(t.feed(line, Input::Alerting).is_empty());
    line
}

#[test]
fn answered_beeps_records_and_hang_up_sends() {
    let mut t = T::new();
    let line = ringing(&mut t);
    assert_eq!(
        t.feed(line, Input::Answered),
        ["1: RingMeResult(Ok)", "1: Play(Beep)"]
    );
    t.feed(line, Input::PlaybackDone);
    t.audio(line, &speech(3.0));
    assert_eq!(
        t.feed(line, Input::HungUp),
        ["1: FlushAudio", r#"1: Post(["202"], 2.80 s)"#, "1: Release"]
    );
}

#[test]
fn answered_then_pound_says_message_sent_and_hangs_up() {
    let mut t = T::new();
    let line = ringing(&mut t);
    t.feed(line, Input::Answered);
    t.feed(line, Input::PlaybackDone);
    t.audio(line, &speech(2.0));
    t.feed(line, Input::Digit(Digit::Pound));
    assert_eq!(
        t.feed(line, Input::Posted(PostOutcome::Sent)),
        ["1: ".to_owned() + &said(&[Prompt::MESSAGE_SENT, Prompt::GOODBYE])]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn declined_busy_unreachable_and_failures_are_reported() {
    for (failure, said) in [
        (RingFailure::Refused(603), "Declined(603)"),
        (RingFailure::Busy, "Busy"),
        (RingFailure::NoAnswer, "NoAnswer(30)"),
        (RingFailure::Unreachable, "NotRegistered"),
        (RingFailure::NoResources, r#"Internal("no RTP port")"#),
        (
            RingFailure::Internal("cannot send INVITE".into()),
            r#"Internal("cannot send INVITE")"#,
        ),
    ] {
        let mut t = T::new();
        let line = ringing(&mut t);
        assert_eq!(
            t.feed(line, Input::RingFailed(failure.clone())),
            [format!("1: RingMeResult({said})"), "1: Release".to_owned()],
            "{failure:?}"
        );
    }
}

#[test]
fn no_answer_within_the_ring_timeout() {
    let mut t = T::new();
    let line = ringing(&mut t);
    assert!(t.advance(Duration::from_secs(29)).is_empty());
    assert_eq!(
        t.advance(Duration::from_secs(1)),
        ["1: RingMeResult(NoAnswer(30))", "1: Release"]
    );
    assert!(!t.x.contains(line));
}

#[test]
fn busy_when_the_user_is_on_another_line() {
    let mut t = T::new();
    let (_, _) = t.dial("201", "*97");
    let line = t.open("201");
    t.feed(line, Input::RingMe(vec!["202".into()]));
    assert_eq!(
        t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known))),
        ["2: RingMeResult(Busy)", "2: Release"]
    );
}

#[test]
fn recipients_are_checked_first() {
    let mut t = T::new();
    let line = t.open("201");
    assert_eq!(
        t.feed(line, Input::RingMe(vec![" ".into()])),
        ["1: RingMeResult(NoRecipients)", "1: Release"]
    );
    let line = t.open("201");
    t.feed(line, Input::RingMe(vec!["bob".into(), "zed".into()]));
    assert_eq!(
        t.feed(
            line,
            Input::RecipientsChecked(Ok(Recipients::Unknown("zed".into())))
        ),
        [r#"2: RingMeResult(UnknownRecipient("zed"))"#, "2: Release"]
    );
    let line = t.open("201");
    t.feed(line, Input::RingMe(vec!["bob".into()]));
    assert_eq!(
        t.feed(line, Input::RecipientsChecked(Err(Failure("disk".into())))),
        [r#"3: RingMeResult(Internal("disk"))"#, "3: Release"]
    );
}

#[test]
fn phone_gone_before_answering_is_no_answer() {
    let mut t = T::new();
    let line = ringing(&mut t);
    assert_eq!(
        t.feed(line, Input::HungUp),
        ["1: RingMeResult(NoAnswer(30))", "1: Release"]
    );
}
