//! `bench-messaging`: memory, latency and throughput figures for a running `ivmd`.
//!
//! Driven by `scripts/bench-messaging`, which creates the users on a stopped box, starts
//! `ivmd run` on loopback ports and passes its base URL and PID here. The phases:
//!
//! 1. log every user in once (argon2 is slow on purpose) and reuse the token;
//! 2. open `recipients × sessions_per_user` + `bystanders × bystander_sessions` WebSocket
//!    sessions (1,000 by default: 100 recipients with one each, 9 bystanders with 100 each),
//!    each `connect`ed (acked), and
//!    read the server's RSS from `/proc/PID/status`;
//! 3. delivery latency: one 5-second message (WAV, then Ogg Opus) to every recipient, timed
//!    from the start of `POST /api/messages` to the `message` frame on each session;
//! 4. sustained throughput: K senders POSTing small messages in a loop for a fixed time,
//!    counting `201` answers (WAV path and Ogg Opus path separately).
//!
//! 5. memory after the load ends: every session closed, then `--settle-seconds` of rest.
//!
//! Every memory row shows the whole box from `/proc/PID`: RSS (`VmRSS`), open file
//! descriptors and threads; the peak is `VmHWM`. `--only-sessions` stops after phase 2 (holds
//! the sessions `--hold-seconds`, then phase 5): `scripts/bench-memory` uses it for the
//! combined "1,000 phones + 1,000 web sessions" figure.
//!
//! Sessions answer the server's `ping` with `pong`; any session the server drops is counted.
//! Every wait is bounded. The result is a markdown table on stdout; progress goes to stderr.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use ivm_wire::object::{decode_server, ConnectObject, Envelope, ServerEvent, DEFAULT_MAX_FRAME};
use ivm_wire::rest::{LoginRequest, LoginResponse, MessageInfo, ServerStatus};
use ivm_wire::{Guid, Priority};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "bench-messaging",
    about = "Benchmark a running ivmd (loopback only)"
)]
struct Args {
    /// Base URL of the box's plain HTTP port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    /// PID of the ivmd process (its RSS is read from /proc/PID/status).
    #[arg(long)]
    pid: u32,
    /// Password of every bench user.
    #[arg(long, default_value = "bench-password-1")]
    password: String,
    /// Recipient users are named PREFIX000, PREFIX001, ...
    #[arg(long, default_value = "brcpt")]
    recipient_prefix: String,
    /// Number of recipient users.
    #[arg(long, default_value_t = 100)]
    recipients: usize,
    /// WebSocket sessions per recipient user.
    #[arg(long, default_value_t = 1)]
    sessions_per_user: usize,
    /// Bystander users are named PREFIX0, PREFIX1, ...: connected clients that are not
    /// recipients, so the box holds 1,000 sessions while a message goes to 100 of them.
    #[arg(long, default_value = "bby")]
    bystander_prefix: String,
    /// Number of bystander users.
    #[arg(long, default_value_t = 9)]
    bystanders: usize,
    /// WebSocket sessions per bystander user.
    #[arg(long, default_value_t = 100)]
    bystander_sessions: usize,
    /// Sender users are named PREFIX00, PREFIX01, ...
    #[arg(long, default_value = "bsend")]
    sender_prefix: String,
    /// Number of sender users (= concurrent senders in the throughput phase).
    #[arg(long, default_value_t = 12)]
    senders: usize,
    /// An admin user, to read connected_clients from /api/admin/status.
    #[arg(long)]
    admin: Option<String>,
    /// Latency rounds per audio format (each round = one message to every recipient).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Length of the latency message, seconds.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f32,
    /// Length of the throughput messages, seconds.
    #[arg(long, default_value_t = 1.5)]
    small_seconds: f32,
    /// Duration of each throughput run, seconds.
    #[arg(long, default_value_t = 10)]
    throughput_seconds: u64,
    /// Sessions opened at once while connecting.
    #[arg(long, default_value_t = 32)]
    connect_parallel: usize,
    /// Hard limit on the whole run, seconds.
    #[arg(long, default_value_t = 900)]
    deadline_seconds: u64,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Open the sessions, measure, hold them `--hold-seconds`, close them and measure again:
    /// no latency or throughput phases (the memory-only run of `scripts/bench-memory`).
    #[arg(long)]
    only_sessions: bool,
    /// With `--only-sessions`: how long the sessions stay open after they are measured.
    #[arg(long, default_value_t = 5)]
    hold_seconds: u64,
    /// Rest after every session has closed before "after the load" is measured.
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
}

/// Time limit on one HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit on one WebSocket connect + ack.
const WS_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a latency round waits for every push.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn log(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

// ---------------------------------------------------------------------------------------------
// Audio

/// Speech-like 16 kHz mono 16-bit WAV ([`ivm_media::synthetic_voice`], the signal the media
/// crate's quality test measures). Deterministic.
fn speech_wav(seconds: f32) -> Vec<u8> {
    let samples = ivm_media::synthetic_voice(seconds);
    ivm_media::encode_wav_mono(&samples, ivm_media::SYNTHETIC_VOICE_RATE).expect("16 kHz mono WAV")
}

/// One audio file to upload.
#[derive(Clone)]
struct Audio {
    bytes: Arc<Vec<u8>>,
    file_name: &'static str,
    mime: &'static str,
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn login(&self, name: &str, password: &str) -> Result<LoginResponse> {
        let r = self
            .http
            .post(format!("{}/api/login", self.base))
            .json(&LoginRequest {
                name: name.to_owned(),
                password: password.to_owned(),
            })
            .send()
            .await
            .with_context(|| format!("login {name}"))?;
        let status = r.status();
        if !status.is_success() {
            bail!(
                "login {name}: {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        Ok(r.json().await?)
    }

    async fn post_message(
        &self,
        token: &str,
        to: &str,
        audio: &Audio,
    ) -> Result<(reqwest::StatusCode, String)> {
        let part = reqwest::multipart::Part::bytes(audio.bytes.as_ref().clone())
            .file_name(audio.file_name)
            .mime_str(audio.mime)?;
        let form = reqwest::multipart::Form::new()
            .text("to", to.to_owned())
            .part("audio", part);
        let r = self
            .http
            .post(format!("{}/api/messages", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.text().await?))
    }

    async fn send_ok(&self, token: &str, to: &str, audio: &Audio) -> Result<MessageInfo> {
        let (status, body) = self.post_message(token, to, audio).await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("POST /api/messages: {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    async fn audio_of(&self, token: &str, id: Guid) -> Result<Vec<u8>> {
        let r = self
            .http
            .get(format!("{}/api/messages/{id}/audio", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = r.status();
        if !status.is_success() {
            bail!("GET audio: {status}");
        }
        Ok(r.bytes().await?.to_vec())
    }

    async fn status(&self, token: &str) -> Result<ServerStatus> {
        let r = self
            .http
            .get(format!("{}/api/admin/status", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = r.status();
        if !status.is_success() {
            bail!("GET /api/admin/status: {status}");
        }
        Ok(r.json().await?)
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket sessions

/// A `message` frame seen by a session.
struct Arrival {
    msg: Guid,
    user: usize,
    at: Instant,
}

#[derive(Default)]
struct SessionStats {
    pongs: AtomicUsize,
    dropped: AtomicUsize,
    frames: AtomicUsize,
}

async fn open_session(url: &str, token: &str) -> Result<Ws> {
    let fut = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("websocket connect")?;
        let hello = Envelope::new("connect")
            .with_id("c1")
            .with_object(&ConnectObject {
                token: token.to_owned(),
                client: "bench-messaging/0.1".into(),
                priority: Priority::Normal,
            });
        ws.send(Message::Text(hello.to_text().into())).await?;
        // At most a handful of frames before the ack (a ping, at worst).
        for _ in 0..16 {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                    Ok(ServerEvent::Ack { id, .. }) if id == "c1" => return Ok(ws),
                    Ok(ServerEvent::Error { error, .. }) => {
                        bail!("connect refused: {}", error.message)
                    }
                    Ok(ServerEvent::Ping { id }) => {
                        ws.send(Message::Text(
                            Envelope::new("pong").with_id(id).to_text().into(),
                        ))
                        .await?;
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(c))) => bail!("closed before ack: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => bail!("closed before ack"),
            }
        }
        bail!("no ack to connect")
    };
    tokio::time::timeout(WS_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("connect timed out"))?
}

/// Reads a session until told to stop: answers pings, reports `message` frames.
async fn run_session(
    mut ws: Ws,
    user: usize,
    events: mpsc::UnboundedSender<Arrival>,
    stats: Arc<SessionStats>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let at = Instant::now();
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                        Ok(ServerEvent::Message(info)) => {
                            let _ = events.send(Arrival { msg: info.id, user, at });
                        }
                        Ok(ServerEvent::Ping { id }) => {
                            let pong = Envelope::new("pong").with_id(id).to_text();
                            if ws.send(Message::Text(pong.into())).await.is_err() {
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            stats.pongs.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(ServerEvent::ServerGoingDown(r)) | Ok(ServerEvent::Disconnect(r)) => {
                            if !*stop.borrow() {
                                log(format!("session of user {user} closed by the server: {}", r.reason));
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            return;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    if !*stop.borrow() {
                        log(format!("session of user {user} closed: {c:?}"));
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if !*stop.borrow() {
                        log(format!("session of user {user} failed: {e}"));
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                None => {
                    if !*stop.borrow() {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            let kb = rest.trim().trim_end_matches("kB").trim();
            return Ok(kb.parse()?);
        }
    }
    bail!("{field} not in /proc/{pid}/status")
}

/// CPU time ivmd has used so far (user + system, every thread), from `/proc/PID/stat`, in
/// seconds. A load-independent cost: on a shared machine the rate swings with the other
/// work, the CPU each message takes does not.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = f.get(11).zip(f.get(12)).map_or(Ok(0), |(u, s)| {
        Ok::<u64, std::num::ParseIntError>(u.parse::<u64>()? + s.parse::<u64>()?)
    })?;
    // USER_HZ, the unit of these fields, is 100 on every Linux the box runs on.
    Ok(ticks as f64 / 100.0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// The whole box at one moment, from `/proc/PID`.
struct Mem {
    /// `VmRSS`, kB.
    rss_kb: u64,
    /// `VmHWM` (peak RSS since start), kB.
    hwm_kb: u64,
    /// Open file descriptors (`/proc/PID/fd`).
    fds: usize,
    /// Threads (`Threads:` in `/proc/PID/status`).
    threads: u64,
}

fn mem(pid: u32) -> Result<Mem> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("/proc/{pid}/fd"))?
        .count();
    Ok(Mem {
        rss_kb: proc_status_kb(pid, "VmRSS:")?,
        hwm_kb: proc_status_kb(pid, "VmHWM:")?,
        fds,
        threads: proc_status_kb(pid, "Threads:")?,
    })
}

impl Mem {
    /// "52.0 MB (1012 fds, 5 threads)": the value cell of a memory row.
    fn cell(&self) -> String {
        format!(
            "{:.1} MB ({} fds, {} threads)",
            mb(self.rss_kb),
            self.fds,
            self.threads
        )
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one format's latency rounds produced.
#[derive(Default)]
struct Latency {
    /// Per recipient per round: start of POST → the recipient's last session got the frame.
    last: Vec<f64>,
    /// Per recipient per round: start of POST → the recipient's first session got the frame.
    first: Vec<f64>,
    /// Per session per round.
    all: Vec<f64>,
    /// Start of POST → 201 answer read.
    ack: Vec<f64>,
    /// Per recipient per round: the round's first push (the box began delivering, the
    /// message stored) → the recipient's last session got the frame. The fan-out alone:
    /// client registry, actor mailbox, WebSocket writes, without the upload and its store.
    fanout: Vec<f64>,
    /// Pushes that never came (sessions × rounds).
    missing: usize,
}

struct Ctx {
    api: Api,
    recipients: Vec<String>,
    sessions_per_user: usize,
    sessions_total: usize,
}

fn drain(events: &mut mpsc::UnboundedReceiver<Arrival>) -> usize {
    let mut n = 0;
    while events.try_recv().is_ok() {
        n += 1;
    }
    n
}

async fn latency_rounds(
    ctx: &Ctx,
    token: &str,
    audio: &Audio,
    rounds: usize,
    events: &mut mpsc::UnboundedReceiver<Arrival>,
) -> Result<Latency> {
    let to = ctx.recipients.join(",");
    let mut out = Latency::default();
    // Round 0 warms up (connections, caches) and is not counted.
    for round in 0..=rounds {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drain(events);
        let t0 = Instant::now();
        let info = tokio::time::timeout(HTTP_TIMEOUT, ctx.api.send_ok(token, &to, audio))
            .await
            .map_err(|_| anyhow!("POST timed out"))??;
        let t_ack = t0.elapsed();
        let mut per_user: HashMap<usize, (Instant, Instant, usize)> = HashMap::new();
        let mut got = 0usize;
        let mut all = Vec::with_capacity(ctx.sessions_total);
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        while got < ctx.sessions_total {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(a)) if a.msg == info.id => {
                    got += 1;
                    all.push(ms(a.at - t0));
                    let e = per_user.entry(a.user).or_insert((a.at, a.at, 0));
                    e.0 = e.0.min(a.at);
                    e.1 = e.1.max(a.at);
                    e.2 += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let missing = ctx.sessions_total - got;
        if round == 0 {
            log(format!(
                "  warm-up: ack {:.1} ms, {got}/{} pushes, stored {} bytes, {} ms",
                ms(t_ack),
                ctx.sessions_total,
                info.audio_bytes,
                info.duration_ms
            ));
            continue;
        }
        out.ack.push(ms(t_ack));
        if let Some(start) = per_user.values().map(|(f, _, _)| *f).min() {
            out.fanout
                .extend(per_user.values().map(|(_, l, _)| ms(*l - start)));
        }
        out.missing += missing;
        out.all.extend(all);
        for (first, last, n) in per_user.values() {
            out.first.push(ms(*first - t0));
            if *n == ctx.sessions_per_user {
                out.last.push(ms(*last - t0));
            }
        }
        let v = sorted(per_user.values().map(|(_, l, _)| ms(*l - t0)).collect());
        log(format!(
            "  round {round}: ack {:.1} ms, recipients p50 {:.1} ms, max {:.1} ms, {got}/{} pushes",
            ms(t_ack),
            pct(&v, 50.0),
            pct(&v, 100.0),
            ctx.sessions_total
        ));
    }
    Ok(out)
}

/// What one throughput run produced.
struct Throughput {
    ok: usize,
    errors: BTreeMap<String, usize>,
    elapsed: Duration,
    post_ms: Vec<f64>,
    ids: Vec<Guid>,
}

async fn throughput(
    ctx: &Arc<Ctx>,
    tokens: &[String],
    audio: &Audio,
    duration: Duration,
) -> Result<Throughput> {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (k, token) in tokens.iter().enumerate() {
        let (ctx, token, audio) = (ctx.clone(), token.clone(), audio.clone());
        tasks.spawn(async move {
            let mut ok = 0usize;
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            let mut post_ms = Vec::new();
            let mut ids = Vec::new();
            let mut i = 0usize;
            // Bounded by time and by count (no box does 10k/s per sender).
            while start.elapsed() < duration && i < 100_000 {
                let to = &ctx.recipients[(k * 7 + i) % ctx.recipients.len()];
                i += 1;
                let t = Instant::now();
                match tokio::time::timeout(HTTP_TIMEOUT, ctx.api.post_message(&token, to, &audio))
                    .await
                {
                    Ok(Ok((reqwest::StatusCode::CREATED, body))) => {
                        ok += 1;
                        post_ms.push(ms(t.elapsed()));
                        if let Ok(info) = serde_json::from_str::<MessageInfo>(&body) {
                            ids.push(info.id);
                        }
                    }
                    Ok(Ok((status, body))) => {
                        let key = format!("{status} {}", body.chars().take(80).collect::<String>());
                        *errors.entry(key).or_default() += 1;
                    }
                    Ok(Err(e)) => *errors.entry(format!("transport: {e}")).or_default() += 1,
                    Err(_) => *errors.entry("timeout".into()).or_default() += 1,
                }
            }
            (ok, errors, post_ms, ids, start.elapsed())
        });
    }
    let mut out = Throughput {
        ok: 0,
        errors: BTreeMap::new(),
        elapsed: Duration::ZERO,
        post_ms: Vec::new(),
        ids: Vec::new(),
    };
    while let Some(r) = tasks.join_next().await {
        let (ok, errors, post_ms, ids, elapsed) = r?;
        out.ok += ok;
        for (k, v) in errors {
            *out.errors.entry(k).or_default() += v;
        }
        out.post_ms.extend(post_ms);
        out.ids.extend(ids);
        out.elapsed = out.elapsed.max(elapsed);
    }
    Ok(out)
}

/// Counts the pushes that arrived for `ids` within `wait`.
async fn pushes_for(
    ids: &[Guid],
    events: &mut mpsc::UnboundedReceiver<Arrival>,
    expected: usize,
    wait: Duration,
) -> usize {
    let set: std::collections::HashSet<Guid> = ids.iter().copied().collect();
    let deadline = tokio::time::Instant::now() + wait;
    let mut n = 0;
    while n < expected {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(a)) if set.contains(&a.msg) => n += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Report

struct Row {
    metric: String,
    value: String,
    target: String,
    verdict: String,
}

fn row(
    metric: impl Into<String>,
    value: impl Into<String>,
    target: &str,
    pass: Option<bool>,
) -> Row {
    Row {
        metric: metric.into(),
        value: value.into(),
        target: target.into(),
        verdict: match pass {
            Some(true) => "pass".into(),
            Some(false) => "**FAIL**".into(),
            None => "—".into(),
        },
    }
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from("| metric | value | target | result |\n|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.metric, r.value, r.target, r.verdict
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------

async fn bench(args: Args) -> Result<String> {
    let base = args.base.trim_end_matches('/').to_owned();
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--base must be http://127.0.0.1:PORT"))?;
    if !(host.starts_with("127.") || host.starts_with("[::1]") || host.starts_with("localhost")) {
        bail!("--base must be a loopback address, got {host}");
    }
    let ws_url = format!("ws://{host}/api/ws");
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()?;
    let api = Api {
        http,
        base: base.clone(),
    };
    let mut rows = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    let mem_start = mem(args.pid)?;

    // 1. Log in every user once.
    let t = Instant::now();
    let recipients: Vec<String> = (0..args.recipients)
        .map(|i| format!("{}{i:03}", args.recipient_prefix))
        .collect();
    let senders: Vec<String> = (0..args.senders.max(1))
        .map(|i| format!("{}{i:02}", args.sender_prefix))
        .collect();
    let mut recipient_tokens = Vec::with_capacity(recipients.len());
    for name in &recipients {
        recipient_tokens.push(api.login(name, &args.password).await?.token);
    }
    let mut sender_tokens = Vec::with_capacity(senders.len());
    for name in &senders {
        sender_tokens.push(api.login(name, &args.password).await?.token);
    }
    let bystanders: Vec<String> = (0..args.bystanders)
        .map(|i| format!("{}{i}", args.bystander_prefix))
        .collect();
    let mut bystander_tokens = Vec::with_capacity(bystanders.len());
    for name in &bystanders {
        bystander_tokens.push(api.login(name, &args.password).await?.token);
    }
    let admin_token = match &args.admin {
        Some(a) => Some(api.login(a, &args.password).await?.token),
        None => None,
    };
    let n_logins =
        recipients.len() + senders.len() + bystanders.len() + usize::from(admin_token.is_some());
    log(format!(
        "logged in {n_logins} users in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    notes.push(format!(
        "{n_logins} logins (argon2) took {:.1} s, {:.0} ms each, done one at a time",
        t.elapsed().as_secs_f64(),
        ms(t.elapsed()) / n_logins as f64
    ));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let mem_before = mem(args.pid)?;
    let rss_before = mem_before.rss_kb;

    // 2. Open the sessions.
    let sessions_total = recipients.len() * args.sessions_per_user;
    let (events_tx, mut events) = mpsc::unbounded_channel::<Arrival>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(SessionStats::default());
    let sem = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let t = Instant::now();
    let mut opening = JoinSet::new();
    for s in 0..sessions_total {
        let user = s % recipients.len();
        let (url, token, sem) = (ws_url.clone(), recipient_tokens[user].clone(), sem.clone());
        opening.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t = Instant::now();
            (Some(user), open_session(&url, &token).await, t.elapsed())
        });
    }
    let bystander_total = bystanders.len() * args.bystander_sessions;
    for s in 0..bystander_total {
        let (url, token, sem) = (
            ws_url.clone(),
            bystander_tokens[s % bystanders.len()].clone(),
            sem.clone(),
        );
        opening.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t = Instant::now();
            (None, open_session(&url, &token).await, t.elapsed())
        });
    }
    // Bystanders answer pings like everyone, but their arrivals are not measured.
    let (bystander_tx, mut bystander_rx) = mpsc::unbounded_channel::<Arrival>();
    tokio::spawn(async move { while bystander_rx.recv().await.is_some() {} });
    let mut sessions = JoinSet::new();
    let mut connect_ms = Vec::new();
    let mut failed = BTreeMap::<String, usize>::new();
    while let Some(r) = opening.join_next().await {
        let (user, res, took) = r?;
        match res {
            Ok(ws) => {
                connect_ms.push(ms(took));
                let tx = if user.is_some() {
                    events_tx.clone()
                } else {
                    bystander_tx.clone()
                };
                sessions.spawn(run_session(
                    ws,
                    user.unwrap_or(usize::MAX),
                    tx,
                    stats.clone(),
                    stop_rx.clone(),
                ));
            }
            Err(e) => *failed.entry(format!("{e:#}")).or_default() += 1,
        }
    }
    drop(events_tx);
    drop(bystander_tx);
    let connected = connect_ms.len();
    let all_sessions = sessions_total + bystander_total;
    let connect_time = t.elapsed();
    log(format!(
        "{connected}/{all_sessions} sessions connected in {:.1} s",
        connect_time.as_secs_f64()
    ));
    for (e, n) in &failed {
        log(format!("  {n} × {e}"));
    }
    let connect_ms = sorted(connect_ms);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mem_connected = mem(args.pid)?;
    let rss_connected = mem_connected.rss_kb;
    let server_count = match &admin_token {
        Some(t) => api
            .status(t)
            .await
            .map(|s| s.connected_clients.to_string())
            .unwrap_or_else(|e| format!("? ({e})")),
        None => "?".into(),
    };
    log(format!(
        "RSS {:.1} MB before, {:.1} MB with {connected} sessions",
        mb(rss_before),
        mb(rss_connected)
    ));

    rows.push(row(
        "ivmd RSS at start of bench (idle, no clients)",
        mem_start.cell(),
        "reference",
        None,
    ));
    rows.push(row(
        format!("ivmd RSS after {n_logins} logins, before connecting"),
        mem_before.cell(),
        "reference",
        None,
    ));
    rows.push(row(
        format!(
            "WebSocket sessions connected and acked ({} recipients × {} + {} bystanders × {})",
            recipients.len(),
            args.sessions_per_user,
            bystanders.len(),
            args.bystander_sessions
        ),
        format!("{connected} (server says {server_count})"),
        &format!("{all_sessions}"),
        Some(connected == all_sessions),
    ));
    rows.push(row(
        format!("ivmd RSS with {connected} sessions, idle"),
        mem_connected.cell(),
        "< 80 MB",
        Some(mb(rss_connected) < 80.0 && connected == all_sessions),
    ));
    rows.push(row(
        format!("RSS added by the {connected} sessions (with − before)"),
        format!(
            "{:.1} MB",
            (rss_connected as f64 - rss_before as f64) / 1024.0
        ),
        "reference",
        None,
    ));
    notes.push(format!(
        "opening {connected} sessions ({} at a time) took {:.1} s; connect+ack p50 {:.1} ms, p99 {:.1} ms; RSS per session ≈ {:.1} KB",
        args.connect_parallel,
        connect_time.as_secs_f64(),
        pct(&connect_ms, 50.0),
        pct(&connect_ms, 99.0),
        (rss_connected as f64 - rss_before as f64) / connected.max(1) as f64
    ));

    let ctx = Arc::new(Ctx {
        api,
        recipients: recipients.clone(),
        sessions_per_user: args.sessions_per_user,
        sessions_total,
    });

    if args.only_sessions {
        log(format!("holding the sessions {} s", args.hold_seconds));
        tokio::time::sleep(Duration::from_secs(args.hold_seconds)).await;
    } else {
        // 3. Audio: WAV generated here; Ogg Opus as the box stores it (what a browser uploads).
        let wav_long = Audio {
            bytes: Arc::new(speech_wav(args.latency_seconds)),
            file_name: "bench.wav",
            mime: "audio/wav",
        };
        let wav_small = Audio {
            bytes: Arc::new(speech_wav(args.small_seconds)),
            file_name: "bench.wav",
            mime: "audio/wav",
        };
        let self_name = &senders[0];
        let token0 = &sender_tokens[0];
        let info = ctx
            .api
            .send_ok(token0, self_name, &wav_long)
            .await
            .context("making the long Ogg Opus")?;
        let ogg_long = Audio {
            bytes: Arc::new(ctx.api.audio_of(token0, info.id).await?),
            file_name: "bench.ogg",
            mime: "audio/ogg",
        };
        let info_small = ctx
            .api
            .send_ok(token0, self_name, &wav_small)
            .await
            .context("making the small Ogg Opus")?;
        let ogg_small = Audio {
            bytes: Arc::new(ctx.api.audio_of(token0, info_small.id).await?),
            file_name: "bench.ogg",
            mime: "audio/ogg",
        };
        notes.push(format!(
            "latency message: {:.1} s WAV 16 kHz mono 16-bit ({} bytes) → stored as {} ms Ogg Opus ({} bytes); \
             throughput message: {:.1} s WAV ({} bytes) → {} ms Ogg Opus ({} bytes)",
            args.latency_seconds,
            wav_long.bytes.len(),
            info.duration_ms,
            ogg_long.bytes.len(),
            args.small_seconds,
            wav_small.bytes.len(),
            info_small.duration_ms,
            ogg_small.bytes.len()
        ));

        // 4. Latency.
        let mut lat_rows = Vec::new();
        for (label, audio) in [("WAV", &wav_long), ("Ogg Opus", &ogg_long)] {
            log(format!(
                "latency, {label}: {} rounds to {} recipients",
                args.rounds,
                recipients.len()
            ));
            let l = latency_rounds(&ctx, token0, audio, args.rounds, &mut events).await?;
            let last = sorted(l.last.clone());
            let first = sorted(l.first.clone());
            let all = sorted(l.all.clone());
            let ack = sorted(l.ack.clone());
            let n = last.len();
            lat_rows.push(row(
                format!(
                    "delivery latency, {:.0} s {label} → {} online recipients, p50 ({n} samples)",
                    args.latency_seconds,
                    recipients.len()
                ),
                format!("{:.1} ms", pct(&last, 50.0)),
                "reference",
                None,
            ));
            lat_rows.push(row(
                format!(
                    "delivery latency, {:.0} s {label} → {} online recipients, p99",
                    args.latency_seconds,
                    recipients.len()
                ),
                format!("{:.1} ms", pct(&last, 99.0)),
                "< 100 ms",
                Some(pct(&last, 99.0) < 100.0 && l.missing == 0),
            ));
            let fanout = sorted(l.fanout.clone());
            lat_rows.push(row(
                format!(
                    "fan-out, {label}: first push → each recipient's last session, p99 ({} samples)",
                    fanout.len()
                ),
                format!(
                    "{:.1} ms (p50 {:.1}, max {:.1})",
                    pct(&fanout, 99.0),
                    pct(&fanout, 50.0),
                    pct(&fanout, 100.0)
                ),
                "< 10 ms",
                Some(pct(&fanout, 99.0) < 10.0 && l.missing == 0),
            ));
            notes.push(format!(
                "{label} latency: sender's 201 p50 {:.1} ms / max {:.1} ms; recipient's first session p50 {:.1} / p99 {:.1} ms; \
                 every session ({} samples) p50 {:.1} / p99 {:.1} / max {:.1} ms; pushes missing: {}",
                pct(&ack, 50.0),
                pct(&ack, 100.0),
                pct(&first, 50.0),
                pct(&first, 99.0),
                all.len(),
                pct(&all, 50.0),
                pct(&all, 99.0),
                pct(&all, 100.0),
                l.missing
            ));
        }
        rows.extend(lat_rows);

        // 5. Throughput: Ogg Opus first (no transcode), then WAV.
        let duration = Duration::from_secs(args.throughput_seconds);
        for (label, audio) in [
            ("Ogg Opus (no transcode)", &ogg_small),
            ("WAV (server transcodes)", &wav_small),
        ] {
            tokio::time::sleep(Duration::from_secs(2)).await;
            drain(&mut events);
            log(format!(
                "throughput, {label}: {} senders for {} s",
                sender_tokens.len(),
                args.throughput_seconds
            ));
            let cpu0 = cpu_seconds(args.pid)?;
            let r = throughput(&ctx, &sender_tokens, audio, duration).await?;
            let cpu_ms = (cpu_seconds(args.pid)? - cpu0) * 1000.0 / r.ok.max(1) as f64;
            let rate = r.ok as f64 / r.elapsed.as_secs_f64();
            let post = sorted(r.post_ms.clone());
            let expected = r.ids.len() * args.sessions_per_user;
            let pushed = pushes_for(&r.ids, &mut events, expected, Duration::from_secs(10)).await;
            log(format!(
                "  {} × 201 in {:.1} s = {rate:.1}/s, errors {:?}",
                r.ok,
                r.elapsed.as_secs_f64(),
                r.errors
            ));
            rows.push(row(
                format!(
                    "durable messages/s, {:.1} s {label}, {} senders, 1 recipient each",
                    args.small_seconds,
                    sender_tokens.len()
                ),
                format!("{rate:.1}/s"),
                "≥ 200/s",
                Some(rate >= 200.0 && r.errors.is_empty()),
            ));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            rows.push(row(
                format!("ivmd CPU per durable message, {label} (user + system, all threads)"),
                format!(
                    "{cpu_ms:.2} ms: at most {:.0}/s on {cores} idle cores",
                    cores as f64 * 1000.0 / cpu_ms.max(0.001)
                ),
                "reference",
                None,
            ));
            let errs: Vec<String> = r.errors.iter().map(|(k, v)| format!("{v} × {k}")).collect();
            notes.push(format!(
                "{label} throughput: {} × 201 in {:.2} s; POST→201 p50 {:.1} ms, p99 {:.1} ms; errors: {}; \
                 pushes to the recipients' sessions: {pushed}/{expected}",
                r.ok,
                r.elapsed.as_secs_f64(),
                pct(&post, 50.0),
                pct(&post, 99.0),
                if errs.is_empty() { "none".into() } else { errs.join("; ") }
            ));
        }
    }

    // 6. Wrap up: the peak while loaded, then close every session and let the box rest.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mem_end = mem(args.pid)?;
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let server_count_end = match &admin_token {
        Some(t) => ctx
            .api
            .status(t)
            .await
            .map(|s| s.connected_clients.to_string())
            .unwrap_or_else(|e| format!("? ({e})")),
        None => "?".into(),
    };
    rows.push(row(
        "sessions dropped by the server during the run",
        format!("{dropped} (server counts {server_count_end} connected at the end)"),
        "0",
        Some(dropped == 0),
    ));
    rows.push(row(
        "ivmd RSS at the end (sessions still open)",
        mem_end.cell(),
        "reference",
        None,
    ));
    rows.push(row(
        "ivmd peak RSS (VmHWM) over the run",
        format!("{:.1} MB", mb(mem_end.hwm_kb)),
        "reference",
        None,
    ));
    notes.push(format!(
        "sessions answered {} pings; {} frames received in all",
        stats.pongs.load(Ordering::Relaxed),
        stats.frames.load(Ordering::Relaxed)
    ));

    let _ = stop_tx.send(true);
    let closing = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .is_err()
    {
        sessions.abort_all();
    }
    log(format!(
        "sessions closed; resting {} s before the last reading",
        args.settle_seconds
    ));
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let mem_after = mem(args.pid)?;
    let ratio = mem_after.rss_kb as f64 / rss_before.max(1) as f64;
    rows.push(row(
        format!(
            "ivmd RSS {} s after every session closed (load ended)",
            args.settle_seconds
        ),
        mem_after.cell(),
        "reference",
        None,
    ));
    notes.push(format!(
        "after the load: RSS {:.2} × the figure after the logins ({:.1} MB); fds {} → {}, threads {} → {}",
        ratio,
        mb(rss_before),
        mem_before.fds,
        mem_after.fds,
        mem_before.threads,
        mem_after.threads
    ));

    let mut report = table(&rows);
    report.push('\n');
    for n in notes {
        report.push_str(&format!("- {n}\n"));
    }
    Ok(report)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log(format!("cannot start tokio: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let deadline = Duration::from_secs(args.deadline_seconds);
    let out = args.out.clone();
    let result = runtime.block_on(async move {
        tokio::time::timeout(deadline, bench(args))
            .await
            .map_err(|_| anyhow!("the bench ran past its deadline"))?
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(report) => {
            print!("{report}");
            if let Some(p) = out {
                if let Err(e) = std::fs::write(&p, &report) {
                    log(format!("cannot write {}: {e}", p.display()));
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            log(format!("failed: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
