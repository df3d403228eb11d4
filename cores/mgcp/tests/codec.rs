//! Byte vectors for the codec: every verb, responses with SDP, piggy-backing, line endings,
//! and each decode error. The messages follow the examples of RFC 3435 (§2.3, §3.2, §3.3,
//! Appendix E) and RFC 3660 (the line package), rewritten with this box's names.

use ivm_mgcp::digitmap::{DigitMap, Outcome};
use ivm_mgcp::endpoint::EndpointError;
use ivm_mgcp::event::{Action, EventName};
use ivm_mgcp::message::{
    self, decode, encode, Command, DecodeError, Message, ParamError, Params, Response, Verb,
};

fn one(bytes: &str) -> Message {
    let mut all = decode(bytes.as_bytes()).unwrap_or_else(|e| panic!("{e}: {bytes:?}"));
    assert_eq!(all.len(), 1, "one message in {bytes:?}");
    let m = all.remove(0);
    round_trip(&m);
    m
}

/// What the codec encodes decodes to the same message.
fn round_trip(m: &Message) {
    let bytes = m.encode();
    let again = decode(&bytes).expect("our encoding decodes");
    assert_eq!(
        again,
        vec![m.clone()],
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

fn command(m: Message) -> Command {
    match m {
        Message::Command(c) => c,
        Message::Response(r) => panic!("a response: {r:?}"),
    }
}

fn response(m: Message) -> Response {
    match m {
        Message::Response(r) => r,
        Message::Command(c) => panic!("a command: {c:?}"),
    }
}

#[test]
fn every_verb() {
    let cases = [
        ("EPCF 2012 aaln/1@rgw.example.net MGCP 1.0\r\nB: e:mu\r\n", Verb::Epcf),
        (
            "CRCX 1204 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nC: A3C47F21456789F0\r\nL: p:10, a:PCMU\r\nM: recvonly\r\n",
            Verb::Crcx,
        ),
        (
            "MDCX 1210 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nC: A3C47F21456789F0\r\nI: FDE234C8\r\nM: sendrecv\r\n",
            Verb::Mdcx,
        ),
        (
            "DLCX 1210 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nC: A3C47F21456789F0\r\nI: FDE234C8\r\n",
            Verb::Dlcx,
        ),
        (
            "RQNT 1201 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nN: ca@ca1.whatever.net:5678\r\nX: 0123456789AC\r\nR: L/hd(N)\r\nS: L/rg\r\n",
            Verb::Rqnt,
        ),
        (
            "NTFY 2002 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nN: ca@ca1.whatever.net:5678\r\nX: 0123456789AC\r\nO: L/hd,D/9,D/1,D/2\r\n",
            Verb::Ntfy,
        ),
        ("AUEP 1201 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nF: A\r\n", Verb::Auep),
        (
            "AUCX 1203 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nI: 32F345E2\r\nF: C,N,L,M,LC,P\r\n",
            Verb::Aucx,
        ),
        (
            "RSIP 1200 *@rgw-2567.whatever.net MGCP 1.0\r\nRM: restart\r\nRD: 0\r\n",
            Verb::Rsip,
        ),
        ("MESG 77 aaln/1@gw MGCP 1.0\r\n", Verb::Other("MESG".into())),
    ];
    for (bytes, verb) in cases {
        let c = command(one(bytes));
        assert_eq!(c.verb, verb);
        assert_eq!(c.version, "1.0");
        // Canonical bytes (upper-case names, CRLF) print back exactly.
        assert_eq!(
            String::from_utf8(Message::Command(c).encode()).expect("utf8"),
            bytes
        );
    }
}

#[test]
fn rqnt_with_embedded_request_and_digit_map() {
    // RFC 3435 Appendix E.2 style: off-hook starts dial tone and digit collection at once.
    let bytes = "RQNT 1201 aaln/1@rgw-2567.whatever.net MGCP 1.0\n\
        N: ca@ca1.whatever.net:5678\n\
        X: 0123456789AC\n\
        R: L/hd(A, E(S(L/dl),R(L/oc(N),L/hu(N),D/[0-9#*T](D))))\n\
        D: (0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)\n";
    let c = command(one(bytes));
    let r = c.params.requested_events().expect("R").expect("parses");
    assert!(r[0].event.is("L", "hd"));
    assert_eq!(r[0].actions[0], Action::Accumulate);
    assert!(matches!(&r[0].actions[1], Action::Embedded(e) if e.starts_with("S(L/dl)")));
    let map: DigitMap = c.params.digit_map().expect("D").expect("parses");
    assert_eq!(
        map.check("201"),
        Outcome::Partial {
            timer_completes: false,
            matches: false
        }
    );
    assert_eq!(map.check("2015"), Outcome::Complete);
}

#[test]
fn line_package_signals() {
    // RFC 3660: ring with caller id, the message-waiting lamp, dial tone, busy.
    let bytes = "RQNT 1300 aaln/2@gw.example MGCP 1.0\r\n\
        X: 2A\r\n\
        R: L/hd(N)\r\n\
        S: L/rg, L/ci(12/07/05/40,\"201\",\"Doe, Alice\"), L/vmwi(+)\r\n";
    let c = command(one(bytes));
    let s = c.params.signal_requests().expect("S").expect("parses");
    assert!(s[0].is("L", "rg"));
    assert!(s[1].is("L", "ci"));
    assert_eq!(
        s[1].params.as_deref(),
        Some("12/07/05/40,\"201\",\"Doe, Alice\"")
    );
    assert_eq!(s[2], EventName::with_params("L", "vmwi", "+"));
    let ntfy = command(one(
        "NTFY 7 aaln/2@gw.example MGCP 1.0\nX: 2A\nO: L/hd, D/*, D/9, D/7\n",
    ));
    let digits: String = ntfy
        .params
        .observed_events()
        .expect("O")
        .expect("parses")
        .iter()
        .filter_map(EventName::digit)
        .collect();
    assert_eq!(digits, "*97");
}

#[test]
fn responses_with_sdp() {
    let bytes = "200 1204 OK\r\n\
        I: FDE234C8\r\n\
        \r\n\
        v=0\r\n\
        o=- 25678 753849 IN IP4 128.96.41.1\r\n\
        s=-\r\n\
        c=IN IP4 128.96.41.1\r\n\
        t=0 0\r\n\
        m=audio 3456 RTP/AVP 0\r\n";
    let r = response(one(bytes));
    assert_eq!((r.code, r.id, r.comment.as_str()), (200, 1204, "OK"));
    assert_eq!(r.params.get("i"), Some("FDE234C8"));
    let sdp = r.sdp().expect("body").expect("SDP parses");
    assert_eq!(sdp.media[0].port, 3456);
    assert_eq!(
        String::from_utf8(Message::Response(r).encode()).expect("utf8"),
        bytes
    );
    // LF only, and an MDCX carrying the remote description.
    let mdcx = command(one(
        "MDCX 1210 aaln/1@gw MGCP 1.0\nC: A3C4\nI: FDE234C8\nM: sendrecv\n\nv=0\no=- 4723891 7428910 IN IP4 128.96.63.25\ns=-\nc=IN IP4 128.96.63.25\nt=0 0\nm=audio 1296 RTP/AVP 0\n",
    ));
    let sdp = mdcx.sdp().expect("body").expect("SDP parses");
    assert_eq!(sdp.media[0].port, 1296);
    // Statistics on DLCX, a package code, a bare code, a code with a long comment.
    let dl = response(one(
        "250 1210 OK\nP: PS=1245, OS=62345, PR=780, OR=45123, PL=10, JI=27, LA=48\n",
    ));
    assert_eq!(dl.code, 250);
    let pkg = response(one("800 1211 /L  unsupported  signal\n"));
    assert_eq!(pkg.package.as_deref(), Some("L"));
    assert_eq!(pkg.comment, "unsupported  signal");
    let bare = response(one("000 1212"));
    assert!(bare.is_ack() && bare.comment.is_empty());
    let prov = response(one("100 1213 Pending\n"));
    assert!(prov.is_provisional());
    // Capabilities may repeat, one line per capability set.
    let caps = response(one(
        "200 1201 OK\nA: a:PCMU, p:10-100, e:on, s:off, v:L;S, m:sendrecv\nA: a:PCMA, p:20\n",
    ));
    assert_eq!(caps.params.get_all("A").count(), 2);
}

#[test]
fn piggy_backing() {
    let bytes = "200 1203 OK\r\n.\r\nDLCX 1244 aaln/1@gw.example MGCP 1.0\r\nC: A3C47F21456789F0\r\nI: FDE234C8\r\n.\r\n\
        CRCX 1245 aaln/1@gw.example MGCP 1.0\r\nC: 1\r\nM: sendrecv\r\n\r\nv=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0\r\n";
    let all = decode(bytes.as_bytes()).expect("decodes");
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().map(Message::id).collect::<Vec<_>>(),
        [1203, 1244, 1245]
    );
    let body = match &all[2] {
        Message::Command(c) => c.body.clone().expect("body"),
        _ => panic!("a command"),
    };
    assert_eq!(body, "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0");
    assert_eq!(String::from_utf8(encode(&all)).expect("utf8"), bytes);
    assert_eq!(decode(&encode(&all)).expect("again"), all);
}

#[test]
fn case_and_spacing() {
    let c = command(one(
        "crcx  9  AALN/1@GW.Example  mgcp 1.0 NCS 1.0\r\nc :1\r\nm:  recvonly  \r\n",
    ));
    assert_eq!(c.verb, Verb::Crcx);
    assert_eq!(c.endpoint.to_string(), "AALN/1@GW.Example");
    assert_eq!(c.version, "1.0 NCS 1.0");
    assert_eq!(c.params.get("M"), Some("recvonly"));
    assert_eq!(
        String::from_utf8(Message::Command(c).encode()).expect("utf8"),
        "CRCX 9 AALN/1@GW.Example MGCP 1.0 NCS 1.0\r\nC: 1\r\nM: recvonly\r\n"
    );
}

#[test]
fn built_messages_encode() {
    let ep = ivm_mgcp::endpoint::EndpointName::parse("aaln/1@gw.example").expect("name");
    let mut c = Command::new(Verb::Rqnt, ep);
    c.id = 42;
    c.params = Params::new()
        .with("X", "1")
        .and_then(|p| p.with("R", "L/hd(N)"))
        .expect("params");
    assert_eq!(
        Message::Command(c).encode(),
        b"RQNT 42 aaln/1@gw.example MGCP 1.0\r\nX: 1\r\nR: L/hd(N)\r\n"
    );
    let mut p = Params::new();
    assert_eq!(
        p.set("S", "a\r\nRSIP"),
        Err(ParamError::BadValue("S".into()))
    );
    assert_eq!(Response::new(200, 5, " OK ").comment, "OK");
}

#[test]
fn each_decode_error() {
    use DecodeError::*;
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![b'a'; message::MAX_DATAGRAM + 1], TooLarge),
        ("\n".repeat(message::MAX_LINES + 1).into_bytes(), TooLarge),
        (
            "000 1\n.\n".repeat(message::MAX_MESSAGES).into_bytes(),
            TooLarge,
        ),
        (b"".to_vec(), Empty),
        (b"200 1 OK\n.\n".to_vec(), Empty),
        (b"  \r\nX: 1\r\n".to_vec(), Empty),
        (b"200 1 \xff\n".to_vec(), NotUtf8),
        (b"200 1 O\x00K\n".to_vec(), ControlChar(1)),
        (b"200 1 OK\nX: 1\x07\n".to_vec(), ControlChar(2)),
        (b"CRCX 1 aaln/1@gw MGCP\n".to_vec(), FirstLine),
        (b"hello\n".to_vec(), FirstLine),
        (b"200 1 /\n".to_vec(), FirstLine),
        (b"CRC1 1 aaln/1@gw MGCP 1.0\n".to_vec(), Verb),
        (b"CRCXX 1 aaln/1@gw MGCP 1.0\n".to_vec(), Verb),
        (b"CRCX 0 aaln/1@gw MGCP 1.0\n".to_vec(), TransactionId),
        (
            b"CRCX 1000000000 aaln/1@gw MGCP 1.0\n".to_vec(),
            TransactionId,
        ),
        (b"CRCX -1 aaln/1@gw MGCP 1.0\n".to_vec(), TransactionId),
        (b"200 x OK\n".to_vec(), TransactionId),
        (b"200\n".to_vec(), TransactionId),
        (
            b"CRCX 1 aaln/1 MGCP 1.0\n".to_vec(),
            Endpoint(EndpointError::NoDomain),
        ),
        (b"CRCX 1 aaln/1@gw MGCP 2.0\n".to_vec(), Version),
        (b"CRCX 1 aaln/1@gw SIP 1.0\n".to_vec(), Version),
        (b"CRCX 1 aaln/1@gw MGCP 1.0 NCS\n".to_vec(), Version),
        (b"2000 1 OK\n".to_vec(), ResponseCode),
        (b"20 1 OK\n".to_vec(), ResponseCode),
        (b"200 1 OK\nno colon\n".to_vec(), Param(ParamError::NoColon)),
        (
            b"200 1 OK\nC: 1\nc: 2\n".to_vec(),
            Param(ParamError::Duplicate("C".into())),
        ),
        (
            b"200 1 OK\nC D: 1\n".to_vec(),
            Param(ParamError::BadName("C D".into())),
        ),
        (
            (0..33)
                .map(|i| format!("X-{i}: v\n"))
                .fold("200 1 OK\n".to_owned(), |a, l| a + &l)
                .into_bytes(),
            Param(ParamError::TooMany),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            decode(&bytes),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        );
    }
    // Just inside the bounds decodes.
    let max = "000 1\n.\n".repeat(message::MAX_MESSAGES - 1) + "000 1\n";
    assert_eq!(
        decode(max.as_bytes()).expect("decodes").len(),
        message::MAX_MESSAGES
    );
}
