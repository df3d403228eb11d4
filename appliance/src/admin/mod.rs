//! User, group and phone administration for installers: `ivmd user
//! add|list|passwd|remove|show|allcall`, `ivmd group add|list|members|remove`, `ivmd phone
//! add|list|remove|arm|show`, and what `ivmd status` and `ivmd config` ask a
//! running box.
//!
//! The same operations run two ways. While the box runs, it holds the data folder's lock, so
//! the CLI sends the request over the box's admin socket ([`socket`]: `<data>/admin.sock`,
//! mode 0600, also published at a well-known path, see [`crate::runtime_dir`]) and the box
//! applies it on a database thread. When the box is stopped, the CLI opens the data folder
//! itself, under the same lock. Either way an installer adds people without a restart; which
//! box a command works on is [`crate::locate`]'s business.
//!
//! # Layout
//! - this file: [`AdminRequest`], [`AdminResponse`], [`apply`] on the store;
//! - [`socket`]: the socket server in the box and the client in the CLI;
//! - [`status`]: what the box tells about itself ([`BoxInfo`], [`BoxStatus`]).

pub mod socket;
pub mod status;

use std::time::{Duration, SystemTime};

use ivm_actors::database::groups::{AllGroups, ChangeGroup, CreateGroup, DeleteGroup};
use ivm_actors::database::Op as _;
use ivm_store::{NewUser, Store, StoreError, User};
use serde::{Deserialize, Serialize};

pub use socket::AdminSocket;
pub use status::{BoxInfo, BoxStatus};

/// One administrative request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Create a user; a password is generated when none is given.
    UserAdd {
        /// Login name.
        name: String,
        /// Extension number.
        extension: String,
        /// Name shown to others.
        display_name: Option<String>,
        /// Password, or `None` to generate one.
        password: Option<String>,
        /// Administrator?
        admin: bool,
    },
    /// List users.
    UserList,
    /// Set a password (generated when none is given); ends the user's sessions.
    UserPasswd {
        /// Login name.
        name: String,
        /// New password, or `None` to generate one.
        password: Option<String>,
    },
    /// Delete a user.
    UserRemove {
        /// Login name.
        name: String,
    },
    /// A user's extension and SIP credentials (generated on first use), with the realm and
    /// the SIP address of the box that answers (not the asker's defaults).
    UserShow {
        /// Login name.
        name: String,
        /// Make a new SIP password first.
        new_sip_password: bool,
    },
    /// Allow or forbid a user's all-calls (talks to a group, marked urgent).
    UserAllCall {
        /// Login name.
        name: String,
        /// Allowed?
        allow: bool,
    },
    /// Publish a user to the global directory (reachable as `name@box` from other boxes) or
    /// withdraw them.
    UserGlobal {
        /// Login name.
        name: String,
        /// Published?
        on: bool,
    },
    /// Make a group (for all-calls) of these users.
    GroupAdd {
        /// Its name.
        name: String,
        /// Members: names, extensions or GUIDs.
        members: Vec<String>,
    },
    /// List groups (the built-in `everyone` first).
    GroupList,
    /// Add and take out members of a group.
    GroupMembers {
        /// The group.
        name: String,
        /// Members to add.
        add: Vec<String>,
        /// Members to take out.
        remove: Vec<String>,
    },
    /// Delete a group.
    GroupRemove {
        /// Its name.
        name: String,
    },
    /// Assign a phone (by MAC) to a user, adding it when unknown.
    PhoneAdd {
        /// MAC in any common spelling.
        mac: String,
        /// Login name of the user.
        user: String,
        /// Vendor (`yealink`, `polycom`, ...); from the MAC prefix when left out.
        vendor: Option<String>,
        /// Sets the phone's provisioning credential by hand (a phone configured by hand
        /// gives it, HTTP Digest or Basic, for its files; it is not armed); kept when left
        /// out.
        #[serde(default)]
        http_password: Option<String>,
        /// Move the phone when another user has it; refused otherwise.
        #[serde(default)]
        reassign: bool,
    },
    /// List phones.
    PhoneList,
    /// Forget a phone.
    PhoneRemove {
        /// MAC in any common spelling.
        mac: String,
    },
    /// Re-arm a phone (replaced or reset): its next account-file request gets the file once.
    PhoneArm {
        /// MAC in any common spelling.
        mac: String,
    },
    /// A phone's own secrets: its web interface's admin password, its credential.
    PhoneShow {
        /// MAC in any common spelling.
        mac: String,
    },
    /// Add a media gateway (analog phones): `ivmd gateway add`.
    GatewayAdd {
        /// Its name.
        name: String,
        /// `mgcp`.
        protocol: String,
        /// `IP[:port]` (port 2427 when left out).
        address: String,
        /// `aaln/1..aaln/N`.
        endpoints: String,
    },
    /// List gateways, their lines and (on a running box) their live state.
    GatewayList,
    /// Remove a gateway and its line assignments.
    GatewayRemove {
        /// Its name.
        name: String,
    },
    /// Assign a gateway's analog line to a user (`ivmd line assign`).
    LineAssign {
        /// The gateway.
        gateway: String,
        /// The endpoint (`aaln/1`).
        endpoint: String,
        /// Login name of the user; `None` unassigns the line.
        user: Option<String>,
    },
    /// Who is there: the running box's [`BoxInfo`] (data folder, settings, listeners).
    /// Cheap: no database trip. Admin commands ask it first, to learn which box answers.
    Hello,
    /// `ivmd status`: [`BoxStatus`], the box's figures now.
    Status,
    /// `ivmd tls show`: the certificate the box serves.
    TlsShow,
    /// `ivmd tls install`: an admin's own certificate chain and key (PEM), checked, then
    /// served from the next handshake on.
    TlsInstall {
        /// End-entity certificate first, then its chain.
        cert_pem: String,
        /// Its private key.
        key_pem: String,
    },
    /// `ivmd tls reset`: back to the box's own self-signed certificate (a new key).
    TlsReset,
}

/// What applying a request needs from the box's settings: the running box's own, or, when
/// it is stopped, those of the config it would run with.
#[derive(Debug, Clone, Default)]
pub struct AdminContext {
    /// `[provision] arm_window_s` (`None`: arming is off).
    pub arm_window: Option<Duration>,
    /// The URL phones fetch their files from, when the box runs.
    pub provision_url: Option<String>,
    /// `[sip] domain`: the digest realm.
    pub realm: String,
    /// The SIP address phones use (`host:port`), `None` when SIP is off.
    pub sip_server: Option<String>,
    /// `[http] names`: the names the box's own certificate covers besides its addresses.
    pub names: Vec<String>,
}

impl AdminContext {
    fn arm_until(&self) -> Option<SystemTime> {
        self.arm_window.map(|w| SystemTime::now() + w)
    }
}

/// A gateway as the admin CLI prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayRow {
    /// Its name.
    pub name: String,
    /// `mgcp`.
    pub protocol: String,
    /// `IP:port`.
    pub address: String,
    /// How many endpoints (`aaln/1..aaln/N`).
    pub endpoints: u32,
    /// `up`, `down`, or `-` when the box is not running.
    #[serde(default)]
    pub state: String,
    /// Its lines, assigned or not.
    pub lines: Vec<LineRow>,
}

/// One analog line of a gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineRow {
    /// `aaln/1`.
    pub endpoint: String,
    /// Login name of its user, when assigned.
    pub user: Option<String>,
    /// Their extension.
    pub extension: Option<String>,
    /// `idle`, `off-hook`, `ringing`, `in-call`, or `-` when not known.
    #[serde(default)]
    pub state: String,
}

/// The row of a stored gateway (live state `-`).
pub fn gateway_row(store: &Store, g: &ivm_store::Gateway) -> Result<GatewayRow, StoreError> {
    let mut lines = Vec::new();
    for ep in g.endpoint_names() {
        let user = match g.lines.get(&ep) {
            Some(u) => store.user(*u)?,
            None => None,
        };
        lines.push(LineRow {
            endpoint: ep,
            user: user.as_ref().map(|u| u.name.clone()),
            extension: user.map(|u| u.extension),
            state: "-".into(),
        });
    }
    Ok(GatewayRow {
        name: g.name.clone(),
        protocol: g.protocol.as_str().into(),
        address: g.address.to_string(),
        endpoints: g.endpoints,
        state: "-".into(),
        lines,
    })
}

/// A phone as the admin CLI prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneRow {
    /// MAC, lower-case hex without separators.
    pub mac: String,
    /// Vendor, when known.
    pub vendor: Option<String>,
    /// Model, when known.
    pub model: Option<String>,
    /// Login name of the assigned user; `None`: seen, unassigned.
    pub user: Option<String>,
    /// The user's extension.
    pub extension: Option<String>,
    /// `seen`, `provisioned` or `registered`.
    pub status: String,
    /// Unix seconds of the last request; 0 when never seen.
    pub last_seen: u64,
    /// Unix seconds until which it is armed, when it is.
    #[serde(default)]
    pub armed_until: Option<u64>,
    /// Unix seconds of the first fetch that bound it.
    #[serde(default)]
    pub bound_at: Option<u64>,
    /// The address of that first fetch.
    #[serde(default)]
    pub bound_address: Option<String>,
    /// Its credential was set by hand.
    #[serde(default)]
    pub manual_credential: bool,
}

/// A stored phone with its user's name and extension looked up.
pub fn phone_row(store: &Store, p: &ivm_store::StoredPhone) -> Result<PhoneRow, StoreError> {
    let user = match p.user {
        Some(g) => store.user(g)?,
        None => None,
    };
    Ok(PhoneRow {
        mac: p.mac.to_string(),
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        user: user.as_ref().map(|u| u.name.clone()),
        extension: user.map(|u| u.extension),
        status: if p.user.is_some() {
            p.status.as_str().to_owned()
        } else {
            "unassigned".to_owned()
        },
        last_seen: p.last_seen,
        armed_until: p
            .armed(
                SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            )
            .then_some(p.armed_until)
            .flatten(),
        bound_at: p.bound_at,
        bound_address: p.bound_address.map(|a| a.to_string()),
        manual_credential: p.manual_credential,
    })
}

/// "No such user" is the generic not-found text; for phone requests say so.
fn no_phone(e: StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::Invalid("no such phone".into()),
        other => other,
    }
}

fn parse_mac(mac: &str) -> Result<ivm_provision::Mac, StoreError> {
    ivm_provision::Mac::parse(mac).map_err(|e| StoreError::Invalid(format!("MAC {mac:?}: {e}")))
}

/// A user as the admin CLI prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRow {
    /// GUID.
    pub guid: String,
    /// Login name.
    pub name: String,
    /// Extension.
    pub extension: String,
    /// Display name.
    pub display_name: String,
    /// Administrator?
    pub admin: bool,
    /// May make all-calls (admins by default).
    #[serde(default)]
    pub may_all_call: bool,
    /// Published to the global directory.
    #[serde(default)]
    pub global: bool,
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    /// The user made or changed, with the password when the box generated it.
    User {
        /// The user.
        user: UserRow,
        /// Generated password, shown once.
        password: Option<String>,
    },
    /// All users.
    Users {
        /// The users, by name.
        users: Vec<UserRow>,
    },
    /// A user with their SIP account.
    UserSip {
        /// The user.
        user: UserRow,
        /// SIP user name (the extension).
        sip_user: String,
        /// SIP password.
        sip_password: String,
        /// Realm / domain.
        sip_domain: String,
        /// The address phones register at (`host:port`); `None` when SIP is off.
        #[serde(default)]
        sip_server: Option<String>,
    },
    /// One group.
    Group {
        /// The group.
        group: ivm_wire::rest::GroupInfo,
    },
    /// All groups.
    Groups {
        /// `everyone` first, then by name.
        groups: Vec<ivm_wire::rest::GroupInfo>,
    },
    /// One phone.
    Phone {
        /// The phone.
        phone: PhoneRow,
    },
    /// All phones.
    Phones {
        /// By MAC.
        phones: Vec<PhoneRow>,
    },
    /// A phone with its own secrets.
    PhoneSecrets {
        /// The phone.
        phone: PhoneRow,
        /// Its web interface's admin password.
        admin_password: String,
        /// The user name it gives for its files (its MAC).
        provision_user: String,
        /// Its provisioning credential.
        provision_password: String,
        /// Where it fetches its files, when the box runs.
        provision_url: Option<String>,
    },
    /// Gateways, with their lines.
    Gateways {
        /// By name.
        gateways: Vec<GatewayRow>,
    },
    /// The answer to [`AdminRequest::Hello`].
    Hello {
        /// The box.
        info: BoxInfo,
    },
    /// The answer to [`AdminRequest::Status`].
    Status {
        /// Its figures.
        status: BoxStatus,
    },
    /// The certificate now stored (and, on a running box, served).
    Tls {
        /// What it says.
        info: crate::tls::installed::TlsInfo,
    },
    /// Done.
    Done,
    /// Refused, with the reason.
    Error {
        /// Why.
        message: String,
    },
}

fn row(u: &User) -> UserRow {
    UserRow {
        guid: u.guid.to_string(),
        name: u.name.clone(),
        extension: u.extension.clone(),
        display_name: u.display_name.clone(),
        admin: u.admin,
        may_all_call: u.may_all_call(),
        global: u.global,
    }
}

/// Applies a request to the store.
pub fn apply(store: &Store, req: AdminRequest, ctx: &AdminContext) -> AdminResponse {
    let result = (|| -> Result<AdminResponse, StoreError> {
        Ok(match req {
            AdminRequest::UserAdd {
                name,
                extension,
                display_name,
                password,
                admin,
            } => {
                let generated = password.is_none().then(ivm_store::generate_password);
                let password = password.or_else(|| generated.clone()).unwrap_or_default();
                let new = NewUser {
                    name,
                    extension,
                    display_name,
                    password,
                    admin,
                };
                // A password made up by the box is one-time; a chosen one is the user's.
                let user = if generated.is_some() {
                    store.create_user_one_time(new)?
                } else {
                    store.create_user(new)?
                };
                AdminResponse::User {
                    user: row(&user),
                    password: generated,
                }
            }
            AdminRequest::UserList => AdminResponse::Users {
                users: store.users()?.iter().map(row).collect(),
            },
            AdminRequest::UserPasswd { name, password } => {
                let user = store.user_by_name(&name)?.ok_or(StoreError::NotFound)?;
                let generated = password.is_none().then(ivm_store::generate_password);
                if let Some(chosen) = &password {
                    store.set_password(user.guid, chosen)?;
                } else if let Some(made) = &generated {
                    // Made up by the box for someone else: one-time, they choose their own.
                    store.set_one_time_password(user.guid, made)?;
                }
                AdminResponse::User {
                    user: row(&user),
                    password: generated,
                }
            }
            AdminRequest::UserShow {
                name,
                new_sip_password,
            } => {
                let user = store.user_by_name(&name)?.ok_or(StoreError::NotFound)?;
                let c = if new_sip_password {
                    store.reset_sip_password(user.guid, &ctx.realm)?
                } else {
                    store.sip_credentials(user.guid, &ctx.realm)?
                };
                AdminResponse::UserSip {
                    user: row(&user),
                    sip_user: c.username,
                    sip_password: c.password,
                    sip_domain: c.realm,
                    sip_server: ctx.sip_server.clone(),
                }
            }
            AdminRequest::PhoneAdd {
                mac,
                user,
                vendor,
                http_password,
                reassign,
            } => {
                let mac = parse_mac(&mac)?;
                let vendor = vendor
                    .map(|v| {
                        v.parse::<ivm_provision::Vendor>()
                            .map_err(|e| StoreError::Invalid(e.to_string()))
                    })
                    .transpose()?;
                let u = store.user_by_name(&user)?.ok_or(StoreError::NotFound)?;
                // A phone whose vendor nobody knows would be assigned and then answered
                // 404 for every file name it asks for: refuse, naming the fix.
                let known = vendor
                    .or_else(|| ivm_provision::Vendor::from_mac(&mac))
                    .or(store.phone(mac)?.and_then(|p| p.vendor));
                if known.is_none() {
                    let names: Vec<String> = ivm_provision::Vendor::ALL
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    tracing::warn!(mac = %mac, "phone add: MAC prefix names no known vendor");
                    return Err(StoreError::Invalid(format!(
                        "phone {mac}: its MAC prefix is not one the box knows, so it cannot tell \
                         which files the phone will ask for; give --vendor ({})",
                        names.join(", ")
                    )));
                }
                let mut p =
                    store.assign_phone_to(mac, u.guid, vendor, ctx.arm_until(), reassign)?;
                if let Some(pw) = http_password.as_deref() {
                    p = store.set_phone_credential(mac, Some(pw))?;
                }
                AdminResponse::Phone {
                    phone: phone_row(store, &p)?,
                }
            }
            AdminRequest::PhoneArm { mac } => {
                let mac = parse_mac(&mac)?;
                let until = ctx.arm_until().ok_or_else(|| {
                    StoreError::Invalid(
                        "arming is off on this box ([provision] arm_window_s = 0)".into(),
                    )
                })?;
                let p = store.arm_phone(mac, until).map_err(no_phone)?;
                AdminResponse::Phone {
                    phone: phone_row(store, &p)?,
                }
            }
            AdminRequest::PhoneShow { mac } => {
                let mac = parse_mac(&mac)?;
                let p = store
                    .phone(mac)?
                    .ok_or_else(|| StoreError::Invalid("no such phone".into()))?;
                let x = store.phone_secrets(mac)?;
                AdminResponse::PhoneSecrets {
                    phone: phone_row(store, &p)?,
                    admin_password: x.admin_password,
                    provision_user: x.provision_user,
                    provision_password: x.provision_password,
                    provision_url: ctx.provision_url.clone(),
                }
            }
            AdminRequest::PhoneList => AdminResponse::Phones {
                phones: store
                    .phones()?
                    .iter()
                    .map(|p| phone_row(store, p))
                    .collect::<Result<_, _>>()?,
            },
            AdminRequest::PhoneRemove { mac } => {
                store.remove_phone(parse_mac(&mac)?).map_err(no_phone)?;
                AdminResponse::Done
            }
            AdminRequest::UserAllCall { name, allow } => {
                let user = store.user_by_name(&name)?.ok_or(StoreError::NotFound)?;
                let user = store.update_user(
                    user.guid,
                    ivm_store::UserUpdate {
                        may_all_call: Some(allow),
                        ..Default::default()
                    },
                )?;
                AdminResponse::User {
                    user: row(&user),
                    password: None,
                }
            }
            AdminRequest::UserGlobal { name, on } => {
                let user = store.user_by_name(&name)?.ok_or(StoreError::NotFound)?;
                let user = store.set_global(user.guid, on)?;
                AdminResponse::User {
                    user: row(&user),
                    password: None,
                }
            }
            AdminRequest::GroupAdd { name, members } => AdminResponse::Group {
                group: CreateGroup { name, members }.run(store)?,
            },
            AdminRequest::GroupList => AdminResponse::Groups {
                groups: AllGroups.run(store)?,
            },
            AdminRequest::GroupMembers { name, add, remove } => AdminResponse::Group {
                group: ChangeGroup {
                    name,
                    set: None,
                    add,
                    remove,
                }
                .run(store)?,
            },
            AdminRequest::GroupRemove { name } => {
                DeleteGroup { name }.run(store)?;
                AdminResponse::Done
            }
            AdminRequest::UserRemove { name } => {
                let user = store.user_by_name(&name)?.ok_or(StoreError::NotFound)?;
                store.delete_user(user.guid)?;
                AdminResponse::Done
            }
            AdminRequest::GatewayAdd {
                name,
                protocol,
                address,
                endpoints,
            } => {
                let protocol = ivm_store::GatewayProtocol::parse(&protocol)?;
                let g = store.add_gateway(
                    &name,
                    protocol,
                    ivm_store::parse_gateway_address_for(&address, protocol)?,
                    ivm_store::parse_endpoint_range(&endpoints)?,
                )?;
                AdminResponse::Gateways {
                    gateways: vec![gateway_row(store, &g)?],
                }
            }
            AdminRequest::GatewayList => AdminResponse::Gateways {
                gateways: store
                    .gateways()?
                    .iter()
                    .map(|g| gateway_row(store, g))
                    .collect::<Result<_, _>>()?,
            },
            AdminRequest::GatewayRemove { name } => {
                store.remove_gateway(&name)?;
                AdminResponse::Done
            }
            AdminRequest::LineAssign {
                gateway,
                endpoint,
                user,
            } => {
                let user = match user {
                    Some(n) => Some(
                        store
                            .user_by_name(&n)?
                            .ok_or_else(|| StoreError::Invalid(format!("no user {n:?}")))?
                            .guid,
                    ),
                    None => None,
                };
                let g = store.assign_line(&gateway, &endpoint, user)?;
                AdminResponse::Gateways {
                    gateways: vec![gateway_row(store, &g)?],
                }
            }
            // Answered by the socket itself: they are about the running box, not the store.
            AdminRequest::Hello | AdminRequest::Status => {
                return Err(StoreError::Invalid("the box is not running".into()))
            }
            AdminRequest::TlsShow | AdminRequest::TlsInstall { .. } | AdminRequest::TlsReset => {
                let data = store.data_dir().to_owned();
                let info = match req {
                    AdminRequest::TlsInstall { cert_pem, key_pem } => {
                        crate::tls::installed::install(store, &data, &cert_pem, &key_pem)
                            .map(|(info, _)| info)
                    }
                    AdminRequest::TlsReset => {
                        crate::tls::installed::reset(store, &data, &ctx.names).map(|(i, _)| i)
                    }
                    _ => crate::tls::installed::show(store, &data),
                }
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
                AdminResponse::Tls { info }
            }
        })
    })();
    result.unwrap_or_else(|e| AdminResponse::Error {
        message: match e {
            StoreError::NotFound => "no such user".to_owned(),
            e @ StoreError::PhoneAssigned { .. } => format!("{e}; use --reassign to move it"),
            e @ StoreError::LastAdmin(_) => format!(
                "{e} (`ivmd user add NAME --extension N --admin`); to get back into the box, `ivmd user passwd NAME` makes a new one-time password"
            ),
            other => other.to_string(),
        },
    })
}
