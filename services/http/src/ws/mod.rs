//! The client WebSocket (`/api/ws`): one task per socket, speaking message objects (action, id,
//! source, destination, object).
//!
//! The task authenticates the socket with the first frame (`connect` carrying a login token),
//! registers an [`Outbox`] with the client actor, then splits in two: a writer that drains the
//! outbox onto the socket, and a reader that decodes each frame and turns it into a request to
//! the client actor. Replies go through the same outbox as pushes, so a client sees them in
//! the order the actor produced them. All session state lives in the client actor.
//!
//! A user whose password is one-time (`must_change_password`) is refused: with HTTP 403
//! `password change required` when the upgrade request carries their bearer token, else with
//! a `password_change_required` error frame and close 1008 at `connect`.
//!
//! Limits: before `connect` has been checked, the first frame may be at most
//! [`gate::PRE_AUTH_FRAME`] bytes ([`gate`], applied to the raw bytes by [`mod@upgrade`]); after,
//! frames up to `max_ws_frame`. One session has at most [`POSTS_IN_FLIGHT`] `post_message`
//! being stored at once; past that, an error frame and nothing stored.
//!
//! # Layout
//! - [`mod@upgrade`]: the handshake, and the socket's bytes through the first-frame gate.
//! - [`gate`]: that gate, sans-IO.

pub mod gate;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use ivm_actors::client::{
    self, CheckIn, NewAttachment, Outbound, Outbox, PostError, PostMessage, Receipt, Receipts,
    Seen, SessionId, SetStatus, Subscribe, Unsubscribe,
};
use ivm_actors::database::groups::AllCallRefused;
use ivm_actors::database::users::UnknownUsers;
use ivm_store::User;
use ivm_talk::TalkError;
use ivm_wire::object::{
    decode_client, push, CheckInObject, ClientRequest, ConnectedObject, Envelope, ErrorCode,
    Inbound, PostObject,
};
use ivm_wire::talk::{talk_accepted, talk_refused, Portion, TalkRefusal, TalkStartObject};
use ivm_wire::{Guid, MailboxState};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;
use upgrade::{Socket, Upgrade};

use crate::AppState;

/// How long a new socket has to send `connect`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `post_message` requests one session may have being stored at once: a client that sends
/// them faster than the box stores them is told to wait, instead of queueing audio work.
pub const POSTS_IN_FLIGHT: usize = 4;

/// `GET /api/ws`: upgrade, with the frame limit applied by the WebSocket codec itself and
/// the first frame's by [`gate`].
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    if let Some(token) = crate::auth::bearer_in(&headers) {
        match crate::auth::user_for_token(&state, token.to_owned()).await {
            Ok(Some(u)) if u.must_change_password => {
                return crate::auth::password_change_required().into_response();
            }
            Ok(_) => {}
            Err(e) => return e.into_response(),
        }
    }
    let codec = CodecLimits::for_frame_limit(state.cfg.max_ws_frame);
    // Small socket buffers: a thousand idle sessions must not cost a thousand 128 KiB buffers.
    let config = WebSocketConfig::default()
        .max_message_size(Some(codec.max_message))
        .max_frame_size(Some(codec.max_frame))
        .read_buffer_size(codec.read_buffer)
        .write_buffer_size(codec.write_buffer)
        .max_write_buffer_size(codec.max_write_buffer);
    ws.on_upgrade(config, move |socket| {
        let span = tracing::info_span!("client", %peer, user = tracing::field::Empty, session = tracing::field::Empty);
        session(state, socket).instrument(span)
    })
}

/// The WebSocket codec's sizes for one socket, derived from `[limits] max_ws_frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLimits {
    /// Largest message (after reassembling fragments), bytes.
    pub max_message: usize,
    /// Largest single frame, bytes.
    pub max_frame: usize,
    /// Read buffer, bytes.
    pub read_buffer: usize,
    /// Bytes the codec gathers before it writes to the socket.
    pub write_buffer: usize,
    /// Most bytes queued for a slow reader before sends fail. The codec (tungstenite)
    /// panics unless this is above `write_buffer`, so it is derived from both.
    pub max_write_buffer: usize,
}

impl CodecLimits {
    /// Small socket buffers (a thousand idle sessions must not cost a thousand 128 KiB
    /// buffers); messages and frames up to `max`; room for two largest messages queued.
    ///
    /// The write-queue limit used to be `2 * max` alone: with a `max_ws_frame` of 4 KiB or
    /// less (the config accepts 1 KiB and up) it was not above the 8 KiB write buffer, and
    /// the codec panicked on every upgrade (found by the `ws_frames` fuzz target).
    pub fn for_frame_limit(max: usize) -> Self {
        const BUFFER: usize = 8 * 1024;
        CodecLimits {
            max_message: max,
            max_frame: max,
            read_buffer: BUFFER,
            write_buffer: BUFFER,
            max_write_buffer: BUFFER.saturating_add(max.saturating_mul(2)),
        }
    }
}

fn text(env: &Envelope) -> Message {
    Message::Text(env.to_text().into())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Waits for a valid `connect`; answers errors on the raw socket until then.
async fn authenticate(state: &AppState, socket: &mut Socket) -> Option<(Inbound, User)> {
    let max = state.cfg.max_ws_frame;
    let first = match tokio::time::timeout(CONNECT_TIMEOUT, socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(_))) => {
            let e = Envelope::error(
                "",
                ErrorCode::Malformed,
                "the first frame must be a text `connect`",
            );
            let _ = socket.send(text(&e)).await;
            return None;
        }
        Ok(Some(Err(e))) => {
            let err = Envelope::error("", ErrorCode::TooLarge, format!("frame refused: {e}"));
            let _ = socket.send(text(&err)).await;
            let _ = socket.send(close(1009, "frame too large")).await;
            return None;
        }
        Ok(None) => return None,
        Err(_) => {
            let e = Envelope::error(
                "",
                ErrorCode::Unauthorized,
                "no `connect` within 10 seconds",
            );
            let _ = socket.send(text(&e)).await;
            let _ = socket.send(close(1008, "connect timeout")).await;
            return None;
        }
    };
    let inbound = match decode_client(first.as_str(), max) {
        Ok(i) => i,
        Err(e) => {
            let _ = socket.send(text(&e.to_envelope())).await;
            let _ = socket.send(close(1008, "bad connect")).await;
            return None;
        }
    };
    let ClientRequest::Connect(c) = &inbound.request else {
        let e = Envelope::error(
            &inbound.id,
            ErrorCode::Unauthorized,
            "send `connect` with a login token first",
        );
        let _ = socket.send(text(&e)).await;
        let _ = socket.send(close(1008, "not connected")).await;
        return None;
    };
    match crate::auth::user_for_token(state, c.token.clone()).await {
        Ok(Some(user)) if user.must_change_password => {
            tracing::info!(user = %user.name, "connect refused: password change required");
            let e = Envelope::error(
                &inbound.id,
                ErrorCode::PasswordChangeRequired,
                "password change required: this password was set for you and works once; choose a new one first",
            );
            let _ = socket.send(text(&e)).await;
            let _ = socket.send(close(1008, "password change required")).await;
            None
        }
        Ok(Some(user)) => Some((inbound, user)),
        Ok(None) => {
            let e = Envelope::error(
                &inbound.id,
                ErrorCode::Unauthorized,
                "the token is unknown or has expired",
            );
            let _ = socket.send(text(&e)).await;
            let _ = socket.send(close(1008, "unauthorized")).await;
            None
        }
        Err(e) => {
            let e = Envelope::error(&inbound.id, ErrorCode::Internal, e.message);
            let _ = socket.send(text(&e)).await;
            None
        }
    }
}

async fn session(state: AppState, mut socket: Socket) {
    let Some((hello, user)) = authenticate(&state, &mut socket).await else {
        return;
    };
    let ClientRequest::Connect(c) = hello.request else {
        return;
    };
    let span = tracing::Span::current();
    span.record("user", user.name.as_str());
    let (outbox, mut rx) = client::outbox();
    let connect = client::Connect {
        user: user.clone(),
        client: c.client,
        priority: c.priority,
        outbox: outbox.clone(),
        token: Some(c.token.clone()),
    };
    let session = match state.clients.send(connect).await {
        Ok(Ok(id)) => id,
        _ => {
            let _ = socket
                .send(text(&push::server_going_down("the server is going down")))
                .await;
            let _ = socket.send(close(1001, "server going down")).await;
            return;
        }
    };
    span.record("session", session);
    let status = state
        .clients
        .send(client::GetPresence(vec![user.guid]))
        .await
        .map(|s| s[0])
        .unwrap_or_default();
    let connected = ConnectedObject {
        user: ivm_actors::views::user_info(&user, status),
        ping_interval_s: state.cfg.ping_interval_s,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let _ = outbox.push(Outbound::Frame(
        Envelope::ack(&hello.id, Some(&connected)).to_text().into(),
    ));

    let (mut sink, mut stream) = socket.split();
    let writer = state.sockets.spawn(
        async move {
            while let Some(out) = rx.recv().await {
                let done = matches!(out, Outbound::Close { .. });
                let msg = match out {
                    Outbound::Frame(f) => Message::Text(f.to_string().into()),
                    // A live talk's portion, from the session's lossy lane.
                    Outbound::Portion(p) => Message::Binary(p.to_vec().into()),
                    Outbound::Close { code, reason } => close(code, &reason),
                };
                if sink.send(msg).await.is_err() || done {
                    break;
                }
            }
            let _ = sink.close().await;
        }
        .in_current_span(),
    );

    let reader = Reader {
        state: state.clone(),
        user: user.guid,
        session,
        outbox,
        posts: Arc::new(tokio::sync::Semaphore::new(POSTS_IN_FLIGHT)),
    };
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(t)) => {
                state.clients.do_send(Seen(session));
                if !reader.frame(t.as_str()).await {
                    break;
                }
            }
            Ok(Message::Binary(b)) => {
                state.clients.do_send(Seen(session));
                reader.portion(&b).await;
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => state.clients.do_send(Seen(session)),
            Err(e) => {
                tracing::info!(error = %e, "socket error");
                reader.reply(Envelope::error(
                    "",
                    ErrorCode::TooLarge,
                    format!("frame refused: {e}"),
                ));
                let _ = reader.outbox.push(Outbound::Close {
                    code: 1009,
                    reason: "frame refused".into(),
                });
                break;
            }
        }
    }
    state.clients.do_send(client::Disconnect(session));
    // Let the writer flush what is queued (a final error, a close) before the socket drops.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Turns decoded frames into requests to the client actor.
struct Reader {
    state: AppState,
    user: Guid,
    session: SessionId,
    outbox: Outbox,
    /// Places for posts being stored ([`POSTS_IN_FLIGHT`]).
    posts: Arc<tokio::sync::Semaphore>,
}

impl Reader {
    fn reply(&self, env: Envelope) {
        let _ = self.outbox.push(Outbound::Frame(env.to_text().into()));
    }

    /// Handles one text frame; `false` ends the session.
    async fn frame(&self, t: &str) -> bool {
        let inbound = match decode_client(t, self.state.cfg.max_ws_frame) {
            Ok(i) => i,
            Err(e) => {
                self.reply(e.to_envelope());
                return true;
            }
        };
        let id = inbound.id;
        if inbound.claimed_source.is_some_and(|s| s != self.user) {
            tracing::warn!(claimed = ?inbound.claimed_source, "frame with a forged source refused");
            self.reply(Envelope::error(
                &id,
                ErrorCode::ForgedSource,
                "source must be your own GUID (or left out)",
            ));
            return true;
        }
        let clients = &self.state.clients;
        match inbound.request {
            ClientRequest::Connect(_) => self.reply(Envelope::error(
                &id,
                ErrorCode::Malformed,
                "this socket is already connected",
            )),
            ClientRequest::Disconnect => {
                self.reply(Envelope::ack::<()>(&id, None));
                let _ = self.outbox.push(Outbound::Close {
                    code: 1000,
                    reason: "bye".into(),
                });
                return false;
            }
            ClientRequest::Subscribe(targets) => {
                let r = clients
                    .send(Subscribe {
                        session: self.session,
                        targets,
                    })
                    .await;
                self.answer(
                    &id,
                    r.map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                    ErrorCode::Internal,
                );
            }
            ClientRequest::Unsubscribe(targets) => {
                let r = clients
                    .send(Unsubscribe {
                        session: self.session,
                        targets,
                    })
                    .await;
                self.answer(&id, r.map_err(|e| e.to_string()), ErrorCode::Internal);
            }
            ClientRequest::SetStatus(status) => {
                let r = clients
                    .send(SetStatus {
                        user: self.user,
                        status,
                    })
                    .await;
                self.answer(
                    &id,
                    r.map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                    ErrorCode::Internal,
                );
            }
            ClientRequest::CheckIn => match clients.send(CheckIn(self.session)).await {
                Ok(Ok(infos)) => {
                    for info in &infos {
                        if self
                            .outbox
                            .send(Outbound::Frame(push::message(info).to_text().into()))
                            .await
                            .is_err()
                        {
                            return false;
                        }
                    }
                    let queued = infos.len() as u32;
                    self.reply(Envelope::ack(&id, Some(&CheckInObject { queued })));
                }
                Ok(Err(e)) => self.reply(Envelope::error(&id, ErrorCode::Internal, e.to_string())),
                Err(e) => self.reply(Envelope::error(&id, ErrorCode::Internal, e.to_string())),
            },
            ClientRequest::Delivered(m) => self.receipt(&id, m, MailboxState::Delivered).await,
            ClientRequest::Played(m) => self.receipt(&id, m, MailboxState::Played).await,
            ClientRequest::Receipts(receipts) => {
                let r = clients
                    .send(Receipts {
                        user: self.user,
                        receipts,
                    })
                    .await;
                match r {
                    Ok(Ok(result)) => self.reply(Envelope::ack(&id, Some(&result))),
                    Ok(Err(e)) => {
                        self.reply(Envelope::error(&id, ErrorCode::Internal, e.to_string()))
                    }
                    Err(e) => self.reply(Envelope::error(&id, ErrorCode::Internal, e.to_string())),
                }
            }
            ClientRequest::Ping => self.reply(push::pong(&id)),
            ClientRequest::Pong => {}
            ClientRequest::PostMessage { to, post } => self.post(id, to, post),
            ClientRequest::TalkStart { to, start } => self.talk_start(&id, to, start).await,
            ClientRequest::TalkEnd(stream) => {
                let r = clients
                    .send(client::TalkEnd {
                        session: self.session,
                        stream,
                    })
                    .await;
                match r {
                    Ok(Ok(())) => self.reply(Envelope::ack::<()>(&id, None)),
                    Ok(Err(e)) => {
                        self.reply(Envelope::error(&id, ErrorCode::BadPortion, e.to_string()))
                    }
                    Err(e) => self.reply(Envelope::error(&id, ErrorCode::Internal, e.to_string())),
                }
            }
        }
        true
    }

    /// `talk_start`: refused with `talk_refused` when a recipient is not a user of this box
    /// (checked before the talk starts, so nothing is accepted that cannot be stored).
    async fn talk_start(&self, id: &str, to: Vec<Guid>, start: TalkStartObject) {
        if let Some(group) = start.group {
            return self.all_call(id, group, start.frame_ms).await;
        }
        match self.state.db.call(UnknownUsers(to.clone())).await {
            Ok(unknown) if unknown.is_empty() => {}
            Ok(unknown) => {
                let names: Vec<String> = unknown.iter().map(Guid::to_string).collect();
                return self.reply(talk_refused(
                    id,
                    TalkRefusal::UnknownRecipient,
                    format!("not users of this box: {}", names.join(", ")),
                ));
            }
            Err(e) => return self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
        }
        let r = self
            .state
            .clients
            .send(client::TalkStart {
                session: self.session,
                recipients: to,
                frame_ms: start.frame_ms,
                urgent: false,
            })
            .await;
        match r {
            Ok(Ok(accepted)) => self.reply(talk_accepted(id, &accepted)),
            Ok(Err(client::TalkRequestError::Talk(e))) => {
                let reason = match e {
                    TalkError::AlreadyTalking(_) => TalkRefusal::AlreadyTalking,
                    TalkError::Busy(_) => TalkRefusal::Busy,
                    _ => TalkRefusal::Malformed,
                };
                self.reply(talk_refused(id, reason, e.to_string()))
            }
            Ok(Err(e)) => self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
            Err(e) => self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
        }
    }

    /// `talk_start` naming a group: an all-call (the actor checks the permission and
    /// expands the group), refused with `not_allowed` or `unknown_group` and a line that
    /// says what to do.
    async fn all_call(&self, id: &str, group: String, frame_ms: u16) {
        let r = self
            .state
            .clients
            .send(client::AllCallStart {
                session: self.session,
                group,
                frame_ms,
            })
            .await;
        let e = match r {
            Ok(Ok(accepted)) => return self.reply(talk_accepted(id, &accepted)),
            Ok(Err(e)) => e,
            Err(e) => return self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
        };
        let reason = match &e {
            client::AllCallError::Refused(AllCallRefused::NotAllowed) => TalkRefusal::NotAllowed,
            client::AllCallError::Refused(AllCallRefused::UnknownGroup(_)) => {
                TalkRefusal::UnknownGroup
            }
            client::AllCallError::Refused(AllCallRefused::Empty(_)) => {
                TalkRefusal::UnknownRecipient
            }
            client::AllCallError::Talk(client::TalkRequestError::Talk(t)) => match t {
                TalkError::AlreadyTalking(_) => TalkRefusal::AlreadyTalking,
                TalkError::Busy(_) => TalkRefusal::Busy,
                _ => TalkRefusal::Malformed,
            },
            _ => return self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
        };
        self.reply(talk_refused(id, reason, e.to_string()))
    }

    /// A binary frame: a live talk's portion, for the talk this socket's user started. A
    /// refusal goes back as an `error` frame (`bad_portion`) and changes nothing.
    async fn portion(&self, frame: &[u8]) {
        let portion = match Portion::decode(frame) {
            Ok(p) => p,
            Err(e) => {
                return self.reply(Envelope::error(
                    "",
                    ErrorCode::BadPortion,
                    format!("portion refused: {e}"),
                ))
            }
        };
        let stream = portion.stream;
        let r = self
            .state
            .clients
            .send(client::TalkPortion {
                session: self.session,
                portion,
            })
            .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.reply(Envelope::error(
                "",
                ErrorCode::BadPortion,
                format!("portion for stream {stream} refused: {e}"),
            )),
            Err(e) => self.reply(Envelope::error("", ErrorCode::Internal, e.to_string())),
        }
    }

    fn answer(&self, id: &str, r: Result<(), String>, code: ErrorCode) {
        match r {
            Ok(()) => self.reply(Envelope::ack::<()>(id, None)),
            Err(e) => self.reply(Envelope::error(id, code, e)),
        }
    }

    async fn receipt(&self, id: &str, message: Guid, state: MailboxState) {
        let r = self
            .state
            .clients
            .send(Receipt {
                user: self.user,
                message,
                state,
            })
            .await;
        match r {
            Ok(Ok(())) => self.reply(Envelope::ack::<()>(id, None)),
            Ok(Err(client::ClientError::NotFound)) => self.reply(Envelope::error(
                id,
                ErrorCode::NotFound,
                "no such message in your inbox",
            )),
            Ok(Err(e)) => self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
            Err(e) => self.reply(Envelope::error(id, ErrorCode::Internal, e.to_string())),
        }
    }

    /// Posts run in their own task (audio preparation takes a while) so the socket keeps
    /// reading; the `ack` carries the request id.
    fn post(&self, id: String, to: Vec<Guid>, post: PostObject) {
        let Ok(place) = self.posts.clone().try_acquire_owned() else {
            tracing::info!("post refused: {POSTS_IN_FLIGHT} already being stored on this session");
            return self.reply(Envelope::error(
                &id,
                ErrorCode::RateLimited,
                format!("at most {POSTS_IN_FLIGHT} messages may be being stored at once on one connection; wait for their acks"),
            ));
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let audio = match b64.decode(post.audio.as_bytes()) {
            Ok(a) if !a.is_empty() => a,
            _ => {
                return self.reply(Envelope::error(
                    &id,
                    ErrorCode::BadAudio,
                    "audio must be non-empty base64",
                ))
            }
        };
        let mut attachments = Vec::with_capacity(post.attachments.len());
        for a in post.attachments {
            let Ok(data) = b64.decode(a.data.as_bytes()) else {
                return self.reply(Envelope::error(
                    &id,
                    ErrorCode::Malformed,
                    "attachment data must be base64",
                ));
            };
            attachments.push(NewAttachment {
                name: a.name,
                content_type: a.content_type,
                data,
            });
        }
        let msg = PostMessage {
            sender: self.user,
            to: to.iter().map(|g| g.to_string()).collect(),
            audio,
            attachments,
        };
        let clients = self.state.clients.clone();
        let outbox = self.outbox.clone();
        tokio::spawn(
            async move {
                let env = match clients.send(msg).await {
                    Ok(Ok(info)) => Envelope::ack(&id, Some(&info)),
                    Ok(Err(e)) => Envelope::error(&id, post_code(&e), e.to_string()),
                    Err(e) => Envelope::error(&id, ErrorCode::Internal, e.to_string()),
                };
                let _ = outbox.push(Outbound::Frame(env.to_text().into()));
                drop(place);
            }
            .in_current_span(),
        );
    }
}

fn post_code(e: &PostError) -> ErrorCode {
    match e {
        PostError::UnknownUser(_) => ErrorCode::UnknownUser,
        PostError::NotPublished(_) => ErrorCode::NotPublished,
        PostError::BadAudio(_) => ErrorCode::BadAudio,
        PostError::NoRecipients
        | PostError::BadAttachmentName(_)
        | PostError::BadKey(_)
        | PostError::KeyReused(_) => ErrorCode::Malformed,
        PostError::RateLimited { .. } => ErrorCode::RateLimited,
        PostError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        PostError::DiskFull => ErrorCode::DiskFull,
        PostError::GoingDown | PostError::Internal(_) => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::CodecLimits;
    use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

    /// The codec as axum builds it from [`CodecLimits`].
    fn codec(c: CodecLimits) -> WebSocket<std::io::Cursor<Vec<u8>>> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(c.max_message))
            .max_frame_size(Some(c.max_frame))
            .read_buffer_size(c.read_buffer)
            .write_buffer_size(c.write_buffer)
            .max_write_buffer_size(c.max_write_buffer);
        WebSocket::from_raw_socket(std::io::Cursor::new(Vec::new()), Role::Server, Some(config))
    }

    /// Every frame limit the config accepts (1024 and up) gives settings the codec takes: it
    /// panics when the write-queue limit is not above the write buffer, which `2 * max` was
    /// not for limits up to 4 KiB (the `ws_frames` fuzz target's first crash).
    #[test]
    fn every_accepted_frame_limit_makes_a_working_codec() {
        for max in [1024, 2048, 4096, 4097, 8192, 200_000, 4 * 1024 * 1024] {
            let c = CodecLimits::for_frame_limit(max);
            assert!(c.max_write_buffer > c.write_buffer, "{max}: {c:?}");
            assert!(
                c.max_write_buffer >= 2 * max,
                "two largest messages fit: {c:?}"
            );
            let _ = codec(c);
        }
        let huge = CodecLimits::for_frame_limit(usize::MAX);
        assert!(huge.max_write_buffer > huge.write_buffer);
    }
}
