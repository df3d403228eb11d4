//! The transaction layer on a virtual clock: two [`Agent`]s (the box's call agent and a
//! gateway's side, which the same layer serves) joined by a link the test controls: it
//! delivers, drops or duplicates each datagram. No socket, no sleep.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivm_mgcp::endpoint::EndpointName;
use ivm_mgcp::message::{decode, Command, DecodeError, Message, Response, Verb};
use ivm_mgcp::transaction::{Agent, AgentError, Config, Event, Transmit};

fn ca_addr() -> SocketAddr {
    "127.0.0.1:2727".parse().expect("addr")
}
fn gw_addr() -> SocketAddr {
    "127.0.0.2:2427".parse().expect("addr")
}

fn rqnt() -> Command {
    let mut c = Command::new(
        Verb::Rqnt,
        EndpointName::parse("aaln/1@gw.example").expect("name"),
    );
    c.params.set("X", "1A").expect("X");
    c.params.set("R", "L/hd(N)").expect("R");
    c
}

fn drain(a: &mut Agent) -> Vec<Transmit> {
    std::iter::from_fn(|| a.poll_transmit()).collect()
}

fn events(a: &mut Agent) -> Vec<Event> {
    std::iter::from_fn(|| a.poll_event()).collect()
}

fn parse(t: &Transmit) -> Message {
    let mut m = decode(&t.payload).expect("the agent sends MGCP");
    assert_eq!(m.len(), 1);
    m.remove(0)
}

fn code(t: &Transmit) -> u16 {
    match parse(t) {
        Message::Response(r) => r.code,
        Message::Command(c) => panic!("a command: {c:?}"),
    }
}

fn ms(t0: Instant, t: Instant) -> u128 {
    (t - t0).as_millis()
}

/// Delivers every datagram `from` has queued to `to`.
fn deliver(now: Instant, from: &mut Agent, from_addr: SocketAddr, to: &mut Agent) -> usize {
    let out = drain(from);
    for t in &out {
        to.handle_datagram(now, from_addr, &t.payload);
    }
    out.len()
}

#[test]
fn retransmissions_back_off_then_give_up() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 1000);
    let id = ca.send(t0, gw_addr(), rqnt()).expect("sent");
    assert_eq!(id, 1000);
    let mut sent_at = vec![0];
    assert_eq!(drain(&mut ca).len(), 1);
    let mut now = t0;
    let mut timed_out = None;
    // The gateway never answers. Bounded: at most 20 timer steps.
    for _ in 0..20 {
        let Some(t) = ca.poll_timeout() else { break };
        assert!(t > now, "the timer moves forward");
        now = t;
        ca.handle_timeout(now);
        let out = drain(&mut ca);
        for t in &out {
            assert_eq!(t.to, gw_addr());
            assert!(matches!(parse(t), Message::Command(c) if c.id == id));
            sent_at.push(ms(t0, now));
        }
        if let Some(e) = events(&mut ca).pop() {
            timed_out = Some((e, ms(t0, now)));
        }
    }
    // 200 ms, doubling, capped at 4 s; seven retransmissions ("Max2").
    assert_eq!(sent_at, [0, 200, 600, 1400, 3000, 6200, 10200, 14200]);
    let (event, at) = timed_out.expect("gave up");
    assert_eq!(at, 18200);
    assert!(
        matches!(event, Event::TimedOut { to, id: 1000, verb: Verb::Rqnt, .. } if to == gw_addr())
    );
    assert_eq!(ca.outstanding(), 0);
    assert_eq!(ca.poll_timeout(), None);
}

#[test]
fn duplicates_are_answered_from_the_cache_not_executed_again() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 7);
    let mut gw = Agent::new(Config::default(), 500);
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    deliver(t0, &mut ca, ca_addr(), &mut gw);
    let ev = events(&mut gw);
    assert_eq!(ev.len(), 1);
    let Event::Command { from, command } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (*from, command.id, &command.verb),
        (ca_addr(), 7, &Verb::Rqnt)
    );
    gw.respond(t0, ca_addr(), Response::new(200, 7, "OK"))
        .expect("answered");
    let first = drain(&mut gw); // the response is lost on the way
    assert_eq!(first.len(), 1);
    // The call agent retransmits; the gateway answers from its cache, executing nothing.
    let t1 = t0 + Duration::from_millis(200);
    ca.handle_timeout(t1);
    assert_eq!(deliver(t1, &mut ca, ca_addr(), &mut gw), 1);
    assert!(events(&mut gw).is_empty(), "not executed twice");
    let again = drain(&mut gw);
    assert_eq!(again, first, "the same bytes again");
    // Twice more, one delivered twice by the network: still one execution, one response.
    for t in [&again[0], &again[0]] {
        ca.handle_datagram(t1, gw_addr(), &t.payload);
    }
    let ev = events(&mut ca);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(
        matches!(&ev[0], Event::Response { response, verb: Verb::Rqnt, .. } if response.code == 200)
    );
    assert_eq!(ca.outstanding(), 0);
    assert!(drain(&mut ca).is_empty(), "no 000 for a response without K");
}

#[test]
fn provisional_response_and_the_three_way_handshake() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 40);
    let mut gw = Agent::new(Config::default(), 900);
    let mut crcx = Command::new(
        Verb::Crcx,
        EndpointName::parse("aaln/1@gw.example").expect("name"),
    );
    crcx.params.set("C", "A3C47F21456789F0").expect("C");
    crcx.params.set("M", "recvonly").expect("M");
    ca.send(t0, gw_addr(), crcx).expect("sent");
    deliver(t0, &mut ca, ca_addr(), &mut gw);
    assert_eq!(events(&mut gw).len(), 1);
    // Long work: 100 first.
    gw.provisional(ca_addr(), 40).expect("provisional");
    let p = drain(&mut gw);
    assert_eq!(code(&p[0]), 100);
    ca.handle_datagram(t0, gw_addr(), &p[0].payload);
    assert!(matches!(
        events(&mut ca)[..],
        [Event::Provisional { id: 40, .. }]
    ));
    // No retransmission while the final response is awaited.
    ca.handle_timeout(t0 + Duration::from_secs(5));
    assert!(drain(&mut ca).is_empty());
    // A duplicate of the command (sent before the 100 arrived) gets the 100 again.
    let dup = Message::Command({
        let mut c = rqnt();
        c.id = 40;
        c.verb = Verb::Crcx;
        c
    });
    gw.handle_datagram(t0, ca_addr(), &dup.encode());
    assert!(events(&mut gw).is_empty());
    assert_eq!(code(&drain(&mut gw)[0]), 100);
    // The final response carries an empty K: and wants a 000.
    let t1 = t0 + Duration::from_secs(6);
    let mut ok = Response::new(200, 40, "OK");
    ok.params.set("I", "FDE234C8").expect("I");
    ok.body = Some("v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 4000 RTP/AVP 0".into());
    gw.respond(t1, ca_addr(), ok).expect("final");
    let fin = drain(&mut gw);
    match parse(&fin[0]) {
        Message::Response(r) => assert_eq!(r.params.get("K"), Some("")),
        m => panic!("{m:?}"),
    }
    // The final response is retransmitted until the 000 comes: the first 000 is lost.
    ca.handle_datagram(t1, gw_addr(), &fin[0].payload);
    let ev = events(&mut ca);
    assert!(matches!(&ev[..], [Event::Response { response, .. }] if response.sdp().is_some()));
    let ack = drain(&mut ca);
    assert_eq!(code(&ack[0]), 0);
    let t2 = t1 + Duration::from_millis(200);
    gw.handle_timeout(t2);
    let resent = drain(&mut gw);
    assert_eq!(resent, fin);
    ca.handle_datagram(t2, gw_addr(), &resent[0].payload);
    assert!(events(&mut ca).is_empty(), "reported once");
    let ack2 = drain(&mut ca);
    assert_eq!(code(&ack2[0]), 0, "the lost 000 is sent again");
    // Still after the call agent's next command has confirmed the id with K:.
    ca.send(t2, gw_addr(), rqnt()).expect("sent");
    drain(&mut ca);
    ca.handle_datagram(t2, gw_addr(), &resent[0].payload);
    assert_eq!(code(&drain(&mut ca)[0]), 0);
    gw.handle_datagram(t2, ca_addr(), &ack2[0].payload);
    // Acknowledged: no more retransmissions, only the cache expiry is left.
    gw.handle_timeout(t2 + Duration::from_secs(10));
    assert!(drain(&mut gw).is_empty());
    assert_eq!(gw.poll_timeout(), Some(t1 + Duration::from_secs(30)));
}

#[test]
fn response_acks_confirm_and_free_the_cache() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 10);
    let mut gw = Agent::new(Config::default(), 900);
    for _ in 0..3 {
        ca.send(t0, gw_addr(), rqnt()).expect("sent");
    }
    deliver(t0, &mut ca, ca_addr(), &mut gw);
    for e in events(&mut gw) {
        let Event::Command { from, command } = e else {
            panic!("{e:?}")
        };
        gw.respond(t0, from, Response::new(200, command.id, "OK"))
            .expect("ok");
    }
    deliver(t0, &mut gw, gw_addr(), &mut ca);
    assert_eq!(events(&mut ca).len(), 3);
    assert_eq!(gw.cached(), 3);
    // The next command confirms all three: K: 10-12.
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    let out = drain(&mut ca);
    match parse(&out[0]) {
        Message::Command(c) => assert_eq!((c.id, c.params.get("K")), (13, Some("10-12"))),
        m => panic!("{m:?}"),
    }
    gw.handle_datagram(t0, ca_addr(), &out[0].payload);
    assert_eq!(
        gw.cached(),
        1,
        "the confirmed answers are dropped, the new command kept"
    );
    // Only once: the command after that has nothing to confirm yet.
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    match parse(&drain(&mut ca)[0]) {
        Message::Command(c) => assert_eq!(c.params.get("K"), None),
        m => panic!("{m:?}"),
    }
}

#[test]
fn response_acks_can_be_left_out() {
    let t0 = Instant::now();
    let config = Config {
        response_ack: false,
        ..Config::default()
    };
    let mut ca = Agent::new(config, 10);
    let mut gw = Agent::new(Config::default(), 900);
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    deliver(t0, &mut ca, ca_addr(), &mut gw);
    for e in events(&mut gw) {
        let Event::Command { from, command } = e else {
            panic!("{e:?}")
        };
        gw.respond(t0, from, Response::new(200, command.id, "OK"))
            .expect("ok");
    }
    deliver(t0, &mut gw, gw_addr(), &mut ca);
    assert_eq!(events(&mut ca).len(), 1);
    // The next command has no K:; the gateway keeps its answer until T-HIST.
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    let out = drain(&mut ca);
    match parse(&out[0]) {
        Message::Command(c) => assert_eq!((c.id, c.params.get("K")), (11, None)),
        m => panic!("{m:?}"),
    }
    gw.handle_datagram(t0, ca_addr(), &out[0].payload);
    assert_eq!(gw.cached(), 2);
}

#[test]
fn answers_expire_after_t_hist() {
    let t0 = Instant::now();
    let mut gw = Agent::new(Config::default(), 1);
    let cmd = Message::Command({
        let mut c = rqnt();
        c.id = 77;
        c
    })
    .encode();
    gw.handle_datagram(t0, ca_addr(), &cmd);
    assert_eq!(events(&mut gw).len(), 1);
    gw.respond(t0, ca_addr(), Response::new(200, 77, "OK"))
        .expect("ok");
    drain(&mut gw);
    let t29 = t0 + Duration::from_secs(29);
    gw.handle_timeout(t29);
    gw.handle_datagram(t29, ca_addr(), &cmd);
    assert!(events(&mut gw).is_empty());
    assert_eq!(drain(&mut gw).len(), 1);
    assert_eq!(gw.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let t30 = t0 + Duration::from_secs(30);
    gw.handle_timeout(t30);
    assert_eq!(gw.cached(), 0);
    // After T-HIST the same id is a new transaction (RFC 3435 §3.5.5).
    gw.handle_datagram(t30, ca_addr(), &cmd);
    assert_eq!(events(&mut gw).len(), 1);
}

#[test]
fn responses_from_another_address_are_ignored() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 5);
    ca.send(t0, gw_addr(), rqnt()).expect("sent");
    drain(&mut ca);
    let forged = Message::Response(Response::new(200, 5, "OK")).encode();
    let attacker: SocketAddr = "127.0.0.9:2427".parse().expect("addr");
    ca.handle_datagram(t0, attacker, &forged);
    assert!(events(&mut ca).is_empty());
    assert_eq!(ca.outstanding(), 1);
    // Unknown ids from the right address are ignored as well.
    let stray = Message::Response(Response::new(200, 6, "OK")).encode();
    ca.handle_datagram(t0, gw_addr(), &stray);
    assert!(events(&mut ca).is_empty());
    assert!(drain(&mut ca).is_empty());
    ca.handle_datagram(t0, gw_addr(), &forged);
    assert_eq!(events(&mut ca).len(), 1);
}

#[test]
fn bad_commands_are_answered_by_the_layer() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 5);
    let gw = gw_addr();
    ca.handle_datagram(t0, gw, b"XYZW 31 aaln/1@gw MGCP 1.0\r\n");
    assert!(
        events(&mut ca).is_empty(),
        "an unknown verb is not executed"
    );
    let r = drain(&mut ca);
    assert_eq!(code(&r[0]), 504);
    // Its retransmission is answered from the cache.
    ca.handle_datagram(t0, gw, b"XYZW 31 aaln/1@gw MGCP 1.0\r\n");
    assert_eq!(drain(&mut ca), r);
    ca.handle_datagram(t0, gw, b"NTFY 32 aaln/1@gw MGCP 2.0\r\n");
    assert_eq!(code(&drain(&mut ca)[0]), 528);
    ca.handle_datagram(t0, gw, b"NTFY 33 aaln/1@gw MGCP 1.0\r\nO L/hd\r\n");
    assert_eq!(code(&drain(&mut ca)[0]), 510);
    ca.handle_datagram(t0, gw, b"\xff\xfe garbage");
    assert!(
        drain(&mut ca).is_empty(),
        "no answer to what is not a command"
    );
    let ev = events(&mut ca);
    assert_eq!(ev.len(), 3);
    assert!(matches!(
        ev[0],
        Event::Malformed {
            error: DecodeError::Version,
            ..
        }
    ));
    assert!(matches!(
        ev[2],
        Event::Malformed {
            error: DecodeError::NotUtf8,
            ..
        }
    ));
    assert_eq!(ca.cached(), 1, "only the 504 is remembered");
}

#[test]
fn bounds_and_misuse() {
    let t0 = Instant::now();
    let config = Config {
        max_outstanding: 2,
        max_cache: 2,
        ..Config::default()
    };
    let mut a = Agent::new(config, 999_999_998);
    // Ids wrap from 999999999 to 1.
    assert_eq!(a.send(t0, gw_addr(), rqnt()), Ok(999_999_998));
    assert_eq!(a.send(t0, gw_addr(), rqnt()), Ok(999_999_999));
    assert_eq!(a.send(t0, gw_addr(), rqnt()), Err(AgentError::Busy));
    drain(&mut a);
    let mut b = Agent::new(Config::default(), 999_999_999);
    assert_eq!(b.send(t0, gw_addr(), rqnt()), Ok(999_999_999));
    assert_eq!(b.send(t0, gw_addr(), rqnt()), Ok(1));
    // The cache holds two executing commands; a third is refused with 409, not queued.
    for id in [1, 2, 3] {
        let c = Message::Command({
            let mut c = rqnt();
            c.id = id;
            c
        });
        a.handle_datagram(t0, ca_addr(), &c.encode());
    }
    assert_eq!(events(&mut a).len(), 2);
    assert_eq!(code(&drain(&mut a)[0]), 409);
    assert_eq!(
        a.respond(t0, ca_addr(), Response::new(200, 3, "OK")),
        Err(AgentError::NotExecuting {
            from: ca_addr(),
            id: 3
        })
    );
    assert_eq!(
        a.respond(t0, ca_addr(), Response::new(100, 1, "x")),
        Err(AgentError::NotFinal(100))
    );
    assert_eq!(
        a.respond(t0, gw_addr(), Response::new(200, 1, "OK")),
        Err(AgentError::NotExecuting {
            from: gw_addr(),
            id: 1
        }),
        "the answer goes to the command's source only"
    );
    a.respond(t0, ca_addr(), Response::new(200, 1, "OK"))
        .expect("ok");
    assert_eq!(
        a.respond(t0, ca_addr(), Response::new(200, 1, "OK")),
        Err(AgentError::NotExecuting {
            from: ca_addr(),
            id: 1
        }),
        "answered once"
    );
    assert!(a.provisional(ca_addr(), 1).is_err());
}

#[test]
fn piggy_backed_commands_are_each_executed() {
    let t0 = Instant::now();
    let mut ca = Agent::new(Config::default(), 5);
    let dgram = b"NTFY 50 aaln/1@gw MGCP 1.0\nX: 1\nO: L/hd\n.\nNTFY 51 aaln/2@gw MGCP 1.0\nX: 2\nO: L/hu\n";
    ca.handle_datagram(t0, gw_addr(), dgram);
    let ids: Vec<u32> = events(&mut ca)
        .into_iter()
        .map(|e| match e {
            Event::Command { command, .. } => command.id,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(ids, [50, 51]);
}
