//! Store-and-forward between boxes (S22): take an envelope from `IVM_OUT`, find the
//! recipient's box in the directory, put the envelope on `ivm.in.<that box>`, and only then
//! acknowledge it.
//!
//! Exactly once: the republish carries the envelope's `Nats-Msg-Id`, so if this instance dies
//! after the republish and before its ack, the instance that gets the redelivery republishes
//! into JetStream's duplicate window and nothing is doubled. The ack is a double ack (the
//! server confirms it), so an ack lost on the wire is a redelivery, not a silent loss.
//!
//! Bad input (a subject that names no box, an envelope that does not parse, a sender that is
//! not a user of the sending box, an unknown recipient) is acknowledged and logged, never
//! forwarded: nothing downstream sees it and it is not retried forever. A message from a
//! genuine sender whose recipient is not (or no longer) in the directory goes back to the
//! sender's box as an `undeliverable` receipt, so the sender sees it did not arrive instead
//! of waiting for it forever.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, kv, AckKind};
use futures_util::StreamExt as _;
use ivm_global::directory::UserRecord;
use ivm_global::envelope::{Envelope, Receipt, ReceiptState};
use ivm_global::subject;
use ivm_wire::Guid;
use tracing::{info, warn};

/// Envelopes un-acked at once across every instance (the shared consumer's
/// `max_ack_pending`). One: JetStream hands out the next envelope only after the last was
/// routed and acked, so envelopes leave `IVM_OUT` in stream order whichever instance routes
/// them, and a box's messages arrive in the order it sent them. With more, two instances
/// overtook each other (the two-box end-to-end test saw it). The cost is one envelope routed
/// at a time cluster-wide; partitioning `ivm.out.<box>` by box is the way back to parallel
/// routing (decision 0008).
pub const MAX_IN_FLIGHT: i64 = 1;
/// How long the cluster waits for an ack before giving the envelope to another instance.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long to wait before retrying an envelope whose republish failed.
pub const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Why the transport stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The streams or buckets could not be made.
    #[error(transparent)]
    Storage(#[from] ivm_global::nats::NatsError),
    /// A JetStream call failed for good.
    #[error("jetstream: {0}")]
    JetStream(String),
}

/// What became of one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Put on the recipient box's subject.
    Routed {
        /// The box it went to.
        to_box: Guid,
    },
    /// Dropped as bad input (the reason is logged).
    Refused(&'static str),
    /// Sent back to the sending box as an `undeliverable` receipt (the reason is logged).
    Returned(&'static str),
}

/// Runs one transport instance until the connection is closed.
pub async fn run(client: async_nats::Client, replicas: usize) -> Result<(), TransportError> {
    let js = jetstream::new(client);
    let (consumer, users) =
        crate::until_ready("transport storage", || prepare(&js, replicas)).await;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| TransportError::JetStream(e.to_string()))?;
    info!("transport routing");
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "pull failed; continuing");
                continue;
            }
        };
        match route(&js, &users, &message.subject, &message.payload).await {
            Ok(outcome) => {
                match outcome {
                    Outcome::Refused(why) => {
                        warn!(subject = %message.subject, why, "envelope refused")
                    }
                    Outcome::Returned(why) => {
                        warn!(subject = %message.subject, why, "message returned to its sender as undeliverable")
                    }
                    Outcome::Routed { .. } => {}
                }
                if let Err(e) = message.double_ack().await {
                    // Not acked: the cluster redelivers and the republish is de-duplicated.
                    warn!(error = %e, "ack failed; the envelope will come back");
                }
            }
            Err(e) => {
                warn!(error = %e, "republish failed; retrying later");
                let _ = message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
            }
        }
    }
    Ok(())
}

/// The streams and buckets, the transport instances' shared durable consumer on `IVM_OUT`,
/// and the users bucket routes are looked up in.
async fn prepare(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<(jetstream::consumer::PullConsumer, kv::Store), TransportError> {
    ivm_global::nats::ensure_storage(js, replicas).await?;
    let err = |e: &dyn std::fmt::Display| TransportError::JetStream(e.to_string());
    let stream = js
        .get_stream(subject::OUT_STREAM)
        .await
        .map_err(|e| err(&e))?;
    let consumer = stream
        .get_or_create_consumer(
            subject::TRANSPORT_CONSUMER,
            pull::Config {
                durable_name: Some(subject::TRANSPORT_CONSUMER.into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_IN_FLIGHT,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err(&e))?;
    let users = js
        .get_key_value(subject::USERS_BUCKET)
        .await
        .map_err(|e| err(&e))?;
    Ok((consumer, users))
}

/// Routes one envelope that arrived on `subject`. `Err` means "try again later" (the cluster
/// could not take the republish); bad input is an `Ok(Outcome::Refused)`, a message to
/// nobody the directory knows an `Ok(Outcome::Returned)`.
pub async fn route(
    js: &jetstream::Context,
    users: &kv::Store,
    subject: &str,
    payload: &[u8],
) -> Result<Outcome, TransportError> {
    let Some(from_box) = subject::box_of_out(subject) else {
        return Ok(Outcome::Refused("subject names no box"));
    };
    let envelope = match Envelope::decode(payload) {
        Ok(e) => e,
        Err(_) => return Ok(Outcome::Refused("not an envelope")),
    };
    match lookup(users, envelope.from_user()).await? {
        Some(sender) if sender.box_id == from_box => {}
        _ => {
            return Ok(Outcome::Refused(
                "sender is not a published user of the sending box",
            ))
        }
    }
    if let Some(recipient) = lookup(users, envelope.to_user()).await? {
        forward(js, recipient.box_id, &envelope.msg_id(), payload).await?;
        return Ok(Outcome::Routed {
            to_box: recipient.box_id,
        });
    }
    let why = "recipient is not in the directory";
    let Envelope::Message(m) = &envelope else {
        // A receipt is not answered with a receipt.
        return Ok(Outcome::Refused(why));
    };
    let bounce = Envelope::Receipt(Receipt {
        message: m.id,
        from: m.to,
        to: m.from,
        state: ReceiptState::Undeliverable,
        at_ms: crate::now_ms(),
    });
    let body = bounce
        .encode()
        .map_err(|e| TransportError::JetStream(e.to_string()))?;
    forward(js, from_box, &bounce.msg_id(), &body).await?;
    Ok(Outcome::Returned(why))
}

/// Puts `payload` on `ivm.in.<to_box>` under `msg_id` and waits for the stream's ack.
async fn forward(
    js: &jetstream::Context,
    to_box: Guid,
    msg_id: &str,
    payload: &[u8],
) -> Result<(), TransportError> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id);
    js.publish_with_headers(
        subject::inbound(to_box),
        headers,
        bytes::Bytes::copy_from_slice(payload),
    )
    .await
    .map_err(|e| TransportError::JetStream(e.to_string()))?
    .await
    .map_err(|e| TransportError::JetStream(e.to_string()))?;
    Ok(())
}

/// The directory record of `user`, if published.
async fn lookup(users: &kv::Store, user: Guid) -> Result<Option<UserRecord>, TransportError> {
    let bytes = users
        .get(subject::token(user))
        .await
        .map_err(|e| TransportError::JetStream(e.to_string()))?;
    // A record the directory wrote always parses; anything else counts as absent.
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}
