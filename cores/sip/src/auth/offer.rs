//! Which digest challenges a phone is offered, and in which order (RFC 8760 §2.4: the UAS
//! lists the algorithms in its order of preference; the UAC uses the topmost one it supports).
//!
//! # Why `auto` offers MD5 alone to phones not known to handle SHA-256
//! Ordering alone does not keep old stacks working, and it buys nothing:
//! - Some stacks refuse the whole 401 when *any* challenge names an algorithm they lack.
//!   Debian 12's baresip 1.0 (libre 1.1) does: its `auth_handler` stops with `ENOSYS` at the
//!   first non-MD5 challenge and the phone never registers, whether SHA-256 comes first or
//!   second (checked against baresip 1.0.0 with a responder offering `MD5, SHA-256`:
//!   "Register: Function not implemented"). libre learnt SHA-256 only in v3.12 (2024).
//! - PJSIP before 2.12 reads only the first challenge; SIPp 3.6 too (SIPp issue #488).
//! - A UAC that supports MD5 and finds MD5 on top uses MD5 anyway, so a SHA-256 challenge
//!   below it would only matter to a UAC without MD5, and no desk phone lacks MD5.
//!
//! Every phone the box provisions (Yealink, Polycom, Cisco, Grandstream, Snom) registers
//! against PBXs whose default challenge is MD5 alone (Asterisk's `supported_algorithms_uas`
//! defaults to MD5; FreeSWITCH and Kamailio challenge with one algorithm), so MD5 alone is
//! what they are known to take. SHA-256 goes first, with MD5 below it, only to User-Agents
//! whose stack is known to pick the topmost supported challenge and to do SHA-256:
//!
//! | User-Agent | stack | since |
//! |---|---|---|
//! | `PJSUA v2.12`+ | PJSIP: skips unsupported challenges (#2408), SHA-256 (#2753), only the topmost supported one (#2887) | 2.12 (2021); 2.15 adds SHA-512-256 |
//! | `... (belle-sip/4.3)`+ (Linphone apps, liblinphone) | belle-sip: answers each supported challenge, skips the others, SHA-256 | 4.3 (2019) |
//! | `Linphonec/4.3`+ (liblinphone's own CLI, Debian's `linphone-cli`) | the same belle-sip: its version is liblinphone's, released with belle-sip's; it names no `belle-sip/` | 4.3 (2019) |
//! | `baresip v3.12`+ | libre: SHA-256 (re #1103) | 3.12 (2024) |
//!
//! An explicit `[sip] digest` list in the config overrides all this.

use super::Algorithm;

/// The challenges to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// By User-Agent (see the module docs): SHA-256 then MD5 to stacks known to take it,
    /// MD5 alone to everyone else.
    Auto,
    /// These algorithms, in this order, to every phone.
    Fixed(Vec<Algorithm>),
}

impl Offer {
    /// The algorithms to offer a request with this `User-Agent`, in order (never empty).
    pub fn for_user_agent(&self, user_agent: Option<&str>) -> Vec<Algorithm> {
        match self {
            Offer::Fixed(list) if !list.is_empty() => list.clone(),
            Offer::Fixed(_) => vec![Algorithm::Md5],
            Offer::Auto if user_agent.is_some_and(takes_sha256) => {
                vec![Algorithm::Sha256, Algorithm::Md5]
            }
            Offer::Auto => vec![Algorithm::Md5],
        }
    }

    /// Parses the config value: `auto`, or a comma-separated list of `md5` and `sha-256`.
    pub fn parse(s: &str) -> Option<Offer> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Some(Offer::Auto);
        }
        let mut list = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let a = Algorithm::parse(Some(part))?;
            if !list.contains(&a) {
                list.push(a);
            }
        }
        (!list.is_empty()).then_some(Offer::Fixed(list))
    }
}

/// Whether the stack behind `user_agent` is known to pick the topmost challenge it supports
/// and to support SHA-256 (the table in the module docs).
pub fn takes_sha256(user_agent: &str) -> bool {
    let at_least =
        |marker: &str, min: (u32, u32)| find_version(user_agent, marker).is_some_and(|v| v >= min);
    at_least("PJSUA v", (2, 12))
        || at_least("belle-sip/", (4, 3))
        || (user_agent_starts_with(user_agent, "Linphonec/") && at_least("Linphonec/", (4, 3)))
        || at_least("baresip v", (3, 12))
}

/// Whether `user_agent` begins with `prefix`, in any case.
fn user_agent_starts_with(user_agent: &str, prefix: &str) -> bool {
    user_agent
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `major.minor` right after `marker` (case-insensitive), e.g. `2.15` in `PJSUA v2.15.1/...`.
fn find_version(text: &str, marker: &str) -> Option<(u32, u32)> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(&marker.to_ascii_lowercase())? + marker.len();
    let rest = &text[at..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    // The minor number must follow a '.' directly.
    let after_major = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let minor = after_major
        .strip_prefix('.')?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::{Md5, Sha256};

    #[test]
    fn auto_by_user_agent() {
        let auto = Offer::Auto;
        for ua in [
            "PJSUA v2.15.1/x86_64-unknown-linux-gnu",
            "PJSUA v2.12/arm-linux",
            "Linphone/5.2.5 (belle-sip/5.3.90)",
            "Linphone Desktop/4.2.5 (belle-sip/4.4.0)",
            "baresip v3.14.0 (x86_64/Linux)",
            // Debian 12's linphone-cli 5.1 (e2e_interop checks it answers SHA-256).
            "Linphonec/5.1.65",
            "Linphonec/4.3.0",
        ] {
            assert_eq!(auto.for_user_agent(Some(ua)), vec![Sha256, Md5], "{ua}");
        }
        for ua in [
            "baresip v1.0.0 (x86_64/linux)",
            "baresip v3.10.1 (x86_64/Linux)",
            "PJSUA v2.10/x86_64",
            "Linphone/3.12.0 (belle-sip/1.6.3)",
            "Linphonec/3.12.0",
            "Linphonec/4.2.9",
            "Not Linphonec/5.1.65",
            "Yealink SIP-T46S 66.86.0.15",
            "PolycomVVX-VVX_411-UA/6.4.3.5018",
            "Cisco/SPA504G-7.6.2b",
            "Grandstream GXP2170 1.0.11.3",
            "snom D785/10.1.54.13",
            "SIPp",
            "PJSUA v",
            "PJSUA v2",
            "",
        ] {
            assert_eq!(auto.for_user_agent(Some(ua)), vec![Md5], "{ua}");
        }
        assert_eq!(auto.for_user_agent(None), vec![Md5]);
    }

    #[test]
    fn fixed_lists_and_parsing() {
        assert_eq!(Offer::parse("auto"), Some(Offer::Auto));
        assert_eq!(Offer::parse(" AUTO "), Some(Offer::Auto));
        assert_eq!(
            Offer::parse("sha-256, md5"),
            Some(Offer::Fixed(vec![Sha256, Md5]))
        );
        assert_eq!(Offer::parse("md5"), Some(Offer::Fixed(vec![Md5])));
        assert_eq!(Offer::parse("md5,md5"), Some(Offer::Fixed(vec![Md5])));
        for bad in ["", ",", "sha1", "md5,sha-512", "auto,md5"] {
            assert_eq!(Offer::parse(bad), None, "{bad:?}");
        }
        let fixed = Offer::Fixed(vec![Sha256, Md5]);
        assert_eq!(
            fixed.for_user_agent(Some("baresip v1.0.0")),
            vec![Sha256, Md5]
        );
    }
}
