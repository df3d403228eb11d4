//! Speech as a phone sends it, for the tests that play the phone themselves over raw UDP
//! (`keypad.rs`, `sip_hostile.rs`): 8 kHz speech from espeak-ng and sox, and PCMU RTP paced
//! at 20 ms.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{self, run_bounded};

/// `text` spoken by espeak-ng, as 8 kHz mono 16-bit samples (via sox).
pub fn speech_8k(dir: &Path, text: &str) -> Vec<i16> {
    let wav = harness::speech(dir, "speech", text);
    let raw = dir.join("speech.raw");
    let r = run_bounded(
        Command::new("sox")
            .arg(&wav)
            .args([
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                "raw",
            ])
            .arg(&raw),
        Duration::from_secs(30),
    );
    assert!(
        r.status.success(),
        "sox: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::read(&raw)
        .expect("raw")
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Sends `frames` PCMU RTP packets of 160 samples (`sample(n)` is the n-th) from `sock` to
/// `to` with SSRC `ssrc`, paced at 20 ms.
pub fn send_pcmu(
    sock: &UdpSocket,
    to: SocketAddr,
    ssrc: u32,
    frames: usize,
    sample: impl Fn(usize) -> i16,
) {
    let start = Instant::now();
    for i in 0..frames {
        let mut pkt = vec![0x80u8, 0];
        pkt.extend_from_slice(&(i as u16).to_be_bytes());
        pkt.extend_from_slice(&((i as u32) * 160).to_be_bytes());
        pkt.extend_from_slice(&ssrc.to_be_bytes());
        for k in 0..160 {
            pkt.push(ivm_rtp::g711::ulaw_encode(sample(i * 160 + k)));
        }
        let _ = sock.send_to(&pkt, to);
        let next = start + Duration::from_millis(20 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}
