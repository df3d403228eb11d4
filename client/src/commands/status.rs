//! `ivm status [available|busy|away|offline]`: set my presence, or show it.

use crate::cli::StatusArgs;
use crate::context::Context;
use crate::output;

/// Sets or shows my presence.
pub async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    match args.status {
        Some(s) => ctx.api.set_status(s).await?,
        None => output::line(ctx.api.me().await?.status.as_str())?,
    }
    Ok(())
}
