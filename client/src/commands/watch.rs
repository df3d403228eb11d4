//! `ivm watch [--dir DIR]`: the I/O driver around the sans-IO [`Watch`] core.
//!
//! One loop, one task: wait for whichever comes first, a frame from the socket, a finished
//! download, ctrl-C or the reconnect deadline; hand it to the core; carry out the actions it
//! returns in order. Downloads run in their own tasks so that a large attachment never delays
//! the answer to a `ping`. Every frame except `ping`/`pong` is printed on stdout as one compact
//! JSON line, as received; the client's own lines (`saved`, `reconnecting`, ...) are printed
//! the same way with an `event` field.

use std::collections::VecDeque;
use std::path::PathBuf;

use anyhow::Context as _;
use ivm_wire::object::{decode_server, DEFAULT_MAX_FRAME};
use ivm_wire::rest::MessageInfo;
use ivm_wire::Guid;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::Api;
use crate::cli::WatchArgs;
use crate::context::Context;
use crate::live::LiveTalks;
use crate::mailbox::Mailbox;
use crate::output;
use crate::watch::{Action, Stop, Watch};
use crate::ws::{self, Connection, Frame};

/// A finished download: where it was stored and whether it is new, or why it failed; or a
/// live talk saved as a WAV.
enum Saved {
    /// A message.
    Message {
        id: Guid,
        result: Result<(PathBuf, bool), String>,
    },
    /// A live talk.
    Talk(Value),
}

/// Runs until ctrl-C (exit 0), a `disconnect` from the server, or a refused session.
pub async fn watch(ctx: &mut Context, args: WatchArgs) -> anyhow::Result<()> {
    let mailbox = Mailbox::new(args.dir.unwrap_or_else(|| ctx.home.join("messages")));
    let mut core = Watch::new(ctx.api.token().unwrap_or_default(), ctx.can_relogin());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Saved>();
    let mut conn: Option<Connection> = None;
    let mut reconnect_at = Instant::now();
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut live = LiveTalks::default();

    loop {
        let actions = match conn.as_mut() {
            None => tokio::select! {
                _ = &mut interrupt => core.on_interrupt(),
                Some(saved) = done_rx.recv() => on_saved(&mut core, saved),
                _ = tokio::time::sleep_until(reconnect_at) => {
                    match ws::connect(ctx.api.base(), ctx.api.tls()).await {
                        Ok(c) => {
                            conn = Some(c);
                            core.on_open()
                        }
                        Err(e) => core.on_connect_failed(&e.to_string()),
                    }
                }
            },
            Some(c) => tokio::select! {
                _ = &mut interrupt => core.on_interrupt(),
                Some(saved) = done_rx.recv() => on_saved(&mut core, saved),
                frame = c.next_frame() => match frame {
                    Some(Ok(Frame::Text(text))) => on_frame(&mut core, &text)?,
                    Some(Ok(Frame::Binary(b))) => on_portion(&mut live, &b)?,
                    Some(Err(e)) => core.on_closed(&e.to_string()),
                    None => core.on_closed("closed by the server"),
                },
            },
        };

        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(envelope) => {
                    if let Some(c) = conn.as_mut() {
                        if let Err(e) = c.send(&envelope).await {
                            queue.extend(core.on_closed(&e.to_string()));
                        }
                    }
                }
                Action::Save(info) => {
                    let task = save(ctx.api.clone(), mailbox.clone(), info);
                    let tx = done_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(task.await);
                    });
                }
                Action::Emit(value) => output::json_line(&value)?,
                Action::TalkBegin { stream, from } => {
                    if let Err(e) = live.begin(stream, from) {
                        output::json_line(
                            &json!({"event": "talk_refused_here", "stream": stream, "error": e.to_string()}),
                        )?;
                    }
                }
                Action::TalkFinish { stream } => {
                    if let Some(done) = live.finish(stream) {
                        let dir = mailbox.root().join("talks");
                        let tx = done_tx.clone();
                        tokio::spawn(async move {
                            let saved = save_talk(dir, stream, done).await;
                            let _ = tx.send(saved);
                        });
                    }
                }
                Action::Bell => bell(),
                Action::Reconnect { after } => {
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                    reconnect_at = Instant::now() + after;
                }
                Action::Relogin => {
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                    let token = ctx.relogin().await.context("logging in again")?;
                    core.set_token(token);
                    reconnect_at = Instant::now();
                }
                Action::Exit(stop) => {
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                    return match stop {
                        Stop::Interrupted => Ok(()),
                        other => Err(other.into()),
                    };
                }
            }
        }
    }
}

/// Prints a frame (pings and pongs are keep-alives, not news) and decodes it for the core.
fn on_frame(core: &mut Watch, text: &str) -> anyhow::Result<Vec<Action>> {
    match serde_json::from_str::<Value>(text) {
        Ok(raw) => {
            let action = raw
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if action != "ping" && action != "pong" {
                output::json_line(&raw)?;
            }
        }
        Err(e) => {
            output::json_line(&json!({ "event": "unreadable_frame", "error": e.to_string() }))?
        }
    }
    match decode_server(text, DEFAULT_MAX_FRAME) {
        Ok(event) => Ok(core.on_event(event)),
        Err(e) => {
            // A newer server's action, or a frame we cannot use: shown above, otherwise ignored.
            tracing::debug!(error = %e, "ignored a server frame");
            Ok(Vec::new())
        }
    }
}

fn on_saved(core: &mut Watch, saved: Saved) -> Vec<Action> {
    match saved {
        Saved::Message { id, result } => match result {
            Ok((path, fresh)) => core.on_saved(id, &path, fresh),
            Err(e) => core.on_save_failed(id, &e),
        },
        Saved::Talk(line) => vec![Action::Emit(line)],
    }
}

/// A binary frame: a portion of a live talk being heard. Printed as a JSON line (so a
/// script sees the talk arrive as it is spoken) and kept for the talk's WAV.
fn on_portion(live: &mut LiveTalks, frame: &[u8]) -> anyhow::Result<Vec<Action>> {
    let line = match live.portion(frame) {
        Ok((stream, seq)) => {
            json!({"event": "portion", "stream": stream, "seq": seq, "bytes": frame.len()})
        }
        Err(e) => json!({"event": "portion_unused", "error": e.to_string()}),
    };
    output::json_line(&line)?;
    Ok(Vec::new())
}

/// Decodes what a live talk brought (codec work: a blocking thread) and writes it as
/// `DIR/talks/talk-<stream>-<unix seconds>.wav`.
async fn save_talk(
    dir: PathBuf,
    stream: u32,
    done: Result<crate::live::Finished, crate::live::LiveError>,
) -> Saved {
    let result = async {
        let done = done?;
        let Some(ogg) = done.ogg else {
            return anyhow::Ok(
                json!({"event": "talk_heard", "stream": stream, "from": done.from, "portions": 0}),
            );
        };
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let path = dir.join(format!("talk-{stream}-{ts}.wav"));
        let p = path.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let wav = ivm_media::ogg_opus_to_wav(&ogg)?;
            std::fs::create_dir_all(p.parent().unwrap_or(std::path::Path::new(".")))?;
            crate::mailbox::write_atomic(&p, &wav)?;
            Ok(())
        })
        .await??;
        anyhow::Ok(json!({
            "event": "talk_saved",
            "stream": stream,
            "from": done.from,
            "portions": done.portions,
            "path": path.to_string_lossy(),
        }))
    }
    .await;
    Saved::Talk(result.unwrap_or_else(
        |e| json!({"event": "talk_save_failed", "stream": stream, "error": format!("{e:#}")}),
    ))
}

/// Downloads a message and its attachments and stores them; a message already stored
/// completely is not fetched again.
async fn save(api: Api, mailbox: Mailbox, info: Box<MessageInfo>) -> Saved {
    let id = info.id;
    let result = async {
        if mailbox.is_complete(id) {
            return Ok((mailbox.dir_of(id), false));
        }
        let audio = api.audio(id).await?;
        let mut attachments = Vec::with_capacity(info.attachments.len());
        for a in &info.attachments {
            attachments.push(api.attachment(id, a.index).await?);
        }
        let path = tokio::task::spawn_blocking(move || mailbox.save(&info, &audio, &attachments))
            .await??;
        anyhow::Ok((path, true))
    }
    .await;
    Saved::Message {
        id,
        result: result.map_err(|e| format!("{e:#}")),
    }
}

/// The audible notice of a new message (the seed's client gives a sound or visual notice on
/// receipt): the terminal bell, on stderr so stdout stays
/// JSON.
fn bell() {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\x07");
    let _ = err.flush();
}
