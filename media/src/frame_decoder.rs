//! [`OpusFrameDecoder`]: one Opus packet in, mono PCM at the rate asked for out, for a live
//! talk played to a desk phone as it is spoken (the whole-file decoder
//! [`crate::ogg_opus_to_wav`] needs the whole stream). libopus decodes straight to 8 kHz for
//! G.711, with its own band-limiting, so there is no resampler of ours at each packet's edge.

use crate::MediaError;

/// Longest packet libopus decodes: 120 ms at 48 kHz.
const MAX_SAMPLES_48K: usize = 5_760;

/// A mono Opus decoder fed one packet at a time.
pub struct OpusFrameDecoder {
    dec: opus::Decoder,
    buf: Vec<i16>,
}

impl std::fmt::Debug for OpusFrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusFrameDecoder").finish()
    }
}

impl OpusFrameDecoder {
    /// A decoder giving mono PCM at `rate` (8, 12, 16, 24 or 48 kHz).
    pub fn new(rate: u32) -> Result<Self, MediaError> {
        Ok(OpusFrameDecoder {
            dec: opus::Decoder::new(rate, opus::Channels::Mono)?,
            buf: vec![0; MAX_SAMPLES_48K * rate as usize / 48_000],
        })
    }

    /// Decodes one packet (stereo packets are mixed down by libopus).
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        let n = self.dec.decode(packet, &mut self.buf, false)?;
        Ok(self.buf[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpusFrameEncoder, FRAME_SAMPLES};

    fn tone(frames: usize, len: usize, rate: f32) -> Vec<Vec<i16>> {
        (0..frames)
            .map(|f| {
                (0..len)
                    .map(|i| {
                        let t = (f * len + i) as f32 / rate;
                        ((2.0 * std::f32::consts::PI * 400.0 * t).sin() * 8000.0) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    }

    #[test]
    fn a_48k_talk_decodes_to_8k_frames_of_160_samples_with_its_level() {
        let mut enc = OpusFrameEncoder::new().expect("encoder");
        let mut dec = OpusFrameDecoder::new(8_000).expect("decoder");
        let mut out = Vec::new();
        for f in tone(50, FRAME_SAMPLES, 48_000.0) {
            let pcm = dec
                .decode(&enc.encode(&f).expect("encode"))
                .expect("decode");
            assert_eq!(pcm.len(), 160);
            out.extend(pcm);
        }
        // A 8000-peak sine is about 5657 RMS; the codec keeps it within a few dB.
        let level = rms(&out[1600..]);
        assert!((4000.0..7000.0).contains(&level), "{level}");
    }

    #[test]
    fn an_8k_phone_encodes_to_packets_of_20_ms_at_the_opus_rate() {
        let mut enc = OpusFrameEncoder::with_rate(8_000).expect("encoder");
        assert_eq!(enc.frame_samples(), 160);
        assert!(enc.pre_skip() > 0);
        let mut dec = OpusFrameDecoder::new(48_000).expect("decoder");
        let mut out = Vec::new();
        for f in tone(50, 160, 8_000.0) {
            let p = enc.encode(&f).expect("encode");
            assert_eq!(crate::packet_samples(&p).expect("toc"), 960, "20 ms");
            out.extend(dec.decode(&p).expect("decode"));
        }
        assert!(enc.encode(&[0; 161]).is_err(), "one frame at a time");
        let level = rms(&out[9600..]);
        assert!((4000.0..7000.0).contains(&level), "{level}");
    }
}
