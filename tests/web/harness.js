// Browser test harness: starts the real `ivmd` (built by cargo) on ephemeral ports with a
// temporary data folder, makes a spoken WAV with espeak-ng for Chromium's fake microphone,
// and launches Debian's chromium through playwright-core.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENS = join(REPO, 'docs/screens');

/** The `ivmd` binary: $IVMD, else $CARGO_TARGET_DIR/debug/ivmd, else target/debug/ivmd. */
export function ivmdPath() {
  const candidates = [
    process.env.IVMD,
    process.env.CARGO_TARGET_DIR && join(resolve(REPO, process.env.CARGO_TARGET_DIR), 'debug/ivmd'),
    join(REPO, 'target/debug/ivmd'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`ivmd not found (tried ${candidates.join(', ')}); run cargo build -p ivm-appliance`);
  return found;
}

/** Chromium: $CHROMIUM or /usr/bin/chromium. */
export function chromiumPath() {
  const p = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`${p} not found: apt-get install chromium (scripts/setup --tests does)`);
  return p;
}

export class Box {
  constructor(dir) {
    this.dir = dir;
    this.data = join(dir, 'data');
    this.proc = null;
  }

  /** Starts ivmd and resolves once it prints its ready line; `toml` is its config (or a
   * function of the box that makes it), `args` are extra `run` flags (`['--sip', '127.0.0.1:0']`). */
  static async start({ toml = '', args = [] } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'ivm-web-'));
    const box = new Box(dir);
    const config = join(dir, 'ivmd.toml');
    // A function of the box: a config that names the box's own folders.
    writeFileSync(config, typeof toml === 'function' ? toml(box) : toml);
    // Every listener on an ephemeral loopback port unless the test names one: the defaults
    // (SIP 0.0.0.0:5060, TFTP 0.0.0.0:6969) would collide with any other box on the machine.
    const own = [];
    for (const flag of ['--sip', '--tftp']) if (!args.includes(flag)) own.push(flag, '127.0.0.1:0');
    box.args = ['--config', config, '--data', box.data, 'run', '--http', '127.0.0.1:0', '--https', '127.0.0.1:0', ...own, ...args];
    await box.run();
    return box;
  }

  /** Starts ivmd on this box's config and data; resolves once it prints its ready line. */
  async run() {
    const box = this;
    box.proc = spawn(ivmdPath(), box.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // IVM_RUNTIME_DIR: the box publishes its admin socket in the test's own folder, not /run/ivm.
      env: { ...process.env, IVM_LOG: process.env.IVM_LOG || 'info', IVM_RUNTIME_DIR: join(box.dir, 'run') },
    });
    box.log = [];
    box.proc.stderr.on('data', (d) => { box.log.push(d.toString()); if (box.log.length > 2000) box.log.shift(); });
    const lines = createInterface({ input: box.proc.stdout });
    await new Promise((resolve_, reject) => {
      const t = setTimeout(() => reject(new Error('ivmd did not become ready in 60 s:\n' + box.log.join(''))), 60000);
      box.proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`ivmd exited (${code}):\n${box.log.join('')}`)); });
      lines.on('line', (line) => {
        const m = /^ivmd: ready http=(\S+) https=(\S+)/.exec(line);
        if (m) {
          box.http = `http://${m[1]}`;
          box.https = `https://${m[2]}`;
          box.sip = /\bsip=(\S+)/.exec(line)?.[1];
          clearTimeout(t);
          resolve_();
        }
      });
    });
  }

  /** Stops ivmd and starts it again on the same data (what it reads only at start, such as
   * the gateways that open the call agent's socket, takes effect). New listener ports. */
  async restart() {
    await this.halt();
    await this.run();
  }

  /** `ivmd user add` (works while the box runs). */
  addUser(name, extension, password, { admin = false, display = null } = {}) {
    const args = ['user', 'add', name, '--extension', extension, '--password', password];
    if (display) args.push('--display-name', display);
    if (admin) args.push('--admin');
    this.ivmd(...args);
  }

  /** An admin command (`ivmd --data <this box's data> ...args`), running or not; its output. */
  ivmd(...args) {
    return execFileSync(ivmdPath(), ['--data', this.data, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }).toString();
  }

  /** REST over plain HTTP (the box serves /api there for local tools). */
  async rest(method, path, { token, json, form } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let body;
    if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
    if (form) body = form;
    const res = await fetch(this.http + path, { method, headers, body, redirect: 'manual' });
    const type = res.headers.get('content-type') || '';
    const out = type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer());
    return { status: res.status, body: out, headers: res.headers };
  }

  async token(name, password) {
    const r = await this.rest('POST', '/api/login', { json: { name, password } });
    if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token;
  }

  /** Stops ivmd (SIGTERM, then SIGKILL after 30 s); the data stays. */
  async halt() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
    await done;
    clearTimeout(t);
  }

  /** Stops ivmd and removes its folder (kept with KEEP_TMP). */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    await this.halt();
    if (!process.env.KEEP_TMP) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A 48 kHz mono 16-bit WAV of `text` spoken by espeak-ng (Chromium's fake microphone). */
export function speechWav(text, dir = mkdtempSync(join(tmpdir(), 'ivm-wav-'))) {
  const raw = join(dir, 'raw.wav');
  const out = join(dir, 'speech.wav');
  execFileSync('espeak-ng', ['-w', raw, text]);
  // Pad with a little silence so the loop has pauses like real speech.
  execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', out, 'pad', '0.2', '0.4']);
  return out;
}

/** Launches headless Chromium with a fake microphone speaking `wav`. */
export async function launch(wav) {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** A fresh browser context (its own storage: one person) on the box's HTTPS origin. */
export async function person(browser, box, { viewport = { width: 1280, height: 860 } } = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, deviceScaleFactor: 1 });
  await context.grantPermissions(['microphone'], { origin: box.https });
  const page = await context.newPage();
  page.errors = [];
  page.external = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push('console: ' + m.text()); });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(box.https) && !u.startsWith('blob:') && !u.startsWith('data:') && !u.startsWith(box.https.replace('https', 'wss'))) page.external.push(u);
  });
  return { context, page };
}

/** Logs in through the form and waits for the app shell. */
export async function login(page, box, name, password) {
  await page.goto(box.https + '/');
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('header.top');
  await page.waitForFunction(() => !document.querySelector('#conn')?.textContent, null, { timeout: 15000 });
}

/** Takes a screenshot (the page must render); writes it to docs/screens/<name>.png only when
 * asked (`IVM_SCREENSHOTS=1 scripts/test-web`), so a plain test run leaves the tree clean. */
export function screenshot(page, name) {
  if (!process.env.IVM_SCREENSHOTS) return page.screenshot({ fullPage: false });
  mkdirSync(SCREENS, { recursive: true });
  return page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: false });
}

/** Waits (bounded) until `locator`'s text matches `re`; its text. */
export async function waitText(locator, re, timeout = 15000) {
  const end = Date.now() + timeout;
  let last = '';
  while (Date.now() < end) {
    last = (await locator.textContent({ timeout }).catch(() => '')) || '';
    if (re.test(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`expected ${re}, last saw ${JSON.stringify(last)}`);
}
