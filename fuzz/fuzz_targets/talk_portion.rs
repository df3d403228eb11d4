//! Intercom: binary WebSocket frames as "voice message portions". Every input is first one
//! frame through `Portion::decode`; then it is cut into frames (2-byte length prefix) that a
//! `Talks` table takes from the speaker or a stranger, 20 ms apart, with a timeout at the end.
//! Invariants: a decoded portion is within its bounds and encodes back to the same bytes; the
//! table forwards strictly increasing sequence numbers, only for its one stream, only the
//! speaker's; the stored copy, if any, is an Ogg Opus file our reader accepts with one packet
//! per forwarded portion.
#![no_main]

use std::time::{Duration, Instant};

use ivm_talk::{Event, Talks};
use ivm_wire::talk::{Portion, MAX_PORTION_BYTES};
use ivm_wire::Guid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Portion::decode(data) {
        assert!(!p.opus.is_empty() && p.opus.len() <= MAX_PORTION_BYTES);
        assert_ne!(p.stream, 0);
        assert_eq!(p.encode().as_deref(), Ok(data));
    }

    let (ann, bob) = (Guid::from_u128(1), Guid::from_u128(2));
    let t0 = Instant::now();
    let mut talks = Talks::new();
    let Ok(stream) = talks.start(t0, ann, vec![bob], 20) else {
        panic!("a fresh table starts a talk");
    };
    let mut rest = data;
    let mut step = 0u64;
    while rest.len() >= 2 && step < 2_000 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]) & 0x1fff);
        let from_stranger = rest[0] & 0x80 != 0;
        rest = &rest[2..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        step += 1;
        if let Ok(p) = Portion::decode(frame) {
            let who = if from_stranger { bob } else { ann };
            let _ = talks.portion(t0 + Duration::from_millis(20 * step), who, p);
        }
    }
    talks.timeout(t0 + Duration::from_secs(3_600));
    let mut last_seq: Option<u32> = None;
    let mut forwarded = 0u32;
    let mut ends = 0;
    let mut paged = Vec::new();
    while let Some(ev) = talks.poll_event() {
        match ev {
            Event::Pages(p) => {
                assert_eq!(p.stream, stream);
                assert_eq!(ends, 0, "no pages after the end");
                paged.extend_from_slice(&p.bytes);
            }
            Event::Forward(f) => {
                assert_eq!(f.stream, stream);
                assert!(last_seq.is_none_or(|s| f.seq > s), "order");
                assert!(!f.opus.is_empty() && f.opus.len() <= MAX_PORTION_BYTES);
                last_seq = Some(f.seq);
                forwarded += 1;
                assert_eq!(ends, 0, "nothing forwarded after the end");
            }
            Event::Ended(e) => {
                ends += 1;
                match e.stored {
                    Some(s) => {
                        let info = ivm_media::ogg_opus_info(&s.ogg).expect("stored copy parses");
                        assert_eq!(info.packets, forwarded);
                        assert_eq!(s.packets, forwarded);
                        assert!(s.ogg.starts_with(&paged), "journal pages are a prefix");
                    }
                    None => assert_eq!(forwarded, 0),
                }
            }
        }
    }
    assert_eq!(ends, 1, "the talk always ends");
    assert!(talks.is_empty());
});
