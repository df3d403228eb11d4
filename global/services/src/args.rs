//! The command line of `ivm-transport` and `ivm-directory`.

use std::path::PathBuf;

use ivm_global::config::LinkConfig;

/// How a service instance reaches the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// A cluster server, `tls://host:port` (repeat for failover).
    #[arg(
        long = "url",
        env = "IVM_GLOBAL_URLS",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,
    /// The PEM CA that signed the servers' certificates.
    #[arg(long, env = "IVM_GLOBAL_CA")]
    pub ca: PathBuf,
    /// The file holding this service's NKey user seed.
    #[arg(long, env = "IVM_GLOBAL_SEED")]
    pub seed: PathBuf,
    /// Copies of each stream and bucket (3 on a 3-node cluster).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
    /// This instance's name (in logs and the servers' connection list).
    #[arg(long, default_value = "1")]
    pub instance: String,
}

impl ServiceArgs {
    /// The connection settings these arguments give.
    pub fn link(&self) -> LinkConfig {
        LinkConfig {
            enabled: true,
            urls: self.urls.clone(),
            ca_file: Some(self.ca.clone()),
            seed_file: Some(self.seed.clone()),
            box_name: None,
        }
    }
}
