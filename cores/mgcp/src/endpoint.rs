//! Endpoint names (RFC 3435 §2.1.1, §3.2.1.3): `local@domain`, e.g. `aaln/1@gw.example`.
//!
//! The local name is a `/`-separated list of terms, hierarchical from the gateway's point of
//! view (`aaln/1` is analog line 1). A term may be a wildcard: `*` ("all" of that level, used
//! by audits, RSIP of a whole gateway and DLCX of many connections) or `$` ("any one", the
//! gateway picks; only in CRCX). The domain is a host name or a bracketed IP address, with an
//! optional port. Names compare without regard to case (§3.2.1.3), so [`EndpointName::matches`]
//! folds case; the text is kept as received so a message prints back byte for byte.

use std::fmt;

/// Longest endpoint name accepted (the RFC sets 255 for the local part's terms together).
pub const MAX_ENDPOINT: usize = 255;
const MAX_TERMS: usize = 8;

/// Why a string is not an endpoint name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Longer than [`MAX_ENDPOINT`] or more than 8 terms.
    #[error("endpoint name too long")]
    TooLong,
    /// No `@` between local name and domain.
    #[error("endpoint name has no '@domain'")]
    NoDomain,
    /// An empty term (`aaln//1`, `@gw`, `aaln/`).
    #[error("endpoint name has an empty term")]
    EmptyTerm,
    /// A character the grammar does not allow in that place.
    #[error("bad character {0:?} in endpoint name")]
    BadChar(char),
    /// A domain that is neither a host name nor `[address]`, or a bad port.
    #[error("bad domain in endpoint name")]
    BadDomain,
}

/// One endpoint name, as received (case kept), checked against the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointName {
    local: String,
    domain: String,
}

impl EndpointName {
    /// Parses `local@domain`.
    pub fn parse(s: &str) -> Result<EndpointName, EndpointError> {
        if s.len() > MAX_ENDPOINT {
            return Err(EndpointError::TooLong);
        }
        // The domain follows the last '@': local names never contain one (checked below).
        let (local, domain) = s.rsplit_once('@').ok_or(EndpointError::NoDomain)?;
        check_local(local)?;
        check_domain(domain)?;
        Ok(EndpointName {
            local: local.to_owned(),
            domain: domain.to_owned(),
        })
    }

    /// The local name, e.g. `aaln/1`.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, e.g. `gw.example` or `[192.0.2.7]:2427`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The local name's terms, e.g. `["aaln", "1"]`.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.local.split('/')
    }

    /// Whether any term is `*` or `$`.
    pub fn is_wildcard(&self) -> bool {
        self.terms().any(|t| t == "*" || t == "$")
    }

    /// Whether this name (possibly wildcarded) covers `specific`: same domain, and term by
    /// term equal or a wildcard; a final `*` also covers any deeper terms (`*@gw` is every
    /// endpoint of the gateway). Case is ignored.
    pub fn matches(&self, specific: &EndpointName) -> bool {
        if !self.domain.eq_ignore_ascii_case(&specific.domain) {
            return false;
        }
        let mine: Vec<&str> = self.terms().collect();
        let theirs: Vec<&str> = specific.terms().collect();
        for (i, m) in mine.iter().enumerate() {
            let last = i + 1 == mine.len();
            match theirs.get(i) {
                None => return false,
                Some(_) if *m == "*" && last => return true,
                Some(_) if *m == "*" || *m == "$" => {}
                Some(t) if t.eq_ignore_ascii_case(m) => {}
                Some(_) => return false,
            }
        }
        mine.len() == theirs.len()
    }
}

impl fmt::Display for EndpointName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

fn check_local(local: &str) -> Result<(), EndpointError> {
    let mut terms = 0;
    for term in local.split('/') {
        terms += 1;
        if terms > MAX_TERMS {
            return Err(EndpointError::TooLong);
        }
        if term.is_empty() {
            return Err(EndpointError::EmptyTerm);
        }
        if term == "*" || term == "$" {
            continue;
        }
        // §3.2.1.3: any visible ASCII except the separators and the wildcard characters.
        if let Some(c) = term
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '@' | '*' | '$' | '/'))
        {
            return Err(EndpointError::BadChar(c));
        }
    }
    Ok(())
}

/// `host[:port]` or `[ip][:port]`, the form also used by NotifiedEntity.
pub(crate) fn check_domain(domain: &str) -> Result<(), EndpointError> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or(EndpointError::BadDomain)?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
        {
            return Err(EndpointError::BadDomain);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(EndpointError::BadDomain)?),
        };
        (None, port)
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(EndpointError::EmptyTerm);
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(EndpointError::BadChar(c));
        }
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || p.parse::<u16>().is_err() {
            return Err(EndpointError::BadDomain);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wildcards() {
        let e = EndpointName::parse("aaln/1@rgw-2567.whatever.net").expect("parses");
        assert_eq!(e.local(), "aaln/1");
        assert_eq!(e.domain(), "rgw-2567.whatever.net");
        assert!(!e.is_wildcard());
        assert_eq!(e.to_string(), "aaln/1@rgw-2567.whatever.net");
        let all = EndpointName::parse("*@rgw-2567.whatever.net").expect("parses");
        assert!(all.is_wildcard() && all.matches(&e));
        let any = EndpointName::parse("AALN/$@RGW-2567.whatever.net").expect("parses");
        assert!(any.matches(&e));
        let other = EndpointName::parse("aaln/2@rgw-2567.whatever.net").expect("parses");
        assert!(!other.matches(&e));
        let ip = EndpointName::parse("aaln/1@[192.0.2.7]:2427").expect("parses");
        assert_eq!(ip.domain(), "[192.0.2.7]:2427");
    }

    #[test]
    fn bad_names() {
        use EndpointError::*;
        assert_eq!(EndpointName::parse("aaln/1"), Err(NoDomain));
        assert_eq!(EndpointName::parse("aaln//1@gw"), Err(EmptyTerm));
        assert_eq!(EndpointName::parse("@gw"), Err(EmptyTerm));
        assert_eq!(EndpointName::parse("aaln/1@"), Err(EmptyTerm));
        assert_eq!(EndpointName::parse("aa*ln@gw"), Err(BadChar('*')));
        assert_eq!(EndpointName::parse("aaln@g w"), Err(BadChar(' ')));
        assert_eq!(EndpointName::parse("aaln@gw:99999"), Err(BadDomain));
        assert_eq!(EndpointName::parse("aaln@[gw]"), Err(BadDomain));
        let long = format!("{}@gw", "a".repeat(300));
        assert_eq!(EndpointName::parse(&long), Err(TooLong));
        assert_eq!(EndpointName::parse("a/b/c/d/e/f/g/h/i@gw"), Err(TooLong));
    }
}
