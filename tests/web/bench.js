// Web client benchmark (scripts/bench-web): in the browser test harness,
//  1. latency from the sender's click on Send to the recipient's inbox row appearing in the
//     DOM, over N messages (default 20), each a real recording from the fake microphone;
//  2. bytes of the client's first load (login page), and of a first logged-in load.
// Prints a markdown table.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Box, speechWav, launch, person, login, REPO } from './harness.js';

const N = Number(process.argv[2] || process.env.BENCH_MESSAGES || 20);
const PW = 'bench password 1';

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function measureLoad(browser, box, { loggedIn }) {
  const { context, page } = await person(browser, box);
  const rows = [];
  page.on('requestfinished', async (req) => {
    const s = await req.sizes().catch(() => null);
    const res = await req.response().catch(() => null);
    if (s && res) rows.push({ url: req.url().replace(box.https, ''), body: s.responseBodySize, headers: s.responseHeadersSize, status: res.status() });
  });
  if (loggedIn) {
    await login(page, box, 'ann', PW);
    await page.click('#record');
    await page.waitForSelector('#stop');
    await page.waitForTimeout(400);
    await page.click('#stop');
    await page.waitForSelector('#draft-play');
  } else {
    await page.goto(box.https + '/');
    await page.waitForSelector('#login-name');
  }
  await page.waitForLoadState('networkidle');
  await context.close();
  return rows;
}

// One sender records and sends back to back: with BENCH_MESSAGES over 30 the box's default
// rate (30 messages a minute per sender) would refuse the rest, so the bench lifts it.
const box = await Box.start({ toml: '[limits]\nmessages_per_minute = 0\n' });
let browser;
try {
  box.addUser('ann', '201', PW);
  box.addUser('bob', '202', PW);
  browser = await launch(speechWav('Testing one two three. Testing one two three.'));

  const first = await measureLoad(browser, box, { loggedIn: false });
  const full = await measureLoad(browser, box, { loggedIn: true });

  const ann = await person(browser, box);
  const bob = await person(browser, box);
  await login(ann.page, box, 'ann', PW);
  await login(bob.page, box, 'bob', PW);
  const token = await box.token('ann', PW);
  await box.rest('POST', '/api/contacts', { token, json: { user: 'bob' } });
  await ann.page.reload();
  await ann.page.waitForSelector('li.contact[data-name="bob"]');
  await ann.page.check('li.contact[data-name="bob"] input[type=checkbox]');
  await bob.page.evaluate(() => {
    window.__seen = {};
    const list = document.getElementById('list');
    new MutationObserver(() => {
      const t = performance.timeOrigin + performance.now();
      for (const li of list.querySelectorAll('li.msg')) if (!(li.dataset.id in window.__seen)) window.__seen[li.dataset.id] = t;
    }).observe(list, { childList: true, subtree: true });
    for (const li of list.querySelectorAll('li.msg')) window.__seen[li.dataset.id] = 0;
  });

  const lat = [];
  for (let i = 0; i < N; i++) {
    await ann.page.click('#record');
    await ann.page.waitForSelector('#stop');
    await ann.page.waitForTimeout(700);
    await ann.page.click('#stop');
    await ann.page.waitForSelector('#draft-play');
    const before = await bob.page.evaluate(() => Object.keys(window.__seen).length);
    await ann.page.click('#send');
    await bob.page.waitForFunction((k) => Object.keys(window.__seen).length > k, before, { timeout: 10000 });
    const clicked = await ann.page.evaluate(() => window.__ivmSendClickedAt);
    const seen = await bob.page.evaluate(() => Math.max(...Object.values(window.__seen)));
    lat.push(seen - clicked);
    await ann.page.waitForSelector('#record');
  }
  lat.sort((a, b) => a - b);

  const sum = (rows, f = () => true) => rows.filter(f).reduce((a, r) => a + r.body, 0);
  const isAsset = (r) => !r.url.startsWith('/api');
  const assetsOnDisk = readdirSync(join(REPO, 'web')).reduce((a, f) => a + statSync(join(REPO, 'web', f)).size, 0);
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const ms = (n) => `${n.toFixed(1)} ms`;
  console.log(`| measure | value | target |`);
  console.log(`|---|---|---|`);
  console.log(`| Send click → recipient's inbox row, p50 (${N} messages) | ${ms(pct(lat, 50))} | |`);
  console.log(`| Send click → recipient's inbox row, p99 (${N} messages) | ${ms(pct(lat, 99))} | < 300 ms |`);
  console.log(`| Send click → recipient's inbox row, min / max | ${ms(lat[0])} / ${ms(lat[lat.length - 1])} | |`);
  console.log(`| First load (login page): bytes, ${first.length} requests | ${kb(sum(first))} | < 300 KB |`);
  console.log(`| First logged-in load incl. recorder and API calls: bytes, ${full.length} requests | ${kb(sum(full))} (assets ${kb(sum(full, isAsset))}) | |`);
  console.log(`| Every file in web/ (uncompressed) | ${kb(assetsOnDisk)} | |`);
  if (process.env.BENCH_VERBOSE) console.error(JSON.stringify({ lat, first, full }, null, 1));
  await ann.context.close();
  await bob.context.close();
} finally {
  if (browser) await browser.close();
  await box.stop();
}
