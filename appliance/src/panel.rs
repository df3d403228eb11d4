//! The front panel's view of the box: [`BoxControl`] gathers the status pages' figures and
//! carries out what an installer confirms on the panel (network, DHCP server, phone
//! assignment and re-arming, admin password, reboot, factory reset). The display actor
//! (`ivm_actors::display`) calls it; every call here is a future run outside the actor.
//!
//! Reboot and factory reset end `ivmd run` with an [`Exit`] that `main` acts on after every
//! actor and socket is closed: a factory reset erases the data folder (keeping
//! [`NETWORK_STATE`] when asked to keep the network) and the box starts again as on its first
//! start, with a new admin password.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use ivm_actors::database::phones::{ArmPhone, AssignNewPhone};
use ivm_actors::database::users::NewAdminPassword;
use ivm_actors::database::{Db, DbError, Op};
use ivm_actors::display::Installer;
use ivm_actors::provisioning::ProvisionFront;
use ivm_actors::station::GetRegistrations;
use ivm_lcd::menu::{Action, AssignedPhone, NetChoice, NetInfo, SeenPhone, Status};
use ivm_netcfg::{Addressing, Network, StaticV4};
use ivm_provision::Mac;
use tokio::sync::watch;

use crate::dhcp::{DhcpControl, OwnAddress, PanelDhcp};

/// The network backend's state file in the data folder (kept by "factory reset, keep
/// network").
pub const NETWORK_STATE: &str = "network.json";

/// How `ivmd run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A stop signal: exit.
    Stop,
    /// Start again (the panel's Reboot with no reboot command).
    Restart,
    /// Erase the data folder, then start again.
    FactoryReset {
        /// Keep the box's own network settings.
        keep_network: bool,
    },
}

/// What the panel reads and changes (cheap to clone: the display actor hands a clone to each
/// future it runs).
#[derive(Clone)]
pub struct BoxControl(Arc<Control>);

/// The parts of a [`BoxControl`].
pub struct Control {
    /// Shown on the idle screen.
    pub name: String,
    /// When the box started.
    pub started: Instant,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The database manager.
    pub db: Db,
    /// The station's live registrations, when SIP is on.
    pub registrations: Option<Recipient<GetRegistrations>>,
    /// The box's own interface.
    pub network: Arc<Network>,
    /// The DHCP server.
    pub dhcp: Arc<DhcpControl>,
    /// The provisioning front: arming window, pending sightings.
    pub front: Arc<ProvisionFront>,
    /// Reboot command; empty: restart `ivmd`.
    pub reboot_command: Vec<String>,
    /// "Wipe everything" command; empty: erase the data folder and restart `ivmd`.
    pub wipe_command: Vec<String>,
    /// Ends `ivmd run` with an [`Exit`].
    pub exit: watch::Sender<Option<Exit>>,
    /// Bytes in the data folder, recounted at most every [`STORAGE_EVERY`].
    storage: Arc<Mutex<Option<(Instant, u64)>>>,
}

const STORAGE_EVERY: Duration = Duration::from_secs(30);

/// The box's own address from the backend's status, for a DHCP pool made on the panel.
pub async fn own_address(network: &Network) -> Option<OwnAddress> {
    let s = network.status().await.ok()?;
    let &(address, prefix) = s.addresses.first()?;
    Some(OwnAddress {
        address,
        prefix,
        gateway: s.gateway,
        dns: s.dns.first().copied(),
    })
}

/// The system's host name, from `gethostname(2)` rather than `/proc/sys/kernel/hostname`:
/// the unit's `ProcSubset=pid` hides `/proc/sys`.
pub fn system_host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The host name, for the idle screen when `[panel] name` is empty.
pub fn host_name() -> String {
    system_host_name().unwrap_or_else(|| "ivm".into())
}

/// Bytes under `dir` (files only; symlinks not followed).
fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_owned()];
    // Bounded by the folder's own size: each directory is visited once.
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

impl BoxControl {
    /// A control; see the fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        started: Instant,
        data_dir: PathBuf,
        db: Db,
        registrations: Option<Recipient<GetRegistrations>>,
        network: Arc<Network>,
        dhcp: Arc<DhcpControl>,
        front: Arc<ProvisionFront>,
        reboot_command: Vec<String>,
        wipe_command: Vec<String>,
        exit: watch::Sender<Option<Exit>>,
    ) -> Self {
        BoxControl(Arc::new(Control {
            name,
            started,
            data_dir,
            db,
            registrations,
            network,
            dhcp,
            front,
            reboot_command,
            wipe_command,
            exit,
            storage: Arc::new(Mutex::new(None)),
        }))
    }
}

impl Control {
    async fn storage_bytes(&self) -> u64 {
        let cached = *self.storage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, n)) = cached {
            if at.elapsed() < STORAGE_EVERY {
                return n;
            }
        }
        let dir = self.data_dir.clone();
        let n = tokio::task::spawn_blocking(move || du(&dir))
            .await
            .unwrap_or(0);
        *self.storage.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), n));
        n
    }
}

/// What the database contributes to the status pages, in one trip: phones, users, messages
/// waiting, and the first-start password while it is current (read from its file, which is
/// this appliance's business, hence an operation of its own here).
struct PanelFigures;

/// The answer to [`PanelFigures`].
#[derive(Default)]
struct Counts {
    phones: Vec<ivm_store::StoredPhone>,
    /// (extension, name).
    users: Vec<(String, String)>,
    /// Each user's (extension, name) by GUID, for the assigned phones.
    user_guids: Vec<(ivm_wire::Guid, (String, String))>,
    waiting: u64,
    /// (admin's name, password) while the first-start password is current.
    first_password: Option<(String, String)>,
}

impl Op for PanelFigures {
    type Output = Counts;
    fn run(self, st: &ivm_store::Store) -> Result<Counts, ivm_store::StoreError> {
        let all = st.users()?;
        Ok(Counts {
            phones: st.phones()?,
            user_guids: all
                .iter()
                .map(|u| (u.guid, (u.extension.clone(), u.name.clone())))
                .collect(),
            users: all.into_iter().map(|u| (u.extension, u.name)).collect(),
            waiting: st.waiting_count()?,
            first_password: crate::first_start::pending_admin(st)?,
        })
    }
}

fn mac_text(m: &Mac) -> String {
    m.to_string().to_uppercase()
}

impl Installer for BoxControl {
    fn status(&self) -> BoxFuture<'static, Status> {
        let me = self.0.clone();
        async move {
            let net = me.network.status().await;
            if let Err(e) = &net {
                tracing::debug!(error = %e, "network status unavailable");
            }
            let net = net.ok();
            if let Err(e) = me.front.sightings().flush(&me.db).await {
                tracing::debug!(error = %e, "phone sightings not written");
            }
            let counts = me.db.call(PanelFigures).await.unwrap_or_default();
            let regs = match &me.registrations {
                Some(s) => s.send(GetRegistrations).await.unwrap_or_default(),
                None => Vec::new(),
            };
            let registered: std::collections::HashSet<ivm_wire::Guid> =
                regs.iter().map(|r| r.user).collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let by_guid: std::collections::HashMap<ivm_wire::Guid, (String, String)> =
                counts.user_guids.iter().cloned().collect();
            let mut assigned: Vec<AssignedPhone> = counts
                .phones
                .iter()
                .filter_map(|p| {
                    let (extension, name) = by_guid.get(&p.user?)?.clone();
                    let state = if p.user.is_some_and(|u| registered.contains(&u)) {
                        "reg"
                    } else if p.armed(now) {
                        "armed"
                    } else if p.status != ivm_store::PhoneStatus::Seen {
                        "prov"
                    } else {
                        "seen"
                    };
                    Some(AssignedPhone {
                        mac: mac_text(&p.mac),
                        extension,
                        name,
                        state: state.into(),
                    })
                })
                .collect();
            assigned.sort_by(|a, b| {
                (a.extension.len(), &a.extension).cmp(&(b.extension.len(), &b.extension))
            });
            let mut users = counts.users;
            // By extension as a number: 99 before 100.
            users.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
            Status {
                name: me.name.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                uptime: me.started.elapsed(),
                net: NetInfo {
                    interface: me.network.interface().to_owned(),
                    dhcp_client: net.as_ref().and_then(|n| match n.mode {
                        Some(Addressing::Dhcp) => Some(true),
                        Some(Addressing::Static(_)) => Some(false),
                        None => None,
                    }),
                    address: net.as_ref().and_then(|n| n.addresses.first().copied()),
                    gateway: net.as_ref().and_then(|n| n.gateway),
                    dns: net.as_ref().and_then(|n| n.dns.first().copied()),
                    managed: me.network.can_apply(),
                },
                dhcp: me.dhcp.info().await,
                phones_registered: counts
                    .phones
                    .iter()
                    .filter(|p| p.user.is_some_and(|u| registered.contains(&u)))
                    .count(),
                phones_provisioned: counts
                    .phones
                    .iter()
                    .filter(|p| p.user.is_some() && p.status != ivm_store::PhoneStatus::Seen)
                    .count(),
                sip_registrations: regs.len(),
                messages_waiting: counts.waiting,
                storage_bytes: me.storage_bytes().await,
                unassigned: counts
                    .phones
                    .iter()
                    .filter(|p| p.user.is_none())
                    .map(|p| SeenPhone {
                        mac: mac_text(&p.mac),
                        vendor: p.vendor.map(|v| v.to_string()).unwrap_or_default(),
                    })
                    .collect(),
                assigned,
                users,
                first_admin: counts
                    .first_password
                    .as_ref()
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default(),
                first_password: counts.first_password.map(|(_, p)| p),
            }
        }
        .boxed()
    }

    fn perform(&self, action: Action) -> BoxFuture<'static, Result<String, String>> {
        let me = self.0.clone();
        async move {
            match action.clone() {
                Action::SetNetwork(choice) => {
                    let a = match choice {
                        NetChoice::Dhcp => Addressing::Dhcp,
                        NetChoice::Static {
                            address,
                            prefix,
                            gateway,
                            dns,
                        } => Addressing::Static(StaticV4 {
                            address,
                            prefix,
                            gateway,
                            dns: dns.into_iter().collect(),
                        }),
                    };
                    tracing::info!(settings = ?a, "panel: applying network settings");
                    me.network.apply(a).await.map_err(|e| e.short())?;
                    Ok("applied".into())
                }
                Action::KeepNetwork => {
                    tracing::warn!("panel: new network settings kept; restarting");
                    me.exit.send_replace(Some(Exit::Restart));
                    Ok("restarting".into())
                }
                Action::RevertNetwork | Action::UndoNetwork => {
                    let back = me.network.undo().await.map_err(|e| e.short())?;
                    tracing::info!(settings = ?back, "panel: network change undone");
                    if action == Action::UndoNetwork {
                        // A kept change had restarted the box: restart again for the old one.
                        me.exit.send_replace(Some(Exit::Restart));
                        return Ok("Earlier settings are back; restarting".into());
                    }
                    Ok("Earlier settings are back".into())
                }
                Action::SetDhcpServer {
                    enabled,
                    start,
                    end,
                } => {
                    let own = own_address(&me.network).await;
                    me.dhcp
                        .set(
                            PanelDhcp {
                                enabled,
                                start,
                                end,
                            },
                            own,
                        )
                        .await
                }
                Action::AssignPhone { mac, extension } => {
                    let m = Mac::parse(&mac).map_err(|e| e.to_string())?;
                    // The menu lists only new phones for this; one assigned meanwhile (from
                    // the web) is not taken away.
                    let name = me
                        .db
                        .call(AssignNewPhone {
                            mac: m,
                            extension: extension.clone(),
                            until: me.front.arm_until(),
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::info!(mac = %m, extension = %extension, user = %name, "panel: phone assigned");
                    Ok(format!("{mac} is now {extension} {name}"))
                }
                Action::ArmPhone { mac } => {
                    let m = Mac::parse(&mac).map_err(|e| e.to_string())?;
                    let Some(until) = me.front.arm_until() else {
                        return Err("Arming is off: arm_window_s = 0".into());
                    };
                    let hours = me.front.arm_window().map_or(0, |w| w.as_secs().div_ceil(3600));
                    me.db
                        .call(ArmPhone { mac: m, until })
                        .await
                        .map_err(|e| match e {
                            DbError::Store(ivm_store::StoreError::NotFound) => {
                                "No such phone any more".to_owned()
                            }
                            e => e.to_string(),
                        })?;
                    tracing::info!(mac = %m, "panel: phone re-armed");
                    Ok(format!("{mac} armed for {hours} h: restart the phone"))
                }
                Action::NewAdminPassword => {
                    let password = ivm_store::generate_password();
                    let name = me
                        .db
                        .call(NewAdminPassword {
                            password: password.clone(),
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::warn!(user = %name, "panel: new admin password set (shown on the panel only)");
                    Ok(password)
                }
                Action::Reboot => reboot(&me.reboot_command, &me.exit)
                    .await
                    .map(str::to_owned),
                Action::FactoryReset {
                    keep_network: false,
                } if !me.wipe_command.is_empty() => {
                    // The whole data partition (network settings, journal) goes, which only a
                    // privileged helper can do; it reboots the box when it has marked it.
                    tracing::warn!(command = ?me.wipe_command, "panel: factory reset, wipe everything");
                    run_command(&me.wipe_command).await?;
                    Ok("erasing".into())
                }
                Action::FactoryReset { keep_network } => {
                    tracing::warn!(keep_network, "panel: factory reset");
                    me.exit
                        .send_replace(Some(Exit::FactoryReset { keep_network }));
                    Ok("erasing".into())
                }
            }
        }
        .boxed()
    }
}

/// The panel's *Reboot*, which the admin page's restart shares: `command` (the image's
/// `systemctl reboot`), or where there is none, ivmd ends `run` to start again. What the
/// panel shows meanwhile.
pub(crate) async fn reboot(
    command: &[String],
    exit: &watch::Sender<Option<Exit>>,
) -> Result<&'static str, String> {
    if command.is_empty() {
        tracing::warn!("restart");
        exit.send_replace(Some(Exit::Restart));
        Ok("restarting")
    } else {
        tracing::warn!(?command, "reboot");
        run_command(command).await?;
        Ok("rebooting")
    }
}

/// Runs a panel command (reboot, wipe) to its end: its failure is the panel's error.
async fn run_command(command: &[String]) -> Result<(), String> {
    let Some((prog, args)) = command.split_first() else {
        return Ok(());
    };
    let out = tokio::process::Command::new(prog)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("{prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{prog} failed: {}", out.status));
    }
    Ok(())
}

/// Erases the data folder for a factory reset: everything, or everything but the network
/// state. With `keep_network == false` and the `networkd` backend, the box's networkd file is
/// removed too (the image's default, a DHCP client, takes over).
pub fn factory_reset(
    data: &Path,
    keep_network: bool,
    networkd: Option<(&Path, &str)>,
) -> std::io::Result<()> {
    for e in std::fs::read_dir(data)? {
        let e = e?;
        if keep_network && e.file_name() == NETWORK_STATE {
            continue;
        }
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    std::fs::File::open(data)?.sync_all()?;
    if !keep_network {
        if let Some((dir, interface)) = networkd {
            let f = ivm_netcfg::networkd::networkd_path(dir, interface);
            match std::fs::remove_file(&f) {
                Ok(()) => {
                    let _ = std::process::Command::new("networkctl")
                        .arg("reload")
                        .status();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_reset_keeps_only_the_network_state() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("master.key"), b"k").expect("write");
        std::fs::write(d.path().join(NETWORK_STATE), b"{}").expect("write");
        std::fs::create_dir_all(d.path().join("blobs/ab")).expect("mkdir");
        std::fs::write(d.path().join("blobs/ab/x"), b"x").expect("write");
        assert_eq!(du(d.path()), 4);
        factory_reset(d.path(), true, None).expect("reset");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(NETWORK_STATE)]);
        factory_reset(d.path(), false, None).expect("reset");
        assert_eq!(std::fs::read_dir(d.path()).expect("read").count(), 0);
    }
}
