//! Times each stage of the WAV upload path: `cargo run --release -p ivm-media --example stages -- FILE.wav [48k]`.
//! With `48k`, every rate goes through the 48 kHz resample first (the path before issue 18).
//! A measuring aid, not a test.

use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: stages FILE.wav");
    let bytes = std::fs::read(&path).expect("read");
    let force_48k = std::env::args().nth(2).is_some_and(|a| a == "48k");
    let n = 20;
    let mut t = [0f64; 5];
    for _ in 0..n {
        let a = Instant::now();
        let pcm = ivm_media::wav_to_pcm(&bytes).expect("wav");
        let b = Instant::now();
        // As `prepare_upload`: a rate Opus codes natively is kept, another goes to 48 kHz.
        let (x, rate) = if !force_48k && [8_000, 12_000, 16_000, 24_000, 48_000].contains(&pcm.rate)
        {
            (pcm.samples.clone(), pcm.rate)
        } else {
            let x48 = ivm_media::resample_to_48k(&pcm.samples, pcm.rate).expect("resample");
            (x48, 48_000)
        };
        let c = Instant::now();
        let speech = ivm_media::condition_speech_at(&x, rate).expect("condition");
        let d = Instant::now();
        let pcm16 = ivm_media::to_i16(&speech);
        let ogg = ivm_media::encode_pcm_mono_at(&pcm16, rate, pcm.rate).expect("encode");
        let e = Instant::now();
        if force_48k {
            // The old path decoded its own output for the waveform.
            let _ = ivm_media::ogg_opus_to_wav(&ogg).expect("decode");
        } else {
            let _ = ivm_media::ogg_opus_info(&ogg).expect("info");
            let _ = ivm_media::peaks(&pcm16);
        }
        let f = Instant::now();
        for (i, (x, y)) in [(a, b), (b, c), (c, d), (d, e), (e, f)].iter().enumerate() {
            t[i] += (*y - *x).as_secs_f64() * 1000.0 / n as f64;
        }
    }
    println!(
        "parse {:.2} ms, resample {:.2} ms, condition {:.2} ms, encode {:.2} ms, waveform {:.2} ms",
        t[0], t[1], t[2], t[3], t[4]
    );
}
