//! Receipts: one ([`Receipt`], REST and WebSocket) or a batch ([`Receipts`]).
//!
//! Batched receipts: a recipient's client confirms many messages (delivered, played) in one
//! WebSocket frame, and the box records them in one commit.
//!
//! A client back from a long absence has every queued message pushed at check-in and must
//! confirm each. One request and one fsync per message is what made the web client lose
//! receipts (thousands of REST calls at once, refused by the browser); a batch of up to
//! [`ivm_wire::object::MAX_RECEIPTS`] costs one transaction. The answer names every message
//! of the batch as applied or not found, so the client retries only what was not answered.
//! Senders get one `receipts` push per batch with the states that changed, instead of a
//! frame per message that could overflow their session's outbox.

use std::collections::HashMap;

use actix::prelude::*;
use ivm_store::Advanced;
use ivm_wire::object::{push, ReceiptItem, ReceiptObject, ReceiptsResult};
use ivm_wire::{Guid, MailboxState};

use super::{ClientActor, ClientError};
use crate::database::messages::{Advance, AdvanceMany};

/// A recipient's mailbox state moves forward (delivered or played), from REST or WebSocket.
#[derive(Message)]
#[rtype(result = "Result<(), ClientError>")]
pub struct Receipt {
    /// The recipient.
    pub user: Guid,
    /// The message.
    pub message: Guid,
    /// The new state (`delivered` or `played`).
    pub state: MailboxState,
}

/// Records the state and tells the sender's sessions.
impl Handler<Receipt> for ClientActor {
    type Result = ResponseActFuture<Self, Result<(), ClientError>>;

    fn handle(&mut self, r: Receipt, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let fut = async move {
            db.call(Advance {
                user: r.user,
                message: r.message,
                state: r.state,
            })
            .await
        };
        Box::pin(fut.into_actor(self).map(move |res, act, _| match res? {
            None => Err(ClientError::NotFound),
            Some((sender, changed)) => {
                if changed {
                    act.mailbox_changed(r.user);
                    let receipt = ReceiptObject {
                        message: r.message,
                        recipient: r.user,
                        state: r.state,
                    };
                    act.push_to_user(sender, &push::receipt(receipt));
                }
                Ok(())
            }
        }))
    }
}

/// A recipient's batch of receipts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<ReceiptsResult, ClientError>")]
pub struct Receipts {
    /// The recipient (from the session, never from the frame).
    pub user: Guid,
    /// The receipts, each `delivered` or `played` (the decoder checked).
    pub receipts: Vec<ReceiptItem>,
}

/// What a batch changed, grouped by the sender to tell.
fn changes_by_sender(
    user: Guid,
    asked: &[ReceiptItem],
    done: &[Advanced],
) -> (ReceiptsResult, HashMap<Guid, Vec<ReceiptObject>>) {
    let mut result = ReceiptsResult::default();
    let mut by_sender: HashMap<Guid, Vec<ReceiptObject>> = HashMap::new();
    for (r, d) in asked.iter().zip(done) {
        match *d {
            Advanced::NotFound => result.not_found.push(r.message),
            Advanced::Done { sender, changed } => {
                result.applied.push(r.message);
                if changed {
                    by_sender.entry(sender).or_default().push(ReceiptObject {
                        message: r.message,
                        recipient: user,
                        state: r.state,
                    });
                }
            }
        }
    }
    (result, by_sender)
}

/// Records the batch in one commit, then tells each sender what changed in one frame.
impl Handler<Receipts> for ClientActor {
    type Result = ResponseActFuture<Self, Result<ReceiptsResult, ClientError>>;

    fn handle(&mut self, msg: Receipts, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let Receipts { user, receipts } = msg;
        let asked: Vec<_> = receipts.iter().map(|r| (r.message, r.state)).collect();
        let fut = async move {
            db.call(AdvanceMany {
                user,
                receipts: asked,
            })
            .await
        };
        Box::pin(fut.into_actor(self).map(move |res, act, _| {
            let done = res?;
            let (result, by_sender) = changes_by_sender(user, &receipts, &done);
            if !by_sender.is_empty() {
                act.mailbox_changed(user);
            }
            for (sender, changes) in by_sender {
                act.push_to_user(sender, &push::receipts(changes));
            }
            tracing::debug!(
                applied = result.applied.len(),
                not_found = result.not_found.len(),
                "batch of receipts"
            );
            Ok(result)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_wire::MailboxState;

    #[test]
    fn every_receipt_is_answered_and_only_changes_are_pushed() {
        let (me, ann, cat) = (Guid::new_v4(), Guid::new_v4(), Guid::new_v4());
        let m: Vec<Guid> = (0..4).map(|_| Guid::new_v4()).collect();
        let asked = [
            ReceiptItem {
                message: m[0],
                state: MailboxState::Delivered,
            },
            ReceiptItem {
                message: m[1],
                state: MailboxState::Played,
            },
            ReceiptItem {
                message: m[2],
                state: MailboxState::Delivered,
            },
            ReceiptItem {
                message: m[3],
                state: MailboxState::Delivered,
            },
        ];
        let done = [
            Advanced::Done {
                sender: ann,
                changed: true,
            },
            Advanced::Done {
                sender: cat,
                changed: true,
            },
            Advanced::NotFound,
            Advanced::Done {
                sender: ann,
                changed: false,
            },
        ];
        let (result, by_sender) = changes_by_sender(me, &asked, &done);
        assert_eq!(result.applied, [m[0], m[1], m[3]]);
        assert_eq!(result.not_found, [m[2]]);
        assert_eq!(
            by_sender[&ann],
            [ReceiptObject {
                message: m[0],
                recipient: me,
                state: MailboxState::Delivered
            }]
        );
        assert_eq!(by_sender[&cat][0].state, MailboxState::Played);
        assert_eq!(by_sender.len(), 2);
    }
}
