//! The decoder: text (pretty or compact, any case, versions 1-3) to [`Message`], following the
//! productions of H.248.1 Annex B.2 / RFC 3015 Annex B by recursive descent. Bounded in size
//! ([`MAX_MESSAGE`]), brace depth ([`crate::cursor::MAX_DEPTH`]) and list length
//! ([`MAX_ITEMS`]); every refusal says what was expected and where. This file reads the
//! message, its transactions, actions and commands; `descriptor.rs` the descriptors.

use std::net::IpAddr;

use crate::cursor::Cursor;
use crate::digitmap::DigitMapError;
use crate::model::*;
use crate::token::Kw;

mod descriptor;

use descriptor::{descriptor, error_descriptor};

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
    if c.eat(b'{') && c.eat(b'}') {
        return Ok(Vec::new());
    }
    c.i = save;
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
