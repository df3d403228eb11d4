//! Sample-rate conversion to 48 kHz: an exact polyphase windowed-sinc interpolator.
//!
//! For an input rate `r`, the ratio 48000/r is reduced to L/M; output sample `n` sits at input
//! position `n*M/L`, whose fractional part is one of `L` phases. Each phase has its own
//! [`TAPS`]-tap filter: a sinc low-pass at [`CUTOFF`] of the input rate, Kaiser-windowed
//! (β = [`BETA`], about 80 dB stop-band), normalised to unity gain at DC. L is at most 48000
//! (for rates coprime with 48000), so the table is at most a few MB and built once per call.
//!
//! Input rates are never above 48 kHz, so this only ever upsamples: the cut-off protects
//! against imaging, and anything between the cut-off and the input Nyquist is lost (speech
//! energy there is negligible).

use crate::wav::{MAX_RATE, MIN_RATE};
use crate::MediaError;

/// The rate everything is converted to: Opus's native rate.
pub const OUTPUT_RATE: u32 = 48_000;
/// Filter length per phase, in input samples.
const TAPS: usize = 48;
/// Pass-band edge as a fraction of the input rate (0.5 would be Nyquist).
const CUTOFF: f64 = 0.45;
/// Kaiser window shape.
const BETA: f64 = 7.5;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zeroth-order modified Bessel function of the first kind (power series; converges fast for
/// the arguments a Kaiser window uses).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    sum
}

/// Build the `l`-phase filter table, phase-major.
fn build_table(l: usize) -> Vec<f32> {
    let half = (TAPS / 2) as f64;
    let i0_beta = bessel_i0(BETA);
    let mut table = Vec::with_capacity(l * TAPS);
    let mut phase = vec![0f64; TAPS];
    for p in 0..l {
        let frac = p as f64 / l as f64;
        for (k, c) in phase.iter_mut().enumerate() {
            // Distance from the output position to input sample (i + k - (TAPS/2 - 1)).
            let t = k as f64 - (half - 1.0) - frac;
            let x = 2.0 * CUTOFF * t;
            let sinc = if x.abs() < 1e-12 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let r = (t / half).clamp(-1.0, 1.0);
            let w = bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            *c = sinc * w;
        }
        let sum: f64 = phase.iter().sum();
        table.extend(phase.iter().map(|&c| (c / sum) as f32));
    }
    table
}

/// Convert mono samples at `rate` (8..=48 kHz) to 48 kHz.
///
/// The output holds `ceil(len * 48000 / rate)` samples; the first output sample is aligned with
/// the first input sample (no added delay). A rate outside the accepted range is
/// [`MediaError::Unsupported`].
pub fn resample_to_48k(input: &[f32], rate: u32) -> Result<Vec<f32>, MediaError> {
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(MediaError::Unsupported(format!(
            "sample rate {rate} Hz; {MIN_RATE}..{MAX_RATE} Hz is accepted"
        )));
    }
    if rate == OUTPUT_RATE {
        return Ok(input.to_vec());
    }
    let g = gcd(u64::from(OUTPUT_RATE), u64::from(rate));
    let l = u64::from(OUTPUT_RATE) / g;
    let m = u64::from(rate) / g;
    let out_len = (input.len() as u64 * l).div_ceil(m);
    let table = build_table(l as usize);
    let offset = TAPS as i64 / 2 - 1;
    let len = input.len() as i64;
    let mut out = Vec::with_capacity(out_len as usize);
    for n in 0..out_len {
        let pos = n * m;
        let i = (pos / l) as i64;
        let p = (pos % l) as usize;
        let coeffs = &table[p * TAPS..(p + 1) * TAPS];
        let first = i - offset;
        let acc = if first >= 0 && first + TAPS as i64 <= len {
            let src = &input[first as usize..first as usize + TAPS];
            src.iter().zip(coeffs).map(|(x, c)| x * c).sum::<f32>()
        } else {
            coeffs
                .iter()
                .enumerate()
                .filter_map(|(k, c)| {
                    let j = first + k as i64;
                    (0..len).contains(&j).then(|| input[j as usize] * c)
                })
                .sum()
        };
        out.push(acc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    #[test]
    fn keeps_a_1khz_tone_at_1khz_and_its_amplitude() {
        for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 47_999] {
            let x = tone(1_000.0, rate, 1.0, 0.5);
            let y = resample_to_48k(&x, rate).expect("resample");
            let expect_len = (x.len() as u64 * 48_000).div_ceil(u64::from(rate)) as usize;
            assert_eq!(y.len(), expect_len, "rate {rate}");
            // Skip the filter's edges; 1 kHz gives 2 crossings per ms.
            let mid = &y[4_800..43_200];
            let zc = zero_crossings(mid);
            assert!(
                (1_598..=1_602).contains(&zc),
                "rate {rate}: {zc} crossings in 0.8 s"
            );
            let peak = mid.iter().fold(0f32, |a, &v| a.max(v.abs()));
            assert!((peak - 0.5).abs() < 0.01, "rate {rate}: peak {peak}");
            let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
            assert!(
                (rms - 0.5 / 2f32.sqrt()).abs() < 0.005,
                "rate {rate}: rms {rms}"
            );
        }
    }

    #[test]
    fn attenuates_images() {
        // A 3 kHz tone at 8 kHz must not leave a strong 5 kHz image at 48 kHz: measure energy
        // after subtracting the ideal 3 kHz tone.
        let x = tone(3_000.0, 8_000, 0.5, 0.5);
        let y = resample_to_48k(&x, 8_000).expect("resample");
        let ideal = tone(3_000.0, 48_000, 0.5, 0.5);
        let (a, b) = (&y[2_400..21_600], &ideal[2_400..21_600]);
        let err: f32 =
            a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f32>() / a.len() as f32;
        let sig: f32 = b.iter().map(|q| q * q).sum::<f32>() / b.len() as f32;
        assert!(
            10.0 * (err / sig).log10() < -40.0,
            "error {} dB",
            10.0 * (err / sig).log10()
        );
    }

    #[test]
    fn identity_and_edges() {
        assert_eq!(
            resample_to_48k(&[0.1, 0.2], 48_000).expect("same"),
            vec![0.1, 0.2]
        );
        assert!(resample_to_48k(&[], 8_000).expect("empty").is_empty());
        assert_eq!(resample_to_48k(&[1.0], 8_000).expect("one").len(), 6);
        assert!(matches!(
            resample_to_48k(&[0.0], 96_000),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(
            resample_to_48k(&[0.0], 0),
            Err(MediaError::Unsupported(_))
        ));
    }
}
