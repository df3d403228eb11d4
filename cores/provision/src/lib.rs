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
//! - [`Mac`] (every common spelling parsed into one canonical form), [`Vendor`] (from DHCP
//!   option 60 or the MAC's OUI prefix) and [`PhoneSecrets`] are the phone nouns of
//!   `ivm_wire::phone`, re-exported: the store keeps them without depending on this crate.
//! - [`ident`]: [`Identity`] (vendor, model, firmware) from a SIP `User-Agent` or option 60.
//! - [`files`]: [`FileKind`] and [`resolve`], the closed list of file names served.
//! - [`directory`]: the list on the phone: [`Directory`] as each brand's phonebook XML
//!   (`<mac>-directory.xml`) and the contact (BLF) keys of the per-phone files.
//! - [`template`]: `{{name}}` substitution with XML or INI escaping.
//! - [`tz`]: [`Zone`], the configured IANA time zone in each vendor's spelling.
//! - [`render`]: [`Provisioner`], [`Templates`] (built in from `templates/`, overridable
//!   from a folder), [`Settings`] and [`Account`].
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
pub mod directory;
pub mod files;
pub mod front;
pub mod ident;
pub mod limiter;
pub mod render;
pub mod template;
pub mod tz;

pub use access::{Decision, PhoneView, Proof, Refusal, RequestView, Via};
pub use directory::{Contact, Directory};
pub use files::{resolve, FileKind};
pub use front::{DhcpNotes, FetchError, Fetched, HttpCredentials, PhoneFiles, Served};
pub use ident::Identity;
pub use ivm_wire::phone::{Mac, MacError, PhoneSecrets, Vendor, VendorError};
pub use limiter::CredentialLimiter;
pub use render::{Account, Provisioner, RenderError, Rendered, Settings, Target, Templates};
pub use template::{Escape, TemplateError};
pub use tz::{Zone, ZoneError};
