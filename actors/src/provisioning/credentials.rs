//! HTTP credentials for a phone's files: Digest (RFC 7616, SHA-256 and MD5, `qop=auth`,
//! through the SIP core's stateless-nonce [`DigestServer`]) and Basic (some firmware only
//! does Basic), checked against the phone's provisioning credential.
//!
//! The user name is not checked: phones send their MAC, `admin` or whatever the installer
//! typed; the credential is per phone (the MAC in the file name picks it). Sans-IO: the
//! caller passes `now`.

use std::net::IpAddr;
use std::time::Instant;

use base64::Engine as _;
use ivm_provision::Proof;
use ivm_sip::auth::{Algorithm, AuthError, Credential, DigestConfig, DigestServer};
use ivm_sip::message::AuthParams;

/// The digest realm of provisioning (not the SIP realm: a SIP digest is no answer here).
pub const REALM: &str = "ivm-provision";

/// Longest `Authorization` header considered.
const MAX_HEADER: usize = 4096;

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// Nothing.
    Nothing,
    /// `Authorization: Basic` with this password.
    Basic(String),
    /// `Authorization: Digest` with these parameters.
    Digest(AuthParams),
    /// A header that is neither (or malformed): counts as a wrong credential.
    Garbage,
}

impl Presented {
    /// From the `Authorization` header value, if any.
    pub fn parse(header: Option<&str>) -> Presented {
        let Some(v) = header else {
            return Presented::Nothing;
        };
        if v.len() > MAX_HEADER {
            return Presented::Garbage;
        }
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let password = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|t| t.split_once(':').map(|(_, p)| p.to_owned()));
            return password.map_or(Presented::Garbage, Presented::Basic);
        }
        match AuthParams::parse(v) {
            Ok(p) if p.is_digest() => Presented::Digest(p),
            _ => Presented::Garbage,
        }
    }

    /// Whether anything was presented.
    pub fn is_some(&self) -> bool {
        !matches!(self, Presented::Nothing)
    }
}

/// The result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// What it proved.
    pub proof: Proof,
    /// A correct digest on an expired (or pre-restart) nonce: challenge again with
    /// `stale=true` rather than counting a failure.
    pub stale: bool,
}

/// Issues challenges and checks credentials.
#[derive(Debug)]
pub struct Checker {
    digest: DigestServer,
}

impl Checker {
    /// A checker; `secret` must be fresh random bytes per process (nonces are stateless).
    pub fn new(secret: [u8; 32], epoch: Instant) -> Self {
        Checker {
            digest: DigestServer::new(DigestConfig::new(REALM), secret, epoch),
        }
    }

    /// `WWW-Authenticate` values for `client`: Digest SHA-256, Digest MD5, then Basic. The
    /// nonce is bound to the client's address, like the registrar's.
    pub fn challenges(&mut self, now: Instant, stale: bool, client: IpAddr) -> Vec<String> {
        let mut v =
            self.digest
                .challenges(now, stale, &[Algorithm::Sha256, Algorithm::Md5], client);
        v.push(format!("Basic realm=\"{REALM}\""));
        v
    }

    /// Checks what `presented` for a `GET` of `path` against `credential` (`None`: the
    /// phone has none yet, so nothing can verify).
    pub fn check(
        &mut self,
        now: Instant,
        presented: &Presented,
        path: &str,
        credential: Option<&str>,
        client: IpAddr,
    ) -> Checked {
        let bad = Checked {
            proof: Proof::Bad,
            stale: false,
        };
        match presented {
            Presented::Nothing => Checked {
                proof: Proof::None,
                stale: false,
            },
            Presented::Garbage => bad,
            Presented::Basic(given) => match credential {
                Some(c) if ct_eq(given.as_bytes(), c.as_bytes()) => Checked {
                    proof: Proof::Good,
                    stale: false,
                },
                _ => bad,
            },
            Presented::Digest(params) => {
                // The digest covers the URI the client named: it must be this request's.
                let r = self.digest.verify_with(
                    now,
                    "GET",
                    |uri| uri_path(uri) == path,
                    params,
                    client,
                    |_user, _alg| credential.map(|c| Credential::Password(c.to_owned())),
                );
                match r {
                    Ok(_) => Checked {
                        proof: Proof::Good,
                        stale: false,
                    },
                    Err(e) if e.wants_stale() => Checked {
                        proof: Proof::None,
                        stale: true,
                    },
                    // Another realm's credentials: as if none were given.
                    Err(AuthError::Missing) => Checked {
                        proof: Proof::None,
                        stale: false,
                    },
                    Err(_) => bad,
                }
            }
        }
    }
}

/// The path of an absolute URI (`http://box/provision/x` -> `/provision/x`), or the
/// request-target itself.
fn uri_path(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => uri,
    }
}

/// Equal-length byte strings compared without an early exit.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_sip::auth::{ha1, response};

    /// The phone's address (digest nonces are bound to it).
    const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    const PATH: &str = "/provision/001565aabbcc.cfg";

    fn nonce_of(challenge: &str) -> String {
        let p = AuthParams::parse(challenge).expect("challenge");
        p.get("nonce").expect("nonce").to_owned()
    }

    fn digest_header(alg: Algorithm, nonce: &str, nc: &str, uri: &str, password: &str) -> String {
        let resp = response(
            alg,
            &ha1(alg, "001565aabbcc", REALM, password),
            nonce,
            Some((nc, "c0ffee", "auth")),
            "GET",
            uri,
        );
        format!(
            "Digest username=\"001565aabbcc\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"c0ffee\"",
            alg.as_str()
        )
    }

    #[test]
    fn digest_both_algorithms_replay_and_wrong_uri() {
        let t = Instant::now();
        let mut c = Checker::new([9; 32], t);
        let ch = c.challenges(t, false, ME);
        assert_eq!(ch.len(), 3);
        assert!(ch[0].contains("SHA-256") && ch[1].contains("MD5") && ch[2].starts_with("Basic"));
        let nonce = nonce_of(&ch[0]);
        for (alg, nc) in [
            (Algorithm::Sha256, "00000001"),
            (Algorithm::Md5, "00000002"),
        ] {
            let h = digest_header(alg, &nonce, nc, PATH, "the-credential");
            let p = Presented::parse(Some(&h));
            assert_eq!(
                c.check(t, &p, PATH, Some("the-credential"), ME).proof,
                Proof::Good,
                "{alg:?}"
            );
            assert_eq!(
                c.check(t, &p, PATH, Some("the-credential"), ME).proof,
                Proof::Bad,
                "a replayed nc"
            );
        }
        let wrong = Presented::parse(Some(&digest_header(
            Algorithm::Md5,
            &nonce,
            "00000009",
            PATH,
            "guess",
        )));
        assert_eq!(
            c.check(t, &wrong, PATH, Some("the-credential"), ME).proof,
            Proof::Bad
        );
        // A digest computed for another file is no credential for this one.
        let other = Presented::parse(Some(&digest_header(
            Algorithm::Md5,
            &nonce,
            "0000000a",
            "/provision/y000000000028.cfg",
            "the-credential",
        )));
        assert_eq!(
            c.check(t, &other, PATH, Some("the-credential"), ME).proof,
            Proof::Bad
        );
        // Absolute URIs name the same path.
        let abs = Presented::parse(Some(&digest_header(
            Algorithm::Md5,
            &nonce,
            "0000000b",
            &format!("http://10.0.0.1:8080{PATH}"),
            "the-credential",
        )));
        assert_eq!(
            c.check(t, &abs, PATH, Some("the-credential"), ME).proof,
            Proof::Good
        );
        // No credential stored yet: nothing verifies.
        let h = digest_header(Algorithm::Md5, &nonce, "0000000c", PATH, "");
        assert_eq!(
            c.check(t, &Presented::parse(Some(&h)), PATH, None, ME)
                .proof,
            Proof::Bad
        );
        // A nonce from another process (a restart): stale, not a failure.
        let old = Checker::new([1; 32], t).challenges(t, false, ME);
        let h = digest_header(
            Algorithm::Md5,
            &nonce_of(&old[1]),
            "00000001",
            PATH,
            "the-credential",
        );
        let r = c.check(
            t,
            &Presented::parse(Some(&h)),
            PATH,
            Some("the-credential"),
            ME,
        );
        assert_eq!((r.proof, r.stale), (Proof::None, true));
    }

    #[test]
    fn basic_and_garbage() {
        let t = Instant::now();
        let mut c = Checker::new([9; 32], t);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let good = Presented::parse(Some(&format!("Basic {}", b64("anything:the-credential"))));
        assert_eq!(good, Presented::Basic("the-credential".into()));
        assert_eq!(
            c.check(t, &good, PATH, Some("the-credential"), ME).proof,
            Proof::Good
        );
        assert_eq!(
            c.check(t, &good, PATH, Some("the-credentiaL"), ME).proof,
            Proof::Bad
        );
        assert_eq!(c.check(t, &good, PATH, None, ME).proof, Proof::Bad);
        for junk in [
            "Basic !!!",
            "Basic bm9jb2xvbg==",
            "Bearer abc",
            "Digest nonce",
            &"x".repeat(5000),
        ] {
            let p = Presented::parse(Some(junk));
            assert_eq!(
                c.check(t, &p, PATH, Some("c"), ME).proof,
                Proof::Bad,
                "{junk:.20}"
            );
        }
        assert_eq!(
            c.check(t, &Presented::parse(None), PATH, Some("c"), ME)
                .proof,
            Proof::None
        );
    }
}
