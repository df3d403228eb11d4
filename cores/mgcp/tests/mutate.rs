//! Seeded random mutations of the fuzz seeds (real MGCP) through the codec, the typed views
//! and the transaction layer, in plain `cargo test` (the coverage-guided target is
//! `fuzz/fuzz_targets/mgcp_message.rs`). Nothing may panic; what decodes round-trips.
//! Deterministic: a failure names its seed and case. Bounded: a fixed number of cases.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ivm_mgcp::event;
use ivm_mgcp::message::{decode, encode, Message, Response, MAX_MESSAGES};
use ivm_mgcp::transaction::{Agent, Config, Event};

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

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\n.\n",
    b":",
    b",",
    b"(",
    b")",
    b"[",
    b"]",
    b"\"",
    b"@",
    b"/",
    b"*",
    b"$",
    b" ",
    b"\t",
    b"0",
    b"999999999",
    b"1000000000",
    b"K:",
    b"K: 1-5\n",
    b"MGCP 1.0",
    b"000 ",
    b"100 ",
    b"200 ",
    b"L/",
    b"D/[0-9#*T](D)",
    b"E(",
    b"|",
    b"x.",
    b"T",
    b"\x00",
    b"\xff",
    b"v=0\r\n",
];

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mgcp_message");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("seed corpus")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
        .map(|e| std::fs::read(e.path()).expect("read"))
        .collect();
    out.sort();
    out
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if !b.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            2 if at < b.len() => b[at] = rng.next() as u8,
            _ => {
                let t = b[..at].to_vec();
                b.extend_from_slice(&t[..t.len().min(64)]);
            }
        }
    }
    b
}

fn exercise(data: &[u8]) -> bool {
    let decoded = decode(data).is_ok();
    if let Ok(messages) = decode(data) {
        let again = decode(&encode(&messages)).expect("our encoding decodes");
        assert_eq!(again, messages);
        for m in &messages {
            let params = match m {
                Message::Command(c) => &c.params,
                Message::Response(r) => &r.params,
            };
            let _ = params.response_ack();
            if let Some(Ok(r)) = params.requested_events() {
                assert_eq!(event::parse_requested(&event::join(&r)).as_ref(), Ok(&r));
            }
            if let Some(Ok(s)) = params.signal_requests() {
                assert_eq!(event::parse_names(&event::join(&s)).as_ref(), Ok(&s));
            }
            if let Some(Ok(map)) = params.digit_map() {
                let _ = map.check("*97");
            }
        }
    }
    let now = Instant::now();
    let mut agent = Agent::new(
        Config {
            max_cache: 4,
            ..Config::default()
        },
        1,
    );
    let from: SocketAddr = "127.0.0.2:2427".parse().expect("addr");
    // Twice: the second copy is answered from the cache (unless a K: in it confirmed, and so
    // dropped, the answer first: then it is a new transaction, as the RFC has it).
    let mut executed = 0;
    for _ in 0..2 {
        agent.handle_datagram(now, from, data);
        while let Some(e) = agent.poll_event() {
            if let Event::Command { from, command } = e {
                executed += 1;
                agent
                    .respond(now, from, Response::new(200, command.id, "OK"))
                    .expect("answered once");
            }
        }
    }
    assert!(executed <= 2 * MAX_MESSAGES);
    agent.handle_timeout(now + Duration::from_secs(31));
    while let Some(t) = agent.poll_transmit() {
        decode(&t.payload).expect("the agent sends MGCP");
    }
    assert_eq!(agent.cached(), 0, "answers expire after T-HIST");
    decoded
}

#[test]
fn mutated_seeds() {
    let seeds = seeds();
    assert!(seeds.len() >= 14);
    let start = Instant::now();
    let mut rng = Rng(0x1CE_B0C5);
    let (mut ran, mut decoded) = (0, 0);
    for case in 0..30_000 {
        // Bounded in time as well as count (a slow, shared CI machine).
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
        let seed = &seeds[case % seeds.len()];
        let data = mutate(&mut rng, seed);
        let r = std::panic::catch_unwind(|| exercise(&data));
        match r {
            Ok(ok) => decoded += usize::from(ok),
            Err(_) => panic!("case {case}: {:?}", String::from_utf8_lossy(&data)),
        }
        ran += 1;
    }
    // The mutations stay close enough to MGCP to reach past the first line.
    assert!(decoded * 10 > ran, "only {decoded} of {ran} cases decoded");
}
