// The message lists' model and view for thousands of messages.
//
// `Pages` holds what has been loaded of one list (inbox or sent): a newest-first prefix of
// it, fetched a page at a time by cursor, plus messages pushed since. `VirtualList` draws
// only the rows on screen (and a margin) inside the page's own scrolling: a spacer above and
// below stands for the rest, sized from row heights measured once drawn (estimated before).
// A change to one message redraws that row only; a new message adds one row. Each draw does
// its DOM writes first and its layout reads after, together, so the browser lays out once
// per draw instead of once per row (the forced layout per row made a first load of 10,000
// messages take minutes).

/** Newest first: created_at descending, then id descending (the box's order). */
export function newer(a, b) {
  if (a.created_at !== b.created_at) return b.created_at - a.created_at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** What is loaded of one list. `fetchPage(from)` resolves `{items, next}`. */
export class Pages {
  constructor(fetchPage) {
    this.fetchPage = fetchPage;
    this.items = [];
    this.byId = new Map();
    this.next = null; // path of the next page; null once the end was reached
    this.loaded = false; // the first page came
    this.loading = null; // the page request under way
  }

  /** Whether older messages may still be fetched. */
  get more() { return !this.loaded || this.next !== null; }

  /** Fetches the first page (again, after a reconnect): merged, deeper pages kept. */
  async first() {
    const p = await this.fetchPage(null);
    const changed = [];
    for (const m of p.items) {
      const old = this.byId.get(m.id);
      if (old) { if (this.merge(old, m)) changed.push(old); } else this.insert(m);
    }
    if (!this.loaded) { this.next = p.next; this.loaded = true; }
    return changed;
  }

  /** Fetches the page after the oldest loaded one; resolves true when it added messages. */
  older() {
    if (this.loading || !this.loaded || this.next === null) return this.loading || Promise.resolve(false);
    const from = this.next;
    this.loading = this.fetchPage(from).then((p) => {
      let added = 0;
      for (const m of p.items) if (!this.byId.has(m.id)) { this.byId.set(m.id, m); this.items.push(m); added++; }
      this.next = p.next;
      return added > 0;
    }).finally(() => { this.loading = null; });
    return this.loading;
  }

  /**
   * A message learned of outside the pages (a push, check-in, my own send): placed in order
   * if it falls within what is loaded (else its page brings it later). Returns whether it
   * was added.
   */
  add(m) {
    if (this.byId.has(m.id)) return false;
    const last = this.items[this.items.length - 1];
    if (this.next !== null && last && newer(last, m) < 0) return false; // older than loaded
    this.insert(m);
    return true;
  }

  insert(m) {
    this.byId.set(m.id, m);
    // Binary search: pushes are nearly always the newest, but check-in brings older ones.
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newer(this.items[mid], m) < 0) lo = mid + 1; else hi = mid;
    }
    this.items.splice(lo, 0, m);
  }

  /** Copies what moved forward in `fresh` (states, recipients' states) into `old`. */
  merge(old, fresh) {
    let changed = false;
    if (fresh.state && RANK[fresh.state] > (RANK[old.state] ?? -1)) { old.state = fresh.state; changed = true; }
    for (const r of fresh.recipients || []) {
      const o = old.recipients.find((x) => x.guid === r.guid);
      if (o && RANK[r.state] > RANK[o.state]) { o.state = r.state; changed = true; }
    }
    return changed;
  }

  get(id) { return this.byId.get(id); }

  remove(id) {
    const m = this.byId.get(id);
    if (!m) return false;
    this.byId.delete(id);
    this.items.splice(this.items.indexOf(m), 1);
    return true;
  }
}

const RANK = { queued: 0, delivered: 1, played: 2, deleted: 3 };

/**
 * Draws `pages.items` into `ul` (which scrolls with the page), only the rows near the
 * viewport. `row(m)` builds one row's `<li>` (with `data-id`); `paint(rows, size)` draws
 * the canvases of newly drawn rows, given the `{width, height}` every row's waveform has
 * (measured once per draw); `nearEnd()` is
 * called when the last loaded rows come into view.
 */
export class VirtualList {
  constructor({ ul, pages, row, paint, nearEnd, estimate = 92, margin = 600 }) {
    this.ul = ul;
    this.pages = pages;
    this.row = row;
    this.paint = paint;
    this.nearEnd = nearEnd;
    this.estimate = estimate;
    this.margin = margin;
    this.heights = new Map(); // id -> measured height
    this.rendered = new Map(); // id -> li on screen
    this.top = document.createElement('li');
    this.bottom = document.createElement('li');
    for (const s of [this.top, this.bottom]) { s.className = 'spacer'; s.setAttribute('aria-hidden', 'true'); }
    this.top.dataset.spacer = 'top';
    this.bottom.dataset.spacer = 'bottom';
    this.frame = 0;
    this.size = null; // the waveforms' size, once measured
    this.onScroll = () => this.refresh();
    this.onResize = () => { this.heights.clear(); this.size = null; this.repaintAll = true; this.refresh(); };
    window.addEventListener('scroll', this.onScroll, { passive: true });
    window.addEventListener('resize', this.onResize);
    this.draw();
  }

  /** Stops following the page (the list was replaced). */
  destroy() {
    cancelAnimationFrame(this.frame);
    window.removeEventListener('scroll', this.onScroll);
    window.removeEventListener('resize', this.onResize);
    this.rendered.clear();
  }

  /** Draws again at the next frame (many calls in one frame draw once). */
  refresh() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  /** The ids of the rows on screen. */
  ids() { return [...this.rendered.keys()]; }

  /** The row of message `id` if it is on screen. */
  rowOf(id) { return this.rendered.get(id) || null; }

  /** Redraws one message's row, if it is on screen: nothing else is touched. */
  update(id) {
    const old = this.rendered.get(id);
    const m = this.pages.get(id);
    if (!old || !m) return;
    const li = this.newRow(m);
    old.replaceWith(li);
    this.rendered.set(id, li);
    const h = li.offsetHeight; // the one row's layout
    const size = this.waveSize(li);
    if (h !== (this.heights.get(id) ?? this.estimate)) {
      this.heights.set(id, h);
      this.refresh(); // the spacers follow at the next frame
    }
    this.paint([li], size);
  }

  /** `{width, height}` of the waveform in `li` (every row's is the same size). */
  waveSize(li) {
    const c = li && li.querySelector('canvas.wave');
    if (!c) return { width: 0, height: 0 };
    this.size = { width: c.clientWidth, height: c.clientHeight };
    return this.size;
  }

  /**
   * A row, its canvas already given the bitmap size the waveform will have (known from the
   * rows drawn before): sizing it after layout would make the browser lay out once more.
   */
  newRow(m) {
    const li = this.row(m);
    const c = this.size && this.size.width && li.querySelector('canvas.wave');
    if (c) {
      const dpr = window.devicePixelRatio || 1;
      c.width = Math.max(1, Math.round(this.size.width * dpr));
      c.height = Math.max(1, Math.round(this.size.height * dpr));
    }
    return li;
  }

  heightOf(m) { return this.heights.get(m.id) ?? this.estimate; }

  draw() {
    if (!this.ul.isConnected) return;
    const items = this.pages.items;
    // Reads: where the list is on screen (one layout, before any write of this draw).
    const rect = this.ul.getBoundingClientRect();
    const viewTop = -rect.top - this.margin;
    const viewBottom = -rect.top + window.innerHeight + this.margin;
    let y = 0;
    let start = 0;
    while (start < items.length && y + this.heightOf(items[start]) < viewTop) y += this.heightOf(items[start++]);
    const topPad = y;
    let end = start;
    while (end < items.length && y < viewBottom) y += this.heightOf(items[end++]);
    let rest = 0;
    for (let i = end; i < items.length; i++) rest += this.heightOf(items[i]);
    // Writes: the rows in view, the ones already drawn kept as they are.
    const keep = new Map();
    const fresh = [];
    const rows = [];
    for (let i = start; i < end; i++) {
      const m = items[i];
      let li = this.rendered.get(m.id);
      if (!li) { li = this.newRow(m); fresh.push([m, li]); }
      keep.set(m.id, li);
      rows.push(li);
    }
    for (const [id, li] of this.rendered) if (!keep.has(id)) li.remove();
    this.rendered = keep;
    this.top.style.height = `${topPad}px`;
    this.bottom.style.height = `${rest}px`;
    // Rows already in place stay untouched: only new ones are inserted (a window of a
    // sorted list keeps its order, so nothing is moved).
    if (this.ul.firstChild !== this.top) this.ul.prepend(this.top);
    let at = this.top.nextSibling;
    for (const li of rows) {
      if (li === at) at = at.nextSibling;
      else this.ul.insertBefore(li, at);
    }
    if (at !== this.bottom || this.bottom.nextSibling) this.ul.append(this.bottom);
    // Reads, together: the new rows' heights and the waveform width (one layout).
    let size = null;
    let grew = 0;
    if (fresh.length || this.repaintAll) {
      size = this.waveSize(rows[0]);
      for (const [m, li] of fresh) {
        const h = li.offsetHeight;
        grew += h - this.heightOf(m);
        this.heights.set(m.id, h);
      }
    }
    // Rows shorter than estimated may leave the view unfilled: draw again next frame.
    if (grew < 0) this.refresh();
    const toPaint = this.repaintAll ? rows : fresh.map(([, li]) => li);
    this.repaintAll = false;
    if (toPaint.length) this.paint(toPaint, size);
    if (end >= items.length - 10 && this.pages.more && this.nearEnd) this.nearEnd();
  }
}
