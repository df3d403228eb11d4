//! `ivm get ID [-o FILE] [--attachments DIR]`: download a message's Ogg Opus audio, and its
//! attachments under sanitised names (the server's names are not trusted with paths).

use std::path::PathBuf;

use super::{resolve_id, write_file, CommandError};
use crate::cli::GetArgs;
use crate::context::Context;
use crate::mailbox;

/// Downloads one message.
pub async fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<()> {
    let id = resolve_id(ctx, &args.id).await?;
    let info = ctx.api.message(id).await?;
    let audio = ctx.api.audio(id).await?;
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{id}.opus")));
    write_file(&out, &audio)?;
    if out.as_os_str() != "-" {
        eprintln!("ivm: saved the audio of {id} to {}", out.display());
    }
    if let Some(dir) = args.attachments {
        std::fs::create_dir_all(&dir).map_err(|source| CommandError::Write {
            path: dir.clone(),
            source,
        })?;
        for (a, name) in info
            .attachments
            .iter()
            .zip(mailbox::attachment_names(&info.attachments))
        {
            let bytes = ctx.api.attachment(id, a.index).await?;
            let path = dir.join(name);
            write_file(&path, &bytes)?;
            eprintln!("ivm: saved attachment {} to {}", a.index, path.display());
        }
    }
    Ok(())
}
