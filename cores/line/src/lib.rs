//! The line core: one sans-IO state machine per phone line, for every kind of phone.
//!
//! A line is a phone's side of a call with the box: a SIP desk phone's call leg today, an
//! analog phone's endpoint behind an MGCP or MEGACO gateway next. The keypad services live
//! here once: the dial plan, `*7` (record a message), `*97` (the mailbox menu), ring-my-phone,
//! intercom (`*8` to speak live, and a phone auto-answering to hear a live talk), and calls between extensions (the B2BUA's logic: ring the callee's line, ringback, bridge
//! on answer, busy, no answer, cancel). Signalling, media sessions and the store are the
//! adapters' business (the station actor for SIP). Why this shape, and what it replaced:
//! `docs/decisions/0005-line-core.md`.
//!
//! No actix, no tokio, no I/O, and no clock: time comes in as `now` with every input, so the
//! tests run every keypad path on a virtual clock (`src/tests/`).
//!
//! # Layout
//! - [`Exchange`] (`exchange.rs`): the one public face. Owns the lines, decides busy, makes
//!   the callee's line for a caller and carries what the two lines of a call tell each other.
//! - [`Input`], [`Party`], [`RingFailure`], ... (`input.rs`): what adapters feed in.
//! - [`Action`], [`Reason`], [`Sound`], [`RingMeError`] (`action.rs`): what comes out.
//! - [`dialplan`]: what a dial string asks for.
//! - `line/`: one line and its services, each an enum whose variants carry exactly their
//!   state: `record.rs` (`*7`), `take.rs` (one recorded message, shared by `*7`, ring-me and
//!   the mailbox's reply), `mailbox.rs` (`*97`), `call.rs` (caller and callee),
//!   `ring_me.rs`, `listen.rs` (a phone hearing a live talk), `speak.rs` (`*8`, a phone
//!   speaking one); `mod.rs` dispatches and draws the whole state diagram.
//!
//! # Driver loop (in an adapter)
//! ```
//! # use std::time::{Duration, Instant};
//! # use ivm_line::{Action, Config, Exchange, Input, Party, Recipients};
//! let mut exchange = Exchange::new(Config::default());
//! let now = Instant::now(); // the adapter reads the clock, never the core
//! // An authenticated INVITE for *7202 arrived: a line for the calling phone.
//! let ann = Party { user: ivm_wire::Guid::from_u128(201), ext: "201".into() };
//! let line = exchange.open(ann, "*7202");
//! exchange.handle(now, line, Input::Dialled("*7202".into()));
//! while let Some((line, action)) = exchange.poll_action() {
//!     match action {
//!         // Look the recipients up (a store query), and answer later with an input:
//!         Action::CheckRecipients(_) => {
//!             exchange.handle(now, line, Input::RecipientsChecked(Ok(Recipients::Known)))
//!         }
//!         // Answer (SIP: 200 + SDP), play, post, release, ...
//!         _ => {}
//!     }
//! }
//! // Then feed media (Digit, Audio, PlaybackDone) and signalling (HungUp, ...) as they come,
//! // and run the ring timers:
//! if exchange.poll_timeout().is_some_and(|t| t <= now) {
//!     exchange.handle_timeout(now);
//! }
//! ```
//! Two rules for adapters: answer [`Action::FlushAudio`] at once (the held frames as
//! [`Input::Audio`], then [`Input::AudioFlushed`]), and treat [`Action::Release`] as the
//! line's end (the id is not used again).

#![deny(missing_docs)]

mod action;
mod activity;
pub mod dialplan;
mod exchange;
mod forward;
mod input;
mod line;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use action::{Action, Origin, Reason, RingMeError, SettingChange, Sound};
pub use activity::{Activity, Direction, Phase};
pub use exchange::Exchange;
pub use forward::{Extension, Forwarding, MAX_HOPS};
pub use input::{
    Failure, Input, LineId, MailboxItem, Party, PostOutcome, Recipients, RingFailure, TalkRefused,
};

/// The settings of the keypad services (`[sip]` in the box's config today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A recording stops after this much silence.
    pub silence_timeout: Duration,
    /// Longest recording.
    pub max_recording: Duration,
    /// How long a phone rings before the box gives up (calls, ring-my-phone).
    pub ring_timeout: Duration,
    /// How long a phone called to hear a live talk has to answer by itself: one that takes
    /// longer is not auto-answering, and its user gets the stored copy instead.
    pub intercom_answer: Duration,
}

impl Default for Config {
    /// The box's embedded defaults: 5 s of silence, 300 s per message, 30 s of ringing, 5 s
    /// for an intercom call to be answered by the phone.
    fn default() -> Self {
        Config {
            silence_timeout: Duration::from_secs(5),
            max_recording: Duration::from_secs(300),
            ring_timeout: Duration::from_secs(30),
            intercom_answer: Duration::from_secs(5),
        }
    }
}
