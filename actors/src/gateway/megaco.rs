//! The MEGACO (H.248.1) translator: the same protocol-neutral [`Request`]s and [`Report`]s as
//! the MGCP one (`mgcp.rs`), as H.248 actions on a gateway's terminations. The actor keys a
//! MEGACO line by its termination id (`aaln/1`), as it keys an MGCP line by its local
//! endpoint name.
//!
//! | request | H.248 |
//! |---|---|
//! | wait for off-hook | `Modify` of the line, `Events {al/of}`, `Signals {}` |
//! | collect digits | `Modify`, `Events {al/on, al/fl, dd/ce {DigitMap}}`, `Signals {cg/dt}` |
//! | in a call | `Modify`, `Events {al/on, al/fl}`, `Signals {}` |
//! | busy | `Modify`, `Events {al/on}`, `Signals {cg/bt}` |
//! | ring | `Modify`, `Events {al/of}`, `Signals {al/ri}` |
//! | audit | `AuditValue`, `Audit {Packages}` |
//! | connect | context `$`: `Add` the line, `Add` `$` (an RTP termination) with our SDP as its `Remote` |
//! | disconnect | `Subtract` the RTP termination and the line from their context |
//!
//! The message-waiting lamp has no signal in the base packages H.248.1 and the analog line
//! package define (H.248.23 is not implemented by common gateways): MEGACO lines get the
//! plain dial tone, and `lamp` is ignored here.

use ivm_megaco::digitmap::{DigitMap, DigitMapValue};
use ivm_megaco::{
    ActionReply, ActionRequest, AuditItem, Command, CommandKind, ContextId, Descriptor,
    DigitMapRef, EventParam, Events, LocalControl, Media, Method, PropValue, RequestedEvent,
    SignalItem, SignalRequest, StreamMode, StreamParms, TerminationId,
};

use super::{Report, Request};

/// The digit map given with `dd/ce`: the office dial plan (`*97`, `*7...`, extensions),
/// 16 s to the first key, 4 s between keys once a pattern may be complete.
pub fn digit_map() -> DigitMapValue {
    DigitMapValue {
        start: Some(16),
        short: Some(4),
        long: Some(16),
        map: DigitMap::office(),
    }
}

fn command(kind: CommandKind, termination: &str, descriptors: Vec<Descriptor>) -> Command {
    Command {
        kind,
        optional: false,
        wildcard_reply: false,
        termination: TerminationId(termination.to_owned()),
        descriptors,
    }
}

fn events(request_id: u32, names: &[&str], map: bool) -> Descriptor {
    let mut events: Vec<RequestedEvent> = names
        .iter()
        .map(|n| RequestedEvent {
            name: (*n).to_owned(),
            params: Vec::new(),
        })
        .collect();
    if map {
        events.push(RequestedEvent {
            name: "dd/ce".into(),
            params: vec![EventParam::DigitMap(DigitMapRef::Value(digit_map()))],
        });
    }
    Descriptor::Events(Events {
        request_id: Some(request_id),
        events,
    })
}

fn signals(names: &[&str]) -> Descriptor {
    Descriptor::Signals(
        names
            .iter()
            .map(|n| {
                SignalItem::Signal(SignalRequest {
                    name: (*n).to_owned(),
                    params: Vec::new(),
                })
            })
            .collect(),
    )
}

/// The actions for `req` toward the line `termination`; `request_id` names its Events;
/// `connection` is the line's call, if it is in one (its Modify goes to that context).
/// Empty for a disconnect of a connection this translator did not make.
pub fn actions(
    termination: &str,
    req: &Request,
    request_id: u32,
    connection: Option<&str>,
) -> Vec<ActionRequest> {
    let here = connection
        .and_then(Connection::parse)
        .map_or(ContextId::Null, |c| ContextId::Id(c.context));
    let modify = |names: &[&str], sig: &[&str], map: bool| {
        command(
            CommandKind::Modify,
            termination,
            vec![events(request_id, names, map), signals(sig)],
        )
    };
    let (context, commands) = match req {
        Request::WaitOffHook { .. } => (here, vec![modify(&["al/of"], &[], false)]),
        Request::CollectDigits { .. } => {
            (here, vec![modify(&["al/on", "al/fl"], &["cg/dt"], true)])
        }
        Request::InCall => (here, vec![modify(&["al/on", "al/fl"], &[], false)]),
        Request::Busy => (here, vec![modify(&["al/on"], &["cg/bt"], false)]),
        Request::Ring { .. } => (here, vec![modify(&["al/of"], &["al/ri"], false)]),
        Request::Audit => (
            ContextId::Null,
            vec![command(
                CommandKind::AuditValue,
                termination,
                vec![Descriptor::Audit(vec![AuditItem::Packages])],
            )],
        ),
        Request::Connect { sdp, .. } => {
            let media = Media {
                termination_state: None,
                single: None,
                streams: vec![(
                    1,
                    StreamParms {
                        local_control: Some(LocalControl {
                            mode: Some(StreamMode::SendRecv),
                            ..LocalControl::default()
                        }),
                        local: None,
                        remote: Some(sdp.trim_end().replace("\r\n", "\n").replace('\n', "\r\n")),
                    },
                )],
            };
            (
                ContextId::Choose,
                vec![
                    command(
                        CommandKind::Add,
                        termination,
                        vec![events(request_id, &["al/on", "al/fl"], false)],
                    ),
                    command(CommandKind::Add, "$", vec![Descriptor::Media(media)]),
                ],
            )
        }
        Request::Disconnect { connection, .. } => match Connection::parse(connection) {
            Some(c) => (
                ContextId::Id(c.context),
                vec![
                    command(CommandKind::Subtract, &c.rtp, Vec::new()),
                    command(CommandKind::Subtract, termination, Vec::new()),
                ],
            ),
            // Not a connection this translator made: nothing to send.
            None => return Vec::new(),
        },
    };
    vec![ActionRequest {
        context,
        props: Vec::new(),
        commands,
    }]
}

/// A MEGACO call's connection, as the seam's opaque connection string: the context the
/// gateway made and the RTP termination it chose (`"7 rtp/3"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The context.
    pub context: u32,
    /// The RTP termination.
    pub rtp: String,
}

impl Connection {
    /// The seam's spelling.
    pub fn to_text(&self) -> String {
        format!("{} {}", self.context, self.rtp)
    }

    /// Back from [`Connection::to_text`].
    pub fn parse(s: &str) -> Option<Connection> {
        let (c, rtp) = s.split_once(' ')?;
        Some(Connection {
            context: c.parse().ok()?,
            rtp: rtp.to_owned(),
        })
    }
}

/// What the gateway answered a connect: the connection and its SDP (the RTP termination's
/// `Local`, where the box sends), when the reply has them.
pub fn connected(replies: &[ActionReply]) -> Option<(Connection, Option<String>)> {
    let reply = replies.first()?;
    let ContextId::Id(context) = reply.context else {
        return None;
    };
    if reply.error.is_some() {
        return None;
    }
    let rtp = reply
        .commands
        .iter()
        .find(|c| c.kind == CommandKind::Add && !c.termination.0.starts_with("aaln"))
        .or_else(|| reply.commands.get(1))?;
    let sdp = rtp.descriptors.iter().find_map(|d| match d {
        Descriptor::Media(m) => m
            .single
            .iter()
            .chain(m.streams.iter().map(|(_, s)| s))
            .find_map(|s| s.local.as_deref().map(sdp_lines)),
        _ => None,
    });
    Some((
        Connection {
            context,
            rtp: rtp.termination.0.clone(),
        },
        sdp,
    ))
}

/// SDP as the text encoding carries it, one description line per line: the pretty form
/// indents the lines and the closing brace (Erlang's encoder does), SDP allows neither.
fn sdp_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push_str("\r\n");
            out
        })
}

/// What a gateway's command reports. ServiceChange on `ROOT` (or a line) with Restart,
/// Disconnected or Failover: back in service; Graceful or Forced: out of service. Notify:
/// the observed events in order (`al/of`, `al/on`, `al/fl`, `dd/ce`'s `ds`, single keys
/// `dd/d0`..`dd/d9`, `dd/da` (`*`), `dd/db` (`#`)).
pub fn reports(cmd: &Command) -> Vec<Report> {
    let mut out = Vec::new();
    for d in &cmd.descriptors {
        match (cmd.kind, d) {
            (CommandKind::ServiceChange, Descriptor::Services(sc)) => {
                out.push(match sc.method {
                    Some(Method::Graceful | Method::Forced) => Report::OutOfService,
                    _ => Report::Restarted,
                });
            }
            (CommandKind::Notify, Descriptor::ObservedEvents(oe)) => {
                for e in &oe.events {
                    match e.name.to_ascii_lowercase().as_str() {
                        "al/of" => out.push(Report::OffHook),
                        "al/on" => out.push(Report::OnHook),
                        "al/fl" => out.push(Report::Flash),
                        "dd/ce" => {
                            let ds = e.params.iter().find_map(|p| match &p.value {
                                PropValue::Equal(v) if p.name.eq_ignore_ascii_case("ds") => {
                                    Some(v.trim_matches('"'))
                                }
                                _ => None,
                            });
                            if let Some(ds) = ds {
                                let keys = dd_keys(ds);
                                if !keys.is_empty() {
                                    out.push(Report::Digits(keys));
                                }
                            }
                        }
                        other => {
                            if let Some(k) = other.strip_prefix("dd/").and_then(dd_key) {
                                out.push(Report::Digits(k.to_string()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A `ds` string in keypad keys: digit map symbols `E` and `F` are `*` and `#` (E.1.3),
/// timer marks and anything else are left out.
fn dd_keys(ds: &str) -> String {
    ds.chars()
        .filter_map(|c| match c.to_ascii_uppercase() {
            '0'..='9' | '*' | '#' => Some(c),
            'E' => Some('*'),
            'F' => Some('#'),
            _ => None,
        })
        .collect()
}

/// `d0`..`d9`, `da` (`*`) and `db` (`#`) of the DTMF detection package (E.6).
fn dd_key(event: &str) -> Option<char> {
    match event {
        "da" => Some('*'),
        "db" => Some('#'),
        _ => {
            let mut keys = event.strip_prefix('d')?.chars();
            match (keys.next(), keys.next()) {
                (Some(k), None) if k.is_ascii_digit() => Some(k),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_megaco::{decode, encode, Body, Form, MId, Message, Transaction};

    fn roundtrip(actions: Vec<ActionRequest>) {
        let msg = Message {
            version: 1,
            mid: MId::Ip {
                addr: "127.0.0.1".parse().expect("ip"),
                port: Some(2944),
            },
            body: Body::Transactions(vec![Transaction::Request { id: 9, actions }]),
        };
        for form in [Form::Pretty, Form::Compact] {
            let text = encode(&msg, form);
            assert_eq!(decode(text.as_bytes()).expect("decodes"), msg, "{text}");
        }
    }

    #[test]
    fn every_request_encodes_and_decodes() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        for req in [
            Request::WaitOffHook { lamp: Some(true) },
            Request::CollectDigits { lamp: false },
            Request::InCall,
            Request::Busy,
            Request::Ring {
                number: "201".into(),
                name: "Ann".into(),
            },
            Request::Audit,
            Request::Connect {
                call_id: "c1".into(),
                sdp: sdp.into(),
            },
            Request::Disconnect {
                call_id: "c1".into(),
                connection: "7 rtp/3".into(),
            },
        ] {
            roundtrip(actions("aaln/1", &req, 5, None));
            roundtrip(actions("aaln/1", &req, 5, Some("7 rtp/3")));
        }
        let a = actions(
            "aaln/1",
            &Request::Disconnect {
                call_id: String::new(),
                connection: "7 rtp/3".into(),
            },
            1,
            None,
        );
        assert_eq!(a[0].context, ContextId::Id(7));
        assert_eq!(a[0].commands[0].kind, CommandKind::Subtract);
        assert_eq!(a[0].commands[0].termination.0, "rtp/3");
        let a = actions("aaln/1", &Request::InCall, 1, Some("7 rtp/3"));
        assert_eq!(
            a[0].context,
            ContextId::Id(7),
            "a line in a call is in its context"
        );
    }

    fn request_commands(text: &str) -> Vec<Command> {
        let m = decode(text.as_bytes()).expect("decodes");
        let Body::Transactions(t) = m.body else {
            panic!()
        };
        let Transaction::Request { actions, .. } = &t[0] else {
            panic!()
        };
        actions[0].commands.clone()
    }

    #[test]
    fn notifies_and_service_changes_become_reports() {
        let c = request_commands(
            "MEGACO/1 [127.0.0.1]:2944 Transaction = 3 { Context = - { Notify = aaln/1 { \
             ObservedEvents = 1 { 20261207T06300000:al/of } } } }",
        );
        assert_eq!(reports(&c[0]), vec![Report::OffHook]);
        let c = request_commands(
            "!/1 [127.0.0.1]:2944 T=4{C=-{N=aaln/1{OE=2{dd/ce{ds=\"E7202F\",Meth=FM},al/on}}}}",
        );
        assert_eq!(
            reports(&c[0]),
            vec![Report::Digits("*7202#".into()), Report::OnHook]
        );
        let c = request_commands("!/1 [127.0.0.1]:2944 T=5{C=-{N=aaln/1{OE=2{dd/d4,dd/da}}}}");
        assert_eq!(
            reports(&c[0]),
            vec![Report::Digits("4".into()), Report::Digits("*".into())]
        );
        let c = request_commands(
            "!/1 [127.0.0.1]:2944 T=6{C=-{SC=ROOT{SV{MT=RS,RE=\"901 Cold Boot\"}}}}",
        );
        assert_eq!(reports(&c[0]), vec![Report::Restarted]);
        let c = request_commands(
            "!/1 [127.0.0.1]:2944 T=7{C=-{SC=ROOT{SV{MT=GR,RE=\"905 Termination taken out of service\"}}}}",
        );
        assert_eq!(reports(&c[0]), vec![Report::OutOfService]);
    }

    #[test]
    fn a_connect_reply_gives_the_context_the_rtp_termination_and_its_sdp() {
        let m = decode(
            b"!/1 [127.0.0.1]:2944 P=9{C=7{A=aaln/1,A=rtp/3{M{ST=1{L{\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n\n\t\t\t}}}}}}",
        )
        .expect("decodes");
        let Body::Transactions(t) = m.body else {
            panic!()
        };
        let Transaction::Reply {
            result: ivm_megaco::ReplyResult::Actions(replies),
            ..
        } = &t[0]
        else {
            panic!("{t:?}")
        };
        let (c, sdp) = connected(replies).expect("connected");
        assert_eq!(c.to_text(), "7 rtp/3");
        assert_eq!(Connection::parse("7 rtp/3"), Some(c));
        let sdp = sdp.expect("sdp");
        assert_eq!(
            sdp, "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n",
            "the pretty form's indentation is not SDP"
        );
    }
}
