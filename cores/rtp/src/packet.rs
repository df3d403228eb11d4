//! RTP packets (RFC 3550 §5.1) and the RTP/RTCP demultiplexing rule (RFC 5761 §4).
//!
//! # Format
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers (CC x 32)   |
//! | [extension: profile (16) | length in words (16) | words ...]  |
//! | payload ...                     [padding ... | padding count] |
//! ```
//!
//! Parsing is bounded by the datagram: every length field is checked against the bytes that
//! are there, so garbage gives a [`PacketError`], never a panic or an allocation larger than
//! the input.

/// Fixed header length in bytes.
pub const HEADER_LEN: usize = 12;
/// Largest datagram we accept or build: a 20 ms G.711 packet is 172 bytes, so anything near
/// the Ethernet MTU is already generous.
pub const MAX_PACKET: usize = 1500;

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the header it announces.
    #[error("truncated RTP packet: {0}")]
    Truncated(&'static str),
    /// Not RTP version 2.
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The padding count is zero or runs past the header.
    #[error("bad RTP padding count {0}")]
    Padding(u8),
    /// Larger than [`MAX_PACKET`].
    #[error("RTP packet of {0} bytes is too large")]
    TooLarge(usize),
    /// More CSRCs or extension bytes than the header can carry (building only).
    #[error("RTP header field out of range: {0}")]
    Field(&'static str),
}

/// A header extension (RFC 3550 §5.3.1), kept opaque: we neither need nor interpret any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The profile-defined 16-bit identifier (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension body; its length is a multiple of four bytes.
    pub data: Vec<u8>,
}

/// The parts of an RTP header this box uses, plus what it must carry through unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit: for audio, the first packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number (wraps at 65535).
    pub sequence: u16,
    /// Media timestamp in clock-rate units (8000 Hz for G.711 and telephone-event).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrc: Vec<u32>,
    /// Optional header extension.
    pub extension: Option<Extension>,
}

/// An RTP packet with an owned payload (padding removed), so it can wait in a jitter buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// The header.
    pub header: RtpHeader,
    /// The payload, without padding.
    pub payload: Vec<u8>,
}

/// What a datagram on the media port is, by the RFC 5761 rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    /// An RTP packet.
    Rtp(RtpPacket),
    /// An RTCP packet (second byte 192..=223); `packet_type` is that byte, e.g. 200 = SR,
    /// 201 = RR, 202 = SDES, 203 = BYE, 204 = APP. Recognised so it can be skipped: the box
    /// reads nothing from RTCP.
    Rtcp {
        /// The RTCP packet type of the first packet in the compound.
        packet_type: u8,
    },
}

/// Sort a datagram into RTP or RTCP (RFC 5761 §4: RTCP packet types 192..=223 never collide
/// with the RTP payload types in use, because RTP avoids 64..=95) and parse the RTP.
pub fn demux(bytes: &[u8]) -> Result<Datagram, PacketError> {
    if bytes.len() >= 2 && (192..=223).contains(&bytes[1]) {
        if bytes[0] >> 6 != 2 {
            return Err(PacketError::Version(bytes[0] >> 6));
        }
        if bytes.len() < 8 {
            return Err(PacketError::Truncated("RTCP header"));
        }
        return Ok(Datagram::Rtcp {
            packet_type: bytes[1],
        });
    }
    RtpPacket::parse(bytes).map(Datagram::Rtp)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl RtpPacket {
    /// Parse one RTP packet. Does not look at the payload type's meaning; RTCP is not
    /// rejected here (use [`demux`] on a shared port).
    pub fn parse(bytes: &[u8]) -> Result<RtpPacket, PacketError> {
        if bytes.len() > MAX_PACKET {
            return Err(PacketError::TooLarge(bytes.len()));
        }
        if bytes.len() < HEADER_LEN {
            return Err(PacketError::Truncated("fixed header"));
        }
        let b0 = bytes[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(PacketError::Version(version));
        }
        let padding = b0 & 0x20 != 0;
        let has_ext = b0 & 0x10 != 0;
        let cc = usize::from(b0 & 0x0f);
        let mut at = HEADER_LEN;
        if bytes.len() < at + 4 * cc {
            return Err(PacketError::Truncated("CSRC list"));
        }
        let csrc = (0..cc).map(|i| be32(bytes, at + 4 * i)).collect();
        at += 4 * cc;
        let extension = if has_ext {
            if bytes.len() < at + 4 {
                return Err(PacketError::Truncated("extension header"));
            }
            let profile = be16(bytes, at);
            let words = usize::from(be16(bytes, at + 2));
            at += 4;
            if bytes.len() < at + 4 * words {
                return Err(PacketError::Truncated("extension body"));
            }
            let data = bytes[at..at + 4 * words].to_vec();
            at += 4 * words;
            Some(Extension { profile, data })
        } else {
            None
        };
        let mut end = bytes.len();
        if padding {
            let count = bytes[end - 1];
            if count == 0 || usize::from(count) > end - at {
                return Err(PacketError::Padding(count));
            }
            end -= usize::from(count);
        }
        Ok(RtpPacket {
            header: RtpHeader {
                marker: bytes[1] & 0x80 != 0,
                payload_type: bytes[1] & 0x7f,
                sequence: be16(bytes, 2),
                timestamp: be32(bytes, 4),
                ssrc: be32(bytes, 8),
                csrc,
                extension,
            },
            payload: bytes[at..end].to_vec(),
        })
    }

    /// Append the packet's wire form to `out` (never padded). Fails only on a header that
    /// cannot be encoded (more than 15 CSRCs, a payload type above 127, an extension whose
    /// body is not whole words or is too long) or a packet above [`MAX_PACKET`].
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), PacketError> {
        let h = &self.header;
        if h.csrc.len() > 15 {
            return Err(PacketError::Field("more than 15 CSRCs"));
        }
        if h.payload_type > 127 {
            return Err(PacketError::Field("payload type above 127"));
        }
        let ext_len = match &h.extension {
            Some(e) if e.data.len() % 4 != 0 || e.data.len() / 4 > usize::from(u16::MAX) => {
                return Err(PacketError::Field("extension length"));
            }
            Some(e) => 4 + e.data.len(),
            None => 0,
        };
        let len = HEADER_LEN + 4 * h.csrc.len() + ext_len + self.payload.len();
        if len > MAX_PACKET {
            return Err(PacketError::TooLarge(len));
        }
        out.reserve(len);
        out.push(0x80 | if h.extension.is_some() { 0x10 } else { 0 } | h.csrc.len() as u8);
        out.push(if h.marker { 0x80 } else { 0 } | h.payload_type);
        out.extend_from_slice(&h.sequence.to_be_bytes());
        out.extend_from_slice(&h.timestamp.to_be_bytes());
        out.extend_from_slice(&h.ssrc.to_be_bytes());
        for c in &h.csrc {
            out.extend_from_slice(&c.to_be_bytes());
        }
        if let Some(e) = &h.extension {
            out.extend_from_slice(&e.profile.to_be_bytes());
            out.extend_from_slice(&((e.data.len() / 4) as u16).to_be_bytes());
            out.extend_from_slice(&e.data);
        }
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    /// The packet's wire form (see [`RtpPacket::write`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, PacketError> {
        let mut v = Vec::new();
        self.write(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A G.711 packet as a Yealink sends it: PT 0, seq 0x1234, ts 0x00000640, SSRC 0xdeadbeef.
    const SIMPLE: [u8; 16] = [
        0x80, 0x00, 0x12, 0x34, 0x00, 0x00, 0x06, 0x40, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xfe, 0x7f,
        0x00,
    ];

    fn sample() -> RtpPacket {
        RtpPacket {
            header: RtpHeader {
                marker: true,
                payload_type: 8,
                sequence: 65535,
                timestamp: 0xffff_fff0,
                ssrc: 0x0102_0304,
                csrc: vec![0xaabb_ccdd, 7],
                extension: Some(Extension {
                    profile: 0xbede,
                    data: vec![0x10, 0xff, 0, 0],
                }),
            },
            payload: vec![0xd5; 160],
        }
    }

    #[test]
    fn parses_a_plain_packet() {
        let p = RtpPacket::parse(&SIMPLE).expect("parse");
        assert!(!p.header.marker);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.sequence, 0x1234);
        assert_eq!(p.header.timestamp, 0x640);
        assert_eq!(p.header.ssrc, 0xdead_beef);
        assert!(p.header.csrc.is_empty());
        assert_eq!(p.header.extension, None);
        assert_eq!(p.payload, [0xff, 0xfe, 0x7f, 0x00]);
        assert_eq!(p.to_bytes().expect("build"), SIMPLE);
    }

    #[test]
    fn round_trips_csrc_extension_marker() {
        let p = sample();
        let bytes = p.to_bytes().expect("build");
        assert_eq!(bytes.len(), 12 + 8 + 8 + 160);
        assert_eq!(&bytes[..2], &[0x92, 0x88]);
        assert_eq!(RtpPacket::parse(&bytes).expect("parse"), p);
        assert!(matches!(demux(&bytes), Ok(Datagram::Rtp(q)) if q == p));
    }

    #[test]
    fn strips_padding() {
        let mut bytes = SIMPLE.to_vec();
        bytes[0] |= 0x20;
        bytes.extend_from_slice(&[0, 0, 3]);
        let p = RtpPacket::parse(&bytes).expect("parse");
        assert_eq!(p.payload, [0xff, 0xfe, 0x7f, 0x00]);
        // Padding that eats exactly the whole payload is legal.
        let mut all = SIMPLE[..12].to_vec();
        all[0] |= 0x20;
        all.extend_from_slice(&[0, 0, 0, 4]);
        assert_eq!(
            RtpPacket::parse(&all).expect("parse").payload,
            Vec::<u8>::new()
        );
    }

    #[test]
    fn rejects_garbage_with_errors() {
        assert_eq!(
            RtpPacket::parse(&[]),
            Err(PacketError::Truncated("fixed header"))
        );
        assert_eq!(
            RtpPacket::parse(&SIMPLE[..11]),
            Err(PacketError::Truncated("fixed header"))
        );
        let mut v1 = SIMPLE;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(PacketError::Version(1)));
        let mut cc = SIMPLE;
        cc[0] = 0x8f; // 15 CSRCs announced, 4 bytes present
        assert_eq!(
            RtpPacket::parse(&cc),
            Err(PacketError::Truncated("CSRC list"))
        );
        let mut ext = SIMPLE;
        ext[0] = 0x90;
        ext[14] = 0x00;
        ext[15] = 0x09; // 9 words of extension in a 4-byte remainder
        assert_eq!(
            RtpPacket::parse(&ext),
            Err(PacketError::Truncated("extension body"))
        );
        let mut pad = SIMPLE;
        pad[0] = 0xa0;
        pad[15] = 0;
        assert_eq!(RtpPacket::parse(&pad), Err(PacketError::Padding(0)));
        pad[15] = 5;
        assert_eq!(RtpPacket::parse(&pad), Err(PacketError::Padding(5)));
        assert_eq!(
            RtpPacket::parse(&[0x80; 1501]),
            Err(PacketError::TooLarge(1501))
        );
    }

    #[test]
    fn never_panics_on_any_short_prefix_or_bit_flip() {
        let good = sample().to_bytes().expect("build");
        for n in 0..good.len() {
            let _ = demux(&good[..n]);
        }
        for i in 0..good.len().min(40) {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                let _ = demux(&b);
            }
        }
        // A deterministic pseudo-random sweep of short datagrams.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 48) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (x.rotate_left(i as u32) & 0xff) as u8)
                .collect();
            let _ = demux(&bytes);
        }
    }

    #[test]
    fn demux_recognises_rtcp() {
        // An RTCP receiver report with no report blocks (RFC 3550 §6.4.2).
        let rr = [0x80, 201, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04];
        assert_eq!(demux(&rr), Ok(Datagram::Rtcp { packet_type: 201 }));
        for pt in 200..=204 {
            let sr = [0x80, pt, 0, 6, 0, 0, 0, 1];
            assert_eq!(demux(&sr), Ok(Datagram::Rtcp { packet_type: pt }));
        }
        assert_eq!(
            demux(&[0x80, 200, 0, 0]),
            Err(PacketError::Truncated("RTCP header"))
        );
        // RTP PT 72 with the marker set would be byte 200: that is why RTP avoids 64..=95.
        assert!(matches!(demux(&SIMPLE), Ok(Datagram::Rtp(_))));
    }

    #[test]
    fn build_refuses_bad_fields() {
        let mut p = sample();
        p.header.csrc = vec![0; 16];
        assert!(matches!(p.to_bytes(), Err(PacketError::Field(_))));
        let mut p = sample();
        p.header.payload_type = 128;
        assert!(matches!(p.to_bytes(), Err(PacketError::Field(_))));
        let mut p = sample();
        p.header.extension = Some(Extension {
            profile: 1,
            data: vec![1, 2, 3],
        });
        assert!(matches!(p.to_bytes(), Err(PacketError::Field(_))));
        let mut p = sample();
        p.payload = vec![0; 1500];
        assert!(matches!(p.to_bytes(), Err(PacketError::TooLarge(_))));
    }
}
