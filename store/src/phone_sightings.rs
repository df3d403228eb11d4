//! Sightings of phones (DHCP, TFTP, HTTP requests: last seen, address, model), written in
//! batches (issue 10, item 4).
//!
//! The provisioning front keeps sightings in memory and flushes them here in one commit
//! every few seconds and at shutdown; a request never waits for a commit of its own, and a
//! flood of requests costs one commit per flush, not one per packet. Phones nobody assigned
//! are kept for the installer to pick from, within limits: at most
//! [`SightingLimits::max_unassigned`] rows (the least recently seen go first) and none
//! unseen for longer than [`SightingLimits::max_age_s`]. Rows an installer touched
//! (assigned, armed, given a vendor or a credential) or that were ever bound are never
//! pruned this way.

use std::time::SystemTime;

use ivm_wire::phone::Mac;
use redb::ReadableTable;

use crate::phones::{apply, new_phone, to_phone, to_record, unix, PhoneRecord, PhoneSighting};
use crate::tables::{decode, encode, PHONES, PHONE_SECRETS};
use crate::{Store, StoreError};

/// Limits on rows of phones nobody assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SightingLimits {
    /// Most such rows kept.
    pub max_unassigned: usize,
    /// Such a row unseen this long (seconds) is dropped.
    pub max_age_s: u64,
}

impl Default for SightingLimits {
    /// 256 rows, 30 days: more than an office has phones waiting, and a month covers an
    /// installation that pauses over holidays.
    fn default() -> Self {
        SightingLimits {
            max_unassigned: 256,
            max_age_s: 30 * 24 * 3600,
        }
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SightingsFlushed {
    /// Rows refreshed.
    pub updated: usize,
    /// Rows made for phones the box had not heard of.
    pub created: usize,
    /// Unassigned rows dropped (too old, or over the cap).
    pub pruned: usize,
}

/// A row nobody cares for but the sightings: unassigned, untouched by an installer, unbound.
fn prunable(r: &PhoneRecord) -> bool {
    r.user.is_none() && !r.pinned && r.bound_at.is_none()
}

impl Store {
    /// Applies `batch` (MAC, what was seen, unix seconds when) in one commit, then prunes
    /// unassigned rows by `limits`. Known fields are not wiped and a known vendor is not
    /// overwritten (see [`Store::phone_registered`]).
    pub fn record_sightings(
        &self,
        batch: Vec<(Mac, PhoneSighting, u64)>,
        limits: SightingLimits,
        now: SystemTime,
    ) -> Result<SightingsFlushed, StoreError> {
        let now = unix(now);
        let mut done = SightingsFlushed::default();
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(PHONES)?;
            for (mac, s, at) in batch {
                if mac.validate().is_err() {
                    continue;
                }
                let old = table
                    .get(mac.0)?
                    .map(|v| decode::<PhoneRecord>("phone", v.value()))
                    .transpose()?;
                let mut p = match old {
                    Some(r) => {
                        done.updated += 1;
                        to_phone(mac, r)
                    }
                    None => {
                        done.created += 1;
                        new_phone(mac)
                    }
                };
                apply(&mut p, s, at);
                table.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            }
            let mut candidates = Vec::new();
            for row in table.iter()? {
                let (k, v) = row?;
                let r: PhoneRecord = decode("phone", v.value())?;
                if prunable(&r) {
                    candidates.push((r.last_seen, k.value()));
                }
            }
            candidates.sort_unstable();
            let expired = candidates
                .iter()
                .take_while(|(seen, _)| seen.saturating_add(limits.max_age_s) < now)
                .count();
            let over = (candidates.len() - expired).saturating_sub(limits.max_unassigned);
            let mut secrets = txn.open_table(PHONE_SECRETS)?;
            for (_, key) in candidates.iter().take(expired + over) {
                table.remove(*key)?;
                secrets.remove(*key)?;
                done.pruned += 1;
            }
        }
        txn.commit()?;
        if done.pruned > 0 {
            tracing::info!(
                pruned = done.pruned,
                "unassigned phones dropped (too old, or over the cap)"
            );
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phones::tests::{store, user};
    use ivm_wire::phone::Vendor;
    use std::time::{Duration, UNIX_EPOCH};

    fn m(n: u16) -> Mac {
        Mac([0x02, 0, 0, 0, (n >> 8) as u8, n as u8])
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn seen(model: &str) -> PhoneSighting {
        PhoneSighting {
            model: Some(model.into()),
            ..Default::default()
        }
    }

    #[test]
    fn batch_updates_fills_and_never_overwrites_the_vendor() {
        let (_d, s) = store();
        let yealink = Mac::parse("001565aabbcc").expect("mac");
        let batch = vec![
            (
                yealink,
                PhoneSighting {
                    vendor: Some(Vendor::Snom),
                    model: Some("T46U".into()),
                    address: Some("10.0.0.7".parse().expect("ip")),
                    ..Default::default()
                },
                100,
            ),
            (
                m(1),
                PhoneSighting {
                    vendor: Some(Vendor::Grandstream),
                    ..Default::default()
                },
                100,
            ),
            (yealink, seen("x\u{7}"), 90),
        ];
        let done = s
            .record_sightings(batch, SightingLimits::default(), at(100))
            .expect("flush");
        assert_eq!((done.created, done.updated), (2, 1));
        let p = s.phone(yealink).expect("get").expect("row");
        assert_eq!(
            p.vendor,
            Some(Vendor::Yealink),
            "the MAC prefix, not the sighting"
        );
        assert_eq!(p.model.as_deref(), Some("T46U"), "bad text dropped");
        assert_eq!(p.last_seen, 100, "an older sighting does not move it back");
        assert_eq!(
            s.phone(m(1)).expect("get").expect("row").vendor,
            Some(Vendor::Grandstream),
            "an unknown vendor is filled"
        );
    }

    #[test]
    fn unassigned_rows_are_capped_and_expire_oldest_first() {
        let (_d, s) = store();
        let limits = SightingLimits {
            max_unassigned: 10,
            max_age_s: 1000,
        };
        // An assigned phone, and one an installer unassigned: never pruned.
        let ann = user(&s, "ann", "201");
        let bob = user(&s, "bob", "202");
        s.assign_phone(m(900), ann, None, None).expect("assign");
        s.assign_phone(m(901), bob, None, None).expect("assign");
        s.unassign_phone(m(900)).ok();
        let batch = (0..300).map(|n| (m(n), seen("T"), u64::from(n))).collect();
        let done = s.record_sightings(batch, limits, at(300)).expect("flush");
        assert_eq!(done.created, 300);
        assert_eq!(done.pruned, 290);
        let phones = s.phones().expect("list");
        let unassigned: Vec<_> = phones.iter().filter(|p| !p.pinned).collect();
        assert_eq!(unassigned.len(), 10);
        assert!(
            unassigned.iter().all(|p| p.last_seen >= 290),
            "the newest kept"
        );
        assert!(s.phone(m(900)).expect("get").is_some());
        assert!(s.phone(m(901)).expect("get").is_some());
        // Much later: the rest expire, the pinned ones stay.
        let done = s
            .record_sightings(Vec::new(), limits, at(5000))
            .expect("flush");
        assert_eq!(done.pruned, 10);
        assert_eq!(s.phones().expect("list").len(), 2);
    }
}
