//! Bytes from the front panel's serial line: the Crystalfontz packet parser and resynchronising
//! decoder, the host-side link with commands outstanding (replies, errors, key reports, line
//! noise), the software panel's reading of host commands, and the Matrix Orbital key
//! protocol, through the same `PanelDriver` the box runs. The first byte picks a mode: raw
//! line bytes, or length-prefixed frames that the harness gives a correct CRC so the fuzzer
//! gets past the checksum to the frame handling.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ivm_lcd::cfa::{self, Decoder, Frame, MAX_FRAME};
use ivm_lcd::io::PanelModel;
use ivm_lcd::{CfaModel, LinkConfig, MoKeymap, Panel, SoftPanel};
use libfuzzer_sys::fuzz_target;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// Frames with a good CRC from `[type][data...]` pieces (data cut to the protocol's limit).
fn framed(input: &[u8]) -> Vec<u8> {
    let mut line = Vec::new();
    for piece in ivm_fuzz::Chunks(input) {
        let Some((&ty, data)) = piece.split_first() else {
            continue;
        };
        let data = &data[..data.len().min(cfa::MAX_DATA)];
        line.extend(
            Frame {
                ty,
                data: data.to_vec(),
            }
            .encode(),
        );
    }
    line
}

fn drive(model: &PanelModel, line: &[u8]) {
    let mut panel = model.driver(&LinkConfig::default());
    let mut now = t0();
    // Commands outstanding, as when the box draws a screen, so replies can match.
    let _ = panel.clear();
    let _ = panel.write_text(0, 0, b"IVM box 10.0.0.2");
    let _ = panel.set_backlight(70);
    let mut sent = 0;
    for read in line.chunks(17) {
        while let Some(out) = panel.poll_transmit(now) {
            sent += 1;
            assert!(out.len() <= 4096, "{} bytes queued for the line", out.len());
        }
        panel.handle_bytes(now, read);
        let mut keys = 0;
        while panel.poll_key().is_some() {
            keys += 1;
            assert!(keys <= 1024, "key events never end");
        }
        now += Duration::from_millis(100);
        panel.handle_timeout(now);
        assert!(panel.pending() <= 256);
    }
    assert!(sent <= 1 + line.len() * 8);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let line = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        framed(rest)
    };

    if let Ok((frame, used)) = Frame::parse(&line) {
        assert!(used <= MAX_FRAME);
        assert_eq!(frame.encode(), &line[..used], "frame round trip");
    }
    let mut dec = Decoder::new();
    for read in line.chunks(usize::from(mode >> 2).max(1)) {
        dec.push(read);
        assert!(
            dec.buffered() <= MAX_FRAME + 64,
            "decoder holds {}",
            dec.buffered()
        );
    }
    let mut frames = 0;
    while let Some(f) = dec.next_frame() {
        frames += 1;
        assert!(f.data.len() <= cfa::MAX_DATA);
    }
    assert!(frames <= Decoder::MAX_QUEUED);

    drive(&PanelModel::Cfa(CfaModel::Cfa635), &line);
    drive(
        &PanelModel::MatrixOrbital {
            cols: 20,
            rows: 4,
            keymap: MoKeymap::default(),
            baud: 19_200,
        },
        &line,
    );

    // The software panel (ivm-panel, the tests) reads what the host sends it.
    let mut soft = SoftPanel::new(CfaModel::Cfa635);
    soft.handle_bytes(&line);
    // What it sends back is whole, well-formed frames (replies and error replies).
    let mut host = Decoder::new();
    while let Some(r) = soft.poll_transmit() {
        host.push(&r);
    }
    assert_eq!(
        host.skipped_bytes(),
        0,
        "the software panel sent a bad frame"
    );
    assert_eq!(host.buffered(), 0, "the software panel sent half a frame");
    let screen = soft.lines();
    assert_eq!(screen.len(), 4);
    let _ = ivm_lcd::software::terminal_keys(&line);
});
