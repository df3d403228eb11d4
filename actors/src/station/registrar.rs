//! The registrar (RFC 3261 §10) with digest authentication, phone presence, OPTIONS, and the
//! message-waiting lamp (RFC 3842 `message-summary`, subscribed or unsolicited NOTIFY).
//!
//! It also tells the phone registry (issue 5) about registrations: a new binding, or one
//! whose address or `User-Agent` changed, is written to the store through the database
//! actor ([`ivm_store::Store::phone_registered`]: the user's phone becomes "registered" and
//! takes the vendor, model and firmware its `User-Agent` names). Refreshes of an unchanged
//! binding are written at most every [`REGISTRY_REFRESH`]: a REGISTER costs no commit, so
//! the registrar keeps its rate.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use ivm_sip::auth::{Algorithm, AuthError, Credential, Scope};
use ivm_sip::message::{Contacts, Method, Request, Uri};
use ivm_sip::transaction::{Peer, TxId};
use ivm_wire::{Guid, MailboxState};

use super::calls::Pending;
use super::sipmsg::{self, Dialog};
use super::{CachedCred, StationActor, CRED_TTL};
use crate::client::{PhonePresence, PresenceSource::DeskPhone};
use crate::database;

/// One registered phone.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    /// The phone's Contact URI.
    pub contact: Uri,
    /// Where its REGISTER came from (we send there: NAT-friendly).
    pub peer: Peer,
    /// When it lapses.
    pub expires_at: Instant,
    /// The extension (SIP user).
    pub ext: String,
    /// The phone's `User-Agent`, when it sent one (bounded).
    pub user_agent: Option<String>,
}

/// How often an unchanged, refreshed registration updates the phone's "last seen".
pub(crate) const REGISTRY_REFRESH: Duration = Duration::from_secs(600);

/// A `message-summary` subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub dialog: Dialog,
    pub expires_at: Instant,
}

/// Registrar state: bindings and MWI subscriptions per user.
#[derive(Default)]
pub(crate) struct Registrar {
    bindings: HashMap<Guid, Vec<Binding>>,
    subs: HashMap<Guid, Vec<Subscription>>,
    /// What was last written to the phone registry per user: (source address, User-Agent,
    /// when), so unchanged refreshes skip the store.
    reported: HashMap<Guid, (std::net::SocketAddr, Option<String>, Instant)>,
}

impl Registrar {
    pub fn binding_count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    pub fn user_count(&self) -> usize {
        self.bindings.len()
    }

    /// The user's most recently registered phone.
    pub fn latest(&self, user: Guid) -> Option<&Binding> {
        self.bindings
            .get(&user)
            .and_then(|b| b.iter().max_by_key(|b| b.expires_at))
    }

    pub fn is_registered(&self, user: Guid) -> bool {
        self.bindings.contains_key(&user)
    }

    /// Every live binding, for the admin's phone list.
    pub fn all(&self) -> impl Iterator<Item = (Guid, &Binding)> {
        self.bindings
            .iter()
            .flat_map(|(u, bs)| bs.iter().map(move |b| (*u, b)))
    }
}

/// Unread (queued or delivered) and played counts of a user's mailbox.
fn counts(inbox: &[(ivm_store::StoredMessage, MailboxState)]) -> (u32, u32) {
    let new = inbox
        .iter()
        .filter(|(_, s)| matches!(s, MailboxState::Queued | MailboxState::Delivered))
        .count();
    let old = inbox
        .iter()
        .filter(|(_, s)| matches!(s, MailboxState::Played))
        .count();
    (new as u32, old as u32)
}

/// What authentication decided.
pub(crate) enum Authed {
    /// The user, and their extension.
    Yes(Guid, String),
    /// Answered (challenge, refusal) or deferred until credentials load: do nothing more.
    Handled,
}

impl StationActor {
    /// Dispatches a new server transaction.
    pub(super) fn on_request(
        &mut self,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        // RFC 3261 §8.2.2.3: option tags we do not support in Require (or Proxy-Require: we
        // are the last hop) get 420 with Unsupported (RFC 4475 `bext01`). None is supported.
        let unsupported = req.unsupported_extensions(&[]);
        if !unsupported.is_empty() {
            let mut r = req.make_response(420, None);
            r.headers.push("Unsupported", unsupported.join(", "));
            self.respond(id, r);
            return;
        }
        match req.method {
            Method::Register => self.on_register(id, peer, req, ctx),
            Method::Options => {
                let mut r = req.make_response(200, Some(&sipmsg::token()));
                r.headers.push(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY",
                );
                r.headers.push("Accept", "application/sdp");
                self.respond(id, r);
            }
            Method::Subscribe => self.on_subscribe(id, peer, req, ctx),
            Method::Invite => self.on_invite(id, peer, req, ctx),
            Method::Bye => self.on_bye(id, peer, req, ctx),
            Method::Cancel => self.on_cancel(id, peer, req, ctx),
            Method::Notify | Method::Info | Method::Update | Method::Prack => {
                // In-dialog housekeeping we do not use: accept politely if it is one of our
                // dialogs (Call-ID, both tags, the phone's address), else 481.
                let status = if self.calls.in_dialog(&req, peer).is_some() {
                    200
                } else {
                    481
                };
                self.respond(id, req.make_response(status, None));
            }
            _ => {
                let mut r = req.make_response(405, None);
                r.headers.push(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE",
                );
                self.respond(id, r);
            }
        }
    }

    /// Digest authentication with the failure limiter. Credentials are cached; a miss
    /// loads them from the store and handles the request again. A success marks the source
    /// address as authenticated in the transaction layer (its full budget and stateful
    /// answers; see the module docs of `ivm_sip::transaction`).
    pub(super) fn authenticate(
        &mut self,
        id: TxId,
        peer: Peer,
        req: &Request,
        ctx: &mut Context<Self>,
    ) -> Authed {
        let now = Instant::now();
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
            self.respond(id, r);
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
            self.respond(id, req.make_response(403, None));
            return Authed::Handled;
        }
        let fresh = self
            .creds
            .get(&username)
            .is_some_and(|c| now.duration_since(c.loaded) < CRED_TTL);
        if !fresh {
            self.load_credentials(username, id, peer, req.clone(), ctx);
            return Authed::Handled;
        }
        let cred = self.creds.get(&username).and_then(|c| c.cred.clone());
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
                    self.respond(id, req.make_response(403, None));
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
    fn challenge(&mut self, id: TxId, resp: ivm_sip::message::Response) {
        if let Err(e) = self.layer.respond_and_forget(id, resp) {
            tracing::debug!(tx = %id, error = %e, "challenge not sent");
        }
    }

    fn load_credentials(
        &mut self,
        username: String,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let waiting = self.loading.entry(username.clone()).or_default();
        let first = waiting.is_empty();
        if waiting.len() < 64 {
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
            database::run(&db, move |s| s.sip_credentials_by_extension(&name, &realm)).await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let cred = match res {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load SIP credentials");
                    None
                }
            };
            act.creds.insert(
                username.clone(),
                CachedCred {
                    cred,
                    loaded: Instant::now(),
                },
            );
            for (id, peer, req) in act.loading.remove(&username).unwrap_or_default() {
                act.on_request(id, peer, req, ctx);
            }
            act.pump(ctx);
        }));
    }

    fn on_register(&mut self, id: TxId, peer: Peer, req: Request, ctx: &mut Context<Self>) {
        let (user, ext) = match self.authenticate(id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let span = tracing::info_span!("phone", ext = %ext, peer = %peer.addr);
        let _e = span.enter();
        if sipmsg::header_user(req.headers.get("To")).as_deref() != Some(ext.as_str()) {
            tracing::info!("REGISTER for another account refused");
            self.respond(id, req.make_response(403, None));
            return;
        }
        let now = Instant::now();
        let header_expires = req.headers.expires().ok().flatten();
        let contacts = match req.headers.contacts() {
            Ok(c) => c,
            Err(_) => {
                self.respond(id, req.make_response(400, None));
                return;
            }
        };
        let was = self.reg.is_registered(user);
        let user_agent = req.headers.user_agent().map(|ua| {
            ua.chars()
                .take(128)
                .filter(|c| !c.is_control())
                .collect::<String>()
        });
        match contacts {
            Contacts::Star => {
                if header_expires != Some(0) {
                    self.respond(id, req.make_response(400, None));
                    return;
                }
                self.reg.bindings.remove(&user);
                tracing::info!("phone unregistered (all bindings)");
            }
            Contacts::List(list) => {
                for c in &list {
                    let e = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(self.cfg.max_expires);
                    if e != 0 && e < self.cfg.min_expires {
                        let mut r = req.make_response(423, None);
                        r.headers
                            .push("Min-Expires", self.cfg.min_expires.to_string());
                        self.respond(id, r);
                        return;
                    }
                }
                // Over TCP the phone must refresh within the connection's idle timeout.
                let max_expires = if peer.transport.is_reliable() {
                    self.cfg.max_expires.min(self.cfg.tcp_max_expires)
                } else {
                    self.cfg.max_expires
                };
                let entry = self.reg.bindings.entry(user).or_default();
                for c in list {
                    let e = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(max_expires)
                        .min(max_expires);
                    entry.retain(|b| b.contact != c.uri);
                    if e > 0 {
                        if entry.len() >= self.cfg.max_bindings {
                            entry.remove(0);
                        }
                        entry.push(Binding {
                            contact: c.uri,
                            peer,
                            expires_at: now + Duration::from_secs(e.into()),
                            ext: ext.clone(),
                            user_agent: user_agent.clone(),
                        });
                        tracing::info!(expires_s = e, "phone registered");
                    } else {
                        tracing::info!("phone unregistered");
                    }
                }
                if entry.is_empty() {
                    self.reg.bindings.remove(&user);
                }
            }
        }
        let mut r = req.make_response(200, Some(&sipmsg::token()));
        if let Some(bs) = self.reg.bindings.get(&user) {
            for b in bs {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                r.headers
                    .push("Contact", format!("<{}>;expires={left}", b.contact));
            }
        }
        self.respond(id, r);
        let is = self.reg.is_registered(user);
        if is {
            self.report_registration(user, peer, user_agent, now, ctx);
        } else {
            self.reg.reported.remove(&user);
        }
        if is != was {
            self.clients.do_send(PhonePresence {
                user,
                source: DeskPhone,
                online: is,
            });
        }
        if is && !was {
            // The lamp's first state; a phone that subscribes meanwhile gets it in-dialog.
            ctx.run_later(Duration::from_secs(2), move |act, ctx| {
                act.update_mwi(user, ctx)
            });
        }
    }

    /// Tells the phone registry that `user` registered from `peer`, unless the same was told
    /// less than [`REGISTRY_REFRESH`] ago. The write runs on a database thread; the handler
    /// does not wait for it.
    fn report_registration(
        &mut self,
        user: Guid,
        peer: Peer,
        user_agent: Option<String>,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        if let Some((addr, ua, at)) = self.reg.reported.get(&user) {
            if *addr == peer.addr && *ua == user_agent && now.duration_since(*at) < REGISTRY_REFRESH
            {
                return;
            }
        }
        self.reg
            .reported
            .insert(user, (peer.addr, user_agent.clone(), now));
        let id = user_agent
            .as_deref()
            .map(ivm_provision::Identity::from_user_agent)
            .unwrap_or_default();
        let sighting = ivm_store::PhoneSighting {
            vendor: id.vendor,
            model: id.model,
            firmware: id.firmware,
            address: Some(peer.addr.ip()),
        };
        let db = self.db.clone();
        let span = tracing::info_span!("phone", user = %user, peer = %peer.addr);
        let fut = async move {
            match database::run(&db, move |s| {
                s.phone_registered(user, sighting, SystemTime::now())
            })
            .await
            {
                Ok(Some(p)) => {
                    tracing::info!(mac = %p.mac, vendor = ?p.vendor, model = ?p.model, firmware = ?p.firmware, "phone registered")
                }
                Ok(None) => tracing::debug!("registration of a user without a provisioned phone"),
                Err(e) => tracing::warn!(error = %e, "phone registry not updated"),
            }
        };
        ctx.spawn(tracing::Instrument::instrument(fut, span).into_actor(self));
    }

    /// Drops lapsed bindings and subscriptions; users left without a phone go offline.
    pub(super) fn expire_bindings(&mut self, now: Instant, _ctx: &mut Context<Self>) {
        let mut gone = Vec::new();
        self.reg.bindings.retain(|user, bs| {
            bs.retain(|b| {
                let keep = b.expires_at > now;
                if !keep {
                    tracing::info!(ext = %b.ext, peer = %b.peer.addr, "phone registration expired");
                }
                keep
            });
            if bs.is_empty() {
                gone.push(*user);
            }
            !bs.is_empty()
        });
        for user in &gone {
            self.reg.reported.remove(user);
        }
        for user in gone {
            self.clients.do_send(PhonePresence {
                user,
                source: DeskPhone,
                online: false,
            });
        }
        self.reg.subs.retain(|_, subs| {
            subs.retain(|s| s.expires_at > now);
            !subs.is_empty()
        });
    }

    fn on_subscribe(&mut self, id: TxId, peer: Peer, req: Request, ctx: &mut Context<Self>) {
        let package = req.headers.event().ok().flatten().map(|e| e.package);
        if package.as_deref() != Some("message-summary") {
            self.respond(id, req.make_response(489, None));
            return;
        }
        let (user, ext) = match self.authenticate(id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let now = Instant::now();
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let expires = req
            .headers
            .expires()
            .ok()
            .flatten()
            .unwrap_or(3600)
            .min(self.cfg.max_expires);
        let subs = self.reg.subs.entry(user).or_default();
        let existing = subs.iter().position(|s| s.dialog.call_id == call_id);
        let local_tag = match existing {
            Some(i) => sipmsg::tag_of(Some(&subs[i].dialog.local)).unwrap_or_default(),
            None => sipmsg::tag_of(req.headers.get("To")).unwrap_or_else(sipmsg::token),
        };
        let mut r = req.make_response(200, Some(&local_tag));
        r.headers.push("Expires", expires.to_string());
        r.headers
            .push("Contact", format!("<{}>", self.contact(&ext)));
        let to_value = r.headers.get("To").unwrap_or_default().to_owned();
        self.respond(id, r);
        let subs = self.reg.subs.entry(user).or_default();
        if expires == 0 {
            if let Some(i) = existing {
                subs.remove(i);
            }
            tracing::info!(ext = %ext, "MWI subscription ended");
            return;
        }
        let dialog = Dialog {
            call_id: call_id.clone(),
            local: to_value,
            remote: req.headers.get("From").unwrap_or_default().to_owned(),
            target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
            cseq: existing.map(|i| subs[i].dialog.cseq).unwrap_or(0),
            peer,
        };
        let sub = Subscription {
            dialog,
            expires_at: now + Duration::from_secs(expires.into()),
        };
        match existing {
            Some(i) => subs[i] = sub,
            None => {
                if subs.len() >= 8 {
                    subs.remove(0);
                }
                subs.push(sub)
            }
        }
        tracing::info!(ext = %ext, expires_s = expires, "MWI subscription");
        self.update_mwi(user, ctx);
    }

    /// Sends the user's phones their lamp state: in-dialog NOTIFY to subscribed phones,
    /// unsolicited NOTIFY to registered phones without a subscription.
    pub(super) fn update_mwi(&mut self, user: Guid, ctx: &mut Context<Self>) {
        if !self.reg.bindings.contains_key(&user) && !self.reg.subs.contains_key(&user) {
            return;
        }
        let db = self.db.clone();
        let fut = async move { database::run(&db, move |s| Ok(counts(&s.inbox(user)?))).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let Ok((new, old)) = res else { return };
            act.send_mwi(user, new, old);
            act.flush_sip();
        }));
    }

    fn send_mwi(&mut self, user: Guid, new: u32, old: u32) {
        let now = Instant::now();
        let via = self.cfg.sip_addr;
        let realm = self.cfg.realm.clone();
        let mut sent_to = Vec::new();
        let mut requests = Vec::new();
        let ext = self
            .reg
            .bindings
            .get(&user)
            .and_then(|b| b.first())
            .map(|b| b.ext.clone());
        if let Some(subs) = self.reg.subs.get_mut(&user) {
            for s in subs.iter_mut() {
                let contact = format!("sip:ivm@{via}");
                let mut n = sipmsg::in_dialog(&mut s.dialog, Method::Notify, via, &contact);
                let left = s.expires_at.saturating_duration_since(now).as_secs();
                n.headers.push("Event", "message-summary");
                n.headers
                    .push("Subscription-State", format!("active;expires={left}"));
                n.headers
                    .push("Content-Type", "application/simple-message-summary");
                let account = sipmsg::header_user(Some(&s.dialog.local)).unwrap_or_default();
                n.body = sipmsg::message_summary(&format!("sip:{account}@{realm}"), new, old);
                sent_to.push(s.dialog.peer.addr);
                requests.push((s.dialog.peer, n));
            }
        }
        if let (Some(bs), Some(ext)) = (self.reg.bindings.get(&user), ext) {
            for b in bs.iter().filter(|b| !sent_to.contains(&b.peer.addr)) {
                let account = format!("sip:{ext}@{realm}");
                let from = format!("<{account}>;tag={}", sipmsg::token());
                let mut n = sipmsg::request(
                    Method::Notify,
                    b.contact.clone(),
                    via,
                    b.peer,
                    &from,
                    &format!("<{account}>"),
                    &sipmsg::token(),
                    1,
                    &format!("sip:ivm@{via}"),
                );
                n.headers.push("Event", "message-summary");
                n.headers.push("Subscription-State", "active");
                n.headers
                    .push("Content-Type", "application/simple-message-summary");
                n.body = sipmsg::message_summary(&account, new, old);
                requests.push((b.peer, n));
            }
        }
        tracing::info!(user = %user, new, old, phones = requests.len(), "message-waiting update");
        for (peer, n) in requests {
            self.send_request(peer, n, Pending::Notify { user });
        }
    }

    /// A NOTIFY we sent was refused with 481: the subscription is gone.
    pub(super) fn notify_failed(&mut self, user: Guid, call_id: &str) {
        if let Some(subs) = self.reg.subs.get_mut(&user) {
            subs.retain(|s| s.dialog.call_id != call_id);
        }
    }
}
