//! The server core driven with byte vectors and a virtual clock.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ivm_dhcp::dhcproto::v4::{
    DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption,
};
use ivm_dhcp::dhcproto::{Decodable, Decoder, Encodable, Encoder};
use ivm_dhcp::{
    Config, Destination, Event, FileStore, LeaseState, MemoryStore, Pool, Reply, Request,
    Reservation, RogueProbe, Server, VendorOptions,
};
use ivm_provision::{Mac, Vendor};

const SID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, d)
}

fn config() -> Config {
    let lan = Pool {
        name: "lan".into(),
        interface: Some("eth0".into()),
        network: ip(0),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        start: ip(100),
        end: ip(109),
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
        end: Ipv4Addr::new(10, 1, 0, 150),
        server_id: SID,
        routers: vec![Ipv4Addr::new(10, 1, 0, 1)],
        ..lan.clone()
    };
    let mut vendors: HashMap<Vendor, VendorOptions> = Vendor::ALL
        .into_iter()
        .map(|v| {
            (
                v,
                VendorOptions::defaults(v, SID, Some("http://10.0.0.1/provision/")),
            )
        })
        .collect();
    vendors.get_mut(&Vendor::Grandstream).unwrap().option43 =
        vec![(1, b"http://10.0.0.1/provision/".to_vec())];
    Config {
        pools: vec![lan, relayed],
        reservations: vec![Reservation {
            mac: mac(0x99),
            ip: ip(50),
        }],
        vendors,
        offer_hold_secs: 60,
        decline_quarantine_secs: 600,
    }
}

fn mac(n: u8) -> Mac {
    Mac([0x02, 0, 0, 0, 0, n])
}

fn server() -> (Server, MemoryStore) {
    let store = MemoryStore::new();
    (
        Server::new(config(), Box::new(store.clone())).unwrap(),
        store,
    )
}

/// A client message builder.
fn msg(mac: Mac, ty: MessageType, opts: Vec<DhcpOption>) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest)
        .set_xid(0x1234_5678)
        .set_chaddr(&mac.0);
    m.opts_mut().insert(DhcpOption::MessageType(ty));
    for o in opts {
        m.opts_mut().insert(o);
    }
    m
}

fn bytes(m: &Message) -> Vec<u8> {
    let mut b = Vec::new();
    m.encode(&mut Encoder::new(&mut b)).unwrap();
    b
}

fn send(s: &mut Server, t: u64, m: &Message, bcast: bool) -> Vec<Reply> {
    let src = if m.giaddr().is_unspecified() {
        SocketAddrV4::new(m.ciaddr(), 68)
    } else {
        SocketAddrV4::new(m.giaddr(), 67)
    };
    s.handle(
        at(t),
        Request {
            bytes: &bytes(m),
            source: src,
            interface: "eth0",
            to_broadcast: bcast,
        },
    )
}

fn one(replies: Vec<Reply>) -> (Reply, Message) {
    assert_eq!(replies.len(), 1, "{replies:?}");
    let r = replies.into_iter().next().unwrap();
    let m = Message::decode(&mut Decoder::new(&r.bytes)).unwrap();
    assert_eq!(m.opts().msg_type(), Some(r.msg_type));
    (r, m)
}

/// Raw option walk of a reply (dhcproto reads option 150 as one address).
fn raw_opts(b: &[u8]) -> HashMap<u8, Vec<u8>> {
    let mut out = HashMap::new();
    let mut i = 240;
    while i < b.len() && b[i] != 255 {
        if b[i] == 0 {
            i += 1;
            continue;
        }
        let len = b[i + 1] as usize;
        out.insert(b[i], b[i + 2..i + 2 + len].to_vec());
        i += 2 + len;
    }
    out
}

fn events(s: &mut Server) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// DISCOVER + REQUEST; returns the bound address.
fn dora(s: &mut Server, m: Mac, t: u64) -> Ipv4Addr {
    let (_, offer) = one(send(s, t, &msg(m, MessageType::Discover, vec![]), true));
    let req = msg(
        m,
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(offer.yiaddr()),
        ],
    );
    let (_, ack) = one(send(s, t, &req, true));
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    ack.yiaddr()
}

#[test]
fn full_dora_with_options_and_persist_before_ack() {
    let (mut s, store) = server();
    let (r, offer) = one(send(
        &mut s,
        0,
        &msg(mac(1), MessageType::Discover, vec![]),
        false,
    ));
    assert_eq!(r.msg_type, MessageType::Offer);
    assert_eq!(offer.yiaddr(), ip(100));
    assert_eq!(offer.opcode(), Opcode::BootReply);
    assert_eq!(offer.xid(), 0x1234_5678);
    assert_eq!(
        r.destination,
        Destination::Hardware {
            ip: ip(100),
            mac: mac(1)
        }
    );
    assert_eq!(r.source, SID);
    assert_eq!(store.commits(), 0, "an offer is not persisted");
    let o = raw_opts(&r.bytes);
    assert_eq!(o[&1], vec![255, 255, 255, 0]);
    assert_eq!(o[&3], SID.octets());
    assert_eq!(o[&6], SID.octets());
    assert_eq!(o[&15], b"office.lan");
    assert_eq!(o[&42], SID.octets());
    assert_eq!(o[&51], 3600u32.to_be_bytes());
    assert_eq!(o[&54], SID.octets());
    assert_eq!(o[&58], 1800u32.to_be_bytes());
    assert!(!o.contains_key(&66), "a PC gets no phone options");

    let mut req = msg(
        mac(1),
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(ip(100)),
        ],
    );
    req.set_flags(Flags::default().set_broadcast());
    let (r, ack) = one(send(&mut s, 1, &req, true));
    assert_eq!(
        (r.msg_type, ack.yiaddr(), r.destination),
        (MessageType::Ack, ip(100), Destination::Broadcast)
    );
    let l = store.get(ip(100)).expect("committed before the ACK");
    assert_eq!(
        (l.state, l.expires, l.mac),
        (LeaseState::Bound, T0 + 1 + 3600, mac(1))
    );
    assert!(events(&mut s).contains(&Event::Bound {
        mac: mac(1),
        ip: ip(100),
        expires: T0 + 3601
    }));

    // The store fails: no ACK goes out, and the failure is reported.
    store.set_failing(true);
    let (_, offer) = one(send(
        &mut s,
        2,
        &msg(mac(2), MessageType::Discover, vec![]),
        true,
    ));
    let req = msg(
        mac(2),
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(offer.yiaddr()),
        ],
    );
    assert!(send(&mut s, 2, &req, true).is_empty());
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, Event::Dropped { .. })));
    assert!(store.get(offer.yiaddr()).is_none());
}

#[test]
fn renew_rebind_and_unknown_clients() {
    let (mut s, store) = server();
    let a = dora(&mut s, mac(1), 0);
    let mut renew = msg(mac(1), MessageType::Request, vec![]);
    renew.set_ciaddr(a);
    let (r, ack) = one(send(&mut s, 1800, &renew, false));
    assert_eq!(
        (r.msg_type, ack.yiaddr(), r.destination),
        (MessageType::Ack, a, Destination::Unicast(a))
    );
    assert_eq!(store.get(a).unwrap().expires, T0 + 1800 + 3600);
    let (r, _) = one(send(&mut s, 3200, &renew, true)); // REBINDING: broadcast
    assert_eq!(r.msg_type, MessageType::Ack);
    assert_eq!(store.get(a).unwrap().expires, T0 + 3200 + 3600);

    // A client we have no record of: renewing (unicast to us) gets a NAK, rebinding silence.
    let mut stranger = msg(mac(7), MessageType::Request, vec![]);
    stranger.set_ciaddr(ip(105));
    let (r, _) = one(send(&mut s, 3300, &stranger, false));
    assert_eq!(
        (r.msg_type, r.destination),
        (MessageType::Nak, Destination::Broadcast)
    );
    assert!(send(&mut s, 3300, &stranger, true).is_empty());
    // Someone renewing another client's address is refused.
    let mut thief = msg(mac(8), MessageType::Request, vec![]);
    thief.set_ciaddr(a);
    assert_eq!(
        one(send(&mut s, 3300, &thief, true)).0.msg_type,
        MessageType::Nak
    );
}

#[test]
fn init_reboot_rules() {
    let (mut s, _) = server();
    let a = dora(&mut s, mac(1), 0);
    let reboot = |ip| {
        msg(
            mac(1),
            MessageType::Request,
            vec![DhcpOption::RequestedIpAddress(ip)],
        )
    };
    assert_eq!(
        one(send(&mut s, 10, &reboot(a), true)).0.msg_type,
        MessageType::Ack
    );
    // Wrong network, or not its address: NAK.
    assert_eq!(
        one(send(
            &mut s,
            10,
            &reboot(Ipv4Addr::new(192, 168, 1, 5)),
            true
        ))
        .0
        .msg_type,
        MessageType::Nak
    );
    assert_eq!(
        one(send(&mut s, 10, &reboot(ip(107)), true)).0.msg_type,
        MessageType::Nak
    );
    // No record of the client at all: silence (RFC 2131 4.3.2).
    let unknown = msg(
        mac(9),
        MessageType::Request,
        vec![DhcpOption::RequestedIpAddress(ip(108))],
    );
    assert!(send(&mut s, 10, &unknown, true).is_empty());
}

#[test]
fn nak_for_wrong_requested_address_and_other_server_selected() {
    let (mut s, _) = server();
    let a = dora(&mut s, mac(1), 0);
    // SELECTING an address bound to someone else, or outside the range.
    for want in [a, ip(20)] {
        let req = msg(
            mac(2),
            MessageType::Request,
            vec![
                DhcpOption::ServerIdentifier(SID),
                DhcpOption::RequestedIpAddress(want),
            ],
        );
        let (r, m) = one(send(&mut s, 5, &req, true));
        assert_eq!(
            (r.msg_type, m.yiaddr()),
            (MessageType::Nak, Ipv4Addr::UNSPECIFIED)
        );
        assert!(!raw_opts(&r.bytes).contains_key(&51));
    }
    // The client chose another server: our offer is dropped silently.
    one(send(
        &mut s,
        6,
        &msg(mac(3), MessageType::Discover, vec![]),
        true,
    ));
    let other = msg(
        mac(3),
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 254)),
            DhcpOption::RequestedIpAddress(ip(101)),
        ],
    );
    assert!(send(&mut s, 6, &other, true).is_empty());
    // The address is free again: another client asking for it gets it (while the offer was
    // held for mac(3), a DISCOVER asking for it got another one).
    assert_eq!(
        one(send(
            &mut s,
            7,
            &msg(
                mac(4),
                MessageType::Discover,
                vec![DhcpOption::RequestedIpAddress(ip(101))]
            ),
            true
        ))
        .1
        .yiaddr(),
        ip(101)
    );
}

#[test]
fn release_then_same_address_again() {
    let (mut s, store) = server();
    let a = dora(&mut s, mac(1), 0);
    let mut rel = msg(
        mac(1),
        MessageType::Release,
        vec![DhcpOption::ServerIdentifier(SID)],
    );
    rel.set_ciaddr(a);
    assert!(send(&mut s, 100, &rel, false).is_empty());
    assert_eq!(store.get(a).unwrap().state, LeaseState::Released);
    assert!(events(&mut s).contains(&Event::Released { mac: mac(1), ip: a }));
    assert_eq!(dora(&mut s, mac(1), 200), a);
}

#[test]
fn decline_quarantines_the_address() {
    let (mut s, store) = server();
    let a = dora(&mut s, mac(1), 0);
    let dec = msg(
        mac(1),
        MessageType::Decline,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(a),
        ],
    );
    assert!(send(&mut s, 10, &dec, true).is_empty());
    assert_eq!(store.get(a).unwrap().state, LeaseState::Declined);
    // The decliner and everyone else get another address while quarantined.
    assert_ne!(
        one(send(
            &mut s,
            11,
            &msg(mac(1), MessageType::Discover, vec![]),
            true
        ))
        .1
        .yiaddr(),
        a
    );
    assert_ne!(
        one(send(
            &mut s,
            11,
            &msg(mac(2), MessageType::Discover, vec![]),
            true
        ))
        .1
        .yiaddr(),
        a
    );
    // After the quarantine it is usable again.
    let mut seen = Vec::new();
    for n in 10..20 {
        if let Some((_, m)) = send(
            &mut s,
            700,
            &msg(mac(n), MessageType::Discover, vec![]),
            true,
        )
        .into_iter()
        .next()
        .map(|r| one(vec![r]))
        {
            seen.push(m.yiaddr());
        }
    }
    assert!(seen.contains(&a), "{seen:?}");
}

#[test]
fn inform_gets_options_without_a_lease() {
    let (mut s, store) = server();
    let mut inf = msg(mac(1), MessageType::Inform, vec![]);
    inf.set_ciaddr(ip(7));
    let (r, m) = one(send(&mut s, 0, &inf, false));
    assert_eq!(
        (r.msg_type, r.destination, m.yiaddr()),
        (
            MessageType::Ack,
            Destination::Unicast(ip(7)),
            Ipv4Addr::UNSPECIFIED
        )
    );
    let o = raw_opts(&r.bytes);
    assert!(o.contains_key(&1) && o.contains_key(&6) && !o.contains_key(&51));
    assert_eq!(store.commits(), 0);
}

#[test]
fn reservation_honoured() {
    let (mut s, _) = server();
    let (_, offer) = one(send(
        &mut s,
        0,
        &msg(mac(0x99), MessageType::Discover, vec![]),
        true,
    ));
    assert_eq!(offer.yiaddr(), ip(50));
    assert_eq!(dora(&mut s, mac(0x99), 1), ip(50));
    // Nobody else is offered it even when asking for it.
    let (_, other) = one(send(
        &mut s,
        2,
        &msg(
            mac(1),
            MessageType::Discover,
            vec![DhcpOption::RequestedIpAddress(ip(50))],
        ),
        true,
    ));
    assert_ne!(other.yiaddr(), ip(50));
}

#[test]
fn relayed_requests_answered_to_the_relay() {
    let (mut s, _) = server();
    let relay = Ipv4Addr::new(10, 1, 0, 1);
    let agent = DhcpOption::Unknown(UnknownOption::new(
        OptionCode::RelayAgentInformation,
        vec![1, 3, b'p', b'o', b'1'],
    ));
    let mut d = msg(mac(1), MessageType::Discover, vec![agent]);
    d.set_giaddr(relay).set_hops(1);
    let (r, offer) = one(send(&mut s, 0, &d, false));
    assert_eq!(r.destination, Destination::Relay(relay));
    assert_eq!(r.destination.socket_addr(), SocketAddrV4::new(relay, 67));
    assert_eq!(offer.giaddr(), relay);
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 100));
    let o = raw_opts(&r.bytes);
    assert_eq!(o[&3], [10, 1, 0, 1]);
    assert_eq!(o[&82], vec![1, 3, b'p', b'o', b'1'], "option 82 echoed");
    // A NAK through a relay sets the broadcast flag.
    let mut bad = msg(
        mac(1),
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(ip(100)),
        ],
    );
    bad.set_giaddr(relay);
    let (r, nak) = one(send(&mut s, 1, &bad, false));
    assert_eq!(
        (r.msg_type, r.destination),
        (MessageType::Nak, Destination::Relay(relay))
    );
    assert!(nak.flags().broadcast());
}

#[test]
fn vendor_options_per_vendor() {
    let (mut s, _) = server();
    let cls = |c: &str| vec![DhcpOption::ClassIdentifier(c.as_bytes().to_vec())];
    let cisco = one(send(
        &mut s,
        0,
        &msg(
            mac(1),
            MessageType::Discover,
            cls("Cisco Systems, Inc. IP Phone CP-8845"),
        ),
        true,
    ))
    .0;
    let o = raw_opts(&cisco.bytes);
    assert_eq!(o[&150], SID.octets());
    assert_eq!(o[&66], b"10.0.0.1");
    let yealink = one(send(
        &mut s,
        0,
        &msg(
            Mac::parse("001565000001").unwrap(),
            MessageType::Discover,
            vec![],
        ),
        true,
    ))
    .0;
    let o = raw_opts(&yealink.bytes);
    assert_eq!(o[&66], b"http://10.0.0.1/provision/");
    assert!(!o.contains_key(&150));
    let gs = one(send(
        &mut s,
        0,
        &msg(mac(3), MessageType::Discover, cls("Grandstream GXP2170")),
        true,
    ))
    .0;
    let mut want43 = vec![1u8, 26];
    want43.extend_from_slice(b"http://10.0.0.1/provision/");
    assert_eq!(raw_opts(&gs.bytes)[&43], want43);
    for c in ["Polycom-VVX400", "snomD785"] {
        let r = one(send(
            &mut s,
            0,
            &msg(mac(4), MessageType::Discover, cls(c)),
            true,
        ))
        .0;
        assert_eq!(
            raw_opts(&r.bytes)[&66],
            b"http://10.0.0.1/provision/",
            "{c}"
        );
    }
    let seen: Vec<Vendor> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            Event::PhoneSeen { vendor, .. } => Some(vendor),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            Vendor::Cisco,
            Vendor::Yealink,
            Vendor::Grandstream,
            Vendor::Polycom,
            Vendor::Snom
        ]
    );
}

#[test]
fn exhaustion_with_50_macs_on_10_addresses() {
    let (mut s, _) = server();
    let mut offers = Vec::new();
    for n in 0..50 {
        if let Some(r) = send(&mut s, 0, &msg(mac(n), MessageType::Discover, vec![]), true).pop() {
            offers.push((n, one(vec![r]).1.yiaddr()));
        }
    }
    assert_eq!(offers.len(), 10);
    let exhausted = events(&mut s)
        .iter()
        .filter(|e| matches!(e, Event::PoolExhausted { .. }))
        .count();
    assert_eq!(exhausted, 40);
    // The ten that got offers bind, and keep renewing while the flood goes on.
    for (n, a) in &offers {
        let req = msg(
            mac(*n),
            MessageType::Request,
            vec![
                DhcpOption::ServerIdentifier(SID),
                DhcpOption::RequestedIpAddress(*a),
            ],
        );
        assert_eq!(
            one(send(&mut s, 1, &req, true)).0.msg_type,
            MessageType::Ack
        );
    }
    for n in 50..100 {
        assert!(send(
            &mut s,
            100,
            &msg(mac(n), MessageType::Discover, vec![]),
            true
        )
        .is_empty());
    }
    let (n, a) = offers[3];
    let mut renew = msg(mac(n), MessageType::Request, vec![]);
    renew.set_ciaddr(a);
    assert_eq!(
        one(send(&mut s, 1800, &renew, false)).0.msg_type,
        MessageType::Ack
    );
}

#[test]
fn new_clients_get_the_next_free_address_and_a_rediscover_replaces_the_offer() {
    let (mut s, _) = server();
    let offer = |s: &mut Server, n: u8, t: u64| {
        one(send(
            s,
            t,
            &msg(mac(n), MessageType::Discover, vec![]),
            true,
        ))
        .1
        .yiaddr()
    };
    // In order through the range; a client asking again keeps its own offer.
    assert_eq!(offer(&mut s, 1, 0), ip(100));
    assert_eq!(offer(&mut s, 2, 0), ip(101));
    assert_eq!(offer(&mut s, 2, 1), ip(101));
    // mac(1) binds 100 and releases it: the search goes on past the last offer, so 100 is
    // not handed to the next new client at once.
    let a = dora(&mut s, mac(1), 2);
    assert_eq!(a, ip(100));
    let mut rel = msg(
        mac(1),
        MessageType::Release,
        vec![DhcpOption::ServerIdentifier(SID)],
    );
    rel.set_ciaddr(a);
    assert!(send(&mut s, 3, &rel, false).is_empty());
    assert_eq!(offer(&mut s, 3, 4), ip(102));
    // Through to the end of the range, then around to the free addresses at its start.
    let rest: Vec<_> = (4..=10).map(|n| offer(&mut s, n, 5)).collect();
    assert_eq!(rest, (103..=109).map(ip).collect::<Vec<_>>());
    assert_eq!(offer(&mut s, 11, 6), ip(100));
    // Every address is now offered or bound: the next new client gets nothing.
    assert!(send(
        &mut s,
        7,
        &msg(mac(12), MessageType::Discover, vec![]),
        true
    )
    .is_empty());
    // A client's new offer replaces its old one, which is free again for others.
    assert_eq!(
        one(send(
            &mut s,
            8,
            &msg(
                mac(2),
                MessageType::Discover,
                vec![DhcpOption::RequestedIpAddress(ip(100))]
            ),
            true
        ))
        .1
        .yiaddr(),
        ip(101),
        "100 is held for mac(11)"
    );
}

#[test]
fn leases_survive_a_restart_with_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.jsonl");
    let a = {
        let mut s = Server::new(config(), Box::new(FileStore::open(&path).unwrap())).unwrap();
        dora(&mut s, mac(1), 0)
    };
    let mut s = Server::new(config(), Box::new(FileStore::open(&path).unwrap())).unwrap();
    let mut renew = msg(mac(1), MessageType::Request, vec![]);
    renew.set_ciaddr(a);
    assert_eq!(
        one(send(&mut s, 1800, &renew, false)).0.msg_type,
        MessageType::Ack
    );
    assert_eq!(
        one(send(
            &mut s,
            1800,
            &msg(mac(2), MessageType::Discover, vec![]),
            true
        ))
        .1
        .yiaddr(),
        ip(101)
    );
}

#[test]
fn rogue_probe_recognises_another_servers_offer() {
    let box_mac = Mac([0x02, 0xaa, 0, 0, 0, 1]);
    let probe = RogueProbe::with_xid(box_mac, 0xdead_beef);
    let discover = probe.discover().unwrap();
    // Another DHCP server on the LAN (our core, playing the part) answers it.
    let (mut other, _) = server();
    let replies = other.handle(
        at(0),
        Request {
            bytes: &discover,
            source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            interface: "eth0",
            to_broadcast: true,
        },
    );
    let (offer, _) = one(replies);
    assert_eq!(
        offer.destination,
        Destination::Broadcast,
        "probe sets the broadcast flag"
    );
    assert_eq!(probe.offer_from(&offer.bytes, SID), Some(SID));
    assert_eq!(
        probe.clone().ignore([SID]).offer_from(&offer.bytes, SID),
        None
    );
    assert_eq!(
        RogueProbe::with_xid(box_mac, 1).offer_from(&offer.bytes, SID),
        None
    );
    assert_eq!(
        probe.offer_from(&discover, SID),
        None,
        "our own DISCOVER is not an offer"
    );
    assert_ne!(
        RogueProbe::new(box_mac).xid(),
        RogueProbe::new(box_mac).xid()
    );
}

/// xorshift64*: a seeded generator without external crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn malformed_packets_get_no_reply_and_never_panic() {
    let (mut s, _) = server();
    let good = bytes(&msg(
        mac(1),
        MessageType::Discover,
        vec![DhcpOption::ClassIdentifier(b"yealink".to_vec())],
    ));
    let drop = |s: &mut Server, b: &[u8]| {
        let r = s.handle(
            at(0),
            Request {
                bytes: b,
                source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                interface: "eth0",
                to_broadcast: true,
            },
        );
        assert!(r.is_empty(), "{b:?}");
        assert!(events(s).iter().any(|e| matches!(e, Event::Dropped { .. })));
    };
    drop(&mut s, &good[..100]); // truncated
    let mut cookie = good.clone();
    cookie[236] = 0;
    drop(&mut s, &cookie); // bad magic cookie
    let mut huge = good[..240].to_vec();
    huge.extend_from_slice(&[53, 1, 1, 60, 250, b'x', b'y', 255]);
    drop(&mut s, &huge); // option length past the end
    let mut overload = good[..240].to_vec();
    overload.extend_from_slice(&[53, 1, 1, 52, 1, 3, 255]);
    drop(&mut s, &overload); // option overload
    drop(&mut s, &good[..good.len() - 1]); // no END
    drop(&mut s, &vec![0u8; 4000]);
    drop(&mut s, &[]);

    // Seeded mutation loop over valid requests.
    let seeds: Vec<Vec<u8>> = vec![
        good.clone(),
        bytes(&msg(
            mac(2),
            MessageType::Request,
            vec![
                DhcpOption::ServerIdentifier(SID),
                DhcpOption::RequestedIpAddress(ip(100)),
            ],
        )),
        bytes(&msg(
            mac(3),
            MessageType::Inform,
            vec![DhcpOption::ParameterRequestList(vec![OptionCode::Router])],
        )),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut answered = 0;
    for i in 0..5000u64 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            match rng.below(6) {
                0 if !b.is_empty() => {
                    let j = rng.below(b.len());
                    b[j] = rng.next() as u8;
                }
                1 => b.truncate(rng.below(b.len() + 1)),
                2 => (0..rng.below(64)).for_each(|_| b.push(rng.next() as u8)),
                3 if b.len() > 242 => {
                    // A huge or zero length on some option byte.
                    let j = 240 + rng.below(b.len() - 240);
                    b[j] = [0xff, 0xfe, 0x00, 0x80][rng.below(4)];
                }
                4 => {
                    let j = rng.below(b.len() + 1);
                    b.insert(j.min(b.len()), rng.next() as u8);
                }
                _ => {
                    let j = 240.min(b.len());
                    b.truncate(j + rng.below(b.len() - j + 1));
                    b.extend_from_slice(&[rng.next() as u8, rng.next() as u8]);
                }
            }
        }
        let replies = s.handle(
            at(i),
            Request {
                bytes: &b,
                source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                interface: "eth0",
                to_broadcast: true,
            },
        );
        for r in replies {
            answered += 1;
            assert!(Message::decode(&mut Decoder::new(&r.bytes)).is_ok());
            assert!(r.bytes.len() <= 576, "reply fits the minimum MTU");
        }
        events(&mut s);
    }
    eprintln!("mutation loop: 5000 packets, {answered} answered");
}

/// A store whose changes become "durable" (visible in `durable`) only on `sync` while a
/// batch is open; `sync` can be made to fail.
struct GroupStore {
    durable: MemoryStore,
    pending: Option<Vec<ivm_dhcp::Lease>>,
    fail_sync: std::sync::Arc<std::sync::atomic::AtomicBool>,
    syncs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ivm_dhcp::LeaseStore for GroupStore {
    fn load(&mut self) -> Result<Vec<ivm_dhcp::Lease>, ivm_dhcp::StoreError> {
        self.durable.load()
    }
    fn commit(&mut self, lease: &ivm_dhcp::Lease) -> Result<(), ivm_dhcp::StoreError> {
        match self.pending.as_mut() {
            Some(p) => {
                p.push(lease.clone());
                Ok(())
            }
            None => self.durable.commit(lease),
        }
    }
    fn remove(&mut self, ip: Ipv4Addr) -> Result<(), ivm_dhcp::StoreError> {
        self.durable.remove(ip)
    }
    fn begin_batch(&mut self) {
        self.pending.get_or_insert_with(Vec::new);
    }
    fn sync(&mut self) -> Result<(), ivm_dhcp::StoreError> {
        use std::sync::atomic::Ordering;
        let pending = self.pending.take().unwrap_or_default();
        self.syncs.fetch_add(1, Ordering::SeqCst);
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(ivm_dhcp::StoreError::Unavailable("sync fails".into()));
        }
        for l in &pending {
            self.durable.commit(l)?;
        }
        Ok(())
    }
}

fn req_for(offer: &Message, m: Mac) -> Message {
    msg(
        m,
        MessageType::Request,
        vec![
            DhcpOption::ServerIdentifier(SID),
            DhcpOption::RequestedIpAddress(offer.yiaddr()),
        ],
    )
}

#[test]
fn group_commit_syncs_once_and_acks_only_durable_leases() {
    use std::sync::atomic::Ordering;
    let durable = MemoryStore::new();
    let fail_sync = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = GroupStore {
        durable: durable.clone(),
        pending: None,
        fail_sync: fail_sync.clone(),
        syncs: syncs.clone(),
    };
    let mut s = Server::new(config(), Box::new(store)).unwrap();
    let offers: Vec<Message> = (1..=3)
        .map(|n| {
            one(send(
                &mut s,
                0,
                &msg(mac(n), MessageType::Discover, vec![]),
                true,
            ))
            .1
        })
        .collect();
    let wire: Vec<Vec<u8>> = (1..=3u8)
        .map(|n| bytes(&req_for(&offers[usize::from(n) - 1], mac(n))))
        .collect();
    let reqs: Vec<Request<'_>> = wire
        .iter()
        .map(|b| Request {
            bytes: b,
            source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            interface: "eth0",
            to_broadcast: true,
        })
        .collect();

    // Two ACKs, one sync, and both leases durable by the time the replies come back.
    let out = s.handle_batch(at(1), &reqs[..2]);
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
    for (i, replies) in out.into_iter().enumerate() {
        let (r, ack) = one(replies);
        assert_eq!(r.msg_type, MessageType::Ack);
        let l = durable
            .get(ack.yiaddr())
            .expect("durable before its ACK is returned");
        assert_eq!(l.mac, mac(u8::try_from(i).unwrap() + 1));
    }
    assert_eq!(durable.commits(), 2);

    // The sync fails: the batch's ACK is withheld and the drop reported.
    fail_sync.store(true, Ordering::SeqCst);
    let _ = events(&mut s);
    let out = s.handle_batch(at(2), &reqs[2..]);
    assert_eq!(out.len(), 1);
    assert!(out[0].is_empty(), "no ACK without a durable lease");
    assert_eq!(durable.get(offers[2].yiaddr()), None);
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, Event::Dropped { .. })));
}

#[test]
fn group_commit_with_the_file_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.jsonl");
    let acked: Vec<Ipv4Addr> = {
        let mut s = Server::new(config(), Box::new(FileStore::open(&path).unwrap())).unwrap();
        let offers: Vec<Message> = (1..=4)
            .map(|n| {
                one(send(
                    &mut s,
                    0,
                    &msg(mac(n), MessageType::Discover, vec![]),
                    true,
                ))
                .1
            })
            .collect();
        let wire: Vec<Vec<u8>> = (1..=4u8)
            .map(|n| bytes(&req_for(&offers[usize::from(n) - 1], mac(n))))
            .collect();
        let reqs: Vec<Request<'_>> = wire
            .iter()
            .map(|b| Request {
                bytes: b,
                source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                interface: "eth0",
                to_broadcast: true,
            })
            .collect();
        s.handle_batch(at(1), &reqs)
            .into_iter()
            .map(|r| one(r).1.yiaddr())
            .collect()
    };
    assert_eq!(acked.len(), 4);
    let s = Server::new(config(), Box::new(FileStore::open(&path).unwrap())).unwrap();
    for (i, a) in acked.iter().enumerate() {
        let l = s
            .leases()
            .find(|l| l.ip == *a)
            .expect("acked lease on disk");
        assert_eq!(l.mac, mac(u8::try_from(i).unwrap() + 1));
    }
}
