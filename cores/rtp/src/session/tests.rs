//! Session tests: byte-level source checks, keys, timeouts and pacing, and a two-peer
//! in-memory harness with a virtual clock (after quinn-proto's `Pair`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::dtmf::TelephoneEvent;
use crate::packet::{RtpHeader, RtpPacket};
use crate::recorder::Recorder;
use crate::vad::signals::{speechlike, Noise};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

const PHONE: &str = "192.0.2.10:4000";
const NAT: &str = "198.51.100.7:31000";
const STRANGER: &str = "203.0.113.66:5004";
const BOX: &str = "192.0.2.1:16384";

fn rtp(ssrc: u32, seq: u16, ts: u32, pt: u8, payload: Vec<u8>) -> Vec<u8> {
    RtpPacket {
        header: RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
            csrc: vec![],
            extension: None,
        },
        payload,
    }
    .to_bytes()
    .expect("build")
}

fn audio(seq: u16) -> Vec<u8> {
    rtp(0xabcd, seq, u32::from(seq) * 160, 0, vec![0x80; 160])
}

fn drain(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn strict_session_ignores_foreign_sources() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(addr(PHONE)), t0);
    assert_eq!(
        s.handle_packet(t0, addr(STRANGER), &audio(1)),
        Disposition::Foreign
    );
    // Same host, other port: still foreign.
    assert_eq!(
        s.handle_packet(t0, addr("192.0.2.10:4002"), &audio(1)),
        Disposition::Foreign
    );
    s.handle_timeout(t0 + Duration::from_secs(1));
    assert!(drain(&mut s).iter().all(|e| !matches!(e, Event::Audio(_))));
    assert_eq!(
        s.handle_packet(t0, addr(PHONE), &audio(2)),
        Disposition::Accepted
    );
    s.handle_timeout(t0 + Duration::from_millis(60));
    let ev = drain(&mut s);
    assert!(matches!(&ev[..], [Event::Audio(pcm)] if pcm.len() == 160 && pcm[0] == 32124));
    let st = s.stats();
    assert_eq!((st.foreign, st.jitter.received), (2, 1));
}

#[test]
fn latching_follows_the_first_source_once() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(addr(PHONE));
    cfg.latching = Latching::LatchFirst;
    let mut s = Session::new(cfg, t0);
    // Garbage and unknown payload types do not latch.
    assert_eq!(
        s.handle_packet(t0, addr(STRANGER), b"\x00garbage"),
        Disposition::Malformed
    );
    assert_eq!(
        s.handle_packet(t0, addr(STRANGER), &rtp(1, 1, 0, 99, vec![0; 10])),
        Disposition::UnknownPayload
    );
    assert_eq!(s.remote(), addr(PHONE));
    // The phone is behind NAT: its packets come from the NAT's address.
    assert_eq!(
        s.handle_packet(t0, addr(NAT), &audio(1)),
        Disposition::Accepted
    );
    assert_eq!(drain(&mut s), [Event::Latched(addr(NAT))]);
    assert_eq!(s.remote(), addr(NAT));
    // After latching, even the SDP address is foreign.
    assert_eq!(
        s.handle_packet(t0, addr(PHONE), &audio(2)),
        Disposition::Foreign
    );
    assert_eq!(
        s.handle_packet(t0, addr(STRANGER), &audio(2)),
        Disposition::Foreign
    );
    // We answer to the latched source.
    s.play(t0, &[0; 160]);
    assert_eq!(s.poll_transmit(t0).map(|t| t.destination), Some(addr(NAT)));
    // RTCP from the peer is recognised and skipped.
    assert_eq!(
        s.handle_packet(t0, addr(NAT), &[0x80, 201, 0, 1, 0, 0, 0, 1]),
        Disposition::Rtcp
    );
}

#[test]
fn key_presses_arrive_once_and_at_once() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(addr(PHONE)), t0);
    let ev = |end, dur| {
        TelephoneEvent {
            event: 11,
            end,
            volume: 10,
            duration: dur,
        }
        .to_bytes()
        .to_vec()
    };
    // Audio 1..=3, then '#' as start, continuation and three end packets, sequence 4..=8.
    for seq in 1..=3u16 {
        s.handle_packet(
            t0 + Duration::from_millis(20) * u32::from(seq),
            addr(PHONE),
            &audio(seq),
        );
    }
    let train = [
        (4u16, false, 0u16),
        (5, false, 400),
        (6, true, 800),
        (7, true, 800),
        (8, true, 800),
    ];
    for (seq, end, dur) in train {
        let at = t0 + Duration::from_millis(20) * u32::from(seq);
        assert_eq!(
            s.handle_packet(at, addr(PHONE), &rtp(0xabcd, seq, 640, 101, ev(end, dur))),
            Disposition::Accepted
        );
    }
    let digits: Vec<_> = drain(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::Digit(_)))
        .collect();
    assert_eq!(digits, [Event::Digit(Digit::Pound)]);
    // The key packets still count as received, not lost.
    s.flush();
    assert_eq!(s.stats().jitter.lost, 0);
    assert_eq!(s.stats().digits, 1);
}

#[test]
fn gaps_and_pauses_are_filled_with_silence() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(addr(PHONE)), t0);
    // Packets 1, 2, (3 lost), 4, then a 1 s pause (DTX) with the timestamp moving on.
    for (i, (seq, ts)) in [(1u16, 160u32), (2, 320), (4, 640), (5, 8800)]
        .into_iter()
        .enumerate()
    {
        let at = t0 + Duration::from_millis(20) * i as u32;
        s.handle_packet(at, addr(PHONE), &rtp(9, seq, ts, 8, vec![0xd5; 160]));
    }
    s.handle_timeout(t0 + Duration::from_secs(2));
    let events = drain(&mut s);
    let samples: usize = events
        .iter()
        .map(|e| match e {
            Event::Audio(p) => p.len(),
            Event::Silence(n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(samples, 8800 + 160 - 160);
    assert_eq!(s.stats().jitter.lost, 1);
    // The lost packet and the pause come apart from the audio, before it.
    let silences: Vec<usize> = events
        .iter()
        .filter_map(|e| {
            if let Event::Silence(n) = e {
                Some(*n)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(silences, vec![160, 8800 - 640 - 160]);
    assert!(events
        .iter()
        .all(|e| !matches!(e, Event::Audio(p) if p.len() != 160)));
}

/// What the station does for a call between two phones: the audio one leg receives is
/// played to the other. A pause of the sender (a phone with voice activity detection sends
/// nothing while its user is quiet) must not delay what follows it: the pause already passed
/// in real time, and the outgoing timestamps carry it. (Playing the pause's silence as well
/// sent every word after a 4 s pause 4 s late, found with PJSIP against liblinphone.)
#[test]
fn a_bridged_pause_does_not_delay_the_talk_after_it() {
    let t0 = Instant::now();
    let mut rx = Session::new(SessionConfig::new(addr(PHONE)), t0);
    let mut tx = Session::new(SessionConfig::new(addr(NAT)), t0);
    // 10 frames, 4 s of nothing, then 10 frames: packets arrive in real time.
    let mut arrivals = Vec::new();
    for i in 0..20u32 {
        let pause = if i >= 10 { 32_000 } else { 0 };
        let ts = i * 160 + pause;
        let at = t0 + Duration::from_micros(u64::from(ts) * 125);
        arrivals.push((at, rtp(7, i as u16, ts, 0, vec![0x20; 160])));
    }
    let mut sent = Vec::new(); // (when, packet)
    let mut now = t0;
    let end = t0 + Duration::from_secs(6);
    let mut next = arrivals.into_iter().peekable();
    while now < end {
        while let Some((at, bytes)) = next.next_if(|(at, _)| *at <= now) {
            let _ = at;
            rx.handle_packet(now, addr(PHONE), &bytes);
        }
        rx.handle_timeout(now);
        while let Some(e) = rx.poll_event() {
            if let Event::Audio(pcm) = e {
                tx.play(now, &pcm);
            }
        }
        while let Some(t) = tx.poll_transmit(now) {
            sent.push((now, RtpPacket::parse(&t.payload).expect("rtp")));
        }
        now += Duration::from_millis(5);
    }
    assert_eq!(sent.len(), 20, "every frame relayed, no silence added");
    let (first_at, first) = &sent[0];
    let (after_at, after) = &sent[10];
    // The talk after the pause leaves 4 s (+ a frame or two of pacing) after the first,
    // not 8 s, and its timestamp says so; the marker bit starts the new talkspurt.
    let gap = after_at.duration_since(*first_at);
    assert!(
        gap >= Duration::from_millis(4_100) && gap <= Duration::from_millis(4_300),
        "{gap:?}"
    );
    let ts_gap = after.header.timestamp.wrapping_sub(first.header.timestamp);
    assert!(
        (32_000 + 1_440..=32_000 + 2_400).contains(&ts_gap),
        "{ts_gap}"
    );
    assert!(after.header.marker);
}

#[test]
fn inactivity_is_reported_once_and_rearmed() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(addr(PHONE));
    cfg.inactivity = Duration::from_secs(5);
    let mut s = Session::new(cfg, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    s.handle_timeout(t0 + Duration::from_secs(4));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(drain(&mut s), [Event::Inactive]);
    s.handle_timeout(t0 + Duration::from_secs(9));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
    s.handle_packet(t0 + Duration::from_secs(10), addr(PHONE), &audio(1));
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_secs(10) + Duration::from_millis(60))
    );
    s.handle_timeout(t0 + Duration::from_secs(15));
    assert!(drain(&mut s).contains(&Event::Inactive));
}

#[test]
fn on_hold_nothing_is_sent_silence_is_no_inactivity_and_resume_restores_both() {
    let t0 = Instant::now();
    let mut cfg = SessionConfig::new(addr(PHONE));
    cfg.inactivity = Duration::from_secs(5);
    let mut s = Session::new(cfg, t0);
    // The phone holds (it offered sendonly; we answered recvonly).
    s.set_direction(t0, false, true);
    s.play(t0, &[100; 480]);
    for ms in (0..100).step_by(10) {
        assert_eq!(s.poll_transmit(t0 + Duration::from_millis(ms)), None);
    }
    assert_eq!(drain(&mut s), [Event::PlaybackDone], "paced out, not sent");
    assert_eq!(s.stats().sent, 0);
    // Silent for far longer than the inactivity timeout: no hang-up while held.
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + Duration::from_secs(60));
    assert!(drain(&mut s).is_empty());
    // Resumed (sendrecv): sending again, and the inactivity clock starts over from now.
    let resumed = t0 + Duration::from_secs(60);
    s.set_direction(resumed, true, true);
    s.play(resumed, &[100; 160]);
    assert!(s.poll_transmit(resumed).is_some(), "sent once resumed");
    s.handle_timeout(resumed + Duration::from_secs(4));
    assert!(!drain(&mut s).contains(&Event::Inactive));
    s.handle_timeout(resumed + Duration::from_secs(5));
    assert!(drain(&mut s).contains(&Event::Inactive));
}

#[test]
fn playback_is_paced_and_resumes_with_the_timestamp_moved_on() {
    let t0 = Instant::now();
    let mut s = Session::with_packetizer(
        SessionConfig::new(addr(PHONE)),
        t0,
        Packetizer::new(Codec::Pcmu, 77, 1000, 5000),
    );
    assert_eq!(s.poll_transmit(t0), None);
    s.play(t0, &vec![100; 400]); // 2.5 frames
    let parse = |t: Transmit| RtpPacket::parse(&t.payload).expect("our own packet");
    let a = parse(s.poll_transmit(t0).expect("first at once"));
    assert_eq!(s.poll_transmit(t0), None, "second waits 20 ms");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(20)));
    let b = parse(
        s.poll_transmit(t0 + Duration::from_millis(20))
            .expect("second"),
    );
    let c = parse(
        s.poll_transmit(t0 + Duration::from_millis(40))
            .expect("third"),
    );
    assert!(s.poll_transmit(t0 + Duration::from_secs(1)).is_none());
    assert_eq!(drain(&mut s), [Event::PlaybackDone]);
    assert_eq!(
        [a.header.sequence, b.header.sequence, c.header.sequence],
        [1000, 1001, 1002]
    );
    assert_eq!(
        [a.header.timestamp, b.header.timestamp, c.header.timestamp],
        [5000, 5160, 5320]
    );
    assert!(a.header.marker && !b.header.marker);
    assert_eq!(c.payload.len(), 160, "the last frame is padded");
    // 1 s after the last frame ended, a new prompt: timestamp moves on by the pause, marker set.
    s.play(t0 + Duration::from_millis(1060), &[0; 160]);
    let d = parse(
        s.poll_transmit(t0 + Duration::from_millis(1060))
            .expect("resumed"),
    );
    assert_eq!(
        (d.header.sequence, d.header.timestamp, d.header.marker),
        (1003, 5480 + 8000, true)
    );
    // A key press interrupts a prompt.
    s.play(t0 + Duration::from_secs(2), &[0; 1600]);
    s.stop_playback(t0 + Duration::from_secs(2));
    assert!(!s.is_playing());
    assert_eq!(s.poll_transmit(t0 + Duration::from_secs(3)), None);
}

/// Two sessions and a lossy, reordering network, on a virtual clock.
struct Pair {
    a: Session,
    b: Session,
    time: Instant,
    /// (arrival, from, to, bytes)
    wire: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    rng: Noise,
    /// Probability that a packet is held back 35 ms (arrives after the next one).
    reorder: f32,
    b_events: Vec<Event>,
    a_events: Vec<Event>,
}

impl Pair {
    fn new(codec: Codec, reorder: f32) -> Pair {
        let t0 = Instant::now();
        let mut ca = SessionConfig::new(addr(BOX));
        ca.codec = codec;
        let mut cb = SessionConfig::new(addr(PHONE));
        cb.codec = codec;
        Pair {
            a: Session::new(ca, t0),
            b: Session::new(cb, t0),
            time: t0,
            wire: Vec::new(),
            rng: Noise(0x5eed),
            reorder,
            b_events: Vec::new(),
            a_events: Vec::new(),
        }
    }

    /// Advance to the next thing that happens; false when nothing is left to do.
    fn step(&mut self) -> bool {
        let next_arrival = self.wire.iter().map(|w| w.0).min();
        let Some(t) = [self.a.poll_timeout(), self.b.poll_timeout(), next_arrival]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.time = self.time.max(t);
        let now = self.time;
        let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
        self.wire = later;
        let mut due = due;
        due.sort_by_key(|w| w.0);
        for (_, from, to, bytes) in due {
            // A is the phone (at PHONE, sending to BOX), B the box (at BOX, sending to PHONE).
            let s = if to == addr(BOX) {
                &mut self.b
            } else {
                &mut self.a
            };
            s.handle_packet(now, from, &bytes);
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        while let Some(tx) = self.a.poll_transmit(now) {
            let extra = if (self.rng.next() + 1.0) / 2.0 < self.reorder {
                35
            } else {
                0
            };
            let arrival = now + Duration::from_millis(10 + extra);
            self.wire
                .push((arrival, addr(PHONE), tx.destination, tx.payload));
        }
        while let Some(tx) = self.b.poll_transmit(now) {
            self.wire.push((
                now + Duration::from_millis(10),
                addr(BOX),
                tx.destination,
                tx.payload,
            ));
        }
        self.a_events
            .extend(std::iter::from_fn(|| self.a.poll_event()));
        self.b_events
            .extend(std::iter::from_fn(|| self.b.poll_event()));
        true
    }

    /// Step until A has played everything and B has released it all.
    fn drive(&mut self, limit: Duration) {
        let end = self.time + limit;
        while self.time < end {
            let done = self.a_events.contains(&Event::PlaybackDone)
                && self.wire.is_empty()
                && self.b.jitter.is_empty();
            if done || !self.step() {
                break;
            }
        }
    }
}

/// A stored message (Ogg Opus) is played from one session to another over a network that
/// reorders 5% of packets; the receiver's recording decodes to the message's length.
#[test]
fn two_peers_play_a_message_through_reordering() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let source = speechlike(4.0, 0.5, 0.0, 21);
        let f: Vec<f32> = source.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let up = ivm_media::resample_to_48k(&f, 8000).expect("resample");
        let stored = ivm_media::encode_pcm_mono(&ivm_media::to_i16(&up), 8000).expect("encode");
        let stored_ms = ivm_media::ogg_opus_info(&stored).expect("info").duration_ms;
        let pcm = crate::transcode::ogg_to_pcm8k(&stored).expect("transcode");

        let mut pair = Pair::new(codec, 0.05);
        let t = pair.time;
        pair.a.play(t, &pcm);
        pair.drive(Duration::from_secs(10));

        let mut recorder = Recorder::new(Duration::from_secs(60));
        let mut received = 0;
        for e in &pair.b_events {
            match e {
                Event::Audio(p) => {
                    received += p.len();
                    recorder.push(p);
                }
                Event::Silence(n) => {
                    received += n;
                    recorder.push(&vec![0; *n]);
                }
                _ => {}
            }
        }
        let st = pair.b.stats();
        assert!(st.jitter.received > 190, "{st:?}");
        assert_eq!(
            (st.jitter.lost, st.jitter.late, st.foreign),
            (0, 0, 0),
            "{st:?}"
        );
        assert_eq!(
            received,
            pcm.len().div_ceil(160) * 160,
            "every sample, in real time"
        );
        assert!(recorder.holds_speech());
        let rec = recorder.finish().expect("encode").expect("speech");
        let info = ivm_media::ogg_opus_info(&rec.ogg).expect("valid Ogg Opus");
        let diff = i64::from(info.duration_ms) - i64::from(stored_ms);
        assert!(
            diff.abs() <= 250,
            "{codec:?}: recorded {} ms of {stored_ms} ms",
            info.duration_ms
        );
        // Nothing flowed the other way, and nothing was sent after the playback.
        assert_eq!(pair.a.stats().jitter.received, 0);
        assert_eq!(pair.a.stats().sent, st.jitter.received);
    }
}

/// The phone vanishes mid-recording: the session reports inactivity, and what was recorded
/// is kept when it holds speech and dropped when it does not.
#[test]
fn vanished_phone_keeps_speech_and_drops_silence() {
    for (signal, expect_kept) in [
        (speechlike(2.0, 0.5, 0.0, 3), true),
        (vec![0i16; 16_000], false),
    ] {
        let mut pair = Pair::new(Codec::Pcmu, 0.0);
        pair.b.config.inactivity = Duration::from_secs(3);
        let t = pair.time;
        pair.a.play(t, &signal);
        // Then A goes silent for good; run long enough for B's inactivity timeout.
        let end = pair.time + Duration::from_secs(8);
        while pair.time < end && !pair.b_events.contains(&Event::Inactive) {
            if !pair.step() {
                break;
            }
        }
        assert!(pair.b_events.contains(&Event::Inactive));
        pair.b.flush();
        pair.b_events
            .extend(std::iter::from_fn(|| pair.b.poll_event()));
        let mut recorder = Recorder::new(Duration::from_secs(60));
        for e in &pair.b_events {
            match e {
                Event::Audio(p) => {
                    recorder.push(p);
                }
                Event::Silence(n) => {
                    recorder.push(&vec![0; *n]);
                }
                _ => {}
            }
        }
        let kept = recorder.finish().expect("encode");
        assert_eq!(kept.is_some(), expect_kept);
    }
}

#[test]
fn flush_audio_releases_the_buffered_audio_at_once_with_gaps_as_silence() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(addr(PHONE)), t0);
    // Packets 1, 2, (3 lost), 4, all still inside the jitter buffer's delay.
    for (i, (seq, ts)) in [(1u16, 160u32), (2, 320), (4, 640)].into_iter().enumerate() {
        let at = t0 + Duration::from_millis(5) * i as u32;
        s.handle_packet(at, addr(PHONE), &rtp(9, seq, ts, 8, vec![0xd5; 160]));
    }
    let held = s.flush_audio();
    let lens: Vec<usize> = held.iter().map(Vec::len).collect();
    assert_eq!(lens.iter().sum::<usize>(), 4 * 160, "{lens:?}");
    assert!(
        held.iter().any(|p| p.iter().all(|x| *x == 0)),
        "the lost packet is silence"
    );
    assert!(s.flush_audio().is_empty(), "nothing is released twice");
}

/// A talk whose second portion was decoded 30 ms late (the third right after it, as one
/// worker decodes in order): from then on each portion waits for the 20 ms floor while the
/// next is already queued, and pacing alone would keep that backlog for good. The part
/// that stood queued for 100 ms is cut (one portion), leaving a lag under one packet; a
/// burst beyond 60 ms is cut at once; the same portions played as a stored message are
/// sent whole, every frame at least 20 ms after the last.
#[test]
fn live_backlog_is_cut_and_a_message_is_not() {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    let new = || {
        Session::with_packetizer(
            SessionConfig::new(addr(PHONE)),
            t0,
            Packetizer::new(Codec::Pcmu, 77, 0, 0),
        )
    };
    // Portion n carries samples of value 100 n; it is decoded at 20 n ms, except
    // portions 1 and 2 both at 50 ms. The driver polls every millisecond. Returns, per
    // packet sent, (portion, when).
    let run = |s: &mut Session, live: bool| {
        let mut sent = Vec::new();
        for t in 0..=400u64 {
            let due: Vec<i16> = match t {
                0 => vec![0],
                20 | 40 => vec![],
                50 => vec![1, 2],
                t if t % 20 == 0 && t / 20 < 15 => vec![(t / 20) as i16],
                _ => vec![],
            };
            for n in due {
                let pcm = vec![100 * n; 160];
                if live {
                    s.play_live(ms(t), &pcm);
                } else {
                    s.play(ms(t), &pcm);
                }
            }
            while let Some(tx) = s.poll_transmit(ms(t)) {
                let p = RtpPacket::parse(&tx.payload).expect("ours");
                let mut pcm = Vec::new();
                Codec::Pcmu.decode(&p.payload, &mut pcm);
                sent.push(((pcm[0] + 50) / 100, t));
            }
        }
        sent
    };
    let live = run(&mut new(), true);
    let decoded = |n: i16| if n == 1 || n == 2 { 50 } else { 20 * n as u64 };
    let lag: Vec<(i16, u64)> = live.iter().map(|&(n, t)| (n, t - 20 * n as u64)).collect();
    assert_eq!(lag[0], (0, 0));
    assert_eq!(lag[1], (1, 30), "sent as soon as decoded: {lag:?}");
    assert!(
        live.iter()
            .all(|&(n, t)| t >= decoded(n) && t - 20 * n as u64 <= 30),
        "{lag:?}"
    );
    let dropped: Vec<i16> = (0..15)
        .filter(|n| !live.iter().any(|&(m, _)| m == *n))
        .collect();
    assert_eq!(dropped.len(), 1, "one standing portion cut: {lag:?}");
    assert!(dropped[0] > 2 && dropped[0] < 10, "{lag:?}");
    assert!(
        lag.iter().rev().take(5).all(|&(_, l)| l < 20),
        "back within one packet of real time: {lag:?}"
    );
    assert!(
        live.windows(2).all(|w| w[1].1 - w[0].1 >= 20),
        "20 ms floor: {live:?}"
    );
    // A burst: everything beyond 60 ms of live audio goes at once, the oldest first.
    let mut s = new();
    assert_eq!(s.play_live(t0, &vec![7; 160 * 10]), 1600 - LIVE_BACKLOG);
    assert_eq!(s.queued(), LIVE_BACKLOG);
    // The same portions as a stored message: nothing cut, paced at least 20 ms apart.
    let mut s = new();
    let stored = run(&mut s, false);
    let order: Vec<i16> = stored.iter().map(|&(n, _)| n).collect();
    assert_eq!(order, (0..15).collect::<Vec<i16>>(), "{stored:?}");
    assert!(
        stored.windows(2).all(|w| w[1].1 - w[0].1 >= 20),
        "{stored:?}"
    );
    s.play(ms(500), &vec![7; 160 * 10]);
    assert_eq!(s.play_live(ms(500), &vec![7; 160 * 10]), 0);
    assert_eq!(
        s.queued(),
        3200,
        "a message, and live audio behind it, are never cut"
    );
}
