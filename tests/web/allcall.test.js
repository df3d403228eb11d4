// Browser test of all-call groups (issue 13): the admin makes a group on the admin page
// (picking its members), grants ann the all-call permission there, and ann's all-call
// (`ivm talk --group`, the real CLI) shows in carol's inbox with its urgent mark.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Box, ivmdPath, launch, person, login, screenshot, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;

describe('admin page: groups and the urgent mark', { timeout: 180000 }, () => {
  before(async () => {
    box = await Box.start();
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.addUser('bob', '202', PW, { display: 'Bob Brown' });
    box.addUser('carol', '203', PW, { display: 'Carol Clark' });
    browser = await launch(speechWav('all call'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('makes a group, allows ann, and her all-call is marked urgent in the inbox', async () => {
    const { page, context } = await person(browser, box);
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    await waitText(page.locator('tr[data-group="everyone"] .group-members'), /^every user$/);

    // Make "floor" of bob and carol in the page.
    await page.fill('#new-group-name', 'floor');
    await page.check('#new-group-bob');
    await page.check('#new-group-carol');
    await page.click('#add-group button[type=submit]');
    await waitText(page.locator('tr[data-group="floor"] .group-members'), /^bob, carol$/);
    // Edit: take bob out, then put him back.
    await page.click('button[aria-label="Edit group floor"]');
    await page.uncheck('#group-floor-bob');
    await page.click('#edit-group-floor button[type=submit]');
    await waitText(page.locator('tr[data-group="floor"] .group-members'), /^carol$/);
    await page.click('button[aria-label="Edit group floor"]');
    await page.check('#group-floor-bob');
    await page.click('#edit-group-floor button[type=submit]');
    await waitText(page.locator('tr[data-group="floor"] .group-members'), /^bob, carol$/);
    const token = await box.token('root', PW);
    let r = await box.rest('GET', '/api/admin/groups', { token });
    assert.deepEqual(r.body.find((g) => g.name === 'floor').members.map((m) => m.name), ['bob', 'carol']);

    // Allow ann's all-calls in her user row.
    await page.click('button[aria-label="Edit ann"]');
    await page.check('#all-call-ann');
    await page.click('#edit-ann button[type=submit]');
    await waitText(page.locator('tr[data-name="ann"] .all-call'), /^yes$/);
    r = await box.rest('GET', '/api/admin/users', { token });
    assert.equal(r.body.find((u) => u.name === 'ann').may_all_call, true);
    await page.locator('#admin-groups').scrollIntoViewIfNeeded();
    await screenshot(page, 'admin-groups');
    assert.deepEqual(page.errors, []);
    await context.close();

    // Ann's all-call with the real CLI (the box expands the group and marks it urgent).
    const home = mkdtempSync(join(tmpdir(), 'ivm-home-'));
    const ivm = join(dirname(ivmdPath()), 'ivm');
    const wav = speechWav('Attention please, the meeting starts now.');
    const out = execFileSync(ivm, ['talk', '--group', 'floor', wav], {
      env: { ...process.env, IVM_HOME: home, IVM_SERVER: box.http, IVM_USER: 'ann', IVM_PASSWORD: PW },
      timeout: 60000,
    }).toString();
    assert.match(out, /"talk_end"/, out);

    // Carol's inbox marks it urgent.
    const carol = await person(browser, box);
    await login(carol.page, box, 'carol', PW);
    const row = carol.page.locator('li.msg.urgent');
    await waitText(row.locator('.urgent-mark'), /^urgent$/);
    assert.match(await row.locator('.from').textContent(), /Ann Adams/);
    await screenshot(carol.page, 'inbox-urgent');
    assert.deepEqual(carol.page.errors, []);
    assert.deepEqual(carol.page.external, []);
    await carol.context.close();
  });
});
