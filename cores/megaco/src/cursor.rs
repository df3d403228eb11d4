//! The lexical layer of the text encoding (Annex B.2): white space and comments (`LWSP`),
//! `SafeChar` words, quoted strings, octet strings, with a position for every error and a
//! bound on brace nesting.

use crate::decode::DecodeError;
use crate::token::Kw;

/// Deepest brace nesting a message may have. The productions implemented do not recurse, so
/// the grammar itself stops at 7 (transaction, context, command, Media, Stream, LocalControl,
/// a `{a, b}` value); the guard keeps that true if a recursive production is added.
pub const MAX_DEPTH: usize = 8;

pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
    depth: usize,
}

/// `SafeChar` of the ABNF.
pub(crate) fn is_safe(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+-&!_/'?@^`~*$\\()%|.".contains(&c)
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0, depth: 0 }
    }

    pub(crate) fn err<T>(&self, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError::Syntax {
            expected: what,
            offset: self.i,
        })
    }

    /// `LWSP`: spaces, tabs, line ends and `;` comments to the end of the line.
    pub(crate) fn lwsp(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.i += 1,
                b';' => {
                    while self
                        .b
                        .get(self.i)
                        .is_some_and(|c| *c != b'\n' && *c != b'\r')
                    {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// `SEP`: at least one white space, line end or comment.
    pub(crate) fn sep(&mut self) -> Result<(), DecodeError> {
        let start = self.i;
        self.lwsp();
        if self.i == start {
            return self.err("white space");
        }
        Ok(())
    }

    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.lwsp();
        self.b.get(self.i).copied()
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Takes `c` (after white space) if it is next.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, c: u8, what: &'static str) -> Result<(), DecodeError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(what)
        }
    }

    pub(crate) fn open(&mut self) -> Result<(), DecodeError> {
        self.expect(b'{', "'{'")?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(())
    }

    pub(crate) fn close(&mut self) -> Result<(), DecodeError> {
        self.expect(b'}', "'}'")?;
        self.depth -= 1;
        Ok(())
    }

    /// After an item of a braced list: `,` (more) or `}` (done).
    pub(crate) fn more(&mut self) -> Result<bool, DecodeError> {
        if self.eat(b',') {
            Ok(true)
        } else {
            self.close()?;
            Ok(false)
        }
    }

    /// A word of `SafeChar`s, raw (no white space skipped after).
    pub(crate) fn word(&mut self) -> Result<&'a str, DecodeError> {
        self.lwsp();
        let start = self.i;
        while self.b.get(self.i).copied().is_some_and(is_safe) {
            self.i += 1;
        }
        if self.i == start {
            return self.err("a name or value");
        }
        // SafeChars are ASCII.
        std::str::from_utf8(&self.b[start..self.i]).or_else(|_| self.err("ASCII"))
    }

    /// A keyword, without moving on when the next word is not one of `allowed`.
    pub(crate) fn keyword_of(&mut self, allowed: &[Kw]) -> Option<Kw> {
        let save = self.i;
        let kw = self
            .word()
            .ok()
            .and_then(Kw::lookup)
            .filter(|k| allowed.contains(k));
        if kw.is_none() {
            self.i = save;
        }
        kw
    }

    pub(crate) fn keyword(
        &mut self,
        allowed: &[Kw],
        what: &'static str,
    ) -> Result<Kw, DecodeError> {
        self.lwsp();
        match self.keyword_of(allowed) {
            Some(k) => Ok(k),
            None => self.err(what),
        }
    }

    pub(crate) fn uint<T: std::str::FromStr>(
        &mut self,
        what: &'static str,
    ) -> Result<T, DecodeError> {
        self.lwsp();
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        match text.parse() {
            Ok(v) if !text.is_empty() => Ok(v),
            _ => {
                self.i = start;
                self.err(what)
            }
        }
    }

    /// `quotedString`: `"..."` of SafeChar, RestChar and white space; no escapes.
    pub(crate) fn quoted(&mut self) -> Result<String, DecodeError> {
        self.expect(b'"', "'\"'")?;
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let s = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
                    self.i += 1;
                    return Ok(s);
                }
                b' ' | b'\t' => {}
                c if is_safe(c) || b";[]{}:,#<>=".contains(&c) => {}
                _ => return self.err("a quoted string character"),
            }
            self.i += 1;
        }
        self.err("closing '\"'")
    }

    /// `VALUE`: a quoted string or a word.
    pub(crate) fn value(&mut self) -> Result<String, DecodeError> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else {
            Ok(self.word()?.to_owned())
        }
    }

    /// `octetString` up to the closing `}` (taken); `\}` stands for `}`.
    pub(crate) fn octets(&mut self) -> Result<String, DecodeError> {
        self.open()?;
        // LBRKT's trailing LWSP: white space after `{` is not content.
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
        let mut out = Vec::new();
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\\' if self.b.get(self.i + 1) == Some(&b'}') => {
                    out.push(b'}');
                    self.i += 2;
                }
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return String::from_utf8(out).or_else(|_| self.err("UTF-8 text"));
                }
                0 => return self.err("an octet string (no NUL)"),
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        self.err("'}' closing an octet string")
    }
}
