//! Intercom (live talk) on the WebSocket `/api/ws`: the binary frame that carries one "voice
//! message portion" (the founding document's action for a piece of a message sent while it is
//! still being spoken), and the message objects that start, accept, refuse, announce and end
//! a talk.
//!
//! Only the wire format lives here: the sans-IO stream core that enforces the rules is
//! `ivm-talk`, driven by the client actor for browsers, `ivm` and desk phones alike.
//!
//! # Binary frame (one WebSocket binary message = one portion)
//! ```text
//! offset size field
//! 0      2    magic "IT" (0x49 0x54)
//! 2      1    version, 1
//! 3      1    flags: bit 0 = last portion of the talk; other bits must be 0
//! 4      4    stream id, big-endian u32 (from `talk_accepted`; never 0)
//! 8      4    sequence number, big-endian u32, 0 for the first portion, +1 per portion
//! 12     n    one Opus packet (RFC 6716), 1 ..= MAX_PORTION_BYTES bytes
//! ```
//! The frame names no sender: the box knows who sent it from the authenticated socket, and
//! the stream core refuses portions for a stream that socket's user does not own.
//!
//! # Control actions (JSON text frames, [`Envelope`])
//! - `talk_start` (client → box): `destination` = recipients, object [`TalkStartObject`].
//! - `talk_accepted` (box → speaker, same id): [`TalkAcceptedObject`], with the stream id.
//! - `talk_refused` (box → speaker, same id): [`TalkRefusedObject`].
//! - `talk_incoming` (box → each live listener): [`TalkIncomingObject`].
//! - `talk_end` (client → box: [`TalkEndObject`]; box → speaker and listeners:
//!   [`TalkEndedObject`]).

use serde::{Deserialize, Serialize};

use crate::object::Envelope;
use crate::Guid;

/// A live talk's id on one box: small, because it is in every 20 ms portion's header; the box
/// hands it out in `talk_accepted` and never reuses one while the talk is live.
pub type StreamId = u32;

/// Action of the client frame that asks to start a talk.
pub const TALK_START: &str = "talk_start";
/// Action of the box's answer when a talk may start.
pub const TALK_ACCEPTED: &str = "talk_accepted";
/// Action of the box's answer when it may not.
pub const TALK_REFUSED: &str = "talk_refused";
/// Action the box sends a listener when a talk to them starts live.
pub const TALK_INCOMING: &str = "talk_incoming";
/// Action that ends a talk (client → box) or reports its end (box → everyone in it).
pub const TALK_END: &str = "talk_end";
/// The founding document's name for what a binary portion frame carries.
pub const VOICE_MESSAGE_PORTION: &str = "voice_message_portion";

/// Magic at the start of every portion frame.
pub const PORTION_MAGIC: [u8; 2] = *b"IT";
/// Version of the portion frame layout.
pub const PORTION_VERSION: u8 = 1;
/// Header bytes before the Opus packet.
pub const PORTION_HEADER: usize = 12;
/// Largest Opus packet in a portion. RFC 6716 caps one Opus frame at 1275 bytes and our
/// longest portion, 60 ms, holds up to three 20 ms frames (3825 bytes) plus a code-3 packet's
/// header and padding bytes; 4000 is also the output buffer libopus documents as enough for
/// any packet. A larger portion is not Opus from a conforming encoder, so it is refused.
pub const MAX_PORTION_BYTES: usize = 4_000;
/// Flag bit: this is the talk's last portion.
pub const FLAG_LAST: u8 = 0x01;
/// Frame durations a talk may use, in milliseconds (20 is the default).
pub const FRAME_DURATIONS_MS: [u16; 3] = [20, 40, 60];
/// The default frame duration.
pub const DEFAULT_FRAME_MS: u16 = 20;

/// One voice message portion: a piece of a live talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portion {
    /// The talk it belongs to.
    pub stream: StreamId,
    /// Its place in the talk, from 0.
    pub seq: u32,
    /// Whether the speaker says it is the last one.
    pub last: bool,
    /// One Opus packet.
    pub opus: Vec<u8>,
}

/// Why a binary frame is not a valid portion. The box answers with an `error` frame naming
/// this and drops the frame; nothing of the talk changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortionError {
    /// Fewer bytes than the header.
    #[error("portion frame of {0} bytes is shorter than its 12-byte header")]
    Short(usize),
    /// Not our magic.
    #[error("not a voice message portion (bad magic)")]
    Magic,
    /// A layout version this side does not know.
    #[error("portion frame version {0} is not supported (1 is)")]
    Version(u8),
    /// Reserved flag bits set.
    #[error("portion frame has unknown flags {0:#04x}")]
    Flags(u8),
    /// Stream id 0, which no talk has.
    #[error("portion frame names stream 0")]
    ZeroStream,
    /// No Opus bytes.
    #[error("portion frame carries no audio")]
    Empty,
    /// More Opus bytes than any conforming 60 ms packet has.
    #[error("portion of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Opus bytes in the frame.
        len: usize,
        /// [`MAX_PORTION_BYTES`].
        max: usize,
    },
}

impl Portion {
    /// The binary frame. Refuses what [`Portion::decode`] would refuse (stream 0, empty or
    /// oversize audio), so a sender finds its own bug rather than the box's error.
    pub fn encode(&self) -> Result<Vec<u8>, PortionError> {
        check_body(self.stream, self.opus.len())?;
        let mut out = Vec::with_capacity(PORTION_HEADER + self.opus.len());
        out.extend_from_slice(&PORTION_MAGIC);
        out.push(PORTION_VERSION);
        out.push(if self.last { FLAG_LAST } else { 0 });
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.opus);
        Ok(out)
    }

    /// Read one binary frame. Checks every header field and the size bound before copying
    /// anything; never panics.
    pub fn decode(frame: &[u8]) -> Result<Portion, PortionError> {
        if frame.len() < PORTION_HEADER {
            return Err(PortionError::Short(frame.len()));
        }
        if frame[0..2] != PORTION_MAGIC {
            return Err(PortionError::Magic);
        }
        if frame[2] != PORTION_VERSION {
            return Err(PortionError::Version(frame[2]));
        }
        let flags = frame[3];
        if flags & !FLAG_LAST != 0 {
            return Err(PortionError::Flags(flags));
        }
        let stream = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let seq = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let opus = &frame[PORTION_HEADER..];
        check_body(stream, opus.len())?;
        Ok(Portion {
            stream,
            seq,
            last: flags & FLAG_LAST != 0,
            opus: opus.to_vec(),
        })
    }
}

fn check_body(stream: StreamId, len: usize) -> Result<(), PortionError> {
    if stream == 0 {
        return Err(PortionError::ZeroStream);
    }
    if len == 0 {
        return Err(PortionError::Empty);
    }
    if len > MAX_PORTION_BYTES {
        return Err(PortionError::TooLarge {
            len,
            max: MAX_PORTION_BYTES,
        });
    }
    Ok(())
}

fn default_frame_ms() -> u16 {
    DEFAULT_FRAME_MS
}

fn default_codec() -> String {
    "opus".into()
}

/// Object of `talk_start`; the recipients are the envelope's `destination`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkStartObject {
    /// Portion length in milliseconds: 20 (default), 40 or 60.
    #[serde(default = "default_frame_ms")]
    pub frame_ms: u16,
    /// Codec of the portions; only `opus`.
    #[serde(default = "default_codec")]
    pub codec: String,
    /// An all-call: talk to this group (a group's name, or `everyone`) instead of the
    /// envelope's `destination`, which must then be empty. The speaker needs the all-call
    /// permission; the talk is urgent. Absent in a plain talk (and from older clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Default for TalkStartObject {
    fn default() -> Self {
        TalkStartObject {
            frame_ms: DEFAULT_FRAME_MS,
            codec: default_codec(),
            group: None,
        }
    }
}

/// Longest group name in `talk_start` (the box's names are at most 32 characters).
pub const MAX_GROUP_NAME: usize = 32;

/// Why a `talk_start` object is refused before anything else is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TalkStartError {
    /// A frame duration outside 20/40/60 ms.
    #[error("frame_ms {0} is not one of 20, 40, 60")]
    FrameMs(u16),
    /// A codec other than Opus.
    #[error("codec {0:?} is not supported (opus is)")]
    Codec(String),
    /// No recipient in `destination`.
    #[error("talk_start names no recipient")]
    NoRecipient,
    /// Both a group and recipients, or a group name that cannot be one.
    #[error("talk_start: {0}")]
    Group(&'static str),
}

impl TalkStartObject {
    /// Check the object and the envelope's recipients (the envelope decoder already bounds
    /// their count).
    pub fn check(&self, recipients: &[Guid]) -> Result<(), TalkStartError> {
        if !FRAME_DURATIONS_MS.contains(&self.frame_ms) {
            return Err(TalkStartError::FrameMs(self.frame_ms));
        }
        if self.codec != "opus" {
            return Err(TalkStartError::Codec(self.codec.clone()));
        }
        match &self.group {
            Some(_) if !recipients.is_empty() => Err(TalkStartError::Group(
                "name a group or recipients in destination, not both",
            )),
            Some(g) if g.is_empty() || g.len() > MAX_GROUP_NAME => {
                Err(TalkStartError::Group("a group name has 1 to 32 characters"))
            }
            Some(_) => Ok(()),
            None if recipients.is_empty() => Err(TalkStartError::NoRecipient),
            None => Ok(()),
        }
    }
}

/// Object of `talk_accepted`: the stream to send portions on, and who hears it how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkAcceptedObject {
    /// Stream id for the portion frames.
    pub stream: StreamId,
    /// Portion length in milliseconds, as asked.
    pub frame_ms: u16,
    /// Longest talk in milliseconds (the message length limit); the box ends it there.
    pub max_ms: u32,
    /// Recipients who hear it live.
    pub live: Vec<Guid>,
    /// Recipients who will get the stored message only (offline, busy, do-not-disturb).
    pub stored: Vec<Guid>,
}

/// Why a talk may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TalkRefusal {
    /// The `talk_start` object or its recipients are invalid.
    Malformed,
    /// A recipient is unknown or not a contact the speaker may reach.
    UnknownRecipient,
    /// The speaker already has a live talk.
    AlreadyTalking,
    /// The box has as many live talks as it carries.
    Busy,
    /// An all-call from a user without the all-call permission (an admin grants it).
    NotAllowed,
    /// An all-call to a group the box does not have.
    UnknownGroup,
}

/// Object of `talk_refused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkRefusedObject {
    /// Machine-readable reason.
    pub reason: TalkRefusal,
    /// One line for people.
    pub message: String,
}

/// Object of `talk_incoming`: a talk to this listener starts; portions on `stream` follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkIncomingObject {
    /// Stream id the portions carry.
    pub stream: StreamId,
    /// The speaker.
    pub from: Guid,
    /// Portion length in milliseconds.
    pub frame_ms: u16,
    /// Codec, `opus`.
    pub codec: String,
    /// An all-call: a priority talk to a group, to show prominently. Absent (false) in a
    /// plain talk and from older boxes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

/// Object of `talk_end` from the speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkEndObject {
    /// The talk to end.
    pub stream: StreamId,
}

/// How a talk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TalkEndReason {
    /// The speaker ended it (`talk_end` or a portion flagged last).
    Finished,
    /// The speaker's connection went away mid-talk.
    SpeakerGone,
    /// No portion arrived for the idle timeout.
    Idle,
    /// It reached the message length limit.
    LengthLimit,
}

impl TalkEndReason {
    /// Whether the stored message is marked partial (everything but a speaker's own end).
    pub fn is_partial(self) -> bool {
        self != TalkEndReason::Finished
    }
}

/// Object of `talk_end` from the box (to the speaker and every live listener).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TalkEndedObject {
    /// The talk that ended.
    pub stream: StreamId,
    /// Why.
    pub reason: TalkEndReason,
    /// Whether the stored copy is partial.
    pub partial: bool,
    /// Playable length of the stored copy in milliseconds.
    pub duration_ms: u32,
    /// Id of the stored message, when any audio arrived (it is in every recipient's inbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Guid>,
}

/// Build a `talk_start` frame.
pub fn talk_start(id: &str, recipients: Vec<Guid>, start: &TalkStartObject) -> Envelope {
    Envelope::new(TALK_START)
        .with_id(id)
        .with_destination(recipients)
        .with_object(start)
}

/// Build a `talk_accepted` frame answering request `id`.
pub fn talk_accepted(id: &str, accepted: &TalkAcceptedObject) -> Envelope {
    Envelope::new(TALK_ACCEPTED)
        .with_id(id)
        .with_source(crate::SERVER_GUID)
        .with_object(accepted)
}

/// Build a `talk_refused` frame answering request `id`.
pub fn talk_refused(id: &str, reason: TalkRefusal, message: impl Into<String>) -> Envelope {
    Envelope::new(TALK_REFUSED)
        .with_id(id)
        .with_source(crate::SERVER_GUID)
        .with_object(&TalkRefusedObject {
            reason,
            message: message.into(),
        })
}

/// Build a `talk_incoming` frame for a listener.
pub fn talk_incoming(incoming: &TalkIncomingObject) -> Envelope {
    Envelope::new(TALK_INCOMING)
        .with_source(incoming.from)
        .with_object(incoming)
}

/// Build the speaker's `talk_end` frame.
pub fn talk_end(id: &str, stream: StreamId) -> Envelope {
    Envelope::new(TALK_END)
        .with_id(id)
        .with_object(&TalkEndObject { stream })
}

/// Build the box's `talk_end` report.
pub fn talk_ended(ended: &TalkEndedObject) -> Envelope {
    Envelope::new(TALK_END)
        .with_source(crate::SERVER_GUID)
        .with_object(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{decode_client, decode_server, ClientRequest, ServerEvent};

    fn portion(len: usize) -> Portion {
        Portion {
            stream: 7,
            seq: 0x0102_0304,
            last: true,
            opus: vec![0xfc; len],
        }
    }

    #[test]
    fn portion_layout_is_as_documented() {
        let bytes = portion(3).encode().expect("encode");
        assert_eq!(
            bytes,
            [b'I', b'T', 1, 1, 0, 0, 0, 7, 1, 2, 3, 4, 0xfc, 0xfc, 0xfc]
        );
        assert_eq!(Portion::decode(&bytes), Ok(portion(3)));
    }

    #[test]
    fn portion_round_trips_at_the_bounds() {
        for len in [1, MAX_PORTION_BYTES] {
            let mut p = portion(len);
            p.last = false;
            let b = p.encode().expect("encode");
            assert_eq!(b.len(), PORTION_HEADER + len);
            assert_eq!(Portion::decode(&b), Ok(p));
        }
    }

    #[test]
    fn bad_portions_get_their_error() {
        let good = portion(2).encode().expect("encode");
        let with = |i: usize, v: u8| {
            let mut b = good.clone();
            b[i] = v;
            b
        };
        assert_eq!(Portion::decode(&good[..11]), Err(PortionError::Short(11)));
        assert_eq!(Portion::decode(&[]), Err(PortionError::Short(0)));
        assert_eq!(Portion::decode(&with(0, b'X')), Err(PortionError::Magic));
        assert_eq!(Portion::decode(&with(2, 2)), Err(PortionError::Version(2)));
        assert_eq!(
            Portion::decode(&with(3, 0x81)),
            Err(PortionError::Flags(0x81))
        );
        assert_eq!(Portion::decode(&with(7, 0)), Err(PortionError::ZeroStream));
        assert_eq!(
            Portion::decode(&good[..PORTION_HEADER]),
            Err(PortionError::Empty)
        );
        let mut big = good[..PORTION_HEADER].to_vec();
        big.resize(PORTION_HEADER + MAX_PORTION_BYTES + 1, 0);
        assert_eq!(
            Portion::decode(&big),
            Err(PortionError::TooLarge {
                len: MAX_PORTION_BYTES + 1,
                max: MAX_PORTION_BYTES
            })
        );
        assert_eq!(portion(0).encode(), Err(PortionError::Empty));
        assert!(portion(MAX_PORTION_BYTES + 1).encode().is_err());
        let mut zero = portion(1);
        zero.stream = 0;
        assert_eq!(zero.encode(), Err(PortionError::ZeroStream));
    }

    #[test]
    fn talk_start_defaults_and_checks() {
        let bob = Guid::from_u128(2);
        let env = talk_start("1", vec![bob], &TalkStartObject::default());
        let text = env.to_text();
        assert_eq!(
            text,
            format!(
                r#"{{"action":"talk_start","id":"1","destination":["{bob}"],"object":{{"codec":"opus","frame_ms":20}}}}"#
            )
        );
        // An empty object takes the defaults.
        let o: TalkStartObject = serde_json::from_str("{}").expect("defaults");
        assert_eq!(o, TalkStartObject::default());
        assert_eq!(o.check(&[bob]), Ok(()));
        for ms in [20, 40, 60] {
            let o = TalkStartObject {
                frame_ms: ms,
                ..o.clone()
            };
            assert_eq!(o.check(&[bob]), Ok(()));
        }
        for ms in [0, 10, 30, 80, 120] {
            let o = TalkStartObject {
                frame_ms: ms,
                ..o.clone()
            };
            assert_eq!(o.check(&[bob]), Err(TalkStartError::FrameMs(ms)));
        }
        let pcm = TalkStartObject {
            codec: "pcmu".into(),
            ..o.clone()
        };
        assert!(matches!(pcm.check(&[bob]), Err(TalkStartError::Codec(_))));
        assert_eq!(o.check(&[]), Err(TalkStartError::NoRecipient));
        // An all-call names a group instead of recipients; an old client's object (no
        // `group`) is a plain talk.
        let all: TalkStartObject = serde_json::from_str(r#"{"group":"sales"}"#).expect("group");
        assert_eq!(all.group.as_deref(), Some("sales"));
        assert_eq!(all.check(&[]), Ok(()));
        assert!(matches!(all.check(&[bob]), Err(TalkStartError::Group(_))));
        let long = TalkStartObject {
            group: Some("g".repeat(MAX_GROUP_NAME + 1)),
            ..o.clone()
        };
        assert!(matches!(long.check(&[]), Err(TalkStartError::Group(_))));
    }

    #[test]
    fn box_frames_round_trip_through_the_client_decoder_as_envelopes() {
        let ann = Guid::from_u128(1);
        let accepted = TalkAcceptedObject {
            stream: 9,
            frame_ms: 20,
            max_ms: 600_000,
            live: vec![Guid::from_u128(2)],
            stored: vec![Guid::from_u128(3)],
        };
        let ended = TalkEndedObject {
            stream: 9,
            reason: TalkEndReason::Idle,
            partial: true,
            duration_ms: 1_980,
            message: Some(Guid::from_u128(4)),
        };
        let incoming = TalkIncomingObject {
            stream: 9,
            from: ann,
            frame_ms: 20,
            codec: "opus".into(),
            urgent: true,
        };
        let frames = [
            talk_accepted("5", &accepted),
            talk_refused("6", TalkRefusal::AlreadyTalking, "you are already talking"),
            talk_incoming(&incoming),
            talk_ended(&ended),
            talk_end("7", 9),
        ];
        for env in &frames {
            let back: Envelope = serde_json::from_str(&env.to_text()).expect("json");
            assert_eq!(&back, env);
        }
        let obj = |e: &Envelope| e.object.clone();
        assert_eq!(
            serde_json::from_value::<TalkAcceptedObject>(obj(&frames[0])).ok(),
            Some(accepted)
        );
        assert_eq!(
            serde_json::from_value::<TalkRefusedObject>(obj(&frames[1]))
                .map(|r| r.reason)
                .ok(),
            Some(TalkRefusal::AlreadyTalking)
        );
        assert_eq!(frames[1].object["reason"], "already_talking");
        assert_eq!(
            serde_json::from_value::<TalkIncomingObject>(obj(&frames[2])).ok(),
            Some(incoming)
        );
        assert_eq!(frames[3].object["reason"], "idle");
        assert_eq!(
            serde_json::from_value::<TalkEndedObject>(obj(&frames[3])).ok(),
            Some(ended)
        );
        // The client decoder reads every box frame (it refused them before the lane was
        // wired; this expectation was changed deliberately when it was).
        assert_eq!(
            decode_server(&frames[0].to_text(), 4096).ok(),
            Some(ServerEvent::TalkAccepted {
                id: "5".into(),
                accepted: serde_json::from_value(obj(&frames[0])).expect("accepted"),
            })
        );
        assert!(matches!(
            decode_server(&frames[1].to_text(), 4096),
            Ok(ServerEvent::TalkRefused { .. })
        ));
        assert!(matches!(
            decode_server(&frames[2].to_text(), 4096),
            Ok(ServerEvent::TalkIncoming(_))
        ));
        assert!(matches!(
            decode_server(&frames[3].to_text(), 4096),
            Ok(ServerEvent::TalkEnded(_))
        ));
        // And the box reads the speaker's `talk_end` and `talk_start`.
        assert_eq!(
            decode_client(&frames[4].to_text(), 4096)
                .map(|i| i.request)
                .ok(),
            Some(ClientRequest::TalkEnd(9))
        );
        let start = talk_start("8", vec![Guid::from_u128(2)], &TalkStartObject::default());
        assert!(matches!(
            decode_client(&start.to_text(), 4096).map(|i| i.request),
            Ok(ClientRequest::TalkStart { .. })
        ));
        // The object may be left out (the defaults).
        let bare = r#"{"action":"talk_start","id":"9","destination":["00000000-0000-0000-0000-000000000002"]}"#;
        assert!(matches!(
            decode_client(bare, 4096).map(|i| i.request),
            Ok(ClientRequest::TalkStart { start, .. }) if start == TalkStartObject::default()
        ));
        let bad = talk_start("8", vec![], &TalkStartObject::default());
        assert!(decode_client(&bad.to_text(), 4096).is_err());
    }

    #[test]
    fn only_the_speakers_own_end_is_complete() {
        assert!(!TalkEndReason::Finished.is_partial());
        for r in [
            TalkEndReason::SpeakerGone,
            TalkEndReason::Idle,
            TalkEndReason::LengthLimit,
        ] {
            assert!(r.is_partial());
        }
    }
}
