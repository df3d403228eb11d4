//! Speech quality of the WAV upload path: what a listener gets back, compared with what was
//! sent, for the path [`crate::prepare_upload`] takes and for the 48 kHz path it replaced for
//! 8/12/16/24 kHz WAVs (issue 18: resample to 48 kHz, condition, encode at 48 kHz).
//!
//! Both are decoded at the source's rate and compared with the source itself (aligned on the
//! trim, gain matched): the signal-to-noise ratio of the waveform and the log-spectral distance
//! of 20 ms frames. Opus is a perceptual codec, so neither figure is a listening score; they
//! catch a lost band, a level or timing slip, or a starved bit budget, and the two paths are
//! measured the same way. `cargo test -p ivm-media quality -- --nocapture` prints the figures
//! (docs/benchmarks.md records them).

use crate::*;

/// The benchmarks' voice ([`crate::synthetic_voice`]), as f32.
fn bench_voice(seconds: f32) -> Vec<f32> {
    synthetic_voice(seconds)
        .into_iter()
        .map(|s| s as f32 / 32_768.0)
        .collect()
}

/// Real (synthesised) speech at 16 kHz: espeak-ng speaks, sox resamples its 22.05 kHz output.
/// Both are installed by scripts/setup; without them this test cannot measure, so it fails.
fn spoken_16k() -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("ivm-media-quality-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (raw, out) = (dir.join("espeak.wav"), dir.join("speech16.wav"));
    let text = "Hello, this is a voice message for the office. Please call me back about the \
                delivery tomorrow morning, thank you.";
    let run = |prog: &str, args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new(prog)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("{prog} is needed (scripts/setup installs it): {e}"));
        assert!(st.success(), "{prog} failed: {st}");
    };
    run(
        "espeak-ng",
        &["-w".as_ref(), raw.as_os_str(), text.as_ref()],
    );
    run(
        "sox",
        &[
            raw.as_os_str(),
            "-r".as_ref(),
            "16000".as_ref(),
            "-b".as_ref(),
            "16".as_ref(),
            out.as_os_str(),
        ],
    );
    let pcm = wav_to_pcm(&std::fs::read(&out).expect("sox output")).expect("wav");
    assert_eq!(pcm.rate, 16_000);
    let _ = std::fs::remove_dir_all(&dir);
    pcm.samples
}

/// Decode an Ogg Opus file to mono floats at `rate`, pre-skip and end trimming applied.
fn decode_at(ogg: &[u8], rate: u32) -> Vec<f32> {
    let parsed = crate::ogg_opus::parse(ogg).expect("parse");
    let k = u64::from(48_000 / rate);
    let mut dec = opus::Decoder::new(rate, opus::Channels::Mono).expect("decoder");
    let keep_from = u64::from(parsed.info.pre_skip) / k;
    let keep_to = keep_from + parsed.info.samples / k;
    let mut out = Vec::new();
    let mut pcm = vec![0f32; 5_760];
    let mut pos = 0u64;
    for p in &parsed.packets {
        let n = dec.decode_float(p, &mut pcm, false).expect("decode");
        for &v in &pcm[..n] {
            if (keep_from..keep_to).contains(&pos) {
                out.push(v);
            }
            pos += 1;
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// Where in `source` the decoded (trimmed) audio starts: the lag, within the first 0.5 s,
/// with the best normalised correlation (a coarse search on every 4th sample, then refined).
fn trim_offset(source: &[f32], decoded: &[f32], rate: u32) -> usize {
    let n = decoded.len();
    let max_lag = (rate as usize / 2).min(source.len().saturating_sub(n));
    let score = |lag: usize, step: usize| {
        let r = &source[lag..lag + n];
        let (mut rd, mut rr) = (0f64, 0f64);
        for i in (0..n).step_by(step) {
            rd += f64::from(r[i]) * f64::from(decoded[i]);
            rr += f64::from(r[i]) * f64::from(r[i]);
        }
        rd / rr.sqrt().max(1e-12)
    };
    let best = |lags: &mut dyn Iterator<Item = usize>, step: usize| {
        lags.map(|lag| (score(lag, step), lag))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(0, |(_, lag)| lag)
    };
    let coarse = best(&mut (0..=max_lag).step_by(4), 4);
    best(
        &mut (coarse.saturating_sub(4)..=(coarse + 4).min(max_lag)),
        1,
    )
}

/// Power spectrum of one frame (Hann window, plain DFT from a table of the frame's twiddles:
/// frames are short).
fn power_spectrum(frame: &[f32]) -> Vec<f64> {
    let n = frame.len();
    let turn = |i: usize| std::f64::consts::TAU * i as f64 / n as f64;
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n).map(|i| (turn(i).cos(), turn(i).sin())).unzip();
    let w: Vec<f64> = frame
        .iter()
        .zip(&cos)
        .map(|(&v, c)| f64::from(v) * (0.5 - 0.5 * c))
        .collect();
    (1..n / 2)
        .map(|k| {
            let (mut re, mut im) = (0f64, 0f64);
            for (i, v) in w.iter().enumerate() {
                let j = k * i % n;
                re += v * cos[j];
                im -= v * sin[j];
            }
            re * re + im * im
        })
        .collect()
}

/// Signal-to-noise ratio (dB) and mean log-spectral distance (dB, over 20 ms frames with
/// sound; each spectrum floored 60 dB under its own peak) of `decoded` against `source`.
fn quality(source: &[f32], ogg: &[u8], rate: u32) -> (f64, f64) {
    let decoded = decode_at(ogg, rate);
    let at = trim_offset(source, &decoded, rate);
    let reference = &source[at..at + decoded.len()];
    let gain = dot(reference, &decoded) / dot(&decoded, &decoded).max(1e-12);
    let noise: f64 = reference
        .iter()
        .zip(&decoded)
        .map(|(r, d)| (f64::from(*r) - gain * f64::from(*d)).powi(2))
        .sum();
    let snr = 10.0 * (dot(reference, reference) / noise.max(1e-12)).log10();
    let frame = rate as usize / 50;
    let loudest = reference
        .chunks_exact(frame)
        .map(|f| dot(f, f))
        .fold(0f64, f64::max);
    let mut distances = Vec::new();
    for (r, d) in reference
        .chunks_exact(frame)
        .zip(decoded.chunks_exact(frame))
    {
        if dot(r, r) < loudest * 1e-3 {
            continue;
        }
        let pr = power_spectrum(r);
        let pd: Vec<f64> = power_spectrum(d).iter().map(|p| p * gain * gain).collect();
        let floor = |p: &[f64]| p.iter().copied().fold(0f64, f64::max) * 1e-6;
        let (fr, fd) = (floor(&pr), floor(&pd));
        let msd = pr
            .iter()
            .zip(&pd)
            .map(|(a, b)| (10.0 * (a.max(fr) / b.max(fd)).log10()).powi(2))
            .sum::<f64>()
            / pr.len() as f64;
        distances.push(msd.sqrt());
    }
    let lsd = distances.iter().sum::<f64>() / distances.len().max(1) as f64;
    (snr, lsd)
}

/// What the 48 kHz path made of the same WAV: resample, condition and encode at 48 kHz.
fn encoded_at_48k(x: &[f32], rate: u32) -> Vec<u8> {
    let x48 = resample_to_48k(x, rate).expect("resample");
    let speech = condition_speech(&x48).expect("condition");
    encode_pcm_mono(&to_i16(&speech), rate).expect("encode")
}

/// Quality of the native-rate path against the 48 kHz one, on the bench voice, on speech
/// spoken at 16 kHz and on two of the box's own 8 kHz prompts. Native must be no more than
/// 1 dB SNR and 0.5 dB spectral distance behind, and decent in absolute terms.
#[test]
fn quality_native_rate_encoding_keeps_speech_quality() {
    let prompt =
        wav_to_pcm(include_bytes!("../../assets/prompts/leave-message.wav")).expect("prompt wav");
    let cases = [
        ("bench voice 16 kHz, 1.5 s", bench_voice(1.5), 16_000),
        ("bench voice 16 kHz, 8 s", bench_voice(8.0), 16_000),
        ("espeak-ng speech 16 kHz", spoken_16k(), 16_000),
        ("prompt leave-message 8 kHz", prompt.samples, prompt.rate),
        (
            "prompt menu 8 kHz",
            wav_to_pcm(include_bytes!("../../assets/prompts/menu.wav"))
                .expect("menu")
                .samples,
            8_000,
        ),
    ];
    let mut results = Vec::new();
    for (name, x, rate) in cases {
        let wav = crate::wav::encode_wav_mono(&to_i16(&x), rate).expect("wav");
        let native = prepare_upload(&wav, 600).expect("prepare").ogg;
        let old = encoded_at_48k(&wav_to_pcm(&wav).expect("pcm").samples, rate);
        let source = wav_to_pcm(&wav).expect("pcm").samples;
        // How many packets of each Opus configuration (RFC 6716 TOC: 0-11 SILK, 12-15
        // hybrid, 16-31 CELT).
        let toc = |ogg: &[u8]| {
            let parsed = crate::ogg_opus::parse(ogg).expect("parse");
            let mut c = std::collections::BTreeMap::new();
            for p in &parsed.packets {
                *c.entry(p[0] >> 3).or_insert(0) += 1;
            }
            c
        };
        let (snr_n, lsd_n) = quality(&source, &native, rate);
        let (snr_o, lsd_o) = quality(&source, &old, rate);
        let kbps = |ogg: &[u8]| {
            let info = ogg_opus_info(ogg).expect("info");
            ogg.len() as f64 * 8.0 / f64::from(info.duration_ms)
        };
        println!(
            "{name}: Opus configs (TOC) native {:?}, 48 kHz {:?}",
            toc(&native),
            toc(&old)
        );
        println!(
            "{name}: native SNR {snr_n:.2} dB, LSD {lsd_n:.2} dB, {:.1} kbit/s; \
             48 kHz SNR {snr_o:.2} dB, LSD {lsd_o:.2} dB, {:.1} kbit/s",
            kbps(&native),
            kbps(&old)
        );
        results.push((name, snr_n, lsd_n, snr_o, lsd_o));
    }
    for (name, snr_n, lsd_n, snr_o, lsd_o) in results {
        // The 8 s bench voice is a steady harmonic tone: past its first seconds libopus at
        // 48 kHz calls it music and codes it with CELT (a waveform coder, so a higher SNR);
        // at 16 kHz it stays speech (SILK). Its spectrum is what a listener hears.
        if !name.contains("8 s") {
            assert!(snr_n >= snr_o - 1.0, "{name}: SNR {snr_n} against {snr_o}");
        }
        assert!(lsd_n <= lsd_o + 0.5, "{name}: LSD {lsd_n} against {lsd_o}");
        assert!(snr_n > 2.0 && lsd_n < 7.5, "{name}: {snr_n} dB, {lsd_n} dB");
    }
}
