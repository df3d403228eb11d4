//! The `ivmd` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin::{self, AdminContext, AdminRequest, AdminResponse, PhoneRow};
use crate::config::Config;

/// ivmd: the instant voice messaging box.
#[derive(Debug, Parser)]
#[command(
    name = "ivmd",
    version,
    about = "The IVM box: instant voice messaging for the office LAN"
)]
pub struct Cli {
    /// Config file (TOML); the embedded defaults are used without one.
    #[arg(long, global = true, env = "IVMD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder (overrides the config's data_dir; default ./ivm-data).
    #[arg(long, global = true, env = "IVMD_DATA")]
    pub data: Option<PathBuf>,
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
    /// Manage users (works whether the box is running or not).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage desk phones for provisioning (works whether the box is running or not).
    #[command(subcommand)]
    Phone(PhoneCommand),
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
        /// Vendor (yealink, polycom, cisco, grandstream, snom); from the MAC prefix if left out.
        /// Requests for another vendor's file names then get nothing.
        #[arg(long)]
        vendor: Option<String>,
        /// For a phone configured by hand: its provisioning credential (at least 8
        /// characters), which it must give (HTTP Digest or Basic) for its files; it is not
        /// armed. Without it, the phone is armed: its next request for its account file
        /// gets the file once and, in it, a credential the box made.
        #[arg(long)]
        http_password: Option<String>,
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
    /// Delete a user.
    Remove {
        /// Login name.
        name: String,
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
    let mut cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    if let Some(d) = cli.data {
        cfg.data_dir = d;
    }
    match cli.command {
        Command::Run {
            http,
            https,
            sip,
            tftp,
        } => {
            if let Some(t) = tftp {
                cfg.provision.tftp_listen = t;
            }
            if let Some(h) = http {
                cfg.http.listen = h;
            }
            if let Some(s) = sip {
                cfg.sip.listen = s;
            }
            if let Some(h) = https {
                cfg.https.listen = h;
            }
            match crate::run::run(cfg.clone()) {
                Ok(crate::panel::Exit::Stop) => ExitCode::SUCCESS,
                Ok(exit) => restart(&cfg, exit),
                Err(e) => fail(&format!("{e:#}")),
            }
        }
        Command::User(cmd) => user(&cfg, user_request(&cfg, cmd)),
        Command::Phone(cmd) => user(
            &cfg,
            match cmd {
                PhoneCommand::Add {
                    mac,
                    user,
                    vendor,
                    http_password,
                } => AdminRequest::PhoneAdd {
                    mac,
                    user,
                    vendor,
                    http_password,
                },
                PhoneCommand::List => AdminRequest::PhoneList,
                PhoneCommand::Remove { mac } => AdminRequest::PhoneRemove { mac },
                PhoneCommand::Arm { mac } => AdminRequest::PhoneArm { mac },
                PhoneCommand::Show { mac } => AdminRequest::PhoneShow { mac },
            },
        ),
    }
}

fn user_request(cfg: &Config, cmd: UserCommand) -> AdminRequest {
    match cmd {
        UserCommand::Show {
            name,
            new_sip_password,
        } => AdminRequest::UserShow {
            name,
            realm: cfg.sip.domain.clone(),
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
    }
}

/// Sends an admin request (to the running box, or straight to the data folder) and prints
/// the answer.
fn user(cfg: &Config, req: AdminRequest) -> ExitCode {
    let data: &Path = &cfg.data_dir;
    let resp = match admin::call_running(data, &req) {
        Ok(Some(r)) => r,
        Ok(None) => match ivm_store::Store::open(data) {
            Ok(store) => {
                let ctx = AdminContext {
                    arm_window: cfg.arm_window(),
                    provision_url: None,
                };
                admin::apply(&store, req, &ctx)
            }
            Err(e) => {
                return fail(&format!(
                    "cannot open the data folder {}: {e}",
                    data.display()
                ))
            }
        },
        Err(e) => return fail(&format!("cannot reach the running box: {e}")),
    };
    match resp {
        AdminResponse::User { user, password } => {
            println!(
                "{}\t{}\t{}\t{}",
                user.name, user.extension, user.display_name, user.guid
            );
            if let Some(p) = password {
                println!("password: {p}");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Users { users } => {
            println!(
                "{:<20} {:<10} {:<24} {:<6} GUID",
                "NAME", "EXTENSION", "DISPLAY NAME", "ADMIN"
            );
            for u in users {
                println!(
                    "{:<20} {:<10} {:<24} {:<6} {}",
                    u.name,
                    u.extension,
                    u.display_name,
                    if u.admin { "yes" } else { "" },
                    u.guid
                );
            }
            ExitCode::SUCCESS
        }
        AdminResponse::UserSip {
            user,
            sip_user,
            sip_password,
            sip_domain,
        } => {
            let server = cfg
                .sip_advertised(None)
                .map(|a| a.to_string())
                .unwrap_or_else(|| "(SIP is off)".into());
            println!("name:          {}", user.name);
            println!("display name:  {}", user.display_name);
            println!("extension:     {}", user.extension);
            println!("SIP user:      {sip_user}");
            println!("SIP password:  {sip_password}");
            println!("SIP domain:    {sip_domain}   (digest realm)");
            println!("SIP server:    {server}   (registrar and outbound proxy, UDP or TCP)");
            println!("voice mail:    dial *97; record a message: *7 + extensions separated by * (e.g. *7201*202)");
            ExitCode::SUCCESS
        }
        AdminResponse::Phone { phone } => {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                phone.mac,
                phone.vendor.as_deref().unwrap_or("-"),
                phone.user.as_deref().unwrap_or("-"),
                phone.extension.as_deref().unwrap_or("-"),
                provisioning(&phone)
            );
            ExitCode::SUCCESS
        }
        AdminResponse::Phones { phones } => {
            println!(
                "{:<13} {:<12} {:<10} {:<16} {:<10} {:<12} {:<10} PROVISIONING",
                "MAC", "VENDOR", "MODEL", "USER", "EXTENSION", "STATUS", "LAST SEEN"
            );
            for p in phones {
                println!(
                    "{:<13} {:<12} {:<10} {:<16} {:<10} {:<12} {:<10} {}",
                    p.mac,
                    p.vendor.as_deref().unwrap_or("-"),
                    p.model.as_deref().unwrap_or("-"),
                    p.user.as_deref().unwrap_or("-"),
                    p.extension.as_deref().unwrap_or("-"),
                    p.status,
                    p.last_seen,
                    provisioning(&p)
                );
            }
            ExitCode::SUCCESS
        }
        AdminResponse::PhoneSecrets {
            phone,
            admin_password,
            provision_user,
            provision_password,
            provision_url,
        } => {
            println!("phone:                  {}", phone.mac);
            println!("provisioning:           {}", provisioning(&phone));
            println!("web interface login:    admin / {admin_password}");
            println!("provisioning user:      {provision_user}   (any user name is accepted)");
            println!("provisioning password:  {provision_password}   (HTTP Digest or Basic)");
            if let Some(url) = provision_url {
                println!("provisioning URL:       {url}");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Done => ExitCode::SUCCESS,
        AdminResponse::Error { message } => fail(&message),
    }
}

/// `armed until <unix seconds>`, `bound <address> at <unix seconds>`, or `-`; with
/// `(credential set by hand)` when it was.
fn provisioning(p: &PhoneRow) -> String {
    let mut s = match (p.armed_until, &p.bound_address, p.bound_at) {
        (Some(t), _, _) => format!("armed until {t}"),
        (None, Some(a), Some(t)) => format!("bound {a} at {t}"),
        _ => "-".to_owned(),
    };
    if p.manual_credential {
        s.push_str(" (credential set by hand)");
    }
    s
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
