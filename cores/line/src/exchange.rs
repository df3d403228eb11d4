//! The exchange: every line, and what passes between them.
//!
//! It knows which user is on which line, so it is where "busy" is decided; it makes the
//! callee's line when a caller's line asks for a user (`RingLine`), and carries what the two
//! lines of a call tell each other. Adapters see only [`Input`]s going in and
//! `(line, Action)`s coming out; a gateway adapter for analog phones plugs into the same
//! exchange as the SIP station, so a call from a desk phone to an analog phone is the same
//! two lines.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use ivm_wire::Guid;

use crate::action::{Action, Origin};
use crate::activity::Activity;
use crate::input::{Input, LineId, Party, RingFailure};
use crate::line::{Callee, Event, Line, Out, PeerEvent};
use crate::Config;

/// Most events one `handle` runs before giving up (a guard: a call's lines exchange a few).
const MAX_STEPS: usize = 10_000;

/// Every line. See the crate documentation for the driver loop.
pub struct Exchange {
    cfg: Config,
    lines: HashMap<LineId, Line>,
    next: LineId,
    work: VecDeque<(LineId, Event)>,
    actions: VecDeque<(LineId, Action)>,
    /// Users whose [`Exchange::activity`] changed since [`Exchange::take_changed`].
    changed: BTreeSet<Guid>,
}

impl Exchange {
    /// An exchange with no lines.
    pub fn new(cfg: Config) -> Exchange {
        Exchange {
            cfg,
            lines: HashMap::new(),
            next: 0,
            work: VecDeque::new(),
            actions: VecDeque::new(),
            changed: BTreeSet::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A new line for `party`'s phone (an inbound call, or ring-my-phone), waiting for its
    /// first input ([`Input::Dialled`] or [`Input::RingMe`]). `label` names it in its span
    /// (`call`, with `leg`, `ext`, `dial`): the dial string, or what it is for.
    pub fn open(&mut self, party: Party, label: &str) -> LineId {
        let id = self.alloc();
        let span =
            tracing::info_span!(parent: None, "call", leg = id, ext = %party.ext, dial = %label);
        self.changed.insert(party.user);
        self.lines.insert(id, Line::new(id, party, span));
        id
    }

    /// Runs `input` through `line` (ignored for a line that is gone), and whatever it sets off
    /// on other lines; then poll the actions.
    pub fn handle(&mut self, now: Instant, line: LineId, input: Input) {
        self.work.push_back((line, Event::Input(input)));
        self.run(now);
    }

    /// The next deadline (a ring timeout), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lines.values().filter_map(Line::deadline).min()
    }

    /// Runs every deadline that has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<LineId> = self
            .lines
            .values()
            .filter(|l| l.deadline().is_some_and(|d| d <= now))
            .map(|l| l.id)
            .collect();
        for id in due {
            self.work.push_back((id, Event::Timeout));
        }
        self.run(now);
    }

    /// The next thing to do, for which line. Drain until `None` after each `handle`.
    pub fn poll_action(&mut self) -> Option<(LineId, Action)> {
        self.actions.pop_front()
    }

    /// Lines open.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True with no line open.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Whether `line` is still open.
    pub fn contains(&self, line: LineId) -> bool {
        self.lines.contains_key(&line)
    }

    /// Who is on `line`.
    pub fn party(&self, line: LineId) -> Option<&Party> {
        self.lines.get(&line).map(|l| &l.party)
    }

    /// The tracing span of `line` (`call`, with `leg`, `ext`, `dial`).
    pub fn span(&self, line: LineId) -> Option<&tracing::Span> {
        self.lines.get(&line).map(|l| &l.span)
    }

    /// Whether `user` is on any line (in a call, recording, listening, being rung).
    pub fn is_busy(&self, user: Guid) -> bool {
        self.busy(user, &[])
    }

    /// `user`'s open lines as the busy lamp field shows them, oldest first.
    pub fn activity(&self, user: Guid) -> Vec<Activity> {
        let mut v: Vec<Activity> = self
            .lines
            .values()
            .filter(|l| l.party.user == user)
            .filter_map(|l| {
                let (phase, direction, peer) = l.phase()?;
                Some(Activity {
                    line: l.id,
                    phase,
                    direction,
                    peer: peer
                        .and_then(|p| self.lines.get(&p))
                        .map(|p| p.party.clone()),
                })
            })
            .collect();
        v.sort_by_key(|a| a.line);
        v
    }

    /// The users whose lines changed phase (opened, rang, answered, ended) since the last
    /// call, for the adapter to tell their watchers.
    pub fn take_changed(&mut self) -> Vec<Guid> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    fn busy(&self, user: Guid, except: &[LineId]) -> bool {
        self.lines
            .values()
            .any(|l| l.party.user == user && !except.contains(&l.id))
    }

    fn alloc(&mut self) -> LineId {
        self.next += 1;
        self.next
    }

    /// Runs queued events until none is left.
    fn run(&mut self, now: Instant) {
        let mut steps = 0;
        while let Some((id, ev)) = self.work.pop_front() {
            steps += 1;
            if steps > MAX_STEPS {
                tracing::error!("line events do not settle; dropped");
                self.work.clear();
                break;
            }
            let Some(line) = self.lines.get_mut(&id) else {
                continue;
            };
            let before = line.phase();
            line.handle(&self.cfg, now, ev);
            if line.phase() != before {
                self.changed.insert(line.party.user);
            }
            let out = line.take_out();
            if line.is_done() {
                self.lines.remove(&id);
            }
            for o in out {
                self.route(now, id, o);
            }
        }
    }

    /// Where what line `from` said goes.
    fn route(&mut self, now: Instant, from: LineId, out: Out) {
        match out {
            Out::Do(a) => self.actions.push_back((from, a)),
            Out::Tell(to, ev) => {
                if self.lines.contains_key(&to) {
                    self.work.push_back((to, Event::Peer(ev)));
                } else if matches!(ev, PeerEvent::Alerting | PeerEvent::Answered) {
                    // The other side is gone: do not stay up alone.
                    self.work.push_back((from, Event::Peer(PeerEvent::HungUp)));
                }
            }
            Out::RingLine(callee, ring_for) => {
                let Some((caller, span)) = self
                    .lines
                    .get(&from)
                    .map(|l| (l.party.clone(), l.span.clone()))
                else {
                    return;
                };
                let _entered = span.enter();
                if self.busy(callee.user, &[from]) {
                    tracing::info!(callee = %callee.ext, "callee busy");
                    let busy = PeerEvent::Failed(RingFailure::Busy);
                    self.work.push_back((from, Event::Peer(busy)));
                    return;
                }
                let id = self.alloc();
                tracing::info!(callee = %callee.ext, callee_leg = id, "ringing");
                // Its own call, not a child of the caller's span.
                let callee_span = tracing::info_span!(parent: None, "call", leg = id, ext = %callee.ext, dial = "incoming");
                let state = Callee::ringing(from, now + ring_for);
                self.changed.insert(callee.user);
                self.lines
                    .insert(id, Line::with_state(id, callee.clone(), callee_span, state));
                self.actions.push_back((
                    id,
                    Action::Ring {
                        to: callee,
                        from: Origin::Party(caller),
                    },
                ));
                self.work
                    .push_back((from, Event::Peer(PeerEvent::Calling(id))));
            }
            Out::Join { held, other } => {
                let user = self.lines.get(&from).map(|l| l.party.user);
                let target = self
                    .lines
                    .get(&other)
                    .filter(|o| Some(o.party.user) == user && other != from)
                    .and_then(Line::bridged_to)
                    .filter(|t| *t != held && self.lines.contains_key(t))
                    // The party being transferred is still in its call with this line.
                    .filter(|_| self.lines.get(&held).and_then(Line::bridged_to) == Some(from));
                let Some(target) = target else {
                    let failed = PeerEvent::Failed(RingFailure::Refused(481));
                    self.work.push_back((from, Event::Peer(failed)));
                    return;
                };
                for (line, ev) in [
                    (held, PeerEvent::Rebridge(target)),
                    (target, PeerEvent::Rebridge(held)),
                    (other, PeerEvent::Replaced),
                    (from, PeerEvent::Answered),
                ] {
                    self.work.push_back((line, Event::Peer(ev)));
                }
            }
            Out::RingMine(origin) => {
                let Some(party) = self.lines.get(&from).map(|l| l.party.clone()) else {
                    return;
                };
                if self.busy(party.user, &[from]) {
                    let busy = Input::RingFailed(RingFailure::Busy);
                    self.work.push_back((from, Event::Input(busy)));
                } else {
                    self.actions.push_back((
                        from,
                        Action::Ring {
                            to: party,
                            from: origin,
                        },
                    ));
                }
            }
        }
    }
}
