//! The phone registry (issue 5): desk phones by MAC, the user each is assigned to, what the
//! box last saw of it, and its provisioning security state (issue 10).
//!
//! A phone row is written by `ivmd phone add` / the admin API / the panel (assignment), by
//! the registrar (a registration), by the provisioning front (binding, provisioned), and by
//! the periodic flush of sightings ([`Store::record_sightings`], in `phone_sightings.rs`:
//! "last seen", address, model; capped and expired for phones nobody assigned).
//!
//! Security state, written synchronously (before the file it governs leaves the box):
//! - *armed* (`armed_until`): assignment of a phone that never fetched its file, and a re-arm
//!   ([`Store::arm_phone`]), let the next request for its account file from inside the
//!   provisioning subnets have it once, without credentials, until `armed_until`;
//! - *bound* (`bound_at`, `bound_address`): that first fetch ([`Store::bind_phone`]) records
//!   when and from where, and disarms in the same commit, so two racing first fetches cannot
//!   both win. Afterwards the phone gives the credential the file handed it
//!   (`phone_secrets.rs`).
//!
//! The vendor comes from the installer or the MAC prefix; a sighting (DHCP option 60, a SIP
//! `User-Agent`, the name of a requested file) only fills an unknown one.
//!
//! The assignment names the user by GUID, so renaming a user or changing their extension
//! needs no update here; a phone whose user was deleted reads as unassigned.
//!
//! Whether a phone is registered *now* is the station actor's (live, in memory); the stored
//! status says how far the phone ever got, so it survives a restart without claiming
//! registrations that a restart dropped.
//!
//! | table | key | value |
//! |---|---|---|
//! | `phones` | MAC `[u8;6]` | JSON `PhoneRecord` |

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

use ivm_wire::phone::{Mac, Vendor};
use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, PHONES, PHONE_SECRETS, USERS};
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
    /// The address of its last request (DHCP, TFTP, HTTP, SIP), when known.
    pub address: Option<IpAddr>,
    /// Unix seconds until which it is armed (its next account-file request without
    /// credentials gets the file once); `None` when not armed.
    pub armed_until: Option<u64>,
    /// Unix seconds of the first fetch that bound it; `None` while unbound.
    pub bound_at: Option<u64>,
    /// The address that first fetch came from.
    pub bound_address: Option<IpAddr>,
    /// Its provisioning credential was set by hand (`ivmd phone add --http-password`), for a
    /// phone configured by hand; otherwise the box generated it.
    pub manual_credential: bool,
    /// An installer made or changed this row (assigned it, armed it, set its vendor or
    /// credential): it is never pruned like an unassigned phone that only asked once.
    pub pinned: bool,
}

impl StoredPhone {
    /// Armed at unix time `now`.
    pub fn armed(&self, now: u64) -> bool {
        self.armed_until.is_some_and(|t| t > now)
    }
}

/// What a request told us about a phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneSighting {
    /// Vendor, if recognised (fills an unknown vendor only).
    pub vendor: Option<Vendor>,
    /// Model, if reported.
    pub model: Option<String>,
    /// Firmware, if reported.
    pub firmware: Option<String>,
    /// Where the request came from.
    pub address: Option<IpAddr>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PhoneRecord {
    #[serde(default)]
    pub(crate) vendor: Option<String>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) firmware: Option<String>,
    #[serde(default)]
    pub(crate) user: Option<Guid>,
    pub(crate) status: PhoneStatus,
    #[serde(default)]
    pub(crate) last_seen: u64,
    #[serde(default)]
    pub(crate) address: Option<IpAddr>,
    #[serde(default)]
    pub(crate) armed_until: Option<u64>,
    #[serde(default)]
    pub(crate) bound_at: Option<u64>,
    #[serde(default)]
    pub(crate) bound_address: Option<IpAddr>,
    #[serde(default)]
    pub(crate) manual_credential: bool,
    #[serde(default)]
    pub(crate) pinned: bool,
}

/// Longest model or firmware string kept: they come from untrusted packets.
const MAX_FIELD: usize = 64;

fn clean(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control))
}

pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn to_phone(mac: Mac, r: PhoneRecord) -> StoredPhone {
    StoredPhone {
        mac,
        vendor: r.vendor.and_then(|v| v.parse().ok()),
        model: r.model,
        firmware: r.firmware,
        user: r.user,
        status: r.status,
        last_seen: r.last_seen,
        address: r.address,
        armed_until: r.armed_until,
        bound_at: r.bound_at,
        bound_address: r.bound_address,
        manual_credential: r.manual_credential,
        pinned: r.pinned,
    }
}

pub(crate) fn to_record(p: &StoredPhone) -> PhoneRecord {
    PhoneRecord {
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        firmware: p.firmware.clone(),
        user: p.user,
        status: p.status,
        last_seen: p.last_seen,
        address: p.address,
        armed_until: p.armed_until,
        bound_at: p.bound_at,
        bound_address: p.bound_address,
        manual_credential: p.manual_credential,
        pinned: p.pinned,
    }
}

/// A phone the box has just heard of: its vendor from the MAC prefix until someone knows
/// better.
pub(crate) fn new_phone(mac: Mac) -> StoredPhone {
    StoredPhone {
        mac,
        vendor: Vendor::from_mac(&mac),
        model: None,
        firmware: None,
        user: None,
        status: PhoneStatus::Seen,
        last_seen: 0,
        address: None,
        armed_until: None,
        bound_at: None,
        bound_address: None,
        manual_credential: false,
        pinned: false,
    }
}

/// Fills in what a request told us: known fields are not wiped by one that lacks them, and
/// a known vendor is never overwritten (a request proves nothing about the device).
pub(crate) fn apply(p: &mut StoredPhone, s: PhoneSighting, seen_at: u64) {
    p.last_seen = p.last_seen.max(seen_at);
    p.vendor = p.vendor.or(s.vendor).or_else(|| Vendor::from_mac(&p.mac));
    p.model = clean(s.model).or(p.model.take());
    p.firmware = clean(s.firmware).or(p.firmware.take());
    p.address = s.address.or(p.address);
}

fn read(
    table: &impl ReadableTable<[u8; 6], &'static [u8]>,
    mac: Mac,
) -> Result<Option<StoredPhone>, StoreError> {
    table
        .get(mac.0)?
        .map(|v| decode::<PhoneRecord>("phone", v.value()).map(|r| to_phone(mac, r)))
        .transpose()
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
        let Some(mut p) = read(&txn.open_table(PHONES)?, mac)? else {
            return Ok(None);
        };
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

    /// Assigns the phone to `user` (adding it when unknown). One phone per user:
    /// [`StoreError::Conflict`] when another phone has them; [`StoreError::NotFound`] for an
    /// unknown user. `vendor` (the installer's) is kept when given, else the known one or
    /// the MAC prefix's. A phone that never fetched its account file (unbound) is armed until
    /// `arm_until` (`None`: not armed; it then needs its credential); a bound phone keeps its
    /// binding and credential and fetches its new account with them.
    ///
    /// A phone of another user is moved to `user` (the phone's own admin API `PUT` and the
    /// admin page's *Reassign* say so explicitly); see [`Store::assign_phone_to`] for the
    /// check that refuses it.
    pub fn assign_phone(
        &self,
        mac: Mac,
        user: Guid,
        vendor: Option<Vendor>,
        arm_until: Option<SystemTime>,
    ) -> Result<StoredPhone, StoreError> {
        self.assign_phone_to(mac, user, vendor, arm_until, true)
    }

    /// [`Store::assign_phone`], refusing ([`StoreError::PhoneAssigned`], nothing changed) a
    /// phone that belongs to another user unless `reassign`: `ivmd phone add` with a mistyped
    /// MAC used to take the phone away from its user without a word. Checked in the same
    /// transaction as the write.
    pub fn assign_phone_to(
        &self,
        mac: Mac,
        user: Guid,
        vendor: Option<Vendor>,
        arm_until: Option<SystemTime>,
        reassign: bool,
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
            let mut p = match existing {
                Some(r) => to_phone(mac, r),
                None => new_phone(mac),
            };
            if let Some(other) = p.user.filter(|o| *o != user && !reassign) {
                // A phone whose user was deleted reads as unassigned: free to take.
                if let Some(o) = crate::users::get_record(&txn.open_table(USERS)?, other)? {
                    return Err(StoreError::PhoneAssigned {
                        mac: mac.to_string(),
                        user: o.user.name,
                        extension: o.user.extension,
                    });
                }
            }
            p.vendor = vendor.or(p.vendor).or_else(|| Vendor::from_mac(&mac));
            p.pinned = true;
            if p.user != Some(user) {
                p.user = Some(user);
                p.status = PhoneStatus::Seen;
            }
            if p.bound_at.is_none() && !p.manual_credential {
                p.armed_until = arm_until.map(unix);
            }
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            p
        };
        txn.commit()?;
        tracing::info!(mac = %mac, user = %user, armed_until = ?phone.armed_until, "phone assigned");
        Ok(phone)
    }

    /// Re-arms the phone (replaced or reset, so it lost its credential): its binding is
    /// dropped, a credential the box generated is replaced (the old device's stops working;
    /// one set by hand is kept), and its next account-file request without credentials gets
    /// the file once, until `arm_until`. [`StoreError::NotFound`] for an unknown phone.
    pub fn arm_phone(&self, mac: Mac, arm_until: SystemTime) -> Result<StoredPhone, StoreError> {
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let mut p = read(&table, mac)?.ok_or(StoreError::NotFound)?;
            p.armed_until = Some(unix(arm_until));
            p.bound_at = None;
            p.bound_address = None;
            p.pinned = true;
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            if !p.manual_credential {
                self.rotate_credential(&txn, mac)?;
            }
            p
        };
        txn.commit()?;
        tracing::info!(mac = %mac, armed_until = ?phone.armed_until, "phone armed");
        Ok(phone)
    }

    /// The armed first fetch: if the phone is still armed at `now`, binds it to `address`,
    /// disarms it, marks it provisioned and fills an unknown vendor, in one commit, and
    /// returns it. `Ok(None)` (nothing written) when it is no longer armed: another request
    /// won the race, or the window closed.
    pub fn bind_phone(
        &self,
        mac: Mac,
        address: IpAddr,
        vendor: Option<Vendor>,
        now: SystemTime,
    ) -> Result<Option<StoredPhone>, StoreError> {
        let now = unix(now);
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let Some(mut p) = read(&table, mac)? else {
                return Ok(None);
            };
            if !p.armed(now) || p.user.is_none() {
                return Ok(None);
            }
            p.armed_until = None;
            p.bound_at = Some(now);
            p.bound_address = Some(address);
            p.vendor = p.vendor.or(vendor);
            p.last_seen = p.last_seen.max(now);
            p.address = Some(address);
            if p.status == PhoneStatus::Seen {
                p.status = PhoneStatus::Provisioned;
            }
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            p
        };
        txn.commit()?;
        Ok(Some(phone))
    }

    /// The phone fetched its account file with its credential: "seen" becomes
    /// "provisioned" and an unknown vendor is filled. Writes only when something changes, so
    /// a phone re-fetching every boot costs a read.
    pub fn phone_provisioned(
        &self,
        mac: Mac,
        vendor: Option<Vendor>,
    ) -> Result<Option<StoredPhone>, StoreError> {
        let Some(p) = self.phone(mac)? else {
            return Ok(None);
        };
        let wants_status = p.user.is_some() && p.status == PhoneStatus::Seen;
        let wants_vendor = p.vendor.is_none() && vendor.is_some();
        if !wants_status && !wants_vendor {
            return Ok(Some(p));
        }
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let Some(mut p) = read(&table, mac)? else {
                return Ok(None);
            };
            p.vendor = p.vendor.or(vendor);
            if p.user.is_some() && p.status == PhoneStatus::Seen {
                p.status = PhoneStatus::Provisioned;
            }
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            p
        };
        txn.commit()?;
        Ok(Some(phone))
    }

    /// Forgets the phone and its secrets. [`StoreError::NotFound`] when unknown.
    pub fn remove_phone(&self, mac: Mac) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            if txn.open_table(PHONES)?.remove(mac.0)?.is_none() {
                return Err(StoreError::NotFound);
            }
            txn.open_table(PHONE_SECRETS)?.remove(mac.0)?;
        }
        txn.commit()?;
        tracing::info!(mac = %mac, "phone removed");
        Ok(())
    }

    /// Takes the phone away from its user (it stays known as "seen, unassigned", with its
    /// binding and credential). [`StoreError::NotFound`] for an unknown phone.
    pub fn unassign_phone(&self, mac: Mac) -> Result<StoredPhone, StoreError> {
        let txn = self.db.begin_write()?;
        let phone = {
            let mut table = txn.open_table(PHONES)?;
            let mut p = read(&table, mac)?.ok_or(StoreError::NotFound)?;
            p.user = None;
            p.status = PhoneStatus::Seen;
            p.armed_until = None;
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
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
            let Some(mut p) = read(&table, mac)? else {
                // Removed meanwhile.
                return Ok(None);
            };
            if p.user != Some(user) {
                return Ok(None);
            }
            apply(&mut p, s, unix(now));
            p.status = PhoneStatus::Registered;
            table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            p
        };
        txn.commit()?;
        Ok(Some(phone))
    }

    /// Auto-assign: gives the unassigned phone `mac` a new user on the lowest free extension
    /// in `range` and assigns it, armed until `arm_until`. The user is named `phone-<mac>`,
    /// displayed as "Extension N", with a generated one-time login password nobody is shown
    /// (an admin resets it to hand the account to someone); their SIP credentials are
    /// generated on first use like everyone's. Returns the phone, or `Ok(None)` when the
    /// range is full. A phone that already has a user keeps it.
    pub fn auto_assign_phone(
        &self,
        mac: Mac,
        range: RangeInclusive<u32>,
        arm_until: Option<SystemTime>,
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
                    match self.create_user_one_time(new) {
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
        let p = self.assign_phone(mac, user.guid, None, arm_until)?;
        tracing::info!(mac = %mac, extension = %user.extension, user = %user.name, "phone auto-assigned");
        Ok(Some(p))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::NewUser;
    use std::time::Duration;

    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("data")).expect("open");
        (dir, s)
    }

    pub(crate) fn user(s: &Store, name: &str, ext: &str) -> Guid {
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

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn another_users_phone_moves_only_when_asked() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let bob = user(&s, "bob", "202");
        let m = mac("001565aabbcc");
        s.assign_phone_to(m, ann, None, None, false)
            .expect("new phone");
        s.assign_phone_to(m, ann, None, None, false)
            .expect("again to the same user");
        match s.assign_phone_to(m, bob, None, None, false) {
            Err(e @ StoreError::PhoneAssigned { .. }) => {
                assert_eq!(e.to_string(), "phone 001565aabbcc is assigned to ann (201)")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.phone(m).expect("read").expect("phone").user, Some(ann));
        let p = s.assign_phone_to(m, bob, None, None, true).expect("moved");
        assert_eq!(p.user, Some(bob));
        // The phone of a deleted user is free.
        s.delete_user(bob).expect("delete");
        s.assign_phone_to(m, ann, None, None, false)
            .expect("its user is gone");
    }

    #[test]
    fn assign_list_remove() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let bob = user(&s, "bob", "202");
        let m = mac("00:15:65:aa:bb:cc");
        let p = s.assign_phone(m, ann, None, None).expect("assign");
        assert_eq!(p.user, Some(ann));
        assert_eq!(p.vendor, Some(Vendor::Yealink), "from the MAC prefix");
        assert_eq!(p.status, PhoneStatus::Seen);
        assert!(p.pinned);
        // One phone per user.
        assert!(matches!(
            s.assign_phone(mac("001565000001"), ann, None, None),
            Err(StoreError::Conflict(_))
        ));
        // Reassigning the same phone is fine; an installer's vendor wins over the prefix.
        let p = s
            .assign_phone(m, bob, Some(Vendor::Polycom), None)
            .expect("reassign");
        assert_eq!(p.vendor, Some(Vendor::Polycom));
        assert!(matches!(
            s.assign_phone(m, Guid::new_v4(), None, None),
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.phones().expect("list").len(), 1);
        s.phone_secrets(m).expect("secrets made");
        s.remove_phone(m).expect("remove");
        assert!(matches!(s.remove_phone(m), Err(StoreError::NotFound)));
        assert!(s.phone(m).expect("get").is_none());
        assert!(
            s.stored_phone_secrets(m).expect("read").is_none(),
            "its secrets went with it"
        );
    }

    #[test]
    fn arming_binding_and_rearming() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let bob = user(&s, "bob", "202");
        let m = mac("001565aabbcc");
        let peer: IpAddr = "10.0.0.7".parse().expect("ip");
        let other: IpAddr = "10.0.0.66".parse().expect("ip");
        let p = s.assign_phone(m, ann, None, Some(t(2000))).expect("assign");
        assert_eq!(p.armed_until, Some(2000));
        assert!(p.armed(1999) && !p.armed(2000));
        // The window closed: no binding.
        assert_eq!(s.bind_phone(m, peer, None, t(2000)).expect("bind"), None);
        s.arm_phone(m, t(3000)).expect("re-arm");
        let p = s
            .bind_phone(m, peer, None, t(2500))
            .expect("bind")
            .expect("armed");
        assert_eq!(
            (p.bound_at, p.bound_address, p.armed_until, p.status),
            (Some(2500), Some(peer), None, PhoneStatus::Provisioned)
        );
        // Only once: the race's loser gets nothing.
        assert_eq!(s.bind_phone(m, other, None, t(2501)).expect("bind"), None);
        // Reassigning a bound phone does not arm it: it has its credential.
        let p = s.assign_phone(m, bob, None, Some(t(9000))).expect("assign");
        assert_eq!((p.armed_until, p.bound_address), (None, Some(peer)));
        // Re-arming replaces a generated credential, keeps the admin password.
        let before = s.phone_secrets(m).expect("secrets");
        let p = s.arm_phone(m, t(9000)).expect("arm");
        assert_eq!((p.bound_at, p.armed_until), (None, Some(9000)));
        let after = s.phone_secrets(m).expect("secrets");
        assert_ne!(before.provision_password, after.provision_password);
        assert_eq!(before.admin_password, after.admin_password);
        // Unassigning disarms; an unassigned phone is never bound.
        s.unassign_phone(m).expect("unassign");
        assert_eq!(s.bind_phone(m, peer, None, t(2600)).expect("bind"), None);
        assert!(matches!(
            s.arm_phone(mac("001565000009"), t(1)),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn provisioned_fills_vendor_without_overwriting() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let m = mac("02:00:00:00:00:01");
        let p = s.assign_phone(m, ann, None, None).expect("assign");
        assert_eq!(p.vendor, None, "no prefix for a local MAC");
        let p = s
            .phone_provisioned(m, Some(Vendor::Grandstream))
            .expect("ok")
            .expect("some");
        assert_eq!(
            (p.vendor, p.status),
            (Some(Vendor::Grandstream), PhoneStatus::Provisioned)
        );
        let p = s
            .phone_provisioned(m, Some(Vendor::Snom))
            .expect("ok")
            .expect("some");
        assert_eq!(p.vendor, Some(Vendor::Grandstream), "never overwritten");
        assert_eq!(
            s.phone_provisioned(mac("020000000002"), None).expect("ok"),
            None
        );
    }

    #[test]
    fn registered_unassigned_and_auto_assigned() {
        let (_d, s) = store();
        let ann = user(&s, "ann", "201");
        let t2 = t(2000);
        let ua = PhoneSighting {
            model: Some("SIP-T46S".into()),
            firmware: Some("66.86.0.15".into()),
            address: Some("10.0.0.7".parse().expect("ip")),
            vendor: Some(Vendor::Snom),
        };
        assert_eq!(
            s.phone_registered(ann, ua.clone(), t2).expect("no phone"),
            None,
            "a user without a phone: nothing written"
        );
        let m = mac("001565aabbcc");
        s.assign_phone(m, ann, None, None).expect("assign");
        let p = s
            .phone_registered(ann, ua, t2)
            .expect("registered")
            .expect("the user's phone");
        assert_eq!(p.status, PhoneStatus::Registered);
        assert_eq!(p.firmware.as_deref(), Some("66.86.0.15"));
        assert_eq!(
            p.vendor,
            Some(Vendor::Yealink),
            "a User-Agent does not overwrite"
        );
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

        // Auto-assign: lowest free extension of the range, skipping taken ones; armed.
        user(&s, "bob", "200");
        let p = s
            .auto_assign_phone(m, 200..=202, Some(t(5000)))
            .expect("auto")
            .expect("a free extension");
        assert_eq!(p.armed_until, Some(5000));
        let u = s
            .user(p.user.expect("assigned"))
            .expect("get")
            .expect("user");
        assert_eq!(
            (u.name.as_str(), u.extension.as_str()),
            ("phone-001565aabbcc", "202")
        );
        assert!(
            u.must_change_password,
            "its generated login password is one-time"
        );
        assert!(
            s.sip_credentials(u.guid, "ivm").is_ok(),
            "SIP account like anyone's"
        );
        // Again: the same user, no second one.
        let again = s
            .auto_assign_phone(m, 200..=202, None)
            .expect("auto")
            .expect("some");
        assert_eq!(again.user, Some(u.guid));
        // Range full (200 bob, 201 ann, 202 the first phone).
        assert_eq!(
            s.auto_assign_phone(mac("001565000002"), 200..=202, None)
                .expect("auto"),
            None
        );
    }

    #[test]
    fn deleted_user_reads_unassigned() {
        let (_d, s) = store();
        let m = mac("001565aabbcc");
        let ann = user(&s, "ann", "201");
        s.assign_phone(m, ann, None, None).expect("assign");
        s.delete_user(ann).expect("delete");
        assert_eq!(s.phone(m).expect("get").expect("some").user, None);
        assert_eq!(s.phones().expect("list")[0].user, None);
    }
}
