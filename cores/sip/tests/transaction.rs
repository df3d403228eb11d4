//! Transaction layer with a virtual clock: no sockets, no sleeps. Times below are offsets from
//! `t0` in milliseconds; the RFC 3261 schedules (T1 = 500 ms, T2 = 4 s, T4 = 5 s) are checked
//! exactly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivm_sip::message::{Message, Request, Response};
use ivm_sip::transaction::{Config, Event, Peer, Timer, TransactionLayer, Transmit, TxId};

const PHONE: &str = "10.0.0.20:5062";
const BOX: &str = "10.0.0.1:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn request(method: &str, branch: &str, extra: &str) -> Request {
    let s = format!(
        "{method} sip:201@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.20:5062;branch={branch}\r\nMax-Forwards: 70\r\n\
From: <sip:202@ivm>;tag=ft\r\nTo: <sip:201@ivm>{extra}\r\nCall-ID: call-1\r\nCSeq: 1 {method}\r\n\
Contact: <sip:202@10.0.0.20:5062>\r\nContent-Length: 0\r\n\r\n"
    );
    match Message::parse(s.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn parse_response(t: &Transmit) -> Response {
    match Message::parse(&t.payload) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn parse_request(t: &Transmit) -> Request {
    match Message::parse(&t.payload) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn drain_tx(l: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn drain_ev(l: &mut TransactionLayer) -> Vec<Event> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

/// Runs timers until `end`, returning (offset ms, transmit) for each send.
fn run_until(l: &mut TransactionLayer, t0: Instant, end: Instant) -> Vec<(u128, Transmit)> {
    let mut sent = Vec::new();
    while let Some(at) = l.poll_timeout() {
        if at > end {
            break;
        }
        l.handle_timeout(at);
        for t in drain_tx(l) {
            sent.push(((at - t0).as_millis(), t));
        }
    }
    sent
}

/// The phone has authenticated: its transactions are stateful (the untrusted-source rules
/// have tests of their own in `hostile.rs`).
fn trust_phone(l: &mut TransactionLayer, now: Instant) {
    l.mark_authenticated(addr(PHONE).ip(), now);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn new_request(l: &mut TransactionLayer, now: Instant, req: Request) -> TxId {
    l.handle_incoming(now, Peer::udp(addr(PHONE)), Message::Request(req));
    match drain_ev(l).into_iter().find_map(|e| match e {
        Event::Request { id, .. } => Some(id),
        _ => None,
    }) {
        Some(id) => id,
        None => panic!("no request event"),
    }
}

#[test]
fn invite_client_udp_retransmits_then_timer_b() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let id = l
        .send_request(
            t0,
            Peer::udp(addr(PHONE)),
            request("INVITE", "z9hG4bKc1", ""),
        )
        .expect("send");
    assert_eq!(drain_tx(&mut l).len(), 1);
    let sent = run_until(&mut l, t0, t0 + ms(40_000));
    let times: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    // Timer A: T1, doubling each time, no cap; Timer B at 64*T1 = 32 s.
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    let ev = drain_ev(&mut l);
    assert_eq!(
        ev,
        vec![
            Event::Timeout {
                id,
                timer: Timer::B
            },
            Event::Terminated { id }
        ]
    );
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn invite_client_non_2xx_acks_and_timer_d() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKc2", "");
    let id = l
        .send_request(t0, Peer::udp(addr(PHONE)), req.clone())
        .expect("send");
    drain_tx(&mut l);
    let ringing = req.make_response(180, Some("tt"));
    l.handle_incoming(
        t0 + ms(100),
        Peer::udp(addr(PHONE)),
        Message::Response(ringing),
    );
    assert!(
        matches!(drain_ev(&mut l).as_slice(), [Event::Response { response, .. }] if response.status == 180)
    );
    // Proceeding: Timer A is off.
    assert!(run_until(&mut l, t0, t0 + ms(10_000)).is_empty());
    let busy = req.make_response(486, Some("tt"));
    l.handle_incoming(
        t0 + ms(10_000),
        Peer::udp(addr(PHONE)),
        Message::Response(busy.clone()),
    );
    let acks = drain_tx(&mut l);
    assert_eq!(acks.len(), 1);
    let ack = parse_request(&acks[0]);
    assert_eq!(ack.method.as_str(), "ACK");
    assert_eq!(ack.headers.cseq().expect("cseq").seq, 1);
    assert_eq!(ack.headers.to().expect("to").tag().as_deref(), Some("tt"));
    assert_eq!(
        ack.headers.top_via().expect("via").branch().as_deref(),
        Some("z9hG4bKc2")
    );
    assert!(
        matches!(drain_ev(&mut l).as_slice(), [Event::Response { response, .. }] if response.status == 486)
    );
    // A retransmitted 486 is absorbed and answered with the same ACK.
    l.handle_incoming(
        t0 + ms(11_000),
        Peer::udp(addr(PHONE)),
        Message::Response(busy),
    );
    assert_eq!(drain_tx(&mut l)[0].payload, acks[0].payload);
    assert!(drain_ev(&mut l).is_empty());
    // Timer D: 32 s later the transaction is gone, silently.
    run_until(&mut l, t0, t0 + ms(42_000));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
}

#[test]
fn invite_client_2xx_retransmissions_reach_the_tu() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKc3", "");
    let id = l
        .send_request(t0, Peer::udp(addr(PHONE)), req.clone())
        .expect("send");
    drain_tx(&mut l);
    let ok = req.make_response(200, Some("tt"));
    for at in [100, 600, 1600] {
        l.handle_incoming(
            t0 + ms(at),
            Peer::udp(addr(PHONE)),
            Message::Response(ok.clone()),
        );
        assert!(matches!(drain_ev(&mut l).as_slice(), [Event::Response { id: i, .. }] if *i == id));
    }
    assert!(
        drain_tx(&mut l).is_empty(),
        "the TU sends the ACK for a 2xx, not the transaction"
    );
    run_until(&mut l, t0, t0 + ms(40_000));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
    // After Timer M a late 2xx is stray: the TU ACKs it again from its dialog.
    l.handle_incoming(
        t0 + ms(40_000),
        Peer::udp(addr(PHONE)),
        Message::Response(ok),
    );
    assert!(matches!(
        drain_ev(&mut l).as_slice(),
        [Event::StrayResponse { .. }]
    ));
}

#[test]
fn non_invite_client_timer_e_caps_at_t2_then_f() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let id = l
        .send_request(
            t0,
            Peer::udp(addr(PHONE)),
            request("OPTIONS", "z9hG4bKc4", ""),
        )
        .expect("send");
    drain_tx(&mut l);
    let times: Vec<u128> = run_until(&mut l, t0, t0 + ms(40_000))
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        drain_ev(&mut l),
        vec![
            Event::Timeout {
                id,
                timer: Timer::F
            },
            Event::Terminated { id }
        ]
    );
}

#[test]
fn non_invite_client_provisional_then_final_then_timer_k() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("REGISTER", "z9hG4bKc5", "");
    let id = l
        .send_request(t0, Peer::udp(addr(PHONE)), req.clone())
        .expect("send");
    drain_tx(&mut l);
    l.handle_incoming(
        t0 + ms(100),
        Peer::udp(addr(PHONE)),
        Message::Response(req.make_response(100, None)),
    );
    drain_ev(&mut l);
    // In Proceeding, E fires every T2.
    let times: Vec<u128> = run_until(&mut l, t0, t0 + ms(9_000))
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, vec![500, 4500, 8500]);
    l.handle_incoming(
        t0 + ms(9_000),
        Peer::udp(addr(PHONE)),
        Message::Response(req.make_response(200, Some("x"))),
    );
    assert!(
        matches!(drain_ev(&mut l).as_slice(), [Event::Response { response, .. }] if response.status == 200)
    );
    assert!(run_until(&mut l, t0, t0 + ms(13_999)).is_empty());
    assert!(drain_ev(&mut l).is_empty(), "Timer K is T4 = 5 s");
    run_until(&mut l, t0, t0 + ms(14_000));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
}

#[test]
fn non_invite_server_absorbs_retransmissions_and_timer_j() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("REGISTER", "z9hG4bKs1", "");
    let id = new_request(&mut l, t0, req.clone());
    // Retransmission before the TU answers: absorbed, nothing sent, no event.
    l.handle_incoming(
        t0 + ms(500),
        Peer::udp(addr(PHONE)),
        Message::Request(req.clone()),
    );
    assert!(drain_tx(&mut l).is_empty());
    assert!(drain_ev(&mut l).is_empty());
    l.send_response(t0 + ms(600), id, req.make_response(200, Some("reg")))
        .expect("respond");
    let first = drain_tx(&mut l);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].peer.addr, addr(PHONE));
    // Retransmissions now get the same 200, and the TU still sees nothing.
    for at in [1500, 3500] {
        l.handle_incoming(
            t0 + ms(at),
            Peer::udp(addr(PHONE)),
            Message::Request(req.clone()),
        );
        assert_eq!(drain_tx(&mut l)[0].payload, first[0].payload);
    }
    assert!(drain_ev(&mut l).is_empty());
    assert_eq!(
        l.send_response(t0 + ms(3600), id, req.make_response(200, None)),
        Err(ivm_sip::transaction::TransactionError::InvalidState)
    );
    // Timer J: 64*T1 after the final response.
    assert!(run_until(&mut l, t0, t0 + ms(32_599)).is_empty());
    assert!(drain_ev(&mut l).is_empty());
    run_until(&mut l, t0, t0 + ms(32_600));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
}

#[test]
fn reliable_transport_has_no_retransmits_and_zero_wait() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("REGISTER", "z9hG4bKs2", "");
    l.handle_incoming(t0, Peer::tcp(addr(PHONE)), Message::Request(req.clone()));
    let id = match drain_ev(&mut l).as_slice() {
        [Event::Request { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    l.send_response(t0, id, req.make_response(200, Some("x")))
        .expect("respond");
    assert_eq!(drain_tx(&mut l)[0].peer, Peer::tcp(addr(PHONE)));
    assert_eq!(
        drain_ev(&mut l),
        vec![Event::Terminated { id }],
        "Timer J is zero on TCP"
    );

    let cid = l
        .send_request(
            t0,
            Peer::tcp(addr(PHONE)),
            request("OPTIONS", "z9hG4bKc6", ""),
        )
        .expect("send");
    drain_tx(&mut l);
    // Only Timer F is armed; nothing is retransmitted.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(32_000)));
    assert_eq!(run_until(&mut l, t0, t0 + ms(40_000)).len(), 0);
    assert_eq!(
        drain_ev(&mut l),
        vec![
            Event::Timeout {
                id: cid,
                timer: Timer::F
            },
            Event::Terminated { id: cid }
        ]
    );
}

#[test]
fn invite_server_non_2xx_timer_g_ack_and_timer_i() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKs3", "");
    let id = new_request(&mut l, t0, req.clone());
    let trying = drain_tx(&mut l);
    assert_eq!(parse_response(&trying[0]).status, 100, "100 Trying at once");
    // A retransmitted INVITE gets the last provisional again.
    l.handle_incoming(
        t0 + ms(500),
        Peer::udp(addr(PHONE)),
        Message::Request(req.clone()),
    );
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 100);
    l.send_response(t0 + ms(1000), id, req.make_response(486, Some("busy")))
        .expect("486");
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 486);
    // Timer G: T1 doubling, capped at T2.
    let times: Vec<u128> = run_until(&mut l, t0, t0 + ms(13_000))
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, vec![1500, 2500, 4500, 8500, 12500]);
    // The ACK (same branch) confirms: no more retransmissions, and the TU never sees it.
    let mut ack = request("ACK", "z9hG4bKs3", ";tag=busy");
    ack.headers.set("CSeq", "1 ACK");
    l.handle_incoming(
        t0 + ms(13_000),
        Peer::udp(addr(PHONE)),
        Message::Request(ack.clone()),
    );
    assert!(drain_ev(&mut l).is_empty());
    l.handle_incoming(
        t0 + ms(13_100),
        Peer::udp(addr(PHONE)),
        Message::Request(ack),
    );
    assert!(drain_ev(&mut l).is_empty());
    // Timer I: T4 in Confirmed, then gone.
    assert!(run_until(&mut l, t0, t0 + ms(17_999)).is_empty());
    run_until(&mut l, t0, t0 + ms(18_000));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
}

#[test]
fn invite_server_timer_h_without_ack() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKs4", "");
    let id = new_request(&mut l, t0, req.clone());
    l.send_response(t0, id, req.make_response(404, Some("nf")))
        .expect("404");
    let sent = run_until(&mut l, t0, t0 + ms(40_000));
    assert!(sent.iter().all(|(t, _)| *t < 32_000));
    assert_eq!(
        drain_ev(&mut l),
        vec![
            Event::Timeout {
                id,
                timer: Timer::H
            },
            Event::Terminated { id }
        ]
    );
}

#[test]
fn invite_server_2xx_resent_until_ack_by_dialog() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKs5", "");
    let id = new_request(&mut l, t0, req.clone());
    drain_tx(&mut l);
    l.send_response(t0, id, req.make_response(200, Some("ok")))
        .expect("200");
    assert_eq!(drain_tx(&mut l).len(), 1);
    let times: Vec<u128> = run_until(&mut l, t0, t0 + ms(8_000))
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500]);
    // The ACK for a 2xx has its own branch; it is matched by Call-ID and CSeq.
    let mut ack = request("ACK", "z9hG4bKack", ";tag=ok");
    ack.headers.set("CSeq", "1 ACK");
    l.handle_incoming(
        t0 + ms(8_000),
        Peer::udp(addr(PHONE)),
        Message::Request(ack.clone()),
    );
    assert!(matches!(drain_ev(&mut l).as_slice(), [Event::Ack { id: Some(i), .. }] if *i == id));
    l.handle_incoming(
        t0 + ms(8_100),
        Peer::udp(addr(PHONE)),
        Message::Request(ack),
    );
    assert!(drain_ev(&mut l).is_empty(), "a repeated ACK is absorbed");
    // A late INVITE retransmission is absorbed too (RFC 6026 Accepted).
    l.handle_incoming(
        t0 + ms(9_000),
        Peer::udp(addr(PHONE)),
        Message::Request(req),
    );
    assert!(drain_tx(&mut l).is_empty() && drain_ev(&mut l).is_empty());
    assert!(
        run_until(&mut l, t0, t0 + ms(40_000)).is_empty(),
        "no 2xx after the ACK"
    );
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
}

#[test]
fn invite_server_2xx_without_ack_reports_timer_l() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("INVITE", "z9hG4bKs6", "");
    let id = new_request(&mut l, t0, req.clone());
    l.send_response(t0, id, req.make_response(200, Some("ok")))
        .expect("200");
    assert_eq!(drain_tx(&mut l).len(), 2, "100 Trying and the 200");
    let sent = run_until(&mut l, t0, t0 + ms(40_000));
    let times: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        drain_ev(&mut l),
        vec![
            Event::Timeout {
                id,
                timer: Timer::L
            },
            Event::Terminated { id }
        ]
    );
}

#[test]
fn cancel_finds_its_invite() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let invite = request("INVITE", "z9hG4bKs7", "");
    let inv_id = new_request(&mut l, t0, invite.clone());
    let mut cancel = request("CANCEL", "z9hG4bKs7", "");
    cancel.headers.set("CSeq", "1 CANCEL");
    let cancel_id = new_request(&mut l, t0 + ms(100), cancel.clone());
    assert_ne!(cancel_id, inv_id);
    assert_eq!(l.cancel_target(&cancel), Some(inv_id));
    assert!(l.is_pending(inv_id));
    l.send_response(t0, cancel_id, cancel.make_response(200, None))
        .expect("200 to CANCEL");
    l.send_response(t0, inv_id, invite.make_response(487, Some("t")))
        .expect("487");
    assert!(!l.is_pending(inv_id));
}

#[test]
fn invalid_and_garbage_input() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let peer = Peer::udp(addr(PHONE));
    // Missing From: answered 400 statelessly, no transaction.
    let bad = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bKx\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    l.handle_datagram(t0, peer, bad);
    let sent = drain_tx(&mut l);
    assert_eq!(parse_response(&sent[0]).status, 400);
    assert!(matches!(
        drain_ev(&mut l).as_slice(),
        [Event::Rejected {
            status: Some(400),
            ..
        }]
    ));
    assert!(l.is_empty());
    // Unknown version: 505.
    let v7 = String::from_utf8_lossy(bad)
        .replace("SIP/2.0\r\n", "SIP/7.0\r\n")
        .replace("To:", "From: <sip:c@d>;tag=1\r\nTo:");
    l.handle_datagram(t0, peer, v7.as_bytes());
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 505);
    drain_ev(&mut l);
    // Unparseable: dropped, reported, nothing sent. Keep-alives: silent.
    l.handle_datagram(t0, peer, b"\x00\x01garbage");
    assert!(drain_tx(&mut l).is_empty());
    assert!(matches!(
        drain_ev(&mut l).as_slice(),
        [Event::Rejected { status: None, .. }]
    ));
    l.handle_datagram(t0, peer, b"\r\n\r\n");
    assert!(drain_ev(&mut l).is_empty());
    // A broadcast source address is never answered.
    l.handle_datagram(
        t0,
        Peer::udp(addr("255.255.255.255:5060")),
        request("OPTIONS", "z9hG4bKb", "").encode().as_slice(),
    );
    assert!(drain_tx(&mut l).is_empty());
}

#[test]
fn bounded_transaction_table() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config {
        max_transactions: 2,
        ..Config::default()
    });
    trust_phone(&mut l, t0);
    new_request(&mut l, t0, request("OPTIONS", "z9hG4bK1", ""));
    new_request(&mut l, t0, request("OPTIONS", "z9hG4bK2", ""));
    l.handle_incoming(
        t0,
        Peer::udp(addr(PHONE)),
        Message::Request(request("OPTIONS", "z9hG4bK3", "")),
    );
    let r = parse_response(&drain_tx(&mut l)[0]);
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("Retry-After"), Some("5"));
    assert_eq!(l.len(), 2);
    assert_eq!(
        l.send_request(
            t0,
            Peer::udp(addr(PHONE)),
            request("OPTIONS", "z9hG4bK4", "")
        ),
        Err(ivm_sip::transaction::TransactionError::Full)
    );
}

#[test]
fn responses_follow_via_rules() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    // No rport: reply to the source IP at the sent-by port.
    let req = request("OPTIONS", "z9hG4bKv1", "");
    l.handle_incoming(
        t0,
        Peer::udp(addr("10.0.0.20:40000")),
        Message::Request(req.clone()),
    );
    let Some(Event::Request { id, request: r, .. }) = l.poll_event() else {
        panic!("request")
    };
    l.send_response(t0, id, r.make_response(200, None))
        .expect("200");
    assert_eq!(drain_tx(&mut l)[0].peer.addr, addr("10.0.0.20:5062"));
    // rport: reply to the source port, and the Via says so.
    let mut req = request("OPTIONS", "z9hG4bKv2", "");
    req.headers
        .set("Via", "SIP/2.0/UDP 192.168.9.9:5062;rport;branch=z9hG4bKv2");
    l.handle_incoming(
        t0,
        Peer::udp(addr("10.0.0.20:40000")),
        Message::Request(req),
    );
    let Some(Event::Request { id, request: r, .. }) = l.poll_event() else {
        panic!("request")
    };
    let resp = r.make_response(200, None);
    let via = resp.headers.top_via().expect("via");
    assert_eq!(via.rport(), Some(Some(40000)));
    assert_eq!(via.received(), Some("10.0.0.20".parse().expect("ip")));
    l.send_response(t0, id, resp).expect("200");
    assert_eq!(drain_tx(&mut l)[0].peer.addr, addr("10.0.0.20:40000"));
}

/// Two layers in memory, quinn-style: a phone (client) and the box (server), a virtual
/// clock, and a loss pattern on the wire.
struct Pair {
    now: Instant,
    phone: TransactionLayer,
    server: TransactionLayer,
    /// Drop the nth datagram on the wire (counting both directions from 0).
    lose: Vec<usize>,
    sent: usize,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let mut server = TransactionLayer::new(Config::default());
        trust_phone(&mut server, now);
        Pair {
            now,
            phone: TransactionLayer::new(Config::default()),
            server,
            lose: Vec::new(),
            sent: 0,
        }
    }

    /// Delivers everything queued, then advances to the next timer; returns false when idle.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.phone.poll_transmit() {
            moved = true;
            self.sent += 1;
            if !self.lose.contains(&(self.sent - 1)) {
                self.server
                    .handle_datagram(self.now, Peer::udp(addr(PHONE)), &t.payload);
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            moved = true;
            self.sent += 1;
            if !self.lose.contains(&(self.sent - 1)) {
                self.phone
                    .handle_datagram(self.now, Peer::udp(addr(BOX)), &t.payload);
            }
        }
        if moved {
            return true;
        }
        let next = [self.phone.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(at) => {
                self.now = self.now.max(at);
                self.phone.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
                true
            }
            None => false,
        }
    }
}

#[test]
fn pair_invite_rejected_through_loss() {
    let mut p = Pair::new();
    let t0 = p.now;
    // Lose the first INVITE and the first 486 on the wire.
    p.lose = vec![0, 3];
    let invite = request("INVITE", "z9hG4bKpair", "");
    let cid = p
        .phone
        .send_request(p.now, Peer::udp(addr(BOX)), invite)
        .expect("send");
    let mut server_tx = None;
    let mut final_at = None;
    for _ in 0..200 {
        if !p.step() {
            break;
        }
        while let Some(e) = p.server.poll_event() {
            if let Event::Request { id, request, .. } = e {
                server_tx = Some(id);
                p.server
                    .send_response(p.now, id, request.make_response(486, Some("b")))
                    .expect("486");
            }
        }
        while let Some(e) = p.phone.poll_event() {
            if let Event::Response { id, response } = e {
                assert_eq!(id, cid);
                if response.status == 486 {
                    final_at.get_or_insert(p.now);
                }
            }
        }
    }
    assert!(server_tx.is_some(), "the INVITE retransmission got through");
    let final_at = final_at.expect("486 reached the phone");
    // INVITE lost at 0, resent at 500 ms; 100 delivered, 486 lost, resent by Timer G 500 ms later.
    assert_eq!(final_at - t0, ms(1000));
    assert!(
        p.phone.is_empty() && p.server.is_empty(),
        "both sides clean up (Timers D and I)"
    );
}

/// One source address cannot take more than its share of the table, from however many
/// ports: another address still gets through.
#[test]
fn one_source_cannot_fill_the_table() {
    use ivm_sip::transaction::{Config, Event, Peer, TransactionLayer};
    let mut layer = TransactionLayer::new(Config {
        max_transactions: 100,
        max_per_source: 10,
        ..Config::default()
    });
    let now = std::time::Instant::now();
    let flood_ip: std::net::IpAddr = "127.0.0.9".parse().expect("ip");
    let other: std::net::SocketAddr = "127.0.0.10:5062".parse().expect("addr");
    layer.mark_authenticated(flood_ip, now);
    layer.mark_authenticated(other.ip(), now);
    let req = |n: u32, from: std::net::SocketAddr| {
        format!(
            "OPTIONS sip:box SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKflood{n}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:box>\r\nCall-ID: c{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut accepted = 0;
    for n in 0..30 {
        // A new port for every request: the cap is per address.
        let from = std::net::SocketAddr::new(flood_ip, 5060 + n as u16);
        layer.handle_datagram(now, Peer::udp(from), req(n, from).as_bytes());
        while let Some(e) = layer.poll_event() {
            if matches!(e, Event::Request { .. }) {
                accepted += 1;
            }
        }
    }
    assert_eq!(
        accepted, 10,
        "the flooding address is capped across its ports"
    );
    layer.handle_datagram(now, Peer::udp(other), req(99, other).as_bytes());
    let mut other_ok = false;
    while let Some(e) = layer.poll_event() {
        other_ok |= matches!(e, Event::Request { .. });
    }
    assert!(other_ok, "another address still gets a transaction");
}

/// Completed non-INVITE transactions (waiting for Timer J) do not count as work in progress:
/// a REGISTER flood from one phone is not refused because of answered REGISTERs; past
/// `max_lingering` the oldest is forgotten early, and a late retransmission is a new request.
#[test]
fn lingering_transactions_have_their_own_bound() {
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config {
        max_transactions: 4,
        max_per_source: 2,
        max_lingering: 10,
        ..Config::default()
    });
    trust_phone(&mut l, t0);
    let mut ids = Vec::new();
    let mut gone = Vec::new();
    for n in 0..30 {
        let req = request("REGISTER", &format!("z9hG4bKl{n}"), "");
        let id = new_request(&mut l, t0 + ms(n), req.clone());
        l.send_response(t0 + ms(n), id, req.make_response(200, Some("r")))
            .expect("200");
        assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 200);
        ids.push(id);
        gone.extend(drain_ev(&mut l).into_iter().filter_map(|e| match e {
            Event::Terminated { id } => Some(id),
            _ => None,
        }));
    }
    assert_eq!(l.lingering(), 10);
    assert_eq!(l.len(), 10);
    // The 20 oldest were forgotten early, in order.
    assert_eq!(gone, ids[..20]);
    // A retransmission of a lingering one still gets its 200 from the layer.
    l.handle_incoming(
        t0 + ms(100),
        Peer::udp(addr(PHONE)),
        Message::Request(request("REGISTER", "z9hG4bKl29", "")),
    );
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 200);
    assert!(drain_ev(&mut l).is_empty());
    // One forgotten early is a new request for the TU.
    let again = new_request(&mut l, t0 + ms(100), request("REGISTER", "z9hG4bKl0", ""));
    assert!(!ids.contains(&again));
    // Work in progress is still bounded per source and in total.
    let _pending = new_request(&mut l, t0 + ms(101), request("OPTIONS", "z9hG4bKp1", ""));
    l.handle_incoming(
        t0 + ms(102),
        Peer::udp(addr(PHONE)),
        Message::Request(request("OPTIONS", "z9hG4bKp2", "")),
    );
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 503);
    // Timer J still ends the lingering ones.
    run_until(&mut l, t0, t0 + ms(40_000));
    assert_eq!(l.lingering(), 0);
}

/// A stateless answer (a digest challenge) keeps nothing: a retransmission is a new request.
#[test]
fn respond_and_forget_keeps_no_state() {
    use ivm_sip::transaction::TransactionError;
    let t0 = Instant::now();
    let mut l = TransactionLayer::new(Config::default());
    trust_phone(&mut l, t0);
    let req = request("REGISTER", "z9hG4bKsl1", "");
    let id = new_request(&mut l, t0, req.clone());
    l.respond_and_forget(id, req.make_response(401, Some("c")))
        .expect("401");
    let sent = drain_tx(&mut l);
    assert_eq!(parse_response(&sent[0]).status, 401);
    assert_eq!(sent[0].peer, Peer::udp(addr(PHONE)));
    assert_eq!(drain_ev(&mut l), vec![Event::Terminated { id }]);
    assert!(l.is_empty());
    assert_eq!(
        l.respond_and_forget(id, req.make_response(401, None)),
        Err(TransactionError::Unknown)
    );
    let id2 = new_request(&mut l, t0 + ms(500), req.clone());
    assert_ne!(id2, id);
    // Not for a provisional response, nor for an INVITE's 2xx (resent until its ACK).
    assert_eq!(
        l.respond_and_forget(id2, req.make_response(100, None)),
        Err(TransactionError::InvalidState)
    );
    let inv = request("INVITE", "z9hG4bKsl2", "");
    let iid = new_request(&mut l, t0, inv.clone());
    drain_tx(&mut l);
    assert_eq!(
        l.respond_and_forget(iid, inv.make_response(200, Some("c"))),
        Err(TransactionError::InvalidState)
    );
    // An INVITE challenge is stateless: its ACK then matches nothing and is absorbed.
    l.respond_and_forget(iid, inv.make_response(401, Some("c")))
        .expect("401");
    assert_eq!(parse_response(&drain_tx(&mut l)[0]).status, 401);
    assert!(!l.is_pending(iid));
    assert_eq!(l.len(), 1, "only the unanswered REGISTER is left");
}
