// Browser test of "Calls" (issue 16): the dialog shows my call settings as the box stores
// them (message taking on by default); saving a forward, message taking off and
// do-not-disturb changes them (and my status in the header); a
// forward to an extension nobody has is refused with the box's message and changes nothing;
// the history lists a call placed from a real SIP INVITE (a small UDP client here, digest
// auth) to a user with no phone who turned message taking off (480): missed for the callee,
// placed (no answer) for the caller.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Box, ivmdPath, launch, person, login, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
let box;
let browser;

const md5 = (s) => createHash('md5').update(s).digest('hex');

/** `ivmd user show NAME`'s SIP password. */
function sipPassword(name) {
  const out = execFileSync(ivmdPath(), ['--data', box.data, 'user', 'show', name], { timeout: 60000 }).toString();
  const m = /^SIP password:\s*(\S+)/m.exec(out);
  assert.ok(m, out);
  return m[1];
}

/**
 * `ext` (password `password`) calls `to` over UDP with digest auth; resolves with the final
 * status of the authenticated INVITE, after ACKing it.
 */
async function sipCall(sip, ext, password, to) {
  const i = sip.lastIndexOf(':');
  const host = sip.slice(0, i);
  const port = Number(sip.slice(i + 1));
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const local = sock.address().port;
  const callId = randomBytes(8).toString('hex');
  const tag = randomBytes(4).toString('hex');
  const uri = `sip:${to}@${host}:${port}`;
  const sdp = ['v=0', `o=- 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${local + 2} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
  const request = (method, cseq, branch, { auth, toTag, body = '' } = {}) => [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:${ext}@ivm>;tag=${tag}`,
    `To: <sip:${to}@ivm>${toTag ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:${ext}@127.0.0.1:${local}>`,
    ...(auth ? [auth] : []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
  const finals = [];
  let wake = null;
  sock.on('message', (m) => {
    const text = m.toString();
    const st = /^SIP\/2\.0 (\d{3})/.exec(text);
    if (st && Number(st[1]) >= 200) { finals.push(text); if (wake) wake(); }
  });
  const final = () => new Promise((resolve, reject) => {
    const end = Date.now() + 20000;
    const look = () => {
      if (finals.length) return resolve(finals.shift());
      if (Date.now() > end) return reject(new Error('no final SIP answer in 20 s'));
      wake = look;
      setTimeout(look, 200);
    };
    look();
  });
  const ack = (r, cseq, branch) => {
    const toTag = /^To:.*;tag=([^;\s]+)/im.exec(r)?.[1];
    sock.send(request('ACK', cseq, branch, { toTag }), port, host);
  };
  try {
    const b1 = 'z9hG4bK' + randomBytes(6).toString('hex');
    sock.send(request('INVITE', 1, b1, { body: sdp }), port, host);
    let r = await final();
    ack(r, 1, b1);
    const ch = /^(WWW|Proxy)-Authenticate:\s*(Digest .*)$/im.exec(r);
    assert.ok(ch, `a digest challenge: ${r}`);
    const d = {};
    for (const m of ch[2].replace(/^Digest\s+/i, '').matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) d[m[1].toLowerCase()] = m[3] ?? m[2];
    const ha1 = md5(`${ext}:${d.realm}:${password}`);
    const ha2 = md5(`INVITE:${uri}`);
    const cnonce = randomBytes(8).toString('hex');
    const qop = d.qop ? 'auth' : null;
    const response = qop ? md5(`${ha1}:${d.nonce}:00000001:${cnonce}:auth:${ha2}`) : md5(`${ha1}:${d.nonce}:${ha2}`);
    let auth = `Digest username="${ext}", realm="${d.realm}", nonce="${d.nonce}", uri="${uri}", response="${response}", algorithm=MD5`;
    if (qop) auth += `, qop=auth, nc=00000001, cnonce="${cnonce}"`;
    if (d.opaque) auth += `, opaque="${d.opaque}"`;
    const header = ch[1] === 'Proxy' ? 'Proxy-Authorization' : 'Authorization';
    const b2 = 'z9hG4bK' + randomBytes(6).toString('hex');
    sock.send(request('INVITE', 2, b2, { auth: `${header}: ${auth}`, body: sdp }), port, host);
    r = await final();
    ack(r, 2, b2);
    return Number(r.split(' ')[1]);
  } finally {
    sock.close();
  }
}

describe('calls: settings and history', { timeout: 180000 }, () => {
  before(async () => {
    box = await Box.start({ args: ['--sip', '127.0.0.1:0'] });
    assert.ok(box.sip && box.sip !== 'off', 'SIP is on');
    box.addUser('ann', '201', PW, { display: 'Ann Adams' });
    box.addUser('bob', '202', PW, { display: 'Bob Brown' });
    box.addUser('carol', '203', PW, { display: 'Carol Cruz' });
    browser = await launch(speechWav('calls'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
  });

  it('saves forwards and do-not-disturb; refuses a bad target and keeps what was stored', async () => {
    const bob = await person(browser, box);
    const { page } = bob;
    await login(page, box, 'bob', PW);
    await page.click('#open-calls');
    await page.waitForSelector('#calls-dialog');
    await waitText(page.locator('#call-list'), /No calls yet/);
    assert.equal(await page.inputValue('#fwd-after'), '20', 'the default delay');
    assert.equal(await page.inputValue('#fwd-always'), '');
    assert.equal(await page.isChecked('#voicemail'), true, 'messages taken by default');

    await page.fill('#fwd-busy', '203');
    await page.fill('#fwd-after', '10');
    await page.uncheck('#voicemail');
    await page.check('#dnd');
    await page.click('#settings-save');
    await waitText(page.locator('#toasts'), /Call settings saved/);
    const token = await box.token('bob', PW);
    let s = (await box.rest('GET', '/api/me/settings', { token })).body;
    assert.equal(s.forward_busy, '203');
    assert.equal(s.no_answer_after, 10);
    assert.equal(s.voicemail, false);
    assert.equal(s.dnd, true);
    assert.equal(await page.inputValue('#my-status'), 'busy', 'do-not-disturb is the status busy');

    // A target nobody has: the box's message, and nothing changes (not even dnd).
    await page.fill('#fwd-always', '299');
    await page.uncheck('#dnd');
    await page.click('#settings-save');
    await waitText(page.locator('#settings-error'), /299/);
    s = (await box.rest('GET', '/api/me/settings', { token })).body;
    assert.deepEqual([s.forward_always, s.forward_busy, s.dnd], [null, '203', true]);
    await bob.context.close();
  });

  it('lists a missed call for the callee and a placed one for the caller', async () => {
    // Carol turned message taking off, so the box does not answer ann for a message.
    const token = await box.token('carol', PW);
    const off = await box.rest('PATCH', '/api/me/settings', { token, json: { voicemail: false } });
    assert.equal(off.body.voicemail, false);
    const status = await sipCall(box.sip, '201', sipPassword('ann'), '203');
    assert.equal(status, 480, 'carol has no phone: temporarily unavailable');
    for (const [name, re] of [['carol', /Missed\s*ann \(201\)/], ['ann', /Placed \(no answer\)\s*carol \(203\)/]]) {
      const p = await person(browser, box);
      await login(p.page, box, name, PW);
      await p.page.click('#open-calls');
      await waitText(p.page.locator('#call-list'), re);
      await p.context.close();
    }
  });
});
