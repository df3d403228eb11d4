//! The box's one config file (TOML) and its embedded defaults: with no file, `ivmd run`
//! starts a working box on unprivileged ports with its data in `./ivm-data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything `ivmd run` can be told. Every field has a default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Data folder (database, master key, encrypted audio).
    pub data_dir: PathBuf,
    /// Plain HTTP: phone files for all, the API for the box itself; browsers are redirected
    /// to HTTPS.
    pub http: PlainHttp,
    /// HTTPS: the API and the web client.
    pub https: Listener,
    /// Size and length limits.
    pub limits: Limits,
    /// Client sessions.
    pub clients: Clients,
    /// Desk phones (SIP and RTP).
    pub sip: Sip,
    /// Analog phones behind media gateways: the MGCP call agent.
    pub mgcp: Mgcp,
    /// Analog phones behind media gateways: the MEGACO (H.248) controller.
    pub megaco: Megaco,
    /// Phone provisioning (TFTP and HTTP `/provision/...`).
    pub provision: Provision,
    /// The DHCP server for the office LAN: off unless an installer turns it on.
    pub dhcp: Dhcp,
    /// The front panel (LCD and keys on a serial port).
    pub panel: Panel,
    /// How the panel may change the box's own address.
    pub network: Network,
    /// The link to the global tier (other offices through a NATS cluster): off by default.
    pub global: ivm_global::config::LinkConfig,
    /// Installing update bundles (`ivmd update`).
    pub update: Update,
}

/// `[update]`: how `ivmd update` and `PUT /api/admin/update` hand a verified bundle to the
/// privileged installer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Update {
    /// The installer, run once the bundle is verified and staged in the data folder (on the
    /// appliance image: `systemctl start ivm-update.service`); empty: this box installs no
    /// updates (a development machine has no root slots).
    pub command: Vec<String>,
    /// The public key bundles must be signed with (PEM; scripts/build-image puts the build's
    /// there).
    pub key: PathBuf,
}

impl Default for Update {
    fn default() -> Self {
        Update {
            command: Vec::new(),
            key: PathBuf::from("/usr/lib/ivm/update.pub"),
        }
    }
}

/// `[panel]`: the front panel. No path, no panel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Panel {
    /// Serial device or pty (`/dev/ttyUSB0`, the path `ivm-panel` prints); `""`: none.
    pub path: String,
    /// `cfa635` (default), `cfa633`, `cfa631`, `cfa533`, or `mo` (Matrix Orbital 20x4).
    pub model: String,
    /// Name on the idle screen; `""`: the host name.
    pub name: String,
    /// Seconds without a key before the backlight dims.
    pub dim_after_s: u32,
    /// Seconds to confirm a network change from the panel before it is undone.
    pub keep_network_s: u32,
    /// Command for "Reboot" (`["systemctl", "reboot"]` on the appliance image); empty:
    /// restart `ivmd` itself, which is what a development machine wants.
    pub reboot_command: Vec<String>,
    /// Command for "Factory reset, wipe everything" (on the image: start
    /// `ivm-factory-reset.service`, which wipes the whole data partition, network settings and
    /// journal too, at the next boot); empty: `ivmd` erases its own data folder and starts
    /// again, all it can do without privileges.
    pub wipe_command: Vec<String>,
}

impl Default for Panel {
    fn default() -> Self {
        Panel {
            path: String::new(),
            model: "cfa635".into(),
            name: String::new(),
            dim_after_s: 60,
            keep_network_s: 60,
            reboot_command: Vec::new(),
            wipe_command: Vec::new(),
        }
    }
}

/// `[network]`: the box's own interface as the panel shows and changes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// `none` (the host manages it: shown, not changed), `networkd` (the appliance image:
    /// writes systemd-networkd files), or `ip` (`ip` commands, for tests in a namespace).
    pub backend: String,
    /// Interface; `""`: the one holding the default route.
    pub interface: String,
    /// Namespace for the `ip` backend; `""`: the box's own.
    pub netns: String,
    /// systemd-networkd's directory for the `networkd` backend.
    pub networkd_dir: PathBuf,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            backend: "none".into(),
            interface: String::new(),
            netns: String::new(),
            networkd_dir: PathBuf::from("/etc/systemd/network"),
        }
    }
}

/// `[dhcp]`: off by default (a second DHCP server on an office LAN is an outage).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dhcp {
    /// Serve DHCP at all.
    pub enabled: bool,
    /// Start even when another DHCP server answers the start-up probe.
    pub force: bool,
    /// Server port (67); clients are answered on the next port (68).
    pub port: u16,
    /// How long the start-up probe waits for another server's OFFER, milliseconds.
    pub probe_ms: u64,
    /// One pool per interface (`[[dhcp.pool]]`).
    pub pool: Vec<DhcpPool>,
    /// Fixed addresses by MAC (`[[dhcp.reservation]]`).
    pub reservation: Vec<DhcpReservation>,
}

impl Default for Dhcp {
    fn default() -> Self {
        Dhcp {
            enabled: false,
            force: false,
            port: 67,
            probe_ms: 4000,
            pool: Vec::new(),
            reservation: Vec::new(),
        }
    }
}

/// `[[dhcp.pool]]`: the addresses handed out on one interface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpPool {
    /// Interface to serve on (`eth0`).
    pub interface: String,
    /// Network address.
    pub network: std::net::Ipv4Addr,
    /// Subnet mask.
    pub mask: std::net::Ipv4Addr,
    /// First address handed out.
    pub start: std::net::Ipv4Addr,
    /// Last address handed out.
    pub end: std::net::Ipv4Addr,
    /// The box's own address on this interface (option 54, and where phones find TFTP).
    pub server_id: std::net::Ipv4Addr,
    /// Option 3.
    #[serde(default)]
    pub routers: Vec<std::net::Ipv4Addr>,
    /// Option 6.
    #[serde(default)]
    pub dns: Vec<std::net::Ipv4Addr>,
    /// Option 15.
    #[serde(default)]
    pub domain: Option<String>,
    /// Option 42.
    #[serde(default)]
    pub ntp: Vec<std::net::Ipv4Addr>,
    /// Option 51, seconds.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u32,
}

fn default_lease_secs() -> u32 {
    86_400
}

/// `[[dhcp.reservation]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpReservation {
    /// The client's MAC, any spelling.
    pub mac: String,
    /// Its address.
    pub ip: std::net::Ipv4Addr,
}

/// `[provision]`: the files phones fetch at boot.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Provision {
    /// TFTP listen address (UDP); `""` turns TFTP off. The image's config uses port 69.
    pub tftp_listen: String,
    /// Networks (`10.0.0.0/8`, `::1/128`) whose hosts may ask for per-phone files at all
    /// (anything outside gets none and is not even recorded as seen). Unset: the networks
    /// of the box's own interfaces (its LANs) and loopback, found at start; `[]`: nobody.
    pub subnets: Option<Vec<String>>,
    /// Seconds a phone stays armed after it is assigned (or re-armed): its next request for
    /// its account file from inside `subnets` gets the file once without credentials and
    /// binds it. A day covers an installer who assigns phones in the morning and plugs them
    /// in during the day; 0: never armed, phones need their credential (set by hand).
    pub arm_window_s: u64,
    /// Time server written into the phones' files.
    pub ntp_server: String,
    /// Time zone of the phones' clocks, an IANA name (`Europe/Berlin`); each phone's file
    /// spells it the way its maker takes it. A name the box has no row for is refused at
    /// start-up (docs/provisioning.md lists them).
    pub timezone: String,
    /// Auto-assign (like Cisco's auto-register), off by default: an unknown phone that asks
    /// for its account file from inside `subnets` gets a new user on the next free
    /// extension of `auto_assign_range`. Off, it is only recorded as seen, unassigned.
    pub auto_assign: bool,
    /// The extensions auto-assign hands out, `"200-299"`.
    pub auto_assign_range: String,
    /// Off by default. On (and HTTPS listening): the account files of the brands that can
    /// import a certificate by URL (Yealink, Cisco SPA/MPP) hand the phone the box's
    /// certificate (`/provision/box-cert.pem`) and move its later fetches to
    /// `https://<box>/provision/`. Off by default because a phone that fails to import it
    /// can no longer fetch its files until it is reset; see docs/provisioning.md.
    pub https: bool,
}

impl Default for Provision {
    fn default() -> Self {
        Provision {
            tftp_listen: "0.0.0.0:6969".into(),
            subnets: None,
            arm_window_s: 86_400,
            ntp_server: "pool.ntp.org".into(),
            timezone: "UTC".into(),
            auto_assign: false,
            auto_assign_range: "200-299".into(),
            https: false,
        }
    }
}

/// `[sip]`: the desk phones' SIP service and media.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sip {
    /// UDP (and TCP) listen address; `""` turns desk phones off.
    pub listen: String,
    /// Also accept SIP over TCP on the same port.
    pub tcp: bool,
    /// Digest realm and the phones' SIP domain.
    pub domain: String,
    /// The address phones reach the box at (`host:port`); empty: the listen address, or the
    /// first LAN address when listening on all.
    pub advertise: String,
    /// First RTP port.
    pub rtp_port_min: u16,
    /// Last RTP port. Each call takes an even port (its odd neighbour is left for RTCP), so
    /// the default 16384-32767 carries 8,192 calls at once; it ends below Linux's ephemeral
    /// range (32768-60999), where the box's own outgoing sockets get their ports.
    pub rtp_port_max: u16,
    /// A phone recording stops after this many seconds of silence.
    pub silence_timeout_s: u32,
    /// Longest recording from a phone, seconds.
    pub max_recording_s: u32,
    /// Seconds a phone rings before the box gives up.
    pub ring_timeout_s: u32,
    /// Seconds without RTP from a phone in a call before the box hangs up (a phone that
    /// vanished); a recording in progress is kept if it holds speech.
    pub media_timeout_s: u32,
    /// Digest challenges offered to phones: `"auto"` (by User-Agent: SHA-256 then MD5 to
    /// stacks known to take it, MD5 alone to the others, which every desk phone takes; see
    /// `ivm_sip::auth::offer`), or a list in order such as `"sha-256,md5"` for every phone.
    pub digest: String,
    /// Seconds between the OPTIONS sent to each registered phone (qualify, jittered ±20%);
    /// 0 turns it off.
    pub qualify_s: u32,
    /// OPTIONS unanswered in a row before a phone shows offline (at least 1).
    pub qualify_misses: u32,
    /// A WAV file (any rate, mono or stereo, up to 10 minutes) played, looped, to the other
    /// party while a phone holds a call; `""`: the short melody the box ships. Read when
    /// the box starts; a file it cannot use stops the start with the reason.
    pub music_on_hold: String,
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            listen: "0.0.0.0:5060".into(),
            tcp: true,
            domain: "ivm".into(),
            advertise: String::new(),
            rtp_port_min: 16384,
            rtp_port_max: 32767,
            silence_timeout_s: 5,
            max_recording_s: 300,
            ring_timeout_s: 30,
            media_timeout_s: 20,
            digest: "auto".into(),
            qualify_s: 30,
            qualify_misses: 3,
            music_on_hold: String::new(),
        }
    }
}

/// `[mgcp]`: the MGCP call agent for analog phones on media gateways (`ivmd gateway add`).
/// Its socket is opened when the box starts with at least one MGCP gateway configured; its
/// calls use `[sip]`'s RTP ports and line settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mgcp {
    /// UDP listen address of the call agent (gateways send to it); `""` turns MGCP off.
    pub listen: String,
    /// Seconds a gateway may stay quiet before the box audits it (keep-alive); one that
    /// does not answer the audit's retransmissions is marked down.
    pub keepalive_s: u32,
    /// Confirm the gateways' responses in the `K:` (ResponseAck) of the next command (RFC
    /// 3435 §3.5.6). Off by default: it only saves the gateway some memory (it forgets its
    /// answers after 30 s anyway), and some gateways refuse every command carrying it
    /// (osmo-mgw answers `539`), which would leave their lines dead.
    pub response_ack: bool,
}

impl Default for Mgcp {
    fn default() -> Self {
        Mgcp {
            listen: "0.0.0.0:2727".into(),
            keepalive_s: 60,
            response_ack: false,
        }
    }
}

/// `[megaco]`: the MEGACO (H.248.1, text over UDP) controller for media gateways added with
/// `--protocol megaco`. Its socket is opened when the box starts with at least one MEGACO
/// gateway configured (`[mgcp]`'s, with an MGCP one); keep-alive and the line settings are `[mgcp]`'s and `[sip]`'s.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Megaco {
    /// UDP listen address of the controller (gateways register with it); `""` turns
    /// MEGACO off.
    pub listen: String,
}

impl Default for Megaco {
    fn default() -> Self {
        Megaco {
            listen: "0.0.0.0:2944".into(),
        }
    }
}

/// One listening socket; `listen = ""` turns it off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address and port, e.g. `0.0.0.0:8443`.
    pub listen: String,
}

/// `[http]`: the plain-HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlainHttp {
    /// Address and port; `""` turns it off.
    pub listen: String,
    /// Host names it answers to besides the box's own host name (with and without its
    /// domain, and `.local`), `localhost` and any IP address: the names the office's DNS
    /// gives the box. Any other `Host` gets 421 (DNS rebinding). The HTTPS certificate names
    /// them too.
    pub names: Vec<String>,
}

impl Default for PlainHttp {
    fn default() -> Self {
        PlainHttp {
            listen: "0.0.0.0:8080".into(),
            names: Vec::new(),
        }
    }
}

/// Limits on what clients may send and hold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest upload (audio plus attachments), bytes.
    pub max_upload_bytes: usize,
    /// Largest WebSocket frame, bytes.
    pub max_ws_frame: usize,
    /// Longest voice message, seconds.
    pub max_message_seconds: u32,
    /// Bytes of audio and attachments one user's existing sent messages may hold; 0 = none.
    pub user_quota_bytes: u64,
    /// Messages one user may send per minute; 0 = no limit.
    pub messages_per_minute: u32,
    /// HTTP(S) connections open at once, both listeners together.
    pub max_connections: usize,
    /// HTTP(S) connections open at once from one address (an IPv6 /64).
    pub max_connections_per_address: usize,
}

/// Client session settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Clients {
    /// Seconds between pings; a client silent for two intervals is marked offline.
    pub ping_interval_s: u32,
    /// Seconds a login token lasts.
    pub session_ttl_s: u64,
    /// Seconds a one-time password (set by the box for someone else) works after it was set.
    pub one_time_password_ttl_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./ivm-data"),
            http: PlainHttp::default(),
            https: Listener {
                listen: "0.0.0.0:8443".into(),
            },
            limits: Limits::default(),
            clients: Clients::default(),
            sip: Sip::default(),
            mgcp: Mgcp::default(),
            megaco: Megaco::default(),
            provision: Provision::default(),
            dhcp: Dhcp::default(),
            panel: Panel::default(),
            network: Network::default(),
            global: ivm_global::config::LinkConfig::default(),
            update: Update::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload_bytes: 25 * 1024 * 1024,
            max_ws_frame: 4 * 1024 * 1024,
            max_message_seconds: 600,
            user_quota_bytes: ivm_actors::client::DEFAULT_USER_QUOTA_BYTES,
            messages_per_minute: ivm_actors::client::DEFAULT_MESSAGES_PER_MINUTE,
            max_connections: ivm_http::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: ivm_http::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            ping_interval_s: 30,
            session_ttl_s: 30 * 24 * 3600,
            one_time_password_ttl_s: ivm_http::DEFAULT_ONE_TIME_PASSWORD_TTL.as_secs(),
        }
    }
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this config.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// The settings as TOML, every key shown (`ivmd config`).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Reads `path`, or the embedded defaults when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.clients.ping_interval_s == 0 {
            return Err(ConfigError::Invalid(
                "clients.ping_interval_s must be at least 1".into(),
            ));
        }
        if self.clients.session_ttl_s == 0 {
            return Err(ConfigError::Invalid(
                "clients.session_ttl_s must be at least 1".into(),
            ));
        }
        if self.clients.one_time_password_ttl_s == 0 {
            return Err(ConfigError::Invalid(
                "clients.one_time_password_ttl_s must be at least 1".into(),
            ));
        }
        if self.limits.max_connections == 0 || self.limits.max_connections_per_address == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_connections and limits.max_connections_per_address must be at least 1"
                    .into(),
            ));
        }
        if let Some(bad) = self.http.names.iter().find(|n| {
            n.is_empty() || n.parse::<std::net::IpAddr>().is_ok() || n.contains([':', '/', ' '])
        }) {
            return Err(ConfigError::Invalid(format!(
                "http.names: {bad:?} is not a host name (IP addresses are always accepted)"
            )));
        }
        if self.limits.max_ws_frame < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_ws_frame must be at least 1024".into(),
            ));
        }
        self.http_addr()?;
        self.https_addr()?;
        self.sip_addr()?;
        if self.sip.rtp_port_min < 1024 || self.sip.rtp_port_max < self.sip.rtp_port_min {
            return Err(ConfigError::Invalid(
                "sip.rtp_port_min..rtp_port_max must be a range above 1023".into(),
            ));
        }
        if self.sip.domain.is_empty() || self.sip.domain.contains(['"', ' ', '\\']) {
            return Err(ConfigError::Invalid(
                "sip.domain must be a plain host name".into(),
            ));
        }
        self.sip_digest()?;
        self.mgcp_addr()?;
        self.megaco_addr()?;
        if self.mgcp.keepalive_s == 0 {
            return Err(ConfigError::Invalid(
                "mgcp.keepalive_s must be at least 1 second".into(),
            ));
        }
        self.tftp_addr()?;
        self.provision_subnets()?;
        self.auto_assign_range()?;
        ivm_provision::Zone::lookup(&self.provision.timezone)
            .map_err(|e| ConfigError::Invalid(format!("provision.timezone: {e}")))?;
        self.panel_model()?;
        self.network_backend()?;
        if self.dhcp.enabled {
            self.dhcp_config(None)?;
        }
        if self.sip.silence_timeout_s == 0
            || self.sip.max_recording_s == 0
            || self.sip.ring_timeout_s == 0
            || self.sip.media_timeout_s == 0
        {
            return Err(ConfigError::Invalid(
                "sip timeouts must be at least 1 second".into(),
            ));
        }
        self.global
            .check_box()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.sip.qualify_misses == 0 {
            return Err(ConfigError::Invalid(
                "sip.qualify_misses must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The HTTP listen address, `None` when turned off.
    pub fn http_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("http.listen", &self.http.listen)
    }

    /// The HTTPS listen address, `None` when turned off.
    pub fn https_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("https.listen", &self.https.listen)
    }

    /// `[mgcp] listen`, `None` when off.
    pub fn mgcp_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("mgcp.listen", &self.mgcp.listen)
    }

    /// `[megaco] listen`, `None` when off.
    pub fn megaco_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("megaco.listen", &self.megaco.listen)
    }

    /// `[sip] digest`: `auto`, or the algorithms to offer in order.
    pub fn sip_digest(&self) -> Result<ivm_sip::auth::Offer, ConfigError> {
        ivm_sip::auth::Offer::parse(&self.sip.digest).ok_or_else(|| {
            ConfigError::Invalid("sip.digest: \"auto\", or a list of md5 and sha-256".into())
        })
    }

    /// The music on hold: `[sip] music_on_hold`'s file, or the box's own melody.
    pub fn sip_music_on_hold(&self) -> Result<ivm_actors::station::MusicOnHold, ConfigError> {
        use ivm_actors::station::MusicOnHold;
        let path = &self.sip.music_on_hold;
        if path.is_empty() {
            return Ok(MusicOnHold::embedded());
        }
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        MusicOnHold::from_wav(&bytes)
            .map_err(|e| ConfigError::Invalid(format!("sip.music_on_hold: {path}: {e}")))
    }

    /// The SIP listen address, `None` when desk phones are off.
    pub fn sip_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("sip.listen", &self.sip.listen)
    }

    /// The address phones should use (`ivmd user show`, Via/Contact), given the bound port.
    pub fn sip_advertised(&self, bound: Option<SocketAddr>) -> Option<SocketAddr> {
        if let Ok(a) = self.sip.advertise.parse::<SocketAddr>() {
            return Some(a);
        }
        let listen = bound.or(self.sip_addr().ok().flatten())?;
        if !listen.ip().is_unspecified() {
            return Some(listen);
        }
        let ip = if_addrs::get_if_addrs()
            .ok()?
            .into_iter()
            .find(|i| !i.is_loopback() && i.ip().is_ipv4())
            .map(|i| i.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        Some(SocketAddr::new(ip, listen.port()))
    }

    /// The TFTP listen address, `None` when turned off.
    pub fn tftp_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        parse_listen("provision.tftp_listen", &self.provision.tftp_listen)
    }

    /// `[provision] subnets`, parsed; when unset, the networks of the box's own interfaces
    /// (each address with its netmask) and loopback, as they are now.
    pub fn provision_subnets(&self) -> Result<Vec<ivm_actors::provisioning::Subnet>, ConfigError> {
        use ivm_actors::provisioning::{Subnet, LOOPBACK};
        let Some(list) = &self.provision.subnets else {
            let mut v: Vec<Subnet> = LOOPBACK.iter().filter_map(|s| Subnet::parse(s)).collect();
            for i in if_addrs::get_if_addrs().unwrap_or_default() {
                let s = match &i.addr {
                    if_addrs::IfAddr::V4(a) => Subnet::of_interface(a.ip.into(), a.netmask.into()),
                    if_addrs::IfAddr::V6(a) => Subnet::of_interface(a.ip.into(), a.netmask.into()),
                };
                if !v.contains(&s) {
                    v.push(s);
                }
            }
            return Ok(v);
        };
        list.iter()
            .map(|s| {
                Subnet::parse(s).ok_or_else(|| {
                    ConfigError::Invalid(format!("provision.subnets: {s:?} is not addr/prefix"))
                })
            })
            .collect()
    }

    /// `[provision] arm_window_s`, `None` when 0 (arming off).
    pub fn arm_window(&self) -> Option<Duration> {
        (self.provision.arm_window_s > 0).then(|| Duration::from_secs(self.provision.arm_window_s))
    }

    /// `[provision] auto_assign_range` when `auto_assign` is on, else `None`. The range is
    /// checked either way, so a typo is caught before someone turns the option on.
    pub fn auto_assign_range(&self) -> Result<Option<std::ops::RangeInclusive<u32>>, ConfigError> {
        let r = &self.provision.auto_assign_range;
        let bad = || {
            ConfigError::Invalid(format!(
                "provision.auto_assign_range: {r:?} is not two extensions like \"200-299\" (2-8 digits, low first)"
            ))
        };
        let (lo, hi) = r.split_once('-').ok_or_else(bad)?;
        let (lo, hi) = (lo.trim(), hi.trim());
        // Extensions are 2-8 digits; a leading zero would not survive the round trip
        // through a number.
        let ext =
            |e: &str| ivm_store::validate_extension(e).is_ok() && (e == "0" || !e.starts_with('0'));
        if !ext(lo) || !ext(hi) {
            return Err(bad());
        }
        let (lo, hi): (u32, u32) = (
            lo.parse().map_err(|_| bad())?,
            hi.parse().map_err(|_| bad())?,
        );
        if lo > hi {
            return Err(bad());
        }
        Ok(self.provision.auto_assign.then_some(lo..=hi))
    }

    /// `[panel] model` as the driver's model.
    pub fn panel_model(&self) -> Result<ivm_lcd::io::PanelModel, ConfigError> {
        use ivm_lcd::io::PanelModel;
        use ivm_lcd::CfaModel;
        Ok(match self.panel.model.as_str() {
            "cfa635" => PanelModel::Cfa(CfaModel::Cfa635),
            "cfa633" => PanelModel::Cfa(CfaModel::Cfa633),
            "cfa631" => PanelModel::Cfa(CfaModel::Cfa631),
            "cfa533" => PanelModel::Cfa(CfaModel::Cfa533),
            "mo" => PanelModel::MatrixOrbital {
                cols: 20,
                rows: 4,
                baud: 19_200,
                keymap: ivm_lcd::MoKeymap::default(),
            },
            m => {
                return Err(ConfigError::Invalid(format!(
                    "panel.model: {m:?} is not cfa635, cfa633, cfa631, cfa533 or mo"
                )))
            }
        })
    }

    /// `[network]` as the backend kind.
    pub fn network_backend(&self) -> Result<ivm_netcfg::BackendKind, ConfigError> {
        use ivm_netcfg::BackendKind;
        Ok(match self.network.backend.as_str() {
            "none" => BackendKind::None,
            "networkd" => BackendKind::Networkd {
                dir: self.network.networkd_dir.clone(),
            },
            "ip" => BackendKind::Ip {
                netns: (!self.network.netns.is_empty()).then(|| self.network.netns.clone()),
            },
            b => {
                return Err(ConfigError::Invalid(format!(
                    "network.backend: {b:?} is not none, networkd or ip"
                )))
            }
        })
    }

    /// The DHCP core's configuration from `[dhcp]`; `http_base` is the provisioning URL
    /// given in option 66 to vendors that fetch over HTTP (when TFTP is not on port 69).
    pub fn dhcp_config(&self, http_base: Option<&str>) -> Result<ivm_dhcp::Config, ConfigError> {
        let d = &self.dhcp;
        if d.enabled && d.pool.is_empty() {
            return Err(ConfigError::Invalid(
                "dhcp.enabled needs at least one [[dhcp.pool]]".into(),
            ));
        }
        let pools = d
            .pool
            .iter()
            .map(|p| ivm_dhcp::Pool {
                name: p.interface.clone(),
                interface: Some(p.interface.clone()),
                network: p.network,
                mask: p.mask,
                start: p.start,
                end: p.end,
                server_id: p.server_id,
                routers: p.routers.clone(),
                dns: p.dns.clone(),
                domain: p.domain.clone(),
                ntp: p.ntp.clone(),
                lease_secs: p.lease_secs,
            })
            .collect::<Vec<_>>();
        let reservations = d
            .reservation
            .iter()
            .map(|r| {
                Ok(ivm_dhcp::Reservation {
                    mac: ivm_provision::Mac::parse(&r.mac).map_err(|e| {
                        ConfigError::Invalid(format!("dhcp.reservation mac {:?}: {e}", r.mac))
                    })?,
                    ip: r.ip,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let box_ip = pools
            .first()
            .map(|p| p.server_id)
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        let tftp_on_69 = matches!(self.tftp_addr(), Ok(Some(a)) if a.port() == 69);
        let base = if tftp_on_69 { None } else { http_base };
        let vendors = ivm_provision::Vendor::ALL
            .into_iter()
            .map(|v| (v, ivm_dhcp::VendorOptions::defaults(v, box_ip, base)))
            .collect();
        let c = ivm_dhcp::Config {
            pools,
            reservations,
            vendors,
            offer_hold_secs: 60,
            decline_quarantine_secs: 600,
        };
        c.validate()
            .map_err(|e| ConfigError::Invalid(format!("dhcp: {e}")))?;
        Ok(c)
    }

    /// Token lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.clients.session_ttl_s)
    }

    /// How long a one-time password works after it was set.
    pub fn one_time_password_ttl(&self) -> Duration {
        Duration::from_secs(self.clients.one_time_password_ttl_s)
    }
}

fn parse_listen(key: &str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| ConfigError::Invalid(format!("{key} = {v:?} is not an address:port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_config_parses() {
        let c: Config = toml::from_str(include_str!("../../image/ivmd.toml")).expect("parses");
        c.validate().expect("valid");
        assert!(!c.dhcp.enabled, "the image keeps the DHCP server off");
        assert!(matches!(
            c.network_backend().expect("backend"),
            ivm_netcfg::BackendKind::Networkd { .. }
        ));
        assert_eq!(c.provision.tftp_listen, "0.0.0.0:69");
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(
            c.http_addr().expect("ok"),
            Some("0.0.0.0:8080".parse().expect("addr"))
        );
        assert_eq!(
            c.https_addr().expect("ok"),
            Some("0.0.0.0:8443".parse().expect("addr"))
        );
        assert_eq!(c.data_dir, PathBuf::from("./ivm-data"));
        assert_eq!(
            c.tftp_addr().expect("ok"),
            Some("0.0.0.0:6969".parse().expect("addr"))
        );
        let subnets = c.provision_subnets().expect("subnets");
        assert!(
            subnets.iter().any(|s| s.to_string() == "127.0.0.0/8"),
            "loopback is among the default subnets: {subnets:?}"
        );
        assert!(
            !subnets.iter().any(|s| s.prefix < 8),
            "the box's own networks, not every private range: {subnets:?}"
        );
        assert_eq!(c.arm_window(), Some(Duration::from_secs(86_400)));
        let explicit: Config =
            toml::from_str("[provision]\nsubnets = [\"10.1.0.0/16\"]\narm_window_s = 0\n")
                .expect("parses");
        assert_eq!(explicit.provision_subnets().expect("ok").len(), 1);
        assert_eq!(explicit.arm_window(), None);
        let nobody: Config = toml::from_str("[provision]\nsubnets = []\n").expect("parses");
        assert!(nobody.provision_subnets().expect("ok").is_empty());
        assert!(!c.dhcp.enabled, "DHCP is off by default");
        let on: Config = toml::from_str("[dhcp]\nenabled = true\n").expect("parses");
        assert!(on.validate().is_err(), "enabled without a pool");
        let on: Config = toml::from_str(
            "[dhcp]\nenabled = true\n[[dhcp.pool]]\ninterface = \"eth0\"\nnetwork = \"192.168.1.0\"\nmask = \"255.255.255.0\"\nstart = \"192.168.1.100\"\nend = \"192.168.1.199\"\nserver_id = \"192.168.1.2\"\n[[dhcp.reservation]]\nmac = \"00:15:65:aa:bb:cc\"\nip = \"192.168.1.50\"\n",
        )
        .expect("parses");
        assert!(on.validate().is_ok(), "{:?}", on.validate());
        assert_eq!(on.dhcp_config(None).expect("dhcp").reservations.len(), 1);
        let bad: Config =
            toml::from_str("[provision]\nsubnets = [\"10.0.0.0/40\"]\n").expect("parses");
        assert!(bad.validate().is_err());
        assert_eq!(
            c.auto_assign_range().expect("ok"),
            None,
            "auto-assign is off by default"
        );
        let on: Config =
            toml::from_str("[provision]\nauto_assign = true\nauto_assign_range = \"300-349\"\n")
                .expect("parses");
        assert_eq!(on.auto_assign_range().expect("ok"), Some(300..=349));
        for r in ["300", "349-300", "1-9", "0300-0349", "a-b", "300-123456789"] {
            let bad: Config = toml::from_str(&format!("[provision]\nauto_assign_range = {r:?}\n"))
                .expect("parses");
            assert!(bad.validate().is_err(), "{r}");
        }
    }

    #[test]
    fn partial_files_and_bad_values() {
        let c: Config = toml::from_str("[clients]\nping_interval_s = 5\n").expect("parses");
        assert_eq!(c.clients.ping_interval_s, 5);
        assert_eq!(c.limits.max_message_seconds, 600);
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
        let bad: Config = toml::from_str("[http]\nlisten = \"nowhere\"\n").expect("parses");
        assert!(bad.validate().is_err());
        let c: Config = toml::from_str("[sip]\nlisten = \"127.0.0.1:0\"\nsilence_timeout_s = 3\n")
            .expect("parses");
        assert!(c.validate().is_ok());
        assert_eq!(c.sip.silence_timeout_s, 3);
        assert_eq!(c.sip.domain, "ivm");
        assert_eq!(c.sip_digest().expect("default"), ivm_sip::auth::Offer::Auto);
        let md5: Config = toml::from_str("[sip]\ndigest = \"md5\"\n").expect("parses");
        assert_eq!(
            md5.sip_digest().expect("md5"),
            ivm_sip::auth::Offer::Fixed(vec![ivm_sip::auth::Algorithm::Md5])
        );
        let bad: Config = toml::from_str("[sip]\ndigest = \"sha1\"\n").expect("parses");
        assert!(
            bad.validate().is_err(),
            "an unknown digest algorithm is refused"
        );
        let off: Config = toml::from_str("[sip]\nlisten = \"\"\n").expect("parses");
        assert_eq!(off.sip_addr().expect("ok"), None);
        let bad: Config = toml::from_str("[sip]\nrtp_port_min = 100\n").expect("parses");
        assert!(bad.validate().is_err());
        let c: Config =
            toml::from_str("[http]\nnames = [\"voice.office.example\"]\n").expect("parses");
        assert!(c.validate().is_ok());
        assert_eq!(c.http.listen, "0.0.0.0:8080", "listen keeps its default");
        for bad in ["\"\"", "\"10.0.0.1\"", "\"box:8080\""] {
            let c: Config = toml::from_str(&format!("[http]\nnames = [{bad}]\n")).expect("parses");
            assert!(c.validate().is_err(), "{bad}");
        }
        let c: Config = toml::from_str("[limits]\nmax_connections = 0\n").expect("parses");
        assert!(c.validate().is_err());
        assert!(toml::from_str::<Config>("[https]\nnames = []\n").is_err());
    }

    #[test]
    fn printed_settings_read_back_the_same() {
        let mut c: Config = toml::from_str(
            "[sip]\ndomain = \"office.example\"\n[provision]\nsubnets = [\"10.1.0.0/16\"]\n[[dhcp.pool]]\ninterface = \"eth0\"\nnetwork = \"192.168.1.0\"\nmask = \"255.255.255.0\"\nstart = \"192.168.1.100\"\nend = \"192.168.1.199\"\nserver_id = \"192.168.1.2\"\n",
        )
        .expect("parses");
        c.data_dir = PathBuf::from("/var/lib/ivm");
        let text = c.to_toml().expect("prints");
        assert!(text.contains("domain = \"office.example\""), "{text}");
        assert!(text.contains("[[dhcp.pool]]"), "{text}");
        let back: Config = toml::from_str(&text).expect("reads back");
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
        let defaults = Config::default().to_toml().expect("prints");
        let back: Config = toml::from_str(&defaults).expect("reads back");
        assert_eq!(format!("{back:?}"), format!("{:?}", Config::default()));
        assert!(
            !defaults.contains("subnets"),
            "unset stays unset: {defaults}"
        );
    }

    #[test]
    fn the_hostile_lan_defaults() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c.limits.max_connections, 2048);
        assert_eq!(c.limits.max_connections_per_address, 64);
        assert_eq!(c.limits.user_quota_bytes, 512 * 1024 * 1024);
        assert_eq!(c.limits.messages_per_minute, 30);
        assert_eq!(c.one_time_password_ttl(), Duration::from_secs(24 * 3600));
        assert!(c.http.names.is_empty());
    }

    #[test]
    fn mgcp_defaults_and_bad_values() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(
            c.mgcp_addr().expect("ok"),
            Some("0.0.0.0:2727".parse().expect("addr"))
        );
        assert_eq!(c.mgcp.keepalive_s, 60);
        assert!(!c.mgcp.response_ack);
        let off: Config = toml::from_str("[mgcp]\nlisten = \"\"\n").expect("parses");
        assert_eq!(off.mgcp_addr().expect("ok"), None);
        let bad: Config = toml::from_str("[mgcp]\nlisten = \"nowhere\"\n").expect("parses");
        assert!(bad.validate().is_err());
        let bad: Config = toml::from_str("[mgcp]\nkeepalive_s = 0\n").expect("parses");
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<Config>("[mgcp]\nport = 1\n").is_err());
        assert_eq!(
            c.megaco_addr().expect("ok"),
            Some("0.0.0.0:2944".parse().expect("addr"))
        );
        let off: Config = toml::from_str("[megaco]\nlisten = \"\"\n").expect("parses");
        assert_eq!(off.megaco_addr().expect("ok"), None);
        let bad: Config = toml::from_str("[megaco]\nlisten = \"nowhere\"\n").expect("parses");
        assert!(bad.validate().is_err());
    }
}
