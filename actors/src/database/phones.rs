//! Operations on the phone registry as people change it: the admin API (assign, unassign,
//! remove, re-arm, show a phone's secrets) and the front panel (assign a new phone to an
//! extension, re-arm). What phones themselves do (fetch files, register) goes through the
//! provisioning front and the station.

use std::sync::Arc;
use std::time::SystemTime;

use ivm_provision::{Mac, PhoneSecrets, Vendor};
use ivm_store::{Store, StoreError, StoredPhone};
use ivm_wire::rest::PhoneInfo;

use super::Op;
use crate::station::Registration;
use crate::views;

/// Every phone, as the admin API lists it, joined with the live `registrations`.
#[derive(Debug, Clone)]
pub struct PhoneList {
    /// The station's registrations now (none when desk phones are off).
    pub registrations: Arc<Vec<Registration>>,
}

impl Op for PhoneList {
    type Output = Vec<PhoneInfo>;
    fn run(self, s: &Store) -> Result<Vec<PhoneInfo>, StoreError> {
        s.phones()?
            .iter()
            .map(|p| views::phone_info(s, p, &self.registrations))
            .collect()
    }
}

/// Runs a phone operation and answers the phone as the admin API shows it.
#[derive(Debug, Clone)]
pub struct AsPhoneInfo<O> {
    /// The operation, answering the phone as stored.
    pub op: O,
    /// The station's registrations now.
    pub registrations: Arc<Vec<Registration>>,
}

impl<O: Op<Output = StoredPhone>> Op for AsPhoneInfo<O> {
    type Output = PhoneInfo;
    fn run(self, s: &Store) -> Result<PhoneInfo, StoreError> {
        let p = self.op.run(s)?;
        views::phone_info(s, &p, &self.registrations)
    }
}

/// Assigns a phone (known or not) to the user with login name `user`; a phone of another
/// user only with `reassign` ([`Store::assign_phone_to`]). With `http_password`, sets the
/// phone's provisioning credential by hand.
pub struct AddPhone {
    /// The phone.
    pub mac: Mac,
    /// Login name.
    pub user: String,
    /// Vendor, when the admin named it.
    pub vendor: Option<Vendor>,
    /// Armed until then (`None`: arming is off).
    pub until: Option<SystemTime>,
    /// Take it from another user.
    pub reassign: bool,
    /// A credential set by hand.
    pub http_password: Option<String>,
}

impl Op for AddPhone {
    type Output = StoredPhone;
    fn run(self, s: &Store) -> Result<StoredPhone, StoreError> {
        let u = s
            .user_by_name(&self.user)?
            .ok_or_else(|| StoreError::Invalid(format!("no user {:?}", self.user)))?;
        let p = s.assign_phone_to(self.mac, u.guid, self.vendor, self.until, self.reassign)?;
        if let Some(pw) = self.http_password.as_deref() {
            s.set_phone_credential(self.mac, Some(pw))?;
        }
        Ok(s.phone(self.mac)?.unwrap_or(p))
    }
}

/// Gives a known phone to the user with login name `user`, or (`None`) unassigns it;
/// [`StoreError::NotFound`] for a phone the box has never heard of.
#[derive(Debug, Clone)]
pub struct SetPhoneUser {
    /// The phone.
    pub mac: Mac,
    /// Login name, or `None` to unassign.
    pub user: Option<String>,
    /// Armed until then (`None`: arming is off).
    pub until: Option<SystemTime>,
}

impl Op for SetPhoneUser {
    type Output = StoredPhone;
    fn run(self, s: &Store) -> Result<StoredPhone, StoreError> {
        if s.phone(self.mac)?.is_none() {
            return Err(StoreError::NotFound);
        }
        match self.user {
            Some(name) => {
                let u = s
                    .user_by_name(&name)?
                    .ok_or_else(|| StoreError::Invalid(format!("no user {name:?}")))?;
                s.assign_phone(self.mac, u.guid, None, self.until)
            }
            None => s.unassign_phone(self.mac),
        }
    }
}

/// Gives a phone the panel lists as new to the user with `extension`; a phone assigned
/// meanwhile (from the web) is not taken away. Answers the user's login name.
#[derive(Debug, Clone)]
pub struct AssignNewPhone {
    /// The phone.
    pub mac: Mac,
    /// The user's extension.
    pub extension: String,
    /// Armed until then (`None`: arming is off).
    pub until: Option<SystemTime>,
}

impl Op for AssignNewPhone {
    type Output = String;
    fn run(self, s: &Store) -> Result<String, StoreError> {
        let user = s
            .user_by_extension(&self.extension)?
            .ok_or(StoreError::NotFound)?;
        s.assign_phone_to(self.mac, user.guid, None, self.until, false)?;
        Ok(user.name)
    }
}

/// Forgets a phone.
#[derive(Debug, Clone, Copy)]
pub struct RemovePhone {
    /// The phone.
    pub mac: Mac,
}

impl Op for RemovePhone {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        s.remove_phone(self.mac)
    }
}

/// Re-arms a replaced or reset phone ([`Store::arm_phone`]): its next account-file request
/// from inside the provisioning subnets gets the file once.
#[derive(Debug, Clone, Copy)]
pub struct ArmPhone {
    /// The phone.
    pub mac: Mac,
    /// Until when.
    pub until: SystemTime,
}

impl Op for ArmPhone {
    type Output = StoredPhone;
    fn run(self, s: &Store) -> Result<StoredPhone, StoreError> {
        s.arm_phone(self.mac, self.until)
    }
}

/// A phone's own secrets, made now if it has none yet.
#[derive(Debug, Clone, Copy)]
pub struct PhoneSecretsOf {
    /// The phone.
    pub mac: Mac,
}

impl Op for PhoneSecretsOf {
    type Output = PhoneSecrets;
    fn run(self, s: &Store) -> Result<PhoneSecrets, StoreError> {
        s.phone_secrets(self.mac)
    }
}

/// Every phone as stored.
#[derive(Debug, Clone, Copy)]
pub struct AllPhones;

impl Op for AllPhones {
    type Output = Vec<StoredPhone>;
    fn run(self, s: &Store) -> Result<Vec<StoredPhone>, StoreError> {
        s.phones()
    }
}
