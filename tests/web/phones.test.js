// Browser test of the admin page's desk phones (issue 5): a phone that asked for its file
// while unassigned shows as "unassigned"; the admin assigns it to a user in the page; the
// phone then fetches its file and registers over SIP with the account in it (a small
// REGISTER client here, sending a Yealink User-Agent), and the page shows "registered" with
// the model and firmware; unassign puts it back.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { Box, launch, person, login, screenshot, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
const MAC = '001565aabbcc';
const UA = 'Yealink SIP-T46S 66.86.0.15';
let box;
let browser;

const md5 = (s) => createHash('md5').update(s).digest('hex');

/** Digest parameters of a `WWW-Authenticate: Digest ...` header value. */
function digestParams(value) {
  const out = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) out[m[1].toLowerCase()] = m[3] ?? m[2];
  return out;
}

/** REGISTERs `ext` with `password` (MD5 digest) from a loopback UDP socket; the final status. */
async function sipRegister(sip, ext, password) {
  const i = sip.lastIndexOf(':');
  const host = sip.slice(0, i);
  const port = Number(sip.slice(i + 1));
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const local = sock.address().port;
  const callId = randomBytes(8).toString('hex');
  const tag = randomBytes(4).toString('hex');
  const uri = `sip:${host}:${port}`;
  const send = (cseq, auth) => {
    const msg = [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:${ext}@ivm>;tag=${tag}`,
      `To: <sip:${ext}@ivm>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${ext}@127.0.0.1:${local}>`,
      'Expires: 300',
      `User-Agent: ${UA}`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0', '', '',
    ].join('\r\n');
    sock.send(msg, port, host);
  };
  const answer = () => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no SIP answer in 5 s')), 5000);
    const on = (m) => {
      const text = m.toString();
      if (!/^SIP\/2\.0 \d{3}/.test(text)) return; // a NOTIFY or the like: not our answer
      clearTimeout(t);
      sock.off('message', on);
      resolve(text);
    };
    sock.on('message', on);
  });
  try {
    send(1);
    let r = await answer();
    const challenge = /^WWW-Authenticate:\s*(Digest .*)$/im.exec(r);
    assert.ok(challenge, `a digest challenge: ${r}`);
    const d = digestParams(challenge[1]);
    const ha1 = md5(`${ext}:${d.realm}:${password}`);
    const ha2 = md5(`REGISTER:${uri}`);
    const cnonce = randomBytes(8).toString('hex');
    const qop = d.qop ? 'auth' : null;
    const response = qop ? md5(`${ha1}:${d.nonce}:00000001:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${d.nonce}:${ha2}`);
    let auth = `Digest username="${ext}", realm="${d.realm}", nonce="${d.nonce}", uri="${uri}", response="${response}", algorithm=MD5`;
    if (qop) auth += `, qop=auth, nc=00000001, cnonce="${cnonce}"`;
    if (d.opaque) auth += `, opaque="${d.opaque}"`;
    send(2, auth);
    r = await answer();
    return Number(r.split(' ')[1]);
  } finally {
    sock.close();
  }
}

describe('admin page: desk phones', { timeout: 180000 }, () => {
  before(async () => {
    // The default digest offer: an unknown User-Agent is offered MD5, which this client does.
    box = await Box.start({
      args: ['--sip', '127.0.0.1:0', '--tftp', '127.0.0.1:0'],
    });
    assert.ok(box.sip && box.sip !== 'off', 'SIP is on');
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    browser = await launch(speechWav('phones'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('assigns a seen, unassigned phone; it provisions, registers, and is unassigned again', async () => {
    // The phone asks for its file before anyone assigned it: no file, but it is listed.
    let r = await box.rest('GET', `/provision/${MAC}.cfg`);
    assert.equal(r.status, 404);

    const { page, context } = await person(browser, box);
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    const row = () => page.locator(`tr[data-mac="${MAC}"]`);
    const state = () => row().locator('.phone-state');
    await waitText(state(), /^unassigned$/);
    assert.match(await row().textContent(), /yealink/, 'vendor from the MAC prefix');

    // Assign it to ann in the page.
    await page.click(`button[aria-label="Assign ${MAC}"]`);
    await page.selectOption(`#assign-${MAC}`, 'ann');
    await page.click(`#assign-form-${MAC} button[type=submit]`);
    await waitText(state(), /^seen$/);
    assert.match(await row().locator('.phone-user').textContent(), /201 \(ann\)/);

    // The phone fetches its file (now with ann's SIP account) and registers with it.
    r = await box.rest('GET', `/provision/${MAC}.cfg`);
    assert.equal(r.status, 200);
    const cfg = new TextDecoder().decode(r.body);
    const value = (k) => new RegExp(`^account\\.1\\.${k} = (.*)$`, 'm').exec(cfg)?.[1];
    assert.equal(value('user_name'), '201');
    assert.equal(await sipRegister(box.sip, value('auth_name'), value('password')), 200);

    // The page polls every 5 s: registered, with what the User-Agent said; the file's first
    // fetch bound the phone to its address.
    await waitText(state(), /^registered$/, 20000);
    assert.match(await row().locator('.phone-prov').textContent(), /^bound 127\.0\.0\.1/);
    // The admin sees the phone's own admin password: the one its file set.
    await page.click(`button[aria-label="Passwords of ${MAC}"]`);
    const admin = /^static\.security\.user_password = admin:(.*)$/m.exec(cfg)?.[1];
    assert.ok(admin && admin.length >= 16, cfg);
    await waitText(page.locator('#phone-admin-password'), new RegExp(`^${admin}$`));
    const cred = /^static\.auto_provision\.server\.password = (.*)$/m.exec(cfg)?.[1];
    await waitText(page.locator('#phone-provision-password'), new RegExp(`^${cred}$`));
    assert.match(await row().textContent(), /SIP-T46S 66\.86\.0\.15/);
    await row().scrollIntoViewIfNeeded();
    await screenshot(page, 'admin-phones');

    r = await box.rest('GET', '/api/admin/phones', { token: await box.token('root', PW) });
    const phone = r.body.find((p) => p.mac === MAC);
    assert.equal(phone.state, 'registered');
    assert.equal(phone.registration.user_agent, UA);

    // Once only: without its credential the file is refused now; re-armed, it comes again.
    r = await box.rest('GET', `/provision/${MAC}.cfg`);
    assert.equal(r.status, 401);
    await page.click(`button[aria-label="Re-arm ${MAC}"]`);
    await page.click('dialog.confirm button.danger');
    await waitText(row().locator('.phone-prov'), /^armed until /);
    r = await box.rest('GET', `/provision/${MAC}.cfg`);
    assert.equal(r.status, 200);

    // Unassign: back to unassigned, still listed.
    await page.click(`button[aria-label="Unassign ${MAC}"]`);
    await page.click('dialog.confirm button.danger');
    await waitText(state(), /^unassigned$/);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.external, []);
    await context.close();
  });
});
