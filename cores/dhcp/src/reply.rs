//! Where a reply goes (RFC 2131 section 4.1), decided by the core so the I/O layer only
//! sends.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::MessageType;
use ivm_provision::Mac;

/// DHCP server port (relays are answered here).
pub const SERVER_PORT: u16 = 67;
/// DHCP client port.
pub const CLIENT_PORT: u16 = 68;

/// The reply's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Through a relay agent: unicast to `giaddr`, port 67.
    Relay(Ipv4Addr),
    /// To a client that has an address (`ciaddr`: INFORM, RENEWING, REBINDING), port 68.
    Unicast(Ipv4Addr),
    /// `255.255.255.255:68` out of the request's interface (broadcast flag set, or a NAK).
    Broadcast,
    /// To `ip` at hardware address `mac`, port 68, before the client has configured the
    /// address (broadcast flag clear). Needs an ARP entry the I/O layer may not be able to
    /// add; it may broadcast instead, which every client accepts.
    Hardware {
        /// `yiaddr`.
        ip: Ipv4Addr,
        /// `chaddr`.
        mac: Mac,
    },
}

impl Destination {
    /// The UDP address to send to.
    pub fn socket_addr(&self) -> SocketAddrV4 {
        match *self {
            Destination::Relay(ip) => SocketAddrV4::new(ip, SERVER_PORT),
            Destination::Unicast(ip) | Destination::Hardware { ip, .. } => {
                SocketAddrV4::new(ip, CLIENT_PORT)
            }
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        }
    }
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Encoded DHCP message.
    pub bytes: Vec<u8>,
    /// OFFER, ACK or NAK.
    pub msg_type: MessageType,
    /// Interface the request came in on (send out of the same one).
    pub interface: String,
    /// Where to.
    pub destination: Destination,
    /// Source address to send from (the pool's server identifier), for `IP_PKTINFO`.
    pub source: Ipv4Addr,
}
