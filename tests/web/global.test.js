// Browser test of the admin page's global link (issue 15): a box linked to the global tier
// whose cluster cannot be reached (nothing listens at its URL) shows the link down with no
// user published and nothing waiting; a published user's message to a user of another box
// is accepted and then shows as waiting for other offices. (The link up, with users
// published and the outbox draining, is the two-box end-to-end test's, tests/e2e/global.rs.)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Box, launch, person, login, screenshot, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;
let wav;

describe('admin page: the global link', { timeout: 180000 }, () => {
  before(async () => {
    box = await Box.start({
      toml: (b) => [
        '[global]', 'enabled = true', 'urls = ["tls://127.0.0.1:1"]', 'box_name = "office-a"',
        `ca_file = "${join(b.dir, 'ca.pem')}"`, `seed_file = "${join(b.dir, 'box.nk')}"`, '',
      ].join('\n'),
    });
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.ivmd('user', 'global', 'ann', 'on');
    wav = speechWav('a message for the other office');
    browser = await launch(wav);
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('shows the link down, and a message to another box waiting for it', async () => {
    const { page, context } = await person(browser, box);
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    await waitText(page.locator('#stat-global'), /^down$/);
    assert.match(await page.locator('#admin-status').textContent(), /Global link \(office-a, 0 published\)/);
    await waitText(page.locator('#stat-outbox'), /^0$/);

    const form = new FormData();
    form.append('to', 'bob@office-b');
    form.append('audio', new Blob([readFileSync(wav)], { type: 'audio/wav' }), 'hi.wav');
    const r = await box.rest('POST', '/api/messages', { token: await box.token('ann', PW), form });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // The page polls every 5 s.
    await waitText(page.locator('#stat-outbox'), /^1$/, 20000);
    await screenshot(page, 'admin-global');
    const status = await box.rest('GET', '/api/admin/status', { token: await box.token('root', PW) });
    assert.deepEqual(status.body.global, { box_name: 'office-a', up: false, published_users: 0, outbox: 1 });
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});
