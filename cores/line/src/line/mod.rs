//! One line: who is on it, which service it is in, and what it has to say. Crate-private:
//! the [`crate::Exchange`] owns the lines, feeds them and routes what they say.
//!
//! A line starts [`State::Idle`] and the first input picks its service:
//!
//! ```text
//! Idle ─Dialled(*7..)─> Record: Checking ─> Taking(Take) ─> Posting ─> Closing ─> Release
//!  │                                          Take: Greeting ─> Recording ─> Flushing ─> Post
//!  ├─Dialled(*97)────> Mailbox: Loading ─> Intro ─> Announce ⇄ Playing ─> Menu ─┐
//!  │                            (keys 1 2 3 4 from Intro/Announce/Playing/Menu) │
//!  │                            Menu ─4─> Replying(Take) ─> Posting ─> Menu ────┘ ─> Closing
//!  ├─Dialled(ext)────> Caller: Looking ─> Asking ─> Ringing{callee} ─> Bridged{peer}
//!  │                    (forwards: back to Looking; busy/no answer/DND: Record::voicemail)
//!  ├─RingMe(to)──────> RingMe: Checking ─> Ringing{deadline} ─answer─> Record: Taking
//!  ├─Dialled(*8..)───> Speak: Starting ─TalkStarted─> Tone ─> Speaking ─hang-up/#─> EndTalk
//!  │                          └─refused─> Failing (error tone)
//!  ├─Dialled(*21..)──> Setting: Changing ─SettingChanged─> Confirming (tone) ─> Release
//!  ├─Intercom(from)──> Listen: Ringing{deadline} ─answer─> Hearing ─TalkOver─> tone
//!  └─(created by the exchange for a caller) Callee: Ringing{caller, deadline} ─> Bridged
//!
//! Caller/Callee: Bridged ─Transfer(ext)─> Transfer: Looking ─> Ringing{target}
//!                   ^           (failed) ─┘                    └─answered─> Release
//! ```
//! Every path ends with [`Action::Release`], after which the exchange drops the line.

mod call;
mod listen;
mod mailbox;
mod record;
mod ring_me;
mod setting;
mod speak;
mod take;
mod transfer;

use std::time::Instant;

use ivm_rtp::prompts::Prompt;

use crate::action::{Action, Origin, Reason, Sound};
use crate::activity::{Direction, Phase};
use crate::dialplan::{self, Dial};
use crate::input::{Input, LineId, Party, RingFailure};
use crate::Config;

pub(crate) use call::Callee;

/// What a line reacts to: an adapter's input, a message from the line it is in a call with,
/// or its deadline.
#[derive(Debug)]
pub(crate) enum Event {
    /// From the adapter.
    Input(Input),
    /// From the other line of a call, through the exchange.
    Peer(PeerEvent),
    /// The line's deadline ([`Line::deadline`]) may have passed.
    Timeout,
}

/// What the two lines of a call tell each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerEvent {
    /// To a caller: the exchange made this line for the callee and rings it.
    Calling(LineId),
    /// To a caller: the callee's phone rings.
    Alerting,
    /// To a caller: the callee answered.
    Answered,
    /// To a caller: the callee's line failed to answer.
    Failed(RingFailure),
    /// The other side of the call is gone.
    HungUp,
    /// A transfer connected this line to another: bridge to it from now on.
    Rebridge(LineId),
    /// An attended transfer connected this line's other party elsewhere: leave quietly.
    Replaced,
}

/// What a line says; the exchange turns it into actions, events for other lines, or new
/// lines.
#[derive(Debug)]
pub(crate) enum Out {
    /// For the adapter.
    Do(Action),
    /// For another line.
    Tell(LineId, PeerEvent),
    /// Ring this user's line for me (a call between extensions): the exchange checks that
    /// the callee is not busy and makes the callee's line, or answers
    /// `Peer(Failed(Busy))`. The callee's line rings for the duration (the ring timeout, or
    /// the callee's forward-on-no-answer delay when shorter).
    RingLine(Party, std::time::Duration),
    /// Ring my own phone (ring-my-phone): the exchange checks that its user is not busy on
    /// another line, then passes [`Action::Ring`] on, or answers `RingFailed(Busy)`.
    RingMine(Origin),
    /// Attended transfer: connect `held` (my call's other party) with the other party of
    /// `other` (my user's other call) and end `other`; the exchange answers
    /// `Peer(Answered)`, or `Peer(Failed(Refused(481)))` when `other` is no such call.
    Join { held: LineId, other: LineId },
}

/// The service a line is in; each variant carries exactly its service's state.
pub(crate) enum State {
    /// Opened, waiting for what the phone dialled or what the user asked.
    Idle,
    /// `*7`, and ring-my-phone once answered.
    Record(record::Record),
    /// Ring-my-phone until the phone answers.
    RingMe(ring_me::RingMe),
    /// `*97`.
    Mailbox(mailbox::Mailbox),
    /// The caller's side of a call between extensions.
    Caller(call::Caller),
    /// The callee's side.
    Callee(call::Callee),
    /// A phone hearing a live talk.
    Listen(listen::Listen),
    /// A phone speaking a live talk (`*8`).
    Speak(speak::Speak),
    /// A call setting from the keypad.
    Setting(setting::Setting),
    /// A phone transferring the other party of its call (blind transfer).
    Transfer(transfer::Transfer),
    /// Released.
    Done,
}

/// One line.
pub(crate) struct Line {
    pub id: LineId,
    pub party: Party,
    pub span: tracing::Span,
    state: State,
    /// The phone is gone (hung up or vanished) and the line only finishes its recording.
    ending: bool,
    out: Vec<Out>,
}

/// What a service's transition needs: settings, time, who it is, and where to say things.
pub(crate) struct Cx<'a> {
    pub cfg: &'a Config,
    pub now: Instant,
    pub party: &'a Party,
    pub ending: &'a mut bool,
    out: &'a mut Vec<Out>,
}

impl Cx<'_> {
    /// Asks the adapter for `a`.
    pub fn act(&mut self, a: Action) {
        self.out.push(Out::Do(a));
    }

    /// Plays prompts.
    pub fn say(&mut self, prompts: Vec<Prompt>) {
        self.act(Action::Play(Sound::Prompts(prompts)));
    }

    /// Tells the other line of a call.
    pub fn tell(&mut self, to: LineId, ev: PeerEvent) {
        self.out.push(Out::Tell(to, ev));
    }

    /// Says something only the exchange handles.
    pub fn ask(&mut self, out: Out) {
        self.out.push(out);
    }

    /// Refuses the inbound call and finishes.
    pub fn reject(&mut self, r: Reason) -> State {
        self.act(Action::Reject(r));
        self.release()
    }

    /// Finishes the line.
    pub fn release(&mut self) -> State {
        self.act(Action::Release);
        State::Done
    }
}

impl Line {
    /// A line for a phone, waiting for its first input.
    pub fn new(id: LineId, party: Party, span: tracing::Span) -> Line {
        Line::with_state(id, party, span, State::Idle)
    }

    /// A line in a given state (the exchange's callee lines).
    pub fn with_state(id: LineId, party: Party, span: tracing::Span, state: State) -> Line {
        Line {
            id,
            party,
            span,
            state,
            ending: false,
            out: Vec::new(),
        }
    }

    /// True once released.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// When the line wants [`Event::Timeout`]: a ring's deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Callee(c) => c.deadline(),
            State::RingMe(r) => r.deadline(),
            State::Listen(l) => l.deadline(),
            _ => None,
        }
    }

    /// The line as the busy lamp field sees it: its phase, who started it, and the line
    /// at the other end of a call between extensions. `None` once released.
    pub fn phase(&self) -> Option<(Phase, Direction, Option<LineId>)> {
        use Direction::{Initiator, Recipient};
        Some(match &self.state {
            State::Idle => (Phase::Trying, Initiator, None),
            State::Caller(call::Caller::Looking { .. } | call::Caller::Asking { .. }) => {
                (Phase::Trying, Initiator, None)
            }
            State::Caller(call::Caller::Ringing { callee, .. }) => {
                (Phase::Early, Initiator, Some(*callee))
            }
            State::Caller(call::Caller::Bridged { peer }) => {
                (Phase::Confirmed, Initiator, Some(*peer))
            }
            State::Callee(call::Callee::Ringing { caller, .. }) => {
                (Phase::Early, Recipient, Some(*caller))
            }
            State::Callee(call::Callee::Bridged { caller }) => {
                (Phase::Confirmed, Recipient, Some(*caller))
            }
            State::RingMe(ring_me::RingMe::Checking { .. }) => (Phase::Trying, Recipient, None),
            State::RingMe(ring_me::RingMe::Ringing { .. }) => (Phase::Early, Recipient, None),
            State::Listen(listen::Listen::Ringing { .. }) => (Phase::Early, Recipient, None),
            State::Listen(listen::Listen::Hearing { .. }) => (Phase::Confirmed, Recipient, None),
            State::Transfer(t) => (Phase::Confirmed, Initiator, Some(t.held())),
            State::Record(_) | State::Mailbox(_) | State::Speak(_) | State::Setting(_) => {
                (Phase::Confirmed, Initiator, None)
            }
            State::Done => return None,
        })
    }

    /// The line at the other end of a bridged call between extensions.
    pub fn bridged_to(&self) -> Option<LineId> {
        match &self.state {
            State::Caller(call::Caller::Bridged { peer }) => Some(*peer),
            State::Callee(call::Callee::Bridged { caller }) => Some(*caller),
            _ => None,
        }
    }

    /// Takes what the line said since the last call.
    pub fn take_out(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// Runs one event through the line's service, inside the line's span.
    pub fn handle(&mut self, cfg: &Config, now: Instant, ev: Event) {
        let Line {
            party,
            span,
            state,
            ending,
            out,
            ..
        } = self;
        let _entered = span.enter();
        let mut cx = Cx {
            cfg,
            now,
            party,
            ending,
            out,
        };
        let before = std::mem::replace(state, State::Done);
        *state = match before {
            State::Idle => idle(&mut cx, ev),
            State::Record(r) => r.handle(&mut cx, ev),
            State::RingMe(r) => r.handle(&mut cx, ev),
            State::Mailbox(m) => m.handle(&mut cx, ev),
            State::Caller(c) => c.handle(&mut cx, ev),
            State::Callee(c) => c.handle(&mut cx, ev),
            State::Listen(l) => l.handle(&mut cx, ev),
            State::Speak(s) => s.handle(&mut cx, ev),
            State::Setting(s) => s.handle(&mut cx, ev),
            State::Transfer(t) => t.handle(&mut cx, ev),
            State::Done => State::Done,
        };
    }
}

/// The first input: the dial plan, or ring-my-phone.
fn idle(cx: &mut Cx, ev: Event) -> State {
    match ev {
        Event::Input(Input::Dialled(dial)) => match dialplan::parse(&dial) {
            Dial::Mailbox => mailbox::Mailbox::start(cx),
            Dial::Record(to) => record::Record::check(cx, to),
            Dial::Talk(to) => speak::Speak::start(cx, to),
            Dial::Extension(ext) => call::Caller::look_up(cx, ext),
            Dial::Setting(change) => setting::Setting::start(cx, change),
            Dial::BadNumber => {
                tracing::info!(%dial, "*7 or *8 with no recipient or too many");
                cx.reject(Reason::BadNumber)
            }
            Dial::Unknown => {
                tracing::info!(%dial, "nothing at this number");
                cx.reject(Reason::UnknownNumber)
            }
        },
        Event::Input(Input::RingMe(to)) => ring_me::RingMe::start(cx, to),
        Event::Input(Input::Intercom(from)) => listen::Listen::start(cx, from),
        Event::Input(Input::Cancelled) => cx.reject(Reason::Cancelled),
        Event::Input(Input::HungUp | Input::MediaInactive) => cx.release(),
        _ => State::Idle,
    }
}
