//! Ethernet MAC addresses as phones and provisioning file names spell them.

use std::fmt;
use std::str::FromStr;

/// Why a MAC address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Not 12 hex digits once the usual separators (`:`, `-`, `.`) are removed.
    #[error("not a MAC address: {0:?}")]
    Syntax(String),
    /// Multicast (group) bit set: no phone has such an address, so it is a typo or spoofing.
    #[error("multicast MAC address: {0}")]
    Multicast(String),
    /// All zeros or all ones: placeholders, never a device.
    #[error("reserved MAC address: {0}")]
    Reserved(String),
}

/// A unicast 48-bit MAC address.
///
/// One canonical form everywhere (lower-case hex, no separators, as Yealink, Polycom and
/// Grandstream name their files) so the registry, DHCP and file names agree on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Accepts `001565aabbcc`, `00:15:65:AA:BB:CC`, `00-15-65-aa-bb-cc` and `0015.65aa.bbcc`.
    pub fn parse(s: &str) -> Result<Self, MacError> {
        let mac = Self::parse_hex(s)?;
        mac.validate().map_err(|e| match e {
            MacError::Multicast(_) => MacError::Multicast(s.to_owned()),
            _ => MacError::Reserved(s.to_owned()),
        })?;
        Ok(mac)
    }

    /// Syntax only: 12 hex digits with optional separators; no unicast check. Used for
    /// file names such as Polycom's `000000000000.cfg`, where the reserved value is a pattern.
    pub fn parse_hex(s: &str) -> Result<Self, MacError> {
        let bad = || MacError::Syntax(s.chars().take(40).collect());
        if s.len() > 17 {
            return Err(bad());
        }
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !matches!(b, b':' | b'-' | b'.'))
            .collect();
        if digits.len() != 12 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(bad)?;
            let lo = hex_val(pair[1]).ok_or_else(bad)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Mac(out))
    }

    /// From a DHCP `chaddr` (first six bytes); `None` when shorter.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let six: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(Mac(six))
    }

    /// Refuses multicast, all-zero and broadcast addresses.
    pub fn validate(&self) -> Result<(), MacError> {
        if self.0 == [0; 6] || self.0 == [0xff; 6] {
            return Err(MacError::Reserved(self.to_string()));
        }
        if self.0[0] & 1 == 1 {
            return Err(MacError::Multicast(self.to_string()));
        }
        Ok(())
    }

    /// The vendor prefix (OUI), the first three bytes.
    pub fn oui(&self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// Upper-case hex without separators (`SEP001565AABBCC`, Snom's `<MAC>.xml`).
    pub fn upper(&self) -> String {
        self.to_string().to_ascii_uppercase()
    }

    /// Colon-separated lower case, for logs and admin pages.
    pub fn colons(&self) -> String {
        let b = self.0;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Canonical form: lower-case hex, no separators.
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Mac {
    type Err = MacError;
    fn from_str(s: &str) -> Result<Self, MacError> {
        Mac::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_every_spelling() {
        let want = Mac([0x00, 0x15, 0x65, 0xaa, 0xbb, 0xcc]);
        for s in [
            "001565aabbcc",
            "00:15:65:AA:BB:CC",
            "00-15-65-aa-bb-cc",
            "0015.65aa.bbcc",
        ] {
            assert_eq!(Mac::parse(s), Ok(want), "{s}");
        }
        assert_eq!(want.to_string(), "001565aabbcc");
        assert_eq!(want.upper(), "001565AABBCC");
        assert_eq!(want.colons(), "00:15:65:aa:bb:cc");
    }

    #[test]
    fn refuses_bad_ones() {
        for s in [
            "",
            "00156",
            "001565aabbccdd",
            "00156gaabbcc",
            "0015 65aabbcc",
            "ü01565aabbc",
        ] {
            assert!(matches!(Mac::parse(s), Err(MacError::Syntax(_))), "{s}");
        }
        assert!(matches!(
            Mac::parse("010203040506"),
            Err(MacError::Multicast(_))
        ));
        assert!(matches!(
            Mac::parse("000000000000"),
            Err(MacError::Reserved(_))
        ));
        assert!(matches!(
            Mac::parse("ffffffffffff"),
            Err(MacError::Reserved(_))
        ));
        assert!(Mac::parse_hex("000000000000").is_ok());
    }
}
