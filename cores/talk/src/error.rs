//! The crate's one error type: why a portion or a request was refused. Each refusal changes
//! nothing: no portion is forwarded, nothing is stored, the talk goes on (unless the error
//! says it ended).

use ivm_wire::talk::StreamId;
use ivm_wire::Guid;

/// Why the core refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TalkError {
    /// No live or recently ended talk has this id.
    #[error("no talk with stream id {0}")]
    UnknownStream(StreamId),
    /// The sender is not the talk's speaker.
    #[error("stream {stream} belongs to another speaker")]
    NotOwner {
        /// The stream named.
        stream: StreamId,
        /// Who tried to send on it.
        sender: Guid,
    },
    /// The talk has ended; portions and ends after it are refused.
    #[error("stream {0} has ended")]
    Ended(StreamId),
    /// The same sequence number as the newest accepted portion.
    #[error("portion {seq} is a duplicate")]
    Duplicate {
        /// Its sequence number.
        seq: u32,
    },
    /// Older than the newest accepted portion: there is no reorder window, it is dropped.
    #[error("portion {seq} arrived after portion {newest}; late portions are dropped")]
    Late {
        /// Its sequence number.
        seq: u32,
        /// The newest accepted sequence number.
        newest: u32,
    },
    /// More bytes than any conforming 60 ms Opus packet.
    #[error("portion of {len} bytes is over the {max}-byte limit")]
    Oversize {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not an Opus packet (empty, bad TOC).
    #[error("portion is not an Opus packet: {0}")]
    NotOpus(String),
    /// Longer than the talk's frame duration.
    #[error("portion of {ms} ms is longer than the talk's {frame_ms} ms frames")]
    LongerThanFrame {
        /// Its length in milliseconds (rounded down).
        ms: u32,
        /// The talk's frame duration.
        frame_ms: u16,
    },
    /// The speaker is sending audio faster than it can be spoken.
    #[error("portions are {ahead_ms} ms ahead of real time")]
    AheadOfTime {
        /// How far the audio would run ahead of the time since the talk started.
        ahead_ms: u64,
    },
    /// The portion would pass the message length (or size) limit; the talk ends there.
    #[error("the talk reached the message length limit")]
    LengthLimit,
    /// Frame duration not 20, 40 or 60 ms.
    #[error("frame duration {0} ms is not one of 20, 40, 60")]
    FrameDuration(u16),
    /// A talk needs at least one recipient, and no more than the wire allows.
    #[error("a talk needs 1 to {max} recipients, not {count}")]
    Recipients {
        /// How many were named.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The speaker already has a live talk.
    #[error("the speaker already has a live talk (stream {0})")]
    AlreadyTalking(StreamId),
    /// The stored copy could not be started (the Ogg writer failed writing to memory; not
    /// expected, reported rather than unwrapped).
    #[error("the stored copy could not be started: {0}")]
    Store(String),
    /// The box carries as many live talks as its limit.
    #[error("the box already carries {0} live talks")]
    Busy(usize),
}
