//! The installer's menus: keys and a status snapshot in, screens and actions out. Sans-IO.
//!
//! [`Menu`] knows nothing about the box's actors, files or network: the display actor feeds it
//! a [`Status`] (refreshed every few seconds), key presses and the time, draws
//! [`Menu::render`] and sets [`Menu::backlight`], and carries out the [`Action`]s the menu
//! returns, answering each with [`Menu::finish`]. That keeps every screen and every key path
//! testable with a virtual clock.
//!
//! ```text
//! Idle ──Up/Down──> status pages (network, system, DHCP server, phones)
//!  │
//!  └─Enter─> Main: Network ─> DHCP client | static (IP, mask, gateway, DNS editors) | undo
//!                  DHCP server ─> on/off | range (start, end editors)
//!                  Phones ─> new (seen, unassigned) ─> pick a user's extension ─> assign
//!                         └> assigned, with their state ─> Re-arm
//!                  Admin password ─> shows a new one once
//!                  Reboot | Factory reset ─> keep network | wipe everything
//! ```
//! Every action that changes something is confirmed (Enter) first; Exit goes back one step.
//! After a network change the panel asks to keep it and undoes it by itself when nobody
//! answers within [`MenuConfig::keep_timeout`], like a monitor's "keep these settings?"; kept,
//! the box restarts so every service uses the new address.

mod edit;
mod pages;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub use edit::{check_address, check_dns, check_gateway, check_mask, check_range, Ipv4Edit};

use crate::{Key, KeyEvent, Screen};

/// What the idle screen and status pages show; the display actor refreshes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The box's name.
    pub name: String,
    /// Software version.
    pub version: String,
    /// Time since start.
    pub uptime: Duration,
    /// The box's own network settings.
    pub net: NetInfo,
    /// The box's DHCP server.
    pub dhcp: DhcpInfo,
    /// Phones with a live SIP registration.
    pub phones_registered: usize,
    /// Phones assigned to a user (their files carry an account).
    pub phones_provisioned: usize,
    /// SIP registrations (contacts) in the registrar.
    pub sip_registrations: usize,
    /// Voice messages not yet played, all users.
    pub messages_waiting: u64,
    /// Bytes in the data folder.
    pub storage_bytes: u64,
    /// Phones that asked for a file but belong to nobody.
    pub unassigned: Vec<SeenPhone>,
    /// Phones assigned to a user, by extension (the Phones menu lists them after the new
    /// ones, to re-arm a replaced or reset one).
    pub assigned: Vec<AssignedPhone>,
    /// Users a phone can be given to: (extension, name).
    pub users: Vec<(String, String)>,
    /// The first start's one-time admin password, while it is still the admin's: the idle
    /// screen shows it in place of the counters (the box never writes it to a log).
    pub first_password: Option<String>,
    /// The login name that password is for; empty: `admin`.
    pub first_admin: String,
}

/// The box's own interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetInfo {
    /// Interface name.
    pub interface: String,
    /// `Some(true)`: DHCP client; `Some(false)`: static; `None`: not known (set by the host).
    pub dhcp_client: Option<bool>,
    /// First IPv4 address and prefix.
    pub address: Option<(Ipv4Addr, u8)>,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// First DNS server.
    pub dns: Option<Ipv4Addr>,
    /// Whether the panel may change the settings (a network backend is configured).
    pub managed: bool,
}

/// The box's DHCP server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DhcpInfo {
    /// Turned on (it may still have refused to start).
    pub enabled: bool,
    /// One word: `off`, `on`, `refused`, `failed`.
    pub state: String,
    /// Range handed out.
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Leases in use.
    pub leases: usize,
}

/// A phone seen but not assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenPhone {
    /// `001565AABBCC`.
    pub mac: String,
    /// `yealink`, or empty.
    pub vendor: String,
}

/// A phone assigned to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedPhone {
    /// `001565AABBCC`.
    pub mac: String,
    /// Its user's extension.
    pub extension: String,
    /// Its user's login name.
    pub name: String,
    /// Where it stands, in at most five letters: `reg` (its user is registered now),
    /// `armed` (its next fetch gets its file once), `prov` (it fetched its file), `seen`
    /// (assigned, never fetched, not armed).
    pub state: String,
}

/// How the box should get its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetChoice {
    /// DHCP client.
    Dhcp,
    /// Fixed settings.
    Static {
        /// Address.
        address: Ipv4Addr,
        /// Prefix length.
        prefix: u8,
        /// Default gateway.
        gateway: Option<Ipv4Addr>,
        /// DNS server.
        dns: Option<Ipv4Addr>,
    },
}

/// Something the installer confirmed; the display actor carries it out and calls
/// [`Menu::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Apply new network settings.
    SetNetwork(NetChoice),
    /// Keep the settings just applied. Services that took the box's address at start (SIP,
    /// provisioning files, a DHCP pool made from the box's subnet) pick up the new one only
    /// when the box starts again, so this restarts it.
    KeepNetwork,
    /// Put back the settings before the change just applied (not kept): nothing else saw
    /// them yet.
    RevertNetwork,
    /// Put back the settings before the last kept change (and restart, as for keep).
    UndoNetwork,
    /// Turn the DHCP server on or off with this range.
    SetDhcpServer {
        /// On or off.
        enabled: bool,
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// Give the phone to the user with this extension.
    AssignPhone {
        /// The phone.
        mac: String,
        /// The user's extension.
        extension: String,
    },
    /// Re-arm the phone (replaced or reset): its next request for its account file gets
    /// the file once, with a new credential.
    ArmPhone {
        /// The phone.
        mac: String,
    },
    /// Set a new random admin password and show it.
    NewAdminPassword,
    /// Restart the box.
    Reboot,
    /// Erase the box's data; `keep_network` keeps its own address settings.
    FactoryReset {
        /// Keep the network settings.
        keep_network: bool,
    },
}

/// Timing knobs.
#[derive(Debug, Clone)]
pub struct MenuConfig {
    /// Backlight dims after this long without a key.
    pub dim_after: Duration,
    /// Dimmed backlight level (0..=100).
    pub dim_level: u8,
    /// Menus give way to the idle screen after this long without a key.
    pub idle_return: Duration,
    /// A network change is undone unless kept within this long.
    pub keep_timeout: Duration,
}

impl Default for MenuConfig {
    fn default() -> Self {
        MenuConfig {
            dim_after: Duration::from_secs(60),
            dim_level: 10,
            idle_return: Duration::from_secs(180),
            keep_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Main,
    Network,
    Dhcp,
    Phones,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Address,
    Mask,
    Gateway,
    Dns,
    RangeStart,
    RangeEnd,
}

/// Values carried along a chain of editors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Form {
    address: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
    start: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Page {
    Idle,
    Status(usize),
    List(ListKind, usize),
    PickUser {
        mac: String,
        sel: usize,
    },
    /// An assigned phone and what can be done to it.
    Phone {
        mac: String,
    },
    Edit {
        field: Field,
        edit: Ipv4Edit,
        form: Form,
        error: Option<String>,
    },
    Confirm {
        lines: Vec<String>,
        action: Action,
    },
    Working {
        title: &'static str,
        action: Action,
    },
    Done {
        title: String,
        text: String,
    },
    Keep {
        deadline: Instant,
    },
}

/// The menu state machine.
#[derive(Debug)]
pub struct Menu {
    cfg: MenuConfig,
    status: Status,
    stack: Vec<Page>,
    started: Instant,
    last_key: Instant,
    cols: u8,
    rows: u8,
}

/// Number of status pages.
const STATUS_PAGES: usize = 4;

impl Menu {
    /// A menu on a `cols` x `rows` screen, started at `now`, showing the idle screen.
    pub fn new(cfg: MenuConfig, cols: u8, rows: u8, now: Instant) -> Self {
        Menu {
            cfg,
            status: Status::default(),
            stack: vec![Page::Idle],
            started: now,
            last_key: now,
            cols,
            rows,
        }
    }

    /// Replaces the snapshot the pages are drawn from.
    pub fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    /// The snapshot shown.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Whether an action is being carried out.
    pub fn busy(&self) -> bool {
        matches!(self.top(), Page::Working { .. })
    }

    fn top(&self) -> &Page {
        self.stack.last().unwrap_or(&Page::Idle)
    }

    fn push(&mut self, p: Page) {
        self.stack.push(p);
    }

    fn pop(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
    }

    /// Pops back to the nearest menu list (or the idle screen).
    fn unwind(&mut self) {
        while self.stack.len() > 1
            && !matches!(
                self.top(),
                Page::List(..) | Page::PickUser { .. } | Page::Phone { .. }
            )
        {
            self.stack.pop();
        }
    }

    fn replace_top(&mut self, p: Page) {
        self.stack.pop();
        self.stack.push(p);
    }

    /// A key event; acts on presses only. Returns an action to carry out.
    pub fn key(&mut self, now: Instant, ev: KeyEvent) -> Option<Action> {
        if !ev.pressed {
            return None;
        }
        let was_dim = self.dimmed(now);
        self.last_key = now;
        if was_dim && matches!(self.top(), Page::Idle) {
            // The first press on a dark panel only wakes it.
            return None;
        }
        let k = ev.key;
        match self.top().clone() {
            Page::Idle => match k {
                Key::Up => self.push(Page::Status(STATUS_PAGES - 1)),
                Key::Down => self.push(Page::Status(0)),
                Key::Enter | Key::Right => self.push(Page::List(ListKind::Main, 0)),
                Key::Left | Key::Exit => {}
            },
            Page::Status(i) => match k {
                Key::Up => self.replace_top(Page::Status((i + STATUS_PAGES - 1) % STATUS_PAGES)),
                Key::Down => self.replace_top(Page::Status((i + 1) % STATUS_PAGES)),
                Key::Exit | Key::Left | Key::Enter | Key::Right => self.pop(),
            },
            Page::List(kind, sel) => {
                let n = self.list_items(kind).len();
                match k {
                    Key::Up if n > 0 => self.replace_top(Page::List(kind, (sel + n - 1) % n)),
                    Key::Down if n > 0 => self.replace_top(Page::List(kind, (sel + 1) % n)),
                    Key::Exit | Key::Left => self.pop(),
                    Key::Enter | Key::Right if n > 0 => self.select(kind, sel.min(n - 1)),
                    _ => {}
                }
            }
            Page::PickUser { mac, sel } => {
                let n = self.status.users.len();
                match k {
                    Key::Up if n > 0 => self.replace_top(Page::PickUser {
                        mac,
                        sel: (sel + n - 1) % n,
                    }),
                    Key::Down if n > 0 => self.replace_top(Page::PickUser {
                        mac,
                        sel: (sel + 1) % n,
                    }),
                    Key::Exit | Key::Left => self.pop(),
                    Key::Enter | Key::Right if n > 0 => {
                        let (ext, name) = self.status.users[sel.min(n - 1)].clone();
                        self.push(Page::Confirm {
                            lines: vec![
                                format!("Assign {mac}"),
                                format!("to {ext} {name}?"),
                                "Enter=yes Exit=no".into(),
                            ],
                            action: Action::AssignPhone {
                                mac,
                                extension: ext,
                            },
                        });
                    }
                    _ => {}
                }
            }
            Page::Phone { mac } => match k {
                Key::Enter | Key::Right => self.push(Page::Confirm {
                    lines: vec![
                        format!("Re-arm {mac}?"),
                        "(replaced or reset)".into(),
                        "Enter=yes Exit=no".into(),
                    ],
                    action: Action::ArmPhone { mac },
                }),
                Key::Exit | Key::Left => self.pop(),
                _ => {}
            },
            Page::Edit {
                field,
                mut edit,
                form,
                ..
            } => match k {
                Key::Up | Key::Down => {
                    edit.step(k == Key::Up);
                    self.replace_top(Page::Edit {
                        field,
                        edit,
                        form,
                        error: None,
                    });
                }
                Key::Left | Key::Right => {
                    edit.shift(k == Key::Right);
                    self.replace_top(Page::Edit {
                        field,
                        edit,
                        form,
                        error: None,
                    });
                }
                Key::Exit => self.pop(),
                Key::Enter => self.field_done(field, edit, form),
            },
            Page::Confirm { action, .. } => match k {
                Key::Enter => {
                    self.replace_top(Page::Working {
                        title: working_title(&action),
                        action: action.clone(),
                    });
                    return Some(action);
                }
                Key::Exit | Key::Left => self.pop(),
                _ => {}
            },
            Page::Working { .. } => {}
            Page::Done { .. } => self.unwind(),
            Page::Keep { .. } => match k {
                Key::Enter => {
                    self.replace_top(Page::Working {
                        title: working_title(&Action::KeepNetwork),
                        action: Action::KeepNetwork,
                    });
                    return Some(Action::KeepNetwork);
                }
                Key::Exit => return Some(self.start_revert()),
                _ => {}
            },
        }
        None
    }

    fn start_revert(&mut self) -> Action {
        self.replace_top(Page::Working {
            title: working_title(&Action::RevertNetwork),
            action: Action::RevertNetwork,
        });
        Action::RevertNetwork
    }

    /// The outcome of the action in progress: `Ok(text)` or `Err(reason)`, both shown.
    pub fn finish(&mut self, now: Instant, result: Result<String, String>) {
        let Page::Working { action, .. } = self.top().clone() else {
            return;
        };
        self.last_key = now;
        let page = match (&action, result) {
            (Action::SetNetwork(_), Ok(_)) => Page::Keep {
                deadline: now + self.cfg.keep_timeout,
            },
            (Action::NewAdminPassword, Ok(pw)) => Page::Done {
                title: "Admin password:".into(),
                text: format!("{pw}\nShown once: note it\nAny key: done"),
            },
            (_, Ok(text)) => Page::Done {
                title: done_title(&action).into(),
                text,
            },
            (_, Err(e)) => Page::Done {
                title: "Failed:".into(),
                text: e,
            },
        };
        self.replace_top(page);
    }

    /// Advances the clock: heartbeat, dimming, the way back to idle, the network undo timer.
    pub fn tick(&mut self, now: Instant) -> Option<Action> {
        if let Page::Keep { deadline } = self.top() {
            if now >= *deadline {
                return Some(self.start_revert());
            }
            return None;
        }
        if !self.busy() && now.saturating_duration_since(self.last_key) >= self.cfg.idle_return {
            self.stack.truncate(1);
        }
        None
    }

    fn dimmed(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_key) >= self.cfg.dim_after
    }

    /// Backlight level for `now`: full after a key, dimmed when left alone.
    pub fn backlight(&self, now: Instant) -> u8 {
        if self.dimmed(now) && !matches!(self.top(), Page::Keep { .. }) {
            self.cfg.dim_level
        } else {
            100
        }
    }

    fn list_items(&self, kind: ListKind) -> Vec<String> {
        match kind {
            ListKind::Main => [
                "Network",
                "DHCP server",
                "Phones",
                "Admin password",
                "Reboot",
                "Factory reset",
            ]
            .map(String::from)
            .to_vec(),
            ListKind::Network => [
                "Use DHCP client",
                "Set static address",
                "Undo last change",
                "Show settings",
            ]
            .map(String::from)
            .to_vec(),
            ListKind::Dhcp => vec![
                if self.status.dhcp.enabled {
                    "Turn off".into()
                } else {
                    "Turn on".into()
                },
                "Edit range".into(),
                "Show status".into(),
            ],
            // New phones first (they need someone), then the assigned ones; each with its
            // state, so a phone that never came up stands out.
            ListKind::Phones => self
                .status
                .unassigned
                .iter()
                .map(|p| format!("{} new", p.mac))
                .chain(
                    self.status
                        .assigned
                        .iter()
                        .map(|p| format!("{} {}", p.mac, p.state)),
                )
                .collect(),
            ListKind::Reset => ["Keep network", "Wipe everything"]
                .map(String::from)
                .to_vec(),
        }
    }

    fn not_managed(&mut self) {
        self.push(Page::Done {
            title: "Network".into(),
            text: "Set by the host OS, not from the panel".into(),
        });
    }

    fn select(&mut self, kind: ListKind, sel: usize) {
        let net = self.status.net.clone();
        match (kind, sel) {
            (ListKind::Main, 0) => self.push(Page::List(ListKind::Network, 0)),
            (ListKind::Main, 1) => self.push(Page::List(ListKind::Dhcp, 0)),
            (ListKind::Main, 2) => {
                if self.status.unassigned.is_empty() && self.status.assigned.is_empty() {
                    self.push(Page::Done {
                        title: "Phones".into(),
                        text: "No phones seen or assigned yet".into(),
                    });
                } else {
                    self.push(Page::List(ListKind::Phones, 0));
                }
            }
            (ListKind::Main, 3) => self.push(Page::Confirm {
                lines: vec![
                    "Set a new admin".into(),
                    "password? Old stops.".into(),
                    "Enter=yes Exit=no".into(),
                ],
                action: Action::NewAdminPassword,
            }),
            (ListKind::Main, 4) => self.push(Page::Confirm {
                lines: vec![
                    "Reboot the box?".into(),
                    "Calls will drop.".into(),
                    "Enter=yes Exit=no".into(),
                ],
                action: Action::Reboot,
            }),
            (ListKind::Main, _) => self.push(Page::List(ListKind::Reset, 0)),
            (ListKind::Network, 0) if net.managed => self.push(Page::Confirm {
                lines: vec![
                    "Use a DHCP client?".into(),
                    "The IP may change.".into(),
                    "Enter=yes Exit=no".into(),
                ],
                action: Action::SetNetwork(NetChoice::Dhcp),
            }),
            (ListKind::Network, 1) if net.managed => {
                let (addr, _) = net.address.unwrap_or((Ipv4Addr::new(192, 168, 1, 2), 24));
                self.push(self.editor(Field::Address, addr, None));
            }
            (ListKind::Network, 2) if net.managed => self.push(Page::Confirm {
                lines: vec![
                    "Undo the last".into(),
                    "network change?".into(),
                    "Enter=yes Exit=no".into(),
                ],
                action: Action::UndoNetwork,
            }),
            (ListKind::Network, 3) => self.push(Page::Status(0)),
            (ListKind::Network, _) => self.not_managed(),
            (ListKind::Dhcp, 0) => {
                let (start, end) = self.dhcp_range();
                let enabled = !self.status.dhcp.enabled;
                self.push(Page::Confirm {
                    lines: if enabled {
                        vec![
                            "Turn DHCP server on".into(),
                            format!("{start}-"),
                            format!("{end}?"),
                            "Enter=yes Exit=no".into(),
                        ]
                    } else {
                        vec![
                            "Turn the DHCP".into(),
                            "server off?".into(),
                            "Enter=yes Exit=no".into(),
                        ]
                    },
                    action: Action::SetDhcpServer {
                        enabled,
                        start,
                        end,
                    },
                });
            }
            (ListKind::Dhcp, 1) => {
                let (start, _) = self.dhcp_range();
                self.push(self.editor(Field::RangeStart, start, None));
            }
            (ListKind::Dhcp, _) => self.push(Page::Status(2)),
            (ListKind::Phones, i) if i >= self.status.unassigned.len() => {
                let j = i - self.status.unassigned.len();
                if let Some(p) = self.status.assigned.get(j) {
                    self.push(Page::Phone { mac: p.mac.clone() });
                }
            }
            (ListKind::Phones, i) => {
                if let Some(p) = self.status.unassigned.get(i) {
                    if self.status.users.is_empty() {
                        self.push(Page::Done {
                            title: "Phones".into(),
                            text: "No users yet: add one on the web".into(),
                        });
                    } else {
                        self.push(Page::PickUser {
                            mac: p.mac.clone(),
                            sel: 0,
                        });
                    }
                }
            }
            (ListKind::Reset, i) => {
                let keep_network = i == 0;
                self.push(Page::Confirm {
                    lines: vec![
                        "Erase users, msgs,".into(),
                        if keep_network {
                            "phones; keep network?".into()
                        } else {
                            "phones AND network?".into()
                        },
                        "Enter=yes Exit=no".into(),
                    ],
                    action: Action::FactoryReset { keep_network },
                });
            }
        }
    }

    /// The DHCP range shown or proposed: the configured one, else .100-.199 of the box's /24.
    fn dhcp_range(&self) -> (Ipv4Addr, Ipv4Addr) {
        if let Some(r) = self.status.dhcp.range {
            return r;
        }
        let [a, b, c, _] = self
            .status
            .net
            .address
            .map(|(a, _)| a)
            .unwrap_or(Ipv4Addr::new(192, 168, 1, 2))
            .octets();
        (Ipv4Addr::new(a, b, c, 100), Ipv4Addr::new(a, b, c, 199))
    }

    fn editor(&self, field: Field, value: Ipv4Addr, form: Option<Form>) -> Page {
        Page::Edit {
            field,
            edit: Ipv4Edit::new(value),
            form: form.unwrap_or(Form {
                address: Ipv4Addr::UNSPECIFIED,
                prefix: 24,
                gateway: Ipv4Addr::UNSPECIFIED,
                start: Ipv4Addr::UNSPECIFIED,
            }),
            error: None,
        }
    }

    /// Enter in an editor: check the value (refused on the spot) and go on to the next field.
    fn field_done(&mut self, field: Field, edit: Ipv4Edit, mut form: Form) {
        let v = edit.value();
        let net = self.status.net.clone();
        let next = match field {
            Field::Address => check_address(v).map(|()| {
                form.address = v;
                let prefix = net.address.map(|(_, p)| p).unwrap_or(24);
                self.editor(Field::Mask, ivm_netcfg::prefix_to_mask(prefix), Some(form))
            }),
            Field::Mask => check_mask(form.address, v).map(|p| {
                form.prefix = p;
                let gw = net.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.editor(Field::Gateway, gw, Some(form))
            }),
            Field::Gateway => check_gateway(form.address, form.prefix, v).map(|()| {
                form.gateway = v;
                let dns = net.dns.unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.editor(Field::Dns, dns, Some(form))
            }),
            Field::Dns => check_dns(form.address, form.prefix, v).map(|()| {
                let opt = |a: Ipv4Addr| (!a.is_unspecified()).then_some(a);
                Page::Confirm {
                    lines: vec![
                        format!("Apply {}/{}", form.address, form.prefix),
                        format!(
                            "gw {}",
                            opt(form.gateway).map_or("none".into(), |g| g.to_string())
                        ),
                        "Enter=yes Exit=no".into(),
                    ],
                    action: Action::SetNetwork(NetChoice::Static {
                        address: form.address,
                        prefix: form.prefix,
                        gateway: opt(form.gateway),
                        dns: opt(v),
                    }),
                }
            }),
            Field::RangeStart => check_address(v).map(|()| {
                form.start = v;
                let (_, end) = self.dhcp_range();
                self.editor(Field::RangeEnd, end, Some(form))
            }),
            Field::RangeEnd => check_range(net.address, form.start, v)
                .map_err(String::from)
                .map(|()| Page::Confirm {
                    lines: vec![
                        "DHCP range".into(),
                        format!("{}-", form.start),
                        format!("{v}?"),
                        "Enter=yes Exit=no".into(),
                    ],
                    action: Action::SetDhcpServer {
                        enabled: self.status.dhcp.enabled,
                        start: form.start,
                        end: v,
                    },
                }),
        };
        match next {
            Ok(page) => self.push(page),
            Err(e) => self.replace_top(Page::Edit {
                field,
                edit,
                form,
                error: Some(e),
            }),
        }
    }

    /// The screen for `now`.
    pub fn render(&self, now: Instant) -> Screen {
        pages::render(self, now)
    }
}

fn working_title(a: &Action) -> &'static str {
    match a {
        Action::SetNetwork(_) => "Applying network...",
        Action::KeepNetwork => "Restarting services",
        Action::RevertNetwork | Action::UndoNetwork => "Undoing change...",
        Action::SetDhcpServer { .. } => "DHCP server...",
        Action::AssignPhone { .. } => "Assigning phone...",
        Action::ArmPhone { .. } => "Re-arming phone...",
        Action::NewAdminPassword => "New password...",
        Action::Reboot => "Rebooting...",
        Action::FactoryReset { .. } => "Factory reset...",
    }
}

fn done_title(a: &Action) -> &'static str {
    match a {
        Action::SetNetwork(_)
        | Action::KeepNetwork
        | Action::RevertNetwork
        | Action::UndoNetwork => "Network",
        Action::SetDhcpServer { .. } => "DHCP server",
        Action::AssignPhone { .. } | Action::ArmPhone { .. } => "Phones",
        Action::NewAdminPassword => "Admin password",
        Action::Reboot => "Reboot",
        Action::FactoryReset { .. } => "Factory reset",
    }
}

#[cfg(test)]
mod tests;
