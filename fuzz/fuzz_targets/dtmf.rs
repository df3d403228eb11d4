//! RFC 4733 telephone-event payloads (the keys a desk phone sends during a call): the event
//! parser with its encode round trip, the receiver that turns retransmitted events into one
//! key press each, and the in-band detector over G.711 audio a gateway may send instead.
#![no_main]

use ivm_rtp::dtmf::KeyEvent;
use ivm_rtp::{Codec, Digit, DtmfReceiver, InbandDetector, TelephoneEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // The first part: a run of (timestamp, event) pairs for the receiver.
    let cut = (usize::from(split) * 8).min(rest.len());
    let (events, audio) = rest.split_at(cut);
    let mut rx = DtmfReceiver::new();
    let mut presses = 0usize;
    for rec in events.chunks(8) {
        let ts = u32::from_be_bytes([
            rec[0],
            *rec.get(1).unwrap_or(&0),
            *rec.get(2).unwrap_or(&0),
            *rec.get(3).unwrap_or(&0),
        ]);
        let payload = rec.get(4..).unwrap_or(&[]);
        if let Ok(ev) = TelephoneEvent::parse(payload) {
            let bytes = ev.to_bytes();
            assert_eq!(TelephoneEvent::parse(&bytes), Ok(ev), "event round trip");
            // Everything but the reserved bit (sent as zero) is kept.
            assert_eq!(bytes[1], payload[1] & !0x40);
            assert_eq!((bytes[0], &bytes[2..]), (payload[0], &payload[2..4]));
        }
        if let Ok(KeyEvent::Pressed(d)) = rx.handle(ts, payload) {
            presses += 1;
            assert_eq!(Digit::from_event(d.event()), Some(d));
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
        }
    }
    assert!(presses <= events.len() / 8 + 1);
    // The rest: PCMU audio, as received, through the in-band detector.
    let mut pcm = Vec::with_capacity(audio.len());
    Codec::Pcmu.decode(audio, &mut pcm);
    assert_eq!(pcm.len(), audio.len());
    let mut det = InbandDetector::new();
    let mut digits = 0;
    for frame in pcm.chunks(160) {
        digits += det.push(frame).len();
    }
    // A key needs tens of milliseconds of tone: at most one per frame is already generous.
    assert!(digits <= pcm.len() / 160 + 1);
});
