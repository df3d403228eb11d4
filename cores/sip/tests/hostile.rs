//! The transaction layer toward sources that have not authenticated (a hostile LAN), on a
//! virtual clock: stateless answers, no retransmissions toward them, absorbed ACKs, and
//! budgets of their own so that they cannot take an authenticated phone's share.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ivm_sip::message::{Message, Request};
use ivm_sip::transaction::{Config, Event, Peer, TransactionLayer, Transmit, TxId};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn request(method: &str, from: SocketAddr, branch: &str) -> Request {
    let s = format!(
        "{method} sip:201@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: <sip:202@ivm>;tag=ft\r\nTo: <sip:201@ivm>\r\nCall-ID: {branch}@x\r\nCSeq: 1 {method}\r\n\
Contact: <sip:202@{from}>\r\nContent-Length: 0\r\n\r\n"
    );
    match Message::parse(s.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn statuses(l: &mut TransactionLayer) -> Vec<u16> {
    std::iter::from_fn(|| l.poll_transmit())
        .map(|t: Transmit| match Message::parse(&t.payload) {
            Ok(Message::Response(r)) => r.status,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Feeds a request; returns the server transaction the TU got, if any.
fn feed(
    l: &mut TransactionLayer,
    now: Instant,
    from: SocketAddr,
    req: Request,
) -> Option<(TxId, Request)> {
    l.handle_incoming(now, Peer::udp(from), Message::Request(req));
    let mut got = None;
    while let Some(e) = l.poll_event() {
        if let Event::Request { id, request, .. } = e {
            got = Some((id, request));
        }
    }
    got
}

/// Runs every timer for `span` and returns what was sent meanwhile.
fn run(l: &mut TransactionLayer, end: Instant) -> Vec<u16> {
    let mut sent = Vec::new();
    while let Some(at) = l.poll_timeout() {
        if at > end {
            break;
        }
        l.handle_timeout(at);
        sent.extend(statuses(l));
    }
    sent
}

#[test]
fn an_untrusted_invite_gets_one_challenge_no_trying_and_its_ack_is_absorbed() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    let src = addr("10.0.0.66:5060");
    let inv = request("INVITE", src, "z9hG4bKinv1");
    let (id, req) = feed(&mut l, t0, src, inv.clone()).expect("a transaction for the TU");
    assert!(
        statuses(&mut l).is_empty(),
        "no automatic 100 toward an untrusted source"
    );
    // The TU challenges with the ordinary call: it goes out once and nothing is kept.
    l.send_response(t0, id, req.make_response(401, Some("t")))
        .expect("401");
    assert_eq!(statuses(&mut l), vec![401]);
    assert_eq!(l.poll_event(), Some(Event::Terminated { id }));
    assert!(l.is_empty(), "no INVITE transaction kept for Timer G/H");
    assert_eq!(l.poll_timeout(), None);
    assert!(
        run(&mut l, t0 + Duration::from_secs(40)).is_empty(),
        "no retransmitted 401"
    );
    // The ACK for that 401 (same branch) matches nothing: no answer, no transaction.
    let mut ack = inv.clone();
    ack.method = ivm_sip::message::Method::Ack;
    ack.headers.set("CSeq", "1 ACK");
    l.handle_incoming(
        t0 + Duration::from_millis(10),
        Peer::udp(src),
        Message::Request(ack),
    );
    assert!(statuses(&mut l).is_empty());
    assert!(l.is_empty());
    while let Some(e) = l.poll_event() {
        assert!(matches!(e, Event::Ack { id: None, .. }), "{e:?}");
    }
}

#[test]
fn a_trusted_invite_keeps_the_rfc_3261_behaviour() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    let src = addr("10.0.0.20:5060");
    l.mark_authenticated(src.ip(), t0);
    let (id, req) = feed(&mut l, t0, src, request("INVITE", src, "z9hG4bKinv2")).expect("tx");
    assert_eq!(statuses(&mut l), vec![100]);
    l.send_response(t0, id, req.make_response(486, Some("t")))
        .expect("486");
    assert_eq!(statuses(&mut l), vec![486]);
    // Timer G resends toward an authenticated phone until its ACK.
    let resent = run(&mut l, t0 + Duration::from_secs(40));
    assert!(
        resent.len() >= 5 && resent.iter().all(|s| *s == 486),
        "{resent:?}"
    );
    // respond_and_forget works for INVITE challenges from trusted sources too.
    let (id, req) = feed(&mut l, t0, src, request("INVITE", src, "z9hG4bKinv3")).expect("tx");
    statuses(&mut l);
    l.respond_and_forget(id, req.make_response(401, Some("t")))
        .expect("401");
    assert_eq!(statuses(&mut l), vec![401]);
    assert!(l
        .respond_and_forget(id, req.make_response(401, None))
        .is_err());
}

#[test]
fn untrusted_finals_are_stateless_but_an_invite_2xx_is_not() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    let src = addr("10.0.0.66:5070");
    let (id, req) = feed(&mut l, t0, src, request("OPTIONS", src, "z9hG4bKo1")).expect("tx");
    l.send_response(t0, id, req.make_response(200, Some("t")))
        .expect("200");
    assert_eq!(statuses(&mut l), vec![200]);
    assert!(
        l.is_empty(),
        "no lingering transaction for an untrusted source"
    );
    // A retransmission is a new request (answered again by the TU, once).
    assert!(feed(&mut l, t0, src, req.clone()).is_some());
    // Authentication during the transaction (the TU marks the address): a 2xx to an INVITE
    // is resent until its ACK like any other.
    let (id, req) = feed(&mut l, t0, src, request("INVITE", src, "z9hG4bKi9")).expect("tx");
    l.mark_authenticated(src.ip(), t0);
    l.send_response(t0, id, req.make_response(200, Some("t")))
        .expect("200");
    assert_eq!(statuses(&mut l), vec![200]);
    assert!(
        !run(&mut l, t0 + Duration::from_secs(2)).is_empty(),
        "2xx resent"
    );
}

#[test]
fn untrusted_sources_cannot_take_an_authenticated_phones_share() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config {
        max_transactions: 200,
        max_untrusted: 20,
        max_untrusted_per_source: 5,
        ..Config::default()
    });
    let phone = addr("10.0.0.20:5062");
    l.mark_authenticated(phone.ip(), t0);
    let mut held = Vec::new();
    // One host, many ports: capped per address.
    for n in 0..50u16 {
        let src = SocketAddr::new(IpAddr::from([10, 0, 0, 66]), 6000 + n);
        if let Some(tx) = feed(
            &mut l,
            t0,
            src,
            request("REGISTER", src, &format!("z9hG4bKa{n}")),
        ) {
            held.push(tx);
        }
    }
    assert_eq!(held.len(), 5, "one untrusted address, any ports: 5 at once");
    assert_eq!(l.untrusted(), 5);
    // Many hosts: capped together.
    for n in 0..100u8 {
        let src = SocketAddr::new(IpAddr::from([10, 0, 1, n]), 5060);
        if let Some(tx) = feed(
            &mut l,
            t0,
            src,
            request("REGISTER", src, &format!("z9hG4bKb{n}")),
        ) {
            held.push(tx);
        }
    }
    assert_eq!(l.untrusted(), 20, "all untrusted sources together");
    let refused = statuses(&mut l);
    assert!(!refused.is_empty() && refused.iter().all(|s| *s == 503));
    // The authenticated phone still gets transactions (far more than the untrusted budget).
    for n in 0..100u16 {
        assert!(
            feed(
                &mut l,
                t0,
                phone,
                request("REGISTER", phone, &format!("z9hG4bKp{n}"))
            )
            .is_some(),
            "phone REGISTER {n}"
        );
    }
    // Answered untrusted transactions give their budget back.
    for (id, req) in held {
        l.send_response(t0, id, req.make_response(401, Some("t")))
            .expect("401");
    }
    assert_eq!(l.untrusted(), 0);
    let src = addr("10.0.0.66:7000");
    assert!(feed(&mut l, t0, src, request("REGISTER", src, "z9hG4bKc")).is_some());
}

#[test]
fn trust_expires() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config {
        trust_ttl: Duration::from_secs(60),
        ..Config::default()
    });
    let ip: IpAddr = "10.0.0.20".parse().expect("ip");
    l.mark_authenticated(ip, t0);
    assert!(l.is_authenticated(ip, t0 + Duration::from_secs(59)));
    assert!(!l.is_authenticated(ip, t0 + Duration::from_secs(60)));
}
