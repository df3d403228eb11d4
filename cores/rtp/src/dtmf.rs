//! Keypad digits: RFC 4733 telephone-event payloads, and the de-duplication that turns a
//! phone's packet train into one [`Digit`] per key press.
//!
//! # Format (RFC 4733 §2.3)
//! ```text
//!  0                   1                   2                   3
//! |     event     |E|R| volume    |          duration             |
//! ```
//! `event` 0-9 are the digits, 10 `*`, 11 `#`, 12-15 `A`-`D`; `E` marks the end of the event;
//! `volume` is the power level in -dBm0 (0..=63); `duration` is in RTP timestamp units since
//! the event began (the packet's RTP timestamp is the event's start and stays the same for the
//! whole event).
//!
//! # What phones send (and why de-duplication is needed)
//! A key press is a train of packets sharing one RTP timestamp: the first (often with the
//! marker bit), continuations every 50 ms with a growing duration, and the end packet sent
//! three times (RFC 4733 §2.5.1.4) for robustness. Any of them may be lost or reordered. The
//! [`DtmfReceiver`] reports a digit on the first packet it sees of a new event (a new
//! timestamp, or a new event code at the same timestamp), and ignores the rest of the train and
//! anything older; so one press is one digit, even if only an end packet gets through.
//!
//! [`InbandDetector`] is the fallback for phones that send keys as tones in the audio (a
//! Goertzel filter bank over 8 kHz PCM).

/// Length of a telephone-event payload.
pub const EVENT_LEN: usize = 4;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// The payload is shorter than 4 bytes.
    #[error("telephone-event payload of {0} bytes, expected at least 4")]
    Truncated(usize),
}

/// A keypad key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digit {
    /// 0-9.
    Num(u8),
    /// `*`.
    Star,
    /// `#`.
    Pound,
    /// A-D (the fourth column of a full DTMF keypad), 0 = A.
    Letter(u8),
}

impl Digit {
    /// The digit for an RFC 4733 event code (0..=15); other events (flash, tones) are `None`.
    pub fn from_event(event: u8) -> Option<Digit> {
        match event {
            0..=9 => Some(Digit::Num(event)),
            10 => Some(Digit::Star),
            11 => Some(Digit::Pound),
            12..=15 => Some(Digit::Letter(event - 12)),
            _ => None,
        }
    }

    /// The RFC 4733 event code.
    pub fn event(self) -> u8 {
        match self {
            Digit::Num(n) => n.min(9),
            Digit::Star => 10,
            Digit::Pound => 11,
            Digit::Letter(l) => 12 + l.min(3),
        }
    }

    /// The key's character: `0`-`9`, `*`, `#`, `A`-`D`.
    pub fn as_char(self) -> char {
        match self {
            Digit::Num(n) => char::from(b'0' + n.min(9)),
            Digit::Star => '*',
            Digit::Pound => '#',
            Digit::Letter(l) => char::from(b'A' + l.min(3)),
        }
    }

    /// The digit for a character (as in a dial string or a SIP INFO body).
    pub fn from_char(c: char) -> Option<Digit> {
        match c {
            '0'..='9' => Some(Digit::Num(c as u8 - b'0')),
            '*' => Some(Digit::Star),
            '#' => Some(Digit::Pound),
            'A'..='D' => Some(Digit::Letter(c as u8 - b'A')),
            'a'..='d' => Some(Digit::Letter(c as u8 - b'a')),
            _ => None,
        }
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0..=255; 0..=15 are DTMF).
    pub event: u8,
    /// End of the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63 (only the low six bits are sent).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Read a payload. Bytes after the first four (a second, redundant event in the same
    /// packet, RFC 4733 §2.5.1.5) are ignored.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::Truncated(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The payload bytes (the reserved bit is sent as zero).
    pub fn to_bytes(self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            if self.end { 0x80 } else { 0 } | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// What a [`DtmfReceiver`] made of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// A new key press: report it.
    Pressed(Digit),
    /// More of a press already reported (continuation, redundant end, or a late packet).
    Repeat,
    /// An event that is not a keypad digit (flash, call-progress tones): ignored.
    NotADigit(u8),
}

/// Turns telephone-event packets of one RTP stream into one [`Digit`] per key press.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    /// The (timestamp, event) of the newest event reported.
    last: Option<(u32, u8)>,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Forget the stream (after an SSRC change: the new source's timestamps are unrelated).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Feed the RTP timestamp and payload of one telephone-event packet.
    pub fn handle(&mut self, timestamp: u32, payload: &[u8]) -> Result<KeyEvent, DtmfError> {
        let ev = TelephoneEvent::parse(payload)?;
        let Some(digit) = Digit::from_event(ev.event) else {
            return Ok(KeyEvent::NotADigit(ev.event));
        };
        if let Some((ts, code)) = self.last {
            if ts == timestamp && code == ev.event {
                return Ok(KeyEvent::Repeat);
            }
            // An event that started before the newest one reported (serial-number order, so
            // this survives timestamp wraparound) is a late packet of an old press.
            if (timestamp.wrapping_sub(ts) as i32) < 0 {
                return Ok(KeyEvent::Repeat);
            }
        }
        self.last = Some((timestamp, ev.event));
        Ok(KeyEvent::Pressed(digit))
    }
}

/// In-band DTMF detection on 8 kHz PCM (ITU-T Q.23/Q.24 frequencies), for phones configured to
/// send keys as audio.
///
/// Each 20 ms frame (160 samples) goes through a Goertzel filter per DTMF frequency. A key is
/// the strongest row and column tone when both stand well above the other tones of their group
/// (no speech-like spread), the twist between them is within 8 dB, and they carry most of the
/// frame's energy. A press is reported once, after two consecutive frames agree (40 ms, the
/// Q.24 minimum), and a new press needs a frame without a key in between.
#[derive(Debug, Clone, Default)]
pub struct InbandDetector {
    pending: Vec<i16>,
    candidate: Option<Digit>,
    reported: bool,
}

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[Digit; 4]; 4] = [
    [
        Digit::Num(1),
        Digit::Num(2),
        Digit::Num(3),
        Digit::Letter(0),
    ],
    [
        Digit::Num(4),
        Digit::Num(5),
        Digit::Num(6),
        Digit::Letter(1),
    ],
    [
        Digit::Num(7),
        Digit::Num(8),
        Digit::Num(9),
        Digit::Letter(2),
    ],
    [Digit::Star, Digit::Num(0), Digit::Pound, Digit::Letter(3)],
];
/// Detection block: 20 ms at 8 kHz.
const BLOCK: usize = 160;

fn goertzel_power(x: &[f32], freq: f32) -> f32 {
    let coeff = 2.0 * (2.0 * std::f32::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

impl InbandDetector {
    /// A detector that has heard nothing.
    pub fn new() -> InbandDetector {
        InbandDetector::default()
    }

    /// Feed 8 kHz PCM; returns the key presses completed in it (usually none).
    pub fn push(&mut self, pcm: &[i16]) -> Vec<Digit> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(pcm);
        let mut at = 0;
        while self.pending.len() - at >= BLOCK {
            let key = Self::classify(&self.pending[at..at + BLOCK]);
            at += BLOCK;
            match key {
                Some(k) if self.candidate == Some(k) => {
                    if !self.reported {
                        self.reported = true;
                        out.push(k);
                    }
                }
                other => {
                    self.candidate = other;
                    self.reported = false;
                }
            }
        }
        self.pending.drain(..at);
        out
    }

    fn classify(block: &[i16]) -> Option<Digit> {
        let x: Vec<f32> = block.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let energy: f32 = x.iter().map(|v| v * v).sum();
        // About -40 dBFS mean power: quieter is silence or line noise.
        if energy < 1e-4 * BLOCK as f32 {
            return None;
        }
        let rows: Vec<f32> = ROWS.iter().map(|&f| goertzel_power(&x, f)).collect();
        let cols: Vec<f32> = COLS.iter().map(|&f| goertzel_power(&x, f)).collect();
        let best = |p: &[f32]| -> (usize, f32, f32) {
            let mut idx = 0;
            for (i, &v) in p.iter().enumerate() {
                if v > p[idx] {
                    idx = i;
                }
            }
            let second = p
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != idx)
                .map(|(_, &v)| v);
            (idx, p[idx], second.fold(0f32, f32::max))
        };
        let (r, rp, r2) = best(&rows);
        let (c, cp, c2) = best(&cols);
        // Each tone at least 6 dB above its group's runner-up (the 50 Hz Goertzel bins of a
        // 20 ms block leak about -13 dB into the neighbouring DTMF frequency).
        if rp < 4.0 * r2 || cp < 4.0 * c2 {
            return None;
        }
        // Twist within 8 dB either way.
        if rp > 6.3 * cp || cp > 6.3 * rp {
            return None;
        }
        // A pure tone of amplitude A over N samples gives Goertzel power (A N / 2)^2 while the
        // block energy is A^2 N / 2; so the two tones' share of the energy is
        // (rp + cp) * 2 / (N * energy). Speech spreads its energy and fails this.
        let share = (rp + cp) * 2.0 / (BLOCK as f32 * energy);
        if share < 0.6 {
            return None;
        }
        Some(KEYS[r][c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trip_and_bits() {
        // '#' (11), end, volume 10, duration 800 (100 ms): 0b e=1 r=0 vol=001010.
        let bytes = [0x0b, 0x8a, 0x03, 0x20];
        let e = TelephoneEvent::parse(&bytes).expect("parse");
        assert_eq!(
            e,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), bytes);
        // The reserved bit is ignored on input.
        assert_eq!(
            TelephoneEvent::parse(&[5, 0x4a, 0, 160])
                .expect("parse")
                .volume,
            10
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::Truncated(3))
        );
        assert_eq!(Digit::from_event(11), Some(Digit::Pound));
        assert_eq!(Digit::from_event(16), None);
        for c in "0123456789*#ABCD".chars() {
            let d = Digit::from_char(c).expect("digit");
            assert_eq!(d.as_char(), c);
            assert_eq!(Digit::from_event(d.event()), Some(d));
        }
    }

    /// The train a Yealink T4x sends for "7" then "#": start, continuations every 50 ms (400
    /// units) with the same timestamp, three end packets, then the next key at a new timestamp.
    #[test]
    fn one_digit_per_press_from_a_phone_train() {
        let mut rx = DtmfReceiver::new();
        let mut got = Vec::new();
        let train: Vec<(u32, [u8; 4])> = vec![
            (16_000, ev(7, false, 0)),
            (16_000, ev(7, false, 400)),
            (16_000, ev(7, false, 800)),
            (16_000, ev(7, true, 1040)),
            (16_000, ev(7, true, 1040)),
            (16_000, ev(7, true, 1040)),
            (19_200, ev(11, false, 0)),
            (19_200, ev(11, false, 400)),
            (19_200, ev(11, true, 720)),
            (19_200, ev(11, true, 720)),
            (16_000, ev(7, true, 1040)), // a late redundant end of the first press
            (19_200, ev(11, true, 720)),
        ];
        for (ts, p) in &train {
            if let KeyEvent::Pressed(d) = rx.handle(*ts, p).expect("handle") {
                got.push(d);
            }
        }
        assert_eq!(got, [Digit::Num(7), Digit::Pound]);
    }

    #[test]
    fn same_key_twice_is_two_presses_and_lost_start_still_counts() {
        let mut rx = DtmfReceiver::new();
        // Only the end packets of the first press arrive.
        assert_eq!(
            rx.handle(100, &ev(5, true, 800)),
            Ok(KeyEvent::Pressed(Digit::Num(5)))
        );
        assert_eq!(rx.handle(100, &ev(5, true, 800)), Ok(KeyEvent::Repeat));
        assert_eq!(
            rx.handle(4100, &ev(5, false, 0)),
            Ok(KeyEvent::Pressed(Digit::Num(5)))
        );
        assert_eq!(
            rx.handle(4100, &ev(16, false, 0)),
            Ok(KeyEvent::NotADigit(16))
        );
        // Timestamp wraparound between presses.
        let mut rx = DtmfReceiver::new();
        assert_eq!(
            rx.handle(u32::MAX - 100, &ev(1, false, 0)),
            Ok(KeyEvent::Pressed(Digit::Num(1)))
        );
        assert_eq!(
            rx.handle(3000, &ev(2, false, 0)),
            Ok(KeyEvent::Pressed(Digit::Num(2)))
        );
        assert_eq!(
            rx.handle(u32::MAX - 100, &ev(1, true, 800)),
            Ok(KeyEvent::Repeat)
        );
    }

    fn tone(freqs: &[f32], ms: usize, amp: f32) -> Vec<i16> {
        (0..ms * 8)
            .map(|n| {
                let t = n as f32 / 8000.0;
                let v: f32 = freqs
                    .iter()
                    .map(|f| (2.0 * std::f32::consts::PI * f * t).sin())
                    .sum();
                (v * amp) as i16
            })
            .collect()
    }

    #[test]
    fn inband_detects_keys_once_and_ignores_speechlike_sound() {
        let mut d = InbandDetector::new();
        let mut pcm = tone(&[941.0, 1477.0], 100, 6000.0); // '#'
        pcm.extend(vec![0i16; 400]);
        pcm.extend(tone(&[770.0, 1336.0], 80, 6000.0)); // '5'
        pcm.extend(vec![0i16; 400]);
        let mut got = Vec::new();
        for chunk in pcm.chunks(123) {
            got.extend(d.push(chunk));
        }
        assert_eq!(got, [Digit::Pound, Digit::Num(5)]);
        // A vowel-like harmonic series at 150 Hz is not a key.
        let speech: Vec<i16> = (0..8000)
            .map(|n| {
                let t = n as f32 / 8000.0;
                (1..20)
                    .map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin() / k as f32)
                    .sum::<f32>()
                    * 5000.0
            })
            .map(|v| v as i16)
            .collect();
        assert!(InbandDetector::new().push(&speech).is_empty());
        // A single tone (a dial tone, a beep) is not a key.
        assert!(InbandDetector::new()
            .push(&tone(&[1000.0], 200, 8000.0))
            .is_empty());
    }
}
