//! Digit maps (H.248.1 7.1.14; the notation MGCP uses too, RFC 3435 2.1.5): the dial plan a
//! controller loads into a gateway so the gateway collects a whole number before it notifies
//! (`dd/ce`), instead of one Notify per key.
//!
//! A map is a list of patterns (`(E97|E7x[0-9E].S|xxx)`); each pattern is a string of
//! positions, a position being a set of events (`x` = any of 0-9, `[1-7]`, a letter), maybe
//! repeated (`.` = zero or more). The events are the sixteen DTMF keys (`0`-`9`, `A`-`D`,
//! `E` = `*`, `F` = `#`), the letters `G`-`K` the ABNF allows, and two timer events: `S`
//! (short inter-event timer expired) and `L` (long timer expired). `Z` before a position asks
//! for a long key press. RFC 3015's own example writes `*` and `#` literally; they are read as
//! `E` and `F` and written back as `E` and `F`.
//!
//! [`DigitMap::evaluate`] tells for a dialled string whether it is a complete match, a prefix
//! of one (and which timer to run while waiting: 7.1.14.3's rules, below) or no match at all.

use std::fmt;

/// Most patterns in one map, and most positions in one pattern: bounds for hostile input.
pub const MAX_PATTERNS: usize = 64;
/// Most positions of one pattern.
pub const MAX_POSITIONS: usize = 64;

/// Errors reading a digit map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitMapError {
    /// A character no digit map has.
    #[error("digit map: unexpected {0:?} at offset {1}")]
    Unexpected(char, usize),
    /// Ended in the middle.
    #[error("digit map: ends too early")]
    Truncated,
    /// An empty pattern (`(12||3)`).
    #[error("digit map: empty pattern at offset {0}")]
    EmptyPattern(usize),
    /// Too many patterns or positions.
    #[error("digit map: more than {MAX_PATTERNS} patterns or {MAX_POSITIONS} positions")]
    TooLarge,
    /// A timer value not of 1 or 2 digits.
    #[error("digit map: bad timer value at offset {0}")]
    BadTimer(usize),
    /// A range running backwards (`[7-1]`).
    #[error("digit map: bad range at offset {0}")]
    BadRange(usize),
}

/// A digit map event: index 0-9 the digits, 10-20 the letters A-K, then the timers.
type Event = u8;
const EV_S: Event = 21;
const EV_L: Event = 22;
const DIGITS: u32 = 0x3ff;

/// A dialled event for [`DigitMap::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    /// A key: `0`-`9`, `*`, `#`, `A`-`D` (or `E`/`F` for `*`/`#`).
    Key(char),
    /// The short timer ran out.
    ShortTimer,
    /// The long timer ran out.
    LongTimer,
}

impl Symbol {
    fn event(self) -> Option<Event> {
        match self {
            Symbol::Key(c) => letter_event(c),
            Symbol::ShortTimer => Some(EV_S),
            Symbol::LongTimer => Some(EV_L),
        }
    }

    /// The symbols of a dial string (`"*7202"`); `None` when it has a character no phone sends.
    pub fn keys(dialled: &str) -> Option<Vec<Symbol>> {
        dialled
            .chars()
            .map(|c| {
                letter_event(c)
                    .filter(|e| *e < EV_S)
                    .map(|_| Symbol::Key(c))
            })
            .collect()
    }
}

fn letter_event(c: char) -> Option<Event> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(14),
        '#' => Some(15),
        'A'..='K' => Some(c as u8 - b'A' + 10),
        'a'..='k' => Some(c as u8 - b'a' + 10),
        'S' | 's' => Some(EV_S),
        'L' | 'l' => Some(EV_L),
        _ => None,
    }
}

/// One position of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    /// Bit n set: event n matches.
    set: u32,
    /// `.` after it: zero or more.
    repeat: bool,
    /// `Z` before it: a long key press.
    long_press: bool,
}

/// A parsed digit map (`digitMap`): the patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitMap {
    patterns: Vec<Vec<Position>>,
}

/// A digit map with its timers (`digitMapValue`): `T:10,S:4,L:16,(...)`, seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitMapValue {
    /// `T`: start timer, before the first key.
    pub start: Option<u8>,
    /// `S`: short inter-event timer.
    pub short: Option<u8>,
    /// `L`: long inter-event timer.
    pub long: Option<u8>,
    /// The patterns.
    pub map: DigitMap,
}

/// Which timer the collector runs while it waits for the next key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// `T`: nothing dialled yet.
    Start,
    /// `S`: a pattern matched completely, a longer one may still.
    Short,
    /// `L`: more keys are needed (or the pattern asks for `L` here).
    Long,
}

/// What a dialled string is, against a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// A pattern matched and no longer one can: report now (`dd/ce`, `Meth = UM`).
    Full,
    /// More keys may complete a pattern: wait, running this timer.
    Partial(Timer),
    /// No pattern can match (`Meth = FM` with what was dialled).
    None,
}

impl DigitMap {
    /// Reads a `digitMap`: one pattern, or `( p | p ... )`.
    pub fn parse(text: &str) -> Result<DigitMap, DigitMapError> {
        let b = text.as_bytes();
        let mut i = skip_ws(b, 0);
        let bracketed = b.get(i) == Some(&b'(');
        if bracketed {
            i += 1;
        }
        let mut patterns = Vec::new();
        loop {
            i = skip_ws(b, i);
            let start = i;
            let mut pattern = Vec::new();
            let mut long_press = false;
            while let Some(&c) = b.get(i) {
                let set = match c {
                    b'x' | b'X' => DIGITS,
                    b'[' => {
                        let (set, next) = parse_range(b, i + 1)?;
                        i = next - 1;
                        set
                    }
                    b'Z' | b'z' => {
                        long_press = true;
                        i += 1;
                        continue;
                    }
                    b'.' => {
                        match pattern.last_mut() {
                            Some(Position {
                                repeat: r @ false, ..
                            }) => *r = true,
                            _ => return Err(DigitMapError::Unexpected('.', i)),
                        }
                        i += 1;
                        continue;
                    }
                    _ => match letter_event(c as char) {
                        Some(e) => 1 << e,
                        None => break,
                    },
                };
                if pattern.len() == MAX_POSITIONS {
                    return Err(DigitMapError::TooLarge);
                }
                pattern.push(Position {
                    set,
                    repeat: false,
                    long_press,
                });
                long_press = false;
                i += 1;
            }
            if pattern.is_empty() || long_press {
                return Err(DigitMapError::EmptyPattern(start));
            }
            if patterns.len() == MAX_PATTERNS {
                return Err(DigitMapError::TooLarge);
            }
            patterns.push(pattern);
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b'|') if bracketed => i += 1,
                Some(b')') if bracketed => {
                    i = skip_ws(b, i + 1);
                    break;
                }
                None if !bracketed => break,
                None => return Err(DigitMapError::Truncated),
                Some(&c) => return Err(DigitMapError::Unexpected(c as char, i)),
            }
        }
        match b.get(i) {
            None => Ok(DigitMap { patterns }),
            Some(&c) => Err(DigitMapError::Unexpected(c as char, i)),
        }
    }

    /// The box's office dial plan as a map: `*97`, `*7<ext>[*<ext>...]`, `*8<ext>` and
    /// extensions, ended by `#` or the short timer (`cores/line/src/dialplan.rs`).
    pub fn office() -> DigitMap {
        // Fixed text, parsed by the unit tests below.
        DigitMap::parse("(E97|E7x[0-9E].F|E7x[0-9E].S|E8xx.F|E8xx.S|xx.F|xx.S)").unwrap_or(
            DigitMap {
                patterns: Vec::new(),
            },
        )
    }

    /// Matches a dialled string (keys, and timer expiries as they happened).
    ///
    /// 7.1.14.3: while at least one pattern can still grow the collector waits; it runs `L`
    /// if a pattern's next position is an explicit `L`, `S` if a pattern matched already (the
    /// user may stop here) or a next position is an explicit `S`, else `L` (more keys are
    /// needed); before any key it runs the start timer `T`.
    pub fn evaluate(&self, dialled: &[Symbol]) -> Match {
        let mut full = false;
        let mut grow = false;
        let mut explicit_long = false;
        let mut explicit_short = false;
        for pattern in &self.patterns {
            let states = run(pattern, dialled);
            for &s in &states {
                if s == pattern.len() {
                    full = true;
                } else {
                    grow = true;
                    explicit_long |= pattern[s].set & (1 << EV_L) != 0;
                    explicit_short |= pattern[s].set & (1 << EV_S) != 0;
                }
            }
        }
        if !grow {
            return if full { Match::Full } else { Match::None };
        }
        if dialled.is_empty() {
            Match::Partial(Timer::Start)
        } else if explicit_long || !(full || explicit_short) {
            Match::Partial(Timer::Long)
        } else {
            Match::Partial(Timer::Short)
        }
    }
}

/// The positions of `pattern` reachable after `dialled` (a small NFA run).
fn run(pattern: &[Position], dialled: &[Symbol]) -> Vec<usize> {
    let mut states = closure(pattern, vec![0]);
    for sym in dialled {
        let Some(e) = sym.event() else {
            return Vec::new();
        };
        let mut next = Vec::new();
        for &s in &states {
            if let Some(p) = pattern.get(s) {
                if p.set & (1 << e) != 0 {
                    next.push(if p.repeat { s } else { s + 1 });
                }
            }
        }
        states = closure(pattern, next);
        if states.is_empty() {
            break;
        }
    }
    states
}

fn closure(pattern: &[Position], mut states: Vec<usize>) -> Vec<usize> {
    let mut i = 0;
    while i < states.len() {
        let s = states[i];
        if pattern.get(s).is_some_and(|p| p.repeat) && !states.contains(&(s + 1)) {
            states.push(s + 1);
        }
        i += 1;
    }
    states.sort_unstable();
    states.dedup();
    states
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `[1-7E]` from after the `[`; returns the set and the offset after the `]`.
fn parse_range(b: &[u8], mut i: usize) -> Result<(u32, usize), DigitMapError> {
    let mut set = 0u32;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            None => return Err(DigitMapError::Truncated),
            Some(b']') => {
                return if set == 0 {
                    Err(DigitMapError::BadRange(i))
                } else {
                    Ok((set, i + 1))
                };
            }
            Some(&c) if c.is_ascii_digit() && b.get(i + 1) == Some(&b'-') => {
                let hi = *b.get(i + 2).ok_or(DigitMapError::Truncated)?;
                if !hi.is_ascii_digit() || hi < c {
                    return Err(DigitMapError::BadRange(i));
                }
                for d in c..=hi {
                    set |= 1 << (d - b'0');
                }
                i += 3;
            }
            Some(&c) => match letter_event(c as char) {
                Some(e) => {
                    set |= 1 << e;
                    i += 1;
                }
                None => return Err(DigitMapError::Unexpected(c as char, i)),
            },
        }
    }
}

impl DigitMapValue {
    /// Reads `[T:n,][S:n,][L:n,]digitMap`.
    pub fn parse(text: &str) -> Result<DigitMapValue, DigitMapError> {
        let mut value = DigitMapValue {
            start: None,
            short: None,
            long: None,
            map: DigitMap {
                patterns: Vec::new(),
            },
        };
        let mut rest = text.trim_start();
        let mut offset = text.len() - rest.len();
        loop {
            let mut chars = rest.chars();
            let (Some(letter), Some(':')) = (chars.next(), chars.next()) else {
                break;
            };
            let slot = match letter.to_ascii_uppercase() {
                'T' if value.start.is_none() && value.short.is_none() && value.long.is_none() => {
                    &mut value.start
                }
                'S' if value.short.is_none() && value.long.is_none() => &mut value.short,
                'L' if value.long.is_none() => &mut value.long,
                _ => return Err(DigitMapError::Unexpected(letter, offset)),
            };
            let after = &rest[2..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=2).contains(&digits) {
                return Err(DigitMapError::BadTimer(offset + 2));
            }
            *slot = after[..digits].parse().ok();
            let tail = after[digits..].trim_start();
            let Some(tail) = tail.strip_prefix(',') else {
                return Err(DigitMapError::BadTimer(offset + 2 + digits));
            };
            let next = tail.trim_start();
            offset += rest.len() - next.len();
            rest = next;
        }
        value.map = DigitMap::parse(rest).map_err(|e| shift(e, offset))?;
        Ok(value)
    }
}

fn shift(e: DigitMapError, by: usize) -> DigitMapError {
    match e {
        DigitMapError::Unexpected(c, i) => DigitMapError::Unexpected(c, i + by),
        DigitMapError::EmptyPattern(i) => DigitMapError::EmptyPattern(i + by),
        DigitMapError::BadTimer(i) => DigitMapError::BadTimer(i + by),
        DigitMapError::BadRange(i) => DigitMapError::BadRange(i + by),
        other => other,
    }
}

const LETTERS: &[u8; 23] = b"0123456789ABCDEFGHIJKSL";

impl fmt::Display for DigitMap {
    /// Writes the canonical form: always bracketed, `x` for any digit, `E`/`F` for `*`/`#`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (n, pattern) in self.patterns.iter().enumerate() {
            if n > 0 {
                f.write_str("|")?;
            }
            for p in pattern {
                if p.long_press {
                    f.write_str("Z")?;
                }
                if p.set == DIGITS {
                    f.write_str("x")?;
                } else if p.set.count_ones() == 1 {
                    let e = p.set.trailing_zeros() as usize;
                    write!(f, "{}", LETTERS[e] as char)?;
                } else {
                    f.write_str("[")?;
                    let mut e = 0;
                    while e < LETTERS.len() {
                        if p.set & (1 << e) == 0 {
                            e += 1;
                            continue;
                        }
                        let mut end = e;
                        while end + 1 < 10 && p.set & (1 << (end + 1)) != 0 {
                            end += 1;
                        }
                        if e < 10 && end > e {
                            write!(f, "{}-{}", LETTERS[e] as char, LETTERS[end] as char)?;
                        } else {
                            write!(f, "{}", LETTERS[e] as char)?;
                        }
                        e = end + 1;
                    }
                    f.write_str("]")?;
                }
                if p.repeat {
                    f.write_str(".")?;
                }
            }
        }
        f.write_str(")")
    }
}

impl fmt::Display for DigitMapValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (letter, t) in [('T', self.start), ('S', self.short), ('L', self.long)] {
            if let Some(t) = t {
                write!(f, "{letter}:{t},")?;
            }
        }
        write!(f, "{}", self.map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Vec<Symbol> {
        Symbol::keys(s).expect("keys")
    }

    #[test]
    fn rfc3015_example_map_reads_and_writes_back_canonically() {
        let m =
            DigitMap::parse("(0S| 00S|[1-7]xLxx|8Lxxxxxxx|#xxxxxxx|*xx|9L1xxxxxxxxxx|9L011x.S)")
                .expect("parse");
        assert_eq!(
            m.to_string(),
            "(0S|00S|[1-7]xLxx|8Lxxxxxxx|Fxxxxxxx|Exx|9L1xxxxxxxxxx|9L011x.S)"
        );
        assert_eq!(DigitMap::parse(&m.to_string()), Ok(m));
    }

    #[test]
    fn office_map_full_partial_none() {
        let m = DigitMap::office();
        assert_eq!(m.patterns.len(), 7);
        assert_eq!(m.evaluate(&[]), Match::Partial(Timer::Start));
        assert_eq!(m.evaluate(&keys("*97")), Match::Full);
        assert_eq!(m.evaluate(&keys("*9")), Match::Partial(Timer::Long));
        assert_eq!(m.evaluate(&keys("*")), Match::Partial(Timer::Long));
        // `*72` may be complete (recipient 2): the short timer would end it.
        assert_eq!(m.evaluate(&keys("*72")), Match::Partial(Timer::Short));
        // `*7202` then `#`: complete; then the short timer ends `*7202`.
        assert_eq!(m.evaluate(&keys("*7202#")), Match::Full);
        let mut d = keys("*7202");
        d.push(Symbol::ShortTimer);
        assert_eq!(m.evaluate(&d), Match::Full);
        assert_eq!(m.evaluate(&keys("*7202*203#")), Match::Full);
        assert_eq!(m.evaluate(&keys("*8201#")), Match::Full);
        assert_eq!(m.evaluate(&keys("*5")), Match::None);
        assert_eq!(m.evaluate(&keys("#")), Match::None);
        // `xx.S`: after one key another may come, or the short timer ends the number.
        assert_eq!(m.evaluate(&keys("2")), Match::Partial(Timer::Short));
        assert_eq!(m.evaluate(&keys("20")), Match::Partial(Timer::Short));
        // `0S` alone: only the short timer's expiry completes it.
        let m = DigitMap::parse("(0S|1xx)").expect("parse");
        assert_eq!(m.evaluate(&keys("0")), Match::Partial(Timer::Short));
        assert_eq!(
            m.evaluate(&[Symbol::Key('0'), Symbol::ShortTimer]),
            Match::Full
        );
        assert_eq!(
            m.evaluate(&[Symbol::Key('0'), Symbol::LongTimer]),
            Match::None
        );
    }

    #[test]
    fn short_timer_when_a_pattern_matched_but_a_longer_one_may() {
        let m = DigitMap::parse("(11|11xx)").expect("parse");
        assert_eq!(m.evaluate(&keys("1")), Match::Partial(Timer::Long));
        assert_eq!(m.evaluate(&keys("11")), Match::Partial(Timer::Short));
        assert_eq!(m.evaluate(&keys("113")), Match::Partial(Timer::Long));
        assert_eq!(m.evaluate(&keys("1134")), Match::Full);
        assert_eq!(m.evaluate(&keys("11345")), Match::None);
        // An explicit L position asks for the long timer.
        let m = DigitMap::parse("8Lxx").expect("parse");
        assert_eq!(m.evaluate(&keys("8")), Match::Partial(Timer::Long));
        assert_eq!(
            m.evaluate(&[
                Symbol::Key('8'),
                Symbol::LongTimer,
                Symbol::Key('1'),
                Symbol::Key('2')
            ]),
            Match::Full
        );
        assert_eq!(m.evaluate(&keys("812")), Match::None);
    }

    #[test]
    fn timers_and_letters_and_case() {
        let v = DigitMapValue::parse("T:10, S:4,L:16,( e97 | [1-3]X.s | zA )").expect("parse");
        assert_eq!((v.start, v.short, v.long), (Some(10), Some(4), Some(16)));
        assert_eq!(v.to_string(), "T:10,S:4,L:16,(E97|[1-3]x.S|ZA)");
        assert_eq!(DigitMapValue::parse(&v.to_string()), Ok(v));
        let v = DigitMapValue::parse("xxx").expect("bare map");
        assert_eq!(v.to_string(), "(xxx)");
    }

    #[test]
    fn malformed_maps_are_refused() {
        for (text, err) in [
            ("", DigitMapError::EmptyPattern(0)),
            ("(12||3)", DigitMapError::EmptyPattern(4)),
            ("(12", DigitMapError::Truncated),
            ("(1[7-1])", DigitMapError::BadRange(3)),
            ("(1[])", DigitMapError::BadRange(3)),
            ("(1+)", DigitMapError::Unexpected('+', 2)),
            ("(.1)", DigitMapError::Unexpected('.', 1)),
            ("(1..)", DigitMapError::Unexpected('.', 3)),
            ("12)", DigitMapError::Unexpected(')', 2)),
            ("T:100,(1)", DigitMapError::BadTimer(2)),
            ("S:1,T:1,(1)", DigitMapError::Unexpected('T', 4)),
            ("(1)x", DigitMapError::Unexpected('x', 3)),
        ] {
            assert_eq!(DigitMapValue::parse(text), Err(err), "{text}");
        }
        let long = format!("({})", vec!["1"; MAX_PATTERNS + 1].join("|"));
        assert_eq!(DigitMap::parse(&long), Err(DigitMapError::TooLarge));
        assert_eq!(
            DigitMap::parse(&"x".repeat(MAX_POSITIONS + 1)),
            Err(DigitMapError::TooLarge)
        );
    }
}
