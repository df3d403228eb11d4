//! [`OpusFrameEncoder`]: 48 kHz mono PCM in, one Opus packet per 20 ms frame out, for a live
//! talk whose portions must leave the moment each frame is full (the whole-file encoder
//! [`crate::encode_pcm_mono`] only returns when the recording is complete). Same settings
//! as that encoder at 48 kHz (VoIP, about 24 kbit/s VBR, libopus's default complexity), so a
//! live talk's stored copy sounds like an uploaded message.

use crate::MediaError;

/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
const BITRATE: i32 = 24_000;

/// An Opus encoder fed one 20 ms frame at a time.
pub struct OpusFrameEncoder {
    enc: opus::Encoder,
    pre_skip: u16,
    /// Samples in one 20 ms frame at the input rate.
    frame: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for OpusFrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusFrameEncoder")
            .field("pre_skip", &self.pre_skip)
            .finish()
    }
}

impl OpusFrameEncoder {
    /// A mono 48 kHz encoder.
    pub fn new() -> Result<Self, MediaError> {
        Self::with_rate(48_000)
    }

    /// A mono encoder fed at `rate` (8, 12, 16, 24 or 48 kHz; libopus resamples inside, so
    /// a phone's 8 kHz G.711 audio goes in as it is, with no resampler of ours at each frame's
    /// edge). Frames are `rate / 50` samples.
    pub fn with_rate(rate: u32) -> Result<Self, MediaError> {
        let mut enc = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)?;
        enc.set_bitrate(opus::Bitrate::Bits(BITRATE))?;
        enc.set_vbr(true)?;
        // libopus reports the lookahead at the input rate; OpusHead counts at 48 kHz.
        let lookahead = enc.get_lookahead()? as u32 * (48_000 / rate.max(1));
        let pre_skip = u16::try_from(lookahead)
            .map_err(|_| MediaError::Codec("encoder lookahead out of range".into()))?;
        Ok(OpusFrameEncoder {
            enc,
            pre_skip,
            frame: rate as usize / 50,
            buf: vec![0; 4_000],
        })
    }

    /// Samples in one frame at the input rate.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// The encoder's lookahead in 48 kHz samples (the stream's pre-skip).
    pub fn pre_skip(&self) -> u16 {
        self.pre_skip
    }

    /// Encodes one frame; a short last frame is padded with silence.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, MediaError> {
        if pcm.len() > self.frame {
            return Err(MediaError::Codec(format!(
                "a frame holds at most {} samples, not {}",
                self.frame,
                pcm.len()
            )));
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let frame = &mut frame[..self.frame];
        frame[..pcm.len()].copy_from_slice(pcm);
        let n = self.enc.encode(frame, &mut self.buf)?;
        Ok(self.buf[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_20_ms_packets_that_make_a_playable_stream() {
        let mut enc = OpusFrameEncoder::new().expect("encoder");
        let mut w = crate::OggOpusWriter::new(1, enc.pre_skip(), 48_000).expect("writer");
        for f in 0..50 {
            let pcm: Vec<i16> = (0..FRAME_SAMPLES)
                .map(|i| {
                    let t = (f * FRAME_SAMPLES + i) as f32 / 48_000.0;
                    ((2.0 * std::f32::consts::PI * 300.0 * t).sin() * 8000.0) as i16
                })
                .collect();
            let p = enc.encode(&pcm).expect("encode");
            assert_eq!(crate::packet_samples(&p).expect("toc"), 960);
            w.push(&p).expect("push");
        }
        assert!(enc.encode(&[0; FRAME_SAMPLES + 1]).is_err());
        let ogg = w.finish().expect("finish");
        let wav = crate::ogg_opus_to_wav(&ogg).expect("decodes");
        let pcm = crate::wav_to_pcm(&wav).expect("wav");
        let secs = pcm.samples.len() as f32 / pcm.rate as f32;
        assert!((0.9..=1.1).contains(&secs), "{secs}");
        assert!(pcm.samples.iter().any(|s| s.abs() > 0.05), "not silent");
    }
}
