//! The ports the box's socket servers reach the provisioning front through: [`PhoneFiles`]
//! (a file request in, a file or a refusal out: TFTP and HTTP `/provision/...`) and
//! [`DhcpNotes`] (what the DHCP server learns about phones and leases).
//!
//! Why here: the front that implements them (`ivm_actors::provisioning::ProvisionFront`)
//! needs the store and the database manager; the TFTP and DHCP servers need only these
//! contracts. Defined in this pure crate, below both, a socket server depends on it and not
//! on every actor.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use crate::{Mac, Rendered, Vendor, Via};

/// What a request is answered with.
#[derive(Debug)]
pub enum Served {
    /// A generated config file.
    Generated(Rendered),
    /// A file from the firmware folder (its canonical path and size).
    File(PathBuf, u64),
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a name the box serves (a traversal attempt, another vendor's file name for a
    /// known phone, a file of a phone of unknown vendor).
    #[error("file not found")]
    NotFound,
    /// A per-phone file asked from outside the provisioning subnets, or an armed first
    /// fetch from another address than the box's DHCP lease for that MAC.
    #[error("access violation")]
    Forbidden,
    /// The phone's credential is needed (HTTP: 401 with these `WWW-Authenticate` values;
    /// TFTP, which cannot authenticate: access violation).
    #[error("credentials required")]
    Unauthorized {
        /// `WWW-Authenticate` values.
        challenges: Vec<String>,
    },
    /// Too many wrong credentials from this address for this phone.
    #[error("too many failed attempts; retry after {retry_after:?}")]
    TooManyAttempts {
        /// When this address may try again.
        retry_after: Duration,
    },
    /// The per-phone file of a phone that is not assigned to anyone.
    #[error("phone not assigned")]
    Unassigned,
    /// The database or a template failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What an HTTP request brings besides its name.
#[derive(Debug, Clone, Default)]
pub struct HttpCredentials {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The request's path (`/provision/<name>`), which a digest must cover.
    pub path: String,
}

/// The answer to [`PhoneFiles::fetch`], in time.
pub type Fetched<'a> = Pin<Box<dyn Future<Output = Result<Served, FetchError>> + Send + 'a>>;

/// Answers file requests from phones.
pub trait PhoneFiles: Send + Sync + 'static {
    /// Answers a request for `name` from `peer` over `via`; `http` carries the HTTP
    /// request's credentials (TFTP has none).
    fn fetch<'a>(
        &'a self,
        name: &'a str,
        peer: IpAddr,
        via: Via,
        http: Option<HttpCredentials>,
    ) -> Fetched<'a>;
}

/// What the DHCP server tells the provisioning front: the phones it sees (for the phone
/// registry) and its leases (only the leased address may make a phone's armed first fetch).
pub trait DhcpNotes: Send + Sync + 'static {
    /// A phone asked for an address (its vendor from option 60 or the MAC, a model when the
    /// vendor class names one).
    fn phone_seen(&self, mac: Mac, vendor: Vendor, model: Option<String>);
    /// `mac` holds `ip` until `expires` (Unix seconds).
    fn lease_bound(&self, mac: Mac, ip: IpAddr, expires: u64);
    /// `mac`'s lease ended (released or declined).
    fn lease_ended(&self, mac: Mac);
}
