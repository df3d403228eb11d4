//! RFC 4475 torture messages (files in `tests/torture/`, typed in from the RFC; the long
//! values of `longreq` and the binary part of `mpart01` are rebuilt in the same spirit).
//! Valid ones parse and validate; invalid ones fail with the error the RFC calls for, or parse
//! and are flagged by the check the RFC names. None panics, as datagram or as stream.

mod common;

use ivm_sip::message::{Contacts, HeaderError, Host, Invalid, Message, Method, ParseError, Uri};

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/torture/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Result<Message, ParseError> {
    Message::parse(&load(name))
}

fn ok(name: &str) -> Message {
    let m = parse(name).unwrap_or_else(|e| panic!("{name} should parse: {e}"));
    let v = match &m {
        Message::Request(r) => r.validate(),
        Message::Response(r) => r.validate(),
    };
    v.unwrap_or_else(|e| panic!("{name} should validate: {e}"));
    m
}

fn req(m: Message) -> ivm_sip::message::Request {
    match m {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

fn invalid(name: &str) -> Invalid {
    let m = parse(name).unwrap_or_else(|e| panic!("{name} should parse: {e}"));
    match m {
        Message::Request(r) => r.validate().expect_err(name),
        Message::Response(r) => r.validate().expect_err(name),
    }
}

#[test]
fn valid_wsinv() {
    let r = req(ok("wsinv"));
    let h = &r.headers;
    assert_eq!(h.to().expect("to").tag().as_deref(), Some("1918181833n"));
    let from = h.from().expect("from");
    assert_eq!(from.display.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.tag().as_deref(), Some("98asjd8"));
    assert_eq!(h.max_forwards().expect("mf"), Some(68));
    assert_eq!(h.cseq().expect("cseq").seq, 9);
    let vias = h.vias().expect("vias");
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch().as_deref(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch().as_deref(), Some("z9hG4bK30239"));
    assert_eq!(h.get("Subject"), Some(""));
    assert_eq!(
        h.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let Contacts::List(c) = h.contacts().expect("contacts") else {
        panic!("star")
    };
    assert_eq!(c[0].params.get("q").as_deref(), Some("0.33"));
    assert_eq!(c[0].display.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(r.body.len(), 150);
    assert_eq!(h.routes().expect("route").len(), 1);
}

#[test]
fn valid_intmeth() {
    let r = req(ok("intmeth"));
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let to = r.headers.to().expect("to");
    assert_eq!(
        to.display.as_deref(),
        Some("BEL:\u{7} NUL:\u{0} DEL:\u{7f}")
    );
    assert_eq!(r.headers.get("extensionHeader-!.%*+_`'~"), Some("大停電"));
    assert_eq!(
        r.headers
            .from()
            .expect("from")
            .params
            .get("fromParam''~+*_!.-%")
            .as_deref(),
        Some("работающий")
    );
    assert_eq!(
        r.headers.call_id().expect("call-id"),
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
}

#[test]
fn valid_escapes() {
    let r = req(ok("esc01"));
    let u = r.uri.as_sip().expect("sip");
    assert_eq!(u.user_unescaped().as_deref(), Some("sips:user@example.com"));
    assert_eq!(
        r.headers.content_type().expect("ct").map(|c| c.subtype),
        Some("sdp".into())
    );

    let r = req(ok("escnull"));
    let Contacts::List(c) = r.headers.contacts().expect("contacts") else {
        panic!("star")
    };
    assert_eq!(c.len(), 2);
    let user = c[1]
        .uri
        .as_sip()
        .and_then(|u| u.user.clone())
        .expect("user");
    assert_eq!(ivm_sip::message::unescape(&user), vec![0, 0]);

    let r = req(ok("esc02"));
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    let Contacts::List(c) = r.headers.contacts().expect("contacts") else {
        panic!("star")
    };
    assert_eq!(c.len(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        r.headers.to().expect("to").display.as_deref(),
        Some("%Z%45")
    );
}

#[test]
fn valid_misc() {
    assert_eq!(
        req(ok("lwsdisp"))
            .headers
            .from()
            .expect("from")
            .display
            .as_deref(),
        Some("caller")
    );
    let r = req(ok("longreq"));
    assert_eq!(r.headers.vias().expect("vias").len(), 33);
    assert!(r.headers.to().expect("to").display.expect("display").len() > 140);

    // Only the first message of the datagram counts; the trailing INVITE is ignored.
    let r = req(ok("dblreq"));
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());

    let r = req(ok("semiuri"));
    assert_eq!(
        r.uri.as_sip().and_then(|u| u.user.as_deref()),
        Some("user;par=u%40example.net")
    );
    assert_eq!(r.headers.values("Accept").len(), 6);

    let r = req(ok("transports"));
    let vias = r.headers.vias().expect("vias");
    let kinds: Vec<_> = vias
        .iter()
        .map(|v| v.transport_kind().map(|t| t.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![Some("UDP"), Some("SCTP"), Some("TLS"), None, Some("TCP")]
    );

    let r = req(ok("mpart01"));
    let ct = r.headers.content_type().expect("ct").expect("some");
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(
        ct.params.get("boundary").as_deref(),
        Some("7a9cbec02ceef655")
    );
    assert!(r.body.windows(3).any(|w| w == [0xfd, 0xfe, 0xff]));

    let Message::Response(r) = ok("unreason") else {
        panic!("response")
    };
    assert_eq!(r.status, 200);
    assert!(r.reason.ends_with("простое"));
    assert_eq!(r.body.len(), 154);
    let Message::Response(r) = ok("noreason") else {
        panic!("response")
    };
    assert_eq!((r.status, r.reason.as_str()), (100, ""));
}

#[test]
fn invalid_rejected_by_parser() {
    assert!(matches!(
        parse("clerr"),
        Err(ParseError::Truncated { declared: 9999, .. })
    ));
    assert_eq!(parse("ncl"), Err(ParseError::ContentLength));
    assert!(matches!(parse("ltgtruri"), Err(ParseError::RequestUri(_))));
    assert_eq!(parse("lwsruri"), Err(ParseError::RequestLine));
    assert_eq!(parse("lwsstart"), Err(ParseError::RequestLine));
    assert_eq!(parse("trws"), Err(ParseError::RequestLine));
    assert_eq!(parse("mcl01"), Err(ParseError::MultipleContentLength));
    assert_eq!(parse("bigcode"), Err(ParseError::StatusCode));
}

#[test]
fn invalid_rejected_by_validation() {
    let header = |name: &str, e: Invalid| match e {
        Invalid::Header(HeaderError::Invalid { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected bad {name}, got {other:?}"),
    };
    header("Via", invalid("badinv01"));
    header("CSeq", invalid("scalar02"));
    header("CSeq", invalid("scalarlg"));
    header("To", invalid("quotbal"));
    header("Contact", invalid("regbadct"));
    header("To", invalid("badaspec"));
    header("From", invalid("baddn"));
    assert_eq!(invalid("escruri"), Invalid::UriHeaders);
    let e = invalid("badvers");
    assert!(matches!(e, Invalid::Version(_)));
    assert_eq!(e.status(), 505);
    assert_eq!(invalid("mismatch01"), Invalid::CSeqMethod);
    assert_eq!(invalid("mismatch02"), Invalid::CSeqMethod);
    assert!(matches!(
        invalid("insuf"),
        Invalid::Header(HeaderError::Missing(_))
    ));
    assert!(matches!(invalid("multi01"), Invalid::Duplicate(_)));
    let e = invalid("unksm");
    assert!(matches!(e, Invalid::Scheme(_)));
    assert_eq!(e.status(), 416);
    for name in [
        "badinv01",
        "scalar02",
        "quotbal",
        "escruri",
        "insuf",
        "multi01",
        "mismatch01",
    ] {
        assert_eq!(invalid(name).status(), 400, "{name}");
    }
}

#[test]
fn parseable_but_flagged() {
    // baddate: the Date is not GMT; we never read Date, so the request is acceptable.
    let r = req(ok("baddate"));
    assert!(r.headers.get("Date").is_some_and(|d| d.ends_with("EST")));
    // badbranch: the bare magic cookie is not an RFC 3261 branch.
    let r = req(ok("badbranch"));
    assert!(!r.headers.top_via().expect("via").has_rfc3261_branch());
    // bext01: four unknown option tags → 420 with Unsupported.
    let r = req(ok("bext01"));
    assert_eq!(r.unsupported_extensions(&["100rel"]).len(), 4);
    // bcast: a Via naming the broadcast address: never send a response there.
    let Message::Response(r) = ok("bcast") else {
        panic!("response")
    };
    let vias = r.headers.vias().expect("vias");
    assert!(vias[1].sent_by.host.is_broadcast_or_multicast());
    assert!(matches!(vias[1].sent_by.host, Host::V4(_)));
    // zeromf: Max-Forwards 0 is valid for a UAS (a proxy would answer 483).
    assert_eq!(
        req(ok("zeromf")).headers.max_forwards().expect("mf"),
        Some(0)
    );
    // The Request-URI of unksm is kept opaque so it can be answered 416.
    assert!(matches!(
        req(parse("unksm").expect("parse")).uri,
        Uri::Other { .. }
    ));
}

#[test]
fn none_panics_as_datagram_or_stream() {
    let dir = format!("{}/tests/torture", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "sip") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        if let Ok(m) = Message::parse(&bytes) {
            common::exercise(&m);
        }
        for chunk in [1, 7, 64, 100_000] {
            common::frame_all(&bytes, chunk);
        }
        n += 1;
    }
    assert!(n >= 40, "only {n} torture files");
}
