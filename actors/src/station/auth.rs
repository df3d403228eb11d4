//! Digest authentication of REGISTER, SUBSCRIBE and INVITE, with the failure limiter and
//! the credential cache.
//!
//! Credentials are cached per extension for [`CRED_TTL`] (an `ivmd user` change takes effect
//! within it); a miss loads them from the store through the database manager and handles the
//! waiting requests again. Challenges are stateless (RFC 3261 §8.2.7): nothing lingers for a
//! host that has not authenticated.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_sip::auth::{Algorithm, AuthError, Credential, Scope};
use ivm_sip::message::{Request, Response};
use ivm_sip::transaction::{Peer, TxId};
use ivm_store::SipCredentials;
use ivm_wire::Guid;

use super::ops::SipCredentialsOf;
use super::{sipmsg, StationActor};

/// How long credentials are cached (a `ivmd user` change takes effect within this).
const CRED_TTL: Duration = Duration::from_secs(30);
/// Most cached credential entries (unknown names included) before the cache is cleared.
const MAX_CRED_CACHE: usize = 20_000;
/// Most requests waiting for one extension's credentials.
const MAX_WAITING: usize = 64;

/// Cached credentials: `None` for an unknown extension.
struct CachedCred {
    cred: Option<SipCredentials>,
    loaded: Instant,
}

/// The credential cache, and the requests waiting for credentials being loaded.
#[derive(Default)]
pub(super) struct Credentials {
    cached: HashMap<String, CachedCred>,
    /// Extensions whose credentials are being loaded, with the requests waiting for them.
    loading: HashMap<String, Vec<(TxId, Peer, Request)>>,
}

impl Credentials {
    /// Clears the cache when it grew past [`MAX_CRED_CACHE`] (a scan of unknown names).
    pub fn trim(&mut self) {
        if self.cached.len() > MAX_CRED_CACHE {
            self.cached.clear();
        }
    }
}

/// What authentication decided.
pub(super) enum Authed {
    /// The user, and their extension.
    Yes(Guid, String),
    /// Answered (challenge, refusal) or deferred until credentials load: do nothing more.
    Handled,
}

impl StationActor {
    /// Digest authentication with the failure limiter. Credentials are cached; a miss
    /// loads them from the store and handles the request again. A success marks the source
    /// address as authenticated in the transaction layer (its full budget and stateful
    /// answers; see the module docs of `ivm_sip::transaction`).
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: &Request,
        ctx: &mut Context<Self>,
    ) -> Authed {
        let ip = peer.addr.ip();
        // The Authorization header is parsed once here; its credentials for our realm go
        // straight to `DigestServer::verify` below (what `authenticate` would parse again).
        let realm = self.cfg.realm.as_str();
        let creds = req
            .headers
            .authorization()
            .ok()
            .and_then(|all| all.into_iter().find(|c| c.get("realm") == Some(realm)));
        let username = creds
            .as_ref()
            .and_then(|c| c.get("username").map(str::to_owned));
        // Without credentials, the account the request speaks for (From) is the one whose
        // lock applies: a locked-out guesser does not even get a fresh challenge.
        let account = username
            .clone()
            .or_else(|| sipmsg::header_user(req.headers.get("From")));
        if let Err(b) = self.limiter.check(ip, account.as_deref(), now) {
            tracing::debug!(%ip, user = ?account, scope = ?b.scope, retry_after_s = b.retry_after.as_secs(), "request refused: too many failed passwords");
            let mut r = req.make_response(403, None);
            r.headers
                .push("Retry-After", b.retry_after.as_secs().max(1).to_string());
            self.respond(now, id, r);
            return Authed::Handled;
        }
        let (Some(creds), Some(username)) = (creds, username) else {
            let r = self
                .digest
                .challenge_response(req, None, false, now, false, ip);
            self.challenge(id, r);
            return Authed::Handled;
        };
        if username.len() > 64 {
            self.respond(now, id, req.make_response(403, None));
            return Authed::Handled;
        }
        let fresh = self
            .creds
            .cached
            .get(&username)
            .is_some_and(|c| now.duration_since(c.loaded) < CRED_TTL);
        if !fresh {
            self.load_credentials(username, id, peer, req.clone(), ctx);
            return Authed::Handled;
        }
        let cred = self
            .creds
            .cached
            .get(&username)
            .and_then(|c| c.cred.clone());
        let result = self.digest.verify(now, req, &creds, ip, |_, alg| {
            cred.as_ref().map(|c| {
                Credential::Ha1(match alg {
                    Algorithm::Md5 => c.ha1_md5.clone(),
                    Algorithm::Sha256 => c.ha1_sha256.clone(),
                })
            })
        });
        match (result, cred) {
            (Ok(_), Some(c)) => {
                self.limiter.success(ip, &username);
                self.layer.mark_authenticated(ip, now);
                Authed::Yes(c.user, c.username)
            }
            (Ok(_), None) => Authed::Handled,
            (Err(e), _) => {
                if e.is_failure() {
                    tracing::info!(%ip, user = %username, error = %e, method = %req.method, "SIP authentication failed");
                    match self.limiter.failure(ip, &username, now) {
                        Some(b) if b.scope == Scope::Address => {
                            tracing::warn!(%ip, ban_s = b.retry_after.as_secs(), "too many SIP authentication failures: address banned")
                        }
                        Some(b) => {
                            tracing::warn!(%ip, user = %username, delay_s = b.retry_after.as_secs(), "too many SIP authentication failures: user locked from this address")
                        }
                        None => {}
                    }
                    self.respond(now, id, req.make_response(403, None));
                } else {
                    let r = self.digest.challenge_response(
                        req,
                        None,
                        false,
                        now,
                        e.wants_stale() || e == AuthError::Stale,
                        ip,
                    );
                    self.challenge(id, r);
                }
                Authed::Handled
            }
        }
    }

    /// Sends a digest challenge (401) statelessly (RFC 3261 §8.2.7), INVITE included: no
    /// transaction lingers for Timer J or H, nothing is retransmitted toward a host that has
    /// not authenticated, a retransmitted request just gets a fresh challenge, and the ACK
    /// for a challenged INVITE matches nothing and is absorbed by the transaction layer.
    fn challenge(&mut self, id: TxId, resp: Response) {
        if let Err(e) = self.layer.respond_and_forget(id, resp) {
            tracing::debug!(tx = %id, error = %e, "challenge not sent");
        }
    }

    /// Loads `username`'s credentials from the store (once, however many requests wait for
    /// them), then handles the waiting requests again.
    fn load_credentials(
        &mut self,
        username: String,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let waiting = self.creds.loading.entry(username.clone()).or_default();
        let first = waiting.is_empty();
        if waiting.len() < MAX_WAITING {
            waiting.push((id, peer, req));
        }
        if !first {
            return;
        }
        let db = self.db.clone();
        let realm = self.cfg.realm.clone();
        let name = username.clone();
        let fut = async move {
            if !name.bytes().all(|b| b.is_ascii_digit()) || !(2..=8).contains(&name.len()) {
                return Ok(None);
            }
            db.call(SipCredentialsOf {
                extension: name,
                realm,
            })
            .await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let now = Instant::now();
            let cred = match res {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load SIP credentials");
                    None
                }
            };
            act.creds
                .cached
                .insert(username.clone(), CachedCred { cred, loaded: now });
            for (id, peer, req) in act.creds.loading.remove(&username).unwrap_or_default() {
                act.on_request(now, id, peer, req, ctx);
            }
            act.pump(now, ctx);
        }));
    }
}
