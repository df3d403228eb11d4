//! What a crash leaves of a live talk's stored copy, made whole again: the Ogg pages a
//! journal kept (possibly ending in a torn page, never with an end-of-stream page) become a
//! valid Ogg Opus file of every complete audio packet, flagged EOS, so the talk can be
//! committed as a partial message. Also the waveform of a stored file ([`ogg_opus_peaks`]),
//! which a talk's copy (packets stored as sent, never decoded) does not have yet.

use crate::ogg_opus::{self, parse_head};
use crate::ogg_page::{parse_stream, whole_pages_len};
use crate::{dsp, MediaError, OggOpusWriter, MAX_SECONDS};

/// A talk's copy rebuilt after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    /// The file: `OpusHead` and `OpusTags` as the journal had them (pre-skip, input rate),
    /// then every complete audio packet, the last page flagged end-of-stream.
    pub ogg: Vec<u8>,
    /// Playable length in milliseconds.
    pub duration_ms: u32,
    /// Audio packets kept.
    pub packets: u32,
    /// Bytes at the end of the input that were not whole pages (a torn last page).
    pub torn_bytes: usize,
}

/// Rebuilds the Ogg Opus stream a crash cut short. The input is cut to its last whole page
/// (a torn or corrupt page and anything after it is dropped), a packet left open by the last
/// page is dropped, and every complete audio packet before the first one that is not Opus is
/// written again into a fresh stream (same serial, pre-skip and input rate) that ends with
/// EOS. `Ok(None)`: no audio packet survived (an empty talk: nothing to store). A prefix that
/// is not an Ogg Opus stream at all (no `OpusHead`) is an error.
pub fn salvage_ogg_opus(bytes: &[u8]) -> Result<Option<Salvaged>, MediaError> {
    let whole = whole_pages_len(bytes);
    let torn_bytes = bytes.len() - whole;
    if whole == 0 {
        return Ok(None);
    }
    let stream = parse_stream(&bytes[..whole])?;
    let Some(head) = stream.packets.first() else {
        return Ok(None);
    };
    let (_, pre_skip, input_rate, _) = parse_head(&head.data)?;
    let serial = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
    let mut w = OggOpusWriter::new(serial, pre_skip, input_rate)?;
    for p in stream.packets.iter().skip(2) {
        match w.push(&p.data) {
            Ok(_) => {}
            // A packet that is not Opus cannot have come from the talk core, which checks
            // every one: the journal is damaged from here on.
            Err(MediaError::BadPacket(_) | MediaError::TooLong { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    if w.is_empty() {
        return Ok(None);
    }
    let packets = w.packets();
    let duration_ms = w.duration_ms();
    let ogg = w.finish()?;
    Ok(Some(Salvaged {
        ogg,
        duration_ms,
        packets,
        torn_bytes,
    }))
}

/// The waveform summary ([`crate::peaks`]) of an Ogg Opus file: every packet decoded (codec
/// work: run it off the async threads). Refuses more than [`MAX_SECONDS`] of audio.
pub fn ogg_opus_peaks(ogg: &[u8]) -> Result<Vec<u8>, MediaError> {
    let parsed = ogg_opus::parse(ogg)?;
    let pcm = ogg_opus::decode_mono(&parsed, MAX_SECONDS)?;
    Ok(dsp::peaks(&dsp::to_i16(&pcm)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ogg_opus_info, ogg_opus_to_wav};

    /// `frames` 20 ms packets of a 440 Hz tone.
    fn packets(frames: usize) -> Vec<Vec<u8>> {
        let mut enc = crate::OpusFrameEncoder::new().expect("encoder");
        let pcm: Vec<i16> = (0..frames * crate::FRAME_SAMPLES)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                (8_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        pcm.chunks(crate::FRAME_SAMPLES)
            .map(|c| enc.encode(c).expect("encode"))
            .collect()
    }

    /// What a talk's journal holds after `frames` packets: the closed pages, no EOS.
    fn journal(frames: usize, page_packets: u32) -> Vec<u8> {
        let mut w = OggOpusWriter::new(9, 312, 48_000)
            .expect("writer")
            .with_page_packets(page_packets);
        for p in packets(frames) {
            w.push(&p).expect("push");
        }
        w.closed().to_vec()
    }

    #[test]
    fn whole_pages_are_kept_and_ended_with_eos() {
        // 60 frames, pages of 25: two audio pages closed (50 packets), 10 in the open page.
        let j = journal(60, 25);
        let s = salvage_ogg_opus(&j).expect("salvage").expect("audio");
        assert_eq!(s.packets, 50);
        assert_eq!(s.torn_bytes, 0);
        let info = ogg_opus_info(&s.ogg).expect("valid");
        assert!(info.has_eos);
        assert_eq!(info.pre_skip, 312);
        assert_eq!(info.samples, 50 * 960 - 312);
        assert_eq!(s.duration_ms, info.duration_ms);
        assert!(ogg_opus_to_wav(&s.ogg).is_ok());
    }

    #[test]
    fn a_torn_last_page_is_dropped() {
        let j = journal(100, 25);
        let whole = salvage_ogg_opus(&j).expect("salvage").expect("audio");
        assert_eq!(whole.packets, 75);
        // Find where the last page starts, then cut inside it at several places.
        let last = j.windows(4).rposition(|w| w == b"OggS").expect("a page");
        for cut in [last + 1, last + 20, last + 40, j.len() - 1] {
            let s = salvage_ogg_opus(&j[..cut])
                .expect("salvage")
                .expect("audio");
            assert_eq!(s.packets, 50, "cut at {cut}");
            assert_eq!(s.torn_bytes, cut - last);
            assert!(ogg_opus_info(&s.ogg).expect("valid").has_eos);
        }
        // A flipped byte in the last page fails its CRC: the page is dropped the same way.
        let mut bad = j.clone();
        let at = j.len() - 3;
        bad[at] ^= 0x40;
        let s = salvage_ogg_opus(&bad).expect("salvage").expect("audio");
        assert_eq!(s.packets, 50);
    }

    #[test]
    fn an_empty_talk_leaves_nothing() {
        // Nothing at all, the headers only, a torn header page.
        assert_eq!(salvage_ogg_opus(&[]).expect("empty"), None);
        let headers = journal(0, 25);
        assert_eq!(salvage_ogg_opus(&headers).expect("headers"), None);
        assert_eq!(salvage_ogg_opus(&headers[..10]).expect("torn"), None);
        // Fewer packets than a page: still nothing on disk.
        assert_eq!(salvage_ogg_opus(&journal(20, 25)).expect("open page"), None);
    }

    #[test]
    fn not_opus_is_an_error() {
        let mut out = Vec::new();
        {
            let mut w = ogg::PacketWriter::new(&mut out);
            w.write_packet(
                b"\x01vorbis".to_vec(),
                1,
                ogg::PacketWriteEndInfo::EndPage,
                0,
            )
            .expect("write");
        }
        assert!(salvage_ogg_opus(&out).is_err());
    }

    #[test]
    fn peaks_of_a_talk_copy_show_its_sound() {
        let mut w = OggOpusWriter::new(1, 312, 48_000).expect("writer");
        for p in packets(100) {
            w.push(&p).expect("push");
        }
        let peaks = ogg_opus_peaks(&w.finish().expect("finish")).expect("peaks");
        assert_eq!(peaks.len(), crate::PEAKS);
        assert!(
            peaks.iter().filter(|&&p| p > 100).count() > crate::PEAKS / 2,
            "{peaks:?}"
        );
    }
}
