//! `ivm-transport`: routes messages and receipts between boxes through the cluster (S22).

use clap::Parser;

/// Routes envelopes from boxes' out subjects to their recipients' boxes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    service: ivm_global_services::args::ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ivm_global_services::init_logging();
    let cli = Cli::parse();
    let name = format!("ivm-transport-{}", cli.service.instance);
    let client = ivm_global::nats::connect(&cli.service.link(), &name, None).await?;
    tokio::select! {
        r = ivm_global_services::transport::run(client, cli.service.replicas.into()) => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
