//! The gateway actor's MGCP against an independent media gateway: `osmo-mgw` (Osmocom's
//! MGCP media gateway, Debian). The suite's scripted residential gateway
//! (tests/e2e/peers/mgcp_gateway.py) is written by the same hands as the box; osmo-mgw is
//! not. It has no analog lines (no hook, no digits), so only the connection commands are
//! checked here: the CRCX and DLCX the translator (`gateway::mgcp::command`) builds, an
//! MDCX built with the MGCP core, sent through the box's transaction layer ([`Agent`]) on a
//! real UDP socket; osmo-mgw's SDP answers read by the box's SDP code; and real RTP bridged
//! by osmo-mgw between the two connections, so its answers are right, not just well formed.
//! Loopback only; every wait is bounded.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ivm_actors::gateway::mgcp::{command, Request};
use ivm_mgcp::endpoint::EndpointName;
use ivm_mgcp::message::{Command as MgcpCommand, Response, Verb};
use ivm_mgcp::transaction::{Agent, Config, Event};
use ivm_sdp::LocalMedia;

/// osmo-mgw on loopback with its own config in `dir`; killed on drop.
struct Mgw {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Mgw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free now on 127.0.0.1 (UDP).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

impl Mgw {
    fn start(dir: &std::path::Path) -> Mgw {
        let found = Command::new("sh")
            .args(["-c", "command -v osmo-mgw"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "osmo-mgw is not installed (scripts/setup --tests installs it)"
        );
        let port = free_port();
        // RTP ports: an even base near a port free now; two connections use four ports.
        let rtp = free_port().clamp(10_000, 60_000) & !1;
        let cfg = dir.join("osmo-mgw.cfg");
        let mut f = std::fs::File::create(&cfg).expect("config");
        let lines = [
            "log stderr".to_owned(),
            " logging level all notice".to_owned(),
            "mgcp".to_owned(),
            " bind ip 127.0.0.1".to_owned(),
            format!(" bind port {port}"),
            format!(" rtp port-range {rtp} {}", rtp + 31),
            " rtp bind-ip 127.0.0.1".to_owned(),
            " number endpoints 4".to_owned(),
        ];
        writeln!(f, "{}", lines.join("\n")).expect("write config");
        let log_path = dir.join("osmo-mgw.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let child = Command::new("osmo-mgw")
            .arg("-c")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("osmo-mgw starts");
        let mut mgw = Mgw {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log: log_path,
        };
        // Up once its MGCP port is taken (bounded); gone means a bad config: its log says.
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(mgw.addr).is_ok() {
            if mgw.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                panic!("osmo-mgw did not start; its log:\n{}", mgw.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        mgw
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The box's side: its transaction layer on a real socket.
struct CallAgent {
    sock: UdpSocket,
    agent: Agent,
}

impl CallAgent {
    fn new() -> CallAgent {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        CallAgent {
            sock,
            // As the box has it (`[mgcp] response_ack = false`): osmo-mgw refuses a command
            // carrying K: (539, "unhandled option").
            agent: Agent::new(
                Config {
                    response_ack: false,
                    ..Config::default()
                },
                1000,
            ),
        }
    }

    /// Sends `cmd` to `to` and runs the layer until its final response (or time-out).
    fn transact(&mut self, to: SocketAddr, cmd: MgcpCommand) -> Option<Response> {
        let id = self.agent.send(Instant::now(), to, cmd).expect("sent");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            while let Some(t) = self.agent.poll_transmit() {
                self.sock.send_to(&t.payload, t.to).expect("send");
            }
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                self.agent.handle_datagram(Instant::now(), from, &buf[..n]);
            }
            let now = Instant::now();
            if self.agent.poll_timeout().is_some_and(|t| t <= now) {
                self.agent.handle_timeout(now);
            }
            while let Some(ev) = self.agent.poll_event() {
                match ev {
                    Event::Response { response, .. } if response.id == id => return Some(response),
                    Event::TimedOut { id: t, .. } if t == id => return None,
                    Event::Malformed { error, .. } => panic!("osmo-mgw sent bad MGCP: {error}"),
                    _ => {}
                }
            }
        }
        panic!("no answer from osmo-mgw within 30 s")
    }

    /// Like [`Self::transact`], with osmo-mgw's log when it does not answer.
    fn ask(&mut self, mgw: &Mgw, cmd: MgcpCommand) -> Response {
        self.transact(mgw.addr, cmd)
            .unwrap_or_else(|| panic!("osmo-mgw did not answer; its log:\n{}", mgw.log()))
    }
}

/// One leg: an RTP socket and the SDP offer the box would make for it.
struct Leg {
    rtp: UdpSocket,
    local: LocalMedia,
}

impl Leg {
    fn new() -> Leg {
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp");
        rtp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let a = rtp.local_addr().expect("addr");
        Leg {
            rtp,
            local: LocalMedia {
                address: a.ip(),
                port: a.port(),
                session_id: 1,
                session_version: 1,
                ptime: 20,
            },
        }
    }

    fn offer(&self) -> String {
        String::from_utf8_lossy(&ivm_sdp::offer(&self.local).encode()).into_owned()
    }

    /// The media osmo-mgw's answer gives this leg.
    fn accept(&self, r: &Response) -> ivm_sdp::Negotiated {
        let sdp = r
            .sdp()
            .expect("an SDP answer")
            .expect("osmo-mgw's SDP parses");
        ivm_sdp::accept_answer(&sdp, &self.local).expect("a codec in common")
    }

    /// Sends `n` PCMU packets (20 ms) to `to`, payload byte `fill`.
    fn send(&self, to: SocketAddr, n: u16, fill: u8) {
        for i in 0..n {
            let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
            p[2..4].copy_from_slice(&i.to_be_bytes());
            p[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
            p.extend(std::iter::repeat_n(fill, 160));
            self.rtp.send_to(&p, to).expect("rtp send");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// RTP packets received within `d` whose payload is all `fill`.
    fn received(&self, d: Duration, fill: u8) -> usize {
        let deadline = Instant::now() + d;
        let mut buf = [0u8; 2048];
        let mut n = 0;
        while Instant::now() < deadline {
            if let Ok(len) = self.rtp.recv(&mut buf) {
                if len > 12 && buf[12..len].iter().all(|b| *b == fill) {
                    n += 1;
                }
            }
        }
        n
    }
}

fn endpoint(s: &str) -> EndpointName {
    EndpointName::parse(s).expect("endpoint name")
}

#[test]
fn osmo_mgw_takes_the_boxs_crcx_mdcx_and_dlcx_and_bridges_the_rtp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mgw = Mgw::start(dir.path());
    let mut ca = CallAgent::new();
    let (a, b) = (Leg::new(), Leg::new());

    // CRCX on any free endpoint, as the translator builds it for a call: answered with the
    // endpoint taken (Z), a connection id and an SDP answer in PCMU or PCMA.
    let any = endpoint("rtpbridge/*@mgw");
    let crcx = command(
        &any,
        &Request::Connect {
            call_id: "c0ffee".into(),
            sdp: a.offer(),
        },
        1,
    );
    let r1 = ca.ask(&mgw, crcx);
    assert_eq!(r1.code, 200, "CRCX: {r1:?}");
    let taken = endpoint(r1.params.get("Z").expect("Z: the endpoint taken"));
    let ci1 = r1.params.get("I").expect("I: connection id").to_owned();
    let na = a.accept(&r1);
    let to_a = na.remote.expect("osmo-mgw's RTP address for leg a");

    // The second leg on the same endpoint: osmo-mgw bridges the two.
    let crcx = command(
        &taken,
        &Request::Connect {
            call_id: "c0ffee".into(),
            sdp: b.offer(),
        },
        2,
    );
    let r2 = ca.ask(&mgw, crcx);
    assert_eq!(r2.code, 200, "second CRCX: {r2:?}; log:\n{}", mgw.log());
    let ci2 = r2.params.get("I").expect("I").to_owned();
    assert_ne!(ci1, ci2);
    b.accept(&r2);

    // Sound from leg a reaches leg b through osmo-mgw.
    a.send(to_a, 25, 0x55);
    let got = b.received(Duration::from_millis(500), 0x55);
    assert!(got >= 15, "bridged RTP: {got} of 25 packets");

    // MDCX: leg b only receives from now on (recvonly: osmo-mgw sends it nothing).
    let mut mdcx = MgcpCommand::new(Verb::Mdcx, taken.clone());
    mdcx.params.set("C", "c0ffee").expect("C");
    mdcx.params.set("I", ci2.clone()).expect("I");
    mdcx.params.set("M", "recvonly").expect("M");
    let r = ca.ask(&mgw, mdcx);
    assert_eq!(r.code, 200, "MDCX: {r:?}");
    a.send(to_a, 10, 0x66);
    assert_eq!(b.received(Duration::from_millis(500), 0x66), 0, "recvonly");

    // DLCX of both, as the translator builds them: 250 each; again: refused with an error.
    let dlcx = |ci: &str| {
        command(
            &taken,
            &Request::Disconnect {
                call_id: "c0ffee".into(),
                connection: ci.to_owned(),
            },
            3,
        )
    };
    for ci in [&ci1, &ci2] {
        let r = ca.ask(&mgw, dlcx(ci));
        assert_eq!(r.code, 250, "DLCX {ci}: {r:?}");
    }
    let r = ca.ask(&mgw, dlcx(&ci1));
    assert!(
        (400..600).contains(&r.code),
        "a deleted connection deleted again: {r:?}"
    );
    drop(mgw);
}
