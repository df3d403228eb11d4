//! G.711 (ITU-T G.711, 1988): µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8),
//! 8 bits per sample at 8 kHz, the codecs every desk phone and gateway speaks.
//!
//! Decoding is a 256-entry table built at compile time from the standard's expansion rule;
//! encoding follows the ITU reference (G.191 STL `g711.c`, the same code as Sun's widely copied
//! version): µ-law works on the 14 most significant bits with a bias of 33, A-law on the 13
//! most significant bits with one's-complement magnitudes for negative samples, so the
//! decision thresholds sit exactly halfway between the decoder's output levels. The tests
//! check both tables against sox's and CPython's decoders and the encoders against CPython's
//! `audioop` for all 65,536 inputs.
//!
//! Sign convention (the one the standard and all RTP peers use): µ-law codes are the bitwise
//! complement of sign-magnitude, so 0xFF and 0x7F are the two zeros and 0x80 is the largest
//! positive value; A-law codes have their even bits inverted (XOR 0x55) and bit 7 set for
//! positive, so 0xD5 is +8 and 0x55 is -8.

/// µ-law expansion of one code.
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0f) as i32) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

/// A-law expansion of one code.
const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_expand(i as u8)
        } else {
            ulaw_expand(i as u8)
        };
        i += 1;
    }
    t
}

/// µ-law code to 16-bit linear PCM.
pub static ULAW_TO_LINEAR: [i16; 256] = table(false);
/// A-law code to 16-bit linear PCM.
pub static ALAW_TO_LINEAR: [i16; 256] = table(true);

/// Index of the first segment end that `v` does not exceed (8 when above all).
fn segment(v: i32, ends: &[i32; 8]) -> i32 {
    ends.iter().position(|&e| v <= e).unwrap_or(8) as i32
}

/// Decode one µ-law byte.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decode one A-law byte.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encode one 16-bit sample as µ-law (values beyond ±32,635 clip to the largest code).
pub fn ulaw_encode(sample: i16) -> u8 {
    const ENDS: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
    const CLIP: i32 = 8159;
    let mut v = i32::from(sample) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7f
    } else {
        0xff
    };
    let v = v.min(CLIP) + (0x84 >> 2);
    let seg = segment(v, &ENDS);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    (((seg << 4) | ((v >> (seg + 1)) & 0x0f)) as u8) ^ mask
}

/// Encode one 16-bit sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    const ENDS: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
    let mut v = i32::from(sample) >> 3;
    let mask = if v >= 0 {
        0xd5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &ENDS);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let quant = if seg < 2 {
        (v >> 1) & 0x0f
    } else {
        (v >> seg) & 0x0f
    };
    (((seg << 4) | quant) as u8) ^ mask
}

/// One of the two G.711 laws, as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, static payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, static payload type 8 (Europe and most of the rest).
    Pcma,
}

impl Codec {
    /// Static RTP payload type (RFC 3551 table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is a G.711 one.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// SDP encoding name (`a=rtpmap:0 PCMU/8000`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The code for digital silence (the positive zero), for padding frames.
    pub fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xff,
            Codec::Pcma => 0xd5,
        }
    }

    /// Append the encoding of `pcm` to `out`, one byte per sample.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            Codec::Pcma => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Append the decoding of `bytes` to `out`, one sample per byte.
    pub fn decode(self, bytes: &[u8], out: &mut Vec<i16>) {
        let t = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        out.extend(bytes.iter().map(|&b| t[usize::from(b)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711_vectors::{ALAW_REF, ULAW_REF};

    #[test]
    fn named_values() {
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_decode(0xaa), 32256);
    }

    #[test]
    fn decode_tables_match_reference() {
        assert_eq!(ULAW_TO_LINEAR, ULAW_REF);
        assert_eq!(ALAW_TO_LINEAR, ALAW_REF);
    }

    #[test]
    fn encode_inverts_decode() {
        for code in 0..=255u8 {
            let u = ulaw_encode(ulaw_decode(code));
            if code == 0x7f {
                assert_eq!(u, 0xff, "µ-law negative zero encodes as positive zero");
            } else {
                assert_eq!(u, code, "µ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    /// Decoded levels rise strictly with the magnitude bits, on both sides of zero.
    #[test]
    fn decode_is_monotonic() {
        // µ-law: positive codes run 0xFF (0) down to 0x80 (max); negative 0x7F down to 0x00.
        for c in 0x80..0xffu8 {
            assert!(ulaw_decode(c) > ulaw_decode(c + 1), "µ-law {c:#04x}");
        }
        for c in 0x00..0x7fu8 {
            assert!(ulaw_decode(c) < ulaw_decode(c + 1), "µ-law {c:#04x}");
        }
        // A-law: magnitude index m = (code ^ 0x55) & 0x7f; sign from bit 7 after the XOR.
        let level = |m: u8, positive: bool| {
            let code = (m | if positive { 0x80 } else { 0 }) ^ 0x55;
            alaw_decode(code)
        };
        for m in 0..127u8 {
            assert!(level(m, true) < level(m + 1, true));
            assert!(level(m, false) > level(m + 1, false));
        }
    }

    /// Encoding is monotonic in the linear value and agrees with CPython's `audioop`
    /// (`lin2ulaw`, `lin2alaw`) over every 16-bit input: FNV-1a 64 of the 65,536 codes for
    /// inputs -32768..=32767, plus spot values at the edges.
    #[test]
    fn encoders_match_reference() {
        fn fnv(codes: impl Iterator<Item = u8>) -> u64 {
            codes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
        }
        assert_eq!(
            fnv((i16::MIN..=i16::MAX).map(ulaw_encode)),
            0xd5ee_23f7_d0ff_ae91
        );
        assert_eq!(
            fnv((i16::MIN..=i16::MAX).map(alaw_encode)),
            0xf030_666e_b780_cf25
        );
        let spots: [(i16, u8, u8); 16] = [
            (-32768, 0x00, 0x2a),
            (-32124, 0x00, 0x2a),
            (-8160, 0x1f, 0x0a),
            (-1, 0x7e, 0x55),
            (0, 0xff, 0xd5),
            (1, 0xff, 0xd5),
            (7, 0xfe, 0xd5),
            (8, 0xfe, 0xd5),
            (15, 0xfd, 0xd5),
            (16, 0xfd, 0xd4),
            (100, 0xf2, 0xd3),
            (1000, 0xce, 0xfa),
            (-1000, 0x4e, 0x7a),
            (8158, 0x9f, 0x8a),
            (8159, 0x9f, 0x8a),
            (32767, 0x80, 0xaa),
        ];
        for (x, u, a) in spots {
            assert_eq!(ulaw_encode(x), u, "µ-law of {x}");
            assert_eq!(alaw_encode(x), a, "A-law of {x}");
        }
        // Monotonic: a larger input never gives a smaller decoded level.
        let mut last = (i16::MIN, i16::MIN);
        for x in i16::MIN..=i16::MAX {
            let now = (ulaw_decode(ulaw_encode(x)), alaw_decode(alaw_encode(x)));
            assert!(now.0 >= last.0 && now.1 >= last.1, "at {x}");
            last = now;
        }
    }

    #[test]
    fn codec_round_trip_and_payload_types() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 12_000.0) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
            let mut bytes = Vec::new();
            codec.encode(&pcm, &mut bytes);
            assert_eq!(bytes.len(), 160);
            let mut back = Vec::new();
            codec.decode(&bytes, &mut back);
            for (a, b) in pcm.iter().zip(&back) {
                // Quantisation error is at most half a step: 1/32 of the level plus a little.
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= i32::from(a.unsigned_abs() / 32 + 16)
                );
            }
            let mut z = Vec::new();
            codec.decode(&[codec.silence()], &mut z);
            assert_eq!(z[0].abs(), if codec == Codec::Pcmu { 0 } else { 8 });
        }
        assert_eq!(Codec::from_payload_type(101), None);
    }
}
