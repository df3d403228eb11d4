//! The appliance: the `ivmd` binary's configuration, boot and administration commands.
//!
//! # Layout
//! - [`config`]: the one TOML config file and its embedded defaults.
//! - [`run`]: `ivmd run`: the data folder's lock (waiting for a box that is stopping),
//!   first-start secrets, the engine, signals, ordered shutdown.
//! - [`first_start`]: an administrator at every start that finds none, and where its
//!   one-time password goes (a 0600 file and the front panel, the terminal only if there is
//!   one: never the journal).
//! - [`tls`]: the key and self-signed certificate made on first start, sealed together at
//!   rest; reissued for the same key when the box gains an address.
//! - [`admin`]: `ivmd user ...`, `ivmd phone ...`, `ivmd status`: the requests, the admin
//!   socket that serves them in the running box, or their application to a stopped box's
//!   data folder.
//! - [`locate`]: which box an admin command works on (`--data`, the running box's
//!   well-known socket, the installed config, `./ivm-data`); never a new data folder.
//! - [`runtime_dir`]: the well-known place where the running box publishes its socket.
//! - [`dhcp`]: the DHCP server's life cycle (boot, and on/off/range from the panel).
//! - [`panel`]: what the front panel reads and changes ([`panel::BoxControl`]), restarts and
//!   factory reset.
//! - [`display`]: boot-time wiring of the network backend, the panel task and display actor.
//! - [`bundle`]: update bundles (a whole system, Ed25519-signed): the format and its
//!   verification.
//! - [`update`]: `ivmd update`: a verified bundle handed to the privileged installer.
//! - [`cli`]: the command line, and how admin answers, `ivmd status` and `ivmd config` print.
//!
//! `ivm`, the command-line client, lives in the `ivm-client` crate; its `main` is here only as
//! a binary so both programs ship from one place.

pub mod admin;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod display;
pub mod first_start;
pub mod locate;
pub mod panel;
pub mod run;
pub mod runtime_dir;
pub mod tls;
pub mod update;
