// Recording: microphone → AudioWorklet (raw 48 kHz float PCM) → level meter, timer and
// silence detection while recording → on stop, Opus via WebCodecs' AudioEncoder wrapped in
// Ogg by ogg.js, or a 16-bit WAV when WebCodecs is missing. Chrome's MediaRecorder is not
// used: it writes WebM, which the box refuses.

import { muxOggOpus, encodeWav } from './ogg.js';

/** RMS level (0..1) at or above which a block counts as sound for the silence timeout. */
export const SOUND_RMS = 0.01; // -40 dBFS

export class Recorder extends EventTarget {
  /**
   * `silenceMs`: stop by itself after this long without sound (0 = never).
   * `maxMs`: stop by itself after this long (the box's limit is 10 minutes by default).
   */
  constructor({ silenceMs = 0, maxMs = 600000 } = {}) {
    super();
    this.silenceMs = silenceMs;
    this.maxMs = maxMs;
    this.chunks = [];
    this.length = 0;
    this.running = false;
  }

  get elapsedMs() { return this.sampleRate ? (this.length / this.sampleRate) * 1000 : 0; }

  /** Asks for the microphone and starts capturing. Rejects when the microphone is refused. */
  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this browser cannot record here (the page must be opened over https)');
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    try {
      this.ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
    } catch {
      this.ctx = new AudioContext();
    }
    this.sampleRate = this.ctx.sampleRate;
    await this.ctx.audioWorklet.addModule('/recorder-worklet.js');
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, 'ivm-capture', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1 });
    this.node.port.onmessage = (ev) => this.onBlock(ev.data);
    this.source.connect(this.node);
    this.node.connect(this.ctx.destination); // outputs silence; keeps the node pulled
    if (this.ctx.state === 'suspended') await this.ctx.resume();
    this.running = true;
    this.lastSoundMs = 0;
  }

  onBlock(block) {
    if (!this.running) return;
    this.chunks.push(block);
    this.length += block.length;
    let sum = 0;
    let peak = 0;
    for (let i = 0; i < block.length; i++) {
      const v = block[i];
      sum += v * v;
      const a = v < 0 ? -v : v;
      if (a > peak) peak = a;
    }
    const rms = Math.sqrt(sum / block.length);
    const ms = this.elapsedMs;
    if (rms >= SOUND_RMS) this.lastSoundMs = ms;
    this.dispatchEvent(new CustomEvent('level', { detail: { rms, peak, elapsedMs: ms } }));
    if (this.silenceMs > 0 && ms - this.lastSoundMs >= this.silenceMs) {
      this.dispatchEvent(new CustomEvent('autostop', { detail: { reason: 'silence' } }));
    } else if (ms >= this.maxMs) {
      this.dispatchEvent(new CustomEvent('autostop', { detail: { reason: 'limit' } }));
    }
  }

  /** Stops and returns `{pcm: Float32Array, sampleRate, durationMs}`. */
  async stop() {
    this.running = false;
    this.release();
    const pcm = new Float32Array(this.length);
    let at = 0;
    for (const c of this.chunks) { pcm.set(c, at); at += c.length; }
    this.chunks = [];
    return { pcm, sampleRate: this.sampleRate, durationMs: (pcm.length / this.sampleRate) * 1000 };
  }

  /** Stops and throws the audio away. */
  cancel() {
    this.running = false;
    this.release();
    this.chunks = [];
    this.length = 0;
  }

  release() {
    try { this.source && this.source.disconnect(); } catch { /* gone */ }
    try { this.node && this.node.disconnect(); } catch { /* gone */ }
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    if (this.ctx && this.ctx.state !== 'closed') this.ctx.close().catch(() => {});
    this.stream = null;
  }
}

/** Opus sample rates WebCodecs' encoder takes. */
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];

/** True when this browser can encode Opus with WebCodecs at `sampleRate`. */
export async function canEncodeOpus(sampleRate = 48000) {
  if (typeof AudioEncoder === 'undefined' || typeof AudioData === 'undefined') return false;
  if (!OPUS_RATES.includes(sampleRate)) return false;
  try {
    const r = await AudioEncoder.isConfigSupported(opusConfig(sampleRate));
    return !!r.supported;
  } catch {
    return false;
  }
}

function opusConfig(sampleRate, bitrate = 32000) {
  return { codec: 'opus', sampleRate, numberOfChannels: 1, bitrate, opus: { frameDuration: 20000, complexity: 10 } };
}

/** Pre-skip from an OpusHead in the encoder's decoder description, if it has one. */
function preSkipOf(desc) {
  if (!desc) return null;
  const u = desc instanceof ArrayBuffer ? new Uint8Array(desc) : new Uint8Array(desc.buffer, desc.byteOffset, desc.byteLength);
  if (u.length < 19 || String.fromCharCode(...u.subarray(0, 8)) !== 'OpusHead') return null;
  return u[10] | (u[11] << 8);
}

/** Mono float PCM → Ogg Opus bytes (Uint8Array) with WebCodecs. */
export async function encodeOpus(pcm, sampleRate, { bitrate = 32000 } = {}) {
  const packets = [];
  let preSkip = null;
  let failure = null;
  const enc = new AudioEncoder({
    output: (chunk, meta) => {
      const b = new Uint8Array(chunk.byteLength);
      chunk.copyTo(b);
      packets.push(b);
      const p = preSkipOf(meta && meta.decoderConfig && meta.decoderConfig.description);
      if (p !== null) preSkip = p;
    },
    error: (e) => { failure = e; },
  });
  enc.configure(opusConfig(sampleRate, bitrate));
  const step = Math.round(sampleRate / 10); // 100 ms per AudioData
  for (let i = 0; i < pcm.length; i += step) {
    const part = pcm.slice(i, Math.min(pcm.length, i + step));
    const data = new AudioData({
      format: 'f32-planar', sampleRate, numberOfFrames: part.length, numberOfChannels: 1,
      timestamp: Math.round((i * 1e6) / sampleRate), data: part,
    });
    enc.encode(data);
    data.close();
  }
  await enc.flush();
  enc.close();
  if (failure) throw failure;
  // libopus' look-ahead at 48 kHz is 312 samples, which is what Chrome reports too.
  const skip = preSkip ?? 312;
  const samples48 = Math.round((pcm.length * 48000) / sampleRate);
  return muxOggOpus(packets, { preSkip: skip, inputRate: sampleRate, samples: samples48, vendor: 'ivm-web (WebCodecs)' });
}

/**
 * The upload for a recording: `{blob, name, format: 'opus'|'wav'}`. Opus when WebCodecs can,
 * WAV otherwise (the box encodes that itself). `force` picks one (for tests).
 */
export async function encodeRecording(pcm, sampleRate, { force = null } = {}) {
  const opus = force ? force === 'opus' : await canEncodeOpus(sampleRate);
  if (opus) {
    try {
      const ogg = await encodeOpus(pcm, sampleRate);
      return { blob: new Blob([ogg], { type: 'audio/ogg; codecs=opus' }), name: 'message.opus', format: 'opus' };
    } catch (e) {
      if (force) throw e;
      // fall through to WAV
    }
  }
  const wav = encodeWav(pcm, sampleRate);
  return { blob: new Blob([wav], { type: 'audio/wav' }), name: 'message.wav', format: 'wav' };
}

/** 100 peaks (0-255, scaled to the loudest) for drawing a recording's waveform. */
export function peaksOf(pcm, n = 100) {
  const out = new Array(n).fill(0);
  if (!pcm.length) return out;
  const per = pcm.length / n;
  let top = 0;
  const raw = out.map((_, i) => {
    let m = 0;
    const end = Math.min(pcm.length, Math.floor((i + 1) * per));
    for (let j = Math.floor(i * per); j < end; j++) { const a = Math.abs(pcm[j]); if (a > m) m = a; }
    if (m > top) top = m;
    return m;
  });
  return raw.map((m) => (top > 0 ? Math.round((m / top) * 255) : 0));
}
