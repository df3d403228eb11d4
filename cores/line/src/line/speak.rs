//! A phone speaking a live talk: `*8<ext>[*<ext>...]` (intercom, issue 13). The adapter
//! starts the talk first (the recipients are resolved and the talk core may refuse); then
//! the box answers, plays a short tone, and every frame of the phone's audio goes out as
//! [`Action::Speak`] until the phone hangs up or presses `#` ([`Action::EndTalk`]: a finished
//! talk, stored as a message). A talk that cannot start gets an error tone and a hang-up.

use ivm_rtp::Digit;

use super::{Cx, Event, State};
use crate::action::{Action, Sound};
use crate::input::{Input, TalkRefused};

/// The states of a speaking line.
pub(crate) enum Speak {
    /// The talk is being started; the call is not answered yet.
    Starting,
    /// Answered, the tone plays; the talk is live.
    Tone,
    /// The phone's audio goes to the talk.
    Speaking,
    /// The talk could not start: the error tone plays, then hang up.
    Failing,
}

impl Speak {
    /// `*8` dialled: start the talk before answering.
    pub fn start(cx: &mut Cx, to: Vec<String>) -> State {
        cx.act(Action::StartTalk {
            speaker: cx.party.user,
            to,
        });
        State::Speak(Speak::Starting)
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        let Event::Input(input) = ev else {
            return State::Speak(self);
        };
        match (self, input) {
            (Speak::Starting, Input::TalkStarted(Ok(()))) => {
                cx.act(Action::Answer);
                cx.act(Action::Play(Sound::TalkTone));
                State::Speak(Speak::Tone)
            }
            (Speak::Starting, Input::TalkStarted(Err(refused))) => {
                match &refused {
                    TalkRefused::UnknownRecipient(who) => {
                        tracing::info!(%who, "*8 to an unknown recipient")
                    }
                    TalkRefused::Refused(why) => tracing::info!(%why, "*8 talk refused"),
                }
                cx.act(Action::Answer);
                cx.act(Action::Play(Sound::ErrorTone));
                State::Speak(Speak::Failing)
            }
            (Speak::Starting, Input::Cancelled) => cx.reject(crate::Reason::Cancelled),
            (Speak::Tone | Speak::Speaking, Input::AnswerFailed(reason)) => {
                cx.act(Action::EndTalk);
                cx.reject(reason)
            }
            (_, Input::AnswerFailed(reason)) => cx.reject(reason),
            (Speak::Tone, Input::PlaybackDone) => {
                tracing::info!("speaking live");
                State::Speak(Speak::Speaking)
            }
            (Speak::Speaking, Input::Audio(pcm)) => {
                cx.act(Action::Speak(pcm));
                State::Speak(Speak::Speaking)
            }
            (Speak::Speaking, Input::Digit(Digit::Pound))
            | (Speak::Tone | Speak::Speaking, Input::HungUp | Input::MediaInactive) => {
                cx.act(Action::EndTalk);
                cx.release()
            }
            (Speak::Tone | Speak::Speaking, Input::TalkOver) => {
                tracing::info!("the talk was ended by the box (a limit)");
                cx.release()
            }
            (Speak::Failing, Input::PlaybackDone) => cx.release(),
            (_, Input::HungUp | Input::MediaInactive | Input::Cancelled) => cx.release(),
            (state, _) => State::Speak(state),
        }
    }
}
