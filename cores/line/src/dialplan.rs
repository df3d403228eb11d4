//! The dial plan: what a dial string asks for. One function for every kind of phone, so a
//! SIP desk phone and an analog phone behind a gateway reach the same services by the same
//! codes.
//!
//! | dialled | service |
//! |---|---|
//! | `*97` | the mailbox menu |
//! | `*7<ext>[*<ext>...]` | record a message to 1 to [`MAX_RECIPIENTS`] recipients |
//! | `*8<ext>[*<ext>...]` | talk live (intercom) to 1 to [`MAX_RECIPIENTS`] recipients |
//! | `*21<ext>`, `*21` | forward always to that extension; off |
//! | `*67<ext>`, `*67` | forward on busy; off |
//! | `*61<ext>`, `*61` | forward on no answer; off |
//! | `*24`, `*25` | do-not-disturb on; off |
//! | 1 to [`MAX_EXTENSION_DIGITS`] digits | call that extension |
//! | anything else | unknown number |
//!
//! `*7` and `*8` are prefixes of nothing else, which rules out the `*72`/`*78` family other
//! PBXs use for forwards and do-not-disturb; the forward codes are the GSM ones people know
//! from mobile phones (21 always, 67 busy, 61 no reply).

use crate::action::SettingChange;

/// Most recipients of one `*7` message.
pub const MAX_RECIPIENTS: usize = 32;
/// Longest extension.
pub const MAX_EXTENSION_DIGITS: usize = 8;

/// What a dial string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// `*97`: listen to messages.
    Mailbox,
    /// `*7...`: record a message to these recipients (extensions or names, as dialled).
    Record(Vec<String>),
    /// `*8...`: talk live to these recipients (intercom), as dialled.
    Talk(Vec<String>),
    /// Call this extension.
    Extension(String),
    /// A call setting (forwards, do-not-disturb).
    Setting(SettingChange),
    /// `*7` or `*8` with no recipient or too many.
    BadNumber,
    /// Nothing the box offers.
    Unknown,
}

/// Reads a dial string. Visual separators phones and users put in numbers (`-`, ` `, `.`)
/// are ignored.
pub fn parse(dialled: &str) -> Dial {
    let dial: String = dialled
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '.'))
        .collect();
    if dial == "*97" {
        Dial::Mailbox
    } else if dial == "*24" || dial == "*25" {
        Dial::Setting(SettingChange::Dnd(dial == "*24"))
    } else if let Some(change) = forward(&dial) {
        change
    } else if let Some(rest) = dial.strip_prefix("*7") {
        recipients(rest).map_or(Dial::BadNumber, Dial::Record)
    } else if let Some(rest) = dial.strip_prefix("*8") {
        recipients(rest).map_or(Dial::BadNumber, Dial::Talk)
    } else if !dial.is_empty()
        && dial.len() <= MAX_EXTENSION_DIGITS
        && dial.bytes().all(|b| b.is_ascii_digit())
    {
        Dial::Extension(dial)
    } else {
        Dial::Unknown
    }
}

/// Makes a forward setting from its target (`None`: off).
type MakeForward = fn(Option<String>) -> SettingChange;

/// `*21`, `*67`, `*61`, each alone (off) or with an extension.
fn forward(dial: &str) -> Option<Dial> {
    let kinds: [(&str, MakeForward); 3] = [
        ("*21", SettingChange::ForwardAlways),
        ("*67", SettingChange::ForwardBusy),
        ("*61", SettingChange::ForwardNoAnswer),
    ];
    kinds.iter().find_map(|(code, make)| {
        let rest = dial.strip_prefix(code)?;
        if rest.is_empty() {
            Some(Dial::Setting(make(None)))
        } else if rest.len() <= MAX_EXTENSION_DIGITS && rest.bytes().all(|b| b.is_ascii_digit()) {
            Some(Dial::Setting(make(Some(rest.to_owned()))))
        } else {
            Some(Dial::BadNumber)
        }
    })
}

/// `<ext>[*<ext>...]`: 1 to [`MAX_RECIPIENTS`] non-empty entries, else `None`.
fn recipients(rest: &str) -> Option<Vec<String>> {
    let to: Vec<String> = rest
        .split('*')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!to.is_empty() && to.len() <= MAX_RECIPIENTS).then_some(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn services_extensions_and_refusals() {
        assert_eq!(parse("*97"), Dial::Mailbox);
        assert_eq!(parse("*7202"), Dial::Record(strings(&["202"])));
        assert_eq!(
            parse("*7202*203**bob"),
            Dial::Record(strings(&["202", "203", "bob"]))
        );
        assert_eq!(parse("2-0.2 "), Dial::Extension("202".into()));
        assert_eq!(parse("12345678"), Dial::Extension("12345678".into()));
        assert_eq!(
            parse("123456789"),
            Dial::Unknown,
            "longer than an extension"
        );
        assert_eq!(parse("*7"), Dial::BadNumber);
        assert_eq!(parse("*7***"), Dial::BadNumber);
        assert_eq!(parse(""), Dial::Unknown);
        assert_eq!(parse("bob"), Dial::Unknown);
        assert_eq!(parse("*9"), Dial::Unknown);
        assert_eq!(parse("*8202"), Dial::Talk(strings(&["202"])));
        assert_eq!(parse("*8202*203"), Dial::Talk(strings(&["202", "203"])));
        assert_eq!(parse("*8"), Dial::BadNumber);
        assert_eq!(parse("*8**"), Dial::BadNumber);
        assert_eq!(parse("*970"), Dial::Unknown, "only *97 itself");
    }

    #[test]
    fn setting_codes() {
        use SettingChange::*;
        let set = Dial::Setting;
        assert_eq!(parse("*21203"), set(ForwardAlways(Some("203".into()))));
        assert_eq!(parse("*21"), set(ForwardAlways(None)));
        assert_eq!(parse("*67203"), set(ForwardBusy(Some("203".into()))));
        assert_eq!(parse("*67"), set(ForwardBusy(None)));
        assert_eq!(parse("*61-203"), set(ForwardNoAnswer(Some("203".into()))));
        assert_eq!(parse("*61"), set(ForwardNoAnswer(None)));
        assert_eq!(parse("*24"), set(Dnd(true)));
        assert_eq!(parse("*25"), set(Dnd(false)));
        assert_eq!(parse("*21bob"), Dial::BadNumber);
        assert_eq!(parse("*21123456789"), Dial::BadNumber);
        assert_eq!(parse("*240"), Dial::Unknown);
        assert_eq!(parse("*2"), Dial::Unknown);
    }

    #[test]
    fn at_most_32_recipients() {
        let max = (0..MAX_RECIPIENTS)
            .map(|i| format!("{}", 200 + i))
            .collect::<Vec<_>>();
        assert_eq!(
            parse(&format!("*7{}", max.join("*"))),
            Dial::Record(max.clone())
        );
        assert_eq!(parse(&format!("*7{}*999", max.join("*"))), Dial::BadNumber);
        assert_eq!(
            parse(&format!("*8{}", max.join("*"))),
            Dial::Talk(max.clone())
        );
        assert_eq!(parse(&format!("*8{}*999", max.join("*"))), Dial::BadNumber);
    }
}
