//! One recorded message: the greeting and beep, the recording, and its end (`#`, the silence
//! timeout, the length limit, a hang-up). Shared by `*7`, ring-my-phone and the mailbox's
//! reply; the service that owns the take decides what follows the post.

use std::time::Duration;

use ivm_rtp::{Digit, Recorder};

use super::Cx;
use crate::action::{Action, Sound};

/// Why a recording stopped; each drops a different tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `#`: its click is not part of the message.
    Pound,
    /// The silence timeout: keep half a second of the silence that ended it.
    Silence,
    /// The length limit.
    Full,
    /// The phone hung up (or vanished): the on-hook noise is not part of the message.
    HungUp,
}

impl Stop {
    /// How much of the end to drop, for a recorder that heard `silence` since the last speech.
    fn tail(self, silence: Duration) -> Duration {
        match self {
            Stop::Pound => Duration::from_millis(300),
            Stop::Silence => silence.saturating_sub(Duration::from_millis(500)),
            Stop::HungUp => Duration::from_millis(200),
            Stop::Full => Duration::ZERO,
        }
    }
}

/// The states of one recorded message.
pub(crate) enum Take {
    /// The greeting and beep are playing; audio is not kept yet.
    Greeting { to: Vec<String> },
    /// Recording.
    Recording { to: Vec<String>, recorder: Recorder },
    /// Stopped: waiting for the audio the adapter still held ([`Action::FlushAudio`]).
    Flushing {
        to: Vec<String>,
        recorder: Recorder,
        stop: Stop,
    },
}

/// What a take did with an event.
pub(crate) enum Step {
    /// Still going.
    Go(Take),
    /// The message was handed over ([`Action::Post`]); the owner moves on.
    Posted,
}

impl Take {
    /// Plays the greeting (with the spoken prompt when `prompt`) and the beep.
    pub fn start(cx: &mut Cx, to: Vec<String>, prompt: bool) -> Take {
        cx.act(Action::Play(Sound::RecordTone { prompt }));
        Take::Greeting { to }
    }

    /// Plays "please leave a message after the tone" and the beep (a call that met busy, no
    /// answer or do-not-disturb).
    pub fn leave_message(cx: &mut Cx, to: Vec<String>) -> Take {
        cx.act(Action::Play(Sound::LeaveMessage));
        Take::Greeting { to }
    }

    /// The greeting ended: record.
    pub fn playback_done(self, cx: &mut Cx) -> Take {
        match self {
            Take::Greeting { to } => {
                tracing::info!("recording");
                Take::Recording {
                    to,
                    recorder: Recorder::new(cx.cfg.max_recording),
                }
            }
            other => other,
        }
    }

    /// Received audio: kept while recording (stopping at the silence timeout or the length
    /// limit) and while flushing.
    pub fn audio(self, cx: &mut Cx, pcm: &[i16]) -> Take {
        match self {
            Take::Recording { to, mut recorder } => {
                recorder.push(pcm);
                let stop = if recorder.is_full() {
                    Some(Stop::Full)
                } else if recorder.silence_for(cx.cfg.silence_timeout) {
                    Some(Stop::Silence)
                } else {
                    None
                };
                match stop {
                    Some(stop) => Take::stop(cx, to, recorder, stop),
                    None => Take::Recording { to, recorder },
                }
            }
            Take::Flushing {
                to,
                mut recorder,
                stop,
            } => {
                recorder.push(pcm);
                Take::Flushing { to, recorder, stop }
            }
            greeting => greeting,
        }
    }

    /// `#` stops a recording; other keys change nothing.
    pub fn digit(self, cx: &mut Cx, d: Digit) -> Take {
        match self {
            Take::Recording { to, recorder } if d == Digit::Pound => {
                Take::stop(cx, to, recorder, Stop::Pound)
            }
            other => other,
        }
    }

    /// The phone hung up: a recording in progress is stopped and will be posted; `None` when
    /// there is nothing to post (still in the greeting).
    pub fn hang_up(self, cx: &mut Cx) -> Option<Take> {
        match self {
            Take::Greeting { .. } => None,
            Take::Recording { to, recorder } => Some(Take::stop(cx, to, recorder, Stop::HungUp)),
            flushing @ Take::Flushing { .. } => Some(flushing),
        }
    }

    /// The adapter's held audio is in: trim the tail and post.
    pub fn flushed(self, cx: &mut Cx) -> Step {
        let Take::Flushing {
            to,
            mut recorder,
            stop,
        } = self
        else {
            return Step::Go(self);
        };
        recorder.drop_tail(stop.tail(recorder.silence()));
        tracing::info!(
            ?stop,
            seconds = recorder.duration().as_secs_f32(),
            "recording stopped"
        );
        cx.act(Action::Post {
            sender: cx.party.user,
            to,
            recorder,
        });
        Step::Posted
    }

    fn stop(cx: &mut Cx, to: Vec<String>, recorder: Recorder, stop: Stop) -> Take {
        cx.act(Action::FlushAudio);
        Take::Flushing { to, recorder, stop }
    }
}
