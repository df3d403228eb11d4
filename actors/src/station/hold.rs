//! Music on hold. When a phone puts its call on hold (an offer `sendonly` or `inactive`,
//! or the old `c=0.0.0.0`: the box stops sending to it, `dialogs.rs`), the other party of
//! the call hears music instead of silence, until the phone resumes, the call is bridged
//! elsewhere (a transfer) or ends. While it plays, the holding phone's own audio (a held
//! phone may keep sending) is not passed on, so the two do not queue up behind each other.
//!
//! The music is 8 kHz PCM, looped: the box ships a short tone melody
//! (`assets/moh/music-on-hold.wav`, made by `assets/moh/make-music.sh` with sox), and an
//! admin replaces it with `[sip] music_on_hold`, a WAV file read when the box starts.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::StationActor;
use crate::media::LegId;

/// The music the box ships.
const EMBEDDED: &[u8] = include_bytes!("../../../assets/moh/music-on-hold.wav");

/// Longest music accepted: 10 minutes (about 10 MB of PCM, kept in memory).
const MAX_SAMPLES: usize = 8000 * 600;

/// Samples kept queued toward the listening phone (200 ms), topped up every tick.
const AHEAD: usize = 1600;

/// Why a music-on-hold file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MusicError {
    /// Not a WAV file the box reads.
    #[error("not a usable WAV file: {0}")]
    Wav(#[from] ivm_media::MediaError),
    /// No samples.
    #[error("the file holds no audio")]
    Empty,
    /// Longer than 10 minutes.
    #[error("longer than 10 minutes")]
    TooLong,
}

/// Music on hold as 8 kHz PCM, shared by every call.
#[derive(Clone)]
pub struct MusicOnHold(Arc<[i16]>);

impl MusicOnHold {
    /// The melody the box ships (decoded once).
    pub fn embedded() -> MusicOnHold {
        static DECODED: OnceLock<MusicOnHold> = OnceLock::new();
        DECODED
            .get_or_init(|| {
                // A test below keeps the shipped file decodable.
                MusicOnHold::from_wav(EMBEDDED).unwrap_or(MusicOnHold(Arc::from(vec![0; 160])))
            })
            .clone()
    }

    /// An admin's WAV file (any rate, mono or stereo), converted to 8 kHz.
    pub fn from_wav(bytes: &[u8]) -> Result<MusicOnHold, MusicError> {
        let pcm = ivm_media::wav_to_pcm(bytes)?;
        if pcm.samples.len() as u64 * 8000 / u64::from(pcm.rate.max(1)) > MAX_SAMPLES as u64 {
            return Err(MusicError::TooLong);
        }
        let samples: Vec<i16> = if pcm.rate == 8000 {
            pcm.samples
                .iter()
                .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                .collect()
        } else {
            let up = ivm_media::resample_to_48k(&pcm.samples, pcm.rate)?;
            ivm_rtp::transcode::decimate_48k_to_8k(&up)
        };
        if samples.is_empty() {
            return Err(MusicError::Empty);
        }
        Ok(MusicOnHold(Arc::from(samples)))
    }

    /// Its length in samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for no samples (never, once made).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for MusicOnHold {
    fn default() -> Self {
        MusicOnHold::embedded()
    }
}

impl fmt::Debug for MusicOnHold {
    /// The length, never the samples.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MusicOnHold({:.1} s)", self.0.len() as f64 / 8000.0)
    }
}

/// Who hears music, by the listening leg.
#[derive(Default)]
pub(super) struct Held {
    playing: HashMap<LegId, Playing>,
}

struct Playing {
    /// The leg whose phone holds.
    holder: LegId,
    /// Where in the music the next samples come from.
    at: usize,
}

impl Held {
    /// Whether `leg` hears music (so bridged audio is not played to it).
    pub fn hears_music(&self, leg: LegId) -> bool {
        self.playing.contains_key(&leg)
    }
}

impl StationActor {
    /// Leg `holder`'s phone put the call on hold (`held`) or resumed it: music to the
    /// other party of its call, or no more.
    pub(super) fn hold_changed(&mut self, now: Instant, holder: LegId, held: bool) {
        let listener = self.legs.get(holder).and_then(|l| l.bridge);
        if !held {
            self.music_stop(now, |_, p| p.holder == holder);
            return;
        }
        let Some(listener) = listener else {
            return;
        };
        if self.held.playing.contains_key(&listener) {
            return;
        }
        if let Some(l) = self.legs.get(listener) {
            l.span.in_scope(|| tracing::info!("music on hold"));
        }
        // Whatever bridged audio was queued goes; the music starts at once.
        self.stop_playback(now, listener);
        self.held
            .playing
            .insert(listener, Playing { holder, at: 0 });
    }

    /// Leg `leg` was bridged anew or is gone: music to it, or held by it, stops.
    pub(super) fn music_ends_for(&mut self, now: Instant, leg: LegId) {
        self.music_stop(now, |listener, p| listener == leg || p.holder == leg);
    }

    fn music_stop(&mut self, now: Instant, which: impl Fn(LegId, &Playing) -> bool) {
        let stop: Vec<LegId> = self
            .held
            .playing
            .iter()
            .filter(|(l, p)| which(**l, p))
            .map(|(l, _)| *l)
            .collect();
        for listener in stop {
            self.held.playing.remove(&listener);
            self.stop_playback(now, listener);
            if let Some(l) = self.legs.get(listener) {
                l.span.in_scope(|| tracing::info!("music on hold stopped"));
            }
        }
    }

    /// Keeps every listener's queue topped up with the looped music (each tick, before
    /// the media is sent).
    pub(super) fn music_tick(&mut self, now: Instant) {
        let music = self.cfg.music_on_hold.0.clone();
        let Held { playing } = &mut self.held;
        for (listener, p) in playing.iter_mut() {
            let Some(s) = self
                .legs
                .get_mut(*listener)
                .and_then(|l| l.media.as_mut())
                .and_then(|m| m.session.as_mut())
            else {
                continue;
            };
            while s.queued() < AHEAD {
                let end = (p.at + AHEAD).min(music.len());
                s.play(now, &music[p.at..end]);
                p.at = if end >= music.len() { 0 } else { end };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_music_decodes_and_other_rates_convert() {
        let m = MusicOnHold::from_wav(EMBEDDED).expect("the shipped music");
        assert_eq!(m.len(), 96_000, "12 s at 8 kHz");
        assert!(m.0.iter().any(|&v| v.abs() > 5000), "audible");
        assert_eq!(format!("{m:?}"), "MusicOnHold(12.0 s)");
        // One second of a 16 kHz file becomes one second at 8 kHz.
        let wav = ivm_media::encode_wav_mono(&[1000i16; 16_000], 16_000).expect("wav");
        assert!((7_990..=8_010).contains(&MusicOnHold::from_wav(&wav).expect("16 kHz").len()));
        assert!(matches!(
            MusicOnHold::from_wav(b"not a wav"),
            Err(MusicError::Wav(_))
        ));
    }
}
