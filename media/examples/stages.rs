//! Times each stage of the WAV upload path: `cargo run --release -p ivm-media --example stages -- FILE.wav`.
//! A measuring aid, not a test.

use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: stages FILE.wav");
    let bytes = std::fs::read(&path).expect("read");
    let n = 20;
    let mut t = [0f64; 5];
    for _ in 0..n {
        let a = Instant::now();
        let pcm = ivm_media::wav_to_pcm(&bytes).expect("wav");
        let b = Instant::now();
        let x48 = ivm_media::resample_to_48k(&pcm.samples, pcm.rate).expect("resample");
        let c = Instant::now();
        let speech = ivm_media::condition_speech(&x48).expect("condition");
        let d = Instant::now();
        let ogg =
            ivm_media::encode_pcm_mono(&ivm_media::to_i16(&speech), pcm.rate).expect("encode");
        let e = Instant::now();
        let _ = ivm_media::ogg_opus_to_wav(&ogg).expect("decode");
        let f = Instant::now();
        for (i, (x, y)) in [(a, b), (b, c), (c, d), (d, e), (e, f)].iter().enumerate() {
            t[i] += (*y - *x).as_secs_f64() * 1000.0 / n as f64;
        }
    }
    println!(
        "parse {:.2} ms, resample {:.2} ms, condition {:.2} ms, encode {:.2} ms, decode {:.2} ms",
        t[0], t[1], t[2], t[3], t[4]
    );
}
