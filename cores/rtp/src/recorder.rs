//! Recording a voice message from a phone: received 8 kHz PCM accumulates here, a [`Vad`]
//! watches it for the silence timeout, and [`Recorder::finish`] turns it into the Ogg Opus
//! file the rest of the box stores, or into nothing when no one spoke.
//!
//! The pipeline is the media crate's, the same as for browser uploads:
//! `resample_to_48k(.., 8000) -> condition_speech -> to_i16 -> encode_pcm_mono(.., 8000)`.
//! The issue's rule for a phone that vanishes mid-recording ("kept and delivered if it holds
//! speech, dropped if empty") is [`Recorder::finish`]'s `None`: returned when the detector
//! heard less than [`MIN_SPEECH`] of speech or the media crate finds no sound at all.

use std::time::Duration;

use ivm_media::MediaError;

use crate::vad::{Activity, Vad};

/// Less speech than this and the recording is treated as empty (a cough, a key click, the
/// noise of hanging up).
pub const MIN_SPEECH: Duration = Duration::from_millis(300);
/// Samples per second.
const RATE: usize = 8000;

/// Why a recording could not be encoded (an empty one is not an error: see
/// [`Recorder::finish`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The media pipeline failed.
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// A finished recording, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Ogg Opus, mono, 48 kHz granules, `input_rate` 8000.
    pub ogg: Vec<u8>,
    /// Playable length of `ogg` (silence at the ends trimmed), in milliseconds.
    pub duration_ms: u32,
    /// Waveform summary, as for uploads ([`ivm_media::peaks`]).
    pub peaks: Vec<u8>,
}

/// Accumulates one message. Plain data (`Send`), so `finish` can run on a blocking thread.
#[derive(Debug, Clone)]
pub struct Recorder {
    pcm: Vec<i16>,
    vad: Vad,
    max_samples: usize,
}

impl Recorder {
    /// A recorder that keeps at most `max` of audio (more is counted by the detector but not
    /// kept; [`Recorder::is_full`] tells the caller to stop).
    pub fn new(max: Duration) -> Recorder {
        let max_samples = (max.as_millis() as usize).saturating_mul(RATE / 1000);
        Recorder {
            pcm: Vec::new(),
            vad: Vad::new(),
            max_samples,
        }
    }

    /// Add received PCM; returns the detector's verdict on the last whole 20 ms frame.
    pub fn push(&mut self, pcm: &[i16]) -> Option<Activity> {
        let room = self.max_samples.saturating_sub(self.pcm.len());
        self.pcm.extend_from_slice(&pcm[..pcm.len().min(room)]);
        self.vad.push(pcm)
    }

    /// True once the length limit is reached.
    pub fn is_full(&self) -> bool {
        self.pcm.len() >= self.max_samples
    }

    /// Audio kept so far.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcm.len() as u64 * 125)
    }

    /// How long since anyone spoke (from the start, if no one has): compare with the
    /// silence timeout.
    pub fn silence(&self) -> Duration {
        self.vad.silence()
    }

    /// True once there has been no speech for `limit`.
    pub fn silence_for(&self, limit: Duration) -> bool {
        self.vad.silence_for(limit)
    }

    /// True when the recording holds at least [`MIN_SPEECH`] of speech.
    pub fn holds_speech(&self) -> bool {
        self.vad.speech() >= MIN_SPEECH
    }

    /// Drop the last `d` of audio (the key click of the `#` that ended the recording).
    pub fn drop_tail(&mut self, d: Duration) {
        let n = (d.as_micros() / 125) as usize;
        self.pcm.truncate(self.pcm.len().saturating_sub(n));
    }

    /// The PCM kept so far.
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// Encode the message: `Ok(None)` when it holds no speech (drop it), otherwise the Ogg
    /// Opus file. Takes tens of milliseconds per minute of audio: run it off the async threads.
    pub fn finish(self) -> Result<Option<Recording>, RecordError> {
        if !self.holds_speech() {
            return Ok(None);
        }
        let f: Vec<f32> = self.pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let up = ivm_media::resample_to_48k(&f, 8000)?;
        let conditioned = match ivm_media::condition_speech(&up) {
            Ok(c) => c,
            Err(MediaError::NoSound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let pcm = ivm_media::to_i16(&conditioned);
        let ogg = ivm_media::encode_pcm_mono(&pcm, 8000)?;
        let info = ivm_media::ogg_opus_info(&ogg)?;
        Ok(Some(Recording {
            ogg,
            duration_ms: info.duration_ms,
            peaks: ivm_media::peaks(&pcm),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::signals::{noise, speechlike};

    #[test]
    fn speech_becomes_ogg_of_the_right_length() {
        let mut r = Recorder::new(Duration::from_secs(60));
        r.push(&noise(0.5, 0.005, 1));
        for chunk in speechlike(3.0, 0.5, 0.005, 2).chunks(160) {
            r.push(chunk);
        }
        r.push(&noise(2.0, 0.005, 3));
        assert!(r.holds_speech());
        assert!(r.silence_for(Duration::from_millis(1900)));
        assert_eq!(r.duration(), Duration::from_millis(5500));
        let rec = r.finish().expect("encode").expect("speech");
        let info = ivm_media::ogg_opus_info(&rec.ogg).expect("valid Ogg Opus");
        assert_eq!(info.input_rate, 8000);
        // The 3 s of speech plus trimming pads; the leading and trailing noise is cut.
        assert!(
            (2900..=3500).contains(&info.duration_ms),
            "{} ms",
            info.duration_ms
        );
        assert_eq!(rec.duration_ms, info.duration_ms);
        assert_eq!(rec.peaks.len(), ivm_media::PEAKS);
    }

    #[test]
    fn empty_or_noise_only_is_dropped() {
        let r = Recorder::new(Duration::from_secs(60));
        assert_eq!(r.finish(), Ok(None));
        let mut r = Recorder::new(Duration::from_secs(60));
        r.push(&vec![0; 16_000]);
        assert_eq!(r.finish(), Ok(None));
        let mut r = Recorder::new(Duration::from_secs(60));
        r.push(&noise(4.0, 0.02, 4));
        assert!(!r.holds_speech());
        assert_eq!(r.finish(), Ok(None));
    }

    #[test]
    fn length_is_capped_and_tail_can_be_dropped() {
        let mut r = Recorder::new(Duration::from_secs(1));
        r.push(&speechlike(1.5, 0.5, 0.0, 5));
        assert!(r.is_full());
        assert_eq!(r.pcm().len(), 8000);
        r.drop_tail(Duration::from_millis(200));
        assert_eq!(r.duration(), Duration::from_millis(800));
    }
}
