//! The sending side of a stream: 8 kHz PCM in, G.711 RTP packets of 20 ms out, with the
//! sequence number, timestamp and marker bit RFC 3550/3551 expect.
//!
//! - SSRC, first sequence number and first timestamp are random (RFC 3550 §5.1: they must
//!   not be predictable, and a restarted call must not look like the old one).
//! - The timestamp advances by the samples sent, and over pauses by the pause's length
//!   ([`Packetizer::skip`]), so the receiver's playout matches the real timing.
//! - The first packet, and the first after a pause, carry the marker bit (start of a
//!   talkspurt, RFC 3551 §4.1), which tells the receiver's jitter buffer it may re-anchor.

use crate::g711::Codec;
use crate::packet::{RtpHeader, RtpPacket};

/// Samples per packet: 20 ms at 8 kHz (the ptime every phone uses by default).
pub const FRAME: usize = 160;

/// Cuts PCM into RTP packets for one outgoing stream.
#[derive(Debug, Clone)]
pub struct Packetizer {
    codec: Codec,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker: bool,
}

impl Packetizer {
    /// A packetizer with the given identifiers (tests, or to continue a stream).
    pub fn new(codec: Codec, ssrc: u32, sequence: u16, timestamp: u32) -> Packetizer {
        Packetizer {
            codec,
            ssrc,
            sequence,
            timestamp,
            marker: true,
        }
    }

    /// A packetizer with a random SSRC, first sequence number and timestamp.
    pub fn random(codec: Codec) -> Packetizer {
        Packetizer::new(codec, rand::random(), rand::random(), rand::random())
    }

    /// The codec packets are encoded with.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Switch codec (after a re-INVITE); the stream continues.
    pub fn set_codec(&mut self, codec: Codec) {
        self.codec = codec;
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Make the packet for one frame of PCM. A short frame is padded with silence to
    /// [`FRAME`] samples; a longer one is sent whole (the timestamp advances by its length).
    pub fn packetize(&mut self, pcm: &[i16]) -> RtpPacket {
        let mut payload = Vec::with_capacity(pcm.len().max(FRAME));
        self.codec.encode(pcm, &mut payload);
        payload.resize(pcm.len().max(FRAME), self.codec.silence());
        let packet = RtpPacket {
            header: RtpHeader {
                marker: self.marker,
                payload_type: self.codec.payload_type(),
                sequence: self.sequence,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                csrc: Vec::new(),
                extension: None,
            },
            payload,
        };
        self.marker = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(packet.payload.len() as u32);
        packet
    }

    /// Nothing was sent for `samples` sample times: move the timestamp on and mark the next
    /// packet as the start of a talkspurt.
    pub fn skip(&mut self, samples: u32) {
        if samples > 0 {
            self.timestamp = self.timestamp.wrapping_add(samples);
            self.marker = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_packets_and_marks_talkspurts() {
        let mut p = Packetizer::new(Codec::Pcmu, 0x1234, 65535, 0xffff_ff60);
        let a = p.packetize(&[0; 160]);
        let b = p.packetize(&[1000; 100]);
        assert_eq!(
            (a.header.sequence, a.header.timestamp, a.header.marker),
            (65535, 0xffff_ff60, true)
        );
        assert_eq!(
            (b.header.sequence, b.header.timestamp, b.header.marker),
            (0, 0, false)
        );
        assert_eq!(b.payload.len(), 160);
        assert_eq!(b.payload[99], crate::g711::ulaw_encode(1000));
        assert_eq!(b.payload[100], 0xff);
        p.skip(800);
        let c = p.packetize(&[0; 160]);
        assert_eq!(
            (c.header.sequence, c.header.timestamp, c.header.marker),
            (1, 960, true)
        );
        assert_eq!(c.header.ssrc, 0x1234);
        assert_eq!(c.header.payload_type, 0);
        let mut q = Packetizer::random(Codec::Pcma);
        assert_eq!(q.packetize(&[0; 160]).header.payload_type, 8);
    }
}
