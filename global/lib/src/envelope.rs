//! What travels through the global streams: a message or a receipt.
//!
//! # Format
//! JSON with a `kind` tag, for example
//! `{"kind":"receipt","message":"…","from":"…","to":"…","state":"played","at_ms":1700000000000}`.
//! JSON, not a binary format, because the cluster's operators read streams with the `nats`
//! tool; the audio (already Opus, at most [`MAX_AUDIO`] bytes) is base64 and costs a third
//! more, which JetStream's limits allow for.
//!
//! Every envelope names a sender user and a recipient user, never a box: the transport finds
//! the recipient's box in the directory, and checks the sender against the box whose subject
//! carried the envelope ([`crate::subject::box_of_out`]).

use base64::Engine as _;
use ivm_wire::{Guid, Priority};
use serde::{Deserialize, Serialize};

/// The largest audio a global message may carry (bytes of Opus; about four minutes at 16 kb/s).
pub const MAX_AUDIO: usize = 512 * 1024;
/// The largest encoded envelope accepted (base64 audio plus the fields); under NATS's default
/// 1 MiB payload limit.
pub const MAX_ENVELOPE: usize = 720 * 1024;
/// The longest sender display name, in characters.
pub const MAX_NAME: usize = 64;
/// The most waveform values a message carries.
pub const MAX_PEAKS: usize = 4096;

/// Why bytes are not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Over [`MAX_ENVELOPE`] bytes.
    #[error("envelope of {0} bytes is over the {MAX_ENVELOPE}-byte limit")]
    TooLarge(usize),
    /// Not the JSON of an envelope.
    #[error("not an envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// The audio is not base64.
    #[error("audio is not base64")]
    Audio,
    /// A field is out of bounds (named).
    #[error("invalid envelope field: {0}")]
    Field(&'static str),
}

/// One thing carried between boxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Envelope {
    /// A voice message from a user to a user.
    Message(Message),
    /// A receipt travelling back to the sender of a message.
    Receipt(Receipt),
}

/// A voice message in the global tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message GUID, the same on every hop (and the de-duplication key).
    pub id: Guid,
    /// The sending user.
    pub from: Guid,
    /// The sender's display name, shown by the recipient's box.
    pub from_name: String,
    /// The sender's address (`user@box`, whose GUID is `from`): what the recipient replies
    /// to. Empty from senders that have none.
    #[serde(default)]
    pub from_address: String,
    /// The recipient user.
    pub to: Guid,
    /// The sender's priority.
    #[serde(default)]
    pub priority: Priority,
    /// When the sender's box accepted it (milliseconds since the Unix epoch).
    pub sent_ms: u64,
    /// The Opus audio, base64 on the wire.
    #[serde(with = "b64")]
    pub audio: Vec<u8>,
    /// Its playable length in milliseconds (so the recipient's box stores it without decoding).
    #[serde(default)]
    pub duration_ms: u32,
    /// Its waveform summary (at most [`MAX_PEAKS`] values).
    #[serde(default)]
    pub peaks: Vec<u8>,
}

/// How far a message got with its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptState {
    /// Stored in the recipient's box.
    Delivered,
    /// Played by the recipient.
    Played,
    /// The directory has no such recipient (or no longer the sender): the transport sends
    /// the message back as this, in the recipient's name, so the sender is told instead of
    /// the message vanishing. Only the transport writes it; a box never does.
    Undeliverable,
}

/// A receipt for a message, from its recipient back to its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The message it is about.
    pub message: Guid,
    /// The recipient of the message (who sends the receipt).
    pub from: Guid,
    /// The sender of the message (who receives the receipt).
    pub to: Guid,
    /// Delivered or played.
    pub state: ReceiptState,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: u64,
}

impl Envelope {
    /// The user this envelope speaks for.
    pub fn from_user(&self) -> Guid {
        match self {
            Envelope::Message(m) => m.from,
            Envelope::Receipt(r) => r.from,
        }
    }

    /// The user this envelope is for.
    pub fn to_user(&self) -> Guid {
        match self {
            Envelope::Message(m) => m.to,
            Envelope::Receipt(r) => r.to,
        }
    }

    /// The `Nats-Msg-Id` of this envelope: the same on every hop and every retry, so JetStream
    /// drops a second copy inside its duplicate window.
    pub fn msg_id(&self) -> String {
        match self {
            Envelope::Message(m) => format!("m-{}", m.id.simple()),
            Envelope::Receipt(r) => {
                let state = match r.state {
                    ReceiptState::Delivered => "delivered",
                    ReceiptState::Played => "played",
                    ReceiptState::Undeliverable => "undeliverable",
                };
                format!("r-{}-{}-{state}", r.message.simple(), r.from.simple())
            }
        }
    }

    /// The envelope as bytes for a stream.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        self.validate()?;
        let bytes = serde_json::to_vec(self)?;
        if bytes.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Bytes from a stream back to an envelope; anything over the limits is refused before
    /// and after parsing.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let envelope: Envelope = serde_json::from_slice(bytes)?;
        envelope.validate()?;
        Ok(envelope)
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        if self.from_user().is_nil() || self.to_user().is_nil() {
            return Err(EnvelopeError::Field("user"));
        }
        match self {
            Envelope::Message(m) => {
                if m.id.is_nil() {
                    return Err(EnvelopeError::Field("id"));
                }
                if m.audio.is_empty() || m.audio.len() > MAX_AUDIO {
                    return Err(EnvelopeError::Field("audio"));
                }
                if m.peaks.len() > MAX_PEAKS {
                    return Err(EnvelopeError::Field("peaks"));
                }
                if !m.from_address.is_empty()
                    && crate::address::Address::parse(&m.from_address)
                        .map_or(true, |a| a.user_id() != m.from)
                {
                    return Err(EnvelopeError::Field("from_address"));
                }
                if m.from_name.chars().count() > MAX_NAME
                    || m.from_name.chars().any(char::is_control)
                {
                    return Err(EnvelopeError::Field("from_name"));
                }
            }
            Envelope::Receipt(r) => {
                if r.message.is_nil() {
                    return Err(EnvelopeError::Field("message"));
                }
            }
        }
        Ok(())
    }
}

/// Base64 for the audio field. The decoder refuses input longer than [`MAX_AUDIO`] would
/// encode to before decoding it.
mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() > MAX_AUDIO.div_ceil(3) * 4 {
            return Err(serde::de::Error::custom(EnvelopeError::Field("audio")));
        }
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| serde::de::Error::custom(EnvelopeError::Audio))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: Guid::from_u128(1),
            from: Guid::from_u128(2),
            from_name: "Ann".into(),
            from_address: String::new(),
            to: Guid::from_u128(3),
            priority: Priority::Normal,
            sent_ms: 1_700_000_000_000,
            audio: vec![0x4f, 0x67, 0x67, 0x53],
            duration_ms: 1000,
            peaks: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_message_round_trips() {
        let e = Envelope::Message(message());
        let bytes = e.encode().expect("encode");
        assert!(std::str::from_utf8(&bytes)
            .expect("utf8")
            .contains(r#""kind":"message""#));
        assert_eq!(Envelope::decode(&bytes).expect("decode"), e);
        assert_eq!(e.msg_id(), format!("m-{}", Guid::from_u128(1).simple()));
    }

    #[test]
    fn receipts_of_each_state_have_distinct_ids() {
        let r = |state| {
            Envelope::Receipt(Receipt {
                message: Guid::from_u128(1),
                from: Guid::from_u128(3),
                to: Guid::from_u128(2),
                state,
                at_ms: 5,
            })
        };
        let (d, p) = (r(ReceiptState::Delivered), r(ReceiptState::Played));
        let u = r(ReceiptState::Undeliverable);
        assert_ne!(d.msg_id(), p.msg_id());
        assert!(u.msg_id() != d.msg_id() && u.msg_id() != p.msg_id());
        assert_eq!(
            Envelope::decode(&u.encode().expect("encode")).expect("decode"),
            u
        );
        assert_eq!(
            Envelope::decode(&p.encode().expect("encode")).expect("decode"),
            p
        );
        assert_eq!(
            (p.from_user(), p.to_user()),
            (Guid::from_u128(3), Guid::from_u128(2))
        );
    }

    #[test]
    fn bad_envelopes_are_refused() {
        let mut m = message();
        m.audio = vec![0; MAX_AUDIO + 1];
        assert!(matches!(
            Envelope::Message(m).encode(),
            Err(EnvelopeError::Field("audio"))
        ));
        let mut m = message();
        m.from_name = "a\u{7}b".into();
        assert!(Envelope::Message(m).encode().is_err());
        let mut m = message();
        m.to = Guid::nil();
        assert!(Envelope::Message(m).encode().is_err());
        assert!(Envelope::decode(b"{}").is_err());
        assert!(Envelope::decode(br#"{"kind":"message"}"#).is_err());
        assert!(matches!(
            Envelope::decode(&vec![b' '; MAX_ENVELOPE + 1]),
            Err(EnvelopeError::TooLarge(_))
        ));
        let text = format!(
            r#"{{"kind":"message","id":"{}","from":"{}","from_name":"x","to":"{}","sent_ms":1,"audio":"!!"}}"#,
            Guid::from_u128(1),
            Guid::from_u128(2),
            Guid::from_u128(3)
        );
        assert!(Envelope::decode(text.as_bytes()).is_err());
    }
}
