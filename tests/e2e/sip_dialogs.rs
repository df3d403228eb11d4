//! SIP correctness inside calls and subscriptions that PJSIP and liblinphone found (issue 16),
//! against the real `ivmd` on its embedded defaults:
//! - OPTIONS lists what the box handles (`Allow` with UPDATE, `Supported`, `Allow-Events`,
//!   `Accept`), and the box's own INVITEs carry `Allow` and `Supported`;
//! - hold: an offer `inactive` (in an UPDATE, RFC 3311) is answered `inactive` and one
//!   `sendonly` (in a re-INVITE) `recvonly` (RFC 3264 §6.1); the box then sends no RTP
//!   toward the held phone and does not hang up on the media timeout (20 s) while held; an
//!   offer `sendrecv` resumes the audio;
//! - unsubscribing from the lamp (SUBSCRIBE `Expires: 0`) gets a last NOTIFY, terminated;
//! - a phone that registers again from the same contact with a new Call-ID (it restarted
//!   after a power cut, its binding still live) gets its lamp again; a refresh does not;
//! - the box's INVITE, checked by SIPp as the answering phone, carries `Allow` and `Supported`;
//! - qualify: a phone (SIPp) that stops answering the box's OPTIONS goes offline before its
//!   registration lapses, and comes back when it answers again.
//!
//! Peers: small raw-UDP user agents written here (one socket each, digest with
//! `ivm_sip::auth`), RTP as plain PCMU packets, and SIPp (`tests/e2e/sipp/`). Loopback only; every wait is bounded.

mod harness;
mod rtp;
mod sip_ua;
mod sipp;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{tempdir, Server};
use ivm_sip::auth::Algorithm;
use ivm_sip::message::{Message, Request, Response};
use sip_ua::token;

/// A PCMU offer at `127.0.0.1:port` with direction `dir`.
fn sdp(port: u16, dir: &str, version: u32) -> String {
    format!(
        "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na={dir}\r\n"
    )
}

/// The `m=audio` port of an SDP body.
fn media_port(body: &[u8]) -> u16 {
    String::from_utf8_lossy(body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("m=audio in {}", String::from_utf8_lossy(body)))
}

/// The direction attribute of an SDP body (`sendrecv` when none).
fn direction(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| text.lines().any(|l| l.trim() == format!("a={d}")))
        .unwrap_or("sendrecv")
        .to_owned()
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

    fn send_message(&self, m: Message) {
        self.sock.send_to(&m.encode(), self.server).expect("send");
    }

    /// A request; `extra` is whole header lines, `body` SDP unless `ctype` says otherwise.
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

    /// The next request with `method` within `limit` (others are answered 200 and
    /// responses dropped).
    fn recv_request(&self, method: &str, limit: Duration) -> Option<Request> {
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
    fn final_for(&self, call_id: &str, limit: Duration) -> Option<Response> {
        sip_ua::final_for(&self.sock, call_id, limit)
    }

    /// The first final response to request `cseq` of `call_id` within `limit` (a late
    /// retransmission of an earlier answer is dropped).
    fn final_to(&self, call_id: &str, cseq: u32, limit: Duration) -> Option<Response> {
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
    fn authed(
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
    fn register(&self, call_id: &str, cseq: u32) -> u16 {
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

    fn reply(&self, r: &Request, status: u16, body: &str) {
        let mut resp = r.make_response(status, Some(&format!("{}tag", self.ext)));
        resp.headers
            .push("Contact", format!("<sip:{}@{}>", self.ext, self.local()));
        if !body.is_empty() {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = body.as_bytes().to_vec();
        }
        self.send_message(Message::Response(resp));
    }

    fn ack(&self, uri: &str, from: &str, to: &str, call_id: &str, cseq: u32) {
        self.send(&format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            self.local(),
            token()
        ));
    }
}

/// Counts RTP packets arriving on `sock` until `stop`.
fn count_rtp(sock: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Instant>> {
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
fn talk(sock: &UdpSocket, to: SocketAddr, on: &AtomicBool, limit: Duration) -> usize {
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

fn box_with_ann_and_bob(dir: &std::path::Path) -> (Server, Ua, Ua) {
    let server = Server::start(dir, "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Ua::new(&server, "201", &server.sip_password("ann"));
    let bob = Ua::new(&server, "202", &server.sip_password("bob"));
    (server, ann, bob)
}

#[test]
fn options_lists_what_the_box_handles() {
    let dir = tempdir();
    let (server, ann, _) = box_with_ann_and_bob(dir.path());
    let call_id = token();
    let uri = format!("sip:{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    ann.send(&ann.request(
        "OPTIONS",
        &uri,
        &from,
        "<sip:ivm@ivm>",
        &call_id,
        1,
        "Accept: application/sdp\r\n",
        "",
    ));
    let r = ann
        .final_for(&call_id, Duration::from_secs(5))
        .expect("an answer to OPTIONS");
    assert_eq!(r.status, 200);
    let allow = r.headers.get("Allow").expect("Allow").to_owned();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    for m in [
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "UPDATE",
        "INFO",
    ] {
        assert!(methods.contains(&m), "{m} in Allow: {allow}");
    }
    assert!(!methods.contains(&"REFER"), "no transfer yet: {allow}");
    assert!(r.headers.get("Supported").is_some(), "Supported: {r:?}");
    assert_eq!(
        r.headers.get("Allow-Events"),
        Some("message-summary, dialog, presence")
    );
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    drop(server);
}

/// ann calls bob (both raw user agents); bob's phone sees the box's INVITE carry `Allow`
/// and `Supported`. Then ann holds (UPDATE `inactive`, re-INVITE `sendonly`), stays held
/// past the media timeout while bob keeps talking, and resumes.
#[test]
fn hold_is_answered_by_direction_stops_rtp_and_outlives_the_media_timeout() {
    let dir = tempdir();
    let (server, ann, bob) = box_with_ann_and_bob(dir.path());
    assert_eq!(bob.register(&token(), 1), 200);
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let ann_port = ann_rtp.local_addr().expect("addr").port();
    let bob_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let bob_port = bob_rtp.local_addr().expect("addr").port();

    // ann dials 202 (challenge, then authenticated) on a thread; bob answers here.
    let call_id = token();
    let uri = format!("sip:202@{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let offer = sdp(ann_port, "sendrecv", 1);
    let caller = {
        let (call_id, uri, from, offer) =
            (call_id.clone(), uri.clone(), from.clone(), offer.clone());
        std::thread::spawn(move || {
            let ok = ann.authed("INVITE", &uri, &call_id, 1, |seq, auth| {
                ann.request(
                    "INVITE",
                    &uri,
                    &from,
                    "<sip:202@ivm>",
                    &call_id,
                    seq,
                    auth,
                    &offer,
                )
            });
            (ann, ok)
        })
    };
    let inv = bob
        .recv_request("INVITE", Duration::from_secs(10))
        .expect("bob's phone rings");
    let allow = inv.headers.get("Allow").unwrap_or_default().to_owned();
    assert!(
        allow.contains("INVITE") && allow.contains("BYE") && allow.contains("UPDATE"),
        "the box's INVITE has Allow: {inv:?}"
    );
    assert!(
        inv.headers.get("Supported").is_some(),
        "the box's INVITE has Supported: {inv:?}"
    );
    let box_to_bob = media_port(&inv.body);
    bob.reply(&inv, 200, &sdp(bob_port, "sendrecv", 1));
    let (ann, ok) = caller.join().expect("caller");
    assert_eq!(ok.status, 200, "ann's call answered");
    let to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &to, &call_id, 2);
    let box_to_ann: SocketAddr = ([127, 0, 0, 1], media_port(&ok.body)).into();

    // bob talks for the whole test (his leg must not time out); ann talks until she holds.
    let talking = Arc::new(AtomicBool::new(true));
    let bob_talks = {
        let talking = talking.clone();
        let to: SocketAddr = ([127, 0, 0, 1], box_to_bob).into();
        std::thread::spawn(move || talk(&bob_rtp, to, &talking, Duration::from_secs(90)))
    };
    let ann_sock = ann_rtp.try_clone().expect("clone");
    rtp::send_pcmu(&ann_sock, box_to_ann, 0xa22, 100, |_| 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let heard = count_rtp(ann_rtp, stop.clone());
    std::thread::sleep(Duration::from_secs(1));

    // UPDATE with an `inactive` offer: 200 with an answer, `inactive`.
    ann.send(&ann.request(
        "UPDATE",
        &uri,
        &from,
        &to,
        &call_id,
        3,
        "",
        &sdp(ann_port, "inactive", 2),
    ));
    let r = ann
        .final_to(&call_id, 3, Duration::from_secs(5))
        .expect("an answer to UPDATE");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.headers.get("Content-Type"),
        Some("application/sdp"),
        "an answer: {r:?}"
    );
    assert_eq!(
        direction(&r.body),
        "inactive",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // re-INVITE `sendonly`: answered `recvonly`.
    ann.send(&ann.request(
        "INVITE",
        &uri,
        &from,
        &to,
        &call_id,
        4,
        "",
        &sdp(ann_port, "sendonly", 3),
    ));
    let r = ann
        .final_to(&call_id, 4, Duration::from_secs(5))
        .expect("an answer to the re-INVITE");
    assert_eq!(r.status, 200, "{r:?}");
    ann.ack(&uri, &from, &to, &call_id, 4);
    assert_eq!(
        direction(&r.body),
        "recvonly",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let held_at = Instant::now();

    // Held for 25 s (past the 20 s media timeout), ann silent: no BYE to either phone.
    let bye_to_ann = ann.recv_request("BYE", Duration::from_secs(25));
    assert!(
        bye_to_ann.is_none(),
        "the box hung up on the held phone: {bye_to_ann:?}"
    );
    let bye_to_bob = bob.recv_request("BYE", Duration::from_millis(100));
    assert!(
        bye_to_bob.is_none(),
        "the box hung up on bob: {bye_to_bob:?}"
    );
    let resumed_at = Instant::now();

    // Resume: `sendrecv` answered `sendrecv`, and bob's audio reaches ann again.
    ann.send(&ann.request(
        "INVITE",
        &uri,
        &from,
        &to,
        &call_id,
        5,
        "",
        &sdp(ann_port, "sendrecv", 4),
    ));
    let r = ann
        .final_to(&call_id, 5, Duration::from_secs(5))
        .expect("an answer to the resume");
    assert_eq!(r.status, 200, "{r:?}");
    ann.ack(&uri, &from, &to, &call_id, 5);
    assert_eq!(
        direction(&r.body),
        "sendrecv",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let at = heard.join().expect("counter");
    let before = at
        .iter()
        .filter(|t| **t < held_at - Duration::from_millis(600))
        .count();
    let during = at
        .iter()
        .filter(|t| **t > held_at + Duration::from_millis(500) && **t < resumed_at)
        .count();
    let after = at
        .iter()
        .filter(|t| **t > resumed_at + Duration::from_millis(200))
        .count();
    eprintln!("RTP to ann: {before} before the hold, {during} while held, {after} after");
    assert!(
        before > 10,
        "bob's audio reached ann before the hold ({before})"
    );
    assert_eq!(during, 0, "no RTP toward the held phone");
    assert!(after > 50, "audio again after the resume ({after})");

    ann.send(&ann.request("BYE", &uri, &from, &to, &call_id, 6, "", ""));
    let r = ann
        .final_to(&call_id, 6, Duration::from_secs(5))
        .expect("an answer to BYE");
    assert_eq!(r.status, 200);
    assert!(
        bob.recv_request("BYE", Duration::from_secs(5)).is_some(),
        "bob's phone hung up"
    );
    talking.store(false, Ordering::Relaxed);
    bob_talks.join().expect("bob");
    drop(server);
}

/// SUBSCRIBE to `message-summary` with `expires`, in dialog `call_id` (To-tag `to_tag`
/// once known): the final answer.
fn subscribe(
    ua: &Ua,
    call_id: &str,
    from: &str,
    to_tag: Option<&str>,
    cseq: u32,
    expires: u32,
) -> Response {
    let uri = format!("sip:{}@{}", ua.ext, ua.server);
    let to = match to_tag {
        Some(t) => format!("<sip:{}@ivm>;tag={t}", ua.ext),
        None => format!("<sip:{}@ivm>", ua.ext),
    };
    ua.authed("SUBSCRIBE", &uri, call_id, cseq, |seq, auth| {
        ua.request(
            "SUBSCRIBE",
            &uri,
            from,
            &to,
            call_id,
            seq,
            &format!("Event: message-summary\r\nAccept: application/simple-message-summary\r\nExpires: {expires}\r\n{auth}"),
            "",
        )
    })
}

#[test]
fn unsubscribing_from_the_lamp_gets_a_last_notify_terminated() {
    let dir = tempdir();
    let (server, _, bob) = box_with_ann_and_bob(dir.path());
    let call_id = token();
    let from = format!("<sip:202@ivm>;tag={}", token());
    let ok = subscribe(&bob, &call_id, &from, None, 1, 600);
    assert_eq!(ok.status, 200, "{ok:?}");
    let tag = sip_ua_tag(&ok);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("the lamp's state");
    assert!(
        n.headers
            .get("Subscription-State")
            .is_some_and(|s| s.starts_with("active")),
        "{n:?}"
    );
    bob.reply(&n, 200, "");

    let ok = subscribe(&bob, &call_id, &from, Some(&tag), 3, 0);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.headers.get("Expires"), Some("0"));
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(5))
        .expect("a last NOTIFY after unsubscribing");
    bob.reply(&n, 200, "");
    assert_eq!(
        n.headers.call_id().ok(),
        Some(call_id.as_str()),
        "in the subscription's dialog"
    );
    assert!(
        n.headers
            .get("Subscription-State")
            .is_some_and(|s| s.starts_with("terminated")),
        "{n:?}"
    );
    let body = String::from_utf8_lossy(&n.body);
    assert!(
        body.starts_with("Messages-Waiting: no"),
        "the state: {body}"
    );
    drop(server);
}

/// Our tag in a response's To.
fn sip_ua_tag(r: &Response) -> String {
    let to = r.headers.get("To").expect("To");
    to.split(";tag=")
        .nth(1)
        .expect("a To tag")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_phone_restarted_with_its_binding_live_gets_its_lamp_again() {
    let dir = tempdir();
    let (server, _, bob) = box_with_ann_and_bob(dir.path());
    let first = token();
    assert_eq!(bob.register(&first, 1), 200);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the lamp after the first registration");
    assert_eq!(n.headers.get("Event"), Some("message-summary"));
    bob.reply(&n, 200, "");

    // A refresh (same Call-ID) changes nothing: no NOTIFY.
    assert_eq!(bob.register(&first, 3), 200);
    let again = bob.recv_request("NOTIFY", Duration::from_secs(4));
    assert!(again.is_none(), "no lamp update on a refresh: {again:?}");

    // The phone lost power and came back: same contact, new Call-ID, binding still live.
    assert_eq!(bob.register(&token(), 1), 200);
    let n = bob
        .recv_request("NOTIFY", Duration::from_secs(6))
        .expect("the lamp again after the restart");
    assert_eq!(n.headers.get("Event"), Some("message-summary"));
    assert!(
        String::from_utf8_lossy(&n.body).contains("Messages-Waiting:"),
        "{n:?}"
    );
    bob.reply(&n, 200, "");
    drop(server);
}

/// Qualify with SIPp as the phone: it registers (an hour), answers the box's OPTIONS for a
/// few seconds (`-aa`), then vanishes without unregistering; after the misses the box shows
/// it offline (presence, and `reachable: false` in the admin's list), long before the hour.
/// A SIPp back on the same address that answers one OPTIONS brings it back online. The
/// interval is shortened to 2 s (default 30 s) and misses to 2 (default 3) to keep the test
/// short; the rule is the same.
#[test]
fn a_phone_that_stops_answering_options_goes_offline_and_comes_back() {
    harness::require_tool("sipp");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[sip]\nqualify_s = 2\nqualify_misses = 2\n");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n201;;ivm;\n").expect("csv");
    let port = sipp::free_port("127.0.0.1");
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "30s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-aa",
            "-sf",
            sipp::scenario("register_then_vanish.xml")
                .to_str()
                .expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "201",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "registered and stayed 6 s:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = server.plain_log();
    assert!(log.contains("phone registered"), "{log}");
    assert!(
        !log.contains("unreachable"),
        "answered OPTIONS while up:\n{log}"
    );
    // SIPp is gone: within a few intervals the phone is unreachable and ann offline.
    assert!(
        server.wait_log(
            "phone does not answer OPTIONS: unreachable",
            Duration::from_secs(20)
        ),
        "{}",
        server.log()
    );
    assert!(
        harness::until(Duration::from_secs(5), || server.plain_log().lines().any(
            |l| l.contains("desk phone presence") && l.contains("online=false")
        )),
        "presence offline:\n{}",
        server.log()
    );
    assert!(
        !server.plain_log().contains("phone registration expired"),
        "offline before the registration lapsed"
    );

    // Back on the same address, answering: reachable and online again.
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "20s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-sf",
            sipp::scenario("options_uas.xml").to_str().expect("path"),
            "-m",
            "1",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "answered an OPTIONS:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        server.wait_log(
            "phone answers OPTIONS again: reachable",
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    assert!(
        harness::until(Duration::from_secs(5), || {
            let log = server.plain_log();
            let last = log
                .lines()
                .rfind(|l| l.contains("desk phone presence"))
                .unwrap_or_default()
                .to_owned();
            last.contains("online=true")
        }),
        "presence online again:\n{}",
        server.log()
    );
}

/// The box's INVITE to a phone says what the box handles: SIPp, registered as bob, answers
/// on the address it registered from and fails the call unless the INVITE carries `Allow`
/// (INVITE, BYE, UPDATE) and `Supported`.
#[test]
fn the_box_s_invite_carries_allow_and_supported_checked_by_sipp() {
    harness::require_tool("sipp");
    let dir = tempdir();
    let (server, ann, _) = box_with_ann_and_bob(dir.path());
    let pw = server.sip_password("bob");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n202;;ivm;\n").expect("csv");
    let port = sipp::free_port("127.0.0.1");
    let register = sipp::scenario("register_auth.xml");
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "20s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-sf",
            register.to_str().expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "202",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "bob registered:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // bob's phone, back on the address it registered from, takes one call.
    let uas = {
        let (dir, sip, port) = (dir.path().to_owned(), server.sip.clone(), port.clone());
        std::thread::spawn(move || {
            let scenario = sipp::scenario("uas_check_invite.xml");
            sipp::run(
                &dir,
                &sip,
                "127.0.0.1",
                "30s",
                &[
                    "-p",
                    &port,
                    "-t",
                    "u1",
                    "-sf",
                    scenario.to_str().expect("path"),
                    "-m",
                    "1",
                ],
                Duration::from_secs(50),
            )
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let ann_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port_a = ann_rtp.local_addr().expect("addr").port();
    let call_id = token();
    let uri = format!("sip:202@{}", ann.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let ok = ann.authed("INVITE", &uri, &call_id, 1, |seq, auth| {
        ann.request(
            "INVITE",
            &uri,
            &from,
            "<sip:202@ivm>",
            &call_id,
            seq,
            auth,
            &sdp(port_a, "sendrecv", 1),
        )
    });
    assert_eq!(ok.status, 200, "bob's phone answered: {ok:?}");
    let to = ok.headers.get("To").expect("To").to_owned();
    ann.ack(&uri, &from, &to, &call_id, 2);
    std::thread::sleep(Duration::from_secs(1));
    ann.send(&ann.request("BYE", &uri, &from, &to, &call_id, 3, "", ""));
    let r = ann
        .final_to(&call_id, 3, Duration::from_secs(5))
        .expect("an answer to BYE");
    assert_eq!(r.status, 200);
    let out = uas.join().expect("sipp uas");
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "SIPp found Allow and Supported in the box's INVITE:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
