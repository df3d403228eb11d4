//! `prepare_upload`, the whole path an uploaded audio part takes before it is stored: sniffing,
//! the WAV or Ogg Opus reader, resampling, silence trim, gain, Opus encoding, and the final
//! decode for duration and waveform. With the box's default `max_message_seconds` (600).
//! Invariants: what is accepted is a valid mono Ogg Opus file, within the limit, with its
//! waveform summary.
#![no_main]

use ivm_media::{ogg_opus_info, prepare_upload, PEAKS};
use libfuzzer_sys::fuzz_target;

/// `[limits] max_message_seconds` default.
const MAX_SECONDS: u32 = 600;

fuzz_target!(|data: &[u8]| {
    // Ogg page checksums are made right (the `ogg_opus` target covers bad ones), so
    // mutations of an Ogg upload reach the decoding and re-encoding.
    let mut bytes = data.to_vec();
    ivm_fuzz::fix_ogg_crcs(&mut bytes);
    let Ok(p) = prepare_upload(&bytes, MAX_SECONDS) else {
        return;
    };
    let info = ogg_opus_info(&p.ogg).expect("what we store is valid Ogg Opus");
    assert_eq!(info.channels, 1, "stored audio is mono");
    assert!(p.duration_ms <= MAX_SECONDS * 1000);
    assert_eq!(p.duration_ms, info.duration_ms);
    assert_eq!(p.peaks.len(), PEAKS);
});
