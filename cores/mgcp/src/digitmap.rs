//! Digit maps (RFC 3435 §2.1.5): which dialled strings are complete, so a gateway (or the
//! call agent, for a line whose gateway collects digits one by one) knows when to stop
//! collecting.
//!
//! # Format
//! ```text
//! (0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)
//! ```
//! Alternatives separated by `|`; each a sequence of positions: a digit, `#`, `*`, `A`-`D`,
//! `x` (any digit), a range `[1-7#]`, or `T` (the inter-digit timer fired). A `.` after a
//! position repeats it zero or more times. Matching is case-insensitive.
//!
//! [`DigitMap::check`] runs the alternatives as small NFAs (a set of positions per pattern),
//! so the cost is bounded by the map's size times the number of digits; no backtracking.

use std::fmt;

/// Longest digit map text accepted.
pub const MAX_DIGIT_MAP: usize = 2048;
const MAX_PATTERNS: usize = 64;
const MAX_POSITIONS: usize = 64;

/// Why a digit map was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitMapError {
    /// No pattern, or an empty alternative (`(1xx||2xx)`).
    #[error("empty digit map or pattern")]
    Empty,
    /// Over [`MAX_DIGIT_MAP`] characters, 64 patterns or 64 positions in one pattern.
    #[error("digit map too large")]
    TooLarge,
    /// A `(` without `)` or the reverse, or text outside them.
    #[error("unbalanced parentheses in digit map")]
    Unbalanced,
    /// A range that is not closed, empty or upside down (`[9-1]`).
    #[error("bad range in digit map")]
    Range,
    /// A character that is not a position.
    #[error("bad character {0:?} in digit map")]
    BadChar(char),
    /// A `.` with nothing to repeat.
    #[error("'.' with nothing before it")]
    Repeat,
}

/// A set of symbols: bits 0-9 digits, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 `T`.
type Set = u32;
const DIGITS: Set = 0x3ff;

fn symbol(c: char) -> Option<u32> {
    Some(match c.to_ascii_uppercase() {
        d @ '0'..='9' => d as u32 - '0' as u32,
        '*' => 10,
        '#' => 11,
        l @ 'A'..='D' => 12 + (l as u32 - 'A' as u32),
        'T' => 16,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    set: Set,
    repeat: bool,
}

/// A parsed digit map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitMap {
    text: String,
    patterns: Vec<Vec<Position>>,
}

/// What the digits dialled so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A pattern matches and no longer string could: the number is complete, report it.
    Complete,
    /// More digits could still match. `timer_completes`: a `T` now (the inter-digit timer
    /// firing) would complete a pattern, so the short timer applies; otherwise the long one
    /// (RFC 3435 §2.1.5). `matches`: the string already matches a pattern exactly, though a
    /// longer one could too.
    Partial {
        /// Whether the timer firing now completes a pattern.
        timer_completes: bool,
        /// Whether the digits so far already match a pattern.
        matches: bool,
    },
    /// No pattern can match, whatever follows.
    NoMatch,
}

impl DigitMap {
    /// Parses a map, with or without the outer parentheses.
    pub fn parse(s: &str) -> Result<DigitMap, DigitMapError> {
        if s.len() > MAX_DIGIT_MAP {
            return Err(DigitMapError::TooLarge);
        }
        let text = s.trim();
        let inner = match text.strip_prefix('(') {
            Some(r) => r.strip_suffix(')').ok_or(DigitMapError::Unbalanced)?,
            None => text,
        };
        if inner.contains(['(', ')']) {
            return Err(DigitMapError::Unbalanced);
        }
        let mut patterns = Vec::new();
        for alt in inner.split('|') {
            if patterns.len() >= MAX_PATTERNS {
                return Err(DigitMapError::TooLarge);
            }
            patterns.push(parse_pattern(alt.trim())?);
        }
        Ok(DigitMap {
            text: text.to_owned(),
            patterns,
        })
    }

    /// Checks the digits dialled so far (`0`-`9`, `*`, `#`, `A`-`D`, and `T` where the timer
    /// fired). Any other character never matches.
    pub fn check(&self, dialled: &str) -> Outcome {
        let Some(symbols) = dialled.chars().map(symbol).collect::<Option<Vec<u32>>>() else {
            return Outcome::NoMatch;
        };
        let mut matches = false;
        let mut more = false;
        let mut timer_completes = false;
        for p in &self.patterns {
            let states = run(p, &symbols);
            if states.is_empty() {
                continue;
            }
            if states.contains(&p.len()) {
                matches = true;
            }
            for &s in &states {
                // Any position left to consume: a longer string could match.
                if s < p.len() {
                    more = true;
                    if p[s].set & (1 << 16) != 0 && closure(p, s + 1).contains(&p.len()) {
                        timer_completes = true;
                    }
                }
            }
        }
        match (matches, more) {
            (true, false) => Outcome::Complete,
            (_, true) => Outcome::Partial {
                timer_completes,
                matches,
            },
            (false, false) => Outcome::NoMatch,
        }
    }
}

impl fmt::Display for DigitMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_pattern(s: &str) -> Result<Vec<Position>, DigitMapError> {
    if s.is_empty() {
        return Err(DigitMapError::Empty);
    }
    let mut out: Vec<Position> = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let set = match c {
            '.' => {
                let last = out.last_mut().ok_or(DigitMapError::Repeat)?;
                if last.repeat {
                    return Err(DigitMapError::Repeat);
                }
                last.repeat = true;
                continue;
            }
            'x' | 'X' => DIGITS,
            '[' => range(&mut chars)?,
            c => 1 << symbol(c).ok_or(DigitMapError::BadChar(c))?,
        };
        if out.len() >= MAX_POSITIONS {
            return Err(DigitMapError::TooLarge);
        }
        out.push(Position { set, repeat: false });
    }
    Ok(out)
}

/// The inside of `[...]` after the `[`: symbols, `x`, and digit ranges `1-7`.
fn range(chars: &mut std::str::Chars<'_>) -> Result<Set, DigitMapError> {
    let mut set: Set = 0;
    let mut prev: Option<char> = None;
    loop {
        let c = chars.next().ok_or(DigitMapError::Range)?;
        match c {
            ']' => break,
            '-' => {
                let lo = prev
                    .filter(char::is_ascii_digit)
                    .ok_or(DigitMapError::Range)?;
                let hi = chars
                    .next()
                    .filter(char::is_ascii_digit)
                    .ok_or(DigitMapError::Range)?;
                if hi < lo {
                    return Err(DigitMapError::Range);
                }
                for d in lo..=hi {
                    set |= 1 << (d as u32 - '0' as u32);
                }
                prev = None;
            }
            'x' | 'X' => {
                set |= DIGITS;
                prev = None;
            }
            c => {
                set |= 1 << symbol(c).ok_or(DigitMapError::BadChar(c))?;
                prev = Some(c);
            }
        }
    }
    if set == 0 {
        return Err(DigitMapError::Range);
    }
    Ok(set)
}

/// The positions reachable from `at` without consuming (skipping repeated ones), sorted.
fn closure(p: &[Position], at: usize) -> Vec<usize> {
    let mut out = vec![at];
    let mut i = at;
    while i < p.len() && p[i].repeat {
        i += 1;
        out.push(i);
    }
    out
}

/// The set of positions after consuming `symbols` (empty: dead).
fn run(p: &[Position], symbols: &[u32]) -> Vec<usize> {
    let mut states = closure(p, 0);
    for &sym in symbols {
        let mut next: Vec<usize> = Vec::new();
        for &s in &states {
            if s < p.len() && p[s].set & (1 << sym) != 0 {
                let to = if p[s].repeat { s } else { s + 1 };
                for t in closure(p, to) {
                    if !next.contains(&t) {
                        next.push(t);
                    }
                }
            }
        }
        if next.is_empty() {
            return next;
        }
        states = next;
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    const OFFICE: &str = "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)";

    fn partial(timer_completes: bool, matches: bool) -> Outcome {
        Partial {
            timer_completes,
            matches,
        }
    }

    #[test]
    fn the_rfc_example() {
        let m = DigitMap::parse(OFFICE).expect("parses");
        assert_eq!(m.to_string(), OFFICE);
        assert_eq!(m.check(""), partial(false, false));
        assert_eq!(m.check("0"), partial(true, false));
        assert_eq!(m.check("0T"), Complete);
        assert_eq!(m.check("00"), partial(true, false));
        assert_eq!(m.check("00T"), Complete);
        assert_eq!(m.check("2"), partial(false, false));
        assert_eq!(m.check("201"), partial(false, false));
        assert_eq!(m.check("2015"), Complete);
        assert_eq!(m.check("20155"), NoMatch);
        assert_eq!(m.check("*9"), partial(false, false));
        assert_eq!(m.check("*97"), Complete);
        assert_eq!(m.check("#1234567"), Complete);
        assert_eq!(m.check("91"), partial(false, false));
        assert_eq!(m.check("912125551234"), Complete);
        assert_eq!(m.check("9011"), partial(true, false)); // x. is zero or more
        assert_eq!(m.check("90114"), partial(true, false));
        assert_eq!(m.check("9011442071234567"), partial(true, false));
        assert_eq!(m.check("9011442071234567T"), Complete);
        assert_eq!(m.check("9T"), NoMatch);
        assert_eq!(m.check("x"), NoMatch);
        assert_eq!(m.check("0t"), Complete);
    }

    #[test]
    fn the_box_codes() {
        // *7 records, *97 opens the mailbox, *8<ext> rings an extension, 2xx calls one.
        let m = DigitMap::parse("(*7|*97|*8xxx|[2-7]xx|9x.T)").expect("parses");
        assert_eq!(m.check("*"), partial(false, false));
        // "*7" is complete: nothing longer starts with *7.
        assert_eq!(m.check("*7"), Complete);
        assert_eq!(m.check("*9"), partial(false, false));
        assert_eq!(m.check("*97"), Complete);
        assert_eq!(m.check("*8201"), Complete);
        assert_eq!(m.check("202"), Complete);
        assert_eq!(m.check("9"), partial(true, false));
        assert_eq!(m.check("95T"), Complete);
        let ambiguous = DigitMap::parse("1|1x").expect("parses");
        assert_eq!(ambiguous.check("1"), partial(false, true));
        assert_eq!(ambiguous.check("12"), Complete);
        let ranges = DigitMap::parse("[#*A-]").err();
        assert_eq!(ranges, Some(DigitMapError::Range));
        let letters = DigitMap::parse("[#*AD]x").expect("parses");
        assert_eq!(letters.check("d5"), Complete);
    }

    #[test]
    fn bad_maps() {
        use DigitMapError::*;
        assert_eq!(DigitMap::parse(""), Err(Empty));
        assert_eq!(DigitMap::parse("()"), Err(Empty));
        assert_eq!(DigitMap::parse("(1xx||2xx)"), Err(Empty));
        assert_eq!(DigitMap::parse("(1xx"), Err(Unbalanced));
        assert_eq!(DigitMap::parse("1(xx)"), Err(Unbalanced));
        assert_eq!(DigitMap::parse("[9-1]"), Err(Range));
        assert_eq!(DigitMap::parse("[12"), Err(Range));
        assert_eq!(DigitMap::parse("[]"), Err(Range));
        assert_eq!(DigitMap::parse("1y"), Err(BadChar('y')));
        assert_eq!(DigitMap::parse(".1"), Err(Repeat));
        assert_eq!(DigitMap::parse("1.."), Err(Repeat));
        assert_eq!(DigitMap::parse(&"x".repeat(65)), Err(TooLarge));
        assert_eq!(DigitMap::parse(&vec!["1"; 65].join("|")), Err(TooLarge));
        assert_eq!(DigitMap::parse(&"1".repeat(2049)), Err(TooLarge));
    }
}
