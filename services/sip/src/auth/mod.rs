//! Digest authentication, server side (RFC 3261 §22, RFC 7616, RFC 8760), and a failure
//! [`Limiter`] per source address.
//!
//! - Challenges offer `algorithm=SHA-256` first, then `MD5` (RFC 8760 §2.4: the UAC picks
//!   the first it supports; most desk phones still only do MD5), both with `qop="auth"`.
//! - Nonces are stateless ([`nonce`]): nothing is stored per challenge; a REGISTER flood
//!   cannot fill memory with pending challenges.
//! - `nc` replay protection ([`replay`]) is the only per-nonce state, and it is bounded.
//! - Credentials come from a lookup the caller provides, as the plaintext password or as
//!   `HA1 = H(user:realm:password)` per algorithm, so the store need not hold passwords.
//! - The response is compared in constant time.

pub mod limiter;
pub mod nonce;
pub mod replay;

use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use sha2::Sha256;

pub use limiter::{Banned, Limiter};
pub use nonce::{NonceError, NonceId, NonceIssuer};
pub use replay::{NcCheck, ReplayGuard};

use crate::message::{AuthParams, Request, Response};

/// Digest hash algorithms the box accepts (no `-sess` variants: phones do not use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617): what nearly every phone sends.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The `algorithm=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` value; absent means MD5 (RFC 2617).
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Lower-case hex digest of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

/// `HA1 = H(username:realm:password)`: what the store keeps per algorithm.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The digest response (RFC 7616 §3.4.1): with `qop=auth`,
/// `H(HA1:nonce:nc:cnonce:qop:H(method:uri))`; without qop, `H(HA1:nonce:H(method:uri))`.
pub fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    match qop {
        Some((nc, cnonce, qop)) => {
            alg.hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}").as_bytes())
        }
        None => alg.hex(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
    }
}

/// Equal-length byte strings compared without an early exit.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the credential lookup returns for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The plaintext password.
    Password(String),
    /// `HA1` for the requested algorithm, hex.
    Ha1(String),
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The authenticated user name.
    pub username: String,
    /// The algorithm used.
    pub algorithm: Algorithm,
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials for our realm: send a challenge (not a failure).
    #[error("no credentials")]
    Missing,
    /// Credentials that do not follow the grammar.
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    /// Not the Digest scheme.
    #[error("unsupported auth scheme")]
    Scheme,
    /// An algorithm we did not offer.
    #[error("unsupported algorithm")]
    Algorithm,
    /// qop missing (RFC 2069 style) while the server requires it, or a qop other than auth.
    #[error("qop=auth required")]
    Qop,
    /// A nonce we did not issue (e.g. from before a restart): challenge again, stale=true.
    #[error("unknown nonce")]
    Nonce,
    /// A correct response with an expired nonce: challenge again with stale=true.
    #[error("stale nonce")]
    Stale,
    /// A nonce-count already used with this nonce.
    #[error("replayed nonce count")]
    Replay,
    /// No such user.
    #[error("unknown user")]
    UnknownUser,
    /// Wrong password.
    #[error("wrong password")]
    Mismatch,
}

impl AuthError {
    /// The answer should be a fresh challenge with `stale=true` (no password prompt).
    pub fn wants_stale(&self) -> bool {
        matches!(self, AuthError::Stale | AuthError::Nonce)
    }

    /// Counts toward the per-address [`Limiter`] (guessing, not protocol housekeeping).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            AuthError::Mismatch
                | AuthError::UnknownUser
                | AuthError::Replay
                | AuthError::Malformed(_)
        )
    }
}

/// Settings of the digest server.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// The realm (the box's domain or name).
    pub realm: String,
    /// Nonce lifetime (default 5 minutes).
    pub nonce_lifetime: Duration,
    /// Most nonces tracked for nc replay (default 10 000).
    pub max_tracked_nonces: usize,
    /// Refuse responses without qop (RFC 2069 style), which cannot be protected from replay.
    pub require_qop: bool,
    /// The challenges offered, in order (default SHA-256 then MD5, RFC 8760 §2.4). Older
    /// SIP stacks (baresip 1.0's libre) refuse the whole 401 when any challenge names an
    /// algorithm they lack: offer `[Md5]` to them. Responses with either algorithm are
    /// accepted whatever is offered.
    pub offer: Vec<Algorithm>,
}

impl DigestConfig {
    /// Defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> DigestConfig {
        DigestConfig {
            realm: realm.into(),
            nonce_lifetime: Duration::from_secs(300),
            max_tracked_nonces: 10_000,
            require_qop: true,
            offer: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }
}

/// Issues challenges and verifies credentials.
#[derive(Debug)]
pub struct DigestServer {
    config: DigestConfig,
    nonces: NonceIssuer,
    replay: ReplayGuard,
}

impl DigestServer {
    /// A server; `secret` must be fresh random bytes per process.
    pub fn new(config: DigestConfig, secret: [u8; 32], epoch: Instant) -> DigestServer {
        let nonces = NonceIssuer::new(secret, epoch, config.nonce_lifetime);
        let replay = ReplayGuard::new(config.max_tracked_nonces);
        DigestServer {
            config,
            nonces,
            replay,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    /// `WWW-Authenticate` values: SHA-256 first, then MD5, sharing one nonce.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.nonces.issue(now);
        self.config
            .offer
            .iter()
            .map(|a| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    self.config.realm,
                    a.as_str()
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// A `401 Unauthorized` (or `407` when `proxy`) for `request`, with the challenges.
    pub fn challenge_response(
        &mut self,
        request: &Request,
        to_tag: Option<&str>,
        proxy: bool,
        now: Instant,
        stale: bool,
    ) -> Response {
        let (status, header) = if proxy {
            (407, "Proxy-Authenticate")
        } else {
            (401, "WWW-Authenticate")
        };
        let mut r = request.make_response(status, to_tag);
        for c in self.challenges(now, stale) {
            r.headers.push(header, c);
        }
        r
    }

    /// Verifies the request's `Authorization` (or `Proxy-Authorization` when `proxy`) for our
    /// realm. `lookup(user, algorithm)` returns the credential or `None` for an unknown user.
    pub fn authenticate<F>(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        lookup: F,
    ) -> Result<Verified, AuthError>
    where
        F: FnOnce(&str, Algorithm) -> Option<Credential>,
    {
        let all = if proxy {
            request.headers.proxy_authorization()
        } else {
            request.headers.authorization()
        }
        .map_err(|_| AuthError::Malformed("unparseable header"))?;
        let creds = all
            .into_iter()
            .find(|c| c.get("realm") == Some(self.config.realm.as_str()))
            .ok_or(AuthError::Missing)?;
        self.verify(now, request.method.as_str(), &creds, lookup)
    }

    /// Verifies one set of credentials for `method`.
    pub fn verify<F>(
        &mut self,
        now: Instant,
        method: &str,
        creds: &AuthParams,
        lookup: F,
    ) -> Result<Verified, AuthError>
    where
        F: FnOnce(&str, Algorithm) -> Option<Credential>,
    {
        if !creds.is_digest() {
            return Err(AuthError::Scheme);
        }
        if creds.get("realm") != Some(self.config.realm.as_str()) {
            return Err(AuthError::Missing);
        }
        let alg = Algorithm::parse(creds.get("algorithm")).ok_or(AuthError::Algorithm)?;
        let username = creds
            .get("username")
            .ok_or(AuthError::Malformed("no username"))?;
        let nonce = creds.get("nonce").ok_or(AuthError::Malformed("no nonce"))?;
        let uri = creds.get("uri").ok_or(AuthError::Malformed("no uri"))?;
        let given = creds
            .get("response")
            .ok_or(AuthError::Malformed("no response"))?;
        let qop = match creds.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = creds.get("nc").ok_or(AuthError::Malformed("no nc"))?;
                let cnonce = creds
                    .get("cnonce")
                    .ok_or(AuthError::Malformed("no cnonce"))?;
                if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) || cnonce.is_empty()
                {
                    return Err(AuthError::Malformed("bad nc or cnonce"));
                }
                Some((nc, cnonce, q))
            }
            Some(_) => return Err(AuthError::Qop),
            None if self.config.require_qop => return Err(AuthError::Qop),
            None => None,
        };
        let id = match self.nonces.check(nonce, now) {
            Ok(id) => Some(id),
            Err(NonceError::Stale) => None,
            Err(NonceError::Invalid) => return Err(AuthError::Nonce),
        };
        let cred = lookup(username, alg).ok_or(AuthError::UnknownUser)?;
        let ha1 = match cred {
            Credential::Password(p) => ha1(alg, username, &self.config.realm, &p),
            Credential::Ha1(h) => h.to_ascii_lowercase(),
        };
        let expected = response(alg, &ha1, nonce, qop, method, uri);
        if !ct_eq(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
            return Err(AuthError::Mismatch);
        }
        let Some(id) = id else {
            return Err(AuthError::Stale);
        };
        if let Some((nc, _, _)) = qop {
            let nc = u32::from_str_radix(nc, 16).map_err(|_| AuthError::Malformed("bad nc"))?;
            let lifetime_ms = u64::try_from(self.nonces.lifetime().as_millis()).unwrap_or(u64::MAX);
            self.replay.expire(id.issued_ms.saturating_sub(lifetime_ms));
            match self.replay.check(id, nc) {
                NcCheck::Fresh => {}
                NcCheck::Replay => return Err(AuthError::Replay),
                NcCheck::Forgotten => return Err(AuthError::Stale),
            }
        }
        Ok(Verified {
            username: username.to_owned(),
            algorithm: alg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    /// RFC 7616 §3.9.1.
    const R_USER: &str = "Mufasa";
    const R_PASS: &str = "Circle of Life";
    const R_REALM: &str = "http-auth@example.org";
    const R_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const R_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_vectors() {
        let md5 = response(
            Algorithm::Md5,
            &ha1(Algorithm::Md5, R_USER, R_REALM, R_PASS),
            R_NONCE,
            Some(("00000001", R_CNONCE, "auth")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
        let sha = response(
            Algorithm::Sha256,
            &ha1(Algorithm::Sha256, R_USER, R_REALM, R_PASS),
            R_NONCE,
            Some(("00000001", R_CNONCE, "auth")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            sha,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_vector() {
        let r = response(
            Algorithm::Md5,
            &ha1(
                Algorithm::Md5,
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life",
            ),
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b", "auth")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    fn creds(alg: Algorithm, nonce: &str, nc: &str, password: &str) -> AuthParams {
        let uri = "sip:ivm.local";
        let resp = response(
            alg,
            &ha1(alg, "201", "ivm", password),
            nonce,
            Some((nc, "abc", "auth")),
            "REGISTER",
            uri,
        );
        let v = format!(
            "Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"abc\"",
            alg.as_str()
        );
        AuthParams::parse(&v).expect("parse")
    }

    fn lookup(_: &str, _: Algorithm) -> Option<Credential> {
        Some(Credential::Password("secret".into()))
    }

    fn server(t0: Instant) -> DigestServer {
        DigestServer::new(DigestConfig::new("ivm"), [9; 32], t0)
    }

    fn nonce_of(challenge: &str) -> String {
        AuthParams::parse(challenge)
            .expect("challenge")
            .get("nonce")
            .expect("nonce")
            .to_owned()
    }

    #[test]
    fn challenge_then_verify_both_algorithms() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let ch = s.challenges(t0, false);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        assert!(ch[0].contains("qop=\"auth\""));
        let nonce = nonce_of(&ch[0]);
        for (alg, nc) in [
            (Algorithm::Sha256, "00000001"),
            (Algorithm::Md5, "00000002"),
        ] {
            let v = s
                .verify(t0, "REGISTER", &creds(alg, &nonce, nc, "secret"), lookup)
                .expect("ok");
            assert_eq!(
                v,
                Verified {
                    username: "201".into(),
                    algorithm: alg
                }
            );
        }
        // HA1 from the store works the same.
        let stored = ha1(Algorithm::Md5, "201", "ivm", "secret").to_uppercase();
        let ok = s.verify(
            t0,
            "REGISTER",
            &creds(Algorithm::Md5, &nonce, "00000003", "secret"),
            |_, _| Some(Credential::Ha1(stored)),
        );
        assert!(ok.is_ok());
        let e = s.verify(
            t0,
            "REGISTER",
            &creds(Algorithm::Md5, &nonce, "00000004", "wrong"),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Mismatch));
        assert!(e.expect_err("err").is_failure());
        let e = s.verify(
            t0,
            "REGISTER",
            &creds(Algorithm::Md5, &nonce, "00000005", "secret"),
            |_, _| None,
        );
        assert_eq!(e, Err(AuthError::UnknownUser));
    }

    #[test]
    fn nc_replay_is_refused() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let c = creds(Algorithm::Md5, &nonce, "00000001", "secret");
        assert!(s.verify(t0, "REGISTER", &c, lookup).is_ok());
        assert_eq!(s.verify(t0, "REGISTER", &c, lookup), Err(AuthError::Replay));
        assert!(s
            .verify(
                t0,
                "REGISTER",
                &creds(Algorithm::Md5, &nonce, "00000002", "secret"),
                lookup
            )
            .is_ok());
    }

    #[test]
    fn expired_nonce_is_stale_only_with_right_password() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let later = t0 + Duration::from_secs(301);
        let e = s
            .verify(
                later,
                "REGISTER",
                &creds(Algorithm::Md5, &nonce, "00000001", "secret"),
                lookup,
            )
            .expect_err("stale");
        assert_eq!(e, AuthError::Stale);
        assert!(e.wants_stale() && !e.is_failure());
        let e = s.verify(
            later,
            "REGISTER",
            &creds(Algorithm::Md5, &nonce, "00000001", "wrong"),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Mismatch));
        assert!(s.challenges(later, true)[0].ends_with("stale=true"));
        // A nonce from another process (other secret) asks for a fresh challenge too.
        let mut other = DigestServer::new(DigestConfig::new("ivm"), [1; 32], t0);
        let foreign = nonce_of(&other.challenges(t0, false)[0]);
        assert_eq!(
            s.verify(
                t0,
                "REGISTER",
                &creds(Algorithm::Md5, &foreign, "00000001", "secret"),
                lookup
            ),
            Err(AuthError::Nonce)
        );
    }

    #[test]
    fn protocol_errors() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let mk = |v: String| AuthParams::parse(&v).expect("parse");
        let base = format!("Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"sip:x\", response=\"00\"");
        assert_eq!(
            s.verify(t0, "REGISTER", &mk(base.clone()), lookup),
            Err(AuthError::Qop)
        );
        assert_eq!(
            s.verify(
                t0,
                "REGISTER",
                &mk(format!("{base}, algorithm=MD5-sess")),
                lookup
            ),
            Err(AuthError::Algorithm)
        );
        assert_eq!(
            s.verify(t0, "REGISTER", &mk(format!("{base}, qop=auth-int")), lookup),
            Err(AuthError::Qop)
        );
        assert!(matches!(
            s.verify(
                t0,
                "REGISTER",
                &mk(format!("{base}, qop=auth, nc=1")),
                lookup
            ),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(
            s.verify(t0, "REGISTER", &mk("Basic abc=def".into()), lookup),
            Err(AuthError::Scheme)
        );
        assert_eq!(
            s.verify(t0, "REGISTER", &mk(base.replace("ivm", "other")), lookup),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn authenticate_a_register() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let reg = b"REGISTER sip:ivm.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa\r\nFrom: <sip:201@ivm.local>;tag=1\r\nTo: <sip:201@ivm.local>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Request(mut r)) = Message::parse(reg) else {
            panic!("parse")
        };
        assert_eq!(
            s.authenticate(t0, &r, false, lookup),
            Err(AuthError::Missing)
        );
        let ch = s.challenge_response(&r, Some("x"), false, t0, false);
        assert_eq!(ch.status, 401);
        let nonce = nonce_of(ch.headers.get("WWW-Authenticate").expect("challenge"));
        let c = creds(Algorithm::Sha256, &nonce, "00000001", "secret");
        let line = format!(
            "Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"sip:ivm.local\", response=\"{}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"abc\"",
            c.get("response").expect("resp")
        );
        r.headers.push("Authorization", line);
        assert_eq!(
            s.authenticate(t0, &r, false, lookup).map(|v| v.algorithm),
            Ok(Algorithm::Sha256)
        );
    }
}
