// Playback: one <audio> element for everything, fed from blob: URLs (downloads need the bearer
// token, so the audio is fetched first), with per-message resume positions, speed, seek, and a
// waveform drawn on a canvas from the message's `peaks`. Also the new-message chime.

const POS_KEY = 'ivm.pos.';

export class Player extends EventTarget {
  /** `load(key)` resolves a Blob for a key (a message id, or 'draft'). */
  constructor(load) {
    super();
    this.loadBlob = load;
    this.audio = new Audio();
    this.audio.preload = 'auto';
    this.urls = new Map();
    this.key = null;
    this.rate = Number(localStorage.getItem('ivm.rate')) || 1;
    this.lastSave = 0;
    const a = this.audio;
    a.addEventListener('timeupdate', () => { this.emit('time'); this.savePosition(false); });
    a.addEventListener('play', () => this.emit('state'));
    a.addEventListener('pause', () => { this.savePosition(true); this.emit('state'); });
    a.addEventListener('ended', () => {
      const key = this.key;
      this.forget(key);
      this.emit('state');
      this.dispatchEvent(new CustomEvent('ended', { detail: { key } }));
    });
    a.addEventListener('error', () => this.emit('state'));
  }

  emit(type) {
    this.dispatchEvent(new CustomEvent(type, { detail: { key: this.key, playing: this.playing, fraction: this.fraction } }));
  }

  get playing() { return !!this.key && !this.audio.paused && !this.audio.ended; }

  /** Where playback is in the current item, 0..1. */
  get fraction() {
    const d = this.duration;
    return d > 0 ? Math.min(1, this.audio.currentTime / d) : 0;
  }

  get duration() {
    const d = this.audio.duration;
    return Number.isFinite(d) && d > 0 ? d : (this.knownDuration || 0);
  }

  /** Remembered position (seconds) of a message. */
  position(key) { return Number(localStorage.getItem(POS_KEY + key)) || 0; }

  savePosition(force) {
    if (!this.key || this.key === 'draft') return;
    const now = Date.now();
    if (!force && now - this.lastSave < 1000) return;
    this.lastSave = now;
    const t = this.audio.currentTime;
    if (t > 0.5 && !this.audio.ended) localStorage.setItem(POS_KEY + this.key, t.toFixed(2));
  }

  forget(key) { localStorage.removeItem(POS_KEY + key); }

  async url(key) {
    if (!this.urls.has(key)) {
      const blob = await this.loadBlob(key);
      this.urls.set(key, URL.createObjectURL(blob));
    }
    return this.urls.get(key);
  }

  /** Sets the draft's audio (replacing any earlier draft). */
  setDraft(blob) {
    this.dropDraft();
    if (blob) this.urls.set('draft', URL.createObjectURL(blob));
  }

  dropDraft() {
    if (this.key === 'draft') this.stop();
    const u = this.urls.get('draft');
    if (u) URL.revokeObjectURL(u);
    this.urls.delete('draft');
  }

  /** Plays `key` from where it was left (or from `at`, 0..1 of `durationMs`). */
  async play(key, { durationMs = 0, at = null } = {}) {
    const a = this.audio;
    if (this.key !== key) {
      this.savePosition(true);
      a.pause();
      this.key = key;
      this.knownDuration = durationMs / 1000;
      this.emit('state');
      a.src = await this.url(key);
      if (this.key !== key) return; // another play() won the race
      const resume = key === 'draft' ? 0 : this.position(key);
      if (at === null && resume > 0 && (!this.knownDuration || resume < this.knownDuration - 0.3)) a.currentTime = resume;
    }
    if (at !== null) a.currentTime = at * this.duration;
    a.playbackRate = this.rate;
    this.dispatchEvent(new CustomEvent('started', { detail: { key } }));
    await a.play();
  }

  pause() { this.audio.pause(); }

  stop() {
    this.audio.pause();
    this.key = null;
    this.emit('state');
  }

  /** Play or pause `key`. */
  toggle(key, opts) {
    if (this.key === key && this.playing) {
      this.pause();
      return Promise.resolve();
    }
    return this.play(key, opts);
  }

  /** Jumps to `fraction` (0..1) of `key`, starting it if it is not the current item. */
  seek(key, fraction, opts = {}) {
    if (this.key === key && this.duration > 0) {
      this.audio.currentTime = fraction * this.duration;
      this.emit('time');
      if (!this.playing) return this.play(key, opts);
      return Promise.resolve();
    }
    return this.play(key, { ...opts, at: fraction });
  }

  /** Next speed in 1 → 1.5 → 2 → 1. */
  cycleRate() {
    this.rate = this.rate === 1 ? 1.5 : this.rate === 1.5 ? 2 : 1;
    localStorage.setItem('ivm.rate', String(this.rate));
    this.audio.playbackRate = this.rate;
    this.emit('state');
    return this.rate;
  }

  /** Drops every cached download (on logout). */
  clear() {
    this.stop();
    this.audio.removeAttribute('src');
    for (const u of this.urls.values()) URL.revokeObjectURL(u);
    this.urls.clear();
  }
}

let colorCache = null;

/**
 * The waveform colours (`--wave-played`, `--wave-rest` of `.wave`), read from the style once:
 * `getComputedStyle` per row and per frame was a large part of drawing a long list.
 */
export function waveColors(canvas = document.querySelector('canvas.wave')) {
  if (colorCache) return colorCache;
  const fallback = { played: '#0b5cad', rest: '#9fb0c2' };
  if (!canvas) return fallback;
  const style = getComputedStyle(canvas);
  colorCache = {
    played: style.getPropertyValue('--wave-played').trim() || fallback.played,
    rest: style.getPropertyValue('--wave-rest').trim() || fallback.rest,
  };
  return colorCache;
}

/**
 * Draws `peaks` (0-255) as bars on `canvas`; the part before `progress` (0..1) is highlighted.
 * `size` (`{width, height}` in CSS pixels) and `colors` may be given by a caller drawing many
 * canvases of one size, so that no layout or style is read per canvas.
 */
export function drawWaveform(canvas, peaks, progress = 0, { size = null, colors = null } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = size ? size.width : canvas.clientWidth;
  const cssH = size ? size.height : canvas.clientHeight;
  if (!cssW || !cssH) return;
  const w = Math.max(1, Math.round(cssW * dpr));
  const hgt = Math.max(1, Math.round(cssH * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== hgt) canvas.height = hgt;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, w, hgt);
  const { played, rest } = colors || waveColors(canvas);
  const list = peaks && peaks.length ? peaks : new Array(50).fill(8);
  const bars = Math.max(10, Math.min(list.length, Math.floor(w / (3 * dpr))));
  const step = w / bars;
  const bw = Math.max(1, step * 0.6);
  for (let i = 0; i < bars; i++) {
    const from = Math.floor((i * list.length) / bars);
    const to = Math.max(from + 1, Math.floor(((i + 1) * list.length) / bars));
    let v = 0;
    for (let j = from; j < to; j++) v = Math.max(v, list[j]);
    const bh = Math.max(2 * dpr, (v / 255) * hgt * 0.9);
    g.fillStyle = (i + 0.5) / bars <= progress ? played : rest;
    g.fillRect(i * step, (hgt - bh) / 2, bw, bh);
  }
}

let chimeCtx = null;

/** A short two-note chime, synthesised (no sound file). Silently does nothing if blocked. */
export function chime() {
  try {
    chimeCtx = chimeCtx || new AudioContext();
    if (chimeCtx.state === 'suspended') chimeCtx.resume().catch(() => {});
    const t0 = chimeCtx.currentTime + 0.02;
    [[880, 0], [1318.5, 0.11]].forEach(([f, dt]) => {
      const o = chimeCtx.createOscillator();
      const g = chimeCtx.createGain();
      o.type = 'sine';
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t0 + dt);
      g.gain.exponentialRampToValueAtTime(0.2, t0 + dt + 0.012);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.4);
      o.connect(g).connect(chimeCtx.destination);
      o.start(t0 + dt);
      o.stop(t0 + dt + 0.45);
    });
  } catch { /* no audio */ }
}
