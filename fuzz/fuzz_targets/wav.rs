//! The RIFF/WAVE reader (uploads from the web client and `ivm send`): chunk walk, fmt checks
//! (PCM 8/16/24/32-bit, float, extensible), and the mono downmix; then the 16-bit writer
//! round trip: what the box writes for `ivm play` reads back to the same samples.
#![no_main]

use ivm_media::{encode_wav_mono, to_i16, wav_to_pcm, MAX_RATE, MIN_RATE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pcm) = wav_to_pcm(data) else { return };
    assert!(
        (MIN_RATE..=MAX_RATE).contains(&pcm.rate),
        "rate {}",
        pcm.rate
    );
    assert!(pcm.samples.len() <= data.len(), "more samples than bytes");
    assert!(pcm.samples.iter().all(|s| s.is_finite()));
    let i16s = to_i16(&pcm.samples);
    let wav = encode_wav_mono(&i16s, pcm.rate).expect("a small file encodes");
    assert_eq!(wav.len(), 44 + 2 * i16s.len());
    let back = wav_to_pcm(&wav).expect("our own WAV reads back");
    assert_eq!(back.rate, pcm.rate);
    let want: Vec<f32> = i16s.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    assert_eq!(back.samples, want, "16-bit round trip");
});
