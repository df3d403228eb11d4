//! The SIP service on a hostile LAN, against the real `ivmd` on its embedded defaults (no
//! `digest` key): floods of unauthenticated INVITEs, stateless challenges, the digest checks
//! (`uri`, offered algorithms, the offer by User-Agent), in-dialog requests from outside the
//! dialog, and RTP from another host. Peers: SIPp, baresip, and small raw-UDP user agents
//! written here (they compute the digest with `ivm_sip::auth`, the box's own definitions of
//! RFC 7616's formulas, checked against the RFC's vectors in that crate). Loopback only
//! (127.0.0.1 is the phone, 127.0.0.2/.3 other hosts); every flood is bounded in count and
//! time; every wait is bounded.

mod baresip;
mod harness;
mod rtp;
mod sip_ua;
mod sipp;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use harness::{tempdir, Server};
use ivm_sip::auth::Algorithm;
use ivm_sip::message::{Message, Response};
use sip_ua::{authorization, token};

fn have(tool: &str) -> bool {
    harness::available(tool)
}

/// A SIPp scenario's path, as an argument.
fn scenario(name: &str) -> String {
    sipp::scenario(name).to_string_lossy().into_owned()
}

/// A raw SIP user agent on one UDP socket bound to `ip`.
struct Uac {
    sock: UdpSocket,
    server: SocketAddr,
    user_agent: Option<String>,
}

impl Uac {
    fn new(ip: &str, server: &Server) -> Uac {
        let sock = UdpSocket::bind((ip, 0)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Uac {
            sock,
            server: server.sip.parse().expect("sip addr"),
            user_agent: None,
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

    /// Every response received within `limit`, in order.
    fn responses(&self, limit: Duration) -> Vec<Response> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_535];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
                    got.push(r);
                }
            }
        }
        got
    }

    /// The first final response for `call_id` within `limit`.
    fn final_for(&self, call_id: &str, limit: Duration) -> Option<Response> {
        sip_ua::final_for(&self.sock, call_id, limit)
    }

    /// A request with fresh branch; `extra` are more header lines (CRLF-terminated).
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
        let ua = self
            .user_agent
            .as_ref()
            .map(|u| format!("User-Agent: {u}\r\n"))
            .unwrap_or_default();
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:u@{local}>\r\n{ua}{extra}{ctype}Content-Length: {len}\r\n\r\n{body}",
            b = token(),
            len = body.len()
        )
    }
}

/// The algorithms a 401 offers, in order.
fn offered(challenge: &Response) -> Vec<String> {
    challenge
        .headers
        .www_authenticate()
        .expect("WWW-Authenticate")
        .iter()
        .map(|c| c.get("algorithm").unwrap_or("MD5").to_ascii_uppercase())
        .collect()
}

/// REGISTER for `ext`: the 401, then the answer built by `answer(challenge)`; the final
/// status of the second REGISTER.
fn register_with(
    uac: &Uac,
    ext: &str,
    answer: impl FnOnce(&Response, &str) -> String,
) -> (Response, u16) {
    let call_id = token();
    let uri = format!("sip:{}", uac.server);
    let from = format!("<sip:{ext}@ivm>;tag={}", token());
    let to = format!("<sip:{ext}@ivm>");
    uac.send(&uac.request(
        "REGISTER",
        &uri,
        &from,
        &to,
        &call_id,
        1,
        "Expires: 300\r\n",
        "",
    ));
    let ch = uac
        .final_for(&call_id, Duration::from_secs(5))
        .expect("an answer to REGISTER");
    assert_eq!(ch.status, 401, "a challenge first");
    let auth = answer(&ch, &uri);
    uac.send(&uac.request(
        "REGISTER",
        &uri,
        &from,
        &to,
        &call_id,
        2,
        &format!("Expires: 300\r\n{auth}"),
        "",
    ));
    let fin = uac
        .final_for(&call_id, Duration::from_secs(5))
        .expect("an answer to the authenticated REGISTER");
    (ch, fin.status)
}

#[test]
fn baresip_1_0_registers_on_the_default_config() {
    if !have("baresip") {
        return;
    }
    let dir = tempdir();
    // No `digest` key: the default ("auto") must suit Debian's baresip 1.0, whose libre
    // refuses any 401 that names SHA-256.
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    let silence = baresip::silence_wav(dir.path(), 10);
    let phone = baresip::Phone::start_with(
        dir.path(),
        &server,
        "201",
        &pw,
        &silence,
        &[],
        15,
        "auto",
        false,
    );
    assert!(
        phone.wait_for("200 OK", Duration::from_secs(15)),
        "baresip 1.0 registers with the default digest offer:\n{}",
        phone.output()
    );
    assert!(!phone.output().contains("Function not implemented"));
    assert!(server.wait_log("phone registered", Duration::from_secs(5)));
}

#[test]
fn the_offer_follows_the_user_agent_and_only_offered_algorithms_pass() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");

    // A stack known to take SHA-256 (PJSIP >= 2.12) gets it first, MD5 below; it answers
    // the topmost one.
    let mut pj = Uac::new("127.0.0.1", &server);
    pj.user_agent = Some("PJSUA v2.15.1/x86_64-unknown-linux-gnu".into());
    let (ch, status) = register_with(&pj, "201", |ch, uri| {
        authorization(ch, Algorithm::Sha256, "201", &pw, "REGISTER", uri)
    });
    assert_eq!(offered(&ch), ["SHA-256", "MD5"]);
    assert_eq!(status, 200, "SHA-256 answer accepted");

    // Anyone else gets MD5 alone (baresip 1.0, desk phones, SIPp, no User-Agent) ...
    for ua in [
        Some("baresip v1.0.0 (x86_64/linux)"),
        Some("Yealink SIP-T46S 66.86.0.15"),
        None,
    ] {
        let mut u = Uac::new("127.0.0.1", &server);
        u.user_agent = ua.map(str::to_owned);
        let (ch, status) = register_with(&u, "201", |ch, uri| {
            authorization(ch, Algorithm::Md5, "201", &pw, "REGISTER", uri)
        });
        assert_eq!(offered(&ch), ["MD5"], "{ua:?}");
        assert_eq!(status, 200, "{ua:?}");
    }

    // ... and a SHA-256 answer to an MD5-only challenge (a downgrade attempt's mirror: an
    // algorithm not offered) is refused, with the right password.
    let u = Uac::new("127.0.0.1", &server);
    let (_, status) = register_with(&u, "201", |ch, uri| {
        authorization(ch, Algorithm::Sha256, "201", &pw, "REGISTER", uri)
    });
    assert_eq!(status, 403, "an algorithm that was not offered is refused");

    // A digest whose `uri` is not the Request-URI is refused, with the right password.
    let (_, status) = register_with(&u, "201", |ch, _uri| {
        authorization(
            ch,
            Algorithm::Md5,
            "201",
            &pw,
            "REGISTER",
            "sip:elsewhere.example",
        )
    });
    assert_eq!(status, 403, "digest uri must be the Request-URI");
    assert!(server.wait_log(
        "digest uri does not match the Request-URI",
        Duration::from_secs(5)
    ));
    assert!(server.log().contains("algorithm not offered"));
}

/// An INVITE without credentials from a host that never authenticated.
fn bare_invite(u: &Uac, call_id: &str, tag: &str) -> String {
    let uri = format!("sip:*7202@{}", u.server);
    u.request(
        "INVITE",
        &uri,
        &format!("<sip:201@ivm>;tag={tag}"),
        "<sip:*7202@ivm>",
        call_id,
        1,
        "",
        "",
    )
}

#[test]
fn unauthenticated_invites_get_one_stateless_challenge_and_their_acks_are_absorbed() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    // 40 sources on another host, each its own port.
    let uacs: Vec<Uac> = (0..40).map(|_| Uac::new("127.0.0.3", &server)).collect();
    let mut sent = Vec::new();
    for u in &uacs {
        let (call_id, tag) = (token(), token());
        let inv = bare_invite(u, &call_id, &tag);
        u.send(&inv);
        sent.push((call_id, inv));
    }
    // Longer than Timer G's first three retransmissions (0.5 s, 1.5 s, 3.5 s).
    let mut per_call: HashMap<String, Vec<u16>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut challenges = HashMap::new();
    while Instant::now() < deadline {
        for u in &uacs {
            for r in u.responses(Duration::from_millis(5)) {
                let cid = r.headers.call_id().unwrap_or_default().to_owned();
                per_call.entry(cid.clone()).or_default().push(r.status);
                challenges.insert(cid, r);
            }
        }
    }
    for (call_id, _) in &sent {
        assert_eq!(
            per_call.get(call_id).map(Vec::as_slice),
            Some(&[401u16][..]),
            "exactly one 401 (no 100 Trying, no retransmission) for {call_id}"
        );
    }
    // The ACK for each 401: nothing comes back (no 481, nothing retransmitted).
    for ((call_id, inv), u) in sent.iter().zip(&uacs) {
        let ch = &challenges[call_id];
        let branch_line = inv.lines().find(|l| l.starts_with("Via:")).expect("via");
        let ack = format!(
            "ACK sip:*7202@{} SIP/2.0\r\n{branch_line}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            u.server,
            ch.headers.get("From").expect("from"),
            ch.headers.get("To").expect("to"),
        );
        u.send(&ack);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut after = Vec::new();
    while Instant::now() < deadline {
        for u in &uacs {
            after.extend(
                u.responses(Duration::from_millis(5))
                    .into_iter()
                    .map(|r| r.status),
            );
        }
    }
    assert!(after.is_empty(), "ACKs absorbed silently, got {after:?}");
    assert!(!server.log().contains("panicked"));
}

/// SIPp against the box from `ip`, on a port of its own.
fn sipp(dir: &Path, server: &Server, ip: &str, args: &[&str], limit: Duration) -> Output {
    let port = sipp::free_port(ip);
    let args = [&["-p", port.as_str()], args].concat();
    sipp::run(dir, &server.sip, ip, "90s", &args, limit)
}

/// The issue's attack: ~700 unauthenticated INVITEs a second from 64 ports of one host,
/// never ACKed, long enough that the old 32 s INVITE transactions would have filled the
/// table (16,384), while a phone keeps registering from its own address. Bounded: 18,000
/// INVITEs, 90 s. (Against the code before the fix, with `digest = "md5"` so that SIPp 3.6
/// could answer at all, 11 of the 50 REGISTERs failed.)
#[test]
fn an_invite_flood_from_many_ports_does_not_stop_a_phone_registering() {
    if !have("sipp") {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n201;;ivm;\n").expect("csv");
    let flood_dir = dir.path().to_owned();
    let flood_sip = server.sip.clone();
    let flood = std::thread::spawn(move || {
        sipp_raw(
            &flood_dir,
            &flood_sip,
            "127.0.0.3",
            &[
                "-t",
                "un",
                "-max_socket",
                "64",
                "-sf",
                &scenario("invite_flood.xml"),
                "-m",
                "18000",
                "-r",
                "750",
                "-l",
                "4000",
                "-recv_timeout",
                "2000",
            ],
        )
    });
    // The phone registers every half second through the flood (digest each time).
    std::thread::sleep(Duration::from_secs(2));
    let reg = sipp(
        dir.path(),
        &server,
        "127.0.0.1",
        &[
            "-t",
            "u1",
            "-sf",
            &scenario("register_auth.xml"),
            "-inf",
            "users.csv",
            "-au",
            "201",
            "-ap",
            &pw,
            "-m",
            "50",
            "-r",
            "2",
            "-recv_timeout",
            "3000",
        ],
        Duration::from_secs(120),
    );
    let flood = flood.join().expect("flood thread");
    let (f_ok, f_failed) = sipp::counts(&flood);
    eprintln!("flood: {f_ok} challenged, {f_failed} not");
    assert_eq!(
        sipp::counts(&reg),
        (50, 0),
        "every REGISTER succeeds through the flood:\n{}\nlog tail:\n{}",
        String::from_utf8_lossy(&reg.stdout),
        tail(&server.log())
    );
    assert!(f_ok > 10_000, "the flood ran (and was challenged): {f_ok}");
    assert!(!server.log().contains("transaction table full"));
    assert!(!server.log().contains("panicked"));
}

/// SIPp against `sip` from `ip` (for a thread that cannot borrow the server).
fn sipp_raw(dir: &Path, sip: &str, ip: &str, args: &[&str]) -> Output {
    sipp::run(dir, sip, ip, "90s", args, Duration::from_secs(120))
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// 8 kHz mono 16-bit speech from espeak-ng (via sox).
fn speech_8k(dir: &Path) -> Vec<i16> {
    rtp::speech_8k(
        dir,
        "Hello Bob, this is a message that must not be recorded from another host.",
    )
}

/// Sends `pcm` (looped) as PCMU RTP from `sock` to `to`, paced at 20 ms, for `seconds`.
fn stream_rtp(
    sock: UdpSocket,
    to: SocketAddr,
    pcm: Vec<i16>,
    seconds: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let sample = |n: usize| {
            if pcm.is_empty() {
                0
            } else {
                pcm[n % pcm.len()]
            }
        };
        rtp::send_pcmu(&sock, to, rand_u32(), (seconds * 50) as usize, sample);
    })
}

fn rand_u32() -> u32 {
    u32::from_str_radix(&token()[..8], 16).expect("hex")
}

/// A `*7202` call from ann at 127.0.0.1 whose SDP names another address (as a phone behind
/// NAT would, so the box latches onto the first RTP source): returns the UAC, the dialog's
/// (Call-ID, From, To) and the box's media address.
fn star7_call(
    server: &Server,
    pw: &str,
    rtp_port: u16,
) -> (Uac, String, String, String, SocketAddr) {
    let u = Uac::new("127.0.0.1", server);
    let call_id = token();
    let uri = format!("sip:*7202@{}", u.server);
    let from = format!("<sip:201@ivm>;tag={}", token());
    let to = "<sip:*7202@ivm>";
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    u.send(&u.request("INVITE", &uri, &from, to, &call_id, 1, "", &sdp));
    let ch = u.final_for(&call_id, Duration::from_secs(5)).expect("401");
    assert_eq!(ch.status, 401);
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        u.local(),
        token(),
        ch.headers.get("To").expect("to")
    );
    u.send(&ack);
    let auth = authorization(&ch, Algorithm::Md5, "201", pw, "INVITE", &uri);
    u.send(&u.request("INVITE", &uri, &from, to, &call_id, 2, &auth, &sdp));
    let ok = u
        .final_for(&call_id, Duration::from_secs(10))
        .expect("answer");
    assert_eq!(ok.status, 200, "*7 answered");
    let to_tagged = ok.headers.get("To").expect("to").to_owned();
    let body = String::from_utf8_lossy(&ok.body).into_owned();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("media port");
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKack{};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to_tagged}\r\nCall-ID: {call_id}\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
        u.local(),
        token()
    );
    u.send(&ack);
    let media = SocketAddr::new("127.0.0.1".parse().expect("ip"), port);
    (u, call_id, from, to_tagged, media)
}

fn bye(u: &Uac, call_id: &str, from: &str, to: &str) -> u16 {
    let uri = format!("sip:ivm@{}", u.server);
    u.send(&u.request("BYE", &uri, from, to, call_id, 3, "", ""));
    u.final_for(call_id, Duration::from_secs(5))
        .map(|r| r.status)
        .unwrap_or(0)
}

#[test]
fn bye_from_outside_the_dialog_is_refused_and_foreign_rtp_is_not_recorded() {
    if !have("sox") || !have("espeak-ng") {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let pw = server.sip_password("ann");
    let speech = speech_8k(dir.path());

    // Control: the phone itself speaks, and its message is posted.
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (u, call_id, from, to, media) =
        star7_call(&server, &pw, phone_rtp.local_addr().expect("addr").port());
    stream_rtp(phone_rtp, media, speech.clone(), 9)
        .join()
        .expect("rtp");
    assert_eq!(bye(&u, &call_id, &from, &to), 200);
    assert!(
        server.wait_log("message from a phone posted", Duration::from_secs(20)),
        "the control call's speech is recorded:\n{}",
        tail(&server.log())
    );

    // The attack: another host speaks into the call's port first; the phone sends silence.
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (u, call_id, from, to, media) =
        star7_call(&server, &pw, phone_rtp.local_addr().expect("addr").port());
    let attacker = UdpSocket::bind("127.0.0.2:0").expect("bind");
    let foreign = stream_rtp(attacker, media, speech, 9);
    std::thread::sleep(Duration::from_millis(200));
    let own = stream_rtp(phone_rtp, media, Vec::new(), 9);

    // BYEs that know the Call-ID but not the dialog: wrong To tag, or the right tags from
    // another address. Both get 481 and the call stays up.
    let wrong_tag = to.split(";tag=").next().expect("to").to_owned() + ";tag=guessed";
    assert_eq!(bye(&u, &call_id, &from, &wrong_tag), 481, "wrong To tag");
    let wrong_from = from.split(";tag=").next().expect("from").to_owned() + ";tag=guessed";
    assert_eq!(bye(&u, &call_id, &wrong_from, &to), 481, "wrong From tag");
    let other_host = Uac::new("127.0.0.2", &server);
    assert_eq!(
        bye(&other_host, &call_id, &from, &to),
        481,
        "the right tags from another address"
    );
    foreign.join().expect("rtp");
    own.join().expect("rtp");
    // The call was still up: the phone's own BYE ends it.
    assert_eq!(
        bye(&u, &call_id, &from, &to),
        200,
        "the call survived the forged BYEs"
    );
    assert!(
        server.wait_log("recording held no speech", Duration::from_secs(20)),
        "the foreign speech did not reach the recording:\n{}",
        tail(&server.log())
    );
    assert_eq!(
        server.log().matches("message from a phone posted").count(),
        1,
        "only the control call posted a message"
    );
    assert!(server.wait_log(
        "RTP from an address other than the phone's dropped",
        Duration::from_secs(5)
    ));
}

/// Spraying many accounts from one address bans that address (every user), and only it.
#[test]
fn spraying_wrong_passwords_over_many_users_bans_the_address() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    let sprayer = Uac::new("127.0.0.4", &server);
    for n in 0..20 {
        let ext = if n == 0 {
            "201".to_owned()
        } else {
            format!("{}", 300 + n)
        };
        let (_, status) = register_with(&sprayer, &ext, |ch, uri| {
            authorization(ch, Algorithm::Md5, &ext, "guess", "REGISTER", uri)
        });
        assert_eq!(status, 403, "wrong password for {ext}");
    }
    assert!(
        server.wait_log("address banned", Duration::from_secs(5)),
        "{}",
        tail(&server.log())
    );
    // Banned: refused before any challenge, with Retry-After, for any user.
    let call_id = token();
    let uri = format!("sip:{}", sprayer.server);
    sprayer.send(&sprayer.request(
        "REGISTER",
        &uri,
        &format!("<sip:201@ivm>;tag={}", token()),
        "<sip:201@ivm>",
        &call_id,
        1,
        "",
        "",
    ));
    let r = sprayer
        .final_for(&call_id, Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(r.status, 403);
    assert!(r.headers.get("Retry-After").is_some());
    // The phone's own address is not affected.
    let phone = Uac::new("127.0.0.1", &server);
    let (_, status) = register_with(&phone, "201", |ch, uri| {
        authorization(ch, Algorithm::Md5, "201", &pw, "REGISTER", uri)
    });
    assert_eq!(status, 200);
}

/// A TCP connection to `to` from loopback address `ip`.
fn tcp_from(ip: &str, to: SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt
        .block_on(async {
            let s = tokio::net::TcpSocket::new_v4()?;
            s.bind(SocketAddr::new(ip.parse().expect("ip"), 0))?;
            s.connect(to).await
        })
        .expect("connect")
        .into_std()
        .expect("std");
    s.set_nonblocking(false).expect("blocking");
    s
}

/// Whether the box closes `s` within `limit` (EOF or reset on read).
fn closed_within(s: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Sends `text` on `s` and reads one response (bounded).
fn tcp_exchange(s: &mut std::net::TcpStream, text: &str) -> Response {
    use std::io::{Read, Write};
    s.write_all(text.as_bytes()).expect("write");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    matches!(
                        k.trim().to_ascii_lowercase().as_str(),
                        "content-length" | "l"
                    )
                    .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                match Message::parse(&got[..end + 4 + len]) {
                    Ok(Message::Response(r)) => return r,
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    panic!("no response over TCP: {:?}", String::from_utf8_lossy(&got));
}

fn tcp_request(
    s: &std::net::TcpStream,
    method: &str,
    ext: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
) -> String {
    let local = s.local_addr().expect("addr");
    let peer = s.peer_addr().expect("peer");
    format!(
        "{method} sip:{peer};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\n\
         From: <sip:{ext}@ivm>;tag=t{call_id}\r\nTo: <sip:{ext}@ivm>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:{ext}@{local};transport=tcp>\r\n{extra}Content-Length: 0\r\n\r\n",
        b = token()
    )
}

#[test]
fn sip_over_tcp_caps_connections_per_address_closes_idle_ones_and_keeps_phones_refreshing() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    let to: SocketAddr = server.sip.parse().expect("sip addr");

    // 16 silent connections from one address are accepted; a 17th is closed at once.
    let mut silent: Vec<_> = (0..16).map(|_| tcp_from("127.0.0.5", to)).collect();
    let mut extra = tcp_from("127.0.0.5", to);
    assert!(
        closed_within(&mut extra, Duration::from_secs(3)),
        "the 17th connection from one address is refused"
    );
    // Another address is served.
    let mut phone = tcp_from("127.0.0.1", to);
    let call_id = token();
    let req = tcp_request(&phone, "OPTIONS", "201", &call_id, 1, "");
    let r = tcp_exchange(&mut phone, &req);
    assert_eq!(r.status, 200);

    // A phone registering over TCP is given at most 240 s, so it refreshes within the idle
    // timeout (300 s) that closes dead connections.
    let call_id = token();
    let req = tcp_request(&phone, "REGISTER", "201", &call_id, 1, "Expires: 3600\r\n");
    let ch = tcp_exchange(&mut phone, &req);
    assert_eq!(ch.status, 401);
    let uri = format!("sip:{to};transport=tcp");
    let auth = authorization(&ch, Algorithm::Md5, "201", &pw, "REGISTER", &uri);
    let req = tcp_request(
        &phone,
        "REGISTER",
        "201",
        &call_id,
        2,
        &format!("Expires: 3600\r\n{auth}"),
    );
    let ok = tcp_exchange(&mut phone, &req);
    assert_eq!(ok.status, 200, "{ok:?}");
    let contact = ok.headers.get("Contact").expect("contact").to_owned();
    let granted: u32 = contact
        .split("expires=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .expect("expires");
    assert!(granted <= 240, "TCP registration granted {granted} s");

    // Connections that never sent a complete message are closed after 10 s; the phone's
    // (which did) stays open.
    assert!(
        closed_within(&mut silent[0], Duration::from_secs(13)),
        "a silent connection is closed"
    );
    for s in silent.iter_mut().skip(1) {
        assert!(closed_within(s, Duration::from_secs(2)));
    }
    assert!(
        !closed_within(&mut phone, Duration::from_secs(1)),
        "the phone's connection stays"
    );
    // With the silent ones gone, the address gets connections again.
    let mut again = tcp_from("127.0.0.5", to);
    let req = tcp_request(&again, "OPTIONS", "201", &token(), 1, "");
    let r = tcp_exchange(&mut again, &req);
    assert_eq!(r.status, 200);
}

/// An RTP flood at a call's port (from the phone's own address, so it passes the source
/// filter) does not starve SIP: REGISTERs keep succeeding and the call still hangs up
/// cleanly. Bounded: 8 s from two senders.
#[test]
fn an_rtp_flood_does_not_starve_sip() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let pw = server.sip_password("ann");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (u, call_id, from, to, media) =
        star7_call(&server, &pw, rtp.local_addr().expect("addr").port());
    let stop = Instant::now() + Duration::from_secs(8);
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            std::thread::spawn(move || {
                let pkt = [0x80u8; 172];
                let mut sent = 0u64;
                while Instant::now() < stop && sent < 5_000_000 {
                    for _ in 0..256 {
                        let _ = s.send_to(&pkt, media);
                    }
                    sent += 256;
                }
                sent
            })
        })
        .collect();
    let mut ok = 0;
    let mut tries = 0;
    while Instant::now() < stop && tries < 40 {
        tries += 1;
        let phone = Uac::new("127.0.0.1", &server);
        let (_, status) = register_with(&phone, "201", |ch, uri| {
            authorization(ch, Algorithm::Md5, "201", &pw, "REGISTER", uri)
        });
        if status == 200 {
            ok += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent: u64 = flooders.into_iter().map(|t| t.join().expect("flood")).sum();
    eprintln!("RTP flood: {sent} datagrams; {ok} of {tries} REGISTERs ok");
    assert_eq!(ok, tries, "every REGISTER succeeded during the RTP flood");
    assert!(tries >= 5);
    assert_eq!(bye(&u, &call_id, &from, &to), 200, "the call ends cleanly");
    let budget_engaged = server.log().contains("over the RTP budget");
    eprintln!("RTP budget engaged: {budget_engaged}");
}
