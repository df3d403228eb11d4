//! `name-addr` / `addr-spec` with header parameters: From, To, Contact, Route, Record-Route.

use std::fmt;

use super::params::Params;
use super::syntax::{is_token, quote, read_quoted, trim_ws};
use super::uri::Uri;

/// A display name, a URI, and header parameters (`tag`, `expires`, `q`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, quotes removed, if any.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters after the URI.
    pub params: Params,
}

impl NameAddr {
    /// A bare URI with no display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses one element.
    ///
    /// In `addr-spec` form (no `<>`), parameters after the URI belong to the header, and a URI
    /// needing `?`, `,` or `;` inside must be enclosed in `<>` (RFC 4475 `regbadct`). Inside
    /// `<>` no whitespace is allowed (`badaspec`); an unquoted display name must be tokens
    /// (`baddn`); a quoted one must be terminated (`quotbal`).
    pub fn parse(s: &str) -> Result<NameAddr, &'static str> {
        let s = trim_ws(s);
        let (display, rest) = if s.starts_with('"') {
            let (d, rest) = read_quoted(s).ok_or("unterminated quoted display name")?;
            let rest = trim_ws(rest);
            if !rest.starts_with('<') {
                return Err("display name without <URI>");
            }
            (Some(d), rest)
        } else if let Some(lt) = s.find('<') {
            let d = trim_ws(&s[..lt]);
            if !d
                .split(super::syntax::is_ws)
                .filter(|w| !w.is_empty())
                .all(is_token)
            {
                return Err("display name is neither tokens nor a quoted string");
            }
            (
                if d.is_empty() {
                    None
                } else {
                    Some(d.to_owned())
                },
                &s[lt..],
            )
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or("missing '>'")?;
            let uri = Uri::parse(&inner[..gt]).map_err(|_| "malformed URI")?;
            let params = Params::parse(&inner[gt + 1..])?;
            return Ok(NameAddr {
                display,
                uri,
                params,
            });
        }
        let end = rest.find(';').unwrap_or(rest.len());
        let uri_text = trim_ws(&rest[..end]);
        if uri_text.contains(['?', ',']) {
            return Err("URI with '?' or ',' must be enclosed in <>");
        }
        let uri = Uri::parse(uri_text).map_err(|_| "malformed URI")?;
        let params = Params::parse(&rest[end..])?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<String> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }

    /// A Contact's `expires` parameter (seconds, saturating), if present and numeric.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .and_then(|e| super::typed::parse_delta_seconds(&e).ok())
    }

    /// A Contact's `q` parameter (0.0 to 1.0), if present and valid.
    pub fn q(&self) -> Option<f32> {
        self.params
            .get("q")
            .and_then(|q| q.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .expect("ok");
        assert_eq!(n.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag().as_deref(), Some("98asjd8"));
        let n = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
            .expect("ok");
        assert_eq!(n.tag().as_deref(), Some("1918181833n"));
        let c = NameAddr::parse("<sip:201@10.0.0.5>;expires=3600;q=0.5").expect("ok");
        assert_eq!((c.expires(), c.q()), (Some(3600), Some(0.5)));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").expect("ok");
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n = NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>")
            .expect("ok");
        assert_eq!(n.display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
        let back = NameAddr::parse(&n.to_string()).expect("roundtrip");
        assert_eq!(back, n);
    }

    #[test]
    fn rejects() {
        for s in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
            "",
        ] {
            assert!(NameAddr::parse(s).is_err(), "{s}");
        }
    }
}
