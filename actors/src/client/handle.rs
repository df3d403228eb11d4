//! [`ClientHandle`]: the client manager as the services reach it.
//!
//! A service holds one recipient per request it may make of the client manager, not the
//! actor's type: the requests below are the client manager's public vocabulary, and a
//! service that needs another one says so here. `send` and `do_send` read like an address's,
//! so a call site is `clients.send(Connect { .. })`.

use std::sync::Arc;

use actix::dev::RecipientRequest;
use actix::prelude::*;

use super::{
    AddIntercomPhones, AddMailboxListener, AddPresenceListener, AllCallStart, CheckIn, ClientActor,
    Connect, Disconnect, GetPresence, GetStats, IntercomHeard, MailboxChanged, PhonePresence,
    PhoneTalkEnd, PhoneTalkPortion, PhoneTalkStart, PostGlobal, PostMessage, PostOnce,
    PostPrepared, Receipt, Receipts, Seen, SetStatus, Subscribe, TalkEnd, TalkPortion, TalkStart,
    Unsubscribe,
};

/// The client manager's requests, each as a recipient (cheap to clone: one `Arc`).
#[derive(Clone)]
pub struct ClientHandle(Arc<Recipients>);

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientHandle")
    }
}

/// A request [`ClientHandle`] carries.
pub trait Reaches<M: Message + Send + 'static>
where
    M::Result: Send,
{
    /// The recipient for `M`.
    fn recipient(&self) -> &Recipient<M>;
}

macro_rules! recipients {
    ($($field:ident: $msg:ty),* $(,)?) => {
        struct Recipients {
            $($field: Recipient<$msg>,)*
        }

        impl ClientHandle {
            /// The handle of the client actor at `addr`.
            pub fn new(addr: &Addr<ClientActor>) -> Self {
                ClientHandle(Arc::new(Recipients {
                    $($field: addr.clone().recipient(),)*
                }))
            }
        }

        $(
            impl Reaches<$msg> for ClientHandle {
                fn recipient(&self) -> &Recipient<$msg> {
                    &self.0.$field
                }
            }
        )*
    };
}

recipients! {
    connect: Connect,
    disconnect: Disconnect,
    seen: Seen,
    check_in: CheckIn,
    subscribe: Subscribe,
    unsubscribe: Unsubscribe,
    set_status: SetStatus,
    presence: GetPresence,
    receipt: Receipt,
    receipts: Receipts,
    post: PostMessage,
    post_once: PostOnce,
    post_prepared: PostPrepared,
    post_global: PostGlobal,
    mailbox_changed: MailboxChanged,
    stats: GetStats,
    phone_presence: PhonePresence,
    add_mailbox_listener: AddMailboxListener,
    add_presence_listener: AddPresenceListener,
    talk_start: TalkStart,
    talk_portion: TalkPortion,
    talk_end: TalkEnd,
    add_intercom_phones: AddIntercomPhones,
    intercom_heard: IntercomHeard,
    phone_talk_start: PhoneTalkStart,
    phone_talk_portion: PhoneTalkPortion,
    phone_talk_end: PhoneTalkEnd,
    all_call_start: AllCallStart,
}

impl ClientHandle {
    /// Sends `msg` and waits for the answer (as [`Addr::send`]).
    pub fn send<M>(&self, msg: M) -> RecipientRequest<M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Self: Reaches<M>,
    {
        self.recipient().send(msg)
    }

    /// Sends `msg` without waiting (as [`Addr::do_send`]).
    pub fn do_send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Self: Reaches<M>,
    {
        self.recipient().do_send(msg)
    }

    /// The recipient of one request, to hand to a part that needs only that.
    pub fn to<M>(&self) -> Recipient<M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Self: Reaches<M>,
    {
        self.recipient().clone()
    }
}
