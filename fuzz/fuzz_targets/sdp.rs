//! An SDP body from an INVITE or a 200 OK: the parser, the answer the box would give, and the
//! round trips of both (what the box encodes must parse again to the same thing).
#![no_main]

use ivm_sip::sdp::{answer, LocalMedia, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    let bytes = offer.encode();
    let again = SessionDescription::parse(&bytes).expect("our encoding of an offer parses");
    assert_eq!(again.encode(), bytes, "SDP encode/parse round trip");
    for m in &offer.media {
        let _ = (m.rtpmaps(), m.direction());
        for r in m.rtpmaps() {
            let _ = m.fmtp(r.payload_type);
        }
    }
    if let Some(c) = &offer.connection {
        let _ = c.ip();
    }
    let local = LocalMedia {
        address: "10.0.0.1".parse().expect("ip"),
        port: 16384,
        session_id: 7,
        session_version: 1,
        ptime: 20,
    };
    if let Ok((ans, _negotiated)) = answer(&offer, &local) {
        let bytes = ans.encode();
        let back = SessionDescription::parse(&bytes).expect("our answer parses");
        assert_eq!(
            back.media.len(),
            offer.media.len(),
            "one answer line per offer line"
        );
    }
});
