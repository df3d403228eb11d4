//! The controller's transactions on a virtual clock: no sockets, no sleeping.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivm_megaco::*;

fn gw() -> SocketAddr {
    "127.0.0.1:2944".parse().expect("addr")
}

fn ctl() -> Controller {
    Controller::new(Config::default(), common::mgc_mid())
}

fn modify() -> Vec<ActionRequest> {
    vec![ActionRequest {
        context: ContextId::Null,
        props: vec![],
        commands: vec![common::cmd(
            CommandKind::Modify,
            "aaln/1",
            vec![Descriptor::Signals(vec![])],
        )],
    }]
}

fn sent(c: &mut Controller) -> Vec<String> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|t| String::from_utf8(t.payload).expect("utf8"))
        .collect()
}

/// Runs the timers from `start` for `total`, in 10 ms steps; returns when each datagram went.
fn run(c: &mut Controller, start: Instant, total: Duration) -> Vec<(Duration, String)> {
    let mut out = Vec::new();
    let mut now = start;
    while now <= start + total {
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        for s in sent(c) {
            out.push((now - start, s));
        }
        now += Duration::from_millis(10);
    }
    out
}

#[test]
fn retransmits_with_backoff_capped_then_gives_up() {
    let mut c = ctl();
    let t0 = Instant::now();
    let id = c.send_request(t0, gw(), modify());
    let first = sent(&mut c);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].starts_with("!/1 [127.0.0.1]:2944\nT=1{C=-{MF=aaln/1{SG}}}"),
        "{first:?}"
    );
    let timeline = run(&mut c, t0, Duration::from_secs(31));
    let at: Vec<u64> = timeline.iter().map(|(d, _)| d.as_millis() as u64).collect();
    // 0.5, 1, 2, 4 s waits, then 4 s each, until 30 s.
    assert_eq!(
        at,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500]
    );
    assert!(
        timeline.iter().all(|(_, s)| *s == first[0]),
        "retransmissions are the same bytes"
    );
    assert_eq!(c.poll_event(), Some(Event::TimedOut { peer: gw(), id }));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn reply_stops_retransmission_and_is_reported_once() {
    let mut c = ctl();
    let t0 = Instant::now();
    let id = c.send_request(t0, gw(), modify());
    sent(&mut c);
    let reply = format!("!/1 gw1\nP={id}{{C=-{{MF=aaln/1}}}}");
    c.handle_datagram(t0 + Duration::from_millis(100), gw(), reply.as_bytes());
    assert!(
        matches!(c.poll_event(), Some(Event::Reply { id: i, result: ReplyResult::Actions(_), .. }) if i == id)
    );
    // A duplicate of the reply, and a reply from another address: nothing.
    c.handle_datagram(t0 + Duration::from_millis(200), gw(), reply.as_bytes());
    c.handle_datagram(
        t0,
        "127.0.0.2:2944".parse().expect("addr"),
        reply.as_bytes(),
    );
    assert_eq!(c.poll_event(), None);
    assert!(run(&mut c, t0, Duration::from_secs(40)).is_empty());
}

#[test]
fn pending_holds_retransmission_and_restarts_the_give_up_clock() {
    let mut c = ctl();
    let t0 = Instant::now();
    let id = c.send_request(t0, gw(), modify());
    sent(&mut c);
    let pending = format!("!/1 gw1\nPN={id}{{}}");
    c.handle_datagram(t0 + Duration::from_millis(100), gw(), pending.as_bytes());
    assert_eq!(c.poll_event(), Some(Event::Pending { peer: gw(), id }));
    let timeline = run(&mut c, t0, Duration::from_secs(35));
    let at: Vec<u64> = timeline.iter().map(|(d, _)| d.as_millis() as u64).collect();
    // Quiet for max_rto (4 s) after the pending, then every 4 s; gives up 30 s after it.
    assert_eq!(at.first(), Some(&4100));
    assert!(at.windows(2).all(|w| w[1] - w[0] == 4000), "{at:?}");
    assert_eq!(*at.last().expect("some"), 28100);
    assert_eq!(c.poll_event(), Some(Event::TimedOut { peer: gw(), id }));
}

#[test]
fn duplicate_requests_are_answered_from_the_cache_not_executed_twice() {
    let mut c = ctl();
    let t0 = Instant::now();
    let req = b"!/1 gw1\nT=77{C=-{N=aaln/1{OE=1{al/of}}}}";
    c.handle_datagram(t0, gw(), req);
    let Some(Event::Request {
        id: 77,
        version: 1,
        mid: MId::Device(d),
        ..
    }) = c.poll_event()
    else {
        panic!("no request")
    };
    assert_eq!(d, "gw1");
    // A copy while the box works: TransactionPending, no second event.
    c.handle_datagram(t0 + Duration::from_millis(100), gw(), req);
    assert_eq!(c.poll_event(), None);
    assert_eq!(
        sent(&mut c),
        vec!["!/1 [127.0.0.1]:2944\nPN=77{}\n".to_owned()]
    );
    // Still working after pending_after: an unasked TransactionPending.
    c.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(
        sent(&mut c),
        vec!["!/1 [127.0.0.1]:2944\nPN=77{}\n".to_owned()]
    );
    // The reply, once; copies get the same bytes, and no event.
    let notify_reply = vec![ActionReply {
        context: ContextId::Null,
        props: vec![],
        commands: vec![common::cmd(CommandKind::Notify, "aaln/1", vec![])],
        error: None,
    }];
    c.send_reply(
        t0 + Duration::from_millis(600),
        gw(),
        77,
        ReplyResult::Actions(notify_reply.clone()),
    )
    .expect("reply");
    let reply = sent(&mut c);
    assert_eq!(
        reply,
        vec!["!/1 [127.0.0.1]:2944\nP=77{C=-{N=aaln/1}}\n".to_owned()]
    );
    for n in 1..=3 {
        c.handle_datagram(t0 + Duration::from_secs(n), gw(), req);
        assert_eq!(sent(&mut c), reply);
    }
    assert_eq!(c.poll_event(), None);
    // Answering twice is refused; so is answering what never came.
    let again = c.send_reply(t0, gw(), 77, ReplyResult::Actions(notify_reply.clone()));
    assert_eq!(
        again,
        Err(transaction::TransactionError::UnknownRequest { peer: gw(), id: 77 })
    );
    // The same id from another gateway is another transaction.
    let other: SocketAddr = "127.0.0.3:2944".parse().expect("addr");
    c.handle_datagram(t0, other, req);
    assert!(matches!(c.poll_event(), Some(Event::Request { id: 77, peer, .. }) if peer == other));
    // After LONG-TIMER the cached reply is dropped: the copy is a new request.
    c.handle_timeout(t0 + Duration::from_secs(31));
    sent(&mut c);
    c.handle_datagram(t0 + Duration::from_secs(32), gw(), req);
    assert!(matches!(
        c.poll_event(),
        Some(Event::Request { id: 77, .. })
    ));
}

#[test]
fn response_ack_frees_the_cached_reply() {
    let mut c = ctl();
    let t0 = Instant::now();
    let req = b"!/2 gw1\nT=5{C=-{N=aaln/1{OE=1{al/of}}}}";
    c.handle_datagram(t0, gw(), req);
    assert!(c.poll_event().is_some());
    let done = vec![ActionReply {
        context: ContextId::Null,
        props: vec![],
        commands: vec![common::cmd(CommandKind::Notify, "aaln/1", vec![])],
        error: None,
    }];
    c.send_reply(t0, gw(), 5, ReplyResult::Actions(done))
        .expect("reply");
    let reply = sent(&mut c);
    assert!(
        reply[0].starts_with("!/2 "),
        "answered in the request's version: {reply:?}"
    );
    c.handle_datagram(t0, gw(), b"!/2 gw1 K{3-6}");
    // The copy is now a new request (the gateway said it had the reply).
    c.handle_datagram(t0, gw(), req);
    assert!(matches!(c.poll_event(), Some(Event::Request { id: 5, .. })));
    assert_eq!(c.version_of(gw()), 2);
}

#[test]
fn imm_ack_required_is_acknowledged() {
    let mut c = ctl();
    let t0 = Instant::now();
    let id = c.send_request(t0, gw(), modify());
    sent(&mut c);
    c.handle_datagram(
        t0,
        gw(),
        format!("!/1 gw1 P={id}{{IA,C=-{{MF=aaln/1}}}}").as_bytes(),
    );
    assert_eq!(
        sent(&mut c),
        vec![format!("!/1 [127.0.0.1]:2944\nK{{{id}}}\n")]
    );
    assert!(matches!(c.poll_event(), Some(Event::Reply { .. })));
}

#[test]
fn unanswered_requests_get_error_500_after_give_up() {
    let mut c = ctl();
    let t0 = Instant::now();
    c.handle_datagram(t0, gw(), b"!/1 gw1 T=9{C=-{N=aaln/1{OE=1{al/of}}}}");
    assert!(c.poll_event().is_some());
    let timeline = run(&mut c, t0, Duration::from_secs(31));
    let pendings = timeline
        .iter()
        .filter(|(_, s)| s.contains("PN=9{}"))
        .count();
    assert_eq!(pendings, 59, "one every 500 ms until 30 s");
    let (at, last) = timeline.last().expect("some");
    assert_eq!(
        (at.as_millis(), last.as_str()),
        (
            30_000,
            "!/1 [127.0.0.1]:2944\nP=9{ER=500{\"Internal software failure\"}}\n"
        )
    );
}

#[test]
fn malformed_and_message_errors_are_reported_not_answered() {
    let mut c = ctl();
    let t0 = Instant::now();
    c.handle_datagram(t0, gw(), b"INVITE sip:a@b SIP/2.0\r\n\r\n");
    assert!(matches!(
        c.poll_event(),
        Some(Event::Malformed {
            error: DecodeError::Syntax { .. },
            ..
        })
    ));
    c.handle_datagram(t0, gw(), b"!/1 gw1 ER=400{\"bad\"}");
    assert_eq!(
        c.poll_event(),
        Some(Event::MessageError {
            peer: gw(),
            error: ErrorDescriptor {
                code: 400,
                text: Some("bad".into())
            }
        })
    );
    assert!(sent(&mut c).is_empty());
}

#[test]
fn request_cache_is_bounded() {
    let mut c = Controller::new(
        Config {
            max_incoming: 2,
            ..Config::default()
        },
        common::mgc_mid(),
    );
    let t0 = Instant::now();
    for id in 1..=3 {
        c.handle_datagram(
            t0,
            gw(),
            format!("!/1 gw1 T={id}{{C=-{{N=aaln/1{{OE=1{{al/of}}}}}}}}").as_bytes(),
        );
    }
    assert_eq!(std::iter::from_fn(|| c.poll_event()).count(), 2);
    assert_eq!(
        sent(&mut c),
        vec!["!/1 [127.0.0.1]:2944\nP=3{ER=510{\"Insufficient resources\"}}\n".to_owned()]
    );
}
