//! Who is told when a user's mailbox changes (a message arrived, was played or deleted): the
//! station, for its phones' message-waiting lamps.

use actix::prelude::*;
use ivm_wire::Guid;

use super::ClientActor;

/// A user's mailbox changed (a message arrived, was played or deleted): the station actor
/// updates their phones' message-waiting lamps.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct MailboxChanged {
    /// Whose mailbox.
    pub user: Guid,
}

/// Who to tell about [`MailboxChanged`] (the station actor, at start-up).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetMailboxListener(pub Recipient<MailboxChanged>);

/// Keeps the listener.
impl Handler<SetMailboxListener> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: SetMailboxListener, _: &mut Context<Self>) {
        self.mailbox_listener = Some(msg.0);
    }
}

/// Something outside the client actor changed a mailbox (a deletion through REST, a phone's
/// `*97` delete): pass it on to the listener.
impl Handler<MailboxChanged> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, _: &mut Context<Self>) {
        self.mailbox_changed(msg.user);
    }
}

