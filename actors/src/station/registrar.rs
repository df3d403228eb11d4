//! The registrar (RFC 3261 §10), phone presence, and the message-waiting lamp (RFC 3842
//! `message-summary`, subscribed or unsolicited NOTIFY). Authentication is `auth.rs`'s; the
//! dispatch of requests by method `requests.rs`'s.
//!
//! It also tells the phone registry (issue 5) about registrations: a new binding, or one
//! whose address or `User-Agent` changed, is written to the store through the database
//! actor ([`ivm_store::Store::phone_registered`]: the user's phone becomes "registered" and
//! takes the vendor, model and firmware its `User-Agent` names). Refreshes of an unchanged
//! binding are written at most every [`REGISTRY_REFRESH`]: a REGISTER costs no commit, so
//! the registrar keeps its rate.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_sip::message::{Contacts, Method, Request, Uri};
use ivm_sip::transaction::{canonical_ip, Peer, TxId};
use ivm_wire::Guid;

use super::auth::Authed;
use super::blf::Package::{Dialog as DialogPackage, Presence};
use super::ops::{LampCounts, PhoneRegistered};
use super::qualify::Qualify;
use super::requests::Pending;
use super::sipmsg::{self, Dialog};
use super::StationActor;
use crate::client::{PhonePresence, PresenceSource::DeskPhone};

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
    /// The Call-ID of its REGISTERs: a phone keeps one across refreshes and picks a new
    /// one when it restarts (RFC 3261 §10.2.4), which is how a power cut shows.
    pub call_id: String,
    /// Whether it answers OPTIONS (`qualify.rs`).
    pub qualify: Qualify,
}

/// How often an unchanged, refreshed registration updates the phone's "last seen".
pub(crate) const REGISTRY_REFRESH: Duration = Duration::from_secs(600);

/// Least time between two lamp updates for restarts of one user's phone: a phone takes
/// longer than this to boot, and a client that registers with a new Call-ID every time (a
/// benchmark, a non-conforming phone) costs one store read per this long, not per REGISTER.
pub(crate) const RESTART_LAMP_HOLDOFF: Duration = Duration::from_secs(10);

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
    /// Users reported online to the client manager (a reachable binding), so every
    /// report of one going offline matches one of it coming online.
    online: HashSet<Guid>,
    /// When a restarted phone of the user's was last sent its lamp.
    restart_lamp: HashMap<Guid, Instant>,
    /// What was last written to the phone registry per user: (source address, User-Agent,
    /// when), so unchanged refreshes skip the store.
    reported: HashMap<Guid, (SocketAddr, Option<String>, Instant)>,
}

impl Registrar {
    pub fn binding_count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    pub fn user_count(&self) -> usize {
        self.bindings.len()
    }

    /// The user's most recently registered phone, one that answers OPTIONS if any does.
    pub fn latest(&self, user: Guid) -> Option<&Binding> {
        self.bindings
            .get(&user)
            .and_then(|b| b.iter().max_by_key(|b| (b.qualify.reachable, b.expires_at)))
    }

    /// Every live binding, to qualify.
    pub fn all_mut(&mut self) -> impl Iterator<Item = (Guid, &mut Binding)> {
        self.bindings
            .iter_mut()
            .flat_map(|(u, bs)| bs.iter_mut().map(move |b| (*u, b)))
    }

    /// The user's binding for `contact`.
    pub fn binding_mut(&mut self, user: Guid, contact: &Uri) -> Option<&mut Binding> {
        self.bindings
            .get_mut(&user)?
            .iter_mut()
            .find(|b| b.contact == *contact)
    }

    /// Whether one of the user's phones is registered and reachable.
    fn reachable(&self, user: Guid) -> bool {
        self.bindings
            .get(&user)
            .is_some_and(|bs| bs.iter().any(|b| b.qualify.reachable))
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

impl StationActor {
    /// REGISTER (RFC 3261 §10.3): authenticated, for the account's own extension only.
    pub(super) fn on_register(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let (user, ext) = match self.authenticate(now, id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let span = tracing::info_span!("phone", ext = %ext, peer = %peer.addr);
        let _e = span.enter();
        if sipmsg::header_user(req.headers.get("To")).as_deref() != Some(ext.as_str()) {
            tracing::info!("REGISTER for another account refused");
            self.respond(now, id, req.make_response(403, None));
            return;
        }
        let header_expires = req.headers.expires().ok().flatten();
        let contacts = match req.headers.contacts() {
            Ok(c) => c,
            Err(_) => {
                self.respond(now, id, req.make_response(400, None));
                return;
            }
        };
        let was = self.reg.is_registered(user);
        // A binding that is new, or known under another Call-ID: the phone (re)started and
        // lost its lamp and its subscriptions.
        let mut restarted = false;
        let user_agent = req.headers.user_agent().map(|ua| {
            ua.chars()
                .take(128)
                .filter(|c| !c.is_control())
                .collect::<String>()
        });
        match contacts {
            Contacts::Star => {
                if header_expires != Some(0) {
                    self.respond(now, id, req.make_response(400, None));
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
                        self.respond(now, id, r);
                        return;
                    }
                }
                // Over TCP the phone must refresh within the connection's idle timeout.
                let max_expires = if peer.transport.is_reliable() {
                    self.cfg.max_expires.min(self.cfg.tcp_max_expires)
                } else {
                    self.cfg.max_expires
                };
                let call_id = req.headers.call_id().unwrap_or_default().to_owned();
                let entry = self.reg.bindings.entry(user).or_default();
                for c in list {
                    let e = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(max_expires)
                        .min(max_expires);
                    let known = entry
                        .iter()
                        .any(|b| b.contact == c.uri && b.call_id == call_id);
                    entry.retain(|b| b.contact != c.uri);
                    if e > 0 {
                        restarted |= !known;
                        if entry.len() >= self.cfg.max_bindings {
                            entry.remove(0);
                        }
                        entry.push(Binding {
                            contact: c.uri,
                            peer,
                            expires_at: now + Duration::from_secs(e.into()),
                            ext: ext.clone(),
                            user_agent: user_agent.clone(),
                            call_id: call_id.clone(),
                            qualify: Qualify::new(now, self.cfg.qualify_interval),
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
        self.respond(now, id, r);
        let is = self.reg.is_registered(user);
        if is {
            self.report_registration(user, peer, user_agent, now, ctx);
        } else {
            self.reg.reported.remove(&user);
        }
        self.sync_presence(user);
        let restarted = restarted
            && was
            && self
                .reg
                .restart_lamp
                .get(&user)
                .is_none_or(|at| now.duration_since(*at) >= RESTART_LAMP_HOLDOFF);
        if restarted {
            self.reg.restart_lamp.insert(user, now);
        }
        if !is {
            self.reg.restart_lamp.remove(&user);
        }
        if is && (restarted || !was) {
            // The lamp's state for a phone that just came up (first registration, back after
            // expiry, or restarted after a power cut with its binding still live). Its old
            // subscriptions from this address died with it: NOTIFYs in them would get 481
            // and leave the lamp wrong, so they go, and the phone gets an unsolicited NOTIFY
            // unless it subscribes again meanwhile (then in-dialog).
            if restarted {
                if let Some(subs) = self.reg.subs.get_mut(&user) {
                    subs.retain(|s| {
                        canonical_ip(s.dialog.peer.addr.ip()) != canonical_ip(peer.addr.ip())
                    });
                }
            }
            // Only this phone's lamp: the user's other phones have theirs already. (A
            // storm of restarts with fresh Call-IDs otherwise sends a NOTIFY to every
            // binding of the user per REGISTER, and unanswered ones fill the transaction
            // table for 32 s; bench-sip (d), issue 18.)
            let only = peer.addr;
            ctx.run_later(Duration::from_secs(2), move |act, ctx| {
                act.send_lamps(user, Some(only), ctx)
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
            match db.call(PhoneRegistered { user, sighting }).await {
                Ok(Some(p)) => {
                    tracing::info!(mac = %p.mac, vendor = ?p.vendor, model = ?p.model, firmware = ?p.firmware, "phone registered");
                    Some(p.vendor)
                }
                Ok(None) => {
                    tracing::debug!("registration of a user without a provisioned phone");
                    Some(None)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "phone registry not updated");
                    None
                }
            }
        };
        // The brand picks the auto-answer headers of intercom calls (`auto_answer.rs`).
        ctx.spawn(
            tracing::Instrument::instrument(fut, span)
                .into_actor(self)
                .map(move |vendor, act, _| {
                    if let Some(v) = vendor {
                        act.intercom.set_vendor(user, v);
                    }
                }),
        );
    }

    /// Drops lapsed bindings and subscriptions; users left without a phone go offline.
    pub(super) fn expire_bindings(&mut self, now: Instant) {
        let mut gone = Vec::new();
        let mut lost = Vec::new();
        self.reg.bindings.retain(|user, bs| {
            let before = bs.len();
            bs.retain(|b| {
                let keep = b.expires_at > now;
                if !keep {
                    tracing::info!(ext = %b.ext, peer = %b.peer.addr, "phone registration expired");
                }
                keep
            });
            if bs.len() != before {
                lost.push(*user);
            }
            if bs.is_empty() {
                gone.push(*user);
            }
            !bs.is_empty()
        });
        for user in gone {
            self.reg.reported.remove(&user);
            self.reg.restart_lamp.remove(&user);
        }
        // Offline when the last phone lapsed, or the last one that answered OPTIONS.
        for user in lost {
            self.sync_presence(user);
        }
        self.reg.subs.retain(|_, subs| {
            subs.retain(|s| s.expires_at > now);
            !subs.is_empty()
        });
    }

    /// Tells the client manager when the user's desk-phone presence changed: online while
    /// one of their phones is registered and answers OPTIONS.
    pub(super) fn sync_presence(&mut self, user: Guid) {
        let online = self.reg.reachable(user);
        let was = if online {
            !self.reg.online.insert(user)
        } else {
            self.reg.online.remove(&user)
        };
        if online != was {
            self.clients.do_send(PhonePresence {
                user,
                source: DeskPhone,
                online,
            });
        }
    }

    /// SUBSCRIBE to `message-summary` (RFC 3842): the lamp's state now, and on every change.
    pub(super) fn on_subscribe(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        ctx: &mut Context<Self>,
    ) {
        let package = req.headers.event().ok().flatten().map(|e| e.package);
        match package.as_deref() {
            Some("message-summary") => {}
            Some("dialog") => return self.on_blf_subscribe(now, id, peer, req, DialogPackage, ctx),
            Some("presence") => return self.on_blf_subscribe(now, id, peer, req, Presence, ctx),
            _ => {
                let mut r = req.make_response(489, None);
                r.headers.push("Allow-Events", sipmsg::ALLOW_EVENTS);
                self.respond(now, id, r);
                return;
            }
        }
        let (user, ext) = match self.authenticate(now, id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
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
        r.headers.push(
            "Contact",
            format!("<{}>", self.contact(&ext, peer.transport)),
        );
        let to_value = r.headers.get("To").unwrap_or_default().to_owned();
        self.respond(now, id, r);
        let subs = self.reg.subs.entry(user).or_default();
        let dialog = Dialog {
            call_id: call_id.clone(),
            local: to_value,
            remote: req.headers.get("From").unwrap_or_default().to_owned(),
            target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
            cseq: existing.map(|i| subs[i].dialog.cseq).unwrap_or(0),
            peer,
        };
        if expires == 0 {
            // Unsubscribe (or a one-time fetch): one last NOTIFY with the state and
            // `Subscription-State: terminated` (RFC 6665 §4.2.1.4, §4.4.3).
            if let Some(i) = existing {
                subs.remove(i);
            }
            if subs.is_empty() {
                self.reg.subs.remove(&user);
            }
            tracing::info!(ext = %ext, "MWI subscription ended");
            self.final_mwi(user, dialog, ctx);
            return;
        }
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
        self.send_lamps(user, None, ctx);
    }

    /// [`Self::update_mwi`] for the user's phones at `only` (every phone when `None`).
    fn send_lamps(&mut self, user: Guid, only: Option<SocketAddr>, ctx: &mut Context<Self>) {
        if !self.reg.bindings.contains_key(&user) && !self.reg.subs.contains_key(&user) {
            return;
        }
        let db = self.db.clone();
        let fut = async move { db.call(LampCounts(user)).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let Ok((new, old)) = res else { return };
            act.send_mwi(Instant::now(), user, new, old, only);
            act.flush_sip();
        }));
    }

    /// The last NOTIFY of a subscription that ended: the lamp's state now, terminated.
    fn final_mwi(&mut self, user: Guid, mut dialog: Dialog, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let fut = async move { db.call(LampCounts(user)).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let Ok((new, old)) = res else { return };
            let via = act.cfg.sip_addr;
            let contact = act.contact("ivm", dialog.peer.transport);
            let mut n = sipmsg::in_dialog(&mut dialog, Method::Notify, via, &contact);
            n.headers.push("Event", "message-summary");
            n.headers
                .push("Subscription-State", "terminated;reason=timeout");
            n.headers
                .push("Content-Type", "application/simple-message-summary");
            let account = sipmsg::header_user(Some(&dialog.local)).unwrap_or_default();
            let realm = &act.cfg.realm;
            n.body = sipmsg::message_summary(&format!("sip:{account}@{realm}"), new, old);
            act.send_request(Instant::now(), dialog.peer, n, Pending::Other);
            act.flush_sip();
        }));
    }

    fn send_mwi(&mut self, now: Instant, user: Guid, new: u32, old: u32, only: Option<SocketAddr>) {
        let wanted = |a: SocketAddr| only.is_none_or(|o| o == a);
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
            for s in subs.iter_mut().filter(|s| wanted(s.dialog.peer.addr)) {
                let contact = sipmsg::contact_uri_for("ivm", via, s.dialog.peer.transport);
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
            for b in bs
                .iter()
                .filter(|b| wanted(b.peer.addr) && !sent_to.contains(&b.peer.addr))
            {
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
                    &sipmsg::contact_uri_for("ivm", via, b.peer.transport),
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
            self.send_notify(now, peer, n, user);
        }
    }

    /// A NOTIFY we sent was refused with 481: the subscription is gone.
    pub(super) fn notify_failed(&mut self, user: Guid, call_id: &str) {
        self.blf_notify_failed(user, call_id);
        if let Some(subs) = self.reg.subs.get_mut(&user) {
            subs.retain(|s| s.dialog.call_id != call_id);
        }
    }
}
