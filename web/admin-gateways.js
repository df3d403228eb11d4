// The admin page's "Analog lines": each media gateway (MGCP or MEGACO, added with
// `ivmd gateway add`) with its state (up, down, or off when the call agent does not run), and
// each of its lines with the user it rings and what it is doing now (idle, off-hook, ringing,
// in a call). A line is assigned to a user, moved or unassigned here as with `ivmd line
// assign` (`PUT /api/admin/gateways/{gateway}/lines`); the gateway actor takes the change
// within its 2 s reload.

import { h, fill } from './dom.js';

/**
 * The section: `box` to place on the page, `refresh()` to redraw it from the box (it keeps
 * a row being edited), `editing()` whether a row is open for editing.
 * `users()` gives the users known to the page (for the picker).
 */
export function gatewaysSection(api, { toast, errorText, users }) {
  const box = h('div', { id: 'admin-gateways', 'aria-live': 'polite' });
  let editing = null;

  const draw = (gateways) => {
    if (editing) return;
    if (!gateways.length) {
      fill(box, h('p', { class: 'muted' }, 'No gateways. An installer adds one with ivmd gateway add NAME --address IP:PORT --lines N.'));
      return;
    }
    const rows = [];
    for (const g of gateways) {
      for (const l of g.lines) rows.push(lineRow(g, l));
    }
    fill(box, h('div', { class: 'table-wrap' }, h('table', { class: 'users lines' },
      h('caption', { class: 'visually-hidden' }, 'Analog lines'),
      h('thead', {}, h('tr', {}, ['Gateway', 'Line', 'User', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
  };

  const refresh = async () => {
    try { draw(await api.adminGateways()); } catch (e) { if (!editing) fill(box, h('p', { class: 'error' }, errorText(e))); }
  };

  const save = async (g, l, user) => {
    try {
      editing = null;
      draw(await api.adminAssignLine(g.name, l.endpoint, user));
      toast(user ? `${g.name} ${l.endpoint} rings ${user}` : `${g.name} ${l.endpoint} unassigned`);
    } catch (e) { toast(errorText(e), 'error'); }
  };

  const lineRow = (g, l) => {
    const key = `${g.name} ${l.endpoint}`;
    const who = l.user_name ? `${l.extension} (${l.user_name})` : '—';
    const tr = h('tr', { dataset: { gateway: g.name, endpoint: l.endpoint } },
      h('td', {}, h('strong', {}, g.name), ' ', h('span', { class: 'muted' }, `${g.protocol} ${g.address}`), ' ',
        h('span', { class: `phone-state gateway-state ${g.state}` }, g.state)),
      h('td', {}, h('code', {}, l.endpoint)),
      h('td', { class: 'line-user' }, who),
      h('td', {}, h('span', { class: `phone-state line-state ${l.state}` }, l.state)),
      h('td', {}, h('div', { class: 'actions' },
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Assign ${key}`, onclick: () => assign(tr, g, l) }, l.user_name ? 'Reassign' : 'Assign'),
        l.user_name ? h('button', { class: 'btn small', type: 'button', 'aria-label': `Unassign ${key}`, onclick: () => save(g, l, null) }, 'Unassign') : null)));
    return tr;
  };

  const assign = (tr, g, l) => {
    editing = `${g.name} ${l.endpoint}`;
    const pick = h('select', { 'aria-label': `User for ${editing}`, required: true },
      h('option', { value: '' }, 'Pick a user…'),
      users().map((u) => h('option', { value: u.name, selected: u.name === l.user_name }, `${u.extension} ${u.display_name} (${u.name})`)));
    const cancel = () => { editing = null; refresh(); };
    const form = h('form', { class: 'edit-row' },
      h('span', {}, h('strong', {}, g.name), ' ', h('code', {}, l.endpoint)),
      h('label', {}, 'User ', pick),
      h('button', { class: 'btn small primary', type: 'submit' }, 'Save'),
      h('button', { class: 'btn small', type: 'button', onclick: cancel }, 'Cancel'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (pick.value) save(g, l, pick.value);
    });
    tr.replaceChildren(h('td', { colspan: 5 }, form));
    pick.focus();
  };

  return { box, refresh, editing: () => editing !== null };
}
