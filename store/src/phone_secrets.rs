//! Each phone's own secrets (issue 10): the provisioning credential it gives on every fetch
//! after its first, and the password of its admin (web) interface, which replaces the
//! factory `admin/admin` (a phone's web page shows its SIP password to whoever logs in).
//!
//! Made by the box on first use (the credential can also be set by hand for a phone
//! configured by hand), sealed with [`Store::seal`] under `phone-secrets:<mac>` like the SIP
//! credentials, so neither the database file nor a backup gives them away. The
//! unauthenticated path only ever unseals (AES-GCM) and compares: no argon2 on behalf of a
//! peer that has proven nothing.
//!
//! | table | key | value |
//! |---|---|---|
//! | `phone_secrets` | MAC `[u8;6]` | `1 ‖ nonce ‖ AES-256-GCM(JSON {provision_password, admin_password})` |

use ivm_wire::phone::{Mac, PhoneSecrets};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::phones::{to_phone, to_record, PhoneRecord, StoredPhone};
use crate::tables::{decode, encode, PHONES, PHONE_SECRETS};
use crate::{Store, StoreError};

#[derive(Serialize, Deserialize)]
struct Sealed {
    provision_password: String,
    admin_password: String,
}

fn aad(mac: Mac) -> Vec<u8> {
    format!("phone-secrets:{mac}").into_bytes()
}

/// 24 characters of letters and digits: about 139 bits, so guessing is hopeless and a fast
/// constant-time compare is enough; no symbols, since some phones' config fields and URLs
/// mangle them.
fn generate_credential() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn view(mac: Mac, s: Sealed) -> PhoneSecrets {
    PhoneSecrets {
        provision_user: mac.to_string(),
        provision_password: s.provision_password,
        admin_password: s.admin_password,
    }
}

impl Store {
    /// Inside `txn`: a new generated credential for `mac`, keeping its admin password
    /// (nothing to do when it has no secrets yet: they are made on its next fetch).
    pub(crate) fn rotate_credential(
        &self,
        txn: &redb::WriteTransaction,
        mac: Mac,
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(PHONE_SECRETS)?;
        let old = table.get(mac.0)?.map(|v| v.value().to_vec());
        if let Some(bytes) = old {
            let mut s = self.unseal_phone_secrets(mac, &bytes)?;
            s.provision_password = generate_credential();
            table.insert(mac.0, self.seal(&aad(mac), &encode(&s)?)?.as_slice())?;
        }
        Ok(())
    }

    fn unseal_phone_secrets(&self, mac: Mac, bytes: &[u8]) -> Result<Sealed, StoreError> {
        decode("phone secrets", &self.unseal(&aad(mac), bytes)?)
    }

    /// The phone's secrets as stored; `None` when none were made yet (it never got a file
    /// and nobody set its credential).
    pub fn stored_phone_secrets(&self, mac: Mac) -> Result<Option<PhoneSecrets>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(v) = txn.open_table(PHONE_SECRETS)?.get(mac.0)? else {
            return Ok(None);
        };
        Ok(Some(view(mac, self.unseal_phone_secrets(mac, v.value())?)))
    }

    /// The phone's secrets, made and sealed on first use (in one commit with the check, so
    /// two first fetches cannot hand out two different credentials).
    /// [`StoreError::NotFound`] for a phone the box has never heard of.
    pub fn phone_secrets(&self, mac: Mac) -> Result<PhoneSecrets, StoreError> {
        if let Some(s) = self.stored_phone_secrets(mac)? {
            return Ok(s);
        }
        let txn = self.db.begin_write()?;
        let secrets = {
            if txn.open_table(PHONES)?.get(mac.0)?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut table = txn.open_table(PHONE_SECRETS)?;
            let existing = table.get(mac.0)?.map(|v| v.value().to_vec());
            match existing {
                Some(bytes) => self.unseal_phone_secrets(mac, &bytes)?,
                None => {
                    let s = Sealed {
                        provision_password: generate_credential(),
                        admin_password: crate::passwords::generate(),
                    };
                    table.insert(mac.0, self.seal(&aad(mac), &encode(&s)?)?.as_slice())?;
                    s
                }
            }
        };
        txn.commit()?;
        Ok(view(mac, secrets))
    }

    /// Sets the phone's provisioning credential by hand (`Some`, at least 8 characters), for
    /// a phone configured by hand: it gives it from the start, so it is disarmed. `None`
    /// makes a new generated one. [`StoreError::NotFound`] for an unknown phone.
    pub fn set_phone_credential(
        &self,
        mac: Mac,
        credential: Option<&str>,
    ) -> Result<StoredPhone, StoreError> {
        if let Some(c) = credential {
            crate::passwords::validate(c)?;
        }
        let txn = self.db.begin_write()?;
        let phone = {
            let mut phones = txn.open_table(PHONES)?;
            let mut p = match phones.get(mac.0)? {
                Some(v) => to_phone(mac, decode::<PhoneRecord>("phone", v.value())?),
                None => return Err(StoreError::NotFound),
            };
            let mut table = txn.open_table(PHONE_SECRETS)?;
            let old = table.get(mac.0)?.map(|v| v.value().to_vec());
            let admin_password = match old {
                Some(bytes) => self.unseal_phone_secrets(mac, &bytes)?.admin_password,
                None => crate::passwords::generate(),
            };
            let s = Sealed {
                provision_password: credential.map_or_else(generate_credential, str::to_owned),
                admin_password,
            };
            table.insert(mac.0, self.seal(&aad(mac), &encode(&s)?)?.as_slice())?;
            p.manual_credential = credential.is_some();
            p.pinned = true;
            if p.manual_credential {
                p.armed_until = None;
            }
            phones.insert(mac.0, encode(&to_record(&p))?.as_slice())?;
            p
        };
        txn.commit()?;
        tracing::info!(mac = %mac, manual = credential.is_some(), "phone provisioning credential changed");
        Ok(phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phones::tests::{store, user};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn made_once_sealed_and_stable() {
        let (_d, s) = store();
        let m = Mac::parse("001565aabbcc").expect("mac");
        assert!(matches!(s.phone_secrets(m), Err(StoreError::NotFound)));
        let ann = user(&s, "ann", "201");
        s.assign_phone(m, ann, None, None).expect("assign");
        assert_eq!(s.stored_phone_secrets(m).expect("read"), None);
        let a = s.phone_secrets(m).expect("made");
        assert_eq!(a.provision_user, "001565aabbcc");
        assert_eq!(a.provision_password.len(), 24);
        assert_eq!(a.admin_password.len(), 20);
        assert_eq!(
            s.phone_secrets(m).expect("again"),
            a,
            "the same on every read"
        );
        assert!(!format!("{a:?}").contains(&a.provision_password));
        // Nothing readable in the table.
        let txn = s.db.begin_read().expect("read");
        let raw = txn
            .open_table(PHONE_SECRETS)
            .expect("table")
            .get(m.0)
            .expect("get")
            .expect("row")
            .value()
            .to_vec();
        assert!(!raw
            .windows(24)
            .any(|w| w == a.provision_password.as_bytes()));
        assert!(!raw.windows(20).any(|w| w == a.admin_password.as_bytes()));
    }

    #[test]
    fn set_by_hand_disarms_and_keeps_the_admin_password() {
        let (_d, s) = store();
        let m = Mac::parse("001565aabbcc").expect("mac");
        let ann = user(&s, "ann", "201");
        let until = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX));
        s.assign_phone(m, ann, None, Some(until)).expect("assign");
        let admin = s.phone_secrets(m).expect("made").admin_password;
        assert!(matches!(
            s.set_phone_credential(m, Some("short")),
            Err(StoreError::Invalid(_))
        ));
        let p = s
            .set_phone_credential(m, Some("phone-secret-1"))
            .expect("set");
        assert!(p.manual_credential && p.armed_until.is_none());
        let now = s.phone_secrets(m).expect("read");
        assert_eq!(now.provision_password, "phone-secret-1");
        assert_eq!(now.admin_password, admin);
        // A hand-set credential survives a re-arm; assignment does not arm such a phone.
        s.arm_phone(m, until).expect("arm");
        assert_eq!(
            s.phone_secrets(m).expect("read").provision_password,
            "phone-secret-1"
        );
        let p = s.set_phone_credential(m, None).expect("generated");
        assert!(!p.manual_credential);
        assert_ne!(
            s.phone_secrets(m).expect("read").provision_password,
            "phone-secret-1"
        );
        assert!(matches!(
            s.set_phone_credential(Mac::parse("001565000001").expect("mac"), None),
            Err(StoreError::NotFound)
        ));
    }
}
