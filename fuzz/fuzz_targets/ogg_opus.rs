//! The Ogg Opus reader (uploads, and the stored files `ivm play` decodes): the bounded page
//! reader (capture pattern, CRC, lacing, one logical stream), OpusHead/OpusTags checks,
//! granule positions, then decoding every packet with libopus to WAV. Invariants: the WAV
//! holds exactly the playable samples the headers promised, within the one-hour cap.
#![no_main]

use ivm_media::{ogg_opus_info, ogg_opus_to_wav, MAX_SECONDS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = ogg_opus_info(data) else { return };
    assert!(info.channels == 1 || info.channels == 2);
    assert!(u64::from(info.packets) <= data.len() as u64);
    if let Ok(wav) = ogg_opus_to_wav(data) {
        assert!(info.samples <= u64::from(MAX_SECONDS) * 48_000);
        assert_eq!(wav.len() as u64, 44 + 2 * info.samples, "WAV length vs granules ({info:?})");
    }
});
