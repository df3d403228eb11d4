//! `ivm talk --to NAME[,NAME..] FILE.wav`: a live talk (intercom, issue 13); with
//! `--group GROUP` instead of `--to`, an all-call to a group (the box expands it, checks the
//! permission and marks it urgent). The recording
//! is encoded to Opus in 20 ms frames and each frame is sent as a portion at real-time pace,
//! as if it were being spoken now: recipients online hear it as it goes, the others get the
//! stored message. Prints the box's `talk_accepted` and `talk_end` objects as JSON lines
//! (and any `error` it sends about a portion); exits non-zero when the talk is refused or
//! no `talk_end` comes.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use ivm_media::{OpusFrameEncoder, FRAME_SAMPLES};
use ivm_wire::object::{decode_server, ConnectObject, Envelope, ServerEvent, DEFAULT_MAX_FRAME};
use ivm_wire::talk::{talk_start, Portion, TalkStartObject};
use ivm_wire::{Guid, Priority};
use serde_json::json;
use tokio::time::Instant;

use super::CommandError;
use crate::cli::TalkArgs;
use crate::context::Context;
use crate::ws::{self, Connection, Frame};
use crate::{output, recipients};

/// How long to wait for each answer from the box.
const ANSWER_WAIT: Duration = Duration::from_secs(15);

/// Streams one file as a live talk.
pub async fn talk(ctx: &Context, args: TalkArgs) -> anyhow::Result<()> {
    let names = match &args.group {
        Some(_) => Vec::new(),
        None => recipients::split(&args.to)?,
    };
    let raw = tokio::fs::read(&args.audio)
        .await
        .map_err(|source| CommandError::Read {
            path: args.audio.clone(),
            source,
        })?;
    // Decoding, resampling and encoding are codec work: off the async threads.
    let packets = tokio::task::spawn_blocking(move || encode(&raw)).await??;
    let to = match &args.group {
        Some(_) => Vec::new(),
        None => resolve(ctx, &names).await?,
    };
    let start = TalkStartObject {
        group: args.group.clone(),
        ..TalkStartObject::default()
    };

    let mut conn = ws::connect(ctx.api.base(), ctx.api.tls()).await?;
    let hello = Envelope::new("connect")
        .with_id("c1")
        .with_object(&ConnectObject {
            token: ctx.api.token().unwrap_or_default().to_owned(),
            client: crate::CLIENT_NAME.to_owned(),
            priority: Priority::Normal,
        });
    conn.send(&hello).await?;
    match answer(&mut conn, |ev| match ev {
        ServerEvent::Ack { id, .. } if id == "c1" => Some(Ok(())),
        ServerEvent::Error { id, error } if id == "c1" => Some(Err(error.message.clone())),
        _ => None,
    })
    .await?
    {
        Ok(()) => {}
        Err(e) => bail!("the box refused the session: {e}"),
    }

    conn.send(&talk_start("t1", to, &start)).await?;
    let stream = match answer(&mut conn, |ev| match ev {
        ServerEvent::TalkAccepted { id, accepted } if id == "t1" => Some(Ok(accepted.clone())),
        ServerEvent::TalkRefused { id, refused } if id == "t1" => Some(Err(refused.clone())),
        ServerEvent::Error { id, error } if id == "t1" => {
            Some(Err(ivm_wire::talk::TalkRefusedObject {
                reason: ivm_wire::talk::TalkRefusal::Malformed,
                message: error.message.clone(),
            }))
        }
        _ => None,
    })
    .await?
    {
        Ok(a) => {
            output::json_line(&json!({"event": "talk_accepted", "object": a}))?;
            a.stream
        }
        Err(r) => bail!("the box refused the talk ({:?}): {}", r.reason, r.message),
    };

    // One portion every 20 ms, measured from the start so delays do not add up.
    let start = Instant::now();
    let count = packets.len();
    for (i, opus) in packets.into_iter().enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                frame = conn.next_frame() => side_frame(&mut conn, frame).await?,
            }
        }
        let frame = Portion {
            stream,
            seq: i as u32,
            last: i + 1 == count,
            opus,
        }
        .encode()?;
        conn.send_binary(frame).await?;
    }
    let ended = answer(&mut conn, |ev| match ev {
        ServerEvent::TalkEnded(e) if e.stream == stream => Some(e.clone()),
        _ => None,
    })
    .await?;
    output::json_line(&json!({"event": "talk_end", "object": ended}))?;
    conn.close().await;
    if ended.message.is_none() {
        bail!("the talk ended but nothing was stored");
    }
    Ok(())
}

/// Reads frames until `pick` finds the answer (pings answered, errors printed on the way).
async fn answer<T>(
    conn: &mut Connection,
    mut pick: impl FnMut(&ServerEvent) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, conn.next_frame())
            .await
            .map_err(|_| anyhow!("no answer from the box within {} s", ANSWER_WAIT.as_secs()))?;
        let Some(Ok(Frame::Text(text))) = frame else {
            side_frame(conn, frame).await?;
            continue;
        };
        if let Ok(ev) = decode_server(&text, DEFAULT_MAX_FRAME) {
            if let Some(t) = pick(&ev) {
                return Ok(t);
            }
            on_event(conn, ev).await?;
        }
    }
}

/// A frame that is not the awaited answer: a ping to answer, an error to show.
async fn side_frame(
    conn: &mut Connection,
    frame: Option<Result<Frame, ws::WsError>>,
) -> anyhow::Result<()> {
    match frame {
        None => bail!("the box closed the connection"),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(Frame::Binary(_))) => Ok(()),
        Some(Ok(Frame::Text(text))) => match decode_server(&text, DEFAULT_MAX_FRAME) {
            Ok(ev) => on_event(conn, ev).await,
            Err(_) => Ok(()),
        },
    }
}

async fn on_event(conn: &mut Connection, ev: ServerEvent) -> anyhow::Result<()> {
    match ev {
        ServerEvent::Ping { id } => conn.send(&Envelope::new("pong").with_id(id)).await?,
        ServerEvent::Error { error, .. } => {
            output::json_line(&json!({"event": "error", "object": error}))?
        }
        _ => {}
    }
    Ok(())
}

/// A WAV as 20 ms Opus packets (mono, 48 kHz).
fn encode(raw: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let pcm = ivm_media::wav_to_pcm(raw).context("reading the WAV")?;
    let at48 = ivm_media::resample_to_48k(&pcm.samples, pcm.rate)?;
    let samples = ivm_media::to_i16(&at48);
    if samples.is_empty() {
        bail!("the recording is empty");
    }
    let mut enc = OpusFrameEncoder::new()?;
    samples
        .chunks(FRAME_SAMPLES)
        .map(|f| enc.encode(f).map_err(Into::into))
        .collect()
}

/// Names, extensions or GUIDs to GUIDs, from the box's directory.
async fn resolve(ctx: &Context, names: &[String]) -> anyhow::Result<Vec<Guid>> {
    let users = ctx.api.users().await?;
    names
        .iter()
        .map(|n| {
            users
                .iter()
                .find(|u| u.name == *n || u.extension == *n || u.guid.to_string() == *n)
                .map(|u| u.guid)
                .ok_or_else(|| anyhow!("unknown recipient {n:?}"))
        })
        .collect()
}
