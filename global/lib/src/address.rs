//! Global names: a box is known by its name, a user by `name@box`, and both GUIDs are derived
//! from the names (UUID v5), so a box can address a user of another box without asking
//! anyone, and a box's GUID (its subjects, its NKey's permissions) follows from its name.
//!
//! Why derived rather than looked up: a post must be accepted (committed, acknowledged) while
//! the link is down, so the recipient's GUID has to be known without the cluster. The cost:
//! renaming a published user or a box changes its global identity (the old one is simply no
//! longer published); documented in `docs/global.md`.

use ivm_wire::Guid;

/// The namespace of box GUIDs (a fixed random UUID).
const BOX_NAMESPACE: Guid = Guid::from_u128(0x6c3f_0a52_9d1e_4b7a_8e21_5f0c_d3a9_b614);

/// The longest box or user name in an address.
pub const MAX_PART: usize = 32;

/// Why text is not a global address or box name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// Not `user@box`, or a part uses other characters than a-z, 0-9, '.', '_', '-'.
    #[error("{0:?} is not a global address: use user@box, each 1-{MAX_PART} characters a-z, 0-9, '.', '_', '-'")]
    Malformed(String),
}

/// `user@box`, both parts lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// The user's login name on their box.
    pub user: String,
    /// The box's global name.
    pub box_name: String,
}

/// Whether `part` is a valid box or user name (the box's own login-name rules, shorter).
pub fn valid_part(part: &str) -> bool {
    let first_ok = part
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && part.len() <= MAX_PART
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

impl Address {
    /// Parses `user@box` (case-insensitive; stored lower case).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let lower = text.trim().to_ascii_lowercase();
        let bad = || AddressError::Malformed(text.chars().take(80).collect());
        let (user, box_name) = lower.split_once('@').ok_or_else(bad)?;
        if !valid_part(user) || !valid_part(box_name) {
            return Err(bad());
        }
        Ok(Address {
            user: user.into(),
            box_name: box_name.into(),
        })
    }

    /// The user's global GUID.
    pub fn user_id(&self) -> Guid {
        user_id(box_id(&self.box_name), &self.user)
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.box_name)
    }
}

/// The GUID of the box named `name` (its subjects and consumer are made of it).
pub fn box_id(name: &str) -> Guid {
    Guid::new_v5(&BOX_NAMESPACE, name.to_ascii_lowercase().as_bytes())
}

/// The global GUID of user `name` of box `box_id` (not their GUID inside their box, which
/// stays private to it).
pub fn user_id(box_id: Guid, name: &str) -> Guid {
    Guid::new_v5(&box_id, name.to_ascii_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_derive_stable_ids() {
        let a = Address::parse(" Bob@Office-B ").expect("address");
        assert_eq!(a.to_string(), "bob@office-b");
        assert_eq!(a.user_id(), user_id(box_id("office-b"), "bob"));
        assert_ne!(a.user_id(), user_id(box_id("office-a"), "bob"));
        assert_ne!(box_id("office-a"), box_id("office-b"));
        assert_eq!(box_id("Office-A"), box_id("office-a"));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "bob",
            "@b",
            "b@",
            "a@b@c",
            "b ob@x",
            "bob@x.y/z",
            "-a@b",
            &format!("a@{}", "x".repeat(33)),
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
