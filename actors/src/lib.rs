//! The box's actors: each owns its state and is touched only through its messages.
//!
//! # Layout
//! - [`engine`]: the server engine (the seed's part for start-up and shutdown): starts the
//!   database and client actors, then the network services, and stops them in reverse order
//!   on shutdown.
//! - [`database`]: the database manager (the seed's keeper of the users' database): a
//!   [`actix::SyncArbiter`] pool over [`ivm_store::Store`], so every blocking redb commit and
//!   fsync runs off the async threads.
//! - [`client`]: the client manager (the seed's part that controls clients): connected
//!   sessions and their connection objects (socket, bytes queued, priority), presence, pings
//!   (is the client awake), store-and-forward delivery (a recipient not connected gets the
//!   message when it connects) and receipts.
//! - [`provisioning`]: the front shared by TFTP and HTTP `/provision/...`: resolve a name,
//!   decide who may have a per-phone file (armed first fetch, then the phone's credential),
//!   render it with its user's SIP account and the phone's own secrets, or serve firmware;
//!   sightings in memory, flushed in batches.
//! - [`views`]: turns stored records into the wire's [`ivm_wire::rest::MessageInfo`].
//! - [`codec`]: codec work (encode, decode, resample) on the blocking pool, a few jobs per
//!   core at a time, so a burst of recordings or uploads cannot hold hundreds of decoded
//!   messages (and threads) at once.
//!
//! - [`station`]: the station manager (the seed's part that keeps each phone in step with the
//!   clients and the server): desk phones' registrations, dialogs, media and message-waiting
//!   lamps over the `ivm-sip` and `ivm-rtp` cores; the SIP adapter around the
//!   line core (`ivm-line`), which holds the keypad services and calls. It posts voice
//!   messages as [`client::PostPrepared`] (the recorder's audio as made), through the same
//!   checks and commit as browsers and `ivm`.
//!
//! - [`media`]: what every phone adapter uses for RTP: a leg's socket ([`media::MediaPort`]),
//!   the factory that opens them ([`media::MediaSockets`]) and the datagrams they deliver
//!   ([`media::RtpIn`]).
//! - [`budget`]: the byte budgets that keep SIP and RTP from crowding each other out of an
//!   actor's mailbox ([`budget::Budget`], [`budget::Permit`]).
//!
//! - [`display`]: the display manager (the seed's LCD panel manager): the front panel's
//!   menus (`ivm-lcd`) driven by keys and a status snapshot; what they change sits behind
//!   [`display::Installer`].
//!
//! The gateway (MGCP) actor joins later beside these.

pub mod budget;
pub mod client;
pub mod codec;
pub mod database;
pub mod display;
pub mod engine;
pub mod gateway;
pub mod media;
pub mod provisioning;
pub mod station;
pub mod views;
