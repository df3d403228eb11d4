//! Stateless nonces:
//! `base64url(timestamp ‖ counter ‖ offered ‖ HMAC-SHA256(secret, timestamp ‖ counter ‖ offered ‖ client IP)[..16])`.
//!
//! The server keeps nothing per challenge: a nonce proves by its MAC that we issued it, and
//! its timestamp says how old it is. The counter makes two nonces issued in the same
//! millisecond differ, so their `nc` sequences do not collide in the replay guard.
//!
//! Two things ride along so that the server stays stateless and still strict:
//! - `offered`, a bit set of the algorithms the challenge offered: a response with another
//!   algorithm is refused (a downgrade to an algorithm the phone was not offered);
//! - the client's IP address, in the MAC only: a nonce works only from the address it was
//!   sent to. A host that spoofs a phone's address never sees the challenges sent there, so
//!   it cannot answer them, and its wrong answers cannot count as failures of that address
//!   (the failure [`Limiter`](super::Limiter) is keyed by address).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::transaction::canonical_ip as canonical;

const MAC_LEN: usize = 16;
const BODY_LEN: usize = 8 + 8 + 1;
const RAW_LEN: usize = BODY_LEN + MAC_LEN;

/// Why a nonce is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Not ours: wrong length, bad encoding, bad MAC, or from the future.
    #[error("nonce not issued by this server")]
    Invalid,
    /// Ours, but older than the lifetime: challenge again with `stale=true`.
    #[error("nonce expired")]
    Stale,
}

/// An accepted nonce's identity: when it was issued and its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonceId {
    /// Milliseconds since the issuer's epoch.
    pub issued_ms: u64,
    /// Issue counter.
    pub seq: u64,
    /// Bit set of the algorithms the challenge offered ([`super::Algorithm::bit`]).
    pub offered: u8,
}

/// Issues and checks nonces with a secret key.
#[derive(Debug)]
pub struct NonceIssuer {
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
    seq: u64,
}

impl NonceIssuer {
    /// `secret` should be fresh random bytes per process; `epoch` is any instant before the
    /// first `now` the issuer will see (timestamps count from it).
    pub fn new(secret: [u8; 32], epoch: Instant, lifetime: Duration) -> NonceIssuer {
        NonceIssuer {
            key: secret,
            epoch,
            lifetime,
            seq: 0,
        }
    }

    /// How long a nonce stays valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, payload: &[u8], client: IpAddr) -> Hmac<Sha256> {
        // A 32-byte key is always accepted by HMAC; the fallback keeps this panic-free.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| {
            <Hmac<Sha256> as Mac>::new_from_slice(b"ivm").expect("non-empty HMAC key")
        });
        m.update(payload);
        match canonical(client) {
            IpAddr::V4(a) => m.update(&a.octets()),
            IpAddr::V6(a) => m.update(&a.octets()),
        }
        m
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// A new nonce for a challenge offering the algorithms in `offered`, sent to `client`.
    pub fn issue(&mut self, now: Instant, offered: u8, client: IpAddr) -> String {
        self.seq = self.seq.wrapping_add(1);
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&self.ms(now).to_be_bytes());
        raw[8..16].copy_from_slice(&self.seq.to_be_bytes());
        raw[16] = offered;
        let tag = self.mac(&raw[..BODY_LEN], client).finalize().into_bytes();
        raw[BODY_LEN..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Opens a nonce we may have issued to `client`, whatever its age: `Invalid` when it is
    /// not ours, was issued to another address, or comes from the future.
    pub fn open(&self, nonce: &str, now: Instant, client: IpAddr) -> Result<NonceId, NonceError> {
        if nonce.len() > 64 {
            return Err(NonceError::Invalid);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceError::Invalid)?;
        if raw.len() != RAW_LEN {
            return Err(NonceError::Invalid);
        }
        self.mac(&raw[..BODY_LEN], client)
            .verify_truncated_left(&raw[BODY_LEN..])
            .map_err(|_| NonceError::Invalid)?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&raw[8..16]);
        let id = NonceId {
            issued_ms: u64::from_be_bytes(ts),
            seq: u64::from_be_bytes(seq),
            offered: raw[16],
        };
        if id.issued_ms > self.ms(now).saturating_add(1_000) {
            return Err(NonceError::Invalid);
        }
        Ok(id)
    }

    /// Whether an opened nonce is older than the lifetime.
    pub fn is_stale(&self, id: &NonceId, now: Instant) -> bool {
        self.ms(now).saturating_sub(id.issued_ms)
            > u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX)
    }

    /// Checks a nonce we may have issued to `client`: [`open`](Self::open), then its age.
    pub fn check(&self, nonce: &str, now: Instant, client: IpAddr) -> Result<NonceId, NonceError> {
        let id = self.open(nonce, now, client)?;
        if self.is_stale(&id, now) {
            return Err(NonceError::Stale);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn issue_check_expire_forge() {
        let t0 = Instant::now();
        let me = ip("10.0.0.5");
        let mut n = NonceIssuer::new([7; 32], t0, Duration::from_secs(300));
        let a = n.issue(t0 + Duration::from_secs(1), 0b01, me);
        let b = n.issue(t0 + Duration::from_secs(1), 0b01, me);
        assert_ne!(a, b, "same millisecond, different nonces");
        let id = n
            .check(&a, t0 + Duration::from_secs(300), me)
            .expect("fresh");
        assert_eq!(id.offered, 0b01);
        assert_eq!(
            n.check(&a, t0 + Duration::from_secs(302), me),
            Err(NonceError::Stale)
        );
        // Opening ignores the age (to tell a stale nonce's algorithms).
        assert!(n.open(&a, t0 + Duration::from_secs(302), me).is_ok());
        let other = NonceIssuer::new([8; 32], t0, Duration::from_secs(300));
        assert_eq!(
            other.check(&a, t0 + Duration::from_secs(2), me),
            Err(NonceError::Invalid)
        );
        let mut forged = a.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            n.check(&String::from_utf8(forged).expect("ascii"), t0, me),
            Err(NonceError::Invalid)
        );
        for junk in ["", "abc", "!!!!", &"A".repeat(100)] {
            assert_eq!(n.check(junk, t0, me), Err(NonceError::Invalid));
        }
    }

    #[test]
    fn a_nonce_works_only_from_its_address_and_with_its_offer() {
        let t0 = Instant::now();
        let mut n = NonceIssuer::new([7; 32], t0, Duration::from_secs(300));
        let a = n.issue(t0, 0b10, ip("10.0.0.5"));
        assert_eq!(n.check(&a, t0, ip("10.0.0.6")), Err(NonceError::Invalid));
        assert!(
            n.check(&a, t0, ip("::ffff:10.0.0.5")).is_ok(),
            "mapped form"
        );
        // Editing the offered algorithms breaks the MAC.
        let mut raw = URL_SAFE_NO_PAD.decode(&a).expect("b64");
        raw[16] = 0b11;
        let edited = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(
            n.check(&edited, t0, ip("10.0.0.5")),
            Err(NonceError::Invalid)
        );
    }
}
