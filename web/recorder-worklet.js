// AudioWorklet processor: copies the microphone's first channel to the main thread in blocks
// of about 43 ms (2048 samples at 48 kHz), so the level meter and the recorder get steady data.
// A live talk asks for smaller blocks (`processorOptions.block`, e.g. 480 = 10 ms): each waits
// in the page's encoder until a whole frame is there, so a big block would add its length to
// every listener's delay.
class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const block = options && options.processorOptions && options.processorOptions.block;
    this.size = block > 0 && block <= 8192 ? block : 2048;
    this.buf = new Float32Array(this.size);
    this.n = 0;
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      let i = 0;
      while (i < ch.length) {
        const take = Math.min(ch.length - i, this.buf.length - this.n);
        this.buf.set(ch.subarray(i, i + take), this.n);
        this.n += take;
        i += take;
        if (this.n === this.buf.length) {
          this.port.postMessage(this.buf, [this.buf.buffer]);
          this.buf = new Float32Array(this.size);
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor('ivm-capture', Capture);
