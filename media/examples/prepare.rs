//! Times `prepare_upload` on a WAV file: `cargo run --release -p ivm-media --example prepare -- FILE.wav [N]`.
//! A measuring aid for the upload path (the server transcodes WAV uploads), not a test.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: prepare FILE.wav [N]");
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let bytes = std::fs::read(&path).expect("read");
    let t = std::time::Instant::now();
    let mut out = None;
    for _ in 0..n {
        out = Some(ivm_media::prepare_upload(&bytes, 600).expect("prepare"));
    }
    let each = t.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    let p = out.expect("ran");
    println!(
        "{path}: {each:.2} ms per prepare_upload, stored {} ms in {} bytes",
        p.duration_ms,
        p.ogg.len()
    );
}
