//! The crate's one error type.

/// Why an audio file could not be read, checked or encoded.
///
/// The server maps these to user-facing answers, so every message says what was wrong with the
/// input in plain words; none of them means the process is in a bad state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The bytes are a format (or a variant of one) this crate does not accept.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// The bytes claim to be RIFF/WAVE but their structure is broken.
    #[error("malformed WAV file: {0}")]
    BadWav(String),
    /// The bytes claim to be Ogg Opus but their pages, headers or packets are broken.
    #[error("malformed Ogg Opus file: {0}")]
    BadOgg(String),
    /// One Opus packet handed to [`crate::OggOpusWriter`] is empty, or its TOC byte does not
    /// describe a valid packet, or it holds more than 120 ms.
    #[error("bad Opus packet: {0}")]
    BadPacket(String),
    /// Empty input, no samples, or only silence: nothing worth delivering.
    #[error("the recording holds no sound")]
    NoSound,
    /// The audio is longer than the limit the caller set (or the crate's hard cap).
    #[error("the recording is too long: about {seconds} s, the limit is {max_seconds} s")]
    TooLong {
        /// Length of the audio (or a lower bound of it), in whole seconds.
        seconds: u64,
        /// The limit that applied.
        max_seconds: u32,
    },
    /// libopus refused an operation (encoder set-up or encoding; decode failures of uploaded
    /// packets are reported as [`MediaError::BadOgg`]).
    #[error("Opus codec error: {0}")]
    Codec(String),
}

impl From<opus::Error> for MediaError {
    fn from(e: opus::Error) -> Self {
        MediaError::Codec(e.to_string())
    }
}
