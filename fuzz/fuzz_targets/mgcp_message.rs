//! An MGCP datagram as the call agent's UDP socket hands it over: the bounded codec (every
//! piggy-backed message), the typed parameter views (ResponseAck, events, signals, digit
//! map, SDP body), and the transaction layer answering or ignoring it, then its timers.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ivm_mgcp::digitmap::DigitMap;
use ivm_mgcp::message::{decode, encode, Message, Response};
use ivm_mgcp::transaction::{Agent, Config, Event};
use libfuzzer_sys::fuzz_target;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let now = t0() + Duration::from_secs(1);
    if let Ok(messages) = decode(data) {
        // What decodes, encodes to bytes that decode to the same messages.
        let bytes = encode(&messages);
        let again = decode(&bytes).expect("our encoding decodes");
        assert_eq!(again, messages, "MGCP encode/decode round trip");
        for m in &messages {
            let params = match m {
                Message::Command(c) => {
                    let _ = c.sdp();
                    &c.params
                }
                Message::Response(r) => {
                    let _ = r.sdp();
                    &r.params
                }
            };
            let _ = params.response_ack();
            if let Some(Ok(events)) = params.requested_events() {
                let text = ivm_mgcp::event::join(&events);
                let back = ivm_mgcp::event::parse_requested(&text).expect("printed events parse");
                assert_eq!(back, events, "requested events round trip");
            }
            if let Some(Ok(names)) = params.signal_requests() {
                let text = ivm_mgcp::event::join(&names);
                let back = ivm_mgcp::event::parse_names(&text).expect("printed signals parse");
                assert_eq!(back, names, "signal round trip");
            }
            if let Some(Ok(names)) = params.observed_events() {
                let _: String = names.iter().filter_map(|n| n.digit()).collect();
            }
            if let Some(Ok(map)) = params.digit_map() {
                for dialled in ["", "1", "*97", "0T", "911", "#1234567T"] {
                    let _ = map.check(dialled);
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(map) = DigitMap::parse(s) {
            let _ = map.check("9011442071234567T");
        }
    }
    let mut agent = Agent::new(
        Config {
            max_cache: 8,
            max_outstanding: 8,
            ..Config::default()
        },
        1,
    );
    let from = std::net::SocketAddr::from(([10, 0, 0, 9], 2427));
    agent.handle_datagram(now, from, data);
    while let Some(e) = agent.poll_event() {
        if let Event::Command { from, command } = e {
            agent.provisional(from, command.id).expect("executing");
            agent
                .respond(now, from, Response::new(200, command.id, "OK"))
                .expect("answered once");
        }
    }
    agent.handle_datagram(now, from, data);
    while agent.poll_event().is_some() {}
    agent.handle_timeout(now + Duration::from_secs(40));
    while let Some(t) = agent.poll_transmit() {
        // Everything the layer sends is MGCP.
        decode(&t.payload).expect("the agent's datagrams decode");
    }
    assert!(agent.cached() <= 8);
});
