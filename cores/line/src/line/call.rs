//! Calls between extensions, as a back-to-back user agent (`docs/decisions/0002-calls.md`):
//! both phones talk to the box, each on its own line. The caller's line looks the extension
//! up and asks the exchange to ring the callee's line; the callee's line rings its phone and
//! tells the caller's line what happens (ringing, answered, refused, gone). On answer the
//! caller is answered and the two lines are bridged. Busy, no answer, refusals and a caller's
//! CANCEL pass through; a hang-up on either side ends both. Either side of a bridged call may
//! transfer the other (`transfer.rs`).

use std::time::Instant;

use super::transfer::Transfer;
use super::{Cx, Event, Out, PeerEvent, State};
use crate::action::{Action, Reason};
use crate::input::{Input, LineId, RingFailure};

/// The caller's side.
pub(crate) enum Caller {
    /// The extension is being looked up (and then the exchange is asked to ring it).
    Looking,
    /// The callee's line rings its phone.
    Ringing { callee: LineId },
    /// Answered and bridged.
    Bridged { peer: LineId },
}

/// The callee's side: a line the exchange made for a caller.
pub(crate) enum Callee {
    /// Ringing the phone until `deadline`.
    Ringing { caller: LineId, deadline: Instant },
    /// Answered and bridged.
    Bridged { caller: LineId },
}

/// What the caller is told when the callee's line could not answer.
pub(crate) fn reason(f: &RingFailure) -> Reason {
    match f {
        RingFailure::Busy => Reason::Busy,
        RingFailure::NoAnswer | RingFailure::Unreachable => Reason::Unavailable,
        RingFailure::Refused(code) => Reason::Refused(*code),
        RingFailure::NoResources => Reason::NoResources,
        RingFailure::Internal(_) => Reason::Failed,
    }
}

/// The state of a bridged call, for a line going back to it (a transfer that failed).
pub(crate) fn bridged(caller: bool, peer: LineId) -> State {
    if caller {
        State::Caller(Caller::Bridged { peer })
    } else {
        State::Callee(Callee::Bridged { caller: peer })
    }
}

impl Caller {
    /// An extension was dialled: find its user.
    pub fn look_up(cx: &mut Cx, ext: String) -> State {
        cx.act(Action::LookUpExtension(ext));
        State::Caller(Caller::Looking)
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        match (self, ev) {
            (Caller::Looking, Event::Input(Input::ExtensionFound(found))) => match found {
                Ok(Some(callee)) => {
                    cx.ask(Out::RingLine(callee));
                    State::Caller(Caller::Looking)
                }
                Ok(None) => {
                    tracing::info!("no user has this extension");
                    cx.reject(Reason::UnknownNumber)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot look the extension up");
                    cx.reject(Reason::Failed)
                }
            },
            (Caller::Looking, Event::Peer(PeerEvent::Calling(callee))) => {
                State::Caller(Caller::Ringing { callee })
            }
            (Caller::Looking | Caller::Ringing { .. }, Event::Peer(PeerEvent::Failed(f))) => {
                cx.reject(reason(&f))
            }
            (Caller::Ringing { callee }, Event::Peer(PeerEvent::Alerting)) => {
                cx.act(Action::Ringback);
                State::Caller(Caller::Ringing { callee })
            }
            (Caller::Ringing { callee }, Event::Peer(PeerEvent::Answered)) => {
                tracing::info!("bridged");
                cx.act(Action::Answer);
                cx.act(Action::Bridge(callee));
                State::Caller(Caller::Bridged { peer: callee })
            }
            (Caller::Ringing { .. }, Event::Peer(PeerEvent::HungUp)) => {
                cx.reject(Reason::Unavailable)
            }
            (Caller::Looking, Event::Input(Input::Cancelled)) => cx.reject(Reason::Cancelled),
            (Caller::Ringing { callee }, Event::Input(Input::Cancelled)) => {
                cx.tell(callee, PeerEvent::HungUp);
                cx.reject(Reason::Cancelled)
            }
            (Caller::Ringing { callee }, Event::Input(Input::HungUp | Input::MediaInactive)) => {
                cx.tell(callee, PeerEvent::HungUp);
                cx.release()
            }
            (Caller::Bridged { peer }, Event::Input(Input::AnswerFailed(r))) => {
                cx.tell(peer, PeerEvent::HungUp);
                cx.reject(r)
            }
            (
                Caller::Bridged { peer },
                Event::Input(Input::HungUp | Input::MediaInactive | Input::Cancelled),
            ) => {
                cx.tell(peer, PeerEvent::HungUp);
                cx.release()
            }
            (Caller::Bridged { .. }, Event::Peer(PeerEvent::HungUp)) => cx.release(),
            (Caller::Bridged { peer }, Event::Input(Input::Transfer(ext))) => {
                Transfer::start(cx, true, peer, ext)
            }
            (Caller::Bridged { peer }, Event::Input(Input::Replace(other))) => {
                Transfer::join(cx, true, peer, other)
            }
            (Caller::Bridged { .. }, Event::Peer(PeerEvent::Replaced)) => cx.release(),
            (Caller::Bridged { .. }, Event::Peer(PeerEvent::Rebridge(peer))) => {
                cx.act(Action::Bridge(peer));
                State::Caller(Caller::Bridged { peer })
            }
            (Caller::Looking, Event::Input(Input::HungUp | Input::MediaInactive)) => cx.release(),
            (state, _) => State::Caller(state),
        }
    }
}

impl Callee {
    /// A callee's line, ringing its phone for `caller` until the ring timeout.
    pub fn ringing(caller: LineId, deadline: Instant) -> State {
        State::Callee(Callee::Ringing { caller, deadline })
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Callee::Ringing { deadline, .. } => Some(*deadline),
            Callee::Bridged { .. } => None,
        }
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        match (self, ev) {
            (Callee::Ringing { caller, deadline }, Event::Input(Input::Alerting)) => {
                cx.tell(caller, PeerEvent::Alerting);
                State::Callee(Callee::Ringing { caller, deadline })
            }
            (Callee::Ringing { caller, .. }, Event::Input(Input::Answered)) => {
                cx.tell(caller, PeerEvent::Answered);
                State::Callee(Callee::Bridged { caller })
            }
            (Callee::Ringing { caller, .. }, Event::Input(Input::RingFailed(f))) => {
                cx.tell(caller, PeerEvent::Failed(f));
                cx.release()
            }
            (Callee::Ringing { caller, deadline }, Event::Timeout) => {
                if cx.now < deadline {
                    return State::Callee(Callee::Ringing { caller, deadline });
                }
                tracing::info!("no answer within the ring timeout");
                cx.tell(caller, PeerEvent::Failed(RingFailure::NoAnswer));
                cx.release()
            }
            (
                Callee::Ringing { caller, .. },
                Event::Input(Input::HungUp | Input::MediaInactive),
            ) => {
                cx.tell(caller, PeerEvent::Failed(RingFailure::NoAnswer));
                cx.release()
            }
            (Callee::Bridged { caller }, Event::Input(Input::HungUp | Input::MediaInactive)) => {
                cx.tell(caller, PeerEvent::HungUp);
                cx.release()
            }
            (Callee::Bridged { caller }, Event::Input(Input::Transfer(ext))) => {
                Transfer::start(cx, false, caller, ext)
            }
            (Callee::Bridged { caller }, Event::Input(Input::Replace(other))) => {
                Transfer::join(cx, false, caller, other)
            }
            (Callee::Bridged { .. }, Event::Peer(PeerEvent::Replaced)) => cx.release(),
            (Callee::Bridged { .. }, Event::Peer(PeerEvent::Rebridge(caller))) => {
                cx.act(Action::Bridge(caller));
                State::Callee(Callee::Bridged { caller })
            }
            (_, Event::Peer(PeerEvent::HungUp)) => cx.release(),
            (state, _) => State::Callee(state),
        }
    }
}
