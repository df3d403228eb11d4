//! TFTP as a sans-IO core: bytes and `now` in, datagrams and a deadline out. The box's TFTP
//! server (`services/tftpd`, crate `ivm-tftpd`) is the thin tokio layer around it.
//!
//! # Layout
//! - [`packet`]: the wire format: bounded RRQ/WRQ parsing with options (RFC 2347), ACK/ERROR
//!   from clients, DATA/OACK/ERROR encoding.
//! - [`transfer`]: one read transfer: option negotiation (blksize RFC 2348 up to
//!   [`MAX_BLOCK_SIZE`], timeout and tsize RFC 2349, windowsize RFC 7440 up to
//!   [`MAX_WINDOW_SIZE`]), DATA windows, ACKs, retransmission on timeout.

pub mod packet;
pub mod transfer;

/// Largest block size granted (a phone asking for more gets this).
pub const MAX_BLOCK_SIZE: u16 = 8192;
/// Largest window granted.
pub const MAX_WINDOW_SIZE: u16 = 64;
