//! Seeded random mutations of valid messages (every corpus kind, both forms, v1-3) through
//! the decoder, the round trip and the controller. Nothing may panic; what decodes must
//! encode and decode to the same message. Deterministic: a failure names its case. Bounded
//! in count and in time.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivm_megaco::*;

/// xorshift64*: small, seeded, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Pieces of the grammar to splice in: they reach deeper than random bytes.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b",",
    b"=",
    b"\"",
    b";",
    b"\n",
    b" ",
    b"[",
    b"]",
    b":",
    b"-",
    b"$",
    b"*",
    b"\\}",
    b"C=-{",
    b"T=1{",
    b"P=1{",
    b"PN=1{}",
    b"K{1-2}",
    b"ER=400{\"x\"}",
    b"M{",
    b"ST=1{",
    b"O{",
    b"L{",
    b"E=1{",
    b"SG{",
    b"SL=1{",
    b"DM=d{(x.S)}",
    b"OE=1{",
    b"SV{",
    b"AT{",
    b"MT=RS",
    b"AD=[::1]:1",
    b"20261207T06300000:",
    b"al/of",
    b"dd/ce{ds=\"*7\"}",
    b"O-",
    b"W-",
    b"IA,",
    b"nt/jit=[1:2]",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if at < out.len() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            3 => out.truncate(at),
            4 if !out.is_empty() => {
                // Duplicate a slice: repeated items, deeper lists.
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(64)).min(out.len());
                let piece = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => {
                let i = rng.below(out.len().max(1));
                if let Some(b) = out.get_mut(i) {
                    *b = rng.below(256) as u8;
                }
            }
        }
    }
    out
}

#[test]
fn mutated_messages_never_panic_and_round_trip() {
    let mut seeds = Vec::new();
    for version in 1..=3 {
        for (_, msg) in common::corpus(version) {
            for form in [Form::Pretty, Form::Compact] {
                seeds.push(encode(&msg, form).into_bytes());
            }
        }
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut ctl = Controller::new(Config::default(), common::mgc_mid());
    let peer: SocketAddr = "127.0.0.1:2944".parse().expect("addr");
    let start = Instant::now();
    let t0 = Instant::now();
    let (mut decoded, mut total) = (0, 0);
    for case in 0..40_000u32 {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        let seed = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed);
        total += 1;
        if let Ok(msg) = decode(&bytes) {
            decoded += 1;
            for form in [Form::Pretty, Form::Compact] {
                let text = encode(&msg, form);
                assert_eq!(
                    decode(text.as_bytes()).as_ref(),
                    Ok(&msg),
                    "case {case}: {:?}\nre-encoded ({form:?}):\n{text}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        // The controller takes everything; it may only queue bounded work.
        let now = t0 + Duration::from_millis(u64::from(case));
        ctl.handle_datagram(now, peer, &bytes);
        while let Some(event) = ctl.poll_event() {
            if let Event::Request { peer, id, .. } = event {
                let _ = ctl.send_reply(
                    now,
                    peer,
                    id,
                    ReplyResult::Error(ErrorDescriptor {
                        code: 400,
                        text: None,
                    }),
                );
            }
        }
        while ctl.poll_transmit().is_some() {}
        if ctl.poll_timeout().is_some_and(|t| t <= now) {
            ctl.handle_timeout(now);
        }
    }
    assert!(total >= 1000, "only {total} cases ran");
    // Some mutations stay valid (about 4 %), so the round trip is really exercised.
    assert!(decoded * 50 >= total, "{decoded} of {total} decoded");
}
