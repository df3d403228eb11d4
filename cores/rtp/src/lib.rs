//! The RTP media core for desk phones and gateways (issue 4, part 3): everything between a
//! phone's media datagrams and the box's stored Ogg Opus messages, with no sockets, no clock
//! and no async. Bytes and `now` go in; datagrams to send, events and the next timeout come
//! out. The station actor owns one [`Session`] per call leg and a thin task does the I/O.
//!
//! # Layout
//! - `packet.rs`: RTP header parse/build (RFC 3550) and the RTP/RTCP demultiplexing rule
//!   (RFC 5761); bounded, never panics on garbage.
//! - `g711.rs`: µ-law and A-law (ITU-T G.711), checked against reference tables kept in
//!   `g711_vectors.rs`.
//! - `dtmf.rs`: RFC 4733 telephone-event payloads, one [`Digit`] per key press out of a phone's
//!   redundant packet train; an in-band (Goertzel) detector as a fallback.
//! - `jitter.rs`: the reorder/jitter buffer (sequence wraparound, duplicates, late and lost
//!   counts, restarts on SSRC change and media-clock jumps).
//! - `vad.rs`: speech/silence per 20 ms frame, for the recording silence timeout.
//! - `tone.rs`: beep, busy and ringback tones.
//! - `packetizer.rs`: PCM to 20 ms G.711 RTP packets (sequence, timestamp, marker, SSRC).
//! - `session.rs`: one call leg: source checks and symmetric-RTP latching, payload type
//!   dispatch, paced sending, the inactivity timeout.
//! - `recorder.rs`: received PCM to a stored message (Ogg Opus via `ivm-media`), or nothing
//!   when no one spoke.
//! - `transcode.rs`: a stored message back to 8 kHz PCM for playback.
//! - `prompts.rs`: the embedded voice prompts (`assets/prompts/`) and phrases built from them.
//! - `error.rs`: [`Error`], gathering the modules' errors.
//!
//! # Run loop
//! The driver (a tokio task per call leg, or the station actor) does only this:
//! ```no_run
//! # use std::time::Instant;
//! # use ivm_rtp::{Session, SessionConfig, Event, Recorder};
//! # fn recv() -> Option<(std::net::SocketAddr, Vec<u8>)> { None }
//! # fn send(_: std::net::SocketAddr, _: &[u8]) {}
//! # fn sleep_until(_: Option<Instant>) {}
//! # let remote = "192.0.2.10:4000".parse().unwrap();
//! let mut session = Session::new(SessionConfig::new(remote), Instant::now());
//! let mut recorder = Recorder::new(std::time::Duration::from_secs(300));
//! session.play(Instant::now(), &ivm_rtp::tone::beep());
//! loop {
//!     // 1. datagrams that arrived (bytes + source address)
//!     while let Some((from, bytes)) = recv() {
//!         session.handle_packet(Instant::now(), from, &bytes);
//!     }
//!     // 2. timers: release due audio, notice a vanished phone
//!     let now = Instant::now();
//!     session.handle_timeout(now);
//!     // 3. paced outgoing audio
//!     while let Some(t) = session.poll_transmit(now) {
//!         send(t.destination, &t.payload);
//!     }
//!     // 4. events
//!     while let Some(ev) = session.poll_event() {
//!         match ev {
//!             Event::Audio(pcm) => { recorder.push(&pcm); }
//!             Event::Silence(n) => { recorder.push(&vec![0; n]); }
//!             Event::Digit(d) if d == ivm_rtp::Digit::Pound => { /* stop, finish */ }
//!             Event::Inactive => { /* phone gone: session.flush(), finish */ }
//!             _ => {}
//!         }
//!     }
//!     // 5. sleep until the next deadline or datagram
//!     sleep_until(session.poll_timeout());
//! }
//! ```
//! `Recorder::finish` and `transcode::ogg_to_pcm8k` do codec work (tens of milliseconds per
//! minute of audio): run them with `spawn_blocking` or on a `SyncArbiter`.

pub mod dtmf;
pub mod error;
pub mod g711;
#[cfg(test)]
mod g711_vectors;
pub mod jitter;
pub mod packet;
pub mod packetizer;
pub mod prompts;
pub mod recorder;
pub mod session;
pub mod tone;
pub mod transcode;
pub mod vad;

pub use dtmf::{Digit, DtmfReceiver, InbandDetector, TelephoneEvent};
pub use error::Error;
pub use g711::Codec;
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use packet::{demux, Datagram, RtpHeader, RtpPacket};
pub use packetizer::Packetizer;
pub use prompts::Prompt;
pub use recorder::{Recorder, Recording};
pub use session::{Disposition, Event, Latching, Session, SessionConfig, SessionStats, Transmit};
pub use vad::{Activity, Vad};
