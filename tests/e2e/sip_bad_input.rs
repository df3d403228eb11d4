//! Bad input for the SIP service, with SIPp (Debian `sip-tester`) and raw UDP against the real
//! `ivmd`: digest REGISTER, the RFC 4475 torture messages, oversized datagrams, wrong
//! passwords (the per-address ban), and a REGISTER flood. Loopback only; every wait is
//! bounded; SIPp runs with `-m` and `-timeout`.
//!
//! Skipped (with a message) when `sipp` is not installed: `scripts/setup --tests` installs it.

mod harness;
mod sipp;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use harness::{tempdir, Server};

/// The embedded defaults: no `digest` key (SIPp 3.6 does MD5 only, and the default offer
/// gives a `User-Agent: SIPp` MD5 alone).
const SIP_TOML: &str = "";

fn have_sipp() -> bool {
    harness::available("sipp")
}

fn torture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cores/sip/tests/torture")
}

/// Runs SIPp (bounded) in `dir` against the box; returns its output.
fn sipp(dir: &Path, server: &Server, args: &[&str]) -> Output {
    sipp_from(dir, server, "127.0.0.1", args)
}

/// Runs SIPp (bounded) from loopback address `ip`.
fn sipp_from(dir: &Path, server: &Server, ip: &str, args: &[&str]) -> Output {
    let port = sipp::free_port(ip);
    let args = [&["-p", port.as_str(), "-t", "u1"], args].concat();
    sipp::run(dir, &server.sip, ip, "60s", &args, Duration::from_secs(90))
}

/// A UDP socket on loopback talking to the box.
fn udp(server: &Server) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.connect(&server.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    s
}

/// A UDP socket on port 5060 of a loopback address of its own (127.0.0.N): the torture
/// messages ask for no `rport`, so the box answers to the source IP and the Via port (5060).
fn udp_5060(server: &Server) -> UdpSocket {
    let seed = std::process::id() as u8;
    for i in 0..200u8 {
        let n = 20u8.wrapping_add(seed.wrapping_add(i.wrapping_mul(37)) % 200);
        if let Ok(s) = UdpSocket::bind(format!("127.0.0.{n}:5060")) {
            s.connect(&server.sip).expect("connect");
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            return s;
        }
    }
    panic!("no free 127.0.0.N:5060");
}

/// Every datagram received within `limit`.
fn recv_all(s: &UdpSocket, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while Instant::now() < deadline {
        if let Ok(n) = s.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

fn has_call_id(message: &str) -> bool {
    message.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("call-id:") || l.starts_with("i:")
    })
}

fn status_of(response: &str) -> Option<u16> {
    response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// A plain request from `s` (REGISTER or OPTIONS) without credentials.
fn request(s: &UdpSocket, method: &str, user: &str) -> String {
    let local = s.local_addr().expect("addr");
    let n = rand_token();
    format!(
        "{method} sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{n};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:{user}@ivm>;tag={n}\r\nTo: <sip:{user}@ivm>\r\nCall-ID: {n}@test\r\nCSeq: 1 {method}\r\n\
         Contact: <sip:{user}@{local}>\r\nContent-Length: 0\r\n\r\n",
        target = s.peer_addr().expect("peer")
    )
}

fn rand_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The box answers OPTIONS (within 2 s, a few tries).
fn answers_options(server: &Server) -> bool {
    let s = udp(server);
    for _ in 0..4 {
        s.send(request(&s, "OPTIONS", "probe").as_bytes())
            .expect("send");
        if recv_all(&s, Duration::from_millis(500))
            .iter()
            .any(|r| status_of(r) == Some(200))
        {
            return true;
        }
    }
    false
}

#[test]
fn sipp_register_with_digest_makes_the_user_available() {
    if !have_sipp() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n201;;ivm;\n").expect("csv");
    let out = sipp(
        dir.path(),
        &server,
        &[
            "-sf",
            sipp::scenario("register_auth.xml").to_str().expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "201",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
    );
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "SIPp REGISTER with digest:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.status.success());
    assert!(server.wait_log("phone registered", Duration::from_secs(5)));
    assert!(
        server.wait_log("desk phone presence", Duration::from_secs(5)),
        "registration makes ann available"
    );
}

/// RFC 4475 §3.1.2 (invalid) messages, and §3.3 ones the box must refuse.
const INVALID: &[&str] = &[
    "clerr",
    "ncl",
    "ltgtruri",
    "lwsruri",
    "lwsstart",
    "trws",
    "mcl01",
    "bigcode",
    "badinv01",
    "scalar02",
    "scalarlg",
    "quotbal",
    "regbadct",
    "badaspec",
    "baddn",
    "escruri",
    "badvers",
    "mismatch01",
    "mismatch02",
    "insuf",
    "multi01",
    "unksm",
    "bext01",
];

#[test]
fn torture_messages_and_oversized_datagrams_never_crash_the_box() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), SIP_TOML);
    let s = udp_5060(&server);
    let mut files: Vec<PathBuf> = std::fs::read_dir(torture_dir())
        .expect("torture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "torture files: {}", files.len());
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for path in &files {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let bytes = std::fs::read(path).expect("read");
        s.send(&bytes).expect("send");
        // Only answers to this message (INVITE transactions retransmit earlier 401s).
        let call_id = String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                matches!(k.trim().to_ascii_lowercase().as_str(), "call-id" | "i")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        let answers: Vec<u16> = recv_all(&s, Duration::from_millis(300))
            .iter()
            .filter(|r| {
                if call_id.is_empty() {
                    !has_call_id(r)
                } else {
                    r.contains(&call_id)
                }
            })
            .filter_map(|r| status_of(r))
            .collect();
        report.push(format!("{name}: {answers:?}"));
        if INVALID.contains(&name.as_str())
            && answers.iter().any(|st| ![400, 416, 420, 505].contains(st))
        {
            wrong.push(format!("{name}: {answers:?}"));
        }
        assert!(
            answers_options(&server),
            "box stopped answering after {name}; log:\n{}",
            server.log()
        );
    }
    // Oversized and binary datagrams: dropped or 400/413/513, never a crash.
    let mut big =
        b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbig\r\nX-Big: "
            .to_vec();
    big.resize(65_000, b'a');
    s.send(&big).expect("send big");
    s.send(&[0xffu8; 1500]).expect("send binary");
    s.send(b"").expect("send empty");
    let answers: Vec<u16> = recv_all(&s, Duration::from_millis(300))
        .iter()
        .filter_map(|r| status_of(r))
        .collect();
    assert!(
        answers.iter().all(|st| *st >= 400),
        "oversized answered {answers:?}"
    );
    assert!(
        answers_options(&server),
        "box answers OPTIONS after oversized datagrams"
    );
    eprintln!("torture answers:\n{}", report.join("\n"));
    assert!(
        wrong.is_empty(),
        "invalid torture messages answered other than 400/416/420/505: {wrong:?}"
    );
    assert!(!server.log().contains("panicked"), "no panic in the log");
    assert!(server.stop().success(), "clean exit after the torture run");
}

/// Wrong passwords for 201 from one address (127.0.0.2) lock 201 out *from that address*
/// with a growing delay; the real user on their own phone (127.0.0.1) still gets in.
#[test]
fn wrong_passwords_lock_the_user_out_only_from_the_guessing_address() {
    if !have_sipp() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    let pw = server.sip_password("ann");
    std::fs::write(dir.path().join("users.csv"), "SEQUENTIAL\n201;;ivm;\n").expect("csv");
    let register = |ip: &str, password: &str, count: &str| {
        sipp_from(
            dir.path(),
            &server,
            ip,
            &[
                "-sf",
                sipp::scenario("register_auth.xml").to_str().expect("path"),
                "-inf",
                "users.csv",
                "-au",
                "201",
                "-ap",
                password,
                "-m",
                count,
                "-r",
                "20",
                "-recv_timeout",
                "3000",
            ],
        )
    };
    // 12 REGISTERs with a wrong password from 127.0.0.2: 5 free failures, then locked.
    let out = register("127.0.0.2", "not-the-password", "12");
    assert_eq!(
        sipp::counts(&out),
        (0, 12),
        "every wrong password fails:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(server.wait_log("SIP authentication failed", Duration::from_secs(5)));
    assert!(
        server.wait_log("user locked from this address", Duration::from_secs(5)),
        "the lock is logged:\n{}",
        server.log()
    );
    // From the guessing address even the right password is refused while the lock lasts ...
    let out = register("127.0.0.2", &pw, "1");
    assert_eq!(
        sipp::counts(&out).0,
        0,
        "locked from the guessing address:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s = UdpSocket::bind("127.0.0.2:0").expect("bind");
    s.connect(&server.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    s.send(request(&s, "REGISTER", "201").as_bytes())
        .expect("send");
    let got = recv_all(&s, Duration::from_millis(500));
    let refused = got
        .iter()
        .find(|r| status_of(r) == Some(403))
        .unwrap_or_else(|| panic!("403 while locked: {got:?}"));
    assert!(
        refused.to_ascii_lowercase().contains("retry-after:"),
        "{refused}"
    );
    // The lock is on 201 only: another account behind the same address (an office NAT)
    // is still challenged, not refused.
    s.send(request(&s, "REGISTER", "202").as_bytes())
        .expect("send");
    let got = recv_all(&s, Duration::from_millis(500));
    assert!(
        got.iter().any(|r| status_of(r) == Some(401)),
        "202 from the same address gets a challenge: {got:?}"
    );
    // ... and the real user, from their own phone's address, registers at once.
    let out = register("127.0.0.1", &pw, "1");
    assert_eq!(
        sipp::counts(&out),
        (1, 0),
        "201 from its own address is not locked out:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // OPTIONS is not authenticated, so the box still answers it.
    assert!(answers_options(&server));
}

#[test]
fn register_flood_leaves_the_box_responsive_and_bounded() {
    if !have_sipp() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), SIP_TOML);
    server.add_user("ann", "201", "ann-password-1");
    // 2,000 random users: unknown extensions, over-long and non-numeric names, and ann.
    let mut csv = String::from("RANDOM\n");
    for i in 0..2000u32 {
        let user = match i % 4 {
            0 => format!("{}", 1000 + (i * 7919) % 9000),
            1 => format!("u{i}x"),
            2 => "9".repeat(40 + (i as usize % 30)),
            _ => "201".to_owned(),
        };
        csv.push_str(&format!("{user};\n"));
    }
    std::fs::write(dir.path().join("flood.csv"), csv).expect("csv");
    std::thread::sleep(Duration::from_millis(500));
    let before = harness::rss_kib(server.pid());
    let started = Instant::now();
    let out = sipp(
        dir.path(),
        &server,
        &[
            "-sf",
            sipp::scenario("register_flood.xml").to_str().expect("path"),
            "-inf",
            "flood.csv",
            "-m",
            "2000",
            "-r",
            "2000",
            "-l",
            "2000",
            "-recv_timeout",
            "3000",
        ],
    );
    let took = started.elapsed();
    let (ok, failed) = sipp::counts(&out);
    let after = harness::rss_kib(server.pid());
    eprintln!(
        "flood: {ok} answered, {failed} unanswered in {took:?}; VmRSS {before} kB -> {after} kB"
    );
    assert_eq!(
        ok + failed,
        2000,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(ok >= 1900, "the box answers the flood ({ok} of 2000)");
    assert!(answers_options(&server), "responsive after the flood");
    assert!(
        after < before + 64 * 1024,
        "memory bounded: {before} kB -> {after} kB"
    );
    assert!(!server.log().contains("panicked"));
}
