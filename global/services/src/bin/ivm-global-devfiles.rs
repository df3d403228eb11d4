//! `ivm-global-devfiles`: writes a loopback cluster's CA, keys and node configs (for
//! `scripts/global-dev`) and prints them as shell assignments.

use clap::Parser;

/// Writes the files of a development JetStream cluster into a folder.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The folder to write into (created if missing).
    dir: std::path::PathBuf,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=7))]
    nodes: u8,
    /// Boxes to admit (each gets a fresh GUID and NKey).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=100))]
    boxes: u8,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let boxes: Vec<_> = (0..cli.boxes).map(|_| uuid::Uuid::new_v4()).collect();
    let files = ivm_global_services::devfiles::write(&cli.dir, cli.nodes.into(), &boxes)?;
    println!("URLS={}", files.urls().join(","));
    println!("CA={}", files.ca_file.display());
    println!("SERVICE_SEED={}", files.service_seed_file.display());
    for n in &files.nodes {
        println!("NODE_{}={} {}", n.name, n.config.display(), n.monitor_port);
    }
    for (i, b) in files.boxes.iter().enumerate() {
        println!("BOX_{}={} {}", i + 1, b.id, b.seed_file.display());
    }
    Ok(())
}
