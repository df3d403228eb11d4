// The IVM web client: login, contacts with live presence, compose (record, review, attach,
// send; or talk live, push-to-talk), live talks heard with a banner, inbox with playback, sent
// items with live receipts, and the admin page for admins.
// Protocol code lives in protocol.js; this file is views and state only.

import { Api, ApiError, Session, ReceiptQueue, STATUSES, wsUrl, newIdempotencyKey, messageKey } from './protocol.js';
import { h, fill, icon, fmtDuration, fmtTime, fmtSize, initials, confirmDialog } from './dom.js';
import { Player, drawWaveform, waveColors, chime } from './player.js';
import { Pages, VirtualList } from './vlist.js';
import { Talk, LiveTalk, canTalk } from './talk.js';

const STORE_KEY = 'ivm.session';
const root = document.getElementById('app');
const toasts = document.getElementById('toasts');

const S = {
  api: new Api(),
  session: null,
  me: null,
  contacts: new Map(), // guid -> contact
  presence: new Map(), // guid -> status (contacts and anyone else we heard of)
  selected: new Set(), // recipient guids
  inbox: null, // Pages: what is loaded of the inbox (newest first), see vlist.js
  sent: null,
  counts: { inbox: 0, unplayed: 0, sent: 0 }, // from the box, adjusted as things happen
  receipts: null, // ReceiptQueue of the session
  vlist: null, // the VirtualList on screen
  view: 'inbox',
  conn: 'connecting',
  compose: null, // newCompose(), set below
  autoplay: localStorage.getItem('ivm.autoplay') === '1',
  silenceMs: Number(localStorage.getItem('ivm.silence') ?? '0'),
  canTalk: false, // WebCodecs Opus encode and decode (checked once at start)
  names: new Map(), // guid -> display name of people who are not contacts (live talks' speakers)
  live: new Map(), // stream -> LiveTalk heard here, until its talk_end (even once stopped)
  els: {},
};

S.compose = newCompose();

const player = new Player((key) => {
  if (key === 'draft') throw new Error('no draft');
  return S.api.audio(key);
});

// ---------------------------------------------------------------- toasts

function toast(text, kind = 'info') {
  const t = h('div', { class: `toast ${kind}` }, text);
  toasts.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 3500);
}

function errorText(e) {
  if (e instanceof ApiError) return e.message;
  if (e && e.name === 'NotAllowedError') return 'The microphone is blocked: allow it in the browser to record.';
  if (e && e.name === 'NotFoundError') return 'No microphone was found.';
  return (e && e.message) || String(e);
}

// ---------------------------------------------------------------- login

function saveSession(r) {
  localStorage.setItem(STORE_KEY, JSON.stringify({ token: r.token, expires_at: r.expires_at }));
}

function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    if (s && s.token && (!s.expires_at || s.expires_at * 1000 > Date.now())) return s;
  } catch { /* corrupt */ }
  return null;
}

function showLogin(message = '') {
  document.title = 'IVM: log in';
  const err = h('p', { class: 'error', id: 'login-error', role: 'alert' }, message);
  const name = h('input', { id: 'login-name', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { class: 'btn primary wide', type: 'submit' }, 'Log in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('div', { class: 'brand big' }, h('img', { src: '/icon.svg', alt: '', width: 48, height: 48 }), h('h1', { id: 'login-title' }, 'IVM')),
    h('p', { class: 'muted' }, 'Voice messages for the office'),
    h('label', { for: 'login-name' }, 'User name'), name,
    h('label', { for: 'login-password' }, 'Password'), pass,
    err, btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    err.textContent = '';
    try {
      const r = await S.api.login(name.value.trim(), pass.value);
      saveSession(r);
      if (r.must_change_password || r.user.must_change_password) showForcedPasswordChange(r.user);
      else start(r.user);
    } catch (e) {
      btn.disabled = false;
      if (e.status === 401 && e.code === 'one_time_password_expired') err.textContent = errorText(e);
      else if (e.status === 401) err.textContent = 'Wrong user name or password.';
      else if (e.status === 429) err.textContent = `Too many failed attempts. Try again in ${e.retryAfter || 60} seconds.`;
      else err.textContent = errorText(e);
      pass.select();
    }
  });
  fill(root, h('main', { class: 'login-page' }, form));
  name.focus();
}

async function logout() {
  stopRecording(true);
  if (S.session) S.session.stop();
  S.session = null;
  try { await S.api.logout(); } catch { /* token already gone */ }
  endSession();
  showLogin();
}

function endSession() {
  localStorage.removeItem(STORE_KEY);
  stopTalking();
  for (const lt of S.live.values()) lt.stop();
  S.live.clear();
  S.conn = 'connecting';
  player.clear();
  S.api.token = null;
  S.me = null;
  if (S.receipts) S.receipts.stop();
  S.receipts = null;
  if (S.vlist) S.vlist.destroy();
  S.vlist = null;
  S.inbox = null;
  S.sent = null;
  S.counts = { inbox: 0, unplayed: 0, sent: 0 };
  S.contacts.clear();
  S.selected.clear();
  S.compose = newCompose();
}

/** An empty compose area; `mode` null = the default for the chosen recipients. */
function newCompose() {
  return { phase: 'idle', rec: null, draft: null, attachments: [], sending: false, elapsed: 0, level: 0, error: '', mode: null, talk: null, talkInfo: null, talkResult: '' };
}

S.api.onUnauthorized = () => {
  if (!S.me) return;
  if (S.session) S.session.stop();
  S.session = null;
  endSession();
  showLogin('Your session has ended. Please log in again.');
};

// ---------------------------------------------------------------- password

/**
 * The "Choose a new password" form (current, new, repeat). `onDone(me)` runs once the box has
 * taken the new password; `onCancel`, when given, adds a Cancel button.
 */
function passwordForm({ title, intro, onDone, onCancel = null }) {
  const err = h('p', { class: 'error', id: 'pw-error', role: 'alert' });
  const field = (id, label, autocomplete) => {
    const input = h('input', { id, name: id, type: 'password', autocomplete, required: true });
    return [h('label', { for: id }, label), input];
  };
  const [curLabel, cur] = field('pw-current', 'Current password', 'current-password');
  const [newLabel, next] = field('pw-new', 'New password', 'new-password');
  const [repLabel, again] = field('pw-repeat', 'Repeat the new password', 'new-password');
  const btn = h('button', { class: onCancel ? 'btn primary' : 'btn primary wide', id: 'pw-submit', type: 'submit' }, 'Set new password');
  const form = h('form', { class: 'login password-form', id: 'password-form', 'aria-labelledby': 'pw-title' },
    h('h1', { id: 'pw-title' }, title),
    intro ? h('p', { class: 'muted', id: 'pw-intro' }, intro) : null,
    curLabel, cur, newLabel, next, repLabel, again, err,
    onCancel ? h('div', { class: 'row end' },
      h('button', { class: 'btn', id: 'pw-cancel', type: 'button', onclick: onCancel }, 'Cancel'), btn) : btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    if (next.value.length < 8) { err.textContent = 'The new password needs at least 8 characters.'; next.focus(); return; }
    if (next.value !== again.value) { err.textContent = 'The two new passwords differ.'; again.select(); return; }
    if (next.value === cur.value) { err.textContent = 'Choose a password different from the current one.'; next.select(); return; }
    btn.disabled = true;
    try {
      await S.api.changePassword(cur.value, next.value);
      onDone(await S.api.me());
    } catch (e) {
      btn.disabled = false;
      if (e.code === 'wrong_password') { err.textContent = 'The current password is wrong.'; cur.select(); }
      else if (e.status === 429) err.textContent = `Too many wrong passwords. Try again in ${e.retryAfter || 60} seconds.`;
      else err.textContent = errorText(e);
    }
  });
  return { form, first: cur };
}

/** Before anything else: the password in use was set for this user and works once. */
function showForcedPasswordChange(me) {
  if (S.session) S.session.stop();
  S.session = null;
  S.me = null;
  document.title = 'IVM: choose a new password';
  const { form, first } = passwordForm({
    title: 'Choose a new password',
    intro: `${me.display_name || me.name}, the password you used was set for you and works once. Choose your own to continue.`,
    onDone: (fresh) => { toast('Password changed.'); start(fresh); },
  });
  form.classList.add('card');
  fill(root, h('main', { class: 'login-page' }, form,
    h('p', { class: 'center' }, h('button', { class: 'btn subtle', id: 'pw-logout', type: 'button', onclick: logout }, 'Log out'))));
  first.focus();
}

/** "Change password" from the main view, in a dialog. */
function openPasswordDialog() {
  const d = h('dialog', { class: 'password-dialog', id: 'password-dialog', 'aria-labelledby': 'pw-title' });
  const { form, first } = passwordForm({
    title: 'Change password',
    intro: 'Your other sessions (other browsers, the ivm command line) will end.',
    onDone: (fresh) => { d.close(); S.me = fresh; renderHeader(); toast('Password changed.'); },
    onCancel: () => d.close(),
  });
  d.append(form);
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  first.focus();
}

S.api.onPasswordChangeRequired = () => {
  if (S.me) showForcedPasswordChange(S.me);
};

// ---------------------------------------------------------------- start-up

async function boot() {
  const saved = loadSession();
  if (!saved) return showLogin();
  S.api.token = saved.token;
  try {
    const me = await S.api.me();
    if (me.must_change_password) showForcedPasswordChange(me);
    else start(me);
  } catch (e) {
    if (e.status === 401) { localStorage.removeItem(STORE_KEY); showLogin(); }
    else showLogin(errorText(e));
  }
}

/** Pages of the inbox and sent lists: 50 first (a screenful, soon drawn), then 100 at a time. */
function newPages(list) {
  return new Pages((from) => S.api[list](from ? { from } : { limit: 50 }).then((p) => ({ ...p, next: p.next && p.next.replace(/limit=\d+/, 'limit=100') })));
}

async function start(me) {
  S.me = me;
  S.view = viewFromHash();
  S.inbox = newPages('inbox');
  S.sent = newPages('sent');
  canTalk().then((ok) => { S.canTalk = ok; if (S.me === me) renderCompose(); });
  buildShell();
  render();
  const first = S.view === 'sent' ? S.sent : S.inbox;
  // The list on screen first: its rows are drawn as soon as its page is in.
  const shown = first.first().then(() => { if (S.me === me) renderList(); }).catch((e) => toast(errorText(e), 'error'));
  const [contacts] = await Promise.allSettled([S.api.contacts(), shown, refreshCounts(),
    (first === S.inbox ? S.sent : S.inbox).first()]);
  if (S.me !== me) return;
  if (contacts.status === 'fulfilled') setContacts(contacts.value);
  for (const m of S.inbox.items) if (!m.state || m.state === 'queued') acknowledge(m);
  render();
  connect();
}

/** The badge's numbers from the box (cheap: no list is fetched). */
async function refreshCounts() {
  try {
    S.counts = await S.api.counts();
    renderBadge();
  } catch { /* the next change or reconnect asks again */ }
}

let countsTimer = null;
/** Asks the box for the counts again soon, once for a burst of changes. */
function recount() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(refreshCounts, 800);
}

function connect() {
  const s = new Session({ url: wsUrl(location), token: S.api.token });
  S.session = s;
  S.receipts = new ReceiptQueue(s, { storage: localStorage });
  s.addEventListener('state', (ev) => { S.conn = ev.detail.state; renderHeader(); });
  let readies = 0;
  s.addEventListener('ready', async () => {
    refreshCounts();
    if (readies++ === 0) {
      // Presence may have changed with this connection.
      S.api.me().then((me) => { S.me = me; renderHeader(); }).catch(() => {});
      return;
    }
    // A reconnect: catch up with anything missed while disconnected (the newest pages;
    // check-in brought what was queued).
    try {
      const [inbox, sent, contacts, me] = await Promise.all([S.inbox.first(), S.sent.first(), S.api.contacts(), S.api.me()]);
      S.me = me;
      setContacts(contacts);
      for (const m of S.inbox.items) if (!m.state || m.state === 'queued') acknowledge(m);
      render();
      void inbox; void sent;
    } catch { /* next reconnect */ }
  });
  s.addEventListener('message', (ev) => onNewMessage(ev.detail, !s.checkingIn));
  s.addEventListener('receipt', (ev) => onReceipts([ev.detail]));
  s.addEventListener('receipts', (ev) => onReceipts(ev.detail));
  s.addEventListener('presence', (ev) => onPresence(ev.detail.user, ev.detail.status));
  s.addEventListener('talk_incoming', (ev) => onTalkIncoming(ev.detail));
  s.addEventListener('portion', (ev) => { const lt = S.live.get(ev.detail.stream); if (lt) lt.portion(ev.detail); });
  s.addEventListener('talk_end', (ev) => onTalkEnd(ev.detail));
  s.addEventListener('state', (ev) => { if (ev.detail.state !== 'online') endLiveTalks(); });
  s.addEventListener('going_down', () => toast('The box is restarting; reconnecting…'));
  s.addEventListener('unauthorized', () => S.api.onUnauthorized());
  s.addEventListener('password_change_required', () => S.api.onPasswordChangeRequired());
  s.start();
}

window.addEventListener('online', () => S.session && S.session.reconnectNow());

// ---------------------------------------------------------------- data

function setContacts(list) {
  S.contacts = new Map(list.map((c) => [c.guid, c]));
  for (const c of list) S.presence.set(c.guid, c.status);
  for (const g of [...S.selected]) if (!S.contacts.has(g)) S.selected.delete(g);
}

// Undeliverable (the global tier has no such user) only ever follows queued.
function rank(state) { return ['queued', 'delivered', 'played', 'undeliverable'].indexOf(state); }

/** Tells the box this client has message `m` (batched over the WebSocket, retried). */
function acknowledge(m) {
  m.state = 'delivered';
  if (S.receipts) S.receipts.add(m.id, 'delivered');
}

function markPlayed(m) {
  if (!m || m.state === 'played') return;
  m.state = 'played';
  if (S.receipts) S.receipts.add(m.id, 'played');
  S.counts.unplayed = Math.max(0, S.counts.unplayed - 1);
  recount();
  updateRow(m.id);
  renderBadge();
}

/**
 * A message for me: pushed live (`live`), or one of those still queued, pushed at check-in.
 * It is confirmed either way; it gets a row only if it falls within what is loaded (an old
 * one comes with its page), and only a live one chimes and counts.
 */
function onNewMessage(m, live) {
  // A talk heard live here: the box marks its stored copy played; no chime, not counted.
  if (live && heardLive(m.sender) && m.state !== 'played') {
    m.state = 'played';
    if (S.inbox && S.inbox.add(m)) {
      S.counts.inbox++;
      if (S.view === 'inbox' && S.vlist) S.vlist.refresh();
    }
    recount();
    return;
  }
  if (!m.state || m.state === 'queued') acknowledge(m);
  if (!S.inbox) return;
  const added = S.inbox.add(m);
  if (!live) return;
  if (added) {
    // Exact for a live message; the box's counts are fetched again at each (re)connect.
    S.counts.inbox++;
    S.counts.unplayed++;
    if (S.view === 'inbox' && S.vlist) S.vlist.refresh();
    renderBadge();
    chime();
    if (S.view !== 'inbox') toast(`New voice message from ${m.sender_display_name || m.sender_name}`);
  }
}

/** Recipients' states of messages I sent changed: only their rows are drawn again. */
function onReceipts(list) {
  if (!S.sent) return;
  const touched = new Set();
  for (const r of list) {
    const m = S.sent.get(r.message);
    if (!m) continue; // not loaded: its page will bring the state
    const rcp = m.recipients.find((x) => x.guid === r.recipient);
    if (rcp && rank(r.state) > rank(rcp.state)) { rcp.state = r.state; touched.add(m.id); }
  }
  if (S.view === 'sent') for (const id of touched) updateRow(id);
}

function onPresence(guid, status) {
  S.presence.set(guid, status);
  const c = S.contacts.get(guid);
  if (c) c.status = status;
  if (S.me && guid === S.me.guid) { S.me.status = status; renderHeader(); }
  renderContacts();
  if (C().phase === 'idle' && S.selected.has(guid)) renderCompose(); // the default mode may change
}

function unplayed() { return S.counts.unplayed; }

// ---------------------------------------------------------------- shell

function viewFromHash() {
  const v = location.hash.replace('#', '');
  if (v === 'admin' && !(S.me && S.me.admin)) return 'inbox';
  return ['inbox', 'sent', 'contacts', 'admin'].includes(v) ? v : 'inbox';
}

window.addEventListener('hashchange', () => {
  if (!S.me) return;
  S.view = viewFromHash();
  render();
});

function go(view) {
  if (location.hash !== '#' + view) location.hash = view;
  else { S.view = view; render(); }
}

function buildShell() {
  const tab = (view, label, extra) => h('a', { href: '#' + view, class: `tab tab-${view}`, id: `tab-${view}`, dataset: { view } }, label, extra);
  const badge = h('span', { class: 'badge', id: 'badge', 'aria-label': 'unplayed messages' });
  const status = h('select', { id: 'my-status', 'aria-label': 'My status', onchange: (ev) => setMyStatus(ev.target.value) },
    STATUSES.map((s) => h('option', { value: s }, statusLabel(s))));
  const header = h('header', { class: 'top' },
    h('div', { class: 'brand' }, h('img', { src: '/icon.svg', alt: '', width: 28, height: 28 }), h('span', {}, 'IVM')),
    h('nav', { class: 'tabs', 'aria-label': 'Views' },
      tab('contacts', 'Contacts'),
      tab('inbox', 'Inbox', badge),
      tab('sent', 'Sent'),
      S.me.admin ? tab('admin', 'Admin') : null),
    h('div', { class: 'me' },
      h('span', { class: 'conn', id: 'conn', role: 'status' }),
      h('span', { class: 'dot', id: 'my-dot', 'aria-hidden': 'true' }),
      status,
      h('span', { class: 'who', id: 'who' }),
      h('button', { class: 'btn small subtle', id: 'open-calls', type: 'button', title: 'Call settings and history', onclick: openCallsDialog }, 'Calls'),
      h('button', { class: 'btn small subtle', id: 'change-password', type: 'button', title: 'Change password', onclick: openPasswordDialog }, 'Password'),
      h('button', { class: 'btn icon-btn', id: 'logout', type: 'button', title: 'Log out', 'aria-label': 'Log out', onclick: logout }, icon('logout'))));
  const contacts = h('aside', { class: 'contacts', id: 'contacts', 'aria-label': 'Contacts' });
  const compose = h('section', { class: 'compose card', id: 'compose', 'aria-label': 'New voice message' });
  const list = h('section', { class: 'list', id: 'list', 'aria-live': 'polite' });
  const admin = h('section', { class: 'admin', id: 'admin' });
  const live = h('section', { class: 'live-talks', id: 'live-talks', 'aria-label': 'Live talks', 'aria-live': 'assertive', hidden: true });
  const main = h('main', { class: 'main', id: 'main' }, live, compose, list, admin);
  fill(root, h('div', { class: 'shell' }, header, h('div', { class: 'body' }, contacts, main)));
  S.els = { header, badge, status, contacts, compose, list, admin, main, live };
  renderLive();
}

/** "Calls" from the header: forwards, do-not-disturb and call history (calls.js). */
function openCallsDialog() {
  import('./calls.js').then((m) => m.openCalls(S.api, {
    toast,
    errorText,
    onDnd: (on) => {
      if (on) S.me.status = 'busy';
      else if (S.me.status === 'busy') S.me.status = 'available';
      renderHeader();
    },
  }));
}

function statusLabel(s) { return { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Appear offline' }[s] || s; }

async function setMyStatus(status) {
  try {
    await S.api.setStatus(status);
    S.me.status = status;
  } catch (e) {
    toast(errorText(e), 'error');
  }
  renderHeader();
}

function render() {
  if (!S.me) return;
  document.body.dataset.view = S.view;
  for (const a of S.els.header.querySelectorAll('.tab')) {
    if (a.dataset.view === S.view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  renderHeader();
  renderContacts();
  renderBadge();
  const admin = S.view === 'admin';
  S.els.compose.hidden = admin;
  S.els.list.hidden = admin;
  S.els.admin.hidden = !admin;
  if (admin) {
    import('./admin.js').then((m) => m.renderAdmin(S.els.admin, S.api, { me: S.me, toast, errorText }));
  } else {
    renderCompose();
    renderList();
  }
}

function renderHeader() {
  if (!S.me || !S.els.header) return;
  S.els.status.value = S.me.status;
  document.getElementById('my-dot').className = `dot ${S.me.status}`;
  document.getElementById('who').textContent = S.me.display_name || S.me.name;
  const conn = document.getElementById('conn');
  conn.textContent = S.conn === 'online' ? '' : S.conn === 'connecting' ? 'Connecting…' : 'Offline: reconnecting…';
  conn.className = `conn ${S.conn}`;
}

function renderBadge() {
  const n = unplayed();
  if (!S.els.badge) return;
  S.els.badge.textContent = n ? String(n) : '';
  S.els.badge.hidden = !n;
  document.title = n ? `(${n}) IVM` : 'IVM';
}

// ---------------------------------------------------------------- contacts

function presenceOf(c) { return S.presence.get(c.guid) || c.status || 'offline'; }

function renderContacts() {
  const el = S.els.contacts;
  if (!el) return;
  const list = [...S.contacts.values()].sort((a, b) => (a.display_name || a.name).localeCompare(b.display_name || b.name));
  const items = list.map((c) => {
    const st = presenceOf(c);
    const id = `pick-${c.guid}`;
    return h('li', { class: `contact ${S.selected.has(c.guid) ? 'selected' : ''}`, dataset: { guid: c.guid, name: c.name } },
      h('input', { type: 'checkbox', id, checked: S.selected.has(c.guid), 'aria-label': `Send to ${c.display_name || c.name}`, onchange: (ev) => toggleRecipient(c.guid, ev.target.checked) }),
      h('label', { for: id, class: 'who' },
        h('span', { class: 'avatar' }, initials(c.display_name || c.name), h('span', { class: `dot ${st}`, 'aria-hidden': 'true' })),
        h('span', { class: 'names' },
          h('span', { class: 'name' }, c.display_name || c.name),
          h('span', { class: 'sub' }, h('span', { class: `presence ${st}` }, st), ` · ext ${c.extension}`))),
      h('button', { class: 'btn icon-btn subtle remove', type: 'button', title: `Remove ${c.name} from contacts`, 'aria-label': `Remove ${c.display_name || c.name} from contacts`, onclick: () => removeContact(c) }, icon('x')));
  });
  fill(el,
    h('div', { class: 'side-head' }, h('h2', {}, 'Contacts'),
      h('button', { class: 'btn small', id: 'add-contact', type: 'button', onclick: openDirectory }, icon('plus'), 'Add')),
    list.length ? h('ul', { class: 'contact-list' }, items)
      : h('p', { class: 'muted empty' }, 'No contacts yet. Add colleagues from the directory to see when they are available.'),
    list.length ? h('p', { class: 'muted hint' }, 'Tick contacts to send them a message.') : null);
}

function toggleRecipient(guid, on) {
  if (on) S.selected.add(guid); else S.selected.delete(guid);
  if (C().phase !== 'talking') C().mode = null; // new recipients: the default mode again
  renderContacts();
  renderCompose();
}

async function removeContact(c) {
  if (!(await confirmDialog(`Remove ${c.display_name || c.name} from your contacts?`, { ok: 'Remove' }))) return;
  try {
    await S.api.removeContact(c.guid);
    S.contacts.delete(c.guid);
    S.selected.delete(c.guid);
    if (S.session) S.session.unfollow([c.guid]).catch(() => {});
    render();
  } catch (e) {
    toast(errorText(e), 'error');
  }
}

async function openDirectory() {
  let users = [];
  try { users = await S.api.directory(); } catch (e) { return toast(errorText(e), 'error'); }
  const filter = h('input', { type: 'search', placeholder: 'Search by name or extension', 'aria-label': 'Search the directory', id: 'dir-search' });
  const ul = h('ul', { class: 'dir-list' });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = users
      .filter((u) => u.guid !== S.me.guid)
      .filter((u) => !q || u.name.includes(q) || (u.display_name || '').toLowerCase().includes(q) || u.extension.includes(q))
      .map((u) => {
        const have = S.contacts.has(u.guid);
        return h('li', { dataset: { name: u.name } },
          h('span', { class: 'avatar' }, initials(u.display_name || u.name), h('span', { class: `dot ${u.status}`, 'aria-hidden': 'true' })),
          h('span', { class: 'names' }, h('span', { class: 'name' }, u.display_name || u.name), h('span', { class: 'sub' }, `${u.name} · ext ${u.extension}`)),
          have ? h('span', { class: 'muted' }, 'In contacts')
            : h('button', { class: 'btn small', type: 'button', 'aria-label': `Add ${u.display_name || u.name}`, onclick: async (ev) => {
              ev.target.disabled = true;
              try {
                const c = await S.api.addContact(u.guid);
                S.contacts.set(c.guid, c);
                S.presence.set(c.guid, c.status);
                if (S.session) S.session.follow([c.guid]).catch(() => {});
                renderContacts();
                renderCompose();
                draw();
              } catch (e) { toast(errorText(e), 'error'); ev.target.disabled = false; }
            } }, icon('plus'), 'Add'));
      });
    fill(ul, rows.length ? rows : h('li', { class: 'muted' }, 'Nobody matches.'));
  };
  filter.addEventListener('input', draw);
  const d = h('dialog', { class: 'directory', 'aria-labelledby': 'dir-title' },
    h('div', { class: 'row' }, h('h2', { id: 'dir-title' }, 'Add contacts'),
      h('button', { class: 'btn icon-btn subtle', type: 'button', 'aria-label': 'Close', onclick: () => d.close() }, icon('x'))),
    filter, ul);
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  draw();
  d.showModal();
  filter.focus();
}

// ---------------------------------------------------------------- compose

const C = () => S.compose;

function renderCompose() {
  const el = S.els.compose;
  if (!el || S.view === 'admin') return;
  const c = C();
  const chips = [...S.selected].map((g) => S.contacts.get(g)).filter(Boolean).map((u) =>
    h('span', { class: 'chip' }, u.display_name || u.name,
      h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove ${u.display_name || u.name} from recipients`, onclick: () => toggleRecipient(u.guid, false) }, icon('x'))));
  const choices = [...S.contacts.values()].filter((u) => !S.selected.has(u.guid));
  const picker = choices.length ? h('select', { class: 'add-recipient', id: 'add-recipient', 'aria-label': 'Add a recipient', onchange: (ev) => { if (ev.target.value) toggleRecipient(ev.target.value, true); } },
    h('option', { value: '' }, chips.length ? '+ Add…' : 'Choose recipients…'),
    choices.map((u) => h('option', { value: u.guid }, `${u.display_name || u.name} (${presenceOf(u)})`))) : null;
  const to = h('div', { class: 'to' }, h('span', { class: 'label' }, 'To'), chips, picker,
    !S.contacts.size ? h('span', { class: 'muted' }, 'Add contacts first.') : null);

  let stage;
  const mode = composeMode();
  if (c.phase === 'talking') {
    stage = h('div', { class: 'stage talking' },
      talkButton(true),
      h('span', { class: 'rec-dot live', 'aria-hidden': 'true' }),
      h('span', { class: 'timer', id: 'timer', role: 'timer', 'aria-label': 'Talking time' }, fmtDuration(c.elapsed)),
      h('div', { class: 'meter', role: 'meter', 'aria-label': 'Input level', 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { class: 'meter-fill', id: 'meter-fill' })),
      h('span', { class: 'talk-split', id: 'talk-split', role: 'status' }, c.talkInfo ? splitText(c.talkInfo) : 'Connecting…'));
  } else if (c.phase === 'recording') {
    stage = h('div', { class: 'stage recording' },
      h('button', { class: 'btn record on', id: 'stop', type: 'button', 'aria-label': 'Stop recording (Space)', title: 'Stop recording (Space)', onclick: () => stopRecording() }, icon('stop')),
      h('span', { class: 'rec-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'timer', id: 'timer', role: 'timer', 'aria-label': 'Recording time' }, fmtDuration(c.elapsed)),
      h('div', { class: 'meter', role: 'meter', 'aria-label': 'Input level', 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { class: 'meter-fill', id: 'meter-fill' })),
      h('button', { class: 'btn subtle', type: 'button', onclick: () => stopRecording(true) }, 'Cancel'));
  } else if (c.phase === 'encoding') {
    stage = h('div', { class: 'stage' }, h('span', { class: 'muted' }, 'Preparing…'));
  } else if (c.phase === 'review' && c.draft) {
    const playing = player.key === 'draft' && player.playing;
    const canvas = h('canvas', { class: 'wave', id: 'draft-wave', role: 'slider', tabindex: 0, 'aria-label': 'Draft position', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0 });
    canvas.addEventListener('click', (ev) => {
      const r = canvas.getBoundingClientRect();
      player.seek('draft', (ev.clientX - r.left) / r.width, { durationMs: c.draft.durationMs });
    });
    stage = h('div', { class: 'stage review' },
      h('button', { class: 'btn round play', id: 'draft-play', type: 'button', 'aria-label': playing ? 'Pause draft' : 'Play draft', onclick: () => player.toggle('draft', { durationMs: c.draft.durationMs }).catch((e) => toast(errorText(e), 'error')) }, icon(playing ? 'pause' : 'play')),
      canvas,
      h('span', { class: 'timer', id: 'draft-duration' }, fmtDuration(c.draft.durationMs)),
      h('button', { class: 'btn subtle', id: 'rerecord', type: 'button', title: 'Record again', onclick: () => startRecording() }, icon('redo'), h('span', { class: 'lbl' }, 'Re-record')),
      h('button', { class: 'btn subtle', id: 'discard', type: 'button', title: 'Delete this recording', onclick: discardDraft }, icon('trash'), h('span', { class: 'lbl' }, 'Delete')));
    requestAnimationFrame(() => drawWaveform(canvas, c.draft.peaks, player.key === 'draft' ? player.fraction : 0));
  } else {
    // Talk (hold) beside Record (click): the mode says which one Space works and which is
    // the big one.
    const talk = mode === 'talk';
    const record = h('button', { class: `btn record ${talk ? 'secondary' : ''}`, id: 'record', type: 'button', 'aria-label': talk ? 'Record' : 'Record (Space)', title: talk ? 'Record a message' : 'Record (Space)', onclick: () => startRecording() }, icon('mic'));
    stage = h('div', { class: `stage idle mode-${mode}` },
      modeSwitch(mode),
      S.canTalk ? talkButton(false, !talk) : null,
      record,
      talk
        ? h('div', { class: 'idle-text' }, h('strong', {}, 'Talk live'),
          h('span', { class: 'muted', id: 'talk-hint' }, S.selected.size ? 'Hold Space or the green button while you speak: they hear you as you talk' : 'Choose at least one recipient, then hold Space or the green button'))
        : h('div', { class: 'idle-text' }, h('strong', {}, 'Record a message'), h('span', { class: 'muted' }, 'Press Space or the red microphone to start and stop')),
      c.talkResult ? h('span', { class: 'muted small', id: 'talk-result', role: 'status' }, c.talkResult) : null,
      h('button', { class: 'btn subtle', id: 'ring-desk', type: 'button', disabled: !S.selected.size || c.ringing,
        title: c.ringing ? 'Ringing your desk phone: pick it up, speak after the beep, hang up or press # to send' : !S.selected.size ? 'Choose at least one recipient, then the box rings your desk phone to record' : 'The box rings your desk phone: pick it up, speak after the beep, hang up or press # to send',
        'aria-label': c.ringing ? 'Ringing your desk phone' : 'Ring my desk phone to record', onclick: ringDesk },
        icon('phone'), h('span', { class: 'lbl' }, c.ringing ? 'Ringing your desk phone…' : 'Ring my desk phone')));
  }

  const silence = h('select', { id: 'silence', 'aria-label': 'Stop after silence', onchange: (ev) => { S.silenceMs = Number(ev.target.value); localStorage.setItem('ivm.silence', ev.target.value); } },
    [[0, 'never'], [2000, '2 s'], [3000, '3 s'], [5000, '5 s'], [10000, '10 s']].map(([v, l]) => h('option', { value: v, selected: S.silenceMs === v }, l)));
  const fileInput = h('input', { type: 'file', multiple: true, id: 'file-input', class: 'visually-hidden', tabindex: -1, onchange: (ev) => { addFiles(ev.target.files); ev.target.value = ''; } });
  const atts = c.attachments.map((f, i) => h('li', { class: 'att' }, icon('clip'), h('span', { class: 'att-name' }, f.name), h('span', { class: 'muted' }, fmtSize(f.size)),
    h('button', { class: 'btn icon-btn subtle', type: 'button', 'aria-label': `Remove attachment ${f.name}`, onclick: () => { c.attachments.splice(i, 1); renderCompose(); } }, icon('x'))));
  const ready = c.phase === 'review' && c.draft && S.selected.size > 0 && !c.sending;
  const why = c.sending ? 'Sending…' : c.phase !== 'review' ? 'Record a message first' : !S.selected.size ? 'Choose at least one recipient' : 'Send (Ctrl+Enter)';
  fill(el,
    to,
    stage,
    h('div', { class: 'row options' },
      h('button', { class: 'btn subtle', id: 'attach', type: 'button', onclick: () => fileInput.click() }, icon('clip'), h('span', { class: 'lbl' }, 'Attach files')),
      fileInput,
      h('label', { class: 'muted small', for: 'silence' }, 'Auto-stop after silence'), silence),
    atts.length ? h('ul', { class: 'att-list', id: 'draft-attachments' }, atts) : null,
    c.error ? h('p', { class: 'error', id: 'compose-error', role: 'alert' }, c.error) : null,
    h('div', { class: 'row send-row' },
      h('span', { class: 'muted small drop-hint' }, 'Drop files here to attach them'),
      h('button', { class: 'btn primary', id: 'send', type: 'button', disabled: !ready, title: why, onclick: sendDraft }, icon('send'), c.sending ? 'Sending…' : 'Send')));
}

// ---------------------------------------------------------------- live talk (push-to-talk)

/**
 * `talk` (intercom) or `record`: the user's choice, else the default (issue 13, S28): live
 * when every chosen recipient is online and available, recorded otherwise. Live needs
 * WebCodecs Opus in this browser; without it, record is the only mode.
 */
function composeMode() {
  const c = C();
  if (!S.canTalk) return 'record';
  if (c.mode) return c.mode;
  return defaultMode();
}

function defaultMode() {
  const chosen = [...S.selected].map((g) => S.contacts.get(g)).filter(Boolean);
  return chosen.length && chosen.every((u) => presenceOf(u) === 'available') ? 'talk' : 'record';
}

function modeSwitch(mode) {
  if (!S.canTalk) return null;
  const opt = (m, label, title) => h('button', { class: `seg ${mode === m ? 'on' : ''}`, id: `mode-${m}`, type: 'button', 'aria-pressed': String(mode === m), title,
    onclick: () => { C().mode = m; C().error = ''; renderCompose(); } }, label);
  return h('div', { class: 'mode-switch', id: 'mode-switch', role: 'group', 'aria-label': 'Mode', dataset: { mode, default: defaultMode() } },
    opt('talk', 'Live', 'Intercom: they hear you while you speak (and get it as a message)'),
    opt('record', 'Record', 'Record, listen back, then send'));
}

function talkButton(on, secondary = false) {
  const hint = secondary ? 'Hold to talk live' : 'Hold to talk live (Space)';
  const b = h('button', { class: `btn record talk ${on ? 'on' : ''} ${secondary ? 'secondary' : ''}`, id: 'talk', type: 'button', disabled: !on && !S.selected.size,
    'aria-label': on ? 'Talking: release to end' : hint, title: on ? 'Release to end' : hint, 'aria-pressed': String(on) }, icon('mic'), h('span', { class: 'btn-tag', 'aria-hidden': 'true' }, 'Talk'));
  b.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    startTalking();
  });
  b.addEventListener('keydown', (ev) => {
    if ((ev.key === 'Enter' || ev.key === ' ') && !ev.repeat) { ev.preventDefault(); ev.stopPropagation(); startTalking(); }
  });
  b.addEventListener('keyup', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); ev.stopPropagation(); stopTalking(); }
  });
  return b;
}

// A hold ends wherever the pointer is let go (the button is drawn again meanwhile).
window.addEventListener('pointerup', () => { if (C().phase === 'talking') stopTalking(); });
window.addEventListener('pointercancel', () => { if (C().phase === 'talking') stopTalking(); });
window.addEventListener('blur', () => { if (C().phase === 'talking') stopTalking(); });

function names(guids) { return guids.map((g) => displayOf(g, 'someone')).join(', '); }

function splitText({ live, stored }) {
  const parts = [];
  if (live.length) parts.push(`Live to ${names(live)}`);
  if (stored.length) parts.push(`stored for ${names(stored)}`);
  return parts.join(' · ') || 'Nobody';
}

async function startTalking() {
  const c = C();
  if (c.phase !== 'idle' || !S.selected.size || !S.canTalk) return;
  if (!S.session || S.session.state !== 'online') { c.error = 'Not connected to the box: cannot talk live now.'; renderCompose(); return; }
  player.stop();
  const talk = new Talk(S.session, [...S.selected]);
  c.talk = talk;
  c.phase = 'talking';
  c.talkInfo = null;
  c.talkResult = '';
  c.error = '';
  c.elapsed = 0;
  c.level = 0;
  renderCompose();
  talk.addEventListener('level', (ev) => {
    c.elapsed = ev.detail.elapsedMs;
    const t = document.getElementById('timer');
    if (t) t.textContent = fmtDuration(c.elapsed);
    const m = document.getElementById('meter-fill');
    if (m) {
      const db = 20 * Math.log10(Math.max(ev.detail.rms, 1e-5));
      c.level = Math.max(Math.max(0, Math.min(100, ((db + 60) / 60) * 100)), c.level * 0.7);
      m.style.width = c.level.toFixed(0) + '%';
    }
    if (c.elapsed >= (talk.accepted ? talk.accepted.max_ms : 600000)) stopTalking();
  });
  talk.addEventListener('accepted', (ev) => {
    c.talkInfo = ev.detail;
    c.lastTalk = { stream: ev.detail.stream, info: ev.detail };
    const el = document.getElementById('talk-split');
    if (el) el.textContent = splitText(ev.detail);
  });
  try {
    await talk.start();
  } catch (e) {
    if (c.talk !== talk) {
      // Already released: say so without taking over the compose panel.
      toast(`Cannot talk live: ${errorText(e)}`, 'error');
      return;
    }
    c.talk = null;
    c.phase = 'idle';
    c.error = `Cannot talk live: ${errorText(e)}`;
    renderCompose();
  }
}

/** Release: the talk ends; the box's `talk_end` brings the stored message's id. */
async function stopTalking() {
  const c = C();
  if (c.phase !== 'talking' || !c.talk) return;
  const talk = c.talk;
  c.talk = null;
  c.phase = 'idle';
  c.talkResult = talk.accepted ? `${splitText(talk.accepted)}: sending…` : '';
  renderCompose();
  await talk.stop();
}

/** A talk of mine ended: show how it went and put its message in Sent. */
async function mySpokenTalkEnded(end) {
  const c = C();
  const info = c.lastTalk && c.lastTalk.stream === end.stream ? c.lastTalk.info : null;
  const split = info ? splitText(info) : 'Talk';
  c.talkResult = end.message ? `${split} (${fmtDuration(end.duration_ms)}${end.partial ? ', partial' : ''})` : `${split}: nothing was sent`;
  if (c.phase === 'idle') {
    const el = document.getElementById('talk-result');
    if (el) el.textContent = c.talkResult; else renderCompose();
  }
  if (!end.message || !S.sent) return;
  try {
    const m = await S.api.message(end.message);
    if (S.sent.add(m)) S.counts.sent++;
    if (S.view === 'sent' && S.vlist) S.vlist.refresh();
  } catch { /* the Sent list shows it when next loaded */ }
}

/** A live talk to me starts: chime, banner, and its portions are played as they come. */
function onTalkIncoming(t) {
  if (S.live.has(t.stream)) return;
  const lt = new LiveTalk({ stream: t.stream, from: t.from, frameMs: t.frame_ms }, {
    // Tests tap the played audio here (before the mute): `window.ivmLiveTap(ctx, node, talk)`.
    onNode: (ctx, node, talk) => { if (typeof window.ivmLiveTap === 'function') window.ivmLiveTap(ctx, node, talk); },
  });
  S.live.set(t.stream, lt);
  lt.addEventListener('done', renderLive);
  chime();
  renderLive();
  if (!S.contacts.has(t.from) && !S.names.has(t.from)) {
    // Not a contact of mine: the directory has the speaker's name (the banner says "someone"
    // for the moment it takes).
    S.api.directory().then((users) => {
      for (const u of users) S.names.set(u.guid, u.display_name || u.name);
      renderLive();
    }).catch(() => {});
  }
}

/** Whether a talk from `sender` is being heard here (its stored copy is played for me). */
function heardLive(sender) {
  for (const lt of S.live.values()) if (lt.from === sender) return true;
  return false;
}

function onTalkEnd(end) {
  const lt = S.live.get(end.stream);
  if (lt) {
    // The stored copy was committed, and marked played for me, before this came (and its
    // `message` push too, on the same socket).
    S.live.delete(end.stream);
    lt.end();
    const m = end.message && S.inbox && S.inbox.get(end.message);
    if (m && m.state !== 'played') markHeard(m);
    return;
  }
  const c = C();
  if (c.talk && c.talk.stream === end.stream) {
    // The box ended it while I was still talking (length limit, idle, a lost socket).
    const talk = c.talk;
    c.talk = null;
    c.phase = 'idle';
    talk.stopped = true;
    talk.release();
  }
  if (c.lastTalk && c.lastTalk.stream === end.stream) mySpokenTalkEnded(end);
}

/** A message heard live: played on the box already, so only the page's state changes. */
function markHeard(m) {
  m.state = 'played';
  S.counts.unplayed = Math.max(0, S.counts.unplayed - 1);
  updateRow(m.id);
  renderBadge();
  recount();
}

/** The connection went away: live talks cannot go on (the box ends them as `speaker_gone`
 * or keeps them for the inbox). */
function endLiveTalks() {
  for (const lt of S.live.values()) lt.stop();
  S.live.clear();
  renderLive();
}

/** The "Live from Ann" banners, one per talk heard now, each with Mute and Stop. */
function renderLive() {
  const el = S.els.live;
  if (!el) return;
  const rows = [...S.live.values()].filter((lt) => !lt.closed).map((lt) => {
    const who = displayOf(lt.from, 'someone');
    return h('div', { class: 'live-banner', dataset: { stream: String(lt.stream) } },
      h('span', { class: 'rec-dot live', 'aria-hidden': 'true' }),
      h('strong', { class: 'live-from' }, `Live from ${who}`),
      h('button', { class: 'btn small live-mute', type: 'button', 'aria-pressed': String(lt.muted), 'aria-label': lt.muted ? `Unmute ${who}` : `Mute ${who}`,
        onclick: () => { lt.mute(!lt.muted); renderLive(); } }, lt.muted ? 'Unmute' : 'Mute'),
      h('button', { class: 'btn small live-stop', type: 'button', 'aria-label': `Stop hearing ${who}`, title: 'Stop hearing this talk (it stays in your inbox)',
        onclick: () => lt.stop() }, icon('stop'), 'Stop'));
  });
  fill(el, rows);
  el.hidden = !rows.length;
}

async function startRecording() {
  const c = C();
  if (c.phase === 'recording') return;
  player.stop();
  player.dropDraft();
  c.draft = null;
  c.error = '';
  const rec = new (await import('./recorder.js')).Recorder({ silenceMs: S.silenceMs });
  c.rec = rec;
  c.phase = 'recording';
  c.elapsed = 0;
  c.level = 0;
  renderCompose();
  rec.addEventListener('level', (ev) => {
    c.elapsed = ev.detail.elapsedMs;
    const t = document.getElementById('timer');
    if (t) t.textContent = fmtDuration(c.elapsed);
    const m = document.getElementById('meter-fill');
    if (m) {
      const db = 20 * Math.log10(Math.max(ev.detail.rms, 1e-5)); // -100..0
      const now = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
      c.level = Math.max(now, c.level * 0.7); // fast attack, gentle fall
      m.style.width = c.level.toFixed(0) + '%';
      m.parentElement.setAttribute('aria-valuenow', c.level.toFixed(0));
    }
  });
  rec.addEventListener('autostop', () => stopRecording());
  try {
    await rec.start();
    document.getElementById('stop')?.focus();
  } catch (e) {
    rec.cancel();
    c.rec = null;
    c.phase = 'idle';
    c.error = errorText(e);
    renderCompose();
  }
}

async function stopRecording(cancel = false) {
  const c = C();
  if (c.phase !== 'recording' || !c.rec) return;
  const rec = c.rec;
  c.rec = null;
  if (cancel) {
    rec.cancel();
    c.phase = c.draft ? 'review' : 'idle';
    renderCompose();
    return;
  }
  c.phase = 'encoding';
  renderCompose();
  try {
    const { pcm, sampleRate, durationMs } = await rec.stop();
    if (durationMs < 300) throw new Error('That was too short to send. Hold on a little longer.');
    const { encodeRecording, peaksOf } = await import('./recorder.js');
    const enc = await encodeRecording(pcm, sampleRate);
    c.draft = { ...enc, durationMs, peaks: peaksOf(pcm) };
    player.setDraft(enc.blob);
    c.phase = 'review';
  } catch (e) {
    c.phase = 'idle';
    c.error = errorText(e);
  }
  renderCompose();
  document.getElementById(S.selected.size ? 'send' : 'add-recipient')?.focus();
}

function discardDraft() {
  const c = C();
  player.dropDraft();
  c.draft = null;
  c.phase = 'idle';
  c.error = '';
  renderCompose();
  document.getElementById('record')?.focus();
}

function addFiles(files) {
  const c = C();
  for (const f of files) {
    if (c.attachments.length >= 20) { toast('At most 20 attachments per message.', 'error'); break; }
    c.attachments.push(f);
  }
  renderCompose();
}

/** Rings the user's registered desk phone to record a message to the chosen recipients
 * (ring-my-phone: the box rings the phone, off-hook records, on-hook sends). */
async function ringDesk() {
  const c = C();
  if (!S.selected.size || c.ringing) return;
  c.ringing = true;
  c.error = '';
  renderCompose();
  try {
    await S.api.ringMe([...S.selected]);
    toast('Your desk phone is recording: speak after the beep, then hang up or press # to send.');
  } catch (e) {
    c.error = `Desk phone: ${errorText(e)}`;
  } finally {
    c.ringing = false;
    renderCompose();
  }
}

async function sendDraft() {
  const c = C();
  if (!(c.phase === 'review' && c.draft && S.selected.size) || c.sending) return;
  c.sending = true;
  c.error = '';
  window.__ivmSendClickedAt = performance.timeOrigin + performance.now();
  renderCompose();
  const to = [...S.selected];
  // One key per recording (and recipients and attachments): a retry after a failure that
  // happened once the box had stored it gets the stored message back, not a second copy.
  c.draft.key ||= newIdempotencyKey();
  const key = messageKey(c.draft.key, to, c.attachments);
  try {
    const info = await S.api.sendMessage({ to, audio: c.draft.blob, audioName: c.draft.name, attachments: c.attachments, key });
    if (S.sent.add(info)) S.counts.sent++;
    player.dropDraft();
    S.compose = { ...newCompose(), mode: c.mode };
    toast(`Sent to ${info.recipients.map((r) => displayOf(r.guid, r.name)).join(', ')}`);
    renderCompose();
    if (S.view === 'sent' && S.vlist) S.vlist.refresh();
    document.getElementById('record')?.focus();
  } catch (e) {
    c.sending = false;
    c.error = `Not sent: ${errorText(e)}`;
    renderCompose();
  }
}

function displayOf(guid, fallback) {
  const c = S.contacts.get(guid);
  return (c && (c.display_name || c.name)) || S.names.get(guid) || fallback;
}

// ---------------------------------------------------------------- inbox and sent

/**
 * The inbox or sent list: a heading and a virtual list (vlist.js) drawing only the rows on
 * screen; scrolling near the end fetches the next page.
 */
function renderList() {
  const el = S.els.list;
  if (!el || S.view === 'admin' || !S.inbox) return;
  if (S.vlist) S.vlist.destroy();
  S.vlist = null;
  const sent = S.view === 'sent';
  const pages = sent ? S.sent : S.inbox;
  let head;
  if (sent) {
    head = h('div', { class: 'list-head' }, h('h2', {}, 'Sent'));
  } else {
    const autoplay = h('label', { class: 'small' },
      h('input', { type: 'checkbox', id: 'autoplay', checked: S.autoplay, onchange: (ev) => { S.autoplay = ev.target.checked; localStorage.setItem('ivm.autoplay', S.autoplay ? '1' : '0'); } }),
      ' Autoplay next unplayed');
    const rate = h('button', { class: 'btn small', id: 'speed', type: 'button', title: 'Playback speed', 'aria-label': `Playback speed ${player.rate}x`,
      onclick: (ev) => { player.cycleRate(); ev.currentTarget.textContent = `${player.rate}x`; ev.currentTarget.setAttribute('aria-label', `Playback speed ${player.rate}x`); } }, `${player.rate}x`);
    head = h('div', { class: 'list-head' }, h('h2', {}, 'Inbox'), h('div', { class: 'row' }, autoplay, rate));
  }
  const ul = h('ul', { class: 'messages', id: sent ? 'sent' : 'inbox' });
  const empty = h('p', { class: 'muted empty', id: 'list-empty' }, sent ? 'Nothing sent yet.' : 'No messages. New ones appear here as soon as they arrive.');
  const more = h('p', { class: 'muted small more', id: 'list-more', role: 'status' });
  fill(el, head, ul, empty, more);
  const status = () => {
    empty.hidden = !(pages.loaded && !pages.items.length && !pages.more);
    more.textContent = pages.loading ? 'Loading older messages…' : '';
  };
  S.vlist = new VirtualList({
    ul,
    pages,
    row: sent ? sentRow : inboxRow,
    paint: paintRows,
    nearEnd: () => {
      if (pages.loading || !pages.loaded) return;
      const p = pages.older();
      status();
      p.then((added) => { if (added && S.vlist) S.vlist.refresh(); })
        .catch((e) => toast(`Cannot load older messages: ${errorText(e)}`, 'error'))
        .finally(status);
    },
  });
  const draw = S.vlist.draw.bind(S.vlist);
  S.vlist.draw = () => { draw(); status(); };
  status();
}

function inboxRow(m) {
  const from = m.sender_display_name || m.sender_name;
  const playing = player.key === m.id && player.playing;
  const canvas = h('canvas', { class: 'wave', tabindex: 0, role: 'slider', 'aria-label': `Position in message from ${from}`, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0 });
  canvas.addEventListener('click', (ev) => {
    const r = canvas.getBoundingClientRect();
    playMessage(m, (ev.clientX - r.left) / r.width);
  });
  canvas.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
    ev.preventDefault();
    const step = 5 / Math.max(1, m.duration_ms / 1000);
    const f = (player.key === m.id ? player.fraction : 0) + (ev.key === 'ArrowRight' ? step : -step);
    playMessage(m, Math.max(0, Math.min(0.999, f)));
  });
  const resumeAt = player.key === m.id ? null : player.position(m.id);
  return h('li', { class: `msg ${m.state !== 'played' ? 'unplayed' : ''} ${m.urgent ? 'urgent' : ''}`, dataset: { id: m.id } },
    h('span', { class: 'avatar' }, initials(from)),
    h('div', { class: 'msg-body' },
      h('div', { class: 'meta' },
        h('span', { class: 'from' }, from),
        m.state !== 'played' ? h('span', { class: 'new-dot', title: 'Not played yet' }, 'new') : null,
        m.partial ? h('span', { class: 'partial-mark', title: 'A live talk cut off before its end: this is what arrived' }, 'partial') : null,
        m.urgent ? h('span', { class: 'urgent-mark', title: 'All-call: an urgent talk to a group' }, 'urgent') : null,
        h('time', { datetime: new Date(m.created_at).toISOString(), class: 'muted' }, fmtTime(m.created_at)),
        m.recipients.length > 1 ? h('span', { class: 'muted small' }, `to ${m.recipients.map((r) => r.name).join(', ')}`) : null),
      h('div', { class: 'player' },
        h('button', { class: 'btn round play', type: 'button', 'aria-label': `${playing ? 'Pause' : 'Play'} message from ${from}`, onclick: () => togglePlay(m) }, icon(playing ? 'pause' : 'play')),
        canvas,
        h('span', { class: 'duration', title: 'Duration' }, playing || resumeAt ? `${fmtDuration((player.key === m.id ? player.audio.currentTime : resumeAt) * 1000)} / ` : '', fmtDuration(m.duration_ms))),
      m.attachments.length ? h('ul', { class: 'att-list' }, m.attachments.map((a) => attachmentItem(m, a))) : null),
    h('button', { class: 'btn icon-btn subtle del', type: 'button', title: 'Delete', 'aria-label': `Delete message from ${from}`, onclick: () => deleteMessage(m, 'inbox') }, icon('trash')));
}

function attachmentItem(m, a) {
  const viewable = /^(image\/(png|jpeg|gif|webp)|application\/pdf|text\/plain|audio\/|video\/)/.test(a.content_type);
  return h('li', { class: 'att' }, icon('clip'),
    h('span', { class: 'att-name' }, a.name), h('span', { class: 'muted' }, fmtSize(a.size)),
    viewable ? h('button', { class: 'btn small subtle', type: 'button', 'aria-label': `Open ${a.name}`, onclick: () => openAttachment(m, a, false) }, icon('open'), h('span', { class: 'lbl' }, 'Open')) : null,
    h('button', { class: 'btn small subtle', type: 'button', 'aria-label': `Download ${a.name}`, onclick: () => openAttachment(m, a, true) }, icon('download'), h('span', { class: 'lbl' }, 'Download')));
}

async function openAttachment(m, a, download) {
  // Opened or saved from a blob: the download needs the bearer token. Only inert types are
  // opened in a tab; everything else is saved, never rendered on the box's origin.
  const tab = download ? null : window.open('', '_blank');
  try {
    const blob = await S.api.attachment(m.id, a.index);
    const type = download ? 'application/octet-stream' : a.content_type.split(';')[0];
    const url = URL.createObjectURL(new Blob([blob], { type }));
    if (download) {
      const link = h('a', { href: url, download: a.name, class: 'visually-hidden' });
      document.body.append(link);
      link.click();
      link.remove();
    } else if (tab) {
      tab.location = url;
    } else {
      location.assign(url);
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    if (tab) tab.close();
    toast(errorText(e), 'error');
  }
}

const STATE_TEXT = { queued: 'sent', delivered: 'delivered', played: 'played', undeliverable: 'not delivered: no such user' };

function sentRow(m) {
  const playing = player.key === m.id && player.playing;
  const canvas = h('canvas', { class: 'wave', tabindex: 0, 'aria-label': 'Waveform' });
  canvas.addEventListener('click', (ev) => {
    const r = canvas.getBoundingClientRect();
    player.seek(m.id, (ev.clientX - r.left) / r.width, { durationMs: m.duration_ms }).catch((e) => toast(errorText(e), 'error'));
  });
  return h('li', { class: 'msg sent', dataset: { id: m.id } },
    h('span', { class: 'avatar' }, initials(displayOf(m.recipients[0]?.guid, m.recipients[0]?.name))),
    h('div', { class: 'msg-body' },
      h('div', { class: 'meta' },
        h('span', { class: 'from' }, 'To ', m.recipients.map((r) => displayOf(r.guid, r.name)).join(', ')),
        m.partial ? h('span', { class: 'partial-mark', title: 'A live talk cut off before its end: this is what arrived' }, 'partial') : null,
        h('time', { class: 'muted', datetime: new Date(m.created_at).toISOString() }, fmtTime(m.created_at))),
      h('div', { class: 'player' },
        h('button', { class: 'btn round play', type: 'button', 'aria-label': playing ? 'Pause' : 'Play', onclick: () => player.toggle(m.id, { durationMs: m.duration_ms }).catch((e) => toast(errorText(e), 'error')) }, icon(playing ? 'pause' : 'play')),
        canvas,
        h('span', { class: 'duration' }, fmtDuration(m.duration_ms))),
      h('ul', { class: 'receipts', 'aria-label': 'Receipts' }, m.recipients.map((r) =>
        h('li', { class: `receipt ${r.state}`, dataset: { recipient: r.name, state: r.state } },
          icon(r.state === 'undeliverable' ? 'x' : r.state === 'queued' ? 'check' : 'checks'),
          h('span', {}, `${displayOf(r.guid, r.name)}: `), h('span', { class: 'state' }, STATE_TEXT[r.state] || r.state)))),
      m.attachments.length ? h('ul', { class: 'att-list' }, m.attachments.map((a) => attachmentItem(m, a))) : null),
    h('button', { class: 'btn icon-btn subtle del', type: 'button', title: 'Delete', 'aria-label': 'Delete sent message', onclick: () => deleteMessage(m, 'sent') }, icon('trash')));
}

function rowOf(id) { return S.vlist ? S.vlist.rowOf(id) : null; }

/** The list on screen's messages (inbox or sent). */
function shownPages() { return S.view === 'sent' ? S.sent : S.inbox; }

/** Where playback of `m` stands, 0..1. */
function progressOf(m) {
  if (player.key === m.id) return player.fraction;
  if (m.duration_ms) return Math.min(1, (player.position(m.id) * 1000) / m.duration_ms);
  return 0;
}

/**
 * Draws the waveforms of freshly drawn rows; `size` is what every row's canvas measures
 * (read once for all of them): no layout is read per row.
 */
function paintRows(rows, size) {
  const pages = shownPages();
  const colors = waveColors();
  for (const li of rows) {
    const m = pages && pages.get(li.dataset.id);
    const c = li.querySelector('canvas.wave');
    if (!m || !c) continue;
    const f = progressOf(m);
    drawWaveform(c, m.peaks, f, { size, colors });
    c.setAttribute('aria-valuenow', String(Math.round(f * 100)));
  }
}

function paintWave(m) {
  const row = rowOf(m.id);
  const c = row && row.querySelector('canvas.wave');
  if (!c) return;
  const f = progressOf(m);
  drawWaveform(c, m.peaks, f, { colors: waveColors() });
  c.setAttribute('aria-valuenow', String(Math.round(f * 100)));
}

/** Draws one message's row again (a state changed), if it is on screen. */
function updateRow(id) {
  if (S.vlist) S.vlist.update(id);
}

function togglePlay(m) {
  if (player.key === m.id && player.playing) return player.pause();
  return playMessage(m, null);
}

async function playMessage(m, at) {
  try {
    if (at === null) await player.play(m.id, { durationMs: m.duration_ms });
    else await player.seek(m.id, at, { durationMs: m.duration_ms });
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    toast(`Cannot play: ${errorText(e)}`, 'error');
  }
}

player.addEventListener('started', (ev) => {
  const m = S.inbox && S.inbox.get(ev.detail.key);
  if (m) markPlayed(m);
});

player.addEventListener('state', () => {
  if (!S.me) return;
  if (C().phase === 'review') {
    const b = document.getElementById('draft-play');
    if (b) { const p = player.key === 'draft' && player.playing; b.replaceChildren(icon(p ? 'pause' : 'play')); b.setAttribute('aria-label', p ? 'Pause draft' : 'Play draft'); }
  }
  const pages = shownPages();
  if (!S.vlist || !pages) return;
  for (const id of S.vlist.ids()) {
    const m = pages.get(id);
    const row = rowOf(id);
    if (!row || !m) continue;
    const b = row.querySelector('button.play');
    const p = player.key === m.id && player.playing;
    if (b && b.dataset.playing !== String(p)) {
      b.dataset.playing = String(p);
      b.replaceChildren(icon(p ? 'pause' : 'play'));
      b.setAttribute('aria-label', b.getAttribute('aria-label').replace(/^(Play|Pause)/, p ? 'Pause' : 'Play'));
    }
    row.classList.toggle('current', player.key === m.id);
    paintWave(m);
  }
});

player.addEventListener('time', () => {
  if (player.key === 'draft') {
    const c = document.getElementById('draft-wave');
    if (c && C().draft) drawWaveform(c, C().draft.peaks, player.fraction);
    return;
  }
  const pages = shownPages();
  const m = pages && pages.get(player.key);
  if (!m) return;
  paintWave(m);
  const d = rowOf(m.id)?.querySelector('.duration');
  if (d) d.textContent = `${fmtDuration(player.audio.currentTime * 1000)} / ${fmtDuration(m.duration_ms)}`;
});

player.addEventListener('ended', (ev) => {
  const key = ev.detail.key;
  const m = S.inbox && S.inbox.get(key);
  if (m && S.view === 'inbox') updateRow(m.id);
  if (!S.autoplay || !m) return;
  // The next unplayed message: the oldest unplayed one after this, else the oldest unplayed
  // (of those loaded).
  const older = [...S.inbox.items].reverse();
  const next = older.find((x) => x.state !== 'played' && x.created_at >= m.created_at && x.id !== m.id)
    || older.find((x) => x.state !== 'played' && x.id !== m.id);
  if (next) playMessage(next, null);
});

async function deleteMessage(m, box) {
  if (!(await confirmDialog(box === 'inbox' ? `Delete this message from ${m.sender_display_name || m.sender_name}?` : 'Delete this sent message?'))) return;
  try {
    await S.api.deleteMessage(m.id);
    if (player.key === m.id) player.stop();
    player.forget(m.id);
    if (box === 'inbox') {
      if (S.inbox.remove(m.id)) {
        S.counts.inbox = Math.max(0, S.counts.inbox - 1);
        if (m.state !== 'played') S.counts.unplayed = Math.max(0, S.counts.unplayed - 1);
      }
    } else if (S.sent.remove(m.id)) {
      S.counts.sent = Math.max(0, S.counts.sent - 1);
    }
    recount();
    if (S.vlist) S.vlist.refresh();
    renderBadge();
  } catch (e) {
    toast(errorText(e), 'error');
  }
}

// ---------------------------------------------------------------- keyboard, drag and drop

document.addEventListener('keydown', (ev) => {
  if (!S.me || S.view === 'admin' || document.querySelector('dialog[open]')) return;
  const t = ev.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || (t && t.isContentEditable);
  if (ev.key === ' ' && !typing && !(t instanceof HTMLButtonElement) && !(t instanceof HTMLAnchorElement) && !ev.repeat) {
    ev.preventDefault();
    if (C().phase === 'talking') return;
    if (C().phase === 'idle' && composeMode() === 'talk') startTalking();
    else if (C().phase === 'recording') stopRecording(); else if (C().phase !== 'encoding') startRecording();
  } else if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    sendDraft();
  } else if (ev.key === 'Escape' && C().phase === 'recording') {
    ev.preventDefault();
    stopRecording(true);
  }
});

// Push-to-talk with the space bar (or Enter on the Talk button): releasing it ends the talk,
// wherever the focus went (the button is drawn again while held).
document.addEventListener('keyup', (ev) => {
  if ((ev.key === ' ' || ev.key === 'Enter') && C().phase === 'talking') {
    ev.preventDefault();
    stopTalking();
  }
});

let dragDepth = 0;
document.addEventListener('dragenter', (ev) => {
  if (!S.me || !ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
  dragDepth++;
  S.els.compose && S.els.compose.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth && S.els.compose) S.els.compose.classList.remove('dragging');
});
document.addEventListener('dragover', (ev) => { if (S.me) ev.preventDefault(); });
document.addEventListener('drop', (ev) => {
  ev.preventDefault();
  dragDepth = 0;
  if (S.els.compose) S.els.compose.classList.remove('dragging');
  if (S.me && S.view !== 'admin' && ev.dataTransfer && ev.dataTransfer.files.length) addFiles(ev.dataTransfer.files);
});

boot();
