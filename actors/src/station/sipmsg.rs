//! Building the SIP requests and responses the station sends (UAS answers, in-dialog BYE and
//! NOTIFY, out-of-dialog INVITE and NOTIFY, ACK and CANCEL), and reading what it needs from
//! incoming ones.

use std::net::SocketAddr;

use ivm_sip::message::{Method, NameAddr, Request, Response, Transport, Uri};
use ivm_sip::transaction::{new_branch, new_token, Peer};

/// One side of a dialog as the station keeps it (RFC 3261 §12).
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our From (for requests we send), with our tag.
    pub local: String,
    /// Their To (for requests we send), with their tag once known.
    pub remote: String,
    /// Where in-dialog requests go (their Contact).
    pub target: Uri,
    /// Our next CSeq.
    pub cseq: u32,
    /// Where the phone is (source address of its messages).
    pub peer: Peer,
}

/// Whether `req`, from `peer`, is a request inside dialog `d` (RFC 3261 §12.2.2): same
/// Call-ID, its From tag is the phone's tag, its To tag ours, and it comes from the phone's
/// address. Why all four: a Call-ID alone can be sniffed or guessed, and anyone who knew it
/// could hang up or re-route the call; the tags and the address must match too. The address
/// is compared without the port (a phone may send from another port, or over TCP).
pub(crate) fn dialog_matches(d: &Dialog, req: &Request, peer: Peer) -> bool {
    let same_call = req.headers.call_id().is_ok_and(|c| c == d.call_id);
    let their_tag = tag_of(Some(&d.remote));
    let our_tag = tag_of(Some(&d.local));
    same_call
        && their_tag.is_some()
        && our_tag.is_some()
        && tag_of(req.headers.get("From")) == their_tag
        && tag_of(req.headers.get("To")) == our_tag
        && ivm_sip::transaction::canonical_ip(peer.addr.ip())
            == ivm_sip::transaction::canonical_ip(d.peer.addr.ip())
}

/// The dial string or user of a request URI (`*7201*202`, `202`), unescaped.
pub(crate) fn request_user(req: &Request) -> Option<String> {
    req.uri.as_sip().and_then(|u| u.user_unescaped())
}

/// The user part of a header's URI (To of a REGISTER).
pub(crate) fn header_user(value: Option<&str>) -> Option<String> {
    let na = NameAddr::parse(value?).ok()?;
    na.uri.as_sip().and_then(|u| u.user_unescaped())
}

/// The first Contact URI of a request, if any.
pub(crate) fn contact_uri(headers: &ivm_sip::message::Headers) -> Option<Uri> {
    match headers.contacts().ok()? {
        ivm_sip::message::Contacts::List(l) => l.into_iter().next().map(|n| n.uri),
        ivm_sip::message::Contacts::Star => None,
    }
}

/// The methods the station handles, for `Allow` (OPTIONS, 405, our INVITEs). INFO and
/// NOTIFY inside a call are accepted and ignored; UPDATE carries an SDP offer like a
/// re-INVITE (RFC 3311); REFER inside a call is a blind transfer (`refer.rs`).
pub(crate) const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, UPDATE, INFO, REFER";

/// The option tags the station supports, for `Supported` (RFC 3261 §20.37): none (no
/// reliable provisionals, session timers, Replaces or GRUU). Sent empty, which the grammar
/// allows, so a phone knows not to `Require` any.
pub(crate) const SUPPORTED: &str = "";

/// The event packages the station serves, for `Allow-Events` (RFC 6665).
pub(crate) const ALLOW_EVENTS: &str = "message-summary, dialog, presence";

/// Our Contact URI (`sip:user@addr`) toward a phone reached over `transport`, with
/// `;transport=` unless UDP (RFC 3261 §19.1.1: UDP is the default).
pub(crate) fn contact_uri_for(user: &str, addr: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("sip:{user}@{addr}"),
        t => format!(
            "sip:{user}@{addr};transport={}",
            t.as_str().to_ascii_lowercase()
        ),
    }
}

/// Adds the capability headers (`Allow`, `Supported`, `Allow-Events`) to a request or
/// response the station sends where RFC 3261 asks for them (INVITE, OPTIONS answers, 2xx to
/// INVITE).
pub(crate) fn push_capabilities(headers: &mut ivm_sip::message::Headers) {
    headers.push("Allow", ALLOW);
    headers.push("Supported", SUPPORTED);
    headers.push("Allow-Events", ALLOW_EVENTS);
}

/// A response with our Contact (for dialog-creating 2xx).
pub(crate) fn with_contact(mut r: Response, contact: &str) -> Response {
    r.headers.push("Contact", format!("<{contact}>"));
    r
}

/// Adds `body` with its Content-Type.
pub(crate) fn with_body(mut r: Response, content_type: &str, body: Vec<u8>) -> Response {
    r.headers.push("Content-Type", content_type);
    r.body = body;
    r
}

/// A new request from us: Via (fresh branch, rport), Max-Forwards, From, To, Call-ID, CSeq,
/// Contact.
#[allow(clippy::too_many_arguments)]
pub(crate) fn request(
    method: Method,
    target: Uri,
    via_addr: SocketAddr,
    peer: Peer,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    contact: &str,
) -> Request {
    let mut rng = rand::thread_rng();
    let mut r = Request::new(method.clone(), target);
    r.headers.push(
        "Via",
        format!(
            "SIP/2.0/{} {};branch={};rport",
            peer.transport.as_str(),
            via_addr,
            new_branch(&mut rng)
        ),
    );
    r.headers.push("Max-Forwards", "70");
    r.headers.push("From", from);
    r.headers.push("To", to);
    r.headers.push("Call-ID", call_id);
    r.headers.push("CSeq", format!("{cseq} {method}"));
    r.headers.push("Contact", format!("<{contact}>"));
    r.headers.push("User-Agent", "ivm-box");
    r
}

/// A request inside `d` (BYE, NOTIFY); increments its CSeq.
pub(crate) fn in_dialog(
    d: &mut Dialog,
    method: Method,
    via_addr: SocketAddr,
    contact: &str,
) -> Request {
    d.cseq += 1;
    request(
        method,
        d.target.clone(),
        via_addr,
        d.peer,
        &d.local,
        &d.remote,
        &d.call_id,
        d.cseq,
        contact,
    )
}

/// The ACK for a 2xx to our INVITE `inv` (RFC 3261 §13.2.2.4): a new branch, the 2xx's To.
pub(crate) fn ack_for(
    inv: &Request,
    resp: &Response,
    via_addr: SocketAddr,
    peer: Peer,
    contact: &str,
) -> Request {
    let target = contact_uri(&resp.headers).unwrap_or_else(|| inv.uri.clone());
    let seq = inv.headers.cseq().map(|c| c.seq).unwrap_or(1);
    let mut ack = request(
        Method::Ack,
        target,
        via_addr,
        peer,
        inv.headers.get("From").unwrap_or_default(),
        resp.headers.get("To").unwrap_or_default(),
        inv.headers.get("Call-ID").unwrap_or_default(),
        seq,
        contact,
    );
    ack.headers.set("CSeq", format!("{seq} ACK"));
    ack
}

/// The CANCEL for our pending INVITE `inv` (RFC 3261 §9.1): same URI, top Via, From, To,
/// Call-ID and CSeq number.
pub(crate) fn cancel_for(inv: &Request) -> Request {
    let mut c = Request::new(Method::Cancel, inv.uri.clone());
    for name in ["Via", "From", "To", "Call-ID"] {
        if let Some(v) = inv.headers.get(name) {
            c.headers.push(name, v);
        }
    }
    c.headers.push("Max-Forwards", "70");
    let seq = inv.headers.cseq().map(|c| c.seq).unwrap_or(1);
    c.headers.push("CSeq", format!("{seq} CANCEL"));
    c
}

/// A fresh tag or Call-ID.
pub(crate) fn token() -> String {
    new_token(&mut rand::thread_rng())
}

/// The tag of a From/To value.
pub(crate) fn tag_of(value: Option<&str>) -> Option<String> {
    NameAddr::parse(value?).ok()?.tag()
}

/// `value;tag=tag` unless it has one.
pub(crate) fn with_tag(value: &str, tag: &str) -> String {
    if tag_of(Some(value)).is_some() {
        value.to_owned()
    } else {
        format!("{value};tag={tag}")
    }
}

/// The RFC 3842 body: `Messages-Waiting`, `Message-Account`, `Voice-Message: new/old`.
pub(crate) fn message_summary(account: &str, new: u32, old: u32) -> Vec<u8> {
    format!(
        "Messages-Waiting: {}\r\nMessage-Account: {account}\r\nVoice-Message: {new}/{old} (0/0)\r\n",
        if new > 0 { "yes" } else { "no" }
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_body() {
        let b = String::from_utf8(message_summary("sip:201@ivm", 2, 1)).expect("utf8");
        assert!(b.starts_with("Messages-Waiting: yes\r\n"));
        assert!(b.contains("Voice-Message: 2/1 (0/0)"));
        let b = String::from_utf8(message_summary("sip:201@ivm", 0, 3)).expect("utf8");
        assert!(b.starts_with("Messages-Waiting: no"));
    }

    #[test]
    fn in_dialog_requests_need_call_id_both_tags_and_the_phones_address() {
        let phone = Peer::udp("10.0.0.20:5062".parse().expect("addr"));
        let d = Dialog {
            call_id: "cid".into(),
            local: "<sip:*7202@ivm>;tag=ours".into(),
            remote: "<sip:201@ivm>;tag=theirs".into(),
            target: "sip:201@10.0.0.20:5062".parse().expect("uri"),
            cseq: 0,
            peer: phone,
        };
        let bye = |call_id: &str, from_tag: &str, to_tag: &str| {
            let raw = format!(
                "BYE sip:ivm@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bKb\r\n\
                 From: <sip:201@ivm>;tag={from_tag}\r\nTo: <sip:*7202@ivm>;tag={to_tag}\r\n\
                 Call-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
            );
            match ivm_sip::message::Message::parse(raw.as_bytes()) {
                Ok(ivm_sip::message::Message::Request(r)) => r,
                other => panic!("{other:?}"),
            }
        };
        assert!(dialog_matches(&d, &bye("cid", "theirs", "ours"), phone));
        let other_port = Peer::tcp("10.0.0.20:40000".parse().expect("addr"));
        assert!(dialog_matches(
            &d,
            &bye("cid", "theirs", "ours"),
            other_port
        ));
        assert!(!dialog_matches(&d, &bye("cid", "theirs", "guess"), phone));
        assert!(!dialog_matches(&d, &bye("cid", "guess", "ours"), phone));
        assert!(!dialog_matches(&d, &bye("other", "theirs", "ours"), phone));
        let attacker = Peer::udp("10.0.0.66:5062".parse().expect("addr"));
        assert!(!dialog_matches(&d, &bye("cid", "theirs", "ours"), attacker));
        // A dialog whose remote tag is not known yet matches nothing.
        let early = Dialog {
            remote: "<sip:201@ivm>".into(),
            ..d.clone()
        };
        assert!(!dialog_matches(
            &early,
            &bye("cid", "theirs", "ours"),
            phone
        ));
    }

    #[test]
    fn contact_names_the_transport_unless_udp() {
        let addr: SocketAddr = "192.0.2.1:5060".parse().expect("addr");
        assert_eq!(
            contact_uri_for("ivm", addr, Transport::Udp),
            "sip:ivm@192.0.2.1:5060"
        );
        assert_eq!(
            contact_uri_for("201", addr, Transport::Tcp),
            "sip:201@192.0.2.1:5060;transport=tcp"
        );
        assert_eq!(
            contact_uri_for("ivm", addr, Transport::Tls),
            "sip:ivm@192.0.2.1:5060;transport=tls"
        );
        let uri: Uri = contact_uri_for("ivm", addr, Transport::Tcp)
            .parse()
            .expect("a URI");
        assert!(uri.to_string().contains("transport=tcp"), "{uri}");
    }

    #[test]
    fn cancel_copies_the_invite() {
        let inv = request(
            Method::Invite,
            "sip:202@127.0.0.1:5070".parse().expect("uri"),
            "127.0.0.1:5060".parse().expect("addr"),
            Peer::udp("127.0.0.1:5070".parse().expect("addr")),
            "<sip:201@ivm>;tag=a",
            "<sip:202@ivm>",
            "cid",
            7,
            "sip:ivm@127.0.0.1:5060",
        );
        let c = cancel_for(&inv);
        assert_eq!(c.headers.get("Via"), inv.headers.get("Via"));
        assert_eq!(c.headers.get("CSeq"), Some("7 CANCEL"));
        assert_eq!(with_tag("<sip:a@b>", "x"), "<sip:a@b>;tag=x");
        assert_eq!(with_tag("<sip:a@b>;tag=y", "x"), "<sip:a@b>;tag=y");
    }
}
