//! The line core's dial plan and what issue 12 changed on purpose, against the real `ivmd` on
//! its embedded defaults (`docs/decisions/0005-line-core.md`):
//! - an offer the box cannot answer is refused with 488 at once, before the dial plan runs or
//!   a callee's phone rings (it used to ring and answer the callee, then hang up on it);
//! - `*7` recipients are checked by the post's own rule, so a name in any case reaches its
//!   user (it used to be refused with 404);
//! - the dial plan's refusals (484, 404) and a callee's busy answer passed to the caller
//!   (when the callee turned message taking off; by default the box would take a message).
//!
//! Peers: small raw-UDP user agents written here (ann the caller, bob a registered phone that
//! answers as the test says), computing the digest with `ivm_sip::auth` (checked against the
//! RFC's vectors in that crate), and RTP speech from espeak-ng through sox. Loopback only;
//! every wait is bounded.

mod baresip;
mod harness;
mod rtp;
mod sip_ua;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use harness::{tempdir, Person, Server};
use ivm_sip::auth::Algorithm;
use ivm_sip::message::{Message, Request, Response};
use sip_ua::token;

/// A G.729-only offer: nothing the box can answer.
fn sdp_g729(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
}

/// A PCMU offer at `ip:port`.
fn sdp_pcmu(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

/// A raw SIP user agent on one UDP socket.
struct Ua {
    sock: UdpSocket,
    server: SocketAddr,
    ext: String,
    password: String,
}

impl Ua {
    fn new(server: &Server, ext: &str, password: &str) -> Ua {
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

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
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
    fn recv(&self, limit: Duration) -> Option<Message> {
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

    /// The first final response for `call_id` within `limit` (other messages are dropped).
    fn final_for(&self, call_id: &str, limit: Duration) -> Option<Response> {
        sip_ua::final_for(&self.sock, call_id, limit)
    }

    /// The `Authorization` line answering `challenge` (MD5: what the default offer gives a
    /// user agent that names no stack).
    fn authorization(&self, challenge: &Response, method: &str, uri: &str) -> String {
        let (user, password) = (&self.ext, &self.password);
        sip_ua::authorization(challenge, Algorithm::Md5, user, password, method, uri)
    }

    /// Registers this phone (challenge, then the answer).
    fn register(&self) {
        let call_id = token();
        let uri = format!("sip:{}", self.server);
        let from = format!("<sip:{}@ivm>;tag={}", self.ext, token());
        let to = format!("<sip:{}@ivm>", self.ext);
        let expires = "Expires: 300\r\n";
        self.send(&self.request("REGISTER", &uri, &from, &to, &call_id, 1, expires, ""));
        let ch = self
            .final_for(&call_id, Duration::from_secs(5))
            .expect("an answer to REGISTER");
        assert_eq!(ch.status, 401, "a challenge first");
        let auth = self.authorization(&ch, "REGISTER", &uri);
        self.send(&self.request(
            "REGISTER",
            &uri,
            &from,
            &to,
            &call_id,
            2,
            &format!("{expires}{auth}"),
            "",
        ));
        let ok = self
            .final_for(&call_id, Duration::from_secs(5))
            .expect("an answer to the authenticated REGISTER");
        assert_eq!(ok.status, 200, "registered");
    }

    /// Calls `dial` with `sdp` (challenge, ACK, authenticated INVITE): the final response
    /// and the dialog (Call-ID, From, Request-URI).
    fn invite(&self, dial: &str, sdp: &str, limit: Duration) -> (Response, String, String, String) {
        let call_id = token();
        let uri = format!("sip:{dial}@{}", self.server);
        let from = format!("<sip:{}@ivm>;tag={}", self.ext, token());
        let to = format!("<sip:{dial}@ivm>");
        self.send(&self.request("INVITE", &uri, &from, &to, &call_id, 1, "", sdp));
        let ch = self
            .final_for(&call_id, Duration::from_secs(5))
            .expect("a challenge");
        assert_eq!(ch.status, 401);
        self.ack(&uri, &from, ch.headers.get("To").expect("To"), &call_id, 1);
        let auth = self.authorization(&ch, "INVITE", &uri);
        self.send(&self.request("INVITE", &uri, &from, &to, &call_id, 2, &auth, sdp));
        let fin = self
            .final_for(&call_id, limit)
            .unwrap_or_else(|| panic!("a final answer to INVITE {dial}"));
        if fin.status >= 300 {
            self.ack(&uri, &from, fin.headers.get("To").expect("To"), &call_id, 2);
        }
        (fin, call_id, from, uri)
    }

    fn ack(&self, uri: &str, from: &str, to: &str, call_id: &str, cseq: u32) {
        self.send(&format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            self.local(),
            token()
        ));
    }

    /// Answers every INVITE that arrives within `limit` with `status`; how many came.
    fn answer_invites(&self, status: u16, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut invites = 0;
        while let Some(m) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            if let Message::Request(r) = m {
                if r.method.as_str() == "INVITE" {
                    invites += 1;
                    self.reply(&r, status);
                }
            }
        }
        invites
    }

    fn reply(&self, r: &Request, status: u16) {
        let resp = r.make_response(status, Some("bobtag"));
        self.sock
            .send_to(&Message::Response(resp).encode(), self.server)
            .expect("send");
    }
}

#[test]
fn an_offer_the_box_cannot_answer_is_488_at_once_and_rings_no_one() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    bob.register();

    // G.729 only, to an extension, to *7 and to *97: 488, and bob's phone never rings.
    for dial in ["202", "*7202", "*97"] {
        let (fin, ..) = ann.invite(dial, &sdp_g729(40_000), Duration::from_secs(5));
        assert_eq!(fin.status, 488, "{dial}: no common codec");
    }
    // PCMU with no address to send to.
    let (fin, ..) = ann.invite("202", &sdp_pcmu("0.0.0.0", 40_000), Duration::from_secs(5));
    assert_eq!(fin.status, 488, "no address");
    assert_eq!(
        bob.answer_invites(486, Duration::from_secs(2)),
        0,
        "the callee's phone did not ring"
    );

    // Control: an offer the box can answer rings bob; bob is busy, and ann hears so (bob
    // turned message taking off, which would otherwise answer ann for a message).
    let bob_cli = Person::new(&server, dir.path(), "bob", "bob-password-1");
    assert_eq!(bob_cli.ok(&["voicemail", "off"]).trim(), "off");
    let caller = std::thread::spawn(move || {
        let (fin, ..) = ann.invite(
            "202",
            &sdp_pcmu("127.0.0.1", 40_000),
            Duration::from_secs(10),
        );
        fin.status
    });
    assert_eq!(
        bob.answer_invites(486, Duration::from_secs(5)),
        1,
        "bob rang"
    );
    assert_eq!(
        caller.join().expect("caller"),
        486,
        "busy passed to the caller"
    );
}

#[test]
fn dial_plan_refusals() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let many: Vec<String> = (0..33).map(|i| (300 + i).to_string()).collect();
    for (dial, status) in [
        ("*7".to_owned(), 484),
        (format!("*7{}", many.join("*")), 484),
        ("*7299".to_owned(), 404),
        ("299".to_owned(), 404),
        ("*8".to_owned(), 484),
        ("*6".to_owned(), 404),
        ("123456789".to_owned(), 404),
    ] {
        let (fin, ..) = ann.invite(
            &dial,
            &sdp_pcmu("127.0.0.1", 40_000),
            Duration::from_secs(5),
        );
        assert_eq!(fin.status, status, "{dial}");
        assert!(
            fin.headers.get("To").is_some_and(|t| t.contains(";tag=")),
            "{dial}: the refusal carries our tag"
        );
    }
}

/// 8 kHz speech from espeak-ng (via sox).
fn speech_8k(dir: &Path) -> Vec<i16> {
    rtp::speech_8k(
        dir,
        "Hello Bob, this message was addressed to you by name on the keypad.",
    )
}

/// Sends `pcm` once as PCMU RTP from `sock` to `to`, paced at 20 ms, then a second of
/// silence.
fn stream_rtp(sock: &UdpSocket, to: SocketAddr, pcm: &[i16]) {
    let sample = |n: usize| pcm.get(n).copied().unwrap_or(0);
    rtp::send_pcmu(sock, to, 0x1234_5678, pcm.len() / 160 + 50, sample);
}

#[test]
fn star7_to_a_name_in_any_case_reaches_the_user() {
    if !harness::available("sox") || !harness::available("espeak-ng") {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let speech = speech_8k(dir.path());
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rtp.local_addr().expect("addr").port();

    let (ok, call_id, from, uri) = ann.invite(
        "*7Bob",
        &sdp_pcmu("127.0.0.1", port),
        Duration::from_secs(10),
    );
    assert_eq!(ok.status, 200, "*7Bob answered");
    let to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &to, &call_id, 2);
    let body = String::from_utf8_lossy(&ok.body).into_owned();
    let media_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("media port");
    // The greeting and beep play for a few seconds; speak after them.
    std::thread::sleep(Duration::from_secs(5));
    stream_rtp(
        &rtp,
        SocketAddr::from(([127, 0, 0, 1], media_port)),
        &speech,
    );
    ann.send(&ann.request("BYE", &uri, &from, &to, &call_id, 3, "", ""));
    assert_eq!(
        ann.final_for(&call_id, Duration::from_secs(5))
            .map(|r| r.status),
        Some(200)
    );
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(20)),
        "posted:\n{}",
        server.log()
    );
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["sender_name"], "ann");
}
