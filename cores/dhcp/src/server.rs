//! The public face: [`Server::handle`] takes one datagram and the time, runs the handler
//! chain and returns the replies to send; [`Server::poll_event`] drains what happened.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, HType, MessageType, Opcode, OptionCode};
use ivm_provision::{Mac, Vendor};

use crate::config::{Config, ConfigError, Pool};
use crate::handler::{Action, Context, Handler, HandlerError};
use crate::handlers::{Classify, Leases, Options, VendorOpts};
use crate::lease::{Lease, LeaseStore, StoreError};
use crate::reply::{Destination, Reply};
use crate::wire::{self, WireError};

/// Why the server could not start or a request was dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Loading leases failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A malformed datagram.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A handler failed.
    #[error(transparent)]
    Handler(#[from] HandlerError),
}

/// One received datagram, with what the socket told us about it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The UDP payload.
    pub bytes: &'a [u8],
    /// UDP source (a relay's address and port 67, or a client's).
    pub source: SocketAddrV4,
    /// Receiving interface (`IP_PKTINFO` / the socket bound to it).
    pub interface: &'a str,
    /// Sent to a broadcast address (from `IP_PKTINFO`'s destination).
    pub to_broadcast: bool,
}

/// Something the server did or saw, for logs, the phone registry and the admin page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request from a recognised phone vendor: update the registry's "last seen".
    PhoneSeen {
        /// The phone.
        mac: Mac,
        /// Its vendor.
        vendor: Vendor,
        /// Option 60, if sent.
        class: Option<String>,
    },
    /// An address was offered.
    Offered {
        /// Client.
        mac: Mac,
        /// Address.
        ip: Ipv4Addr,
    },
    /// A lease was committed and ACKed.
    Bound {
        /// Client.
        mac: Mac,
        /// Address.
        ip: Ipv4Addr,
        /// Unix seconds.
        expires: u64,
    },
    /// A NAK was sent.
    Nak {
        /// Client.
        mac: Mac,
        /// What it asked for.
        requested: Option<Ipv4Addr>,
        /// Why.
        reason: &'static str,
    },
    /// A client released its address.
    Released {
        /// Client.
        mac: Mac,
        /// Address.
        ip: Ipv4Addr,
    },
    /// A client declined an address; it is quarantined.
    Declined {
        /// Client.
        mac: Mac,
        /// Address.
        ip: Ipv4Addr,
    },
    /// No free address for a DISCOVER: no OFFER was sent. Existing leases are unaffected.
    PoolExhausted {
        /// Pool name.
        pool: String,
        /// Client that got nothing.
        mac: Mac,
    },
    /// A datagram was dropped: malformed, or a handler failed.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// An offer held for one client.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Client key.
    pub client: Vec<u8>,
    /// Unix seconds.
    pub expires: u64,
}

/// The server's mutable state, handed to each handler.
pub struct State {
    /// Configuration.
    pub config: Config,
    store: Box<dyn LeaseStore>,
    leases: HashMap<Ipv4Addr, Lease>,
    by_client: HashMap<Vec<u8>, Ipv4Addr>,
    offers: HashMap<Ipv4Addr, Offer>,
    /// Each client's pending offer (the reverse of `offers`), so a DISCOVER replaces it
    /// without walking every offer: under a flood of new clients that walk was a tenth of the
    /// server's time.
    offer_of: HashMap<Vec<u8>, Ipv4Addr>,
    /// Per pool (by name), where the search for a free address resumes: one past the last one
    /// offered. A new client's DISCOVER then costs about one probe, not a walk over every
    /// address already taken, and a released address is not handed out again at once.
    cursor: HashMap<String, u32>,
}

impl State {
    /// The lease on `ip`.
    pub fn lease(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(&ip)
    }

    /// The client's lease, if any.
    pub fn lease_of(&self, client: &[u8]) -> Option<&Lease> {
        self.by_client
            .get(client)
            .and_then(|ip| self.leases.get(ip))
    }

    /// The reservation for `mac`.
    pub fn reservation(&self, mac: &Mac) -> Option<Ipv4Addr> {
        self.config
            .reservations
            .iter()
            .find(|r| r.mac == *mac)
            .map(|r| r.ip)
    }

    /// True when `ip` can go to `client` (with MAC `mac`) now.
    pub fn available(&self, pool: &Pool, ip: Ipv4Addr, client: &[u8], mac: &Mac, now: u64) -> bool {
        if !pool.contains(ip)
            || ip == pool.server_id
            || ip == pool.network
            || ip == pool.broadcast()
        {
            return false;
        }
        if self
            .config
            .reservations
            .iter()
            .any(|r| r.ip == ip && r.mac != *mac)
        {
            return false;
        }
        if let Some(l) = self.leases.get(&ip) {
            if l.client != client && l.blocks(now) {
                return false;
            }
            if l.state == crate::lease::LeaseState::Declined && l.blocks(now) {
                return false;
            }
        }
        if let Some(o) = self.offers.get(&ip) {
            if o.client != client && o.expires > now {
                return false;
            }
        }
        true
    }

    /// A free address of `pool`'s dynamic range for `client`: the first available one from
    /// the pool's cursor on, wrapping around once; `None` when the range is exhausted.
    pub fn next_free(
        &mut self,
        pool: &Pool,
        client: &[u8],
        mac: &Mac,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let (start, end) = (u32::from(pool.start), u32::from(pool.end));
        let from = self
            .cursor
            .get(&pool.name)
            .copied()
            .filter(|c| (start..=end).contains(c))
            .unwrap_or(start);
        let ip = (from..=end)
            .chain(start..from)
            .map(Ipv4Addr::from)
            .find(|ip| self.available(pool, *ip, client, mac, now))?;
        let next = if u32::from(ip) >= end {
            start
        } else {
            u32::from(ip) + 1
        };
        self.cursor.insert(pool.name.clone(), next);
        Some(ip)
    }

    /// The address held in an offer to `client`, if any.
    pub fn offered_to(&self, client: &[u8]) -> Option<Ipv4Addr> {
        self.offer_of.get(client).copied()
    }

    /// Holds `ip` for `client` until `expires`, in place of the client's earlier offer.
    pub fn hold_offer(&mut self, ip: Ipv4Addr, client: Vec<u8>, expires: u64) {
        self.drop_offer(&client);
        self.offer_of.insert(client.clone(), ip);
        if let Some(prev) = self.offers.insert(ip, Offer { client, expires }) {
            self.offer_of.remove(&prev.client);
        }
    }

    /// Drops the client's pending offer (it chose another server).
    pub fn drop_offer(&mut self, client: &[u8]) {
        if let Some(ip) = self.offer_of.remove(client) {
            self.offers.remove(&ip);
        }
    }

    /// Drops the offer held on `ip`, whoever it was for.
    fn drop_offer_on(&mut self, ip: Ipv4Addr) {
        if let Some(o) = self.offers.remove(&ip) {
            self.offer_of.remove(&o.client);
        }
    }

    /// Commits `lease` (durable on return), then updates the indexes. A lease the client
    /// held on another address is removed first.
    pub fn commit(&mut self, lease: Lease) -> Result<(), StoreError> {
        if let Some(old) = self.by_client.get(&lease.client).copied() {
            if old != lease.ip {
                self.store.remove(old)?;
                self.leases.remove(&old);
            }
        }
        self.store.commit(&lease)?;
        self.drop_offer_on(lease.ip);
        if lease.client.is_empty() {
            self.by_client.retain(|_, ip| *ip != lease.ip);
        } else {
            self.by_client.insert(lease.client.clone(), lease.ip);
        }
        if let Some(prev) = self.leases.insert(lease.ip, lease.clone()) {
            if prev.client != lease.client {
                self.by_client.remove(&prev.client);
            }
        }
        Ok(())
    }

    /// All leases.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }
}

/// The DHCPv4 server core. No sockets, no clock: bytes and time in, replies and events out.
pub struct Server {
    state: State,
    chain: Vec<Box<dyn Handler>>,
    events: VecDeque<Event>,
}

/// Most events kept when nobody drains them.
const MAX_EVENTS: usize = 4096;

impl Server {
    /// Validates `config`, loads the leases from `store` and builds the default chain:
    /// classify, leases, options, vendor options.
    pub fn new(config: Config, mut store: Box<dyn LeaseStore>) -> Result<Self, Error> {
        config.validate()?;
        let mut leases = HashMap::new();
        let mut by_client = HashMap::new();
        for l in store.load()? {
            if !l.client.is_empty() && l.state != crate::lease::LeaseState::Declined {
                by_client.insert(l.client.clone(), l.ip);
            }
            leases.insert(l.ip, l);
        }
        Ok(Self {
            state: State {
                config,
                store,
                leases,
                by_client,
                offers: HashMap::new(),
                offer_of: HashMap::new(),
                cursor: HashMap::new(),
            },
            chain: vec![
                Box::new(Classify),
                Box::new(Leases),
                Box::new(Options),
                Box::new(VendorOpts),
            ],
            events: VecDeque::new(),
        })
    }

    /// Inserts a handler before the option handlers (after lease handling), e.g. a
    /// per-site policy.
    pub fn insert_handler(&mut self, index: usize, handler: Box<dyn Handler>) {
        let index = index.min(self.chain.len());
        self.chain.insert(index, handler);
    }

    /// Handles one datagram. Malformed input or a failing store gives no reply and a
    /// [`Event::Dropped`]; nothing panics.
    pub fn handle(&mut self, now: SystemTime, req: Request<'_>) -> Vec<Reply> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match self.run(now, req) {
            Ok(replies) => replies,
            Err(e) => {
                tracing::debug!(source = %req.source, interface = req.interface, error = %e, "dhcp request dropped");
                self.push(Event::Dropped {
                    reason: e.to_string(),
                });
                Vec::new()
            }
        }
    }

    /// Group commit: handles `reqs` in order with the lease store's syncs deferred
    /// ([`LeaseStore::begin_batch`]), then makes every change of the batch durable with one
    /// [`LeaseStore::sync`], and only then returns the replies (one list per request, in
    /// order). So an ACK still never leaves before its lease is durable, but a burst of N
    /// requests costs one `fdatasync` instead of N. If the sync fails, every reply of the
    /// batch is withheld (empty lists; clients retransmit) and an [`Event::Dropped`] is
    /// reported for each request that had one.
    pub fn handle_batch(&mut self, now: SystemTime, reqs: &[Request<'_>]) -> Vec<Vec<Reply>> {
        self.state.store.begin_batch();
        let mut out: Vec<Vec<Reply>> = reqs.iter().map(|r| self.handle(now, *r)).collect();
        if let Err(e) = self.state.store.sync() {
            tracing::warn!(error = %e, requests = reqs.len(), "dhcp lease store sync failed; batch not answered");
            for replies in &mut out {
                if !replies.is_empty() {
                    replies.clear();
                    self.push(Event::Dropped {
                        reason: e.to_string(),
                    });
                }
            }
        }
        out
    }

    fn run(&mut self, now: u64, req: Request<'_>) -> Result<Vec<Reply>, Error> {
        let (msg, msg_type) = wire::decode(req.bytes)?;
        if msg.opcode() != Opcode::BootRequest || msg.htype() != HType::Eth || msg.hlen() != 6 {
            return Ok(Vec::new());
        }
        let Some(mac) = Mac::from_bytes(msg.chaddr()) else {
            return Ok(Vec::new());
        };
        let client = match msg.opts().get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) if !id.is_empty() => id.clone(),
            _ => [&[1u8][..], &mac.0[..]].concat(),
        };
        let span = tracing::debug_span!("dhcp", %mac, ty = ?msg_type, xid = msg.xid());
        let _g = span.enter();
        let mut ctx = Context {
            now,
            req: msg,
            msg_type,
            interface: req.interface.to_owned(),
            source: req.source,
            to_broadcast: req.to_broadcast,
            mac,
            client,
            vendor: None,
            pool: None,
            reply: None,
            events: Vec::new(),
        };
        // A chain that runs to its end answers with whatever reply was built.
        let mut action = Action::Respond;
        let mut failed = None;
        for h in &self.chain {
            match h.handle(&mut ctx, &mut self.state) {
                Ok(Action::Continue) => {}
                Ok(a) => {
                    action = a;
                    break;
                }
                Err(e) => {
                    tracing::warn!(handler = h.name(), error = %e, "dhcp handler failed");
                    failed = Some(e);
                    break;
                }
            }
        }
        for ev in std::mem::take(&mut ctx.events) {
            self.push(ev);
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let reply = match (action, ctx.reply.take()) {
            (Action::Respond, Some(r)) => r,
            _ => return Ok(Vec::new()),
        };
        let msg_type = reply.opts().msg_type().unwrap_or(MessageType::Ack);
        let bytes = wire::encode(&reply)?;
        let destination = destination(&ctx, msg_type, reply.yiaddr());
        let source = ctx
            .pool
            .and_then(|i| self.state.config.pools.get(i))
            .map(|p| p.server_id)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        tracing::debug!(?msg_type, ?destination, "dhcp reply");
        Ok(vec![Reply {
            bytes,
            msg_type,
            interface: ctx.interface,
            destination,
            source,
        }])
    }

    fn push(&mut self, ev: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    /// Next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Current leases (for the admin page).
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.state.leases()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }
}

/// RFC 2131 4.1: where a reply to `req` goes.
pub(crate) fn destination(ctx: &Context, reply_type: MessageType, yiaddr: Ipv4Addr) -> Destination {
    let req = &ctx.req;
    if !req.giaddr().is_unspecified() {
        Destination::Relay(req.giaddr())
    } else if reply_type == MessageType::Nak {
        Destination::Broadcast
    } else if !req.ciaddr().is_unspecified() {
        Destination::Unicast(req.ciaddr())
    } else if req.flags().broadcast() || yiaddr.is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Hardware {
            ip: yiaddr,
            mac: ctx.mac,
        }
    }
}
