//! Call-progress tones at 8 kHz: the "start speaking" beep, busy, ringback, and silence.
//!
//! A tone is one or two sine components and a cadence (on/off times, repeated). Each burst
//! gets 5 ms raised-cosine ramps so it starts and stops without a click, which G.711 would
//! otherwise pass through as a loud tick.

use std::time::Duration;

/// Sample rate of everything this module makes.
pub const RATE: u32 = 8000;

/// A tone plan: components, level, cadence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// One or two frequencies in Hz (a zero second frequency means a single tone).
    pub freqs: [f32; 2],
    /// Level of each component in dBFS (sine peak relative to full scale).
    pub level_db: f32,
    /// On and off times in milliseconds, repeated; an off time of 0 means continuous.
    pub cadence: (u32, u32),
}

/// 1 kHz for 200 ms: the beep before recording (distinct from any call-progress tone).
pub const BEEP: ToneSpec = ToneSpec {
    freqs: [1000.0, 0.0],
    level_db: -10.0,
    cadence: (200, 0),
};
/// European busy (ETSI TR 101 041): 425 Hz, 0.5 s on, 0.5 s off.
pub const BUSY_EU: ToneSpec = ToneSpec {
    freqs: [425.0, 0.0],
    level_db: -13.0,
    cadence: (500, 500),
};
/// North American busy: 480 + 620 Hz, 0.5 s on, 0.5 s off.
pub const BUSY_US: ToneSpec = ToneSpec {
    freqs: [480.0, 620.0],
    level_db: -19.0,
    cadence: (500, 500),
};
/// European ringback: 425 Hz, 1 s on, 4 s off.
pub const RINGBACK_EU: ToneSpec = ToneSpec {
    freqs: [425.0, 0.0],
    level_db: -13.0,
    cadence: (1000, 4000),
};
/// North American ringback: 440 + 480 Hz, 2 s on, 4 s off.
pub const RINGBACK_US: ToneSpec = ToneSpec {
    freqs: [440.0, 480.0],
    level_db: -19.0,
    cadence: (2000, 4000),
};

/// Ramp length at each end of a burst: 5 ms.
const RAMP: usize = 40;

fn samples(d: Duration) -> usize {
    (d.as_micros() * u128::from(RATE) / 1_000_000) as usize
}

impl ToneSpec {
    /// Render `duration` of the tone, starting at the beginning of its cadence. For a
    /// continuous tone (off time 0) the whole duration is one burst.
    pub fn render(&self, duration: Duration) -> Vec<i16> {
        let total = samples(duration);
        let (on, off) = if self.cadence.1 == 0 {
            (total, 0)
        } else {
            (self.cadence.0 as usize * 8, self.cadence.1 as usize * 8)
        };
        let amp = 32767.0 * 10f32.powf(self.level_db / 20.0);
        let period = (on + off).max(1);
        let ramp = RAMP.min(on / 2);
        (0..total)
            .map(|n| {
                let pos = n % period;
                if pos >= on {
                    return 0;
                }
                // Ramps at the burst's edges, and at the very end of the rendering.
                let edge = pos.min(on - 1 - pos).min(total - 1 - n);
                let g = if edge < ramp {
                    0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / ramp as f32).cos()
                } else {
                    1.0
                };
                let t = n as f32 / RATE as f32;
                let v: f32 = self
                    .freqs
                    .iter()
                    .filter(|&&f| f > 0.0)
                    .map(|f| (2.0 * std::f32::consts::PI * f * t).sin())
                    .sum();
                (v * amp * g).round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }
}

/// The beep before recording (see [`BEEP`]).
pub fn beep() -> Vec<i16> {
    BEEP.render(Duration::from_millis(u64::from(BEEP.cadence.0)))
}

/// `duration` of digital silence.
pub fn silence(duration: Duration) -> Vec<i16> {
    vec![0; samples(duration)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::level_db;

    /// Power of `freq` in `x` relative to the signal's total power (Goertzel).
    fn share(x: &[i16], freq: f32) -> f32 {
        let coeff = 2.0 * (2.0 * std::f32::consts::PI * freq / 8000.0).cos();
        let (mut s1, mut s2) = (0f32, 0f32);
        for &v in x {
            let s0 = f32::from(v) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        let e: f32 = x.iter().map(|&v| f32::from(v) * f32::from(v)).sum();
        2.0 * p / (x.len() as f32 * e)
    }

    #[test]
    fn beep_is_200ms_of_1khz_without_clicks() {
        let b = beep();
        assert_eq!(b.len(), 1600);
        assert!(share(&b[200..1400], 1000.0) > 0.95);
        assert!(b[0].abs() < 100 && b[1599].abs() < 100, "edges must ramp");
        let peak = b.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        assert!((10_000..=10_500).contains(&peak), "peak {peak}");
    }

    #[test]
    fn busy_has_its_cadence() {
        let b = BUSY_EU.render(Duration::from_secs(2));
        assert_eq!(b.len(), 16_000);
        assert!(level_db(&b[800..3200]) > -20.0);
        assert_eq!(level_db(&b[4100..7900]), -100.0);
        assert!(level_db(&b[8800..11_200]) > -20.0);
        assert!(share(&b[400..3600], 425.0) > 0.95);
        let us = BUSY_US.render(Duration::from_millis(500));
        assert!(share(&us, 480.0) > 0.4 && share(&us, 620.0) > 0.4);
    }

    #[test]
    fn ringback_and_silence() {
        let r = RINGBACK_US.render(Duration::from_secs(6));
        assert!(level_db(&r[..16_000]) > -25.0);
        assert_eq!(level_db(&r[16_100..48_000]), -100.0);
        assert_eq!(silence(Duration::from_millis(20)), vec![0; 160]);
        assert!(!RINGBACK_EU.render(Duration::from_millis(100)).is_empty());
    }
}
