//! Event and signal names (RFC 3435 §2.1.7, §3.2.2.4-§3.2.2.10) and the line package's
//! events (RFC 3660 §2.1): the values of RequestedEvents (`R`), SignalRequests (`S`),
//! ObservedEvents (`O`) and DetectEvents (`T`).
//!
//! # Format
//! ```text
//! R: L/hd(N), L/hu(N), D/[0-9#*T](D), L/hf(S,N)    requested events with actions
//! S: L/rg, L/ci(10/14/17/26,"555-1212",Alice)      signals with parameters
//! O: L/hd, D/8, D/2, D/T                           observed events
//! ```
//! An event name is `[package/]event[@connection][(parameters)]`; a requested event may have
//! an action list first, `event(actions)(parameters)`. Lists split on commas outside quotes,
//! parentheses and brackets, so a caller-id name with a comma stays one parameter. The
//! embedded request of action `E(...)` is kept as text (one level, bounded by the line).

use std::fmt;

/// Most names in one list.
pub const MAX_EVENTS: usize = 64;
const MAX_DEPTH: usize = 8;

/// Why an event, signal or action list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// An empty list item, package or name (`L/`, `, ,`).
    #[error("empty event name")]
    Empty,
    /// Unbalanced `(`, `[` or `"`, or nesting deeper than 8.
    #[error("unbalanced brackets or quotes")]
    Unbalanced,
    /// A character the grammar does not allow in a name.
    #[error("bad character {0:?} in event name")]
    BadChar(char),
    /// Text after the parameter list, or more than two parenthesised groups.
    #[error("trailing text after event")]
    Trailing,
    /// An action that is not N, A, D, S, I, K or E(...).
    #[error("unknown action {0:?}")]
    Action(String),
    /// More than [`MAX_EVENTS`] items.
    #[error("more than {MAX_EVENTS} events")]
    TooMany,
}

/// A package-qualified event or signal name with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName {
    /// `L`, `D`, ... (`None` for a bare name, which means the endpoint's default packages).
    pub package: Option<String>,
    /// `hd`, `rg`, `[0-9#*T]`, `*`, `8`.
    pub name: String,
    /// `@connection-id`, `@*`, `@$`.
    pub connection: Option<String>,
    /// The text inside the parentheses (`+` for vmwi, the caller id fields), untouched.
    pub params: Option<String>,
}

impl EventName {
    /// An event of a package, without parameters.
    pub fn new(package: &str, name: &str) -> EventName {
        EventName {
            package: Some(package.to_owned()),
            name: name.to_owned(),
            connection: None,
            params: None,
        }
    }

    /// The same with parameters, e.g. `L/vmwi(+)`.
    pub fn with_params(package: &str, name: &str, params: &str) -> EventName {
        EventName {
            params: Some(params.to_owned()),
            ..EventName::new(package, name)
        }
    }

    /// Parses one name with optional parameters (a signal, an observed event).
    pub fn parse(s: &str) -> Result<EventName, EventError> {
        let (head, groups) = split_groups(s)?;
        if groups.len() > 1 {
            return Err(EventError::Trailing);
        }
        let mut e = parse_head(head)?;
        e.params = groups.first().map(|g| g.to_string());
        Ok(e)
    }

    /// Whether this is `package/name` (case-insensitive; a bare name matches any package).
    pub fn is(&self, package: &str, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && self
                .package
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(package))
    }

    /// For an observed DTMF event (`D/5`, `D/#`, `D/T`, or a bare `5`): the digit.
    pub fn digit(&self) -> Option<char> {
        let pkg_ok = self
            .package
            .as_deref()
            .is_none_or(|p| p.eq_ignore_ascii_case("D"));
        let mut chars = self.name.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if pkg_ok && is_digit_event(c) => Some(c.to_ascii_uppercase()),
            _ => None,
        }
    }
}

fn is_digit_event(c: char) -> bool {
    c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), '*' | '#' | 'A'..='D' | 'T')
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.package {
            write!(f, "{p}/")?;
        }
        f.write_str(&self.name)?;
        if let Some(c) = &self.connection {
            write!(f, "@{c}")?;
        }
        if let Some(p) = &self.params {
            write!(f, "({p})")?;
        }
        Ok(())
    }
}

/// What the endpoint does when a requested event happens (§3.2.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `N`: notify at once.
    Notify,
    /// `A`: accumulate.
    Accumulate,
    /// `D`: accumulate according to the digit map, notify on a match.
    DigitMap,
    /// `S`: swap audio.
    Swap,
    /// `I`: ignore.
    Ignore,
    /// `K`: keep the signals active.
    Keep,
    /// `E(...)`: an embedded notification request, its text kept.
    Embedded(String),
}

impl Action {
    fn parse(s: &str) -> Result<Action, EventError> {
        let s = s.trim();
        let (head, groups) = split_groups(s)?;
        let upper = head.trim().to_ascii_uppercase();
        Ok(match (upper.as_str(), groups.as_slice()) {
            ("N", []) => Action::Notify,
            ("A", []) => Action::Accumulate,
            ("D", []) => Action::DigitMap,
            ("S", []) => Action::Swap,
            ("I", []) => Action::Ignore,
            ("K", []) => Action::Keep,
            ("E", [inner]) => Action::Embedded(inner.trim().to_owned()),
            _ => return Err(EventError::Action(s.chars().take(32).collect())),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Notify => f.write_str("N"),
            Action::Accumulate => f.write_str("A"),
            Action::DigitMap => f.write_str("D"),
            Action::Swap => f.write_str("S"),
            Action::Ignore => f.write_str("I"),
            Action::Keep => f.write_str("K"),
            Action::Embedded(e) => write!(f, "E({e})"),
        }
    }
}

/// One item of a RequestedEvents list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestedEvent {
    /// The event (its `params` are the event's own parameters, the second group).
    pub event: EventName,
    /// The actions (empty: the default, notify).
    pub actions: Vec<Action>,
}

impl RequestedEvent {
    /// An event with one action.
    pub fn new(event: EventName, action: Action) -> RequestedEvent {
        RequestedEvent {
            event,
            actions: vec![action],
        }
    }

    /// Parses `event[(actions)][(parameters)]`.
    pub fn parse(s: &str) -> Result<RequestedEvent, EventError> {
        let (head, groups) = split_groups(s)?;
        if groups.len() > 2 {
            return Err(EventError::Trailing);
        }
        let mut event = parse_head(head)?;
        let actions = match groups.first() {
            Some(a) => split_list(a)?
                .into_iter()
                .map(Action::parse)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        event.params = groups.get(1).map(|g| g.to_string());
        Ok(RequestedEvent { event, actions })
    }
}

impl fmt::Display for RequestedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.event;
        if let Some(p) = &e.package {
            write!(f, "{p}/")?;
        }
        f.write_str(&e.name)?;
        if let Some(c) = &e.connection {
            write!(f, "@{c}")?;
        }
        if !self.actions.is_empty() || e.params.is_some() {
            f.write_str("(")?;
            for (i, a) in self.actions.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(")")?;
        }
        if let Some(p) = &e.params {
            write!(f, "({p})")?;
        }
        Ok(())
    }
}

/// Parses a RequestedEvents value (`R:`); empty means "no events".
pub fn parse_requested(s: &str) -> Result<Vec<RequestedEvent>, EventError> {
    split_list(s)?
        .into_iter()
        .map(RequestedEvent::parse)
        .collect()
}

/// Parses a SignalRequests, ObservedEvents or DetectEvents value; empty means none.
pub fn parse_names(s: &str) -> Result<Vec<EventName>, EventError> {
    split_list(s)?.into_iter().map(EventName::parse).collect()
}

/// Prints a list back with `,` (the form [`parse_requested`] and [`parse_names`] read).
pub fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits on commas at depth 0, outside quotes. Empty input gives an empty list.
fn split_list(s: &str) -> Result<Vec<&str>, EventError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(EventError::Unbalanced);
                }
            }
            ')' | ']' if !quoted => depth = depth.checked_sub(1).ok_or(EventError::Unbalanced)?,
            ',' if !quoted && depth == 0 => {
                items.push(s[start..i].trim());
                start = i + 1;
                if items.len() >= MAX_EVENTS {
                    return Err(EventError::TooMany);
                }
            }
            _ => {}
        }
    }
    if quoted || depth != 0 {
        return Err(EventError::Unbalanced);
    }
    items.push(s[start..].trim());
    if items.iter().any(|i| i.is_empty()) {
        return Err(EventError::Empty);
    }
    Ok(items)
}

/// Splits `head(g1)(g2)` into the head and the groups' insides. Brackets in the head
/// (`[0-9#*T]`) are part of the name.
fn split_groups(s: &str) -> Result<(&str, Vec<&str>), EventError> {
    let s = s.trim();
    let mut bracket = false;
    let mut head_end = s.len();
    for (i, c) in s.char_indices() {
        match c {
            '[' => bracket = true,
            ']' => bracket = false,
            '(' if !bracket => {
                head_end = i;
                break;
            }
            ')' => return Err(EventError::Unbalanced),
            _ => {}
        }
    }
    let head = &s[..head_end];
    let mut groups = Vec::new();
    let mut rest = &s[head_end..];
    while !rest.is_empty() {
        if !rest.starts_with('(') || groups.len() >= 2 {
            return Err(EventError::Trailing);
        }
        let mut depth = 0usize;
        let mut quoted = false;
        let mut close = None;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '(' if !quoted => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(EventError::Unbalanced);
                    }
                }
                ')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close.ok_or(EventError::Unbalanced)?;
        groups.push(&rest[1..close]);
        rest = rest[close + 1..].trim_start();
    }
    Ok((head, groups))
}

/// `[package/]name[@connection]`.
fn parse_head(head: &str) -> Result<EventName, EventError> {
    let head = head.trim();
    let (name_part, connection) = match head.split_once('@') {
        Some((n, c)) => (n, Some(c)),
        None => (head, None),
    };
    // A digit range may hold '/' only inside brackets, which no range needs: split at the
    // first '/' outside them.
    let slash = name_part
        .find(['/', '['])
        .filter(|&i| name_part.as_bytes()[i] == b'/');
    let (package, name) = match slash {
        Some(i) => (Some(&name_part[..i]), &name_part[i + 1..]),
        None => (None, name_part),
    };
    if let Some(p) = package {
        check_token(p, false)?;
    }
    check_token(name, true)?;
    if let Some(c) = connection {
        check_token(c, false)?;
    }
    Ok(EventName {
        package: package.map(str::to_owned),
        name: name.to_owned(),
        connection: connection.map(str::to_owned),
        params: None,
    })
}

fn check_token(s: &str, is_name: bool) -> Result<(), EventError> {
    if s.is_empty() {
        return Err(EventError::Empty);
    }
    if is_name && s.starts_with('[') {
        // A digit range `[0-9#*T]`: digits, letters, '#', '*', '-' between the brackets.
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(EventError::Unbalanced)?;
        if let Some(c) = inner
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '#' | '*' | '-')))
        {
            return Err(EventError::BadChar(c));
        }
        return Ok(());
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '$' | '#' | '.')))
    {
        Some(c) => Err(EventError::BadChar(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_events_of_rfc_3660() {
        let r = parse_requested("L/hd(N), L/hu(N), D/[0-9#*T](D), L/hf(S,N)").expect("parses");
        assert_eq!(r.len(), 4);
        assert!(r[0].event.is("L", "hd"));
        assert_eq!(r[0].actions, vec![Action::Notify]);
        assert_eq!(r[2].event.package.as_deref(), Some("D"));
        assert_eq!(r[2].event.name, "[0-9#*T]");
        assert_eq!(r[2].actions, vec![Action::DigitMap]);
        assert_eq!(r[3].actions, vec![Action::Swap, Action::Notify]);
        assert_eq!(join(&r), "L/hd(N),L/hu(N),D/[0-9#*T](D),L/hf(S,N)");
        let e = parse_requested("hd(A, E(S(dl),R(hu(N),[0-9#*T](D))))").expect("embedded");
        assert_eq!(
            e[0].actions,
            vec![
                Action::Accumulate,
                Action::Embedded("S(dl),R(hu(N),[0-9#*T](D))".into())
            ]
        );
        assert_eq!(parse_requested(&join(&e)).expect("again"), e);
        let withp = parse_requested("R/oc@*(N)(3)").expect("params");
        assert_eq!(withp[0].event.connection.as_deref(), Some("*"));
        assert_eq!(withp[0].event.params.as_deref(), Some("3"));
        assert_eq!(join(&withp), "R/oc@*(N)(3)");
        assert_eq!(parse_requested("").expect("empty"), vec![]);
    }

    #[test]
    fn signals_and_observed() {
        let s = parse_names(r#"L/rg, L/ci(10/14/17/26, "555-1212", "Doe, Alice"), L/vmwi(+)"#)
            .expect("parses");
        assert_eq!(s.len(), 3);
        assert!(s[0].is("l", "RG"));
        assert_eq!(
            s[1].params.as_deref(),
            Some(r#"10/14/17/26, "555-1212", "Doe, Alice""#)
        );
        assert_eq!(s[2], EventName::with_params("L", "vmwi", "+"));
        let o = parse_names("L/hd, D/8, D/2, D/#, D/T, 5").expect("parses");
        let digits: String = o.iter().filter_map(EventName::digit).collect();
        assert_eq!(digits, "82#T5");
        assert_eq!(o[0].digit(), None);
    }

    #[test]
    fn bad_lists() {
        assert_eq!(
            parse_requested("L/hd(Q)"),
            Err(EventError::Action("Q".into()))
        );
        assert_eq!(parse_requested("L/hd(N"), Err(EventError::Unbalanced));
        assert_eq!(parse_names("L/ci(\"open)"), Err(EventError::Unbalanced));
        assert_eq!(parse_names("L/"), Err(EventError::Empty));
        assert_eq!(parse_names("L/hd,,L/hu"), Err(EventError::Empty));
        assert_eq!(parse_names("L/hd(1)(2)"), Err(EventError::Trailing));
        assert_eq!(parse_names("L/hd(1)x"), Err(EventError::Trailing));
        assert_eq!(parse_names("L/h d"), Err(EventError::BadChar(' ')));
        assert_eq!(parse_names("L/hd)"), Err(EventError::Unbalanced));
        let deep = format!("L/x{}{}", "(".repeat(9), ")".repeat(9));
        assert_eq!(parse_names(&deep), Err(EventError::Unbalanced));
        let many = vec!["L/hd"; 65].join(",");
        assert_eq!(parse_names(&many), Err(EventError::TooMany));
    }
}
