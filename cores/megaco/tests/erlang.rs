//! The real peer: Erlang/OTP's megaco application (Debian's erlang-megaco).
//!
//! 1. Every kind of message this crate emits, pretty and compact, versions 1 to 3, goes
//!    through Erlang's text decoders (`tests/peers/megaco/decode.escript`): any refusal fails.
//! 2. A real Media Gateway (`tests/peers/megaco/mg.escript`) registers with our
//!    [`Controller`] over loopback UDP, answers our Modify/Add/Subtract/AuditValue, and
//!    notifies off-hook, digits and on-hook on cue; the Controller decodes what it sends and
//!    it accepts our replies.
//!
//! Needs `escript` (scripts/setup --tests installs erlang-megaco): without it the test fails.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use ivm_megaco::*;

fn peers() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/megaco")
}

fn escript() -> Command {
    let found = Command::new("escript")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "escript is missing: install the test peers with scripts/setup --tests (erlang-megaco)"
    );
    Command::new("escript")
}

#[test]
fn erlang_decodes_every_message_we_emit() {
    let mut inputs = Vec::new();
    for version in 1..=3 {
        for (name, msg) in common::corpus(version) {
            for form in [Form::Pretty, Form::Compact] {
                let text = encode(&msg, form);
                // Our own decoder reads it back to the same model first.
                assert_eq!(
                    decode(text.as_bytes()).as_ref(),
                    Ok(&msg),
                    "round trip of {name} v{version} {form:?}:\n{text}"
                );
                inputs.push((format!("{name} v{version} {form:?}"), text));
            }
        }
    }
    let mut child = escript()
        .arg(peers().join("decode.escript"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run decode.escript");
    let mut stdin = child.stdin.take().expect("stdin");
    let b64 = base64::engine::general_purpose::STANDARD;
    let lines: String = inputs.iter().map(|(_, t)| b64.encode(t) + "\n").collect();
    let writer = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let out = child.wait_with_output().expect("decode.escript output");
    writer
        .join()
        .expect("writer")
        .expect("write to decode.escript");
    assert!(
        out.status.success(),
        "decode.escript failed: {:?}",
        out.status
    );
    let verdicts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        verdicts.len(),
        inputs.len(),
        "one verdict a message: {verdicts:?}"
    );
    let rejected: Vec<String> = inputs
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.as_str() != "ok")
        .map(|((name, text), v)| format!("{name}:\n{text}\n=> {v}\n"))
        .collect();
    assert!(
        rejected.is_empty(),
        "Erlang rejected {} of {} messages:\n{}",
        rejected.len(),
        inputs.len(),
        rejected.join("\n")
    );
    // The check does reject: a broken message is refused.
    assert!(inputs.len() >= 3 * 2 * 30, "{} messages", inputs.len());
}

#[test]
fn erlang_decoder_rejects_what_it_should() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut child = escript()
        .arg(peers().join("decode.escript"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run decode.escript");
    let bad = [
        "!/1 [127.0.0.1]:2944\nT=1{C=-{MF=aaln/1{E=1{al/of}}}",
        "MEGACO/1 [127.0.0.1]:2944\nTransaction = x {}",
    ];
    let lines: String = bad.iter().map(|t| b64.encode(t) + "\n").collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("error")).count(),
        2,
        "{text}"
    );
}

/// The MG process, its stdout lines on a channel.
struct Mg {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Mg {
    fn start(mgc: SocketAddr, form: &str) -> Mg {
        let mut child = escript()
            .arg(peers().join("mg.escript"))
            .args([
                mgc.ip().to_string(),
                mgc.port().to_string(),
                form.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run mg.escript");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Mg { child, lines }
    }

    fn cue(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("cue the MG");
        stdin.flush().expect("flush");
    }

    fn expect_line(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("MG did not print {want:?}; it printed {seen:?}");
    }
}

impl Drop for Mg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our Controller on a loopback UDP socket, driven by hand.
struct Mgc {
    sock: UdpSocket,
    ctl: Controller,
}

impl Mgc {
    fn flush(&mut self) {
        while let Some(t) = self.ctl.poll_transmit() {
            self.sock.send_to(&t.payload, t.peer).expect("send");
        }
    }

    /// Runs the socket and timers until an event comes (bounded in time).
    fn next_event(&mut self) -> Event {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush();
            if let Some(e) = self.ctl.poll_event() {
                return e;
            }
            let now = Instant::now();
            assert!(now < deadline, "no MEGACO event within 20 s");
            if self.ctl.poll_timeout().is_some_and(|t| t <= now) {
                self.ctl.handle_timeout(now);
                continue;
            }
            self.sock
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                self.ctl.handle_datagram(Instant::now(), from, &buf[..n]);
            }
        }
    }

    /// Runs the socket and timers for `total`: the events that came, and how many
    /// TransactionPending the Controller sent meanwhile.
    fn pump(&mut self, total: Duration) -> (Vec<Event>, usize) {
        let end = Instant::now() + total;
        let mut buf = vec![0u8; 65_536];
        let (mut events, mut pendings) = (Vec::new(), 0);
        while Instant::now() < end {
            while let Some(t) = self.ctl.poll_transmit() {
                let text = String::from_utf8_lossy(&t.payload);
                pendings += usize::from(text.contains("PN=") || text.contains("Pending ="));
                self.sock.send_to(&t.payload, t.peer).expect("send");
            }
            events.extend(std::iter::from_fn(|| self.ctl.poll_event()));
            let now = Instant::now();
            if self.ctl.poll_timeout().is_some_and(|t| t <= now) {
                self.ctl.handle_timeout(now);
                continue;
            }
            self.sock
                .set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                self.ctl.handle_datagram(Instant::now(), from, &buf[..n]);
            }
        }
        (events, pendings)
    }

    /// Expects a request; answers every command with an empty reply of its kind.
    fn answer_request(&mut self, kind: CommandKind) -> (SocketAddr, Vec<ActionRequest>) {
        match self.next_event() {
            Event::Request {
                peer, id, actions, ..
            } => {
                let replies = actions
                    .iter()
                    .map(|a| ActionReply {
                        context: a.context,
                        props: vec![],
                        commands: a
                            .commands
                            .iter()
                            .map(|c| {
                                assert_eq!(c.kind, kind, "{actions:?}");
                                let mut descriptors = vec![];
                                if c.kind == CommandKind::ServiceChange {
                                    descriptors.push(Descriptor::Services(ServiceChange {
                                        profile: Some("ResGW/1".into()),
                                        ..Default::default()
                                    }));
                                }
                                common::cmd(c.kind, &c.termination.0, descriptors)
                            })
                            .collect(),
                        error: None,
                    })
                    .collect();
                self.ctl
                    .send_reply(Instant::now(), peer, id, ReplyResult::Actions(replies))
                    .expect("reply");
                self.flush();
                (peer, actions)
            }
            other => panic!("expected a {kind:?} request, got {other:?}"),
        }
    }

    fn expect_reply(&mut self, want: u32) -> ReplyResult {
        match self.next_event() {
            Event::Reply { id, result, .. } if id == want => result,
            other => panic!("expected the reply to {want}, got {other:?}"),
        }
    }
}

fn observed(actions: &[ActionRequest]) -> &ObservedEvent {
    match &actions[0].commands[0].descriptors[0] {
        Descriptor::ObservedEvents(oe) => &oe.events[0],
        other => panic!("not ObservedEvents: {other:?}"),
    }
}

fn gateway_session(form: &str, our_form: Form) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr");
    let mid = MId::Ip {
        addr: addr.ip(),
        port: Some(addr.port()),
    };
    let ctl = Controller::new(
        Config {
            form: our_form,
            ..Config::default()
        },
        mid,
    );
    let mut mgc = Mgc { sock, ctl };
    let mut mg = Mg::start(addr, form);

    // Registration: a real ServiceChange, Restart on ROOT.
    let (gw, actions) = mgc.answer_request(CommandKind::ServiceChange);
    let Descriptor::Services(sc) = &actions[0].commands[0].descriptors[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(sc.method, Some(Method::Restart));
    assert!(actions[0].commands[0].termination.is_root());
    mg.expect_line("servicechange ok");

    // Ask for off-hook; the MG accepts our Modify.
    let now = Instant::now();
    let events = Descriptor::Events(Events {
        request_id: Some(1),
        events: vec![RequestedEvent {
            name: "al/of".into(),
            params: vec![],
        }],
    });
    let id = mgc.ctl.send_request(
        now,
        gw,
        vec![ActionRequest {
            context: ContextId::Null,
            props: vec![],
            commands: vec![common::cmd(
                CommandKind::Modify,
                "aaln/1",
                vec![events, Descriptor::Signals(vec![])],
            )],
        }],
    );
    assert!(matches!(mgc.expect_reply(id), ReplyResult::Actions(_)));
    mg.expect_line("request modify aaln/1");

    // Off-hook; the box takes 2 s to answer: the MG retransmits, and the Controller answers
    // the copies with TransactionPending instead of reporting the Notify again.
    mg.cue("offhook aaln/1");
    let (seen, pendings) = mgc.pump(Duration::from_secs(2));
    assert_eq!(
        seen.len(),
        1,
        "one Notify reported, not one per copy: {seen:?}"
    );
    assert!(
        pendings >= 3,
        "TransactionPending sent while the box works: {pendings}"
    );
    let Event::Request {
        peer, id, actions, ..
    } = &seen[0]
    else {
        panic!("{seen:?}")
    };
    let done = vec![ActionReply {
        context: ContextId::Null,
        props: vec![],
        commands: vec![common::cmd(CommandKind::Notify, "aaln/1", vec![])],
        error: None,
    }];
    mgc.ctl
        .send_reply(Instant::now(), *peer, *id, ReplyResult::Actions(done))
        .expect("reply");
    mgc.flush();
    let of = observed(actions);
    assert_eq!(
        (of.name.as_str(), of.timestamp.as_deref()),
        ("al/of", Some("20261207T06300000"))
    );
    mg.expect_line("notify ok");

    // Dial tone, digit map, digits.
    let dial = vec![
        Descriptor::Signals(vec![SignalItem::Signal(SignalRequest {
            name: "cg/dt".into(),
            params: vec![],
        })]),
        Descriptor::Events(Events {
            request_id: Some(2),
            events: vec![
                RequestedEvent {
                    name: "al/on".into(),
                    params: vec![],
                },
                RequestedEvent {
                    name: "dd/ce".into(),
                    params: vec![EventParam::DigitMap(DigitMapRef::Value(
                        common::office_map(),
                    ))],
                },
            ],
        }),
    ];
    let id = mgc.ctl.send_request(
        Instant::now(),
        gw,
        vec![ActionRequest {
            context: ContextId::Null,
            props: vec![],
            commands: vec![common::cmd(CommandKind::Modify, "aaln/1", dial)],
        }],
    );
    mgc.expect_reply(id);
    mg.cue("digits aaln/1 *7202");
    let (_, actions) = mgc.answer_request(CommandKind::Notify);
    let ce = observed(&actions);
    assert_eq!(ce.name, "dd/ce");
    let ds = ce.params.iter().find(|p| p.name == "ds").expect("ds");
    assert_eq!(ds.value, PropValue::Equal("*7202".into()));
    assert_eq!(actions[0].commands[0].descriptors.len(), 1);
    mg.expect_line("notify ok");

    // A call's media: Add the line and an RTP termination to a new context, then Subtract.
    let id = mgc.ctl.send_request(
        Instant::now(),
        gw,
        vec![ActionRequest {
            context: ContextId::Choose,
            props: vec![],
            commands: vec![
                common::cmd(CommandKind::Add, "aaln/1", vec![]),
                common::cmd(
                    CommandKind::Add,
                    "$",
                    common::corpus(1)
                        .into_iter()
                        .find(|(n, _)| *n == "modify remote sdp")
                        .map(|(_, m)| match m.body {
                            Body::Transactions(t) => match &t[0] {
                                Transaction::Request { actions, .. } => {
                                    actions[0].commands[0].descriptors.clone()
                                }
                                _ => unreachable!(),
                            },
                            _ => unreachable!(),
                        })
                        .expect("media"),
                ),
            ],
        }],
    );
    let ReplyResult::Actions(replies) = mgc.expect_reply(id) else {
        panic!("error reply")
    };
    let ContextId::Id(ctx) = replies[0].context else {
        panic!("no context made: {replies:?}")
    };
    let rtp = replies[0].commands[1].termination.0.clone();
    assert!(rtp.starts_with("rtp/"), "the MG chose {rtp} for $");
    mg.expect_line(&format!("request add {rtp}"));
    let id = mgc.ctl.send_request(
        Instant::now(),
        gw,
        vec![ActionRequest {
            context: ContextId::Id(ctx),
            props: vec![],
            commands: vec![common::cmd(CommandKind::Subtract, &rtp, vec![])],
        }],
    );
    mgc.expect_reply(id);
    mg.expect_line(&format!("request subtract {rtp}"));

    // An audit.
    let id = mgc.ctl.send_request(
        Instant::now(),
        gw,
        vec![ActionRequest {
            context: ContextId::Null,
            props: vec![],
            commands: vec![common::cmd(
                CommandKind::AuditValue,
                "aaln/1",
                vec![Descriptor::Audit(vec![AuditItem::Packages])],
            )],
        }],
    );
    let ReplyResult::Actions(replies) = mgc.expect_reply(id) else {
        panic!("error reply")
    };
    assert_eq!(replies[0].commands[0].kind, CommandKind::AuditValue);
    mg.expect_line("request auditvalue aaln/1");

    mg.cue("onhook aaln/1");
    let (_, actions) = mgc.answer_request(CommandKind::Notify);
    assert_eq!(observed(&actions).name, "al/on");
    mg.expect_line("notify ok");
    mg.cue("quit");
}

#[test]
fn erlang_gateway_registers_and_notifies_pretty() {
    gateway_session("pretty", Form::Pretty);
}

#[test]
fn erlang_gateway_registers_and_notifies_compact() {
    gateway_session("compact", Form::Compact);
}
