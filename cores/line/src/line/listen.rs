//! A phone hearing a live talk (intercom, issue 13): the box calls it with the auto-answer
//! its brand honours, plays the talk from the answer on, and hangs up after a short tone when
//! the talk ends. A phone that is busy, unreachable or does not answer by itself within
//! [`crate::Config::intercom_answer`] is simply released: its user gets the talk's stored
//! copy, which every recipient gets anyway, as new.

use std::time::Instant;

use super::{Cx, Event, Out, State};
use crate::action::{Action, Origin, Sound};
use crate::input::{Input, Party};

/// The states of a listening line.
pub(crate) enum Listen {
    /// Called (once the exchange found the user free), until it answers or `deadline`.
    Ringing { deadline: Instant },
    /// Answered: the talk plays. `over` once the talk ended and the closing tone is queued.
    Hearing { over: bool },
}

impl Listen {
    /// A talk from `from` is for this line's user: ring the phone, unless its user is busy
    /// on another line (the exchange answers `RingFailed(Busy)` then).
    pub fn start(cx: &mut Cx, from: Party) -> State {
        let deadline = cx.now + cx.cfg.intercom_answer;
        cx.ask(Out::RingMine(Origin::Intercom(from)));
        State::Listen(Listen::Ringing { deadline })
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Listen::Ringing { deadline } => Some(*deadline),
            Listen::Hearing { .. } => None,
        }
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        match (self, ev) {
            (Listen::Ringing { .. }, Event::Input(Input::Answered)) => {
                tracing::info!("intercom answered");
                cx.act(Action::Hear);
                State::Listen(Listen::Hearing { over: false })
            }
            (Listen::Ringing { .. }, Event::Input(Input::RingFailed(f))) => {
                tracing::info!(failure = ?f, "intercom not taken: the stored copy stays new");
                cx.release()
            }
            (Listen::Ringing { deadline }, Event::Timeout) => {
                if cx.now < deadline {
                    return State::Listen(Listen::Ringing { deadline });
                }
                tracing::info!("intercom not answered by the phone itself: not auto-answering");
                cx.release()
            }
            (Listen::Ringing { .. }, Event::Input(Input::TalkOver)) => cx.release(),
            (Listen::Hearing { over: false }, Event::Input(Input::TalkOver)) => {
                cx.act(Action::Play(Sound::TalkTone));
                State::Listen(Listen::Hearing { over: true })
            }
            (Listen::Hearing { over: true }, Event::Input(Input::PlaybackDone)) => cx.release(),
            (_, Event::Input(Input::HungUp | Input::MediaInactive | Input::Cancelled)) => {
                cx.release()
            }
            (state, _) => State::Listen(state),
        }
    }
}
