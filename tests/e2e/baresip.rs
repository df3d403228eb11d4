//! Headless baresip phones for the end-to-end tests (shared by `phones.rs` and
//! `phones_calls.rs`): accounts/config files, `aufile` as the microphone, `sndfile` capturing
//! what the phone hears, `ctrl_tcp` for commands during the run. Every wait is bounded; the
//! child is killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, run_bounded, speech, Server};

/// No `digest` key: the default offer must suit baresip 1.0 (whose libre refuses a 401
/// naming an algorithm it lacks).
pub const SIP_TOML: &str = "[sip]\nsilence_timeout_s = 5\n";

pub fn have_baresip() -> bool {
    harness::available("baresip")
}

/// A loopback port free for both TCP and UDP (baresip binds both on its SIP port).
pub fn free_udp_port() -> u16 {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// A SIP port for baresip: `p` free for UDP and TCP, and `p + 1` free for TCP, where baresip
/// puts its SIP/TLS transport (a phone failed to start when the OS handed `p + 1` out next).
pub fn free_sip_port() -> u16 {
    for _ in 0..100 {
        let p = free_udp_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free loopback port pair");
}

/// One headless baresip phone.
pub struct Phone {
    child: Option<Child>,
    /// The phone's folder (config, accounts, output, captured audio).
    pub dir: PathBuf,
    ctrl_port: u16,
}

impl Phone {
    /// Starts baresip registered as `ext`, with `source` as its microphone; `extra` are `-e`
    /// commands; it quits after `seconds`.
    pub fn start(
        dir: &Path,
        server: &Server,
        ext: &str,
        password: &str,
        source: &Path,
        commands: &[String],
        seconds: u32,
    ) -> Phone {
        Self::start_with(
            dir, server, ext, password, source, commands, seconds, "auto", true,
        )
    }

    /// As [`Phone::start`], with the account's answer mode (`auto` or `manual`) and with or
    /// without the `mwi` module. baresip 1.0's `mwi` can spin: its start-up timer walks the
    /// subscription list while each subscribe appends to it, so when a registration completes
    /// before that timer fires it sends SUBSCRIBEs in a tight loop until the box's
    /// transaction table is full. Phones that do not test the lamp leave it out.
    #[allow(clippy::too_many_arguments)]
    pub fn start_with(
        dir: &Path,
        server: &Server,
        ext: &str,
        password: &str,
        source: &Path,
        commands: &[String],
        seconds: u32,
        answermode: &str,
        mwi: bool,
    ) -> Phone {
        let mut phone = Self::spawn(
            dir, server, ext, password, source, commands, seconds, answermode, mwi,
        );
        if !mwi {
            return phone;
        }
        // Work around the `mwi` spin (see above): once registered, a phone that sends more
        // than a couple of SUBSCRIBEs is spinning; start it again (bounded).
        for _ in 0..3 {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let out = phone.output();
                if out.contains("200 OK") || out.contains("403") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(300));
            if phone.output().matches("mwi: subscribing").count() <= 2 {
                return phone;
            }
            eprintln!("baresip {ext}: mwi module spinning; starting the phone again");
            phone.kill();
            phone = Self::spawn(
                dir, server, ext, password, source, commands, seconds, answermode, mwi,
            );
        }
        phone
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        dir: &Path,
        server: &Server,
        ext: &str,
        password: &str,
        source: &Path,
        commands: &[String],
        seconds: u32,
        answermode: &str,
        mwi: bool,
    ) -> Phone {
        let account = format!("<sip:{ext}@{};transport=udp>;auth_pass={password};regint=300;answermode={answermode};audio_codecs=PCMU,PCMA", server.sip);
        Self::spawn_account(dir, ext, &account, source, commands, seconds, mwi)
    }

    /// Starts baresip with `account` as its accounts line as is (for accounts built from
    /// elsewhere, such as a provisioned phone file); no `mwi` module; quits after `seconds`.
    pub fn start_account(
        dir: &Path,
        name: &str,
        account: &str,
        source: &Path,
        seconds: u32,
    ) -> Phone {
        Self::spawn_account(dir, name, account, source, &[], seconds, false)
    }

    /// Starts baresip; when another process took one of its ports between the check and
    /// baresip's bind ("Address already in use"), starts it again on new ports (bounded).
    fn spawn_account(
        dir: &Path,
        ext: &str,
        account: &str,
        source: &Path,
        commands: &[String],
        seconds: u32,
        mwi: bool,
    ) -> Phone {
        for _ in 0..5 {
            let mut phone = Self::spawn_once(dir, ext, account, source, commands, seconds, mwi);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let out = phone.output();
                if out.contains("Address already in use") {
                    phone.kill();
                    break;
                }
                if out.contains("baresip is ready") || Instant::now() >= deadline {
                    return phone;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("baresip found no free ports in 5 tries");
    }

    fn spawn_once(
        dir: &Path,
        ext: &str,
        account: &str,
        source: &Path,
        commands: &[String],
        seconds: u32,
        mwi: bool,
    ) -> Phone {
        let dir = dir.join(format!("phone-{ext}-{}", free_udp_port()));
        std::fs::create_dir_all(&dir).expect("phone dir");
        let sip_port = free_sip_port();
        // Not the port right after the SIP port (baresip's TLS transport takes it).
        let ctrl_port = std::iter::repeat_with(free_udp_port)
            .take(100)
            .find(|p| *p != sip_port + 1)
            .expect("control port");
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\naudio_player aufile,{d}/play.wav\naudio_source aufile,{src}\naudio_alert aufile,{d}/alert.wav\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {d}\n\
             module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\n{mwi}module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
            d = dir.display(),
            src = source.display(),
            mwi = if mwi { "module_app mwi.so\n" } else { "" }
        );
        std::fs::write(dir.join("config"), config).expect("config");
        std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("accounts");
        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(&dir).args(["-t", &seconds.to_string()]);
        for c in commands {
            cmd.args(["-e", c]);
        }
        let out = std::fs::File::create(dir.join("out.txt")).expect("out");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone"))
            .stderr(out)
            .spawn()
            .expect("spawn baresip");
        Phone {
            child: Some(child),
            dir,
            ctrl_port,
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.txt")).unwrap_or_default()
    }

    /// Waits (bounded) for `needle` in the phone's output.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sends a command over ctrl_tcp (netstring-framed JSON), e.g. `("dial", "sip:*97@…")`,
    /// `("hangup", "")`, `("sndcode", "2")`. Retries (bounded) while the module is not up.
    pub fn command(&self, command: &str, params: &str) {
        let body =
            serde_json::json!({ "command": command, "params": params, "token": "t" }).to_string();
        let frame = format!("{}:{},", body.len(), body);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.ctrl_port).into(),
                Duration::from_secs(2),
            ) {
                Ok(mut s) => {
                    s.write_all(frame.as_bytes()).expect("ctrl_tcp write");
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("ctrl_tcp: {e}"),
            }
        }
    }

    /// Kills the phone at once (a phone that vanishes: no BYE).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// RMS (0..1) of everything this phone heard (sndfile's `*-dec.wav` captures), skipping
    /// the WAV header; 0 when nothing was captured.
    pub fn heard_rms(&self) -> f64 {
        let mut sum = 0f64;
        let mut n = 0u64;
        for e in std::fs::read_dir(&self.dir).expect("phone dir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("dump-") && name.ends_with("-dec.wav")) {
                continue;
            }
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            for c in bytes.get(44..).unwrap_or_default().chunks_exact(2) {
                let v = f64::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0;
                sum += v * v;
                n += 1;
            }
        }
        if n == 0 {
            0.0
        } else {
            (sum / n as f64).sqrt()
        }
    }

    pub fn wait_exit(&mut self, limit: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = harness::wait_bounded(&mut c, limit);
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the phone's output for the post-mortem (the temporary folder goes away).
            let keep = std::env::temp_dir().join("ivm-e2e-failed-phones");
            let _ = std::fs::create_dir_all(&keep);
            let name = self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = std::fs::copy(self.dir.join("out.txt"), keep.join(format!("{name}.txt")));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Speech padded with 5 s of silence first (the greeting and beep play meanwhile) and a
/// little after; returns (file, seconds of speech).
pub fn padded_speech(dir: &Path, text: &str) -> (PathBuf, f64) {
    speech8k(dir, "padded", text, 5.0, 0.5)
}

/// Speech at 8 kHz padded with `before` seconds of silence and `after` after it.
pub fn speech8k(dir: &Path, name: &str, text: &str, before: f64, after: f64) -> (PathBuf, f64) {
    let raw = speech(dir, &format!("{name}-raw"), text);
    let seconds = harness::wav_seconds(&raw);
    let out = dir.join(format!("{name}-8k.wav"));
    harness::sox(
        &raw,
        &["-r", "8000", "-c", "1"],
        &out,
        &["pad", &before.to_string(), &after.to_string()],
    );
    (out, seconds)
}

/// `seconds` of silence at 8 kHz (sox), as a phone's quiet microphone.
pub fn silence_wav(dir: &Path, seconds: u32) -> PathBuf {
    let p = dir.join(format!("silence{seconds}.wav"));
    let r = run_bounded(
        Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&p)
            .args(["trim", "0", &seconds.to_string()]),
        Duration::from_secs(30),
    );
    assert!(r.status.success());
    p
}
