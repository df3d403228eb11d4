//! The files a development or test cluster runs from: a CA and a server certificate, NKeys
//! for the services and for each box, and one `nats-server` config per node with JetStream,
//! TLS on client and route connections, and the authorization block of
//! [`ivm_global::perms`]. Used by `scripts/global-dev` (through `ivm-global-devfiles`) and by
//! the tests, so both run the cluster the design describes. Everything listens on 127.0.0.1.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use ivm_global::perms::{self, Admitted};
use ivm_wire::Guid;

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DevFilesError {
    /// A file or a port.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Certificate generation.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its server name (`n1`...).
    pub name: String,
    /// Its config file.
    pub config: PathBuf,
    /// Its client port (TLS).
    pub client_port: u16,
    /// Its monitoring port (HTTP, `/healthz`).
    pub monitor_port: u16,
}

/// A box admitted to the cluster.
#[derive(Debug, Clone)]
pub struct BoxKey {
    /// The box's GUID.
    pub id: Guid,
    /// Its NKey seed file.
    pub seed_file: PathBuf,
}

/// Everything written.
#[derive(Debug, Clone)]
pub struct ClusterFiles {
    /// The folder holding it all.
    pub dir: PathBuf,
    /// The CA the servers' certificate is signed by.
    pub ca_file: PathBuf,
    /// The services' NKey seed file.
    pub service_seed_file: PathBuf,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The admitted boxes.
    pub boxes: Vec<BoxKey>,
}

impl ClusterFiles {
    /// The client URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("tls://127.0.0.1:{}", n.client_port))
            .collect()
    }
}

/// A port free on 127.0.0.1 now, distinct on every call in this process, and below Linux's
/// ephemeral range (32768-60999). A port the kernel hands out for `bind(0)` comes from that
/// range, so until the node that is to listen on it starts, any outgoing connection (the
/// running nodes' routes, a parallel test's clients) may take it, and the node then never
/// starts: seen with four clusters starting side by side.
fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(331);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + start.wrapping_add(n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free port in 20000-31999",
    ))
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Writes a cluster of `nodes` nodes admitting the services and `boxes` into `dir`.
pub fn write(dir: &Path, nodes: usize, boxes: &[Guid]) -> Result<ClusterFiles, DevFilesError> {
    std::fs::create_dir_all(dir)?;
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "IVM global dev CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert = params.signed_by(&key, &rcgen::Issuer::new(ca, &ca_key))?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem())?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    write_secret(&dir.join("server-key.pem"), &key.serialize_pem())?;

    let (service_seed, service_public) = perms::new_user_key();
    let service_seed_file = dir.join("service.nk");
    write_secret(&service_seed_file, &service_seed)?;
    let mut admitted = vec![Admitted {
        nkey: service_public,
        permissions: None,
    }];
    let mut box_keys = Vec::new();
    for &id in boxes {
        let (seed, public) = perms::new_user_key();
        let seed_file = dir.join(format!("box-{}.nk", ivm_global::subject::token(id)));
        write_secret(&seed_file, &seed)?;
        admitted.push(Admitted {
            nkey: public,
            permissions: Some(perms::box_permissions(id)),
        });
        box_keys.push(BoxKey { id, seed_file });
    }
    let authorization = perms::authorization_block(&admitted);

    let ports = (0..nodes)
        .map(|_| Ok((free_port()?, free_port()?, free_port()?)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let tls = format!(
        "cert_file: \"{d}/server.pem\"\n    key_file: \"{d}/server-key.pem\"\n    ca_file: \"{d}/ca.pem\"",
        d = dir.display()
    );
    let mut out_nodes = Vec::new();
    for (i, &(client, cluster, monitor)) in ports.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let routes = ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| format!("\"tls://127.0.0.1:{}\"", p.1))
            .collect::<Vec<_>>()
            .join(", ");
        let store = dir.join(&name);
        std::fs::create_dir_all(&store)?;
        let config = format!(
            "server_name: {name}\nlisten: \"127.0.0.1:{client}\"\nhttp: \"127.0.0.1:{monitor}\"\n\
             tls {{\n    {tls}\n    timeout: 5\n}}\n\
             jetstream {{\n    store_dir: \"{store}\"\n    max_memory_store: 64MB\n    max_file_store: 2GB\n}}\n\
             cluster {{\n  name: ivm\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{routes}]\n  tls {{\n    {tls}\n    verify: true\n    timeout: 5\n  }}\n}}\n\
             {authorization}",
            store = store.display()
        );
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, config)?;
        out_nodes.push(Node {
            name,
            config: path,
            client_port: client,
            monitor_port: monitor,
        });
    }
    Ok(ClusterFiles {
        dir: dir.to_owned(),
        ca_file,
        service_seed_file,
        nodes: out_nodes,
        boxes: box_keys,
    })
}
