//! Every keypad path on a virtual clock, through the [`Exchange`] as an adapter drives it.
//!
//! The harness [`T`] plays the adapter: it feeds inputs with `now`, advances the clock, and
//! answers [`Action::FlushAudio`] at once as the contract says (with the frames it was told
//! the media layer holds). Each step returns the actions it set off as compact strings
//! (`"1: Play(Prompts[message-sent, goodbye])"`), so a test reads like the call.

mod activity;
mod calls;
mod forward;
mod intercom;
mod mailbox;
mod record;
mod ring_me;
mod transfer;

use std::time::{Duration, Instant};

use ivm_rtp::prompts::{self, Prompt};
use ivm_rtp::tone;
use ivm_wire::Guid;

use crate::{Action, Config, Exchange, Input, LineId, Party};

/// Samples in 20 ms at 8 kHz.
const FRAME: usize = 160;

/// The user with extension `ext`, with a GUID made from it.
fn party(ext: &str) -> Party {
    Party {
        user: Guid::from_u128(ext.parse::<u128>().unwrap_or(0) + 1),
        ext: ext.into(),
    }
}

/// Speech as far as the detector is concerned: a 425 Hz tone, 0.5 s on and 0.5 s off
/// (syllables with pauses; the pauses are shorter than any silence timeout).
fn speech(seconds: f64) -> Vec<i16> {
    tone::BUSY_EU.render(Duration::from_secs_f64(seconds))
}

/// Digital silence.
fn silence(seconds: f64) -> Vec<i16> {
    tone::silence(Duration::from_secs_f64(seconds))
}

/// Prompt names, as the harness prints them.
fn said(p: &[Prompt]) -> String {
    let names: Vec<&str> = p.iter().map(|p| p.name()).collect();
    format!("Play(Prompts[{}])", names.join(", "))
}

/// The adapter, in memory.
struct T {
    x: Exchange,
    now: Instant,
    /// Frames the "media layer" holds when a recording stops (fed on `FlushAudio`).
    held: Vec<i16>,
    /// Every action so far, in order, unprocessed (for tests that need the values).
    log: Vec<(LineId, Action)>,
}

impl T {
    fn new() -> T {
        T::with(Config::default())
    }

    fn with(cfg: Config) -> T {
        T {
            x: Exchange::new(cfg),
            now: Instant::now(),
            held: Vec::new(),
            log: Vec::new(),
        }
    }

    /// A line for `ext`'s phone.
    fn open(&mut self, ext: &str) -> LineId {
        self.x.open(party(ext), "test")
    }

    /// A phone with extension `ext` dials `dial`: its line, and what that set off.
    fn dial(&mut self, ext: &str, dial: &str) -> (LineId, Vec<String>) {
        let line = self.open(ext);
        let steps = self.feed(line, Input::Dialled(dial.into()));
        (line, steps)
    }

    /// Feeds one input; returns what it set off.
    fn feed(&mut self, line: LineId, input: Input) -> Vec<String> {
        self.x.handle(self.now, line, input);
        self.drain()
    }

    /// Moves the clock on and runs the deadlines that passed.
    fn advance(&mut self, d: Duration) -> Vec<String> {
        self.now += d;
        if self.x.poll_timeout().is_some_and(|t| t <= self.now) {
            self.x.handle_timeout(self.now);
        }
        self.drain()
    }

    /// Feeds `pcm` as 20 ms frames in real time (the clock moves with them); returns what
    /// they set off.
    fn audio(&mut self, line: LineId, pcm: &[i16]) -> Vec<String> {
        let mut steps = Vec::new();
        for frame in pcm.chunks(FRAME) {
            self.now += Duration::from_millis(20);
            steps.extend(self.feed(line, Input::Audio(frame.to_vec())));
        }
        steps
    }

    /// Collects actions, answering `FlushAudio` as an adapter must.
    fn drain(&mut self) -> Vec<String> {
        let mut steps = Vec::new();
        while let Some((line, action)) = self.x.poll_action() {
            steps.push(format!("{line}: {action:?}"));
            let flush = matches!(action, Action::FlushAudio);
            self.log.push((line, action));
            if flush {
                for frame in std::mem::take(&mut self.held).chunks(FRAME) {
                    self.x.handle(self.now, line, Input::Audio(frame.to_vec()));
                }
                self.x.handle(self.now, line, Input::AudioFlushed);
            }
        }
        steps
    }

    /// The last recording posted.
    fn posted(&self) -> Option<&ivm_rtp::Recorder> {
        self.log.iter().rev().find_map(|(_, a)| match a {
            Action::Post { recorder, .. } => Some(recorder),
            _ => None,
        })
    }
}

/// `*7202` from 201, recipients known, greeting played: the line records.
fn recording_star7(t: &mut T) -> LineId {
    let (line, _) = t.dial("201", "*7202");
    t.feed(line, Input::RecipientsChecked(Ok(crate::Recipients::Known)));
    t.feed(line, Input::PlaybackDone);
    line
}

#[test]
fn sounds_render_the_prompts_tones_and_messages() {
    use crate::Sound;
    let sent = Sound::Prompts(vec![Prompt::MESSAGE_SENT, Prompt::GOODBYE]);
    assert_eq!(
        sent.render(),
        prompts::render(&[Prompt::MESSAGE_SENT, Prompt::GOODBYE])
    );
    let beep = Sound::RecordTone { prompt: false }.render();
    assert_eq!(
        beep.len(),
        1600 + tone::beep().len(),
        "200 ms pause, then the beep"
    );
    let greeting = Sound::RecordTone { prompt: true }.render();
    assert!(
        greeting.len() > beep.len() + 8000,
        "the spoken prompt comes first"
    );
    assert!(greeting.ends_with(&beep));
    let msg = Sound::Message(vec![7; 80]).render();
    assert_eq!(msg.len(), 2400 + 80, "300 ms pause before the message");
    assert_eq!(format!("{sent:?}"), "Prompts[message-sent, goodbye]");
}
