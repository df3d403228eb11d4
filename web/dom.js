// Small DOM helpers: element building (text is always set as text, never parsed as HTML),
// inline SVG icons (no icon font, no external file), and formatting.

/** `h('button', {class: 'x', onclick}, 'text', child)`: builds an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg'; // an XML namespace name, never fetched
const ICONS = {
  play: 'M8 5v14l11-7z',
  pause: 'M6 5h4v14H6zM14 5h4v14h-4z',
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z',
  stop: 'M6 6h12v12H6z',
  trash: 'M6 7h12l-1 13H7zM9 4h6l1 2H8zM4 6h16v2H4z',
  clip: 'M16.5 6.5 8.9 14.1a1.5 1.5 0 0 0 2.1 2.1l7.1-7.1a3.5 3.5 0 0 0-5-5L5.6 11.6a5.5 5.5 0 0 0 7.8 7.8l6.4-6.4-1.4-1.4-6.4 6.4a3.5 3.5 0 0 1-5-5l7.5-7.5a1.5 1.5 0 0 1 2.1 2.1l-7.1 7.1-.1.1 1.4 1.4z',
  send: 'M3 20 21 12 3 4v6l12 2-12 2z',
  x: 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z',
  plus: 'M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z',
  phone: 'M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.6a1 1 0 0 1-.25 1z',
  redo: 'M12 5V1L7 6l5 5V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z',
  download: 'M5 20h14v-2H5zM19 9h-4V3H9v6H5l7 7z',
  upload: 'M5 20h14v-2H5zM9 16h6v-6h4l-7-7-7 7h4z',
  open: 'M14 3v2h3.6l-9.8 9.8 1.4 1.4L19 6.4V10h2V3zM19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7h-2z',
  check: 'M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z',
  checks: 'M1.5 12.5 7 18l1.4-1.4L2.9 11.1zM22.5 6.4 12 16.9l-4.5-4.5-1.4 1.4L12 19.7 24 7.8zM18 7.8l-1.4-1.4-6.3 6.3 1.4 1.4z',
  logout: 'M10 17l1.4 1.4L17.8 12l-6.4-6.4L10 7l4 4H3v2h11zM19 3h-7v2h7v14h-7v2h7a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2z',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-2.7 0-8 1.3-8 4v2h16v-2c0-2.7-5.3-4-8-4z',
};

/** An inline SVG icon, hidden from screen readers (the button carries the label). */
export function icon(name, cls = '') {
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  s.setAttribute('class', 'icon ' + cls);
  const p = document.createElementNS(SVG, 'path');
  p.setAttribute('d', ICONS[name] || '');
  s.append(p);
  return s;
}

/** 0:07, 1:23, 12:03. */
export function fmtDuration(ms) {
  const s = Math.max(0, Math.round((ms || 0) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Today: 14:05; this week: Tue 14:05; older: 3 Mar 14:05. */
export function fmtTime(ts, now = Date.now()) {
  const d = new Date(ts);
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const n = new Date(now);
  if (d.toDateString() === n.toDateString()) return t;
  if (now - ts < 6 * 86400e3) return `${d.toLocaleDateString([], { weekday: 'short' })} ${t}`;
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${t}`;
}

/** 512 B, 48 KB, 3.1 MB. */
export function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** First letter(s) for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

/** A modal confirmation (a <dialog>); resolves true or false. */
export function confirmDialog(text, { ok = 'Delete', cancel = 'Cancel' } = {}) {
  return new Promise((resolve) => {
    const d = h('dialog', { class: 'confirm', 'aria-label': text },
      h('p', {}, text),
      h('div', { class: 'row end' },
        h('button', { type: 'button', class: 'btn', onclick: () => d.close('no') }, cancel),
        h('button', { type: 'button', class: 'btn danger', onclick: () => d.close('yes') }, ok)));
    d.addEventListener('close', () => { d.remove(); resolve(d.returnValue === 'yes'); });
    document.body.append(d);
    d.showModal();
  });
}
