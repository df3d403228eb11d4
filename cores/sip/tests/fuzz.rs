//! Seeded random mutations of valid messages (and of the torture set) through every parser:
//! datagram, stream framer, typed headers, validation, SDP, digest parameters, and the
//! transaction layer. Nothing may panic. Deterministic: a failure names its seed and case.

mod common;

use std::time::{Duration, Instant};

use ivm_sip::auth::{DigestConfig, DigestServer};
use ivm_sip::message::{AuthParams, Message, Uri};
use ivm_sip::sdp::SessionDescription;
use ivm_sip::transaction::{Config, Peer, TransactionLayer};

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
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"=",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"%",
    b"%0",
    b"@",
    b"[",
    b"]",
    b"?",
    b"&",
    b"/",
    b"SIP/2.0",
    b"sip:",
    b"sips:",
    b"tel:",
    b"z9hG4bK",
    b"Content-Length: 99999\r\n",
    b"l: 0\r\n",
    b"v:",
    b"\r\n ",
    b"\xff",
    b"\xc3",
    b"\x00",
    b"9999999999999999999999",
    b"-1",
    b";tag=",
    b"*",
    b"[::1]",
    b":65536",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(64)).min(len);
                v.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(128)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            6 if len > 0 => {
                // Swap two lines: moves headers around, and Content-Length with them.
                let lines: Vec<&[u8]> = v.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut ls: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                    ls.swap(i, j);
                    v = ls.join(&b'\n');
                }
            }
            _ => {
                let i = rng.below(len + 1);
                let n = rng.below(300);
                let b = rng.next() as u8;
                v.splice(i..i, std::iter::repeat_n(b, n));
            }
        }
    }
    v
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/torture", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    out.sort();
    out.push(
        b"REGISTER sip:ivm SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKabc\r\nMax-Forwards: 70\r\n\
From: \"Desk 201\" <sip:201@ivm>;tag=1\r\nTo: <sip:201@ivm>\r\nCall-ID: f1@10.0.0.5\r\nCSeq: 2 REGISTER\r\n\
Contact: <sip:201@10.0.0.5:5060>;expires=3600;+sip.instance=\"<urn:uuid:1>\"\r\nExpires: 3600\r\n\
Authorization: Digest username=\"201\", realm=\"ivm\", nonce=\"abc\", uri=\"sip:ivm\", response=\"00\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x\"\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY\r\nSupported: path, gruu\r\nUser-Agent: Yealink SIP-T46S\r\nEvent: message-summary\r\n\
Subscription-State: active;expires=60\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    );
    out
}

#[test]
fn mutated_messages_never_panic() {
    let seeds = corpus();
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(Config {
        max_transactions: 64,
        ..Config::default()
    });
    let mut digest = DigestServer::new(DigestConfig::new("ivm"), [3; 32], t0);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut parsed = 0;
    for case in 0..6000u32 {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        let now = t0 + Duration::from_millis(u64::from(case) * 10);
        if let Ok(m) = Message::parse(&input) {
            parsed += 1;
            common::exercise(&m);
            if let Message::Request(r) = &m {
                let _ = digest.authenticate(
                    now,
                    r,
                    false,
                    std::net::IpAddr::from([127, 0, 0, 1]),
                    |_, _| Some(ivm_sip::auth::Credential::Password("p".into())),
                );
            }
        }
        if case % 4 == 0 {
            common::frame_all(&input, 1 + rng.below(200));
        }
        layer.handle_datagram(
            now,
            Peer::udp("10.0.0.9:5060".parse().expect("addr")),
            &input,
        );
        layer.handle_timeout(now);
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
        assert!(layer.len() <= 64, "case {case}");
    }
    // The mutations must leave enough messages parseable to reach the deeper code.
    assert!(parsed > 1000, "only {parsed} mutated messages parsed");
}

#[test]
fn random_fragments_never_panic() {
    let mut rng = Rng(42);
    let sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n";
    let uri = b"sips:user:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=a%20b&x=y";
    let auth = b"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0\", qop=auth, nc=00000001";
    for _ in 0..3000 {
        let s = mutate(&mut rng, sdp);
        if let Ok(parsed) = SessionDescription::parse(&s) {
            let local = ivm_sip::sdp::LocalMedia {
                address: "10.0.0.1".parse().expect("ip"),
                port: 4000,
                session_id: 1,
                session_version: 1,
                ptime: 20,
            };
            let _ = ivm_sip::sdp::answer(&parsed, &local);
            let _ = SessionDescription::parse(&parsed.encode());
        }
        let u = mutate(&mut rng, uri);
        if let Ok(u) = std::str::from_utf8(&u) {
            if let Ok(parsed) = Uri::parse(u) {
                let again = parsed.to_string();
                assert_eq!(
                    Uri::parse(&again).as_ref(),
                    Ok(&parsed),
                    "URI roundtrip of {u:?}"
                );
            }
        }
        let a = mutate(&mut rng, auth);
        if let Ok(a) = std::str::from_utf8(&a) {
            let _ = AuthParams::parse(a);
        }
    }
}
