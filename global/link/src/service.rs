//! The [`Link`] service: connect, publish users, flush the outbox, take delivery.
//!
//! One task, one loop; every wait is bounded and every step is one at a time, so the loop is
//! easy to reason about: a publish awaits its ack before the next entry is looked at (the
//! order of the outbox is the order on the cluster), and a delivered message is acked only
//! after the client manager answered that it is committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures_util::future::BoxFuture;
use futures_util::StreamExt as _;
use ivm_actors::client::{ClientError, ClientHandle, Incoming, PostGlobal, PreparedAudio, Receipt};
use ivm_actors::database::Db;
use ivm_global::config::LinkConfig;
use ivm_global::directory::{PublishRequest, PublishedUser, Reply, UnpublishRequest};
use ivm_global::envelope::{Envelope, ReceiptState};
use ivm_global::outbox::{Action, Outbox};
use ivm_global::subject;
use ivm_service::{CancellationToken, Service};
use ivm_store::RemoteUser;
use ivm_wire::{Guid, MailboxState};
use tracing::{info, warn};

use crate::ops::{BoxIdentity, Head, OutboxDone, OutboxHead, PublishedUsers};
use crate::status::LinkStatus;

/// How often the published users are compared with the opted-in ones while linked.
pub const REFRESH: Duration = Duration::from_secs(10);
/// How long a publish may wait for its JetStream ack before it counts as failed.
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long a directory request may take.
pub const REQUEST_WAIT: Duration = Duration::from_secs(5);
/// The longest wait between connection attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(10);

/// The box's link to the cluster (a [`Service`]).
pub struct Link {
    cfg: LinkConfig,
    me: BoxIdentity,
    db: Db,
    clients: ClientHandle,
    status: Arc<LinkStatus>,
}

/// Why the link could not take a step (logged; the loop goes on).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The database.
    #[error("database: {0}")]
    Db(#[from] ivm_actors::database::DbError),
    /// The cluster.
    #[error("cluster: {0}")]
    Nats(String),
}

fn nats(e: impl std::fmt::Display) -> LinkError {
    LinkError::Nats(e.to_string())
}

impl Link {
    /// A link with this (checked) config for the box named `box_name`.
    pub fn new(cfg: LinkConfig, box_name: &str, db: Db, clients: ClientHandle) -> Self {
        Link {
            cfg,
            me: BoxIdentity::new(box_name),
            db,
            clients,
            status: Arc::default(),
        }
    }

    /// Its state, for `ivmd status` and the admin page (kept up to date while it runs).
    pub fn view(&self) -> crate::GlobalView {
        crate::GlobalView {
            box_name: self.me.name.clone(),
            status: self.status.clone(),
        }
    }
}

impl Service for Link {
    fn name(&self) -> &'static str {
        "global link"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let Some(client) = self.connect(&shutdown).await else {
                return;
            };
            let mut state = State::new(&self, client);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = state.run() => {}
            }
            // Whatever was in flight is still in the outbox or un-acked on the cluster.
            let _ = state.client.flush().await;
            info!("global link stopped");
        })
    }
}

impl Link {
    /// Connects, retrying with a growing wait until it works or the box stops.
    async fn connect(&self, shutdown: &CancellationToken) -> Option<async_nats::Client> {
        let mut wait = Duration::from_millis(250);
        let name = format!("ivmd {}", self.me.name);
        loop {
            let attempt = ivm_global::nats::connect(&self.cfg, &name, Some(self.me.id));
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return None,
                r = attempt => r,
            };
            match outcome {
                Ok(client) => {
                    info!(box_name = %self.me.name, "global link connected");
                    return Some(client);
                }
                Err(e) => {
                    warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "global link: cannot connect")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(MAX_RETRY);
        }
    }
}

/// The loop's state.
struct State {
    me: BoxIdentity,
    db: Db,
    clients: ClientHandle,
    client: async_nats::Client,
    js: jetstream::Context,
    outbox: Outbox,
    up: bool,
    status: Arc<LinkStatus>,
    /// Published users by global GUID: (login name, local GUID).
    published: HashMap<Guid, (String, Guid)>,
    /// When the users were last published (`None`: not since the link came up).
    refreshed: Option<Instant>,
    consumer: Option<PullConsumer>,
}

impl State {
    fn new(link: &Link, client: async_nats::Client) -> Self {
        State {
            me: link.me.clone(),
            db: link.db.clone(),
            clients: link.clients.clone(),
            js: jetstream::new(client.clone()),
            client,
            outbox: Outbox::new(),
            up: false,
            status: link.status.clone(),
            published: HashMap::new(),
            refreshed: None,
            consumer: None,
        }
    }

    async fn run(&mut self) {
        loop {
            let connected =
                self.client.connection_state() == async_nats::connection::State::Connected;
            if connected != self.up {
                self.up = connected;
                self.status.set_up(connected);
                if connected {
                    info!("global link up");
                    self.outbox.link_up();
                } else {
                    warn!("global link down: outgoing messages wait in the outbox");
                    self.outbox.link_down();
                    self.refreshed = None;
                    self.consumer = None;
                }
            }
            if !self.up {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            if self.refreshed.is_none_or(|t| t.elapsed() >= REFRESH) {
                match self.publish_users().await {
                    Ok(()) => self.refreshed = Some(Instant::now()),
                    Err(e) => warn!(error = %e, "global link: publishing users failed"),
                }
            }
            let busy = match self.flush_one().await {
                Ok(busy) => busy,
                Err(e) => {
                    warn!(error = %e, "global link: outbox");
                    false
                }
            };
            if self.refreshed.is_some() {
                let wait = if busy {
                    Duration::from_millis(50)
                } else {
                    Duration::from_millis(500)
                };
                // Bounded even if the connection drops under a pull in progress.
                let taken = tokio::time::timeout(wait + ACK_WAIT, self.take_one(wait))
                    .await
                    .unwrap_or_else(|_| Err(LinkError::Nats("pull timed out".into())));
                if let Err(e) = taken {
                    warn!(error = %e, "global link: delivery");
                    self.consumer = None;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// Publishes the opted-in users and withdraws the ones opted out since.
    async fn publish_users(&mut self) -> Result<(), LinkError> {
        let users = self
            .db
            .call(PublishedUsers {
                me: self.me.clone(),
            })
            .await?;
        let now: HashMap<Guid, (String, Guid)> = users
            .into_iter()
            .map(|(global, name, local)| (global, (name, local)))
            .collect();
        let gone: Vec<Guid> = self
            .published
            .keys()
            .filter(|g| !now.contains_key(g))
            .copied()
            .collect();
        let request = PublishRequest {
            users: now
                .iter()
                .map(|(&id, (name, _))| PublishedUser {
                    id,
                    name: name.clone(),
                })
                .collect(),
        };
        let reply = self.ask("publish", &request).await?;
        if !reply.refused.is_empty() {
            warn!(refused = ?reply.refused, "the directory refused some users (owned by another box?)");
        }
        if !gone.is_empty() {
            self.ask("unpublish", &UnpublishRequest { users: gone })
                .await?;
        }
        self.published = now
            .into_iter()
            .filter(|(g, _)| reply.accepted.contains(g))
            .collect();
        self.status.set_published(self.published.len());
        info!(
            users = self.published.len(),
            "users published to the directory"
        );
        Ok(())
    }

    async fn ask<T: serde::Serialize>(&self, op: &str, body: &T) -> Result<Reply, LinkError> {
        let body = serde_json::to_vec(body).map_err(nats)?;
        let answer = tokio::time::timeout(
            REQUEST_WAIT,
            self.client
                .request(subject::directory(self.me.id, op), body.into()),
        )
        .await
        .map_err(|_| LinkError::Nats("the directory did not answer".into()))?
        .map_err(nats)?;
        let reply: Reply = serde_json::from_slice(&answer.payload).map_err(nats)?;
        match reply.error {
            Some(e) => Err(LinkError::Nats(format!("the directory: {e}"))),
            None => Ok(reply),
        }
    }

    /// Publishes the head of the outbox if it is time. Returns whether there was work.
    async fn flush_one(&mut self) -> Result<bool, LinkError> {
        let head = self
            .db
            .call(OutboxHead {
                me: self.me.clone(),
            })
            .await?;
        let (seq, envelope) = match head {
            None => {
                self.outbox.poll(Instant::now(), None);
                return Ok(false);
            }
            Some(Head::Dropped(seq, why)) => {
                warn!(entry = seq, why, "outbox entry dropped");
                return Ok(true);
            }
            Some(Head::Undeliverable { seq, message, to }) => {
                // As if the transport had returned it: the sender sees it undeliverable.
                let receipt = Receipt {
                    user: to,
                    message,
                    state: MailboxState::Undeliverable,
                };
                if !self.apply_receipt(receipt).await {
                    return Ok(false);
                }
                self.db.call(OutboxDone(seq)).await?;
                warn!(entry = seq, %message, "the sender is no longer in the global directory: returned as undeliverable");
                return Ok(true);
            }
            Some(Head::Publish(seq, e)) => (seq, e),
        };
        match self.outbox.poll(Instant::now(), Some(seq)) {
            Action::Publish(n) if n == seq => {}
            _ => return Ok(false),
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            envelope.msg_id().as_str(),
        );
        let bytes = envelope.encode().map_err(nats)?;
        let sent = self
            .js
            .publish_with_headers(subject::out(self.me.id), headers, bytes.into())
            .await;
        let acked = match sent {
            Ok(ack) => matches!(tokio::time::timeout(ACK_WAIT, ack).await, Ok(Ok(_))),
            Err(_) => false,
        };
        if acked && self.outbox.acked(seq) {
            self.db.call(OutboxDone(seq)).await?;
            info!(entry = seq, id = %envelope.msg_id(), "sent to the cluster");
        } else if !acked {
            self.outbox.failed(seq, Instant::now());
            warn!(
                entry = seq,
                "publish not acknowledged: it stays in the outbox"
            );
        }
        Ok(true)
    }

    /// Takes at most one message from the box's consumer (waiting up to `wait`).
    async fn take_one(&mut self, wait: Duration) -> Result<(), LinkError> {
        if self.consumer.is_none() {
            let c = self
                .js
                .get_consumer_from_stream(subject::box_consumer(self.me.id), subject::IN_STREAM)
                .await
                .map_err(nats)?;
            self.consumer = Some(c);
        }
        let Some(consumer) = &self.consumer else {
            return Ok(());
        };
        let mut batch = consumer
            .batch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(nats)?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(nats)?;
            let done = self.deliver(&m.payload).await;
            if done {
                m.double_ack().await.map_err(nats)?;
            }
        }
        Ok(())
    }

    /// Applies one delivered envelope locally. `true`: committed (or refused for good), ack
    /// it; `false`: try again (it is redelivered after the consumer's ack wait).
    async fn deliver(&mut self, payload: &[u8]) -> bool {
        let envelope = match Envelope::decode(payload) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "dropped an undecodable envelope");
                return true;
            }
        };
        match envelope {
            Envelope::Message(m) => {
                let Some((_, local)) = self.published.get(&m.to).cloned() else {
                    warn!(message = %m.id, "a message for a user not published here: dropped");
                    return true;
                };
                let address = if m.from_address.is_empty() {
                    m.from.simple().to_string()
                } else {
                    m.from_address.clone()
                };
                let display_name = if m.from_name.trim().is_empty() {
                    address.clone()
                } else {
                    m.from_name.clone()
                };
                let post = PostGlobal {
                    incoming: Incoming {
                        id: m.id,
                        sender: RemoteUser {
                            guid: m.from,
                            address,
                            display_name,
                        },
                    },
                    to: local,
                    audio: PreparedAudio {
                        ogg: m.audio,
                        duration_ms: m.duration_ms,
                        peaks: m.peaks,
                    },
                };
                match self.clients.send(post).await {
                    Ok(Ok(posted)) => {
                        info!(message = %m.id, replayed = posted.replayed, "message from another box stored");
                        true
                    }
                    Ok(Err(e)) => {
                        warn!(message = %m.id, error = %e, "message from another box not stored");
                        // Refusals of the message itself will not change on a retry.
                        !matches!(
                            e,
                            ivm_actors::client::PostError::DiskFull
                                | ivm_actors::client::PostError::GoingDown
                                | ivm_actors::client::PostError::Internal(_)
                        )
                    }
                    Err(e) => {
                        warn!(error = %e, "client manager unavailable");
                        false
                    }
                }
            }
            Envelope::Receipt(r) => {
                let state = match r.state {
                    ReceiptState::Delivered => MailboxState::Delivered,
                    ReceiptState::Played => MailboxState::Played,
                    ReceiptState::Undeliverable => MailboxState::Undeliverable,
                };
                self.apply_receipt(Receipt {
                    user: r.from,
                    message: r.message,
                    state,
                })
                .await
            }
        }
    }

    /// Applies a receipt through the client manager, as a local one is. `true`: done
    /// (applied, or for a message its sender no longer has); `false`: try again later.
    async fn apply_receipt(&self, receipt: Receipt) -> bool {
        let (message, state) = (receipt.message, receipt.state);
        match self.clients.send(receipt).await {
            Ok(Ok(())) => {
                info!(%message, ?state, "receipt applied");
                true
            }
            Ok(Err(ClientError::NotFound)) => {
                warn!(%message, "receipt for a message not sent to its sender: dropped");
                true
            }
            Ok(Err(e)) => {
                warn!(error = %e, "receipt not applied");
                false
            }
            Err(e) => {
                warn!(error = %e, "client manager unavailable");
                false
            }
        }
    }
}
