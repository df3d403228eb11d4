//! The `ivmd` command line: `ivmd run`, and the admin commands (`user`, `phone`, `gateway`,
//! `line`, `status`, `config`), which find the box to work on through [`crate::locate`].
//!
//! # Layout
//! - this file: the commands and options, and what each does;
//! - [`print`]: how the answers are printed.

mod print;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::admin::socket::{call, socket_path};
use crate::admin::{self, AdminContext, AdminRequest, AdminResponse};
use crate::config::Config;
use crate::locate::{locate, LocateError, Source, Target};

/// `ivmd status`'s exit status when no box runs (as LSB init scripts' `status`).
pub const EXIT_NOT_RUNNING: u8 = 3;

/// How long an admin command waits for a box that holds its data folder's lock but does
/// not answer on its socket yet (it is starting), before giving up.
const STARTING_WAIT: Duration = Duration::from_secs(10);

/// ivmd: the instant voice messaging box.
#[derive(Debug, Parser)]
#[command(
    name = "ivmd",
    version,
    about = "The IVM box: instant voice messaging for the office LAN",
    after_help = "Admin commands (user, group, phone, gateway, line, status, config) work on the box given by --data or --config; \
else the running box (found through its admin socket at /run/ivm/admin.sock, \
$XDG_RUNTIME_DIR/ivm/admin.sock or /tmp/ivm-<uid>/admin.sock; $IVM_RUNTIME_DIR overrides); \
else the one /etc/ivm/ivmd.toml describes ($IVM_INSTALLED_CONFIG overrides); else ./ivm-data \
if it exists. They never create a data folder."
)]
pub struct Cli {
    /// Config file (TOML); the embedded defaults are used without one.
    #[arg(long, global = true, env = "IVMD_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Data folder (overrides the config's data_dir; default ./ivm-data).
    #[arg(long, global = true, env = "IVMD_DATA")]
    pub data: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `ivmd` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the box.
    Run {
        /// HTTP listen address (API for local tools), e.g. 127.0.0.1:8080; "" turns it off.
        #[arg(long)]
        http: Option<String>,
        /// HTTPS listen address (API and web client), e.g. 0.0.0.0:8443; "" turns it off.
        #[arg(long)]
        https: Option<String>,
        /// SIP listen address (desk phones, UDP and TCP), e.g. 0.0.0.0:5060; "" turns it off.
        #[arg(long)]
        sip: Option<String>,
        /// TFTP listen address (phone provisioning), e.g. 0.0.0.0:69; "" turns it off.
        #[arg(long)]
        tftp: Option<String>,
    },
    /// Manage users (on the running box, or on a stopped box's data folder).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage desk phones for provisioning (on the running box, or on a stopped box's data
    /// folder).
    #[command(subcommand)]
    Phone(PhoneCommand),
    /// Manage media gateways for analog phones (on the running box, or a stopped box's data).
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Assign analog lines of gateways to users.
    #[command(subcommand)]
    Line(LineCommand),
    /// Manage groups for all-calls (`ivm talk --group NAME`); `everyone` is built in.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Show the running box: version, pid, uptime, data folder, listeners, users, phones,
    /// clients, messages waiting, free disk. Exit status 0 when it runs, 3 when it does not,
    /// 1 when that cannot be told (no permission, a bad config).
    Status {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the settings in effect as TOML: the running box's (defaults, its config file,
    /// then its command line), else those of the config the box would run with, and where
    /// they come from.
    Config,
    /// The HTTPS certificate: show it, install your own, or go back to the box's own.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Update bundles (made by scripts/build-image --bundle).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Install an update bundle: check it (a bundle that is cut short, changed or signed by
    /// another key is refused and nothing is written), copy it into the data folder and run
    /// the config's `[update] command`, the privileged installer (on the appliance image it
    /// writes the root slot not running, boots it once at the next restart and keeps it if it
    /// comes up; docs/image.md).
    Update {
        /// The bundle.
        file: PathBuf,
        /// The public update key (PEM); default: the config's `[update] key`, on the
        /// appliance image its build's.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

/// `ivmd bundle ...`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Check that FILE is a whole update bundle signed by the update key, and print its
    /// version and parts. Reads it, writes nothing. Exit status 1, with the reason, when it is
    /// not (cut short, changed, signed by another key).
    Check {
        /// The bundle.
        file: PathBuf,
        /// The public update key (PEM); the appliance image's by default.
        #[arg(long, default_value = "/usr/lib/ivm/update.pub")]
        key: PathBuf,
    },
}

/// `ivmd tls ...`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Show the certificate the box serves: names, issuer, validity, SHA-256 fingerprint.
    Show,
    /// Install your own certificate (from the office's CA, or a public one for a name the
    /// office owns) instead of the box's self-signed one. The key must be the certificate's;
    /// a running box serves it from the next connection on.
    Install {
        /// PEM file: the certificate, then its intermediate certificates.
        cert: PathBuf,
        /// PEM file: its private key (PKCS#8, PKCS#1 RSA or SEC1 EC), unencrypted.
        key: PathBuf,
    },
    /// Go back to the box's own self-signed certificate (with a new key).
    Reset,
}

/// `ivmd gateway ...`
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Add a media gateway for analog phones (FXS ports). Datagrams from addresses no
    /// gateway names are dropped.
    Add {
        /// Its name.
        name: String,
        /// Its control protocol: mgcp, or megaco (H.248 text over UDP).
        #[arg(long, default_value = "mgcp")]
        protocol: String,
        /// Where it listens: IP or IP:port (port 2427 for mgcp, 2944 for megaco when left out).
        #[arg(long)]
        address: String,
        /// Its endpoints (MEGACO: its analog lines' termination ids): aaln/1..aaln/N.
        #[arg(long, default_value = "aaln/1..aaln/1")]
        endpoints: String,
    },
    /// List gateways and their lines, with live state (up/down, idle/off-hook/ringing/in-call)
    /// on a running box.
    List,
    /// Remove a gateway and its line assignments.
    Remove {
        /// Its name.
        name: String,
    },
}

/// `ivmd line ...`
#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// Assign a gateway's analog line to a user, like a desk phone.
    Assign {
        /// The gateway's name.
        gateway: String,
        /// The endpoint (aaln/1).
        endpoint: String,
        /// The user's login name.
        user: String,
    },
    /// Take a line from its user.
    Unassign {
        /// The gateway's name.
        gateway: String,
        /// The endpoint (aaln/1).
        endpoint: String,
    },
}

/// `ivmd phone ...`
#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// Assign a phone (MAC in any spelling: 001565aabbcc, 00:15:65:AA:BB:CC) to a user.
    Add {
        /// The phone's MAC.
        mac: String,
        /// Login name of the user whose extension it gets.
        #[arg(long)]
        user: String,
        /// Vendor (yealink, polycom, cisco, grandstream, snom); from the MAC prefix if left out
        /// (required when the box does not know the prefix). Requests for another vendor's
        /// file names then get nothing.
        #[arg(long)]
        vendor: Option<String>,
        /// For a phone configured by hand: its provisioning credential (at least 8
        /// characters), which it must give (HTTP Digest or Basic) for its files; it is not
        /// armed. Without it, the phone is armed: its next request for its account file
        /// gets the file once and, in it, a credential the box made.
        #[arg(long)]
        http_password: Option<String>,
        /// Move the phone when it is assigned to someone else (refused without it).
        #[arg(long)]
        reassign: bool,
    },
    /// List phones, assigned and seen-unassigned, with their provisioning state.
    List,
    /// Forget a phone.
    Remove {
        /// The phone's MAC.
        mac: String,
    },
    /// Re-arm a phone that was replaced or reset: its next request for its account file
    /// (from inside the provisioning subnets) gets the file once, with a new credential.
    Arm {
        /// The phone's MAC.
        mac: String,
    },
    /// Show a phone's own secrets: its web interface's admin password, and the credential
    /// it gives for its files (for setting it up by hand).
    Show {
        /// The phone's MAC.
        mac: String,
    },
}

/// `ivmd group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Make a group.
    Add {
        /// Its name (lowercase letters, digits, . _ -; not `everyone`).
        name: String,
        /// Members: login names, extensions or GUIDs; comma-separated and/or repeated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// List groups and their members (`everyone` is every user).
    List,
    /// Add or take out members.
    Members {
        /// The group.
        name: String,
        /// Users to add; comma-separated and/or repeated.
        #[arg(long, value_delimiter = ',')]
        add: Vec<String>,
        /// Users to take out; comma-separated and/or repeated.
        #[arg(long, value_delimiter = ',')]
        remove: Vec<String>,
    },
    /// Delete a group.
    Remove {
        /// Its name.
        name: String,
    },
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Allowed.
    On,
    /// Not allowed.
    Off,
}

/// `ivmd user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a generated password unless --password is given.
    Add {
        /// Login name (lowercase letters, digits, . _ -).
        name: String,
        /// Extension number (2-8 digits).
        #[arg(long)]
        extension: String,
        /// Name shown to others.
        #[arg(long)]
        display_name: Option<String>,
        /// Password (at least 8 characters); generated when left out.
        #[arg(long)]
        password: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (generated when --password is left out); ends their sessions.
    Passwd {
        /// Login name.
        name: String,
        /// New password.
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user (not the box's last administrator).
    Remove {
        /// Login name.
        name: String,
    },
    /// Allow (on) or forbid (off) a user's all-calls (`ivm talk --group`); admins may by
    /// default, others may not.
    Allcall {
        /// Login name.
        name: String,
        /// on or off.
        allow: OnOff,
    },
    /// Publish (on) or withdraw (off) a user in the global directory: when `[global]` links
    /// the box to other offices, they reach them as `name@<box_name>`. Off by default.
    Global {
        /// Login name.
        name: String,
        /// on or off.
        on: OnOff,
    },
    /// Show a user's extension and the SIP account for setting up their desk phone by hand.
    Show {
        /// Login name.
        name: String,
        /// Generate a new SIP password first (the phone must be set up again).
        #[arg(long)]
        new_sip_password: bool,
    },
}

/// After the panel's Reboot (without a reboot command) or factory reset: every actor and
/// socket of the old run is closed; erase the data folder if asked, then replace this process
/// with a fresh `ivmd` with the same arguments (same pid, so a supervisor sees no exit).
fn restart(cfg: &Config, exit: crate::panel::Exit) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    if let crate::panel::Exit::FactoryReset { keep_network } = exit {
        let networkd = match &cfg.network_backend() {
            Ok(ivm_netcfg::BackendKind::Networkd { dir }) => Some(dir.clone()),
            _ => None,
        };
        let interface = crate::display::network(cfg)
            .map(|n| n.interface().to_owned())
            .unwrap_or_default();
        if let Err(e) = crate::panel::factory_reset(
            &cfg.data_dir,
            keep_network,
            networkd.as_deref().map(|d| (d, interface.as_str())),
        ) {
            return fail(&format!(
                "factory reset: cannot erase {}: {e}",
                cfg.data_dir.display()
            ));
        }
        println!("ivmd: factory reset done (keep network: {keep_network}); starting again");
    } else {
        println!("ivmd: restarting");
    }
    let err = std::process::Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .exec();
    fail(&format!("cannot start again: {err}"))
}

/// Runs `ivmd`.
pub fn main() -> ExitCode {
    // Everything ivmd (and its admin commands) creates is its own: the data folder, the
    // database, sockets, the first-start password file. The unit sets `UMask=0077` too; this
    // covers `ivmd` started by hand.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    init_logs();
    let (config, data) = (cli.config.as_deref(), cli.data.as_deref());
    match cli.command {
        Command::Run {
            http,
            https,
            sip,
            tftp,
        } => run(config, data, [http, https, sip, tftp]),
        Command::User(cmd) => admin_command(config, data, user_request(cmd)),
        Command::Phone(cmd) => admin_command(config, data, phone_request(cmd)),
        Command::Group(cmd) => admin_command(config, data, group_request(cmd)),
        Command::Gateway(cmd) => admin_command(config, data, gateway_request(cmd)),
        Command::Line(cmd) => admin_command(config, data, line_request(cmd)),
        Command::Status { json } => status(config, data, json),
        Command::Config => show_config(config, data),
        Command::Tls(cmd) => match tls_request(cmd) {
            Ok(req) => admin_command(config, data, req),
            Err(message) => fail(&message),
        },
        Command::Bundle(BundleCommand::Check { file, key }) => bundle_check(&file, &key),
        Command::Update { file, key } => update(config, data, &file, key),
    }
}

/// `ivmd update`: the data folder and installer from the config (and `--data`).
fn update(
    config: Option<&Path>,
    data: Option<&Path>,
    file: &Path,
    key: Option<PathBuf>,
) -> ExitCode {
    let cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let data_dir = data.map_or(cfg.data_dir, Path::to_owned);
    let key = key.unwrap_or(cfg.update.key);
    match crate::update::install(file, &key, &data_dir, &cfg.update.command, false) {
        Ok(h) => {
            println!(
                "{}: update bundle {} verified and handed to the installer ([update] command)",
                file.display(),
                h.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// `ivmd bundle check`.
fn bundle_check(file: &Path, key: &Path) -> ExitCode {
    let checked = crate::bundle::UpdateKey::load(key)
        .map_err(|e| format!("update key {}: {e}", key.display()))
        .and_then(|k| {
            let mut f = std::fs::File::open(file).map_err(|e| e.to_string())?;
            crate::bundle::verify(&mut f, &k).map_err(|e| e.to_string())
        });
    match checked {
        Ok(h) => {
            println!(
                "{}: update bundle {}, root {} bytes, kernel {} bytes, initrd {} bytes: signature good",
                file.display(),
                h.version,
                h.root_len,
                h.kernel_len,
                h.initrd_len
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("{}: refused: {e}", file.display())),
    }
}

/// `ivmd run`: the config file, then `--data` and the listener options over it.
fn run(config: Option<&Path>, data: Option<&Path>, listen: [Option<String>; 4]) -> ExitCode {
    let mut cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let mut command_line = Vec::new();
    if let Some(d) = data {
        cfg.data_dir = d.to_owned();
        command_line.push(format!("--data {}", d.display()));
    }
    let [http, https, sip, tftp] = listen;
    for (flag, value, slot) in [
        ("--http", http, &mut cfg.http.listen),
        ("--https", https, &mut cfg.https.listen),
        ("--sip", sip, &mut cfg.sip.listen),
        ("--tftp", tftp, &mut cfg.provision.tftp_listen),
    ] {
        if let Some(v) = value {
            command_line.push(format!("{flag} {v:?}"));
            *slot = v;
        }
    }
    let origin = crate::run::Origin {
        config_file: config.map(absolute),
        command_line,
    };
    match crate::run::run(cfg.clone(), origin) {
        Ok(crate::panel::Exit::Stop) => ExitCode::SUCCESS,
        Ok(exit) => restart(&cfg, exit),
        Err(e) => fail(&format!("{e:#}")),
    }
}

/// `path` made absolute against the current folder (it need not exist).
pub fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn user_request(cmd: UserCommand) -> AdminRequest {
    match cmd {
        UserCommand::Show {
            name,
            new_sip_password,
        } => AdminRequest::UserShow {
            name,
            new_sip_password,
        },
        UserCommand::Add {
            name,
            extension,
            display_name,
            password,
            admin,
        } => AdminRequest::UserAdd {
            name,
            extension,
            display_name,
            password,
            admin,
        },
        UserCommand::List => AdminRequest::UserList,
        UserCommand::Passwd { name, password } => AdminRequest::UserPasswd { name, password },
        UserCommand::Remove { name } => AdminRequest::UserRemove { name },
        UserCommand::Allcall { name, allow } => AdminRequest::UserAllCall {
            name,
            allow: allow == OnOff::On,
        },
        UserCommand::Global { name, on } => AdminRequest::UserGlobal {
            name,
            on: on == OnOff::On,
        },
    }
}

fn group_request(cmd: GroupCommand) -> AdminRequest {
    match cmd {
        GroupCommand::Add { name, members } => AdminRequest::GroupAdd { name, members },
        GroupCommand::List => AdminRequest::GroupList,
        GroupCommand::Members { name, add, remove } => {
            AdminRequest::GroupMembers { name, add, remove }
        }
        GroupCommand::Remove { name } => AdminRequest::GroupRemove { name },
    }
}

fn gateway_request(cmd: GatewayCommand) -> AdminRequest {
    match cmd {
        GatewayCommand::Add {
            name,
            protocol,
            address,
            endpoints,
        } => AdminRequest::GatewayAdd {
            name,
            protocol,
            address,
            endpoints,
        },
        GatewayCommand::List => AdminRequest::GatewayList,
        GatewayCommand::Remove { name } => AdminRequest::GatewayRemove { name },
    }
}

fn line_request(cmd: LineCommand) -> AdminRequest {
    match cmd {
        LineCommand::Assign {
            gateway,
            endpoint,
            user,
        } => AdminRequest::LineAssign {
            gateway,
            endpoint,
            user: Some(user),
        },
        LineCommand::Unassign { gateway, endpoint } => AdminRequest::LineAssign {
            gateway,
            endpoint,
            user: None,
        },
    }
}

fn phone_request(cmd: PhoneCommand) -> AdminRequest {
    match cmd {
        PhoneCommand::Add {
            mac,
            user,
            vendor,
            http_password,
            reassign,
        } => AdminRequest::PhoneAdd {
            mac,
            user,
            vendor,
            http_password,
            reassign,
        },
        PhoneCommand::List => AdminRequest::PhoneList,
        PhoneCommand::Remove { mac } => AdminRequest::PhoneRemove { mac },
        PhoneCommand::Arm { mac } => AdminRequest::PhoneArm { mac },
        PhoneCommand::Show { mac } => AdminRequest::PhoneShow { mac },
    }
}

/// `ivmd tls ...` as a request; the files are read here, by the person running the command.
fn tls_request(cmd: TlsCommand) -> Result<AdminRequest, String> {
    let read = |p: &Path| {
        let max = crate::tls::installed::MAX_PEM as u64;
        match std::fs::metadata(p) {
            Ok(m) if m.len() > max => Err(format!("{}: larger than {max} bytes", p.display())),
            Ok(_) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    };
    Ok(match cmd {
        TlsCommand::Show => AdminRequest::TlsShow,
        TlsCommand::Install { cert, key } => AdminRequest::TlsInstall {
            cert_pem: read(&cert)?,
            key_pem: read(&key)?,
        },
        TlsCommand::Reset => AdminRequest::TlsReset,
    })
}

/// Which box answered an admin command.
pub enum Reached {
    /// The running box.
    Running,
    /// The stopped box's folder, opened here; its settings came from this source.
    Stopped(Source),
}

/// Finds the box, sends it the request (or applies it to the stopped box's folder), prints
/// the answer.
fn admin_command(config: Option<&Path>, data: Option<&Path>, req: AdminRequest) -> ExitCode {
    let target = match locate(config, data) {
        Ok(t) => t,
        Err(e) => return fail(&e.to_string()),
    };
    let answered = match target {
        Target::Running { socket, .. } => match call(&socket, &req) {
            Ok(Some(r)) => Ok((r, Reached::Running)),
            Ok(None) => Err(format!(
                "the box at {} stopped answering; try again",
                socket.display()
            )),
            Err(e) => Err(format!("cannot reach the running box: {e}")),
        },
        Target::Stopped { cfg, source } => on_stopped_box(&cfg, source, req),
    };
    match answered {
        Ok((resp, reached)) => print::response(resp, &reached),
        Err(message) => fail(&message),
    }
}

/// Applies `req` to the stopped box's data folder under its lock. A box that holds the lock
/// but did not answer a moment ago is starting: its socket is asked again until it answers
/// or [`STARTING_WAIT`] passes.
fn on_stopped_box(
    cfg: &Config,
    source: Source,
    req: AdminRequest,
) -> Result<(AdminResponse, Reached), String> {
    let data = &cfg.data_dir;
    if !data.is_dir() {
        return Err(format!(
            "there is no data folder at {} (settings from {source}); no box has run there yet: start it first, or give --data DIR",
            data.display()
        ));
    }
    crate::locate::become_folder_owner(data)?;
    let opts = ivm_store::OpenOptions {
        create: false,
        lock_wait: Duration::ZERO,
    };
    let deadline = Instant::now() + STARTING_WAIT;
    loop {
        match ivm_store::Store::open_with(data, &opts) {
            Ok(store) => {
                let ctx = AdminContext {
                    arm_window: cfg.arm_window(),
                    provision_url: None,
                    realm: cfg.sip.domain.clone(),
                    sip_server: cfg.sip_advertised(None).map(|a| a.to_string()),
                    names: cfg.http.names.clone(),
                };
                return Ok((admin::apply(&store, req, &ctx), Reached::Stopped(source)));
            }
            Err(ivm_store::StoreError::Locked { pid }) => {
                let socket = socket_path(data);
                if let Ok(Some(r)) = call(&socket, &req) {
                    return Ok((r, Reached::Running));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} ({}), but it does not answer at {}",
                        ivm_store::StoreError::Locked { pid },
                        data.display(),
                        socket.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(format!(
                    "cannot open the data folder {}: {e}",
                    data.display()
                ))
            }
        }
    }
}

/// `ivmd status`.
fn status(config: Option<&Path>, data: Option<&Path>, json: bool) -> ExitCode {
    let not_running = |why: String| {
        println!("ivmd: not running ({why})");
        ExitCode::from(EXIT_NOT_RUNNING)
    };
    match locate(config, data) {
        Ok(Target::Running { socket, .. }) => match call(&socket, &AdminRequest::Status) {
            Ok(Some(AdminResponse::Status { status })) => print::status(&status, json),
            Ok(Some(AdminResponse::Error { message })) => fail(&message),
            Ok(Some(_)) => fail("unexpected answer to status (an older ivmd?)"),
            Ok(None) => not_running(format!("the box at {} stopped", socket.display())),
            Err(e) => fail(&format!("cannot reach the running box: {e}")),
        },
        Ok(Target::Stopped { cfg, source }) => not_running(format!(
            "data folder {}, settings from {source}",
            cfg.data_dir.display()
        )),
        Err(e @ LocateError::NotFound { .. }) => not_running(e.to_string()),
        Err(e) => fail(&e.to_string()),
    }
}

/// `ivmd config`.
fn show_config(config: Option<&Path>, data: Option<&Path>) -> ExitCode {
    match locate(config, data) {
        Ok(Target::Running { info, .. }) => print::running_config(&info),
        Ok(Target::Stopped { cfg, source }) => print::config(
            &cfg,
            &format!("# The box is not running. The settings it would run with, from {source}."),
        ),
        Err(LocateError::NotFound { .. }) => print::config(
            &Config::default(),
            "# No box is running here and there is no config file: the embedded defaults (what `ivmd run` with no --config uses).",
        ),
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ivmd: {message}");
    ExitCode::FAILURE
}

/// Logs to stderr: `IVM_LOG` checked (a typo warns and falls back to `info` instead of
/// hiding every line), no colour codes unless stderr is a terminal (journal, log files).
fn init_logs() {
    ivm_client::logging::init("ivmd", "IVM_LOG", "info");
}
