//! The intercom stream core (issue 13): a live talk's "voice message portions" (one Opus
//! packet each) checked, forwarded in order at most once, and appended to an Ogg Opus copy
//! that is stored as an ordinary message when the talk ends, so nothing said is lost.
//!
//! Sans-IO: no sockets, no clock, no async. The driver (the actor that owns the talks) passes
//! `now` and the authenticated sender with every input, sends the [`Event::Forward`]s to the
//! live listeners, appends each [`Event::Pages`] to the talk's journal on disk (so a crash
//! keeps what arrived, up to [`PAGE_MS`] and one portion), commits the [`Event::Ended`]'s
//! stored copy, and calls [`Talks::timeout`] at
//! [`Talks::poll_timeout`]. Building the Ogg stream is byte copying, no codec work, so it is
//! cheap enough for an actor handler; committing the file is not (SyncArbiter).
//!
//! The wire format of portions and of the talk control actions is `ivm_wire::talk`; the
//! choices are recorded in `docs/decisions/0007-intercom-stream.md`.
//!
//! # Layout
//! - `talk.rs`: [`Talk`], one stream: the order, size, pace and length rules, the stored copy.
//! - `table.rs`: [`Talks`], every live talk by stream id: ids, the ownership check, limits.
//! - `error.rs`: [`TalkError`].
//!
//! # Run loop
//! ```
//! # use std::time::Instant;
//! # use ivm_talk::{Event, Talks};
//! # use ivm_wire::talk::Portion;
//! # let (ann, bob) = (ivm_wire::Guid::from_u128(1), ivm_wire::Guid::from_u128(2));
//! let mut talks = Talks::new();
//! let stream = talks.start(Instant::now(), ann, vec![bob], 20).expect("start");
//! // A binary frame arrives on Ann's socket:
//! # let frame = Portion { stream, seq: 0, last: true, opus: vec![0xf8, 0xff, 0xfe] }.encode().unwrap();
//! if let Ok(p) = Portion::decode(&frame) {
//!     let _ = talks.portion(Instant::now(), ann, p); // an Err goes back to Ann as an error
//! }
//! while let Some(ev) = talks.poll_event() {
//!     match ev {
//!         Event::Forward(f) => { /* binary frame to each live listener */ }
//!         Event::Pages(p) => { /* append p.bytes to the talk's journal, fdatasync */ }
//!         Event::Ended(e) => { /* talk_end to all; commit e.stored as a message */ }
//!     }
//! }
//! ```

mod error;
mod table;
mod talk;

pub use error::TalkError;
pub use table::{Talks, DEFAULT_MAX_TALKS};
pub use talk::{
    Ended, Event, Forward, Pages, Stored, Talk, TalkConfig, DEFAULT_AHEAD, DEFAULT_IDLE,
    DEFAULT_MAX_MS, DEFAULT_PRE_SKIP, PAGE_MS,
};

#[cfg(test)]
mod tests;
