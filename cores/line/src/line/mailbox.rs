//! The `*97` mailbox menu: "you have N new messages", then each message (unplayed first,
//! newest first) announced by its sender's extension and played; after each, the menu: 1
//! replay, 2 next, 3 delete, 4 reply (record a message to the sender). A key interrupts
//! whatever is playing. A message heard to the end is marked played (a receipt for its
//! sender, the lamp for the listener).

use ivm_rtp::prompts::{self, Prompt};
use ivm_rtp::Digit;

use super::take::{Step, Take};
use super::{Cx, Event, State};
use crate::action::{Action, Sound};
use crate::input::{Input, MailboxItem, PostOutcome};

/// The states of a `*97` call; `idx` is the message the menu is about.
pub(crate) enum Mailbox {
    /// Answered; the mailbox is being read.
    Loading,
    /// "You have N new messages" is playing.
    Intro { items: Vec<MailboxItem> },
    /// "Message from extension 2 0 2" is playing while the audio loads.
    Announce { items: Vec<MailboxItem>, idx: usize },
    /// The message is playing.
    Playing { items: Vec<MailboxItem>, idx: usize },
    /// The menu prompt is playing, or it ended and the phone has a key to press.
    Menu { items: Vec<MailboxItem>, idx: usize },
    /// Recording a reply to message `idx`'s sender.
    Replying {
        items: Vec<MailboxItem>,
        idx: usize,
        take: Take,
    },
    /// The reply was handed over; back to the menu when it is posted.
    Posting { items: Vec<MailboxItem>, idx: usize },
    /// "Goodbye" (after the last message, or with nothing to hear) is playing.
    Closing,
}

impl Mailbox {
    /// `*97` dialled: answer at once and read the mailbox.
    pub fn start(cx: &mut Cx) -> State {
        cx.act(Action::Answer);
        cx.act(Action::LoadMailbox {
            user: cx.party.user,
        });
        State::Mailbox(Mailbox::Loading)
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        let Event::Input(input) = ev else {
            return State::Mailbox(self);
        };
        match (self, input) {
            (_, Input::AnswerFailed(reason)) => cx.reject(reason),
            (Mailbox::Replying { items, idx, take }, input) => reply(cx, items, idx, take, input),
            (_, Input::HungUp | Input::MediaInactive | Input::Cancelled) => cx.release(),
            (Mailbox::Loading, Input::MailboxLoaded(Ok(items))) => {
                let new = items.iter().filter(|i| i.new).count() as u32;
                tracing::info!(messages = items.len(), new, "mailbox");
                if items.is_empty() {
                    close(cx, vec![Prompt::NO_MESSAGES, Prompt::GOODBYE])
                } else {
                    cx.say(prompts::you_have(new));
                    State::Mailbox(Mailbox::Intro { items })
                }
            }
            (Mailbox::Loading, Input::MailboxLoaded(Err(e))) => {
                tracing::warn!(error = %e, "cannot read the mailbox");
                close(cx, vec![Prompt::GOODBYE])
            }
            (Mailbox::Intro { items }, Input::PlaybackDone) => next(cx, items, 0),
            (Mailbox::Announce { items, idx }, Input::MessageAudio { message, audio })
                if items.get(idx).is_some_and(|i| i.id == message) =>
            {
                match audio {
                    Ok(pcm) => {
                        cx.act(Action::Play(Sound::Message(pcm)));
                        State::Mailbox(Mailbox::Playing { items, idx })
                    }
                    Err(e) => {
                        tracing::warn!(%message, error = %e, "cannot play a message");
                        cx.say(vec![Prompt::MENU]);
                        State::Mailbox(Mailbox::Menu { items, idx })
                    }
                }
            }
            (Mailbox::Playing { items, idx }, Input::PlaybackDone) => {
                if let Some(item) = items.get(idx) {
                    cx.act(Action::MarkPlayed {
                        user: cx.party.user,
                        message: item.id,
                    });
                }
                cx.say(vec![Prompt::MENU]);
                State::Mailbox(Mailbox::Menu { items, idx })
            }
            (Mailbox::Posting { items, idx }, Input::Posted(outcome)) => {
                let said = match outcome {
                    PostOutcome::Sent => Prompt::MESSAGE_SENT,
                    PostOutcome::NothingToSend | PostOutcome::Failed => Prompt::NOT_SENT,
                };
                cx.say(vec![said, Prompt::MENU]);
                State::Mailbox(Mailbox::Menu { items, idx })
            }
            (Mailbox::Closing, Input::PlaybackDone) => cx.release(),
            (
                state @ (Mailbox::Intro { .. }
                | Mailbox::Announce { .. }
                | Mailbox::Playing { .. }
                | Mailbox::Menu { .. }),
                Input::Digit(d),
            ) => key(cx, state, d),
            (state, _) => State::Mailbox(state),
        }
    }
}

/// Announces message `idx` and loads its audio, or says goodbye past the last one.
fn next(cx: &mut Cx, items: Vec<MailboxItem>, idx: usize) -> State {
    let Some(item) = items.get(idx) else {
        return close(cx, vec![Prompt::END_OF_MESSAGES, Prompt::GOODBYE]);
    };
    cx.say(prompts::message_from_extension(&item.sender_ext));
    cx.act(Action::LoadAudio {
        user: cx.party.user,
        message: item.id,
    });
    State::Mailbox(Mailbox::Announce { items, idx })
}

fn close(cx: &mut Cx, said: Vec<Prompt>) -> State {
    cx.say(said);
    State::Mailbox(Mailbox::Closing)
}

/// A key while listening: it interrupts what plays, then 1 replays, 2 skips to the next, 3
/// deletes and goes on, 4 records a reply to the sender (when the sender has an extension).
/// Any other key only interrupts (the state stays: a message still loading plays when it
/// arrives).
fn key(cx: &mut Cx, state: Mailbox, d: Digit) -> State {
    let idx = match &state {
        Mailbox::Intro { .. } => 0,
        Mailbox::Announce { idx, .. }
        | Mailbox::Playing { idx, .. }
        | Mailbox::Menu { idx, .. } => *idx,
        _ => return State::Mailbox(state),
    };
    let item = match &state {
        Mailbox::Intro { items }
        | Mailbox::Announce { items, .. }
        | Mailbox::Playing { items, .. }
        | Mailbox::Menu { items, .. } => items.get(idx).cloned(),
        _ => None,
    };
    let Some(item) = item else {
        return State::Mailbox(state);
    };
    cx.act(Action::StopPlayback);
    let items = match d {
        Digit::Num(1..=3) => state.into_items(),
        Digit::Num(4) if !item.sender_ext.is_empty() => state.into_items(),
        _ => return State::Mailbox(state),
    };
    match d {
        Digit::Num(1) => next(cx, items, idx),
        Digit::Num(2) => next(cx, items, idx + 1),
        Digit::Num(3) => {
            cx.act(Action::Delete {
                user: cx.party.user,
                message: item.id,
            });
            cx.say(vec![Prompt::DELETED]);
            next(cx, items, idx + 1)
        }
        _ => {
            let take = Take::start(cx, vec![item.sender_ext], true);
            State::Mailbox(Mailbox::Replying { items, idx, take })
        }
    }
}

impl Mailbox {
    /// The messages, whatever the state.
    fn into_items(self) -> Vec<MailboxItem> {
        match self {
            Mailbox::Intro { items }
            | Mailbox::Announce { items, .. }
            | Mailbox::Playing { items, .. }
            | Mailbox::Menu { items, .. }
            | Mailbox::Replying { items, .. }
            | Mailbox::Posting { items, .. } => items,
            Mailbox::Loading | Mailbox::Closing => Vec::new(),
        }
    }
}

/// Events while recording a reply.
fn reply(cx: &mut Cx, items: Vec<MailboxItem>, idx: usize, take: Take, input: Input) -> State {
    let take = match input {
        Input::PlaybackDone => take.playback_done(cx),
        Input::Audio(pcm) => take.audio(cx, &pcm),
        Input::Digit(d) => take.digit(cx, d),
        Input::AudioFlushed => match take.flushed(cx) {
            Step::Posted if *cx.ending => return cx.release(),
            Step::Posted => return State::Mailbox(Mailbox::Posting { items, idx }),
            Step::Go(take) => take,
        },
        Input::HungUp | Input::MediaInactive | Input::Cancelled => {
            *cx.ending = true;
            match take.hang_up(cx) {
                Some(flushing) => flushing,
                None => return cx.release(),
            }
        }
        _ => take,
    };
    State::Mailbox(Mailbox::Replying { items, idx, take })
}
