//! An incremental Ogg Opus (RFC 7845) writer for packets that arrive one at a time, such as the
//! frames of a live talk, so the stored copy is built while the talk goes on and is ready the
//! moment it ends.
//!
//! # Stream layout written
//! Same as [`crate::encode_pcm_mono`]: page 0 `OpusHead` alone (BOS), page 1 `OpusTags`, then
//! audio pages of up to [`PACKETS_PER_PAGE`] packets whose granule is the number of 48 kHz
//! samples decoded through the page's last packet (start offset 0, pre-skip included). The
//! last packet is held back until the next one arrives or [`OggOpusWriter::finish`] is called,
//! because the Ogg writer must know, when it writes a packet, whether it ends the stream (EOS).

use crate::ogg_opus::{io, start_stream, MAX_PACKET_SAMPLES, PACKETS_PER_PAGE, RATE};
use crate::{MediaError, MAX_SECONDS};
use ogg::{PacketWriteEndInfo, PacketWriter};

/// Builds one mono Ogg Opus stream from already encoded Opus packets, in order.
pub struct OggOpusWriter {
    w: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    pre_skip: u16,
    /// 48 kHz samples of every packet pushed so far (the held one included).
    granule: u64,
    /// The newest packet and the granule through it, not yet written.
    held: Option<(Vec<u8>, u64)>,
    /// Packets written to pages (the held one excluded).
    written: u32,
    /// Packets per audio page ([`PACKETS_PER_PAGE`] unless set): a live talk closes a page
    /// every half second so its journal can make what arrived durable that often.
    page_packets: u32,
}

impl std::fmt::Debug for OggOpusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("pre_skip", &self.pre_skip)
            .field("granule", &self.granule)
            .field("written", &self.written)
            .field("page_packets", &self.page_packets)
            .finish()
    }
}

impl OggOpusWriter {
    /// Start a stream: writes `OpusHead` (1 channel, `pre_skip` samples at 48 kHz to drop at
    /// the start: the sender's encoder lookahead) and `OpusTags`. `serial` names the logical
    /// stream; `input_rate` is informational (the sender's capture rate, 0 if unknown).
    pub fn new(serial: u32, pre_skip: u16, input_rate: u32) -> Result<Self, MediaError> {
        let w = start_stream(serial, pre_skip, input_rate)?;
        Ok(Self {
            w,
            serial,
            pre_skip,
            granule: 0,
            held: None,
            written: 0,
            page_packets: PACKETS_PER_PAGE,
        })
    }

    /// Close an audio page every `packets` packets (at least 1) instead of every
    /// [`PACKETS_PER_PAGE`]. Smaller pages cost 27 bytes plus lacing each; a live talk uses
    /// half a second's worth so a crash loses at most that much of what was not yet on disk.
    pub fn with_page_packets(mut self, packets: u32) -> Self {
        self.page_packets = packets.max(1);
        self
    }

    /// The pages closed so far (headers included), as they will be in the finished file: a
    /// prefix of it. A caller that appends `closed()[done..]` to a journal after each push
    /// keeps a durable copy that is whole pages only.
    pub fn closed(&self) -> &[u8] {
        self.w.inner()
    }

    /// Append one Opus packet. Returns its length in 48 kHz samples (from its TOC byte).
    ///
    /// An empty or malformed packet, or one over 120 ms, is [`MediaError::BadPacket`]; a stream
    /// that would pass [`MAX_SECONDS`] is [`MediaError::TooLong`]. Either way nothing is
    /// appended and the writer stays usable.
    pub fn push(&mut self, packet: &[u8]) -> Result<u32, MediaError> {
        let n = packet_samples(packet)?;
        let granule = self.granule + u64::from(n);
        if granule > u64::from(MAX_SECONDS) * RATE + u64::from(self.pre_skip) {
            return Err(MediaError::TooLong {
                seconds: granule / RATE,
                max_seconds: MAX_SECONDS,
            });
        }
        if let Some((p, g)) = self.held.take() {
            self.written += 1;
            let end = if self.written.is_multiple_of(self.page_packets) {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.w.write_packet(p, self.serial, end, g).map_err(io)?;
        }
        self.held = Some((packet.to_vec(), granule));
        self.granule = granule;
        Ok(n)
    }

    /// Packets pushed so far.
    pub fn packets(&self) -> u32 {
        self.written + u32::from(self.held.is_some())
    }

    /// Playable length so far in 48 kHz samples (pre-skip removed).
    pub fn samples(&self) -> u64 {
        self.granule.saturating_sub(u64::from(self.pre_skip))
    }

    /// Playable length so far in milliseconds.
    pub fn duration_ms(&self) -> u32 {
        u32::try_from(self.samples() * 1000 / RATE).unwrap_or(u32::MAX)
    }

    /// Bytes of the stream so far (pages already closed plus the held packet), to bound memory.
    pub fn len(&self) -> usize {
        self.w.inner().len() + self.held.as_ref().map_or(0, |(p, _)| p.len())
    }

    /// Whether no audio packet was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.held.is_none() && self.written == 0
    }

    /// Close the stream (the last packet goes on a page flagged EOS) and return the file.
    /// A stream with no audio packet is [`MediaError::NoSound`].
    pub fn finish(mut self) -> Result<Vec<u8>, MediaError> {
        let (p, g) = self.held.take().ok_or(MediaError::NoSound)?;
        self.w
            .write_packet(p, self.serial, PacketWriteEndInfo::EndStream, g)
            .map_err(io)?;
        Ok(self.w.into_inner())
    }
}

/// Samples (48 kHz) an Opus packet decodes to, from its TOC (and frame count) byte; refuses
/// empty, malformed and over-long (more than 120 ms) packets.
pub fn packet_samples(packet: &[u8]) -> Result<u32, MediaError> {
    if packet.is_empty() {
        return Err(MediaError::BadPacket("empty packet".into()));
    }
    let n = opus::packet::get_nb_samples(packet, 48_000)
        .map_err(|e| MediaError::BadPacket(e.to_string()))?;
    if n == 0 || n > MAX_PACKET_SAMPLES {
        return Err(MediaError::BadPacket(format!("{n} samples per packet")));
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ogg_opus_info, ogg_opus_to_wav};

    /// Encode `frames` 20 ms frames of a tone as separate Opus packets (what a browser sends).
    fn packets(frames: usize) -> Vec<Vec<u8>> {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .expect("test");
        let mut out = Vec::new();
        for f in 0..frames {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f32 / 48_000.0;
                    (8_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            out.push(enc.encode_vec(&pcm, 4_000).expect("test"));
        }
        out
    }

    #[test]
    fn pushed_packets_make_a_valid_file() {
        for frames in [1usize, 2, 49, 50, 51, 150] {
            let mut w = OggOpusWriter::new(7, 312, 48_000).expect("test");
            for p in packets(frames) {
                assert_eq!(w.push(&p).expect("test"), 960);
            }
            assert_eq!(w.packets(), frames as u32);
            let want = (frames as u64 * 960).saturating_sub(312);
            assert_eq!(w.samples(), want);
            let ogg = w.finish().expect("test");
            let info = ogg_opus_info(&ogg).expect("test");
            assert_eq!(info.samples, want, "{frames} frames");
            assert_eq!(info.packets, frames as u32);
            assert_eq!(info.pre_skip, 312);
            assert!(info.has_eos);
            let wav = ogg_opus_to_wav(&ogg).expect("test");
            assert_eq!(wav.len() as u64, 44 + 2 * want);
        }
    }

    #[test]
    fn bad_packets_are_refused_and_change_nothing() {
        let mut w = OggOpusWriter::new(1, 312, 0).expect("test");
        let good = packets(1).remove(0);
        w.push(&good).expect("test");
        let before = w.len();
        // Empty; code 3 with a frame count of 0; code 3 asking for 48 x 20 ms (960 ms).
        for bad in [&[][..], &[0x03, 0x00][..], &[0x0b, 0x30][..]] {
            assert!(
                matches!(w.push(bad), Err(MediaError::BadPacket(_))),
                "{bad:?}"
            );
        }
        assert_eq!(w.len(), before);
        assert_eq!(w.packets(), 1);
        assert!(ogg_opus_info(&w.finish().expect("test")).is_ok());
    }

    #[test]
    fn no_packet_is_no_sound() {
        let w = OggOpusWriter::new(1, 312, 0).expect("test");
        assert!(w.is_empty());
        assert_eq!(w.finish(), Err(MediaError::NoSound));
    }
}
