//! Datagrams on a call's media port: RTP/RTCP demultiplexing, the RTP parser with its
//! encode round trip, and the whole receive side of a session (source check, telephone
//! events, jitter buffer, G.711 decoding, gap filling, inactivity) and the call recorder fed
//! with what it releases. The input is a sequence of length-prefixed datagrams 20 ms apart.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ivm_rtp::packet::MAX_PACKET;
use ivm_rtp::{demux, Datagram, Event, Latching, Recorder, RtpPacket, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let phone: SocketAddr = ([10, 0, 0, 5], 4000).into();
    let other: SocketAddr = ([10, 0, 0, 6], 4000).into();
    let mut config = SessionConfig::new(phone);
    if mode & 1 != 0 {
        config.latching = Latching::LatchFirst;
    }
    let mut session = Session::new(config, t0());
    let mut recorder = Recorder::new(Duration::from_secs(5));
    let mut now = t0();
    for (i, dgram) in ivm_fuzz::Chunks(rest).enumerate() {
        match demux(dgram) {
            Ok(Datagram::Rtp(p)) => {
                assert_eq!(RtpPacket::parse(dgram).as_ref(), Ok(&p));
                let bytes = p.to_bytes().expect("a parsed packet encodes");
                assert!(bytes.len() <= MAX_PACKET);
                assert_eq!(RtpPacket::parse(&bytes).as_ref(), Ok(&p), "RTP round trip");
            }
            Ok(Datagram::Rtcp { packet_type }) => assert!((192..=223).contains(&packet_type)),
            Err(_) => {}
        }
        // Every fourth datagram from a stranger, as on a shared LAN.
        let from = if mode & 2 != 0 && i % 4 == 3 {
            other
        } else {
            phone
        };
        let _ = session.handle_packet(now, from, dgram);
        now += Duration::from_millis(20);
        session.handle_timeout(now);
        while let Some(ev) = session.poll_event() {
            if let Event::Audio(pcm) = ev {
                // Gap filling is capped (5 s of 8 kHz) plus one frame's samples.
                assert!(
                    pcm.len() <= 40_000 + MAX_PACKET,
                    "audio event of {}",
                    pcm.len()
                );
                let _ = recorder.push(&pcm);
            }
        }
        while session.poll_transmit(now).is_some() {}
    }
    // A long silence: everything buffered is released, inactivity is reported.
    now += Duration::from_secs(30);
    session.handle_timeout(now);
    while session.poll_event().is_some() {}
    assert!(recorder.duration() <= Duration::from_secs(6));
    let _ = session.stats();
});
