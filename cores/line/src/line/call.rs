//! Calls between extensions, as a back-to-back user agent (`docs/decisions/0002-calls.md`):
//! both phones talk to the box, each on its own line. The caller's line looks the extension
//! up and asks the exchange to ring the callee's line; the callee's line rings its phone and
//! tells the caller's line what happens (ringing, answered, refused, gone). On answer the
//! caller is answered and the two lines are bridged. Busy, no answer, refusals and a caller's
//! CANCEL pass through; a hang-up on either side ends both. Either side of a bridged call may
//! transfer the other (`transfer.rs`).
//!
//! The callee's settings ([`crate::Forwarding`]) come with the look-up: forward always skips
//! ringing, busy and no answer (after the user's delay) forward, a chain is bounded by
//! [`MAX_HOPS`] and never revisits a user; do-not-disturb, and busy or no answer for a user
//! who takes messages, answer the caller to record a message for them ([`Record::voicemail`]).
//! When the ringing ends the caller's line asks for one call history entry
//! ([`Action::LogCall`]): answered by whom, or missed by the user it was for.

use std::time::Instant;

use super::record::Record;
use super::transfer::Transfer;
use super::{Cx, Event, Out, PeerEvent, State};
use crate::action::{Action, Reason};
use crate::forward::{Extension, MAX_HOPS};
use crate::input::{Input, LineId, RingFailure};

/// The caller's side.
pub(crate) enum Caller {
    /// The extension (or a forward's target) is being looked up.
    Looking { route: Route },
    /// The exchange was asked to ring `target`'s line (it answers at once: `Calling` or
    /// `Failed(Busy)`).
    Asking { route: Route, target: Extension },
    /// The callee's line rings its phone.
    Ringing {
        callee: LineId,
        route: Route,
        target: Extension,
    },
    /// Answered and bridged.
    Bridged { peer: LineId },
}

/// Where a call has been: the extensions it reached (the caller's first), and the user whose
/// forward is being followed (the one to take a message for if the forward leads nowhere).
pub(crate) struct Route {
    visited: Vec<String>,
    from: Option<Extension>,
}

/// Why a forward is followed (for the log, and what to do when it cannot be).
#[derive(Debug, Clone, Copy)]
enum Why {
    Always,
    Busy,
    NoAnswer,
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
        let route = Route {
            visited: vec![cx.party.ext.clone()],
            from: None,
        };
        State::Caller(Caller::Looking { route })
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        match (self, ev) {
            (Caller::Looking { route }, Event::Input(Input::ExtensionFound(found))) => {
                match found {
                    Ok(Some(target)) => found_user(cx, route, target),
                    Ok(None) => match route.from {
                        Some(from) => {
                            tracing::info!("the forward's target is nobody: take a message");
                            log_call(cx, &from, false);
                            Record::voicemail(cx, from.party.ext)
                        }
                        None => {
                            tracing::info!("no user has this extension");
                            cx.reject(Reason::UnknownNumber)
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look the extension up");
                        cx.reject(Reason::Failed)
                    }
                }
            }
            (Caller::Asking { route, target }, Event::Peer(PeerEvent::Calling(callee))) => {
                State::Caller(Caller::Ringing {
                    callee,
                    route,
                    target,
                })
            }
            (
                Caller::Asking { route, target } | Caller::Ringing { route, target, .. },
                Event::Peer(PeerEvent::Failed(f)),
            ) => failed(cx, route, target, f),
            (state @ Caller::Ringing { .. }, Event::Peer(PeerEvent::Alerting)) => {
                cx.act(Action::Ringback);
                State::Caller(state)
            }
            (Caller::Ringing { callee, target, .. }, Event::Peer(PeerEvent::Answered)) => {
                tracing::info!("bridged");
                log_call(cx, &target, true);
                cx.act(Action::Answer);
                cx.act(Action::Bridge(callee));
                State::Caller(Caller::Bridged { peer: callee })
            }
            (Caller::Ringing { target, .. }, Event::Peer(PeerEvent::HungUp)) => {
                log_call(cx, &target, false);
                cx.reject(Reason::Unavailable)
            }
            (Caller::Looking { .. } | Caller::Asking { .. }, Event::Input(Input::Cancelled)) => {
                cx.reject(Reason::Cancelled)
            }
            (Caller::Ringing { callee, target, .. }, Event::Input(Input::Cancelled)) => {
                log_call(cx, &target, false);
                cx.tell(callee, PeerEvent::HungUp);
                cx.reject(Reason::Cancelled)
            }
            (
                Caller::Ringing { callee, target, .. },
                Event::Input(Input::HungUp | Input::MediaInactive),
            ) => {
                log_call(cx, &target, false);
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
            (
                Caller::Looking { .. } | Caller::Asking { .. },
                Event::Input(Input::HungUp | Input::MediaInactive),
            ) => cx.release(),
            (state, _) => State::Caller(state),
        }
    }
}

/// The user at the dialled (or forwarded-to) extension is known: forward always, take a
/// message for a user in do-not-disturb, or ring them (for their no-answer delay when they
/// forward on no answer).
fn found_user(cx: &mut Cx, mut route: Route, target: Extension) -> State {
    route.visited.push(target.party.ext.clone());
    if let Some(to) = target.forwarding.always.clone() {
        match forward(cx, route, &target, to, Why::Always) {
            Ok(state) => return state,
            Err(back) => route = *back,
        }
    }
    if target.forwarding.dnd {
        tracing::info!(callee = %target.party.ext, "do-not-disturb: take a message");
        log_call(cx, &target, false);
        return Record::voicemail(cx, target.party.ext);
    }
    let ring_for = match &target.forwarding.no_answer {
        Some((_, after)) => (*after).min(cx.cfg.ring_timeout),
        None => cx.cfg.ring_timeout,
    };
    cx.ask(Out::RingLine(target.party.clone(), ring_for));
    State::Caller(Caller::Asking { route, target })
}

/// The callee's line could not answer: follow their forward on busy or no answer, else take
/// a message when they want that (or the forward could not be followed), else tell the caller.
fn failed(cx: &mut Cx, route: Route, target: Extension, f: RingFailure) -> State {
    let (to, why) = match &f {
        RingFailure::Busy => (target.forwarding.busy.clone(), Why::Busy),
        RingFailure::NoAnswer | RingFailure::Unreachable => (
            target.forwarding.no_answer.clone().map(|(to, _)| to),
            Why::NoAnswer,
        ),
        _ => {
            log_call(cx, &target, false);
            return cx.reject(reason(&f));
        }
    };
    if let Some(to) = to {
        match forward(cx, route, &target, to, why) {
            Ok(state) => return state,
            Err(_) => {
                log_call(cx, &target, false);
                return Record::voicemail(cx, target.party.ext);
            }
        }
    }
    log_call(cx, &target, false);
    if target.forwarding.voicemail {
        tracing::info!(callee = %target.party.ext, ?why, "take a message");
        return Record::voicemail(cx, target.party.ext);
    }
    cx.reject(reason(&f))
}

/// The call's ringing ended: answered by `target`, or not (then it was for `target`, the
/// last user it reached; users whose forward it followed are not told).
fn log_call(cx: &mut Cx, target: &Extension, answered: bool) {
    cx.act(Action::LogCall {
        caller: cx.party.user,
        callee: target.party.clone(),
        answered,
    });
}

/// Follows `from`'s forward to `to`, unless the call has made [`MAX_HOPS`] forwards already or
/// `to` is a user it reached (or the caller): then the route comes back to try something else.
fn forward(
    cx: &mut Cx,
    route: Route,
    from: &Extension,
    to: String,
    why: Why,
) -> Result<State, Box<Route>> {
    let to = to.trim().to_owned();
    // The caller and the dialled user are not forwards.
    let hops = route.visited.len().saturating_sub(2);
    if hops >= MAX_HOPS || route.visited.contains(&to) {
        tracing::info!(%to, ?why, hops, "forward not followed: a loop or too many hops");
        return Err(Box::new(route));
    }
    tracing::info!(from = %from.party.ext, %to, ?why, "forwarded");
    cx.act(Action::LookUpExtension(to));
    Ok(State::Caller(Caller::Looking {
        route: Route {
            visited: route.visited,
            from: Some(from.clone()),
        },
    }))
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
