//! Zero-touch phone provisioning, as pure code: no sockets, no files except the optional
//! template override folder read once at start-up.
//!
//! The DHCP server (`ivm-dhcp`) uses [`Mac`] and [`Vendor`] to recognise phones; the TFTP
//! handler and the HTTP `/provision/...` routes call [`resolve`] on the requested name, look
//! the phone up in the [`Registry`], and serve [`Provisioner::render`]'s output.
//!
//! # Layout
//! - [`mac`]: [`Mac`], parsing every common spelling into one canonical form.
//! - [`vendor`]: [`Vendor`] from DHCP option 60 or the MAC's OUI prefix.
//! - [`ident`]: [`Identity`] (vendor, model, firmware) from a SIP `User-Agent` or option 60.
//! - [`phone`]: the registry model ([`Phone`], [`PhoneState`], [`Registry`]).
//! - [`files`]: [`FileKind`] and [`resolve`], the closed list of file names served.
//! - [`template`]: `{{name}}` substitution with XML or INI escaping.
//! - [`render`]: [`Provisioner`], [`Templates`] (built in from `templates/`, overridable
//!   from a folder), [`Settings`] and [`Account`].
//!
//! # Serving a request
//! ```text
//! name -> resolve(name)? -> (kind, mac)
//!      -> registry.seen(mac, ..) ; account = accounts[phone.user]
//!      -> provisioner.render(&kind, Target { mac, vendor, model, account })
//!      -> if rendered.secret, only to that phone (subnet / per-phone credentials)
//! ```

pub mod files;
pub mod ident;
pub mod mac;
pub mod phone;
pub mod render;
pub mod template;
pub mod vendor;

pub use files::{resolve, FileKind};
pub use ident::Identity;
pub use mac::{Mac, MacError};
pub use phone::{Phone, PhoneState, Registry, RegistryError, Sighting};
pub use render::{Account, Provisioner, RenderError, Rendered, Settings, Target, Templates};
pub use template::{Escape, TemplateError};
pub use vendor::{Vendor, VendorError};
