//! Who is told when a user's presence may have changed: the station, for desk phones'
//! contact keys that subscribe to `presence` (RFC 3856). Like the mailbox listeners, each
//! registers itself; the listener keeps the last status it saw and ignores repeats.

use actix::prelude::*;
use ivm_wire::{Guid, Status};

use super::ClientActor;

/// `user`'s presence is now `status` (sent on every announcement, changed or not).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PresenceChanged {
    /// Whose presence.
    pub user: Guid,
    /// What others see now.
    pub status: Status,
}

/// Tell this recipient about every [`PresenceChanged`] from now on; one whose actor has
/// stopped is dropped at the next change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddPresenceListener(pub Recipient<PresenceChanged>);

/// Keeps the listener beside the others.
impl Handler<AddPresenceListener> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: AddPresenceListener, _: &mut Context<Self>) {
        self.presence_listeners.push(msg.0);
    }
}

impl ClientActor {
    /// Tells every live listener `user`'s presence now; forgets the dead ones.
    pub(super) fn feed_presence(&mut self, user: Guid, status: Status) {
        self.presence_listeners.retain(|l| l.connected());
        for l in &self.presence_listeners {
            l.do_send(PresenceChanged { user, status });
        }
    }
}
