// Intercom (live talk, issue 13) in the browser. `Talk` is the speaker's side: microphone →
// AudioWorklet (10 ms blocks) → WebCodecs AudioEncoder (Opus, 48 kHz mono, one packet per
// `frame_ms`) → each packet as a binary portion frame on the session's WebSocket the moment it
// is encoded, so the pace is the microphone's (real time). `LiveTalk` is a listener's side:
// portions → AudioDecoder → a jitter-buffer AudioWorklet (jitter-worklet.js) → a mute gain →
// the speakers. The wire format is in protocol.js (`encodePortion`) and docs/protocol.md.

import { encodePortion } from './protocol.js';

/** True when this browser can both encode and decode Opus with WebCodecs (a secure page). */
export async function canTalk() {
  if (typeof AudioEncoder === 'undefined' || typeof AudioDecoder === 'undefined' || typeof AudioData === 'undefined') return false;
  try {
    const [e, d] = await Promise.all([
      AudioEncoder.isConfigSupported(encoderConfig(20)),
      AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 }),
    ]);
    return !!(e.supported && d.supported);
  } catch {
    return false;
  }
}

function encoderConfig(frameMs) {
  // Speech at 32 kbit/s; frameDuration is in microseconds.
  return { codec: 'opus', sampleRate: 48000, numberOfChannels: 1, bitrate: 32000, opus: { frameDuration: frameMs * 1000, complexity: 5 } };
}

/** Opens one AudioContext at 48 kHz (Opus' own rate), or the device's rate if refused. */
function newContext() {
  try {
    return new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
  } catch {
    return new AudioContext({ latencyHint: 'interactive' });
  }
}

/**
 * One push-to-talk from press to release. `start()` asks the box (`talk_start`) while the
 * microphone opens, so no speech is lost to the round trip: packets encoded before
 * `talk_accepted` wait and go at once after it (at most the round trip, far under the box's
 * 1 s pace allowance). `stop()` flushes the encoder, sends what is left and `talk_end`.
 * Events: `accepted` (talk_accepted's object), `level` `{rms, elapsedMs}`, `error`.
 */
export class Talk extends EventTarget {
  constructor(session, to, { frameMs = 20 } = {}) {
    super();
    this.session = session;
    this.to = to;
    this.frameMs = frameMs;
    this.stream = null;
    this.seq = 0;
    this.waiting = []; // Opus packets encoded before talk_accepted
    this.samples = 0; // captured samples fed to the encoder
    this.sentFrames = 0;
    this.stopped = false;
    this.failed = null;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  /** Resolves with talk_accepted's object; rejects (and releases the microphone) when the box
   * refuses or the microphone is blocked. */
  async start() {
    const accepted = this.session.talkStart(this.to, { frameMs: this.frameMs });
    accepted.catch(() => {}); // handled below, after the microphone
    try {
      await this.openMicrophone();
    } catch (e) {
      this.release();
      // A talk the box already started ends at once (nothing sent, nothing stored).
      accepted.then((a) => this.session.talkEnd(a.stream).catch(() => {}), () => {});
      throw e;
    }
    let a;
    try {
      a = await accepted;
    } catch (e) {
      this.release();
      throw e;
    }
    this.accepted = a;
    this.stream = a.stream;
    this.frameMs = a.frame_ms || this.frameMs;
    for (const p of this.waiting.splice(0)) this.send(p);
    this.emit('accepted', a);
    if (this.stopped) await this.finish();
    return a;
  }

  async openMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this browser cannot use the microphone here (the page must be opened over https)');
    }
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.ctx = newContext();
    this.rate = this.ctx.sampleRate;
    this.encoder = new AudioEncoder({
      output: (chunk) => {
        const b = new Uint8Array(chunk.byteLength);
        chunk.copyTo(b);
        if (this.stream) this.send(b); else this.waiting.push(b);
      },
      error: (e) => { this.failed = e; this.emit('error', e); },
    });
    const cfg = encoderConfig(this.frameMs);
    cfg.sampleRate = this.rate;
    this.encoder.configure(cfg);
    await this.ctx.audioWorklet.addModule('/recorder-worklet.js');
    this.source = this.ctx.createMediaStreamSource(this.media);
    this.node = new AudioWorkletNode(this.ctx, 'ivm-capture', {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1,
      processorOptions: { block: Math.round(this.rate / 100) },
    });
    this.node.port.onmessage = (ev) => this.onBlock(ev.data);
    this.source.connect(this.node);
    this.node.connect(this.ctx.destination); // silence; keeps the node pulled
    if (this.ctx.state === 'suspended') await this.ctx.resume();
  }

  onBlock(block) {
    if (this.stopped || !this.encoder || this.encoder.state !== 'configured') return;
    const data = new AudioData({
      format: 'f32-planar', sampleRate: this.rate, numberOfFrames: block.length, numberOfChannels: 1,
      timestamp: Math.round((this.samples * 1e6) / this.rate), data: block,
    });
    this.samples += block.length;
    this.encoder.encode(data);
    data.close();
    let sum = 0;
    for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
    this.emit('level', { rms: Math.sqrt(sum / block.length), elapsedMs: this.elapsedMs });
  }

  get elapsedMs() { return this.rate ? (this.samples / this.rate) * 1000 : 0; }

  send(opus) {
    if (opus.length > 4000) return; // never from a conforming encoder; the box would refuse it
    if (this.session.sendBinary(encodePortion({ stream: this.stream, seq: this.seq++, opus }))) this.sentFrames++;
  }

  /** Release: the rest of the audio goes, then `talk_end`. Safe to call more than once. */
  async stop() {
    if (this.stopped) return this.ending;
    this.stopped = true;
    if (this.stream === null) {
      // Not accepted yet: start() finishes once it is (or releases on refusal).
      this.ending = Promise.resolve();
      return this.ending;
    }
    this.ending = this.finish();
    return this.ending;
  }

  async finish() {
    if (this.finishing) return this.finishing;
    this.finishing = (async () => {
      if (this.source) try { this.source.disconnect(); } catch { /* gone */ }
      if (this.encoder && this.encoder.state === 'configured') {
        try { await this.encoder.flush(); } catch { /* closed */ }
      }
      this.release();
      try { await this.session.talkEnd(this.stream); } catch { /* the box ends it by itself (idle) */ }
    })();
    return this.finishing;
  }

  release() {
    try { this.node && this.node.disconnect(); } catch { /* gone */ }
    if (this.encoder && this.encoder.state !== 'closed') try { this.encoder.close(); } catch { /* closed */ }
    if (this.media) for (const t of this.media.getTracks()) t.stop();
    if (this.ctx && this.ctx.state !== 'closed') this.ctx.close().catch(() => {});
    this.media = null;
  }
}

let playCtx = null;
let workletReady = null;

/** The page's one playback context for live talks (kept: opening one per talk is slow). */
async function playbackContext() {
  if (!playCtx || playCtx.state === 'closed') {
    playCtx = newContext();
    workletReady = playCtx.audioWorklet.addModule('/jitter-worklet.js');
  }
  await workletReady;
  if (playCtx.state === 'suspended') await playCtx.resume().catch(() => {});
  return playCtx;
}

/**
 * A live talk heard here: decode and play portions of `stream` as they come. Portions that
 * arrive before the worklet is ready wait (they are decoded in order). `stop()` stops hearing
 * it (the box still stores it); `muted` keeps it running, silent. Events: `stats`
 * (the jitter buffer's counters), `done` (played out or stopped).
 */
export class LiveTalk extends EventTarget {
  constructor({ stream, from, frameMs = 20 }, { targetMs = 60, onNode = null } = {}) {
    super();
    this.stream = stream;
    this.from = from;
    this.frameMs = frameMs;
    this.targetMs = targetMs;
    this.onNode = onNode;
    this.early = [];
    this.stopped = false;
    this.muted = false;
    this.lastSeq = -1;
    this.stats = { playedMs: 0, bufferedMs: 0, underruns: 0, droppedMs: 0, portions: 0, gaps: 0 };
    this.ready = this.open();
  }

  async open() {
    const ctx = await playbackContext();
    if (this.stopped) return;
    this.ctx = ctx;
    this.node = new AudioWorkletNode(ctx, 'ivm-live-talk', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { targetMs: this.targetMs } });
    this.gain = ctx.createGain();
    this.node.connect(this.gain).connect(ctx.destination);
    this.node.port.onmessage = (ev) => {
      Object.assign(this.stats, ev.data);
      this.dispatchEvent(new CustomEvent('stats', { detail: this.stats }));
      if (ev.data.done) this.close();
    };
    // A test (or a diagnostics page) may tap what is played: the node, before the mute.
    if (this.onNode) this.onNode(ctx, this.node, this);
    this.decoder = new AudioDecoder({
      output: (data) => {
        if (this.stopped || !this.node) { data.close(); return; }
        const pcm = new Float32Array(data.numberOfFrames);
        data.copyTo(pcm, { planeIndex: 0, format: 'f32-planar' });
        data.close();
        this.node.port.postMessage(pcm, [pcm.buffer]);
      },
      error: () => { /* a broken packet: that portion is lost, the buffer plays silence */ },
    });
    this.decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 });
    for (const p of this.early.splice(0)) this.decode(p);
  }

  /** One portion of this talk (from the session's `portion` event). */
  portion(p) {
    if (this.stopped) return;
    if (!this.decoder) { this.early.push(p); return; }
    this.decode(p);
  }

  decode(p) {
    if (this.decoder.state !== 'configured') return;
    if (this.lastSeq >= 0 && p.seq > this.lastSeq + 1) this.stats.gaps += p.seq - this.lastSeq - 1;
    this.lastSeq = p.seq;
    this.stats.portions++;
    this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: p.seq * this.frameMs * 1000, data: p.opus }));
  }

  /** The talk ended (`talk_end`): what is buffered plays out, then `done`. */
  async end() {
    await this.ready;
    if (this.stopped || !this.node) return this.close();
    if (this.decoder && this.decoder.state === 'configured') {
      try { await this.decoder.flush(); } catch { /* closed */ }
    }
    if (this.node) this.node.port.postMessage({ end: true });
  }

  mute(on) {
    this.muted = on;
    if (this.gain) this.gain.gain.value = on ? 0 : 1;
  }

  /** Stop hearing this talk now (the stored message stays in the inbox). */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.stopped = true;
    if (this.decoder && this.decoder.state !== 'closed') try { this.decoder.close(); } catch { /* closed */ }
    try { this.node && this.node.disconnect(); } catch { /* gone */ }
    try { this.gain && this.gain.disconnect(); } catch { /* gone */ }
    this.node = null;
    this.dispatchEvent(new CustomEvent('done', { detail: this.stats }));
  }
}
