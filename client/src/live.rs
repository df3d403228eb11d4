//! Live talks heard by `ivm watch` (issue 13): the portions of each talk collected, in the
//! order the box forwarded them, into an Ogg Opus stream, and handed back whole when the
//! talk ends, for the driver to decode and save as a WAV (codec work, off the async
//! threads). Sans-IO: frames in, bytes out.

use std::collections::HashMap;

use ivm_media::{MediaError, OggOpusWriter};
use ivm_wire::talk::{Portion, PortionError, StreamId};
use ivm_wire::Guid;

/// The Opus encoder lookahead browsers and the `ivm` client use (RFC 7845 pre-skip).
const PRE_SKIP: u16 = 312;
/// At most this many talks heard at once; more are refused (a box carries 64).
pub const MAX_LIVE: usize = 64;

/// Why a frame or a talk could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The binary frame is not a portion.
    #[error("not a talk portion: {0}")]
    Portion(#[from] PortionError),
    /// A portion for a talk that was not announced (or has ended).
    #[error("portion for unknown stream {0}")]
    UnknownStream(StreamId),
    /// Too many talks at once.
    #[error("more than {MAX_LIVE} live talks at once")]
    TooMany,
    /// The Opus packet could not be stored.
    #[error("{0}")]
    Media(#[from] MediaError),
}

/// One talk heard so far.
struct Heard {
    from: Guid,
    ogg: OggOpusWriter,
}

/// A talk that ended, as heard.
#[derive(Debug)]
pub struct Finished {
    /// The speaker.
    pub from: Guid,
    /// What arrived, as Ogg Opus (`None` when no portion did).
    pub ogg: Option<Vec<u8>>,
    /// Portions heard.
    pub portions: u32,
}

/// Every live talk being heard.
#[derive(Default)]
pub struct LiveTalks {
    talks: HashMap<StreamId, Heard>,
}

impl LiveTalks {
    /// `talk_incoming`: start collecting `stream`.
    pub fn begin(&mut self, stream: StreamId, from: Guid) -> Result<(), LiveError> {
        if !self.talks.contains_key(&stream) && self.talks.len() >= MAX_LIVE {
            return Err(LiveError::TooMany);
        }
        let ogg = OggOpusWriter::new(stream, PRE_SKIP, 48_000)?;
        self.talks.insert(stream, Heard { from, ogg });
        Ok(())
    }

    /// A binary frame: one portion of a talk being heard. Returns its stream and sequence.
    pub fn portion(&mut self, frame: &[u8]) -> Result<(StreamId, u32), LiveError> {
        let p = Portion::decode(frame)?;
        let heard = self
            .talks
            .get_mut(&p.stream)
            .ok_or(LiveError::UnknownStream(p.stream))?;
        heard.ogg.push(&p.opus)?;
        Ok((p.stream, p.seq))
    }

    /// `talk_end`: what arrived for `stream`, or `None` if it was not being heard.
    pub fn finish(&mut self, stream: StreamId) -> Option<Result<Finished, LiveError>> {
        let heard = self.talks.remove(&stream)?;
        let portions = heard.ogg.packets();
        let ogg = if portions == 0 {
            None
        } else {
            match heard.ogg.finish() {
                Ok(o) => Some(o),
                Err(e) => return Some(Err(e.into())),
            }
        };
        Some(Ok(Finished {
            from: heard.from,
            ogg,
            portions,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: StreamId, seq: u32) -> Vec<u8> {
        Portion {
            stream,
            seq,
            last: false,
            opus: vec![0xf8, 0xff, 0xfe],
        }
        .encode()
        .expect("encode")
    }

    #[test]
    fn portions_of_an_announced_talk_make_one_stream() {
        let mut live = LiveTalks::default();
        let ann = Guid::from_u128(1);
        assert!(matches!(
            live.portion(&frame(7, 0)),
            Err(LiveError::UnknownStream(7))
        ));
        live.begin(7, ann).expect("begin");
        for seq in 0..5 {
            assert_eq!(live.portion(&frame(7, seq)).expect("portion"), (7, seq));
        }
        assert!(matches!(live.portion(b"junk"), Err(LiveError::Portion(_))));
        let done = live.finish(7).expect("known").expect("ok");
        assert_eq!(done.from, ann);
        assert_eq!(done.portions, 5);
        let info = ivm_media::ogg_opus_info(&done.ogg.expect("audio")).expect("valid Ogg Opus");
        assert_eq!(info.pre_skip, PRE_SKIP);
        assert!(live.finish(7).is_none());
        // A talk with no portion leaves nothing to save.
        live.begin(8, ann).expect("begin");
        assert!(live.finish(8).expect("known").expect("ok").ogg.is_none());
    }
}
