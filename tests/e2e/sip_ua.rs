//! Pieces of the raw SIP user agents that `keypad.rs` and `sip_hostile.rs` run on one UDP
//! socket each: fresh tokens, the digest `Authorization` line (computed with
//! `ivm_sip::auth`, the box's own definitions of RFC 7616's formulas, checked against the
//! RFC's vectors in that crate), and the wait for a final response. Every wait is bounded.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ivm_sip::auth::{ha1, response, Algorithm};
use ivm_sip::message::{Message, Response};

/// A fresh random token (branch, tag, Call-ID, cnonce).
pub fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An `Authorization` line answering `challenge` for `method uri` (the `uri` parameter is
/// `digest_uri`, normally the Request-URI), with `alg`.
pub fn authorization(
    challenge: &Response,
    alg: Algorithm,
    user: &str,
    password: &str,
    method: &str,
    digest_uri: &str,
) -> String {
    let ch = challenge
        .headers
        .www_authenticate()
        .expect("WWW-Authenticate")
        .into_iter()
        .next()
        .expect("a challenge");
    let realm = ch.get("realm").expect("realm").to_owned();
    let nonce = ch.get("nonce").expect("nonce").to_owned();
    let cnonce = token();
    let r = response(
        alg,
        &ha1(alg, user, &realm, password),
        &nonce,
        Some(("00000001", &cnonce, "auth")),
        method,
        digest_uri,
    );
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{digest_uri}\", \
         response=\"{r}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n",
        alg.as_str()
    )
}

/// The first final response for `call_id` that reaches `sock` within `limit`; every other
/// message is dropped. `sock` needs a short read timeout so the limit holds.
pub fn final_for(sock: &UdpSocket, call_id: &str, limit: Duration) -> Option<Response> {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
                if r.status >= 200 && r.headers.call_id().ok() == Some(call_id) {
                    return Some(r);
                }
            }
        }
    }
    None
}
