//! Stateless nonces: `base64url(timestamp ‖ counter ‖ HMAC-SHA256(secret, timestamp ‖ counter)[..16])`.
//!
//! The server keeps nothing per challenge: a nonce proves by its MAC that we issued it, and
//! its timestamp says how old it is. The counter makes two nonces issued in the same
//! millisecond differ, so their `nc` sequences do not collide in the replay guard.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 16;
const RAW_LEN: usize = 8 + 8 + MAC_LEN;

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

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // A 32-byte key is always accepted by HMAC; the fallback keeps this panic-free.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| {
            <Hmac<Sha256> as Mac>::new_from_slice(b"ivm").expect("non-empty HMAC key")
        });
        m.update(payload);
        m
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// A new nonce.
    pub fn issue(&mut self, now: Instant) -> String {
        self.seq = self.seq.wrapping_add(1);
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&self.ms(now).to_be_bytes());
        raw[8..16].copy_from_slice(&self.seq.to_be_bytes());
        let tag = self.mac(&raw[..16]).finalize().into_bytes();
        raw[16..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce we may have issued.
    pub fn check(&self, nonce: &str, now: Instant) -> Result<NonceId, NonceError> {
        if nonce.len() > 64 {
            return Err(NonceError::Invalid);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceError::Invalid)?;
        if raw.len() != RAW_LEN {
            return Err(NonceError::Invalid);
        }
        self.mac(&raw[..16])
            .verify_truncated_left(&raw[16..])
            .map_err(|_| NonceError::Invalid)?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&raw[8..16]);
        let id = NonceId {
            issued_ms: u64::from_be_bytes(ts),
            seq: u64::from_be_bytes(seq),
        };
        let now_ms = self.ms(now);
        if id.issued_ms > now_ms.saturating_add(1_000) {
            return Err(NonceError::Invalid);
        }
        if now_ms.saturating_sub(id.issued_ms)
            > u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX)
        {
            return Err(NonceError::Stale);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_check_expire_forge() {
        let t0 = Instant::now();
        let mut n = NonceIssuer::new([7; 32], t0, Duration::from_secs(300));
        let a = n.issue(t0 + Duration::from_secs(1));
        let b = n.issue(t0 + Duration::from_secs(1));
        assert_ne!(a, b, "same millisecond, different nonces");
        assert!(n.check(&a, t0 + Duration::from_secs(300)).is_ok());
        assert_eq!(
            n.check(&a, t0 + Duration::from_secs(302)),
            Err(NonceError::Stale)
        );
        let other = NonceIssuer::new([8; 32], t0, Duration::from_secs(300));
        assert_eq!(
            other.check(&a, t0 + Duration::from_secs(2)),
            Err(NonceError::Invalid)
        );
        let mut forged = a.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            n.check(&String::from_utf8(forged).expect("ascii"), t0),
            Err(NonceError::Invalid)
        );
        for junk in ["", "abc", "!!!!", &"A".repeat(100)] {
            assert_eq!(n.check(junk, t0), Err(NonceError::Invalid));
        }
    }
}
