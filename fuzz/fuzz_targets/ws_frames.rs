//! The WebSocket frame layer of `/api/ws`, with the settings `services/http/src/ws.rs` gives
//! it (message and frame limit, 8 KiB read buffer, server role: client frames must be
//! masked). The frame parser is tungstenite's (the codec axum runs; tungstenite fuzzes it
//! upstream); what is ours is the limit and what we do with each message, so the invariant
//! is that no message over the limit ever reaches the box, and every text message goes on to
//! the box's message-object decoder.
#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

/// The limit under test: small, so the fuzzer crosses it (the box's default is 4 MiB,
/// `[limits] max_ws_frame`; the code path is the same).
const MAX: usize = 2048;

/// A socket that reads the fuzz input and swallows what the codec writes (pongs, closes).
struct Wire<'a> {
    input: &'a [u8],
    written: usize,
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // The settings the box gives the codec for a frame limit (services/http/src/ws.rs).
    let c = ivm_http::ws::CodecLimits::for_frame_limit(MAX);
    let config = WebSocketConfig::default()
        .max_message_size(Some(c.max_message))
        .max_frame_size(Some(c.max_frame))
        .read_buffer_size(c.read_buffer)
        .write_buffer_size(c.write_buffer)
        .max_write_buffer_size(c.max_write_buffer);
    let wire = Wire {
        input: data,
        written: 0,
    };
    let mut ws = WebSocket::from_raw_socket(wire, Role::Server, Some(config));
    for _ in 0..10_000 {
        match ws.read() {
            Ok(Message::Text(t)) => {
                assert!(t.len() <= MAX, "text message of {} bytes", t.len());
                let _ = ivm_wire::object::decode_client(t.as_str(), MAX);
            }
            Ok(m) => assert!(m.len() <= MAX, "message of {} bytes", m.len()),
            Err(_) => break,
        }
    }
    // Replies (pong, close) are bounded by what came in.
    assert!(ws.get_ref().written <= data.len() + c.max_write_buffer + 64);
});
