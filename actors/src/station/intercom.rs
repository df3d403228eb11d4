//! Desk phones in live talks (intercom, issue 13): the station's side. The line core decides
//! (`ivm_line`'s `listen` and `speak` services); this file moves audio and talk control
//! between the lines and the client manager, which owns the talks
//! ([`crate::client::PhoneTalkStart`] and the messages beside it).
//!
//! - **Listening.** [`IntercomRing`] opens a line per recipient with a registered phone, fed
//!   [`Input::Intercom`]: the exchange refuses a user on another line (busy), the line rings
//!   the phone with its brand's auto-answer headers (`auto_answer.rs`). The talk's Opus
//!   portions go to one decoder worker per talk on the blocking pool (never in a handler),
//!   which sends back 8 kHz PCM ([`IntercomPcm`]); the station queues it on every answered
//!   line's RTP session (G.711 in the codec the phone negotiated). What was said while a
//!   phone rang is kept (bounded) and played first on answer, so a phone hears the talk
//!   whole, a moment late. Toward a phone that answered before anything was said the
//!   audio is live: sent as soon as it is decoded, a standing backlog cut
//!   ([`ivm_rtp::Session::play_live`]), so a late first decode does not delay the whole
//!   talk. The talk's end reaches the lines only after the worker drained,
//!   so the last words are queued before the closing tone.
//! - **Speaking (`*8`).** [`Action::StartTalk`] resolves the dialled recipients (database)
//!   and starts the talk in the client manager; each [`Action::Speak`] frame goes to one
//!   encoder worker per talk (blocking pool) that cuts 20 ms Opus packets and sends them as
//!   the talk's portions, then the end, in order, from the same thread.
//!
//! Workers live as long as their talk: the talk core's limits (64 talks, each ending at the
//! latest at its length limit or 5 s idle) bound them.

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;
use ivm_line::{Input, Party, TalkRefused};
use ivm_media::{OpusFrameDecoder, OpusFrameEncoder};
use ivm_wire::phone::Vendor;
use ivm_wire::talk::{Portion, StreamId};
use ivm_wire::Guid;
use tokio::sync::mpsc;

use super::ops::ResolveRecipients;
use super::StationActor;
use crate::client::{
    ClientHandle, IntercomHeard, IntercomOver, IntercomPortion, IntercomRing, PhoneTalkEnd,
    PhoneTalkPortion, PhoneTalkStart,
};
use crate::media::LegId;

/// Audio kept for phones still ringing: 8 s at 8 kHz (an auto-answering phone answers within
/// the line core's 5 s, or is given up).
const MAX_BACKLOG: usize = 8 * 8_000;
/// Portions or frames queued toward a worker before new ones are dropped (a stalled codec
/// pool must not grow the station's memory).
const WORKER_QUEUE: usize = 256;

/// A talk played to phones.
struct Heard {
    /// Toward the decoder worker; `None` once the talk is over.
    decoder: Option<mpsc::Sender<Vec<u8>>>,
    /// What was said so far, while some phone still rings.
    backlog: Vec<i16>,
    /// The lines called for it.
    lines: Vec<LegId>,
    /// Of those, the ones that answered.
    answered: Vec<LegId>,
}

/// A talk spoken from a phone.
struct Spoken {
    stream: StreamId,
    /// Toward the encoder worker; dropping it ends the talk.
    encoder: mpsc::Sender<Vec<i16>>,
}

/// The station's intercom state.
#[derive(Default)]
pub(super) struct Intercom {
    heard: HashMap<StreamId, Heard>,
    /// Listening line -> its talk.
    listening: HashMap<LegId, StreamId>,
    speaking: HashMap<LegId, Spoken>,
    /// Each user's phone brand, from the phone registry at registration (`None`: a phone
    /// the registry does not know, or of no known brand).
    vendors: HashMap<Guid, Option<Vendor>>,
}

impl Intercom {
    /// Records what the registry said about `user`'s phone.
    pub fn set_vendor(&mut self, user: Guid, vendor: Option<Vendor>) {
        self.vendors.insert(user, vendor);
    }

    /// The brand of `user`'s phone, if known.
    pub fn vendor(&self, user: Guid) -> Option<Vendor> {
        self.vendors.get(&user).copied().flatten()
    }
}

/// Decoded audio of a talk, from its decoder worker; `None` once the worker drained.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct IntercomPcm {
    stream: StreamId,
    pcm: Option<Vec<i16>>,
}

/// Decodes a talk's portions to 8 kHz PCM on a blocking thread until the talk is over.
fn decoder_worker(stream: StreamId, mut rx: mpsc::Receiver<Vec<u8>>, out: Recipient<IntercomPcm>) {
    tokio::task::spawn_blocking(move || {
        match OpusFrameDecoder::new(8_000) {
            Ok(mut dec) => {
                while let Some(opus) = rx.blocking_recv() {
                    match dec.decode(&opus) {
                        Ok(pcm) => out.do_send(IntercomPcm {
                            stream,
                            pcm: Some(pcm),
                        }),
                        Err(e) => tracing::debug!(stream, error = %e, "portion not decoded"),
                    }
                }
            }
            Err(e) => tracing::warn!(stream, error = %e, "no Opus decoder for the phones"),
        }
        out.do_send(IntercomPcm { stream, pcm: None });
    });
}

/// Encodes a phone's 8 kHz audio into 20 ms Opus portions of `stream` and sends them, then
/// the talk's end, on a blocking thread.
fn encoder_worker(
    stream: StreamId,
    speaker: Guid,
    mut rx: mpsc::Receiver<Vec<i16>>,
    clients: ClientHandle,
) {
    tokio::task::spawn_blocking(move || {
        let mut enc = match OpusFrameEncoder::with_rate(8_000) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(stream, error = %e, "no Opus encoder for the phone");
                None
            }
        };
        let mut seq = 0u32;
        let mut pending: Vec<i16> = Vec::new();
        let mut send = |enc: &mut OpusFrameEncoder, frame: &[i16]| match enc.encode(frame) {
            Ok(opus) => {
                clients.do_send(PhoneTalkPortion {
                    speaker,
                    portion: Portion {
                        stream,
                        seq,
                        last: false,
                        opus,
                    },
                });
                seq = seq.wrapping_add(1);
            }
            Err(e) => tracing::debug!(stream, error = %e, "frame not encoded"),
        };
        while let Some(pcm) = rx.blocking_recv() {
            let Some(enc) = enc.as_mut() else { continue };
            pending.extend_from_slice(&pcm);
            let n = enc.frame_samples();
            while pending.len() >= n {
                let frame: Vec<i16> = pending.drain(..n).collect();
                send(enc, &frame);
            }
        }
        if let Some(enc) = enc.as_mut() {
            if !pending.is_empty() {
                send(enc, &pending);
            }
        }
        clients.do_send(PhoneTalkEnd { speaker, stream });
    });
}

impl StationActor {
    /// Calls the idle phones of `users` for a talk; whether any is being called.
    fn ring_for_talk(&mut self, now: Instant, msg: IntercomRing, ctx: &mut Context<Self>) -> bool {
        let speaker = Party {
            user: msg.speaker,
            ext: self
                .reg
                .latest(msg.speaker)
                .map(|b| b.ext.clone())
                .unwrap_or_default(),
        };
        let mut lines = Vec::new();
        for user in msg.users {
            let Some(ext) = self.reg.latest(user).map(|b| b.ext.clone()) else {
                continue;
            };
            let line = self.exchange.open(Party { user, ext }, "intercom");
            self.intercom.listening.insert(line, msg.stream);
            lines.push(line);
        }
        if lines.is_empty() {
            return false;
        }
        let (tx, rx) = mpsc::channel(WORKER_QUEUE);
        decoder_worker(msg.stream, rx, ctx.address().recipient());
        self.intercom.heard.insert(
            msg.stream,
            Heard {
                decoder: Some(tx),
                backlog: Vec::new(),
                lines: lines.clone(),
                answered: Vec::new(),
            },
        );
        for line in lines {
            self.feed(now, line, Input::Intercom(speaker.clone()), ctx);
        }
        // Busy or unreachable phones were released at once.
        self.intercom.heard.contains_key(&msg.stream)
    }

    /// A listening line's phone answered: play what was said so far, then the rest as it
    /// comes; its user heard the talk live.
    pub(super) fn hear(&mut self, now: Instant, line: LegId) {
        let Some(&stream) = self.intercom.listening.get(&line) else {
            return;
        };
        let Some(h) = self.intercom.heard.get_mut(&stream) else {
            return;
        };
        h.answered.push(line);
        let backlog = h.backlog.clone();
        if h.answered.len() == h.lines.len() {
            h.backlog = Vec::new();
        }
        self.play(now, line, &backlog);
        if let Some(party) = self.exchange.party(line) {
            self.clients.do_send(IntercomHeard {
                stream,
                user: party.user,
            });
        }
    }

    /// Decoded audio of a talk: to every answered phone, and kept for those still ringing.
    fn talk_audio(
        &mut self,
        now: Instant,
        stream: StreamId,
        pcm: Option<Vec<i16>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(pcm) = pcm else {
            // The worker drained: every word is queued; the lines close with their tone.
            if let Some(h) = self.intercom.heard.remove(&stream) {
                for line in h.lines {
                    self.feed(now, line, Input::TalkOver, ctx);
                }
            }
            return;
        };
        let Some(h) = self.intercom.heard.get_mut(&stream) else {
            return;
        };
        if h.answered.len() < h.lines.len() && h.backlog.len() + pcm.len() <= MAX_BACKLOG {
            h.backlog.extend_from_slice(&pcm);
        }
        for line in h.answered.clone() {
            self.play_live(now, line, &pcm);
        }
    }

    /// `*8`: resolve the recipients, start the talk in the client manager, tell the line.
    pub(super) fn start_talk(
        &mut self,
        line: LegId,
        speaker: Guid,
        to: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        let db = self.db.clone();
        let clients = self.clients.clone();
        let fut = async move {
            let recipients = match db.call(ResolveRecipients(to)).await {
                Ok(Ok(r)) => r,
                Ok(Err(unknown)) => return Err(TalkRefused::UnknownRecipient(unknown)),
                Err(e) => return Err(TalkRefused::Refused(e.to_string())),
            };
            match clients
                .send(PhoneTalkStart {
                    speaker,
                    recipients,
                })
                .await
            {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(TalkRefused::Refused(e.to_string())),
                Err(e) => Err(TalkRefused::Refused(e.to_string())),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let res = match res {
                Ok(stream) if !act.exchange.contains(line) => {
                    // The phone gave up meanwhile: the talk ends at once (nothing said).
                    act.clients.do_send(PhoneTalkEnd { speaker, stream });
                    return;
                }
                Ok(stream) => {
                    let (tx, rx) = mpsc::channel(WORKER_QUEUE);
                    encoder_worker(stream, speaker, rx, act.clients.clone());
                    act.intercom.speaking.insert(
                        line,
                        Spoken {
                            stream,
                            encoder: tx,
                        },
                    );
                    if let Some(span) = act.exchange.span(line) {
                        span.in_scope(|| tracing::info!(stream, "talk from a phone started"));
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            };
            act.answer_later(line, Input::TalkStarted(res), ctx);
        }));
    }

    /// One frame of the speaking phone's audio toward its encoder.
    pub(super) fn speak(&mut self, line: LegId, pcm: Vec<i16>) {
        if let Some(s) = self.intercom.speaking.get(&line) {
            if s.encoder.try_send(pcm).is_err() {
                tracing::debug!(leg = line, "encoder behind: a frame of the talk dropped");
            }
        }
    }

    /// The speaking phone is done: closing the encoder's queue ends the talk after its last
    /// portion.
    pub(super) fn end_talk(&mut self, line: LegId) {
        if let Some(s) = self.intercom.speaking.remove(&line) {
            if let Some(span) = self.exchange.span(line) {
                span.in_scope(|| tracing::info!(stream = s.stream, "talk from a phone ending"));
            }
        }
    }

    /// A line is released: it no longer hears or speaks a talk.
    pub(super) fn intercom_released(&mut self, line: LegId) {
        self.intercom.speaking.remove(&line);
        let Some(stream) = self.intercom.listening.remove(&line) else {
            return;
        };
        if let Some(h) = self.intercom.heard.get_mut(&stream) {
            h.lines.retain(|l| *l != line);
            h.answered.retain(|l| *l != line);
            if h.lines.is_empty() {
                // Nobody left to play to: the decoder stops.
                self.intercom.heard.remove(&stream);
            }
        }
    }
}

/// Calls the recipients' idle phones; answers whether any is being called.
impl Handler<IntercomRing> for StationActor {
    type Result = bool;
    fn handle(&mut self, msg: IntercomRing, ctx: &mut Context<Self>) -> bool {
        let rang = self.ring_for_talk(Instant::now(), msg, ctx);
        self.flush_sip();
        rang
    }
}

/// A portion of a talk played to phones, toward its decoder.
impl Handler<IntercomPortion> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: IntercomPortion, _: &mut Context<Self>) {
        let Some(tx) = self
            .intercom
            .heard
            .get(&msg.stream)
            .and_then(|h| h.decoder.as_ref())
        else {
            return;
        };
        if tx.try_send(msg.opus).is_err() {
            tracing::debug!(
                stream = msg.stream,
                seq = msg.seq,
                "decoder behind: portion dropped"
            );
        }
    }
}

/// A talk ended: its decoder drains (the listening lines close after it); a phone speaking
/// it hangs up.
impl Handler<IntercomOver> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: IntercomOver, ctx: &mut Context<Self>) {
        if let Some(h) = self.intercom.heard.get_mut(&msg.stream) {
            h.decoder = None;
        }
        let speaking: Vec<LegId> = self
            .intercom
            .speaking
            .iter()
            .filter(|(_, s)| s.stream == msg.stream)
            .map(|(l, _)| *l)
            .collect();
        let now = Instant::now();
        for line in speaking {
            self.feed(now, line, Input::TalkOver, ctx);
        }
        self.flush_sip();
    }
}

/// Decoded audio from a talk's worker.
impl Handler<IntercomPcm> for StationActor {
    type Result = ();
    fn handle(&mut self, msg: IntercomPcm, ctx: &mut Context<Self>) {
        self.talk_audio(Instant::now(), msg.stream, msg.pcm, ctx);
        self.flush_sip();
    }
}
