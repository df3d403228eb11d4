//! Who is told when a user's mailbox changes (a message arrived, was played or deleted): the
//! station for its phones' message-waiting lamps, and later the gateway for analog lines'
//! stutter tone. Each registers itself; several may listen at once.

use actix::prelude::*;
use ivm_wire::Guid;

use super::ClientActor;

/// A user's mailbox changed (a message arrived, was played or deleted): the listeners
/// update what shows it (a phone's message-waiting lamp).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct MailboxChanged {
    /// Whose mailbox.
    pub user: Guid,
}

/// Tell this recipient about every [`MailboxChanged`] from now on. Each listener is kept
/// beside the others (the station, a gateway); one whose actor has stopped is dropped at the
/// next change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddMailboxListener(pub Recipient<MailboxChanged>);

/// Keeps the listener beside the others.
impl Handler<AddMailboxListener> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: AddMailboxListener, _: &mut Context<Self>) {
        self.mailbox_listeners.push(msg.0);
    }
}

/// Something outside the client actor changed a mailbox (a deletion through REST, a phone's
/// `*97` delete): pass it on to the listeners.
impl Handler<MailboxChanged> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: MailboxChanged, _: &mut Context<Self>) {
        self.mailbox_changed(msg.user);
    }
}

impl ClientActor {
    /// Tells every live listener that `user`'s mailbox changed; forgets the dead ones.
    pub(super) fn mailbox_changed(&mut self, user: Guid) {
        self.mailbox_listeners.retain(|l| l.connected());
        for l in &self.mailbox_listeners {
            l.do_send(MailboxChanged { user });
        }
    }
}
