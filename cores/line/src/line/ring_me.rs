//! Ring-my-phone (the patent's second embodiment): a user picks recipients in the browser and
//! asks the box to ring their desk phone; on answer it beeps and records as `*7` does
//! ([`super::record`]). The requester hears `Ok` once the phone is answered, or why not.

use std::time::Instant;

use super::record::Record;
use super::{Cx, Event, Out, State};
use crate::action::{Action, Origin, RingMeError};
use crate::input::{Input, Recipients, RingFailure};

/// Ring-my-phone until the phone answers.
pub(crate) enum RingMe {
    /// The recipients are being checked.
    Checking { to: Vec<String> },
    /// The phone rings (once the exchange found its user free) until `deadline`.
    Ringing { to: Vec<String>, deadline: Instant },
}

impl RingMe {
    /// Asked for: check the recipients first (blank ones ignored; none is an error).
    pub fn start(cx: &mut Cx, to: Vec<String>) -> State {
        let to: Vec<String> = to
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if to.is_empty() {
            return finish(cx, RingMeError::NoRecipients);
        }
        cx.act(Action::CheckRecipients(to.clone()));
        State::RingMe(RingMe::Checking { to })
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self {
            RingMe::Ringing { deadline, .. } => Some(*deadline),
            RingMe::Checking { .. } => None,
        }
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        let secs = cx.cfg.ring_timeout.as_secs();
        match (self, ev) {
            (RingMe::Checking { to }, Event::Input(Input::RecipientsChecked(checked))) => {
                match checked {
                    Ok(Recipients::Known) => {
                        tracing::info!(recipients = to.len(), "ringing the user's phone to record");
                        let deadline = cx.now + cx.cfg.ring_timeout;
                        cx.ask(Out::RingMine(Origin::Service));
                        State::RingMe(RingMe::Ringing { to, deadline })
                    }
                    Ok(Recipients::Unknown(u)) => finish(cx, RingMeError::UnknownRecipient(u)),
                    Err(e) => finish(cx, RingMeError::Internal(e.0)),
                }
            }
            (RingMe::Ringing { to, .. }, Event::Input(Input::Answered)) => {
                cx.act(Action::RingMeResult(Ok(())));
                Record::answered(cx, to)
            }
            (RingMe::Ringing { .. }, Event::Input(Input::RingFailed(f))) => {
                let e = match f {
                    RingFailure::Busy => RingMeError::Busy,
                    RingFailure::NoAnswer => RingMeError::NoAnswer(secs),
                    RingFailure::Refused(code) => RingMeError::Declined(code),
                    RingFailure::Unreachable => RingMeError::NotRegistered,
                    RingFailure::NoResources => RingMeError::Internal("no RTP port".into()),
                    RingFailure::Internal(why) => RingMeError::Internal(why),
                };
                finish(cx, e)
            }
            (RingMe::Ringing { to, deadline }, Event::Timeout) => {
                if cx.now < deadline {
                    return State::RingMe(RingMe::Ringing { to, deadline });
                }
                tracing::info!("no answer within the ring timeout");
                finish(cx, RingMeError::NoAnswer(secs))
            }
            (_, Event::Input(Input::HungUp | Input::MediaInactive | Input::Cancelled)) => {
                finish(cx, RingMeError::NoAnswer(secs))
            }
            (state, _) => State::RingMe(state),
        }
    }
}

/// Reports the failure and finishes.
fn finish(cx: &mut Cx, e: RingMeError) -> State {
    cx.act(Action::RingMeResult(Err(e)));
    cx.release()
}
