//! The front panel end to end: the real `ivmd` drives a software Crystalfontz CFA-635 on a pty
//! pair (`ivm_lcd::io::serve_soft_panel`, the same code as the `ivm-panel` binary). Keys are
//! pressed on the soft panel; what it shows is read back from its screen.
//!
//! - boot without the panel (logged once), then the panel plugged in: idle screen with the
//!   heartbeat, status pages both ways, line noise and truncated frames on the line, a new
//!   admin password shown once and usable;
//! - a phone seen over TFTP is assigned from the panel and its file then carries the account;
//!   bound by that fetch, it is re-armed from the panel's phone list and fetches again;
//! - a static address edited octet by octet and applied in a network namespace the test makes
//!   (`[network] backend = "ip"`), refused values, keep, undo, the automatic undo, and a
//!   factory reset that keeps the network settings;
//! - the DHCP server turned on from the panel with the box inside a namespace: refused while
//!   another server answers, then serving a udhcpc client in the peer namespace;
//! - factory reset (wipe everything): the box comes back at its first-start state;
//! - with `[panel] wipe_command` (the appliance image's privileged wipe of the whole data
//!   partition), "wipe everything" runs that command and leaves the data folder to it.
//!
//! Network tests use only namespaces and veth pairs made here; they are skipped with a note
//! when the machine cannot make namespaces (not root), and fail instead under
//! `IVM_TEST_STRICT=1` (CI, which runs as root).

#[path = "harness.rs"]
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{ivmd, run_bounded, tempdir, text, Person, Server};
use ivm_lcd::io::lock;
use ivm_lcd::soft_pty::SoftPty;
use ivm_lcd::{CfaModel, Key};

/// A software panel on a pty, with waits on what it shows.
struct Soft(SoftPty);

impl Soft {
    fn start() -> Soft {
        Soft(SoftPty::start(CfaModel::Cfa635).expect("soft panel on a pty"))
    }

    fn toml(&self) -> String {
        format!(
            "[panel]\npath = {:?}\nname = \"test-box\"\n",
            self.0.path.display().to_string()
        )
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .lines()
            .into_iter()
            .map(|l| l.trim_end().to_owned())
            .collect()
    }

    /// Waits (bounded) until the screen satisfies `want`; returns it.
    async fn wait(&mut self, what: &str, want: impl Fn(&[String]) -> bool) -> Vec<String> {
        let limit = Duration::from_secs(20);
        let r = tokio::time::timeout(limit, async {
            loop {
                let l = self.lines();
                if want(&l) {
                    // A screen is drawn by several commands: let it settle before reading it.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    let again = self.lines();
                    if again == l {
                        return l;
                    }
                    continue;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), self.0.changed.changed())
                    .await;
            }
        })
        .await;
        match r {
            Ok(l) => l,
            Err(_) => panic!("panel never showed {what}; it shows {:?}", self.lines()),
        }
    }

    /// Waits for a row that starts with `text`.
    async fn wait_row(&mut self, row: usize, text: &str) -> Vec<String> {
        self.wait(&format!("row {row} = {text:?}"), |l| {
            l.get(row).is_some_and(|r| r.starts_with(text))
        })
        .await
    }

    fn tap(&self, key: Key) {
        self.0.tap(key);
    }

    /// Taps `key` and waits for row `row` to start with `text`.
    async fn step(&mut self, key: Key, row: usize, text: &str) -> Vec<String> {
        self.tap(key);
        self.wait_row(row, text).await
    }
}

/// Runs a setup command; panics with its output on failure.
fn sh(args: &[&str]) -> String {
    let o = run_bounded(
        Command::new(args[0]).args(&args[1..]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Two namespaces joined by a veth pair, removed on drop.
struct Netns {
    a: String,
    b: String,
    a_if: String,
    b_if: String,
}

impl Netns {
    /// `None` (with a note) when namespaces cannot be made here.
    fn new(tag: &str, a_addr: &str, b_addr: &str) -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let n = Netns {
            a: format!("ivmp{tag}a{id}"),
            b: format!("ivmp{tag}b{id}"),
            a_if: format!("vp{tag}a{id}"),
            b_if: format!("vp{tag}b{id}"),
        };
        let ok = Command::new("ip")
            .args(["netns", "add", &n.a])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            harness::cannot_run("cannot create network namespaces here (needs root)");
            return None;
        }
        sh(&["ip", "netns", "add", &n.b]);
        sh(&[
            "ip", "link", "add", &n.a_if, "netns", &n.a, "type", "veth", "peer", "name", &n.b_if,
            "netns", &n.b,
        ]);
        for (ns, ifc, addr) in [(&n.a, &n.a_if, a_addr), (&n.b, &n.b_if, b_addr)] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            if !addr.is_empty() {
                sh(&["ip", "-n", ns, "addr", "add", addr, "dev", ifc]);
            }
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
        }
        Some(n)
    }

    /// IPv4 addresses on side A's interface.
    fn a_addresses(&self) -> Vec<String> {
        let out = sh(&[
            "ip", "-n", &self.a, "-4", "-o", "addr", "show", "dev", &self.a_if,
        ]);
        out.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.position(|w| w == "inet")?;
                it.next().map(str::to_owned)
            })
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-9", pid]).status();
                    }
                });
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_status_pages_noise_and_admin_password() {
    let dir = tempdir();
    let mut soft = Soft::start();
    // The panel is not there when the box starts: it runs on, logs once, and picks the
    // panel up when it appears (a symlink to the pty, made later).
    let link = dir.path().join("panel");
    let toml = format!(
        "[panel]\npath = {:?}\nname = \"test-box\"\n[network]\ninterface = \"lo\"\n",
        link.display().to_string()
    );
    let server = tokio::task::block_in_place(|| Server::start(dir.path(), &toml));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        server.log().matches("panel absent").count(),
        1,
        "logged once"
    );
    std::os::unix::fs::symlink(&soft.0.path, &link).expect("symlink");

    // Idle screen at first start: name and heartbeat, the address, and the admin's one-time
    // password (it is in no log: the box's output here is not a terminal).
    let first = server.first_admin_password();
    let idle = soft.wait_row(1, "IP 127.0.0.1").await;
    assert!(idle[0].starts_with("test-box"), "{idle:?}");
    assert_eq!(idle[2], "Admin password:");
    assert_eq!(idle[3], first);
    assert!(!server.log().contains(&first) && !server.stdout.iter().any(|l| l.contains(&first)));
    // The heartbeat mark blinks: both states seen within a few seconds.
    soft.wait("heartbeat on", |l| l[0].ends_with('*')).await;
    soft.wait("heartbeat off", |l| l[0] == "test-box").await;

    // Status pages, down and back up.
    let net = soft.step(Key::Down, 0, "Network host").await;
    assert_eq!(net[1], "IP 127.0.0.1/8");
    let sys = soft.step(Key::Down, 0, "System").await;
    assert_eq!(sys[2], format!("Version {}", env!("CARGO_PKG_VERSION")));
    assert!(sys[3].starts_with("Storage "), "{sys:?}");
    let dhcp = soft.step(Key::Down, 0, "DHCP off").await;
    assert_eq!(dhcp[3], "Leases in use 0");
    let phones = soft.step(Key::Down, 0, "Phones").await;
    assert_eq!(phones[1], "SIP registered 0");
    soft.step(Key::Up, 0, "DHCP off").await;
    soft.step(Key::Exit, 1, "IP 127.0.0.1").await;

    // Line noise and a truncated frame: the driver resynchronises and keys still work.
    {
        let mut p = lock(&soft.0.panel);
        p.inject_raw(&[0xff, 0x00, 0x13, 0x37, 0x80, 0x01]);
        p.inject_raw(&[0x80, 0x01]); // a key report cut off after its length byte
        p.inject_raw(&(0u8..=255).collect::<Vec<u8>>());
    }
    soft.0.kick();
    tokio::time::sleep(Duration::from_millis(300)).await;
    soft.step(Key::Enter, 0, "Menu").await;

    // A new admin password, shown once, is one-time: with it, `ivm` asks for a new password
    // first; `ivm passwd` sets one and then everything works. The old one (printed at first
    // start) is refused.
    soft.step(Key::Up, 3, ">Factory reset").await;
    soft.step(Key::Up, 2, ">Reboot").await;
    soft.step(Key::Up, 1, ">Admin password").await;
    soft.step(Key::Enter, 0, "Set a new admin").await;
    let shown = soft.step(Key::Enter, 0, "Admin password:").await;
    let password = shown[1].trim().to_owned();
    assert_eq!(password.len(), 20, "{shown:?}");
    assert_ne!(password, first);
    let dirp = dir.path().to_owned();
    tokio::task::block_in_place(|| {
        let admin = Person::new(&server, &dirp, "admin", &password);
        // A one-time password opens one session: `ivm login` keeps it, and `ivm passwd` (no
        // user given, so it uses the saved session) changes the password in it. (This test
        // used to run `ivm contacts` with it first, which now uses it up.)
        let first_use = admin.ivm(&["login"]);
        assert!(first_use.status.success(), "{}", text(&first_use));
        assert!(
            String::from_utf8_lossy(&first_use.stderr)
                .contains("the box asks you to set a new password first: run `ivm passwd`"),
            "a one-time password: {}",
            text(&first_use)
        );
        let changed = harness::run_bounded(
            std::process::Command::new(harness::ivm_bin())
                .env("IVM_HOME", &admin.home)
                .env("IVM_SERVER", &admin.server)
                .env("IVM_PASSWORD", &password)
                .env_remove("IVM_USER")
                .env_remove("HOME")
                .args(["passwd", "--new", "admin-chose-this-one"]),
            Duration::from_secs(60),
        );
        assert!(changed.status.success(), "ivm passwd: {}", text(&changed));
        let mine = Person::new(&server, &dirp.join("mine"), "admin", "admin-chose-this-one");
        let ok = mine.ivm(&["contacts"]);
        assert!(ok.status.success(), "own password works: {}", text(&ok));
        let again = admin.ivm(&["contacts"]);
        assert!(!again.status.success(), "the panel's password worked once");
        let old = Person::new(&server, &dirp.join("old"), "admin", &first).ivm(&["contacts"]);
        assert!(!old.status.success(), "old password refused");
    });
    // Any key leaves the page: the password is gone from the screen.
    let back = soft.step(Key::Exit, 0, "Menu").await;
    assert!(!back.iter().any(|l| l.contains(&password)));
    // The first-start password is no longer the admin's: the idle screen shows the counters.
    soft.step(Key::Exit, 0, "test-box").await;
    soft.wait_row(2, "Phones 0 reg/0 prov").await;
    assert!(
        !server.data.join("first-start-password").exists(),
        "file removed"
    );
    assert!(
        !server.log().contains(&password),
        "the password is not written to the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_seen_over_tftp_is_assigned_from_the_panel() {
    let dir = tempdir();
    let mut soft = Soft::start();
    let toml = format!("{}[network]\ninterface = \"lo\"\n", soft.toml());
    let server = tokio::task::block_in_place(|| Server::start(dir.path(), &toml));
    tokio::task::block_in_place(|| server.add_user("alice", "201", "alice-password-1"));
    let url = format!("tftp://{}/001565aabbcc.cfg", server.tftp);
    let fetch = |url: &str| {
        run_bounded(
            Command::new("curl").args(["-sS", url]),
            Duration::from_secs(20),
        )
    };

    // Unassigned: no file, but the phone is now "seen".
    let o = tokio::task::block_in_place(|| fetch(&url));
    assert!(
        !o.status.success(),
        "no file before assignment: {}",
        text(&o)
    );
    soft.wait_row(1, "IP 127.0.0.1").await;
    soft.tap(Key::Down);
    soft.tap(Key::Up);
    soft.wait("one unassigned phone", |l| {
        l[0].starts_with("Phones") && l[3] == "Unassigned 1"
    })
    .await;
    soft.step(Key::Exit, 1, "IP").await;
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Down, 2, ">DHCP server").await;
    soft.step(Key::Down, 3, ">Phones").await;
    let list = soft.step(Key::Enter, 0, "Unassigned yealink").await;
    assert_eq!(list[1], ">001565AABBCC new");
    let users = soft.step(Key::Enter, 0, "Assign to user").await;
    assert_eq!(
        users[1..3],
        [">100 admin".to_owned(), " 201 alice".to_owned()]
    );
    soft.step(Key::Down, 2, ">201 alice").await;
    let confirm = soft.step(Key::Enter, 0, "Assign 001565AABBCC").await;
    assert_eq!(confirm[1], "to 201 alice?");
    let done = soft.step(Key::Enter, 0, "Phones").await;
    assert_eq!(done[1], "001565AABBCC is now", "{done:?}");

    // The phone's file now comes over TFTP with alice's account.
    let o = tokio::task::block_in_place(|| fetch(&url));
    assert!(o.status.success(), "file after assignment: {}", text(&o));
    let body = String::from_utf8_lossy(&o.stdout);
    assert!(body.contains("201"), "{body}");
    let listed = tokio::task::block_in_place(|| ivmd(&server.data, &["phone", "list"]));
    assert!(text(&listed).contains("alice"), "{}", text(&listed));

    // That fetch bound the phone: TFTP, which cannot authenticate, gets nothing more ...
    let o = tokio::task::block_in_place(|| fetch(&url));
    assert!(!o.status.success(), "bound: {}", text(&o));
    // ... until the phone (replaced or reset) is re-armed from the panel: it is listed
    // under Phones with its state, picked, and re-armed after an Enter.
    soft.step(Key::Exit, 0, "Assign to user").await;
    soft.tap(Key::Exit);
    let list = soft
        .wait("alice's phone, provisioned", |l| {
            l[0] == "201 alice" && l[1] == ">001565AABBCC prov"
        })
        .await;
    assert_eq!(list[2], "", "no other phone");
    let page = soft.step(Key::Enter, 2, ">Re-arm").await;
    assert_eq!(page[..2], ["201 alice", "001565AABBCC prov"]);
    let confirm = soft.step(Key::Enter, 0, "Re-arm 001565AABBCC?").await;
    assert_eq!(confirm[2], "Enter=yes Exit=no");
    soft.step(Key::Exit, 2, ">Re-arm").await;
    soft.step(Key::Enter, 0, "Re-arm 001565AABBCC?").await;
    let done = soft.step(Key::Enter, 0, "Phones").await;
    assert!(done[1].starts_with("001565AABBCC armed"), "{done:?}");
    let o = tokio::task::block_in_place(|| fetch(&url));
    assert!(o.status.success(), "armed again: {}", text(&o));
    // The page shows the new state once the box reports it.
    soft.tap(Key::Exit);
    soft.wait("the phone's page, bound again", |l| {
        l[0] == "201 alice" && l[1] == "001565AABBCC prov" && l[2] == ">Re-arm"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_address_from_the_panel_in_a_namespace() {
    let Some(ns) = Netns::new("s", "10.77.0.5/24", "10.77.0.9/24") else {
        return;
    };
    let dir = tempdir();
    let mut soft = Soft::start();
    let toml = format!(
        "{}keep_network_s = 3\n[network]\nbackend = \"ip\"\nnetns = \"{}\"\ninterface = \"{}\"\n",
        soft.toml(),
        ns.a,
        ns.a_if
    );
    let mut server = tokio::task::block_in_place(|| Server::start(dir.path(), &toml));
    soft.wait_row(1, "IP 10.77.0.5").await;

    // Network > Set static address: 10.77.0.5 -> 10.77.0.7, digit by digit.
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Enter, 0, "Network").await;
    soft.step(Key::Down, 2, ">Set static address").await;
    let ed = soft.step(Key::Enter, 0, "IP address").await;
    assert_eq!(ed[1], " 010.077.000.005");
    assert_eq!(ed[2], "               ^");
    soft.step(Key::Up, 1, " 010.077.000.006").await;
    soft.step(Key::Up, 1, " 010.077.000.007").await;
    let mask = soft.step(Key::Enter, 0, "Subnet mask").await;
    assert_eq!(mask[1], " 255.255.255.000");
    // A bad mask is refused on the spot.
    soft.step(Key::Down, 1, " 255.255.255.009").await;
    soft.step(Key::Enter, 3, "mask not contiguous").await;
    soft.step(Key::Up, 1, " 255.255.255.000").await;
    soft.step(Key::Enter, 0, "Gateway").await;
    soft.step(Key::Enter, 0, "DNS server").await;
    let confirm = soft.step(Key::Enter, 0, "Apply 10.77.0.7/24").await;
    assert_eq!(confirm[1], "gw none");
    nothing_changed_yet(&ns);
    soft.step(Key::Enter, 1, "Keep new settings?").await;
    assert_eq!(ns.a_addresses(), ["10.77.0.7/24"]);
    // Kept: the box starts again so SIP, the phones' files and DHCP use the new address.
    soft.tap(Key::Enter);
    restarted(&mut server);
    soft.wait_row(1, "IP 10.77.0.7").await;
    assert_eq!(ns.a_addresses(), ["10.77.0.7/24"]);

    // Undo from the panel puts the first address back (and restarts again).
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Enter, 0, "Network").await;
    soft.step(Key::Down, 2, ">Set static address").await;
    soft.step(Key::Down, 3, ">Undo last change").await;
    soft.step(Key::Enter, 0, "Undo the last").await;
    soft.tap(Key::Enter);
    restarted(&mut server);
    soft.wait_row(1, "IP 10.77.0.5").await;
    assert_eq!(ns.a_addresses(), ["10.77.0.5/24"]);

    // A change nobody confirms is undone by itself (keep_network_s = 3), without a restart.
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Enter, 0, "Network").await;
    soft.step(Key::Down, 2, ">Set static address").await;
    soft.step(Key::Enter, 1, " 010.077.000.005").await;
    soft.step(Key::Up, 1, " 010.077.000.006").await;
    soft.step(Key::Enter, 0, "Subnet mask").await;
    soft.step(Key::Enter, 0, "Gateway").await;
    soft.step(Key::Enter, 0, "DNS server").await;
    soft.step(Key::Enter, 0, "Apply 10.77.0.6/24").await;
    soft.step(Key::Enter, 1, "Keep new settings?").await;
    assert_eq!(ns.a_addresses(), ["10.77.0.6/24"]);
    let done = soft.wait_row(1, "Earlier settings").await;
    assert_eq!(done[0], "Network");
    assert_eq!(ns.a_addresses(), ["10.77.0.5/24"]);
    soft.step(Key::Enter, 0, "Network").await;
    // The revert is done while the box runs on: no third start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log();
    assert_eq!(
        log.matches("network change undone").count(),
        2,
        "undo and revert"
    );
    assert_eq!(
        log.matches("stopped cleanly").count(),
        2,
        "keep and undo restarted the box, the revert did not"
    );

    // Factory reset, keeping the network: users are gone, the network settings stay.
    tokio::task::block_in_place(|| server.add_user("carol", "203", "carol-password-1"));
    soft.step(Key::Exit, 0, "Menu").await;
    soft.step(Key::Up, 3, ">Factory reset").await;
    soft.step(Key::Enter, 1, ">Keep network").await;
    let confirm = soft.step(Key::Enter, 0, "Erase users").await;
    assert_eq!(confirm[1], "phones; keep network");
    soft.tap(Key::Enter);
    tokio::task::block_in_place(|| {
        server.wait_stdout(
            "factory reset done (keep network: true)",
            Duration::from_secs(30),
        );
        server.wait_stdout("ivmd: ready", Duration::from_secs(30));
    });
    let users = tokio::task::block_in_place(|| ivmd(&server.data, &["user", "list"]));
    assert!(!text(&users).contains("carol"), "{}", text(&users));
    assert!(
        server.data.join("network.json").exists(),
        "network settings kept"
    );
    assert_eq!(ns.a_addresses(), ["10.77.0.5/24"]);
    soft.wait_row(1, "IP 10.77.0.5").await;
    let page = soft.step(Key::Down, 0, "Network static").await;
    assert_eq!(page[1], "IP 10.77.0.5/24");
}

/// Waits for the box to start again after the panel asked it to.
fn restarted(server: &mut Server) {
    tokio::task::block_in_place(|| {
        server.wait_stdout("ivmd: restarting", Duration::from_secs(30));
        server.wait_stdout("ivmd: ready", Duration::from_secs(30));
    });
}

fn nothing_changed_yet(ns: &Netns) {
    assert_eq!(
        ns.a_addresses(),
        ["10.77.0.5/24"],
        "nothing applied before Enter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dhcp_server_from_the_panel_with_the_rogue_check() {
    let Some(ns) = Netns::new("d", "10.78.0.1/24", "") else {
        return;
    };
    let dir = tempdir();
    let mut soft = Soft::start();
    let toml = format!(
        "{}[network]\nbackend = \"ip\"\ninterface = \"{}\"\n[dhcp]\nprobe_ms = 4000\n",
        soft.toml(),
        ns.a_if
    );
    // Another DHCP server on the segment first (dnsmasq in the peer namespace).
    let leases = dir.path().join("dnsmasq.leases");
    sh(&[
        "ip",
        "-n",
        &ns.b,
        "addr",
        "add",
        "10.78.0.254/24",
        "dev",
        &ns.b_if,
    ]);
    let mut rogue = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.b,
            "dnsmasq",
            "-k",
            "-C",
            "/dev/null",
            "-p",
            "0",
        ])
        .args([
            "--bind-interfaces",
            "-i",
            &ns.b_if,
            "--dhcp-range=10.78.0.50,10.78.0.60,1h",
        ])
        .arg(format!("--dhcp-leasefile={}", leases.display()))
        .arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ))
        .spawn()
        .expect("dnsmasq");
    let server = tokio::task::block_in_place(|| Server::start_in_netns(dir.path(), &toml, &ns.a));
    soft.wait_row(1, "IP 10.78.0.1").await;
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Down, 2, ">DHCP server").await;
    soft.step(Key::Enter, 1, ">Turn on").await;
    let confirm = soft.step(Key::Enter, 0, "Turn DHCP server on").await;
    assert_eq!(
        confirm[1..3],
        ["10.78.0.100-".to_owned(), "10.78.0.199?".to_owned()]
    );
    let refused = soft.step(Key::Enter, 0, "Failed:").await;
    assert!(refused[1].starts_with("another DHCP server"), "{refused:?}");
    assert!(server.log().contains("another DHCP server answered"));

    // The other server goes away: now it starts and serves a client in the peer namespace.
    let _ = rogue.kill();
    let _ = rogue.wait();
    sh(&["ip", "-n", &ns.b, "addr", "flush", "dev", &ns.b_if]);
    soft.step(Key::Enter, 0, "DHCP server").await;
    soft.step(Key::Enter, 0, "Turn DHCP server on").await;
    let on = soft.step(Key::Enter, 2, "10.78.0.100-").await;
    assert_eq!(on[0], "DHCP server");
    assert_eq!(on[1..], ["on", "10.78.0.100-", "10.78.0.199"], "{on:?}");
    let script = dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE $ip\"\nexit 0\n",
    )
    .expect("script");
    sh(&["chmod", "+x", &script.display().to_string()]);
    let o = tokio::task::block_in_place(|| {
        run_bounded(
            Command::new("ip")
                .args(["netns", "exec", &ns.b, "udhcpc", "-f", "-q", "-n"])
                .args([
                    "-t",
                    "5",
                    "-T",
                    "1",
                    "-i",
                    &ns.b_if,
                    "-s",
                    &script.display().to_string(),
                ]),
            Duration::from_secs(30),
        )
    });
    let out = text(&o);
    assert!(
        out.contains("LEASE 10.78.0.1"),
        "udhcpc got a lease from the range: {out}"
    );
    // The status page counts it.
    soft.step(Key::Enter, 1, ">Turn off").await;
    soft.step(Key::Down, 2, ">Edit range").await;
    soft.step(Key::Down, 3, ">Show status").await;
    soft.step(Key::Enter, 0, "DHCP on").await;
    soft.wait_row(3, "Leases in use 1").await;
    wait_until("settings saved", Duration::from_secs(5), || {
        dir.path().join("data/dhcp-server.json").exists()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_reset_returns_to_first_start() {
    let dir = tempdir();
    let mut soft = Soft::start();
    let toml = format!("{}[network]\ninterface = \"lo\"\n", soft.toml());
    let mut server = tokio::task::block_in_place(|| Server::start(dir.path(), &toml));
    tokio::task::block_in_place(|| server.add_user("bob", "202", "bob-password-12"));
    let before = tokio::task::block_in_place(|| ivmd(&server.data, &["user", "list"]));
    assert!(text(&before).contains("bob"));
    let pid = server.pid();

    soft.wait_row(1, "IP 127.0.0.1").await;
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Up, 3, ">Factory reset").await;
    soft.step(Key::Enter, 0, "Factory reset").await;
    soft.step(Key::Down, 2, ">Wipe everything").await;
    let confirm = soft.step(Key::Enter, 0, "Erase users").await;
    assert_eq!(confirm[1], "phones AND network?");
    // Exit backs out: nothing happens.
    soft.step(Key::Exit, 0, "Factory reset").await;
    soft.step(Key::Enter, 0, "Erase users").await;
    soft.tap(Key::Enter);

    tokio::task::block_in_place(|| {
        server.wait_stdout("factory reset done", Duration::from_secs(30));
        let again = server.wait_stdout(
            "first start: created user \"admin\"",
            Duration::from_secs(30),
        );
        assert!(again.contains("first-start-password"), "{again}");
        server.wait_stdout("ivmd: ready", Duration::from_secs(30));
    });
    assert_eq!(server.pid(), pid, "the same process started again (exec)");
    let after = tokio::task::block_in_place(|| ivmd(&server.data, &["user", "list"]));
    let t = text(&after);
    assert!(
        t.contains("admin") && !t.contains("bob"),
        "only the new admin: {t}"
    );
    // The panel is driven again by the new run.
    soft.wait_row(1, "IP 127.0.0.1").await;
    soft.step(Key::Enter, 0, "Menu").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_everything_runs_the_wipe_command() {
    let dir = tempdir();
    let mut soft = Soft::start();
    let mark = dir.path().join("wipe-requested");
    let command = format!("echo requested > '{}'", mark.display());
    let toml = format!(
        "{}wipe_command = [\"sh\", \"-c\", {command:?}]\n[network]\ninterface = \"lo\"\n",
        soft.toml()
    );
    let server = tokio::task::block_in_place(|| Server::start(dir.path(), &toml));
    tokio::task::block_in_place(|| server.add_user("bob", "202", "bob-password-12"));
    let pid = server.pid();

    soft.wait_row(1, "IP 127.0.0.1").await;
    soft.step(Key::Enter, 0, "Menu").await;
    soft.step(Key::Up, 3, ">Factory reset").await;
    soft.step(Key::Enter, 0, "Factory reset").await;
    soft.step(Key::Down, 2, ">Wipe everything").await;
    soft.step(Key::Enter, 0, "Erase users").await;
    assert!(!mark.exists(), "nothing runs before the confirmation");
    soft.tap(Key::Enter);

    wait_until("the wipe command ran", Duration::from_secs(30), || {
        std::fs::read_to_string(&mark).is_ok_and(|t| t == "requested\n")
    })
    .await;
    // The command does the wiping (and the reboot): ivmd erased nothing itself, did not start
    // again, and still serves.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.pid(), pid);
    let users = tokio::task::block_in_place(|| ivmd(&server.data, &["user", "list"]));
    assert!(text(&users).contains("bob"), "{}", text(&users));
    tokio::task::block_in_place(|| {
        assert!(server.wait_log(
            "panel: factory reset, wipe everything",
            Duration::from_secs(5)
        ))
    });
}
