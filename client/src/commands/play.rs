//! `ivm play ID [-o out.wav]`: download the audio, decode the Ogg Opus to WAV (the box has no
//! speaker to play it on, so "play" means: make it playable here), write it, and only then
//! mark the message played so the sender's receipt tells the truth.

use std::path::PathBuf;

use super::{resolve_id, write_file, CommandError};
use crate::cli::PlayArgs;
use crate::context::Context;

/// Decodes one message to WAV and marks it played.
pub async fn play(ctx: &Context, args: PlayArgs) -> anyhow::Result<()> {
    let id = resolve_id(ctx, &args.id).await?;
    let ogg = ctx.api.audio(id).await?;
    // Decoding is CPU work: keep it off the runtime's threads.
    let wav = tokio::task::spawn_blocking(move || ivm_media::ogg_opus_to_wav(&ogg))
        .await?
        .map_err(|e| CommandError::Decode {
            id,
            cause: e.to_string(),
        })?;
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{id}.wav")));
    write_file(&out, &wav)?;
    ctx.api.played(id).await?;
    if out.as_os_str() != "-" {
        eprintln!("ivm: wrote {}", out.display());
    }
    Ok(())
}
