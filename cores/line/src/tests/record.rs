//! `*7`: record a message to extensions.

use super::*;
use crate::{Failure, PostOutcome, Reason, Recipients};
use ivm_rtp::Digit;

#[test]
fn star7_greeting_beep_record_pound_post_message_sent_goodbye() {
    let mut t = T::new();
    let (line, steps) = t.dial("201", "*7202");
    assert_eq!(steps, [r#"1: CheckRecipients(["202"])"#]);
    assert_eq!(
        t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known))),
        ["1: Answer", "1: Play(RecordTone)"]
    );
    // Audio before the beep has played is not part of the message.
    assert!(t.audio(line, &speech(1.0)).is_empty());
    assert!(t.feed(line, Input::PlaybackDone).is_empty());
    assert!(t.audio(line, &speech(3.0)).is_empty());
    // Other keys do nothing; # stops: the held audio comes in, the # click goes.
    assert!(t.feed(line, Input::Digit(Digit::Num(5))).is_empty());
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Pound)),
        ["1: FlushAudio", r#"1: Post(["202"], 2.70 s)"#]
    );
    match t.log.last() {
        Some((
            1,
            Action::Post {
                sender,
                to,
                recorder,
            },
        )) => {
            assert_eq!(*sender, party("201").user, "sent as the line's user");
            assert_eq!(to, &["202"]);
            assert!(recorder.holds_speech());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        t.feed(line, Input::Digit(Digit::Pound)).is_empty(),
        "posting"
    );
    assert_eq!(
        t.feed(line, Input::Posted(PostOutcome::Sent)),
        ["1: ".to_owned() + &said(&[Prompt::MESSAGE_SENT, Prompt::GOODBYE])]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
    assert!(t.x.is_empty(), "the line is gone");
    assert!(
        t.feed(line, Input::PlaybackDone).is_empty(),
        "and ignores input"
    );
}

#[test]
fn star7_to_several_recipients_and_held_audio_is_kept() {
    let mut t = T::new();
    let (line, steps) = t.dial("201", "*7202*203");
    assert_eq!(steps, [r#"1: CheckRecipients(["202", "203"])"#]);
    t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known)));
    t.feed(line, Input::PlaybackDone);
    t.audio(line, &speech(3.0));
    // The media layer still holds 60 ms (its jitter buffer): flushed into the message
    // before the # click is cut.
    t.held = speech(0.06);
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Pound)),
        ["1: FlushAudio", r#"1: Post(["202", "203"], 2.76 s)"#]
    );
}

#[test]
fn star7_to_an_unknown_extension_is_refused_404() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*7299");
    assert_eq!(
        t.feed(
            line,
            Input::RecipientsChecked(Ok(Recipients::Unknown("299".into())))
        ),
        ["1: Reject(UnknownNumber)", "1: Release"]
    );
    assert!(t.x.is_empty());
}

#[test]
fn star7_bad_dial_is_refused_484_without_a_lookup() {
    let mut t = T::new();
    assert_eq!(
        t.dial("201", "*7").1,
        ["1: Reject(BadNumber)", "1: Release"]
    );
    let many: Vec<String> = (0..33).map(|i| (300 + i).to_string()).collect();
    assert_eq!(
        t.dial("201", &format!("*7{}", many.join("*"))).1,
        ["2: Reject(BadNumber)", "2: Release"]
    );
    assert_eq!(
        t.dial("201", "*6").1,
        ["3: Reject(UnknownNumber)", "3: Release"],
        "nothing at that code"
    );
    assert!(t.x.is_empty());
}

#[test]
fn star7_store_failure_is_500_and_cancel_while_checking_is_487() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*7202");
    assert_eq!(
        t.feed(
            line,
            Input::RecipientsChecked(Err(Failure("disk gone".into())))
        ),
        ["1: Reject(Failed)", "1: Release"]
    );
    let (line, _) = t.dial("201", "*7202");
    assert_eq!(
        t.feed(line, Input::Cancelled),
        ["2: Reject(Cancelled)", "2: Release"]
    );
    // The lookup's answer for a line that is gone changes nothing.
    assert!(t
        .feed(line, Input::RecipientsChecked(Ok(Recipients::Known)))
        .is_empty());
}

#[test]
fn star7_no_media_port_is_503() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*7202");
    t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known)));
    assert_eq!(
        t.feed(line, Input::AnswerFailed(Reason::NoResources)),
        ["1: Reject(NoResources)", "1: Release"]
    );
}

#[test]
fn silence_timeout_stops_and_keeps_half_a_second_of_the_silence() {
    let mut t = T::new();
    let line = recording_star7(&mut t);
    assert!(t.audio(line, &speech(2.0)).is_empty());
    // The last syllable ends 1.5 s in (0.5 s on, 0.5 s off); 5 s later the recording stops.
    let steps = t.audio(line, &silence(4.4));
    assert!(steps.is_empty(), "not before the timeout: {steps:?}");
    let steps = t.audio(line, &silence(1.0));
    assert_eq!(steps.first().map(String::as_str), Some("1: FlushAudio"));
    let rec = t.posted().expect("posted");
    let secs = rec.duration().as_secs_f64();
    assert!(
        (1.9..=2.1).contains(&secs),
        "the speech and half a second of silence: {secs} s"
    );
    assert!(rec.holds_speech());
    // More audio after the stop is not recorded (the line is posting).
    assert!(t.audio(line, &speech(1.0)).is_empty());
}

#[test]
fn length_limit_stops_at_max_recording() {
    let mut t = T::new(); // the embedded default: 300 s
    let line = recording_star7(&mut t);
    assert!(t.audio(line, &speech(299.9)).is_empty());
    let steps = t.audio(line, &speech(1.0));
    assert_eq!(steps, ["1: FlushAudio", r#"1: Post(["202"], 300.00 s)"#]);
}

#[test]
fn hang_up_while_recording_posts_what_was_said() {
    let mut t = T::new();
    let line = recording_star7(&mut t);
    t.audio(line, &speech(2.0));
    assert_eq!(
        t.feed(line, Input::HungUp),
        ["1: FlushAudio", r#"1: Post(["202"], 1.80 s)"#, "1: Release"]
    );
    assert!(t.x.is_empty());
    // The post's outcome arrives for a line that is gone: nothing to say.
    assert!(t.feed(line, Input::Posted(PostOutcome::Sent)).is_empty());
}

#[test]
fn phone_vanishing_while_recording_posts_and_hangs_up() {
    let mut t = T::new();
    let line = recording_star7(&mut t);
    t.audio(line, &speech(2.0));
    assert_eq!(
        t.feed(line, Input::MediaInactive),
        ["1: FlushAudio", r#"1: Post(["202"], 1.80 s)"#, "1: Release"]
    );
}

#[test]
fn hang_up_during_the_greeting_or_while_posting_posts_nothing_more() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*7202");
    t.feed(line, Input::RecipientsChecked(Ok(Recipients::Known)));
    assert_eq!(t.feed(line, Input::HungUp), ["1: Release"]);
    assert!(t.posted().is_none());

    let line = recording_star7(&mut t);
    t.audio(line, &speech(2.0));
    t.feed(line, Input::Digit(Digit::Pound));
    assert_eq!(t.feed(line, Input::HungUp), [format!("{line}: Release")]);
}

#[test]
fn recording_with_no_speech_is_not_sent() {
    let mut t = T::new();
    let line = recording_star7(&mut t);
    let steps = t.audio(line, &silence(6.0));
    assert_eq!(steps.first().map(String::as_str), Some("1: FlushAudio"));
    let rec = t.posted().expect("handed over");
    assert!(!rec.holds_speech(), "the adapter's encoder will drop it");
    assert_eq!(
        t.feed(line, Input::Posted(PostOutcome::NothingToSend)),
        ["1: ".to_owned() + &said(&[Prompt::NOT_SENT, Prompt::GOODBYE])]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn a_failed_post_says_not_sent() {
    let mut t = T::new();
    let line = recording_star7(&mut t);
    t.audio(line, &speech(2.0));
    t.feed(line, Input::Digit(Digit::Pound));
    assert_eq!(
        t.feed(line, Input::Posted(PostOutcome::Failed)),
        ["1: ".to_owned() + &said(&[Prompt::NOT_SENT, Prompt::GOODBYE])]
    );
}
