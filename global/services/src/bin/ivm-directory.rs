//! `ivm-directory`: which box serves which user (S23).

use clap::Parser;

/// Answers boxes' publish and unpublish requests and keeps the user directory.
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
    let name = format!("ivm-directory-{}", cli.service.instance);
    let client = ivm_global::nats::connect(&cli.service.link(), &name, None).await?;
    tokio::select! {
        r = ivm_global_services::directory::run(client, cli.service.replicas.into()) => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
