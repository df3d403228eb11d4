//! The header list: names case-insensitive, compact forms expanded, order kept.
//!
//! Values are stored as one string per header line (folding already undone). List headers
//! (`Via: a, b`) are split on demand by [`Headers::values`], outside quotes and angle
//! brackets, so a message prints back as it came in while typed accessors see one element each.

use std::borrow::Cow;

use super::syntax::{split_outside, trim_ws};

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, canonical spelling for known headers (compact forms expanded).
    pub name: String,
    /// The value with folding replaced by single spaces and outer whitespace trimmed.
    pub value: String,
}

/// Compact forms (RFC 3261 §7.3.3 and later extensions) and canonical spellings.
const KNOWN: &[(&str, Option<char>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some('a')),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some('u')),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some('i')),
    ("Call-Info", None),
    ("Contact", Some('m')),
    ("Content-Disposition", None),
    ("Content-Encoding", Some('e')),
    ("Content-Language", None),
    ("Content-Length", Some('l')),
    ("Content-Type", Some('c')),
    ("CSeq", None),
    ("Date", None),
    ("Error-Info", None),
    ("Event", Some('o')),
    ("Expires", None),
    ("From", Some('f')),
    ("Identity", Some('y')),
    ("In-Reply-To", None),
    ("Max-Forwards", None),
    ("Min-Expires", None),
    ("MIME-Version", None),
    ("Organization", None),
    ("Priority", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("Reason", None),
    ("Record-Route", None),
    ("Refer-To", Some('r')),
    ("Referred-By", Some('b')),
    ("Reject-Contact", Some('j')),
    ("Reply-To", None),
    ("Request-Disposition", Some('d')),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("Server", None),
    ("Session-Expires", Some('x')),
    ("Subject", Some('s')),
    ("Subscription-State", None),
    ("Supported", Some('k')),
    ("Timestamp", None),
    ("To", Some('t')),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some('v')),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// Headers whose value is a comma-separated list (RFC 3261 §7.3.1): only these are split.
const LIST: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Call-Info",
    "Contact",
    "Content-Encoding",
    "Content-Language",
    "Error-Info",
    "In-Reply-To",
    "Proxy-Require",
    "Record-Route",
    "Require",
    "Route",
    "Supported",
    "Unsupported",
    "Via",
    "Warning",
];

/// The canonical spelling of a header name: compact forms expanded, known names in their
/// usual case, unknown names as given.
pub fn canonical_name(name: &str) -> String {
    canonical(name).into_owned()
}

/// [`canonical_name`] without allocating for known names (the common case: every header
/// lookup by the typed accessors goes through here).
fn canonical(name: &str) -> Cow<'static, str> {
    let b = name.as_bytes();
    if b.len() == 1 {
        let c = char::from(b[0].to_ascii_lowercase());
        if let Some((full, _)) = KNOWN.iter().find(|(_, compact)| *compact == Some(c)) {
            return Cow::Borrowed(full);
        }
    }
    match KNOWN
        .iter()
        .find(|(full, _)| full.eq_ignore_ascii_case(name))
    {
        Some((full, _)) => Cow::Borrowed(full),
        None => Cow::Owned(name.to_owned()),
    }
}

/// True if `name` (any spelling) is a comma-separated list header.
pub fn is_list_header(name: &str) -> bool {
    let c = canonical(name);
    LIST.iter().any(|l| l.eq_ignore_ascii_case(&c))
}

/// The header section of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Appends a header line (name canonicalised).
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.list.push(Header {
            name: canonical_name(name),
            value: value.into(),
        });
    }

    /// Inserts a header line before all others (used for Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        self.list.insert(
            0,
            Header {
                name: canonical_name(name),
                value: value.into(),
            },
        );
    }

    /// Replaces every line of `name` by one line with `value`, at the place of the first.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let c = canonical(name);
        let value = value.into();
        match self
            .list
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&c))
        {
            Some(i) => {
                self.list[i].value = value;
                let mut seen = 0;
                self.list.retain(|h| {
                    if h.name.eq_ignore_ascii_case(&c) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.list.push(Header {
                name: c.into_owned(),
                value,
            }),
        }
    }

    /// Removes every line of `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let c = canonical(name);
        let before = self.list.len();
        self.list.retain(|h| !h.name.eq_ignore_ascii_case(&c));
        before - self.list.len()
    }

    /// The first line of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every line of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let c = canonical(name);
        self.list
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(&c))
            .map(|h| h.value.as_str())
    }

    /// Every element of `name`: lines in order, each list header line split at its commas.
    pub fn values<'a>(&'a self, name: &str) -> Vec<&'a str> {
        let list = is_list_header(name);
        let mut out = Vec::new();
        for v in self.get_all(name) {
            if list {
                out.extend(split_outside(v, ',').into_iter().map(trim_ws));
            } else {
                out.push(v);
            }
        }
        out
    }

    /// How many lines of `name` there are.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// All lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.list.iter()
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No lines at all.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Mutable access to the lines (for rewriting a Via in place).
    pub fn lines_mut(&mut self) -> &mut Vec<Header> {
        &mut self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(canonical_name("v"), "Via");
        assert_eq!(canonical_name("I"), "Call-ID");
        assert_eq!(canonical_name("cseq"), "CSeq");
        assert_eq!(canonical_name("MaX-fOrWaRdS"), "Max-Forwards");
        assert_eq!(canonical_name("C%6Fntact"), "C%6Fntact");
        assert_eq!(canonical_name("X-Foo"), "X-Foo");
    }

    #[test]
    fn list_split_only_for_list_headers() {
        let mut h = Headers::new();
        h.push("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b");
        h.push("Via", "SIP/2.0/TCP c");
        h.push("Date", "Fri, 01 Jan 2010 16:00:00 GMT");
        assert_eq!(h.values("via").len(), 3);
        assert_eq!(h.values("date").len(), 1);
        h.set("Via", "x");
        assert_eq!(h.values("Via"), vec!["x"]);
        assert_eq!(h.remove("date"), 1);
    }
}
