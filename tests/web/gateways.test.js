// Browser test of the admin page's analog lines (issue 14): a box with an MGCP gateway
// configured (`ivmd gateway add`, then a restart, so the call agent runs) lists the
// gateway (down: nothing answers at its address) and its two lines; the admin assigns a line
// to a user in the page, the box records it (the API and `ivmd gateway list` agree), and
// unassigns it again. A non-admin's request is refused.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Box, launch, person, login, screenshot, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;

describe('admin page: analog lines', { timeout: 180000 }, () => {
  before(async () => {
    box = await Box.start({ toml: '[mgcp]\nlisten = "127.0.0.1:0"\n' });
    // Nothing listens there: the gateway stays down, its lines unassigned until the page.
    box.ivmd('gateway', 'add', 'hall', '--address', '127.0.0.1:2427', '--endpoints', 'aaln/1..aaln/2');
    await box.restart();
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    browser = await launch(speechWav('lines'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('lists the gateway and its lines, assigns a line to a user and unassigns it', async () => {
    const { page, context } = await person(browser, box);
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    const row = (ep) => page.locator(`#admin-gateways tr[data-gateway="hall"][data-endpoint="${ep}"]`);
    await waitText(row('aaln/1').locator('.gateway-state'), /^down$/);
    await waitText(row('aaln/2').locator('.line-user'), /^—$/);
    assert.match(await row('aaln/1').textContent(), /hall\s*mgcp 127\.0\.0\.1:2427/);

    await page.click('button[aria-label="Assign hall aaln/1"]');
    await page.selectOption('select[aria-label="User for hall aaln/1"]', 'ann');
    await page.click('#admin-gateways form button[type=submit]');
    await waitText(row('aaln/1').locator('.line-user'), /^201 \(ann\)$/);
    await screenshot(page, 'admin-lines');
    const token = await box.token('root', PW);
    let r = await box.rest('GET', '/api/admin/gateways', { token });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body[0].lines.map((l) => l.user_name ?? null), ['ann', null]);
    assert.match(box.ivmd('gateway', 'list'), /ann/);

    // A user may not assign lines.
    r = await box.rest('PUT', '/api/admin/gateways/hall/lines', {
      token: await box.token('ann', PW), json: { endpoint: 'aaln/2', user: 'ann' },
    });
    assert.equal(r.status, 403);

    await page.click('button[aria-label="Unassign hall aaln/1"]');
    await waitText(row('aaln/1').locator('.line-user'), /^—$/);
    r = await box.rest('GET', '/api/admin/gateways', { token });
    assert.deepEqual(r.body[0].lines.map((l) => l.user_name ?? null), [null, null]);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.external, []);
    await context.close();
  });
});
