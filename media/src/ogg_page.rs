//! A bounded Ogg page reader (RFC 3533): pages with checked CRCs, reassembled into packets.
//!
//! Written here rather than taken from the `ogg` crate's reader so that every limit is explicit
//! and a hostile file can only produce an error: one logical stream, consecutive sequence
//! numbers, packets no larger than [`MAX_PACKET`], continuation flags that agree with the
//! lacing. Writing uses the `ogg` crate (see `ogg_opus.rs`).

use crate::MediaError;

/// Largest packet accepted (OpusTags with a picture could exceed it; we refuse those).
pub(crate) const MAX_PACKET: usize = 256 * 1024;

/// Size of the fixed part of a page header.
const HEADER: usize = 27;

/// Flag: the page begins with the continuation of a packet from the previous page.
pub(crate) const FLAG_CONTINUED: u8 = 0x01;
/// Flag: first page of a logical stream.
pub(crate) const FLAG_BOS: u8 = 0x02;
/// Flag: last page of a logical stream.
pub(crate) const FLAG_EOS: u8 = 0x04;

/// One page's metadata (its body has been split into packets).
#[derive(Debug, Clone)]
pub(crate) struct PageMeta {
    /// Header type flags.
    pub flags: u8,
    /// Granule position; `u64::MAX` (-1) when no packet ends on the page.
    pub granule: u64,
}

/// One reassembled packet and the pages it starts and ends on.
#[derive(Debug, Clone)]
pub(crate) struct OggPacket {
    /// Packet bytes.
    pub data: Vec<u8>,
    /// Index of the page the packet starts on.
    pub start_page: usize,
    /// Index of the page the packet ends on.
    pub end_page: usize,
}

/// A parsed single-stream Ogg file.
#[derive(Debug, Clone)]
pub(crate) struct OggStream {
    /// Every page, in order.
    pub pages: Vec<PageMeta>,
    /// Every complete packet, in order.
    pub packets: Vec<OggPacket>,
    /// True when some packet was still open at the end of the data.
    pub unfinished_packet: bool,
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut j = 0;
        while j < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            j += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, zero initial value and final xor).
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0u32;
    for part in parts {
        for &b in *part {
            crc = (crc << 8) ^ CRC_TABLE[usize::from(((crc >> 24) as u8) ^ b)];
        }
    }
    crc
}

fn bad(msg: impl Into<String>) -> MediaError {
    MediaError::BadOgg(msg.into())
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// Length of the longest prefix of `bytes` made of whole pages with good CRCs: where a file
/// cut short by a crash (a torn last page) stops being trustworthy. Only framing and CRCs are
/// checked here; [`parse_stream`] on the prefix checks the rest.
pub(crate) fn whole_pages_len(bytes: &[u8]) -> usize {
    let mut pos = 0usize;
    loop {
        let Some(header) = bytes.get(pos..pos + HEADER) else {
            return pos;
        };
        if &header[0..4] != b"OggS" {
            return pos;
        }
        let nsegs = usize::from(header[26]);
        let Some(lacing) = bytes.get(pos + HEADER..pos + HEADER + nsegs) else {
            return pos;
        };
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body_start = pos + HEADER + nsegs;
        let Some(body) = bytes.get(body_start..body_start + body_len) else {
            return pos;
        };
        let mut zeroed = [0u8; HEADER];
        zeroed.copy_from_slice(header);
        zeroed[22..26].fill(0);
        if crc32(&[&zeroed, lacing, body]) != le_u32(header, 22) {
            return pos;
        }
        pos = body_start + body_len;
    }
}

/// Parse a whole Ogg file holding exactly one logical stream.
///
/// Stops after the page flagged end-of-stream; anything after it is an error (a chained stream
/// or junk). Each page costs at least 27 input bytes, so the work is linear in the input.
pub(crate) fn parse_stream(bytes: &[u8]) -> Result<OggStream, MediaError> {
    let mut pages = Vec::new();
    let mut packets = Vec::new();
    let mut pos = 0usize;
    let mut serial = None;
    let mut open: Option<OggPacket> = None;
    let mut seen_eos = false;
    while pos < bytes.len() {
        let page_index = pages.len();
        if seen_eos {
            return Err(MediaError::Unsupported(
                "data after the end of the Ogg stream (chained streams are not supported)".into(),
            ));
        }
        let header = bytes
            .get(pos..pos + HEADER)
            .ok_or_else(|| bad(format!("page {page_index} is cut short")))?;
        if &header[0..4] != b"OggS" {
            return Err(bad(format!(
                "no page at byte {pos} (missing OggS capture pattern)"
            )));
        }
        if header[4] != 0 {
            return Err(bad(format!(
                "page {page_index} has unknown Ogg version {}",
                header[4]
            )));
        }
        let flags = header[5];
        if flags & !(FLAG_CONTINUED | FLAG_BOS | FLAG_EOS) != 0 {
            return Err(bad(format!(
                "page {page_index} has unknown flags {flags:#04x}"
            )));
        }
        let granule = le_u64(header, 6);
        let page_serial = le_u32(header, 14);
        let seq = le_u32(header, 18);
        let stored_crc = le_u32(header, 22);
        let nsegs = usize::from(header[26]);
        let lacing = bytes
            .get(pos + HEADER..pos + HEADER + nsegs)
            .ok_or_else(|| {
                bad(format!(
                    "page {page_index} is cut short in its lacing table"
                ))
            })?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body_start = pos + HEADER + nsegs;
        let body = bytes
            .get(body_start..body_start + body_len)
            .ok_or_else(|| bad(format!("page {page_index} is cut short in its body")))?;
        let mut zeroed = [0u8; HEADER];
        zeroed.copy_from_slice(header);
        zeroed[22..26].fill(0);
        if crc32(&[&zeroed, lacing, body]) != stored_crc {
            return Err(bad(format!("page {page_index} fails its CRC check")));
        }
        match serial {
            None => {
                if flags & FLAG_BOS == 0 {
                    return Err(bad("the first page lacks the beginning-of-stream flag"));
                }
                serial = Some(page_serial);
            }
            Some(s) if s != page_serial => {
                return Err(MediaError::Unsupported(
                    "more than one logical stream in the Ogg file (multiplexed or chained)".into(),
                ));
            }
            Some(_) => {
                if flags & FLAG_BOS != 0 {
                    return Err(bad(format!(
                        "page {page_index} repeats the beginning-of-stream flag"
                    )));
                }
            }
        }
        if usize::try_from(seq).ok() != Some(page_index) {
            return Err(bad(format!(
                "page {page_index} has sequence number {seq} (pages missing or reordered)"
            )));
        }
        let continued = flags & FLAG_CONTINUED != 0;
        match (&open, continued) {
            (Some(_), false) => {
                return Err(bad(format!(
                    "page {page_index} does not continue the packet left open by the page before"
                )))
            }
            (None, true) => {
                return Err(bad(format!(
                    "page {page_index} claims to continue a packet but none is open"
                )))
            }
            _ => {}
        }
        let mut at = 0usize;
        for &lace in lacing {
            let len = usize::from(lace);
            let chunk = body.get(at..at + len).unwrap_or(&[]);
            at += len;
            let pkt = open.get_or_insert_with(|| OggPacket {
                data: Vec::new(),
                start_page: page_index,
                end_page: page_index,
            });
            if pkt.data.len() + len > MAX_PACKET {
                return Err(bad(format!("a packet is larger than {MAX_PACKET} bytes")));
            }
            pkt.data.extend_from_slice(chunk);
            if lace < 255 {
                if let Some(mut done) = open.take() {
                    done.end_page = page_index;
                    packets.push(done);
                }
            }
        }
        pages.push(PageMeta { flags, granule });
        seen_eos = flags & FLAG_EOS != 0;
        pos = body_start + body_len;
    }
    if pages.is_empty() {
        return Err(bad("no pages"));
    }
    Ok(OggStream {
        pages,
        packets,
        unfinished_packet: open.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_known_page() {
        // A page built by the `ogg` crate's writer must pass our check.
        let mut out = Vec::new();
        {
            let mut w = ogg::PacketWriter::new(&mut out);
            w.write_packet(vec![1u8, 2, 3], 7, ogg::PacketWriteEndInfo::EndStream, 5)
                .expect("write");
        }
        let s = parse_stream(&out).expect("parse");
        assert_eq!(s.packets.len(), 1);
        assert_eq!(s.packets[0].data, vec![1, 2, 3]);
        assert_eq!(s.pages[0].granule, 5);
    }

    #[test]
    fn corrupt_crc_is_rejected() {
        let mut out = Vec::new();
        {
            let mut w = ogg::PacketWriter::new(&mut out);
            w.write_packet(vec![9u8; 600], 1, ogg::PacketWriteEndInfo::EndStream, 0)
                .expect("write");
        }
        let last = out.len() - 1;
        out[last] ^= 1;
        assert!(matches!(parse_stream(&out), Err(MediaError::BadOgg(_))));
    }

    #[test]
    fn truncated_pages_error() {
        let mut out = Vec::new();
        {
            let mut w = ogg::PacketWriter::new(&mut out);
            w.write_packet(vec![9u8; 600], 1, ogg::PacketWriteEndInfo::EndStream, 0)
                .expect("write");
        }
        for cut in 0..out.len() {
            assert!(parse_stream(&out[..cut]).is_err(), "cut at {cut}");
        }
    }
}
