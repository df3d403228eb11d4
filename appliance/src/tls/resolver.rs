//! The certificate the HTTPS listener serves, swappable while it runs: installing an admin's
//! certificate (or going back to the box's own) takes effect on the next handshake, with no
//! restart and no dropped connection.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The served certificate and key.
#[derive(Debug)]
pub struct Identities {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Identities {
    /// Serving `key` until [`Identities::replace`].
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Identities {
            current: RwLock::new(key),
        }
    }

    /// Serves `key` from the next handshake on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}

impl ResolvesServerCert for Identities {
    /// One identity for every name the client asks for: the box has one.
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}
