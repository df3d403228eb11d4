//! The descriptors of commands and replies (Annex B: `mediaDescriptor`, `eventsDescriptor`,
//! `signalsDescriptor`, `digitMapDescriptor`, `auditDescriptor`, `observedEventsDescriptor`,
//! `serviceChangeDescriptor`, `statisticsDescriptor`, `packagesDescriptor`, `errorDescriptor`).

use super::{equal, list, list_or_empty, mid, DecodeError, MAX_ITEMS};
use crate::cursor::Cursor;
use crate::digitmap::DigitMapValue;
use crate::model::*;
use crate::token::Kw;

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

pub(super) fn descriptor(c: &mut Cursor) -> Result<Descriptor, DecodeError> {
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

pub(super) fn error_descriptor(c: &mut Cursor) -> Result<ErrorDescriptor, DecodeError> {
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
