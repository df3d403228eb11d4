//! Header parameters: `;name[=value]` after a URI, a Via, a media type, an event...
//! (`generic-param` in RFC 3261 §25.1). Values are token, host or quoted-string.

use std::fmt;

use super::syntax::{is_token, is_token_char, read_quoted, split_outside, trim_ws, unquote};

/// One parameter; the value is kept as written (quotes included) so it prints back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name as written (compare case-insensitively).
    pub name: String,
    /// Value as written, if any.
    pub value: Option<String>,
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Parses `;a=b;c` (the text after the main value). Empty text is an empty list; anything
    /// not starting with `;`, or an empty parameter (`;;`, RFC 4475 `badinv01`), is an error.
    pub fn parse(s: &str) -> Result<Params, &'static str> {
        let s = trim_ws(s);
        if s.is_empty() {
            return Ok(Params::default());
        }
        if !s.starts_with(';') {
            return Err("unexpected text before parameters");
        }
        let mut out = Vec::new();
        for item in split_outside(&s[1..], ';') {
            let item = trim_ws(item);
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (trim_ws(n), Some(trim_ws(v))),
                None => (item, None),
            };
            if !is_token(name) {
                return Err("malformed parameter name");
            }
            if let Some(v) = value {
                if !valid_value(v) {
                    return Err("malformed parameter value");
                }
            }
            out.push(Param {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            });
        }
        Ok(Params(out))
    }

    /// `Some(value)` if present (quotes removed), `Some("")` for a valueless one.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| {
                p.value
                    .as_deref()
                    .map(|v| unquote(v).into_owned())
                    .unwrap_or_default()
            })
    }

    /// True if the parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Sets (or adds) a parameter; `value` is written as given.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value.map(str::to_owned),
            None => self.0.push(Param {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            }),
        }
    }

    /// Removes a parameter.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }
}

/// gen-value = token / host / quoted-string.
fn valid_value(v: &str) -> bool {
    if v.starts_with('"') {
        return matches!(read_quoted(v), Some((_, rest)) if rest.is_empty());
    }
    !v.is_empty()
        && v.chars()
            .all(|c| is_token_char(c) || matches!(c, '[' | ']' | ':'))
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_params() {
        let p = Params::parse(" ; newparam = newvalue ; secondparam ; q = 0.33").expect("ok");
        assert_eq!(p.get("NEWPARAM").as_deref(), Some("newvalue"));
        assert_eq!(p.get("secondparam").as_deref(), Some(""));
        assert_eq!(p.get("q").as_deref(), Some("0.33"));
        let p =
            Params::parse(r#";fromParam''~+*_!.-%="работающий";tag=_token~1'+`*%!-."#).expect("ok");
        assert_eq!(p.get("fromparam''~+*_!.-%").as_deref(), Some("работающий"));
        for bad in [";;", ";a=", "x;a", ";a=\"open", ";a b=c", ";;;;"] {
            assert!(Params::parse(bad).is_err(), "{bad}");
        }
    }
}
