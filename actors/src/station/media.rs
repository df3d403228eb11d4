//! Each leg's RTP: its port, its [`Session`] (jitter buffer, keys, paced playback), bridging
//! two legs of a call, and what the media tells the leg's line (keys, audio, playback done,
//! a vanished phone).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_line::Input;
use ivm_rtp::{Event as MediaEvent, Latching, Session, SessionConfig};
use ivm_sdp::{Direction, LocalMedia, Negotiated, SessionDescription};
use ivm_sip::transaction::Peer;

use super::StationActor;
use crate::media::{LegId, MediaPort, RtpIn};

/// A leg's media: its socket's port, what we announced, and the session once both sides'
/// SDP is known.
pub(super) struct Media {
    pub port: MediaPort,
    pub local: LocalMedia,
    pub session: Option<Session>,
}

pub(super) fn rtp_codec(c: ivm_sdp::Codec) -> ivm_rtp::Codec {
    match c {
        ivm_sdp::Codec::Pcmu => ivm_rtp::Codec::Pcmu,
        ivm_sdp::Codec::Pcma => ivm_rtp::Codec::Pcma,
    }
}

/// The session for what the two sides agreed on, or `None` when the phone gave no address
/// to send to (`c=0.0.0.0`, no port).
pub(super) fn session_for(
    neg: &Negotiated,
    peer: Peer,
    inactivity: Duration,
    now: Instant,
) -> Option<Session> {
    let remote = usable_remote(neg)?;
    let mut cfg = SessionConfig::new(remote);
    cfg.codec = rtp_codec(neg.codec);
    cfg.telephone_event = neg.telephone_event;
    cfg.latching = if remote.ip() == peer.addr.ip() {
        Latching::Strict
    } else {
        Latching::LatchFirst
    };
    cfg.inactivity = inactivity;
    let mut session = Session::new(cfg, now);
    // A call answered on hold (an offer `sendonly` or `inactive`) starts held.
    let send = matches!(neg.direction, Direction::SendRecv | Direction::SendOnly);
    let receive = matches!(neg.direction, Direction::SendRecv | Direction::RecvOnly);
    session.set_direction(now, send, receive);
    Some(session)
}

pub(super) fn usable_remote(neg: &Negotiated) -> Option<SocketAddr> {
    neg.remote.filter(|r| !r.ip().is_unspecified())
}

/// Whether the box can answer `offer` at all (a G.711 audio stream with an address to send
/// to), checked when the INVITE arrives so the phone hears 488 at once, before any service
/// starts or a callee's phone rings.
pub(super) fn acceptable(offer: &SessionDescription) -> bool {
    let probe = LocalMedia {
        address: [0, 0, 0, 0].into(),
        port: 9,
        session_id: 0,
        session_version: 0,
        ptime: 20,
    };
    ivm_sdp::answer(offer, &probe).is_ok_and(|(_, neg)| usable_remote(&neg).is_some())
}

impl StationActor {
    /// Binds an RTP port for `leg`, toward the phone at `peer`.
    pub(super) fn open_media(
        &self,
        leg: LegId,
        peer: Peer,
        ctx: &mut Context<Self>,
    ) -> Option<Media> {
        match self
            .media
            .open(leg, peer.addr.ip(), ctx.address().recipient::<RtpIn>())
        {
            Ok(port) => {
                let local = LocalMedia {
                    address: port.local.ip(),
                    port: port.local.port(),
                    session_id: rand::random::<u32>().into(),
                    session_version: 1,
                    ptime: 20,
                };
                Some(Media {
                    port,
                    local,
                    session: None,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port available");
                None
            }
        }
    }

    fn session(&mut self, leg: LegId) -> Option<&mut Session> {
        self.legs
            .get_mut(leg)
            .and_then(|l| l.media.as_mut())
            .and_then(|m| m.session.as_mut())
    }

    /// A datagram on a leg's port.
    pub(super) fn on_rtp(&mut self, now: Instant, msg: RtpIn, ctx: &mut Context<Self>) {
        let Some(s) = self.session(msg.leg) else {
            return;
        };
        s.handle_packet(now, msg.from, &msg.bytes);
        let events: Vec<MediaEvent> = std::iter::from_fn(|| s.poll_event()).collect();
        if !events.is_empty() {
            self.media_events(now, msg.leg, events, ctx);
        }
    }

    /// Every leg's media timers and paced sending.
    pub(super) fn media_tick(&mut self, now: Instant, ctx: &mut Context<Self>) {
        self.music_tick(now);
        let mut due = Vec::new();
        for (id, leg) in self.legs.iter_mut() {
            let Some(m) = leg.media.as_mut() else {
                continue;
            };
            let Some(s) = m.session.as_mut() else {
                continue;
            };
            s.handle_timeout(now);
            while let Some(t) = s.poll_transmit(now) {
                let _ = m.port.tx.try_send((t.destination, t.payload));
            }
            let events: Vec<MediaEvent> = std::iter::from_fn(|| s.poll_event()).collect();
            if !events.is_empty() {
                due.push((id, events));
            }
        }
        for (id, events) in due {
            self.media_events(now, id, events, ctx);
        }
    }

    /// What a leg's media said: audio goes to a bridged leg and to the line (which keeps it
    /// while recording); keys, playback done and a vanished phone go to the line.
    fn media_events(
        &mut self,
        now: Instant,
        id: LegId,
        events: Vec<MediaEvent>,
        ctx: &mut Context<Self>,
    ) {
        for ev in events {
            let Some((span, bridge)) = self.legs.get(id).map(|l| (l.span.clone(), l.bridge)) else {
                return;
            };
            let input = match ev {
                MediaEvent::Audio(pcm) => {
                    // A party hearing music on hold does not hear the holding phone.
                    if let Some(peer) = bridge.filter(|p| !self.held.hears_music(*p)) {
                        if let Some(s) = self.session(peer) {
                            s.play(now, &pcm);
                        }
                    }
                    Input::Audio(pcm)
                }
                // Kept in the recording; not played to a bridged phone (see the event's doc).
                MediaEvent::Silence(samples) => Input::Audio(vec![0; samples]),
                MediaEvent::Digit(d) => {
                    span.in_scope(|| tracing::debug!(digit = %d.as_char(), "key"));
                    Input::Digit(d)
                }
                MediaEvent::PlaybackDone => Input::PlaybackDone,
                MediaEvent::Inactive => {
                    span.in_scope(|| tracing::info!("no media from the phone: hanging up"));
                    Input::MediaInactive
                }
                MediaEvent::Latched(a) => {
                    span.in_scope(|| tracing::debug!(source = %a, "media latched"));
                    continue;
                }
            };
            self.feed(now, id, input, ctx);
        }
    }

    /// Queues audio toward the leg's phone (nothing without media: a leg not answered).
    pub(super) fn play(&mut self, now: Instant, leg: LegId, pcm: &[i16]) {
        if let Some(s) = self.session(leg) {
            s.play(now, pcm);
        }
    }

    /// Queues a live talk's audio toward the leg's phone and sends what is due at once,
    /// not at the next media tick: live audio goes out as soon as it is decoded
    /// ([`Session::play_live`] keeps it near real time).
    pub(super) fn play_live(&mut self, now: Instant, leg: LegId, pcm: &[i16]) {
        let Some(m) = self.legs.get_mut(leg).and_then(|l| l.media.as_mut()) else {
            return;
        };
        let Some(s) = m.session.as_mut() else {
            return;
        };
        let queued = s.queued();
        let cut = s.play_live(now, pcm);
        tracing::trace!(leg, queued, cut, "live audio queued");
        while let Some(t) = s.poll_transmit(now) {
            let _ = m.port.tx.try_send((t.destination, t.payload));
        }
    }

    /// Drops what is queued toward the phone.
    pub(super) fn stop_playback(&mut self, now: Instant, leg: LegId) {
        if let Some(s) = self.session(leg) {
            s.stop_playback(now);
        }
    }

    /// A recording stopped: the audio the jitter buffer still holds goes to the line, then
    /// `AudioFlushed` (the line core's contract: before anything else).
    pub(super) fn flush_audio(&mut self, now: Instant, leg: LegId) {
        let held = self
            .session(leg)
            .map(ivm_rtp::Session::flush_audio)
            .unwrap_or_default();
        for pcm in held {
            self.exchange.handle(now, leg, Input::Audio(pcm));
        }
        self.exchange.handle(now, leg, Input::AudioFlushed);
    }

    /// Connects two legs' audio both ways (ending music on hold either heard: a transfer
    /// connects a held party to someone new).
    pub(super) fn bridge(&mut self, now: Instant, a: LegId, b: LegId) {
        self.music_ends_for(now, a);
        self.music_ends_for(now, b);
        if let Some(l) = self.legs.get_mut(a) {
            l.bridge = Some(b);
        }
        if let Some(l) = self.legs.get_mut(b) {
            l.bridge = Some(a);
        }
    }
}
