//! Which phone maker a device is, from its DHCP vendor class (option 60) or its MAC prefix.

use std::fmt;
use std::str::FromStr;

use super::mac::Mac;

/// Why a vendor name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phone vendor: {0:?}")]
pub struct VendorError(pub String);

/// The desk-phone makers the box provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vendor {
    /// Cisco SIP firmware (`SEP<MAC>.cnf.xml`, DHCP option 150) and SPA / MPP 3PCC
    /// (`spa<PSN>.cfg`, `<PSN>.xml`, `$MA.xml`).
    Cisco,
    /// Polycom / Poly UC Software (`000000000000.cfg`, `<mac>.cfg`, `<mac>-ivm.cfg`).
    Polycom,
    /// Yealink (`<mac>.cfg`, `y000000000XXX.cfg`).
    Yealink,
    /// Grandstream (`cfg<mac>.xml`).
    Grandstream,
    /// Snom (`snom<model>.htm`, `<MAC>.xml`, `snom<model>-<MAC>.htm`).
    Snom,
}

/// OUI prefixes seen on each maker's phones. Not exhaustive: option 60 is checked first,
/// and an installer can always set the vendor by hand.
const OUIS: &[([u8; 3], Vendor)] = &[
    ([0x00, 0x15, 0x65], Vendor::Yealink),
    ([0x80, 0x5e, 0xc0], Vendor::Yealink),
    ([0x80, 0x5e, 0x0c], Vendor::Yealink),
    ([0x24, 0x9a, 0xd8], Vendor::Yealink),
    ([0x44, 0xdb, 0xd2], Vendor::Yealink),
    ([0x00, 0x04, 0xf2], Vendor::Polycom),
    ([0x64, 0x16, 0x7f], Vendor::Polycom),
    ([0x48, 0x25, 0x67], Vendor::Polycom),
    ([0x00, 0x0b, 0x82], Vendor::Grandstream),
    ([0xc0, 0x74, 0xad], Vendor::Grandstream),
    ([0xec, 0x74, 0xd7], Vendor::Grandstream),
    ([0x00, 0x04, 0x13], Vendor::Snom),
    ([0x00, 0x1e, 0x7a], Vendor::Cisco),
    ([0x00, 0x1b, 0xd4], Vendor::Cisco),
    ([0x00, 0x23, 0x04], Vendor::Cisco),
    ([0x00, 0x25, 0x84], Vendor::Cisco),
    ([0x00, 0x26, 0x0b], Vendor::Cisco),
    ([0x00, 0x1a, 0xa1], Vendor::Cisco),
    ([0x64, 0x00, 0xf1], Vendor::Cisco),
    ([0xf8, 0x66, 0xf2], Vendor::Cisco),
    ([0x88, 0x75, 0x56], Vendor::Cisco),
    ([0x50, 0x3d, 0xe5], Vendor::Cisco),
];

impl Vendor {
    /// Every vendor, for admin pages and exhaustive tests.
    pub const ALL: [Vendor; 5] = [
        Vendor::Cisco,
        Vendor::Polycom,
        Vendor::Yealink,
        Vendor::Grandstream,
        Vendor::Snom,
    ];

    /// From DHCP option 60 (vendor class identifier), e.g. `Cisco Systems, Inc. IP Phone
    /// CP-7965G`, `Polycom-VVX400`, `yealink`, `Grandstream GXP2170`, `snomD785`.
    pub fn from_class_id(class: &[u8]) -> Option<Vendor> {
        let text = String::from_utf8_lossy(&class[..class.len().min(255)]).to_ascii_lowercase();
        let has = |needle: &str| text.contains(needle);
        if has("cisco") {
            Some(Vendor::Cisco)
        } else if has("polycom") || text.starts_with("poly") {
            Some(Vendor::Polycom)
        } else if has("yealink") {
            Some(Vendor::Yealink)
        } else if has("grandstream") || has("gxp") || has("grp2") || has("ht8") {
            Some(Vendor::Grandstream)
        } else if has("snom") {
            Some(Vendor::Snom)
        } else {
            None
        }
    }

    /// From the MAC's OUI prefix.
    pub fn from_mac(mac: &Mac) -> Option<Vendor> {
        let oui = mac.oui();
        OUIS.iter().find(|(p, _)| *p == oui).map(|(_, v)| *v)
    }

    /// Option 60 when it names a vendor, else the MAC prefix.
    pub fn recognise(class: Option<&[u8]>, mac: &Mac) -> Option<Vendor> {
        class
            .and_then(Vendor::from_class_id)
            .or_else(|| Vendor::from_mac(mac))
    }

    /// Lower-case name, as in config files and URLs.
    pub fn name(&self) -> &'static str {
        match self {
            Vendor::Cisco => "cisco",
            Vendor::Polycom => "polycom",
            Vendor::Yealink => "yealink",
            Vendor::Grandstream => "grandstream",
            Vendor::Snom => "snom",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Vendor {
    type Err = VendorError;
    fn from_str(s: &str) -> Result<Self, VendorError> {
        Vendor::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| VendorError(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn by_class_id() {
        let cases: &[(&[u8], Vendor)] = &[
            (b"Cisco Systems, Inc. IP Phone CP-7965G", Vendor::Cisco),
            (b"Polycom-VVX400", Vendor::Polycom),
            (b"yealink", Vendor::Yealink),
            (b"Grandstream GXP2170 dslforum.org", Vendor::Grandstream),
            (b"snomD785", Vendor::Snom),
        ];
        for (class, v) in cases {
            assert_eq!(Vendor::from_class_id(class), Some(*v));
        }
        assert_eq!(Vendor::from_class_id(b"MSFT 5.0"), None);
        assert_eq!(Vendor::from_class_id(b"\xff\xfe"), None);
    }

    #[test]
    fn by_mac_prefix_and_precedence() {
        let yealink = Mac::parse("00:15:65:01:02:03").unwrap();
        assert_eq!(Vendor::from_mac(&yealink), Some(Vendor::Yealink));
        assert_eq!(
            Vendor::recognise(Some(b"snom"), &yealink),
            Some(Vendor::Snom)
        );
        assert_eq!(
            Vendor::recognise(Some(b"udhcp"), &yealink),
            Some(Vendor::Yealink)
        );
        let other = Mac::parse("02:00:00:00:00:01").unwrap();
        assert_eq!(Vendor::recognise(None, &other), None);
        assert_eq!("Polycom".parse::<Vendor>(), Ok(Vendor::Polycom));
    }
}
