// The forced password change in the web client: a password the box generated for someone else
// (an admin's reset) works once; after logging in with it the page shows "Choose a new password"
// before anything else, and the "Change password" entry of the main view works too.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Box, speechWav, launch, person, screenshot, waitText } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;
let ann;
let generated;

async function fillPasswords(page, current, next, repeat = next) {
  await page.fill('#pw-current', current);
  await page.fill('#pw-new', next);
  await page.fill('#pw-repeat', repeat);
  await page.click('#pw-submit');
}

describe('password change', { timeout: 300000 }, () => {
  before(async () => {
    box = await Box.start();
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    const root = await box.token('root', PW);
    const r = await box.rest('POST', '/api/admin/users/ann/password', { token: root, json: {} });
    assert.equal(r.status, 200);
    assert.equal(r.body.user.must_change_password, true);
    generated = r.body.password;
    browser = await launch(speechWav('Hello.'));
  });

  after(async () => {
    if (ann) await ann.context.close().catch(() => {});
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('asks for a new password before anything else after a generated one', async () => {
    ann = await person(browser, box);
    const { page } = ann;
    await page.goto(box.https + '/');
    await page.fill('#login-name', 'ann');
    await page.fill('#login-password', generated);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('#password-form');
    assert.match(await page.locator('#pw-title').textContent(), /Choose a new password/);
    assert.equal(await page.locator('header.top').count(), 0, 'nothing else is shown');
    await screenshot(page, 'password-forced');
    // A reload keeps asking.
    await page.reload();
    await page.waitForSelector('#password-form');
    assert.equal(await page.locator('header.top').count(), 0);
  });

  it('refuses a mismatch, a short one and a wrong current password', async () => {
    const { page } = ann;
    await fillPasswords(page, generated, 'ann-own-password', 'ann-own-passwort');
    await waitText(page.locator('#pw-error'), /differ/);
    await fillPasswords(page, generated, 'short');
    await waitText(page.locator('#pw-error'), /at least 8/);
    await fillPasswords(page, 'not the password', 'ann-own-password');
    await waitText(page.locator('#pw-error'), /current password is wrong/);
    assert.equal(await page.locator('header.top').count(), 0);
  });

  it('takes the new password and opens the app', async () => {
    const { page } = ann;
    await fillPasswords(page, generated, 'ann-own-password');
    await page.waitForSelector('header.top');
    await page.waitForFunction(() => !document.querySelector('#conn')?.textContent, null, { timeout: 15000 });
    assert.match(await page.locator('#who').textContent(), /Ann Adams/);
    assert.equal((await box.rest('POST', '/api/login', { json: { name: 'ann', password: generated } })).status, 401);
    const r = await box.rest('POST', '/api/login', { json: { name: 'ann', password: 'ann-own-password' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.must_change_password, false);
  });

  it('changes the password from the main view', async () => {
    const { page } = ann;
    await page.click('#change-password');
    await page.waitForSelector('#password-dialog #password-form');
    await screenshot(page, 'password-change');
    await fillPasswords(page, 'ann-own-password', 'ann-newer-password');
    await page.waitForSelector('#password-dialog', { state: 'detached' });
    // Still logged in here (this session stays); the old password no longer works.
    const contacts = await page.evaluate(async () => {
      const s = JSON.parse(localStorage.getItem('ivm.session'));
      const r = await fetch('/api/contacts', { headers: { Authorization: `Bearer ${s.token}` } });
      return r.status;
    });
    assert.equal(contacts, 200);
    assert.equal((await box.rest('POST', '/api/login', { json: { name: 'ann', password: 'ann-own-password' } })).status, 401);
    assert.equal((await box.rest('POST', '/api/login', { json: { name: 'ann', password: 'ann-newer-password' } })).status, 200);
    // Cancel closes the dialog without a change.
    await page.click('#change-password');
    await page.waitForSelector('#password-dialog');
    await page.click('#pw-cancel');
    await page.waitForSelector('#password-dialog', { state: 'detached' });
  });

  it('made no external requests and threw no errors', () => {
    assert.deepEqual(ann.page.external, []);
    // The 403 of the wrong current password is expected; nothing else may fail (a CSP
    // violation would show as a console error).
    assert.deepEqual(ann.page.errors.filter((e) => !/status of 403/.test(e)), []);
  });
});
