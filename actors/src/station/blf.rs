//! The busy lamp field: phones watching colleagues' extensions with SUBSCRIBE/NOTIFY, the
//! `dialog` event package (RFC 4235: idle, ringing, in a call, from the line core's
//! [`Exchange::activity`](ivm_line::Exchange::activity)) and the `presence` package
//! (RFC 3856, a PIDF document: the web client's status, which the client manager feeds as
//! [`PresenceChanged`]; `open` for available and away, `closed` for busy and offline, the
//! status word as the note). The subscription dialog handling
//! (tags, Contact, Expires, the terminated NOTIFY) is the same as the registrar's MWI; this
//! file keeps what differs: the watched user comes from the Request-URI, documents carry a
//! version per subscription, and NOTIFYs follow the lines rather than the mailbox.
//!
//! Who may watch whom: any authenticated user of this box may watch any extension of this
//! box (the web client's directory shows everyone's presence to everyone too). What a
//! watcher sees of a call: its state and direction, and the other party's extension when
//! it is a colleague on this box (already in the directory); nothing for the box's own
//! services (`*7`, `*97`, a talk), which show as in a call with no one.
//!
//! Bounds: [`MAX_WATCHES_PER_USER`] per subscribing user (a phone with expansion modules has
//! about that many keys), [`MAX_WATCHES`] on the box; past them a new subscription gets
//! `403 Too Many Subscriptions` (the phone's bound) or `503 Too Many Subscriptions` (the
//! box's), and an existing one can still refresh or end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ivm_line::{Activity, Phase};
use ivm_sip::dialog_info::{dialog_info, pidf, DialogEntry, DialogState};
use ivm_sip::message::{Method, Request};
use ivm_sip::transaction::{Peer, TxId};
use ivm_wire::{Guid, Status};

use super::auth::Authed;
use super::ops::PartyAt;
use super::sipmsg::{self, Dialog};
use super::StationActor;
use crate::client::{GetPresence, PresenceChanged};

/// Most subscriptions one user's phones hold.
pub(crate) const MAX_WATCHES_PER_USER: usize = 128;
/// Most subscriptions on the box.
pub(crate) const MAX_WATCHES: usize = 4096;

/// The event package a watch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Package {
    /// RFC 4235: the lines.
    Dialog,
    /// RFC 3856: the web client's presence.
    Presence,
}

impl Package {
    fn event(self) -> &'static str {
        match self {
            Package::Dialog => "dialog",
            Package::Presence => "presence",
        }
    }
}

/// One phone's subscription to a colleague's lines or presence.
#[derive(Debug, Clone)]
struct Watch {
    package: Package,
    dialog: Dialog,
    expires_at: Instant,
    /// Who subscribed (their bound counts against them).
    watcher: Guid,
    /// The next document's `version` (RFC 4235 §4.1: from 0, +1 per NOTIFY).
    version: u32,
}

/// Watches per watched user, and what their watchers were last shown.
#[derive(Default)]
pub(crate) struct Blf {
    watches: HashMap<Guid, Vec<Watch>>,
    /// The watched user's lines at the last NOTIFY, and their extension, so a line that
    /// ended is sent once as `terminated`.
    shown: HashMap<Guid, (String, Vec<Activity>)>,
    /// Users' presence as last fed by the client manager, or asked for at a subscription
    /// (the feed wins: it is newer). Kept for every user fed, watched or not, so a change
    /// that crosses a subscription's lookup is not lost; at most one entry per user.
    status: HashMap<Guid, Status>,
}

impl Blf {
    fn count(&self) -> usize {
        self.watches.values().map(Vec::len).sum()
    }

    fn count_of(&self, watcher: Guid) -> usize {
        self.watches
            .values()
            .flatten()
            .filter(|w| w.watcher == watcher)
            .count()
    }
}

/// The dialog elements for `now` (the user's open lines) and the lines shown before and
/// gone since (terminated), with the remote identity as the module docs say.
pub(crate) fn entries(realm: &str, now: &[Activity], before: &[Activity]) -> Vec<DialogEntry> {
    let entry = |a: &Activity, state| DialogEntry {
        id: format!("ivm-{}", a.line),
        state,
        initiator: a.direction == ivm_line::Direction::Initiator,
        remote: a
            .peer
            .as_ref()
            .filter(|p| !p.ext.is_empty())
            .map(|p| format!("sip:{}@{realm}", p.ext)),
    };
    let mut v: Vec<DialogEntry> = before
        .iter()
        .filter(|b| !now.iter().any(|a| a.line == b.line))
        .map(|b| entry(b, DialogState::Terminated))
        .collect();
    v.extend(now.iter().map(|a| {
        entry(
            a,
            match a.phase {
                Phase::Trying => DialogState::Trying,
                Phase::Early => DialogState::Early,
                Phase::Confirmed => DialogState::Confirmed,
            },
        )
    }));
    v
}

/// The PIDF document for `status`: `open` when a call is welcome (available, and away: the
/// phone still rings), `closed` for busy and offline; the status word as the note, which
/// phones that show notes print under the key.
pub(crate) fn presence_doc(entity: &str, status: Status) -> String {
    let open = matches!(status, Status::Available | Status::Away);
    pidf(entity, open, status.as_str())
}

impl StationActor {
    /// SUBSCRIBE `Event: dialog` or `presence` to an extension of this box: authenticated,
    /// the watched user looked up (and their presence, for `presence`), then 200 and the
    /// state at once (RFC 6665 §4.2.1).
    pub(super) fn on_blf_subscribe(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        package: Package,
        ctx: &mut Context<Self>,
    ) {
        let (watcher, ext) = match self.authenticate(now, id, peer, &req, ctx) {
            Authed::Yes(u, e) => (u, e),
            Authed::Handled => return,
        };
        let target = req.uri.as_sip().and_then(|u| u.user_unescaped());
        let Some(target) = target.filter(|t| !t.is_empty() && t.len() <= 32) else {
            self.respond(now, id, req.make_response(404, None));
            return;
        };
        let db = self.db.clone();
        let clients = self.clients.clone();
        let span = tracing::info_span!("phone", ext = %ext, peer = %peer.addr, watches = %target);
        let fut = async move {
            let party = db.call(PartyAt(target)).await?;
            let status = match &party {
                Some(p) if package == Package::Presence => clients
                    .send(GetPresence(vec![p.party.user]))
                    .await
                    .ok()
                    .and_then(|v| v.first().copied()),
                _ => None,
            };
            Ok::<_, crate::database::DbError>(party.map(|p| (p.party, status)))
        };
        ctx.spawn(
            tracing::Instrument::instrument(fut, span.clone())
                .into_actor(self)
                .map(move |res, act, _| {
                    let _e = span.enter();
                    let now = Instant::now();
                    match res {
                        Ok(Some((party, status))) => {
                            if let Some(st) = status {
                                act.blf.status.entry(party.user).or_insert(st);
                            }
                            act.watch(now, id, peer, req, watcher, party, package)
                        }
                        Ok(None) => {
                            tracing::info!("subscription to an unknown extension");
                            act.respond(now, id, req.make_response(404, None));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "extension lookup failed");
                            act.respond(now, id, req.make_response(500, None));
                        }
                    }
                    act.flush_sip();
                }),
        );
    }

    /// A new subscription, a refresh, or an unsubscribe (`Expires: 0`) of `watcher`'s to
    /// `party`'s lines.
    #[allow(clippy::too_many_arguments)]
    fn watch(
        &mut self,
        now: Instant,
        id: TxId,
        peer: Peer,
        req: Request,
        watcher: Guid,
        party: ivm_line::Party,
        package: Package,
    ) {
        let user = party.user;
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        let expires = req
            .headers
            .expires()
            .ok()
            .flatten()
            .unwrap_or(3600)
            .min(self.cfg.max_expires);
        let existing = self.blf.watches.get(&user).and_then(|ws| {
            ws.iter()
                .position(|w| w.dialog.call_id == call_id && w.watcher == watcher)
        });
        if existing.is_none() && expires > 0 {
            // The phone's own bound: 403, as retrying will not help; the box's: 503 without
            // Retry-After, which RFC 3263 phones would take as the whole box being down
            // (their registrations too).
            let refused = if self.blf.count_of(watcher) >= MAX_WATCHES_PER_USER {
                Some(403)
            } else if self.blf.count() >= MAX_WATCHES {
                Some(503)
            } else {
                None
            };
            if let Some(status) = refused {
                tracing::info!(status, "too many subscriptions");
                let mut r = req.make_response(status, None);
                r.reason = "Too Many Subscriptions".into();
                self.respond(now, id, r);
                return;
            }
        }
        let old = existing.and_then(|i| self.blf.watches.get(&user).map(|ws| ws[i].clone()));
        let local_tag = match &old {
            Some(w) => sipmsg::tag_of(Some(&w.dialog.local)).unwrap_or_default(),
            None => sipmsg::tag_of(req.headers.get("To")).unwrap_or_else(sipmsg::token),
        };
        let mut r = req.make_response(200, Some(&local_tag));
        r.headers.push("Expires", expires.to_string());
        r.headers.push(
            "Contact",
            format!("<{}>", self.contact(&party.ext, peer.transport)),
        );
        let to_value = r.headers.get("To").unwrap_or_default().to_owned();
        self.respond(now, id, r);
        let mut w = Watch {
            package,
            dialog: Dialog {
                call_id,
                local: to_value,
                remote: req.headers.get("From").unwrap_or_default().to_owned(),
                target: sipmsg::contact_uri(&req.headers).unwrap_or_else(|| req.uri.clone()),
                cseq: old.as_ref().map(|w| w.dialog.cseq).unwrap_or(0),
                peer,
            },
            expires_at: now + Duration::from_secs(expires.into()),
            watcher,
            version: old.as_ref().map(|w| w.version).unwrap_or(0),
        };
        let ws = self.blf.watches.entry(user).or_default();
        if let Some(i) = existing {
            ws.remove(i);
        }
        let lines = self.exchange.activity(user);
        let body = self.doc(user, &party.ext, &mut w, &lines, &[]);
        if expires == 0 {
            // Unsubscribe (or a fetch): the state now, and the end (RFC 6665 §4.4.3).
            tracing::info!(event = package.event(), "watch ended");
            self.blf_notify(now, user, w, "terminated;reason=timeout", body);
        } else {
            tracing::info!(event = package.event(), expires_s = expires, "watch");
            let state = format!("active;expires={expires}");
            self.blf
                .shown
                .entry(user)
                .or_insert_with(|| (party.ext.clone(), lines));
            self.blf_notify(now, user, w.clone(), &state, body);
            self.blf.watches.entry(user).or_default().push(w);
        }
        if self.blf.watches.get(&user).is_some_and(Vec::is_empty) {
            self.blf.watches.remove(&user);
            self.blf.shown.remove(&user);
        }
    }

    /// The document for one watch: the lines (taking the watch's next version), or the
    /// presence.
    fn doc(
        &self,
        user: Guid,
        ext: &str,
        w: &mut Watch,
        now: &[Activity],
        before: &[Activity],
    ) -> Vec<u8> {
        match w.package {
            Package::Dialog => self.dialog_doc(ext, w, now, before),
            Package::Presence => {
                let status = self.blf.status.get(&user).copied().unwrap_or_default();
                presence_doc(&format!("sip:{ext}@{}", self.cfg.realm), status).into_bytes()
            }
        }
    }

    /// The RFC 4235 document for one watch, taking its version.
    fn dialog_doc(
        &self,
        ext: &str,
        w: &mut Watch,
        now: &[Activity],
        before: &[Activity],
    ) -> Vec<u8> {
        let entity = format!("sip:{ext}@{}", self.cfg.realm);
        let doc = dialog_info(
            &entity,
            w.version,
            true,
            &entries(&self.cfg.realm, now, before),
        );
        w.version = w.version.wrapping_add(1);
        doc.into_bytes()
    }

    /// Sends one NOTIFY in `w`'s dialog.
    fn blf_notify(&mut self, now: Instant, user: Guid, mut w: Watch, state: &str, body: Vec<u8>) {
        let via = self.cfg.sip_addr;
        let contact = self.contact("ivm", w.dialog.peer.transport);
        let mut n = sipmsg::in_dialog(&mut w.dialog, Method::Notify, via, &contact);
        n.headers.push("Event", w.package.event());
        n.headers.push("Subscription-State", state);
        n.headers.push(
            "Content-Type",
            match w.package {
                Package::Dialog => "application/dialog-info+xml",
                Package::Presence => "application/pidf+xml",
            },
        );
        n.body = body;
        self.send_notify(now, w.dialog.peer, n, user);
        // The CSeq went up: keep it for the next NOTIFY in this dialog.
        if let Some(ws) = self.blf.watches.get_mut(&user) {
            if let Some(k) = ws.iter_mut().find(|k| k.dialog.call_id == w.dialog.call_id) {
                k.dialog.cseq = w.dialog.cseq;
            }
        }
    }

    /// After the exchange ran: the watchers of every user whose lines changed get the new
    /// state (the lines now, and those that ended as `terminated`).
    pub(super) fn blf_sync(&mut self, now: Instant) {
        for user in self.exchange.take_changed() {
            if !self.blf.watches.contains_key(&user) {
                continue;
            }
            let lines = self.exchange.activity(user);
            let Some((ext, before)) = self.blf.shown.get(&user).cloned() else {
                continue;
            };
            if before == lines {
                continue;
            }
            self.blf.shown.insert(user, (ext.clone(), lines.clone()));
            let ws: Vec<Watch> = self
                .blf
                .watches
                .get(&user)
                .into_iter()
                .flatten()
                .filter(|w| w.package == Package::Dialog)
                .cloned()
                .collect();
            tracing::debug!(user = %user, watchers = ws.len(), "busy lamp update");
            for mut w in ws {
                let left = w.expires_at.saturating_duration_since(now).as_secs();
                let body = self.dialog_doc(&ext, &mut w, &lines, &before);
                if let Some(k) = self
                    .blf
                    .watches
                    .get_mut(&user)
                    .and_then(|ws| ws.iter_mut().find(|k| k.dialog.call_id == w.dialog.call_id))
                {
                    k.version = w.version;
                }
                self.blf_notify(now, user, w, &format!("active;expires={left}"), body);
            }
        }
    }

    /// Ends lapsed subscriptions with a last NOTIFY (RFC 6665 §4.2.2: `reason=timeout`).
    pub(super) fn expire_watches(&mut self, now: Instant) {
        let mut lapsed = Vec::new();
        self.blf.watches.retain(|user, ws| {
            ws.retain(|w| {
                let keep = w.expires_at > now;
                if !keep {
                    lapsed.push((*user, w.clone()));
                }
                keep
            });
            !ws.is_empty()
        });
        for (user, mut w) in lapsed {
            let Some((ext, lines)) = self.blf.shown.get(&user).cloned() else {
                continue;
            };
            let body = self.doc(user, &ext, &mut w, &lines, &[]);
            self.blf_notify(now, user, w, "terminated;reason=timeout", body);
        }
        let watches = &self.blf.watches;
        self.blf.shown.retain(|u, _| watches.contains_key(u));
    }

    /// The client manager announced `user`'s presence: their presence watchers get it when
    /// it changed.
    pub(super) fn presence_changed(&mut self, now: Instant, msg: PresenceChanged) {
        let user = msg.user;
        if self.blf.status.insert(user, msg.status) == Some(msg.status)
            || !self.blf.watches.contains_key(&user)
        {
            return;
        }
        let Some((ext, _)) = self.blf.shown.get(&user).cloned() else {
            return;
        };
        let ws: Vec<Watch> = self
            .blf
            .watches
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|w| w.package == Package::Presence)
            .cloned()
            .collect();
        tracing::debug!(user = %user, status = msg.status.as_str(), watchers = ws.len(), "presence update");
        for mut w in ws {
            let left = w.expires_at.saturating_duration_since(now).as_secs();
            let body = self.doc(user, &ext, &mut w, &[], &[]);
            self.blf_notify(now, user, w, &format!("active;expires={left}"), body);
        }
    }

    /// A NOTIFY we sent in a dialog subscription got 481: the phone forgot it.
    pub(super) fn blf_notify_failed(&mut self, user: Guid, call_id: &str) {
        if let Some(ws) = self.blf.watches.get_mut(&user) {
            ws.retain(|w| w.dialog.call_id != call_id);
            if ws.is_empty() {
                self.blf.watches.remove(&user);
                self.blf.shown.remove(&user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_line::{Direction, Party};

    fn act(line: u64, phase: Phase, direction: Direction, peer: Option<&str>) -> Activity {
        Activity {
            line,
            phase,
            direction,
            peer: peer.map(|e| Party {
                user: Guid::from_u128(1),
                ext: e.into(),
            }),
        }
    }

    #[test]
    fn phases_map_to_rfc4235_states_and_ended_lines_show_terminated_once() {
        let now = [
            act(3, Phase::Early, Direction::Recipient, Some("201")),
            act(4, Phase::Confirmed, Direction::Initiator, None),
            act(5, Phase::Trying, Direction::Initiator, Some("")),
        ];
        let before = [
            act(1, Phase::Confirmed, Direction::Initiator, Some("203")),
            now[0].clone(),
        ];
        let e = entries("ivm", &now, &before);
        let got: Vec<(&str, DialogState, bool, Option<&str>)> = e
            .iter()
            .map(|d| (d.id.as_str(), d.state, d.initiator, d.remote.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("ivm-1", DialogState::Terminated, true, Some("sip:203@ivm")),
                ("ivm-3", DialogState::Early, false, Some("sip:201@ivm")),
                ("ivm-4", DialogState::Confirmed, true, None),
                ("ivm-5", DialogState::Trying, true, None),
            ]
        );
        assert!(entries("ivm", &[], &[]).is_empty(), "idle: no dialog");
    }

    #[test]
    fn presence_maps_to_open_or_closed_with_the_status_as_note() {
        for (status, basic) in [
            (Status::Available, "open"),
            (Status::Away, "open"),
            (Status::Busy, "closed"),
            (Status::Offline, "closed"),
        ] {
            let doc = presence_doc("sip:202@ivm", status);
            assert!(doc.contains(&format!("<basic>{basic}</basic>")), "{doc}");
            assert!(
                doc.contains(&format!("<note>{}</note>", status.as_str())),
                "{doc}"
            );
            assert!(doc.contains("entity=\"pres:202@ivm\""), "{doc}");
        }
    }
}
