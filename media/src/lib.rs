//! The audio pipeline: uploaded WAV or Ogg Opus in, normalised mono Ogg Opus out.
//!
//! Pure: bytes in, bytes out; no I/O, no clock, no async. Every parser is bounded and returns
//! a [`MediaError`] on bad input rather than panicking. Callers run it off the async threads
//! (`spawn_blocking` or a `SyncArbiter`): encoding a minute of audio takes tens of milliseconds.
//!
//! # Layout
//! - `upload.rs`: [`prepare_upload`], the entry point for uploads: sniff, check, process.
//! - `wav.rs`: RIFF/WAVE reader ([`wav_to_pcm`]) and 16-bit mono writer ([`encode_wav_mono`]).
//! - `resample.rs`: [`resample_to_48k`], a polyphase windowed-sinc interpolator.
//! - `dsp.rs`: [`condition_speech`] (silence trim, gain normalisation, peak limiter) and
//!   [`peaks`], the waveform summary.
//! - `ogg_opus.rs`: RFC 7845 writer ([`encode_pcm_mono`]), reader ([`ogg_opus_info`]) and
//!   decoder ([`ogg_opus_to_wav`]).
//! - `ogg_writer.rs`: [`OggOpusWriter`], the incremental writer for Opus packets that arrive
//!   one at a time (a live talk's stored copy).
//! - `ogg_page.rs`: the bounded Ogg page reader under it (CRC, lacing, one logical stream).
//! - `salvage.rs`: [`salvage_ogg_opus`], a talk's copy cut short by a crash made whole again
//!   (torn last page dropped, EOS written); [`ogg_opus_peaks`], the waveform of a stored file.
//! - `frame_encoder.rs`: [`OpusFrameEncoder`], one Opus packet per 20 ms frame, for live talks.
//! - `frame_decoder.rs`: [`OpusFrameDecoder`], one packet at a time to PCM, for a live talk
//!   played to a phone.
//! - `synth.rs`: [`synthetic_voice`], the deterministic speech-like signal the benchmarks
//!   send and the quality tests measure.
//! - `error.rs`: [`MediaError`].
//!
//! # Flow
//! ```text
//! WAV  -> wav_to_pcm -> [resample_to_48k unless 8/12/16/24 kHz] -> condition_speech_at
//!      -> encode_pcm_mono_at (libopus at that rate) -> Prepared
//! Ogg  -> ogg_opus::parse -> decode every packet -> mono: keep bytes | stereo: downmix, encode
//! phone (later): G.711 8 kHz -> resample_to_48k -> condition_speech -> encode_pcm_mono
//! ```

mod dsp;
mod error;
mod frame_decoder;
mod frame_encoder;
mod ogg_opus;
mod ogg_page;
mod ogg_writer;
mod resample;
mod salvage;
mod synth;
mod upload;
mod wav;

pub use dsp::{
    condition_speech, condition_speech_at, normalise, peaks, to_i16, trim_silence, PEAKS,
};
pub use error::MediaError;
pub use frame_decoder::OpusFrameDecoder;
pub use frame_encoder::{OpusFrameEncoder, FRAME_SAMPLES};
pub use ogg_opus::{
    encode_pcm_mono, encode_pcm_mono_at, ogg_opus_info, ogg_opus_to_wav, OggOpusInfo, MAX_SECONDS,
};
pub use ogg_writer::{packet_samples, OggOpusWriter};
pub use resample::{resample_to_48k, OUTPUT_RATE};
pub use salvage::{ogg_opus_peaks, salvage_ogg_opus, Salvaged};
pub use synth::{synthetic_voice, SYNTHETIC_VOICE_RATE};
pub use upload::{prepare_upload, Prepared, SourceFormat};
pub use wav::{encode_wav_mono, wav_to_pcm, MonoPcm, MAX_RATE, MIN_RATE};

#[cfg(test)]
mod quality_tests;
#[cfg(test)]
mod tests;
