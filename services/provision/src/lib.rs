//! Zero-touch phone provisioning, as pure code: no sockets, no files except the optional
//! template override folder read once at start-up.
//!
//! The DHCP server (`ivm-dhcp`) uses [`Mac`] and [`Vendor`] to recognise phones; the TFTP
//! handler and the HTTP `/provision/...` routes call [`resolve`] on the requested name, look
//! the phone up in the store, ask [`access::decide`] whether this request may have it, and
//! serve [`Provisioner::render`]'s output.
//!
//! # Layout
//! - [`access`]: who may have a per-phone file ([`access::decide`]): the vendor check, the
//!   armed first fetch that binds a phone, its credential afterwards.
//! - [`limiter`]: [`CredentialLimiter`], wrong credentials per (address, MAC) with a
//!   progressive delay.
//! - [`mac`]: [`Mac`], parsing every common spelling into one canonical form.
//! - [`vendor`]: [`Vendor`] from DHCP option 60 or the MAC's OUI prefix.
//! - [`ident`]: [`Identity`] (vendor, model, firmware) from a SIP `User-Agent` or option 60.
//! - [`phone`]: the registry model ([`Phone`], [`PhoneState`], [`Registry`]).
//! - [`files`]: [`FileKind`] and [`resolve`], the closed list of file names served.
//! - [`template`]: `{{name}}` substitution with XML or INI escaping.
//! - [`render`]: [`Provisioner`], [`Templates`] (built in from `templates/`, overridable
//!   from a folder), [`Settings`], [`Account`] and [`PhoneSecrets`].
//! - [`front`]: the ports the socket servers reach the provisioning front through:
//!   [`PhoneFiles`] (TFTP, HTTP) and [`DhcpNotes`] (the DHCP server).
//!
//! # Serving a request
//! ```text
//! name -> resolve(name)? -> (kind, mac)
//!      -> access::decide(phone, request)   (vendor, arming, credential)
//!      -> provisioner.render(&kind, Target { mac, vendor, model, account, secrets })
//! ```

pub mod access;
pub mod files;
pub mod front;
pub mod ident;
pub mod limiter;
pub mod mac;
pub mod phone;
pub mod render;
pub mod template;
pub mod vendor;

pub use access::{Decision, PhoneView, Proof, Refusal, RequestView, Via};
pub use files::{resolve, FileKind};
pub use front::{DhcpNotes, FetchError, Fetched, HttpCredentials, PhoneFiles, Served};
pub use ident::Identity;
pub use limiter::CredentialLimiter;
pub use mac::{Mac, MacError};
pub use phone::{Phone, PhoneState, Registry, RegistryError, Sighting};
pub use render::{
    Account, PhoneSecrets, Provisioner, RenderError, Rendered, Settings, Target, Templates,
};
pub use template::{Escape, TemplateError};
pub use vendor::{Vendor, VendorError};
