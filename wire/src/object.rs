//! The message object of the seed (action, id, source, destination, object) carried as one
//! JSON text frame on the WebSocket `/api/ws`.
//!
//! ```json
//! {"action":"post_message","id":"7","source":"<sender GUID>","destination":["<GUID>"],"object":{...}}
//! ```
//!
//! Every frame is one [`Envelope`]. Client frames are turned into a typed [`ClientRequest`] by
//! [`decode_client`], server frames into a [`ServerEvent`] by [`decode_server`]. Both decoders
//! are bounded: frame size, id length and destination count are checked before anything is
//! acted on, and an unknown action is an error rather than something silently ignored.
//!
//! The server never trusts `source` from a client: it fills it from the authenticated session,
//! and a client frame whose `source` names someone else is refused (see `docs/protocol.md`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rest::{MessageInfo, UserInfo};
use crate::talk::{
    StreamId, TalkAcceptedObject, TalkEndObject, TalkEndedObject, TalkIncomingObject,
    TalkRefusedObject, TalkStartObject,
};
use crate::{Guid, MailboxState, Priority, Status};

/// Largest text frame either side accepts, in bytes, unless configured otherwise. Audio sent
/// inline with `post_message` must fit; larger messages go through the REST upload.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;
/// Longest request id a client may use.
pub const MAX_ID_LEN: usize = 64;
/// Most destinations one frame may name.
pub const MAX_DESTINATIONS: usize = 256;
/// Most receipts one `receipts` frame may carry (a client with more sends several).
pub const MAX_RECEIPTS: usize = 500;

/// One frame: the seed's five fields. Blank fields are left out when encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// What the frame asks for or announces (`connect`, `post_message`, `message`, ...).
    pub action: String,
    /// Request id chosen by the client (echoed in the `ack` or `error` that answers it), or an
    /// id chosen by the server for its own frames. Unique per object from one side.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The sender's GUID. Set by the server; [`crate::SERVER_GUID`] for the server itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Guid>,
    /// Recipient GUIDs, where the action has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination: Vec<Guid>,
    /// The action's data block; `null` when it needs none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub object: Value,
}

impl Envelope {
    /// A frame with the given action and nothing else.
    pub fn new(action: &str) -> Self {
        Envelope {
            action: action.to_owned(),
            id: String::new(),
            source: None,
            destination: Vec::new(),
            object: Value::Null,
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the source GUID.
    pub fn with_source(mut self, source: Guid) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the destinations.
    pub fn with_destination(mut self, destination: Vec<Guid>) -> Self {
        self.destination = destination;
        self
    }

    /// Sets the object from any serializable value.
    pub fn with_object<T: Serialize>(mut self, object: &T) -> Self {
        self.object = serde_json::to_value(object).unwrap_or(Value::Null);
        self
    }

    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // Serializing this struct cannot fail: every field is plain JSON.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `ack` answering request `id`, with an optional result object.
    pub fn ack<T: Serialize>(id: &str, result: Option<&T>) -> Self {
        let e = Envelope::new("ack")
            .with_id(id)
            .with_source(crate::SERVER_GUID);
        match result {
            Some(r) => e.with_object(r),
            None => e,
        }
    }

    /// `error` answering request `id` (empty when the frame could not be read far enough to
    /// find one).
    pub fn error(id: &str, code: ErrorCode, message: impl Into<String>) -> Self {
        Envelope::new("error")
            .with_id(id)
            .with_source(crate::SERVER_GUID)
            .with_object(&ErrorObject {
                code,
                message: message.into(),
            })
    }
}

/// Why a frame failed. Sent back in an `error` frame's object as a snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not an envelope, or a field of the wrong type.
    Malformed,
    /// Larger than the frame limit.
    TooLarge,
    /// The action is not one this side knows.
    UnknownAction,
    /// A request other than `connect` before the session was authenticated, or a bad token.
    Unauthorized,
    /// `source` names someone other than the authenticated user.
    ForgedSource,
    /// A destination GUID is not a user of this box.
    UnknownUser,
    /// A destination is a user of another box and the sender is not published to the global
    /// directory, so the message could not go out; nothing was stored.
    NotPublished,
    /// The audio could not be decoded or holds no sound.
    BadAudio,
    /// The message named does not exist or is not visible to this user.
    NotFound,
    /// Too many requests; slow down (messages per minute, posts in flight on one session).
    RateLimited,
    /// The message would take the sender past their storage quota; nothing was stored.
    QuotaExceeded,
    /// The box's disk is full; nothing was stored.
    DiskFull,
    /// The user's password was set for them and works once: they must choose a new one
    /// (`PUT /api/me/password`) before connecting.
    PasswordChangeRequired,
    /// A live-talk portion (binary frame) or `talk_end` was refused: not the sender's
    /// stream, ended, late, a duplicate, too large, too fast or not Opus. Nothing was
    /// forwarded or stored, and the talk goes on.
    BadPortion,
    /// The server failed; nothing was changed.
    Internal,
}

/// Object of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// One line for people.
    pub message: String,
}

/// Why a frame could not be decoded: carries the code to send back and the request id, if one
/// was found, so the error can be matched to its request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// The code for the `error` frame.
    pub code: ErrorCode,
    /// The request id, when the frame got far enough to have one.
    pub id: String,
    /// What was wrong.
    pub message: String,
}

impl DecodeError {
    fn new(code: ErrorCode, id: &str, message: impl Into<String>) -> Self {
        DecodeError {
            code,
            id: id.to_owned(),
            message: message.into(),
        }
    }

    /// The `error` frame that answers this failure.
    pub fn to_envelope(&self) -> Envelope {
        Envelope::error(&self.id, self.code, self.message.clone())
    }
}

/// Object of `connect`: the session token from `POST /api/login` and what the client is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectObject {
    /// Bearer token.
    pub token: String,
    /// Free text naming the client software, for logs.
    #[serde(default)]
    pub client: String,
    /// Connection priority (high, normal, low, unknown): pushes go to higher ones first.
    #[serde(default)]
    pub priority: Priority,
}

/// Result object of the `ack` that answers `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectedObject {
    /// Who the session belongs to.
    pub user: UserInfo,
    /// Seconds between the server's pings; answer each with `pong` or be marked offline.
    pub ping_interval_s: u32,
    /// Server software version.
    pub server_version: String,
}

/// One attachment carried inline by `post_message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlineAttachment {
    /// File name as the sender had it (path parts are refused).
    pub name: String,
    /// MIME type; `application/octet-stream` when absent.
    #[serde(default)]
    pub content_type: String,
    /// Base64 (standard alphabet) of the bytes.
    pub data: String,
}

/// Object of `post_message`: audio (Ogg Opus or WAV) in base64 and optional attachments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostObject {
    /// Base64 (standard alphabet) of an Ogg Opus or WAV file.
    pub audio: String,
    /// Attached files.
    #[serde(default)]
    pub attachments: Vec<InlineAttachment>,
}

/// Object of `set_status` and of `presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusObject {
    /// The status.
    pub status: Status,
}

/// Object of `delivered` and `played` (client → server) naming a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    /// The message id.
    pub message: Guid,
}

/// Object of `receipt` (server → sender): a recipient's mailbox state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptObject {
    /// The message id.
    pub message: Guid,
    /// The recipient whose state changed.
    pub recipient: Guid,
    /// The new state.
    pub state: MailboxState,
}

/// One receipt of a `receipts` batch (client → server): I have, or I played, this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptItem {
    /// The message id.
    pub message: Guid,
    /// `delivered` or `played`.
    pub state: MailboxState,
}

/// Object of `receipts` (client → server): many receipts in one frame, applied in one
/// commit. At most [`MAX_RECEIPTS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsObject {
    /// The receipts, applied in order.
    pub receipts: Vec<ReceiptItem>,
}

/// Result object of the `ack` that answers `receipts`: every message of the batch is in one
/// of the two lists, so the client knows which it may stop retrying (all of them: a message
/// not found was deleted or was never theirs, and retrying will not change that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReceiptsResult {
    /// Recorded: the state is now at least the one asked for.
    pub applied: Vec<Guid>,
    /// Not a message in this user's inbox (deleted, or never theirs).
    pub not_found: Vec<Guid>,
}

/// Object of the `receipts` push (server → sender): recipients' states changed by one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsPush {
    /// Each change, as a `receipt` frame would carry it.
    pub receipts: Vec<ReceiptObject>,
}

/// Object of `server_going_down` and of a server `disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonObject {
    /// Why.
    pub reason: String,
}

/// Object of the `ack` that answers `check_in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInObject {
    /// How many queued messages follow as `message` frames.
    pub queued: u32,
}

/// A decoded client frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The request id to echo.
    pub id: String,
    /// The `source` the client claimed, if any; the server checks it against the session.
    pub claimed_source: Option<Guid>,
    /// What the client asks for.
    pub request: ClientRequest,
}

/// The actions a client may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// Authenticate this socket.
    Connect(ConnectObject),
    /// Close the session cleanly.
    Disconnect,
    /// Receive `presence` for these users (all contacts when empty).
    Subscribe(Vec<Guid>),
    /// Stop receiving `presence` for these users (all when empty).
    Unsubscribe(Vec<Guid>),
    /// Send a voice message to `to`.
    PostMessage {
        /// Recipients.
        to: Vec<Guid>,
        /// Audio and attachments.
        post: PostObject,
    },
    /// Change my presence.
    SetStatus(Status),
    /// Ask for everything queued for me.
    CheckIn,
    /// I have this message.
    Delivered(Guid),
    /// I played this message.
    Played(Guid),
    /// Many `delivered` / `played` receipts at once (at most [`MAX_RECEIPTS`]).
    Receipts(Vec<ReceiptItem>),
    /// Are you there? (answered with `pong`)
    Ping,
    /// Answer to the server's `ping`.
    Pong,
    /// Start a live talk to `to` (intercom); portions follow as binary frames.
    TalkStart {
        /// Recipients.
        to: Vec<Guid>,
        /// Frame duration and codec (checked).
        start: TalkStartObject,
    },
    /// End my live talk.
    TalkEnd(StreamId),
}

/// The actions the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A request succeeded; `object` is its result (may be `null`).
    Ack {
        /// The request id.
        id: String,
        /// The result.
        object: Value,
    },
    /// A request (or an unreadable frame) failed.
    Error {
        /// The request id (may be empty).
        id: String,
        /// Why.
        error: ErrorObject,
    },
    /// A new message for me.
    Message(Box<MessageInfo>),
    /// A recipient's state for a message I sent changed.
    Receipt(ReceiptObject),
    /// Several recipients' states changed at once (a recipient's batch of receipts).
    Receipts(Vec<ReceiptObject>),
    /// A user I subscribed to changed presence.
    Presence {
        /// The user.
        user: Guid,
        /// The new status.
        status: Status,
    },
    /// The server asks whether I am awake; answer `pong` with the same id.
    Ping {
        /// Id to echo.
        id: String,
    },
    /// Answer to my `ping`.
    Pong {
        /// The id of my ping.
        id: String,
    },
    /// The server is shutting down; reconnect later.
    ServerGoingDown(ReasonObject),
    /// The server closed this session.
    Disconnect(ReasonObject),
    /// My `talk_start` was accepted: send portions on this stream.
    TalkAccepted {
        /// The request id.
        id: String,
        /// The stream and who hears it how.
        accepted: TalkAcceptedObject,
    },
    /// My `talk_start` was refused.
    TalkRefused {
        /// The request id.
        id: String,
        /// Why.
        refused: TalkRefusedObject,
    },
    /// A live talk to me begins; its portions follow as binary frames.
    TalkIncoming(TalkIncomingObject),
    /// A live talk (mine or to me) ended.
    TalkEnded(TalkEndedObject),
}

fn check_frame(text: &str, max_frame: usize) -> Result<Envelope, DecodeError> {
    if text.len() > max_frame {
        return Err(DecodeError::new(
            ErrorCode::TooLarge,
            "",
            format!(
                "frame of {} bytes is over the {max_frame}-byte limit",
                text.len()
            ),
        ));
    }
    let env: Envelope = serde_json::from_str(text).map_err(|e| {
        DecodeError::new(
            ErrorCode::Malformed,
            "",
            format!("not a message object: {e}"),
        )
    })?;
    if env.id.len() > MAX_ID_LEN {
        return Err(DecodeError::new(
            ErrorCode::Malformed,
            "",
            format!("id longer than {MAX_ID_LEN} bytes"),
        ));
    }
    if env.destination.len() > MAX_DESTINATIONS {
        return Err(DecodeError::new(
            ErrorCode::Malformed,
            &env.id,
            format!("more than {MAX_DESTINATIONS} destinations"),
        ));
    }
    Ok(env)
}

fn object<T: serde::de::DeserializeOwned>(env: &Envelope) -> Result<T, DecodeError> {
    serde_json::from_value(env.object.clone()).map_err(|e| {
        DecodeError::new(
            ErrorCode::Malformed,
            &env.id,
            format!("bad object for {}: {e}", env.action),
        )
    })
}

/// The receipts of a `receipts` frame: 1 to [`MAX_RECEIPTS`], each `delivered` or `played`.
fn receipts(env: &Envelope) -> Result<Vec<ReceiptItem>, DecodeError> {
    let list = object::<ReceiptsObject>(env)?.receipts;
    if list.is_empty() || list.len() > MAX_RECEIPTS {
        return Err(DecodeError::new(
            ErrorCode::Malformed,
            &env.id,
            format!(
                "receipts carries 1 to {MAX_RECEIPTS} receipts, not {}",
                list.len()
            ),
        ));
    }
    if let Some(r) = list
        .iter()
        .find(|r| !matches!(r.state, MailboxState::Delivered | MailboxState::Played))
    {
        return Err(DecodeError::new(
            ErrorCode::Malformed,
            &env.id,
            format!(
                "a receipt's state is delivered or played, not {}",
                r.state.as_str()
            ),
        ));
    }
    Ok(list)
}

/// Decodes one client frame, bounded by `max_frame` bytes.
pub fn decode_client(text: &str, max_frame: usize) -> Result<Inbound, DecodeError> {
    let env = check_frame(text, max_frame)?;
    let request = match env.action.as_str() {
        "connect" => ClientRequest::Connect(object(&env)?),
        "disconnect" => ClientRequest::Disconnect,
        "subscribe" => ClientRequest::Subscribe(env.destination.clone()),
        "unsubscribe" => ClientRequest::Unsubscribe(env.destination.clone()),
        "post_message" => {
            if env.destination.is_empty() {
                return Err(DecodeError::new(
                    ErrorCode::Malformed,
                    &env.id,
                    "post_message needs at least one destination",
                ));
            }
            ClientRequest::PostMessage {
                to: env.destination.clone(),
                post: object(&env)?,
            }
        }
        "set_status" => ClientRequest::SetStatus(object::<StatusObject>(&env)?.status),
        "check_in" => ClientRequest::CheckIn,
        "delivered" => ClientRequest::Delivered(object::<MessageRef>(&env)?.message),
        "played" => ClientRequest::Played(object::<MessageRef>(&env)?.message),
        "receipts" => ClientRequest::Receipts(receipts(&env)?),
        "ping" => ClientRequest::Ping,
        "pong" => ClientRequest::Pong,
        "talk_start" => {
            // The object is optional: left out, the defaults (20 ms, Opus).
            let start: TalkStartObject = if env.object.is_null() {
                TalkStartObject::default()
            } else {
                object(&env)?
            };
            start
                .check(&env.destination)
                .map_err(|e| DecodeError::new(ErrorCode::Malformed, &env.id, e.to_string()))?;
            ClientRequest::TalkStart {
                to: env.destination.clone(),
                start,
            }
        }
        "talk_end" => ClientRequest::TalkEnd(object::<TalkEndObject>(&env)?.stream),
        other => {
            return Err(DecodeError::new(
                ErrorCode::UnknownAction,
                &env.id,
                format!("unknown action {:?}", truncate(other, 40)),
            ))
        }
    };
    Ok(Inbound {
        id: env.id,
        claimed_source: env.source,
        request,
    })
}

/// Decodes one server frame, bounded by `max_frame` bytes.
pub fn decode_server(text: &str, max_frame: usize) -> Result<ServerEvent, DecodeError> {
    let env = check_frame(text, max_frame)?;
    Ok(match env.action.as_str() {
        "ack" => ServerEvent::Ack {
            id: env.id,
            object: env.object,
        },
        "error" => ServerEvent::Error {
            error: object(&env)?,
            id: env.id,
        },
        "message" => ServerEvent::Message(Box::new(object(&env)?)),
        "receipt" => ServerEvent::Receipt(object(&env)?),
        "receipts" => ServerEvent::Receipts(object::<ReceiptsPush>(&env)?.receipts),
        "presence" => {
            let user = env.source.ok_or_else(|| {
                DecodeError::new(ErrorCode::Malformed, &env.id, "presence without source")
            })?;
            ServerEvent::Presence {
                user,
                status: object::<StatusObject>(&env)?.status,
            }
        }
        "ping" => ServerEvent::Ping { id: env.id },
        "pong" => ServerEvent::Pong { id: env.id },
        "server_going_down" => ServerEvent::ServerGoingDown(object(&env)?),
        "disconnect" => ServerEvent::Disconnect(object(&env)?),
        "talk_accepted" => ServerEvent::TalkAccepted {
            accepted: object(&env)?,
            id: env.id,
        },
        "talk_refused" => ServerEvent::TalkRefused {
            refused: object(&env)?,
            id: env.id,
        },
        "talk_incoming" => ServerEvent::TalkIncoming(object(&env)?),
        "talk_end" => ServerEvent::TalkEnded(object(&env)?),
        other => {
            return Err(DecodeError::new(
                ErrorCode::UnknownAction,
                &env.id,
                format!("unknown action {:?}", truncate(other, 40)),
            ))
        }
    })
}

/// Builders for the frames the server sends, so every push has one shape.
pub mod push {
    use super::*;

    /// `message`: a new message for the recipient.
    pub fn message(info: &MessageInfo) -> Envelope {
        Envelope::new("message")
            .with_id(info.id.to_string())
            .with_source(info.sender)
            .with_object(info)
    }

    /// `receipt`: recipient's state changed, sent to the message's sender.
    pub fn receipt(r: ReceiptObject) -> Envelope {
        Envelope::new("receipt")
            .with_source(r.recipient)
            .with_object(&r)
    }

    /// `receipts`: several recipients' states changed, sent to the messages' sender.
    pub fn receipts(receipts: Vec<ReceiptObject>) -> Envelope {
        Envelope::new("receipts")
            .with_source(crate::SERVER_GUID)
            .with_object(&ReceiptsPush { receipts })
    }

    /// `presence`: `user` is now `status`.
    pub fn presence(user: Guid, status: Status) -> Envelope {
        Envelope::new("presence")
            .with_source(user)
            .with_object(&StatusObject { status })
    }

    /// `ping` with the server's id.
    pub fn ping(id: &str) -> Envelope {
        Envelope::new("ping")
            .with_id(id)
            .with_source(crate::SERVER_GUID)
    }

    /// `pong` answering the client's `ping`.
    pub fn pong(id: &str) -> Envelope {
        Envelope::new("pong")
            .with_id(id)
            .with_source(crate::SERVER_GUID)
    }

    /// `server_going_down`.
    pub fn server_going_down(reason: &str) -> Envelope {
        Envelope::new("server_going_down")
            .with_source(crate::SERVER_GUID)
            .with_object(&ReasonObject {
                reason: reason.to_owned(),
            })
    }

    /// `disconnect` (server closes the session).
    pub fn disconnect(reason: &str) -> Envelope {
        Envelope::new("disconnect")
            .with_source(crate::SERVER_GUID)
            .with_object(&ReasonObject {
                reason: reason.to_owned(),
            })
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decodes_connect() {
        let f = r#"{"action":"connect","id":"1","object":{"token":"abc","priority":"high"}}"#;
        let got = decode_client(f, DEFAULT_MAX_FRAME).expect("decodes");
        assert_eq!(got.id, "1");
        assert_eq!(
            got.request,
            ClientRequest::Connect(ConnectObject {
                token: "abc".into(),
                client: String::new(),
                priority: Priority::High
            })
        );
    }

    #[test]
    fn unknown_action_is_an_error_with_the_id() {
        let e = decode_client(r#"{"action":"launch","id":"9"}"#, DEFAULT_MAX_FRAME).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownAction);
        assert_eq!(e.id, "9");
    }

    #[test]
    fn oversize_and_garbage_are_refused() {
        let big = format!(r#"{{"action":"ping","id":"{}"}}"#, "x".repeat(100));
        assert_eq!(
            decode_client(&big, 50).unwrap_err().code,
            ErrorCode::TooLarge
        );
        assert_eq!(
            decode_client(&big, 1000).unwrap_err().code,
            ErrorCode::Malformed
        );
        assert_eq!(
            decode_client("\u{0}\u{1}", 1000).unwrap_err().code,
            ErrorCode::Malformed
        );
        assert_eq!(
            decode_client("[1,2]", 1000).unwrap_err().code,
            ErrorCode::Malformed
        );
    }

    #[test]
    fn post_message_needs_destination_and_audio() {
        let e =
            decode_client(r#"{"action":"post_message","object":{"audio":""}}"#, 1000).unwrap_err();
        assert_eq!(e.code, ErrorCode::Malformed);
        let g = Guid::new_v4();
        let f = format!(r#"{{"action":"post_message","destination":["{g}"],"object":{{}}}}"#);
        assert_eq!(
            decode_client(&f, 1000).unwrap_err().code,
            ErrorCode::Malformed
        );
    }

    #[test]
    fn claimed_source_is_reported_not_trusted() {
        let g = Guid::new_v4();
        let f = format!(r#"{{"action":"ping","id":"p","source":"{g}"}}"#);
        assert_eq!(
            decode_client(&f, 1000).expect("decodes").claimed_source,
            Some(g)
        );
    }

    #[test]
    fn server_frames_round_trip() {
        let user = Guid::new_v4();
        let text = push::presence(user, Status::Busy).to_text();
        assert_eq!(
            decode_server(&text, DEFAULT_MAX_FRAME).expect("decodes"),
            ServerEvent::Presence {
                user,
                status: Status::Busy
            }
        );
        let err = Envelope::error("4", ErrorCode::UnknownUser, "no such user").to_text();
        match decode_server(&err, DEFAULT_MAX_FRAME).expect("decodes") {
            ServerEvent::Error { id, error } => {
                assert_eq!(id, "4");
                assert_eq!(error.code, ErrorCode::UnknownUser);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn receipts_are_bounded_and_only_delivered_or_played() {
        let g = Guid::new_v4();
        let one = |state: &str| format!(r#"{{"message":"{g}","state":"{state}"}}"#);
        let frame = |items: Vec<String>| {
            format!(
                r#"{{"action":"receipts","id":"r1","object":{{"receipts":[{}]}}}}"#,
                items.join(",")
            )
        };
        let ok = decode_client(
            &frame(vec![one("delivered"), one("played")]),
            DEFAULT_MAX_FRAME,
        )
        .expect("decodes");
        assert_eq!(
            ok.request,
            ClientRequest::Receipts(vec![
                ReceiptItem {
                    message: g,
                    state: MailboxState::Delivered
                },
                ReceiptItem {
                    message: g,
                    state: MailboxState::Played
                },
            ])
        );
        for bad in [
            frame(vec![]),
            frame(vec![one("delivered"); MAX_RECEIPTS + 1]),
            frame(vec![one("deleted")]),
            frame(vec![one("queued")]),
            frame(vec![one("heard")]),
            r#"{"action":"receipts","id":"r1","object":{"receipts":{}}}"#.to_owned(),
        ] {
            let e = decode_client(&bad, DEFAULT_MAX_FRAME).expect_err("refused");
            assert_eq!(
                (e.code, e.id.as_str()),
                (ErrorCode::Malformed, "r1"),
                "{bad}"
            );
        }
        let full = frame(vec![one("played"); MAX_RECEIPTS]);
        assert!(decode_client(&full, DEFAULT_MAX_FRAME).is_ok());
    }

    #[test]
    fn the_receipts_push_round_trips() {
        let r = ReceiptObject {
            message: Guid::new_v4(),
            recipient: Guid::new_v4(),
            state: MailboxState::Delivered,
        };
        let text = push::receipts(vec![r, r]).to_text();
        assert_eq!(
            decode_server(&text, DEFAULT_MAX_FRAME).expect("decodes"),
            ServerEvent::Receipts(vec![r, r])
        );
    }
}
