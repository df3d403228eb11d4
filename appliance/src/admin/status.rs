//! What a running box tells about itself over its admin socket: [`BoxInfo`], fixed when it
//! starts (who it is, its data folder, the settings in effect, what it listens on), and
//! [`BoxStatus`], its figures now (`ivmd status`).
//!
//! Admin commands ask for [`BoxInfo`] first: it tells them which box answered (the
//! well-known socket may lead anywhere) and gives `ivmd user show` the realm and SIP address
//! the box really uses instead of the asker's built-in defaults.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use actix::Recipient;
use ivm_actors::client::GetStats;
use ivm_actors::database::{Db, Op};
use ivm_actors::gateway::GetGateways;
use ivm_actors::station::GetRegistrations;
use ivm_wire::rest::GlobalLinkStatus;
use serde::{Deserialize, Serialize};

use crate::dhcp::DhcpControl;

/// The running box, as it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxInfo {
    /// `ivmd`'s version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// When it started, Unix seconds.
    pub started_at: u64,
    /// The data folder, absolute.
    pub data_dir: PathBuf,
    /// The config file it read, absolute; `None`: the embedded defaults.
    pub config_file: Option<PathBuf>,
    /// The command-line options that overrode the file (`--data DIR`, `--sip ADDR`, ...).
    pub command_line: Vec<String>,
    /// What it listens on, as bound (`None`: turned off).
    pub listeners: Listeners,
    /// `[sip] domain`: the digest realm.
    pub sip_domain: String,
    /// The SIP address phones use (advertised address and bound port); `None`: SIP is off.
    pub sip_server: Option<String>,
    /// The URL phones fetch their files from.
    pub provision_url: String,
    /// The settings in effect, as TOML (defaults, the file, then the command line).
    pub config: String,
}

/// The bound addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listeners {
    /// Plain HTTP.
    pub http: Option<String>,
    /// HTTPS.
    pub https: Option<String>,
    /// SIP (UDP, and TCP when on).
    pub sip: Option<String>,
    /// TFTP.
    pub tftp: Option<String>,
}

/// `ivmd status`: the box and its figures now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoxStatus {
    /// The box, as it started.
    pub info: BoxInfo,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// The DHCP server: `off`, `on`, `refused` (another server answered), `failed`.
    pub dhcp: String,
    /// Users.
    pub users: u32,
    /// Of which administrators.
    pub admins: u32,
    /// Phones assigned to a user.
    pub phones_assigned: usize,
    /// Assigned phones whose user has a live SIP registration.
    pub phones_registered: usize,
    /// SIP registrations (contacts) in the registrar, phones and softphones.
    pub sip_registrations: usize,
    /// Client sessions connected now (web client, `ivm watch`).
    pub clients_connected: u32,
    /// Voice messages not yet heard, all users together.
    pub messages_waiting: u64,
    /// Bytes free for the box on the data folder's file system.
    pub disk_free_bytes: u64,
    /// Size of that file system.
    pub disk_total_bytes: u64,
    /// Media gateways configured (0 when the MGCP call agent is off).
    #[serde(default)]
    pub gateways: usize,
    /// Of which registered and answering.
    #[serde(default)]
    pub gateways_up: usize,
    /// MGCP datagrams from addresses no gateway has, dropped unread since start.
    #[serde(default)]
    pub mgcp_dropped: u64,
    /// MEGACO datagrams from addresses no MEGACO gateway has, dropped undecoded since start.
    #[serde(default)]
    pub megaco_dropped: u64,
    /// The link to the global tier, when `[global]` is on.
    #[serde(default)]
    pub global: Option<GlobalLinkStatus>,
}

/// What the socket needs to answer requests on the running box: narrow handles, no actor
/// type.
#[derive(Clone)]
pub struct Live {
    /// The database manager.
    pub db: Db,
    /// The client manager's counters.
    pub clients: Recipient<GetStats>,
    /// The station's live registrations, when SIP is on.
    pub registrations: Option<Recipient<GetRegistrations>>,
    /// The gateways' live state, when the MGCP call agent runs.
    pub gateways: Option<Recipient<GetGateways>>,
    /// The global link's name and state, when `[global]` is on.
    pub global: Option<ivm_link::GlobalView>,
    /// When the box started.
    pub started: std::time::Instant,
    /// The DHCP server's control, once it is made (after the engine starts).
    pub dhcp: Arc<OnceLock<Arc<DhcpControl>>>,
    /// The certificate the HTTPS listener serves (`ivmd tls install|reset` swap it).
    pub tls: Arc<crate::tls::Identities>,
    /// `[http] names` (the box's own certificate covers them).
    pub names: Vec<String>,
}

/// Free and total bytes of the file system holding `dir`.
fn disk(dir: &Path) -> Result<(u64, u64), ivm_store::StoreError> {
    let free = ivm_store::free_bytes(dir)?;
    let st = nix::sys::statvfs::statvfs(dir)
        .map_err(|e| ivm_store::StoreError::Io(std::io::Error::from(e)))?;
    let total = (st.blocks() as u64).saturating_mul(st.fragment_size() as u64);
    Ok((free, total))
}

/// What `ivmd status` counts in the database, and the data disk's room: one trip.
struct StoreFigures {
    data: PathBuf,
}

/// The answer to [`StoreFigures`].
struct Figures {
    users: u32,
    admins: u32,
    phones: Vec<ivm_store::StoredPhone>,
    waiting: u64,
    outbox: u64,
    free: u64,
    total: u64,
}

impl Op for StoreFigures {
    type Output = Figures;
    fn run(self, s: &ivm_store::Store) -> Result<Figures, ivm_store::StoreError> {
        let users = s.users()?;
        let (free, total) = disk(&self.data)?;
        Ok(Figures {
            users: users.len() as u32,
            admins: users.iter().filter(|u| u.admin).count() as u32,
            phones: s.phones()?,
            waiting: s.waiting_count()?,
            outbox: s.outbox_len()?,
            free,
            total,
        })
    }
}

/// The figures now: counts from the database (on its thread, with the disk's), the live
/// registrations from the station, sessions from the client actor.
pub async fn gather(info: &BoxInfo, live: &Live) -> Result<BoxStatus, String> {
    let Figures {
        users,
        admins,
        phones,
        waiting,
        outbox,
        free,
        total,
    } = live
        .db
        .call(StoreFigures {
            data: info.data_dir.clone(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let regs = match &live.registrations {
        Some(st) => st.send(GetRegistrations).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let registered: std::collections::HashSet<ivm_wire::Guid> =
        regs.iter().map(|r| r.user).collect();
    let clients = live
        .clients
        .send(GetStats)
        .await
        .map_err(|e| e.to_string())?;
    let gateways = match &live.gateways {
        Some(g) => g.send(GetGateways).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let dhcp = match live.dhcp.get() {
        Some(d) => d.info().await.state,
        None => "off".into(),
    };
    Ok(BoxStatus {
        info: info.clone(),
        uptime_s: live.started.elapsed().as_secs(),
        dhcp,
        users,
        admins,
        phones_assigned: phones.iter().filter(|p| p.user.is_some()).count(),
        phones_registered: phones
            .iter()
            .filter(|p| p.user.is_some_and(|u| registered.contains(&u)))
            .count(),
        sip_registrations: regs.len(),
        clients_connected: clients.sessions,
        messages_waiting: waiting,
        disk_free_bytes: free,
        disk_total_bytes: total,
        gateways: gateways.len(),
        gateways_up: gateways.iter().filter(|g| g.up).count(),
        mgcp_dropped: gateways.first().map_or(0, |g| g.dropped),
        megaco_dropped: gateways.first().map_or(0, |g| g.megaco_dropped),
        global: live.global.as_ref().map(|g| g.now(outbox)),
    })
}
