//! End to end: how the real `ivmd` manages its memory (issue 10, item 7). The figures
//! themselves (RSS at rest, under load, after a burst) are benchmarks, `scripts/bench-memory`;
//! these tests check the mechanisms behind them on the real binary:
//!
//! - ivmd runs jemalloc with its background purge thread, the thread that gives freed pages
//!   back to the system while the box is idle after a burst (under glibc's malloc they stayed);
//! - a burst of uploads larger than the codec budget (`ivm_actors::codec`: a few transcodes
//!   per core at a time, so 300 recordings ending together cannot hold 300 decoded messages)
//!   queues and loses nothing: every upload is acknowledged and delivered, whole.

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{speech, tempdir, wav_seconds, Person, Server};

/// Names of the process's threads, from `/proc/PID/task/*/comm`.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task") {
        let comm = task.expect("task").path().join("comm");
        if let Ok(name) = std::fs::read_to_string(comm) {
            names.push(name.trim().to_owned());
        }
    }
    names
}

#[test]
fn ivmd_allocator_purges_in_the_background() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), "");
    // jemalloc starts its background thread with the first allocations; wait, bounded.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut names = thread_names(server.pid());
    while !names.iter().any(|n| n.starts_with("jemalloc_bg_thd")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        names = thread_names(server.pid());
    }
    assert!(
        names.iter().any(|n| n.starts_with("jemalloc_bg_thd")),
        "no jemalloc background purge thread in ivmd; its threads: {names:?}"
    );
    // The box works on it: a user is made and logs in (argon2's 12 MiB working area).
    server.add_user("ann", "201", "ann-password-1");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    ann.ok(&["login"]);
    assert!(server.stop().success(), "ivmd exits 0 on SIGTERM");
}

#[test]
fn uploads_beyond_the_codec_budget_queue_and_all_arrive() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password-1");
    server.add_user("bob", "202", "bob-password-1");
    let ann = Person::new(&server, dir.path(), "ann", "ann-password-1");
    let bob = Person::new(&server, dir.path(), "bob", "bob-password-1");
    ann.ok(&["login"]);
    // WAV: the box resamples, conditions and encodes each one (a codec job per upload).
    let wav = speech(
        dir.path(),
        "queued",
        "This message waits its turn for the encoder.",
    );

    // More concurrent uploads than the budget has slots on any machine this runs on
    // (2 per core): 24 senders at once, each one upload.
    let senders: usize = 24;
    let mut threads = Vec::new();
    for _ in 0..senders {
        let (home, url, wav) = (ann.home.clone(), ann.server.clone(), wav.clone());
        threads.push(std::thread::spawn(move || {
            harness::run_bounded(
                Command::new(harness::ivm_bin())
                    .env("IVM_HOME", &home)
                    .env("IVM_SERVER", &url)
                    .env_remove("IVM_USER")
                    .env_remove("IVM_PASSWORD")
                    .args(["send", "--to", "bob"])
                    .arg(&wav),
                Duration::from_secs(120),
            )
        }));
    }
    let mut acked = Vec::new();
    for t in threads {
        let out = t.join().expect("sender thread");
        assert!(
            out.status.success(),
            "an upload failed while others queued: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        acked.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    assert_eq!(acked.len(), senders);

    let inbox = bob.inbox_ids();
    for id in &acked {
        assert!(
            inbox.contains(id),
            "acknowledged message {id} not in bob's inbox"
        );
    }
    // Each was encoded whole: the first and the last queued decode to the spoken length.
    let spoken = wav_seconds(&wav);
    for id in [&acked[0], &acked[senders - 1]] {
        let out = dir.path().join(format!("{id}.wav"));
        bob.ok(&["play", id, "-o", out.to_str().expect("path")]);
        let got = wav_seconds(&out);
        assert!(
            got > spoken * 0.5 && got < spoken * 1.5,
            "message {id} decodes to {got:.2} s, spoken {spoken:.2} s"
        );
    }
}
