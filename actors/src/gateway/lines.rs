//! The line core's actions on an analog line: the connection (CRCX/DLCX through the
//! translator), the call's RTP session, tones and ringing, and the store and codec work the
//! station does too (its database operations are shared: `station::ops`).

use std::net::SocketAddr;
use std::time::Instant;

use actix::prelude::*;
use ivm_line::{Action, Failure, Input, LineId, Origin, PostOutcome, RingFailure, TalkRefused};
use ivm_rtp::{Event as MediaEvent, Latching, Recorder, Session, SessionConfig};
use ivm_wire::{Guid, MailboxState};

use super::seam::Request;
use super::{GatewayActor, Hook};
use crate::client::{MailboxChanged, Receipt};
use crate::database::messages::DeleteMessage;
use crate::media::RtpIn;
use crate::station::ops::{
    change_setting, log_call, post_recording, AudioOf, CheckRecipients, LampCounts, PartyAt,
    PhoneMailbox,
};

async fn codec<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    crate::codec::run(job).await.map_err(|e| e.to_string())
}

impl GatewayActor {
    /// The connection (CRCX, MEGACO Add) was answered with the gateway's connection id and
    /// SDP: the session from the gateway's SDP, then the line starts (a
    /// dialled call) or hears its phone answered (a ring).
    pub(super) fn connected(
        &mut self,
        now: Instant,
        gw: SocketAddr,
        ep: &str,
        connection: Option<String>,
        sdp: Option<ivm_sdp::SessionDescription>,
        ctx: &mut Context<Self>,
    ) {
        let inactivity = self.cfg.media_timeout;
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        let Some(line) = e.line else { return };
        e.connection = connection;
        let neg = sdp
            .zip(e.media.as_ref())
            .and_then(|(sdp, m)| ivm_sdp::accept_answer(&sdp, &m.local).ok());
        let Some(neg) = neg.filter(|n| n.remote.is_some_and(|r| !r.ip().is_unspecified())) else {
            tracing::warn!("gateway's connection has no usable media");
            self.connect_failed(now, gw, ep, ctx);
            return;
        };
        let remote = neg.remote.expect("checked");
        let mut cfg = SessionConfig::new(remote);
        cfg.codec = match neg.codec {
            ivm_sdp::Codec::Pcmu => ivm_rtp::Codec::Pcmu,
            ivm_sdp::Codec::Pcma => ivm_rtp::Codec::Pcma,
        };
        cfg.telephone_event = neg.telephone_event;
        cfg.latching = if remote.ip() == gw.ip() {
            Latching::Strict
        } else {
            Latching::LatchFirst
        };
        cfg.inactivity = inactivity;
        if let Some(m) = e.media.as_mut() {
            m.session = Some(Session::new(cfg, now));
        }
        e.hook = Hook::InCall;
        self.request(now, gw, ep, Request::InCall);
        let input = match self.pending_dial.remove(&line) {
            Some(dial) => Input::Dialled(dial),
            None => Input::Answered,
        };
        self.exchange.handle(now, line, input);
        self.drive(now, ctx);
    }

    /// No connection: the line ends; the phone hears busy tone until on-hook.
    pub(super) fn connect_failed(
        &mut self,
        now: Instant,
        gw: SocketAddr,
        ep: &str,
        ctx: &mut Context<Self>,
    ) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        e.media = None;
        let line = e.line.take();
        e.hook = Hook::Lifted;
        if let Some(l) = line {
            self.lines.remove(&l);
            let input = match self.pending_dial.remove(&l) {
                Some(_) => Input::HungUp,
                None => Input::RingFailed(RingFailure::NoResources),
            };
            self.exchange.handle(now, l, input);
            self.drive(now, ctx);
        }
        self.request(now, gw, ep, Request::Busy);
    }

    /// Deletes the endpoint's connection, if any, and its media.
    pub(super) fn disconnect(&mut self, now: Instant, gw: SocketAddr, ep: &str) {
        let Some(e) = self.endpoint_mut(gw, ep) else {
            return;
        };
        e.media = None;
        if let Some(connection) = e.connection.take() {
            let call_id = e.call_id.clone();
            self.request(
                now,
                gw,
                ep,
                Request::Disconnect {
                    call_id,
                    connection,
                },
            );
        }
    }

    /// Audits a gateway that has been quiet for the keep-alive interval; the agent's give-up
    /// marks it down.
    pub(super) fn keepalive(&mut self, now: Instant) {
        let quiet: Vec<(SocketAddr, String)> = self
            .gateways
            .iter_mut()
            .filter(|(_, g)| {
                g.up && !g.audit_sent && now.duration_since(g.heard) >= self.cfg.keepalive
            })
            .filter_map(|(a, g)| {
                g.audit_sent = true;
                g.endpoints.keys().next().map(|k| (*a, k.clone()))
            })
            .collect();
        for (gw, ep) in quiet {
            self.request(now, gw, &ep, Request::Audit);
        }
    }

    /// Reads `user`'s lamp counts and lights (or puts out) the lamps of their idle lines.
    pub(super) fn update_lamp(&mut self, user: Guid, ctx: &mut Context<Self>) {
        let has_line = self
            .gateways
            .values()
            .flat_map(|g| g.endpoints.values())
            .any(|e| e.user.as_ref().is_some_and(|p| p.user == user));
        if !has_line {
            return;
        }
        let db = self.db.clone();
        ctx.spawn(
            async move { db.call(LampCounts(user)).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let Ok((new, _)) = res else { return };
                    let now = Instant::now();
                    let lit = new > 0;
                    let mut targets = Vec::new();
                    for (addr, g) in act.gateways.iter_mut() {
                        for (k, e) in g.endpoints.iter_mut() {
                            if e.user.as_ref().is_some_and(|p| p.user == user) {
                                let changed = e.lamp != Some(lit);
                                e.lamp = Some(lit);
                                if changed && e.hook == Hook::Idle && g.up {
                                    targets.push((*addr, k.clone()));
                                }
                            }
                        }
                    }
                    for (gw, ep) in targets {
                        tracing::info!(endpoint = %ep, lit, "message-waiting lamp");
                        act.request(now, gw, &ep, Request::WaitOffHook { lamp: Some(lit) });
                    }
                    act.flush();
                }),
        );
    }

    /// Carries out the exchange's actions until none is left.
    pub(super) fn drive(&mut self, now: Instant, ctx: &mut Context<Self>) {
        for _ in 0..100_000 {
            let Some((line, action)) = self.exchange.poll_action() else {
                return;
            };
            self.carry_out(now, line, action, ctx);
        }
        tracing::error!("line actions do not settle");
    }

    fn feed(&mut self, now: Instant, line: LineId, input: Input, ctx: &mut Context<Self>) {
        self.exchange.handle(now, line, input);
        self.drive(now, ctx);
    }

    fn answer_later(&mut self, line: LineId, input: Input, ctx: &mut Context<Self>) {
        self.feed(Instant::now(), line, input, ctx);
        self.flush();
    }

    fn session(&mut self, line: LineId) -> Option<&mut Session> {
        let (gw, ep) = self.lines.get(&line)?.clone();
        self.endpoint_mut(gw, &ep)?.media.as_mut()?.session.as_mut()
    }

    fn carry_out(&mut self, now: Instant, line: LineId, action: Action, ctx: &mut Context<Self>) {
        match action {
            // The connection was made before the line started (or it is a ring's answer).
            Action::Answer | Action::Ringback => {}
            Action::Reject(reason) => {
                tracing::info!(?reason, "refused");
                if let Some((gw, ep)) = self.lines.get(&line).cloned() {
                    self.disconnect(now, gw, &ep);
                    if let Some(e) = self.endpoint_mut(gw, &ep) {
                        e.hook = Hook::Lifted;
                    }
                    self.request(now, gw, &ep, Request::Busy);
                }
            }
            Action::Ring { to, from } => self.ring(now, line, to.user, from, ctx),
            Action::Play(sound) => {
                let pcm = sound.render();
                if let Some(s) = self.session(line) {
                    s.play(now, &pcm);
                }
            }
            Action::StopPlayback => {
                if let Some(s) = self.session(line) {
                    s.stop_playback(now);
                }
            }
            Action::FlushAudio => self.flush_audio(now, line),
            Action::CheckRecipients(to) => {
                let db = self.db.clone();
                ctx.spawn(
                    async move {
                        db.call(CheckRecipients(to))
                            .await
                            .map_err(|e| Failure(e.to_string()))
                    }
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        act.answer_later(line, Input::RecipientsChecked(res), ctx)
                    }),
                );
            }
            Action::LookUpExtension(ext) => {
                let db = self.db.clone();
                ctx.spawn(
                    async move {
                        db.call(PartyAt(ext))
                            .await
                            .map_err(|e| Failure(e.to_string()))
                    }
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        act.answer_later(line, Input::ExtensionFound(res), ctx)
                    }),
                );
            }
            Action::Post {
                sender,
                to,
                recorder,
            } => self.post(line, sender, to, recorder, ctx),
            Action::ChangeSetting { user, change } => {
                let fut = change_setting(self.db.clone(), self.clients.clone(), user, change);
                ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                    act.answer_later(line, Input::SettingChanged(res), ctx)
                }));
            }
            Action::LogCall {
                caller,
                callee,
                answered,
            } => {
                ctx.spawn(
                    log_call(self.db.clone(), caller, callee.user, answered).into_actor(self),
                );
            }
            Action::LoadMailbox { user } => {
                let db = self.db.clone();
                ctx.spawn(
                    async move {
                        db.call(PhoneMailbox { user })
                            .await
                            .map_err(|e| Failure(e.to_string()))
                    }
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        act.answer_later(line, Input::MailboxLoaded(res), ctx)
                    }),
                );
            }
            Action::LoadAudio { user, message } => {
                let db = self.db.clone();
                ctx.spawn(
                    async move {
                        let ogg = db
                            .call(AudioOf { user, message })
                            .await
                            .map_err(|e| e.to_string())?;
                        codec(move || ivm_rtp::transcode::ogg_to_pcm8k(&ogg))
                            .await?
                            .map_err(|e| e.to_string())
                    }
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        let audio = res.map_err(Failure);
                        act.answer_later(line, Input::MessageAudio { message, audio }, ctx)
                    }),
                );
            }
            Action::MarkPlayed { user, message } => self.clients.do_send(Receipt {
                user,
                message,
                state: MailboxState::Played,
            }),
            Action::Delete { user, message } => {
                let db = self.db.clone();
                let clients = self.clients.clone();
                ctx.spawn(
                    async move {
                        if db.call(DeleteMessage { id: message, user }).await.is_ok() {
                            clients.do_send(MailboxChanged { user });
                        }
                    }
                    .into_actor(self),
                );
            }
            Action::Bridge(peer) => {
                self.bridges.insert(line, peer);
                self.bridges.insert(peer, line);
            }
            // Live talks (intercom) are not served on analog lines yet.
            Action::StartTalk { .. } => {
                let refused = TalkRefused::Refused("not on analog lines yet".into());
                self.exchange
                    .handle(now, line, Input::TalkStarted(Err(refused)));
            }
            Action::RingMeResult(result) => {
                if let Some(reply) = self.ring_me.remove(&line) {
                    let _ = reply.send(result);
                }
            }
            Action::Hear | Action::Speak(_) | Action::EndTalk => {}
            // An analog line never asks for a transfer (no hook-flash transfer yet).
            Action::Transferred(_) => {}
            Action::Release => self.release(now, line),
        }
    }

    /// Rings the idle line of `user` on a gateway that is up; the exchange's callee line.
    fn ring(
        &mut self,
        now: Instant,
        line: LineId,
        user: Guid,
        from: Origin,
        ctx: &mut Context<Self>,
    ) {
        let target = self.gateways.iter().find_map(|(a, g)| {
            if !g.up {
                return None;
            }
            g.endpoints
                .iter()
                .find(|(_, e)| {
                    e.hook == Hook::Idle && e.user.as_ref().is_some_and(|p| p.user == user)
                })
                .map(|(k, _)| (*a, k.clone()))
        });
        let Some((gw, ep)) = target else {
            self.feed(now, line, Input::RingFailed(RingFailure::Unreachable), ctx);
            return;
        };
        let (number, name) = match from {
            Origin::Party(p) => (p.ext.clone(), p.ext),
            _ => (String::new(), "IVM".to_owned()),
        };
        if let Some(e) = self.endpoint_mut(gw, &ep) {
            e.hook = Hook::Ringing;
            e.line = Some(line);
        }
        self.lines.insert(line, (gw, ep.clone()));
        self.request(now, gw, &ep, Request::Ring { number, name });
        self.feed(now, line, Input::Alerting, ctx);
    }

    /// The line ended: its connection is deleted; a phone still off-hook hears busy tone, an
    /// idle one waits for off-hook again.
    fn release(&mut self, now: Instant, line: LineId) {
        self.pending_dial.remove(&line);
        self.ring_me.remove(&line);
        if let Some(peer) = self.bridges.remove(&line) {
            self.bridges.remove(&peer);
        }
        let Some((gw, ep)) = self.lines.remove(&line) else {
            return;
        };
        self.disconnect(now, gw, &ep);
        let Some(e) = self.endpoint_mut(gw, &ep) else {
            return;
        };
        if e.line == Some(line) {
            e.line = None;
        }
        let next = match e.hook {
            Hook::Idle | Hook::Ringing => {
                e.hook = Hook::Idle;
                Request::WaitOffHook { lamp: e.lamp }
            }
            _ => {
                e.hook = Hook::Lifted;
                Request::Busy
            }
        };
        self.request(now, gw, &ep, next);
    }

    /// The held audio to the line at once, then `AudioFlushed` (the line core's contract).
    fn flush_audio(&mut self, now: Instant, line: LineId) {
        let held = self
            .session(line)
            .map(Session::flush_audio)
            .unwrap_or_default();
        for pcm in held {
            self.exchange.handle(now, line, Input::Audio(pcm));
        }
        self.exchange.handle(now, line, Input::AudioFlushed);
    }

    /// As the station: encoded on the codec pool, posted through the client actor.
    fn post(
        &mut self,
        line: LineId,
        sender: Guid,
        to: Vec<String>,
        recorder: Recorder,
        ctx: &mut Context<Self>,
    ) {
        let fut = post_recording(self.clients.clone(), sender, to, recorder);
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let outcome = match &res {
                Ok(Some(info)) => {
                    tracing::info!(leg = line, message = %info.id, duration_ms = info.duration_ms, "message from an analog line posted");
                    PostOutcome::Sent
                }
                Ok(None) => PostOutcome::NothingToSend,
                Err(e) => {
                    tracing::warn!(leg = line, error = %e, "message from an analog line not posted");
                    PostOutcome::Failed
                }
            };
            act.answer_later(line, Input::Posted(outcome), ctx);
        }));
    }

    /// Every call's media timers and paced sending.
    pub(super) fn media_tick(&mut self, now: Instant, ctx: &mut Context<Self>) {
        let mut due = Vec::new();
        for (line, (gw, ep)) in &self.lines {
            let Some(m) = self
                .gateways
                .get_mut(gw)
                .and_then(|g| g.endpoints.get_mut(ep))
                .and_then(|e| e.media.as_mut())
            else {
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
                due.push((*line, events));
            }
        }
        for (line, events) in due {
            self.media_events(now, line, events, ctx);
        }
    }

    fn media_events(
        &mut self,
        now: Instant,
        line: LineId,
        events: Vec<MediaEvent>,
        ctx: &mut Context<Self>,
    ) {
        for ev in events {
            let input = match ev {
                MediaEvent::Audio(pcm) => {
                    if let Some(peer) = self.bridges.get(&line).copied() {
                        if let Some(s) = self.session(peer) {
                            s.play(now, &pcm);
                        }
                    }
                    Input::Audio(pcm)
                }
                MediaEvent::Silence(samples) => Input::Audio(vec![0; samples]),
                MediaEvent::Digit(d) => Input::Digit(d),
                MediaEvent::PlaybackDone => Input::PlaybackDone,
                MediaEvent::Inactive => {
                    tracing::info!(leg = line, "no media from the gateway: hanging up");
                    Input::MediaInactive
                }
                MediaEvent::Latched(_) => continue,
            };
            self.feed(now, line, input, ctx);
        }
    }
}

/// Media for a call.
impl Handler<RtpIn> for GatewayActor {
    type Result = ();
    fn handle(&mut self, msg: RtpIn, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(s) = self.session(msg.leg) else {
            return;
        };
        s.handle_packet(now, msg.from, &msg.bytes);
        let events: Vec<MediaEvent> = std::iter::from_fn(|| s.poll_event()).collect();
        if !events.is_empty() {
            self.media_events(now, msg.leg, events, ctx);
        }
        self.flush();
    }
}
