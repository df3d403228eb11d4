// Browser test of the admin page's software update (issue 17): an admin chooses a bundle in
// the page and installs it. Bundles are made by scripts/make-bundle with openssl keys made
// here; the box's installer is `cp` of the staged bundle, so what reached it is checked byte
// for byte. A bundle with one byte changed, one signed by another key and a file that is no
// bundle are refused with their reason and reach no installer; the good one is installed and
// the page says which version starts at the next restart, and "Restart now" runs the box's
// reboot command. A box without an installer says so.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, REPO, launch, person, login, screenshot, speechWav, waitText } from './harness.js';

const PW = 'correct horse battery';
const VERSION = '2.0.0-web';
let box;
let plain;
let browser;
let dir;

/** An Ed25519 key pair made by openssl: [private PEM, public PEM]. */
function keypair(name) {
  const key = join(dir, `${name}.pem`);
  const pub = join(dir, `${name}.pub`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
  execFileSync('openssl', ['pkey', '-pubout', '-in', key, '-out', pub]);
  return [key, pub];
}

/** A bundle of a small root, kernel and initrd signed by `key`: its path. */
function bundle(name, key) {
  const out = join(dir, `${name}.bundle`);
  execFileSync(join(REPO, 'scripts/make-bundle'), ['--key', key, '--version', VERSION,
    join(dir, 'root.img'), join(dir, 'vmlinuz'), join(dir, 'initrd.img'), out]);
  return out;
}

describe('admin page: software update', { timeout: 180000 }, () => {
  let good;
  let foreign;
  let tampered;
  let notBundle;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ivm-web-update-'));
    writeFileSync(join(dir, 'root.img'), Buffer.alloc(256 * 1024, 7));
    writeFileSync(join(dir, 'vmlinuz'), 'a kernel');
    writeFileSync(join(dir, 'initrd.img'), 'an initrd');
    const [key, pub] = keypair('box');
    const [other] = keypair('other');
    good = bundle('good', key);
    foreign = bundle('foreign', other);
    tampered = join(dir, 'tampered.bundle');
    const bytes = readFileSync(good);
    bytes[64 + 1000] ^= 1; // one bit of the root slot
    writeFileSync(tampered, bytes);
    notBundle = join(dir, 'notes.bundle');
    writeFileSync(notBundle, 'meeting notes, not an update\n');
    box = await Box.start({
      toml: (b) => `[update]\ncommand = ["cp", ${JSON.stringify(join(b.data, 'update.bundle'))}, ${JSON.stringify(join(dir, 'installed.bundle'))}]\nkey = ${JSON.stringify(pub)}\n`
        // The panel's Reboot, which "Restart now" shares (the image's is `systemctl reboot`).
        + `[panel]\nreboot_command = ["touch", ${JSON.stringify(join(dir, 'rebooted'))}]\n`,
    });
    box.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    plain = await Box.start();
    plain.addUser('root', '110', PW, { admin: true, display: 'Office Admin' });
    browser = await launch(speechWav('update'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (box) await box.stop();
    if (plain) await plain.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad bundles with their reason and installs a good one', async () => {
    const { page, context } = await person(browser, box);
    await login(page, box, 'root', PW);
    await page.click('#tab-admin');
    await page.waitForSelector('#update-form');
    assert.match(await page.locator('#update-version').textContent(), /^\d+\.\d+\.\d+/);
    assert.ok(await page.locator('#update-install').isDisabled(), 'nothing to install before a file is chosen');

    const install = async (file) => {
      await page.setInputFiles('#update-file', file);
      await page.click('#update-install');
      await page.click('dialog.confirm button.danger'); // "Install"
    };
    const refused = async (file, reason) => {
      await install(file);
      await waitText(page.locator('#update-result'), reason);
      assert.ok(!existsSync(join(dir, 'installed.bundle')), `${file} reached the installer`);
      assert.ok(await page.locator('#update-progress').isHidden());
    };
    await refused(tampered, /^Not installed: .*signature does not match this box's update key/);
    await refused(foreign, /^Not installed: .*signature does not match this box's update key/);
    await refused(notBundle, /^Not installed: .*not an IVM update bundle/);

    // Cancelling the confirmation uploads nothing.
    await page.setInputFiles('#update-file', good);
    await page.click('#update-install');
    await page.click('dialog.confirm button:not(.danger)');
    assert.ok(!existsSync(join(dir, 'installed.bundle')));

    await install(good);
    await waitText(page.locator('#update-result'), new RegExp(`^Update ${VERSION.replace(/\./g, '\\.')} is verified and handed to the installer.*It starts at the next restart`));
    assert.deepEqual(readFileSync(join(dir, 'installed.bundle')), readFileSync(good), 'the installer got the bundle as chosen');
    assert.ok(!existsSync(join(box.data, 'update.upload')), 'the upload is not left on the data partition');
    assert.ok(await page.locator('#update-install').isDisabled(), 'the form is cleared');
    await screenshot(page, 'admin-update');

    // "Restart now" starts it: confirmed, it runs the box's reboot command.
    assert.ok(!existsSync(join(dir, 'rebooted')));
    await page.click('#update-restart');
    await page.click('dialog.confirm button.danger'); // "Restart"
    await waitText(page.locator('#update-restarting'), /restarting/);
    assert.ok(existsSync(join(dir, 'rebooted')), 'the reboot command ran');
    // Chromium logs each refused upload's 400; nothing else may be logged.
    assert.deepEqual(page.errors.filter((e) => !/Failed to load resource: .* status of 400/.test(e)), []);
    assert.equal(page.errors.length, 3, 'one 400 per refused bundle');
    assert.deepEqual(page.external, []);
    await context.close();
  });

  it('a box without an installer says it installs no updates', async () => {
    const { page, context } = await person(browser, plain);
    await login(page, plain, 'root', PW);
    await page.click('#tab-admin');
    await waitText(page.locator('#update-none'), /installs no updates/);
    assert.equal(await page.locator('#update-file').count(), 0);
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});
