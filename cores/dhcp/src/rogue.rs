//! Probing the LAN for another DHCP server before ours starts: a second server on an office
//! LAN is an outage, so the box refuses to start if one answers (unless forced).

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use ivm_provision::Mac;

use crate::wire::{self, WireError};

/// Builds one DISCOVER and recognises OFFERs to it. Sans-IO: the I/O layer broadcasts
/// [`RogueProbe::discover`] from port 68 a few times over a few seconds and feeds every
/// datagram it hears back into [`RogueProbe::offer_from`].
#[derive(Debug, Clone)]
pub struct RogueProbe {
    xid: u32,
    mac: Mac,
    own: Vec<Ipv4Addr>,
}

impl RogueProbe {
    /// A probe from `mac` (the box's interface) with a random transaction id.
    pub fn new(mac: Mac) -> Self {
        Self::with_xid(mac, rand::random())
    }

    /// A probe with a chosen transaction id (tests).
    pub fn with_xid(mac: Mac, xid: u32) -> Self {
        Self {
            xid,
            mac,
            own: Vec::new(),
        }
    }

    /// Ignores OFFERs from these server identifiers (our own addresses).
    pub fn ignore(mut self, own: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        self.own.extend(own);
        self
    }

    /// The transaction id.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The DISCOVER to broadcast, with the broadcast flag set (the box has no lease to
    /// receive a unicast on).
    pub fn discover(&self) -> Result<Vec<u8>, WireError> {
        let mut m = Message::default();
        m.set_opcode(Opcode::BootRequest)
            .set_xid(self.xid)
            .set_flags(Flags::default().set_broadcast())
            .set_chaddr(&self.mac.0);
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Discover));
        m.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
        ]));
        wire::encode(&m)
    }

    /// If `bytes` is an OFFER to our DISCOVER from another server, that server's identifier
    /// (option 54, else `siaddr`, else the UDP source the caller passes in).
    pub fn offer_from(&self, bytes: &[u8], udp_source: Ipv4Addr) -> Option<Ipv4Addr> {
        let (m, ty) = wire::decode(bytes).ok()?;
        if m.opcode() != Opcode::BootReply || ty != MessageType::Offer || m.xid() != self.xid {
            return None;
        }
        if m.chaddr().get(..6) != Some(&self.mac.0[..]) {
            return None;
        }
        let server = match m.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => *ip,
            _ if !m.siaddr().is_unspecified() => m.siaddr(),
            _ => udp_source,
        };
        (!self.own.contains(&server)).then_some(server)
    }
}
