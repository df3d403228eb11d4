//! The talk rules, with real Opus packets from libopus (what a browser's WebCodecs encoder
//! sends), and the stored copy checked by the project's decoder and by `opusinfo`.

use std::time::{Duration, Instant};

use ivm_wire::talk::{Portion, TalkEndReason, MAX_PORTION_BYTES};
use ivm_wire::Guid;

use crate::{Ended, Event, Forward, Talk, TalkConfig, TalkError, Talks};

const ANN: Guid = Guid::from_u128(1);
const BOB: Guid = Guid::from_u128(2);
const CAROL: Guid = Guid::from_u128(3);

/// `n` packets of `ms` each of a 440 Hz tone, encoded as one continuous stream.
fn packets(n: usize, ms: usize) -> Vec<Vec<u8>> {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    let len = 48 * ms;
    (0..n)
        .map(|f| {
            let pcm: Vec<i16> = (0..len)
                .map(|i| {
                    let t = (f * len + i) as f32 / 48_000.0;
                    (10_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            enc.encode_vec(&pcm, MAX_PORTION_BYTES).expect("encode")
        })
        .collect()
}

/// A 20 ms talk from Ann to Bob in its own table, and the start time.
fn table() -> (Talks, u32, Instant) {
    let t0 = Instant::now();
    let mut talks = Talks::new();
    let id = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    (talks, id, t0)
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn portion(stream: u32, seq: u32, opus: &[u8]) -> Portion {
    Portion {
        stream,
        seq,
        last: false,
        opus: opus.to_vec(),
    }
}

fn events(talks: &mut Talks) -> (Vec<Forward>, Vec<Ended>) {
    let (mut f, mut e) = (Vec::new(), Vec::new());
    while let Some(ev) = talks.poll_event() {
        match ev {
            Event::Forward(x) => f.push(x),
            Event::Ended(x) => e.push(x),
            Event::Pages(_) => {}
        }
    }
    (f, e)
}

/// Every event in order, pages kept (the journal's view).
fn all_events(talks: &mut Talks) -> Vec<Event> {
    std::iter::from_fn(|| talks.poll_event()).collect()
}

#[test]
fn pages_for_the_journal_come_every_half_second_and_prefix_the_stored_copy() {
    for frame_ms in [20u16, 40, 60] {
        let t0 = Instant::now();
        let mut talks = Talks::new();
        let id = talks.start(t0, ANN, vec![BOB], frame_ms).expect("start");
        // The header pages come first, before any portion.
        let first = all_events(&mut talks);
        let mut journal = match first.as_slice() {
            [Event::Pages(p)] => p.bytes.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ivm_media::salvage_ogg_opus(&journal).expect("headers"),
            None
        );
        let per_page = usize::from(crate::PAGE_MS / frame_ms);
        let pk = packets(4 * per_page + 3, usize::from(frame_ms));
        let mut pages_after = Vec::new();
        for (i, p) in pk.iter().enumerate() {
            let now = at(t0, u64::from(frame_ms) * i as u64);
            talks
                .portion(now, ANN, portion(id, i as u32, p))
                .expect("portion");
            for ev in all_events(&mut talks) {
                if let Event::Pages(p) = ev {
                    assert_eq!(p.stream, id);
                    journal.extend_from_slice(&p.bytes);
                    pages_after.push(i + 1);
                }
            }
        }
        // A page closes when the portion after its last one arrives (one is held back).
        let want: Vec<usize> = (1..=4).map(|n| n * per_page + 1).collect();
        assert_eq!(pages_after, want, "{frame_ms} ms");
        // What a crash now would leave: four whole pages of audio.
        let s = ivm_media::salvage_ogg_opus(&journal)
            .expect("salvage")
            .expect("audio");
        assert_eq!(s.packets as usize, 4 * per_page, "{frame_ms} ms");
        talks.end(at(t0, 10_000), ANN, id).expect("end");
        let (_, e) = events(&mut talks);
        let stored = e[0].stored.as_ref().expect("stored");
        assert!(stored.ogg.starts_with(&journal), "{frame_ms} ms");
        assert_eq!(stored.packets as usize, pk.len());
    }
}

fn seqs(f: &[Forward]) -> Vec<u32> {
    f.iter().map(|x| x.seq).collect()
}

/// Send `pk` as seq 0.. at real-time pace.
fn send_all(talks: &mut Talks, id: u32, t0: Instant, pk: &[Vec<u8>]) {
    for (i, p) in pk.iter().enumerate() {
        talks
            .portion(at(t0, 20 * i as u64), ANN, portion(id, i as u32, p))
            .expect("portion");
    }
}

#[test]
fn portions_are_forwarded_in_order_once_and_stored_as_ogg_opus() {
    let (mut talks, id, t0) = table();
    let pk = packets(100, 20);
    send_all(&mut talks, id, t0, &pk);
    let (fwd, ended) = events(&mut talks);
    assert_eq!(seqs(&fwd), (0..100).collect::<Vec<_>>());
    assert!(fwd
        .iter()
        .zip(&pk)
        .all(|(f, p)| &f.opus == p && f.stream == id));
    assert!(ended.is_empty());
    talks.end(at(t0, 2_000), ANN, id).expect("end");
    let (fwd, ended) = events(&mut talks);
    assert!(fwd.is_empty());
    let [e] = ended.as_slice() else {
        panic!("one end: {ended:?}")
    };
    assert_eq!(e.reason, TalkEndReason::Finished);
    assert!(!e.reason.is_partial());
    assert_eq!((e.lost, e.refused), (0, 0));
    let stored = e.stored.as_ref().expect("stored");
    // 100 x 960 samples less the 312 of pre-skip.
    let samples = 100 * 960 - 312;
    assert_eq!(stored.packets, 100);
    assert_eq!(stored.duration_ms, (samples * 1000 / 48_000) as u32);
    let info = ivm_media::ogg_opus_info(&stored.ogg).expect("our reader takes it");
    assert_eq!(info.samples, samples);
    assert_eq!(info.packets, 100);
    assert_eq!((info.channels, info.pre_skip, info.has_eos), (1, 312, true));
    // The project's decoder plays it back: the right length, and the tone is there.
    let wav = ivm_media::ogg_opus_to_wav(&stored.ogg).expect("decode");
    assert_eq!(wav.len() as u64, 44 + 2 * samples);
    let pcm: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let rms = (pcm[4_800..]
        .iter()
        .map(|&s| f64::from(s).powi(2))
        .sum::<f64>()
        / (pcm.len() - 4_800) as f64)
        .sqrt();
    assert!(rms > 3_000.0, "decoded tone rms {rms}");
    assert!(talks.is_empty());
}

#[test]
fn stored_copy_passes_opusinfo() {
    let (mut talks, id, t0) = table();
    send_all(&mut talks, id, t0, &packets(150, 20));
    talks.end(at(t0, 3_000), ANN, id).expect("end");
    let (_, ended) = events(&mut talks);
    let stored = ended[0].stored.clone().expect("stored");
    let strict = std::env::var("IVM_TEST_STRICT").is_ok_and(|v| !v.is_empty() && v != "0");
    let path = std::env::temp_dir().join(format!("ivm-talk-{}.opus", std::process::id()));
    std::fs::write(&path, &stored.ogg).expect("write");
    let out = std::process::Command::new("opusinfo").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) => o,
        Err(e) if !strict => {
            eprintln!("SKIPPED: opusinfo not runnable ({e}); scripts/setup installs opus-tools");
            return;
        }
        Err(e) => panic!("IVM_TEST_STRICT: opusinfo not runnable: {e}"),
    };
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "opusinfo failed:\n{text}");
    assert!(
        !text.contains("WARNING") && !text.contains("ERROR"),
        "{text}"
    );
    assert!(text.contains("Pre-skip: 312"), "{text}");
    assert!(text.contains("Channels: 1"), "{text}");
    // 150 x 20 ms less 312 samples: 2.993 s.
    assert!(text.contains("Playback length: 0m:02.993s"), "{text}");
}

#[test]
fn bad_portions_change_nothing_in_what_is_forwarded_or_stored() {
    let pk = packets(20, 20);
    let clean = {
        let (mut talks, id, t0) = table();
        send_all(&mut talks, id, t0, &pk);
        talks.end(at(t0, 500), ANN, id).expect("end");
        events(&mut talks)
    };
    let (mut talks, id, t0) = table();
    let mut errors = Vec::new();
    for (i, p) in pk.iter().enumerate() {
        let now = at(t0, 20 * i as u64);
        let seq = i as u32;
        talks.portion(now, ANN, portion(id, seq, p)).expect("good");
        let bad = [
            (ANN, portion(id, seq, p)),                      // duplicate
            (BOB, portion(id, seq + 1, p)),                  // not the owner
            (ANN, portion(id, seq + 1, &[])),                // empty
            (ANN, portion(id, seq + 1, &[0x03, 0x00])),      // code 3, no frames
            (ANN, portion(id, seq + 1, &vec![0xf8; 4_001])), // oversize
            (ANN, portion(id + 1, seq + 1, p)),              // unknown stream
        ];
        for (who, b) in bad {
            errors.push(talks.portion(now, who, b).expect_err("refused"));
        }
        if i > 1 {
            errors.push(
                talks
                    .portion(now, ANN, portion(id, seq - 2, p))
                    .expect_err("late"),
            );
        }
    }
    talks.end(at(t0, 500), ANN, id).expect("end");
    let (fwd, ended) = events(&mut talks);
    assert_eq!(fwd, clean.0, "forwarded exactly the good portions");
    assert_eq!(ended[0].stored, clean.1[0].stored, "stored bytes identical");
    assert_eq!(ended[0].lost, 0);
    assert_eq!(
        ended[0].refused,
        20 * 4 + 18,
        "owner's refused portions counted"
    );
    assert!(errors.contains(&TalkError::Duplicate { seq: 5 }));
    assert!(errors.contains(&TalkError::Late { seq: 3, newest: 5 }));
    assert!(errors.contains(&TalkError::NotOwner {
        stream: id,
        sender: BOB
    }));
    assert!(errors.contains(&TalkError::Oversize {
        len: 4_001,
        max: MAX_PORTION_BYTES
    }));
    assert!(errors.contains(&TalkError::UnknownStream(id + 1)));
    assert!(errors.iter().any(|e| matches!(e, TalkError::NotOpus(_))));
}

#[test]
fn a_gap_is_accepted_and_counted_as_lost() {
    let (mut talks, id, t0) = table();
    let pk = packets(4, 20);
    for (seq, p) in [(0, &pk[0]), (1, &pk[1]), (5, &pk[2]), (6, &pk[3])] {
        talks
            .portion(at(t0, 20 * u64::from(seq)), ANN, portion(id, seq, p))
            .expect("accepted");
    }
    // Anything before the newest is now late, the gap included: no reorder window.
    assert_eq!(
        talks.portion(at(t0, 200), ANN, portion(id, 3, &pk[0])),
        Err(TalkError::Late { seq: 3, newest: 6 })
    );
    talks.end(at(t0, 200), ANN, id).expect("end");
    let (fwd, ended) = events(&mut talks);
    assert_eq!(seqs(&fwd), [0, 1, 5, 6]);
    assert_eq!((ended[0].lost, ended[0].refused), (3, 1));
    assert_eq!(ended[0].stored.as_ref().map(|s| s.packets), Some(4));
}

#[test]
fn a_first_portion_after_zero_counts_the_missing_ones() {
    let (mut talks, id, t0) = table();
    let pk = packets(1, 20);
    talks.portion(t0, ANN, portion(id, 2, &pk[0])).expect("ok");
    talks.end(t0, ANN, id).expect("end");
    let (_, ended) = events(&mut talks);
    assert_eq!(ended[0].lost, 2);
}

#[test]
fn the_highest_sequence_number_is_accepted_once() {
    let (mut talks, id, t0) = table();
    let pk = packets(2, 20);
    talks
        .portion(t0, ANN, portion(id, u32::MAX, &pk[0]))
        .expect("ok");
    assert_eq!(
        talks.portion(t0, ANN, portion(id, u32::MAX, &pk[1])),
        Err(TalkError::Duplicate { seq: u32::MAX })
    );
    assert_eq!(
        talks.portion(t0, ANN, portion(id, 0, &pk[1])),
        Err(TalkError::Late {
            seq: 0,
            newest: u32::MAX
        })
    );
}

#[test]
fn frame_durations_20_40_60_are_accepted_others_refused() {
    for ms in [20u16, 40, 60] {
        assert_eq!(TalkConfig::new(ms).map(|c| c.frame_ms), Ok(ms));
    }
    let t0 = Instant::now();
    let mut talks = Talks::new();
    for ms in [0u16, 10, 30, 80, 120] {
        assert_eq!(TalkConfig::new(ms), Err(TalkError::FrameDuration(ms)));
        assert_eq!(
            talks.start(t0, ANN, vec![BOB], ms),
            Err(TalkError::FrameDuration(ms))
        );
    }
    assert!(talks.is_empty());
}

#[test]
fn a_portion_longer_than_the_frame_duration_is_refused_shorter_is_fine() {
    let t0 = Instant::now();
    let (p20, p40, p60) = (packets(1, 20), packets(1, 40), packets(1, 60));
    let mut talks = Talks::new();
    let a = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    assert_eq!(
        talks.portion(t0, ANN, portion(a, 0, &p40[0])),
        Err(TalkError::LongerThanFrame {
            ms: 40,
            frame_ms: 20
        })
    );
    let b = talks.start(t0, BOB, vec![ANN], 40).expect("start");
    talks
        .portion(t0, BOB, portion(b, 0, &p20[0]))
        .expect("shorter");
    talks
        .portion(t0, BOB, portion(b, 1, &p40[0]))
        .expect("equal");
    assert!(matches!(
        talks.portion(t0, BOB, portion(b, 2, &p60[0])),
        Err(TalkError::LongerThanFrame { ms: 60, .. })
    ));
    let c = talks.start(t0, CAROL, vec![ANN], 60).expect("start");
    talks
        .portion(t0, CAROL, portion(c, 0, &p60[0]))
        .expect("60 ms");
    talks.end(t0, BOB, b).expect("end");
    let (fwd, ended) = events(&mut talks);
    assert_eq!(fwd.len(), 3);
    let s = ended[0].stored.as_ref().expect("stored");
    assert_eq!(
        ivm_media::ogg_opus_info(&s.ogg).expect("info").samples,
        60 * 48 - 312
    );
}

#[test]
fn frames_after_the_end_are_refused() {
    let (mut talks, id, t0) = table();
    let pk = packets(2, 20);
    talks.portion(t0, ANN, portion(id, 0, &pk[0])).expect("ok");
    talks.end(t0, ANN, id).expect("end");
    assert_eq!(
        talks.portion(t0, ANN, portion(id, 1, &pk[1])),
        Err(TalkError::Ended(id))
    );
    assert_eq!(talks.end(t0, ANN, id), Err(TalkError::Ended(id)));
    // Someone else probing an ended stream learns nothing more than "not yours".
    assert_eq!(
        talks.portion(t0, BOB, portion(id, 1, &pk[1])),
        Err(TalkError::NotOwner {
            stream: id,
            sender: BOB
        })
    );
    let (fwd, ended) = events(&mut talks);
    assert_eq!((fwd.len(), ended.len()), (1, 1));
    // The same at the level of one talk.
    let mut t = Talk::new(9, ANN, vec![BOB], TalkConfig::new(20).expect("cfg"), t0).expect("talk");
    t.end(t0).expect("end");
    assert_eq!(t.frame(t0, 0, pk[0].clone()), Err(TalkError::Ended(9)));
    assert_eq!(t.end(t0), Err(TalkError::Ended(9)));
}

#[test]
fn a_portion_flagged_last_ends_the_talk() {
    let (mut talks, id, t0) = table();
    let pk = packets(2, 20);
    talks.portion(t0, ANN, portion(id, 0, &pk[0])).expect("ok");
    let mut last = portion(id, 1, &pk[1]);
    last.last = true;
    talks.portion(at(t0, 20), ANN, last).expect("ok");
    let (fwd, ended) = events(&mut talks);
    assert_eq!(seqs(&fwd), [0, 1]);
    assert_eq!(ended[0].reason, TalkEndReason::Finished);
    assert_eq!(ended[0].stored.as_ref().map(|s| s.packets), Some(2));
}

#[test]
fn a_refused_last_portion_does_not_end_the_talk() {
    let (mut talks, id, t0) = table();
    let mut bad = portion(id, 0, &[]);
    bad.last = true;
    assert!(talks.portion(t0, ANN, bad).is_err());
    assert!(talks.get(id).is_some_and(Talk::is_live));
}

#[test]
fn an_idle_talk_ends_as_partial_with_what_arrived() {
    let (mut talks, id, t0) = table();
    let pk = packets(10, 20);
    send_all(&mut talks, id, t0, &pk);
    let last = at(t0, 180);
    assert_eq!(talks.poll_timeout(), Some(last + crate::DEFAULT_IDLE));
    talks.timeout(last + crate::DEFAULT_IDLE - Duration::from_millis(1));
    assert!(talks.get(id).is_some(), "not yet");
    // Refused portions do not keep it alive.
    let _ = talks.portion(at(t0, 4_000), ANN, portion(id, 3, &pk[0]));
    talks.timeout(last + crate::DEFAULT_IDLE);
    let (fwd, ended) = events(&mut talks);
    assert_eq!(fwd.len(), 10);
    assert_eq!(ended[0].reason, TalkEndReason::Idle);
    assert!(ended[0].reason.is_partial());
    assert_eq!(ended[0].stored.as_ref().map(|s| s.packets), Some(10));
    assert_eq!(talks.poll_timeout(), None);
}

#[test]
fn a_talk_with_no_portion_times_out_and_stores_nothing() {
    let (mut talks, id, t0) = table();
    talks.timeout(t0 + crate::DEFAULT_IDLE);
    let (_, ended) = events(&mut talks);
    assert_eq!(ended[0].stream, id);
    assert_eq!(ended[0].reason, TalkEndReason::Idle);
    assert_eq!(ended[0].stored, None);
}

#[test]
fn the_speaker_vanishing_ends_their_talk_as_partial() {
    let (mut talks, id, t0) = table();
    let other = talks.start(t0, CAROL, vec![BOB], 20).expect("start");
    send_all(&mut talks, id, t0, &packets(3, 20));
    talks.speaker_gone(at(t0, 100), ANN);
    let (_, ended) = events(&mut talks);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].stream, id);
    assert_eq!(ended[0].reason, TalkEndReason::SpeakerGone);
    assert_eq!(ended[0].stored.as_ref().map(|s| s.packets), Some(3));
    assert!(
        talks.get(other).is_some_and(Talk::is_live),
        "others unaffected"
    );
}

#[test]
fn the_message_length_limit_ends_a_talk_that_never_ends() {
    // Exactly at the limit: the portion that reaches it is forwarded, then the talk ends.
    let t0 = Instant::now();
    let base = TalkConfig::new(20).expect("cfg").with_max_ms(100);
    let mut talks = Talks::with_config(base.clone(), 4);
    let id = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    let pk = packets(6, 20);
    send_all(&mut talks, id, t0, &pk[..5]);
    assert_eq!(
        talks.portion(at(t0, 100), ANN, portion(id, 5, &pk[5])),
        Err(TalkError::Ended(id))
    );
    let (fwd, ended) = events(&mut talks);
    assert_eq!(fwd.len(), 5);
    assert_eq!(ended[0].reason, TalkEndReason::LengthLimit);
    assert!(ended[0].reason.is_partial());
    // A portion that would pass the limit is refused and ends the talk.
    let base = base.with_max_ms(90);
    let mut talks = Talks::with_config(base, 4);
    let id = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    send_all(&mut talks, id, t0, &pk[..4]);
    assert_eq!(
        talks.portion(at(t0, 80), ANN, portion(id, 4, &pk[4])),
        Err(TalkError::LengthLimit)
    );
    let (fwd, ended) = events(&mut talks);
    assert_eq!(fwd.len(), 4);
    assert_eq!(ended[0].reason, TalkEndReason::LengthLimit);
    assert_eq!(ended[0].stored.as_ref().map(|s| s.packets), Some(4));
}

#[test]
fn the_size_budget_ends_a_talk_of_huge_portions() {
    let t0 = Instant::now();
    let mut base = TalkConfig::new(20).expect("cfg");
    assert_eq!(
        base.max_bytes,
        600_000 * 16,
        "128 kbit/s for the length limit"
    );
    base.max_bytes = 2_000;
    let mut talks = Talks::with_config(base, 4);
    let id = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    // 20 ms CELT packets padded to 1000 bytes (code 3, padding): legal, and large.
    let mut big = vec![0xfb, 0x41, 0xff, 0xff, 0xff, 0xc7];
    big.resize(1_000, 0);
    assert_eq!(ivm_media::packet_samples(&big), Ok(960));
    talks.portion(t0, ANN, portion(id, 0, &big)).expect("first");
    assert_eq!(
        talks.portion(at(t0, 20), ANN, portion(id, 1, &big)),
        Err(TalkError::LengthLimit)
    );
    let (_, ended) = events(&mut talks);
    assert_eq!(ended[0].reason, TalkEndReason::LengthLimit);
}

#[test]
fn audio_faster_than_real_time_is_refused() {
    let (mut talks, id, t0) = table();
    let pk = packets(60, 20);
    // All at once: one second of slack, so 50 portions (1000 ms) pass and the 51st does not.
    for (i, p) in pk.iter().enumerate().take(50) {
        talks
            .portion(t0, ANN, portion(id, i as u32, p))
            .expect("within slack");
    }
    assert_eq!(
        talks.portion(t0, ANN, portion(id, 50, &pk[50])),
        Err(TalkError::AheadOfTime { ahead_ms: 1_020 })
    );
    // Once time catches up it is accepted.
    talks
        .portion(at(t0, 20), ANN, portion(id, 50, &pk[50]))
        .expect("caught up");
}

#[test]
fn a_talk_needs_recipients_other_than_the_speaker() {
    let t0 = Instant::now();
    let mut talks = Talks::new();
    for r in [vec![], vec![ANN], vec![ANN, ANN]] {
        assert!(matches!(
            talks.start(t0, ANN, r, 20),
            Err(TalkError::Recipients { .. })
        ));
    }
    let many: Vec<Guid> = (10..10 + 257).map(Guid::from_u128).collect();
    assert_eq!(
        talks.start(t0, ANN, many, 20),
        Err(TalkError::Recipients {
            count: 257,
            max: 256
        })
    );
    let id = talks
        .start(t0, ANN, vec![CAROL, BOB, ANN, BOB], 20)
        .expect("start");
    assert_eq!(talks.get(id).map(Talk::recipients), Some(&[BOB, CAROL][..]));
}

#[test]
fn one_live_talk_per_speaker_and_a_cap_per_box() {
    let t0 = Instant::now();
    let mut talks = Talks::with_config(TalkConfig::new(20).expect("cfg"), 2);
    let a = talks.start(t0, ANN, vec![BOB], 20).expect("start");
    assert_eq!(
        talks.start(t0, ANN, vec![CAROL], 20),
        Err(TalkError::AlreadyTalking(a))
    );
    let b = talks.start(t0, BOB, vec![ANN], 20).expect("start");
    assert_ne!(a, b);
    assert_eq!(
        talks.start(t0, CAROL, vec![ANN], 20),
        Err(TalkError::Busy(2))
    );
    talks.end(t0, ANN, a).expect("end");
    let c = talks.start(t0, CAROL, vec![ANN], 20).expect("room again");
    assert!(
        ![0, a, b].contains(&c),
        "ids are never 0 nor reused while remembered"
    );
    let a2 = talks.start(t0, ANN, vec![BOB], 20);
    assert_eq!(a2, Err(TalkError::Busy(2)));
}

#[test]
fn an_ended_talk_with_nothing_said_stores_nothing() {
    let (mut talks, id, t0) = table();
    talks.end(t0, ANN, id).expect("end");
    let (fwd, ended) = events(&mut talks);
    assert!(fwd.is_empty());
    assert_eq!(ended[0].stored, None);
    assert_eq!(ended[0].reason, TalkEndReason::Finished);
}
