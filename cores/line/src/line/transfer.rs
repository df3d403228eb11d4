//! Blind transfer (SIP: REFER, RFC 3515): a phone in a call between extensions asks the box
//! to connect the other party to a third extension and to leave the call itself.
//!
//! The transferor's line (B) drives it; the party being transferred (A) stays bridged to B,
//! hearing whatever B's phone sends (usually nothing: it has put A on hold), until the
//! target (C) answers. Then A and C are bridged to each other (`PeerEvent::Rebridge`), B is
//! told the outcome and its line ends. If the target is unknown, busy or does not answer,
//! B is told why and the call A<->B goes on as it was. If B's phone hangs up before the
//! target answers (phones that do not wait for the outcome), the transfer still completes;
//! if it then fails, A is hung up, as nobody is left on the call.
//!
//! ```text
//! Bridged ─Transfer(ext)─> Looking ─found─> Ringing{target} ─answered─> Rebridge A<->C, Release
//!    ^                        │                  │
//!    └──────── unknown, busy, no answer, refused ┘ (Transferred(Err))
//! Bridged ─Replace(other)─> Joining ─joined by the exchange─> Release (other: Replaced, Release)
//! ```
//!
//! Attended transfer (SIP: REFER with `Replaces`, RFC 5589): the phone has two calls, and
//! asks the box to connect their other parties to each other; the exchange checks that the
//! other call is the same user's and bridged, rebridges both parties and ends both of the
//! phone's lines.

use super::{call, Cx, Event, Out, PeerEvent, State};
use crate::action::{Action, Reason};
use crate::input::{Input, LineId};

/// The transferor's side, while a transfer is in progress.
pub(crate) struct Transfer {
    /// The other party of the call, to be connected to the target.
    held: LineId,
    /// Whether this line was the caller of the call (to go back to the right state).
    caller: bool,
    /// The phone hung up meanwhile: finish the transfer without it.
    gone: bool,
    step: Step,
}

enum Step {
    /// The target extension is being looked up (then the exchange rings it).
    Looking,
    /// Attended: the exchange joins the other party with the other party of this phone's
    /// other call.
    Joining,
    /// The target's line rings its phone.
    Ringing { target: LineId },
}

impl Transfer {
    /// The phone asked to transfer `held` to extension `ext`.
    pub fn start(cx: &mut Cx, caller: bool, held: LineId, ext: String) -> State {
        tracing::info!(target_ext = %ext, "transfer asked");
        cx.act(Action::LookUpExtension(ext));
        State::Transfer(Transfer {
            held,
            caller,
            gone: false,
            step: Step::Looking,
        })
    }

    /// Attended transfer: the phone asks to connect `held` with the other party of its
    /// other call, `other`, and to leave both calls.
    pub fn join(cx: &mut Cx, caller: bool, held: LineId, other: LineId) -> State {
        tracing::info!(other_leg = other, "attended transfer asked");
        cx.ask(Out::Join { held, other });
        State::Transfer(Transfer {
            held,
            caller,
            gone: false,
            step: Step::Joining,
        })
    }

    /// The call's other party (for the busy lamp field).
    pub fn held(&self) -> LineId {
        self.held
    }

    pub fn handle(mut self, cx: &mut Cx, ev: Event) -> State {
        match (&self.step, ev) {
            (Step::Looking, Event::Input(Input::ExtensionFound(found))) => match found {
                Ok(Some(target)) => {
                    // The target rings for the box's ring timeout; its forwards are not
                    // followed (a transfer names the phone the user wants).
                    let ring_for = cx.cfg.ring_timeout;
                    cx.ask(Out::RingLine(target.party, ring_for));
                    State::Transfer(self)
                }
                Ok(None) => {
                    tracing::info!("transfer: no user has this extension");
                    self.fail(cx, Reason::UnknownNumber)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "transfer: cannot look the extension up");
                    self.fail(cx, Reason::Failed)
                }
            },
            (Step::Looking, Event::Peer(PeerEvent::Calling(target))) => {
                self.step = Step::Ringing { target };
                State::Transfer(self)
            }
            (_, Event::Peer(PeerEvent::Failed(f))) => {
                tracing::info!(failure = ?f, "transfer: the target did not answer");
                self.fail(cx, call::reason(&f))
            }
            (Step::Ringing { target }, Event::Peer(PeerEvent::Answered)) => {
                let target = *target;
                tracing::info!(target_leg = target, "transferred");
                cx.tell(self.held, PeerEvent::Rebridge(target));
                cx.tell(target, PeerEvent::Rebridge(self.held));
                if !self.gone {
                    cx.act(Action::Transferred(Ok(())));
                }
                cx.release()
            }
            (Step::Joining, Event::Peer(PeerEvent::Answered)) => {
                tracing::info!("transferred (attended)");
                if !self.gone {
                    cx.act(Action::Transferred(Ok(())));
                }
                cx.release()
            }
            (step, Event::Peer(PeerEvent::HungUp)) => {
                // The party being transferred hung up: nothing to transfer any more.
                if let Step::Ringing { target } = step {
                    cx.tell(*target, PeerEvent::HungUp);
                }
                if !self.gone {
                    cx.act(Action::Transferred(Err(Reason::Cancelled)));
                }
                cx.release()
            }
            (_, Event::Input(Input::HungUp | Input::MediaInactive)) => {
                tracing::info!("transferor hung up; the transfer goes on");
                self.gone = true;
                State::Transfer(self)
            }
            (_, _) => State::Transfer(self),
        }
    }

    /// The transfer failed: the phone is told why and the call goes on, or, if the phone
    /// is gone, the other party is hung up.
    fn fail(self, cx: &mut Cx, reason: Reason) -> State {
        if self.gone {
            cx.tell(self.held, PeerEvent::HungUp);
            return cx.release();
        }
        cx.act(Action::Transferred(Err(reason)));
        call::bridged(self.caller, self.held)
    }
}
