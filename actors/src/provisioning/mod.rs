//! The provisioning front shared by the TFTP service and HTTP `GET /provision/{name}`: one
//! request name, peer address and (over HTTP) credentials in; a generated file, a firmware
//! file or a refusal out.
//!
//! # Layout
//! - [`subnet`]: [`Subnet`], the networks whose hosts may ask for per-phone files at all.
//! - [`credentials`]: HTTP Digest (SHA-256, MD5) and Basic against a phone's credential.
//! - [`sightings`]: what requests saw, in memory, flushed in one commit ([`FlushService`]).
//! - [`leases`]: the box's own DHCP leases by MAC (only the leased address may do an armed
//!   first fetch).
//! - [`firmware`]: plain files from the firmware folder.
//!
//! # A request
//! ```text
//! name -> ivm_provision::resolve(name)
//!   None                  -> firmware::lookup              (anyone; no secrets there)
//!   Some((kind, None))    -> a common file, rendered        (anyone; no secrets, no store)
//!   Some((kind, Some(mac)))
//!     peer outside subnets   -> Forbidden; nothing read, nothing written
//!     locked-out credentials -> TooManyAttempts (per address and MAC, progressive)
//!     database thread: the phone and its secrets -> credentials check
//!                      -> ivm_provision::access::decide (vendor, armed, credential)
//!                      -> bind (the armed first fetch) or "provisioned", committed
//!                         before the file leaves -> render with account and secrets
//!     sightings.note(mac)    (last seen, address: flushed later, never for another
//!                             vendor's file name)
//! ```
//!
//! Every request runs inside a `provision` tracing span with the peer, the name and (when
//! the name carries one) the phone's MAC; a binding is logged at info.
//!
//! Auto-assign ([`ProvisionFront::with_auto_assign`], off by default): when an unassigned
//! phone asks for its account file from inside the provisioning subnets, it gets a new user
//! on the next free extension of the configured range (like Cisco's auto-register), armed,
//! and this very request binds it. A phone outside the subnets, or one asking for a common
//! file or another vendor's file name, never creates a user.

pub mod credentials;
pub mod firmware;
pub mod leases;
pub mod sightings;
pub mod subnet;

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ivm_provision::access::{self, Decision, PhoneView, Refusal, RequestView};
use ivm_provision::front::{DhcpNotes, Fetched, PhoneFiles};
pub use ivm_provision::front::{FetchError, HttpCredentials, Served};
use ivm_provision::{
    Account, Contact, CredentialLimiter, Directory, FileKind, Mac, Proof, Provisioner, RenderError,
    Rendered, Target, Vendor, Via,
};
use ivm_store::{PhoneSighting, StoreError, StoredPhone};
use tracing::Instrument as _;

pub use credentials::{Checker, Presented, REALM};
pub use leases::Leases;
pub use sightings::{FlushService, Sightings};
pub use subnet::{Subnet, LOOPBACK};

use crate::database::{Db, Op};

pub use ivm_provision::render::BOX_CERT;

/// The auto-assign window when `arm_window_s = 0`: the request that makes the phone binds
/// it at once, so a minute is plenty.
const AUTO_ASSIGN_ARM: Duration = Duration::from_secs(60);

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Credentials state: the digest nonces and the failure limiter.
struct Guard {
    checker: Checker,
    limiter: CredentialLimiter,
}

/// Shared by the TFTP and HTTP provisioning front-ends.
pub struct ProvisionFront {
    db: Db,
    provisioner: Arc<Provisioner>,
    realm: String,
    subnets: Vec<Subnet>,
    firmware: PathBuf,
    certificate: Option<PathBuf>,
    auto_assign: Option<RangeInclusive<u32>>,
    arm_window: Option<Duration>,
    sightings: Arc<Sightings>,
    leases: Arc<Leases>,
    guard: Arc<Mutex<Guard>>,
}

impl std::fmt::Debug for ProvisionFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionFront")
            .field("subnets", &self.subnets)
            .field("firmware", &self.firmware)
            .field("auto_assign", &self.auto_assign)
            .field("arm_window", &self.arm_window)
            .finish_non_exhaustive()
    }
}

/// What the database thread decided.
struct Outcome {
    answer: Answer,
    proof: Proof,
    stale: bool,
    note: bool,
}

enum Answer {
    Serve(Rendered),
    WrongVendor,
    Unassigned,
    Refused(Refusal),
    Render(RenderError),
}

impl ProvisionFront {
    /// A front over the database manager; `realm` is the SIP digest realm (for the phones'
    /// accounts), `firmware` the folder plain files are served from (created if missing).
    /// Phones are armed for a day when assigned unless [`Self::with_arm_window`] says
    /// otherwise.
    pub fn new(
        db: impl Into<Db>,
        provisioner: Provisioner,
        realm: String,
        subnets: Vec<Subnet>,
        firmware: PathBuf,
    ) -> Self {
        let _ = std::fs::create_dir_all(&firmware);
        let secret: [u8; 32] = rand::random();
        Self {
            db: db.into(),
            provisioner: Arc::new(provisioner),
            realm,
            subnets,
            firmware,
            certificate: None,
            auto_assign: None,
            arm_window: Some(Duration::from_secs(86_400)),
            sightings: Arc::new(Sightings::default()),
            leases: Arc::new(Leases::new()),
            guard: Arc::new(Mutex::new(Guard {
                checker: Checker::new(secret, Instant::now()),
                limiter: CredentialLimiter::default(),
            })),
        }
    }

    /// Turns auto-assign on: unknown phones asking for their account file get a new user on
    /// the next free extension in `range`.
    pub fn with_auto_assign(mut self, range: Option<RangeInclusive<u32>>) -> Self {
        self.auto_assign = range;
        self
    }

    /// How long an assigned or re-armed phone stays armed; `None`: never (credentials only).
    pub fn with_arm_window(mut self, window: Option<Duration>) -> Self {
        self.arm_window = window;
        self
    }

    /// Serves the box's certificate (`path`, `tls/cert.pem`) as [`BOX_CERT`], for phones told
    /// to import it before their fetches move to HTTPS (`[provision] https`).
    pub fn with_certificate(mut self, path: Option<PathBuf>) -> Self {
        self.certificate = path;
        self
    }

    /// Notes sightings into `sightings` (shared with the DHCP server and the flusher).
    pub fn with_sightings(mut self, sightings: Arc<Sightings>) -> Self {
        self.sightings = sightings;
        self
    }

    /// Reads the box's DHCP leases from `leases` (written by the DHCP server).
    pub fn with_leases(mut self, leases: Arc<Leases>) -> Self {
        self.leases = leases;
        self
    }

    /// The pending sightings (flush them before listing phones).
    pub fn sightings(&self) -> &Arc<Sightings> {
        &self.sightings
    }

    /// The DHCP lease book.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// How long a phone stays armed; `None` when arming is off.
    pub fn arm_window(&self) -> Option<Duration> {
        self.arm_window
    }

    /// Until when a phone assigned or armed now stays armed; `None` when arming is off.
    pub fn arm_until(&self) -> Option<SystemTime> {
        self.arm_window.map(|w| SystemTime::now() + w)
    }

    /// Whether `peer` may ask for per-phone files.
    pub fn trusted(&self, peer: IpAddr) -> bool {
        self.subnets.iter().any(|s| s.contains(peer))
    }

    /// The URL phones fetch their files from (`http://box:port/provision/`).
    pub fn provision_url(&self) -> &str {
        &self.provisioner.settings.provision_url
    }

    /// The provisioning subnets.
    pub fn subnets(&self) -> &[Subnet] {
        &self.subnets
    }

    /// Answers a request for `name` from `peer` over `via`; `http` carries the HTTP
    /// request's credentials (TFTP has none).
    pub async fn fetch(
        &self,
        name: &str,
        peer: IpAddr,
        via: Via,
        http: Option<HttpCredentials>,
    ) -> Result<Served, FetchError> {
        let resolved = ivm_provision::resolve(name);
        let mac = resolved.as_ref().and_then(|(_, m)| *m);
        let span = tracing::info_span!(
            "provision",
            via = via.as_str(),
            %peer,
            name = %name.escape_debug(),
            mac = mac.map(|m| m.to_string()).unwrap_or_default()
        );
        async move {
            let r = match resolved {
                Some((kind, Some(mac))) => self.per_phone(kind, mac, peer, via, http).await,
                Some((kind, None)) => self.common(&kind),
                None if name.trim_start_matches("/provision/") == BOX_CERT => self
                    .certificate
                    .as_ref()
                    .and_then(|p| Some((p.clone(), std::fs::metadata(p).ok()?.len())))
                    .map(|(p, n)| Served::File(p, n))
                    .ok_or(FetchError::NotFound),
                None => firmware::lookup(&self.firmware, name)
                    .map(|(p, n)| Served::File(p, n))
                    .ok_or(FetchError::NotFound),
            };
            match &r {
                Ok(Served::Generated(g)) => {
                    tracing::info!(bytes = g.body.len(), secret = g.secret, "served")
                }
                Ok(Served::File(_, size)) => tracing::info!(bytes = size, "served firmware"),
                Err(e) => tracing::info!(error = %e, "refused"),
            }
            r
        }
        .instrument(span)
        .await
    }

    /// A file without a MAC: no secrets in it, nothing to look up.
    fn common(&self, kind: &FileKind) -> Result<Served, FetchError> {
        let target = Target {
            mac: None,
            vendor: kind.vendor(),
            model: None,
            account: None,
            secrets: None,
            firmware: None,
        };
        match self.provisioner.render(kind, target) {
            Ok(r) => Ok(Served::Generated(r)),
            Err(RenderError::NoMac(_) | RenderError::WrongVendor { .. }) => {
                Err(FetchError::NotFound)
            }
            Err(e) => Err(FetchError::Internal(e.to_string())),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn per_phone(
        &self,
        kind: FileKind,
        mac: Mac,
        peer: IpAddr,
        via: Via,
        http: Option<HttpCredentials>,
    ) -> Result<Served, FetchError> {
        if !self.trusted(peer) {
            return Err(FetchError::Forbidden);
        }
        let http = http.filter(|_| via == Via::Http).unwrap_or_default();
        let presented = Presented::parse(http.authorization.as_deref());
        if presented.is_some() {
            if let Err(retry_after) = self.guard().limiter.check(peer, mac, Instant::now()) {
                return Err(FetchError::TooManyAttempts { retry_after });
            }
        }
        let now = SystemTime::now();
        let lease = self.leases.get(mac, unix(now));
        let auto_assign = self.auto_assign.clone().map(|r| {
            (
                r,
                now + self
                    .arm_window
                    .unwrap_or(AUTO_ASSIGN_ARM)
                    .max(AUTO_ASSIGN_ARM),
            )
        });
        let out = self
            .db
            .call(Decide {
                kind: kind.clone(),
                mac,
                peer,
                via,
                presented,
                path: http.path,
                lease,
                auto_assign,
                provisioner: Arc::clone(&self.provisioner),
                guard: Arc::clone(&self.guard),
                realm: self.realm.clone(),
                firmware: self.firmware.clone(),
                now,
            })
            .await
            .map_err(|e| FetchError::Internal(e.to_string()))?;
        {
            let mut g = self.guard();
            match out.proof {
                Proof::Good => g.limiter.success(peer, mac),
                Proof::Bad => {
                    if let Some(lock) = g.limiter.failure(peer, mac, Instant::now()) {
                        tracing::warn!(lockout = ?lock, "wrong provisioning credentials: this address waits before its next try for this phone");
                    }
                }
                Proof::None => {}
            }
        }
        if out.note {
            self.sightings.note(
                mac,
                PhoneSighting {
                    vendor: kind.vendor(),
                    address: Some(peer),
                    ..Default::default()
                },
            );
        }
        match out.answer {
            Answer::Serve(r) => Ok(Served::Generated(r)),
            Answer::WrongVendor => Err(FetchError::NotFound),
            Answer::Unassigned => Err(FetchError::Unassigned),
            Answer::Refused(Refusal::NotLeaseHolder) => Err(FetchError::Forbidden),
            Answer::Refused(Refusal::NeedCredential | Refusal::BadCredential) => {
                let challenges = self
                    .guard()
                    .checker
                    .challenges(Instant::now(), out.stale, peer);
                Err(FetchError::Unauthorized { challenges })
            }
            Answer::Render(RenderError::Unassigned(_)) => Err(FetchError::Unassigned),
            Answer::Render(RenderError::WrongVendor { .. } | RenderError::NoMac(_)) => {
                Err(FetchError::NotFound)
            }
            Answer::Render(e) => Err(FetchError::Internal(e.to_string())),
        }
    }
}

/// TFTP and HTTP reach the front through this port ([`ProvisionFront::fetch`]).
impl PhoneFiles for ProvisionFront {
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        peer: IpAddr,
        via: Via,
        http: Option<HttpCredentials>,
    ) -> Fetched<'a> {
        Box::pin(ProvisionFront::fetch(self, name, peer, via, http))
    }
}

/// The DHCP server notes the phones it sees (flushed with the other sightings) and keeps the
/// lease book the armed first fetch is checked against.
impl DhcpNotes for ProvisionFront {
    fn phone_seen(&self, mac: Mac, vendor: Vendor, model: Option<String>) {
        self.sightings.note(
            mac,
            PhoneSighting {
                vendor: Some(vendor),
                model,
                ..Default::default()
            },
        );
    }

    fn lease_bound(&self, mac: Mac, ip: IpAddr, expires: u64) {
        self.leases.bound(mac, ip, expires);
    }

    fn lease_ended(&self, mac: Mac) {
        self.leases.ended(mac);
    }
}

/// The database thread's part of a per-phone request (see the module doc): one trip reads
/// the phone and its secrets, checks the credentials, decides, binds or marks it provisioned,
/// and renders the file.
struct Decide {
    kind: FileKind,
    mac: Mac,
    peer: IpAddr,
    via: Via,
    presented: Presented,
    path: String,
    lease: Option<IpAddr>,
    auto_assign: Option<(RangeInclusive<u32>, SystemTime)>,
    provisioner: Arc<Provisioner>,
    guard: Arc<Mutex<Guard>>,
    realm: String,
    firmware: PathBuf,
    now: SystemTime,
}

impl Op for Decide {
    type Output = Outcome;
    fn run(self, s: &ivm_store::Store) -> Result<Outcome, StoreError> {
        let Decide {
            kind,
            mac,
            peer,
            via,
            presented,
            path,
            lease,
            auto_assign,
            provisioner,
            guard,
            realm,
            firmware,
            now,
        } = self;
        let (kind, presented, path) = (&kind, &presented, path.as_str());
        let (provisioner, guard, realm) = (&*provisioner, &*guard, realm.as_str());
        let done = |answer, proof, stale| Outcome {
            answer,
            proof,
            stale,
            note: true,
        };
        let mut phone = s.phone(mac)?;
        let vendor = phone
            .as_ref()
            .and_then(|p| p.vendor)
            .or_else(|| Vendor::from_mac(&mac));
        if !access::vendor_matches(kind, vendor) {
            // Another vendor's name for this phone: no secrets, no change, not even "seen".
            return Ok(Outcome {
                answer: Answer::WrongVendor,
                proof: Proof::None,
                stale: false,
                note: false,
            });
        }
        let secret = access::carries_secrets(kind, vendor);
        // The directory is served like the account file but is not it: it never makes a
        // user, binds a phone or marks it provisioned.
        let account_file = secret && *kind != FileKind::Directory;
        let unassigned = phone.as_ref().is_none_or(|p| p.user.is_none());
        if unassigned && account_file {
            if let Some((range, until)) = auto_assign {
                if let Some(p) = s.auto_assign_phone(mac, range, Some(until))? {
                    phone = Some(p);
                }
            }
        }
        let credential = match presented {
            Presented::Nothing => None,
            _ => s.stored_phone_secrets(mac)?.map(|x| x.provision_password),
        };
        let checked = guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .checker
            .check(Instant::now(), presented, path, credential.as_deref(), peer);
        let view = PhoneView {
            assigned: phone.as_ref().is_some_and(|p| p.user.is_some()),
            vendor,
            armed: phone.as_ref().is_some_and(|p| p.armed(unix(now))),
            bound: phone.as_ref().and_then(|p| p.bound_address),
        };
        let req = RequestView {
            kind,
            peer,
            via,
            proof: checked.proof,
            lease,
        };
        let bind = match access::decide(&view, &req) {
            Decision::Serve { bind } => bind,
            Decision::WrongVendor => return Ok(done(Answer::WrongVendor, checked.proof, false)),
            Decision::Unassigned => return Ok(done(Answer::Unassigned, checked.proof, false)),
            Decision::Refuse(r) => {
                return Ok(done(Answer::Refused(r), checked.proof, checked.stale))
            }
        };
        if bind {
            match s.bind_phone(mac, peer, kind.vendor(), now)? {
                Some(p) => {
                    tracing::info!(mac = %mac, address = %peer, via = via.as_str(), "phone bound: its first fetch got its account file; later fetches need its credential");
                    phone = Some(p);
                }
                // Another request won the race, or the window closed meanwhile.
                None => {
                    return Ok(done(
                        Answer::Refused(Refusal::NeedCredential),
                        checked.proof,
                        false,
                    ))
                }
            }
        } else if account_file {
            if let Some(p) = s.phone_provisioned(mac, kind.vendor())? {
                phone = Some(p);
            }
        }
        let rendered = render(
            s,
            provisioner,
            realm,
            &firmware,
            kind,
            mac,
            phone.as_ref(),
            secret,
        )?;
        Ok(done(
            match rendered {
                Ok(r) => Answer::Serve(r),
                Err(e) => Answer::Render(e),
            },
            checked.proof,
            false,
        ))
    }
}

/// Renders `kind` for the phone, with its account and secrets when the file carries them.
#[allow(clippy::too_many_arguments)]
fn render(
    s: &ivm_store::Store,
    provisioner: &Provisioner,
    realm: &str,
    firmware_root: &std::path::Path,
    kind: &FileKind,
    mac: Mac,
    phone: Option<&StoredPhone>,
    secret: bool,
) -> Result<Result<Rendered, RenderError>, StoreError> {
    let mut account = None;
    let mut secrets = None;
    if secret {
        if let Some(g) = phone.and_then(|p| p.user) {
            if let Some(u) = s.user(g)? {
                let c = s.sip_credentials(g, realm)?;
                let directory = directory(s, &u)?;
                account = Some(Account {
                    user: c.username.clone(),
                    auth_user: c.username,
                    password: c.password,
                    display_name: u.display_name,
                    directory,
                });
                secrets = Some(s.phone_secrets(mac)?);
            }
        }
    }
    let vendor = phone.and_then(|p| p.vendor).or(kind.vendor());
    let model = phone.and_then(|p| p.model.as_deref());
    // A read of one small folder, on the database thread like the rest of the request.
    let fw = vendor
        .zip(model)
        .and_then(|(v, m)| firmware::for_model(firmware_root, &v.to_string(), m));
    Ok(provisioner.render(
        kind,
        Target {
            mac: Some(mac),
            vendor,
            model,
            account: account.as_ref(),
            secrets: secrets.as_ref(),
            firmware: fw.as_deref(),
        },
    ))
}

/// The user's list as of now: their contacts in their order, then the office's other users
/// by extension. Read on every fetch, so the phones follow user changes by themselves.
fn directory(s: &ivm_store::Store, u: &ivm_store::User) -> Result<Directory, StoreError> {
    let entry = |o: &ivm_store::User| Contact {
        name: o.display_name.clone(),
        extension: o.extension.clone(),
    };
    let mut contacts = Vec::with_capacity(u.contacts.len());
    for g in &u.contacts {
        if let Some(o) = s.user(*g)? {
            contacts.push(entry(&o));
        }
    }
    let mut others: Vec<ivm_store::User> = s
        .users()?
        .into_iter()
        .filter(|o| o.guid != u.guid && !u.contacts.contains(&o.guid))
        .collect();
    others.sort_by(|a, b| a.extension.cmp(&b.extension));
    Ok(Directory {
        contacts,
        others: others.iter().map(entry).collect(),
    })
}
