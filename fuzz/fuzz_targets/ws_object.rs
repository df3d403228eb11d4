//! Message objects (action, id, source, destination, object) as they arrive in WebSocket
//! text frames: the box's bounded decoder of client frames, and the client's decoder of
//! server frames (the `ivm` client reads what a box, or something posing as one, sends).
//! Invariants: a decoded request respects the id and destination bounds; the error frame the
//! box answers a bad frame with is itself a frame the client decodes as that error.
#![no_main]

use ivm_wire::object::{
    decode_client, decode_server, ClientRequest, ServerEvent, MAX_DESTINATIONS, MAX_ID_LEN,
};
use libfuzzer_sys::fuzz_target;

/// Small, so the over-limit path is reached as well as the JSON paths.
const MAX_FRAME: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text, MAX_FRAME) {
        Ok(inbound) => {
            assert!(text.len() <= MAX_FRAME);
            assert!(inbound.id.len() <= MAX_ID_LEN);
            match &inbound.request {
                ClientRequest::Subscribe(to)
                | ClientRequest::Unsubscribe(to)
                | ClientRequest::PostMessage { to, .. }
                | ClientRequest::TalkStart { to, .. } => assert!(to.len() <= MAX_DESTINATIONS),
                _ => {}
            }
        }
        Err(e) => {
            let frame = e.to_envelope().to_text();
            match decode_server(&frame, usize::MAX) {
                Ok(ServerEvent::Error { id, error }) => {
                    assert_eq!(id, e.id);
                    assert_eq!(error.code, e.code);
                }
                other => panic!("our error frame {frame:?} decodes as {other:?}"),
            }
        }
    }
    let _ = decode_server(text, MAX_FRAME);
});
