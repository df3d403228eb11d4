//! A deterministic speech-like test signal: the benchmarks' "voice" and the quality tests'
//! reference, one definition so that a quality figure and a benchmark figure are about the
//! same sound. Not speech (no formant transitions, no consonants), but it has what the codec
//! paths care about: a gliding pitch with harmonics, syllable-rate gaps and a noise floor.

/// Rate of [`synthetic_voice`], Hz.
pub const SYNTHETIC_VOICE_RATE: u32 = 16_000;

/// `seconds` of 16 kHz mono: a gliding 110-160 Hz voice with 8 harmonics (emphasis around
/// 500 Hz and 1.5 kHz), amplitude modulated at 4 Hz (syllables) with short gaps, plus a
/// little noise (the box refuses silence). The same samples every call.
pub fn synthetic_voice(seconds: f32) -> Vec<i16> {
    let rate = SYNTHETIC_VOICE_RATE;
    let n = (seconds * rate as f32) as usize;
    let mut seed: u32 = 0x1234_5678;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let tau = std::f32::consts::TAU;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f0 = 135.0 + 25.0 * (tau * 0.7 * t).sin();
            phase += tau * f0 / rate as f32;
            if phase > tau {
                phase -= tau;
            }
            let mut v = 0.0f32;
            for h in 1..=8u32 {
                let f = f0 * h as f32;
                let w = 1.0 / h as f32
                    * (1.0
                        + 0.8 * (-(f - 500.0).powi(2) / 2.0e5).exp()
                        + 0.5 * (-(f - 1500.0).powi(2) / 4.0e5).exp());
                v += w * (phase * h as f32).sin();
            }
            let syllable = (tau * 4.0 * t).sin();
            let env = if syllable > -0.6 {
                0.55 + 0.45 * syllable
            } else {
                0.05
            };
            let x = 0.25 * env * v + 0.01 * noise();
            (x.clamp(-1.0, 1.0) * 32_000.0) as i16
        })
        .collect()
}
