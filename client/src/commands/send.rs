//! `ivm send --to NAME[,NAME..] FILE [--attach FILE..]`: upload a recording with its
//! attachments; prints the new message id.
//!
//! A WAV is encoded to Ogg Opus here, with the box's own pipeline, before anything is sent
//! (see [`crate::recording`]); an Ogg Opus file is checked and sent as it is.

use std::path::Path;

use super::CommandError;
use crate::api::Upload;
use crate::cli::SendArgs;
use crate::context::Context;
use crate::{output, recipients, recording};

/// Sends one message.
pub async fn send(ctx: &Context, args: SendArgs) -> anyhow::Result<()> {
    let to = recipients::split(&args.to)?;
    let audio_path = args.audio.clone();
    let raw = read(&audio_path).await?;
    // Encoding is codec work: off the async threads.
    let recording =
        tokio::task::spawn_blocking(move || recording::prepare(&audio_path, raw)).await??;
    tracing::debug!(
        file = %args.audio.display(),
        bytes = recording.original_bytes,
        ogg_bytes = recording.upload.bytes.len(),
        duration_ms = recording.duration_ms,
        encoded_here = recording.encoded_here,
        "recording ready"
    );
    let mut attachments = Vec::with_capacity(args.attach.len());
    for path in &args.attach {
        attachments.push(read_upload(path).await?);
    }
    let info = ctx
        .api
        .send_message(&to, recording.upload, attachments)
        .await?;
    output::line(&info.id.to_string())?;
    Ok(())
}

async fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| CommandError::Read {
            path: path.to_owned(),
            source,
        })
}

async fn read_upload(path: &Path) -> Result<Upload, CommandError> {
    let bytes = read(path).await?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    Ok(Upload {
        content_type: content_type(&name, &bytes).to_owned(),
        name,
        bytes,
    })
}

/// The MIME type of an upload, by its first bytes for audio and by extension for the rest.
pub fn content_type(name: &str, bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"OggS") {
        return "audio/ogg";
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        return "audio/wav";
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "wav" => "audio/wav",
        "ogg" | "opus" | "oga" => "audio/ogg",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_recognised_by_content() {
        assert_eq!(content_type("x.bin", b"OggS\0\x02"), "audio/ogg");
        assert_eq!(content_type("x", b"RIFF\0\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(content_type("notes.TXT", b"hi"), "text/plain");
        assert_eq!(content_type("blob", b"??"), "application/octet-stream");
    }
}
