//! What a phone says about itself: vendor, model and firmware from its SIP `User-Agent`
//! header or its DHCP vendor class (option 60).
//!
//! Each maker spells these differently, so each has a small rule; anything unrecognised
//! yields only what could be read (often nothing). The input is untrusted: it is bounded,
//! and model and firmware are kept only when they are short printable tokens.
//!
//! | source | example | vendor, model, firmware |
//! |---|---|---|
//! | User-Agent | `Yealink SIP-T46S 66.86.0.15` | yealink, `SIP-T46S`, `66.86.0.15` |
//! | User-Agent | `PolycomVVX-VVX_411-UA/6.3.0.14929` | polycom, `VVX_411`, `6.3.0.14929` |
//! | User-Agent | `Cisco-CP7965G/9.4.2` | cisco, `CP7965G`, `9.4.2` |
//! | User-Agent | `Grandstream GXP2170 1.0.11.6` | grandstream, `GXP2170`, `1.0.11.6` |
//! | User-Agent | `snomD785/10.1.54.13` | snom, `D785`, `10.1.54.13` |
//! | option 60 | `Cisco Systems, Inc. IP Phone CP-7965G` | cisco, `CP-7965G`, - |
//! | option 60 | `Polycom-VVX400` | polycom, `VVX400`, - |

use ivm_wire::phone::Vendor;

/// Longest input looked at (a User-Agent header can be long; the interesting part is first).
const MAX_INPUT: usize = 256;
/// Longest model or firmware token kept.
const MAX_TOKEN: usize = 32;

/// What a phone reported about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The maker, when recognised.
    pub vendor: Option<Vendor>,
    /// The model, as the phone spells it.
    pub model: Option<String>,
    /// The firmware version.
    pub firmware: Option<String>,
}

/// A short token of letters, digits and `.-_+`, or nothing.
fn token(s: &str) -> Option<String> {
    let s = s.trim_matches(|c: char| c == ',' || c == ';' || c == '(' || c == ')');
    (!s.is_empty()
        && s.len() <= MAX_TOKEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')))
    .then(|| s.to_owned())
}

/// A firmware version: a token that starts with a digit and has a dot.
fn version(s: &str) -> Option<String> {
    token(s).filter(|v| v.starts_with(|c: char| c.is_ascii_digit()) && v.contains('.'))
}

fn bounded(s: &str) -> &str {
    let mut end = s.len().min(MAX_INPUT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Strips `prefix` case-insensitively.
fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()))
    .then(|| &s[prefix.len()..])
}

impl Identity {
    /// From a SIP `User-Agent` (or `Server`) header value.
    pub fn from_user_agent(ua: &str) -> Identity {
        let ua = bounded(ua).trim();
        let vendor = Vendor::from_class_id(ua.as_bytes());
        let (model, firmware) = match vendor {
            // `PolycomVVX-VVX_411-UA/6.3.0.14929`, `PolycomSoundPointIP-SPIP_650-UA/4.0.1`
            Some(Vendor::Polycom) => {
                let (head, fw) = ua.split_once('/').unwrap_or((ua, ""));
                let head = head.split_whitespace().next().unwrap_or_default();
                let parts: Vec<&str> = head.split('-').collect();
                let model = match parts.as_slice() {
                    [_, model, ..] => token(model),
                    _ => None,
                };
                (
                    model,
                    version(fw.split_whitespace().next().unwrap_or_default()),
                )
            }
            // `Cisco-CP7965G/9.4.2`, `Cisco/SPA504G-7.6.2`
            Some(Vendor::Cisco) => match ua.split_once('/') {
                Some((head, rest)) => {
                    let rest = rest.split_whitespace().next().unwrap_or_default();
                    match strip_ci(head, "cisco-") {
                        Some(model) => (token(model), version(rest)),
                        None => match rest.rsplit_once('-') {
                            Some((model, fw)) => (token(model), version(fw)),
                            None => (None, version(rest)),
                        },
                    }
                }
                None => (None, None),
            },
            // `snomD785/10.1.54.13`, `snom320/8.7.5.35 SIP/...`
            Some(Vendor::Snom) => {
                let first = ua.split_whitespace().next().unwrap_or_default();
                let (head, fw) = first.split_once('/').unwrap_or((first, ""));
                let model = strip_ci(head, "snom").and_then(|m| token(m.trim_start_matches('-')));
                (model, version(fw))
            }
            // `Yealink SIP-T46S 66.86.0.15`, `Grandstream GXP2170 1.0.11.6`, or with `/`
            Some(Vendor::Yealink | Vendor::Grandstream) => {
                let words: Vec<&str> = ua
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .filter(|w| !w.is_empty())
                    .collect();
                let model = words.get(1).and_then(|w| token(w));
                let firmware = words.iter().skip(2).find_map(|w| version(w));
                (model, firmware)
            }
            None => (None, None),
        };
        Identity {
            vendor,
            model,
            firmware,
        }
    }

    /// From DHCP option 60 (vendor class identifier). Classes name the model at best.
    pub fn from_vendor_class(class: &[u8]) -> Identity {
        let text = String::from_utf8_lossy(&class[..class.len().min(MAX_INPUT)]).into_owned();
        let vendor = Vendor::from_class_id(class);
        let model = match vendor {
            // `Cisco Systems, Inc. IP Phone CP-7965G`
            Some(Vendor::Cisco) => text
                .split_whitespace()
                .last()
                .filter(|w| w.to_ascii_uppercase().starts_with("CP-") || w.starts_with("SPA"))
                .and_then(token),
            // `Polycom-VVX400`, `Polycom-SoundPointIP-SPIP_650`
            Some(Vendor::Polycom) => text
                .rsplit('-')
                .next()
                .filter(|m| *m != text)
                .and_then(token),
            // `Grandstream GXP2170 dslforum.org`, `yealink SIP-T46S`
            Some(Vendor::Grandstream | Vendor::Yealink) => {
                text.split_whitespace().nth(1).and_then(token)
            }
            // `snomD785`
            Some(Vendor::Snom) => {
                strip_ci(text.trim(), "snom").and_then(|m| token(m.trim_start_matches('-')))
            }
            None => None,
        };
        Identity {
            vendor,
            model,
            firmware: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: Vendor, model: &str, fw: Option<&str>) -> Identity {
        Identity {
            vendor: Some(v),
            model: Some(model.to_owned()),
            firmware: fw.map(str::to_owned),
        }
    }

    #[test]
    fn user_agents() {
        let cases = [
            (
                "Yealink SIP-T46S 66.86.0.15",
                id(Vendor::Yealink, "SIP-T46S", Some("66.86.0.15")),
            ),
            (
                "Yealink SIP-T54W 96.85.0.5",
                id(Vendor::Yealink, "SIP-T54W", Some("96.85.0.5")),
            ),
            (
                "PolycomVVX-VVX_411-UA/6.3.0.14929",
                id(Vendor::Polycom, "VVX_411", Some("6.3.0.14929")),
            ),
            (
                "PolycomSoundPointIP-SPIP_650-UA/4.0.1.13681",
                id(Vendor::Polycom, "SPIP_650", Some("4.0.1.13681")),
            ),
            (
                "Cisco-CP7965G/9.4.2",
                id(Vendor::Cisco, "CP7965G", Some("9.4.2")),
            ),
            (
                "Cisco/SPA504G-7.6.2",
                id(Vendor::Cisco, "SPA504G", Some("7.6.2")),
            ),
            (
                "Grandstream GXP2170 1.0.11.6",
                id(Vendor::Grandstream, "GXP2170", Some("1.0.11.6")),
            ),
            (
                "snomD785/10.1.54.13",
                id(Vendor::Snom, "D785", Some("10.1.54.13")),
            ),
            (
                "snom320/8.7.5.35 SIP/2.0",
                id(Vendor::Snom, "320", Some("8.7.5.35")),
            ),
        ];
        for (ua, want) in cases {
            assert_eq!(Identity::from_user_agent(ua), want, "{ua}");
        }
        // Softphones and junk: nothing recognised, nothing invented.
        assert_eq!(
            Identity::from_user_agent("baresip v1.0.0 (x86_64/linux)"),
            Identity::default()
        );
        assert_eq!(Identity::from_user_agent(""), Identity::default());
        let junk = format!("Yealink {} \u{7}1.2", "x".repeat(5000));
        let got = Identity::from_user_agent(&junk);
        assert_eq!(got.vendor, Some(Vendor::Yealink));
        assert_eq!(
            (got.model, got.firmware),
            (None, None),
            "over-long and control text dropped"
        );
        assert_eq!(
            Identity::from_user_agent("Yealink"),
            Identity {
                vendor: Some(Vendor::Yealink),
                ..Default::default()
            }
        );
    }

    #[test]
    fn vendor_classes() {
        let cases: [(&[u8], Identity); 5] = [
            (
                b"Cisco Systems, Inc. IP Phone CP-7965G",
                id(Vendor::Cisco, "CP-7965G", None),
            ),
            (b"Polycom-VVX400", id(Vendor::Polycom, "VVX400", None)),
            (
                b"Grandstream GXP2170 dslforum.org",
                id(Vendor::Grandstream, "GXP2170", None),
            ),
            (b"snomD785", id(Vendor::Snom, "D785", None)),
            (b"yealink SIP-T46S", id(Vendor::Yealink, "SIP-T46S", None)),
        ];
        for (class, want) in cases {
            assert_eq!(
                Identity::from_vendor_class(class),
                want,
                "{}",
                String::from_utf8_lossy(class)
            );
        }
        assert_eq!(
            Identity::from_vendor_class(b"yealink"),
            Identity {
                vendor: Some(Vendor::Yealink),
                ..Default::default()
            }
        );
        assert_eq!(
            Identity::from_vendor_class(b"MSFT 5.0"),
            Identity::default()
        );
        assert_eq!(
            Identity::from_vendor_class(b"\xff\xfe"),
            Identity::default()
        );
    }
}
