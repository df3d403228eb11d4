//! The Ogg Opus reader (uploads, and the stored files `ivm play` decodes): the bounded page
//! reader (capture pattern, CRC, lacing, one logical stream), OpusHead/OpusTags checks,
//! granule positions, then decoding every packet with libopus to WAV. Invariants: the WAV
//! holds exactly the playable samples the headers promised, within the one-hour cap. Page
//! checksums are made right before a second pass (see `ivm_fuzz::fix_ogg_crcs`).
#![no_main]

use ivm_media::{ogg_opus_info, ogg_opus_to_wav, MAX_SECONDS};
use libfuzzer_sys::fuzz_target;

/// The reader and decoder on one input.
fn check(data: &[u8]) {
    let Ok(info) = ogg_opus_info(data) else {
        return;
    };
    assert!(info.channels == 1 || info.channels == 2);
    assert!(u64::from(info.packets) <= data.len() as u64);
    if let Ok(wav) = ogg_opus_to_wav(data) {
        assert!(info.samples <= u64::from(MAX_SECONDS) * 48_000);
        assert_eq!(
            wav.len() as u64,
            44 + 2 * info.samples,
            "WAV length vs granules ({info:?})"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // As it came (bad checksums are refused early), then with every page's CRC made right,
    // so mutations reach the headers, lacing, granules and packets.
    check(data);
    let mut fixed = data.to_vec();
    ivm_fuzz::fix_ogg_crcs(&mut fixed);
    if fixed != data {
        check(&fixed);
    }
});
