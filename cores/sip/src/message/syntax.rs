//! Character classes and small lexers from the RFC 3261 §25 grammar, shared by the header
//! parsers. Everything here works on `&str` slices and never indexes past a boundary it has not
//! checked, so malformed input can only produce an error, not a panic.

use std::borrow::Cow;

/// `token` characters (RFC 3261 §25.1): alphanumerics and `-.!%*_+` `` ` `` `'~`.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
        )
}

/// A non-empty run of token characters.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// `unreserved` = alphanum / mark.
pub(crate) fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | '\'' | '(' | ')')
}

/// Space or horizontal tab (what folding leaves behind as LWS).
pub(crate) fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Trims SP and HT (not other Unicode whitespace, which is data in SIP).
pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_ws)
}

/// Checks that every character of `s` is `unreserved`, an `escaped` triplet, or in `extra`.
pub(crate) fn check_escaped(s: &str, extra: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
            continue;
        }
        let ch = c as char;
        if !(c.is_ascii() && (is_unreserved(ch) || extra.contains(ch))) {
            return false;
        }
        i += 1;
    }
    true
}

/// Decodes `%HH` escapes to bytes; an invalid escape is kept literally.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits `s` at `sep` where it stands outside quoted strings and angle brackets, the way
/// list headers (`Via: a, b`) and parameter lists (`;tag="x;y"`) must be split.
pub(crate) fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = 0usize;
    for (i, c) in s.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '<' => angle += 1,
            '>' => angle = angle.saturating_sub(1),
            c if c == sep && angle == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Reads a quoted string at the start of `s` (which must begin with `"`): returns the content
/// with quoted-pairs resolved and the rest after the closing quote, or `None` if unterminated.
pub(crate) fn read_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, &s[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

/// The value of a parameter with surrounding quotes removed and quoted-pairs resolved.
pub(crate) fn unquote(s: &str) -> Cow<'_, str> {
    if s.starts_with('"') {
        if let Some((v, rest)) = read_quoted(s) {
            if trim_ws(rest).is_empty() {
                return Cow::Owned(v);
            }
        }
    }
    Cow::Borrowed(s)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_brackets() {
        let v = split_outside(r#""a, \"b" <sip:x;y,z>;p=1, <sip:w>"#, ',');
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].trim(), "<sip:w>");
    }

    #[test]
    fn escapes() {
        assert!(check_escaped("a%20b", ""));
        assert!(!check_escaped("a%2", ""));
        assert!(!check_escaped("a%", ""));
        assert!(!check_escaped("a%zz", ""));
        assert_eq!(unescape("%41%00x%"), vec![b'A', 0, b'x', b'%']);
        assert_eq!(unescape("%4"), b"%4".to_vec());
    }

    #[test]
    fn quoted() {
        assert_eq!(
            read_quoted(r#""J \\\"" <x>"#).map(|(a, b)| (a, b.to_owned())),
            Some((r#"J \""#.into(), " <x>".into()))
        );
        assert!(read_quoted(r#""open"#).is_none());
        assert_eq!(quote(r#"a"b\"#), r#""a\"b\\""#);
    }
}
