//! Digest authentication, server side (RFC 3261 §22, RFC 7616, RFC 8760), and a failure
//! [`Limiter`] per (source address, user) and per address.
//!
//! - Which challenges a phone gets, and in which order, is [`offer`]'s choice (by default by
//!   User-Agent: SHA-256 then MD5 to stacks known to take it, MD5 alone to the others; the
//!   reasons are in that module), each with `qop="auth"`.
//! - Nonces are stateless ([`nonce`]): nothing is stored per challenge; a REGISTER flood
//!   cannot fill memory with pending challenges. A nonce carries the algorithms its challenge
//!   offered (a response with another one is refused) and is bound to the client's address.
//! - The response's `uri` must be the Request-URI (RFC 3261 §22.4, RFC 8760 §2.5): a digest
//!   computed for another request cannot be replayed on this one.
//! - `nc` replay protection ([`replay`]) is the only per-nonce state, and it is bounded.
//! - Credentials come from a lookup the caller provides, as the plaintext password or as
//!   `HA1 = H(user:realm:password)` per algorithm, so the store need not hold passwords.
//! - The response is compared in constant time.

pub mod limiter;
pub mod nonce;
pub mod offer;
pub mod replay;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use sha2::Sha256;

pub use limiter::{Banned, Limiter, LimiterConfig, Lockout, Scope};
pub use nonce::{NonceError, NonceId, NonceIssuer};
pub use offer::Offer;
pub use replay::{NcCheck, ReplayGuard};

use crate::message::{AuthParams, Request, Response, Uri};

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

    /// This algorithm's bit in a nonce's set of offered algorithms.
    pub fn bit(self) -> u8 {
        match self {
            Algorithm::Md5 => 1,
            Algorithm::Sha256 => 2,
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

/// Whether the digest `uri` parameter names the Request-URI: the same text, or the same URI
/// once parsed (a phone may write it with other case or escaping).
/// Case is ignored: this check is about a digest made for *another* request, and the digest
/// itself covers the exact text the phone chose.
fn same_uri(param: &str, request_uri: &Uri) -> bool {
    let want = request_uri.to_string();
    param.eq_ignore_ascii_case(&want)
        || Uri::parse(param)
            .is_ok_and(|u| u == *request_uri || u.to_string().eq_ignore_ascii_case(&want))
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
    /// An algorithm we do not support, or did not offer in this nonce's challenge.
    #[error("algorithm not offered")]
    Algorithm,
    /// The `uri` parameter is not the Request-URI (RFC 3261 §22.4).
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
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
                | AuthError::Algorithm
                | AuthError::UriMismatch
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
    /// The challenges offered, in order (default [`Offer::Auto`], see [`offer`]). A response
    /// is accepted only with an algorithm its nonce's challenge offered.
    pub offer: Offer,
}

impl DigestConfig {
    /// Defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> DigestConfig {
        DigestConfig {
            realm: realm.into(),
            nonce_lifetime: Duration::from_secs(300),
            max_tracked_nonces: 10_000,
            require_qop: true,
            offer: Offer::Auto,
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

    /// The algorithms offered to a request with this `User-Agent`, in order.
    pub fn offer_for(&self, user_agent: Option<&str>) -> Vec<Algorithm> {
        self.config.offer.for_user_agent(user_agent)
    }

    /// `WWW-Authenticate` values for `client`, one per algorithm of `offer` in that order,
    /// sharing one nonce (which records the offer).
    pub fn challenges(
        &mut self,
        now: Instant,
        stale: bool,
        offer: &[Algorithm],
        client: IpAddr,
    ) -> Vec<String> {
        let bits = offer.iter().fold(0u8, |b, a| b | a.bit());
        let nonce = self.nonces.issue(now, bits, client);
        offer
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

    /// A `401 Unauthorized` (or `407` when `proxy`) for `request` from `client`, with the
    /// challenges its `User-Agent` gets.
    pub fn challenge_response(
        &mut self,
        request: &Request,
        to_tag: Option<&str>,
        proxy: bool,
        now: Instant,
        stale: bool,
        client: IpAddr,
    ) -> Response {
        let offer = self.offer_for(request.headers.user_agent());
        let (status, header) = if proxy {
            (407, "Proxy-Authenticate")
        } else {
            (401, "WWW-Authenticate")
        };
        let mut r = request.make_response(status, to_tag);
        for c in self.challenges(now, stale, &offer, client) {
            r.headers.push(header, c);
        }
        r
    }

    /// Verifies the request's `Authorization` (or `Proxy-Authorization` when `proxy`) for our
    /// realm, sent from `client`. `lookup(user, algorithm)` returns the credential or `None`
    /// for an unknown user.
    pub fn authenticate<F>(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        client: IpAddr,
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
        self.verify(now, request, &creds, client, lookup)
    }

    /// Verifies one set of credentials for the SIP `request`, sent from `client`: its digest
    /// `uri` must be the Request-URI (RFC 3261 §22.4).
    pub fn verify<F>(
        &mut self,
        now: Instant,
        request: &Request,
        creds: &AuthParams,
        client: IpAddr,
        lookup: F,
    ) -> Result<Verified, AuthError>
    where
        F: FnOnce(&str, Algorithm) -> Option<Credential>,
    {
        self.verify_with(
            now,
            request.method.as_str(),
            |uri| same_uri(uri, &request.uri),
            creds,
            client,
            lookup,
        )
    }

    /// Verifies one set of credentials for a request with `method` whose target `uri_ok`
    /// accepts (the same digest serves HTTP, RFC 7616, where the `uri` is the request-target),
    /// sent from `client`.
    pub fn verify_with<F, U>(
        &mut self,
        now: Instant,
        method: &str,
        uri_ok: U,
        creds: &AuthParams,
        client: IpAddr,
        lookup: F,
    ) -> Result<Verified, AuthError>
    where
        F: FnOnce(&str, Algorithm) -> Option<Credential>,
        U: FnOnce(&str) -> bool,
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
        if !uri_ok(uri) {
            return Err(AuthError::UriMismatch);
        }
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
        let id = self
            .nonces
            .open(nonce, now, client)
            .map_err(|_| AuthError::Nonce)?;
        if id.offered & alg.bit() == 0 {
            return Err(AuthError::Algorithm);
        }
        let id = (!self.nonces.is_stale(&id, now)).then_some(id);
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

    const BOTH: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    fn client() -> IpAddr {
        IpAddr::from([10, 0, 0, 5])
    }

    /// The REGISTER every `creds` answer is computed for (Request-URI `sip:ivm.local`).
    fn reg() -> Request {
        let raw = b"REGISTER sip:ivm.local SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa\r\nFrom: <sip:201@ivm.local>;tag=1\r\nTo: <sip:201@ivm.local>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        match Message::parse(raw) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn verify<F>(
        s: &mut DigestServer,
        now: Instant,
        c: &AuthParams,
        lookup: F,
    ) -> Result<Verified, AuthError>
    where
        F: FnOnce(&str, Algorithm) -> Option<Credential>,
    {
        s.verify(now, &reg(), c, client(), lookup)
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
        let ch = s.challenges(t0, false, &BOTH, client());
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        assert!(ch[0].contains("qop=\"auth\""));
        let nonce = nonce_of(&ch[0]);
        for (alg, nc) in [
            (Algorithm::Sha256, "00000001"),
            (Algorithm::Md5, "00000002"),
        ] {
            let v = verify(&mut s, t0, &creds(alg, &nonce, nc, "secret"), lookup).expect("ok");
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
        let ok = verify(
            &mut s,
            t0,
            &creds(Algorithm::Md5, &nonce, "00000003", "secret"),
            |_, _| Some(Credential::Ha1(stored)),
        );
        assert!(ok.is_ok());
        let e = verify(
            &mut s,
            t0,
            &creds(Algorithm::Md5, &nonce, "00000004", "wrong"),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Mismatch));
        assert!(e.expect_err("err").is_failure());
        let e = verify(
            &mut s,
            t0,
            &creds(Algorithm::Md5, &nonce, "00000005", "secret"),
            |_, _| None,
        );
        assert_eq!(e, Err(AuthError::UnknownUser));
    }

    #[test]
    fn nc_replay_is_refused() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false, &BOTH, client())[0]);
        let c = creds(Algorithm::Md5, &nonce, "00000001", "secret");
        assert!(verify(&mut s, t0, &c, lookup).is_ok());
        assert_eq!(verify(&mut s, t0, &c, lookup), Err(AuthError::Replay));
        assert!(verify(
            &mut s,
            t0,
            &creds(Algorithm::Md5, &nonce, "00000002", "secret"),
            lookup
        )
        .is_ok());
    }

    #[test]
    fn expired_nonce_is_stale_only_with_right_password() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false, &BOTH, client())[0]);
        let later = t0 + Duration::from_secs(301);
        let e = verify(
            &mut s,
            later,
            &creds(Algorithm::Md5, &nonce, "00000001", "secret"),
            lookup,
        )
        .expect_err("stale");
        assert_eq!(e, AuthError::Stale);
        assert!(e.wants_stale() && !e.is_failure());
        let e = verify(
            &mut s,
            later,
            &creds(Algorithm::Md5, &nonce, "00000001", "wrong"),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Mismatch));
        assert!(s.challenges(later, true, &BOTH, client())[0].ends_with("stale=true"));
        // A nonce from another process (other secret) asks for a fresh challenge too.
        let mut other = DigestServer::new(DigestConfig::new("ivm"), [1; 32], t0);
        let foreign = nonce_of(&other.challenges(t0, false, &BOTH, client())[0]);
        assert_eq!(
            verify(
                &mut s,
                t0,
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
        let nonce = nonce_of(&s.challenges(t0, false, &BOTH, client())[0]);
        let mk = |v: String| AuthParams::parse(&v).expect("parse");
        let base = format!("Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"sip:ivm.local\", response=\"00\"");
        assert_eq!(
            verify(&mut s, t0, &mk(base.clone()), lookup),
            Err(AuthError::Qop)
        );
        assert_eq!(
            verify(
                &mut s,
                t0,
                &mk(format!("{base}, algorithm=MD5-sess")),
                lookup
            ),
            Err(AuthError::Algorithm)
        );
        assert_eq!(
            verify(&mut s, t0, &mk(format!("{base}, qop=auth-int")), lookup),
            Err(AuthError::Qop)
        );
        assert!(matches!(
            verify(&mut s, t0, &mk(format!("{base}, qop=auth, nc=1")), lookup),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(
            verify(&mut s, t0, &mk("Basic abc=def".into()), lookup),
            Err(AuthError::Scheme)
        );
        assert_eq!(
            verify(&mut s, t0, &mk(base.replace("ivm", "other")), lookup),
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
            s.authenticate(t0, &r, false, client(), lookup),
            Err(AuthError::Missing)
        );
        // A User-Agent known to take SHA-256 gets it offered (first).
        r.headers
            .push("User-Agent", "PJSUA v2.15.1/x86_64-unknown-linux-gnu");
        let ch = s.challenge_response(&r, Some("x"), false, t0, false, client());
        assert_eq!(ch.status, 401);
        let nonce = nonce_of(ch.headers.get("WWW-Authenticate").expect("challenge"));
        let c = creds(Algorithm::Sha256, &nonce, "00000001", "secret");
        let line = format!(
            "Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"sip:ivm.local\", response=\"{}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"abc\"",
            c.get("response").expect("resp")
        );
        r.headers.push("Authorization", line);
        assert_eq!(
            s.authenticate(t0, &r, false, client(), lookup)
                .map(|v| v.algorithm),
            Ok(Algorithm::Sha256)
        );
    }

    #[test]
    fn uri_must_be_the_request_uri() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false, &BOTH, client())[0]);
        let mut c = creds(Algorithm::Md5, &nonce, "00000001", "secret");
        assert!(verify(&mut s, t0, &c, lookup).is_ok());
        // The same credentials presented on a request for another URI.
        let mut other = reg();
        other.uri = "sip:ivm.other".parse().expect("uri");
        c = creds(Algorithm::Md5, &nonce, "00000002", "secret");
        let e = s.verify(t0, &other, &c, client(), lookup);
        assert_eq!(e, Err(AuthError::UriMismatch));
        assert!(AuthError::UriMismatch.is_failure());
        // Case in the host does not matter once parsed.
        let upper = AuthParams::parse(&format!(
            "Digest username=\"201\", realm=\"ivm\", nonce=\"{nonce}\", uri=\"sip:IVM.local\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000003, cnonce=\"abc\"",
            response(
                Algorithm::Md5,
                &ha1(Algorithm::Md5, "201", "ivm", "secret"),
                &nonce,
                Some(("00000003", "abc", "auth")),
                "REGISTER",
                "sip:IVM.local",
            )
        ))
        .expect("parse");
        assert!(verify(&mut s, t0, &upper, lookup).is_ok());
    }

    #[test]
    fn only_offered_algorithms_are_accepted() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let md5_only = nonce_of(&s.challenges(t0, false, &[Algorithm::Md5], client())[0]);
        let e = verify(
            &mut s,
            t0,
            &creds(Algorithm::Sha256, &md5_only, "00000001", "secret"),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Algorithm));
        assert!(AuthError::Algorithm.is_failure());
        assert!(verify(
            &mut s,
            t0,
            &creds(Algorithm::Md5, &md5_only, "00000002", "secret"),
            lookup
        )
        .is_ok());
        // A nonce answered from another address is not ours to that address: re-challenge.
        let e = s.verify(
            t0,
            &reg(),
            &creds(Algorithm::Md5, &md5_only, "00000003", "secret"),
            IpAddr::from([10, 0, 0, 6]),
            lookup,
        );
        assert_eq!(e, Err(AuthError::Nonce));
        assert!(!AuthError::Nonce.is_failure());
    }

    #[test]
    fn auto_offer_follows_the_user_agent() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let mut r = reg();
        r.headers
            .push("User-Agent", "baresip v1.0.0 (x86_64/linux)");
        let ch = s.challenge_response(&r, None, false, t0, false, client());
        let offered: Vec<&str> = ch.headers.get_all("WWW-Authenticate").collect();
        assert_eq!(offered.len(), 1);
        assert!(offered[0].contains("algorithm=MD5"));
        let mut r = reg();
        r.headers
            .push("User-Agent", "PJSUA v2.15.1/x86_64-unknown-linux-gnu");
        let ch = s.challenge_response(&r, None, false, t0, false, client());
        let offered: Vec<&str> = ch.headers.get_all("WWW-Authenticate").collect();
        assert_eq!(offered.len(), 2);
        assert!(offered[0].contains("algorithm=SHA-256") && offered[1].contains("algorithm=MD5"));
    }
}
