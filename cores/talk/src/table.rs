//! Every live talk on the box, by stream id: where a portion is matched to its talk and
//! **where the ownership check sits**. A portion frame names no sender; the driver passes the
//! GUID of the authenticated connection it came in on, and [`Talks`] refuses it unless that
//! GUID started the stream. The check lives here, in the core, rather than in each adapter
//! (WebSocket lane, phone line, CLI) so that no adapter can forget it and it is tested with
//! plain values.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use ivm_wire::object::MAX_DESTINATIONS;
use ivm_wire::talk::{Portion, StreamId};
use ivm_wire::Guid;

use crate::talk::{Event, Talk, TalkConfig};
use crate::TalkError;

/// Default cap on live talks on one box.
pub const DEFAULT_MAX_TALKS: usize = 64;
/// Ended streams remembered so a late portion gets "ended" rather than "unknown".
const RECENT_ENDED: usize = 256;

/// The live talks of one box (owned by one actor; the driver feeds it inputs and acts on
/// [`Talks::poll_event`]).
#[derive(Debug)]
pub struct Talks {
    live: HashMap<StreamId, Talk>,
    /// Recently ended streams and their speakers, oldest first.
    ended: VecDeque<(StreamId, Guid)>,
    last_id: StreamId,
    max_talks: usize,
    /// Settings for new talks (frame duration replaced per talk).
    base: TalkConfig,
    events: VecDeque<Event>,
}

impl Talks {
    /// An empty table with the default limits (20 ms frames, 600 s, 64 talks).
    pub fn new() -> Self {
        Self::with_config(
            // 20 ms is always valid.
            TalkConfig::new(20).unwrap_or_else(|_| unreachable!()),
            DEFAULT_MAX_TALKS,
        )
    }

    /// A table whose talks use `base` (its `frame_ms` is replaced by each talk's own) and
    /// which carries at most `max_talks` at once.
    pub fn with_config(base: TalkConfig, max_talks: usize) -> Self {
        Talks {
            live: HashMap::new(),
            ended: VecDeque::new(),
            last_id: 0,
            max_talks,
            base,
            events: VecDeque::new(),
        }
    }

    /// Start a talk from `owner` to `recipients` (1 to the wire's destination limit, the
    /// speaker and repeats removed) with `frame_ms` portions. Returns its stream id.
    pub fn start(
        &mut self,
        now: Instant,
        owner: Guid,
        mut recipients: Vec<Guid>,
        frame_ms: u16,
    ) -> Result<StreamId, TalkError> {
        let cfg = TalkConfig {
            frame_ms,
            ..self.base.clone()
        };
        let cfg = TalkConfig::new(frame_ms).map(|_| cfg)?;
        let count = recipients.len();
        recipients.retain(|r| *r != owner);
        recipients.sort_unstable();
        recipients.dedup();
        if recipients.is_empty() || count > MAX_DESTINATIONS {
            return Err(TalkError::Recipients {
                count,
                max: MAX_DESTINATIONS,
            });
        }
        if let Some(t) = self.live.values().find(|t| t.owner() == owner) {
            return Err(TalkError::AlreadyTalking(t.id()));
        }
        if self.live.len() >= self.max_talks {
            return Err(TalkError::Busy(self.live.len()));
        }
        let id = self.next_id();
        let talk = Talk::new(id, owner, recipients, cfg, now)?;
        self.live.insert(id, talk);
        // The header pages, for the journal.
        self.collect(id);
        Ok(id)
    }

    /// A fresh id: never 0, never one that is live or recently ended.
    fn next_id(&mut self) -> StreamId {
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            let id = self.last_id;
            if id != 0 && !self.live.contains_key(&id) && !self.ended.iter().any(|e| e.0 == id) {
                return id;
            }
        }
    }

    /// The talk `sender` may act on as its speaker.
    fn owned(&mut self, sender: Guid, stream: StreamId) -> Result<&mut Talk, TalkError> {
        if let Some(&(_, owner)) = self.ended.iter().find(|e| e.0 == stream) {
            return Err(if owner == sender {
                TalkError::Ended(stream)
            } else {
                TalkError::NotOwner { stream, sender }
            });
        }
        match self.live.get_mut(&stream) {
            None => Err(TalkError::UnknownStream(stream)),
            Some(t) if t.owner() != sender => Err(TalkError::NotOwner { stream, sender }),
            Some(t) => Ok(t),
        }
    }

    /// One portion from `sender` (the authenticated user of the connection it came in on).
    /// A portion flagged last is accepted, then ends the talk.
    pub fn portion(&mut self, now: Instant, sender: Guid, p: Portion) -> Result<(), TalkError> {
        let talk = self.owned(sender, p.stream)?;
        let r = talk.frame(now, p.seq, p.opus);
        if r.is_ok() && p.last && talk.is_live() {
            talk.end(now)?;
        }
        self.collect(p.stream);
        r
    }

    /// `talk_end` from `sender`.
    pub fn end(&mut self, now: Instant, sender: Guid, stream: StreamId) -> Result<(), TalkError> {
        let r = self.owned(sender, stream)?.end(now);
        self.collect(stream);
        r
    }

    /// `sender`'s connection went away: each of their live talks ends as partial.
    pub fn speaker_gone(&mut self, now: Instant, sender: Guid) {
        let ids: Vec<StreamId> = self
            .live
            .values()
            .filter(|t| t.owner() == sender)
            .map(Talk::id)
            .collect();
        for id in ids {
            if let Some(t) = self.live.get_mut(&id) {
                t.speaker_gone(now);
            }
            self.collect(id);
        }
    }

    /// Time passes: idle talks end.
    pub fn timeout(&mut self, now: Instant) {
        let due: Vec<StreamId> = self
            .live
            .values()
            .filter(|t| t.poll_timeout().is_some_and(|d| now >= d))
            .map(Talk::id)
            .collect();
        for id in due {
            if let Some(t) = self.live.get_mut(&id) {
                t.timeout(now);
            }
            self.collect(id);
        }
    }

    /// When [`Talks::timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.live.values().filter_map(Talk::poll_timeout).min()
    }

    /// The next portion to forward or end to report, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A live talk, to find its speaker and recipients when forwarding.
    pub fn get(&self, stream: StreamId) -> Option<&Talk> {
        self.live.get(&stream)
    }

    /// Live talks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no talk is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Move a talk's events to the table's queue; retire it once ended.
    fn collect(&mut self, stream: StreamId) {
        let Some(t) = self.live.get_mut(&stream) else {
            return;
        };
        while let Some(e) = t.poll_event() {
            self.events.push_back(e);
        }
        if !t.is_live() {
            let owner = t.owner();
            self.live.remove(&stream);
            if self.ended.len() == RECENT_ENDED {
                self.ended.pop_front();
            }
            self.ended.push_back((stream, owner));
        }
    }
}

impl Default for Talks {
    fn default() -> Self {
        Self::new()
    }
}
