//! TFTP as the provisioning server sees it: the first datagram is a request (RRQ/WRQ with
//! RFC 2347 options; round trip through its encoder), then a read transfer of a file whose
//! size the fuzzer picks is driven by the rest, one client datagram (ACK, ERROR or garbage)
//! per step, with timeouts in between. Invariants: no DATA block larger than negotiated, no
//! more acknowledged than the file holds, a finished transfer stays finished.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ivm_tftp::packet::{opcode, Request, MAX_REQUEST_LEN};
use ivm_tftp::transfer::{Limits, State, Transfer};
use ivm_tftp::{MAX_BLOCK_SIZE, MAX_WINDOW_SIZE};
use libfuzzer_sys::fuzz_target;

/// The limits the server grants (`server::LIMITS`).
const LIMITS: Limits = Limits {
    max_block_size: MAX_BLOCK_SIZE,
    max_window_size: MAX_WINDOW_SIZE,
    default_timeout: Duration::from_secs(2),
    max_retries: 5,
};

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let mut chunks = ivm_fuzz::Chunks16(data);
    let Some(first) = chunks.next() else { return };
    let Ok(req) = Request::parse(first) else {
        return;
    };
    assert!(first.len() <= MAX_REQUEST_LEN);
    let mut bytes = Vec::new();
    req.encode(&mut bytes);
    assert_eq!(
        Request::parse(&bytes).as_ref(),
        Ok(&req),
        "request round trip"
    );
    if req.write {
        return; // the box refuses writes before any transfer
    }
    // File size from the request's own length, up to ~70 KB so block numbers can wrap with
    // small negotiated blocks within one run.
    let size = (first.len() as u64 * 137) % 70_000;
    let mut t = Transfer::new(&req, size, &LIMITS);
    assert!(t.block_size() >= 8 && t.block_size() <= usize::from(MAX_BLOCK_SIZE));
    let file: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut fed = 0usize;
    let mut now = t0();
    let mut out = Vec::new();
    let mut sent = 0usize;
    for dgram in chunks {
        let n = t.feed(&file[fed..]);
        fed += n;
        while t.poll_transmit(now, &mut out) {
            sent += 1;
            assert!(sent < 100_000, "transmit loop runs away");
            let op = u16::from_be_bytes([out[0], out[1]]);
            if op == opcode::DATA {
                assert!(
                    out.len() <= 4 + t.block_size(),
                    "DATA of {} bytes",
                    out.len()
                );
            }
        }
        let was_done = *t.state() == State::Done;
        t.handle(now, dgram);
        if was_done {
            assert_eq!(*t.state(), State::Done, "a finished transfer changed state");
        }
        assert!(t.acked_bytes() <= size);
        now += Duration::from_millis(700);
        if let Some(d) = t.poll_timeout() {
            if d <= now {
                t.handle_timeout(now);
            }
        }
    }
});
