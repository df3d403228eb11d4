//! A SIP datagram as the UDP listener hands it over: the bounded parser, every typed header
//! view, validation, the encode/parse round trip, digest authentication of requests and the
//! transaction layer. Also the sub-parsers a header value reaches on its own (URI, name-addr,
//! auth parameters, CSeq, params), with the URI round trip.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ivm_sip::auth::{Credential, DigestConfig, DigestServer};
use ivm_sip::message::{AuthParams, CSeq, Message, NameAddr, Params, Uri};
use ivm_sip::transaction::{Config, Peer, TransactionLayer};
use libfuzzer_sys::fuzz_target;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let now = t0() + Duration::from_secs(1);
    if let Ok(m) = Message::parse(data) {
        ivm_fuzz::exercise_sip(&m);
        if let Message::Request(r) = &m {
            let mut digest = DigestServer::new(DigestConfig::new("ivm"), [3; 32], t0());
            let client = std::net::IpAddr::from([10, 0, 0, 9]);
            let _ = digest.authenticate(now, r, false, client, |_, _| {
                Some(Credential::Password("secret".into()))
            });
        }
    }
    let mut layer = TransactionLayer::new(Config {
        max_transactions: 16,
        ..Config::default()
    });
    let peer = Peer::udp(std::net::SocketAddr::from(([10, 0, 0, 9], 5060)));
    layer.handle_datagram(now, peer, data);
    layer.handle_timeout(now + Duration::from_secs(40));
    while layer.poll_transmit().is_some() {}
    while layer.poll_event().is_some() {}
    assert!(layer.len() <= 16);

    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(u) = Uri::parse(s) {
            let text = u.to_string();
            assert_eq!(
                Uri::parse(&text).as_ref(),
                Ok(&u),
                "URI round trip of {s:?}"
            );
        }
        let _ = NameAddr::parse(s).map(|n| (n.tag(), n.expires(), n.q()));
        let _ = AuthParams::parse(s).map(|a| (a.get("nonce").map(str::len), a.is_digest()));
        let _ = CSeq::parse(s);
        let _ = Params::parse(s);
        let _ = ivm_sip::message::unescape(s);
    }
});
