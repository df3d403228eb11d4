// The admin page (admins only; loaded on demand): server status, users with their
// extensions (add, edit, reset password, delete), and desk phones (assign a seen phone to a
// user, unassign, remove; each with its state: unassigned, seen, provisioned, registered;
// its provisioning: armed until, or bound to the address of its first fetch; re-arm a
// replaced phone; show a phone's own admin password and provisioning credential), and groups
// for all-calls (make, change members, delete; `everyone` is built in) with each user's
// all-call permission, the analog lines of media gateways (admin-gateways.js) and the
// software update (admin-update.js).

import { h, fill, icon, confirmDialog } from './dom.js';
import { updateSection } from './admin-update.js';
import { gatewaysSection } from './admin-gateways.js';

let timer = null;

function fmtUptime(s) {
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function fmtSeen(unix) {
  if (!unix) return 'never';
  const d = new Date(unix * 1000);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/** Draws the admin page into `el`; refreshes the status and phones every 5 s while shown. */
export async function renderAdmin(el, api, { me, toast, errorText }) {
  clearInterval(timer);
  const statusBox = h('div', { class: 'stats', id: 'admin-status', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  const usersBox = h('div', { id: 'admin-users' });
  const phonesBox = h('div', { id: 'admin-phones', 'aria-live': 'polite' });
  const groupsBox = h('div', { id: 'admin-groups' });
  const updateBox = h('div');
  let knownUsers = [];
  const lines = gatewaysSection(api, { toast, errorText, users: () => knownUsers });
  // A phone row being edited (its user picker open) is not redrawn under the admin's hands.
  let editingPhone = null;
  const notice = h('div', { id: 'admin-notice', role: 'status' });

  const showPassword = (user, password) => {
    fill(notice, password ? h('div', { class: 'card notice' },
      h('p', {}, `Password for `, h('strong', {}, user.name), ' (shown once; give it to them now):'),
      h('p', {}, h('code', { class: 'password', id: 'generated-password' }, password)),
      user.must_change_password ? h('p', { class: 'muted' }, 'It works once: they choose their own when they log in with it.') : null,
      h('button', { class: 'btn small', type: 'button', onclick: () => fill(notice) }, 'Done')) : null);
  };

  const refreshStatus = async () => {
    if (!el.isConnected || el.hidden) { clearInterval(timer); return; }
    try {
      const s = await api.adminStatus();
      const stat = (label, value, id) => h('div', { class: 'stat card' }, h('span', { class: 'stat-value', id }, String(value)), h('span', { class: 'stat-label' }, label));
      fill(statusBox,
        stat('Uptime', fmtUptime(s.uptime_s), 'stat-uptime'),
        stat('Connected clients', s.connected_clients, 'stat-clients'),
        stat('Queued messages', s.queued_messages, 'stat-queued'),
        stat('Users', s.users, 'stat-users'),
        stat('Version', s.version, 'stat-version'),
        // Linked to other offices: the link's state, users published, what waits to go out.
        s.global ? stat(`Global link (${s.global.box_name}, ${s.global.published_users} published)`, s.global.up ? 'up' : 'down', 'stat-global') : null,
        s.global ? stat('Waiting for other offices', s.global.outbox, 'stat-outbox') : null);
      // Drawn once: a refresh must not reset a chosen file or an upload under way.
      if (!updateBox.firstChild) fill(updateBox, updateSection(api, s, { toast, errorText }));
    } catch (e) {
      fill(statusBox, h('p', { class: 'error' }, errorText(e)));
    }
  };

  const refreshUsers = async () => {
    let users;
    try { users = await api.adminUsers(); } catch (e) { fill(usersBox, h('p', { class: 'error' }, errorText(e))); return; }
    users.sort((a, b) => a.extension.localeCompare(b.extension, undefined, { numeric: true }));
    knownUsers = users;
    fill(usersBox, h('div', { class: 'table-wrap' }, h('table', { class: 'users' },
      h('caption', { class: 'visually-hidden' }, 'Users and extensions'),
      h('thead', {}, h('tr', {}, ['Extension', 'User', 'Display name', 'Status', 'Admin', 'All-call', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, users.map((u) => userRow(u))))));
  };

  const userRow = (u) => {
    const tr = h('tr', { dataset: { name: u.name } },
      h('td', { class: 'ext' }, u.extension),
      h('td', {}, u.name),
      h('td', {}, u.display_name),
      h('td', {}, h('span', { class: `presence ${u.status}` }, h('span', { class: `dot ${u.status}`, 'aria-hidden': 'true' }), ' ', u.status)),
      h('td', {}, u.admin ? 'yes' : ''),
      h('td', { class: 'all-call' }, u.may_all_call ? 'yes' : ''),
      h('td', {}, h('div', { class: 'actions' },
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Edit ${u.name}`, onclick: () => edit(tr, u) }, 'Edit'),
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Reset password of ${u.name}`, onclick: async () => {
          if (!(await confirmDialog(`Give ${u.name} a new password? Their sessions end.`, { ok: 'Reset' }))) return;
          try { const r = await api.adminResetPassword(u.name); showPassword(u, r.password); toast(`New password for ${u.name}`); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Reset password'),
        u.guid === me.guid ? null : h('button', { class: 'btn small danger', type: 'button', 'aria-label': `Delete ${u.name}`, onclick: async () => {
          if (!(await confirmDialog(`Delete the user ${u.name} (extension ${u.extension})? Their messages go too.`))) return;
          try { await api.adminDeleteUser(u.name); toast(`Deleted ${u.name}`); refreshUsers(); refreshStatus(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Delete'))));
    return tr;
  };

  // Armed (its next request for its file gets it once) or bound (to its first fetch's address).
  const provisioning = (p) => {
    let t = '—';
    if (p.armed_until) t = `armed until ${fmtSeen(p.armed_until)}`;
    else if (p.bound_at) t = `bound ${p.bound_address || ''} ${fmtSeen(p.bound_at)}`.replace('  ', ' ');
    return p.manual_credential ? `${t} (credential set by hand)` : t;
  };

  // A phone's own secrets, shown to the admin on request (never in the list itself).
  const showPhoneSecrets = (x) => {
    fill(notice, h('div', { class: 'card notice', id: 'phone-secrets' },
      h('p', {}, 'Phone ', h('strong', {}, x.mac), ':'),
      h('p', {}, 'Web interface: ', h('code', {}, x.admin_user), ' / ', h('code', { class: 'password', id: 'phone-admin-password' }, x.admin_password)),
      h('p', {}, 'Provisioning (for setting it up by hand): ', h('code', {}, x.provision_url), ' user ', h('code', {}, x.provision_user),
        ' password ', h('code', { class: 'password', id: 'phone-provision-password' }, x.provision_password)),
      h('button', { class: 'btn small', type: 'button', onclick: () => fill(notice) }, 'Hide')));
  };

  const refreshPhones = async () => {
    let phones;
    try { phones = await api.adminPhones(); } catch (e) { fill(phonesBox, h('p', { class: 'error' }, errorText(e))); return; }
    if (editingPhone) return;
    if (!phones.length) {
      fill(phonesBox, h('p', { class: 'muted' }, 'No phones yet. Phones appear here when they ask the box for an address or a file.'));
      return;
    }
    phones.sort((a, b) => (a.user ? 1 : 0) - (b.user ? 1 : 0) || a.mac.localeCompare(b.mac));
    fill(phonesBox, h('div', { class: 'table-wrap' }, h('table', { class: 'users phones' },
      h('caption', { class: 'visually-hidden' }, 'Desk phones'),
      h('thead', {}, h('tr', {}, ['MAC', 'Vendor', 'Model', 'User', 'State', 'Provisioning', 'Last seen', 'Address', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, phones.map((p) => phoneRow(p))))));
  };

  const phoneRow = (p) => {
    const model = [p.model, p.firmware].filter(Boolean).join(' ');
    const who = p.user ? `${p.extension} (${p.user})` : '—';
    const address = p.registration ? p.registration.address : (p.address || '—');
    const tr = h('tr', { dataset: { mac: p.mac } },
      h('td', { class: 'mac' }, h('code', {}, p.mac)),
      h('td', {}, p.vendor || '—'),
      h('td', { title: p.registration?.user_agent || '' }, model || '—'),
      h('td', { class: 'phone-user' }, who),
      h('td', {}, h('span', { class: `phone-state ${p.state}` }, p.state)),
      h('td', { class: 'phone-prov' }, provisioning(p)),
      h('td', {}, fmtSeen(p.last_seen)),
      h('td', {}, address),
      h('td', {}, h('div', { class: 'actions' },
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Assign ${p.mac}`, onclick: () => assign(tr, p) }, p.user ? 'Reassign' : 'Assign'),
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Passwords of ${p.mac}`, onclick: async () => {
          try { showPhoneSecrets(await api.adminPhoneSecrets(p.mac)); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Passwords'),
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Re-arm ${p.mac}`, onclick: async () => {
          if (!(await confirmDialog(`Re-arm phone ${p.mac}? Its next request for its file (from the office network) gets it once, with a new credential. Do this after replacing or resetting the phone.`, { ok: 'Re-arm' }))) return;
          try { await api.adminArmPhone(p.mac); toast(`Re-armed ${p.mac}`); refreshPhones(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Re-arm'),
        p.user ? h('button', { class: 'btn small', type: 'button', 'aria-label': `Unassign ${p.mac}`, onclick: async () => {
          if (!(await confirmDialog(`Unassign phone ${p.mac} from ${p.user}? It keeps working until it fetches its file again.`, { ok: 'Unassign' }))) return;
          try { await api.adminAssignPhone(p.mac, null); toast(`Unassigned ${p.mac}`); refreshPhones(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Unassign') : null,
        h('button', { class: 'btn small danger', type: 'button', 'aria-label': `Remove ${p.mac}`, onclick: async () => {
          if (!(await confirmDialog(`Forget phone ${p.mac}?`, { ok: 'Remove' }))) return;
          try { await api.adminRemovePhone(p.mac); toast(`Removed ${p.mac}`); refreshPhones(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Remove'))));
    return tr;
  };

  const assign = (tr, p) => {
    editingPhone = p.mac;
    const pick = h('select', { 'aria-label': `User for ${p.mac}`, id: `assign-${p.mac}`, required: true },
      h('option', { value: '' }, 'Pick a user…'),
      knownUsers.map((u) => h('option', { value: u.name, selected: u.name === p.user }, `${u.extension} ${u.display_name} (${u.name})`)));
    const done = () => { editingPhone = null; refreshPhones(); };
    const form = h('form', { class: 'edit-row', id: `assign-form-${p.mac}` },
      h('span', {}, h('code', {}, p.mac)),
      h('label', {}, 'User ', pick),
      h('button', { class: 'btn small primary', type: 'submit' }, 'Save'),
      h('button', { class: 'btn small', type: 'button', onclick: done }, 'Cancel'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!pick.value) return;
      try { await api.adminAssignPhone(p.mac, pick.value); toast(`Assigned ${p.mac} to ${pick.value}`); done(); } catch (e) { toast(errorText(e), 'error'); }
    });
    tr.replaceChildren(h('td', { colspan: 9 }, form));
    pick.focus();
  };

  const edit = (tr, u) => {
    const ext = h('input', { value: u.extension, 'aria-label': 'Extension', inputmode: 'numeric', pattern: '[0-9]+', required: true, size: 6 });
    const dn = h('input', { value: u.display_name, 'aria-label': 'Display name', required: true });
    const adm = h('input', { type: 'checkbox', checked: u.admin, 'aria-label': 'Administrator', disabled: u.guid === me.guid });
    const call = h('input', { type: 'checkbox', checked: u.may_all_call, 'aria-label': 'May all-call', id: `all-call-${u.name}` });
    const form = h('form', { class: 'edit-row', id: `edit-${u.name}` },
      h('label', {}, 'Extension ', ext), h('label', {}, 'Display name ', dn), h('label', {}, adm, ' Admin'),
      h('label', { title: 'May talk to a group at once, marked urgent' }, call, ' All-call'),
      h('button', { class: 'btn small primary', type: 'submit' }, 'Save'),
      h('button', { class: 'btn small', type: 'button', onclick: () => refreshUsers() }, 'Cancel'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const change = {};
      if (ext.value.trim() !== u.extension) change.extension = ext.value.trim();
      if (dn.value.trim() !== u.display_name) change.display_name = dn.value.trim();
      if (adm.checked !== u.admin) change.admin = adm.checked;
      if (call.checked !== u.may_all_call) change.may_all_call = call.checked;
      try {
        if (Object.keys(change).length) await api.adminUpdateUser(u.name, change);
        toast(`Saved ${u.name}`);
        refreshUsers();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    tr.replaceChildren(h('td', { colspan: 7 }, form));
    ext.focus();
  };

  // Groups: each row lists its members; Edit swaps in one checkbox per user.
  const refreshGroups = async () => {
    let groups;
    try { groups = await api.adminGroups(); } catch (e) { fill(groupsBox, h('p', { class: 'error' }, errorText(e))); return; }
    fill(groupsBox, h('div', { class: 'table-wrap' }, h('table', { class: 'users groups' },
      h('caption', { class: 'visually-hidden' }, 'Groups for all-calls'),
      h('thead', {}, h('tr', {}, ['Group', 'Members', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, groups.map((g) => groupRow(g))))));
  };

  const groupRow = (g) => {
    const tr = h('tr', { dataset: { group: g.name } },
      h('td', {}, h('strong', {}, g.name)),
      h('td', { class: 'group-members' }, g.builtin ? 'every user' : (g.members.map((m) => m.name).join(', ') || '—')),
      h('td', {}, g.builtin ? h('span', { class: 'muted' }, 'built in') : h('div', { class: 'actions' },
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Edit group ${g.name}`, onclick: () => editGroup(tr, g) }, 'Edit'),
        h('button', { class: 'btn small danger', type: 'button', 'aria-label': `Delete group ${g.name}`, onclick: async () => {
          if (!(await confirmDialog(`Delete the group ${g.name}? Its members stay.`))) return;
          try { await api.adminDeleteGroup(g.name); toast(`Deleted group ${g.name}`); refreshGroups(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Delete'))));
    return tr;
  };

  const memberPicker = (idPrefix, chosen) => h('fieldset', { class: 'member-picker' },
    h('legend', {}, 'Members'),
    knownUsers.map((u) => h('label', {},
      h('input', { type: 'checkbox', value: u.name, id: `${idPrefix}-${u.name}`, checked: chosen.includes(u.name) }), ` ${u.display_name} (${u.extension})`)));
  const picked = (fs) => [...fs.querySelectorAll('input:checked')].map((i) => i.value);

  const editGroup = (tr, g) => {
    const fs = memberPicker(`group-${g.name}`, g.members.map((m) => m.name));
    const form = h('form', { class: 'edit-row', id: `edit-group-${g.name}` }, h('strong', {}, g.name), fs,
      h('button', { class: 'btn small primary', type: 'submit' }, 'Save'),
      h('button', { class: 'btn small', type: 'button', onclick: () => refreshGroups() }, 'Cancel'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try { await api.adminUpdateGroup(g.name, { members: picked(fs) }); toast(`Saved group ${g.name}`); refreshGroups(); } catch (e) { toast(errorText(e), 'error'); }
    });
    tr.replaceChildren(h('td', { colspan: 3 }, form));
  };

  const groupName = h('input', { id: 'new-group-name', required: true, autocapitalize: 'none', spellcheck: 'false', pattern: '[a-z0-9][a-z0-9._\\-]*', title: 'lowercase letters, digits, . _ -' });
  const groupMembers = h('div', { id: 'new-group-members' });
  const addGroup = h('form', { class: 'add-user card', id: 'add-group', 'aria-labelledby': 'add-group-title' },
    h('h3', { id: 'add-group-title' }, 'Add a group'),
    h('div', { class: 'grid' }, h('label', { for: 'new-group-name' }, 'Group name'), groupName),
    groupMembers,
    h('button', { class: 'btn primary', type: 'submit' }, icon('plus'), 'Add group'));
  // The picker lists the users as they are when the form is shown (after the users load).
  const resetGroupForm = () => fill(groupMembers, memberPicker('new-group', []));
  addGroup.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const fs = groupMembers.querySelector('fieldset');
    try {
      const g = await api.adminAddGroup(groupName.value.trim().toLowerCase(), fs ? picked(fs) : []);
      toast(`Added group ${g.name}`);
      addGroup.reset();
      resetGroupForm();
      refreshGroups();
    } catch (e) { toast(errorText(e), 'error'); }
  });

  const name = h('input', { id: 'new-name', required: true, autocapitalize: 'none', spellcheck: 'false', pattern: '[a-z0-9._-]+', title: 'lowercase letters, digits, . _ -' });
  const ext = h('input', { id: 'new-extension', required: true, inputmode: 'numeric', pattern: '[0-9]+', size: 6 });
  const dn = h('input', { id: 'new-display' });
  const pw = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password', placeholder: 'leave empty to generate' });
  const adm = h('input', { id: 'new-admin', type: 'checkbox' });
  const add = h('form', { class: 'add-user card', id: 'add-user', 'aria-labelledby': 'add-user-title' },
    h('h3', { id: 'add-user-title' }, 'Add a user'),
    h('div', { class: 'grid' },
      h('label', { for: 'new-name' }, 'User name'), name,
      h('label', { for: 'new-extension' }, 'Extension'), ext,
      h('label', { for: 'new-display' }, 'Display name'), dn,
      h('label', { for: 'new-password' }, 'Password'), pw,
      h('label', { for: 'new-admin' }, 'Administrator'), h('span', {}, adm)),
    h('button', { class: 'btn primary', type: 'submit' }, icon('plus'), 'Add user'));
  add.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim().toLowerCase(), extension: ext.value.trim(), admin: adm.checked };
    if (dn.value.trim()) body.display_name = dn.value.trim();
    if (pw.value) body.password = pw.value;
    try {
      const r = await api.adminAddUser(body);
      toast(`Added ${r.user.name} (extension ${r.user.extension})`);
      showPassword(r.user, r.password);
      add.reset();
      refreshUsers().then(resetGroupForm);
      refreshStatus();
    } catch (e) { toast(errorText(e), 'error'); }
  });

  fill(el,
    h('div', { class: 'list-head' }, h('h2', {}, 'Administration')),
    h('h3', {}, 'Server status'), statusBox,
    h('h3', {}, 'Users and extensions'), notice, usersBox, add,
    h('h3', {}, 'Groups (all-call)'), groupsBox, addGroup,
    h('h3', {}, 'Desk phones'), phonesBox,
    h('h3', {}, 'Analog lines'), lines.box,
    h('h3', {}, 'Software update'), updateBox);
  await Promise.all([refreshStatus(), refreshUsers().then(resetGroupForm), refreshPhones(), refreshGroups(), lines.refresh()]);
  timer = setInterval(() => {
    refreshStatus();
    if (!editingPhone && el.isConnected && !el.hidden) refreshPhones();
    if (!lines.editing() && el.isConnected && !el.hidden) lines.refresh();
  }, 5000);
}
