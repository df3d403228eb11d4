//! The phone registry model: which phones the box has seen and who they belong to.
//!
//! Pure data and rules; the database actor persists it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::mac::Mac;
use crate::vendor::Vendor;

/// Why a registry change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No phone with this MAC.
    #[error("no phone {0}")]
    Unknown(Mac),
    /// The extension is already on another phone.
    #[error("extension {ext} is already assigned to phone {mac}")]
    ExtensionTaken {
        /// The extension asked for.
        ext: String,
        /// The phone that has it.
        mac: Mac,
    },
    /// An extension must be 1 to 16 digits: it becomes a SIP user and a file value.
    #[error("bad extension {0:?}")]
    BadExtension(String),
    /// Text seen on the wire (model, firmware) was too long or had control characters.
    #[error("bad {field}: {value:?}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// What was offered (cut short).
        value: String,
    },
}

/// How far along a phone is, shown on the admin page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneState {
    /// Asked for an address or a config; not yet fetched its own account file.
    Seen,
    /// Fetched its per-phone file with a SIP account.
    Provisioned,
    /// Registered over SIP.
    Registered,
}

/// One desk phone, keyed by MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// Its MAC address (the key).
    pub mac: Mac,
    /// Maker, when known (option 60, MAC prefix, user agent, or set by hand).
    pub vendor: Option<Vendor>,
    /// Model as the phone reports it (`T46U`, `VVX400`), when known.
    pub model: Option<String>,
    /// Firmware version as the phone reports it, when known.
    pub firmware: Option<String>,
    /// The extension assigned; `None` is "seen, unassigned".
    pub user: Option<String>,
    /// How far along it is.
    pub state: PhoneState,
    /// Last DHCP, TFTP, HTTP or SIP request from it.
    pub last_seen: SystemTime,
}

/// What a request told us about a phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sighting {
    /// Vendor, if recognised.
    pub vendor: Option<Vendor>,
    /// Model, if reported.
    pub model: Option<String>,
    /// Firmware, if reported.
    pub firmware: Option<String>,
}

/// Longest model or firmware string kept: they come from untrusted packets.
const MAX_FIELD: usize = 64;

fn clean(field: &'static str, v: Option<String>) -> Result<Option<String>, RegistryError> {
    match v {
        Some(s) if s.len() > MAX_FIELD || s.chars().any(char::is_control) => {
            Err(RegistryError::BadField {
                field,
                value: s.chars().take(MAX_FIELD).collect(),
            })
        }
        other => Ok(other),
    }
}

/// Checks an extension: 1 to 16 ASCII digits.
pub fn validate_extension(ext: &str) -> Result<(), RegistryError> {
    if ext.is_empty() || ext.len() > 16 || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RegistryError::BadExtension(ext.chars().take(20).collect()));
    }
    Ok(())
}

/// All phones, ordered by MAC.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    phones: BTreeMap<Mac, Phone>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds from stored phones.
    pub fn from_phones(phones: impl IntoIterator<Item = Phone>) -> Self {
        Self {
            phones: phones.into_iter().map(|p| (p.mac, p)).collect(),
        }
    }

    /// Records a request from `mac`: adds it as `Seen` if new, refreshes `last_seen` and
    /// fills in whatever the request told us. Known fields are not wiped by a request that
    /// lacks them, and a known vendor is never overwritten: a request is no proof of what
    /// the device is (anyone may ask for another vendor's file name).
    pub fn seen(
        &mut self,
        mac: Mac,
        s: Sighting,
        now: SystemTime,
    ) -> Result<&Phone, RegistryError> {
        let model = clean("model", s.model)?;
        let firmware = clean("firmware", s.firmware)?;
        let p = self.phones.entry(mac).or_insert_with(|| Phone {
            mac,
            vendor: None,
            model: None,
            firmware: None,
            user: None,
            state: PhoneState::Seen,
            last_seen: now,
        });
        p.last_seen = now;
        p.vendor = p.vendor.or(s.vendor);
        p.model = model.or(p.model.take());
        p.firmware = firmware.or(p.firmware.take());
        Ok(p)
    }

    /// Assigns `ext` to the phone (adding it when unknown). One phone per extension.
    pub fn assign(
        &mut self,
        mac: Mac,
        ext: &str,
        now: SystemTime,
    ) -> Result<&Phone, RegistryError> {
        validate_extension(ext)?;
        if let Some(other) = self.by_extension(ext) {
            if other.mac != mac {
                return Err(RegistryError::ExtensionTaken {
                    ext: ext.to_owned(),
                    mac: other.mac,
                });
            }
        }
        self.seen(mac, Sighting::default(), now)?;
        let p = self
            .phones
            .get_mut(&mac)
            .ok_or(RegistryError::Unknown(mac))?;
        if p.user.as_deref() != Some(ext) {
            p.user = Some(ext.to_owned());
            p.state = PhoneState::Seen;
        }
        Ok(p)
    }

    /// Takes the extension off the phone; it goes back to "seen, unassigned".
    pub fn unassign(&mut self, mac: Mac) -> Result<(), RegistryError> {
        let p = self
            .phones
            .get_mut(&mac)
            .ok_or(RegistryError::Unknown(mac))?;
        p.user = None;
        p.state = PhoneState::Seen;
        Ok(())
    }

    /// Forgets the phone.
    pub fn remove(&mut self, mac: Mac) -> Result<Phone, RegistryError> {
        self.phones.remove(&mac).ok_or(RegistryError::Unknown(mac))
    }

    /// The phone fetched its own account file.
    pub fn provisioned(&mut self, mac: Mac, now: SystemTime) -> Result<(), RegistryError> {
        let p = self
            .phones
            .get_mut(&mac)
            .ok_or(RegistryError::Unknown(mac))?;
        p.last_seen = now;
        if p.user.is_some() && p.state == PhoneState::Seen {
            p.state = PhoneState::Provisioned;
        }
        Ok(())
    }

    /// The phone registered over SIP.
    pub fn registered(&mut self, mac: Mac, now: SystemTime) -> Result<(), RegistryError> {
        let p = self
            .phones
            .get_mut(&mac)
            .ok_or(RegistryError::Unknown(mac))?;
        p.last_seen = now;
        p.state = PhoneState::Registered;
        Ok(())
    }

    /// Looks a phone up.
    pub fn get(&self, mac: &Mac) -> Option<&Phone> {
        self.phones.get(mac)
    }

    /// The phone holding `ext`, if any.
    pub fn by_extension(&self, ext: &str) -> Option<&Phone> {
        self.phones
            .values()
            .find(|p| p.user.as_deref() == Some(ext))
    }

    /// All phones, ordered by MAC.
    pub fn iter(&self) -> impl Iterator<Item = &Phone> {
        self.phones.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn lifecycle() {
        let mac = Mac::parse("001565000001").unwrap();
        let mut r = Registry::new();
        let s = Sighting {
            vendor: Some(Vendor::Yealink),
            model: Some("T46U".into()),
            firmware: None,
        };
        assert_eq!(r.seen(mac, s, t(1)).unwrap().state, PhoneState::Seen);
        r.seen(mac, Sighting::default(), t(2)).unwrap();
        let snom = Sighting {
            vendor: Some(Vendor::Snom),
            ..Default::default()
        };
        r.seen(mac, snom, t(2)).unwrap();
        let p = r.get(&mac).unwrap();
        assert_eq!(
            (p.vendor, p.model.as_deref(), p.last_seen),
            (Some(Vendor::Yealink), Some("T46U"), t(2))
        );
        r.provisioned(mac, t(3)).unwrap();
        assert_eq!(
            r.get(&mac).unwrap().state,
            PhoneState::Seen,
            "unassigned stays seen"
        );
        r.assign(mac, "201", t(4)).unwrap();
        r.provisioned(mac, t(5)).unwrap();
        assert_eq!(r.get(&mac).unwrap().state, PhoneState::Provisioned);
        r.registered(mac, t(6)).unwrap();
        assert_eq!(r.get(&mac).unwrap().state, PhoneState::Registered);
        let other = Mac::parse("001565000002").unwrap();
        assert!(matches!(
            r.assign(other, "201", t(7)),
            Err(RegistryError::ExtensionTaken { .. })
        ));
        assert!(matches!(
            r.assign(other, "20a", t(7)),
            Err(RegistryError::BadExtension(_))
        ));
        r.unassign(mac).unwrap();
        assert_eq!(r.get(&mac).unwrap().user, None);
        r.remove(mac).unwrap();
        assert!(r.get(&mac).is_none());
        let bad = Sighting {
            model: Some("x\ny".into()),
            ..Default::default()
        };
        assert!(r.seen(mac, bad, t(8)).is_err());
    }
}
