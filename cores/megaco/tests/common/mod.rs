//! Messages of every kind the controller emits, built from the model: the corpus the Erlang
//! syntax check (`erlang.rs`) and the round-trip tests run over.
#![allow(dead_code)]

use ivm_megaco::digitmap::{DigitMap, DigitMapValue};
use ivm_megaco::*;

pub const SDP: &str = "v=0\r\no=- 2890844526 2890842807 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n";

pub fn tid(s: &str) -> TerminationId {
    TerminationId(s.into())
}

pub fn cmd(kind: CommandKind, t: &str, descriptors: Vec<Descriptor>) -> Command {
    Command {
        kind,
        optional: false,
        wildcard_reply: false,
        termination: tid(t),
        descriptors,
    }
}

pub fn prop(name: &str, v: PropValue) -> Property {
    Property {
        name: name.into(),
        value: v,
    }
}

fn sig(name: &str, params: Vec<SignalParam>) -> SignalRequest {
    SignalRequest {
        name: name.into(),
        params,
    }
}

fn ev(name: &str, params: Vec<EventParam>) -> RequestedEvent {
    RequestedEvent {
        name: name.into(),
        params,
    }
}

pub fn office_map() -> DigitMapValue {
    DigitMapValue {
        start: Some(16),
        short: Some(4),
        long: Some(16),
        map: DigitMap::office(),
    }
}

pub fn request(
    version: u8,
    mid: MId,
    id: u32,
    context: ContextId,
    commands: Vec<Command>,
) -> Message {
    Message {
        version,
        mid,
        body: Body::Transactions(vec![Transaction::Request {
            id,
            actions: vec![ActionRequest {
                context,
                props: vec![],
                commands,
            }],
        }]),
    }
}

pub fn reply(
    version: u8,
    mid: MId,
    id: u32,
    context: ContextId,
    commands: Vec<Command>,
) -> Message {
    Message {
        version,
        mid,
        body: Body::Transactions(vec![Transaction::Reply {
            id,
            imm_ack: false,
            result: ReplyResult::Actions(vec![ActionReply {
                context,
                props: vec![],
                commands,
                error: None,
            }]),
        }]),
    }
}

pub fn mgc_mid() -> MId {
    MId::Ip {
        addr: "127.0.0.1".parse().expect("ip"),
        port: Some(2944),
    }
}

/// One message of each kind, at `version`.
pub fn corpus(version: u8) -> Vec<(&'static str, Message)> {
    let mid = mgc_mid;
    let services = |m: Method, extra: fn(&mut ServiceChange)| {
        let mut sc = ServiceChange {
            method: Some(m),
            reason: Some("901 Cold Boot".into()),
            ..Default::default()
        };
        extra(&mut sc);
        vec![cmd(
            CommandKind::ServiceChange,
            "ROOT",
            vec![Descriptor::Services(sc)],
        )]
    };
    let media = Media {
        termination_state: None,
        single: None,
        streams: vec![(
            1,
            StreamParms {
                local_control: Some(LocalControl {
                    mode: Some(StreamMode::SendRecv),
                    reserve_value: Some(false),
                    reserve_group: Some(false),
                    properties: vec![prop("nt/jit", PropValue::Equal("40".into()))],
                }),
                local: Some(SDP.into()),
                remote: Some(SDP.into()),
            },
        )],
    };
    let ts_media = Media {
        termination_state: Some(TerminationState {
            service_state: Some(ServiceState::InService),
            lockstep: Some(false),
            properties: vec![],
        }),
        single: Some(StreamParms {
            local_control: Some(LocalControl {
                mode: Some(StreamMode::RecvOnly),
                ..Default::default()
            }),
            local: None,
            remote: None,
        }),
        streams: vec![],
    };
    let offhook_events = Descriptor::Events(Events {
        request_id: Some(1),
        events: vec![ev("al/of", vec![])],
    });
    let dial_events = Descriptor::Events(Events {
        request_id: Some(2),
        events: vec![
            ev("al/on", vec![]),
            ev("al/fl", vec![]),
            ev(
                "dd/ce",
                vec![EventParam::DigitMap(DigitMapRef::Name("office".into()))],
            ),
        ],
    });
    let inline_map_events = Descriptor::Events(Events {
        request_id: Some(3),
        events: vec![ev(
            "dd/ce",
            vec![EventParam::DigitMap(DigitMapRef::Value(office_map()))],
        )],
    });
    let mut v = vec![
        (
            "servicechange restart",
            request(
                version,
                MId::Device("gw1".into()),
                1,
                ContextId::Null,
                services(Method::Restart, |sc| {
                    sc.address = Some(ScAddress::Port(2944));
                    sc.profile = Some("ResGW/1".into());
                }),
            ),
        ),
        (
            "servicechange graceful",
            request(
                version,
                mid(),
                2,
                ContextId::Null,
                services(Method::Graceful, |sc| sc.delay = Some(30)),
            ),
        ),
        (
            "servicechange forced",
            request(
                version,
                mid(),
                3,
                ContextId::Null,
                services(Method::Forced, |_| {}),
            ),
        ),
        (
            "servicechange disconnected",
            request(
                version,
                mid(),
                4,
                ContextId::Null,
                services(Method::Disconnected, |sc| {
                    sc.timestamp = Some("20261207T06300000".into());
                }),
            ),
        ),
        (
            "servicechange handoff",
            request(
                version,
                mid(),
                5,
                ContextId::Null,
                services(Method::HandOff, |sc| {
                    sc.mgc_id = Some(MId::Domain {
                        name: "mgc2.example.net".into(),
                        port: Some(2944),
                    });
                }),
            ),
        ),
        (
            "servicechange reply",
            reply(
                version,
                mid(),
                1,
                ContextId::Null,
                vec![cmd(
                    CommandKind::ServiceChange,
                    "ROOT",
                    vec![Descriptor::Services(ServiceChange {
                        address: Some(ScAddress::MId(mid())),
                        profile: Some("ResGW/1".into()),
                        version: Some(version),
                        ..Default::default()
                    })],
                )],
            ),
        ),
        (
            "modify offhook events",
            request(
                version,
                mid(),
                10,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Modify,
                    "aaln/1",
                    vec![offhook_events, Descriptor::Signals(vec![])],
                )],
            ),
        ),
        (
            "modify dial tone and digit map",
            request(
                version,
                mid(),
                11,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Modify,
                    "aaln/1",
                    vec![
                        Descriptor::Signals(vec![SignalItem::Signal(sig("cg/dt", vec![]))]),
                        dial_events,
                        Descriptor::DigitMap(DigitMapDescriptor {
                            name: Some("office".into()),
                            value: Some(office_map()),
                        }),
                    ],
                )],
            ),
        ),
        (
            "modify inline digit map",
            request(
                version,
                mid(),
                12,
                ContextId::Null,
                vec![cmd(CommandKind::Modify, "aaln/1", vec![inline_map_events])],
            ),
        ),
        (
            "modify ring",
            request(
                version,
                mid(),
                13,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Modify,
                    "aaln/2",
                    vec![Descriptor::Signals(vec![SignalItem::Signal(sig(
                        "al/ri",
                        vec![
                            SignalParam::Type(SignalType::TimeOut),
                            SignalParam::Duration(30000),
                        ],
                    ))])],
                )],
            ),
        ),
        (
            "modify busy and ringback",
            request(
                version,
                mid(),
                14,
                ContextId::Id(7),
                vec![
                    cmd(
                        CommandKind::Modify,
                        "aaln/1",
                        vec![Descriptor::Signals(vec![SignalItem::Signal(sig(
                            "cg/bt",
                            vec![SignalParam::Type(SignalType::OnOff)],
                        ))])],
                    ),
                    cmd(
                        CommandKind::Modify,
                        "aaln/2",
                        vec![Descriptor::Signals(vec![SignalItem::Signal(sig(
                            "cg/rt",
                            vec![
                                SignalParam::NotifyCompletion(vec![
                                    Completion::TimeOut,
                                    Completion::IntByEvent,
                                ]),
                                SignalParam::KeepActive,
                            ],
                        ))])],
                    ),
                ],
            ),
        ),
        (
            "modify signal list",
            request(
                version,
                mid(),
                15,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Modify,
                    "aaln/1",
                    vec![Descriptor::Signals(vec![SignalItem::List {
                        id: 1,
                        signals: vec![
                            sig("cg/dt", vec![SignalParam::Duration(1000)]),
                            sig("cg/bt", vec![SignalParam::Type(SignalType::Brief)]),
                        ],
                    }])],
                )],
            ),
        ),
        (
            "add to new context",
            Message {
                version,
                mid: mid(),
                body: Body::Transactions(vec![Transaction::Request {
                    id: 20,
                    actions: vec![ActionRequest {
                        context: ContextId::Choose,
                        props: vec![ContextProp::Priority(3)],
                        commands: vec![
                            cmd(CommandKind::Add, "aaln/1", vec![]),
                            cmd(
                                CommandKind::Add,
                                "$",
                                vec![Descriptor::Media(media.clone())],
                            ),
                        ],
                    }],
                }]),
            },
        ),
        (
            "add reply with sdp",
            reply(
                version,
                MId::Device("gw1".into()),
                20,
                ContextId::Id(1),
                vec![
                    cmd(CommandKind::Add, "aaln/1", vec![]),
                    cmd(
                        CommandKind::Add,
                        "rtp/1",
                        vec![Descriptor::Media(media.clone())],
                    ),
                ],
            ),
        ),
        (
            "modify remote sdp",
            request(
                version,
                mid(),
                21,
                ContextId::Id(1),
                vec![cmd(
                    CommandKind::Modify,
                    "rtp/1",
                    vec![Descriptor::Media(media.clone())],
                )],
            ),
        ),
        (
            "modify termination state",
            request(
                version,
                mid(),
                22,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Modify,
                    "aaln/1",
                    vec![Descriptor::Media(ts_media)],
                )],
            ),
        ),
        (
            "move",
            request(
                version,
                mid(),
                23,
                ContextId::Id(2),
                vec![cmd(CommandKind::Move, "aaln/3", vec![])],
            ),
        ),
        (
            "subtract",
            request(
                version,
                mid(),
                24,
                ContextId::Id(1),
                vec![Command {
                    kind: CommandKind::Subtract,
                    optional: false,
                    wildcard_reply: true,
                    termination: tid("*"),
                    descriptors: vec![Descriptor::Audit(vec![])],
                }],
            ),
        ),
        (
            "subtract reply with statistics",
            reply(
                version,
                mid(),
                24,
                ContextId::Id(1),
                vec![cmd(
                    CommandKind::Subtract,
                    "rtp/1",
                    vec![Descriptor::Statistics(vec![
                        prop("nt/os", PropValue::Equal("45123".into())),
                        prop("nt/dur", PropValue::Equal("40".into())),
                    ])],
                )],
            ),
        ),
        (
            "auditvalue",
            request(
                version,
                mid(),
                25,
                ContextId::Null,
                vec![cmd(
                    CommandKind::AuditValue,
                    "aaln/1",
                    vec![Descriptor::Audit(vec![
                        AuditItem::Media,
                        AuditItem::Events,
                        AuditItem::Packages,
                    ])],
                )],
            ),
        ),
        (
            "auditvalue root wildcard",
            request(
                version,
                mid(),
                26,
                ContextId::Null,
                vec![cmd(
                    CommandKind::AuditValue,
                    "aaln/*",
                    vec![Descriptor::Audit(vec![])],
                )],
            ),
        ),
        (
            "auditcapabilities",
            request(
                version,
                mid(),
                27,
                ContextId::Null,
                vec![cmd(
                    CommandKind::AuditCapabilities,
                    "aaln/1",
                    vec![Descriptor::Audit(vec![AuditItem::Signals])],
                )],
            ),
        ),
        (
            "auditvalue reply packages",
            reply(
                version,
                mid(),
                25,
                ContextId::Null,
                vec![cmd(
                    CommandKind::AuditValue,
                    "aaln/1",
                    vec![Descriptor::Packages(vec!["al-1".into(), "dd-1".into()])],
                )],
            ),
        ),
        (
            "notify hook",
            request(
                version,
                MId::Device("gw1".into()),
                30,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Notify,
                    "aaln/1",
                    vec![Descriptor::ObservedEvents(ObservedEvents {
                        request_id: 1,
                        events: vec![ObservedEvent {
                            timestamp: Some("20261207T06300000".into()),
                            name: "al/of".into(),
                            stream: None,
                            params: vec![],
                        }],
                    })],
                )],
            ),
        ),
        (
            "notify digits",
            request(
                version,
                MId::Device("gw1".into()),
                31,
                ContextId::Null,
                vec![cmd(
                    CommandKind::Notify,
                    "aaln/1",
                    vec![Descriptor::ObservedEvents(ObservedEvents {
                        request_id: 2,
                        events: vec![ObservedEvent {
                            timestamp: None,
                            name: "dd/ce".into(),
                            stream: None,
                            params: vec![
                                prop("ds", PropValue::Equal("*7202".into())),
                                prop("Meth", PropValue::Equal("UM".into())),
                            ],
                        }],
                    })],
                )],
            ),
        ),
        (
            "notify reply",
            reply(
                version,
                mid(),
                31,
                ContextId::Null,
                vec![cmd(CommandKind::Notify, "aaln/1", vec![])],
            ),
        ),
        (
            "reply with error",
            Message {
                version,
                mid: mid(),
                body: Body::Transactions(vec![Transaction::Reply {
                    id: 40,
                    imm_ack: false,
                    result: ReplyResult::Error(ErrorDescriptor {
                        code: 430,
                        text: Some("Unknown TerminationID".into()),
                    }),
                }]),
            },
        ),
        (
            "reply with action error",
            Message {
                version,
                mid: mid(),
                body: Body::Transactions(vec![Transaction::Reply {
                    id: 41,
                    imm_ack: true,
                    result: ReplyResult::Actions(vec![ActionReply {
                        context: ContextId::Id(5),
                        props: vec![],
                        commands: vec![cmd(CommandKind::Modify, "aaln/1", vec![])],
                        error: Some(ErrorDescriptor {
                            code: 501,
                            text: Some("Not Implemented".into()),
                        }),
                    }]),
                }]),
            },
        ),
        (
            "pending",
            Message {
                version,
                mid: mid(),
                body: Body::Transactions(vec![Transaction::Pending { id: 42 }]),
            },
        ),
        (
            "response ack",
            Message {
                version,
                mid: mid(),
                body: Body::Transactions(vec![Transaction::ResponseAck(vec![(1, 1), (4, 7)])]),
            },
        ),
        (
            "message error",
            Message {
                version,
                mid: mid(),
                body: Body::Error(ErrorDescriptor {
                    code: 400,
                    text: Some("Syntax error in message".into()),
                }),
            },
        ),
        (
            "ipv6 mid, two transactions",
            Message {
                version,
                mid: MId::Ip {
                    addr: "::1".parse().expect("v6"),
                    port: Some(2944),
                },
                body: Body::Transactions(vec![
                    Transaction::Pending { id: 1 },
                    Transaction::Pending { id: 2 },
                ]),
            },
        ),
    ];
    // An optional command in an emergency context.
    let mut opt = cmd(
        CommandKind::Modify,
        "aaln/4",
        vec![Descriptor::Events(Events {
            request_id: None,
            events: vec![],
        })],
    );
    opt.optional = true;
    v.push((
        "optional command, emergency context",
        Message {
            version,
            mid: mid(),
            body: Body::Transactions(vec![Transaction::Request {
                id: 50,
                actions: vec![ActionRequest {
                    context: ContextId::Id(9),
                    props: vec![ContextProp::Emergency],
                    commands: vec![opt],
                }],
            }]),
        },
    ));
    v
}
