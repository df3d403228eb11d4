//! The raw SIP user agents of the in-call tests (`sip_dialogs.rs`, `sip_transfer.rs`): one
//! UDP socket each, digest with `ivm_sip::auth`, PCMU offers, and RTP sent and counted as
//! plain packets. Every wait is bounded.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::Server;
use crate::sip_ua::{self, token};
use ivm_sip::auth::Algorithm;
use ivm_sip::message::{Message, Request, Response};

/// A PCMU offer at `127.0.0.1:port` with direction `dir`.
pub fn sdp(port: u16, dir: &str, version: u32) -> String {
    format!(
        "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na={dir}\r\n"
    )
}

/// The `m=audio` port of an SDP body.
pub fn media_port(body: &[u8]) -> u16 {
    String::from_utf8_lossy(body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("m=audio in {}", String::from_utf8_lossy(body)))
}

/// The direction attribute of an SDP body (`sendrecv` when none).
pub fn direction(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| text.lines().any(|l| l.trim() == format!("a={d}")))
        .unwrap_or("sendrecv")
        .to_owned()
}

/// A raw SIP user agent on one UDP socket.
pub struct Ua {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    pub ext: String,
    pub password: String,
}

impl Ua {
    pub fn new(server: &Server, ext: &str, password: &str) -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Ua {
            sock,
            server: server.sip.parse().expect("sip addr"),
            ext: ext.into(),
            password: password.into(),
        }
    }

    /// Receives into a 4 MiB socket buffer (as root; else as large as the system allows): a
    /// burst of the box's NOTIFYs to one phone overflows the default one.
    pub fn widen_receive_buffer(&self) {
        use nix::sys::socket::{setsockopt, sockopt};
        let size = 4 << 20;
        if setsockopt(&self.sock, sockopt::RcvBufForce, &size).is_err() {
            let _ = setsockopt(&self.sock, sockopt::RcvBuf, &size);
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    pub fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    pub fn send_message(&self, m: Message) {
        self.sock.send_to(&m.encode(), self.server).expect("send");
    }

    /// A request; `extra` is whole header lines, `body` SDP unless `ctype` says otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        method: &str,
        uri: &str,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> String {
        let local = self.local();
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:{ext}@{local}>\r\n{extra}{ctype}Content-Length: {len}\r\n\r\n{body}",
            b = token(),
            ext = self.ext,
            len = body.len()
        )
    }

    /// The next message within `limit`.
    pub fn recv(&self, limit: Duration) -> Option<Message> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65_535];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                if let Ok(m) = Message::parse(&buf[..n]) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// The next request with `method` within `limit` (others are answered 200 and
    /// responses dropped).
    pub fn recv_request(&self, method: &str, limit: Duration) -> Option<Request> {
        let deadline = Instant::now() + limit;
        while let Some(m) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            if let Message::Request(r) = m {
                if r.method.as_str() == method {
                    return Some(r);
                }
                if r.method.as_str() != "ACK" {
                    self.reply(&r, 200, "");
                }
            }
        }
        None
    }

    /// The first final response for `call_id` within `limit` (other messages are dropped).
    pub fn final_for(&self, call_id: &str, limit: Duration) -> Option<Response> {
        sip_ua::final_for(&self.sock, call_id, limit)
    }

    /// The first final response to request `cseq` of `call_id` within `limit` (a late
    /// retransmission of an earlier answer is dropped).
    pub fn final_to(&self, call_id: &str, cseq: u32, limit: Duration) -> Option<Response> {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.final_for(call_id, deadline.saturating_duration_since(Instant::now()))?;
            if r.headers.cseq().is_ok_and(|c| c.seq == cseq) {
                return Some(r);
            }
        }
    }

    /// Sends `make(cseq, auth_line)` once without credentials and, after the 401, once with
    /// them; the final answer.
    pub fn authed(
        &self,
        method: &str,
        uri: &str,
        call_id: &str,
        cseq: u32,
        make: impl Fn(u32, &str) -> String,
    ) -> Response {
        self.send(&make(cseq, ""));
        let ch = self
            .final_to(call_id, cseq, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("an answer to {method}"));
        assert_eq!(ch.status, 401, "{method}: a challenge first");
        if method == "INVITE" {
            let from = ch.headers.get("From").expect("From").to_owned();
            self.ack(uri, &from, ch.headers.get("To").expect("To"), call_id, cseq);
        }
        let auth =
            sip_ua::authorization(&ch, Algorithm::Md5, &self.ext, &self.password, method, uri);
        self.send(&make(cseq + 1, &auth));
        self.final_to(call_id, cseq + 1, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("an answer to the authenticated {method}"))
    }

    /// Registers with Call-ID `call_id` (CSeq from `cseq`): the final status.
    pub fn register(&self, call_id: &str, cseq: u32) -> u16 {
        let uri = format!("sip:{}", self.server);
        let from = format!("<sip:{}@ivm>;tag={}", self.ext, token());
        let to = format!("<sip:{}@ivm>", self.ext);
        self.authed("REGISTER", &uri, call_id, cseq, |seq, auth| {
            self.request(
                "REGISTER",
                &uri,
                &from,
                &to,
                call_id,
                seq,
                &format!("Expires: 300\r\n{auth}"),
                "",
            )
        })
        .status
    }

    pub fn reply(&self, r: &Request, status: u16, body: &str) {
        let mut resp = r.make_response(status, Some(&format!("{}tag", self.ext)));
        resp.headers
            .push("Contact", format!("<sip:{}@{}>", self.ext, self.local()));
        if !body.is_empty() {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = body.as_bytes().to_vec();
        }
        self.send_message(Message::Response(resp));
    }

    pub fn ack(&self, uri: &str, from: &str, to: &str, call_id: &str, cseq: u32) {
        self.send(&format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            self.local(),
            token()
        ));
    }
}

/// Counts RTP packets arriving on `sock` until `stop`.
pub fn count_rtp(sock: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Instant>> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut at = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if n >= 12 {
                    at.push(Instant::now());
                }
            }
        }
        at
    })
}

/// Sends one PCMU stream (a tone) from `sock` to `to`, paced at 20 ms, while `on` and for
/// at most `limit`; the frames sent.
pub fn talk(sock: &UdpSocket, to: SocketAddr, on: &AtomicBool, limit: Duration) -> usize {
    let start = Instant::now();
    let mut i = 0usize;
    while on.load(Ordering::Relaxed) && start.elapsed() < limit {
        let mut pkt = vec![0x80u8, 0];
        pkt.extend_from_slice(&(i as u16).to_be_bytes());
        pkt.extend_from_slice(&((i as u32).wrapping_mul(160)).to_be_bytes());
        pkt.extend_from_slice(&0xb0b_u32.to_be_bytes());
        for k in 0..160 {
            pkt.push(ivm_rtp::g711::ulaw_encode(((k % 40) as i16 - 20) * 500));
        }
        let _ = sock.send_to(&pkt, to);
        i += 1;
        let next = start + Duration::from_millis(20 * i as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    i
}

pub fn box_with_ann_and_bob(dir: &std::path::Path) -> (Server, Ua, Ua) {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    (server, ann, bob)
}

/// The Contact URI of a request (where in-dialog requests go), e.g. the box's INVITE.
pub fn contact_of(r: &Request) -> String {
    let c = r.headers.get("Contact").expect("Contact");
    let c = c.trim();
    c.strip_prefix('<')
        .and_then(|c| c.split('>').next())
        .unwrap_or(c)
        .to_owned()
}
