// Unit tests of web/protocol.js (with a fake WebSocket) and web/ogg.js, in node: no browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, backoffDelay, wsUrl, Api, newIdempotencyKey, messageKey } from '../../web/protocol.js';
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
