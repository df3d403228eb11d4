//! `*97`: the mailbox menu and every key.

use super::*;
use crate::{Failure, MailboxItem, PostOutcome};
use ivm_rtp::Digit;

fn msg(n: u128) -> Guid {
    Guid::from_u128(0x1000 + n)
}

fn item(n: u128, from: &str, new: bool) -> MailboxItem {
    MailboxItem {
        id: msg(n),
        sender_ext: from.into(),
        new,
    }
}

fn announce(line: LineId, from: &str, n: u128) -> Vec<String> {
    vec![
        format!("{line}: {}", said(&prompts::message_from_extension(from))),
        format!("{line}: LoadAudio({})", msg(n)),
    ]
}

/// `*97` with three messages (two new), through the intro to the first message's menu.
fn at_first_menu(t: &mut T) -> LineId {
    let (line, _) = t.dial("201", "*97");
    t.feed(
        line,
        Input::MailboxLoaded(Ok(vec![
            item(1, "202", true),
            item(2, "203", true),
            item(3, "", false),
        ])),
    );
    t.feed(line, Input::PlaybackDone);
    t.feed(
        line,
        Input::MessageAudio {
            message: msg(1),
            audio: Ok(vec![1; 800]),
        },
    );
    t.feed(line, Input::PlaybackDone);
    line
}

#[test]
fn star97_with_no_messages_says_so_and_hangs_up() {
    let mut t = T::new();
    let (line, steps) = t.dial("201", "*97");
    assert_eq!(steps, ["1: Answer", "1: LoadMailbox"]);
    assert_eq!(
        t.feed(line, Input::MailboxLoaded(Ok(Vec::new()))),
        ["1: ".to_owned() + &said(&[Prompt::NO_MESSAGES, Prompt::GOODBYE])]
    );
    assert!(t.feed(line, Input::Digit(Digit::Num(1))).is_empty());
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn star97_plays_each_message_announced_and_marks_it_played() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*97");
    match t.log.get(1) {
        Some((_, Action::LoadMailbox { user })) => assert_eq!(*user, party("201").user),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.feed(
            line,
            Input::MailboxLoaded(Ok(vec![item(1, "202", true), item(2, "203", false)]))
        ),
        ["1: ".to_owned() + &said(&prompts::you_have(1))]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), announce(line, "202", 1));
    // The announcement ends before the audio is ready: nothing yet.
    assert!(t.feed(line, Input::PlaybackDone).is_empty());
    assert_eq!(
        t.feed(
            line,
            Input::MessageAudio {
                message: msg(1),
                audio: Ok(vec![1; 800])
            }
        ),
        ["1: Play(Message(800 samples))"]
    );
    assert_eq!(
        t.feed(line, Input::PlaybackDone),
        [
            format!("1: MarkPlayed({})", msg(1)),
            "1: ".to_owned() + &said(&[Prompt::MENU])
        ]
    );
    match t.log.iter().rev().nth(1) {
        Some((_, Action::MarkPlayed { user, message })) => {
            assert_eq!((*user, *message), (party("201").user, msg(1)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_1_replays() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    let mut want = vec![format!("{line}: StopPlayback")];
    want.extend(announce(line, "202", 1));
    assert_eq!(t.feed(line, Input::Digit(Digit::Num(1))), want);
}

#[test]
fn key_2_next_and_the_end_of_the_list() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    let mut want = vec!["1: StopPlayback".to_owned()];
    want.extend(announce(line, "203", 2));
    assert_eq!(t.feed(line, Input::Digit(Digit::Num(2))), want);
    // A key during the announcement moves on at once; the skipped message's audio, arriving
    // late, is not played.
    let steps = t.feed(line, Input::Digit(Digit::Num(2)));
    assert_eq!(steps[0], "1: StopPlayback");
    assert!(t
        .feed(
            line,
            Input::MessageAudio {
                message: msg(2),
                audio: Ok(vec![1; 800])
            }
        )
        .is_empty());
    // Past the last message: "end of messages, goodbye", then hang up.
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Num(2))),
        [
            "1: StopPlayback".to_owned(),
            "1: ".to_owned() + &said(&[Prompt::END_OF_MESSAGES, Prompt::GOODBYE])
        ]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn key_3_deletes_and_goes_on() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    let mut want = vec![
        "1: StopPlayback".to_owned(),
        format!("1: Delete({})", msg(1)),
        "1: ".to_owned() + &said(&[Prompt::DELETED]),
    ];
    want.extend(announce(line, "203", 2));
    assert_eq!(t.feed(line, Input::Digit(Digit::Num(3))), want);
    match t
        .log
        .iter()
        .find(|(_, a)| matches!(a, Action::Delete { .. }))
    {
        Some((_, Action::Delete { user, message })) => {
            assert_eq!((*user, *message), (party("201").user, msg(1)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_4_records_a_reply_to_the_sender_then_back_to_the_menu() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Num(4))),
        ["1: StopPlayback", "1: Play(RecordTone)"]
    );
    // Keys during the greeting do nothing.
    assert!(t.feed(line, Input::Digit(Digit::Num(2))).is_empty());
    t.feed(line, Input::PlaybackDone);
    t.audio(line, &speech(2.0));
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Pound)),
        ["1: FlushAudio", r#"1: Post(["202"], 1.70 s)"#]
    );
    assert_eq!(
        t.feed(line, Input::Posted(PostOutcome::Sent)),
        ["1: ".to_owned() + &said(&[Prompt::MESSAGE_SENT, Prompt::MENU])]
    );
    // Back at the first message's menu: 2 goes to the second.
    let mut want = vec!["1: StopPlayback".to_owned()];
    want.extend(announce(line, "203", 2));
    assert_eq!(t.feed(line, Input::Digit(Digit::Num(2))), want);
}

#[test]
fn key_4_to_a_sender_without_an_extension_only_interrupts() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    t.feed(line, Input::Digit(Digit::Num(2)));
    t.feed(line, Input::Digit(Digit::Num(2)));
    t.feed(
        line,
        Input::MessageAudio {
            message: msg(3),
            audio: Ok(vec![1; 80]),
        },
    );
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Num(4))),
        ["1: StopPlayback"]
    );
}

#[test]
fn other_keys_only_interrupt_and_a_loading_message_still_plays() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    t.feed(line, Input::Digit(Digit::Num(1)));
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Num(9))),
        ["1: StopPlayback"]
    );
    assert_eq!(t.feed(line, Input::Digit(Digit::Star)), ["1: StopPlayback"]);
    assert_eq!(
        t.feed(
            line,
            Input::MessageAudio {
                message: msg(1),
                audio: Ok(vec![1; 8])
            }
        ),
        ["1: Play(Message(8 samples))"]
    );
}

#[test]
fn keys_during_the_intro_act_on_the_first_message() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*97");
    t.feed(
        line,
        Input::MailboxLoaded(Ok(vec![item(1, "202", true), item(2, "203", true)])),
    );
    let mut want = vec!["1: StopPlayback".to_owned()];
    want.extend(announce(line, "203", 2));
    assert_eq!(t.feed(line, Input::Digit(Digit::Num(2))), want);
}

#[test]
fn a_message_that_cannot_be_read_goes_to_the_menu() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*97");
    t.feed(line, Input::MailboxLoaded(Ok(vec![item(1, "202", true)])));
    t.feed(line, Input::PlaybackDone);
    assert_eq!(
        t.feed(
            line,
            Input::MessageAudio {
                message: msg(1),
                audio: Err(Failure("corrupt".into()))
            }
        ),
        ["1: ".to_owned() + &said(&[Prompt::MENU])]
    );
    assert_eq!(
        t.feed(line, Input::Digit(Digit::Num(2))),
        [
            "1: StopPlayback".to_owned(),
            "1: ".to_owned() + &said(&[Prompt::END_OF_MESSAGES, Prompt::GOODBYE])
        ]
    );
}

#[test]
fn a_mailbox_that_cannot_be_read_says_goodbye() {
    let mut t = T::new();
    let (line, _) = t.dial("201", "*97");
    assert_eq!(
        t.feed(line, Input::MailboxLoaded(Err(Failure("disk".into())))),
        ["1: ".to_owned() + &said(&[Prompt::GOODBYE])]
    );
    assert_eq!(t.feed(line, Input::PlaybackDone), ["1: Release"]);
}

#[test]
fn hang_up_while_listening_or_replying() {
    let mut t = T::new();
    let line = at_first_menu(&mut t);
    assert_eq!(t.feed(line, Input::HungUp), ["1: Release"]);

    let line = at_first_menu(&mut t);
    t.feed(line, Input::Digit(Digit::Num(4)));
    t.feed(line, Input::PlaybackDone);
    t.audio(line, &speech(2.0));
    assert_eq!(
        t.feed(line, Input::HungUp),
        [
            format!("{line}: FlushAudio"),
            format!(r#"{line}: Post(["202"], 1.80 s)"#),
            format!("{line}: Release")
        ]
    );
    assert!(t.x.is_empty());
}
