//! Ogg Opus (RFC 7845): the writer for mono 48 kHz PCM and the reader that checks a stream's
//! headers, page layout and granule positions, then (if asked) decodes every packet.
//!
//! # Stream layout written
//! page 0: `OpusHead` alone (BOS) · page 1: `OpusTags` (vendor "ivm", no comments) ·
//! pages 2..: audio, one 20 ms packet each, a page closed every [`PACKETS_PER_PAGE`] packets,
//! the last page flagged EOS with a granule that trims the padding of the last frame.
//! The serial number is an FNV-1a hash of the PCM, so equal input gives equal bytes.

use crate::dsp;
use crate::ogg_page::{self, OggStream, FLAG_BOS, FLAG_EOS};
use crate::MediaError;
use ogg::{PacketWriteEndInfo, PacketWriter};

/// Samples per 20 ms frame at 48 kHz.
const FRAME: usize = 960;
/// Target bit rate for speech.
const BITRATE: i32 = 24_000;
/// One page per second of audio keeps seeking cheap and pages small.
pub(crate) const PACKETS_PER_PAGE: u32 = 50;
/// The input rates libopus encodes without resampling first.
pub(crate) const NATIVE_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];
/// libopus complexity for audio coded below 48 kHz (libopus's default, 10, stays at 48 kHz).
/// At 8 and 16 kHz libopus codes speech with SILK, whose search at complexity 10 was most of
/// a WAV upload's cost (issue 18); at 5 it takes about 40% less time, and the quality test
/// (`quality_tests.rs`) measured 8 and 16 kHz speech coded this way as no worse than the 48 kHz
/// path at complexity 10 it replaced (docs/benchmarks.md, issue 18). At 3, spoken 16 kHz
/// speech fell behind that path's spectral distance.
const NATIVE_COMPLEXITY: i32 = 5;
/// Granule rate of every Opus stream.
pub(crate) const RATE: u64 = 48_000;
/// Largest decoded packet: 120 ms at 48 kHz.
pub(crate) const MAX_PACKET_SAMPLES: usize = 5_760;
/// Hard cap on decoded audio for any call (one hour), so a small hostile file cannot make us
/// decode or allocate without end. `prepare_upload`'s `max_seconds` is clamped to it.
pub const MAX_SECONDS: u32 = 3_600;

/// What the headers and granule positions of an Ogg Opus stream say, without decoding audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggOpusInfo {
    /// Channel count from `OpusHead` (1 or 2; other mappings are refused).
    pub channels: u8,
    /// Sample rate of the original input, as recorded in `OpusHead` (informational; 0 = unknown).
    pub input_rate: u32,
    /// Samples (at 48 kHz) to discard from the start of the decoded output.
    pub pre_skip: u16,
    /// Output gain from `OpusHead`, in Q7.8 dB.
    pub output_gain: i16,
    /// Playable length: (last granule - start offset - pre-skip) at 48 kHz, in milliseconds.
    pub duration_ms: u32,
    /// Playable length in 48 kHz samples.
    pub samples: u64,
    /// Number of audio packets.
    pub packets: u32,
    /// True when the last page carries the end-of-stream flag.
    pub has_eos: bool,
}

/// Result of the structural check, with the audio packets kept for decoding.
pub(crate) struct Parsed {
    pub info: OggOpusInfo,
    /// Audio packets in order.
    pub packets: Vec<Vec<u8>>,
    /// Sum of the packets' sample counts (from their TOC bytes), at 48 kHz.
    pub coded_samples: u64,
}

fn bad(msg: impl Into<String>) -> MediaError {
    MediaError::BadOgg(msg.into())
}

fn fnv1a(samples: &[i16]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for s in samples {
        for b in s.to_le_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

pub(crate) fn opus_head(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(channels);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // mapping family 0: mono or stereo, no table
    h
}

pub(crate) fn opus_tags() -> Vec<u8> {
    let vendor = b"ivm";
    let mut t = b"OpusTags".to_vec();
    t.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    t.extend_from_slice(vendor);
    t.extend_from_slice(&0u32.to_le_bytes()); // no user comments
    t
}

/// Encode 48 kHz mono 16-bit PCM (already trimmed and normalised) as an Ogg Opus file.
///
/// Opus VoIP mode, 20 ms frames, about 24 kbit/s VBR. `input_rate` is the rate the audio was
/// captured at, recorded in `OpusHead` for information (use 8000 for phone audio).
/// Empty input is [`MediaError::NoSound`].
pub fn encode_pcm_mono(samples_48k: &[i16], input_rate: u32) -> Result<Vec<u8>, MediaError> {
    encode_pcm_mono_at(samples_48k, 48_000, input_rate)
}

/// [`encode_pcm_mono`] for PCM at `rate`, one of the rates libopus takes natively (8, 12, 16,
/// 24 or 48 kHz; another is [`MediaError::Codec`]). Same settings, but complexity
/// [`NATIVE_COMPLEXITY`] below 48 kHz; granules and pre-skip are counted at 48 kHz as RFC 7845
/// asks, whatever `rate` is.
///
/// Why not always 48 kHz: a 16 kHz upload resampled to 48 kHz holds nothing above 8 kHz, yet
/// the resample, the conditioning and the encoder's analysis then run on three times the
/// samples (about a tenth of a WAV upload's cost, issue 18). Fed at 16 kHz, libopus codes the
/// same band (wideband speech) without them.
pub fn encode_pcm_mono_at(
    samples: &[i16],
    rate: u32,
    input_rate: u32,
) -> Result<Vec<u8>, MediaError> {
    if samples.is_empty() {
        return Err(MediaError::NoSound);
    }
    if !NATIVE_RATES.contains(&rate) {
        return Err(MediaError::Codec(format!(
            "Opus encodes 8, 12, 16, 24 or 48 kHz, not {rate} Hz"
        )));
    }
    let k = u64::from(48_000 / rate);
    if samples.len() as u64 > u64::from(MAX_SECONDS) * u64::from(rate) {
        return Err(MediaError::TooLong {
            seconds: samples.len() as u64 / u64::from(rate),
            max_seconds: MAX_SECONDS,
        });
    }
    let mut enc = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)?;
    enc.set_bitrate(opus::Bitrate::Bits(BITRATE))?;
    enc.set_vbr(true)?;
    if rate < 48_000 {
        enc.set_complexity(NATIVE_COMPLEXITY)?;
    }
    // libopus reports the lookahead at the input rate; OpusHead counts at 48 kHz.
    let lookahead = u64::from(enc.get_lookahead()?.unsigned_abs());
    let pre_skip = u16::try_from(lookahead * k)
        .map_err(|_| MediaError::Codec("encoder lookahead out of range".into()))?;
    let frame_len = FRAME / k as usize;
    let total = samples.len() as u64 * k + u64::from(pre_skip);
    let frames = (samples.len() as u64 + lookahead).div_ceil(frame_len as u64) as usize;
    let serial = fnv1a(samples);

    let mut w = start_stream(serial, pre_skip, input_rate)?;
    let mut frame = [0i16; FRAME];
    let frame = &mut frame[..frame_len];
    let mut buf = vec![0u8; 4_000];
    for f in 0..frames {
        let start = (f * frame_len).min(samples.len());
        let end = ((f + 1) * frame_len).min(samples.len());
        frame.fill(0);
        frame[..end - start].copy_from_slice(&samples[start..end]);
        let n = enc.encode(frame, &mut buf)?;
        let last = f + 1 == frames;
        let granule = if last {
            total
        } else {
            ((f + 1) * FRAME) as u64
        };
        let end_info = if last {
            PacketWriteEndInfo::EndStream
        } else if (f + 1) % PACKETS_PER_PAGE as usize == 0 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        w.write_packet(buf[..n].to_vec(), serial, end_info, granule)
            .map_err(io)?;
    }
    Ok(w.into_inner())
}

/// An Ogg writer failure (writing to memory: only a bug would make one).
pub(crate) fn io(e: std::io::Error) -> MediaError {
    MediaError::Codec(format!("Ogg writer: {e}"))
}

/// A mono Ogg Opus stream's first two pages: `OpusHead` alone (BOS), then `OpusTags`. Both
/// writers start here ([`encode_pcm_mono`] and [`crate::OggOpusWriter`]).
pub(crate) fn start_stream(
    serial: u32,
    pre_skip: u16,
    input_rate: u32,
) -> Result<PacketWriter<'static, Vec<u8>>, MediaError> {
    let mut w = PacketWriter::new(Vec::new());
    w.write_packet(
        opus_head(1, pre_skip, input_rate),
        serial,
        PacketWriteEndInfo::EndPage,
        0,
    )
    .map_err(io)?;
    w.write_packet(opus_tags(), serial, PacketWriteEndInfo::EndPage, 0)
        .map_err(io)?;
    Ok(w)
}

/// Parse `OpusHead`; returns (channels, pre_skip, input_rate, output_gain).
pub(crate) fn parse_head(p: &[u8]) -> Result<(u8, u16, u32, i16), MediaError> {
    if p.len() < 19 || &p[0..8] != b"OpusHead" {
        return Err(bad("the first packet is not a valid OpusHead"));
    }
    if p[8] >> 4 != 0 {
        return Err(MediaError::Unsupported(format!(
            "Ogg Opus version {}",
            p[8]
        )));
    }
    let channels = p[9];
    let pre_skip = u16::from_le_bytes([p[10], p[11]]);
    let input_rate = u32::from_le_bytes([p[12], p[13], p[14], p[15]]);
    let gain = i16::from_le_bytes([p[16], p[17]]);
    let family = p[18];
    if channels == 0 {
        return Err(bad("OpusHead declares 0 channels"));
    }
    if family != 0 {
        return Err(MediaError::Unsupported(format!(
            "Opus channel mapping family {family} ({channels} channels); mono or stereo only"
        )));
    }
    if channels > 2 {
        return Err(bad(format!("mapping family 0 with {channels} channels")));
    }
    Ok((channels, pre_skip, input_rate, gain))
}

/// Parse `OpusTags` just enough to know it is well formed.
fn check_tags(p: &[u8]) -> Result<(), MediaError> {
    if p.len() < 16 || &p[0..8] != b"OpusTags" {
        return Err(bad("the second packet is not a valid OpusTags"));
    }
    let rd = |at: usize| -> Option<usize> {
        let b = p.get(at..at + 4)?;
        usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    let short = || bad("OpusTags is cut short");
    let vendor = rd(8).ok_or_else(short)?;
    let mut at = 12usize.checked_add(vendor).ok_or_else(short)?;
    let count = rd(at).ok_or_else(short)?;
    at += 4;
    if count > (p.len() - at) / 4 {
        return Err(bad("OpusTags declares more comments than it holds"));
    }
    for _ in 0..count {
        let len = rd(at).ok_or_else(short)?;
        at = at
            .checked_add(4 + len)
            .filter(|&e| e <= p.len())
            .ok_or_else(short)?;
    }
    Ok(())
}

/// Check an Ogg Opus stream's structure: pages, headers, packet TOCs, granule positions.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, MediaError> {
    let OggStream {
        pages,
        packets,
        unfinished_packet,
    } = ogg_page::parse_stream(bytes)?;
    let head = packets.first().ok_or_else(|| bad("no complete packet"))?;
    if head.data.len() < 8 || &head.data[0..8] != b"OpusHead" {
        return Err(MediaError::Unsupported(
            "an Ogg stream that is not Opus (Vorbis, FLAC or Speex?)".into(),
        ));
    }
    let (channels, pre_skip, input_rate, output_gain) = parse_head(&head.data)?;
    if head.end_page != 0 || packets.get(1).is_some_and(|p| p.start_page == 0) {
        return Err(bad("OpusHead must be alone on the first page"));
    }
    if pages[0].flags & FLAG_BOS == 0 {
        return Err(bad("the first page lacks the beginning-of-stream flag"));
    }
    let tags = packets.get(1).ok_or_else(|| bad("no OpusTags packet"))?;
    check_tags(&tags.data)?;
    if packets
        .get(2)
        .is_some_and(|p| p.start_page == tags.end_page)
    {
        return Err(bad("audio data starts on the page that ends OpusTags"));
    }
    if unfinished_packet {
        return Err(bad("the last packet is cut short"));
    }

    // Walk the audio packets page by page, checking granules against TOC sample counts.
    let mut coded: u64 = 0;
    let mut start_offset: Option<u64> = None;
    let mut last_granule: Option<u64> = None;
    let mut audio = Vec::with_capacity(packets.len().saturating_sub(2));
    let mut idx = 2usize;
    let first_audio_page = tags.end_page + 1;
    for (pi, page) in pages.iter().enumerate().skip(first_audio_page) {
        let mut ended_here = 0usize;
        while let Some(p) = packets.get(idx).filter(|p| p.end_page == pi) {
            if p.data.is_empty() {
                return Err(bad(format!("audio packet {} is empty", idx - 2)));
            }
            let n = opus::packet::get_nb_samples(&p.data, 48_000)
                .map_err(|e| bad(format!("audio packet {} is not Opus: {e}", idx - 2)))?;
            if n == 0 || n > MAX_PACKET_SAMPLES {
                return Err(bad(format!("audio packet {} has {n} samples", idx - 2)));
            }
            coded += n as u64;
            audio.push(p.data.clone());
            idx += 1;
            ended_here += 1;
        }
        if ended_here == 0 {
            continue;
        }
        let g = page.granule;
        if g == u64::MAX || g > i64::MAX as u64 {
            return Err(bad(format!(
                "page {pi} ends packets but has no valid granule"
            )));
        }
        if last_granule.is_some_and(|l| g < l) {
            return Err(bad(format!("page {pi}: granule position goes backwards")));
        }
        let offset = match start_offset {
            Some(o) => o,
            None => {
                // RFC 7845 4.5: a first granule above the samples on it is a start offset; below
                // it is only valid on the last page (trimming a very short stream).
                let o = if g >= coded {
                    g - coded
                } else if page.flags & FLAG_EOS != 0 {
                    0
                } else {
                    return Err(bad(
                        "the first audio page's granule is below its sample count",
                    ));
                };
                start_offset = Some(o);
                o
            }
        };
        if g - offset > coded {
            return Err(bad(format!(
                "page {pi}: granule position is ahead of the audio"
            )));
        }
        last_granule = Some(g);
    }
    let samples = match (last_granule, start_offset) {
        (Some(g), Some(o)) => (g - o).saturating_sub(u64::from(pre_skip)),
        _ => 0,
    };
    let has_eos = pages.last().is_some_and(|p| p.flags & FLAG_EOS != 0);
    let info = OggOpusInfo {
        channels,
        input_rate,
        pre_skip,
        output_gain,
        duration_ms: u32::try_from(samples * 1000 / RATE).unwrap_or(u32::MAX),
        samples,
        packets: u32::try_from(audio.len()).unwrap_or(u32::MAX),
        has_eos,
    };
    Ok(Parsed {
        info,
        packets: audio,
        coded_samples: coded,
    })
}

/// Read an Ogg Opus file's headers and granule positions (no audio is decoded): channel count,
/// input rate, pre-skip, duration and packet count. Structural problems are errors.
pub fn ogg_opus_info(ogg: &[u8]) -> Result<OggOpusInfo, MediaError> {
    Ok(parse(ogg)?.info)
}

/// Decode every packet to mono 48 kHz floats with pre-skip and end trimming applied (stereo is
/// averaged; `OpusHead` output gain is honoured). A packet libopus refuses is
/// [`MediaError::BadOgg`]. Refuses more than `max_seconds` of coded audio before decoding.
pub(crate) fn decode_mono(parsed: &Parsed, max_seconds: u32) -> Result<Vec<f32>, MediaError> {
    let limit = u64::from(max_seconds.min(MAX_SECONDS)) * RATE;
    if parsed.coded_samples > limit {
        return Err(MediaError::TooLong {
            seconds: parsed.coded_samples / RATE,
            max_seconds: max_seconds.min(MAX_SECONDS),
        });
    }
    let info = &parsed.info;
    let channels = if info.channels == 2 {
        opus::Channels::Stereo
    } else {
        opus::Channels::Mono
    };
    let nch = usize::from(info.channels);
    let mut dec = opus::Decoder::new(48_000, channels)?;
    dec.set_gain(i32::from(info.output_gain))?;
    let keep_from = u64::from(info.pre_skip);
    let keep_to = keep_from + info.samples;
    let mut out = Vec::with_capacity(usize::try_from(info.samples).unwrap_or(0));
    let mut pcm = vec![0f32; MAX_PACKET_SAMPLES * nch];
    let mut pos: u64 = 0;
    for (i, p) in parsed.packets.iter().enumerate() {
        let n = dec
            .decode_float(p, &mut pcm, false)
            .map_err(|e| bad(format!("audio packet {i} does not decode: {e}")))?;
        for frame in pcm[..n * nch].chunks_exact(nch) {
            if (keep_from..keep_to).contains(&pos) {
                let v = frame.iter().sum::<f32>() / nch as f32;
                out.push(if v.is_finite() { v } else { 0.0 });
            }
            pos += 1;
        }
    }
    Ok(out)
}

/// Decode a stored Ogg Opus file to a 16-bit mono 48 kHz WAV (for `ivm play`); honours
/// pre-skip, end trimming and output gain. Streams longer than [`MAX_SECONDS`] are refused.
pub fn ogg_opus_to_wav(ogg: &[u8]) -> Result<Vec<u8>, MediaError> {
    let parsed = parse(ogg)?;
    let pcm = decode_mono(&parsed, MAX_SECONDS)?;
    crate::wav::encode_wav_mono(&dsp::to_i16(&pcm), 48_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tone_i16(n: usize, freq: f32, amp: f32) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * 32_767.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn writer_output_parses_back() {
        for n in [1usize, 959, 960, 961, 48_000, 48_000 * 3 + 17] {
            let ogg = encode_pcm_mono(&tone_i16(n, 440.0, 0.3), 16_000).expect("encode");
            let info = ogg_opus_info(&ogg).expect("info");
            assert_eq!(info.channels, 1);
            assert_eq!(info.input_rate, 16_000);
            assert_eq!(info.samples, n as u64, "exact sample count");
            let want_ms = (n as u64 * 1000 / 48_000) as i64;
            assert!((i64::from(info.duration_ms) - want_ms).abs() <= 20);
            assert!(info.has_eos);
            assert!(info.pre_skip > 0);
            let wav = ogg_opus_to_wav(&ogg).expect("decode");
            assert_eq!(wav.len(), 44 + 2 * n);
        }
    }

    #[test]
    fn output_is_deterministic() {
        let x = tone_i16(10_000, 300.0, 0.5);
        assert_eq!(
            encode_pcm_mono(&x, 48_000).ok(),
            encode_pcm_mono(&x, 48_000).ok()
        );
    }

    #[test]
    fn decoded_tone_resembles_input() {
        let x = tone_i16(48_000, 440.0, 0.5);
        let ogg = encode_pcm_mono(&x, 48_000).expect("encode");
        let parsed = parse(&ogg).expect("parse");
        let y = decode_mono(&parsed, 10).expect("decode");
        assert_eq!(y.len(), x.len());
        // Pre-skip is honoured: the decoded tone is aligned with the input (correlation ~ 1).
        let xs = dsp::to_f32(&x);
        let (a, b) = (&xs[4_800..43_200], &y[4_800..43_200]);
        let dot: f32 = a.iter().zip(b).map(|(p, q)| p * q).sum();
        let na: f32 = a.iter().map(|p| p * p).sum::<f32>().sqrt();
        let nb: f32 = b.iter().map(|q| q * q).sum::<f32>().sqrt();
        assert!(dot / (na * nb) > 0.95, "correlation {}", dot / (na * nb));
    }

    #[test]
    fn empty_is_no_sound() {
        assert_eq!(encode_pcm_mono(&[], 48_000), Err(MediaError::NoSound));
    }

    #[test]
    fn bit_flips_never_panic() {
        let ogg = encode_pcm_mono(&tone_i16(9_600, 440.0, 0.3), 48_000).expect("encode");
        for i in 0..ogg.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = ogg.clone();
                b[i] ^= bit;
                let _ = ogg_opus_info(&b);
                let _ = ogg_opus_to_wav(&b);
            }
        }
    }

    #[test]
    fn rejects_structural_problems() {
        assert!(matches!(ogg_opus_info(b""), Err(MediaError::BadOgg(_))));
        assert!(matches!(ogg_opus_info(b"OggS"), Err(MediaError::BadOgg(_))));
        assert!(ogg_opus_info(b"OggS\0\x02junkjunkjunkjunkjunkjunkjunk").is_err());
        // A stream whose first packet is not OpusHead.
        let mut v = Vec::new();
        {
            let mut w = PacketWriter::new(&mut v);
            w.write_packet(
                b"\x01vorbis...".to_vec(),
                3,
                PacketWriteEndInfo::EndStream,
                0,
            )
            .expect("write");
        }
        assert!(matches!(ogg_opus_info(&v), Err(MediaError::Unsupported(_))));
        // Headers only: valid, zero duration.
        let mut v = Vec::new();
        {
            let mut w = PacketWriter::new(&mut v);
            w.write_packet(opus_head(1, 312, 0), 3, PacketWriteEndInfo::EndPage, 0)
                .expect("w");
            w.write_packet(opus_tags(), 3, PacketWriteEndInfo::EndStream, 0)
                .expect("w");
        }
        let info = ogg_opus_info(&v).expect("headers only");
        assert_eq!((info.samples, info.packets), (0, 0));
        // A granule far ahead of the audio.
        let mut v = Vec::new();
        {
            let mut w = PacketWriter::new(&mut v);
            w.write_packet(opus_head(1, 0, 0), 3, PacketWriteEndInfo::EndPage, 0)
                .expect("w");
            w.write_packet(opus_tags(), 3, PacketWriteEndInfo::EndPage, 0)
                .expect("w");
            // TOC 0xF8: CELT FB 20 ms, one frame; content bytes are arbitrary.
            w.write_packet(vec![0xF8, 0xFF, 0xFE], 3, PacketWriteEndInfo::EndPage, 960)
                .expect("w");
            w.write_packet(
                vec![0xF8, 0xFF, 0xFE],
                3,
                PacketWriteEndInfo::EndStream,
                1 << 40,
            )
            .expect("w");
        }
        assert!(matches!(ogg_opus_info(&v), Err(MediaError::BadOgg(_))));
        // Multichannel mapping family is unsupported.
        let mut head = opus_head(1, 0, 0);
        head[18] = 1;
        let mut v = Vec::new();
        {
            let mut w = PacketWriter::new(&mut v);
            w.write_packet(head, 3, PacketWriteEndInfo::EndPage, 0)
                .expect("w");
            w.write_packet(opus_tags(), 3, PacketWriteEndInfo::EndStream, 0)
                .expect("w");
        }
        assert!(matches!(ogg_opus_info(&v), Err(MediaError::Unsupported(_))));
    }

    #[test]
    fn tags_checker_is_bounded() {
        assert!(check_tags(&opus_tags()).is_ok());
        let mut t = b"OpusTags".to_vec();
        t.extend_from_slice(&u32::MAX.to_le_bytes());
        t.extend_from_slice(&[0; 8]);
        assert!(check_tags(&t).is_err());
        let mut t = b"OpusTags\0\0\0\0".to_vec();
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(check_tags(&t).is_err());
    }
}
