//! A small reorder/jitter buffer for one incoming RTP stream.
//!
//! Each packet is given a playout time when it arrives: the media time its RTP timestamp
//! stands for, mapped onto our clock through an anchor taken from the first packet, plus a
//! fixed target depth (60 ms by default). [`JitterBuffer::pop`] releases packets strictly in
//! sequence order, each once its playout time has come. A missing packet is given up as a
//! [`Playout::Gap`] once the packet after it is due: so reordering within the depth is
//! repaired, and loss costs no more than the depth in latency.
//!
//! Sequence numbers are extended past 65535 (RFC 3550 A.1). Packets already played or given up
//! are dropped and counted as duplicates or late. An SSRC change, a far sequence jump confirmed
//! by a second packet, or a timestamp jump (the media time no longer matches our clock by
//! more than a second) starts the buffer afresh.
//!
//! Clock drift and delay changes are absorbed by moving the anchor: a packet that arrives
//! after its playout time pushes the anchor later by its lateness (the buffer grows), and when
//! every packet of the last second arrived well ahead of time the anchor moves earlier (it
//! shrinks back). Nothing here allocates per packet beyond the queue entry.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::packet::RtpPacket;

/// Sequence jump (either way) beyond which a packet is a stranger until a second one confirms
/// the new numbering (RFC 3550 A.1's MAX_DROPOUT).
const MAX_DROPOUT: i64 = 3000;
/// Media time and our clock may disagree by this much before the buffer re-anchors.
const RESYNC: Duration = Duration::from_secs(1);
/// Packets in the window over which early arrival is measured before shrinking.
const SHRINK_WINDOW: u32 = 50;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// Target delay added to every packet; reordering within it is repaired.
    pub depth: Duration,
    /// RTP clock rate of the stream (8000 for G.711 and telephone-event).
    pub clock_rate: u32,
    /// Most packets held at once; beyond this a new packet is dropped (and counted), which
    /// bounds memory against a sender that floods.
    pub max_packets: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            depth: Duration::from_millis(60),
            clock_rate: 8000,
            max_packets: 256,
        }
    }
}

/// A packet released in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit (start of a talkspurt).
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

/// What [`JitterBuffer::pop`] releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The next packet, in sequence order.
    Frame(Frame),
    /// This many packets never arrived in time and are given up.
    Gap {
        /// How many sequence numbers were skipped.
        packets: u32,
    },
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for playout.
    Queued,
    /// Queued, and the buffer started afresh first (new SSRC, sequence or timestamp jump).
    Restarted,
    /// Already queued or already played: dropped.
    Duplicate,
    /// Its slot was already given up as a gap: dropped.
    Late,
    /// A far sequence jump not (yet) confirmed, or the buffer is full: dropped.
    Dropped,
}

/// Counters for the stream, for logs and the benchmark's "late/lost" figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets queued.
    pub received: u64,
    /// Packets released as frames.
    pub played: u64,
    /// Sequence numbers given up as gaps (never played; includes the ones that came late).
    pub lost: u64,
    /// Packets that arrived after their slot was given up.
    pub late: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Packets dropped as strangers or for a full buffer.
    pub dropped: u64,
    /// Fresh starts (SSRC change, sequence or timestamp jump).
    pub restarts: u64,
    /// Anchor moves for drift or delay changes.
    pub adjustments: u64,
}

#[derive(Debug)]
struct Entry {
    due: Instant,
    frame: Frame,
}

/// The reorder/jitter buffer. See the module documentation.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    ssrc: Option<u32>,
    /// Highest extended sequence number queued.
    highest: Option<i64>,
    /// Extended sequence number to release next (None until the first release).
    next: Option<i64>,
    /// Played-or-not for the 128 sequence numbers before `next` (bit 0 = next - 1).
    history: u128,
    /// Our time at which extended timestamp `.1` is due, less the depth.
    anchor: Option<(Instant, i64)>,
    /// Extended timestamp of the newest packet, the reference for extending the next one.
    last_ts: i64,
    /// A far-jump packet's successor, which would confirm a new numbering.
    probation: Option<u16>,
    /// Smallest head-room (due - arrival) seen in the current shrink window.
    min_slack: Option<Duration>,
    slack_count: u32,
    queue: BTreeMap<i64, Entry>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> JitterBuffer {
        JitterBuffer {
            config,
            ssrc: None,
            highest: None,
            next: None,
            history: 0,
            anchor: None,
            last_ts: 0,
            probation: None,
            min_slack: None,
            slack_count: 0,
            queue: BTreeMap::new(),
            stats: JitterStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The SSRC being played.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn media_time(&self, ticks: i64) -> Duration {
        let rate = u64::from(self.config.clock_rate.max(1));
        let t = ticks.unsigned_abs();
        Duration::from_secs(t / rate) + Duration::from_nanos((t % rate) * 1_000_000_000 / rate)
    }

    /// Due time of extended timestamp `ts` under the current anchor.
    fn due(&self, anchor: (Instant, i64), ts: i64) -> Option<Instant> {
        let base = anchor.0 + self.config.depth;
        let d = self.media_time(ts - anchor.1);
        if ts >= anchor.1 {
            base.checked_add(d)
        } else {
            base.checked_sub(d)
        }
    }

    fn restart(&mut self) {
        let dropped = self.queue.len() as u64;
        self.stats.lost += dropped;
        self.queue.clear();
        self.highest = None;
        self.next = None;
        self.history = 0;
        self.anchor = None;
        self.probation = None;
        self.min_slack = None;
        self.slack_count = 0;
        self.stats.restarts += 1;
    }

    /// Offer a received packet at time `now`.
    pub fn push(&mut self, now: Instant, packet: RtpPacket) -> Pushed {
        let h = &packet.header;
        let mut restarted = false;
        if self.ssrc != Some(h.ssrc) {
            if self.ssrc.is_some() {
                self.restart();
                restarted = true;
            }
            self.ssrc = Some(h.ssrc);
        }
        // Extend the sequence number.
        let ext = match self.highest {
            None => i64::from(h.sequence),
            Some(hi) => hi + i64::from(h.sequence.wrapping_sub(hi as u16) as i16),
        };
        if let Some(hi) = self.highest {
            if (ext - hi).abs() > MAX_DROPOUT || self.next.is_some_and(|n| n - ext > MAX_DROPOUT) {
                if self.probation == Some(h.sequence) {
                    self.restart();
                    restarted = true;
                } else {
                    self.probation = Some(h.sequence.wrapping_add(1));
                    self.stats.dropped += 1;
                    return Pushed::Dropped;
                }
            }
        }
        let ext = if restarted {
            i64::from(h.sequence)
        } else {
            ext
        };
        self.probation = None;
        // Already played or given up?
        if let Some(next) = self.next {
            if ext < next {
                let back = next - 1 - ext;
                if back < 128 && self.history & (1u128 << back) != 0 {
                    self.stats.duplicates += 1;
                    return Pushed::Duplicate;
                }
                self.stats.late += 1;
                return Pushed::Late;
            }
        }
        if self.queue.contains_key(&ext) {
            self.stats.duplicates += 1;
            return Pushed::Duplicate;
        }
        if self.queue.len() >= self.config.max_packets {
            self.stats.dropped += 1;
            return Pushed::Dropped;
        }
        // Extend the timestamp and find the playout time.
        let ts = if self.anchor.is_none() {
            i64::from(h.timestamp)
        } else {
            self.last_ts + i64::from(h.timestamp.wrapping_sub(self.last_ts as u32) as i32)
        };
        let mut due = match self.anchor.and_then(|a| self.due(a, ts)) {
            Some(d) => d,
            None => {
                self.anchor = Some((now, ts));
                now + self.config.depth
            }
        };
        let ahead = due.saturating_duration_since(now);
        let behind = now.saturating_duration_since(due);
        if ahead > self.config.depth + RESYNC || behind > RESYNC {
            // The media clock jumped: play this packet a depth from now and go on from it.
            // Packets already queued keep their own times.
            // (Never the first packet: its own anchor puts it exactly a depth ahead.)
            if !restarted {
                self.stats.restarts += 1;
                restarted = true;
            }
            self.anchor = Some((now, ts));
            due = now + self.config.depth;
        } else if behind > Duration::ZERO && self.next.is_none_or(|n| ext >= n) {
            // Arrived after its playout time but still wanted: the path got slower or the
            // sender's clock runs slow. Shift the anchor so later packets get the full depth.
            if let Some(a) = self.anchor.as_mut() {
                a.0 += behind;
                self.stats.adjustments += 1;
            }
            due = now;
        } else {
            self.note_slack(ahead);
        }
        self.last_ts = ts;
        self.highest = Some(self.highest.map_or(ext, |hi| hi.max(ext)));
        self.queue.insert(
            ext,
            Entry {
                due,
                frame: Frame {
                    sequence: h.sequence,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    payload_type: h.payload_type,
                    payload: packet.payload,
                },
            },
        );
        self.stats.received += 1;
        if restarted {
            Pushed::Restarted
        } else {
            Pushed::Queued
        }
    }

    /// Shrink back when every packet of a window arrived with more than the depth in hand
    /// (a delay spike has passed, or the sender's clock runs fast).
    fn note_slack(&mut self, slack: Duration) {
        self.min_slack = Some(self.min_slack.map_or(slack, |m| m.min(slack)));
        self.slack_count += 1;
        if self.slack_count >= SHRINK_WINDOW {
            let excess = self
                .min_slack
                .unwrap_or_default()
                .saturating_sub(self.config.depth);
            if excess > Duration::from_millis(10) {
                if let Some(a) = self.anchor.as_mut() {
                    a.0 = a.0.checked_sub(excess / 2).unwrap_or(a.0);
                    self.stats.adjustments += 1;
                }
            }
            self.min_slack = None;
            self.slack_count = 0;
        }
    }

    /// When [`JitterBuffer::pop`] next has something to release (None when empty).
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|(_, e)| e.due)
    }

    /// Release the next frame or gap if its time has come.
    pub fn pop(&mut self, now: Instant) -> Option<Playout> {
        let (&first, entry) = self.queue.first_key_value()?;
        if now < entry.due {
            return None;
        }
        let next = *self.next.get_or_insert(first);
        if first > next {
            let packets = first - next;
            self.history = if packets >= 128 {
                0
            } else {
                self.history << packets
            };
            self.next = Some(first);
            self.stats.lost += packets as u64;
            return Some(Playout::Gap {
                packets: u32::try_from(packets).unwrap_or(u32::MAX),
            });
        }
        let entry = self.queue.pop_first()?.1;
        self.history = (self.history << 1) | 1;
        self.next = Some(first + 1);
        self.stats.played += 1;
        Some(Playout::Frame(entry.frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::RtpHeader;

    fn pkt(ssrc: u32, seq: u16, ts: u32) -> RtpPacket {
        RtpPacket {
            header: RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: seq,
                timestamp: ts,
                ssrc,
                csrc: vec![],
                extension: None,
            },
            payload: vec![seq as u8; 160],
        }
    }

    const MS20: Duration = Duration::from_millis(20);

    /// Pop everything due up to `now`, returning the sequence numbers and gaps in order.
    fn drain(jb: &mut JitterBuffer, now: Instant) -> Vec<Result<u16, u32>> {
        let mut out = vec![];
        while let Some(p) = jb.pop(now) {
            out.push(match p {
                Playout::Frame(f) => Ok(f.sequence),
                Playout::Gap { packets } => Err(packets),
            });
        }
        out
    }

    #[test]
    fn holds_for_the_depth_then_plays_in_order() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.push(t0, pkt(1, 10, 1600)), Pushed::Queued);
        assert_eq!(jb.next_due(), Some(t0 + Duration::from_millis(60)));
        assert_eq!(jb.pop(t0 + Duration::from_millis(59)), None);
        assert_eq!(drain(&mut jb, t0 + Duration::from_millis(60)), [Ok(10)]);
        assert!(jb.is_empty());
    }

    #[test]
    fn reorders_and_drops_duplicates() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Arrival order 0, 2, 1, 3, 3 (dup), 5, 4 at 20 ms steps.
        let order = [0u16, 2, 1, 3, 3, 5, 4];
        let mut played = vec![];
        for (i, &s) in order.iter().enumerate() {
            let now = t0 + MS20 * i as u32;
            let r = jb.push(now, pkt(7, s, u32::from(s) * 160));
            if i == 4 {
                assert_eq!(r, Pushed::Duplicate);
            }
            played.extend(drain(&mut jb, now));
        }
        played.extend(drain(&mut jb, t0 + Duration::from_secs(1)));
        assert_eq!(played, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)]);
        // A duplicate of something already played.
        assert_eq!(
            jb.push(t0 + Duration::from_secs(1), pkt(7, 2, 320)),
            Pushed::Duplicate
        );
        let s = jb.stats();
        assert_eq!(
            (s.received, s.played, s.duplicates, s.lost, s.late),
            (6, 6, 2, 0, 0)
        );
    }

    #[test]
    fn gives_up_missing_packets_and_counts_late_ones() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut played = vec![];
        for s in [0u16, 1, 4, 5] {
            let now = t0 + MS20 * u32::from(s);
            jb.push(now, pkt(7, s, u32::from(s) * 160));
            played.extend(drain(&mut jb, now));
        }
        played.extend(drain(&mut jb, t0 + Duration::from_millis(200)));
        assert_eq!(played, [Ok(0), Ok(1), Err(2), Ok(4), Ok(5)]);
        assert_eq!(
            jb.push(t0 + Duration::from_millis(210), pkt(7, 2, 320)),
            Pushed::Late
        );
        let s = jb.stats();
        assert_eq!((s.lost, s.late, s.played), (2, 1, 4));
    }

    #[test]
    fn sequence_wraps_at_65535() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let seqs = [65533u16, 65535, 65534, 1, 0, 2];
        let mut played = vec![];
        for (i, &s) in seqs.iter().enumerate() {
            let n = i64::from(s.wrapping_sub(65533));
            let now = t0 + MS20 * i as u32;
            assert_eq!(
                jb.push(now, pkt(9, s, ((n * 160) as u32).wrapping_add(0xffff_ff00))),
                Pushed::Queued
            );
            played.extend(drain(&mut jb, now));
        }
        played.extend(drain(&mut jb, t0 + Duration::from_secs(1)));
        assert_eq!(
            played,
            [Ok(65533), Ok(65534), Ok(65535), Ok(0), Ok(1), Ok(2)]
        );
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn ssrc_change_restarts() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(t0, pkt(1, 100, 0));
        assert_eq!(drain(&mut jb, t0 + MS20 * 3), [Ok(100)]);
        // A new source with unrelated numbers and timestamps.
        assert_eq!(
            jb.push(t0 + MS20 * 4, pkt(2, 7, 999_999)),
            Pushed::Restarted
        );
        assert_eq!(jb.ssrc(), Some(2));
        assert_eq!(jb.pop(t0 + MS20 * 4), None);
        assert_eq!(drain(&mut jb, t0 + MS20 * 7), [Ok(7)]);
        assert_eq!(jb.stats().restarts, 1);
    }

    #[test]
    fn far_sequence_jump_needs_confirmation() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(t0, pkt(1, 100, 0));
        drain(&mut jb, t0 + MS20 * 3);
        assert_eq!(jb.push(t0 + MS20 * 4, pkt(1, 40_000, 640)), Pushed::Dropped);
        assert_eq!(jb.push(t0 + MS20 * 5, pkt(1, 101, 160)), Pushed::Queued);
        assert_eq!(jb.push(t0 + MS20 * 6, pkt(1, 30_000, 960)), Pushed::Dropped);
        assert_eq!(
            jb.push(t0 + MS20 * 7, pkt(1, 30_001, 1120)),
            Pushed::Restarted
        );
        let got = drain(&mut jb, t0 + Duration::from_secs(1));
        assert_eq!(got.last(), Some(&Ok(30_001)));
    }

    #[test]
    fn timestamp_jump_reanchors() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(t0, pkt(1, 1, 0));
        drain(&mut jb, t0 + MS20 * 3);
        // Same stream, timestamps leap a minute ahead: must not wait a minute.
        assert_eq!(
            jb.push(t0 + MS20 * 4, pkt(1, 2, 480_000)),
            Pushed::Restarted
        );
        assert_eq!(
            drain(&mut jb, t0 + MS20 * 4 + Duration::from_millis(60)),
            [Ok(2)]
        );
        // And back: must not be thrown away as ancient.
        assert_eq!(jb.push(t0 + MS20 * 10, pkt(1, 3, 160)), Pushed::Restarted);
        assert_eq!(
            drain(&mut jb, t0 + MS20 * 10 + Duration::from_millis(60)),
            [Ok(3)]
        );
    }

    #[test]
    fn absorbs_a_delay_step_and_a_fast_sender() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut played = 0;
        let mut gaps = 0;
        // 10 s of packets; the path gains 150 ms of delay at 3 s; the sender's clock is 0.5%
        // fast throughout.
        for s in 0..500u32 {
            let mut at = t0 + Duration::from_micros(u64::from(s) * 19_900);
            if s >= 150 {
                at += Duration::from_millis(150);
            }
            jb.push(at, pkt(3, s as u16, s * 160));
            for p in drain(&mut jb, at) {
                if p.is_ok() {
                    played += 1;
                } else {
                    gaps += 1;
                }
            }
            assert!(jb.len() < 20, "buffer grew to {} at {s}", jb.len());
        }
        played += drain(&mut jb, t0 + Duration::from_secs(60)).len();
        assert_eq!((played, gaps), (500, 0));
        assert!(jb.stats().adjustments >= 1);
    }
}
