//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! # Layout
//! - [`Chunks`]: cuts one fuzz input into a sequence of packets (a length byte, then that
//!   many bytes), so a target can drive a stateful core with several datagrams per run and
//!   libFuzzer still sees one flat byte string it can mutate.
//! - [`exercise_sip`]: reads every typed view of a parsed SIP message, as the registrar, proxy
//!   and user agent do, so the fuzzer reaches the header parsers behind them.
//!
//! The targets call only the crates' public parsing entry points: what a socket, a serial
//! line or an upload hands them in the running box.

use ivm_sip::message::Message;

/// Length-prefixed pieces of a fuzz input: `[len][len bytes][len][...]`. The last piece takes
/// what is left when its length byte claims more.
pub struct Chunks<'a>(pub &'a [u8]);

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.0.split_first()?;
        let n = usize::from(len).min(rest.len());
        let (piece, rest) = rest.split_at(n);
        self.0 = rest;
        Some(piece)
    }
}

/// Reads every typed view of `m` (none may panic) and checks that what the box encodes it
/// can parse again, to the same bytes.
pub fn exercise_sip(m: &Message) {
    let h = m.headers();
    let _ = h.call_id();
    let _ = h.cseq();
    let _ = h
        .from()
        .map(|n| (n.tag(), n.expires(), n.q(), n.to_string()));
    let _ = h.to().map(|n| n.tag());
    let _ = h.vias().map(|vs| {
        for v in vs {
            let _ = (v.branch(), v.received(), v.rport(), v.has_rfc3261_branch());
            let _ = v.to_string();
        }
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
            let again = Message::parse(&resp.encode());
            assert!(again.is_ok(), "our own 400 does not parse: {again:?}");
        }
        Message::Response(r) => {
            let _ = r.validate();
        }
    }
    let _ = ivm_sip::sdp::SessionDescription::parse(m.body());
    // Round trip: encode, parse, encode again gives the same bytes. Encoding may grow a
    // message past the size limits (it always writes Content-Length), so only a limit error
    // is tolerated on the way back.
    let bytes = m.encode();
    match Message::parse(&bytes) {
        Ok(again) => assert_eq!(
            again.encode(),
            bytes,
            "encode(parse(encode(m))) differs from encode(m)"
        ),
        Err(ivm_sip::message::ParseError::TooLarge { .. })
        | Err(ivm_sip::message::ParseError::LineTooLong { .. })
        | Err(ivm_sip::message::ParseError::TooManyHeaders { .. }) => {}
        Err(e) => panic!("the box's own encoding of a parsed message does not parse: {e}"),
    }
}

/// Like [`Chunks`] with a two-byte big-endian length, for datagrams longer than 255 bytes
/// (a DHCP packet is at least 240).
pub struct Chunks16<'a>(pub &'a [u8]);

impl<'a> Iterator for Chunks16<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = match self.0 {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => return None,
        };
        let n = len.min(rest.len());
        let (piece, rest) = rest.split_at(n);
        self.0 = rest;
        Some(piece)
    }
}

/// Rewrites the CRC of every Ogg page found in `bytes` (capture pattern `OggS`, header,
/// lacing, body) so that mutated pages pass the checksum and the fuzzer reaches the page,
/// header and packet parsing behind it. Pages cut short by the end of the input are left.
pub fn fix_ogg_crcs(bytes: &mut [u8]) {
    let mut at = 0;
    while at + 27 <= bytes.len() {
        if &bytes[at..at + 4] != b"OggS" {
            at += 1;
            continue;
        }
        let segments = usize::from(bytes[at + 26]);
        let header = 27 + segments;
        if at + header > bytes.len() {
            return;
        }
        let body: usize = bytes[at + 27..at + header]
            .iter()
            .map(|&l| usize::from(l))
            .sum();
        let end = at + header + body;
        if end > bytes.len() {
            return;
        }
        bytes[at + 22..at + 26].fill(0);
        let crc = ogg_crc32(&bytes[at..end]);
        bytes[at + 22..at + 26].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, zero initial value and final xor.
fn ogg_crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}
