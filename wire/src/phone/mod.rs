//! The office's phone nouns, below the store and every protocol: a phone's [`Mac`], its
//! maker ([`Vendor`]) and the secrets the box makes for it ([`PhoneSecrets`]). The store
//! keeps them and provisioning, DHCP and SIP recognise phones by them; they live here, in
//! the lowest crate, so the store need not depend on a protocol crate to name a phone.

mod mac;
mod vendor;

pub use mac::{Mac, MacError};
pub use vendor::{Vendor, VendorError};

/// A phone's own secrets, made by the box and sealed in its store: the credential the phone
/// gives on every fetch after its first, and the password of its admin (web) interface.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneSecrets {
    /// User name the phone gives on later fetches (its MAC; the box accepts any).
    pub provision_user: String,
    /// The provisioning credential.
    pub provision_password: String,
    /// The phone's admin (web UI) password.
    pub admin_password: String,
}

impl std::fmt::Debug for PhoneSecrets {
    /// Hides the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneSecrets")
            .field("provision_user", &self.provision_user)
            .finish_non_exhaustive()
    }
}
