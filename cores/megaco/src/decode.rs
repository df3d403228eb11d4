//! The decoder: text (pretty or compact, any case, versions 1-3) to [`Message`], following the
//! productions of H.248.1 Annex B.2 / RFC 3015 Annex B by recursive descent. Bounded in size
//! ([`MAX_MESSAGE`]), brace depth ([`crate::cursor::MAX_DEPTH`]) and list length
//! ([`MAX_ITEMS`]); every refusal says what was expected and where.

use std::net::IpAddr;

use crate::cursor::Cursor;
use crate::digitmap::{DigitMapError, DigitMapValue};
use crate::model::*;
use crate::token::Kw;

/// Largest message accepted: a UDP datagram (Annex D.1 carries one message per datagram).
pub const MAX_MESSAGE: usize = 65_507;
/// Most items in one list (transactions, actions, commands, descriptors, events, ...).
pub const MAX_ITEMS: usize = 256;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE`].
    #[error("message of {0} bytes is larger than {MAX_MESSAGE}")]
    TooLarge(usize),
    /// Braces nested deeper than the grammar needs.
    #[error("braces nested deeper than {}", crate::cursor::MAX_DEPTH)]
    TooDeep,
    /// A list longer than [`MAX_ITEMS`].
    #[error("more than {MAX_ITEMS} items in a list at offset {0}")]
    TooMany(usize),
    /// Not what the grammar allows here.
    #[error("syntax error at offset {offset}: expected {expected}")]
    Syntax {
        /// What would have been valid.
        expected: &'static str,
        /// Byte offset in the message.
        offset: usize,
    },
    /// A version other than 1, 2 or 3.
    #[error("protocol version {0} is not supported (1 to 3 are)")]
    Version(u16),
    /// Valid H.248 this core does not implement (MTP addresses, Modem and Mux descriptors,
    /// authentication headers, ...).
    #[error("{what} at offset {offset} is not supported")]
    Unsupported {
        /// The construct.
        what: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// The same item twice where one is allowed.
    #[error("{0} given twice at offset {1}")]
    Duplicate(&'static str, usize),
    /// A command without a descriptor it must carry.
    #[error("{command:?} at offset {offset} lacks its {descriptor} descriptor")]
    Missing {
        /// The command.
        command: CommandKind,
        /// The missing descriptor.
        descriptor: &'static str,
        /// Offset of the command's end.
        offset: usize,
    },
    /// A bad digit map.
    #[error("at offset {offset}: {error}")]
    DigitMap {
        /// What is wrong with it.
        error: DigitMapError,
        /// Offset of the map's text.
        offset: usize,
    },
}

/// Reads one message.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let mut c = Cursor::new(bytes);
    c.lwsp();
    let head = c.word()?;
    let Some((megaco, version)) = head.split_once('/') else {
        return c.err("MEGACO/version");
    };
    if Kw::lookup(megaco) == Some(Kw::Authentication) {
        return Err(DecodeError::Unsupported {
            what: "an authentication header",
            offset: 0,
        });
    }
    if Kw::lookup(megaco) != Some(Kw::Megaco) {
        return Err(DecodeError::Syntax {
            expected: "MEGACO/version",
            offset: 0,
        });
    }
    let version: u16 = match version.parse() {
        Ok(v) if version.len() <= 2 && version.bytes().all(|b| b.is_ascii_digit()) => v,
        _ => {
            return Err(DecodeError::Syntax {
                expected: "a version number",
                offset: megaco.len() + 1,
            })
        }
    };
    if !(1..=3).contains(&version) {
        return Err(DecodeError::Version(version));
    }
    c.sep()?;
    let mid = mid(&mut c)?;
    c.sep()?;
    let body = if c.keyword_of(&[Kw::Error]).is_some() {
        Body::Error(error_descriptor(&mut c)?)
    } else {
        let mut transactions = Vec::new();
        while !c.at_end() {
            if transactions.len() == MAX_ITEMS {
                return Err(DecodeError::TooMany(c.i));
            }
            transactions.push(transaction(&mut c)?);
        }
        if transactions.is_empty() {
            return c.err("a transaction");
        }
        Body::Transactions(transactions)
    };
    if !c.at_end() {
        return c.err("the end of the message");
    }
    Ok(Message {
        version: version as u8,
        mid,
        body,
    })
}

/// A braced, comma-separated list of at least one item.
fn list<T>(
    c: &mut Cursor,
    mut item: impl FnMut(&mut Cursor) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    c.open()?;
    let mut out = Vec::new();
    loop {
        if out.len() == MAX_ITEMS {
            return Err(DecodeError::TooMany(c.i));
        }
        out.push(item(c)?);
        if !c.more()? {
            return Ok(out);
        }
    }
}

/// A braced list that may be empty (`Signals {}`, `Audit {}`).
fn list_or_empty<T>(
    c: &mut Cursor,
    item: impl FnMut(&mut Cursor) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let save = c.i;
    c.open()?;
    if c.peek() == Some(b'}') {
        c.close()?;
        return Ok(Vec::new());
    }
    c.i = save;
    // Re-open: `open` counted depth once; undo it before `list` counts again.
    c.unopen();
    list(c, item)
}

fn equal(c: &mut Cursor) -> Result<(), DecodeError> {
    c.expect(b'=', "'='")
}

fn port(c: &mut Cursor) -> Result<Option<u16>, DecodeError> {
    if c.b.get(c.i) == Some(&b':') {
        c.i += 1;
        if !c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
            return c.err("a port number");
        }
        Ok(Some(c.uint("a port number")?))
    } else {
        Ok(None)
    }
}

/// `mId`: `[address]:port`, `<domain>:port`, or a device name.
pub(crate) fn mid(c: &mut Cursor) -> Result<MId, DecodeError> {
    match c.peek() {
        Some(b'[') => {
            let start = c.i + 1;
            let Some(len) = c.b[start..].iter().position(|b| *b == b']') else {
                return c.err("']'");
            };
            let text = std::str::from_utf8(&c.b[start..start + len]).unwrap_or("");
            let Ok(addr) = text.parse::<IpAddr>() else {
                c.i = start;
                return c.err("an IPv4 or IPv6 address");
            };
            c.i = start + len + 1;
            Ok(MId::Ip {
                addr,
                port: port(c)?,
            })
        }
        Some(b'<') => {
            let start = c.i + 1;
            let len = c.b[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.')
                .count();
            if len == 0
                || len > 64
                || !c.b[start].is_ascii_alphanumeric()
                || c.b.get(start + len) != Some(&b'>')
            {
                c.i = start;
                return c.err("a domain name in <>");
            }
            let name = String::from_utf8_lossy(&c.b[start..start + len]).into_owned();
            c.i = start + len + 1;
            Ok(MId::Domain {
                name,
                port: port(c)?,
            })
        }
        _ => {
            let start = c.i;
            let w = c.word()?;
            if w.eq_ignore_ascii_case("MTP") && c.peek() == Some(b'{') {
                return Err(DecodeError::Unsupported {
                    what: "an MTP address",
                    offset: start,
                });
            }
            if !is_path_name(w) {
                c.i = start;
                return c.err("a device name");
            }
            Ok(MId::Device(w.to_owned()))
        }
    }
}

/// `pathNAME`: `["*"] NAME *("/" / "*" / "@" / ALPHA / DIGIT / "_" / "$") ["@" domain]`.
pub(crate) fn is_path_name(w: &str) -> bool {
    let body = w.strip_prefix('*').unwrap_or(w);
    body.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && w.len() <= 256
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/*@_$.-".contains(&b))
}

/// `TerminationID`: `ROOT`, `$`, `*` or a `pathNAME`. Gateways number lines as well
/// (RFC 3015's own flow uses `11111`), so a leading digit is accepted too.
fn is_termination_id(t: &str) -> bool {
    let first = t.as_bytes()[0];
    (first.is_ascii_alphanumeric() || first == b'*' || first == b'$')
        && t.len() <= 256
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/*@_$.-".contains(&b))
}

fn transaction(c: &mut Cursor) -> Result<Transaction, DecodeError> {
    let kw = c.keyword(
        &[Kw::Transaction, Kw::Reply, Kw::Pending, Kw::ResponseAck],
        "a transaction",
    )?;
    match kw {
        Kw::Transaction => {
            equal(c)?;
            let id = c.uint("a transaction id")?;
            let actions = list(c, action_request)?;
            Ok(Transaction::Request { id, actions })
        }
        Kw::Reply => {
            equal(c)?;
            let id = c.uint("a transaction id")?;
            c.open()?;
            let imm_ack = c.keyword_of(&[Kw::ImmAckRequired]).is_some();
            if imm_ack && !c.eat(b',') {
                c.close()?;
                return c.err("a reply after ImmAckRequired");
            }
            let result = if c.keyword_of(&[Kw::Error]).is_some() {
                let e = error_descriptor(c)?;
                c.close()?;
                ReplyResult::Error(e)
            } else {
                let mut actions = Vec::new();
                loop {
                    if actions.len() == MAX_ITEMS {
                        return Err(DecodeError::TooMany(c.i));
                    }
                    actions.push(action_reply(c)?);
                    if !c.more()? {
                        break;
                    }
                }
                ReplyResult::Actions(actions)
            };
            Ok(Transaction::Reply {
                id,
                imm_ack,
                result,
            })
        }
        Kw::Pending => {
            equal(c)?;
            let id = c.uint("a transaction id")?;
            c.open()?;
            c.close()?;
            Ok(Transaction::Pending { id })
        }
        _ => {
            let acks = list(c, |c| {
                let w = c.word()?;
                let range = match w.split_once('-') {
                    Some((a, b)) => a.parse().ok().zip(b.parse().ok()),
                    None => w.parse().ok().map(|a| (a, a)),
                };
                match range {
                    Some((a, b)) if a <= b => Ok((a, b)),
                    _ => c.err("a transaction id or range"),
                }
            })?;
            Ok(Transaction::ResponseAck(acks))
        }
    }
}

fn context_id(c: &mut Cursor) -> Result<ContextId, DecodeError> {
    c.lwsp();
    let start = c.i;
    let w = c.word()?;
    Ok(match w {
        "-" => ContextId::Null,
        "$" => ContextId::Choose,
        "*" => ContextId::All,
        _ => match w.parse() {
            Ok(n) if w.bytes().all(|b| b.is_ascii_digit()) => ContextId::Id(n),
            _ => {
                c.i = start;
                return c.err("a context id");
            }
        },
    })
}

/// A context property, if one is next.
fn context_prop(c: &mut Cursor) -> Result<Option<ContextProp>, DecodeError> {
    let start = c.i;
    match c.keyword_of(&[Kw::Priority, Kw::Emergency, Kw::Topology]) {
        Some(Kw::Priority) => {
            equal(c)?;
            let p: u8 = c.uint("a priority")?;
            if p > 15 {
                return c.err("a priority of 0 to 15");
            }
            Ok(Some(ContextProp::Priority(p)))
        }
        Some(Kw::Emergency) => Ok(Some(ContextProp::Emergency)),
        Some(_) => Err(DecodeError::Unsupported {
            what: "a Topology descriptor",
            offset: start,
        }),
        None => Ok(None),
    }
}

fn action_request(c: &mut Cursor) -> Result<ActionRequest, DecodeError> {
    c.keyword(&[Kw::Context], "Context")?;
    equal(c)?;
    let context = context_id(c)?;
    let mut action = ActionRequest {
        context,
        props: Vec::new(),
        commands: Vec::new(),
    };
    for item in list(c, |c| match context_prop(c)? {
        Some(p) => Ok(Err(p)),
        None => Ok(Ok(command(c, true)?)),
    })? {
        match item {
            Ok(cmd) => action.commands.push(cmd),
            Err(prop) => action.props.push(prop),
        }
    }
    Ok(action)
}

fn action_reply(c: &mut Cursor) -> Result<ActionReply, DecodeError> {
    c.keyword(&[Kw::Context], "Context")?;
    equal(c)?;
    let context = context_id(c)?;
    let mut action = ActionReply {
        context,
        props: Vec::new(),
        commands: Vec::new(),
        error: None,
    };
    if c.peek() != Some(b'{') {
        return Ok(action);
    }
    let items = list_or_empty(c, |c| {
        if c.keyword_of(&[Kw::Error]).is_some() {
            return Ok((None, None, Some(error_descriptor(c)?)));
        }
        match context_prop(c)? {
            Some(p) => Ok((Some(p), None, None)),
            None => Ok((None, Some(command(c, false)?), None)),
        }
    })?;
    for item in items {
        if action.error.is_some() {
            return c.err("the Error descriptor last in an action reply");
        }
        match item {
            (Some(p), _, _) => action.props.push(p),
            (_, Some(cmd), _) => action.commands.push(cmd),
            (_, _, e) => action.error = e,
        }
    }
    Ok(action)
}

const COMMANDS: &[Kw] = &[
    Kw::Add,
    Kw::Modify,
    Kw::Move,
    Kw::Subtract,
    Kw::AuditValue,
    Kw::AuditCap,
    Kw::Notify,
    Kw::ServiceChange,
];

/// A command request (`request`: with `O-`/`W-`, checked) or a command reply.
fn command(c: &mut Cursor, request: bool) -> Result<Command, DecodeError> {
    c.lwsp();
    let start = c.i;
    let mut w = c.word()?;
    let (mut optional, mut wildcard_reply) = (false, false);
    if request {
        if w.len() > 2 && w[..2].eq_ignore_ascii_case("O-") {
            optional = true;
            w = &w[2..];
        }
        if w.len() > 2 && w[..2].eq_ignore_ascii_case("W-") {
            wildcard_reply = true;
            w = &w[2..];
        }
    }
    let kind = match Kw::lookup(w).filter(|k| COMMANDS.contains(k)) {
        Some(Kw::Add) => CommandKind::Add,
        Some(Kw::Modify) => CommandKind::Modify,
        Some(Kw::Move) => CommandKind::Move,
        Some(Kw::Subtract) => CommandKind::Subtract,
        Some(Kw::AuditValue) => CommandKind::AuditValue,
        Some(Kw::AuditCap) => CommandKind::AuditCapabilities,
        Some(Kw::Notify) => CommandKind::Notify,
        Some(_) => CommandKind::ServiceChange,
        None => {
            c.i = start;
            return c.err("a command");
        }
    };
    equal(c)?;
    c.lwsp();
    let tstart = c.i;
    let t = c.word()?;
    if !is_termination_id(t) {
        c.i = tstart;
        return c.err("a termination id");
    }
    let termination = TerminationId(t.to_owned());
    let descriptors = if c.peek() == Some(b'{') {
        list_or_empty(c, descriptor)?
    } else {
        Vec::new()
    };
    let cmd = Command {
        kind,
        optional,
        wildcard_reply,
        termination,
        descriptors,
    };
    if request {
        let has = |f: fn(&Descriptor) -> bool| cmd.descriptors.iter().any(f);
        let missing = match kind {
            CommandKind::Notify if !has(|d| matches!(d, Descriptor::ObservedEvents(_))) => {
                Some("ObservedEvents")
            }
            CommandKind::ServiceChange if !has(|d| matches!(d, Descriptor::Services(_))) => {
                Some("Services")
            }
            CommandKind::AuditValue | CommandKind::AuditCapabilities
                if !has(|d| matches!(d, Descriptor::Audit(_))) =>
            {
                Some("Audit")
            }
            _ => None,
        };
        if let Some(descriptor) = missing {
            return Err(DecodeError::Missing {
                command: kind,
                descriptor,
                offset: c.i,
            });
        }
    }
    Ok(cmd)
}

fn audit_item(kw: Kw) -> Option<AuditItem> {
    Some(match kw {
        Kw::Media => AuditItem::Media,
        Kw::Modem => AuditItem::Modem,
        Kw::Mux => AuditItem::Mux,
        Kw::Events => AuditItem::Events,
        Kw::Signals => AuditItem::Signals,
        Kw::DigitMap => AuditItem::DigitMap,
        Kw::Statistics => AuditItem::Statistics,
        Kw::ObservedEvents => AuditItem::ObservedEvents,
        Kw::Packages => AuditItem::Packages,
        Kw::EventBuffer => AuditItem::EventBuffer,
        _ => return None,
    })
}

fn descriptor(c: &mut Cursor) -> Result<Descriptor, DecodeError> {
    c.lwsp();
    let start = c.i;
    let kw = Kw::lookup(c.word()?);
    let Some(kw) = kw else {
        c.i = start;
        return c.err("a descriptor");
    };
    // An audit item alone (`Media,` in an audit reply).
    if matches!(c.peek(), Some(b',' | b'}')) {
        if let Some(item) = audit_item(kw) {
            if kw != Kw::Events && kw != Kw::Signals {
                return Ok(Descriptor::AuditItem(item));
            }
        }
    }
    Ok(match kw {
        Kw::Media => Descriptor::Media(media(c)?),
        Kw::Events => {
            if c.eat(b'=') {
                let request_id = Some(c.uint("a request id")?);
                Descriptor::Events(Events {
                    request_id,
                    events: list(c, requested_event)?,
                })
            } else {
                Descriptor::Events(Events {
                    request_id: None,
                    events: Vec::new(),
                })
            }
        }
        Kw::Signals => {
            if c.peek() == Some(b'{') {
                Descriptor::Signals(list_or_empty(c, signal_item)?)
            } else {
                // A bare `Signals` is what Erlang/OTP writes for "no signals" (it refuses
                // `Signals {}`); read it so, like a bare `Events`.
                Descriptor::Signals(Vec::new())
            }
        }
        Kw::DigitMap => {
            equal(c)?;
            let mut d = DigitMapDescriptor {
                name: None,
                value: None,
            };
            if c.peek() != Some(b'{') {
                d.name = Some(c.word()?.to_owned());
            }
            if c.peek() == Some(b'{') {
                d.value = Some(digit_map_value(c)?);
            }
            Descriptor::DigitMap(d)
        }
        Kw::Audit => Descriptor::Audit(list_or_empty(c, |c| {
            let start = c.i;
            match Kw::lookup(c.word()?).and_then(audit_item) {
                Some(item) => Ok(item),
                None => {
                    c.i = start;
                    c.err("an audit item")
                }
            }
        })?),
        Kw::ObservedEvents => {
            equal(c)?;
            let request_id = c.uint("a request id")?;
            Descriptor::ObservedEvents(ObservedEvents {
                request_id,
                events: list(c, observed_event)?,
            })
        }
        Kw::Services => Descriptor::Services(services(c)?),
        Kw::Statistics => Descriptor::Statistics(list_or_empty(c, |c| {
            let name = c.word()?.to_owned();
            property(c, name)
        })?),
        Kw::Packages => Descriptor::Packages(list_or_empty(c, |c| Ok(c.word()?.to_owned()))?),
        Kw::Error => Descriptor::Error(error_descriptor(c)?),
        Kw::Modem => {
            return Err(DecodeError::Unsupported {
                what: "a Modem descriptor",
                offset: start,
            })
        }
        Kw::Mux => {
            return Err(DecodeError::Unsupported {
                what: "a Mux descriptor",
                offset: start,
            })
        }
        Kw::EventBuffer => {
            return Err(DecodeError::Unsupported {
                what: "an EventBuffer descriptor",
                offset: start,
            })
        }
        _ => {
            c.i = start;
            return c.err("a descriptor");
        }
    })
}

fn digit_map_value(c: &mut Cursor) -> Result<DigitMapValue, DecodeError> {
    c.open()?;
    let start = c.i;
    let Some(len) = c.b[start..].iter().position(|b| *b == b'}') else {
        return c.err("'}' closing a digit map");
    };
    let text = std::str::from_utf8(&c.b[start..start + len]).unwrap_or("\u{0}");
    let value = DigitMapValue::parse(text).map_err(|error| DecodeError::DigitMap {
        error,
        offset: start,
    })?;
    c.i = start + len;
    c.close()?;
    Ok(value)
}

fn once<T>(slot: &mut Option<T>, v: T, what: &'static str, at: usize) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Duplicate(what, at));
    }
    *slot = Some(v);
    Ok(())
}

fn media(c: &mut Cursor) -> Result<Media, DecodeError> {
    let mut m = Media::default();
    let mut single = StreamParms::default();
    let mut any_single = false;
    c.open()?;
    loop {
        if m.streams.len() == MAX_ITEMS {
            return Err(DecodeError::TooMany(c.i));
        }
        c.lwsp();
        let at = c.i;
        match c.keyword(
            &[
                Kw::Stream,
                Kw::TerminationState,
                Kw::LocalControl,
                Kw::Local,
                Kw::Remote,
            ],
            "a media parameter",
        )? {
            Kw::Stream => {
                equal(c)?;
                let id = c.uint("a stream id")?;
                let mut parms = StreamParms::default();
                c.open()?;
                loop {
                    c.lwsp();
                    let at = c.i;
                    let kw = c.keyword(
                        &[Kw::LocalControl, Kw::Local, Kw::Remote],
                        "a stream parameter",
                    )?;
                    stream_parm(c, &mut parms, kw, at)?;
                    if !c.more()? {
                        break;
                    }
                }
                m.streams.push((id, parms));
            }
            Kw::TerminationState => {
                let ts = termination_state(c)?;
                once(&mut m.termination_state, ts, "TerminationState", at)?;
            }
            kw => {
                any_single = true;
                stream_parm(c, &mut single, kw, at)?;
            }
        }
        if !c.more()? {
            break;
        }
    }
    if any_single {
        m.single = Some(single);
    }
    Ok(m)
}

fn stream_parm(
    c: &mut Cursor,
    parms: &mut StreamParms,
    kw: Kw,
    at: usize,
) -> Result<(), DecodeError> {
    match kw {
        Kw::Local => {
            let sdp = c.octets()?;
            once(&mut parms.local, sdp, "Local", at)
        }
        Kw::Remote => {
            let sdp = c.octets()?;
            once(&mut parms.remote, sdp, "Remote", at)
        }
        _ => {
            let mut lc = LocalControl::default();
            c.open()?;
            loop {
                c.lwsp();
                let at = c.i;
                let w = c.word()?;
                match Kw::lookup(w) {
                    Some(Kw::Mode) => {
                        equal(c)?;
                        let mode = match c.keyword(
                            &[
                                Kw::SendOnly,
                                Kw::RecvOnly,
                                Kw::SendRecv,
                                Kw::Inactive,
                                Kw::Loopback,
                            ],
                            "a stream mode",
                        )? {
                            Kw::SendOnly => StreamMode::SendOnly,
                            Kw::RecvOnly => StreamMode::RecvOnly,
                            Kw::SendRecv => StreamMode::SendRecv,
                            Kw::Inactive => StreamMode::Inactive,
                            _ => StreamMode::Loopback,
                        };
                        once(&mut lc.mode, mode, "Mode", at)?;
                    }
                    Some(k @ (Kw::ReservedValue | Kw::ReservedGroup)) => {
                        equal(c)?;
                        let on = on_off(c)?;
                        if k == Kw::ReservedValue {
                            once(&mut lc.reserve_value, on, "ReservedValue", at)?;
                        } else {
                            once(&mut lc.reserve_group, on, "ReservedGroup", at)?;
                        }
                    }
                    _ => {
                        let p = property(c, w.to_owned())?;
                        lc.properties.push(p);
                    }
                }
                if lc.properties.len() > MAX_ITEMS {
                    return Err(DecodeError::TooMany(c.i));
                }
                if !c.more()? {
                    break;
                }
            }
            once(&mut parms.local_control, lc, "LocalControl", at)
        }
    }
}

fn on_off(c: &mut Cursor) -> Result<bool, DecodeError> {
    let w = c.word()?;
    if w.eq_ignore_ascii_case("ON") {
        Ok(true)
    } else if w.eq_ignore_ascii_case("OFF") {
        Ok(false)
    } else {
        c.err("ON or OFF")
    }
}

fn termination_state(c: &mut Cursor) -> Result<TerminationState, DecodeError> {
    let mut ts = TerminationState::default();
    c.open()?;
    loop {
        c.lwsp();
        let at = c.i;
        let w = c.word()?;
        match Kw::lookup(w) {
            Some(Kw::ServiceStates) => {
                equal(c)?;
                let s = match c.keyword(
                    &[Kw::Test, Kw::OutOfService, Kw::InService],
                    "a service state",
                )? {
                    Kw::Test => ServiceState::Test,
                    Kw::OutOfService => ServiceState::OutOfService,
                    _ => ServiceState::InService,
                };
                once(&mut ts.service_state, s, "ServiceStates", at)?;
            }
            Some(Kw::Buffer) => {
                equal(c)?;
                let lockstep = if c.keyword_of(&[Kw::LockStep]).is_some() {
                    true
                } else if !on_off(c)? {
                    false
                } else {
                    return c.err("LockStep or OFF");
                };
                once(&mut ts.lockstep, lockstep, "Buffer", at)?;
            }
            _ => {
                let p = property(c, w.to_owned())?;
                ts.properties.push(p);
            }
        }
        if ts.properties.len() > MAX_ITEMS {
            return Err(DecodeError::TooMany(c.i));
        }
        if !c.more()? {
            return Ok(ts);
        }
    }
}

/// `parmValue` after a property's name.
fn property(c: &mut Cursor, name: String) -> Result<Property, DecodeError> {
    let value = match c.peek() {
        Some(b'=') => {
            c.i += 1;
            match c.peek() {
                Some(b'[') => {
                    c.i += 1;
                    let first = c.value()?;
                    if c.eat(b':') {
                        let last = c.value()?;
                        c.expect(b']', "']'")?;
                        PropValue::Range(first, last)
                    } else {
                        let mut all = vec![first];
                        while c.eat(b',') {
                            if all.len() == MAX_ITEMS {
                                return Err(DecodeError::TooMany(c.i));
                            }
                            all.push(c.value()?);
                        }
                        c.expect(b']', "']'")?;
                        PropValue::OneOf(all)
                    }
                }
                Some(b'{') => PropValue::AllOf(list(c, |c| c.value())?),
                _ => PropValue::Equal(c.value()?),
            }
        }
        Some(b'#') => {
            c.i += 1;
            PropValue::NotEqual(c.value()?)
        }
        Some(b'>') => {
            c.i += 1;
            PropValue::Greater(c.value()?)
        }
        Some(b'<') => {
            c.i += 1;
            PropValue::Less(c.value()?)
        }
        _ => return c.err("'=', '#', '>' or '<' after a parameter name"),
    };
    Ok(Property { name, value })
}

fn requested_event(c: &mut Cursor) -> Result<RequestedEvent, DecodeError> {
    let name = c.word()?.to_owned();
    let params = if c.peek() == Some(b'{') {
        list(c, |c| {
            c.lwsp();
            let at = c.i;
            let w = c.word()?;
            Ok(match Kw::lookup(w) {
                Some(Kw::DigitMap) => {
                    equal(c)?;
                    if c.peek() == Some(b'{') {
                        EventParam::DigitMap(DigitMapRef::Value(digit_map_value(c)?))
                    } else {
                        EventParam::DigitMap(DigitMapRef::Name(c.word()?.to_owned()))
                    }
                }
                Some(Kw::KeepActive) => EventParam::KeepActive,
                Some(Kw::Stream) => {
                    equal(c)?;
                    EventParam::Stream(c.uint("a stream id")?)
                }
                _ if w.eq_ignore_ascii_case("Embed") || w.eq_ignore_ascii_case("EM") => {
                    return Err(DecodeError::Unsupported {
                        what: "an embedded descriptor",
                        offset: at,
                    })
                }
                _ => EventParam::Other(property(c, w.to_owned())?),
            })
        })?
    } else {
        Vec::new()
    };
    Ok(RequestedEvent { name, params })
}

fn signal_item(c: &mut Cursor) -> Result<SignalItem, DecodeError> {
    c.lwsp();
    let save = c.i;
    if c.keyword_of(&[Kw::SignalList]).is_some() && c.peek() == Some(b'=') {
        equal(c)?;
        let id = c.uint("a signal list id")?;
        let signals = list(c, signal_request)?;
        return Ok(SignalItem::List { id, signals });
    }
    c.i = save;
    Ok(SignalItem::Signal(signal_request(c)?))
}

fn signal_request(c: &mut Cursor) -> Result<SignalRequest, DecodeError> {
    let name = c.word()?.to_owned();
    let params = if c.peek() == Some(b'{') {
        list(c, |c| {
            let w = c.word()?;
            Ok(match Kw::lookup(w) {
                Some(Kw::Stream) => {
                    equal(c)?;
                    SignalParam::Stream(c.uint("a stream id")?)
                }
                Some(Kw::SignalType) => {
                    equal(c)?;
                    SignalParam::Type(
                        match c.keyword(&[Kw::OnOff, Kw::TimeOut, Kw::Brief], "a signal type")? {
                            Kw::OnOff => SignalType::OnOff,
                            Kw::TimeOut => SignalType::TimeOut,
                            _ => SignalType::Brief,
                        },
                    )
                }
                Some(Kw::Duration) => {
                    equal(c)?;
                    SignalParam::Duration(c.uint("a duration")?)
                }
                Some(Kw::NotifyCompletion) => {
                    equal(c)?;
                    SignalParam::NotifyCompletion(list(c, |c| {
                        Ok(
                            match c.keyword(
                                &[
                                    Kw::TimeOut,
                                    Kw::IntByEvent,
                                    Kw::IntBySigDescr,
                                    Kw::OtherReason,
                                ],
                                "a completion reason",
                            )? {
                                Kw::TimeOut => Completion::TimeOut,
                                Kw::IntByEvent => Completion::IntByEvent,
                                Kw::IntBySigDescr => Completion::IntBySigDescr,
                                _ => Completion::OtherReason,
                            },
                        )
                    })?)
                }
                Some(Kw::KeepActive) => SignalParam::KeepActive,
                _ => SignalParam::Other(property(c, w.to_owned())?),
            })
        })?
    } else {
        Vec::new()
    };
    Ok(SignalRequest { name, params })
}

/// `TimeStamp = Date "T" Time`, 8 digits each.
pub(crate) fn is_timestamp(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 17
        && (b[8] == b'T' || b[8] == b't')
        && b[..8].iter().chain(&b[9..]).all(u8::is_ascii_digit)
}

fn observed_event(c: &mut Cursor) -> Result<ObservedEvent, DecodeError> {
    c.lwsp();
    let at = c.i;
    let first = c.word()?;
    let (timestamp, name) = if c.peek() == Some(b':') {
        if !is_timestamp(first) {
            c.i = at;
            return c.err("a time stamp (yyyymmddThhmmssss)");
        }
        c.i += 1;
        (Some(first.to_owned()), c.word()?.to_owned())
    } else {
        (None, first.to_owned())
    };
    let mut ev = ObservedEvent {
        timestamp,
        name,
        stream: None,
        params: Vec::new(),
    };
    if c.peek() == Some(b'{') {
        for p in list(c, |c| {
            c.lwsp();
            let at = c.i;
            let w = c.word()?;
            if Kw::lookup(w) == Some(Kw::Stream) {
                equal(c)?;
                Ok(Err((c.uint::<u16>("a stream id")?, at)))
            } else {
                Ok(Ok(property(c, w.to_owned())?))
            }
        })? {
            match p {
                Ok(p) => ev.params.push(p),
                Err((s, at)) => once(&mut ev.stream, s, "Stream", at)?,
            }
        }
    }
    Ok(ev)
}

fn services(c: &mut Cursor) -> Result<ServiceChange, DecodeError> {
    let mut sc = ServiceChange::default();
    c.open()?;
    loop {
        c.lwsp();
        let at = c.i;
        let w = c.word()?;
        match Kw::lookup(w) {
            Some(Kw::Method) => {
                equal(c)?;
                c.lwsp();
                let mstart = c.i;
                let m = c.word()?;
                let method = match Kw::lookup(m) {
                    Some(Kw::Failover) => Method::Failover,
                    Some(Kw::Forced) => Method::Forced,
                    Some(Kw::Graceful) => Method::Graceful,
                    Some(Kw::Restart) => Method::Restart,
                    Some(Kw::Disconnected) => Method::Disconnected,
                    Some(Kw::HandOff) => Method::HandOff,
                    _ if is_extension(m) => Method::Extension(m.to_owned()),
                    _ => {
                        c.i = mstart;
                        return c.err("a ServiceChange method");
                    }
                };
                once(&mut sc.method, method, "Method", at)?;
            }
            Some(Kw::Reason) => {
                equal(c)?;
                let r = c.value()?;
                once(&mut sc.reason, r, "Reason", at)?;
            }
            Some(Kw::Delay) => {
                equal(c)?;
                let d = c.uint("a delay")?;
                once(&mut sc.delay, d, "Delay", at)?;
            }
            Some(Kw::ServiceChangeAddress) => {
                equal(c)?;
                let a = match c.peek() {
                    Some(b'0'..=b'9') => ScAddress::Port(c.uint("a port number")?),
                    _ => ScAddress::MId(mid(c)?),
                };
                once(&mut sc.address, a, "ServiceChangeAddress", at)?;
            }
            Some(Kw::MgcId) => {
                equal(c)?;
                let m = mid(c)?;
                once(&mut sc.mgc_id, m, "MgcIdToTry", at)?;
            }
            Some(Kw::Profile) => {
                equal(c)?;
                let p = c.word()?;
                let valid = p.split_once('/').is_some_and(|(n, v)| {
                    n.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                        && !v.is_empty()
                        && v.bytes().all(|b| b.is_ascii_digit())
                });
                if !valid {
                    return c.err("a profile name/version");
                }
                once(&mut sc.profile, p.to_owned(), "Profile", at)?;
            }
            Some(Kw::Version) => {
                equal(c)?;
                let v: u8 = c.uint("a version")?;
                once(&mut sc.version, v, "Version", at)?;
            }
            _ if is_timestamp(w) => once(&mut sc.timestamp, w.to_owned(), "TimeStamp", at)?,
            _ => {
                c.i = at;
                return c.err("a ServiceChange parameter");
            }
        }
        if !c.more()? {
            return Ok(sc);
        }
    }
}

fn error_descriptor(c: &mut Cursor) -> Result<ErrorDescriptor, DecodeError> {
    equal(c)?;
    c.lwsp();
    let at = c.i;
    let digits = c.b[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=4).contains(&digits) {
        return c.err("an error code");
    }
    let code = c.uint("an error code")?;
    c.open()?;
    let text = if c.peek() == Some(b'"') {
        Some(c.quoted()?)
    } else {
        None
    };
    c.close()?;
    Ok(ErrorDescriptor { code, text })
}

/// `extensionParameter = "X" ("-" / "+") 1*6(ALPHA / DIGIT)`.
fn is_extension(w: &str) -> bool {
    let b = w.as_bytes();
    (3..=8).contains(&b.len())
        && b[0].eq_ignore_ascii_case(&b'X')
        && (b[1] == b'-' || b[1] == b'+')
        && b[2..].iter().all(u8::is_ascii_alphanumeric)
}
