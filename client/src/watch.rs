//! The sans-IO core of `ivm watch`: what to do about each server event.
//!
//! [`Watch`] has no socket, no clock and no file system. The driver
//! (`commands/watch.rs`) feeds it what happened, [`Watch::on_open`], [`Watch::on_event`],
//! [`Watch::on_saved`], [`Watch::on_closed`], ..., and carries out the [`Action`]s it returns:
//! send a frame, save a message, ring the bell, print a line, reconnect after a delay. So the
//! protocol (connect → `check_in` + `subscribe`, answer every `ping`, `delivered` only after a
//! message is stored, back-off on `server_going_down`) is tested here without a server.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use ivm_wire::object::{ConnectObject, Envelope, ErrorCode, MessageRef, ServerEvent};
use ivm_wire::rest::MessageInfo;
use ivm_wire::{Guid, Priority};
use serde_json::{json, Value};

/// First wait before reconnecting.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between reconnect attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Why the watch gave up; the driver turns it into an exit status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// ctrl-C: a clean exit.
    #[error("interrupted")]
    Interrupted,
    /// The server would not take the token, and there is no password to get a new one.
    #[error("the server refused the session ({0}); run `ivm login` again")]
    Refused(String),
    /// The server closed the session on purpose (`disconnect`).
    #[error("the server closed the session: {0}")]
    Closed(String),
    /// The very first connection failed (later failures are retried).
    #[error("{0}")]
    Unreachable(String),
    /// The password in use is one-time; the box takes no session until it is changed.
    #[error("{}", crate::api::PASSWORD_CHANGE_REQUIRED)]
    PasswordChangeRequired,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this frame.
    Send(Envelope),
    /// Download this message's audio and attachments into the mailbox, then report back with
    /// [`Watch::on_saved`] or [`Watch::on_save_failed`].
    Save(Box<MessageInfo>),
    /// Print this as one JSON line on stdout.
    Emit(Value),
    /// Ring the terminal bell (a new message is here).
    Bell,
    /// Drop the connection, wait this long, connect again and call [`Watch::on_open`].
    Reconnect {
        /// How long to wait first.
        after: Duration,
    },
    /// The token was refused: log in again with the password, hand the new token to
    /// [`Watch::set_token`], and connect again at once.
    Relogin,
    /// A live talk to me begins: collect the portions of `stream` (binary frames).
    TalkBegin {
        /// The talk's stream id.
        stream: u32,
        /// The speaker.
        from: Guid,
    },
    /// The live talk `stream` ended: save what arrived as a WAV.
    TalkFinish {
        /// The talk's stream id.
        stream: u32,
    },
    /// Stop watching.
    Exit(Stop),
}

/// Doubling waits from [`BACKOFF_FIRST`] up to [`BACKOFF_MAX`]; reset once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// The wait to use now; the one after it is twice as long (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }

    /// Back to [`BACKOFF_FIRST`].
    pub fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// No socket.
    Down,
    /// Socket open, `connect` sent with this request id, waiting for its `ack`.
    Connecting(String),
    /// Authenticated.
    Ready,
}

/// The state of one `ivm watch`.
#[derive(Debug)]
pub struct Watch {
    token: String,
    can_relogin: bool,
    relogin_tried: bool,
    ever_connected: bool,
    phase: Phase,
    backoff: Backoff,
    next_id: u64,
    /// Messages being downloaded: a second push of the same message must not start a second
    /// writer on the same files.
    in_flight: HashSet<Guid>,
}

impl Watch {
    /// A watch that authenticates with `token`; `can_relogin` when a password is at hand to
    /// get a new token if the server forgets this one (e.g. after a restart).
    pub fn new(token: impl Into<String>, can_relogin: bool) -> Self {
        Watch {
            token: token.into(),
            can_relogin,
            relogin_tried: false,
            ever_connected: false,
            phase: Phase::Down,
            backoff: Backoff::default(),
            next_id: 0,
            in_flight: HashSet::new(),
        }
    }

    /// Whether the session is authenticated now.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// A fresh token from a new login.
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.token = token.into();
    }

    fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("c{}", self.next_id)
    }

    fn request(&mut self, action: &str) -> Envelope {
        let id = self.request_id();
        Envelope::new(action).with_id(id)
    }

    /// The socket is open: authenticate.
    pub fn on_open(&mut self) -> Vec<Action> {
        let connect = self.request("connect").with_object(&ConnectObject {
            token: self.token.clone(),
            client: crate::CLIENT_NAME.to_owned(),
            priority: Priority::Normal,
        });
        self.phase = Phase::Connecting(connect.id.clone());
        vec![Action::Send(connect)]
    }

    /// One decoded frame from the server.
    pub fn on_event(&mut self, event: ServerEvent) -> Vec<Action> {
        match event {
            ServerEvent::Ack { id, .. } if self.phase == Phase::Connecting(id.clone()) => {
                self.phase = Phase::Ready;
                self.ever_connected = true;
                self.relogin_tried = false;
                self.backoff.reset();
                // Queued messages first, then presence of every contact (empty destination).
                vec![
                    Action::Send(self.request("check_in")),
                    Action::Send(self.request("subscribe")),
                ]
            }
            ServerEvent::Error { id, error } if self.phase == Phase::Connecting(id.clone()) => {
                self.phase = Phase::Down;
                if error.code == ErrorCode::PasswordChangeRequired {
                    return vec![Action::Exit(Stop::PasswordChangeRequired)];
                }
                if error.code == ErrorCode::Unauthorized {
                    if self.can_relogin && !self.relogin_tried {
                        self.relogin_tried = true;
                        return vec![Action::Relogin];
                    }
                    return vec![Action::Exit(Stop::Refused(error.message))];
                }
                self.reconnect(&format!("connect failed: {}", error.message))
            }
            ServerEvent::Message(info) => {
                if self.in_flight.insert(info.id) {
                    vec![Action::Save(info)]
                } else {
                    Vec::new()
                }
            }
            ServerEvent::Ping { id } => vec![Action::Send(Envelope::new("pong").with_id(id))],
            ServerEvent::ServerGoingDown(r) => {
                self.phase = Phase::Down;
                self.reconnect(&format!("server going down: {}", r.reason))
            }
            ServerEvent::Disconnect(r) => {
                self.phase = Phase::Down;
                vec![Action::Exit(Stop::Closed(r.reason))]
            }
            // Printed by the driver as they come; nothing more to do.
            ServerEvent::Ack { .. }
            | ServerEvent::Error { .. }
            | ServerEvent::Receipt(_)
            | ServerEvent::Receipts(_)
            | ServerEvent::Presence { .. }
            | ServerEvent::Pong { .. }
            | ServerEvent::TalkAccepted { .. }
            | ServerEvent::TalkRefused { .. } => Vec::new(),
            // Live talks to me: the driver collects their portions and saves a WAV at the end.
            ServerEvent::TalkIncoming(i) => vec![Action::TalkBegin {
                stream: i.stream,
                from: i.from,
            }],
            ServerEvent::TalkEnded(e) => vec![Action::TalkFinish { stream: e.stream }],
        }
    }

    /// Message `id` is stored in the mailbox folder `path`; `fresh` unless it was already
    /// there from an earlier delivery. Confirms it to the server, and tells the person.
    pub fn on_saved(&mut self, id: Guid, path: &Path, fresh: bool) -> Vec<Action> {
        self.in_flight.remove(&id);
        let mut actions = Vec::new();
        // Not connected: the server still has it queued and sends it again after the next
        // check_in, when it is confirmed.
        if self.phase == Phase::Ready {
            let delivered = self
                .request("delivered")
                .with_object(&MessageRef { message: id });
            actions.push(Action::Send(delivered));
        }
        if fresh {
            actions.push(Action::Bell);
        }
        actions.push(Action::Emit(json!({
            "event": "saved",
            "id": id,
            "path": path.to_string_lossy(),
        })));
        actions
    }

    /// Message `id` could not be stored. No `delivered` is sent, so the server keeps it queued
    /// and offers it again on the next connection.
    pub fn on_save_failed(&mut self, id: Guid, error: &str) -> Vec<Action> {
        self.in_flight.remove(&id);
        vec![Action::Emit(
            json!({ "event": "save_failed", "id": id, "error": error }),
        )]
    }

    /// The socket closed or failed without a `server_going_down`.
    pub fn on_closed(&mut self, cause: &str) -> Vec<Action> {
        self.phase = Phase::Down;
        self.reconnect(&format!("connection lost: {cause}"))
    }

    /// Opening the socket failed. Fatal the first time (the server is not there at all),
    /// retried with back-off once we have been connected.
    pub fn on_connect_failed(&mut self, cause: &str) -> Vec<Action> {
        self.phase = Phase::Down;
        if !self.ever_connected {
            return vec![Action::Exit(Stop::Unreachable(cause.to_owned()))];
        }
        self.reconnect(cause)
    }

    /// ctrl-C: say goodbye when connected, then stop.
    pub fn on_interrupt(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.phase != Phase::Down {
            actions.push(Action::Send(self.request("disconnect")));
        }
        self.phase = Phase::Down;
        actions.push(Action::Exit(Stop::Interrupted));
        actions
    }

    fn reconnect(&mut self, reason: &str) -> Vec<Action> {
        let after = self.backoff.next_delay();
        vec![
            Action::Emit(json!({
                "event": "reconnecting",
                "after_s": after.as_secs(),
                "reason": reason,
            })),
            Action::Reconnect { after },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::object::{decode_server, push, ErrorObject, ReasonObject, DEFAULT_MAX_FRAME};
    use ivm_wire::Status;

    fn info() -> MessageInfo {
        MessageInfo {
            id: Guid::new_v4(),
            sender: Guid::new_v4(),
            sender_name: "amy".into(),
            sender_display_name: "Amy".into(),
            recipients: vec![],
            created_at: 0,
            duration_ms: 1000,
            peaks: vec![],
            audio_bytes: 10,
            attachments: vec![],
            state: None,
            partial: false,
            urgent: false,
        }
    }

    fn sent(actions: &[Action]) -> Vec<&Envelope> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// A watch that has connected and been acked.
    fn ready() -> Watch {
        let mut w = Watch::new("tok", false);
        let open = w.on_open();
        let id = sent(&open)[0].id.clone();
        w.on_event(ServerEvent::Ack {
            id,
            object: Value::Null,
        });
        assert!(w.is_ready());
        w
    }

    #[test]
    fn connect_then_check_in_and_subscribe() {
        let mut w = Watch::new("tok", false);
        let open = w.on_open();
        let connect = sent(&open)[0].clone();
        assert_eq!(connect.action, "connect");
        let obj: ConnectObject = serde_json::from_value(connect.object.clone()).expect("object");
        assert_eq!(obj.token, "tok");
        assert!(obj.client.starts_with("ivm/"));
        assert_eq!(obj.priority, Priority::Normal);
        // An ack for some other id does not count.
        assert!(w
            .on_event(ServerEvent::Ack {
                id: "zz".into(),
                object: Value::Null
            })
            .is_empty());
        assert!(!w.is_ready());
        let next = w.on_event(ServerEvent::Ack {
            id: connect.id.clone(),
            object: Value::Null,
        });
        let frames: Vec<_> = sent(&next).iter().map(|e| e.action.as_str()).collect();
        assert_eq!(frames, ["check_in", "subscribe"]);
        assert!(sent(&next)
            .iter()
            .all(|e| e.destination.is_empty() && !e.id.is_empty()));
        // Request ids are all different.
        assert_ne!(sent(&next)[0].id, sent(&next)[1].id);
        assert_ne!(sent(&next)[0].id, connect.id);
    }

    #[test]
    fn pings_are_answered_with_the_same_id() {
        let mut w = ready();
        let text = push::ping("p-17").to_text();
        let ev = decode_server(&text, DEFAULT_MAX_FRAME).expect("decodes");
        let out = w.on_event(ev);
        assert_eq!(out, [Action::Send(Envelope::new("pong").with_id("p-17"))]);
    }

    #[test]
    fn a_message_is_saved_then_delivered_then_announced() {
        let mut w = ready();
        let m = info();
        let out = w.on_event(ServerEvent::Message(Box::new(m.clone())));
        assert_eq!(out, [Action::Save(Box::new(m.clone()))]);
        // The same message pushed again while it downloads starts no second save.
        assert!(w
            .on_event(ServerEvent::Message(Box::new(m.clone())))
            .is_empty());
        let out = w.on_saved(m.id, Path::new("/x/m"), true);
        let delivered = sent(&out)[0];
        assert_eq!(delivered.action, "delivered");
        let r: MessageRef = serde_json::from_value(delivered.object.clone()).expect("object");
        assert_eq!(r.message, m.id);
        assert_eq!(out[1], Action::Bell);
        assert_eq!(
            out[2],
            Action::Emit(json!({"event": "saved", "id": m.id, "path": "/x/m"}))
        );
        // Offered again later (e.g. after a reconnect): saved again, confirmed again, no bell.
        assert_eq!(
            w.on_event(ServerEvent::Message(Box::new(m.clone()))).len(),
            1
        );
        let again = w.on_saved(m.id, Path::new("/x/m"), false);
        assert_eq!(sent(&again).len(), 1);
        assert!(!again.contains(&Action::Bell));
    }

    #[test]
    fn a_failed_save_is_not_confirmed() {
        let mut w = ready();
        let m = info();
        w.on_event(ServerEvent::Message(Box::new(m.clone())));
        let out = w.on_save_failed(m.id, "disk full");
        assert!(sent(&out).is_empty());
        assert!(matches!(&out[0], Action::Emit(v) if v["event"] == "save_failed"));
        // And it can be tried again.
        assert_eq!(w.on_event(ServerEvent::Message(Box::new(m))).len(), 1);
    }

    #[test]
    fn server_going_down_reconnects_with_doubling_backoff() {
        let mut w = ready();
        let going = ServerEvent::ServerGoingDown(ReasonObject {
            reason: "update".into(),
        });
        let out = w.on_event(going);
        assert!(matches!(&out[0], Action::Emit(v) if v["event"] == "reconnecting"));
        assert_eq!(
            out[1],
            Action::Reconnect {
                after: Duration::from_secs(1)
            }
        );
        let mut waits = Vec::new();
        for _ in 0..7 {
            match w.on_connect_failed("refused").last() {
                Some(Action::Reconnect { after }) => waits.push(after.as_secs()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30]);
        // Back and acked: the next outage starts at 1 s again.
        let open = w.on_open();
        w.on_event(ServerEvent::Ack {
            id: sent(&open)[0].id.clone(),
            object: Value::Null,
        });
        assert_eq!(
            w.on_closed("reset").last(),
            Some(&Action::Reconnect {
                after: BACKOFF_FIRST
            })
        );
    }

    #[test]
    fn first_connection_failure_is_fatal() {
        let mut w = Watch::new("tok", false);
        assert_eq!(
            w.on_connect_failed("cannot reach the server at http://x: refused"),
            [Action::Exit(Stop::Unreachable(
                "cannot reach the server at http://x: refused".into()
            ))]
        );
    }

    #[test]
    fn a_required_password_change_stops_without_relogin() {
        let mut w = Watch::new("tok", true);
        let id = sent(&w.on_open())[0].id.clone();
        let event = ServerEvent::Error {
            id,
            error: ErrorObject {
                code: ErrorCode::PasswordChangeRequired,
                message: "password change required".into(),
            },
        };
        assert_eq!(
            w.on_event(event),
            [Action::Exit(Stop::PasswordChangeRequired)]
        );
    }

    #[test]
    fn refused_token_relogs_once_when_it_can() {
        let refuse = |id: String| ServerEvent::Error {
            id,
            error: ErrorObject {
                code: ErrorCode::Unauthorized,
                message: "bad token".into(),
            },
        };
        let mut saved_login = Watch::new("old", false);
        let id = sent(&saved_login.on_open())[0].id.clone();
        assert_eq!(
            saved_login.on_event(refuse(id)),
            [Action::Exit(Stop::Refused("bad token".into()))]
        );

        let mut with_password = Watch::new("old", true);
        let id = sent(&with_password.on_open())[0].id.clone();
        assert_eq!(with_password.on_event(refuse(id)), [Action::Relogin]);
        with_password.set_token("new");
        let open = with_password.on_open();
        let obj: ConnectObject =
            serde_json::from_value(sent(&open)[0].object.clone()).expect("obj");
        assert_eq!(obj.token, "new");
        // Refused again straight away: give up rather than loop.
        let id = sent(&open)[0].id.clone();
        assert!(matches!(
            with_password.on_event(refuse(id)).as_slice(),
            [Action::Exit(Stop::Refused(_))]
        ));
    }

    #[test]
    fn disconnect_stops_and_ctrl_c_says_goodbye() {
        let mut w = ready();
        let out = w.on_interrupt();
        assert_eq!(sent(&out)[0].action, "disconnect");
        assert_eq!(out.last(), Some(&Action::Exit(Stop::Interrupted)));

        let mut w = ready();
        let out = w.on_event(ServerEvent::Disconnect(ReasonObject {
            reason: "logged out".into(),
        }));
        assert_eq!(out, [Action::Exit(Stop::Closed("logged out".into()))]);
    }

    #[test]
    fn a_live_talk_is_collected_from_incoming_to_end() {
        use ivm_wire::talk::{
            talk_ended, talk_incoming, TalkEndReason, TalkEndedObject, TalkIncomingObject,
        };
        let mut w = ready();
        let ann = Guid::new_v4();
        let inc = talk_incoming(&TalkIncomingObject {
            stream: 7,
            from: ann,
            frame_ms: 20,
            codec: "opus".into(),
            urgent: false,
        });
        let ev = decode_server(&inc.to_text(), DEFAULT_MAX_FRAME).expect("decodes");
        assert_eq!(
            w.on_event(ev),
            [Action::TalkBegin {
                stream: 7,
                from: ann
            }]
        );
        let end = talk_ended(&TalkEndedObject {
            stream: 7,
            reason: TalkEndReason::Finished,
            partial: false,
            duration_ms: 1000,
            message: Some(Guid::new_v4()),
        });
        let ev = decode_server(&end.to_text(), DEFAULT_MAX_FRAME).expect("decodes");
        assert_eq!(w.on_event(ev), [Action::TalkFinish { stream: 7 }]);
    }

    #[test]
    fn presence_receipts_and_other_acks_need_nothing() {
        let mut w = ready();
        let user = Guid::new_v4();
        assert!(w
            .on_event(ServerEvent::Presence {
                user,
                status: Status::Busy
            })
            .is_empty());
        assert!(w
            .on_event(ServerEvent::Ack {
                id: "c2".into(),
                object: json!({"queued": 0})
            })
            .is_empty());
    }
}
