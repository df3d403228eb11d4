// End-to-end tests of the web client: the real ivmd, Debian's chromium with a fake microphone
// speaking an espeak-ng WAV, two (and more) browser contexts as different people.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, speechWav, launch, person, login, screenshot, waitText } from './harness.js';
import { parseOgg } from '../../web/ogg.js';

const PW = 'correct horse battery';
let box;
let browser;
let ann; // {context, page}
let bob;
const tmp = mkdtempSync(join(tmpdir(), 'ivm-web-files-'));

/** Records about `ms` of the fake microphone and stops by the button; waits for review. */
async function record(page, ms = 1800) {
  await page.click('#record');
  await page.waitForSelector('#stop');
  await page.waitForTimeout(ms);
  await page.click('#stop');
  await page.waitForSelector('#draft-play');
}

async function pick(page, name) {
  const box_ = page.locator(`li.contact[data-name="${name}"] input[type=checkbox]`);
  if (!(await box_.isChecked())) await box_.check();
}

async function send(page) {
  await page.click('#send');
  await page.waitForSelector('#record'); // compose is back to idle once the box has acked
}

function presenceOf(page, name) {
  return page.locator(`li.contact[data-name="${name}"] .presence`);
}

describe('web client', { timeout: 300000 }, () => {
  before(async () => {
    box = await Box.start({ toml: '[clients]\nping_interval_s = 2\n' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.addUser('bob', '202', PW, { display: 'Bob Brown' });
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    const wav = speechWav('Hello Bob. This is Ann. The meeting moves to three o clock, see the agenda attached.');
    browser = await launch(wav);
  });

  after(async () => {
    for (const p of [ann, bob]) if (p) await p.context.close().catch(() => {});
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('serves the app with a strict CSP and no external requests', async () => {
    const r = await box.rest('GET', '/');
    assert.equal(r.status, 308, 'plain HTTP redirects browsers to HTTPS');
    ann = await person(browser, box);
    const res = await ann.page.goto(box.https + '/');
    const h = res.headers();
    assert.match(h['content-security-policy'], /default-src 'self'/);
    assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.match(h['content-type'], /text\/html/);
    await ann.page.waitForSelector('#login-name');
    await screenshot(ann.page, 'login');
  });

  it('says so on a wrong password', async () => {
    const { page } = ann;
    await page.fill('#login-name', 'ann');
    await page.fill('#login-password', 'not the password');
    await page.click('form.login button[type=submit]');
    await waitText(page.locator('#login-error'), /Wrong user name or password/);
    await screenshot(page, 'login-wrong-password');
  });

  it('logs in, and stays logged in across a reload', async () => {
    await login(ann.page, box, 'ann', PW);
    await ann.page.reload();
    await ann.page.waitForSelector('header.top');
    assert.equal(await ann.page.locator('#login-name').count(), 0);
    assert.match(await ann.page.locator('#who').textContent(), /Ann Adams/);
  });

  it('adds contacts from the directory and shows presence live', async () => {
    bob = await person(browser, box);
    await login(bob.page, box, 'bob', PW);
    // Ann adds Bob through the directory dialog.
    await ann.page.click('#add-contact');
    await ann.page.click('dialog.directory button[aria-label="Add Bob Brown"]');
    await ann.page.waitForSelector('dialog.directory li[data-name="bob"] >> text=In contacts');
    await ann.page.keyboard.press('Escape');
    await waitText(presenceOf(ann.page, 'bob'), /available/);
    // Bob adds Ann too.
    await bob.page.click('#add-contact');
    await bob.page.fill('#dir-search', 'ann');
    await bob.page.click('dialog.directory button[aria-label="Add Ann Adams"]');
    await bob.page.keyboard.press('Escape');
    await waitText(presenceOf(bob.page, 'ann'), /available/);
    // Bob goes busy: Ann sees it without a reload.
    await bob.page.selectOption('#my-status', 'busy');
    await waitText(presenceOf(ann.page, 'bob'), /busy/);
    await bob.page.selectOption('#my-status', 'available');
    await waitText(presenceOf(ann.page, 'bob'), /available/);
  });

  it('keeps the WebSocket alive by answering pings (2 s interval here)', async () => {
    await ann.page.waitForTimeout(6000);
    assert.equal(await ann.page.locator('#conn').textContent(), '');
    assert.match(await presenceOf(ann.page, 'bob').textContent(), /available/);
  });

  let firstId;
  it('A records and sends to B; B sees it at once with its duration, plays it; A sees "played"', async () => {
    const { page } = ann;
    await pick(page, 'bob');
    await page.click('#record');
    await page.waitForSelector('#stop');
    let loudest = 0;
    for (let i = 0; i < 10; i++) {
      await page.waitForTimeout(100);
      loudest = Math.max(loudest, await page.locator('#meter-fill').evaluate((e) => parseFloat(e.style.width) || 0));
    }
    assert.ok(loudest > 20, `the level meter moves (${loudest}%)`);
    await page.waitForTimeout(300);
    await waitText(page.locator('#timer'), /0:0[1-9]/);
    await screenshot(page, 'compose-recording');
    await page.waitForTimeout(500);
    await page.click('#stop');
    await page.waitForSelector('#draft-play');
    const drafted = await page.locator('#draft-duration').textContent();
    assert.match(drafted, /0:0[1-9]/);
    await screenshot(page, 'compose-review');
    // Review: play the draft.
    await page.click('#draft-play');
    await page.waitForSelector('#draft-play[aria-label="Pause draft"]');
    await send(page);
    // Bob: the row appears without a reload, with a duration, a badge and "new".
    const row = bob.page.locator('#inbox li.msg').first();
    await row.waitFor({ timeout: 5000 });
    await waitText(row.locator('.duration'), /0:0[1-9]/);
    assert.match(await row.locator('.from').textContent(), /Ann Adams/);
    assert.equal(await bob.page.locator('#badge').textContent(), '1');
    firstId = await row.getAttribute('data-id');
    await screenshot(bob.page, 'inbox');
    // Ann's Sent view says delivered (Bob's client acknowledged it), then played.
    await ann.page.click('#tab-sent');
    const receipt = ann.page.locator(`#sent li.msg[data-id="${firstId}"] li.receipt[data-recipient="bob"]`);
    await waitText(receipt.locator('.state'), /delivered/);
    await row.locator('button.play').click();
    await bob.page.waitForSelector(`#inbox li.msg[data-id="${firstId}"]:not(.unplayed)`);
    await bob.page.waitForSelector(`#inbox li.msg[data-id="${firstId}"] button.play[aria-label^="Pause"]`);
    await waitText(receipt.locator('.state'), /played/);
    assert.equal(await bob.page.locator('#badge').isVisible(), false);
    await screenshot(ann.page, 'sent-receipts');
  });

  it('stores what the browser encoded: valid Ogg Opus from WebCodecs (opusinfo agrees)', async () => {
    const token = await box.token('bob', PW);
    const r = await box.rest('GET', `/api/messages/${firstId}/audio`, { token });
    assert.equal(r.status, 200);
    const pages = parseOgg(r.body);
    assert.ok(pages.every((p) => p.crcOk));
    const tags = new TextDecoder().decode(pages[1].packets[0]);
    assert.match(tags, /ivm-web \(WebCodecs\)/, 'the box kept the browser\'s Ogg Opus as is');
    const f = join(tmp, 'first.opus');
    writeFileSync(f, r.body);
    const info = execFileSync('opusinfo', [f]).toString();
    assert.match(info, /Playback length: 0m:0[1-9]\.\d+s/);
    assert.doesNotMatch(info, /WARNING|ERROR/i);
    const meta = await box.rest('GET', `/api/messages/${firstId}`, { token });
    assert.ok(meta.body.duration_ms > 1000 && meta.body.duration_ms < 3000, `duration ${meta.body.duration_ms}`);
    assert.ok(meta.body.peaks.some((p) => p > 100), 'there is speech in it');
  });

  it('seeks, changes speed and resumes where it stopped', async () => {
    const { page } = bob;
    const row = page.locator(`#inbox li.msg[data-id="${firstId}"]`);
    await page.click('#speed');
    assert.equal(await page.locator('#speed').textContent(), '1.5x');
    await page.click('#speed');
    await page.click('#speed');
    assert.equal(await page.locator('#speed').textContent(), '1x');
    const wave = row.locator('canvas.wave');
    const bb = await wave.boundingBox();
    await page.mouse.click(bb.x + bb.width * 0.5, bb.y + bb.height / 2);
    await page.waitForTimeout(150);
    await row.locator('button.play').click(); // pause
    await page.waitForSelector(`#inbox li.msg[data-id="${firstId}"] button.play[aria-label^="Play"]`);
    const pos = Number(await page.evaluate((id) => localStorage.getItem('ivm.pos.' + id), firstId));
    assert.ok(pos > 0.5, `position remembered (${pos})`);
  });

  it('an offline recipient gets the message after logging in; presence shows offline live', async () => {
    await bob.context.close();
    bob = null;
    await waitText(presenceOf(ann.page, 'bob'), /offline/, 15000);
    await ann.page.click('#tab-inbox');
    await pick(ann.page, 'bob');
    await record(ann.page, 1200);
    await send(ann.page);
    bob = await person(browser, box);
    await login(bob.page, box, 'bob', PW);
    await bob.page.waitForFunction(() => document.querySelectorAll('#inbox li.msg').length === 2);
    assert.equal(await bob.page.locator('#inbox li.msg.unplayed').count(), 1);
    await waitText(presenceOf(ann.page, 'bob'), /available/);
  });

  it('attachments round trip (button and drag-and-drop)', async () => {
    const { page } = ann;
    await pick(page, 'bob');
    await record(page, 1200);
    const agenda = 'Agenda\n1. Budget\n2. Lunch\n';
    await page.setInputFiles('#file-input', { name: 'agenda.txt', mimeType: 'text/plain', buffer: Buffer.from(agenda) });
    // Drag and drop a second file onto the compose card.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array([0, 1, 2, 3, 254, 255])], 'data.bin', { type: 'application/octet-stream' }));
      const c = document.getElementById('compose');
      c.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
      c.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => document.querySelectorAll('#draft-attachments li').length === 2);
    await send(page);
    const row = bob.page.locator('#inbox li.msg').first();
    await row.locator('.att-list li').nth(1).waitFor();
    const [dl] = await Promise.all([
      bob.page.waitForEvent('download'),
      row.locator('button[aria-label="Download agenda.txt"]').click(),
    ]);
    assert.equal(dl.suggestedFilename(), 'agenda.txt');
    assert.equal(readFileSync(await dl.path(), 'utf8'), agenda);
    const [dl2] = await Promise.all([
      bob.page.waitForEvent('download'),
      row.locator('button[aria-label="Download data.bin"]').click(),
    ]);
    assert.deepEqual([...readFileSync(await dl2.path())], [0, 1, 2, 3, 254, 255]);
    // "Open" shows the text in a new tab from a blob: URL.
    const [tab] = await Promise.all([
      bob.page.context().waitForEvent('page'),
      row.locator('button[aria-label="Open agenda.txt"]').click(),
    ]);
    await tab.waitForURL(/^blob:/);
    assert.match(await tab.textContent('body'), /Budget/);
    await tab.close();
  });

  it('a send whose answer was lost is stored once when retried (same Idempotency-Key)', async () => {
    const { page } = ann;
    const annToken = await box.token('ann', PW);
    const sentCount = async () => (await box.rest('GET', '/api/messages/sent', { token: annToken })).body.length;
    const before = await sentCount();
    await pick(page, 'bob');
    await record(page, 900);
    // The box stores the first attempt, but its answer never reaches the page.
    const keys = [];
    await page.route('**/api/messages', async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      if (keys.length === 1) {
        await route.fetch();
        await route.abort('connectionreset');
      } else {
        await route.continue();
      }
    });
    await page.click('#send');
    await waitText(page.locator('#compose p.error'), /Not sent/);
    assert.equal(await sentCount(), before + 1, 'the box did store the first attempt');
    await send(page); // the user tries again
    await page.unroute('**/api/messages');
    assert.equal(keys.length, 2);
    assert.ok(keys[0], 'the page sends a key');
    assert.equal(keys[1], keys[0], 'the retry sends the same key');
    assert.equal(await sentCount(), before + 1, 'stored once');
    // The reset this test staged shows in the console; it is no error of the page's.
    page.errors = page.errors.filter((e) => !/ERR_CONNECTION_RESET/.test(e));
  });

  it('re-record and delete work; Space starts and stops a recording; silence auto-stop is configurable', async () => {
    const { page } = ann;
    await record(page, 900);
    await page.click('#rerecord');
    await page.waitForSelector('#stop');
    await page.waitForTimeout(700);
    await page.click('#stop');
    await page.waitForSelector('#draft-play');
    await page.click('#discard');
    await page.waitForSelector('#record');
    // Space toggles when focus is not in a form field (in Record mode: with every recipient
    // available the page defaults to Live, where Space is push-to-talk, intercom.test.js).
    if (await page.locator('#mode-record').count()) await page.click('#mode-record');
    await page.locator('h2').first().click();
    await page.keyboard.press('Space');
    await page.waitForSelector('#stop');
    await page.waitForTimeout(800);
    await page.locator('.timer').click();
    await page.keyboard.press('Space');
    await page.waitForSelector('#draft-play');
    await page.click('#discard');
    // The desk-phone button is there, disabled until a recipient is chosen, with an explanation.
    const ring = page.locator('#ring-desk');
    if (await page.locator('.chip').count() === 0) {
      assert.equal(await ring.isDisabled(), true);
      assert.match(await ring.getAttribute('title'), /recipient/);
    } else {
      // No desk phone is registered in this test: a clear error, nothing stuck.
      assert.equal(await ring.isDisabled(), false);
      await ring.click();
      await page.waitForSelector('.error[role=alert]');
      assert.match(await page.locator('.error[role=alert]').textContent(), /Desk phone: .*(not registered|turned off)/);
      assert.equal(await page.locator('#ring-desk').isDisabled(), false);
    }
    // Silence timeout: the setting is kept.
    await page.selectOption('#silence', '2000');
    assert.equal(await page.evaluate(() => localStorage.getItem('ivm.silence')), '2000');
    await page.selectOption('#silence', '0');
  });

  it('protocol.js and recorder.js work in the page: Opus (WebCodecs + our Ogg muxer) and the WAV fallback', async () => {
    const out = await ann.page.evaluate(async () => {
      const { Api } = await import('/protocol.js');
      const { encodeRecording, canEncodeOpus } = await import('/recorder.js');
      const api = new Api({ token: JSON.parse(localStorage.getItem('ivm.session')).token });
      const rate = 48000;
      const pcm = new Float32Array(rate * 1.5);
      for (let i = 0; i < pcm.length; i++) pcm[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate) * (i % 24000 < 18000 ? 1 : 0.05);
      const opus = await encodeRecording(pcm, rate, { force: 'opus' });
      const wav = await encodeRecording(pcm, rate, { force: 'wav' });
      const a = await api.sendMessage({ to: ['bob'], audio: opus.blob, audioName: opus.name });
      const b = await api.sendMessage({ to: ['202'], audio: wav.blob, audioName: wav.name });
      return { webcodecs: await canEncodeOpus(rate), opus: [opus.format, a.duration_ms], wav: [wav.format, b.duration_ms] };
    });
    assert.equal(out.webcodecs, true);
    assert.equal(out.opus[0], 'opus');
    assert.ok(Math.abs(out.opus[1] - 1500) < 80, `opus duration ${out.opus[1]}`);
    assert.equal(out.wav[0], 'wav');
    assert.ok(out.wav[1] > 1000, `wav duration ${out.wav[1]}`);
  });

  it('deletes a message from the inbox', async () => {
    const { page } = bob;
    await page.waitForFunction(() => document.querySelectorAll('#inbox li.msg').length >= 5);
    const n = await page.locator('#inbox li.msg').count();
    await page.locator('#inbox li.msg').first().locator('button.del').click();
    await page.click('dialog.confirm button.danger');
    await page.waitForFunction((k) => document.querySelectorAll('#inbox li.msg').length === k, n - 1);
    await screenshot(page, 'inbox-after-delete');
  });

  it('autoplay plays the next unplayed message', async () => {
    const { page } = bob;
    await page.check('#autoplay');
    const unplayed = await page.locator('#inbox li.msg.unplayed').count();
    assert.ok(unplayed >= 2);
    // Play the oldest unplayed; when it ends the next one starts by itself.
    await page.locator('#inbox li.msg.unplayed').last().locator('button.play').click();
    await page.waitForFunction((k) => document.querySelectorAll('#inbox li.msg.unplayed').length <= k - 2, unplayed, { timeout: 20000 });
    await page.uncheck('#autoplay');
  });

  it('looks right on a phone-sized screen', async () => {
    const phone = await person(browser, box, { viewport: { width: 390, height: 844 } });
    await login(phone.page, box, 'bob', PW);
    await phone.page.waitForSelector('#inbox li.msg');
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'no horizontal scrolling');
    await screenshot(phone.page, 'phone-inbox');
    await phone.page.click('#tab-contacts');
    await phone.page.waitForSelector('li.contact[data-name="ann"]');
    await screenshot(phone.page, 'phone-contacts');
    await phone.context.close();
  });

  it('admin page: status, add a user who can then log in, edit, reset password, delete', async () => {
    const adm = await person(browser, box);
    const { page } = adm;
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    await page.waitForSelector('#stat-clients');
    assert.ok(Number(await page.locator('#stat-clients').textContent()) >= 2);
    await page.fill('#new-name', 'carol');
    await page.fill('#new-extension', '203');
    await page.fill('#new-display', 'Carol Clark');
    await page.fill('#new-password', 'carols secret pw');
    await page.click('#add-user button[type=submit]');
    await page.waitForSelector('tr[data-name="carol"]');
    // Edit carol's extension.
    await page.click('button[aria-label="Edit carol"]');
    await page.fill('#edit-carol input[aria-label="Extension"]', '204');
    await page.click('#edit-carol button[type=submit]');
    await waitText(page.locator('tr[data-name="carol"] td.ext'), /204/);
    await screenshot(page, 'admin');
    const carol = await person(browser, box);
    await login(carol.page, box, 'carol', 'carols secret pw');
    await carol.context.close();
    // Reset (generated) and delete.
    await page.click('button[aria-label="Reset password of carol"]');
    await page.click('dialog.confirm button.danger');
    await waitText(page.locator('#generated-password'), /\S{8,}/);
    await page.click('button[aria-label="Delete carol"]');
    await page.click('dialog.confirm button.danger');
    await page.waitForSelector('tr[data-name="carol"]', { state: 'detached' });
    // Non-admins have no admin tab.
    assert.equal(await ann.page.locator('#tab-admin').count(), 0);
    await adm.context.close();
  });

  it('logs out', async () => {
    await ann.page.click('#logout');
    await ann.page.waitForSelector('#login-name');
    assert.equal(await ann.page.evaluate(() => localStorage.getItem('ivm.session')), null);
  });

  it('made no external requests and threw no errors', () => {
    for (const p of [ann, bob]) {
      assert.deepEqual(p.page.external, []);
      // The wrong-password attempt's 401 is expected; nothing else may fail.
      assert.deepEqual(p.page.errors.filter((e) => !/status of (401|409)/.test(e)) /* 409: the ring-my-desk-phone click without a registered phone */, []);
    }
  });
});
