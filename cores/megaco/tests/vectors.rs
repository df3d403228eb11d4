//! Byte vectors: the residential gateway call flow of RFC 3015 Appendix A.1 (H.248.1
//! Appendix I), in its own layout, with comments; malformed input and its errors; and the
//! round trip (decode, encode pretty and compact, decode equal) over all of them.

mod common;

use ivm_megaco::digitmap::{Match, Symbol};
use ivm_megaco::*;

const FLOW: &[&str] = &[
    // 1. MG1 registers.
    "MEGACO/1 [124.124.124.222]:55555\nTransaction = 9998 {\n    Context = - {\n        ServiceChange = ROOT {Services {\n            Method=Restart,\n            ServiceChangeAddress=55555, Profile=ResGW/1}\n        }\n    }\n}\n",
    // 2. The MGC accepts.
    "MEGACO/1 [123.123.123.4]:55555\nReply = 9998 {\n   Context = - {ServiceChange = ROOT {\n      Services {ServiceChangeAddress=55555, Profile=ResGW/1} } }\n}\n",
    // 3. The MGC asks for off-hook.
    "MEGACO/1 [123.123.123.4]:55555\nTransaction = 9999 {\n    Context = - {\n        Modify = 11111 {\n            Media { Stream = 1 {\n                     LocalControl {\n                         Mode = SendReceive,\n                         tdmc/gain=2,  ; in dB,\n                         tdmc/ec=on\n                     }\n                }\n            },\n            Events = 2222 {al/of}\n        }\n    }\n}\n",
    // 4.
    "MEGACO/1 [124.124.124.222]:55555\nReply = 9999 {\n   Context = - {Modify = 11111}\n}\n",
    // 5. Off-hook.
    "MEGACO/1 [124.124.124.222]:55555\nTransaction = 10000 {\n   Context = - {\n       Notify = 11111 {ObservedEvents =2222 {\n          19990729T22000000:al/of}}\n   }\n}\n",
    // 6.
    "MEGACO/1 [123.123.123.4]:55555\nReply = 10000 {\n   Context = - {Notify = 11111}\n}\n",
    // 7. Dial tone, on-hook and digits with a digit map (RFC 3015 writes * and # in it).
    "MEGACO/1 [123.123.123.4]:55555\nTransaction = 10001 {\n    Context = - {\n        Modify = 11111 {\n            Events = 2223 {\n                al/on, dd/ce {DigitMap=Dialplan0}\n                },\n            Signals {cg/dt},\n            DigitMap= Dialplan0{\n(0S| 00S|[1-7]xLxx|8Lxxxxxxx|#xxxxxxx|*xx|9L1xxxxxxxxxx|9L011x.S)}\n        }\n    }\n}\n",
    // 8. The number dialled.
    "MEGACO/1 [124.124.124.222]:55555\nTransaction = 10002 {\n   Context = - {\n       Notify = 11111 {ObservedEvents =2223 {\n          19990729T22010001:dd/ce{ds=\"916135551212\",Meth=UM}}}\n   }\n}\n",
    // 9. A context with the line and a new RTP termination.
    "MEGACO/1 [123.123.123.4]:55555\nTransaction = 10003 {\n    Context = $ {\n        Add = A4444,\n        Add = $ {\n            Media {\n                Stream = 1 {\n                    LocalControl {\n                        Mode = ReceiveOnly,\n                        nt/jit=40 ; in ms\n                    },\n                    Local {\nv=0\nc=IN IP4 $\nm=audio $ RTP/AVP 4\na=ptime:30\nv=0\nc=IN IP4 $\nm=audio $ RTP/AVP 0\n                    }\n                }\n            }\n        }\n    }\n}\n",
    // 10. The reply with the chosen SDP.
    "MEGACO/1 [124.124.124.222]:55555\nReply = 10003 {\n   Context = 2000 {\n      Add = A4444,\n      Add=A4445{\n         Media {\n            Stream = 1 {\n                Local {\nv=0\no=- 2890844526 2890842807 IN IP4 124.124.124.222\ns=-\nt= 0 0\nc=IN IP4 124.124.124.222\nm=audio 2222 RTP/AVP 4\na=ptime:30\na=recvonly\n                } ; RTP profile for G.723.1 is 4\n            }\n         }\n      }\n   }\n}\n",
    // 11. Ringing the called line.
    "MEGACO/1 [123.123.123.4]:55555\nTransaction = 50003 {\n    Context = - {\n        Modify = A5555 { Events = 1234{al/of},\n            Signals {al/ri}\n        }\n    }\n}\n",
    // 12. Ringback on the caller's line.
    "MEGACO/1 [123.123.123.4]:55555\nTransaction = 10005 {\n    Context = 2000 {\n        Modify = A4444 {\n            Signals { cg/rt }\n        }\n    }\n}\n",
    // 13. Tear-down with statistics.
    "MEGACO/1 [124.124.124.222]:55555\nReply = 50008 {\n    Context = 5000 {\n        Subtract = A5555 {\n            Statistics {\n                nt/os=45123, ; Octets Sent\n                nt/dur=40 ; in seconds\n            }\n        },\n        Subtract = A5556 {\n            Statistics {\n                rtp/ps=1245, ; packets sent\n                nt/os=62345, ; octets sent\n                rtp/pr=780, ; packets received\n                nt/or=45123, ; octets received\n                rtp/pl=10, ;  % packets lost\n                rtp/jit=27,\n                rtp/delay=48 ; average latency\n            }\n        }\n    }\n}\n",
];

fn round_trip(msg: &Message) {
    for form in [Form::Pretty, Form::Compact] {
        let text = encode(msg, form);
        assert_eq!(
            decode(text.as_bytes()).as_ref(),
            Ok(msg),
            "{form:?}:\n{text}"
        );
    }
}

fn first_command(m: &Message) -> &Command {
    match &m.body {
        Body::Transactions(t) => match &t[0] {
            Transaction::Request { actions, .. } => &actions[0].commands[0],
            Transaction::Reply {
                result: ReplyResult::Actions(a),
                ..
            } => &a[0].commands[0],
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc3015_residential_call_flow_decodes_and_round_trips() {
    let msgs: Vec<Message> = FLOW
        .iter()
        .map(|t| decode(t.as_bytes()).unwrap_or_else(|e| panic!("{e}:\n{t}")))
        .collect();
    for m in &msgs {
        round_trip(m);
    }
    // 1: registration.
    assert_eq!(
        msgs[0].mid,
        MId::Ip {
            addr: "124.124.124.222".parse().expect("ip"),
            port: Some(55555)
        }
    );
    let Descriptor::Services(sc) = &first_command(&msgs[0]).descriptors[0] else {
        panic!()
    };
    assert_eq!(sc.method, Some(Method::Restart));
    assert_eq!(sc.address, Some(ScAddress::Port(55555)));
    assert_eq!(sc.profile.as_deref(), Some("ResGW/1"));
    // 3: local control with a comment inside.
    let Descriptor::Media(media) = &first_command(&msgs[2]).descriptors[0] else {
        panic!()
    };
    let lc = media.streams[0]
        .1
        .local_control
        .as_ref()
        .expect("LocalControl");
    assert_eq!(lc.mode, Some(StreamMode::SendRecv));
    assert_eq!(lc.properties.len(), 2);
    // 5: the off-hook with its time stamp.
    let Descriptor::ObservedEvents(oe) = &first_command(&msgs[4]).descriptors[0] else {
        panic!()
    };
    assert_eq!((oe.request_id, oe.events[0].name.as_str()), (2222, "al/of"));
    assert_eq!(oe.events[0].timestamp.as_deref(), Some("19990729T22000000"));
    // 7: the digit map matches what RFC 3015 says it should.
    let Descriptor::DigitMap(dm) = &first_command(&msgs[6]).descriptors[2] else {
        panic!()
    };
    assert_eq!(dm.name.as_deref(), Some("Dialplan0"));
    let map = &dm.value.as_ref().expect("value").map;
    assert_eq!(
        map.evaluate(&Symbol::keys("*12").expect("keys")),
        Match::Full
    );
    assert_eq!(
        map.evaluate(&Symbol::keys("5").expect("keys")),
        Match::Partial(digitmap::Timer::Long)
    );
    // 8: the digits, quoted.
    let Descriptor::ObservedEvents(oe) = &first_command(&msgs[7]).descriptors[0] else {
        panic!()
    };
    assert_eq!(
        oe.events[0].params[0],
        common::prop("ds", PropValue::Equal("916135551212".into()))
    );
    // 9: context $ and termination $, SDP kept as written.
    let Body::Transactions(t) = &msgs[8].body else {
        panic!()
    };
    let Transaction::Request { actions, .. } = &t[0] else {
        panic!()
    };
    assert_eq!(actions[0].context, ContextId::Choose);
    assert!(actions[0].commands[1].termination.is_wildcard());
    let Descriptor::Media(media) = &actions[0].commands[1].descriptors[0] else {
        panic!()
    };
    assert!(media.streams[0]
        .1
        .local
        .as_ref()
        .expect("Local")
        .starts_with("v=0\nc=IN IP4 $\n"));
    // 13: two statistics replies.
    let Body::Transactions(t) = &msgs[12].body else {
        panic!()
    };
    let Transaction::Reply {
        result: ReplyResult::Actions(a),
        ..
    } = &t[0]
    else {
        panic!()
    };
    assert_eq!(
        (a[0].context, a[0].commands.len()),
        (ContextId::Id(5000), 2)
    );
}

#[test]
fn compact_form_and_keyword_case_read_the_same() {
    let pretty = decode(FLOW[0].as_bytes()).expect("pretty");
    let compact =
        decode(b"!/1 [124.124.124.222]:55555 T=9998{C=-{SC=ROOT{SV{MT=RS,AD=55555,PF=ResGW/1}}}}")
            .expect("compact");
    let lower = decode(b"megaco/1 [124.124.124.222]:55555\n; a comment line\ntransaction=9998{context=-{servicechange=ROOT{services{method=restart,servicechangeaddress=55555,profile=ResGW/1}}}}").expect("lower case");
    assert_eq!(pretty, compact);
    assert_eq!(pretty, lower);
    assert_eq!(
        encode(&pretty, Form::Compact),
        "!/1 [124.124.124.222]:55555\nT=9998{C=-{SC=ROOT{SV{MT=RS,AD=55555,PF=ResGW/1}}}}\n"
    );
}

#[test]
fn every_corpus_message_round_trips_in_both_forms() {
    for version in 1..=3 {
        for (_, msg) in common::corpus(version) {
            round_trip(&msg);
        }
    }
}

#[test]
fn mid_forms() {
    for (text, mid) in [
        (
            "!/2 [::1]:2944 PN=1{}",
            MId::Ip {
                addr: "::1".parse().expect("v6"),
                port: Some(2944),
            },
        ),
        (
            "!/2 [10.0.0.1] PN=1{}",
            MId::Ip {
                addr: "10.0.0.1".parse().expect("v4"),
                port: None,
            },
        ),
        (
            "!/3 <mg1.example.net>:2944 PN=1{}",
            MId::Domain {
                name: "mg1.example.net".into(),
                port: Some(2944),
            },
        ),
        ("!/3 gw_office/1 PN=1{}", MId::Device("gw_office/1".into())),
    ] {
        let m = decode(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(m.mid, mid);
        round_trip(&m);
    }
}

#[test]
fn malformed_input_gets_a_clear_error() {
    use DecodeError::*;
    let syntax =
        |offset| move |e: &DecodeError| matches!(e, Syntax { offset: o, .. } if *o == offset);
    type Check = Box<dyn Fn(&DecodeError) -> bool>;
    let cases: Vec<(&str, Check)> = vec![
        ("", Box::new(syntax(0))),
        (
            "HELLO/1 [1.2.3.4] T=1{C=-{N=a{OE=1{x/y}}}}",
            Box::new(|e| matches!(e, Syntax { offset: 0, .. })),
        ),
        ("!/4 [1.2.3.4] PN=1{}", Box::new(|e| *e == Version(4))),
        ("!/1 [1.2.3.4]", Box::new(|e| matches!(e, Syntax { .. }))),
        ("!/1 [1.2.3.400]:1 PN=1{}", Box::new(syntax(5))),
        ("!/1 [1.2.3.4]:99999 PN=1{}", Box::new(syntax(14))),
        (
            "!/1 [1.2.3.4]PN=1{}",
            Box::new(|e| matches!(e, Syntax { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{N=a{OE=1{x/y}}}",
            Box::new(|e| matches!(e, Syntax { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{N=a{OE=1{x/y}}}}}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "a transaction",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{N=a}}",
            Box::new(|e| {
                matches!(
                    e,
                    Missing {
                        command: CommandKind::Notify,
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{SC=ROOT}}",
            Box::new(|e| {
                matches!(
                    e,
                    Missing {
                        command: CommandKind::ServiceChange,
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{AV=a/1}}",
            Box::new(|e| {
                matches!(
                    e,
                    Missing {
                        command: CommandKind::AuditValue,
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{XX=a}}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "a command",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=x{MF=a}}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "a context id",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{MF=-a}}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "a termination id",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{MF=a{M{L{v=0}, L{v=0}}}}}",
            Box::new(|e| matches!(e, Duplicate("Local", _))),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{MF=a{DM=d{(1[9-2])}}}}",
            Box::new(|e| matches!(e, DigitMap { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{MF=a{MD[V18]{}}}}",
            Box::new(|e| matches!(e, Unsupported { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{N=a{OE=1{2026:al/of}}}}",
            Box::new(|e| matches!(e, Syntax { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{MF=a{E=1{al/of{ds=\"a\tb\x01\"}}}}}",
            Box::new(|e| matches!(e, Syntax { .. })),
        ),
        (
            "!/1 [1.2.3.4] T=1{C=-{SC=ROOT{SV{MT=Reboot}}}}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "a ServiceChange method",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 [1.2.3.4] K{5-3}",
            Box::new(|e| matches!(e, Syntax { .. })),
        ),
        (
            "!/1 [1.2.3.4] ER=12345{}",
            Box::new(|e| {
                matches!(
                    e,
                    Syntax {
                        expected: "an error code",
                        ..
                    }
                )
            }),
        ),
        (
            "!/1 MTP{0001} PN=1{}",
            Box::new(|e| matches!(e, Unsupported { .. })),
        ),
    ];
    for (text, ok) in cases {
        match decode(text.as_bytes()) {
            Err(e) => assert!(ok(&e), "{text:?}: unexpected error {e:?}"),
            Ok(m) => panic!("{text:?} decoded: {m:?}"),
        }
    }
}

#[test]
fn bounds_are_enforced() {
    let big = vec![b' '; MAX_MESSAGE + 1];
    assert_eq!(decode(&big), Err(DecodeError::TooLarge(MAX_MESSAGE + 1)));
    // The deepest nesting the grammar has (7) decodes.
    let deep = "!/1 [1.2.3.4] T=1{C=-{MF=a{M{ST=1{O{a/b={x,y}}}}}}}";
    assert!(decode(deep.as_bytes()).is_ok(), "{deep}");
    let many = format!("!/1 [1.2.3.4] K{{{}}}", vec!["1"; MAX_ITEMS + 1].join(","));
    assert!(matches!(
        decode(many.as_bytes()),
        Err(DecodeError::TooMany(_))
    ));
    assert_eq!(MAX_DEPTH, 8);
}

#[test]
fn fuzz_seeds_decode_and_round_trip() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/megaco_message");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/megaco_message") {
        let path = entry.expect("entry").path();
        if !path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("seed-"))
        {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read seed");
        let msg = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        round_trip(&msg);
        n += 1;
    }
    assert!(n >= 12, "{n} seeds");
}
