//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ivm_sip::message::{Framer, Message};

/// Reads every typed view of a message, re-encodes and re-parses it: none of it may panic.
pub fn exercise(m: &Message) {
    let h = m.headers();
    let _ = h.call_id();
    let _ = h.cseq();
    let _ = h.from();
    let _ = h.to();
    let _ = h.vias();
    let _ = h.top_via().map(|v| {
        (
            v.branch(),
            v.received(),
            v.rport(),
            v.has_rfc3261_branch(),
            v.to_string(),
        )
    });
    let _ = h.contacts();
    let _ = h.expires();
    let _ = h.max_forwards();
    let _ = h.content_length();
    let _ = h.routes();
    let _ = h.record_routes();
    let _ = h.authorization();
    let _ = h.proxy_authorization();
    let _ = h.www_authenticate();
    let _ = h.proxy_authenticate();
    let _ = h.content_type();
    let _ = h.event();
    let _ = h.subscription_state();
    let _ = h.allow();
    let _ = h.supported();
    let _ = h.require();
    let _ = h.user_agent();
    match m {
        Message::Request(r) => {
            let _ = r.validate();
            let _ = r.unsupported_extensions(&["path"]);
            let resp = r.make_response(400, Some("t1"));
            let _ = Message::parse(&resp.encode());
            let _ = r.uri.to_string();
        }
        Message::Response(r) => {
            let _ = r.validate();
        }
    }
    let _ = ivm_sip::sdp::SessionDescription::parse(m.body());
    let bytes = m.encode();
    let _ = Message::parse(&bytes).map(|again| {
        let _ = again.headers().vias();
    });
}

/// Feeds `bytes` to a stream framer in chunks of `chunk` and drains it.
pub fn frame_all(bytes: &[u8], chunk: usize) {
    let mut f = Framer::default();
    for part in bytes.chunks(chunk.max(1)) {
        f.extend(part);
        loop {
            match f.next() {
                Ok(Some(ivm_sip::message::Framed::Message(m))) => exercise(&m),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}
