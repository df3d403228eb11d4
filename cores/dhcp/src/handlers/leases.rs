use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};

use crate::config::Pool;
use crate::handler::{Action, Context, Handler, HandlerError};
use crate::lease::{Lease, LeaseState};
use crate::server::{Event, State};

/// The RFC 2131 state machine: DISCOVER, REQUEST (SELECTING, INIT-REBOOT, RENEWING,
/// REBINDING), RELEASE, DECLINE, INFORM. Every ACK that grants a lease follows a
/// [`State::commit`] that returned.
pub struct Leases;

/// A reply skeleton: header copied from the request, message type and server identifier.
fn skeleton(req: &Message, ty: MessageType, server_id: Ipv4Addr) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(req.htype())
        .set_xid(req.xid())
        .set_flags(req.flags())
        .set_giaddr(req.giaddr())
        .set_chaddr(&req.chaddr()[..usize::from(req.hlen()).min(16)]);
    m.opts_mut().insert(DhcpOption::MessageType(ty));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server_id));
    // RFC 3046: a relay's agent information goes back unchanged.
    if let Some(ri) = req.opts().get(OptionCode::RelayAgentInformation) {
        m.opts_mut().insert(ri.clone());
    }
    m
}

fn with_lease(m: &mut Message, secs: u32) {
    m.opts_mut().insert(DhcpOption::AddressLeaseTime(secs));
    m.opts_mut().insert(DhcpOption::Renewal(secs / 2));
    m.opts_mut()
        .insert(DhcpOption::Rebinding((u64::from(secs) * 7 / 8) as u32));
}

fn nak(
    ctx: &mut Context,
    pool: &Pool,
    requested: Option<Ipv4Addr>,
    reason: &'static str,
) -> Action {
    let mut m = skeleton(&ctx.req, MessageType::Nak, pool.server_id);
    m.opts_mut().insert(DhcpOption::Message(reason.to_owned()));
    if !ctx.req.giaddr().is_unspecified() {
        // RFC 2131 4.3.2: through a relay the NAK asks for a broadcast on the client's link.
        m.set_flags(Flags::default().set_broadcast());
    }
    ctx.events.push(Event::Nak {
        mac: ctx.mac,
        requested,
        reason,
    });
    tracing::info!(mac = %ctx.mac, ?requested, reason, "dhcp nak");
    ctx.reply = Some(m);
    Action::Respond
}

impl Leases {
    fn discover(ctx: &mut Context, state: &mut State, pool: &Pool) -> Action {
        let (now, mac) = (ctx.now, ctx.mac);
        let client = ctx.client.clone();
        let fits = |ip: Ipv4Addr| pool.in_range(ip) || state.reservation(&mac) == Some(ip);
        let pick = state
            .reservation(&mac)
            .filter(|ip| pool.contains(*ip))
            .or_else(|| {
                state
                    .lease_of(&client)
                    .map(|l| l.ip)
                    .filter(|ip| fits(*ip) && state.available(pool, *ip, &client, &mac, now))
            })
            .or_else(|| {
                ctx.requested_ip().filter(|ip| {
                    pool.in_range(*ip) && state.available(pool, *ip, &client, &mac, now)
                })
            })
            // A client asking again is offered what it was offered before (RFC 2131 4.3.1).
            .or_else(|| {
                state.offered_to(&client).filter(|ip| {
                    pool.in_range(*ip) && state.available(pool, *ip, &client, &mac, now)
                })
            });
        let pick = pick.or_else(|| state.next_free(pool, &client, &mac, now));
        let Some(ip) = pick else {
            tracing::warn!(pool = %pool.name, %mac, "dhcp pool exhausted: no offer");
            ctx.events.push(Event::PoolExhausted {
                pool: pool.name.clone(),
                mac,
            });
            return Action::NoResponse;
        };
        state.hold_offer(ip, client, now + state.config.offer_hold_secs);
        let mut m = skeleton(&ctx.req, MessageType::Offer, pool.server_id);
        m.set_yiaddr(ip);
        with_lease(&mut m, pool.lease_secs);
        ctx.reply = Some(m);
        ctx.events.push(Event::Offered { mac, ip });
        Action::Continue
    }

    fn bind(
        ctx: &mut Context,
        state: &mut State,
        pool: &Pool,
        ip: Ipv4Addr,
    ) -> Result<Action, HandlerError> {
        let expires = ctx.now + u64::from(pool.lease_secs);
        state.commit(Lease {
            ip,
            client: ctx.client.clone(),
            mac: ctx.mac,
            expires,
            state: LeaseState::Bound,
        })?;
        let mut m = skeleton(&ctx.req, MessageType::Ack, pool.server_id);
        m.set_yiaddr(ip).set_ciaddr(ctx.req.ciaddr());
        with_lease(&mut m, pool.lease_secs);
        ctx.reply = Some(m);
        ctx.events.push(Event::Bound {
            mac: ctx.mac,
            ip,
            expires,
        });
        tracing::info!(mac = %ctx.mac, %ip, expires, "dhcp lease bound");
        Ok(Action::Continue)
    }

    fn request(ctx: &mut Context, state: &mut State, pool: &Pool) -> Result<Action, HandlerError> {
        let (now, mac) = (ctx.now, ctx.mac);
        let client = ctx.client.clone();
        let ciaddr = ctx.req.ciaddr();
        let requested = ctx.requested_ip();
        let reserved = state.reservation(&mac).filter(|ip| pool.contains(*ip));
        let fits = |ip: Ipv4Addr| reserved.map_or(pool.in_range(ip), |r| r == ip);
        let mine = |state: &State, ip: Ipv4Addr| {
            state
                .lease_of(&client)
                .is_some_and(|l| l.ip == ip && l.state != LeaseState::Declined)
        };

        if let Some(sid) = ctx.server_id() {
            // SELECTING: the client answers one server's OFFER.
            if sid != pool.server_id {
                state.drop_offer(&client);
                return Ok(Action::NoResponse);
            }
            let Some(ip) = requested.or((!ciaddr.is_unspecified()).then_some(ciaddr)) else {
                return Ok(nak(ctx, pool, None, "no requested address"));
            };
            if fits(ip) && state.available(pool, ip, &client, &mac, now) {
                return Self::bind(ctx, state, pool, ip);
            }
            return Ok(nak(ctx, pool, Some(ip), "requested address not available"));
        }
        if let (Some(ip), true) = (requested, ciaddr.is_unspecified()) {
            // INIT-REBOOT: the client checks an address it remembers.
            if !pool.contains(ip) {
                return Ok(nak(ctx, pool, Some(ip), "wrong network"));
            }
            if reserved.is_some_and(|r| r != ip) {
                return Ok(nak(
                    ctx,
                    pool,
                    Some(ip),
                    "address reserved elsewhere for this client",
                ));
            }
            if mine(state, ip) || reserved == Some(ip) {
                if state.available(pool, ip, &client, &mac, now) {
                    return Self::bind(ctx, state, pool, ip);
                }
                return Ok(nak(ctx, pool, Some(ip), "address taken"));
            }
            if state.lease_of(&client).is_some() || state.lease(ip).is_some_and(|l| l.blocks(now)) {
                return Ok(nak(ctx, pool, Some(ip), "not this client's address"));
            }
            // No record of this client: RFC 2131 says stay silent.
            return Ok(Action::NoResponse);
        }
        if !ciaddr.is_unspecified() {
            // RENEWING (unicast to us) or REBINDING (broadcast).
            let rebinding = ctx.to_broadcast || !ctx.req.giaddr().is_unspecified();
            if !pool.contains(ciaddr) {
                return Ok(nak(ctx, pool, Some(ciaddr), "wrong network"));
            }
            if (mine(state, ciaddr)
                && fits(ciaddr)
                && state.available(pool, ciaddr, &client, &mac, now))
                || reserved == Some(ciaddr)
            {
                return Self::bind(ctx, state, pool, ciaddr);
            }
            if !rebinding
                || state
                    .lease(ciaddr)
                    .is_some_and(|l| l.client != client && l.blocks(now))
                || reserved.is_some()
            {
                return Ok(nak(ctx, pool, Some(ciaddr), "no lease for this address"));
            }
            return Ok(Action::NoResponse);
        }
        Ok(Action::NoResponse)
    }

    fn release(ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError> {
        let ip = ctx.req.ciaddr();
        if let Some(l) = state
            .lease(ip)
            .filter(|l| l.client == ctx.client && l.state == LeaseState::Bound)
        {
            let mut l = l.clone();
            l.state = LeaseState::Released;
            l.expires = ctx.now;
            state.commit(l)?;
            ctx.events.push(Event::Released { mac: ctx.mac, ip });
            tracing::info!(mac = %ctx.mac, %ip, "dhcp lease released");
        }
        Ok(Action::NoResponse)
    }

    fn decline(ctx: &mut Context, state: &mut State, pool: &Pool) -> Result<Action, HandlerError> {
        if ctx.server_id().is_some_and(|s| s != pool.server_id) {
            return Ok(Action::NoResponse);
        }
        let Some(ip) = ctx.requested_ip().filter(|ip| pool.contains(*ip)) else {
            return Ok(Action::NoResponse);
        };
        let ours = state
            .lease(ip)
            .is_none_or(|l| l.client == ctx.client || !l.blocks(ctx.now));
        if ours {
            let expires = ctx.now + state.config.decline_quarantine_secs;
            state.drop_offer(&ctx.client);
            state.commit(Lease {
                ip,
                client: Vec::new(),
                mac: ctx.mac,
                expires,
                state: LeaseState::Declined,
            })?;
            ctx.events.push(Event::Declined { mac: ctx.mac, ip });
            tracing::warn!(mac = %ctx.mac, %ip, "dhcp address declined: quarantined");
        }
        Ok(Action::NoResponse)
    }

    fn inform(ctx: &mut Context, pool: &Pool) -> Action {
        let mut m = skeleton(&ctx.req, MessageType::Ack, pool.server_id);
        m.set_ciaddr(ctx.req.ciaddr());
        ctx.reply = Some(m);
        Action::Continue
    }
}

impl Handler for Leases {
    fn name(&self) -> &'static str {
        "leases"
    }

    fn handle(&self, ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError> {
        let Some(pool) = ctx.pool.and_then(|i| state.config.pools.get(i)).cloned() else {
            return Ok(Action::NoResponse);
        };
        match ctx.msg_type {
            MessageType::Discover => Ok(Self::discover(ctx, state, &pool)),
            MessageType::Request => Self::request(ctx, state, &pool),
            MessageType::Release => Self::release(ctx, state),
            MessageType::Decline => Self::decline(ctx, state, &pool),
            MessageType::Inform => Ok(Self::inform(ctx, &pool)),
            _ => Ok(Action::NoResponse),
        }
    }
}
