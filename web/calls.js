// "Calls": my call settings (forwards, message taking, do-not-disturb; GET/PATCH
// /api/me/settings) and my call history (GET /api/me/calls), in one dialog opened from the
// header. The box checks every value; its answer to a bad one is shown and nothing changes.

import { h, fill, fmtTime } from './dom.js';

const KIND = { placed: 'Placed', received: 'Received', missed: 'Missed' };

/**
 * Opens the dialog. `onDnd(on)` tells the page that my status changed with do-not-disturb
 * (it is the status "busy").
 */
export async function openCalls(api, { toast, errorText, onDnd }) {
  const d = h('dialog', { class: 'calls-dialog', id: 'calls-dialog', 'aria-labelledby': 'calls-title' });
  const err = h('p', { class: 'error', id: 'settings-error', role: 'alert' });
  const text = (id, label) => [h('label', { for: id }, label),
    h('input', { id, name: id, inputmode: 'numeric', maxlength: 8, placeholder: 'off', autocomplete: 'off' })];
  const [alwaysL, always] = text('fwd-always', 'Forward every call to extension');
  const [busyL, busy] = text('fwd-busy', 'Forward when I am busy to extension');
  const [naL, noAnswer] = text('fwd-noanswer', 'Forward when I do not answer to extension');
  const after = h('input', { id: 'fwd-after', name: 'fwd-after', type: 'number', min: 5, max: 120, step: 1 });
  const voicemail = h('input', { id: 'voicemail', type: 'checkbox' });
  const dnd = h('input', { id: 'dnd', type: 'checkbox' });
  const save = h('button', { class: 'btn primary', id: 'settings-save', type: 'submit' }, 'Save');
  const list = h('ul', { class: 'call-list', id: 'call-list' });
  const form = h('form', { class: 'call-settings', id: 'call-settings' },
    alwaysL, always, busyL, busy, naL, noAnswer,
    h('label', { for: 'fwd-after' }, 'after (seconds, 5 to 120)'), after,
    h('label', { class: 'check' }, voicemail, ' Take a message when I am busy or do not answer'),
    h('label', { class: 'check' }, dnd, ' Do not disturb (my status is Busy; callers leave a message)'),
    err,
    h('div', { class: 'row end' },
      h('button', { class: 'btn', id: 'calls-close', type: 'button', onclick: () => d.close() }, 'Close'), save));
  d.append(h('h1', { id: 'calls-title' }, 'Calls'), form, h('h2', {}, 'Recent calls'), list);

  const show = (s) => {
    always.value = s.forward_always || '';
    busy.value = s.forward_busy || '';
    noAnswer.value = s.forward_no_answer || '';
    after.value = String(s.no_answer_after);
    voicemail.checked = s.voicemail;
    dnd.checked = s.dnd;
  };
  const showCalls = (calls) => fill(list, calls.length
    ? calls.map((c) => h('li', { class: `call ${c.kind}` },
      h('span', { class: 'call-kind' }, c.kind === 'placed' && !c.answered ? 'Placed (no answer)' : KIND[c.kind] || c.kind),
      h('span', { class: 'call-peer' }, `${c.peer_name} (${c.peer_extension})`),
      h('time', { class: 'muted', datetime: new Date(c.at).toISOString() }, fmtTime(c.at))))
    : [h('li', { class: 'muted', id: 'no-calls' }, 'No calls yet.')]);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    save.disabled = true;
    try {
      const s = await api.patchSettings({
        forward_always: always.value.trim(),
        forward_busy: busy.value.trim(),
        forward_no_answer: noAnswer.value.trim(),
        no_answer_after: Number(after.value),
        voicemail: voicemail.checked,
        dnd: dnd.checked,
      });
      show(s);
      onDnd(s.dnd);
      toast('Call settings saved.');
    } catch (e) {
      err.textContent = errorText(e);
    } finally {
      save.disabled = false;
    }
  });
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  try {
    const [s, calls] = await Promise.all([api.settings(), api.calls()]);
    show(s);
    showCalls(calls);
  } catch (e) {
    err.textContent = errorText(e);
  }
  always.focus();
}
