// AudioWorklet processor playing one live talk through a JitterBuffer (jitter.js): the page
// posts decoded PCM (Float32Array) as portions arrive; `{end: true}` says no more will come.
// It reports its counters a few times a second and once when the talk has played out.
import { JitterBuffer } from './jitter.js';

class LiveTalk extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.jb = new JitterBuffer({ sampleRate, targetMs: o.targetMs || 60, maxMs: o.maxMs || 300 });
    this.blocks = 0;
    this.finished = false;
    this.port.onmessage = (ev) => {
      if (ev.data && ev.data.end) this.jb.end();
      else if (ev.data instanceof Float32Array) this.jb.push(ev.data);
    };
  }

  process(inputs, outputs) {
    const out = outputs[0] && outputs[0][0];
    if (!out) return true;
    this.jb.pull(out);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (++this.blocks % 40 === 0) this.port.postMessage(this.jb.stats());
    if (this.jb.done && !this.finished) {
      this.finished = true;
      this.port.postMessage({ ...this.jb.stats(), done: true });
    }
    return !this.finished;
  }
}
registerProcessor('ivm-live-talk', LiveTalk);
