// The live-talk jitter buffer, as plain logic (no Web Audio here, so node's tests drive it):
// decoded PCM goes in as it arrives, the audio thread pulls fixed-size blocks out. Playback
// waits until `targetMs` is buffered, so a portion arriving a little late (Wi-Fi, a busy box)
// still lands before it is due; on an underrun it plays silence and waits for the target
// again; past `maxMs` buffered (a burst after a stall) the oldest audio is dropped so the
// delay does not grow for the rest of the talk. Both are counted.

export class JitterBuffer {
  constructor({ sampleRate = 48000, targetMs = 60, maxMs = 300 } = {}) {
    this.sampleRate = sampleRate;
    this.target = Math.round((sampleRate * targetMs) / 1000);
    this.max = Math.round((sampleRate * maxMs) / 1000);
    this.queue = []; // Float32Array chunks, oldest first
    this.head = 0; // samples of queue[0] already played
    this.buffered = 0;
    this.playing = false; // false while (re)filling to the target
    this.ended = false; // no more input will come: play out what is left
    this.played = 0; // samples of real audio handed out
    this.underruns = 0; // times it ran dry and audio came after (a gap mid-talk)
    this.dry = false; // ran dry; whether that was an underrun or the end, the next push says
    this.dropped = 0; // samples thrown away on overflow
  }

  /** Adds decoded samples; drops the oldest ones when more than `maxMs` would wait. */
  push(samples) {
    if (!samples.length) return;
    if (this.dry) {
      this.dry = false;
      if (!this.ended) this.underruns++;
    }
    this.queue.push(samples);
    this.buffered += samples.length;
    while (this.buffered > this.max) {
      const first = this.queue[0];
      const left = first.length - this.head;
      const over = this.buffered - this.max;
      if (left <= over) {
        this.queue.shift();
        this.head = 0;
        this.buffered -= left;
        this.dropped += left;
      } else {
        this.head += over;
        this.buffered -= over;
        this.dropped += over;
      }
    }
  }

  /** No more input: what is buffered plays out without waiting for the target. */
  end() { this.ended = true; }

  /** True once everything was played after `end()`. */
  get done() { return this.ended && this.buffered === 0; }

  /** Fills `out` (a block of the audio thread) with audio, or silence while (re)filling. */
  pull(out) {
    if (!this.playing && (this.buffered >= this.target || (this.ended && this.buffered > 0))) this.playing = true;
    let i = 0;
    if (this.playing) {
      while (i < out.length && this.buffered > 0) {
        const first = this.queue[0];
        const take = Math.min(out.length - i, first.length - this.head);
        out.set(first.subarray(this.head, this.head + take), i);
        i += take;
        this.head += take;
        this.buffered -= take;
        if (this.head === first.length) { this.queue.shift(); this.head = 0; }
      }
      this.played += i;
      if (i < out.length) {
        // Ran dry: an underrun if more audio comes (the talk's end looks the same until
        // talk_end says so, after the box has stored the talk).
        this.dry = true;
        this.playing = false;
      }
    }
    out.fill(0, i);
    return i;
  }

  /** The counters, for the page (and its tests). */
  stats() {
    const ms = (n) => Math.round((n * 1000) / this.sampleRate);
    return { playedMs: ms(this.played), bufferedMs: ms(this.buffered), underruns: this.underruns, droppedMs: ms(this.dropped) };
  }
}
