//! `ivm delete ID`: delete a message from my inbox (the sender sees it as `deleted`).

use super::resolve_id;
use crate::cli::IdArg;
use crate::context::Context;

/// Deletes one message.
pub async fn delete(ctx: &Context, args: IdArg) -> anyhow::Result<()> {
    let id = resolve_id(ctx, &args.id).await?;
    ctx.api.delete(id).await?;
    eprintln!("ivm: deleted {id}");
    Ok(())
}
