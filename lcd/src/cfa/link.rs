//! The host side of a Crystalfontz line, sans-IO.
//!
//! Commands wait in a bounded queue; one is outstanding at a time. Its reply is matched by
//! type (`0x40 | code` normal, `0xC0 | code` error); reports may arrive in between and are passed
//! on at once. Without a reply by the deadline the command is sent again, up to
//! [`LinkConfig::max_retries`] times, then reported as failed and the next one goes.
//!
//! Run loop (the I/O task does this; tests do it with a virtual clock):
//!
//! ```text
//! loop {
//!     while let Some(bytes) = link.poll_transmit(now) { write(bytes) }
//!     while let Some(ev) = link.poll_event() { ... }
//!     wait for: bytes (link.handle_bytes(now, ..)), link.poll_timeout() (link.handle_timeout(now))
//! }
//! ```

use super::{code, key_event_from_code, Command, Decoder, Frame, FrameError, PacketKind};
use crate::KeyEvent;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Identifies a queued command in [`LinkEvent`]s.
pub type CommandId = u64;

/// Knobs of the [`Link`].
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// How long to wait for a reply before sending again. Modules answer within about 250 ms.
    pub reply_timeout: Duration,
    /// Resends after the first try before the command is given up.
    pub max_retries: u8,
    /// Commands that may wait; more are refused with [`LinkError::QueueFull`].
    pub queue_limit: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            reply_timeout: Duration::from_millis(250),
            max_retries: 2,
            queue_limit: 128,
        }
    }
}

/// Errors from [`Link::send`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The queue holds [`LinkConfig::queue_limit`] commands already.
    #[error("command queue full")]
    QueueFull,
    /// The command cannot be framed.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// What the link reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A key report.
    Key(KeyEvent),
    /// Any other report (fan, temperature, ...).
    Report(Frame),
    /// A command got its normal reply.
    Reply {
        /// The command.
        id: CommandId,
        /// Reply data (ping echo, version string, ...).
        data: Vec<u8>,
    },
    /// A command got an error reply: the module refused it.
    Rejected {
        /// The command.
        id: CommandId,
        /// Error reply data.
        data: Vec<u8>,
    },
    /// No reply after all retries.
    TimedOut {
        /// The command.
        id: CommandId,
        /// Its code.
        code: u8,
    },
}

#[derive(Debug)]
struct Outstanding {
    id: CommandId,
    code: u8,
    bytes: Vec<u8>,
    attempts: u8,
    /// `None` while (re)transmission is due.
    deadline: Option<Instant>,
}

/// Host side of a Crystalfontz line (see the module doc).
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    decoder: Decoder,
    queue: VecDeque<(CommandId, u8, Vec<u8>)>,
    outstanding: Option<Outstanding>,
    events: VecDeque<LinkEvent>,
    next_id: CommandId,
    stray_replies: u64,
    timeouts: u64,
}

/// Events kept before the oldest is dropped (nobody polling).
const MAX_EVENTS: usize = 256;

impl Link {
    /// A new link.
    pub fn new(cfg: LinkConfig) -> Self {
        Link {
            cfg,
            decoder: Decoder::new(),
            queue: VecDeque::new(),
            outstanding: None,
            events: VecDeque::new(),
            next_id: 1,
            stray_replies: 0,
            timeouts: 0,
        }
    }

    /// Queues a command.
    pub fn send(&mut self, cmd: &Command) -> Result<CommandId, LinkError> {
        if self.queue.len() >= self.cfg.queue_limit {
            return Err(LinkError::QueueFull);
        }
        let frame = cmd.to_frame()?;
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back((id, frame.code(), frame.encode()));
        Ok(id)
    }

    /// Commands queued or outstanding.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.outstanding.is_some())
    }

    /// Drops every queued and outstanding command and any partial input (after a reconnect).
    pub fn reset(&mut self) {
        self.queue.clear();
        self.outstanding = None;
        self.decoder.reset();
    }

    /// Bytes to write now, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.outstanding.is_none() {
            let (id, code, bytes) = self.queue.pop_front()?;
            self.outstanding = Some(Outstanding {
                id,
                code,
                bytes,
                attempts: 0,
                deadline: None,
            });
        }
        let out = self.outstanding.as_mut()?;
        if out.deadline.is_some() {
            return None;
        }
        out.attempts += 1;
        out.deadline = Some(now + self.cfg.reply_timeout);
        Some(out.bytes.clone())
    }

    /// When [`Link::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.as_ref().and_then(|o| o.deadline)
    }

    /// Advances timers: resends or gives up the outstanding command.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(out) = self.outstanding.as_mut() else {
            return;
        };
        match out.deadline {
            Some(d) if now >= d => {}
            _ => return,
        }
        if out.attempts > self.cfg.max_retries {
            self.timeouts += 1;
            tracing::debug!(code = out.code, id = out.id, "panel command timed out");
            let ev = LinkEvent::TimedOut {
                id: out.id,
                code: out.code,
            };
            self.outstanding = None;
            self.push_event(ev);
        } else {
            tracing::trace!(
                code = out.code,
                attempt = out.attempts,
                "panel command resend"
            );
            out.deadline = None;
        }
    }

    /// Feeds bytes read from the line.
    pub fn handle_bytes(&mut self, _now: Instant, bytes: &[u8]) {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame() {
            self.handle_frame(frame);
        }
    }

    fn handle_frame(&mut self, frame: Frame) {
        match frame.kind() {
            PacketKind::Report => {
                if frame.code() == code::KEY_REPORT && frame.data.len() == 1 {
                    if let Some(k) = key_event_from_code(frame.data[0]) {
                        self.push_event(LinkEvent::Key(k));
                        return;
                    }
                }
                self.push_event(LinkEvent::Report(frame));
            }
            PacketKind::Reply | PacketKind::Error => {
                let matches = self
                    .outstanding
                    .as_ref()
                    .is_some_and(|o| o.code == frame.code() && o.deadline.is_some());
                if !matches {
                    // A late reply to a command already given up, or line noise with a good CRC.
                    self.stray_replies += 1;
                    return;
                }
                if let Some(o) = self.outstanding.take() {
                    let ev = if frame.kind() == PacketKind::Reply {
                        LinkEvent::Reply {
                            id: o.id,
                            data: frame.data,
                        }
                    } else {
                        LinkEvent::Rejected {
                            id: o.id,
                            data: frame.data,
                        }
                    };
                    self.push_event(ev);
                }
            }
            // A command echoed back (loopback wiring): ignore.
            PacketKind::Command => self.stray_replies += 1,
        }
    }

    fn push_event(&mut self, ev: LinkEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Replies that matched no outstanding command.
    pub fn stray_replies(&self) -> u64 {
        self.stray_replies
    }

    /// Commands given up after all retries.
    pub fn timeouts(&self) -> u64 {
        self.timeouts
    }

    /// Bytes the decoder skipped while resynchronising.
    pub fn skipped_bytes(&self) -> u64 {
        self.decoder.skipped_bytes()
    }
}

impl Default for Link {
    fn default() -> Self {
        Link::new(LinkConfig::default())
    }
}
