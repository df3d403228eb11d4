//! Parameter lines (RFC 3435 §3.2.2): `name: value`, one per line, names case-insensitive,
//! at most once each (§3.2.2, §3.3). Kept in order as text; typed views parse a value when
//! asked, so an unknown or extension parameter (`X-...`, `L/...`) passes through untouched
//! (the RFC says to ignore what is not understood, §3.3) and prints back as it came.

use std::fmt;

use crate::digitmap::{DigitMap, DigitMapError};
use crate::event::{self, EventError, EventName, RequestedEvent};

/// Parameter codes of RFC 3435 §3.2.2 (and the two SDP codes of §3.2.2.x for audits).
pub mod name {
    /// ResponseAck: confirmed transaction ids, or empty in a final response that needs a `000`.
    pub const RESPONSE_ACK: &str = "K";
    /// BearerInformation.
    pub const BEARER_INFORMATION: &str = "B";
    /// CallId (hex, up to 32 characters).
    pub const CALL_ID: &str = "C";
    /// ConnectionId (hex, up to 32 characters).
    pub const CONNECTION_ID: &str = "I";
    /// NotifiedEntity: `[local@]domain[:port]` where NTFY goes.
    pub const NOTIFIED_ENTITY: &str = "N";
    /// RequestIdentifier (hex), ties an NTFY to its RQNT.
    pub const REQUEST_IDENTIFIER: &str = "X";
    /// LocalConnectionOptions: `p:20, a:PCMU`.
    pub const LOCAL_CONNECTION_OPTIONS: &str = "L";
    /// ConnectionMode: `sendrecv`, `recvonly`, ...
    pub const CONNECTION_MODE: &str = "M";
    /// RequestedEvents: `L/hd(N), D/[0-9#*T](D)`.
    pub const REQUESTED_EVENTS: &str = "R";
    /// SignalRequests: `L/rg, L/ci(...)`.
    pub const SIGNAL_REQUESTS: &str = "S";
    /// DigitMap: `(0T|00T|[1-7]xxx|...)`.
    pub const DIGIT_MAP: &str = "D";
    /// ObservedEvents, in NTFY.
    pub const OBSERVED_EVENTS: &str = "O";
    /// ConnectionParameters (statistics on DLCX).
    pub const CONNECTION_PARAMETERS: &str = "P";
    /// ReasonCode: `900 Endpoint malfunctioning`.
    pub const REASON_CODE: &str = "E";
    /// SpecificEndpointId (response to a `$` CRCX).
    pub const SPECIFIC_ENDPOINT_ID: &str = "Z";
    /// SecondEndpointId.
    pub const SECOND_ENDPOINT_ID: &str = "Z2";
    /// SecondConnectionId.
    pub const SECOND_CONNECTION_ID: &str = "I2";
    /// RequestedInfo (audits): `F: R,S,X`.
    pub const REQUESTED_INFO: &str = "F";
    /// QuarantineHandling.
    pub const QUARANTINE_HANDLING: &str = "Q";
    /// DetectEvents.
    pub const DETECT_EVENTS: &str = "T";
    /// RestartMethod: `graceful`, `forced`, `restart`, `disconnected`, `cancel-graceful`.
    pub const RESTART_METHOD: &str = "RM";
    /// RestartDelay, seconds.
    pub const RESTART_DELAY: &str = "RD";
    /// Capabilities (AUEP response); the one parameter that may repeat, a line per capability set.
    pub const CAPABILITIES: &str = "A";
    /// EventStates (AUEP response).
    pub const EVENT_STATES: &str = "ES";
    /// PackageList.
    pub const PACKAGE_LIST: &str = "PL";
    /// MaxMGCPDatagram.
    pub const MAX_DATAGRAM: &str = "MD";
    /// RemoteConnectionDescriptor, as a RequestedInfo code.
    pub const REMOTE_CONNECTION_DESCRIPTOR: &str = "RC";
    /// LocalConnectionDescriptor, as a RequestedInfo code.
    pub const LOCAL_CONNECTION_DESCRIPTOR: &str = "LC";
}

/// Most parameter lines in one message.
pub const MAX_PARAMS: usize = 32;
const MAX_NAME: usize = 32;
/// Most transaction ids or ranges in one ResponseAck.
pub const MAX_ACK_RANGES: usize = 64;

/// Why a parameter line or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A line without `:`.
    #[error("parameter line without ':'")]
    NoColon,
    /// An empty name, a too long one or a character outside `[A-Za-z0-9/+-]`.
    #[error("bad parameter name {0:?}")]
    BadName(String),
    /// The same parameter twice (§3.2.2: MUST NOT).
    #[error("parameter {0} appears twice")]
    Duplicate(String),
    /// More than [`MAX_PARAMS`] lines.
    #[error("more than {MAX_PARAMS} parameters")]
    TooMany,
    /// A value with a line break or another control character (set by the caller).
    #[error("bad value for parameter {0}")]
    BadValue(String),
    /// A ResponseAck value that is not `id[-id]` separated by commas, or too many of them.
    #[error("bad ResponseAck value")]
    BadResponseAck,
}

/// The parameter lines of one message, in order, names upper-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params(Vec::new())
    }

    /// Adds or replaces `name` (case-insensitive); the value is trimmed.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), ParamError> {
        let name = check_name(name)?;
        let value = value.into().trim().to_owned();
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ParamError::BadValue(name));
        }
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => {
                if self.0.len() >= MAX_PARAMS {
                    return Err(ParamError::TooMany);
                }
                self.0.push((name, value));
            }
        }
        Ok(())
    }

    /// Builder form of [`Params::set`] for names and values known to be good (constants).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Result<Params, ParamError> {
        self.set(name, value)?;
        Ok(self)
    }

    /// The value of `name`, if present (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes `name`, giving its value back.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.0.remove(i).1)
    }

    /// Every (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ResponseAck (`K`), parsed: `None` if absent.
    pub fn response_ack(&self) -> Option<Result<ResponseAck, ParamError>> {
        self.get(name::RESPONSE_ACK).map(ResponseAck::parse)
    }

    /// Every value of `name`: only Capabilities (`A`) may repeat, one line per capability
    /// set in an AUEP response.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// RequestedEvents (`R`), parsed.
    pub fn requested_events(&self) -> Option<Result<Vec<RequestedEvent>, EventError>> {
        self.get(name::REQUESTED_EVENTS).map(event::parse_requested)
    }

    /// SignalRequests (`S`), parsed.
    pub fn signal_requests(&self) -> Option<Result<Vec<EventName>, EventError>> {
        self.get(name::SIGNAL_REQUESTS).map(event::parse_names)
    }

    /// ObservedEvents (`O`), parsed.
    pub fn observed_events(&self) -> Option<Result<Vec<EventName>, EventError>> {
        self.get(name::OBSERVED_EVENTS).map(event::parse_names)
    }

    /// DigitMap (`D`), parsed.
    pub fn digit_map(&self) -> Option<Result<DigitMap, DigitMapError>> {
        self.get(name::DIGIT_MAP).map(DigitMap::parse)
    }

    /// Reads one parameter line (without its line ending) into the set.
    pub(crate) fn push_line(&mut self, line: &str) -> Result<(), ParamError> {
        let (name, value) = line.split_once(':').ok_or(ParamError::NoColon)?;
        let name = check_name(name.trim())?;
        if name != name::CAPABILITIES && self.0.iter().any(|(n, _)| *n == name) {
            return Err(ParamError::Duplicate(name));
        }
        if self.0.len() >= MAX_PARAMS {
            return Err(ParamError::TooMany);
        }
        self.0.push((name, value.trim().to_owned()));
        Ok(())
    }
}

fn check_name(name: &str) -> Result<String, ParamError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '-'));
    if ok {
        Ok(name.to_ascii_uppercase())
    } else {
        Err(ParamError::BadName(name.chars().take(MAX_NAME).collect()))
    }
}

/// A ResponseAck value (§3.2.2.19 of the grammar, §3.5.6): transaction ids whose final
/// responses the sender has received, as ids and inclusive ranges. Empty in a final response
/// that follows a provisional one, asking for a `000` acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseAck(pub Vec<(u32, u32)>);

impl ResponseAck {
    /// Parses `6234-6255, 6257, 19030-19044` (or nothing).
    pub fn parse(s: &str) -> Result<ResponseAck, ParamError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(ResponseAck(Vec::new()));
        }
        let mut ranges = Vec::new();
        for part in s.split(',') {
            if ranges.len() >= MAX_ACK_RANGES {
                return Err(ParamError::BadResponseAck);
            }
            let part = part.trim();
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let a = super::transaction_id(a).ok_or(ParamError::BadResponseAck)?;
            let b = super::transaction_id(b).ok_or(ParamError::BadResponseAck)?;
            if a > b {
                return Err(ParamError::BadResponseAck);
            }
            ranges.push((a, b));
        }
        Ok(ResponseAck(ranges))
    }

    /// Builds the shortest list of ranges for a set of ids.
    pub fn from_ids(ids: &[u32]) -> ResponseAck {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            match ranges.last_mut() {
                Some((_, b)) if *b + 1 == id => *b = id,
                _ => ranges.push((id, id)),
            }
        }
        ResponseAck(ranges)
    }

    /// Whether `id` is confirmed.
    pub fn contains(&self, id: u32) -> bool {
        self.0.iter().any(|&(a, b)| a <= id && id <= b)
    }

    /// Whether this is the empty form (asks for a `000`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ResponseAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_ack_ranges() {
        let k = ResponseAck::parse("6234-6255, 6257, 19030-19044").expect("parses");
        assert_eq!(k.0, vec![(6234, 6255), (6257, 6257), (19030, 19044)]);
        assert!(k.contains(6240) && k.contains(6257) && !k.contains(6256));
        assert_eq!(k.to_string(), "6234-6255, 6257, 19030-19044");
        assert!(ResponseAck::parse("").expect("empty").is_empty());
        assert_eq!(ResponseAck::parse("5-3"), Err(ParamError::BadResponseAck));
        assert_eq!(ResponseAck::parse("0"), Err(ParamError::BadResponseAck));
        assert_eq!(ResponseAck::parse("1,,2"), Err(ParamError::BadResponseAck));
        assert_eq!(
            ResponseAck::parse("1000000000"),
            Err(ParamError::BadResponseAck)
        );
        let many = (1..=65)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(ResponseAck::parse(&many), Err(ParamError::BadResponseAck));
        assert_eq!(
            ResponseAck::from_ids(&[7, 3, 4, 5, 9, 4]).to_string(),
            "3-5, 7, 9"
        );
    }

    #[test]
    fn names_fold_case_and_refuse_duplicates() {
        let mut p = Params::new();
        p.push_line("c: A3C47F21456789F0").expect("ok");
        p.push_line("rm :  restart ").expect("ok");
        assert_eq!(p.get("C"), Some("A3C47F21456789F0"));
        assert_eq!(p.get("Rm"), Some("restart"));
        assert_eq!(p.push_line("C: 1"), Err(ParamError::Duplicate("C".into())));
        assert_eq!(p.push_line("no colon"), Err(ParamError::NoColon));
        assert_eq!(
            p.push_line("a b: 1"),
            Err(ParamError::BadName("a b".into()))
        );
        assert_eq!(p.push_line(": 1"), Err(ParamError::BadName(String::new())));
    }
}
