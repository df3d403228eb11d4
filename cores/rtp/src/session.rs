//! One call leg's media, sans-IO: datagrams and `now` in; transmits, events and the next
//! timeout out.
//!
//! - **Who may send to us.** SDP names the phone's address; media from anywhere else is
//!   counted and ignored (the "RTP from unexpected sources"). With
//!   [`Latching::LatchFirst`] (symmetric RTP, for phones behind NAT whose SDP shows a private
//!   address) the first valid RTP packet from any source fixes the peer once; after that only
//!   that source is accepted, and we send to it.
//! - **Receiving.** PCMU/PCMA and comfort noise go through the [`JitterBuffer`]; released
//!   audio frames come out as [`Event::Audio`] in order; lost packets and pauses the sender
//!   left (DTX, key presses) come as [`Event::Silence`] before the audio after them, so a
//!   recording keeps real time and a bridge does not play a pause that already passed.
//!   telephone-event packets give [`Event::Digit`] at once (de-duplicated, one per press) and
//!   also pass through the jitter buffer so the sequence accounting stays whole.
//! - **Sending.** [`Session::play`] queues 8 kHz PCM (prompts, beeps, messages);
//!   [`Session::poll_transmit`] paces it out as one G.711 packet per 20 ms and says
//!   [`Event::PlaybackDone`] when the queue runs dry. Nothing is sent while idle.
//!   [`Session::play_live`] queues a live talk: sent as soon as it is queued with 20 ms
//!   spacing only as a floor, and cut (oldest first) so that no backlog stands: pacing
//!   alone would keep any delay that happened once for the rest of the talk. Prompts and
//!   messages are never cut.
//! - **Timeouts.** [`Session::poll_timeout`] is the earliest of the next packet to send, the
//!   next frame the jitter buffer will release, and the media-inactivity deadline, which
//!   gives [`Event::Inactive`] once when the phone has sent nothing for a while (it vanished).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::dtmf::{DtmfReceiver, KeyEvent};
use crate::g711::Codec;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, Pushed};
use crate::packet::{demux, Datagram};
use crate::packetizer::{Packetizer, FRAME};
use crate::Digit;

/// Comfort noise (RFC 3389), static payload type 13: accepted and skipped.
const PT_CN: u8 = 13;
/// Packet time.
const PTIME: Duration = Duration::from_millis(20);
/// Longest pause filled with silence (5 s); a longer jump in media time is a new start.
const MAX_FILL: u32 = 40_000;
/// When the driver falls this far behind the send schedule, the schedule restarts from now
/// instead of bursting out the backlog.
const MAX_SEND_LAG: Duration = Duration::from_millis(200);
/// Most live audio ([`Session::play_live`]) kept queued: 60 ms. Sending paces at one packet
/// per 20 ms, so a backlog that formed once (a late first decode, a busy moment) would
/// otherwise be kept, as added latency, for the rest of the talk.
pub const LIVE_BACKLOG: usize = 480;
/// How long live audio may stand queued when the next arrives before the part that never
/// drained is cut: a late portion that its successor catches up with is a backlog the 20 ms
/// pacing can never work off, however small (CoDel's "standing queue", RFC 8289 §3).
const LIVE_STANDING: Duration = Duration::from_millis(100);

/// How the peer's media address is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latching {
    /// Accept media only from the address and port in the peer's SDP.
    Strict,
    /// Symmetric RTP: latch once onto the source of the first valid RTP packet (which may
    /// be a NAT's public address), then accept only that source and send to it.
    LatchFirst,
}

/// Settings for one call leg, mostly from the SDP offer/answer.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Where the peer's SDP says to send media (`c=` address, `m=audio` port).
    pub remote: SocketAddr,
    /// Source acceptance rule.
    pub latching: Latching,
    /// The codec we send (the first G.711 codec of the answer). Both are accepted inbound.
    pub codec: Codec,
    /// The negotiated telephone-event payload type (`a=rtpmap:101 telephone-event/8000`).
    pub telephone_event: Option<u8>,
    /// Jitter buffer settings.
    pub jitter: JitterConfig,
    /// No media for this long means the phone is gone ([`Event::Inactive`]).
    pub inactivity: Duration,
}

impl SessionConfig {
    /// Defaults for a desk phone at `remote`: strict source check, PCMU, telephone-event 101,
    /// 60 ms jitter buffer, 20 s inactivity.
    pub fn new(remote: SocketAddr) -> SessionConfig {
        SessionConfig {
            remote,
            latching: Latching::Strict,
            codec: Codec::Pcmu,
            telephone_event: Some(101),
            jitter: JitterConfig::default(),
            inactivity: Duration::from_secs(20),
        }
    }
}

/// Something the session has to tell its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Received audio, 8 kHz 16-bit PCM, in order and in real time (gaps come as
    /// [`Event::Silence`] before it).
    Audio(Vec<i16>),
    /// This many samples the peer did not send, reported before the audio that follows
    /// them: a pause (a phone with voice activity detection, such as PJSIP by default, sends
    /// nothing while its user is quiet) or lost packets. A recording fills them with silence
    /// to keep the timing. A bridged phone is not sent them: the pause has passed by the time
    /// the next audio arrives, and the outgoing timestamps already carry it
    /// ([`Session::play`] after idling), so playing them too delayed everything after each
    /// pause by its length.
    Silence(usize),
    /// A key press.
    Digit(Digit),
    /// Symmetric RTP latched onto this source.
    Latched(SocketAddr),
    /// The playback queue ran dry (the prompt or message finished).
    PlaybackDone,
    /// No media from the peer for the configured time. Reported once; re-armed by new media.
    Inactive,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The RTP packet.
    pub payload: Vec<u8>,
}

/// What [`Session::handle_packet`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Used.
    Accepted,
    /// From a source other than the peer: ignored.
    Foreign,
    /// Not RTP we can read: ignored.
    Malformed,
    /// RTCP: ignored.
    Rtcp,
    /// RTP with a payload type we did not negotiate: ignored.
    UnknownPayload,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// The jitter buffer's counters (received, lost, late, duplicates...).
    pub jitter: JitterStats,
    /// Datagrams from unexpected sources.
    pub foreign: u64,
    /// Datagrams that were not valid RTP.
    pub malformed: u64,
    /// RTCP packets skipped.
    pub rtcp: u64,
    /// RTP packets with an unknown payload type.
    pub unknown_payload: u64,
    /// Key presses reported.
    pub digits: u64,
    /// RTP packets sent.
    pub sent: u64,
}

/// The media session of one call leg. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    latched: Option<SocketAddr>,
    jitter: JitterBuffer,
    dtmf: DtmfReceiver,
    /// Timestamp the next audio frame should carry if nothing is missing.
    next_audio_ts: Option<u32>,
    last_rx: Instant,
    inactive_reported: bool,
    packetizer: Packetizer,
    playback: VecDeque<i16>,
    /// How many samples at the head of `playback` must be sent whole (prompts, messages);
    /// the rest is live audio, which may be cut to stay near real time.
    kept: usize,
    /// Since when live audio was still queued each time more arrived, and the least that
    /// was (the part that never drained).
    standing: Option<(Instant, usize)>,
    next_send: Option<Instant>,
    /// When the media of the last packet we sent ends (for the timestamp over a pause).
    last_send_end: Option<Instant>,
    events: VecDeque<Event>,
    stats: SessionStats,
    /// Whether our packets go out (off while the peer holds the call: it said `sendonly`
    /// or `inactive`, RFC 3264 §6.1).
    sending: bool,
    /// Whether the peer is expected to send: off while either side holds, when silence is
    /// no sign of a vanished phone.
    watching: bool,
}

impl Session {
    /// A session starting at `now`, sending with a random SSRC, sequence and timestamp.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let packetizer = Packetizer::random(config.codec);
        Session::with_packetizer(config, now, packetizer)
    }

    /// A session with a given packetizer (deterministic tests, or a fixed SSRC).
    pub fn with_packetizer(config: SessionConfig, now: Instant, packetizer: Packetizer) -> Session {
        Session {
            jitter: JitterBuffer::new(config.jitter.clone()),
            config,
            latched: None,
            dtmf: DtmfReceiver::new(),
            next_audio_ts: None,
            last_rx: now,
            inactive_reported: false,
            packetizer,
            playback: VecDeque::new(),
            kept: 0,
            standing: None,
            next_send: None,
            last_send_end: None,
            events: VecDeque::new(),
            stats: SessionStats::default(),
            sending: true,
            watching: true,
        }
    }

    /// The direction the last offer/answer gave the stream (hold and resume, RFC 3264
    /// §8.4): `send` whether our audio goes out, `receive` whether the peer sends. Paced
    /// playback goes on while not sending (prompts still end, with
    /// [`Event::PlaybackDone`], and the timestamps stay continuous) but no packet leaves.
    /// Inactivity is watched only while both are on: a phone on hold, or holding, may stop
    /// sending whatever its SDP said, and must not be hung up on for it. Resuming restarts
    /// the inactivity clock at `now`.
    pub fn set_direction(&mut self, now: Instant, send: bool, receive: bool) {
        let watching = send && receive;
        if watching && !self.watching {
            self.last_rx = now;
            self.inactive_reported = false;
        }
        self.sending = send;
        self.watching = watching;
    }

    /// Where we send media: the latched source, or the SDP address.
    pub fn remote(&self) -> SocketAddr {
        self.latched.unwrap_or(self.config.remote)
    }

    /// The codec we send.
    pub fn codec(&self) -> Codec {
        self.config.codec
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.packetizer.ssrc()
    }

    /// The counters so far.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            jitter: self.jitter.stats(),
            ..self.stats
        }
    }

    /// A re-INVITE moved the peer: new SDP address (and codec); latching starts over.
    pub fn set_remote(&mut self, remote: SocketAddr, codec: Codec) {
        self.config.remote = remote;
        self.config.codec = codec;
        self.packetizer.set_codec(codec);
        self.latched = None;
    }

    fn accepts(&self, from: SocketAddr) -> bool {
        match (self.config.latching, self.latched) {
            (_, Some(l)) => from == l,
            (Latching::Strict, None) => from == self.config.remote,
            (Latching::LatchFirst, None) => true,
        }
    }

    /// Take one datagram received from `from` on this leg's media port.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Disposition {
        if !self.accepts(from) {
            self.stats.foreign += 1;
            tracing::trace!(%from, "media from an unexpected source ignored");
            return Disposition::Foreign;
        }
        let packet = match demux(bytes) {
            Ok(Datagram::Rtp(p)) => p,
            Ok(Datagram::Rtcp { .. }) => {
                self.stats.rtcp += 1;
                return Disposition::Rtcp;
            }
            Err(e) => {
                self.stats.malformed += 1;
                tracing::trace!(%from, error = %e, "malformed media packet ignored");
                return Disposition::Malformed;
            }
        };
        let pt = packet.header.payload_type;
        let is_event = self.config.telephone_event == Some(pt);
        if !is_event && Codec::from_payload_type(pt).is_none() && pt != PT_CN {
            self.stats.unknown_payload += 1;
            return Disposition::UnknownPayload;
        }
        if self.latched.is_none() && self.config.latching == Latching::LatchFirst {
            self.latched = Some(from);
            self.events.push_back(Event::Latched(from));
        }
        self.last_rx = now;
        self.inactive_reported = false;
        if is_event {
            if self.jitter.ssrc().is_some_and(|s| s != packet.header.ssrc) {
                self.dtmf.reset();
            }
            match self.dtmf.handle(packet.header.timestamp, &packet.payload) {
                Ok(KeyEvent::Pressed(d)) => {
                    self.stats.digits += 1;
                    self.events.push_back(Event::Digit(d));
                }
                Ok(_) => {}
                Err(_) => self.stats.malformed += 1,
            }
        }
        if self.jitter.push(now, packet) == Pushed::Restarted {
            tracing::debug!("incoming media stream restarted");
        }
        Disposition::Accepted
    }

    fn release(&mut self, playout: Playout) {
        let Playout::Frame(frame) = playout else {
            // Loss shows up as a timestamp jump on the next frame, filled there.
            return;
        };
        let Some(codec) = Codec::from_payload_type(frame.payload_type) else {
            return; // telephone-event or comfort noise: the pause is filled by the next frame
        };
        if let Some(expected) = self.next_audio_ts {
            let gap = frame.timestamp.wrapping_sub(expected);
            if gap > 0 && gap <= MAX_FILL {
                self.events.push_back(Event::Silence(gap as usize));
            }
        }
        let mut pcm = Vec::with_capacity(FRAME);
        codec.decode(&frame.payload, &mut pcm);
        self.next_audio_ts = Some(frame.timestamp.wrapping_add(frame.payload.len() as u32));
        self.events.push_back(Event::Audio(pcm));
    }

    /// Advance time: release due audio, notice inactivity. Call when [`Session::poll_timeout`]
    /// says (calling more often is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(p) = self.jitter.pop(now) {
            self.release(p);
        }
        if self.watching
            && !self.inactive_reported
            && self.inactivity_deadline().is_some_and(|d| now >= d)
        {
            self.inactive_reported = true;
            self.events.push_back(Event::Inactive);
        }
    }

    /// Release everything the jitter buffer holds now, without waiting (the call is ending,
    /// or `#` ended a recording and the last words are still buffered).
    pub fn flush(&mut self) {
        while let Some(at) = self.jitter.next_due() {
            match self.jitter.pop(at) {
                Some(p) => self.release(p),
                None => break,
            }
        }
    }

    /// [`Session::flush`], then every queued event's audio in order, gaps as silence: what a
    /// recording that just stopped still has to take. Other queued events are dropped (a key
    /// or the end of a prompt no longer matters once the recording is over).
    pub fn flush_audio(&mut self) -> Vec<Vec<i16>> {
        self.flush();
        let mut held = Vec::new();
        while let Some(e) = self.poll_event() {
            match e {
                Event::Audio(pcm) => held.push(pcm),
                Event::Silence(samples) => held.push(vec![0; samples]),
                _ => {}
            }
        }
        held
    }

    /// When silence from the peer counts as inactivity (None for a timeout too large to
    /// represent, which means never).
    fn inactivity_deadline(&self) -> Option<Instant> {
        self.last_rx.checked_add(self.config.inactivity)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] or [`Session::poll_transmit`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let inactivity = (self.watching && !self.inactive_reported)
            .then(|| self.last_rx + self.config.inactivity);
        [self.next_send, self.jitter.next_due(), inactivity]
            .into_iter()
            .flatten()
            .min()
    }

    /// Queue 8 kHz PCM to send whole after whatever is already queued (a prompt, a stored
    /// message). Sending starts at once, or 20 ms after the last packet's start if that was
    /// less than 20 ms ago.
    pub fn play(&mut self, now: Instant, pcm: &[i16]) {
        self.enqueue(now, pcm);
        self.kept = self.playback.len();
    }

    /// Queue live audio (a talk as it is said), sent as soon as [`Session::poll_transmit`]
    /// is called, with the 20 ms spacing as a floor. Live audio is kept near real time: the
    /// oldest queued live audio is dropped when more than [`LIVE_BACKLOG`] is queued, or
    /// when some stood queued at every arrival for 100 ms (that part is dropped). Audio
    /// queued with [`Session::play`] is never cut; live audio queued behind it is kept
    /// whole too (a talk caught up from its start plays whole, a moment late). Returns how
    /// many samples were dropped.
    pub fn play_live(&mut self, now: Instant, pcm: &[i16]) -> usize {
        if pcm.is_empty() {
            return 0;
        }
        if self.kept > 0 {
            self.play(now, pcm);
            return 0;
        }
        let waiting = self.playback.len();
        let cut = match self.standing {
            _ if waiting == 0 => {
                self.standing = None;
                0
            }
            None => {
                self.standing = Some((now, waiting));
                0
            }
            Some((since, least)) => {
                let least = least.min(waiting);
                if now.saturating_duration_since(since) >= LIVE_STANDING {
                    self.standing = None;
                    least
                } else {
                    self.standing = Some((since, least));
                    0
                }
            }
        };
        self.enqueue(now, pcm);
        let cut = cut.max(self.playback.len().saturating_sub(LIVE_BACKLOG));
        self.playback.drain(..cut);
        cut
    }

    fn enqueue(&mut self, now: Instant, pcm: &[i16]) {
        if pcm.is_empty() {
            return;
        }
        if self.next_send.is_none() {
            let mut start = now;
            if let Some(end) = self.last_send_end {
                let idle = now.saturating_duration_since(end);
                self.packetizer.skip((idle.as_micros() / 125) as u32);
                // The 20 ms spacing is a floor: audio arriving early waits for it.
                start = start.max(end);
            }
            self.next_send = Some(start);
        }
        self.playback.extend(pcm);
    }

    /// Drop whatever is queued (a key press interrupts a prompt). No
    /// [`Event::PlaybackDone`] follows.
    pub fn stop_playback(&mut self, now: Instant) {
        self.playback.clear();
        self.kept = 0;
        self.standing = None;
        if self.next_send.take().is_some() {
            self.last_send_end = Some(now);
        }
    }

    /// Samples queued and not sent yet: a caller streaming audio (music on hold) keeps
    /// this topped up so the queue never runs dry between its ticks.
    pub fn queued(&self) -> usize {
        self.playback.len()
    }

    /// True while queued audio remains.
    pub fn is_playing(&self) -> bool {
        !self.playback.is_empty()
    }

    /// The next packet to send, if one is due at `now`. Call until `None`. While not
    /// sending ([`Session::set_direction`]) due frames are paced out and dropped.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        loop {
            let packet = self.next_due_packet(now)?;
            if self.sending {
                return packet;
            }
        }
    }

    /// The next due frame: `None` when nothing is due, `Some(None)` for a frame that did
    /// not encode.
    fn next_due_packet(&mut self, now: Instant) -> Option<Option<Transmit>> {
        let mut due = self.next_send?;
        if now < due {
            return None;
        }
        if now.saturating_duration_since(due) > MAX_SEND_LAG {
            let lag = now.saturating_duration_since(due);
            self.packetizer.skip((lag.as_micros() / 125) as u32);
            due = now;
        }
        let n = self.playback.len().min(FRAME);
        let frame: Vec<i16> = self.playback.drain(..n).collect();
        self.kept = self.kept.saturating_sub(n);
        let packet = self.packetizer.packetize(&frame);
        let end = due + PTIME;
        if self.playback.is_empty() {
            self.next_send = None;
            self.last_send_end = Some(end);
            self.events.push_back(Event::PlaybackDone);
        } else {
            self.next_send = Some(end);
        }
        match packet.to_bytes() {
            Ok(payload) if self.sending => {
                self.stats.sent += 1;
                Some(Some(Transmit {
                    destination: self.remote(),
                    payload,
                }))
            }
            Ok(_) => Some(None),
            Err(_) => Some(None), // a 160-byte G.711 packet always encodes
        }
    }
}

#[cfg(test)]
mod tests;
