//! Intercom: a phone hearing a live talk (auto-answered), and `*8` speaking one.

use super::*;
use crate::{RingFailure, TalkRefused};
use ivm_rtp::Digit;

/// A talk from 201 is for 202: its line rings the phone with the auto-answer.
fn called(t: &mut T) -> LineId {
    let line = t.open("202");
    assert_eq!(
        t.feed(line, Input::Intercom(party("201"))),
        ["1: Ring(202 intercom from 201)"]
    );
    assert!(t.feed(line, Input::Alerting).is_empty());
    line
}

#[test]
fn an_answered_phone_hears_the_talk_then_a_tone_and_is_hung_up() {
    let mut t = T::new();
    let line = called(&mut t);
    assert_eq!(t.feed(line, Input::Answered), ["1: Hear"]);
    // Playback of the talk's own audio drains now and then: not the end.
    assert!(t.feed(line, Input::PlaybackDone).is_empty());
    assert!(t.feed(line, Input::Audio(silence(0.02))).is_empty());
    assert_eq!(t.feed(line, Input::TalkOver), ["1: Play(TalkTone)"]);
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
    assert!(t.x.is_empty());
}

#[test]
fn busy_unreachable_refused_or_slow_phones_are_released_for_the_stored_copy() {
    for failure in [
        RingFailure::Busy,
        RingFailure::Unreachable,
        RingFailure::Refused(486),
        RingFailure::NoAnswer,
    ] {
        let mut t = T::new();
        let line = called(&mut t);
        assert_eq!(
            t.feed(line, Input::RingFailed(failure.clone())),
            ["1: Release"],
            "{failure:?}"
        );
    }
    // A phone that rings instead of answering by itself is given up after 5 s.
    let mut t = T::new();
    called(&mut t);
    assert!(t.advance(Duration::from_millis(4_900)).is_empty());
    assert_eq!(t.advance(Duration::from_millis(100)), ["1: Release"]);
}

#[test]
fn a_user_on_another_line_is_not_rung() {
    let mut t = T::new();
    // 202 is recording a message.
    let (_, _) = t.dial("202", "*7203");
    let line = t.open("202");
    assert_eq!(
        t.feed(line, Input::Intercom(party("201"))),
        ["2: Release"],
        "busy: no ring, the stored copy only"
    );
}

#[test]
fn the_talk_ending_while_ringing_or_the_phone_hanging_up_releases() {
    let mut t = T::new();
    let line = called(&mut t);
    assert_eq!(t.feed(line, Input::TalkOver), ["1: Release"]);
    let mut t = T::new();
    let line = called(&mut t);
    t.feed(line, Input::Answered);
    assert_eq!(t.feed(line, Input::HungUp), ["1: Release"]);
}

#[test]
fn star8_starts_the_talk_answers_with_a_tone_and_speaks_until_hang_up() {
    let mut t = T::new();
    let (line, steps) = t.dial("201", "*8202*203");
    assert_eq!(steps, [r#"1: StartTalk(["202", "203"])"#]);
    assert!(matches!(
        &t.log[0].1,
        Action::StartTalk { speaker, .. } if *speaker == party("201").user
    ));
    assert_eq!(
        t.feed(line, Input::TalkStarted(Ok(()))),
        ["1: Answer", "1: Play(TalkTone)"]
    );
    assert!(
        t.audio(line, &speech(0.1)).is_empty(),
        "nothing is sent during the tone"
    );
    assert!(t.feed(line, Input::PlaybackDone).is_empty());
    assert_eq!(
        t.audio(line, &speech(0.06)),
        [
            "1: Speak(160 samples)",
            "1: Speak(160 samples)",
            "1: Speak(160 samples)"
        ]
    );
    assert_eq!(t.feed(line, Input::HungUp), ["1: EndTalk", "1: Release"]);
}

#[test]
fn star8_pound_ends_and_a_limit_releases_without_ending_twice() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*8202");
    t.feed(line, Input::TalkStarted(Ok(())));
    t.feed(line, Input::PlaybackDone);
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Pound)),
        ["1: EndTalk", "1: Release"]
    );
    let mut t = T::new();
    let (line, _) = t.dial("201", "*8202");
    t.feed(line, Input::TalkStarted(Ok(())));
    t.feed(line, Input::PlaybackDone);
    assert_eq!(t.feed(line, Input::TalkOver), ["1: Release"]);
}

#[test]
fn star8_refused_or_unknown_gets_an_error_tone_and_a_hang_up() {
    for refused in [
        TalkRefused::UnknownRecipient("999".into()),
        TalkRefused::Refused("already talking".into()),
    ] {
        let mut t = T::new();
        let (line, _) = t.dial("201", "*8999");
        assert_eq!(
            t.feed(line, Input::TalkStarted(Err(refused))),
            ["1: Answer", "1: Play(ErrorTone)"]
        );
        assert!(t.feed(line, Input::Audio(speech(0.02))).is_empty());
        assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
    }
    let mut t = T::new();
    assert_eq!(
        t.dial("201", "*8").1,
        ["1: Reject(BadNumber)", "1: Release"]
    );
}

#[test]
fn star8_cancelled_before_the_talk_started_or_answer_failed() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*8202");
    assert_eq!(
        t.feed(line, Input::Cancelled),
        ["1: Reject(Cancelled)", "1: Release"]
    );
    let mut t = T::new();
    let (line, _) = t.dial("201", "*8202");
    t.feed(line, Input::TalkStarted(Ok(())));
    assert_eq!(
        t.feed(line, Input::AnswerFailed(crate::Reason::NoResources)),
        ["1: EndTalk", "1: Reject(NoResources)", "1: Release"]
    );
}
