// Ogg Opus muxer (RFC 7845 on RFC 3533 pages) and a 16-bit PCM WAV writer. Pure functions on
// Uint8Array: no DOM, so the tests can run them in node as well as in the browser.
//
// Layout of what `muxOggOpus` writes, which the box checks strictly:
//   page 0: OpusHead alone, beginning-of-stream flag, granule 0
//   page 1: OpusTags alone, granule 0
//   pages 2..: audio packets, never split across pages; each page's granule position is the
//              number of 48 kHz samples (pre-skip included) decoded up to its last packet;
//              the last page carries end-of-stream and a granule trimmed to the real length.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? ((r << 1) ^ 0x04c11db7) : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial value 0, no final xor. */
export function oggCrc32(bytes, crc = 0) {
  for (let i = 0; i < bytes.length; i++) {
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  }
  return crc >>> 0;
}

/** Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 3.1); 0 if malformed. */
export function opusPacketSamples(p) {
  if (!p || p.length < 1) return 0;
  const toc = p[0];
  const config = toc >> 3;
  let frame;
  if (config < 12) frame = [480, 960, 1920, 2880][config & 3]; // SILK 10/20/40/60 ms
  else if (config < 16) frame = [480, 960][config & 1]; // hybrid 10/20 ms
  else frame = [120, 240, 480, 960][config & 3]; // CELT 2.5/5/10/20 ms
  const code = toc & 3;
  let frames;
  if (code === 0) frames = 1;
  else if (code === 3) {
    if (p.length < 2) return 0;
    frames = p[1] & 0x3f;
  } else frames = 2;
  const n = frames * frame;
  return n > 5760 ? 0 : n; // more than 120 ms is invalid
}

/** The OpusHead packet (RFC 7845 5.1), mono or stereo, mapping family 0. */
export function opusHead({ channels = 1, preSkip = 312, inputRate = 48000, gain = 0 } = {}) {
  const b = new Uint8Array(19);
  const v = new DataView(b.buffer);
  b.set([0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64]); // "OpusHead"
  b[8] = 1;
  b[9] = channels;
  v.setUint16(10, preSkip, true);
  v.setUint32(12, inputRate, true);
  v.setInt16(16, gain, true);
  b[18] = 0;
  return b;
}

/** The OpusTags packet (RFC 7845 5.2) with a vendor string and `KEY=value` comments. */
export function opusTags(vendor = 'ivm-web', comments = []) {
  const enc = new TextEncoder();
  const vend = enc.encode(vendor);
  const cs = comments.map((c) => enc.encode(c));
  const len = 8 + 4 + vend.length + 4 + cs.reduce((a, c) => a + 4 + c.length, 0);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  b.set([0x4f, 0x70, 0x75, 0x73, 0x54, 0x61, 0x67, 0x73]); // "OpusTags"
  let at = 8;
  v.setUint32(at, vend.length, true); at += 4;
  b.set(vend, at); at += vend.length;
  v.setUint32(at, cs.length, true); at += 4;
  for (const c of cs) {
    v.setUint32(at, c.length, true); at += 4;
    b.set(c, at); at += c.length;
  }
  return b;
}

export const FLAG_CONTINUED = 1;
export const FLAG_BOS = 2;
export const FLAG_EOS = 4;

/** One Ogg page holding whole `packets` (each < 255*255 bytes; at most 255 lacing values). */
export function oggPage({ packets, granule, serial, sequence, flags = 0 }) {
  const lacing = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new Error('too many segments for one Ogg page');
  const bodyLen = packets.reduce((a, p) => a + p.length, 0);
  const page = new Uint8Array(27 + lacing.length + bodyLen);
  const v = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53]); // "OggS"
  page[4] = 0;
  page[5] = flags;
  const g = BigInt(granule);
  v.setUint32(6, Number(g & 0xffffffffn), true);
  v.setUint32(10, Number((g >> 32n) & 0xffffffffn), true);
  v.setUint32(14, serial >>> 0, true);
  v.setUint32(18, sequence >>> 0, true);
  v.setUint32(22, 0, true);
  page[26] = lacing.length;
  page.set(lacing, 27);
  let at = 27 + lacing.length;
  for (const p of packets) { page.set(p, at); at += p.length; }
  v.setUint32(22, oggCrc32(page), true);
  return page;
}

function segmentsOf(p) { return Math.floor(p.length / 255) + 1; }

/**
 * Wraps Opus packets (mono or stereo, 48 kHz granules) in an Ogg Opus file.
 * `samples`: the real length of the audio in samples (without pre-skip), used to trim the
 * end; defaults to everything coded. `maxPageSamples`: audio per page (1 s by default).
 */
export function muxOggOpus(packets, {
  channels = 1, preSkip = 312, inputRate = 48000, samples = null, serial = null,
  vendor = 'ivm-web', comments = [], maxPageSamples = 48000,
} = {}) {
  const audio = packets.filter((p) => p && p.length > 0);
  if (!audio.length) throw new Error('no audio packets');
  serial = serial ?? ((Math.random() * 0x100000000) >>> 0);
  const pages = [];
  let seq = 0;
  pages.push(oggPage({ packets: [opusHead({ channels, preSkip, inputRate })], granule: 0, serial, sequence: seq++, flags: FLAG_BOS }));
  pages.push(oggPage({ packets: [opusTags(vendor, comments)], granule: 0, serial, sequence: seq++ }));
  const coded = audio.reduce((a, p) => a + opusPacketSamples(p), 0);
  const end = samples == null ? coded : Math.min(coded, preSkip + samples);
  let granule = 0;
  let prevGranule = 0;
  let cur = [];
  let curSegs = 0;
  let curSamples = 0;
  const flush = (last) => {
    // The last page is trimmed to the real length, never below the page before it.
    const g = last ? Math.max(prevGranule, end) : granule;
    pages.push(oggPage({ packets: cur, granule: g, serial, sequence: seq++, flags: last ? FLAG_EOS : 0 }));
    prevGranule = g;
    cur = [];
    curSegs = 0;
    curSamples = 0;
  };
  audio.forEach((p, i) => {
    const segs = segmentsOf(p);
    if (cur.length && (curSegs + segs > 255 || curSamples >= maxPageSamples)) flush(false);
    cur.push(p);
    curSegs += segs;
    const n = opusPacketSamples(p);
    curSamples += n;
    granule += n;
    if (i === audio.length - 1) flush(true);
  });
  return concat(pages);
}

/** Concatenates Uint8Arrays. */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * Splits an Ogg file into pages: `{flags, granule, serial, sequence, crcOk, packets}` where
 * `packets` are the packets that end on that page. For tests and for checking our own output.
 */
export function parseOgg(bytes) {
  const pages = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let open = null;
  while (pos + 27 <= bytes.length) {
    if (bytes[pos] !== 0x4f || bytes[pos + 1] !== 0x67 || bytes[pos + 2] !== 0x67 || bytes[pos + 3] !== 0x53) {
      throw new Error(`no OggS at ${pos}`);
    }
    const flags = bytes[pos + 5];
    const granule = v.getBigUint64(pos + 6, true);
    const serial = v.getUint32(pos + 14, true);
    const sequence = v.getUint32(pos + 18, true);
    const stored = v.getUint32(pos + 22, true);
    const n = bytes[pos + 26];
    const lacing = bytes.subarray(pos + 27, pos + 27 + n);
    const bodyLen = lacing.reduce((a, l) => a + l, 0);
    const end = pos + 27 + n + bodyLen;
    if (end > bytes.length) throw new Error('page cut short');
    const copy = bytes.slice(pos, end);
    copy[22] = copy[23] = copy[24] = copy[25] = 0;
    const crcOk = oggCrc32(copy) === stored;
    const packets = [];
    let at = pos + 27 + n;
    for (const l of lacing) {
      const chunk = bytes.subarray(at, at + l);
      at += l;
      open = open ? concat([open, chunk]) : chunk.slice();
      if (l < 255) { packets.push(open); open = null; }
    }
    pages.push({ flags, granule, serial, sequence, crcOk, packets });
    pos = end;
  }
  if (pos !== bytes.length) throw new Error('trailing bytes');
  return pages;
}

/** 16-bit PCM WAV (RIFF/WAVE) from mono float samples in [-1, 1]. */
export function encodeWav(samples, sampleRate) {
  const n = samples.length;
  const b = new Uint8Array(44 + n * 2);
  const v = new DataView(b.buffer);
  const str = (at, s) => { for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i); };
  str(0, 'RIFF'); v.setUint32(4, 36 + n * 2, true); str(8, 'WAVE');
  str(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, 'data'); v.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? Math.round(s * 32768) : Math.round(s * 32767), true);
  }
  return b;
}
