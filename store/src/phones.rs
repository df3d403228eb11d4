//! The phone registry (issue 5): desk phones by MAC, the user each is assigned to, and what
//! the box last saw of it.
//!
//! A phone row is written by `ivmd phone add` / the admin API (assignment) and by every
//! provisioning request (DHCP, TFTP, HTTP: "last seen", vendor, model). A phone that asked
//! for a file before anyone assigned it is kept as "seen, unassigned" so an installer can
//! assign it. The assignment names the user by GUID, so renaming a user or changing their
//! extension needs no update here; a phone whose user was deleted reads as unassigned.
//!
//! The SIP registrar reports each new registration with [`Store::phone_registered`]: the
//! phone assigned to the registering user becomes "registered" and takes the vendor, model
//! and firmware its `User-Agent` names. Whether a phone is registered *now* is the station
//! actor's (live, in memory); the stored status says how far the phone ever got, so it
//! survives a restart without claiming registrations that a restart dropped.
//!
//! Auto-assign ([`Store::auto_assign_phone`], `[provision] auto_assign`): an unknown phone
//! that asks for its account file gets a new user on the next free extension of a range.
//!
//! | table | key | value |
//! |---|---|---|
//! | `phones` | MAC `[u8;6]` | JSON `PhoneRecord` |

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

use ivm_provision::{Mac, Vendor};
use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, PHONES, USERS};
use crate::{NewUser, Store, StoreError};

/// How far along a phone has ever got (shown by `ivmd phone list` and the admin API). It
/// only moves forward while the phone keeps its user; assigning it to another user starts
/// over at `Seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneStatus {
    /// Asked for an address or a file; has not fetched its own account file yet.
    Seen,
    /// Fetched its per-phone file with a SIP account.
    Provisioned,
    /// Registered over SIP (at least once; the admin API reports whether it is now).
    Registered,
}

impl PhoneStatus {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PhoneStatus::Seen => "seen",
            PhoneStatus::Provisioned => "provisioned",
            PhoneStatus::Registered => "registered",
        }
    }
}

/// One phone as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhone {
    /// Its MAC (the key).
    pub mac: Mac,
    /// Maker, when known.
    pub vendor: Option<Vendor>,
    /// Model as reported, when known.
    pub model: Option<String>,
    /// Firmware as reported, when known.
    pub firmware: Option<String>,
    /// The user it is assigned to; `None`: seen, unassigned (or the user was deleted).
    pub user: Option<Guid>,
    /// How far along it is.
    pub status: PhoneStatus,
    /// Unix seconds of the last request from it; 0 when never seen.
    pub last_seen: u64,
    /// The phone must give HTTP credentials (Basic) for its files; see
    /// [`Store::set_phone_http_password`].
    pub http_auth: bool,
    /// The address of its last request (DHCP lease, TFTP, HTTP, SIP), when known.
    pub address: Option<IpAddr>,
}

/// What a request told us about a phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneSighting {
    /// Vendor, if recognised.
    pub vendor: Option<Vendor>,
    /// Model, if reported.
    pub model: Option<String>,
    /// Firmware, if reported.
    pub firmware: Option<String>,
    /// Where the request came from.
    pub address: Option<IpAddr>,
}

#[derive(Serialize, Deserialize)]
struct PhoneRecord {
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    firmware: Option<String>,
    #[serde(default)]
    user: Option<Guid>,
    status: PhoneStatus,
    #[serde(default)]
    last_seen: u64,
    /// argon2id PHC string of the phone's HTTP provisioning password.
    #[serde(default)]
    http_password: Option<String>,
    #[serde(default)]
    address: Option<IpAddr>,
}

/// Longest model or firmware string kept: they come from untrusted packets.
const MAX_FIELD: usize = 64;

fn clean(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control))
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_phone(mac: Mac, r: PhoneRecord) -> StoredPhone {
    StoredPhone {
        http_auth: r.http_password.is_some(),
        mac,
        vendor: r.vendor.and_then(|v| v.parse().ok()),
        model: r.model,
        firmware: r.firmware,
        user: r.user,
        status: r.status,
        last_seen: r.last_seen,
        address: r.address,
    }
}

fn to_record(p: &StoredPhone, http_password: Option<String>) -> PhoneRecord {
    PhoneRecord {
        http_password,
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        firmware: p.firmware.clone(),
        user: p.user,
        status: p.status,
        last_seen: p.last_seen,
        address: p.address,
    }
}

fn new_phone(mac: Mac) -> StoredPhone {
    StoredPhone {
        mac,
        vendor: None,
        model: None,
        firmware: None,
        user: None,
        status: PhoneStatus::Seen,
        last_seen: 0,
        http_auth: false,
        address: None,
    }
}

/// Fills in what a request told us; known fields are not wiped by one that lacks them.
fn apply(p: &mut StoredPhone, s: PhoneSighting, now: SystemTime) {
    p.last_seen = unix(now);
    p.vendor = s.vendor.or(p.vendor).or_else(|| Vendor::from_mac(&p.mac));
    p.model = clean(s.model).or(p.model.take());
    p.firmware = clean(s.firmware).or(p.firmware.take());
    p.address = s.address.or(p.address);
}

impl Store {
    /// All phones, by MAC. A phone whose user no longer exists reads as unassigned.
    pub fn phones(&self) -> Result<Vec<StoredPhone>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PHONES)?;
        let users = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let mut p = to_phone(Mac(k.value()), decode("phone", v.value())?);
            if let Some(u) = p.user {
                if users.get(crate::tables::guid_key(u))?.is_none() {
                    p.user = None;
                }
            }
            out.push(p);
        }
        Ok(out)
    }

    /// One phone, `None` when the box has never heard of it.
    pub fn phone(&self, mac: Mac) -> Result<Option<StoredPhone>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(PHONES)?.get(mac.0)? else {
            return Ok(None);
        };
        let mut p = to_phone(mac, decode("phone", v.value())?);
        if let Some(u) = p.user {
            if txn
                .open_table(USERS)?
                .get(crate::tables::guid_key(u))?
                .is_none()
            {
                p.user = None;
            }
        }
        Ok(Some(p))
    }

    /// Assigns the phone to `user` (adding the phone when unknown). One phone per user:
    /// [`StoreError::Conflict`] when another phone has them; [`StoreError::NotFound`] for an
    /// unknown user. `vendor` (from the admin or the MAC prefix) is kept when given.
    pub fn assign_phone(
        &self,
        mac: Mac,
        user: Guid,
        vendor: Option<Vendor>,
    ) -> Result<StoredPhone, StoreError> {
        mac.validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let txn = self.db.begin_write()?;
        let phone = {
            if !crate::users::exists(&txn, user)? {
                return Err(StoreError::NotFound);
            }
            let mut table = txn.open_table(PHONES)?;
            let mut existing = None;
            for row in table.iter()? {
                let (k, v) = row?;
                let r: PhoneRecord = decode("phone", v.value())?;
                if k.value() == mac.0 {
                    existing = Some(r);
                } else if r.user == Some(user) {
                    return Err(StoreError::Conflict(format!(
                        "the user already has phone {}",
                        Mac(k.value())
                    )));
                }
            }
            let hash = existing.as_ref().and_then(|r| r.http_password.clone());
            let mut p = match existing {
                Some(r) => to_phone(mac, r),
                None => new_phone(mac),
            };
            p.vendor = vendor.or(p.vendor).or_else(|| Vendor::from_mac(&mac));
            if p.user != Some(user) {
                p.user = Some(user);
                p.status = PhoneStatus::Seen;
            }
            table.insert(mac.0, encode(&to_record(&p, hash))?.as_slice())?;
            p
        };
        txn.commit()?;
        tracing::info!(mac = %mac, user = %user, "phone assigned");
        Ok(phone)
    }

    /// Forgets the phone. [`StoreError::NotFound`] when unknown.
    pub fn remove_phone(&self, mac: Mac) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            if txn.open_table(PHONES)?.remove(mac.0)?.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        txn.commit()?;
        tracing::info!(mac = %mac, "phone removed");
        Ok(())
    }

    /// Records a request from the phone: adds it as "seen, unassigned" when new, refreshes
    /// its last-seen time and fills in what the request told us (known fields are not wiped
    /// by a request that lacks them; over-long or control-character text is dropped).
    /// `provisioned` marks that it fetched its own account file.
    pub fn phone_seen(
        &self,
        mac: Mac,
        s: PhoneSighting,
        provisioned: bool,
        now: SystemTime,
    ) -> Result<StoredPhone, StoreError> {
        mac.validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let old = table
                .get(mac.0)?
                .map(|v| decode::<PhoneRecord>("phone", v.value()))
                .transpose()?;
            let hash = old.as_ref().and_then(|r| r.http_password.clone());
            let mut p = match old {
                Some(r) => to_phone(mac, r),
                None => new_phone(mac),
            };
            apply(&mut p, s, now);
            if provisioned && p.user.is_some() && p.status == PhoneStatus::Seen {
                p.status = PhoneStatus::Provisioned;
            }
            table.insert(mac.0, encode(&to_record(&p, hash))?.as_slice())?;
            p
        };
        txn.commit()?;
        Ok(phone)
    }

    /// Takes the phone away from its user (it stays known as "seen, unassigned"; its HTTP
    /// password is kept). [`StoreError::NotFound`] for an unknown phone.
    pub fn unassign_phone(&self, mac: Mac) -> Result<StoredPhone, StoreError> {
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let r: PhoneRecord = match table.get(mac.0)? {
                Some(v) => decode("phone", v.value())?,
                None => return Err(StoreError::NotFound),
            };
            let hash = r.http_password.clone();
            let mut p = to_phone(mac, r);
            p.user = None;
            p.status = PhoneStatus::Seen;
            table.insert(mac.0, encode(&to_record(&p, hash))?.as_slice())?;
            p
        };
        txn.commit()?;
        tracing::info!(mac = %mac, "phone unassigned");
        Ok(phone)
    }

    /// A SIP registration of `user` succeeded: their phone (the one assigned to them)
    /// becomes "registered" and takes what the registration told (its `User-Agent`, its
    /// address). `Ok(None)`, with nothing written, when the user has no phone (a softphone
    /// set up by hand): the check is a read, so registrations of users without phones cost
    /// no commit.
    pub fn phone_registered(
        &self,
        user: Guid,
        s: PhoneSighting,
        now: SystemTime,
    ) -> Result<Option<StoredPhone>, StoreError> {
        let mut mac = None;
        {
            let txn = self.db.begin_read()?;
            for row in txn.open_table(PHONES)?.iter()? {
                let (k, v) = row?;
                if decode::<PhoneRecord>("phone", v.value())?.user == Some(user) {
                    mac = Some(Mac(k.value()));
                    break;
                }
            }
        }
        let Some(mac) = mac else { return Ok(None) };
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let r: PhoneRecord = match table.get(mac.0)? {
                Some(v) => decode("phone", v.value())?,
                // Removed meanwhile.
                None => return Ok(None),
            };
            if r.user != Some(user) {
                return Ok(None);
            }
            let hash = r.http_password.clone();
            let mut p = to_phone(mac, r);
            apply(&mut p, s, now);
            p.status = PhoneStatus::Registered;
            table.insert(mac.0, encode(&to_record(&p, hash))?.as_slice())?;
            p
        };
        txn.commit()?;
        Ok(Some(phone))
    }

    /// Auto-assign: gives the unassigned phone `mac` a new user on the lowest free extension
    /// in `range` and assigns it. The user is named `phone-<mac>`, displayed as "Extension
    /// N", with a generated login password nobody is shown (an admin can reset it); their
    /// SIP credentials are generated on first use like everyone's. Returns the phone, or
    /// `Ok(None)` when the range is full. A phone that already has a user keeps it.
    pub fn auto_assign_phone(
        &self,
        mac: Mac,
        range: RangeInclusive<u32>,
    ) -> Result<Option<StoredPhone>, StoreError> {
        if let Some(p) = self.phone(mac)?.filter(|p| p.user.is_some()) {
            return Ok(Some(p));
        }
        let name = format!("phone-{mac}");
        // A user left by an earlier auto-assign of this phone (then unassigned) is reused
        // rather than stranded.
        let user = match self.user_by_name(&name)? {
            Some(u) => Some(u),
            None => {
                let mut made = None;
                for ext in range.clone() {
                    let ext = ext.to_string();
                    if self.user_by_extension(&ext)?.is_some() {
                        continue;
                    }
                    let new = NewUser {
                        name: name.clone(),
                        extension: ext.clone(),
                        display_name: Some(format!("Extension {ext}")),
                        password: crate::passwords::generate(),
                        admin: false,
                    };
                    match self.create_user(new) {
                        Ok(u) => {
                            made = Some(u);
                            break;
                        }
                        // Taken between the look-up and the commit (another phone, an admin):
                        // the same phone raced itself (name taken) or try the next number.
                        Err(StoreError::Conflict(_)) => {
                            if let Some(u) = self.user_by_name(&name)? {
                                made = Some(u);
                                break;
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                made
            }
        };
        let Some(user) = user else {
            tracing::warn!(mac = %mac, ?range, "auto-assign: no free extension left in the range");
            return Ok(None);
        };
        let p = self.assign_phone(mac, user.guid, None)?;
        tracing::info!(mac = %mac, extension = %user.extension, user = %user.name, "phone auto-assigned");
        Ok(Some(p))
    }

    /// Sets (or with `None` clears) the password the phone must give, with HTTP Basic
    /// authentication, for its files over HTTP. Stored as an argon2id hash.
    /// [`StoreError::NotFound`] for an unknown phone.
    pub fn set_phone_http_password(
        &self,
        mac: Mac,
        password: Option<&str>,
    ) -> Result<(), StoreError> {
        let hash = match password {
            Some(p) => {
                crate::passwords::validate(p)?;
                Some(crate::passwords::hash(p)?)
            }
            None => None,
        };
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(PHONES)?;
            let mut r: PhoneRecord = match table.get(mac.0)? {
                Some(v) => decode("phone", v.value())?,
                None => return Err(StoreError::NotFound),
            };
            r.http_password = hash;
            table.insert(mac.0, encode(&r)?.as_slice())?;
        }
        txn.commit()?;
        tracing::info!(mac = %mac, set = password.is_some(), "phone HTTP password changed");
        Ok(())
    }

    /// Whether `password` is the phone's HTTP provisioning password (`false` when the phone
    /// has none or is unknown).
    pub fn check_phone_http_password(&self, mac: Mac, password: &str) -> Result<bool, StoreError> {
        let hash = {
            let txn = self.db.begin_read()?;
            let Some(v) = txn.open_table(PHONES)?.get(mac.0)? else {
                crate::passwords::verify_dummy(password);
                return Ok(false);
            };
            decode::<PhoneRecord>("phone", v.value())?.http_password
        };
        match hash {
            Some(h) => crate::passwords::verify(password, &h),
            None => {
                crate::passwords::verify_dummy(password);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewUser;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("data")).expect("open");
        (dir, s)
    }

    fn user(s: &Store, name: &str, ext: &str) -> Guid {
        s.create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: "long-password".into(),
            admin: false,
        })
        .expect("create")
        .guid
    }

    fn mac(s: &str) -> Mac {
        Mac::parse(s).expect("mac")
    }

    #[test]
    fn assign_list_remove() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let bob = user(&s, "bob", "202");
        let m = mac("00:15:65:aa:bb:cc");
        let p = s.assign_phone(m, ann, None).expect("assign");
        assert_eq!(p.user, Some(ann));
        assert_eq!(p.vendor, Some(Vendor::Yealink), "from the MAC prefix");
        assert_eq!(p.status, PhoneStatus::Seen);
        // One phone per user.
        assert!(matches!(
            s.assign_phone(mac("001565000001"), ann, None),
            Err(StoreError::Conflict(_))
        ));
        // Reassigning the same phone is fine.
        s.assign_phone(m, bob, None).expect("reassign");
        assert!(matches!(
            s.assign_phone(m, Guid::new_v4(), None),
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.phones().expect("list").len(), 1);
        s.set_phone_http_password(m, Some("phone-secret-1"))
            .expect("set");
        assert!(s.phone(m).expect("get").expect("some").http_auth);
        assert!(s
            .check_phone_http_password(m, "phone-secret-1")
            .expect("check"));
        assert!(!s
            .check_phone_http_password(m, "wrong-secret")
            .expect("check"));
        s.assign_phone(m, bob, None)
            .expect("reassign keeps the password");
        assert!(s.phone(m).expect("get").expect("some").http_auth);
        s.set_phone_http_password(m, None).expect("clear");
        assert!(!s
            .check_phone_http_password(m, "phone-secret-1")
            .expect("check"));
        s.remove_phone(m).expect("remove");
        assert!(matches!(s.remove_phone(m), Err(StoreError::NotFound)));
        assert!(s.phone(m).expect("get").is_none());
    }

    #[test]
    fn registered_unassigned_and_auto_assigned() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let t = UNIX_EPOCH + Duration::from_secs(2000);
        let ua = PhoneSighting {
            model: Some("SIP-T46S".into()),
            firmware: Some("66.86.0.15".into()),
            address: Some("10.0.0.7".parse().expect("ip")),
            ..Default::default()
        };
        assert_eq!(
            s.phone_registered(ann, ua.clone(), t).expect("no phone"),
            None,
            "a user without a phone: nothing written"
        );
        let m = mac("001565aabbcc");
        s.assign_phone(m, ann, None).expect("assign");
        let p = s
            .phone_registered(ann, ua, t)
            .expect("registered")
            .expect("the user's phone");
        assert_eq!(p.status, PhoneStatus::Registered);
        assert_eq!(p.firmware.as_deref(), Some("66.86.0.15"));
        assert_eq!(p.address, Some("10.0.0.7".parse().expect("ip")));
        assert_eq!(p.last_seen, 2000);
        let p = s.unassign_phone(m).expect("unassign");
        assert_eq!((p.user, p.status), (None, PhoneStatus::Seen));
        assert_eq!(
            s.phone(m).expect("get").expect("kept").model.as_deref(),
            Some("SIP-T46S")
        );
        assert!(matches!(
            s.unassign_phone(mac("001565000009")),
            Err(StoreError::NotFound)
        ));

        // Auto-assign: lowest free extension of the range, skipping taken ones.
        user(&s, "bob", "200");
        let p = s
            .auto_assign_phone(m, 200..=202)
            .expect("auto")
            .expect("a free extension");
        let u = s
            .user(p.user.expect("assigned"))
            .expect("get")
            .expect("user");
        assert_eq!(
            (u.name.as_str(), u.extension.as_str()),
            ("phone-001565aabbcc", "202")
        );
        assert!(
            s.sip_credentials(u.guid, "ivm").is_ok(),
            "SIP account like anyone's"
        );
        // Again: the same user, no second one.
        let again = s
            .auto_assign_phone(m, 200..=202)
            .expect("auto")
            .expect("some");
        assert_eq!(again.user, Some(u.guid));
        // Range full (200 bob, 201 ann, 202 the first phone).
        assert_eq!(
            s.auto_assign_phone(mac("001565000002"), 200..=202)
                .expect("auto"),
            None
        );
    }

    #[test]
    fn seen_unassigned_then_provisioned_and_deleted_user() {
        let (_d, s) = store();
        let m = mac("001565aabbcc");
        let t = UNIX_EPOCH + Duration::from_secs(1000);
        let p = s
            .phone_seen(
                m,
                PhoneSighting {
                    model: Some("T46U".into()),
                    ..Default::default()
                },
                true,
                t,
            )
            .expect("seen");
        assert_eq!(p.user, None);
        assert_eq!(p.status, PhoneStatus::Seen, "unassigned stays seen");
        assert_eq!(p.last_seen, 1000);
        let ann = user(&s, "ann", "201");
        s.assign_phone(m, ann, None).expect("assign");
        let bad = PhoneSighting {
            model: Some("x\u{7}".into()),
            ..Default::default()
        };
        let p = s.phone_seen(m, bad, true, t).expect("seen");
        assert_eq!(p.model.as_deref(), Some("T46U"), "bad text dropped");
        assert_eq!(p.status, PhoneStatus::Provisioned);
        s.delete_user(ann).expect("delete");
        assert_eq!(s.phone(m).expect("get").expect("some").user, None);
        assert_eq!(s.phones().expect("list")[0].user, None);
    }
}
