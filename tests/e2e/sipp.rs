//! SIPp (Debian `sip-tester`) runs against the box, shared by `sip_bad_input.rs` and
//! `sip_hostile.rs`: the scenarios in `tests/e2e/sipp/`, a bounded run from a chosen
//! loopback address, and the counts from its final statistics screen.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::run_bounded;

/// A scenario file in `tests/e2e/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/e2e/sipp")
        .join(name)
}

/// A UDP port free on loopback address `ip` now, for SIPp's `-p`.
pub fn free_port(ip: &str) -> String {
    UdpSocket::bind((ip, 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string()
}

/// `sipp -i IP -nostdin -timeout TIMEOUT -timeout_error ARGS SIP` in `dir`, killed after
/// `limit`: SIPp's own `timeout` ends it first, so `limit` only catches a hang.
pub fn run(
    dir: &Path,
    sip: &str,
    ip: &str,
    timeout: &str,
    args: &[&str],
    limit: Duration,
) -> Output {
    run_bounded(
        Command::new("sipp")
            .current_dir(dir)
            .args(["-i", ip, "-nostdin", "-timeout", timeout, "-timeout_error"])
            .args(args)
            .arg(sip),
        limit,
    )
}

/// (successful, failed) calls from SIPp's final statistics screen.
pub fn counts(out: &Output) -> (u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = |label: &str| {
        text.lines()
            .rev()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (last("Successful call"), last("Failed call"))
}
