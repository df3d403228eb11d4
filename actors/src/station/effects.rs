//! Carrying out the lines' actions. Signalling goes to `dialogs.rs`, media to `media.rs`;
//! what needs the store or the codecs runs as a future (database actor, blocking pool) whose
//! answer is fed back to the line as an input when it arrives. The line may be gone by then
//! (the phone hung up): the exchange ignores input for a line it no longer has, so outcomes
//! that matter anyway (a posted message) are logged here.

use std::time::Instant;

use actix::prelude::*;
use ivm_line::{Action, Failure, Input, PostOutcome, SettingChange};
use ivm_rtp::Recorder;
use ivm_wire::{Guid, MailboxState};

use super::ops::{
    change_setting, log_call, post_recording, AudioOf, CheckRecipients, PartyAt, PhoneMailbox,
};
use super::StationActor;
use crate::client::{MailboxChanged, Receipt};
use crate::database::messages::DeleteMessage;
use crate::media::LegId;

/// Runs codec work (Opus encode and decode, resampling) off the actor's thread, within the
/// box's codec budget ([`crate::codec`]): 300 recordings ending together queue, not 300 threads.
async fn codec<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    crate::codec::run(job).await.map_err(|e| e.to_string())
}

impl StationActor {
    /// Feeds `input` to `line` and carries out what it sets off.
    pub(super) fn feed(
        &mut self,
        now: Instant,
        line: LegId,
        input: Input,
        ctx: &mut Context<Self>,
    ) {
        self.exchange.handle(now, line, input);
        self.drive(now, ctx);
    }

    /// Carries out the exchange's actions until none is left. An action may feed a line
    /// again (a failed answer, the flushed audio): what that sets off is drained here too.
    pub(super) fn drive(&mut self, now: Instant, ctx: &mut Context<Self>) {
        for _ in 0..100_000 {
            let Some((line, action)) = self.exchange.poll_action() else {
                return;
            };
            self.carry_out(now, line, action, ctx);
        }
        tracing::error!("line actions do not settle");
    }

    fn carry_out(&mut self, now: Instant, line: LegId, action: Action, ctx: &mut Context<Self>) {
        match action {
            Action::Answer => self.answer(now, line, ctx),
            Action::Reject(reason) => self.reject(now, line, &reason),
            Action::Ringback => self.ringback(now, line),
            Action::Ring { to, from } => self.ring(now, line, to, from, ctx),
            Action::Play(sound) => self.play(now, line, &sound.render()),
            Action::StopPlayback => self.stop_playback(now, line),
            Action::FlushAudio => self.flush_audio(now, line),
            Action::CheckRecipients(to) => self.check_recipients(line, to, ctx),
            Action::LookUpExtension(ext) => self.look_up_extension(line, ext, ctx),
            Action::ChangeSetting { user, change } => self.change_setting(line, user, change, ctx),
            Action::LogCall {
                caller,
                callee,
                answered,
            } => {
                ctx.spawn(
                    log_call(self.db.clone(), caller, callee.user, answered).into_actor(self),
                );
            }
            Action::Post {
                sender,
                to,
                recorder,
            } => self.post(line, sender, to, recorder, ctx),
            Action::LoadMailbox { user } => self.load_mailbox(line, user, ctx),
            Action::LoadAudio { user, message } => self.load_audio(line, user, message, ctx),
            Action::MarkPlayed { user, message } => self.clients.do_send(Receipt {
                user,
                message,
                state: MailboxState::Played,
            }),
            Action::Delete { user, message } => self.delete(user, message, ctx),
            Action::Bridge(peer) => self.bridge(now, line, peer),
            Action::Hear => self.hear(now, line),
            Action::StartTalk { speaker, to } => self.start_talk(line, speaker, to, ctx),
            Action::Speak(pcm) => self.speak(line, pcm),
            Action::EndTalk => self.end_talk(line),
            Action::Transferred(outcome) => self.transferred(now, line, &outcome),
            Action::RingMeResult(result) => {
                if let Some(reply) = self.ring_me.remove(&line) {
                    let _ = reply.send(result);
                }
            }
            Action::Release => self.release(now, line),
        }
    }

    /// Feeds an answer that arrived later, then sends what it set off.
    pub(super) fn answer_later(&mut self, line: LegId, input: Input, ctx: &mut Context<Self>) {
        self.feed(Instant::now(), line, input, ctx);
        self.flush_sip();
    }

    fn check_recipients(&mut self, line: LegId, to: Vec<String>, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move {
            db.call(CheckRecipients(to))
                .await
                .map_err(|e| Failure(e.to_string()))
        };
        ctx.spawn(
            fut.into_actor(self).map(move |res, act, ctx| {
                act.answer_later(line, Input::RecipientsChecked(res), ctx)
            }),
        );
    }

    /// A keypad setting: forwards through the same checked store write as
    /// `PATCH /api/me/settings`, do-not-disturb as the status busy (through the client actor,
    /// so presence watchers see it).
    fn change_setting(
        &mut self,
        line: LegId,
        user: Guid,
        change: SettingChange,
        ctx: &mut Context<Self>,
    ) {
        let fut = change_setting(self.db.clone(), self.clients.clone(), user, change);
        ctx.spawn(
            fut.into_actor(self)
                .map(move |res, act, ctx| act.answer_later(line, Input::SettingChanged(res), ctx)),
        );
    }

    fn look_up_extension(&mut self, line: LegId, ext: String, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move {
            db.call(PartyAt(ext))
                .await
                .map_err(|e| Failure(e.to_string()))
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |res, act, ctx| act.answer_later(line, Input::ExtensionFound(res), ctx)),
        );
    }

    /// Encodes off the actor's thread and posts through the client actor as a prepared
    /// recording (its Ogg, duration and peaks are stored as the recorder made them: no second
    /// decode), through the same checks and the one commit a browser's message takes; then
    /// tells the line (if the phone is still there).
    fn post(
        &mut self,
        line: LegId,
        sender: Guid,
        to: Vec<String>,
        recorder: Recorder,
        ctx: &mut Context<Self>,
    ) {
        let fut = post_recording(self.clients.clone(), sender, to, recorder);
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let outcome = match &res {
                Ok(Some(info)) => {
                    tracing::info!(leg = line, message = %info.id, duration_ms = info.duration_ms, "message from a phone posted");
                    PostOutcome::Sent
                }
                Ok(None) => {
                    tracing::info!(leg = line, "recording held no speech: dropped");
                    PostOutcome::NothingToSend
                }
                Err(e) => {
                    tracing::warn!(leg = line, error = %e, "message from a phone not posted");
                    PostOutcome::Failed
                }
            };
            act.answer_later(line, Input::Posted(outcome), ctx);
        }));
    }

    /// The mailbox as a phone hears it: not deleted, unplayed first, newest first, at most
    /// [`super::ops::MAILBOX_ITEMS`], each with its sender's extension.
    fn load_mailbox(&mut self, line: LegId, user: Guid, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move {
            db.call(PhoneMailbox { user })
                .await
                .map_err(|e| Failure(e.to_string()))
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |res, act, ctx| act.answer_later(line, Input::MailboxLoaded(res), ctx)),
        );
    }

    /// A stored message as 8 kHz PCM for the phone.
    fn load_audio(&mut self, line: LegId, user: Guid, message: Guid, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move {
            let ogg = db
                .call(AudioOf { user, message })
                .await
                .map_err(|e| e.to_string())?;
            codec(move || ivm_rtp::transcode::ogg_to_pcm8k(&ogg))
                .await?
                .map_err(|e| e.to_string())
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let audio = res.map_err(Failure);
            act.answer_later(line, Input::MessageAudio { message, audio }, ctx)
        }));
    }

    /// Deletes from the user's mailbox; the lamps follow.
    fn delete(&mut self, user: Guid, message: Guid, ctx: &mut Context<Self>) {
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
}
