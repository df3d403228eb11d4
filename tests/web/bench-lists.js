// Long-list benchmark (scripts/bench-web, issue 11): Bob has N messages in his inbox (all
// queued when he first opens the web client) and N in his sent list (default N = 10,000,
// BENCH_LIST_MESSAGES to change it). Measured, in the browser test harness:
//  - receipts lost: how many of the N queued messages are still `queued` on the box once
//    Bob's client has settled (bounded wait);
//  - time to first rows drawn: navigation start to the first row's waveform painted, for the
//    inbox and for the sent list (median of 3 loads);
//  - main-thread work per arriving message and per receipt: Chromium's own task time
//    (CDP Performance.getMetrics TaskDuration) over 20 events, less an idle baseline of
//    the same length, and long tasks (over 50 ms) seen by a PerformanceObserver;
//  - the box's VmRSS across 50 list requests.
// Bounded in count and time; prints a markdown table. Messages are posted through the REST
// API, 8 at a time, with `messages_per_minute = 0` so one sender can post N quickly.

import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, speechWav, launch, person, login } from './harness.js';

const N = Number(process.env.BENCH_LIST_MESSAGES || 10000);
const EVENTS = 20;
const PW = 'bench password 1';

const dir = mkdtempSync(join(tmpdir(), 'ivm-bench-'));
const opusFile = join(dir, 'hi.opus');
execFileSync('opusenc', ['--quiet', speechWav('Hi.', dir), opusFile]);
const opus = readFileSync(opusFile);

const box = await Box.start({ toml: '[limits]\nmessages_per_minute = 0\n' });
let browser;

async function postMany(token, to, n) {
  const ids = [];
  let next = 0;
  const deadline = Date.now() + 30 * 60 * 1000;
  const worker = async () => {
    while (next < n) {
      if (Date.now() > deadline) throw new Error('posting took over 30 minutes');
      next++;
      const form = new FormData();
      form.append('to', to);
      form.append('audio', new Blob([opus], { type: 'audio/ogg' }), 'hi.opus');
      const r = await box.rest('POST', '/api/messages', { token, form });
      if (r.status !== 201) throw new Error(`post: ${r.status} ${JSON.stringify(r.body)}`);
      ids.push(r.body.id);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

async function listAll(token, list) {
  const out = [];
  let path = `/api/messages/${list}?limit=200`;
  for (let pages = 0; path && pages < 1000; pages++) {
    const r = await box.rest('GET', path, { token });
    out.push(...r.body);
    const link = r.headers.get('link');
    path = link ? /<([^>]+)>/.exec(link)[1] : null;
  }
  return out;
}

function rssKiB() {
  const s = readFileSync(`/proc/${box.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** Records, in every page of `context`, when the first row's waveform was first on screen. */
async function watchFirstRow(context) {
  await context.addInitScript(() => {
    window.__firstRow = null;
    const check = () => {
      const c = document.querySelector('li.msg canvas.wave');
      if (c && c.width > 1) requestAnimationFrame(() => { window.__firstRow ??= performance.now(); });
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
}

/** Milliseconds from navigation start to the first row of the list with its waveform drawn. */
async function firstRows(page, url) {
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForFunction(() => window.__firstRow !== null, null, { timeout: 60000 });
  return page.evaluate(() => window.__firstRow);
}

/**
 * Main-thread task time per event: `fire(i)` makes event i happen (i = 0 is a warm-up, not
 * counted), `check()` afterwards says whether every event showed. Nothing polls the page
 * while it is measured (Playwright's waitFor* would run in the page every frame): each event
 * gets 400 ms, and the page's task time over that stretch, less its idle task time over a
 * stretch as long, is divided by the number of events.
 */
async function perEvent(page, cdp, fire, check) {
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask' });
  });
  const task = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  await fire(0);
  await page.waitForTimeout(1500);
  await page.evaluate(() => { window.__long = []; });
  const w0 = Date.now();
  const t0 = await task();
  for (let i = 1; i <= EVENTS; i++) {
    await fire(i);
    await page.waitForTimeout(400);
  }
  const t1 = await task();
  const wall = Date.now() - w0;
  await page.waitForTimeout(wall);
  const t2 = await task();
  const idle = t2 - t1;
  const busy = (t1 - t0) - idle;
  const long = await page.evaluate(() => window.__long);
  if (!(await check())) throw new Error('not every event showed in the page');
  return { ms: (busy * 1000) / EVENTS, idleMs: (idle * 1000) / EVENTS, long: long.length, longest: long.length ? Math.max(...long) : 0 };
}

const rows = [];
try {
  box.addUser('ann', '201', PW);
  box.addUser('bob', '202', PW);
  const ann = await box.token('ann', PW);
  const bob = await box.token('bob', PW);
  let t = Date.now();
  const toBob = new Set(await postMany(ann, 'bob', N));
  await postMany(bob, 'ann', N);
  const postS = (Date.now() - t) / 1000;

  // The box's RSS across 50 list requests (first pages, deep pages, full pages).
  const deep = [];
  let path = '/api/messages/inbox?limit=200';
  for (let i = 0; path; i++) {
    const r = await box.rest('GET', path, { token: bob });
    if (i % 10 === 5 || i === 1) deep.push(path);
    const link = r.headers.get('link');
    path = link ? /<([^>]+)>/.exec(link)[1] : null;
  }
  const rss0 = rssKiB();
  for (let k = 0; k < 50; k++) {
    const p = [() => '/api/messages/inbox', () => deep[k % deep.length], () => '/api/messages/sent?limit=200'][k % 3]();
    await box.rest('GET', p, { token: bob });
  }
  const rss1 = rssKiB();

  browser = await launch(speechWav('Testing.', dir));
  const b = await person(browser, box);
  await watchFirstRow(b.context);
  const failed = [];
  b.page.on('requestfailed', (r) => failed.push(r.url()));
  t = Date.now();
  await login(b.page, box, 'bob', PW);
  // Receipts: bounded wait until the box has nothing queued for Bob.
  let queued = N;
  for (let i = 0; i < 180 && queued > 0; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    queued = (await listAll(ann, 'sent')).filter((m) => toBob.has(m.id) && m.recipients[0].state === 'queued').length;
  }
  const settleS = (Date.now() - t) / 1000;
  const failedWhileSettling = failed.length; // later page loads cut their own requests short

  const inboxMs = [];
  const sentMs = [];
  for (let i = 0; i < 3; i++) inboxMs.push(await firstRows(b.page, box.https + '/#inbox'));
  for (let i = 0; i < 3; i++) sentMs.push(await firstRows(b.page, box.https + '/#sent'));

  // An arriving message, 20 times, on the inbox view.
  await b.page.goto(box.https + '/#inbox');
  await b.page.waitForSelector('#inbox li.msg');
  await b.page.waitForFunction(() => !document.querySelector('#conn')?.textContent);
  const cdp = await b.context.newCDPSession(b.page);
  await cdp.send('Performance.enable');
  const arrived = [];
  const arriving = await perEvent(b.page, cdp,
    async () => { arrived.push(...(await postMany(ann, 'bob', 1))); },
    async () => b.page.evaluate((ids) => ids.every((id) => document.querySelector(`#inbox li.msg[data-id="${id}"]`)), arrived.slice(-5)));

  // A receipt, 20 times, on the sent view: Ann plays Bob's newest messages one by one.
  await b.page.goto(box.https + '/#sent');
  await b.page.reload();
  await b.page.waitForSelector('#sent li.msg');
  await b.page.waitForFunction(() => !document.querySelector('#conn')?.textContent);
  const onScreen = await b.page.evaluate(() => [...document.querySelectorAll('#sent li.msg')].map((li) => li.dataset.id));
  // Each row on screen gets two receipts from Ann, delivered then played (nobody confirmed
  // Bob's messages yet): enough events for a screenful of rows.
  const k = onScreen.length;
  if (2 * k < EVENTS + 1) throw new Error(`only ${k} sent rows on screen`);
  const cdp2 = await b.context.newCDPSession(b.page);
  await cdp2.send('Performance.enable');
  const receipt = await perEvent(b.page, cdp2,
    async (i) => { await box.rest('POST', `/api/messages/${onScreen[i % k]}/${i < k ? 'delivered' : 'played'}`, { token: ann }); },
    async () => b.page.evaluate((ids) => ids.every((id) => document.querySelector(`#sent li.msg[data-id="${id}"] li.receipt:not([data-state="queued"])`)), onScreen));

  const ms = (x) => `${x.toFixed(1)} ms`;
  rows.push(['Messages in Bob\'s inbox (queued at first open) / in his sent list', `${N} / ${N}`, '']);
  rows.push([`Posting them through the REST API (8 at a time)`, `${postS.toFixed(0)} s`, '']);
  rows.push(['Receipts lost (still `queued` on the box after Bob\'s client settled)', `${queued} of ${N} (settled in ${settleS.toFixed(1)} s)`, '0']);
  rows.push(['Requests that failed while Bob\'s client confirmed the queued messages', String(failedWhileSettling), '0']);
  rows.push(['First rows drawn, inbox (navigation start → first waveform painted), median of 3', `${ms(median(inboxMs))} (${inboxMs.map((x) => x.toFixed(0)).join(', ')})`, '< 1 s']);
  rows.push(['First rows drawn, sent, median of 3', `${ms(median(sentMs))} (${sentMs.map((x) => x.toFixed(0)).join(', ')})`, '< 1 s']);
  rows.push([`Main-thread work per arriving message, mean of ${EVENTS} (idle baseline subtracted: ${ms(arriving.idleMs)}), long tasks`, `${ms(arriving.ms)}; ${arriving.long} long tasks${arriving.long ? ` (longest ${arriving.longest.toFixed(0)} ms)` : ''}`, '< 16 ms']);
  rows.push([`Main-thread work per receipt in Sent, mean of ${EVENTS} (idle ${ms(receipt.idleMs)} subtracted), long tasks`, `${ms(receipt.ms)}; ${receipt.long} long tasks${receipt.long ? ` (longest ${receipt.longest.toFixed(0)} ms)` : ''}`, '< 16 ms']);
  rows.push(['Box VmRSS across 50 list requests', `${rss0} KiB → ${rss1} KiB (${rss1 - rss0 >= 0 ? '+' : ''}${rss1 - rss0} KiB)`, 'flat']);
  console.log('| measure | value | target |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  await b.context.close();
} finally {
  if (browser) await browser.close();
  await box.stop();
}
