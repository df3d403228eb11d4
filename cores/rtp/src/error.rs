//! The crate's error, gathering each module's own.

/// Any error of this crate. Each module has its own error type; this one is for callers
/// that want a single type (it converts from each with `?`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An RTP packet could not be read or built.
    #[error(transparent)]
    Packet(#[from] crate::packet::PacketError),
    /// A telephone-event payload could not be read.
    #[error(transparent)]
    Dtmf(#[from] crate::dtmf::DtmfError),
    /// A stored message could not be made ready for playback.
    #[error(transparent)]
    Transcode(#[from] crate::transcode::TranscodeError),
    /// A recording could not be encoded.
    #[error(transparent)]
    Record(#[from] crate::recorder::RecordError),
    /// A prompt name is unknown.
    #[error(transparent)]
    Prompt(#[from] crate::prompts::PromptError),
}
