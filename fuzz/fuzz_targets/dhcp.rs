//! DHCPv4 datagrams as the box's DHCP sockets receive them: the bounded wire check, the
//! dhcproto decode behind it, and the whole server core (classify by vendor options, leases,
//! reservations, relay handling, phone options 66/150/43), plus the rogue-server probe's
//! reading of OFFERs. The input is a sequence of datagrams (two-byte length prefix) handed
//! to one server a second apart; each reply the box builds must decode again.
#![no_main]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, UNIX_EPOCH};

use ivm_dhcp::dhcproto::v4::Message;
use ivm_dhcp::dhcproto::{Decodable, Decoder};
use ivm_dhcp::{
    wire, Config, MemoryStore, Pool, Request, Reservation, RogueProbe, Server, VendorOptions,
};
use ivm_provision::{Mac, Vendor};
use libfuzzer_sys::fuzz_target;

const SID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Two pools (one on the interface, one behind a relay), a reservation and the vendor
/// options the box ships with.
fn config() -> Config {
    let lan = Pool {
        name: "lan".into(),
        interface: Some("eth0".into()),
        network: Ipv4Addr::new(10, 0, 0, 0),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        start: Ipv4Addr::new(10, 0, 0, 100),
        end: Ipv4Addr::new(10, 0, 0, 103),
        server_id: SID,
        routers: vec![SID],
        dns: vec![SID],
        domain: Some("office.lan".into()),
        ntp: vec![SID],
        lease_secs: 3600,
    };
    let relayed = Pool {
        name: "floor2".into(),
        interface: None,
        network: Ipv4Addr::new(10, 1, 0, 0),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        start: Ipv4Addr::new(10, 1, 0, 100),
        end: Ipv4Addr::new(10, 1, 0, 101),
        routers: vec![Ipv4Addr::new(10, 1, 0, 1)],
        ..lan.clone()
    };
    let vendors: HashMap<Vendor, VendorOptions> = Vendor::ALL
        .into_iter()
        .map(|v| {
            (
                v,
                VendorOptions::defaults(v, SID, Some("http://10.0.0.1/provision/")),
            )
        })
        .collect();
    Config {
        pools: vec![lan, relayed],
        reservations: vec![Reservation {
            mac: Mac([0x02, 0, 0, 0, 0, 0x99]),
            ip: Ipv4Addr::new(10, 0, 0, 50),
        }],
        vendors,
        offer_hold_secs: 60,
        decline_quarantine_secs: 600,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut server = Server::new(config(), Box::new(MemoryStore::new())).expect("config");
    let probe = RogueProbe::with_xid(Mac([0x02, 0, 0, 0, 0, 1]), 0x1234_5678).ignore([SID]);
    let mut now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (i, dgram) in ivm_fuzz::Chunks16(rest).enumerate() {
        if let Ok((msg, _ty)) = wire::decode(dgram) {
            // What we decoded, we can encode.
            let bytes = wire::encode(&msg).expect("a decoded message encodes");
            assert!(Message::decode(&mut Decoder::new(&bytes)).is_ok());
        }
        let _ = probe.offer_from(dgram, Ipv4Addr::new(10, 0, 0, 7));
        let relayed = flags >> (i % 8) & 1 != 0;
        let source = if relayed {
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 67)
        } else {
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)
        };
        let replies = server.handle(
            now,
            Request {
                bytes: dgram,
                source,
                interface: "eth0",
                to_broadcast: !relayed,
            },
        );
        assert!(replies.len() <= 1, "one reply per request at most");
        for r in &replies {
            let m = Message::decode(&mut Decoder::new(&r.bytes)).expect("our reply decodes");
            assert_eq!(m.opts().msg_type(), Some(r.msg_type));
            assert!(r.bytes.len() <= 1500, "reply of {} bytes", r.bytes.len());
        }
        while server.poll_event().is_some() {}
        now += Duration::from_secs(1);
    }
});
