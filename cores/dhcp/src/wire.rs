//! Bounded checking, decoding and encoding of DHCPv4 datagrams.
//!
//! `dhcproto` decodes options leniently: it stops at the first bad option and keeps what it
//! had. A server must not act on half a packet, so [`check`] first walks the raw bytes
//! with hard limits (size, option count, every length inside the buffer, the magic cookie,
//! exactly one well-formed message type) and only then is the packet decoded.

use dhcproto::v4::{Message, MessageType};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

/// Fixed BOOTP header before the magic cookie.
const HEADER: usize = 236;
/// RFC 2131 magic cookie.
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Largest datagram accepted (an Ethernet MTU's worth, with room for relay options).
pub const MAX_PACKET: usize = 1500;
/// Most options walked in one packet.
const MAX_OPTIONS: usize = 255;

/// Why a datagram was refused. No reply is sent for any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than the header plus the cookie.
    #[error("truncated: {0} bytes")]
    Truncated(usize),
    /// Longer than [`MAX_PACKET`].
    #[error("too long: {0} bytes")]
    TooLong(usize),
    /// The 4 bytes after the header are not 99.130.83.99.
    #[error("bad magic cookie {0:?}")]
    BadCookie([u8; 4]),
    /// Hardware address length above 16.
    #[error("bad hlen {0}")]
    BadHlen(u8),
    /// An option's length runs past the end of the packet.
    #[error("option {code} at {at} claims {len} bytes past the end")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the option.
        at: usize,
        /// Claimed length.
        len: usize,
    },
    /// No END option.
    #[error("no end option")]
    NoEnd,
    /// More than 255 options.
    #[error("too many options")]
    TooManyOptions,
    /// Option overload (52) in a request: clients do not use it, so it is refused rather
    /// than half-honoured.
    #[error("option overload (52) not accepted")]
    Overload,
    /// An option whose length the decoder takes for granted has another length.
    #[error("option {code} of length {len} (its length is fixed)")]
    OptionLength {
        /// Option code.
        code: u8,
        /// Its length in the packet.
        len: usize,
    },
    /// Option 53 missing, repeated, of the wrong length or out of range.
    #[error("bad or missing message type")]
    MessageType,
    /// `dhcproto` refused the packet.
    #[error("decode: {0}")]
    Decode(String),
    /// `dhcproto` could not encode a reply.
    #[error("encode: {0}")]
    Encode(String),
}

/// Walks the raw packet with hard limits; returns the message type byte.
pub fn check(bytes: &[u8]) -> Result<u8, WireError> {
    if bytes.len() < HEADER + COOKIE.len() {
        return Err(WireError::Truncated(bytes.len()));
    }
    if bytes.len() > MAX_PACKET {
        return Err(WireError::TooLong(bytes.len()));
    }
    if bytes[2] > 16 {
        return Err(WireError::BadHlen(bytes[2]));
    }
    let cookie = [bytes[236], bytes[237], bytes[238], bytes[239]];
    if cookie != COOKIE {
        return Err(WireError::BadCookie(cookie));
    }
    let mut at = HEADER + COOKIE.len();
    let mut count = 0;
    let mut msg_type = None;
    loop {
        let Some(&code) = bytes.get(at) else {
            return Err(WireError::NoEnd);
        };
        match code {
            0 => at += 1,
            255 => break,
            _ => {
                count += 1;
                if count > MAX_OPTIONS {
                    return Err(WireError::TooManyOptions);
                }
                let len = *bytes
                    .get(at + 1)
                    .ok_or(WireError::OptionOverrun { code, at, len: 0 })?
                    as usize;
                let value = bytes
                    .get(at + 2..at + 2 + len)
                    .ok_or(WireError::OptionOverrun { code, at, len })?;
                if !length_fits(code, len) {
                    return Err(WireError::OptionLength { code, len });
                }
                match code {
                    52 => return Err(WireError::Overload),
                    53 => {
                        if msg_type.is_some() || len != 1 || !(1..=18).contains(&value[0]) {
                            return Err(WireError::MessageType);
                        }
                        msg_type = Some(value[0]);
                    }
                    _ => {}
                }
                at += 2 + len;
            }
        }
    }
    msg_type.ok_or(WireError::MessageType)
}

/// Whether an option's length is one `dhcproto` 0.15 can decode. For these options it does
/// not check the length but `debug_assert!`s it: a build with debug assertions panics on a
/// client's packet, a release build reads the value from the wrong length (found by the
/// `dhcp` fuzz target with option 153 of length 12). Rapid commit (80) is empty, client FQDN
/// (81) has three fixed bytes, client network interface (94) three bytes; the bulk
/// leasequery options (RFC 6926) 151 carry a status byte and 152..=155 a 32-bit time.
fn length_fits(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,
        81 => len >= 3,
        94 => len == 3,
        151 => len >= 1,
        152..=155 => len == 4,
        _ => true,
    }
}

/// [`check`], then decode.
pub fn decode(bytes: &[u8]) -> Result<(Message, MessageType), WireError> {
    check(bytes)?;
    let msg =
        Message::decode(&mut Decoder::new(bytes)).map_err(|e| WireError::Decode(e.to_string()))?;
    let ty = msg.opts().msg_type().ok_or(WireError::MessageType)?;
    Ok((msg, ty))
}

/// Encodes a message.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    let mut buf = Vec::with_capacity(576);
    msg.encode(&mut Encoder::new(&mut buf))
        .map_err(|e| WireError::Encode(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(opts: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 240];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[236..240].copy_from_slice(&COOKIE);
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn limits() {
        assert_eq!(check(&minimal(&[53, 1, 1, 255])), Ok(1));
        assert_eq!(check(&[1, 2, 3]), Err(WireError::Truncated(3)));
        assert_eq!(check(&vec![0; 2000]), Err(WireError::TooLong(2000)));
        let mut bad = minimal(&[53, 1, 1, 255]);
        bad[239] = 0;
        assert!(matches!(check(&bad), Err(WireError::BadCookie(_))));
        assert!(matches!(
            check(&minimal(&[53, 1, 1, 12, 200, 1])),
            Err(WireError::OptionOverrun { code: 12, .. })
        ));
        assert!(matches!(
            check(&minimal(&[53, 1, 1, 12])),
            Err(WireError::OptionOverrun { .. })
        ));
        assert_eq!(check(&minimal(&[53, 1, 1])), Err(WireError::NoEnd));
        assert_eq!(
            check(&minimal(&[53, 1, 1, 52, 1, 3, 255])),
            Err(WireError::Overload)
        );
        assert_eq!(
            check(&minimal(&[53, 2, 1, 1, 255])),
            Err(WireError::MessageType)
        );
        assert_eq!(
            check(&minimal(&[53, 1, 1, 53, 1, 3, 255])),
            Err(WireError::MessageType)
        );
        assert_eq!(
            check(&minimal(&[12, 1, b'x', 255])),
            Err(WireError::MessageType)
        );
        let many: Vec<u8> = std::iter::repeat_n([12u8, 0], 300).flatten().collect();
        assert_eq!(check(&minimal(&many)), Err(WireError::TooManyOptions));
    }

    /// The `dhcp` fuzz target's first crash: a Snom phone's REQUEST with one option code
    /// changed to 153 (bulk leasequery start time of state, length 12). `dhcproto`
    /// debug-asserts a length of 4 and panicked; it is refused here now, before decoding.
    #[test]
    fn options_of_a_length_the_decoder_assumes_are_refused() {
        let mut request = minimal(&[
            53, 1, 3, 61, 7, 1, 0, 4, 19, 119, 136, 55, // type, client id
            153, 12, 1, 3, 6, 15, 42, 43, 66, 120, 150, 160, 2, 12, // the mutated option
            60, 9, b's', b'n', b'o', b'm', b' ', b'D', b'7', b'8', b'5', // vendor class
            50, 4, 10, 0, 0, 100, 54, 4, 10, 0, 0, 1, 255,
        ]);
        request[28..34].copy_from_slice(&[0, 4, 19, 119, 136, 153]);
        assert_eq!(
            decode(&request).map(|(_, t)| t),
            Err(WireError::OptionLength { code: 153, len: 12 })
        );
        for (opt, code) in [
            (&[80u8, 1, 0][..], 80),
            (&[81, 2, 0, 0], 81),
            (&[94, 2, 1, 2], 94),
            (&[151, 0], 151),
            (&[152, 3, 0, 0, 0], 152),
            (&[155, 8, 0, 0, 0, 0, 0, 0, 0, 0], 155),
        ] {
            let mut opts = vec![53, 1, 1];
            opts.extend_from_slice(opt);
            opts.push(255);
            assert!(
                matches!(decode(&minimal(&opts)), Err(WireError::OptionLength { code: c, .. }) if c == code),
                "option {code}"
            );
        }
        // The lengths the decoder expects still pass.
        for opt in [
            &[80u8, 0][..],
            &[81, 3, 0, 0, 0],
            &[94, 3, 1, 2, 0],
            &[152, 4, 0, 0, 0, 1],
        ] {
            let mut opts = vec![53, 1, 1];
            opts.extend_from_slice(opt);
            opts.push(255);
            assert!(decode(&minimal(&opts)).is_ok(), "{opt:?}");
        }
    }
}
