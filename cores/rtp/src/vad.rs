//! Speech/silence detection on 8 kHz PCM, for the recording silence timeout and for telling a
//! recording that holds speech from one that holds only line noise.
//!
//! Energy based, per 20 ms frame, against an adaptive noise floor:
//! - the floor is the quietest frame of the last second (a minimum tracker): speech always
//!   has pauses between syllables, so the minimum follows the background, not the talker;
//!   for the first 200 ms the floor is also capped by a quiet prior (-60 dBFS) so speech at
//!   the very start is not mistaken for the background (steady noise at the start is then
//!   taken for speech for those 200 ms, less than a recording's minimum speech);
//! - a frame is speech when it is 12 dB above the floor and above an absolute -50 dBFS;
//! - a hangover of 300 ms keeps short pauses inside speech from counting as silence.
//!
//! This is deliberately simple: the silence timeout is seconds long, so a misjudged frame
//! here and there changes nothing a caller notices.

use std::collections::VecDeque;
use std::time::Duration;

/// Samples per analysis frame: 20 ms at 8 kHz.
pub const FRAME: usize = 160;
/// Frame length.
pub const FRAME_TIME: Duration = Duration::from_millis(20);

/// Frames in the minimum tracker's window (1 s).
const FLOOR_WINDOW: usize = 50;
/// Level a frame must exceed the floor by to be speech.
const MARGIN_DB: f32 = 12.0;
/// Below this a frame is never speech.
const ABSOLUTE_DB: f32 = -50.0;
/// The floor's prior for the first frames.
const PRIOR_DB: f32 = -60.0;
/// Frames the prior applies to (200 ms): long enough to catch speech that starts at once,
/// short enough that steady noise at the start counts as less than a recording's minimum
/// speech.
const PRIOR_FRAMES: u64 = 10;
/// Frames of hangover after the last speech frame.
const HANGOVER: u32 = 15;
/// Level of digital silence.
const FLOOR_DB: f32 = -100.0;

/// The verdict on one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Someone is (or was within the hangover) speaking.
    Speech,
    /// Background only.
    Silence,
}

/// The detector. Feed it frames in order; ask how long it has been quiet.
#[derive(Debug, Clone)]
pub struct Vad {
    recent: VecDeque<f32>,
    frames: u64,
    hang: u32,
    /// Frames since the last speech frame (hangover excluded), or since the start.
    quiet_frames: u64,
    /// Frames judged speech on their own level (hangover excluded).
    speech_frames: u64,
    partial: Vec<i16>,
}

impl Default for Vad {
    fn default() -> Self {
        Vad::new()
    }
}

/// Mean power of a frame in dBFS (a full-scale square wave is 0 dB).
pub fn level_db(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return FLOOR_DB;
    }
    let p: f64 = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / (frame.len() as f64 * 32768.0 * 32768.0);
    if p <= 0.0 {
        FLOOR_DB
    } else {
        ((10.0 * p.log10()) as f32).max(FLOOR_DB)
    }
}

impl Vad {
    /// A detector that has heard nothing (it counts as silence from the start).
    pub fn new() -> Vad {
        Vad {
            recent: VecDeque::with_capacity(FLOOR_WINDOW),
            frames: 0,
            hang: 0,
            quiet_frames: 0,
            speech_frames: 0,
            partial: Vec::new(),
        }
    }

    /// Judge one frame (normally [`FRAME`] samples; any length is taken as one frame).
    pub fn frame(&mut self, pcm: &[i16]) -> Activity {
        let level = level_db(pcm);
        let mut floor = self.recent.iter().copied().fold(level, f32::min);
        if self.frames < PRIOR_FRAMES {
            floor = floor.min(PRIOR_DB);
        }
        if self.recent.len() == FLOOR_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(level);
        self.frames += 1;
        let loud = level > ABSOLUTE_DB && level > floor + MARGIN_DB;
        if loud {
            self.hang = HANGOVER;
            self.quiet_frames = 0;
            self.speech_frames += 1;
            return Activity::Speech;
        }
        self.quiet_frames += 1;
        if self.hang > 0 {
            self.hang -= 1;
            Activity::Speech
        } else {
            Activity::Silence
        }
    }

    /// Feed PCM of any length: it is cut into [`FRAME`]-sample frames (a remainder waits for
    /// the next call). Returns the verdict on the last whole frame, if any.
    pub fn push(&mut self, pcm: &[i16]) -> Option<Activity> {
        let mut last = None;
        let mut input = pcm;
        if !self.partial.is_empty() {
            let take = (FRAME - self.partial.len()).min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.partial.len() == FRAME {
                let f = std::mem::take(&mut self.partial);
                last = Some(self.frame(&f));
            }
        }
        let mut chunks = input.chunks_exact(FRAME);
        for f in chunks.by_ref() {
            last = Some(self.frame(f));
        }
        self.partial.extend_from_slice(chunks.remainder());
        last
    }

    /// How long since the last speech frame (or since the start when there was none).
    pub fn silence(&self) -> Duration {
        FRAME_TIME * u32::try_from(self.quiet_frames).unwrap_or(u32::MAX)
    }

    /// True once there has been no speech for at least `limit`: the recording silence timeout.
    pub fn silence_for(&self, limit: Duration) -> bool {
        self.silence() >= limit
    }

    /// Total time judged speech on its own level (without hangover).
    pub fn speech(&self) -> Duration {
        FRAME_TIME * u32::try_from(self.speech_frames).unwrap_or(u32::MAX)
    }

    /// Total time fed.
    pub fn elapsed(&self) -> Duration {
        FRAME_TIME * u32::try_from(self.frames).unwrap_or(u32::MAX)
    }
}

/// Test signals shared with the other modules' tests.
#[cfg(test)]
pub(crate) mod signals {
    /// A deterministic noise generator (xorshift), roughly uniform in -1..1.
    pub struct Noise(pub u32);

    impl Noise {
        pub fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    /// Speech-like sound at 8 kHz: a voiced source (harmonics of a gliding 110-160 Hz pitch)
    /// shaped by two formants, with syllables every 250 ms that dip 30 dB between them, over
    /// optional background noise of amplitude `noise`.
    pub fn speechlike(seconds: f32, level: f32, noise: f32, seed: u32) -> Vec<i16> {
        let n = (seconds * 8000.0) as usize;
        let mut rng = Noise(seed | 1);
        let mut phase = 0f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let f0 = 135.0 + 25.0 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
                phase += 2.0 * std::f32::consts::PI * f0 / 8000.0;
                let mut v = 0.0;
                for k in 1..=20 {
                    let f = f0 * k as f32;
                    if f > 3600.0 {
                        break;
                    }
                    let formant = (-((f - 700.0) / 300.0).powi(2)).exp()
                        + 0.5 * (-((f - 1800.0) / 400.0).powi(2)).exp()
                        + 0.05;
                    v += formant * (phase * k as f32).sin();
                }
                let syl = (t * 4.0).fract();
                let env = if syl < 0.7 {
                    (std::f32::consts::PI * syl / 0.7).sin()
                } else {
                    0.03
                };
                let s = level * v * env * 0.35 + noise * rng.next();
                (s * 32767.0).clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// Background noise only.
    pub fn noise(seconds: f32, amplitude: f32, seed: u32) -> Vec<i16> {
        let mut rng = Noise(seed | 1);
        (0..(seconds * 8000.0) as usize)
            .map(|_| (amplitude * rng.next() * 32767.0) as i16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::signals::{noise, speechlike};
    use super::*;

    fn verdicts(pcm: &[i16]) -> (Vad, Vec<Activity>) {
        let mut v = Vad::new();
        let a = pcm.chunks_exact(FRAME).map(|f| v.frame(f)).collect();
        (v, a)
    }

    #[test]
    fn digital_silence_is_silence() {
        let (v, a) = verdicts(&vec![0i16; 8000]);
        assert!(a.iter().all(|&x| x == Activity::Silence));
        assert_eq!(v.silence(), Duration::from_secs(1));
        assert!(v.silence_for(Duration::from_millis(999)));
        assert_eq!(v.speech(), Duration::ZERO);
    }

    #[test]
    fn steady_noise_is_silence_after_settling() {
        // Office noise at about -40 dBFS: loud enough to pass the absolute threshold.
        let (v, a) = verdicts(&noise(5.0, 0.02, 3));
        let tail = &a[60..];
        assert!(
            tail.iter().all(|&x| x == Activity::Silence),
            "noise judged speech"
        );
        // The prior takes the first 200 ms for speech, and no more.
        assert!(v.speech() <= Duration::from_millis(200), "{:?}", v.speech());
        assert!(v.speech() < crate::recorder::MIN_SPEECH);
        assert!(v.silence_for(Duration::from_secs(4)));
    }

    #[test]
    fn speech_over_noise_then_silence() {
        let mut pcm = noise(1.0, 0.01, 5);
        pcm.extend(speechlike(3.0, 0.5, 0.01, 7));
        pcm.extend(noise(4.0, 0.01, 9));
        let (v, a) = verdicts(&pcm);
        let speech = &a[50..200];
        let share = speech.iter().filter(|&&x| x == Activity::Speech).count() as f32 / 150.0;
        assert!(share > 0.9, "only {share} of the speech judged speech");
        assert!(a[30..45].iter().all(|&x| x == Activity::Silence));
        assert!(a[220..].iter().all(|&x| x == Activity::Silence));
        // Silence since the last syllable: the 4 s of noise plus the last syllable's tail.
        let s = v.silence();
        assert!(
            s >= Duration::from_millis(3900) && s <= Duration::from_millis(4200),
            "{s:?}"
        );
        assert!(v.speech() > Duration::from_millis(1500));
    }

    #[test]
    fn speech_at_the_very_start_is_found() {
        let (v, a) = verdicts(&speechlike(2.0, 0.3, 0.0, 1));
        assert_eq!(a[1], Activity::Speech);
        assert!(v.speech() > Duration::from_millis(1000));
    }

    #[test]
    fn push_cuts_frames_across_calls() {
        let pcm = speechlike(1.0, 0.3, 0.0, 1);
        let (whole, _) = verdicts(&pcm);
        let mut v = Vad::new();
        for chunk in pcm.chunks(97) {
            v.push(chunk);
        }
        assert_eq!(v.speech(), whole.speech());
        assert_eq!(v.elapsed(), Duration::from_secs(1));
    }
}
