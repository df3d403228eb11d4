//! The recorder service: `*7<ext>[*<ext>...]` (and ring-my-phone once answered). Check the
//! recipients, answer, greeting and beep, record until `#`, the silence timeout, the length
//! limit or a hang-up, post, say "message sent" (or "not sent") and "goodbye", hang up.

use ivm_rtp::prompts::Prompt;

use super::take::{Step, Take};
use super::{Cx, Event, State};
use crate::action::{Action, Reason};
use crate::input::{Input, PostOutcome, Recipients};

/// The states of the recorder service.
pub(crate) enum Record {
    /// `*7`: the recipients are being checked; the call is not answered yet.
    Checking { to: Vec<String> },
    /// Answered: greeting, recording.
    Taking(Take),
    /// The message was handed over; waiting for the post's outcome.
    Posting,
    /// "Message sent/not sent. Goodbye." is playing; then hang up.
    Closing,
}

impl Record {
    /// `*7` dialled: check the recipients before answering.
    pub fn check(cx: &mut Cx, to: Vec<String>) -> State {
        cx.act(Action::CheckRecipients(to.clone()));
        State::Record(Record::Checking { to })
    }

    /// Ring-my-phone was answered: beep (no spoken prompt: the user asked for it) and record.
    pub fn answered(cx: &mut Cx, to: Vec<String>) -> State {
        State::Record(Record::Taking(Take::start(cx, to, false)))
    }

    /// A call to `to` met busy, no answer or do-not-disturb: answer the caller, "please leave
    /// a message", beep, record; the message is the caller's, posted as `*7` posts it.
    pub fn voicemail(cx: &mut Cx, to: String) -> State {
        cx.act(Action::Answer);
        State::Record(Record::Taking(Take::leave_message(cx, vec![to])))
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        let Event::Input(input) = ev else {
            return State::Record(self);
        };
        match (self, input) {
            (Record::Checking { to }, Input::RecipientsChecked(checked)) => match checked {
                Ok(Recipients::Known) => {
                    cx.act(Action::Answer);
                    State::Record(Record::Taking(Take::start(cx, to, true)))
                }
                Ok(Recipients::Unknown(unknown)) => {
                    tracing::info!(%unknown, "*7 to an unknown extension");
                    cx.reject(Reason::UnknownNumber)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the recipients");
                    cx.reject(Reason::Failed)
                }
            },
            (Record::Checking { .. }, Input::Cancelled) => cx.reject(Reason::Cancelled),
            (_, Input::AnswerFailed(reason)) => cx.reject(reason),
            (Record::Taking(take), input) => Record::take(cx, take, input),
            (Record::Posting, Input::Posted(outcome)) => {
                let said = match outcome {
                    PostOutcome::Sent => Prompt::MESSAGE_SENT,
                    PostOutcome::NothingToSend | PostOutcome::Failed => Prompt::NOT_SENT,
                };
                cx.say(vec![said, Prompt::GOODBYE]);
                State::Record(Record::Closing)
            }
            (Record::Closing, Input::PlaybackDone) => cx.release(),
            (_, Input::HungUp | Input::MediaInactive | Input::Cancelled) => cx.release(),
            (state, _) => State::Record(state),
        }
    }

    fn take(cx: &mut Cx, take: Take, input: Input) -> State {
        let next = match input {
            Input::PlaybackDone => take.playback_done(cx),
            Input::Audio(pcm) => take.audio(cx, &pcm),
            Input::Digit(d) => take.digit(cx, d),
            Input::AudioFlushed => match take.flushed(cx) {
                Step::Posted if *cx.ending => return cx.release(),
                Step::Posted => return State::Record(Record::Posting),
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
        State::Record(Record::Taking(next))
    }
}
