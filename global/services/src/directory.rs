//! The directory (S23): which box serves which user.
//!
//! Boxes ask on `ivm.dir.<box>.<operation>`; the box is taken from the subject (the servers'
//! permissions let a box publish only under its own), never from the body. A user GUID owned
//! by one box is refused to every other box, and `create` (not `put`) is used for new users so
//! two boxes racing for one GUID cannot both win. The box's durable consumer on `IVM_IN` is
//! made here, with the box's own filter, because a box may not create consumers.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, kv};
use futures_util::StreamExt as _;
use ivm_global::directory::{
    check_publish, BoxRecord, Operation, PublishRequest, Reply, UnpublishRequest, UserRecord,
    MAX_REQUEST,
};
use ivm_global::subject;
use ivm_wire::Guid;
use tracing::{info, warn};

/// How long the cluster waits for a box's ack before redelivering to it.
pub const BOX_ACK_WAIT: Duration = Duration::from_secs(30);

/// Why the directory stopped.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The streams or buckets could not be made.
    #[error(transparent)]
    Storage(#[from] ivm_global::nats::NatsError),
    /// A NATS or JetStream call failed.
    #[error("nats: {0}")]
    Nats(String),
}

fn nats(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Nats(e.to_string())
}

/// The buckets and stream a directory instance works on.
pub struct Directory {
    js: jetstream::Context,
    users: kv::Store,
    boxes: kv::Store,
}

/// Runs one directory instance until the connection is closed.
pub async fn run(client: async_nats::Client, replicas: usize) -> Result<(), DirectoryError> {
    let js = jetstream::new(client.clone());
    let directory = crate::until_ready("directory storage", || async {
        ivm_global::nats::ensure_storage(&js, replicas).await?;
        Directory::open(js.clone()).await
    })
    .await;
    let mut requests = client
        .queue_subscribe(
            subject::DIRECTORY_SUBSCRIPTION,
            subject::DIRECTORY_QUEUE.into(),
        )
        .await
        .map_err(nats)?;
    info!("directory answering");
    while let Some(request) = requests.next().await {
        let Some(reply_to) = request.reply.clone() else {
            continue;
        };
        let reply = directory.handle(&request.subject, &request.payload).await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "directory request failed");
                Reply {
                    error: Some("directory unavailable, try again".into()),
                    ..Reply::default()
                }
            }
        };
        let body = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = client.publish(reply_to, body.into()).await {
            warn!(error = %e, "reply not sent");
        }
    }
    Ok(())
}

impl Directory {
    /// Opens the buckets (made by [`ivm_global::nats::ensure_storage`]).
    pub async fn open(js: jetstream::Context) -> Result<Self, DirectoryError> {
        let users = js
            .get_key_value(subject::USERS_BUCKET)
            .await
            .map_err(nats)?;
        let boxes = js
            .get_key_value(subject::BOXES_BUCKET)
            .await
            .map_err(nats)?;
        Ok(Self { js, users, boxes })
    }

    /// Answers one request. A malformed request gets a reply with `error` set and changes
    /// nothing; `Err` is the cluster failing.
    pub async fn handle(&self, subject: &str, payload: &[u8]) -> Result<Reply, DirectoryError> {
        let refuse = |why: &str| {
            Ok(Reply {
                error: Some(why.into()),
                ..Reply::default()
            })
        };
        let Some((box_id, op)) = subject::parse_directory(subject) else {
            return refuse("bad subject");
        };
        if payload.len() > MAX_REQUEST {
            return refuse("request too large");
        }
        match Operation::parse(op) {
            Some(Operation::Publish) => {
                let Ok(request) = serde_json::from_slice::<PublishRequest>(payload) else {
                    return refuse("not a publish request");
                };
                if let Err(why) = check_publish(&request) {
                    return refuse(why);
                }
                self.publish(box_id, request).await
            }
            Some(Operation::Unpublish) => {
                let Ok(request) = serde_json::from_slice::<UnpublishRequest>(payload) else {
                    return refuse("not an unpublish request");
                };
                if request.users.len() > ivm_global::directory::MAX_USERS_PER_REQUEST {
                    return refuse("too many users in one request");
                }
                self.unpublish(box_id, request).await
            }
            None => refuse("unknown operation"),
        }
    }

    async fn publish(
        &self,
        box_id: Guid,
        request: PublishRequest,
    ) -> Result<Reply, DirectoryError> {
        self.ensure_box_consumer(box_id).await?;
        let mut reply = Reply::default();
        for user in request.users {
            // A box's users are `name@<box>`: an id that is not the one this box's name
            // gives would be another box's user (or nobody's).
            if user.id != ivm_global::address::user_id(box_id, &user.name) {
                reply.refused.push(user.id);
                continue;
            }
            let key = subject::token(user.id);
            let record = UserRecord {
                box_id,
                name: user.name,
            };
            let value: bytes::Bytes = serde_json::to_vec(&record).map_err(nats)?.into();
            let owned = match self.users.entry(key.clone()).await.map_err(nats)? {
                Some(e) if e.operation == kv::Operation::Put => {
                    serde_json::from_slice::<UserRecord>(&e.value)
                        .ok()
                        .map(|r| (r.box_id, e.revision))
                }
                _ => None,
            };
            let done = match owned {
                Some((owner, revision)) if owner == box_id => {
                    self.users.update(&key, value, revision).await.is_ok()
                }
                Some(_) => false,
                None => self.users.create(&key, value).await.is_ok(),
            };
            if done {
                reply.accepted.push(user.id);
            } else {
                reply.refused.push(user.id);
            }
        }
        let record = BoxRecord {
            last_seen_ms: crate::now_ms(),
        };
        self.boxes
            .put(
                subject::token(box_id),
                serde_json::to_vec(&record).map_err(nats)?.into(),
            )
            .await
            .map_err(nats)?;
        info!(box_id = %box_id, accepted = reply.accepted.len(), refused = reply.refused.len(), "published");
        Ok(reply)
    }

    async fn unpublish(
        &self,
        box_id: Guid,
        request: UnpublishRequest,
    ) -> Result<Reply, DirectoryError> {
        let mut reply = Reply::default();
        for user in request.users {
            let key = subject::token(user);
            let owner = match self.users.entry(key.clone()).await.map_err(nats)? {
                Some(e) if e.operation == kv::Operation::Put => {
                    serde_json::from_slice::<UserRecord>(&e.value)
                        .ok()
                        .map(|r| (r.box_id, e.revision))
                }
                _ => None,
            };
            match owner {
                Some((owner, revision)) if owner == box_id => {
                    self.users
                        .delete_expect_revision(&key, Some(revision))
                        .await
                        .map_err(nats)?;
                    reply.accepted.push(user);
                }
                _ => reply.refused.push(user),
            }
        }
        Ok(reply)
    }

    /// Makes the box's durable consumer on `IVM_IN` (filter: its own subject; one message
    /// un-acked at a time, so the box takes them in order).
    async fn ensure_box_consumer(&self, box_id: Guid) -> Result<(), DirectoryError> {
        let stream = self.js.get_stream(subject::IN_STREAM).await.map_err(nats)?;
        let name = subject::box_consumer(box_id);
        stream
            .get_or_create_consumer::<pull::Config>(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: subject::inbound(box_id),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: BOX_ACK_WAIT,
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(nats)?;
        Ok(())
    }
}
