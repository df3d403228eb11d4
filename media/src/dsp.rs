//! Speech conditioning on mono floats: silence trimming, gain normalisation with a peak
//! limiter, and the waveform summary ("peaks").
//!
//! Levels are measured as RMS over 10 ms windows ([`WINDOW`] samples at 48 kHz), in dBFS where
//! a full-scale sine is about -3 dBFS. The chain runs at 8, 12, 16, 24 or 48 kHz (the
//! rates Opus takes natively): a 16 kHz upload is conditioned and encoded at 16 kHz, since
//! resampling it to 48 kHz first would only triple the samples every later step works on
//! (issue 18). Every length below is given at 48 kHz and scaled by [`Timing`].

use crate::MediaError;

/// Number of peak values in a waveform summary.
pub const PEAKS: usize = 100;

/// Analysis window: 10 ms at 48 kHz.
const WINDOW: usize = 480;
/// Padding kept around the sound when trimming: 120 ms.
const PAD: usize = 5_760;
/// Below this loudest-window level the input is treated as silence only.
const SILENCE_DB: f32 = -60.0;
/// Trimming threshold: this far below the loudest window, but within the two bounds below.
const TRIM_BELOW_LOUDEST_DB: f32 = 30.0;
const TRIM_MAX_DB: f32 = -45.0;
const TRIM_MIN_DB: f32 = -60.0;
/// Loudness target for the active (above-threshold) part of the speech.
const TARGET_RMS_DB: f32 = -20.0;
/// Peak ceiling enforced by the limiter: -1 dBFS.
const CEILING: f32 = 0.891;
/// At most this much gain in total.
const MAX_GAIN_DB: f32 = 30.0;
/// The limiter may take at most this much off the loudest peaks.
const MAX_LIMIT_DB: f32 = 6.0;
/// Amplification never lifts the noise floor above this level.
const NOISE_CEILING_DB: f32 = -45.0;
/// Floor for level figures (digital silence).
const FLOOR_DB: f32 = -120.0;
/// Limiter gain ramps: 5 ms attack (ahead of the peak), 80 ms release.
const ATTACK: usize = 240;
const RELEASE: usize = 3_840;

fn db(power: f64) -> f32 {
    if power <= 0.0 {
        FLOOR_DB
    } else {
        (10.0 * power.log10()).max(f64::from(FLOOR_DB)) as f32
    }
}

fn from_db(d: f32) -> f32 {
    10f32.powf(d / 20.0)
}

/// The chain's lengths in samples at one sample rate: the same times at every rate.
#[derive(Debug, Clone, Copy)]
struct Timing {
    window: usize,
    pad: usize,
    attack: usize,
    release: usize,
}

impl Timing {
    const AT_48K: Timing = Timing {
        window: WINDOW,
        pad: PAD,
        attack: ATTACK,
        release: RELEASE,
    };

    /// The lengths at `rate`, which must divide 48 kHz into a whole number (8, 12, 16, 24 or
    /// 48 kHz): anything else is [`MediaError::Unsupported`] (resample it to 48 kHz first).
    fn at(rate: u32) -> Result<Timing, MediaError> {
        if ![8_000, 12_000, 16_000, 24_000, 48_000].contains(&rate) {
            return Err(MediaError::Unsupported(format!(
                "conditioning at {rate} Hz; 8, 12, 16, 24 or 48 kHz"
            )));
        }
        let k = (48_000 / rate) as usize;
        Ok(Timing {
            window: WINDOW / k,
            pad: PAD / k,
            attack: ATTACK / k,
            release: RELEASE / k,
        })
    }
}

/// RMS level of each 10 ms window (the last, partial window included), in dBFS.
fn window_levels(x: &[f32], window: usize) -> Vec<f32> {
    x.chunks(window)
        .map(|w| db(w.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / w.len() as f64))
        .collect()
}

/// Level of the quietest 10% of windows: the background noise a recording sits on.
fn noise_floor_db(levels: &[f32]) -> f32 {
    if levels.is_empty() {
        return FLOOR_DB;
    }
    let mut sorted = levels.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted[sorted.len() / 10]
}

fn loudest(levels: &[f32]) -> f32 {
    levels.iter().copied().fold(FLOOR_DB, f32::max)
}

/// The threshold separating sound from silence for a signal whose loudest window is `top` dB.
fn threshold_db(top: f32) -> f32 {
    (top - TRIM_BELOW_LOUDEST_DB).clamp(TRIM_MIN_DB, TRIM_MAX_DB)
}

/// Range of `x` to keep after trimming leading and trailing silence (with [`PAD`] each side),
/// or `None` if nothing reaches the silence level.
fn trim_range(levels: &[f32], len: usize, t: Timing) -> Option<std::ops::Range<usize>> {
    let top = loudest(levels);
    if top < SILENCE_DB {
        return None;
    }
    let thr = threshold_db(top);
    let first = levels.iter().position(|&l| l >= thr)?;
    let last = levels.iter().rposition(|&l| l >= thr)?;
    let start = (first * t.window).saturating_sub(t.pad);
    let end = ((last + 1) * t.window).saturating_add(t.pad).min(len);
    Some(start..end)
}

/// Remove leading and trailing silence, keeping 120 ms of padding.
///
/// Returns [`MediaError::NoSound`] when no 10 ms window reaches -60 dBFS.
pub fn trim_silence(x: &[f32]) -> Result<&[f32], MediaError> {
    let t = Timing::AT_48K;
    let range = trim_range(&window_levels(x, t.window), x.len(), t).ok_or(MediaError::NoSound)?;
    Ok(&x[range])
}

/// Bring speech to the loudness target in place: active windows to about -20 dBFS RMS, peaks
/// limited to -1 dBFS.
///
/// `noise_floor_db` is the background level of the recording (see module doc); the gain is
/// capped so that floor ends no louder than -45 dBFS, so a recording that is all noise is never
/// turned into loud noise. Pass -120 when the background is unknown or digital silence.
pub fn normalise(x: &mut [f32], noise_floor_db: f32) {
    normalise_at(x, noise_floor_db, Timing::AT_48K);
}

/// [`normalise`] at the rate `t` was made for.
fn normalise_at(x: &mut [f32], noise_floor_db: f32, t: Timing) {
    let levels = window_levels(x, t.window);
    let top = loudest(&levels);
    if top <= FLOOR_DB {
        return;
    }
    let thr = threshold_db(top);
    let (mut power, mut count) = (0f64, 0usize);
    for (w, &l) in x.chunks(t.window).zip(&levels) {
        if l >= thr {
            power += w.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
            count += w.len();
        }
    }
    let speech_db = db(power / count.max(1) as f64);
    let peak = x.iter().fold(0f32, |a, &v| a.max(v.abs()));
    let peak_db = 20.0 * peak.max(1e-9).log10();
    let mut gain_db = TARGET_RMS_DB - speech_db;
    gain_db = gain_db.min(MAX_GAIN_DB);
    gain_db = gain_db.min(20.0 * CEILING.log10() - peak_db + MAX_LIMIT_DB);
    gain_db = gain_db.min((NOISE_CEILING_DB - noise_floor_db).max(0.0));
    let gain = from_db(gain_db);
    for v in x.iter_mut() {
        *v *= gain;
    }
    limit(x, t);
}

/// Peak limiter: a per-sample gain that is never above what keeps |x| <= [`CEILING`], ramping
/// down over [`ATTACK`] samples before a peak and back up over [`RELEASE`] samples after it
/// (at 48 kHz; the same times at `t`'s rate).
fn limit(x: &mut [f32], t: Timing) {
    if !x.iter().any(|v| v.abs() > CEILING) {
        return;
    }
    let mut g: Vec<f32> = x
        .iter()
        .map(|v| {
            if v.abs() > CEILING {
                CEILING / v.abs()
            } else {
                1.0
            }
        })
        .collect();
    let up = 1.0 / t.release as f32;
    for i in 1..g.len() {
        g[i] = g[i].min(g[i - 1] + up);
    }
    let down = 1.0 / t.attack as f32;
    for i in (0..g.len().saturating_sub(1)).rev() {
        g[i] = g[i].min(g[i + 1] + down);
    }
    for (v, gi) in x.iter_mut().zip(&g) {
        *v = (*v * gi).clamp(-CEILING, CEILING);
    }
}

/// The whole speech chain for 48 kHz mono audio: refuse silence, trim it, normalise the gain.
///
/// Used for WAV uploads and, later, phone recordings after resampling.
pub fn condition_speech(x: &[f32]) -> Result<Vec<f32>, MediaError> {
    condition_speech_at(x, 48_000)
}

/// [`condition_speech`] for mono audio at `rate` (8, 12, 16, 24 or 48 kHz): the same trim,
/// padding, loudness and limiter times as at 48 kHz. Another rate is
/// [`MediaError::Unsupported`].
pub fn condition_speech_at(x: &[f32], rate: u32) -> Result<Vec<f32>, MediaError> {
    let t = Timing::at(rate)?;
    let levels = window_levels(x, t.window);
    let floor = noise_floor_db(&levels);
    let range = trim_range(&levels, x.len(), t).ok_or(MediaError::NoSound)?;
    let mut out = x[range].to_vec();
    normalise_at(&mut out, floor, t);
    Ok(out)
}

/// True when no 10 ms window of `x` (48 kHz) reaches -60 dBFS.
pub(crate) fn is_silent(x: &[f32]) -> bool {
    loudest(&window_levels(x, WINDOW)) < SILENCE_DB
}

/// Convert floats to 16-bit PCM, rounding and saturating (NaN becomes 0).
pub fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter().map(|&v| (v * 32_767.0).round() as i16).collect()
}

/// Convert 16-bit PCM to floats in -1.0..1.0.
#[cfg(test)]
pub(crate) fn to_f32(x: &[i16]) -> Vec<f32> {
    x.iter().map(|&v| f32::from(v) / 32_768.0).collect()
}

/// Waveform summary: [`PEAKS`] values, each the largest |sample| of one equal slice of `x`,
/// drawn on a square-root scale: `round(255 * sqrt(peak / 32767))`, so full scale is 255 and
/// quiet passages stay visible (-20 dBFS draws as 81, -40 dBFS as 26). Slices of an input
/// shorter than [`PEAKS`] samples may be empty and read 0.
pub fn peaks(x: &[i16]) -> Vec<u8> {
    let n = x.len();
    (0..PEAKS)
        .map(|i| {
            let slice = &x[i * n / PEAKS..(i + 1) * n / PEAKS];
            let m = slice
                .iter()
                .map(|v| v.unsigned_abs())
                .max()
                .unwrap_or(0)
                .min(32_767);
            (255.0 * (f32::from(m) / 32_767.0).sqrt())
                .round()
                .min(255.0) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn trims_leading_and_trailing_silence_and_keeps_the_tone() {
        let mut x = vec![0.0; 48_000];
        x.extend(tone(48_000, 0.3));
        x.extend(vec![0.0; 96_000]);
        let y = trim_silence(&x).expect("sound");
        // Tone (1 s) plus up to 120 ms padding each side.
        assert!(
            y.len() >= 48_000 && y.len() <= 48_000 + 2 * PAD,
            "len {}",
            y.len()
        );
        let start = y.as_ptr() as usize - x.as_ptr() as usize;
        let start = start / std::mem::size_of::<f32>();
        assert!((48_000 - PAD..=48_000).contains(&start), "start {start}");
        assert!(start + y.len() >= 96_000, "tone end cut");
    }

    #[test]
    fn trim_keeps_quiet_speech_over_low_noise() {
        // Noise at about -70 dBFS, tone at about -43 dBFS RMS: the tone is kept.
        let mut seed = 1u32;
        let mut noise = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((seed >> 8) as f32 / 8_388_608.0 - 1.0) * 0.0005
                })
                .collect()
        };
        let mut x = noise(48_000);
        x.extend(
            tone(24_000, 0.01)
                .iter()
                .zip(noise(24_000))
                .map(|(a, b)| a + b),
        );
        x.extend(noise(48_000));
        let y = trim_silence(&x).expect("sound");
        assert!(
            y.len() >= 24_000 && y.len() <= 24_000 + 2 * PAD + WINDOW,
            "len {}",
            y.len()
        );
    }

    #[test]
    fn silence_is_no_sound() {
        assert_eq!(trim_silence(&[0.0; 10_000]), Err(MediaError::NoSound));
        assert_eq!(trim_silence(&[]), Err(MediaError::NoSound));
        assert_eq!(
            condition_speech(&[0.0001; 48_000]),
            Err(MediaError::NoSound)
        );
    }

    /// At 16 kHz the chain keeps the same times (trim, padding) and level as at 48 kHz, and a
    /// rate that does not divide 48 kHz is refused.
    #[test]
    fn conditioning_at_16_khz_matches_48_khz() {
        let at = |rate: u32| {
            let mut x = vec![0.0; rate as usize];
            x.extend((0..rate as usize).map(|i| {
                0.02 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin()
            }));
            x.extend(vec![0.0; rate as usize / 2]);
            condition_speech_at(&x, rate).expect("sound")
        };
        let (y48, y16) = (at(48_000), at(16_000));
        assert_eq!(y48.len(), y16.len() * 3, "{} vs {}", y48.len(), y16.len());
        assert!((rms(&y48) / rms(&y16) - 1.0).abs() < 0.01);
        assert!(matches!(
            condition_speech_at(&[0.1; 1_000], 44_100),
            Err(MediaError::Unsupported(_))
        ));
    }

    #[test]
    fn brings_a_quiet_tone_up_without_clipping() {
        let mut x = tone(48_000, 0.01);
        normalise(&mut x, FLOOR_DB);
        let level = 20.0 * rms(&x).log10();
        assert!((level - TARGET_RMS_DB).abs() < 0.5, "level {level}");
        assert!(x.iter().all(|v| v.abs() <= CEILING));
    }

    #[test]
    fn loud_peaks_are_limited_not_clipped() {
        // A quiet tone with one near-full-scale click: gain is applied, the click is limited.
        let mut x = tone(48_000, 0.05);
        x[20_000] = 0.99;
        normalise(&mut x, FLOOR_DB);
        assert!(x.iter().all(|v| v.abs() <= CEILING + 1e-6));
        assert!(
            rms(&x) > rms(&tone(48_000, 0.05)) * 1.5,
            "no gain was applied"
        );
    }

    #[test]
    fn noise_only_is_not_made_loud() {
        // Steady noise at about -40 dBFS: its floor is its level, so no gain is applied.
        let mut seed = 7u32;
        let mut x: Vec<f32> = (0..48_000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 8) as f32 / 8_388_608.0 - 1.0) * 0.017
            })
            .collect();
        let before = rms(&x);
        let y = condition_speech(&x).expect("not silence");
        assert!(
            rms(&y) <= before * 1.01,
            "noise amplified: {} -> {}",
            before,
            rms(&y)
        );
        normalise(&mut x, -40.0);
        assert!(rms(&x) <= before * 1.01);
    }

    #[test]
    fn peaks_shape() {
        assert_eq!(peaks(&[]), vec![0; PEAKS]);
        let p = peaks(&[32_767; 1_000]);
        assert!(p.iter().all(|&v| v == 255));
        let p = peaks(&[i16::MIN; 3]);
        assert_eq!(p.len(), PEAKS);
        assert_eq!(p.iter().filter(|&&v| v == 255).count(), 3);
        let mut x = vec![0i16; 10_000];
        x[9_999] = 3_277; // -20 dBFS
        let p = peaks(&x);
        assert_eq!(p[99], 81);
        assert_eq!(p[0], 0);
    }

    #[test]
    fn to_i16_saturates() {
        assert_eq!(
            to_i16(&[2.0, -2.0, f32::NAN, 0.5]),
            vec![32_767, -32_768, 0, 16_384]
        );
    }
}
