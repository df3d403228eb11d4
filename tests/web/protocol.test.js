// Unit tests of web/protocol.js (with a fake WebSocket) and web/ogg.js, in node: no browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, backoffDelay, wsUrl, Api, newIdempotencyKey, messageKey, ReceiptQueue, nextLink } from '../../web/protocol.js';
import { Pages, newer } from '../../web/vlist.js';
import { oggCrc32, opusPacketSamples, muxOggOpus, parseOgg, encodeWav, opusTags, FLAG_BOS, FLAG_EOS } from '../../web/ogg.js';

class FakeWS {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWS.all.push(this);
    setTimeout(() => { this.readyState = 1; this.onopen && this.onopen(); }, 0);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.readyState = 3; setTimeout(() => this.onclose && this.onclose(), 0); }
  push(frame) { this.onmessage && this.onmessage({ data: JSON.stringify(frame) }); }
  last() { return this.sent[this.sent.length - 1]; }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function until(cond, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(2);
  }
}

/** Answers connect / subscribe / check_in like the box. */
async function handshake(ws, { queued = [] } = {}) {
  await until(() => ws.sent.length >= 1);
  const c = ws.sent[0];
  assert.equal(c.action, 'connect');
  ws.push({ action: 'ack', id: c.id, object: { user: { name: 'bob' }, ping_interval_s: 30 } });
  await until(() => ws.sent.length >= 2);
  const s = ws.sent[1];
  assert.equal(s.action, 'subscribe');
  ws.push({ action: 'presence', source: 'g-ann', object: { status: 'available' } });
  ws.push({ action: 'ack', id: s.id });
  await until(() => ws.sent.length >= 3);
  const k = ws.sent[2];
  assert.equal(k.action, 'check_in');
  for (const m of queued) ws.push({ action: 'message', id: m.id, source: 'g-ann', object: m });
  ws.push({ action: 'ack', id: k.id, object: { queued: queued.length } });
}

test('session: connect, subscribe, check_in, pushes, ping answered with pong', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const events = [];
  for (const t of ['ready', 'message', 'presence', 'receipt', 'state']) s.addEventListener(t, (e) => events.push([t, e.detail]));
  s.start();
  await until(() => FakeWS.all.length === 1);
  const ws = FakeWS.all[0];
  await handshake(ws, { queued: [{ id: 'm1', sender_name: 'ann' }] });
  await until(() => events.some(([t]) => t === 'ready'));
  assert.equal(ws.sent[0].object.token, 'T');
  assert.ok(events.some(([t, d]) => t === 'presence' && d.user === 'g-ann' && d.status === 'available'));
  assert.ok(events.some(([t, d]) => t === 'message' && d.id === 'm1'));
  assert.equal(s.state, 'online');

  ws.push({ action: 'ping', id: 'p7' });
  assert.deepEqual(ws.last(), { action: 'pong', id: 'p7' });

  const d = s.delivered('m1');
  const req = ws.last();
  assert.deepEqual([req.action, req.object], ['delivered', { message: 'm1' }]);
  ws.push({ action: 'ack', id: req.id });
  await d;

  const p = s.played('nope');
  const req2 = ws.last();
  ws.push({ action: 'error', id: req2.id, object: { code: 'not_found', message: 'no such message' } });
  await assert.rejects(p, (e) => e.code === 'not_found');

  ws.push({ action: 'receipt', source: 'g-bob', object: { message: 'm9', recipient: 'g-bob', state: 'played' } });
  assert.ok(events.some(([t, d2]) => t === 'receipt' && d2.state === 'played'));
  s.stop();
  assert.equal(ws.sent.at(-1).action, 'disconnect');
});

test('session: reconnects with backoff after a close and after server_going_down', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS, backoff: { min: 10, max: 40 } });
  let ready = 0;
  let down = 0;
  s.addEventListener('ready', () => ready++);
  s.addEventListener('going_down', () => down++);
  s.start();
  await until(() => FakeWS.all.length === 1);
  await handshake(FakeWS.all[0]);
  await until(() => ready === 1);
  FakeWS.all[0].close();
  await until(() => FakeWS.all.length === 2, 3000);
  await handshake(FakeWS.all[1]);
  await until(() => ready === 2);
  FakeWS.all[1].push({ action: 'server_going_down', object: { reason: 'the server is shutting down' } });
  FakeWS.all[1].close();
  await until(() => FakeWS.all.length === 3, 3000);
  assert.equal(down, 1);
  s.stop();
});

test('session: a refused token stops the session', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'bad', WebSocketImpl: FakeWS, backoff: { min: 5, max: 5 } });
  let refused = 0;
  s.addEventListener('unauthorized', () => refused++);
  s.start();
  await until(() => FakeWS.all.length === 1 && FakeWS.all[0].sent.length === 1);
  const ws = FakeWS.all[0];
  ws.push({ action: 'error', id: ws.sent[0].id, object: { code: 'unauthorized', message: 'unknown token' } });
  await until(() => refused === 1);
  await tick(50);
  assert.equal(FakeWS.all.length, 1, 'no reconnect with a bad token');
});

test('backoff grows, is capped and jittered; wsUrl follows the page scheme', () => {
  const mid = { random: () => 1 };
  assert.equal(backoffDelay(0, { min: 500, max: 15000, ...mid }), 500);
  assert.equal(backoffDelay(3, { min: 500, max: 15000, ...mid }), 4000);
  assert.equal(backoffDelay(30, { min: 500, max: 15000, ...mid }), 15000);
  assert.equal(backoffDelay(3, { min: 500, max: 15000, random: () => 0 }), 2000);
  assert.equal(wsUrl({ protocol: 'https:', host: 'box:8443' }), 'wss://box:8443/api/ws');
  assert.equal(wsUrl({ protocol: 'http:', host: 'box' }), 'ws://box/api/ws');
});

test('api: bearer header, JSON errors become ApiError, 401 calls onUnauthorized', async () => {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push([url, init]);
    if (url.endsWith('/api/me')) return new Response(JSON.stringify({ error: 'unauthorized', message: 'token expired' }), { status: 401 });
    return new Response(JSON.stringify([{ name: 'ann' }]), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const api = new Api({ token: 'T', fetchImpl });
  let gone = 0;
  api.onUnauthorized = () => gone++;
  assert.deepEqual(await api.contacts(), [{ name: 'ann' }]);
  assert.equal(calls[0][1].headers.Authorization, 'Bearer T');
  await assert.rejects(api.me(), (e) => e.status === 401 && e.code === 'unauthorized' && e.message === 'token expired');
  assert.equal(gone, 1);
});

test('api: changePassword sends both passwords; 403 password change required calls its hook', async () => {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push([url, init]);
    if (url.endsWith('/api/me/password')) return new Response(null, { status: 204 });
    return new Response(JSON.stringify({ error: 'password change required', message: 'choose one' }), { status: 403 });
  };
  const api = new Api({ token: 'T', fetchImpl });
  let asked = 0;
  api.onPasswordChangeRequired = () => asked++;
  assert.equal(await api.changePassword('old one', 'new one!'), null);
  assert.equal(calls[0][1].method, 'PUT');
  assert.deepEqual(JSON.parse(calls[0][1].body), { current_password: 'old one', new_password: 'new one!' });
  await assert.rejects(api.contacts(), (e) => e.status === 403 && e.code === 'password change required');
  assert.equal(asked, 1);
});

test('api: sendMessage carries the Idempotency-Key; the key follows the message, not the attempt', async () => {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push([url, init]);
    return new Response(JSON.stringify({ id: 'm1' }), { status: 201, headers: { 'content-type': 'application/json' } });
  };
  const api = new Api({ token: 'T', fetchImpl });
  const draft = newIdempotencyKey();
  assert.match(draft, /^[0-9a-f-]{32,36}$/);
  assert.notEqual(newIdempotencyKey(), draft, 'a new key per recording');
  const audio = new Blob([new Uint8Array([1, 2, 3])]);
  const files = [new File([new Uint8Array([9])], 'a.txt')];
  const key = messageKey(draft, ['bob', 'ann'], files);
  assert.equal(key, messageKey(draft, ['ann', 'bob'], files), 'a retry of the same message: the same key');
  assert.notEqual(key, messageKey(draft, ['ann'], files), 'other recipients: another key');
  assert.notEqual(key, messageKey(draft, ['ann', 'bob'], []), 'other attachments: another key');
  assert.ok(key.length <= 128 && /^[\x21-\x7e]+$/.test(key), key);
  await api.sendMessage({ to: ['bob'], audio, key });
  await api.sendMessage({ to: ['bob'], audio });
  assert.equal(calls[0][1].headers['Idempotency-Key'], key);
  assert.equal(calls[0][1].headers.Authorization, 'Bearer T');
  assert.equal(calls[1][1].headers['Idempotency-Key'], undefined);
});

test('session: password_change_required at connect stops the session and says so', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'ws://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const seen = [];
  s.addEventListener('password_change_required', (ev) => seen.push(ev.detail.message));
  s.start();
  await new Promise((r) => setTimeout(r, 5));
  const ws = FakeWS.all[0];
  const hello = ws.last();
  assert.equal(hello.action, 'connect');
  ws.push({ action: 'error', id: hello.id, object: { code: 'password_change_required', message: 'choose one' } });
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(seen, ['choose one']);
  assert.equal(s.stopped, true);
});

test('ogg: CRC-32 matches the Ogg polynomial', () => {
  // CRC-32/MPEG-2 without init/xorout ("CRC-32/BZIP2" core) check: reference values.
  assert.equal(oggCrc32(new Uint8Array([])), 0);
  assert.equal(oggCrc32(new TextEncoder().encode('123456789')), 0x89a1897f);
});

test('ogg: Opus TOC sample counts', () => {
  assert.equal(opusPacketSamples(Uint8Array.of(0xf8, 1)), 960); // CELT FB 20 ms, code 0
  assert.equal(opusPacketSamples(Uint8Array.of(0x08, 1)), 960); // SILK NB 20 ms
  assert.equal(opusPacketSamples(Uint8Array.of(0x01, 1)), 960); // SILK 10 ms, code 1 (2 frames)
  assert.equal(opusPacketSamples(Uint8Array.of(0xfb, 0x03)), 2880); // CELT 20 ms x 3 (code 3)
  assert.equal(opusPacketSamples(Uint8Array.of(0x18, 0)), 2880); // SILK 60 ms
  assert.equal(opusPacketSamples(new Uint8Array()), 0);
});

test('ogg: muxer page layout, granules and CRCs', () => {
  const pkt = (n) => { const p = new Uint8Array(n).fill(7); p[0] = 0xf8; return p; };
  const packets = Array.from({ length: 120 }, (_, i) => pkt(i === 5 ? 600 : 80)); // 2.4 s, one multi-segment packet
  const ogg = muxOggOpus(packets, { preSkip: 312, samples: 120 * 960 - 500, serial: 42 });
  const pages = parseOgg(ogg);
  assert.ok(pages.every((p) => p.crcOk), 'every CRC verifies');
  assert.ok(pages.every((p, i) => p.sequence === i && p.serial === 42));
  assert.equal(pages[0].flags, FLAG_BOS);
  assert.equal(new TextDecoder().decode(pages[0].packets[0].subarray(0, 8)), 'OpusHead');
  assert.equal(new TextDecoder().decode(pages[1].packets[0].subarray(0, 8)), 'OpusTags');
  assert.equal(pages.at(-1).flags, FLAG_EOS);
  const audio = pages.slice(2).flatMap((p) => p.packets);
  assert.equal(audio.length, 120);
  assert.equal(audio[5].length, 600);
  let total = 0;
  for (const p of pages.slice(2, -1)) {
    total += p.packets.length * 960;
    assert.equal(Number(p.granule), total, 'granule = samples decoded to the end of the page');
  }
  assert.equal(Number(pages.at(-1).granule), 312 + 120 * 960 - 500, 'last page trimmed to the real length');
  assert.ok(pages.length >= 5, 'about one page per second of audio');
});

test('ogg: OpusTags and WAV writer', () => {
  const t = opusTags('v', ['A=b']);
  assert.equal(t.length, 8 + 4 + 1 + 4 + 4 + 3);
  const w = encodeWav(Float32Array.of(0, 1, -1, 0.5), 48000);
  const v = new DataView(w.buffer);
  assert.equal(new TextDecoder().decode(w.subarray(0, 4)), 'RIFF');
  assert.equal(v.getUint32(24, true), 48000);
  assert.equal(v.getInt16(46, true), 32767);
  assert.equal(v.getInt16(48, true), -32768);
});

/** Receipts frames the fake box got on `ws` since `from`. */
function receiptFrames(ws, from = 0) {
  return ws.sent.slice(from).filter((f) => f.action === 'receipts');
}

test('receipts: queued while offline, sent in batches of 500 once online, one batch at a time', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const q = new ReceiptQueue(s, { retryMs: 20 });
  for (let i = 0; i < 1200; i++) q.add(`m${i}`, 'delivered');
  q.add('m7', 'played'); // a further state replaces the earlier one
  q.add('m8', 'played');
  q.add('m8', 'delivered'); // and never goes back
  assert.equal(q.size, 1200);
  await tick(5);
  assert.equal(FakeWS.all.length, 0, 'nothing is sent before the session exists');
  s.start();
  await until(() => FakeWS.all.length === 1);
  const ws = FakeWS.all[0];
  await handshake(ws);
  await until(() => receiptFrames(ws).length === 1);
  await tick(10);
  assert.equal(receiptFrames(ws).length, 1, 'one batch in flight at a time');
  const b1 = receiptFrames(ws)[0];
  assert.equal(b1.object.receipts.length, 500);
  assert.deepEqual(b1.object.receipts.find((r) => r.message === 'm7'), { message: 'm7', state: 'played' });
  assert.deepEqual(b1.object.receipts.find((r) => r.message === 'm8'), { message: 'm8', state: 'played' });
  // The box answers for all of them (two it does not know): they leave the queue.
  const ids = b1.object.receipts.map((r) => r.message);
  ws.push({ action: 'ack', id: b1.id, object: { applied: ids.slice(2), not_found: ids.slice(0, 2) } });
  await until(() => receiptFrames(ws).length === 2);
  const b2 = receiptFrames(ws)[1];
  assert.equal(b2.object.receipts.length, 500);
  assert.ok(!b2.object.receipts.some((r) => ids.includes(r.message)), 'answered ones are not sent again');
  // A failure: the same receipts again after the retry delay, none dropped.
  ws.push({ action: 'error', id: b2.id, object: { code: 'internal', message: 'disk trouble' } });
  await until(() => receiptFrames(ws).length === 3, 2000);
  const b3 = receiptFrames(ws)[2];
  assert.deepEqual(b3.object.receipts, b2.object.receipts);
  ws.push({ action: 'ack', id: b3.id, object: { applied: b3.object.receipts.map((r) => r.message), not_found: [] } });
  await until(() => receiptFrames(ws).length === 4);
  const b4 = receiptFrames(ws)[3];
  assert.equal(b4.object.receipts.length, 200);
  // While the last batch is out, one of it is played: it stays for another batch.
  q.add(b4.object.receipts[0].message, 'played');
  let idle = 0;
  q.addEventListener('idle', () => idle++);
  ws.push({ action: 'ack', id: b4.id, object: { applied: b4.object.receipts.map((r) => r.message), not_found: [] } });
  await until(() => receiptFrames(ws).length === 5);
  const b5 = receiptFrames(ws)[4];
  assert.deepEqual(b5.object.receipts, [{ message: b4.object.receipts[0].message, state: 'played' }]);
  ws.push({ action: 'ack', id: b5.id, object: { applied: [b5.object.receipts[0].message], not_found: [] } });
  await until(() => idle === 1);
  assert.equal(q.size, 0);
  s.stop();
});

test('receipts: a batch cut off by a closed socket is sent again after the reconnect', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS, backoff: { min: 5, max: 5 } });
  const q = new ReceiptQueue(s, { retryMs: 5000 });
  s.start();
  await until(() => FakeWS.all.length === 1);
  await handshake(FakeWS.all[0]);
  await until(() => s.state === 'online');
  q.add('a', 'delivered');
  q.add('b', 'played');
  await until(() => receiptFrames(FakeWS.all[0]).length === 1);
  FakeWS.all[0].close(); // no answer ever comes
  await until(() => FakeWS.all.length === 2, 3000);
  await handshake(FakeWS.all[1]);
  // Sent again at once on `ready`, not after the 5 s retry delay.
  await until(() => receiptFrames(FakeWS.all[1]).length === 1, 1000);
  assert.deepEqual(receiptFrames(FakeWS.all[1])[0].object.receipts, [
    { message: 'a', state: 'delivered' }, { message: 'b', state: 'played' }]);
  s.stop();
  q.stop();
});

test('receipts: played ones survive a closed tab (storage), delivered ones need not', async () => {
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  FakeWS.all = [];
  const s1 = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const q1 = new ReceiptQueue(s1, { storage });
  q1.add('heard', 'played');
  q1.add('got', 'delivered');
  assert.deepEqual(JSON.parse(store.get('ivm.receipts')), { heard: 'played' });
  // The tab closes here. Next time:
  const s2 = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const q2 = new ReceiptQueue(s2, { storage });
  assert.equal(q2.size, 1);
  s2.start();
  await until(() => FakeWS.all.length === 1);
  const ws = FakeWS.all[0];
  await handshake(ws);
  await until(() => receiptFrames(ws).length === 1);
  const b = receiptFrames(ws)[0];
  assert.deepEqual(b.object.receipts, [{ message: 'heard', state: 'played' }]);
  ws.push({ action: 'ack', id: b.id, object: { applied: ['heard'], not_found: [] } });
  await until(() => q2.size === 0);
  assert.equal(store.has('ivm.receipts'), false, 'answered: forgotten');
  s2.stop();
});

test('session: the receipts push and check-in messages are told apart', async () => {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  const got = [];
  s.addEventListener('message', (e) => got.push([e.detail.id, s.checkingIn]));
  s.addEventListener('receipts', (e) => got.push(['receipts', e.detail.length]));
  s.start();
  await until(() => FakeWS.all.length === 1);
  const ws = FakeWS.all[0];
  await handshake(ws, { queued: [{ id: 'old' }] });
  await until(() => s.state === 'online');
  ws.push({ action: 'message', id: 'new', object: { id: 'new' } });
  ws.push({ action: 'receipts', object: { receipts: [{ message: 'x', recipient: 'r', state: 'played' }, { message: 'y', recipient: 'r', state: 'delivered' }] } });
  assert.deepEqual(got, [['old', true], ['new', false], ['receipts', 2]]);
  s.stop();
});

test('api: lists come a page at a time; the Link header gives the next page', async () => {
  const asked = [];
  const fetchImpl = async (url) => {
    asked.push(url);
    const link = url.includes('before=') ? {} : { Link: '</api/messages/inbox?limit=2&before=CUR>; rel="next"' };
    return new Response(JSON.stringify([{ id: 'a' }]), { status: 200, headers: { 'content-type': 'application/json', ...link } });
  };
  const api = new Api({ token: 'T', fetchImpl });
  const p1 = await api.inbox({ limit: 2 });
  assert.deepEqual(p1, { items: [{ id: 'a' }], next: '/api/messages/inbox?limit=2&before=CUR' });
  const p2 = await api.inbox({ from: p1.next });
  assert.equal(p2.next, null);
  assert.deepEqual(asked, ['/api/messages/inbox?limit=2', '/api/messages/inbox?limit=2&before=CUR']);
  await assert.rejects(api.inbox({ from: 'https://elsewhere/x' }), (e) => e.code === 'bad_link');
  assert.equal(nextLink('</a>; rel="prev", </b>; rel="next"'), '/b');
  assert.equal(nextLink('</a>; rel="prev"'), null);
  assert.equal(nextLink(null), null);
});

test('pages: newest first, older pages appended, pushes placed in order or left to their page', async () => {
  const all = [];
  for (let i = 0; i < 10; i++) all.push({ id: `id${i}`, created_at: 1000 + Math.floor(i / 2), state: 'queued', recipients: [] });
  all.sort(newer);
  const fetched = [];
  const pages = new Pages(async (from) => {
    fetched.push(from);
    const start = from ? Number(from) : 0;
    const items = all.slice(start, start + 4).map((m) => ({ ...m })); // copies, as from JSON
    return { items, next: start + 4 < all.length ? String(start + 4) : null };
  });
  assert.equal(pages.more, true);
  await pages.first();
  assert.deepEqual(pages.items.map((m) => m.id), all.slice(0, 4).map((m) => m.id));
  // A message older than everything loaded waits for its page; a newer one goes on top.
  const old = { id: 'old', created_at: 1, recipients: [] };
  assert.equal(pages.add(old), false);
  const fresh = { id: 'fresh', created_at: 5000, recipients: [] };
  assert.equal(pages.add(fresh), true);
  assert.equal(pages.items[0].id, 'fresh');
  assert.equal(pages.add(fresh), false, 'once');
  // Two scrolls at once fetch one page.
  const [a, b] = [pages.older(), pages.older()];
  assert.equal(await a, true);
  await b;
  assert.deepEqual(fetched, [null, '4']);
  while (pages.more) await pages.older();
  assert.deepEqual(pages.items.map((m) => m.id), ['fresh', ...all.map((m) => m.id)]);
  // Now everything is loaded: an old push has its place.
  assert.equal(pages.add(old), true);
  assert.equal(pages.items[pages.items.length - 1].id, 'old');
  // A page again after a reconnect: states move forward only, nothing is doubled.
  all[0].state = 'played';
  const changed = await pages.first();
  assert.deepEqual(changed.map((m) => m.id), [all[0].id]);
  assert.equal(pages.items.length, 12);
  assert.equal(pages.remove('old'), true);
  assert.equal(pages.get('old'), undefined);
});
