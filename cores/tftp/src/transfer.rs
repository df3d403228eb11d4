//! One read transfer as a state machine: option negotiation, then DATA windows and their
//! ACKs, retransmission on timeout. No sockets and no clock: the caller passes `now` in.
//!
//! # Driving it
//! ```text
//! let mut t = Transfer::new(&request, size, &limits);
//! loop {
//!     feed t.wants() bytes of the file (in order) with t.feed(..)
//!     while t.poll_transmit(now, &mut buf) { send buf to the peer }
//!     if t.state() is not Running { break }
//!     wait for a datagram (t.handle(now, bytes)), t.poll_timeout() (t.handle_timeout(now)),
//!     or more file bytes
//! }
//! ```
//!
//! # Rules
//! - Options (RFC 2347) are acknowledged with an OACK, and DATA starts at the client's ACK 0;
//!   without any accepted option DATA block 1 goes first. blksize (RFC 2348) below 8 is ignored
//!   and above the limit is clamped; timeout (RFC 2349) outside 1..=255 is ignored; tsize (RFC
//!   2349) is answered with the file's size; windowsize (RFC 7440) 0 is ignored and above the
//!   limit is clamped; other options are ignored.
//! - A file of `size` bytes is `size / blksize + 1` blocks: the last one is short, and empty
//!   when the size is a multiple of the block size.
//! - Up to `windowsize` blocks are in flight. An ACK of block n in flight acknowledges every
//!   block up to n, and the next window starts at n + 1 (RFC 7440: blocks after n that were
//!   already sent go again). An ACK of a block already acknowledged, or not sent, changes
//!   nothing (no Sorcerer's Apprentice: duplicate ACKs never cause a retransmission).
//! - No ACK within the timeout: the OACK, or the window from the first unacknowledged block,
//!   goes again; after `max_retries` timeouts in a row the transfer fails.
//! - Block numbers wrap from 65535 to 0.

use std::time::{Duration, Instant};

use crate::packet::{self, ClientPacket, ErrorCode, PacketError, Request};

/// The server's bounds on what a client may negotiate.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest block size granted.
    pub max_block_size: u16,
    /// Largest window granted.
    pub max_window_size: u16,
    /// Retransmission timeout when the client asks for none.
    pub default_timeout: Duration,
    /// Timeouts in a row before the transfer is given up.
    pub max_retries: u32,
}

/// Smallest block size RFC 2348 allows.
pub const MIN_BLOCK_SIZE: u16 = 8;
/// Block size without negotiation (RFC 1350).
pub const DEFAULT_BLOCK_SIZE: u16 = 512;

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Negotiating or sending.
    Running,
    /// The last block was acknowledged.
    Done,
    /// Ended without the whole file acknowledged.
    Failed(Failure),
}

/// Why a transfer ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No ACK after the last retry.
    #[error("timed out")]
    TimedOut,
    /// The client sent an ERROR.
    #[error("client error {code}: {message}")]
    Peer {
        /// The client's error code.
        code: u16,
        /// Its message.
        message: String,
    },
    /// The client sent something that is not an ACK or ERROR (answered with ERROR 4).
    #[error("bad packet from the client: {0}")]
    Malformed(PacketError),
    /// The server ended it ([`Transfer::abort`]).
    #[error("aborted: {0}")]
    Aborted(String),
}

/// What was agreed for a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Bytes per DATA block.
    pub block_size: u16,
    /// Blocks in flight.
    pub window_size: u16,
    /// Retransmission timeout.
    pub timeout: Duration,
    /// The options acknowledged, in the order the client sent them (empty: no OACK).
    pub oack: Vec<(&'static str, String)>,
}

impl Negotiated {
    /// Applies RFC 2347/2348/2349/7440 to `req`'s options for a file of `size` bytes.
    pub fn new(req: &Request, size: u64, limits: &Limits) -> Negotiated {
        let mut n = Negotiated {
            block_size: DEFAULT_BLOCK_SIZE,
            window_size: 1,
            timeout: limits.default_timeout,
            oack: Vec::new(),
        };
        for (k, v) in &req.options {
            let v: Option<u64> = v.trim().parse().ok();
            let Some(v) = v else { continue };
            let name = match k.as_str() {
                "blksize" => "blksize",
                "tsize" => "tsize",
                "timeout" => "timeout",
                "windowsize" => "windowsize",
                _ => continue,
            };
            if n.oack.iter().any(|(o, _)| *o == name) {
                continue; // the first of a repeated option counts
            }
            match name {
                "blksize" if v >= u64::from(MIN_BLOCK_SIZE) => {
                    let b = v.min(u64::from(limits.max_block_size)) as u16;
                    n.block_size = b;
                    n.oack.push((name, b.to_string()));
                }
                "tsize" => n.oack.push((name, size.to_string())),
                "timeout" if (1..=255).contains(&v) => {
                    n.timeout = Duration::from_secs(v);
                    n.oack.push((name, v.to_string()));
                }
                "windowsize" if v >= 1 => {
                    let w = v.min(u64::from(limits.max_window_size)) as u16;
                    n.window_size = w;
                    n.oack.push((name, w.to_string()));
                }
                _ => {}
            }
        }
        n
    }
}

/// A read transfer.
#[derive(Debug)]
pub struct Transfer {
    size: u64,
    block_size: u64,
    window: u64,
    timeout: Duration,
    max_retries: u32,
    /// Blocks in the file (`size / block_size + 1`).
    blocks: u64,
    /// Highest block acknowledged (0: none yet).
    acked: u64,
    /// Next block to send.
    next: u64,
    /// Highest block sent so far: `acked + 1 ..= high` are in flight.
    high: u64,
    /// The OACK while it waits for ACK 0.
    oack: Option<Vec<u8>>,
    /// The OACK is due to be (re)sent.
    oack_due: bool,
    /// File bytes from offset `acked * block_size`, at most one window.
    buf: Vec<u8>,
    deadline: Option<Instant>,
    retries: u32,
    /// An ERROR to send before the transfer ends.
    error_out: Option<Vec<u8>>,
    state: State,
    /// Blocks sent again after a timeout or a partial ACK.
    resent: u64,
}

impl Transfer {
    /// A transfer of a file of `size` bytes for `req` (an RRQ).
    pub fn new(req: &Request, size: u64, limits: &Limits) -> Transfer {
        let n = Negotiated::new(req, size, limits);
        let oack = (!n.oack.is_empty()).then(|| {
            let mut p = Vec::new();
            packet::encode_oack(&n.oack, &mut p);
            p
        });
        let block_size = u64::from(n.block_size);
        Transfer {
            size,
            block_size,
            window: u64::from(n.window_size),
            timeout: n.timeout,
            max_retries: limits.max_retries,
            blocks: size / block_size + 1,
            acked: 0,
            next: 1,
            high: 0,
            oack_due: oack.is_some(),
            oack,
            buf: Vec::new(),
            deadline: None,
            retries: 0,
            error_out: None,
            state: State::Running,
            resent: 0,
        }
    }

    /// Where the transfer stands.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The negotiated block size.
    pub fn block_size(&self) -> usize {
        self.block_size as usize
    }

    /// Blocks sent again so far.
    pub fn resent(&self) -> u64 {
        self.resent
    }

    /// Bytes acknowledged so far.
    pub fn acked_bytes(&self) -> u64 {
        (self.acked * self.block_size).min(self.size)
    }

    /// How many more file bytes it takes now (the rest of the current window).
    pub fn wants(&self) -> usize {
        if self.state != State::Running {
            return 0;
        }
        let start = self.acked * self.block_size;
        let end = ((self.acked + self.window) * self.block_size).min(self.size);
        let have = start + self.buf.len() as u64;
        end.saturating_sub(have) as usize
    }

    /// Takes the file's next bytes, in order; returns how many it took (up to [`Self::wants`]).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.wants());
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// Ends the transfer with an ERROR to the client.
    pub fn abort(&mut self, code: ErrorCode, message: &str) {
        if self.state == State::Running {
            let mut p = Vec::new();
            packet::encode_error(code as u16, message, &mut p);
            self.error_out = Some(p);
            self.state = State::Failed(Failure::Aborted(message.to_owned()));
        }
    }

    /// Writes the next datagram to send into `out`; `false` when there is none now.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if let Some(e) = self.error_out.take() {
            *out = e;
            return true;
        }
        if self.state != State::Running {
            return false;
        }
        if let Some(oack) = &self.oack {
            if !self.oack_due {
                return false;
            }
            out.clear();
            out.extend_from_slice(oack);
            self.oack_due = false;
            self.deadline = Some(now + self.timeout);
            return true;
        }
        let last = (self.acked + self.window).min(self.blocks);
        if self.next > last {
            return false;
        }
        let from = (self.next - 1 - self.acked) * self.block_size;
        let len = self
            .block_size
            .min(self.size.saturating_sub((self.next - 1) * self.block_size));
        let (from, to) = (from as usize, (from + len) as usize);
        if to > self.buf.len() {
            return false; // waiting for the file's bytes
        }
        packet::encode_data_header(self.next as u16, out);
        out.extend_from_slice(&self.buf[from..to]);
        if self.next <= self.high {
            self.resent += 1;
        }
        self.high = self.high.max(self.next);
        self.next += 1;
        self.deadline = Some(now + self.timeout);
        true
    }

    /// When [`Self::handle_timeout`] is due, if anything is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Running {
            self.deadline
        } else {
            None
        }
    }

    /// The timer fired: retransmit, or give up after the last retry. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(d) = self.deadline else { return };
        if now < d || self.state != State::Running {
            return;
        }
        self.deadline = None;
        self.retries += 1;
        if self.retries > self.max_retries {
            self.state = State::Failed(Failure::TimedOut);
            return;
        }
        if self.oack.is_some() {
            self.oack_due = true;
        } else {
            self.next = self.acked + 1;
        }
    }

    /// A datagram from the client.
    pub fn handle(&mut self, _now: Instant, datagram: &[u8]) {
        if self.state != State::Running {
            return;
        }
        let n = match ClientPacket::parse(datagram) {
            Ok(ClientPacket::Ack(n)) => n,
            Ok(ClientPacket::Error(code, m)) => {
                self.state = State::Failed(Failure::Peer {
                    code,
                    message: String::from_utf8_lossy(m).into_owned(),
                });
                return;
            }
            Err(e) => {
                let mut p = Vec::new();
                packet::encode_error(
                    ErrorCode::IllegalOperation as u16,
                    ErrorCode::IllegalOperation.text(),
                    &mut p,
                );
                self.error_out = Some(p);
                self.state = State::Failed(Failure::Malformed(e));
                return;
            }
        };
        if self.oack.is_some() {
            if n == 0 {
                self.oack = None;
                self.oack_due = false;
                self.deadline = None;
                self.retries = 0;
            }
            return;
        }
        let in_flight = self.high - self.acked;
        let step = u64::from(n.wrapping_sub(self.acked as u16));
        if step == 0 || step > in_flight {
            return; // a duplicate, an old ACK, or a block not sent
        }
        self.acked += step;
        let drop = ((step * self.block_size) as usize).min(self.buf.len());
        self.buf.drain(..drop);
        // RFC 7440: the next window starts after the block acknowledged.
        self.next = self.acked + 1;
        self.retries = 0;
        self.deadline = None;
        if self.acked == self.blocks {
            self.state = State::Done;
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Mode;

    fn limits() -> Limits {
        Limits {
            max_block_size: 8192,
            max_window_size: 64,
            default_timeout: Duration::from_secs(2),
            max_retries: 5,
        }
    }

    fn rrq(options: &[(&str, &str)]) -> Request {
        Request {
            write: false,
            name: "f".into(),
            mode: Mode::Octet,
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 256) as u8).collect()
    }

    /// A client on a virtual clock: drives a transfer through loss, returns the bytes received.
    struct Client {
        want_window: u16,
        got: Vec<u8>,
        /// Next block expected.
        expect: u16,
        /// Blocks received in order since the last ACK.
        since_ack: u16,
        done: bool,
        acks: Vec<u16>,
    }

    impl Client {
        fn new(window: u16) -> Self {
            Client {
                want_window: window,
                got: Vec::new(),
                expect: 1,
                since_ack: 0,
                done: false,
                acks: Vec::new(),
            }
        }

        /// A packet from the server; returns an ACK to send, if any.
        fn receive(&mut self, p: &[u8], block_size: usize) -> Option<u16> {
            match u16::from_be_bytes([p[0], p[1]]) {
                packet::opcode::OACK => Some(0),
                packet::opcode::DATA => {
                    let n = u16::from_be_bytes([p[2], p[3]]);
                    if n != self.expect {
                        // Out of order: ACK the last block received in order (RFC 7440).
                        self.since_ack = 0;
                        return Some(self.expect.wrapping_sub(1));
                    }
                    self.got.extend_from_slice(&p[4..]);
                    self.expect = self.expect.wrapping_add(1);
                    self.since_ack += 1;
                    if p.len() - 4 < block_size {
                        self.done = true;
                    }
                    if self.done || self.since_ack == self.want_window {
                        self.since_ack = 0;
                        Some(n)
                    } else {
                        None
                    }
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
    }

    /// Runs a whole transfer; `lose(i)` drops the i-th datagram (either direction).
    fn run(
        data: &[u8],
        options: &[(&str, &str)],
        mut lose: impl FnMut(usize) -> bool,
    ) -> (Transfer, Client, Duration) {
        let start = Instant::now();
        let mut now = start;
        let mut t = Transfer::new(&rrq(options), data.len() as u64, &limits());
        let window = t.window as u16;
        let mut c = Client::new(window);
        let mut fed = 0;
        let mut out = Vec::new();
        let mut count = 0usize;
        for _ in 0..1_000_000 {
            fed += t.feed(&data[fed..]);
            let mut acks = Vec::new();
            while t.poll_transmit(now, &mut out) {
                if out[1] == 3 {
                    assert!(out.len() <= 4 + t.block_size(), "DATA bounded");
                }
                count += 1;
                if lose(count) {
                    continue;
                }
                if let Some(a) = c.receive(&out, t.block_size()) {
                    acks.push(a);
                }
            }
            let mut delivered = 0;
            for a in acks {
                count += 1;
                c.acks.push(a);
                if lose(count) {
                    continue;
                }
                let mut p = Vec::new();
                packet::encode_ack(a, &mut p);
                now += Duration::from_millis(1);
                t.handle(now, &p);
                delivered += 1;
            }
            if t.state() != &State::Running {
                return (t, c, now - start);
            }
            if delivered == 0 {
                // Nothing reached the server: wait for its timer.
                let d = t.poll_timeout().expect("a timer while waiting");
                now = d;
                t.handle_timeout(now);
            }
        }
        panic!("did not finish");
    }

    #[test]
    fn negotiation() {
        let l = limits();
        let n = Negotiated::new(
            &rrq(&[
                ("blksize", "65464"),
                ("tsize", "0"),
                ("windowsize", "8"),
                ("timeout", "5"),
                ("x-unknown", "1"),
            ]),
            1234,
            &l,
        );
        assert_eq!(n.block_size, 8192, "clamped");
        assert_eq!(n.window_size, 8);
        assert_eq!(n.timeout, Duration::from_secs(5));
        assert_eq!(
            n.oack,
            vec![
                ("blksize", "8192".to_owned()),
                ("tsize", "1234".to_owned()),
                ("windowsize", "8".to_owned()),
                ("timeout", "5".to_owned())
            ]
        );
        let mut p = Vec::new();
        packet::encode_oack(&n.oack, &mut p);
        assert_eq!(
            p,
            b"\x00\x06blksize\x008192\x00tsize\x001234\x00windowsize\x008\x00timeout\x005\x00"
        );
        // Out of range or not numbers: ignored, defaults kept, no OACK.
        let n = Negotiated::new(
            &rrq(&[
                ("blksize", "7"),
                ("timeout", "0"),
                ("timeout", "256"),
                ("windowsize", "0"),
                ("tsize", "x"),
            ]),
            1,
            &l,
        );
        assert_eq!((n.block_size, n.window_size), (512, 1));
        assert_eq!(n.timeout, l.default_timeout);
        assert!(n.oack.is_empty());
        let n = Negotiated::new(&rrq(&[("windowsize", "1000"), ("blksize", "8")]), 1, &l);
        assert_eq!((n.block_size, n.window_size), (8, 64));
    }

    #[test]
    fn no_options_starts_with_data_block_one() {
        let data = file(700);
        let mut t = Transfer::new(&rrq(&[]), 700, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(!t.poll_transmit(now, &mut out), "no bytes fed yet");
        assert_eq!(t.wants(), 512);
        assert_eq!(t.feed(&data), 512);
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(&out[..4], b"\x00\x03\x00\x01");
        assert_eq!(&out[4..], &data[..512]);
        assert!(!t.poll_transmit(now, &mut out), "window of one");
        t.handle(now, b"\x00\x04\x00\x01");
        assert_eq!(t.feed(&data[512..]), 188);
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(&out[..4], b"\x00\x03\x00\x02");
        assert_eq!(out.len(), 4 + 188);
        t.handle(now, b"\x00\x04\x00\x02");
        assert_eq!(t.state(), &State::Done);
    }

    #[test]
    fn oack_then_ack_zero_then_data() {
        let mut t = Transfer::new(&rrq(&[("tsize", "0")]), 3, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        t.feed(b"abc");
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(out, b"\x00\x06tsize\x003\x00");
        assert!(!t.poll_transmit(now, &mut out), "no DATA before ACK 0");
        t.handle(now, b"\x00\x04\x00\x05"); // not ACK 0: ignored
        assert!(!t.poll_transmit(now, &mut out));
        // Lost: the OACK again after the timeout.
        t.handle_timeout(now + Duration::from_secs(1));
        assert!(!t.poll_transmit(now, &mut out), "not due yet");
        t.handle_timeout(now + Duration::from_secs(2));
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(out[1], 6);
        t.handle(now, b"\x00\x04\x00\x00");
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(out, b"\x00\x03\x00\x01abc");
        t.handle(now, b"\x00\x04\x00\x01");
        assert_eq!(t.state(), &State::Done);
    }

    #[test]
    fn whole_transfers_without_loss() {
        for (len, opts) in [
            (0, &[][..]),
            (511, &[]),
            (512, &[]),
            (1024, &[]),
            (5000, &[("blksize", "1468")]),
            (1468 * 3, &[("blksize", "1468"), ("windowsize", "2")]),
            (
                100_000,
                &[("blksize", "1024"), ("windowsize", "8"), ("tsize", "0")],
            ),
            (8192 * 64, &[("blksize", "8192"), ("windowsize", "64")]),
        ] {
            let data = file(len);
            let (t, c, _) = run(&data, opts, |_| false);
            assert_eq!(t.state(), &State::Done, "{len} {opts:?}");
            assert!(c.got == data, "content {len} {opts:?}");
            assert!(c.done);
            assert_eq!(t.resent(), 0);
        }
    }

    #[test]
    fn size_multiple_of_block_size_ends_with_an_empty_block() {
        let data = file(1024);
        let mut t = Transfer::new(&rrq(&[("windowsize", "4")]), 1024, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        t.feed(&data);
        let mut sent = Vec::new();
        assert!(t.poll_transmit(now, &mut out), "OACK");
        t.handle(now, b"\x00\x04\x00\x00");
        while t.poll_transmit(now, &mut out) {
            sent.push(out.clone());
        }
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2], b"\x00\x03\x00\x03", "empty block 3");
        t.handle(now, b"\x00\x04\x00\x02");
        assert_eq!(t.state(), &State::Running, "block 3 not yet acknowledged");
        t.handle(now, b"\x00\x04\x00\x03");
        assert_eq!(t.state(), &State::Done);
    }

    #[test]
    fn lost_data_and_acks_are_retransmitted() {
        let data = file(30_000);
        for opts in [
            &[("blksize", "512")][..],
            &[("blksize", "1000"), ("windowsize", "4")],
            &[("blksize", "1000"), ("windowsize", "64"), ("tsize", "0")],
        ] {
            // About one datagram in eight lost, either way (OACK, DATA, ACK), the same ones
            // every run (a fixed pseudo-random sequence; a period would be a pattern).
            let mut x: u32 = 12345;
            let (t, c, took) = run(&data, opts, |_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) & 7 == 0
            });
            assert_eq!(t.state(), &State::Done, "{opts:?}");
            assert!(c.got == data, "content {opts:?}");
            assert!(t.resent() > 0, "{opts:?}");
            assert!(
                took >= Duration::from_secs(2),
                "waited for timeouts: {took:?}"
            );
        }
    }

    #[test]
    fn window_goes_back_to_the_first_missing_block() {
        let data = file(4000);
        let mut t = Transfer::new(
            &rrq(&[("blksize", "1000"), ("windowsize", "4")]),
            4000,
            &limits(),
        );
        let now = Instant::now();
        let mut out = Vec::new();
        t.feed(&data);
        assert!(t.poll_transmit(now, &mut out));
        t.handle(now, b"\x00\x04\x00\x00");
        let mut blocks = Vec::new();
        while t.poll_transmit(now, &mut out) {
            blocks.push(u16::from_be_bytes([out[2], out[3]]));
        }
        assert_eq!(blocks, [1, 2, 3, 4]);
        // Block 2 was lost: the client ACKs 1; the window restarts at 2 (and takes block 5).
        t.handle(now, b"\x00\x04\x00\x01");
        t.feed(&data[4000..]);
        blocks.clear();
        while t.poll_transmit(now, &mut out) {
            blocks.push(u16::from_be_bytes([out[2], out[3]]));
        }
        assert_eq!(blocks, [2, 3, 4, 5]);
        assert_eq!(t.resent(), 3);
    }

    #[test]
    fn duplicate_and_old_acks_change_nothing() {
        let data = file(2048);
        let mut t = Transfer::new(&rrq(&[]), 2048, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        t.feed(&data);
        assert!(t.poll_transmit(now, &mut out));
        t.handle(now, b"\x00\x04\x00\x01");
        t.feed(&data[512..]);
        assert!(t.poll_transmit(now, &mut out), "block 2");
        // A duplicate ACK 1 (Sorcerer's Apprentice) and an ACK of a block not sent: nothing.
        t.handle(now, b"\x00\x04\x00\x01");
        t.handle(now, b"\x00\x04\x00\x09");
        t.handle(now, b"\x00\x04\x00\x00");
        assert!(!t.poll_transmit(now, &mut out), "no retransmission");
        assert_eq!(t.resent(), 0);
        assert_eq!(t.acked_bytes(), 512);
        t.handle(now, b"\x00\x04\x00\x02");
        t.feed(&data[1024..]);
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(&out[..4], b"\x00\x03\x00\x03");
    }

    #[test]
    fn block_numbers_wrap() {
        // 70,000 blocks of 8 bytes: block numbers pass 65535 and go on from 0.
        let data = file(8 * 70_000 + 3);
        let (t, c, _) = run(&data, &[("blksize", "8"), ("windowsize", "16")], |_| false);
        assert_eq!(t.state(), &State::Done);
        assert!(c.got == data);
    }

    #[test]
    fn gives_up_after_the_retries() {
        let mut t = Transfer::new(&rrq(&[]), 10, &limits());
        let mut now = Instant::now();
        let mut out = Vec::new();
        t.feed(&file(10));
        let mut sends = 0;
        while t.state() == &State::Running {
            while t.poll_transmit(now, &mut out) {
                sends += 1;
            }
            match t.poll_timeout() {
                Some(d) => now = d,
                None => break,
            }
            t.handle_timeout(now);
        }
        assert_eq!(t.state(), &State::Failed(Failure::TimedOut));
        assert_eq!(sends, 6, "first send and 5 retries");
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn client_errors_and_bad_packets_end_the_transfer() {
        let mut t = Transfer::new(&rrq(&[("blksize", "1024")]), 10, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(t.poll_transmit(now, &mut out));
        t.handle(now, b"\x00\x05\x00\x08blksize refused\x00");
        assert_eq!(
            t.state(),
            &State::Failed(Failure::Peer {
                code: 8,
                message: "blksize refused".into()
            })
        );
        assert!(!t.poll_transmit(now, &mut out), "no answer to an ERROR");

        let mut t = Transfer::new(&rrq(&[]), 10, &limits());
        t.feed(&file(10));
        assert!(t.poll_transmit(now, &mut out));
        t.handle(now, b"\x00\x03\x00\x01data");
        assert!(matches!(t.state(), State::Failed(Failure::Malformed(_))));
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(&out[..4], b"\x00\x05\x00\x04", "ERROR 4");
        assert!(!t.poll_transmit(now, &mut out));

        let mut t = Transfer::new(&rrq(&[]), 10, &limits());
        t.handle(now, b"\x00\x04");
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(&out[..4], b"\x00\x05\x00\x04", "truncated ACK: ERROR 4");
    }

    #[test]
    fn abort_sends_one_error() {
        let mut t = Transfer::new(&rrq(&[]), 10, &limits());
        let now = Instant::now();
        let mut out = Vec::new();
        t.abort(ErrorCode::Undefined, "read error");
        assert!(t.poll_transmit(now, &mut out));
        assert_eq!(out, b"\x00\x05\x00\x00read error\x00");
        assert!(!t.poll_transmit(now, &mut out));
        assert_eq!(t.wants(), 0);
    }
}
