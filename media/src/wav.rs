//! RIFF/WAVE reading (PCM and float, mono or stereo) and 16-bit mono writing.
//!
//! The reader walks chunks with every declared size checked against the bytes that are really
//! there; it reads the header first ([`parse`]) so a caller can refuse over-long audio before
//! decoding anything.

use crate::MediaError;

/// Lowest sample rate accepted (narrow-band telephone audio).
pub const MIN_RATE: u32 = 8_000;
/// Highest sample rate accepted (Opus's native rate; nothing above is useful for speech).
pub const MAX_RATE: u32 = 48_000;
/// Most chunks walked before giving up (real files have a handful).
const MAX_CHUNKS: usize = 1024;
/// A data size at least this large that overruns the file is taken as a streaming writer's
/// placeholder ("until the end of the file") rather than as truncation.
const PLACEHOLDER_SIZE: u32 = 0x7000_0000;

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_ALAW: u16 = 6;
const FORMAT_MULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The tail shared by the KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUIDs after the format code.
const GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// How samples are stored in the data chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Unsigned 8-bit.
    U8,
    /// Signed little-endian 16-bit.
    I16,
    /// Signed little-endian 24-bit.
    I24,
    /// Signed little-endian 32-bit.
    I32,
    /// IEEE float 32-bit.
    F32,
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::I16 => 2,
            Encoding::I24 => 3,
            Encoding::I32 | Encoding::F32 => 4,
        }
    }
}

/// A WAV file's header and a view of its sample bytes, before decoding.
#[derive(Debug, Clone)]
pub(crate) struct WavView<'a> {
    encoding: Encoding,
    /// Channels (1 or 2).
    pub channels: u16,
    /// Sample rate in Hz.
    pub rate: u32,
    /// Whole frames only.
    data: &'a [u8],
}

/// Mono PCM decoded from a WAV file, as floats in -1.0..=1.0 (float input may exceed it a little).
///
/// The phone path and the upload path both start from this shape, so it is public.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoPcm {
    /// Mono samples (stereo is averaged).
    pub samples: Vec<f32>,
    /// The file's sample rate in Hz.
    pub rate: u32,
}

fn bad(msg: impl Into<String>) -> MediaError {
    MediaError::BadWav(msg.into())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn printable(id: &[u8]) -> String {
    id.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Parse the `fmt ` chunk body into (encoding, channels, rate).
fn parse_fmt(body: &[u8]) -> Result<(Encoding, u16, u32), MediaError> {
    if body.len() < 16 {
        return Err(bad(format!(
            "the fmt chunk is {} bytes; at least 16 are needed",
            body.len()
        )));
    }
    let mut tag = u16_at(body, 0).unwrap_or(0);
    let channels = u16_at(body, 2).unwrap_or(0);
    let rate = u32_at(body, 4).unwrap_or(0);
    let block_align = u16_at(body, 12).unwrap_or(0);
    let bits = u16_at(body, 14).unwrap_or(0);
    if tag == FORMAT_EXTENSIBLE {
        if body.len() < 40 {
            return Err(bad(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes",
            ));
        }
        let guid = &body[24..40];
        if guid[2..16] != GUID_TAIL {
            return Err(MediaError::Unsupported(
                "WAV with an unknown WAVE_FORMAT_EXTENSIBLE sub-format".into(),
            ));
        }
        tag = u16_at(guid, 0).unwrap_or(0);
    }
    if channels == 0 {
        return Err(bad("the fmt chunk declares 0 channels"));
    }
    if channels > 2 {
        return Err(MediaError::Unsupported(format!(
            "WAV with {channels} channels; only mono or stereo is accepted"
        )));
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8) => Encoding::U8,
        (FORMAT_PCM, 16) => Encoding::I16,
        (FORMAT_PCM, 24) => Encoding::I24,
        (FORMAT_PCM, 32) => Encoding::I32,
        (FORMAT_FLOAT, 32) => Encoding::F32,
        (FORMAT_PCM, b) => {
            return Err(MediaError::Unsupported(format!(
                "{b}-bit integer WAV; 8, 16, 24 or 32 bits are accepted"
            )))
        }
        (FORMAT_FLOAT, b) => {
            return Err(MediaError::Unsupported(format!(
                "{b}-bit float WAV; only 32-bit float is accepted"
            )))
        }
        (FORMAT_ALAW | FORMAT_MULAW, _) => {
            return Err(MediaError::Unsupported(
                "G.711 (A-law/mu-law) WAV; convert it to PCM first".into(),
            ))
        }
        (t, _) => {
            return Err(MediaError::Unsupported(format!(
                "WAV format tag {t:#06x}; only PCM or IEEE float is accepted"
            )))
        }
    };
    if usize::from(block_align) != usize::from(channels) * encoding.bytes() {
        return Err(bad(format!(
            "block align {block_align} does not match {channels} channel(s) of {bits} bits"
        )));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(MediaError::Unsupported(format!(
            "WAV sample rate {rate} Hz; {MIN_RATE}..{MAX_RATE} Hz is accepted"
        )));
    }
    Ok((encoding, channels, rate))
}

/// Read a RIFF/WAVE header and locate its sample data, without decoding samples.
pub(crate) fn parse(bytes: &[u8]) -> Result<WavView<'_>, MediaError> {
    if bytes.len() < 12 {
        return Err(bad("shorter than a RIFF header"));
    }
    if &bytes[0..4] != b"RIFF" {
        return Err(bad("no RIFF signature"));
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(MediaError::Unsupported(
            "a RIFF file that is not WAVE".into(),
        ));
    }
    let mut pos = 12usize;
    let mut fmt: Option<(Encoding, u16, u32)> = None;
    let mut data: Option<&[u8]> = None;
    let mut chunks = 0usize;
    while pos + 8 <= bytes.len() && data.is_none() {
        chunks += 1;
        if chunks > MAX_CHUNKS {
            return Err(bad(format!("more than {MAX_CHUNKS} chunks")));
        }
        let id = &bytes[pos..pos + 4];
        let size = u32_at(bytes, pos + 4).unwrap_or(0);
        let body_start = pos + 8;
        let remaining = bytes.len() - body_start;
        let declared = usize::try_from(size).unwrap_or(usize::MAX);
        if id == b"data" {
            let Some((encoding, channels, _)) = fmt else {
                return Err(bad("the data chunk comes before the fmt chunk"));
            };
            let len = if declared <= remaining {
                declared
            } else if size >= PLACEHOLDER_SIZE {
                remaining
            } else {
                return Err(bad(format!(
                    "the data chunk declares {size} bytes but only {remaining} follow (truncated)"
                )));
            };
            let frame = usize::from(channels) * encoding.bytes();
            let whole = len - len % frame;
            data = Some(&bytes[body_start..body_start + whole]);
        } else {
            if declared > remaining {
                return Err(bad(format!(
                    "chunk '{}' declares {size} bytes but only {remaining} follow",
                    printable(id)
                )));
            }
            if id == b"fmt " {
                if fmt.is_some() {
                    return Err(bad("two fmt chunks"));
                }
                fmt = Some(parse_fmt(&bytes[body_start..body_start + declared])?);
            }
            // Chunks are padded to an even size; a missing final pad byte is tolerated.
            pos = body_start
                .saturating_add(declared)
                .saturating_add(declared & 1);
        }
    }
    let (encoding, channels, rate) = fmt.ok_or_else(|| bad("no fmt chunk"))?;
    let data = data.ok_or_else(|| bad("no data chunk"))?;
    Ok(WavView {
        encoding,
        channels,
        rate,
        data,
    })
}

impl WavView<'_> {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.data.len() / (usize::from(self.channels) * self.encoding.bytes())
    }

    /// Decode to mono floats, averaging the channels.
    pub fn to_mono(&self) -> MonoPcm {
        let width = self.encoding.bytes();
        let channels = usize::from(self.channels);
        let scale = 1.0 / channels as f32;
        let samples = self
            .data
            .chunks_exact(width * channels)
            .map(|frame| {
                frame
                    .chunks_exact(width)
                    .map(|s| self.sample(s))
                    .sum::<f32>()
                    * scale
            })
            .collect();
        MonoPcm {
            samples,
            rate: self.rate,
        }
    }

    fn sample(&self, s: &[u8]) -> f32 {
        match (self.encoding, s) {
            (Encoding::U8, [a]) => (f32::from(*a) - 128.0) / 128.0,
            (Encoding::I16, [a, b]) => f32::from(i16::from_le_bytes([*a, *b])) / 32_768.0,
            (Encoding::I24, [a, b, c]) => {
                (i32::from_le_bytes([0, *a, *b, *c]) >> 8) as f32 / 8_388_608.0
            }
            (Encoding::I32, [a, b, c, d]) => {
                i32::from_le_bytes([*a, *b, *c, *d]) as f32 / 2_147_483_648.0
            }
            (Encoding::F32, [a, b, c, d]) => {
                let v = f32::from_le_bytes([*a, *b, *c, *d]);
                // Float files may run hot; keep 24 dB of headroom, drop NaN and infinities.
                if v.is_finite() {
                    v.clamp(-16.0, 16.0)
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }
}

/// Decode a WAV file (see [`crate::prepare_upload`] for what is accepted) to mono float PCM at its
/// own rate. The phone path and tests use it; uploads go through [`crate::prepare_upload`].
pub fn wav_to_pcm(bytes: &[u8]) -> Result<MonoPcm, MediaError> {
    Ok(parse(bytes)?.to_mono())
}

/// Write 16-bit mono PCM as a canonical 44-byte-header WAV file, for players that want WAV.
///
/// Fails only if the data would not fit a RIFF size field (over 2 GiB).
pub fn encode_wav_mono(samples: &[i16], rate: u32) -> Result<Vec<u8>, MediaError> {
    let data_len = samples
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= u32::MAX - 36)
        .ok_or_else(|| MediaError::TooLong {
            seconds: samples.len() as u64 / u64::from(rate.max(1)),
            max_seconds: u32::MAX / 2 / rate.max(1),
        })?;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate.saturating_mul(2)).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a WAV by hand: fmt fields and raw data bytes, with optional extra chunks first.
    pub(crate) fn build(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let block = channels * (bits / 8);
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        fmt.extend_from_slice(&block.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        out.extend_from_slice(&fmt);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn i16_bytes(v: &[i16]) -> Vec<u8> {
        v.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn good_16bit_mono() {
        let w = build(1, 1, 16_000, 16, &i16_bytes(&[0, 16_384, -16_384, 32_767]));
        let pcm = wav_to_pcm(&w).expect("parse");
        assert_eq!(pcm.rate, 16_000);
        assert_eq!(pcm.samples, vec![0.0, 0.5, -0.5, 32_767.0 / 32_768.0]);
    }

    #[test]
    fn stereo_is_averaged() {
        let w = build(1, 2, 8_000, 16, &i16_bytes(&[16_384, 0, -16_384, -16_384]));
        assert_eq!(wav_to_pcm(&w).expect("parse").samples, vec![0.25, -0.5]);
    }

    #[test]
    fn other_widths_and_float() {
        let w = build(1, 1, 8_000, 8, &[128, 255, 0]);
        assert_eq!(
            wav_to_pcm(&w).expect("u8").samples,
            vec![0.0, 127.0 / 128.0, -1.0]
        );
        let w = build(1, 1, 8_000, 24, &[0, 0, 0x40, 0, 0, 0xC0]);
        assert_eq!(wav_to_pcm(&w).expect("i24").samples, vec![0.5, -0.5]);
        let w = build(1, 1, 8_000, 32, &(i32::MIN).to_le_bytes());
        assert_eq!(wav_to_pcm(&w).expect("i32").samples, vec![-1.0]);
        let mut d = 0.25f32.to_le_bytes().to_vec();
        d.extend_from_slice(&f32::NAN.to_le_bytes());
        d.extend_from_slice(&1e30f32.to_le_bytes());
        let w = build(3, 1, 48_000, 32, &d);
        assert_eq!(wav_to_pcm(&w).expect("f32").samples, vec![0.25, 0.0, 16.0]);
    }

    #[test]
    fn extensible_pcm() {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&FORMAT_EXTENSIBLE.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&44_100u32.to_le_bytes());
        fmt.extend_from_slice(&88_200u32.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        fmt.extend_from_slice(&4u32.to_le_bytes());
        fmt.extend_from_slice(&[1, 0]);
        fmt.extend_from_slice(&GUID_TAIL);
        let mut w = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        w.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        w.extend_from_slice(&fmt);
        w.extend_from_slice(b"data\x02\0\0\0\x00\x40");
        let pcm = wav_to_pcm(&w).expect("extensible");
        assert_eq!((pcm.rate, pcm.samples), (44_100, vec![0.5]));
    }

    #[test]
    fn skips_unknown_chunks_with_padding() {
        let w = build(1, 1, 8_000, 16, &i16_bytes(&[1, 2]));
        // Insert an odd-sized LIST chunk (plus pad byte) between RIFF header and fmt.
        let mut x = w[..12].to_vec();
        x.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        x.extend_from_slice(&w[12..]);
        assert_eq!(wav_to_pcm(&x).expect("parse").samples.len(), 2);
    }

    #[test]
    fn truncated_everywhere_never_panics() {
        let w = build(1, 2, 22_050, 16, &i16_bytes(&[5; 64]));
        for cut in 0..w.len() {
            let _ = wav_to_pcm(&w[..cut]);
        }
        // Cut inside the data: a declared size larger than the file is truncation.
        assert!(matches!(
            wav_to_pcm(&w[..w.len() - 10]),
            Err(MediaError::BadWav(_))
        ));
        // Cut before data: no data chunk.
        assert!(matches!(wav_to_pcm(&w[..36]), Err(MediaError::BadWav(_))));
        assert!(matches!(wav_to_pcm(&w[..4]), Err(MediaError::BadWav(_))));
    }

    #[test]
    fn bad_chunk_sizes() {
        let mut w = build(1, 1, 8_000, 16, &i16_bytes(&[1, 2, 3]));
        // fmt chunk claims 1 GiB.
        w[16..20].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        assert!(matches!(wav_to_pcm(&w), Err(MediaError::BadWav(_))));
        // fmt chunk claims u32::MAX.
        w[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(wav_to_pcm(&w), Err(MediaError::BadWav(_))));
        // fmt chunk too small.
        let mut w = build(1, 1, 8_000, 16, &i16_bytes(&[1, 2, 3]));
        w[16..20].copy_from_slice(&8u32.to_le_bytes());
        assert!(wav_to_pcm(&w).is_err());
    }

    #[test]
    fn huge_declared_data_is_placeholder_or_truncation() {
        let mut w = build(1, 1, 8_000, 16, &i16_bytes(&[1, 2, 3]));
        let at = w.len() - 6 - 4;
        // Streaming writers put 0xFFFFFFFF: read to the end of the file.
        w[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_to_pcm(&w).expect("placeholder").samples.len(), 3);
        // A plausible size that overruns the file is truncation.
        w[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(wav_to_pcm(&w), Err(MediaError::BadWav(_))));
    }

    #[test]
    fn unsupported_formats() {
        let d = [0u8; 8];
        for (tag, ch, rate, bits) in [
            (2u16, 1u16, 8_000u32, 16u16), // ADPCM
            (7, 1, 8_000, 8),              // mu-law
            (1, 1, 8_000, 12),             // odd width
            (3, 1, 8_000, 64),             // double
            (1, 3, 8_000, 16),             // 3 channels
            (1, 1, 96_000, 16),            // too fast
            (1, 1, 4_000, 16),             // too slow
        ] {
            let w = build(tag, ch, rate, bits, &d);
            assert!(
                matches!(wav_to_pcm(&w), Err(MediaError::Unsupported(_))),
                "{tag} {bits}"
            );
        }
        let w = build(1, 0, 8_000, 16, &d);
        assert!(
            matches!(wav_to_pcm(&w), Err(MediaError::BadWav(_))),
            "0 channels"
        );
        let mut w = build(1, 1, 8_000, 16, &d);
        w[32..34].copy_from_slice(&7u16.to_le_bytes()); // block align wrong
        assert!(matches!(wav_to_pcm(&w), Err(MediaError::BadWav(_))));
    }

    #[test]
    fn writer_round_trips() {
        let w = encode_wav_mono(&[1, -2, 32_767], 48_000).expect("write");
        assert_eq!(w.len(), 44 + 6);
        let pcm = wav_to_pcm(&w).expect("read back");
        assert_eq!(pcm.samples.len(), 3);
        assert_eq!(pcm.rate, 48_000);
    }
}
