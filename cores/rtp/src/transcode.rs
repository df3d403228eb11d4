//! Playback transcoding: a stored Ogg Opus message to 8 kHz PCM for the phone line.
//!
//! `ivm-media` decodes Ogg Opus to 48 kHz; it only resamples *to* 48 kHz, so the way down is
//! here: a linear-phase FIR low-pass (241 taps, Kaiser window, β = 8, about 80 dB stop-band
//! rejection from 4.2 kHz, flat to about 3.2 kHz) evaluated only at every sixth sample. The
//! 300-3400 Hz telephone band passes untouched and nothing above 4.2 kHz folds back into it.
//! The filter is centred (no added delay), so the output lines up with the input.
//!
//! Decoding a minute of audio takes tens of milliseconds: callers run it off the async
//! threads, like the rest of the media pipeline.

use std::sync::OnceLock;

use ivm_media::MediaError;

/// Why a stored message could not be made ready for the phone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscodeError {
    /// The media pipeline refused the file.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The decoder produced a rate we cannot bring down (should not happen: it always gives
    /// 48 kHz).
    #[error("decoded audio at {0} Hz, expected 48000")]
    Rate(u32),
}

/// Filter length (odd, so the centre tap sits on an output sample).
const TAPS: usize = 241;
/// Decimation factor: 48 kHz to 8 kHz.
const FACTOR: usize = 6;
/// Cut-off (-6 dB point) in Hz.
const CUTOFF: f64 = 3_700.0;
const BETA: f64 = 8.0;

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

fn taps() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let fc = CUTOFF / 48_000.0;
        let half = (TAPS / 2) as f64;
        let i0b = bessel_i0(BETA);
        let h: Vec<f64> = (0..TAPS)
            .map(|i| {
                let m = i as f64 - half;
                let sinc = if m == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f64::consts::PI * fc * m).sin() / (std::f64::consts::PI * m)
                };
                let r = m / half;
                sinc * bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / i0b
            })
            .collect();
        let sum: f64 = h.iter().sum();
        h.iter().map(|&c| (c / sum) as f32).collect()
    })
}

/// Low-pass and decimate 48 kHz samples (-1.0..1.0) to 8 kHz 16-bit PCM. The output has
/// `ceil(len / 6)` samples; output sample `n` lines up with input sample `6 n`.
pub fn decimate_48k_to_8k(input: &[f32]) -> Vec<i16> {
    let h = taps();
    let half = TAPS / 2;
    let n_out = input.len().div_ceil(FACTOR);
    (0..n_out)
        .map(|n| {
            let centre = n * FACTOR;
            let lo = centre.saturating_sub(half);
            let hi = (centre + half + 1).min(input.len());
            let mut acc = 0f32;
            for (j, &x) in input[lo..hi].iter().enumerate() {
                acc += h[lo + j + half - centre] * x;
            }
            (acc * 32767.0).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Decode a stored Ogg Opus message to 8 kHz 16-bit PCM, ready for [`crate::Session::play`].
pub fn ogg_to_pcm8k(ogg: &[u8]) -> Result<Vec<i16>, TranscodeError> {
    let wav = ivm_media::ogg_opus_to_wav(ogg)?;
    let pcm = ivm_media::wav_to_pcm(&wav)?;
    if pcm.rate != 48_000 {
        return Err(TranscodeError::Rate(pcm.rate));
    }
    Ok(decimate_48k_to_8k(&pcm.samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::level_db;

    fn sine48(freq: f32, seconds: f32, amp: f32) -> Vec<f32> {
        (0..(seconds * 48_000.0) as usize)
            .map(|n| amp * (2.0 * std::f32::consts::PI * freq * n as f32 / 48_000.0).sin())
            .collect()
    }

    #[test]
    fn passes_the_voice_band_and_rejects_what_would_alias() {
        for f in [300.0, 1000.0, 3000.0] {
            let out = decimate_48k_to_8k(&sine48(f, 0.5, 0.5));
            assert_eq!(out.len(), 4000);
            let l = level_db(&out[500..3500]);
            // A 0.5 sine is -9 dBFS on this scale (full-scale square = 0 dB).
            assert!((l + 9.03).abs() < 0.5, "{f} Hz at {l} dB");
        }
        for f in [4_300.0, 6_000.0, 11_000.0] {
            let out = decimate_48k_to_8k(&sine48(f, 0.5, 0.5));
            let l = level_db(&out[500..3500]);
            assert!(l < -75.0, "{f} Hz leaks at {l} dB");
        }
    }

    #[test]
    fn stored_message_decodes_to_8k() {
        let src = crate::vad::signals::speechlike(2.0, 0.5, 0.0, 11);
        let f: Vec<f32> = src.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let up = ivm_media::resample_to_48k(&f, 8000).expect("resample");
        let ogg = ivm_media::encode_pcm_mono(&ivm_media::to_i16(&up), 8000).expect("encode");
        let pcm = ogg_to_pcm8k(&ogg).expect("transcode");
        assert!(
            (pcm.len() as i64 - 16_000).abs() < 100,
            "{} samples",
            pcm.len()
        );
        assert!(level_db(&pcm) > level_db(&src) - 3.0);
        assert!(matches!(
            ogg_to_pcm8k(b"OggS garbage"),
            Err(TranscodeError::Media(_))
        ));
    }
}
