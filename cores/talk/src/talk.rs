//! One live talk: its portions checked in order, forwarded at most once each, and appended to
//! the stored copy, until the speaker ends it or a limit does.
//!
//! # Rules (each refusal is a [`TalkError`] and changes nothing)
//! - **Order, no reorder window.** A portion older than the newest accepted one is dropped
//!   (`Late`), the same number again is `Duplicate`, a jump forward is accepted and the gap
//!   counted as lost. The browser lane is a WebSocket (TCP, in order), so out-of-order there
//!   means a broken or hostile client; holding portions back to reorder them would add delay
//!   to every listener for nothing.
//! - **Bounded portions**: at most [`MAX_PORTION_BYTES`], a valid Opus TOC, no longer than
//!   the talk's frame duration (the last, shorter portion is fine).
//! - **Real-time pace**: audio may not run more than [`TalkConfig::ahead`] ahead of the time
//!   since the talk started, so a sender cannot flood listeners or fill the length limit in a
//!   second.
//! - **It always ends**: by the speaker ([`Talk::end`]), by the speaker's connection going
//!   ([`Talk::speaker_gone`]), after [`TalkConfig::idle`] with no accepted portion
//!   ([`Talk::timeout`]), or at the message length or size limit. Anything but the speaker's
//!   own end is a partial talk; what arrived is kept either way.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ivm_media::{packet_samples, MediaError, OggOpusWriter};
use ivm_wire::talk::{StreamId, TalkEndReason, FRAME_DURATIONS_MS, MAX_PORTION_BYTES};
use ivm_wire::Guid;

use crate::TalkError;

/// Samples per millisecond at the Opus granule rate.
const PER_MS: u64 = 48;

/// A talk's settings. [`TalkConfig::new`] gives the defaults a box uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkConfig {
    /// Portion length in milliseconds: 20, 40 or 60.
    pub frame_ms: u16,
    /// Message length limit in milliseconds of audio (the box's `max_message_seconds`).
    pub max_ms: u32,
    /// Size limit of the stored copy in bytes. Default: `max_ms` at 128 kbit/s, four times
    /// what a browser's speech encoder sends, so a legitimate talk meets the length limit
    /// first while a hostile one cannot hold more than this in memory.
    pub max_bytes: usize,
    /// A talk with no accepted portion for this long has lost its speaker.
    pub idle: Duration,
    /// How far audio may run ahead of wall time (network bunching, a paused tab catching up).
    pub ahead: Duration,
    /// Pre-skip written in `OpusHead`: the sender's encoder lookahead in 48 kHz samples; 312
    /// is libopus's (the browsers' WebCodecs encoder and our own).
    pub pre_skip: u16,
}

/// Default message length limit: the box's embedded `max_message_seconds` (600).
pub const DEFAULT_MAX_MS: u32 = 600_000;
/// Default idle timeout.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(5);
/// Default allowance ahead of real time.
pub const DEFAULT_AHEAD: Duration = Duration::from_secs(1);
/// libopus's encoder lookahead at 48 kHz.
pub const DEFAULT_PRE_SKIP: u16 = 312;
/// Byte budget per millisecond of allowed audio: 128 kbit/s.
const BYTES_PER_MS: usize = 16;

impl TalkConfig {
    /// Defaults with this frame duration; anything but 20, 40 or 60 ms is refused.
    pub fn new(frame_ms: u16) -> Result<Self, TalkError> {
        if !FRAME_DURATIONS_MS.contains(&frame_ms) {
            return Err(TalkError::FrameDuration(frame_ms));
        }
        Ok(TalkConfig {
            frame_ms,
            max_ms: DEFAULT_MAX_MS,
            max_bytes: DEFAULT_MAX_MS as usize * BYTES_PER_MS,
            idle: DEFAULT_IDLE,
            ahead: DEFAULT_AHEAD,
            pre_skip: DEFAULT_PRE_SKIP,
        })
    }

    /// Set the length limit (and the size budget that goes with it).
    pub fn with_max_ms(mut self, max_ms: u32) -> Self {
        self.max_ms = max_ms;
        self.max_bytes = max_ms as usize * BYTES_PER_MS;
        self
    }
}

/// A portion to send to every live listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The talk.
    pub stream: StreamId,
    /// The portion's sequence number (listeners see gaps, never reordering or repeats).
    pub seq: u32,
    /// One Opus packet.
    pub opus: Vec<u8>,
}

/// The stored copy of a talk: an Ogg Opus file ready to commit as a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The file.
    pub ogg: Vec<u8>,
    /// Playable length in milliseconds.
    pub duration_ms: u32,
    /// Audio packets in it.
    pub packets: u32,
}

/// Ogg pages of the stored copy that closed since the last [`Pages`]: the driver appends
/// them to the talk's journal and makes them durable, so a crash keeps what arrived. Their
/// concatenation, in order, is always a prefix of the finished file made of whole pages; the
/// first one starts with the `OpusHead` and `OpusTags` pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pages {
    /// The talk.
    pub stream: StreamId,
    /// Whole Ogg pages.
    pub bytes: Vec<u8>,
}

/// Audio per journal page: a page closes every this many milliseconds of audio (rounded
/// down to whole portions), so a crash loses at most this much plus one held portion.
pub const PAGE_MS: u16 = 500;

/// A talk's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The talk.
    pub stream: StreamId,
    /// Why it ended (partial unless [`TalkEndReason::Finished`]).
    pub reason: TalkEndReason,
    /// What to store; `None` when no portion was accepted.
    pub stored: Option<Stored>,
    /// Portions never received (gaps in the sequence numbers).
    pub lost: u64,
    /// Portions refused.
    pub refused: u64,
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this portion to the live listeners.
    Forward(Forward),
    /// Append these pages to the talk's journal (before any [`Event::Forward`] of the talk
    /// come its header pages; then one every [`PAGE_MS`] of audio).
    Pages(Pages),
    /// The talk is over: tell everyone, commit the stored copy.
    Ended(Ended),
}

/// One live talk on the box.
#[derive(Debug)]
pub struct Talk {
    id: StreamId,
    owner: Guid,
    recipients: Vec<Guid>,
    cfg: TalkConfig,
    started: Instant,
    last_accepted: Instant,
    /// Next expected sequence number (u64 so `u32::MAX` can be accepted once).
    next_seq: u64,
    accepted_any: bool,
    /// 48 kHz samples of accepted audio.
    samples: u64,
    lost: u64,
    refused: u64,
    /// `None` once ended.
    ogg: Option<OggOpusWriter>,
    /// Bytes of `ogg`'s closed pages already handed out as [`Event::Pages`].
    paged: usize,
    events: VecDeque<Event>,
}

impl Talk {
    /// A talk from `owner` to `recipients`, started at `now`. `id` also seeds the Ogg serial.
    pub fn new(
        id: StreamId,
        owner: Guid,
        recipients: Vec<Guid>,
        cfg: TalkConfig,
        now: Instant,
    ) -> Result<Self, TalkError> {
        let ogg = OggOpusWriter::new(id, cfg.pre_skip, 48_000)
            .map_err(|e| TalkError::Store(e.to_string()))?
            .with_page_packets(u32::from((PAGE_MS / cfg.frame_ms).max(1)));
        let mut t = Talk {
            id,
            owner,
            recipients,
            cfg,
            started: now,
            last_accepted: now,
            next_seq: 0,
            accepted_any: false,
            samples: 0,
            lost: 0,
            refused: 0,
            ogg: Some(ogg),
            paged: 0,
            events: VecDeque::new(),
        };
        t.page_out();
        Ok(t)
    }

    /// Queues the pages closed since the last call as [`Event::Pages`].
    fn page_out(&mut self) {
        let Some(ogg) = self.ogg.as_ref() else {
            return;
        };
        let closed = ogg.closed();
        if closed.len() > self.paged {
            let bytes = closed[self.paged..].to_vec();
            self.paged = closed.len();
            self.events.push_back(Event::Pages(Pages {
                stream: self.id,
                bytes,
            }));
        }
    }

    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The speaker.
    pub fn owner(&self) -> Guid {
        self.owner
    }

    /// Who it is for.
    pub fn recipients(&self) -> &[Guid] {
        &self.recipients
    }

    /// The settings.
    pub fn config(&self) -> &TalkConfig {
        &self.cfg
    }

    /// Whether portions are still taken.
    pub fn is_live(&self) -> bool {
        self.ogg.is_some()
    }

    /// Accepted audio so far, in milliseconds.
    pub fn audio_ms(&self) -> u64 {
        self.samples / PER_MS
    }

    /// One portion from the speaker (the caller has checked it is the speaker). On success a
    /// [`Event::Forward`] is queued (and [`Event::Ended`] when it reached the length limit).
    pub fn frame(&mut self, now: Instant, seq: u32, opus: Vec<u8>) -> Result<(), TalkError> {
        let r = self.check_and_accept(now, seq, opus);
        if r.is_err() {
            self.refused += 1;
        }
        r
    }

    fn check_and_accept(&mut self, now: Instant, seq: u32, opus: Vec<u8>) -> Result<(), TalkError> {
        if self.ogg.is_none() {
            return Err(TalkError::Ended(self.id));
        }
        if opus.len() > MAX_PORTION_BYTES {
            return Err(TalkError::Oversize {
                len: opus.len(),
                max: MAX_PORTION_BYTES,
            });
        }
        let s = u64::from(seq);
        if self.accepted_any && s < self.next_seq {
            let newest = (self.next_seq - 1) as u32;
            return Err(if seq == newest {
                TalkError::Duplicate { seq }
            } else {
                TalkError::Late { seq, newest }
            });
        }
        let n = u64::from(packet_samples(&opus).map_err(|e| TalkError::NotOpus(e.to_string()))?);
        if n > u64::from(self.cfg.frame_ms) * PER_MS {
            return Err(TalkError::LongerThanFrame {
                ms: (n / PER_MS) as u32,
                frame_ms: self.cfg.frame_ms,
            });
        }
        let audio_ms = (self.samples + n) / PER_MS;
        let allowed = (now.saturating_duration_since(self.started) + self.cfg.ahead).as_millis();
        if u128::from(audio_ms) > allowed {
            return Err(TalkError::AheadOfTime {
                ahead_ms: audio_ms
                    .saturating_sub(now.saturating_duration_since(self.started).as_millis() as u64),
            });
        }
        let ogg = self.ogg.as_mut().ok_or(TalkError::Ended(self.id))?;
        if audio_ms > u64::from(self.cfg.max_ms) || ogg.len() + opus.len() > self.cfg.max_bytes {
            self.finish(TalkEndReason::LengthLimit);
            return Err(TalkError::LengthLimit);
        }
        match ogg.push(&opus) {
            Ok(_) => {}
            Err(MediaError::TooLong { .. }) => {
                self.finish(TalkEndReason::LengthLimit);
                return Err(TalkError::LengthLimit);
            }
            Err(e) => return Err(TalkError::NotOpus(e.to_string())),
        }
        if self.accepted_any {
            self.lost += s - self.next_seq;
        } else {
            self.lost += s;
        }
        self.accepted_any = true;
        self.next_seq = s + 1;
        self.samples += n;
        self.last_accepted = now;
        self.events.push_back(Event::Forward(Forward {
            stream: self.id,
            seq,
            opus,
        }));
        self.page_out();
        if audio_ms >= u64::from(self.cfg.max_ms) {
            self.finish(TalkEndReason::LengthLimit);
        }
        Ok(())
    }

    /// The speaker ends the talk (`talk_end`, or a portion flagged last).
    pub fn end(&mut self, _now: Instant) -> Result<(), TalkError> {
        if self.ogg.is_none() {
            return Err(TalkError::Ended(self.id));
        }
        self.finish(TalkEndReason::Finished);
        Ok(())
    }

    /// The speaker's connection went away: end it as partial. Nothing if already ended.
    pub fn speaker_gone(&mut self, _now: Instant) {
        if self.ogg.is_some() {
            self.finish(TalkEndReason::SpeakerGone);
        }
    }

    /// When [`Talk::timeout`] must next be called (`None` once ended).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ogg
            .as_ref()
            .map(|_| self.last_accepted + self.cfg.idle)
    }

    /// Time passes: a talk idle for [`TalkConfig::idle`] ends as partial.
    pub fn timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| now >= t) {
            self.finish(TalkEndReason::Idle);
        }
    }

    /// The next thing to act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn finish(&mut self, reason: TalkEndReason) {
        let Some(ogg) = self.ogg.take() else {
            return;
        };
        let packets = ogg.packets();
        let duration_ms = ogg.duration_ms();
        // `finish` fails only when nothing was pushed (NoSound): then there is nothing to store.
        let stored = ogg.finish().ok().map(|ogg| Stored {
            ogg,
            duration_ms,
            packets,
        });
        self.events.push_back(Event::Ended(Ended {
            stream: self.id,
            reason,
            stored,
            lost: self.lost,
            refused: self.refused,
        }));
    }
}
