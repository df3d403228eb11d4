//! The handler chain, after dora's plugins: each handler looks at the request and the reply
//! built so far and says whether to answer now, stay silent, or let the next one continue.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{Message, MessageType};
use ivm_provision::{Mac, Vendor};

use crate::lease::StoreError;
use crate::server::{Event, State};
use crate::wire::WireError;

/// Why a handler failed. The request gets no reply; the error is logged.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The lease store failed: no ACK without a durable lease.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reply could not be encoded.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// What the chain does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send `ctx.reply` now.
    Respond,
    /// Send nothing.
    NoResponse,
    /// Go on to the next handler.
    Continue,
}

/// One decoded request on its way through the chain.
#[derive(Debug)]
pub struct Context {
    /// Unix seconds.
    pub now: u64,
    /// The request.
    pub req: Message,
    /// Its message type.
    pub msg_type: MessageType,
    /// Interface it came in on.
    pub interface: String,
    /// UDP source.
    pub source: SocketAddrV4,
    /// True when it was sent to a broadcast address (from `IP_PKTINFO`): tells REBINDING
    /// from RENEWING.
    pub to_broadcast: bool,
    /// The client's MAC (`chaddr`).
    pub mac: Mac,
    /// Client key (option 61, else htype + chaddr).
    pub client: Vec<u8>,
    /// Vendor from option 60 or the MAC prefix.
    pub vendor: Option<Vendor>,
    /// Index of the pool serving this request, once chosen.
    pub pool: Option<usize>,
    /// The reply being built.
    pub reply: Option<Message>,
    /// What happened, for the server's event queue.
    pub events: Vec<Event>,
}

impl Context {
    /// Requested address (option 50).
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        match self
            .req
            .opts()
            .get(dhcproto::v4::OptionCode::RequestedIpAddress)
        {
            Some(dhcproto::v4::DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => None,
        }
    }

    /// Server identifier (option 54).
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        match self
            .req
            .opts()
            .get(dhcproto::v4::OptionCode::ServerIdentifier)
        {
            Some(dhcproto::v4::DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        }
    }
}

/// A link in the chain. Handlers hold configuration only; all mutable state is in
/// [`State`], owned by the server, so the chain stays a list of plain values.
pub trait Handler: Send {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Looks at the request; may change `state` and `ctx.reply`.
    fn handle(&self, ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError>;
}
