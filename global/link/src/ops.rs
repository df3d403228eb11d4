//! The link's database operations: each one trip to a database thread (disk and AES happen
//! there, never in the link's task).

use ivm_actors::database::Op;
use ivm_global::address;
use ivm_global::envelope::{Envelope, Message, Receipt, ReceiptState};
use ivm_store::{OutboxEntry, Store, StoreError};
use ivm_wire::{Guid, MailboxState, Priority};

/// Who this box is on the cluster.
#[derive(Debug, Clone)]
pub struct BoxIdentity {
    /// Its global name.
    pub name: String,
    /// Its GUID ([`address::box_id`] of the name).
    pub id: Guid,
}

impl BoxIdentity {
    /// The identity of the box named `name`.
    pub fn new(name: &str) -> Self {
        BoxIdentity {
            name: name.to_owned(),
            id: address::box_id(name),
        }
    }

    /// The global GUID of this box's user `name`.
    pub fn user(&self, name: &str) -> Guid {
        address::user_id(self.id, name)
    }
}

/// The oldest outbox entry, as the envelope to publish. `None`: the outbox is empty.
pub struct OutboxHead {
    /// This box.
    pub me: BoxIdentity,
}

/// What the head of the outbox comes to.
pub enum Head {
    /// Publish this (entry number, envelope).
    Publish(u64, Envelope),
    /// The entry can no longer be sent (its message or user was deleted meanwhile, or it
    /// does not make a valid envelope): removed, with why.
    Dropped(u64, String),
    /// A message whose sender is no longer published to the directory (an admin turned
    /// `global` off while it waited): the cluster would refuse it, so it is undeliverable to
    /// `to`. The entry stays until [`OutboxDone`], after the sender was told.
    Undeliverable {
        /// The entry.
        seq: u64,
        /// The message.
        message: Guid,
        /// The remote recipient.
        to: Guid,
    },
}

impl Op for OutboxHead {
    type Output = Option<Head>;
    fn run(self, s: &Store) -> Result<Option<Head>, StoreError> {
        let Some((seq, entry)) = s.outbox_head()? else {
            return Ok(None);
        };
        let built = match entry {
            OutboxEntry::Message { message, to } => {
                match message_envelope(s, &self.me, message, to)? {
                    Ok(Some(e)) => Ok(e),
                    Ok(None) => return Ok(Some(Head::Undeliverable { seq, message, to })),
                    Err(why) => Err(why),
                }
            }
            OutboxEntry::Receipt {
                message,
                from,
                to,
                state,
            } => {
                let state = match state {
                    MailboxState::Played => ReceiptState::Played,
                    _ => ReceiptState::Delivered,
                };
                s.user(from)?
                    .map(|u| {
                        Envelope::Receipt(Receipt {
                            message,
                            from: self.me.user(&u.name),
                            to,
                            state,
                            at_ms: now_ms(),
                        })
                    })
                    .ok_or_else(|| "the recipient was deleted".to_owned())
            }
        };
        Ok(Some(match built {
            Ok(e) => match e.encode() {
                Ok(_) => Head::Publish(seq, e),
                Err(why) => {
                    s.outbox_remove(seq)?;
                    Head::Dropped(seq, why.to_string())
                }
            },
            Err(why) => {
                s.outbox_remove(seq)?;
                Head::Dropped(seq, why)
            }
        }))
    }
}

/// The envelope of message `id` to `to`; `Ok(None)` when its sender is no longer published;
/// `Err` when it can no longer be sent at all.
fn message_envelope(
    s: &Store,
    me: &BoxIdentity,
    id: Guid,
    to: Guid,
) -> Result<Result<Option<Envelope>, String>, StoreError> {
    let Some(msg) = s.message(id)? else {
        return Ok(Err("the message was deleted".into()));
    };
    let Some(sender) = s.user(msg.sender)? else {
        return Ok(Err("the sender was deleted".into()));
    };
    if !sender.global {
        return Ok(Ok(None));
    }
    let audio = s.read_blob(&msg.audio)?;
    Ok(Ok(Some(Envelope::Message(Message {
        id,
        from: me.user(&sender.name),
        from_name: sender.display_name.chars().take(64).collect(),
        from_address: format!("{}@{}", sender.name, me.name),
        to,
        priority: if msg.urgent {
            Priority::High
        } else {
            Priority::Normal
        },
        sent_ms: msg.created_at,
        audio,
        duration_ms: msg.duration_ms,
        peaks: msg.peaks,
    }))))
}

/// Removes outbox entry `seq` (its publish was acked).
pub struct OutboxDone(pub u64);

impl Op for OutboxDone {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.outbox_remove(self.0)
    }
}

/// The users opted in to the directory: `(global GUID, login name, local GUID)`.
pub struct PublishedUsers {
    /// This box.
    pub me: BoxIdentity,
}

impl Op for PublishedUsers {
    type Output = Vec<(Guid, String, Guid)>;
    fn run(self, s: &Store) -> Result<Self::Output, StoreError> {
        Ok(s.global_users()?
            .into_iter()
            .map(|u| (self.me.user(&u.name), u.name, u.guid))
            .collect())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
