// Browser tests of long lists (issue 11): the real ivmd, Debian's chromium.
// - 300 messages: the inbox draws only the rows on screen, scrolling fetches the next pages
//   by cursor until every message has been shown once, in the box's order; a new message
//   adds one row and a receipt redraws one row (the others stay the same DOM nodes).
// - 10,000 queued messages: the recipient opens the web client and every one ends
//   `delivered` on the box, over the WebSocket in batches, with Chromium's connection limits
//   in play (the old client fired one REST call per message and lost most of them).
// Messages are posted through the box's REST API (the real path), 8 at a time; the box runs
// with `messages_per_minute = 0` only so that one sender can post thousands quickly.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, speechWav, launch, person, login } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;
let opus;

/** A short Ogg Opus recording, made once. */
function makeOpus() {
  const dir = mkdtempSync(join(tmpdir(), 'ivm-opus-'));
  const out = join(dir, 'hi.opus');
  execFileSync('opusenc', ['--quiet', speechWav('Hi.', dir), out]);
  return readFileSync(out);
}

/** Posts `n` messages from `token`'s user to `to`, 8 at a time; their ids in post order. */
async function postMany(token, to, n) {
  const ids = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const form = new FormData();
      form.append('to', to);
      form.append('audio', new Blob([opus], { type: 'audio/ogg' }), 'hi.opus');
      const r = await box.rest('POST', '/api/messages', { token, form });
      assert.equal(r.status, 201, `post ${i}: ${JSON.stringify(r.body)}`);
      ids[i] = r.body.id;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

/** Every message of a list, following the Link headers. */
async function listAll(token, list) {
  const out = [];
  let path = `/api/messages/${list}?limit=200`;
  for (let pages = 0; path && pages < 1000; pages++) {
    const r = await box.rest('GET', path, { token });
    assert.equal(r.status, 200);
    out.push(...r.body);
    const link = r.headers.get('link');
    path = link ? /<([^>]+)>/.exec(link)[1] : null;
  }
  return out;
}

/** Records the ids of `li.msg` rows added to `#<list>` from now on (window.__added). */
async function watchRows(page, list) {
  await page.evaluate((list) => {
    window.__added = [];
    window.__maxRows = 0;
    const ul = document.getElementById(list);
    new MutationObserver((recs) => {
      for (const r of recs) for (const n of r.addedNodes) if (n.matches && n.matches('li.msg')) window.__added.push(n.dataset.id);
      window.__maxRows = Math.max(window.__maxRows, ul.querySelectorAll('li.msg').length);
    }).observe(ul, { childList: true });
  }, list);
}

describe('long lists', { timeout: 900000 }, () => {
  before(async () => {
    box = await Box.start({ toml: '[limits]\nmessages_per_minute = 0\n' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.addUser('bob', '202', PW, { display: 'Bob Brown' });
    box.addUser('cat', '203', PW, { display: 'Cat Cole' });
    opus = makeOpus();
    browser = await launch(speechWav('Testing.'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('draws only the rows on screen, pages in by cursor while scrolling, and updates one row at a time', async () => {
    const N = 300;
    const ann = await box.token('ann', PW);
    const bobToken = await box.token('bob', PW);
    await postMany(ann, 'bob', N);
    const order = (await listAll(bobToken, 'inbox')).map((m) => m.id);
    assert.equal(order.length, N);
    const position = new Map(order.map((id, i) => [id, i]));

    const bob = await person(browser, box);
    const apiCalls = [];
    bob.page.on('request', (r) => { if (r.url().includes('/api/messages/inbox')) apiCalls.push(r.url().replace(box.https, '')); });
    await login(bob.page, box, 'bob', PW);
    await bob.page.waitForSelector('#inbox li.msg');
    await bob.page.waitForFunction((n) => document.getElementById('badge').textContent === String(n), N);
    const drawn = await bob.page.locator('#inbox li.msg').count();
    assert.ok(drawn > 5 && drawn < 40, `only the rows on screen are drawn (${drawn} of ${N})`);
    assert.match(apiCalls[0], /^\/api\/messages\/inbox\?limit=50$/, 'the first page only');
    await watchRows(bob.page, 'inbox');

    // Scroll to the end, bounded: every message shows once, each window in the box's order.
    const seen = new Set();
    for (let step = 0; step < 200 && seen.size < N; step++) {
      const ids = await bob.page.evaluate(() => [...document.querySelectorAll('#inbox li.msg')].map((li) => li.dataset.id));
      const at = ids.map((id) => position.get(id));
      assert.ok(at.every((p, i) => p !== undefined && (i === 0 || p === at[i - 1] + 1)), `rows on screen are consecutive messages in order: ${at.join(',')}`);
      for (const id of ids) seen.add(id);
      await bob.page.mouse.wheel(0, 1500);
      await bob.page.waitForTimeout(60);
    }
    assert.equal(seen.size, N, 'every message was shown');
    const max = await bob.page.evaluate(() => window.__maxRows);
    assert.ok(max < 60, `at most ${max} rows in the page at once`);
    const pagesFetched = apiCalls.filter((u) => u.includes('before='));
    assert.ok(pagesFetched.length >= 2 && pagesFetched.length <= 4, `older pages by cursor: ${pagesFetched.join(' ')}`);
    assert.ok(pagesFetched.every((u) => /^\/api\/messages\/inbox\?limit=100&before=[\w-]{32}$/.test(u)), pagesFetched.join(' '));

    // Back at the top, a new message adds exactly one row; the others stay as they are.
    await bob.page.evaluate(() => window.scrollTo(0, 0));
    await bob.page.waitForFunction((first) => document.querySelector('#inbox li.msg')?.dataset.id === first, order[0]);
    const marked = await bob.page.evaluate(() => {
      const rows = [...document.querySelectorAll('#inbox li.msg')];
      rows.forEach((li, i) => { li.dataset.mark = String(i); });
      window.__added = [];
      return rows.length;
    });
    const [fresh] = await postMany(ann, 'bob', 1);
    await bob.page.waitForFunction((id) => document.querySelector('#inbox li.msg')?.dataset.id === id, fresh);
    await bob.page.waitForFunction((n) => document.getElementById('badge').textContent === String(n), N + 1);
    assert.deepEqual(await bob.page.evaluate(() => window.__added), [fresh], 'one row added');
    const kept = await bob.page.evaluate(() => [...document.querySelectorAll('#inbox li.msg[data-mark]')].length);
    assert.ok(kept >= marked - 1, `the other rows are the same nodes (${kept} of ${marked})`);

    // Sent view of 300: a receipt redraws that one row only.
    const annPage = await person(browser, box);
    await login(annPage.page, box, 'ann', PW);
    await annPage.page.click('#tab-sent');
    const top = `#sent li.msg[data-id="${fresh}"]`;
    await annPage.page.waitForSelector(top);
    await annPage.page.waitForSelector(`${top} li.receipt[data-state="delivered"]`);
    await watchRows(annPage.page, 'sent');
    const r = await box.rest('POST', `/api/messages/${fresh}/played`, { token: bobToken });
    assert.equal(r.status, 204);
    await annPage.page.waitForSelector(`${top} li.receipt[data-state="played"]`);
    assert.deepEqual(await annPage.page.evaluate(() => window.__added), [fresh], 'only that row was drawn again');
    assert.deepEqual(bob.page.errors, []);
    assert.deepEqual(annPage.page.errors, []);
    await bob.context.close();
    await annPage.context.close();
  });

  it('10,000 queued messages: every one ends delivered on the box, none lost', async () => {
    const N = 10000;
    const ann = await box.token('ann', PW);
    const catToken = await box.token('cat', PW);
    const t0 = Date.now();
    const ids = new Set(await postMany(ann, 'cat', N));
    console.log(`# posted ${N} messages in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(ids.size, N);
    const cat = await person(browser, box);
    const failed = [];
    const restReceipts = [];
    cat.page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    cat.page.on('request', (r) => { if (/\/(delivered|played)$/.test(r.url())) restReceipts.push(r.url()); });
    await login(cat.page, box, 'cat', PW);
    await cat.page.waitForSelector('#inbox li.msg');
    // Bounded wait for the box to have nothing queued for Cat.
    let queued = N;
    for (let i = 0; i < 120 && queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      queued = (await listAll(ann, 'sent')).filter((m) => ids.has(m.id) && m.recipients[0].state === 'queued').length;
    }
    assert.equal(queued, 0, `${queued} of ${N} receipts never reached the box`);
    const sent = (await listAll(ann, 'sent')).filter((m) => ids.has(m.id));
    assert.equal(sent.length, N);
    assert.ok(sent.every((m) => m.recipients[0].state === 'delivered'));
    assert.deepEqual(failed, [], 'no request failed');
    assert.deepEqual(restReceipts, [], 'receipts went over the WebSocket');
    const counts = await box.rest('GET', '/api/messages/counts', { token: catToken });
    assert.deepEqual(counts.body, { inbox: N, unplayed: N, sent: 0 });
    assert.equal(await cat.page.locator('#badge').textContent(), String(N));
    assert.deepEqual(cat.page.errors, []);
    await cat.context.close();
  });
});
