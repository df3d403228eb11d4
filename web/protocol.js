// The web client's protocol code, all of it: REST calls (`Api`) and the WebSocket session
// (`Session`). No DOM here beyond fetch, WebSocket, Blob/FormData and EventTarget, so the
// browser tests can import this module on its own. See docs/protocol.md for the wire format.

/** An answer of the box that is not 2xx: `status`, `code` (the body's `error`), `message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `error` of the 403 the box answers while the user must choose a new password. */
export const PASSWORD_CHANGE_REQUIRED = 'password change required';

/** The presence values the box knows. */
export const STATUSES = ['available', 'busy', 'away', 'offline'];

/** A new idempotency key: a random UUID (the box accepts 1-128 visible ASCII characters). */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * The key for sending `draftKey`'s recording to `to` with `attachments`: the same as long as
 * the user retries the same message, another one as soon as they change the recipients or the
 * attachments (the box refuses a key reused for a different message).
 */
export function messageKey(draftKey, to, attachments = []) {
  const what = [...to].sort().join(',') + '|' + attachments.map((f) => `${f.name}:${f.size}`).join(',');
  let h = 0x811c9dc5;
  for (let i = 0; i < what.length; i++) {
    h ^= what.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${draftKey}-${h.toString(16).padStart(8, '0')}`;
}

/** REST client. `token` is sent as `Authorization: Bearer` on every call but login. */
export class Api {
  constructor({ base = '', token = null, fetchImpl = null } = {}) {
    this.base = base;
    this.token = token;
    this.fetch = fetchImpl || ((...a) => fetch(...a));
    /** Called with the ApiError when the box says 401 (token expired or revoked). */
    this.onUnauthorized = null;
    /**
     * Called with the ApiError when the box says 403 `password change required`: the password
     * in use was set for this user by someone else and works once (see `changePassword`).
     */
    this.onPasswordChangeRequired = null;
  }

  async request(method, path, { json, form, as = 'json', headers: extra = {} } = {}) {
    const headers = { ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let res;
    try {
      res = await this.fetch(this.base + path, { method, headers, body, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the box: check the network');
    }
    if (!res.ok) {
      let b = null;
      try { b = await res.json(); } catch { /* not JSON */ }
      throw this.failure(path, res.status, b, res.headers.get('Retry-After'));
    }
    if (res.status === 204 || as === 'none') return null;
    if (as === 'blob') return res.blob();
    if (as === 'page') return { body: await res.json(), headers: res.headers };
    return res.json();
  }

  /**
   * The ApiError for a non-2xx answer to `path` (`body` its JSON or null), after telling
   * `onUnauthorized` or `onPasswordChangeRequired` when it is theirs.
   */
  failure(path, status, body, retryAfter = null) {
    const err = new ApiError(status, body?.error || 'http_' + status, body?.message || `the box answered ${status}`);
    if (status === 429) err.retryAfter = Number(retryAfter) || null;
    if (status === 401 && path !== '/api/login' && this.onUnauthorized) this.onUnauthorized(err);
    if (status === 403 && err.code === PASSWORD_CHANGE_REQUIRED && this.onPasswordChangeRequired) {
      this.onPasswordChangeRequired(err);
    }
    return err;
  }

  // Session
  async login(name, password) {
    const r = await this.request('POST', '/api/login', { json: { name, password } });
    this.token = r.token;
    return r;
  }
  async logout() {
    try { await this.request('POST', '/api/logout'); } finally { this.token = null; }
  }
  /** Who I am; `must_change_password` says a new password must be chosen first. */
  me() { return this.request('GET', '/api/me'); }
  /**
   * Changes my own password. Rejects with an ApiError: 403 `wrong_password` (counted like a
   * failed login), 429 `rate_limited` (`retryAfter`), 400 `bad_request` (too short, or the same
   * as the current one). My other sessions end; this one stays.
   */
  changePassword(currentPassword, newPassword) {
    return this.request('PUT', '/api/me/password', {
      json: { current_password: currentPassword, new_password: newPassword },
    });
  }
  setStatus(status) { return this.request('PUT', '/api/me/status', { json: { status } }); }
  /** My call settings: forwards, `no_answer_after`, `voicemail`, `dnd`. */
  settings() { return this.request('GET', '/api/me/settings'); }
  /** Changes the fields given (a forward `""` is off); 400 `bad_request` changes nothing. */
  patchSettings(patch) { return this.request('PATCH', '/api/me/settings', { json: patch }); }
  /** My call history, newest first: `[{at, kind, answered, peer, peer_name, peer_extension}]`. */
  calls() { return this.request('GET', '/api/me/calls'); }

  // Contacts and directory
  contacts() { return this.request('GET', '/api/contacts'); }
  addContact(user) { return this.request('POST', '/api/contacts', { json: { user } }); }
  removeContact(user) { return this.request('DELETE', `/api/contacts/${encodeURIComponent(user)}`); }
  directory() { return this.request('GET', '/api/users'); }

  // Messages
  /**
   * One page of my inbox, newest first: `{items, next}`. `next` is the path of the following
   * page (from the box's `Link` header; pass it back as `from`), `null` after the last one.
   */
  inbox({ limit = 50, from = null } = {}) { return this.page(from || `/api/messages/inbox?limit=${limit}`); }
  /** One page of what I sent, newest first, with every recipient's state (like `inbox`). */
  sent({ limit = 50, from = null } = {}) { return this.page(from || `/api/messages/sent?limit=${limit}`); }
  /** `{inbox, unplayed, sent}`: how many messages I have, without fetching the lists. */
  counts() { return this.request('GET', '/api/messages/counts'); }
  async page(path) {
    if (!path.startsWith('/api/messages/')) throw new ApiError(0, 'bad_link', `not a list of this box: ${path}`);
    const { body, headers } = await this.request('GET', path, { as: 'page' });
    return { items: body, next: nextLink(headers.get('Link')) };
  }
  message(id) { return this.request('GET', `/api/messages/${encodeURIComponent(id)}`); }
  deleteMessage(id) { return this.request('DELETE', `/api/messages/${encodeURIComponent(id)}`); }
  audio(id) { return this.request('GET', `/api/messages/${encodeURIComponent(id)}/audio`, { as: 'blob' }); }
  attachment(id, index) {
    return this.request('GET', `/api/messages/${encodeURIComponent(id)}/attachments/${index}`, { as: 'blob' });
  }
  delivered(id) { return this.request('POST', `/api/messages/${encodeURIComponent(id)}/delivered`); }
  played(id) { return this.request('POST', `/api/messages/${encodeURIComponent(id)}/played`); }

  /**
   * Sends a voice message: `to` is a list of names, extensions or GUIDs; `audio` a Blob
   * (Ogg Opus or WAV) named `audioName`; `attachments` a list of File/Blob (with `.name`).
   * Resolves with the message metadata once the box has stored it durably.
   *
   * `key` (see `newIdempotencyKey`) goes in the `Idempotency-Key` header: send the same key
   * again when retrying the same message after a failure (the answer may have been lost after
   * the box stored it), and the box answers with the stored message instead of a second copy.
   */
  sendMessage({ to, audio, audioName = 'message.opus', attachments = [], key = null }) {
    const form = new FormData();
    for (const t of to) form.append('to', t);
    form.append('audio', audio, audioName);
    for (const f of attachments) form.append('attachment', f, f.name || 'attachment');
    const headers = key ? { 'Idempotency-Key': key } : {};
    return this.request('POST', '/api/messages', { form, headers });
  }

  /**
   * Rings my registered desk phone to record a message to `to` (names, extensions or GUIDs).
   * Resolves with `{state:"recording"}` once the phone is answered; rejects with an ApiError:
   * 408 `no_answer` (not answered within 30 s), 409 `no_phone`, `phone_busy`, `declined`.
   */
  ringMe(to) { return this.request('POST', '/api/ring-me', { json: { to } }); }

  // Administration (admins only)
  adminStatus() { return this.request('GET', '/api/admin/status'); }
  adminUsers() { return this.request('GET', '/api/admin/users'); }
  adminAddUser(user) { return this.request('POST', '/api/admin/users', { json: user }); }
  adminUpdateUser(name, change) {
    return this.request('PATCH', `/api/admin/users/${encodeURIComponent(name)}`, { json: change });
  }
  adminDeleteUser(name) { return this.request('DELETE', `/api/admin/users/${encodeURIComponent(name)}`); }
  adminResetPassword(name, password) {
    const json = password ? { password } : {};
    return this.request('POST', `/api/admin/users/${encodeURIComponent(name)}/password`, { json });
  }
  /** Groups for all-calls: `everyone` (built in) first, then by name, with their members. */
  adminGroups() { return this.request('GET', '/api/admin/groups'); }
  adminAddGroup(name, members) { return this.request('POST', '/api/admin/groups', { json: { name, members } }); }
  /** Replaces a group's members (`members`, names) and/or adds and removes some. */
  adminUpdateGroup(name, change) {
    return this.request('PATCH', `/api/admin/groups/${encodeURIComponent(name)}`, { json: change });
  }
  adminDeleteGroup(name) { return this.request('DELETE', `/api/admin/groups/${encodeURIComponent(name)}`); }
  /** Desk phones with their state (`unassigned`, `seen`, `provisioned`, `registered`). */
  adminPhones() { return this.request('GET', '/api/admin/phones'); }
  /** Assigns a known phone to `user` (a login name), or unassigns it with `null`. */
  adminAssignPhone(mac, user) {
    return this.request('PUT', `/api/admin/phones/${encodeURIComponent(mac)}`, { json: { user } });
  }
  adminRemovePhone(mac) { return this.request('DELETE', `/api/admin/phones/${encodeURIComponent(mac)}`); }
  adminArmPhone(mac) { return this.request('POST', `/api/admin/phones/${encodeURIComponent(mac)}/arm`); }
  adminPhoneSecrets(mac) { return this.request('GET', `/api/admin/phones/${encodeURIComponent(mac)}/secrets`); }
  adminGateways() { return this.request('GET', '/api/admin/gateways'); }
  /** Assigns a gateway's line (`aaln/1`) to a user's login name, or `null` to unassign it. */
  adminAssignLine(gateway, endpoint, user) {
    return this.request('PUT', `/api/admin/gateways/${encodeURIComponent(gateway)}/lines`, { json: { endpoint, user } });
  }
  /**
   * Uploads an update bundle (a File or Blob; the body is the file). `onProgress(sent,
   * total)` follows the upload: this one call uses XMLHttpRequest, as fetch reports no upload
   * progress and a bundle is hundreds of MB. Resolves with `{version, message}` once the box
   * verified it and its installer took it; rejects with an ApiError: 400 refused (cut short,
   * changed, another key: nothing installed), 404 this box installs no updates, 409 another
   * update under way, 413 too large, 0 the network.
   */
  /** Restarts the box (the panel's Reboot): `{message}` once under way. */
  adminRestart() { return this.request('POST', '/api/admin/restart'); }
  adminUpdate(file, onProgress = null) {
    const path = '/api/admin/update';
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', this.base + path);
      if (this.token) xhr.setRequestHeader('Authorization', `Bearer ${this.token}`);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onerror = () => reject(new ApiError(0, 'network', 'cannot reach the box: check the network'));
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(this.failure(path, xhr.status, body, xhr.getResponseHeader('Retry-After')));
      };
      xhr.send(file);
    });
  }
}

/** The target of `rel="next"` in a `Link` header (RFC 8288), or null. */
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && m[2].split(';').some((p) => /^\s*rel="?next"?\s*$/.test(p))) return m[1];
  }
  return null;
}

/** Magic of an intercom portion frame (`IT`), its version and header size (wire/src/talk.rs). */
export const PORTION_MAGIC = [0x49, 0x54];
export const PORTION_VERSION = 1;
export const PORTION_HEADER = 12;
/** Largest Opus packet the box takes in one portion. */
export const MAX_PORTION_BYTES = 4000;

/**
 * One live-talk portion as a binary WebSocket frame: magic `IT`, version 1, flags (bit 0 =
 * last), stream id and sequence as big-endian u32, then one Opus packet. Throws on what the
 * box would refuse, so a bug shows here and not as the box's `bad_portion`.
 */
export function encodePortion({ stream, seq, last = false, opus }) {
  if (!stream || stream > 0xffffffff) throw new RangeError(`bad stream id ${stream}`);
  if (!opus || !opus.length || opus.length > MAX_PORTION_BYTES) throw new RangeError(`portion of ${opus ? opus.length : 0} bytes`);
  const out = new Uint8Array(PORTION_HEADER + opus.length);
  const v = new DataView(out.buffer);
  out[0] = PORTION_MAGIC[0];
  out[1] = PORTION_MAGIC[1];
  out[2] = PORTION_VERSION;
  out[3] = last ? 1 : 0;
  v.setUint32(4, stream);
  v.setUint32(8, seq >>> 0);
  out.set(opus, PORTION_HEADER);
  return out;
}

/** Reads a portion frame (`ArrayBuffer` or `Uint8Array`): `{stream, seq, last, opus}`, or
 * null when it is not one (a newer box's frame is ignored, never misread). */
export function decodePortion(frame) {
  const u = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (u.length <= PORTION_HEADER || u[0] !== PORTION_MAGIC[0] || u[1] !== PORTION_MAGIC[1] || u[2] !== PORTION_VERSION || (u[3] & ~1)) return null;
  const v = new DataView(u.buffer, u.byteOffset, u.byteLength);
  const stream = v.getUint32(4);
  if (!stream) return null;
  return { stream, seq: v.getUint32(8), last: (u[3] & 1) === 1, opus: u.subarray(PORTION_HEADER) };
}

/** `ws:`/`wss:` URL of the box's WebSocket for a page at `loc` (window.location). */
export function wsUrl(loc) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/api/ws`;
}

/** Delay before reconnect attempt `n` (0-based): exponential from `min` to `max`, with jitter. */
export function backoffDelay(n, { min = 500, max = 15000, random = Math.random } = {}) {
  const d = Math.min(max, min * 2 ** Math.min(n, 16));
  return Math.round(d / 2 + random() * (d / 2));
}

/**
 * The WebSocket session. Events (CustomEvent, data in `detail`):
 * - `state`: `{state: 'connecting'|'online'|'offline', retryIn?}`
 * - `ready`: the session is connected, subscribed and checked in: `{user, queued}`
 * - `message`: a new voice message (metadata as in REST), from a push or from check_in
 *   (`checkingIn` is true while check_in's queued messages arrive)
 * - `receipt`: `{message, recipient, state}` for a message I sent
 * - `receipts`: a list of those, from a recipient's batch (see `ReceiptQueue`)
 * - `presence`: `{user: guid, status}`
 * - `going_down`: `{reason}` (the box is shutting down; the session reconnects)
 * - `unauthorized`: the token was refused; the session stops
 * - `password_change_required`: the user must choose a new password first; the session stops
 * - `error`: `{code, message}` for an error frame that answers no request of ours
 * - `talk_incoming`: `{stream, from, frame_ms, codec}`: a live talk to me starts
 * - `portion`: `{stream, seq, last, opus}`: a piece of a live talk (binary frame)
 * - `talk_end`: `{stream, reason, partial, duration_ms, message?}`: a talk I spoke or heard ended
 */
export class Session extends EventTarget {
  constructor({ url, token, client = 'ivm-web/0.1', priority = 'high', WebSocketImpl = null, backoff = {} }) {
    super();
    this.url = url;
    this.token = token;
    this.client = client;
    this.priority = priority;
    this.WS = WebSocketImpl || globalThis.WebSocket;
    this.backoff = backoff;
    this.ws = null;
    this.state = 'offline';
    this.user = null;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, action}
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = true;
    this.subscriptions = null; // null = all my contacts
    this.checkingIn = false;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, ...extra });
  }

  /** Opens the socket (and keeps it open, reconnecting with backoff) until `stop()`. */
  start() {
    this.stopped = false;
    this.open();
  }

  /** Says `disconnect` when connected, closes the socket and stops reconnecting. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        if (ws.readyState === 1) ws.send(JSON.stringify({ action: 'disconnect', id: this.newId() }));
        ws.close(1000, 'bye');
      } catch { /* already closed */ }
    }
    this.failPending('the session was closed');
    this.setState('offline');
  }

  newId() { return 'w' + this.nextId++; }

  failPending(why) {
    for (const p of this.pending.values()) p.reject(new ApiError(0, 'closed', why));
    this.pending.clear();
  }

  open() {
    clearTimeout(this.retryTimer);
    this.setState('connecting');
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer'; // live-talk portions, read as they come
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onclose = () => this.onClose(ws);
    ws.onerror = () => { /* onclose follows */ };
  }

  async onOpen(ws) {
    try {
      const ack = await this.request('connect', {
        object: { token: this.token, client: this.client, priority: this.priority },
      });
      this.user = ack && ack.user;
      this.attempt = 0;
      await this.request('subscribe', { destination: this.subscriptions || [] });
      this.checkingIn = true;
      let checked;
      try { checked = await this.request('check_in'); } finally { this.checkingIn = false; }
      this.setState('online');
      this.emit('ready', { user: this.user, queued: checked ? checked.queued : 0 });
    } catch (e) {
      if (e.code === 'unauthorized' || e.code === 'password_change_required') {
        this.stopped = true;
        this.emit(e.code, { message: e.message });
        try { ws.close(1000); } catch { /* closed */ }
      }
      // Other failures: the socket closes and we retry.
    }
  }

  onClose(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.failPending('the connection to the box closed');
    if (this.stopped) {
      this.setState('offline');
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const delay = backoffDelay(this.attempt++, this.backoff);
    this.setState('offline', { retryIn: delay });
    this.retryTimer = setTimeout(() => { if (!this.stopped) this.open(); }, delay);
  }

  /** Reconnects now (for example when the page comes back online). */
  reconnectNow() {
    if (this.stopped || this.state !== 'offline') return;
    this.attempt = 0;
    this.open();
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) throw new ApiError(0, 'closed', 'not connected to the box');
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends an action and resolves with the `ack`'s object (rejects with ApiError on `error`). */
  request(action, { object, destination } = {}) {
    const id = this.newId();
    const frame = { action, id };
    if (destination) frame.destination = destination;
    if (object !== undefined) frame.object = object;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, action });
      try {
        this.send(frame);
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /** Sends a binary frame (a live-talk portion). False when not connected. */
  sendBinary(bytes) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(bytes);
    return true;
  }

  onFrame(ws, data) {
    if (ws !== this.ws) return;
    if (typeof data !== 'string') {
      const p = data instanceof ArrayBuffer ? decodePortion(data) : null;
      if (p) this.emit('portion', p);
      return;
    }
    let f;
    try { f = JSON.parse(data); } catch { return; }
    const o = f.object || {};
    switch (f.action) {
      case 'ack':
      case 'error': {
        const p = f.id !== undefined && this.pending.get(f.id);
        if (p) {
          this.pending.delete(f.id);
          if (f.action === 'ack') p.resolve(f.object);
          else p.reject(new ApiError(0, o.code, o.message));
        } else if (f.action === 'error') {
          this.emit('error', o);
        }
        break;
      }
      case 'ping':
        try { this.send({ action: 'pong', id: f.id }); } catch { /* closing */ }
        break;
      case 'pong': {
        const p = f.id !== undefined && this.pending.get(f.id);
        if (p) { this.pending.delete(f.id); p.resolve(null); }
        break;
      }
      case 'message':
        this.emit('message', o);
        break;
      case 'talk_accepted':
      case 'talk_refused': {
        const p = f.id !== undefined && this.pending.get(f.id);
        if (p) {
          this.pending.delete(f.id);
          if (f.action === 'talk_accepted') p.resolve(o);
          else p.reject(new ApiError(0, o.reason, o.message));
        }
        break;
      }
      case 'talk_incoming':
        this.emit('talk_incoming', o);
        break;
      case 'talk_end':
        this.emit('talk_end', o);
        break;
      case 'receipt':
        this.emit('receipt', o);
        break;
      case 'receipts':
        this.emit('receipts', Array.isArray(o.receipts) ? o.receipts : []);
        break;
      case 'presence':
        this.emit('presence', { user: f.source, status: o.status });
        break;
      case 'server_going_down':
        this.emit('going_down', { reason: o.reason });
        break; // the box closes the socket next; onClose reconnects
      case 'disconnect':
        this.emit('going_down', { reason: o.reason });
        break;
      default:
        break;
    }
  }

  /** Follow these users' presence (GUIDs); the box answers with their status now. */
  follow(guids) { return this.request('subscribe', { destination: guids }); }
  unfollow(guids) { return this.request('unsubscribe', { destination: guids }); }
  delivered(messageId) { return this.request('delivered', { object: { message: messageId } }); }
  played(messageId) { return this.request('played', { object: { message: messageId } }); }
  /** Many receipts at once (`[{message, state}]`, at most 500): `{applied, not_found}`. */
  receipts(list) { return this.request('receipts', { object: { receipts: list } }); }
  setStatus(status) { return this.request('set_status', { object: { status } }); }
  /**
   * Starts a live talk to `to` (GUIDs): resolves with `talk_accepted`'s object (`stream`,
   * `frame_ms`, `max_ms`, `live`, `stored`); rejects with an ApiError whose `code` is
   * `talk_refused`'s reason.
   */
  talkStart(to, { frameMs = 20 } = {}) {
    return this.request('talk_start', { destination: to, object: { frame_ms: frameMs, codec: 'opus' } });
  }
  /** Ends my live talk `stream` (after its last portion). */
  talkEnd(stream) { return this.request('talk_end', { object: { stream } }); }
  ping() { return this.request('ping'); }
}

const RANK = { queued: 0, delivered: 1, played: 2 };

/**
 * Receipts (`delivered`, `played`) on their way to the box: kept until the box has answered
 * for them, sent over the session's WebSocket in batches of at most `batch` (one `receipts`
 * frame, one commit on the box), one batch at a time, retried with backoff after a failure
 * and whenever the session is ready again. Nothing is sent while offline and nothing is
 * dropped: a client back from a long absence confirms thousands of messages in a few frames
 * instead of a request each (which the browser refuses past its connection limits).
 *
 * `played` receipts are also kept in `storage` (localStorage) until answered, so one made
 * just before the tab closes is sent next time; `delivered` ones need not be: the box pushes
 * every message still queued at the next check-in, and the client confirms it then.
 *
 * Events: `idle` once nothing is pending, `sent` `{applied, not_found}` after each answer.
 */
export class ReceiptQueue extends EventTarget {
  constructor(session, { batch = 500, retryMs = 1000, maxRetryMs = 30000, storage = null, key = 'ivm.receipts' } = {}) {
    super();
    this.session = session;
    this.batch = batch;
    this.retryMs = retryMs;
    this.maxRetryMs = maxRetryMs;
    this.storage = storage;
    this.key = key;
    this.pending = new Map(); // message id -> furthest state asked for
    this.inFlight = false;
    this.failures = 0;
    this.timer = null;
    this.scheduled = false;
    try {
      const saved = storage ? JSON.parse(storage.getItem(key) || '{}') : {};
      for (const [id, st] of Object.entries(saved)) if (st === 'played') this.pending.set(id, st);
    } catch { /* corrupt: nothing saved */ }
    this.onReady = () => { this.failures = 0; this.flushSoon(); };
    session.addEventListener('ready', this.onReady);
  }

  /** How many messages have a receipt not yet answered. */
  get size() { return this.pending.size; }

  /** Queues `state` for message `id` (a lower state than one already queued is ignored). */
  add(id, state) {
    const old = this.pending.get(id);
    if (old && RANK[old] >= RANK[state]) return;
    this.pending.set(id, state);
    if (state === 'played') this.save();
    this.flushSoon();
  }

  /** Stops retrying (logout); what is pending is forgotten, played ones included. */
  stop() {
    clearTimeout(this.timer);
    this.session.removeEventListener('ready', this.onReady);
    this.pending.clear();
    this.save();
  }

  save() {
    if (!this.storage) return;
    const played = {};
    for (const [id, st] of this.pending) if (st === 'played') played[id] = st;
    try {
      if (Object.keys(played).length) this.storage.setItem(this.key, JSON.stringify(played));
      else this.storage.removeItem(this.key);
    } catch { /* storage full or blocked: the box keeps the message unplayed */ }
  }

  /** Sends soon, once for many `add`s in a row (a check-in brings them by the thousand). */
  flushSoon() {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => { this.scheduled = false; this.flush(); }, 0);
  }

  retryLater() {
    this.failures++;
    clearTimeout(this.timer);
    const delay = Math.min(this.maxRetryMs, this.retryMs * 2 ** Math.min(this.failures - 1, 10));
    this.timer = setTimeout(() => this.flush(), delay);
  }

  async flush() {
    if (this.inFlight || !this.pending.size || this.session.state !== 'online') return;
    const list = [];
    for (const [message, state] of this.pending) {
      list.push({ message, state });
      if (list.length === this.batch) break;
    }
    this.inFlight = true;
    let answer = null;
    try {
      answer = await this.session.receipts(list);
    } catch {
      answer = null;
    }
    this.inFlight = false;
    if (!answer) {
      // Not answered (offline, closed, the box failed): all of it again, later.
      this.retryLater();
      return;
    }
    this.failures = 0;
    const asked = new Map(list.map((r) => [r.message, r.state]));
    let played = false;
    let answered = 0;
    for (const id of [...(answer.applied || []), ...(answer.not_found || [])]) {
      if (!asked.has(id)) continue;
      answered++;
      const st = this.pending.get(id);
      // A further state queued meanwhile stays for the next batch.
      if (st && st === asked.get(id)) {
        this.pending.delete(id);
        played ||= st === 'played';
      }
    }
    if (played) this.save();
    this.dispatchEvent(new CustomEvent('sent', { detail: answer }));
    if (!this.pending.size) this.dispatchEvent(new CustomEvent('idle'));
    else if (answered) this.flush();
    else this.retryLater(); // an answer naming none of them: do not spin
  }
}
