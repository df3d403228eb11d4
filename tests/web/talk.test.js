// Unit tests of the intercom's browser-independent parts, in node: the portion frame
// (web/protocol.js), the Session's talk_* actions and binary frames (with a fake WebSocket),
// and the jitter buffer (web/jitter.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, encodePortion, decodePortion, MAX_PORTION_BYTES } from '../../web/protocol.js';
import { JitterBuffer } from '../../web/jitter.js';

test('portion frame: the example of docs/protocol.md, byte for byte', () => {
  const f = encodePortion({ stream: 7, seq: 3, opus: Uint8Array.from([0xf8, 0xff, 0xfe]) });
  const hex = Buffer.from(f).toString('hex').replace(/(.{8})/g, '$1 ').trim();
  assert.equal(hex, '49540100 00000007 00000003 f8fffe');
  const last = encodePortion({ stream: 0x01020304, seq: 0xfffffffe, last: true, opus: Uint8Array.from([1]) });
  assert.deepEqual([...last.subarray(0, 12)], [0x49, 0x54, 1, 1, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe]);
  const back = decodePortion(last.buffer);
  assert.deepEqual({ ...back, opus: [...back.opus] }, { stream: 0x01020304, seq: 0xfffffffe, last: true, opus: [1] });
});

test('portion frame: what the box would refuse is refused here; what is not a portion reads as null', () => {
  assert.throws(() => encodePortion({ stream: 0, seq: 0, opus: Uint8Array.of(1) }), RangeError);
  assert.throws(() => encodePortion({ stream: 1, seq: 0, opus: new Uint8Array(0) }), RangeError);
  assert.throws(() => encodePortion({ stream: 1, seq: 0, opus: new Uint8Array(MAX_PORTION_BYTES + 1) }), RangeError);
  assert.equal(encodePortion({ stream: 1, seq: 0, opus: new Uint8Array(MAX_PORTION_BYTES) }).length, 12 + MAX_PORTION_BYTES);
  const ok = encodePortion({ stream: 9, seq: 1, opus: Uint8Array.of(0xf8) });
  const bad = (mutate) => { const c = Uint8Array.from(ok); mutate(c); return decodePortion(c); };
  assert.equal(bad((c) => { c[0] = 0x58; }), null, 'magic');
  assert.equal(bad((c) => { c[2] = 2; }), null, 'version');
  assert.equal(bad((c) => { c[3] = 2; }), null, 'unknown flag');
  assert.equal(bad((c) => { c[7] = 0; }), null, 'stream 0');
  assert.equal(decodePortion(ok.subarray(0, 12)), null, 'no audio');
  assert.equal(decodePortion(new Uint8Array(5)), null, 'short');
});

class FakeWS {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.binary = [];
    FakeWS.all.push(this);
    setTimeout(() => { this.readyState = 1; this.onopen && this.onopen(); }, 0);
  }
  send(data) {
    if (typeof data === 'string') this.sent.push(JSON.parse(data));
    else this.binary.push(Uint8Array.from(data));
  }
  close() { this.readyState = 3; setTimeout(() => this.onclose && this.onclose(), 0); }
  push(frame) { this.onmessage && this.onmessage({ data: JSON.stringify(frame) }); }
  pushBinary(bytes) { this.onmessage && this.onmessage({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }); }
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

async function online() {
  FakeWS.all = [];
  const s = new Session({ url: 'wss://box/api/ws', token: 'T', WebSocketImpl: FakeWS });
  s.start();
  await until(() => FakeWS.all.length === 1);
  const ws = FakeWS.all[0];
  for (const expect of ['connect', 'subscribe', 'check_in']) {
    await until(() => ws.sent.length && ws.last().action === expect);
    ws.push({ action: 'ack', id: ws.last().id, object: expect === 'check_in' ? { queued: 0 } : {} });
  }
  await until(() => s.state === 'online');
  assert.equal(ws.binaryType, 'arraybuffer', 'binary frames are read as ArrayBuffers');
  return { s, ws };
}

test('session: talk_start is answered by talk_accepted or talk_refused; talk_end is acked', async () => {
  const { s, ws } = await online();
  const p = s.talkStart(['g-bob', 'g-carol']);
  const req = ws.last();
  assert.deepEqual([req.action, req.destination, req.object], ['talk_start', ['g-bob', 'g-carol'], { frame_ms: 20, codec: 'opus' }]);
  const accepted = { stream: 7, frame_ms: 20, max_ms: 600000, live: ['g-bob'], stored: ['g-carol'] };
  ws.push({ action: 'talk_accepted', id: req.id, object: accepted });
  assert.deepEqual(await p, accepted);

  assert.equal(s.sendBinary(encodePortion({ stream: 7, seq: 0, opus: Uint8Array.of(0xf8, 1) })), true);
  assert.deepEqual([...ws.binary[0]], [0x49, 0x54, 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0xf8, 1]);

  const e = s.talkEnd(7);
  assert.deepEqual([ws.last().action, ws.last().object], ['talk_end', { stream: 7 }]);
  ws.push({ action: 'ack', id: ws.last().id });
  await e;

  const q = s.talkStart(['g-bob']);
  ws.push({ action: 'talk_refused', id: ws.last().id, object: { reason: 'already_talking', message: 'one live talk per speaker' } });
  await assert.rejects(q, (err) => err.code === 'already_talking' && /one live talk/.test(err.message));
  s.stop();
  assert.equal(s.sendBinary(Uint8Array.of(1)), false, 'nothing is sent once closed');
});

test('session: talk_incoming, portions (binary) and talk_end become events; other binary frames are ignored', async () => {
  const { s, ws } = await online();
  const got = [];
  for (const t of ['talk_incoming', 'portion', 'talk_end', 'error']) s.addEventListener(t, (ev) => got.push([t, ev.detail]));
  ws.push({ action: 'talk_incoming', source: 'g-ann', object: { stream: 7, from: 'g-ann', frame_ms: 20, codec: 'opus' } });
  ws.pushBinary(encodePortion({ stream: 7, seq: 0, opus: Uint8Array.of(0xf8, 2) }));
  ws.pushBinary(Uint8Array.of(0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1)); // not a portion
  ws.pushBinary(encodePortion({ stream: 7, seq: 1, opus: Uint8Array.of(0xf8, 3) }));
  ws.push({ action: 'error', id: '', object: { code: 'bad_portion', message: 'portion for stream 7 refused: late' } });
  ws.push({ action: 'talk_end', source: '00000000-0000-0000-0000-000000000000', object: { stream: 7, reason: 'finished', partial: false, duration_ms: 40, message: 'm1' } });
  assert.deepEqual(got.map(([t]) => t), ['talk_incoming', 'portion', 'portion', 'error', 'talk_end']);
  assert.deepEqual(got[1][1].stream, 7);
  assert.deepEqual([got[1][1].seq, [...got[1][1].opus]], [0, [0xf8, 2]]);
  assert.deepEqual([got[2][1].seq, [...got[2][1].opus]], [1, [0xf8, 3]]);
  assert.equal(got[3][1].code, 'bad_portion');
  assert.equal(got[4][1].message, 'm1');
  s.stop();
});

/** Pulls `n` blocks of 128 samples (the audio thread's size) and returns what came out. */
function pullBlocks(jb, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const b = new Float32Array(128);
    jb.pull(b);
    out.push(...b);
  }
  return out;
}

const ramp = (n, from) => Float32Array.from({ length: n }, (_, i) => from + i);

test('jitter buffer: silence until the target is buffered, then the audio in order', () => {
  const jb = new JitterBuffer({ sampleRate: 48000, targetMs: 60, maxMs: 300 }); // 2880 samples
  jb.push(ramp(960, 1)); // 20 ms
  assert.deepEqual(pullBlocks(jb, 2).filter((x) => x !== 0), [], 'waits for 60 ms');
  jb.push(ramp(960, 961));
  jb.push(ramp(960, 1921)); // 60 ms now
  const out = pullBlocks(jb, 22); // 2816 samples
  assert.deepEqual(out, Array.from({ length: 2816 }, (_, i) => i + 1));
  assert.deepEqual(jb.stats(), { playedMs: 59, bufferedMs: 1, underruns: 0, droppedMs: 0 });
});

test('jitter buffer: running dry plays silence, counts as an underrun when audio comes again, and waits for the target', () => {
  const jb = new JitterBuffer({ targetMs: 60 });
  jb.push(ramp(2880, 1));
  pullBlocks(jb, 22); // 2816 played, 64 left
  const b = new Float32Array(128);
  assert.equal(jb.pull(b), 64, 'the rest, then silence');
  assert.deepEqual([...b.subarray(64)], new Array(64).fill(0));
  assert.equal(jb.stats().underruns, 0, 'dry: the end of a talk looks the same, until more comes');
  jb.push(ramp(960, 1)); // 20 ms: under the target again
  assert.equal(jb.stats().underruns, 1, 'more came: that was an underrun');
  assert.equal(jb.pull(new Float32Array(128)), 0, 'refilling');
  assert.equal(jb.stats().underruns, 1, 'refilling is not another underrun');
  jb.push(ramp(1920, 1));
  assert.equal(jb.pull(new Float32Array(128)), 128);
});

test('jitter buffer: past maxMs the oldest audio is dropped (and counted); the end plays out without the target', () => {
  const jb = new JitterBuffer({ targetMs: 60, maxMs: 100 }); // 4800 samples
  for (let i = 0; i < 10; i++) jb.push(ramp(960, i * 960)); // 200 ms in a burst
  assert.deepEqual(jb.stats(), { playedMs: 0, bufferedMs: 100, underruns: 0, droppedMs: 100 });
  const b = new Float32Array(128);
  jb.pull(b);
  assert.equal(b[0], 4800, 'the newest 100 ms are kept');
  const tail = new JitterBuffer({ targetMs: 60 });
  tail.push(ramp(300, 1));
  assert.equal(tail.pull(new Float32Array(128)), 0, 'a short talk waits for the target...');
  tail.end();
  assert.equal(tail.pull(new Float32Array(128)), 128, '...until it is over');
  tail.pull(new Float32Array(128));
  assert.equal(tail.pull(new Float32Array(128)), 44);
  assert.equal(tail.done, true);
  assert.equal(tail.stats().underruns, 0, 'the end is not an underrun');
});
