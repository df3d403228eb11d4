//! `prepare_upload`: sniff an uploaded file, check it, and turn it into what the store keeps.

use crate::dsp::{self, PEAKS};
use crate::ogg_opus::{self, MAX_SECONDS};
use crate::{resample, wav, MediaError};

/// Extra seconds of raw input tolerated beyond `max_seconds` before trimming, since trimming
/// only removes silence; anything longer is refused before it is decoded.
const TRIM_SLACK_SECONDS: u64 = 60;

/// Result of preparing an uploaded file for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The Ogg Opus file to store (mono, 48 kHz granules).
    pub ogg: Vec<u8>,
    /// Playable length of `ogg`, in milliseconds.
    pub duration_ms: u32,
    /// Waveform summary: [`PEAKS`] values, see [`crate::peaks`]. Of the decoded `ogg` for an
    /// Ogg upload; of the PCM that was encoded for a WAV.
    pub peaks: Vec<u8>,
    /// What the upload was, for logs and for telling the sender what happened to it.
    pub source: SourceFormat,
}

/// The format an upload arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// RIFF/WAVE PCM: it was resampled, trimmed, normalised and encoded.
    Wav,
    /// Ogg Opus: mono is stored byte for byte; stereo was downmixed and re-encoded.
    OggOpus,
}

/// What the first bytes say a file is.
enum Sniffed {
    Wav,
    Ogg,
}

fn sniff(b: &[u8]) -> Result<Sniffed, MediaError> {
    let unsupported = |what: &str| {
        Err(MediaError::Unsupported(format!(
            "{what}; send WAV (PCM) or Ogg Opus"
        )))
    };
    match b {
        [] => Err(MediaError::NoSound),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Ok(Sniffed::Wav),
        [b'R', b'I', b'F', b'F', ..] => unsupported("a RIFF file that is not WAVE (AVI?)"),
        [b'R', b'I', b'F', b'X', ..] => unsupported("big-endian WAV (RIFX)"),
        [b'R', b'F', b'6', b'4', ..] => unsupported("RF64 WAV"),
        [b'O', b'g', b'g', b'S', ..] => Ok(Sniffed::Ogg),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => {
            unsupported("WebM/Matroska (a browser's default recording)")
        }
        [b'I', b'D', b'3', ..] => unsupported("MP3"),
        [0xFF, x, ..] if x & 0xE0 == 0xE0 => unsupported("MP3 or AAC (ADTS)"),
        [b'f', b'L', b'a', b'C', ..] => unsupported("FLAC"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => unsupported("MP4/M4A"),
        [b'F', b'O', b'R', b'M', ..] => unsupported("AIFF"),
        _ => unsupported("not a WAV or Ogg Opus file"),
    }
}

fn too_long(seconds: u64, max_seconds: u32) -> MediaError {
    MediaError::TooLong {
        seconds,
        max_seconds,
    }
}

/// Accept an upload and turn it into the Ogg Opus file the store keeps.
///
/// Sniffs the format: RIFF/WAVE PCM (8..48 kHz; 8/16/24/32-bit integer or 32-bit float; mono or
/// stereo, plain or WAVE_FORMAT_EXTENSIBLE) or Ogg Opus (`OggS` + `OpusHead`, mapping family 0).
/// Anything else is [`MediaError::Unsupported`] naming what it looks like.
///
/// * WAV: downmix, resample to 48 kHz unless the rate is one Opus codes natively (8, 12, 16,
///   24 kHz: kept), trim silence (120 ms padding kept), normalise speech to
///   about -20 dBFS RMS with peaks at most -1 dBFS, encode Opus (mono, 20 ms, 24 kbit/s).
/// * Ogg Opus: every header, page and packet is checked and every packet decoded; mono is kept
///   byte for byte, stereo is downmixed and re-encoded (no trimming or gain: the recorder did
///   that, and mono and stereo uploads should sound alike).
///
/// Empty input, no samples, or silence only is [`MediaError::NoSound`]. Audio longer than
/// `max_seconds` after trimming is [`MediaError::TooLong`]; `max_seconds` is clamped to
/// [`MAX_SECONDS`], and raw WAV audio more than 60 s over the limit is refused unread.
pub fn prepare_upload(bytes: &[u8], max_seconds: u32) -> Result<Prepared, MediaError> {
    let max_seconds = max_seconds.min(MAX_SECONDS);
    let limit_samples = u64::from(max_seconds) * 48_000;
    match sniff(bytes)? {
        Sniffed::Wav => {
            let view = wav::parse(bytes)?;
            let frames = view.frames() as u64;
            if frames == 0 {
                return Err(MediaError::NoSound);
            }
            let raw_seconds = frames / u64::from(view.rate);
            if raw_seconds > u64::from(max_seconds) + TRIM_SLACK_SECONDS {
                return Err(too_long(raw_seconds, max_seconds));
            }
            let pcm = view.to_mono();
            // A rate libopus takes natively is conditioned and encoded as it is: resampling
            // to 48 kHz adds nothing above the recording's own band and triples the work.
            let (x, rate) = if ogg_opus::NATIVE_RATES.contains(&pcm.rate) {
                (pcm.samples, pcm.rate)
            } else {
                let x48 = resample::resample_to_48k(&pcm.samples, pcm.rate)?;
                (x48, resample::OUTPUT_RATE)
            };
            let speech = dsp::condition_speech_at(&x, rate)?;
            let speech_48k = speech.len() as u64 * u64::from(48_000 / rate);
            if speech_48k > limit_samples {
                return Err(too_long(speech_48k / 48_000, max_seconds));
            }
            let pcm16 = dsp::to_i16(&speech);
            let ogg = ogg_opus::encode_pcm_mono_at(&pcm16, rate, pcm.rate)?;
            // Our own encoder's output: its pages are checked, but it is not decoded again
            // for the waveform (about a tenth of the work per upload, issue 18); the waveform is
            // drawn from the PCM that was encoded.
            let info = ogg_opus::ogg_opus_info(&ogg)?;
            Ok(Prepared {
                ogg,
                duration_ms: info.duration_ms,
                peaks: dsp::peaks(&pcm16),
                source: SourceFormat::Wav,
            })
        }
        Sniffed::Ogg => {
            let parsed = ogg_opus::parse(bytes)?;
            let info = &parsed.info;
            if info.samples == 0 {
                return Err(MediaError::NoSound);
            }
            if info.samples > limit_samples {
                return Err(too_long(info.samples / 48_000, max_seconds));
            }
            // Coded audio exceeds the playable length by pre-skip (at most 1.37 s) and the end
            // trimming of the last packet (at most 120 ms); more than that is refused undecoded.
            let decoded = ogg_opus::decode_mono(&parsed, max_seconds.saturating_add(2))?;
            if dsp::is_silent(&decoded) {
                return Err(MediaError::NoSound);
            }
            if info.channels == 1 {
                let pcm = dsp::to_i16(&decoded);
                Ok(Prepared {
                    ogg: bytes.to_vec(),
                    duration_ms: info.duration_ms,
                    peaks: dsp::peaks(&pcm),
                    source: SourceFormat::OggOpus,
                })
            } else {
                let ogg = ogg_opus::encode_pcm_mono(&dsp::to_i16(&decoded), info.input_rate)?;
                finish(ogg, SourceFormat::OggOpus)
            }
        }
    }
}

/// Decode what we just encoded (a final check) for its duration and peaks.
fn finish(ogg: Vec<u8>, source: SourceFormat) -> Result<Prepared, MediaError> {
    let parsed = ogg_opus::parse(&ogg)?;
    let decoded = ogg_opus::decode_mono(&parsed, MAX_SECONDS)?;
    let peaks = dsp::peaks(&dsp::to_i16(&decoded));
    debug_assert_eq!(peaks.len(), PEAKS);
    Ok(Prepared {
        duration_ms: parsed.info.duration_ms,
        ogg,
        peaks,
        source,
    })
}
