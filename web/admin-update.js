// The admin page's "Software update": the running version, and an update bundle chosen from
// disk and uploaded to the box (`PUT /api/admin/update`). The box checks the signature before
// anything is written and hands the bundle to its installer, which writes the root slot not
// running (on the image it runs on after the answer: its progress is on the console); the
// new system starts at the next restart and falls back by itself if it never gets ready
// (docs/image.md). A box without an installer (a development machine) says so instead.

import { h, fill, icon, fmtSize, confirmDialog } from './dom.js';

/** The section's body; `status` is the last `GET /api/admin/status`. */
export function updateSection(api, status, { toast, errorText }) {
  const box = h('div', { class: 'card update', id: 'admin-update' });
  if (!status.updates) {
    fill(box,
      h('p', {}, 'Version ', h('strong', { id: 'update-version' }, status.version)),
      h('p', { class: 'muted', id: 'update-none' },
        'This box installs no updates: it is not running the appliance image ([update] command is not set).'));
    return box;
  }
  const file = h('input', { id: 'update-file', type: 'file', accept: '.bundle,application/octet-stream' });
  const install = h('button', { class: 'btn primary', type: 'submit', id: 'update-install', disabled: true }, icon('upload'), 'Install update');
  const progress = h('progress', { id: 'update-progress', max: 1, value: 0, hidden: true });
  const result = h('div', { id: 'update-result', role: 'status', 'aria-live': 'polite' });
  file.addEventListener('change', () => { install.disabled = !file.files.length; fill(result); });
  const form = h('form', { id: 'update-form' },
    h('p', {}, 'Running version ', h('strong', { id: 'update-version' }, status.version), '.'),
    h('p', { class: 'muted' },
      'Choose an update bundle (ivm-box.bundle). The box checks its signature before it writes anything, ',
      'installs it beside the running system and starts it at the next restart; the data stays. ',
      'If the new system does not come up, the box goes back to this one by itself.'),
    h('div', { class: 'grid' }, h('label', { for: 'update-file' }, 'Bundle'), file),
    install, progress, result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    if (!(await confirmDialog(`Install ${f.name} (${fmtSize(f.size)}) on this box?`, { ok: 'Install' }))) return;
    install.disabled = true;
    file.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    fill(result, h('p', { class: 'muted' }, 'Uploading…'));
    try {
      const r = await api.adminUpdate(f, (sent, total) => {
        progress.value = total ? sent / total : 0;
        // The whole file is there: the box now checks it and writes the other slot.
        if (total && sent >= total) {
          progress.removeAttribute('value');
          fill(result, h('p', { class: 'muted' }, 'Checking the signature…'));
        }
      });
      fill(result, h('div', { class: 'card notice', id: 'update-done' },
        h('p', {}, 'Update ', h('strong', {}, r.version), ' is verified and handed to the installer, which writes it ',
          'beside the running system in a minute or two. It starts at the next restart.'),
        h('p', { class: 'muted' }, r.message),
        restartButton(api, result, { toast, errorText })));
      toast(`Update ${r.version} verified`);
      form.reset();
    } catch (e) {
      fill(result, h('p', { class: 'error', id: 'update-error' }, 'Not installed: ', errorText(e)));
    } finally {
      progress.hidden = true;
      file.disabled = false;
      install.disabled = !file.files.length;
    }
  });
  fill(box, form);
  return box;
}

/** "Restart now": the panel's Reboot from here, so the update starts without going to the box.
 * On the image a restart waits for the installer to finish writing the other slot. */
function restartButton(api, result, { toast, errorText }) {
  const b = h('button', { class: 'btn', type: 'button', id: 'update-restart' }, icon('redo'), 'Restart now');
  b.addEventListener('click', async () => {
    const sure = await confirmDialog('Restart the box now? Calls and live talks end; it is back in about a minute, '
      + 'after the installer has finished.', { ok: 'Restart' });
    if (!sure) return;
    b.disabled = true;
    try {
      const r = await api.adminRestart();
      fill(result, h('p', { class: 'notice card', id: 'update-restarting' }, r.message));
    } catch (e) {
      b.disabled = false;
      toast(errorText(e), 'error');
    }
  });
  return b;
}
