//! `bench-intercom`: the latency a running `ivmd` adds to a live talk, frame in to frame out
//! per listener (WebSocket sessions, or desk phones over SIP/RTP), and the frames it loses;
//! and the same figure for rtpengine relaying RTP, the baseline for the phone fan-out.
//!
//! Driven by `scripts/bench-intercom`, which creates the users on a stopped box, starts
//! `ivmd run` (release build) on loopback and, when `rtpengine` is installed, a userspace
//! rtpengine on loopback with its ng control port, and passes both here.
//!
//! **WebSocket fan-out** (1 -> 1, 1 -> 10, 1 -> 50 by default): the listeners log in, open one
//! WebSocket session each and answer pings; the speaker opens its own, sends `talk_start` to
//! all of them (every one must be live), then sends `--frames` portions at real-time pace
//! (one valid 20 ms Opus packet of a tone every 20 ms, the last flagged last). The bench keeps
//! the instant each portion left, keyed by its sequence number, and each listener the instant
//! each portion arrived; latency = arrival - departure, over every (listener, portion). Lost
//! = portions a listener never got before `talk_end`. Both ends run in this process on the
//! same 2 cores as the box, so the figures include loopback TCP and this process's own
//! scheduling, not the box alone.
//!
//! **Phone fan-out** (`--phones`, `--sip`): as many desk phones as accounts, played here
//! (`phones.rs`): each registers with digest, answers the box's auto-answer INVITE with 200
//! and a PCMU offer and receives the talk's RTP; the speaker's portions start once every phone
//! answered. Latency = arrival of the RTP packet carrying portion n (told by its tone: the
//! portions cycle through 8, as the box may cut a standing backlog) - departure of portion n;
//! a portion the box cut counts as lost.
//!
//! **RTP relay baseline** (`--rtpengine-ng`): rtpengine cannot fan one stream out to many
//! (each call leg pair is one-to-one), so the baseline is `--rtp-streams` separate 1:1 relays
//! at once, each set up with the ng protocol's `offer` / `answer` (bencode over UDP), each fed
//! a G.711 RTP packet every 20 ms from its own socket and read on the callee's socket; the
//! same timestamps keyed by (stream, sequence number).
//!
//! Every wait is bounded. A markdown table goes to stdout (and `--out`); progress to stderr.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use ivm_wire::object::{decode_server, ConnectObject, Envelope, ServerEvent, DEFAULT_MAX_FRAME};
use ivm_wire::rest::{LoginRequest, LoginResponse};
use ivm_wire::talk::{talk_start, Portion, StreamId, TalkStartObject};
use ivm_wire::{Guid, Priority};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

#[path = "bench_intercom/phones.rs"]
mod phones;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "bench-intercom",
    about = "Live-talk latency of a running ivmd, and an rtpengine baseline (loopback only)"
)]
struct Args {
    /// Base URL of the box's plain HTTP port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    /// Password of every bench user.
    #[arg(long, default_value = "bench-password-1")]
    password: String,
    /// The speaker's login name.
    #[arg(long, default_value = "bspeak")]
    speaker: String,
    /// Listener users are named PREFIX000, PREFIX001, ...
    #[arg(long, default_value = "blisten")]
    listener_prefix: String,
    /// Fan-outs to measure, comma-separated (each at most the listener users created).
    #[arg(long, default_value = "1,10,50")]
    fanouts: String,
    /// Portions per talk (20 ms each).
    #[arg(long, default_value_t = 500)]
    frames: u32,
    /// rtpengine's ng control address (UDP); no baseline row without it.
    #[arg(long)]
    rtpengine_ng: Option<SocketAddr>,
    /// Parallel 1:1 RTP relays through rtpengine.
    #[arg(long, default_value_t = 10)]
    rtp_streams: u32,
    /// The box's SIP address (UDP), for the phone row.
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Phone accounts, one `login sip_user sip_password` line each: one phone fan-out row to
    /// all of them (needs --sip).
    #[arg(long)]
    phones: Option<std::path::PathBuf>,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// Time limit on one HTTP request, one WebSocket connect, one answer.
const WAIT: Duration = Duration::from_secs(30);
/// Portion (and RTP packet) interval.
const FRAME: Duration = Duration::from_millis(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn say(msg: &str) {
    eprintln!("bench-intercom: {msg}");
}

/// One row of the table.
struct Row {
    what: String,
    samples: usize,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    lost: u64,
    expected: u64,
}

impl Row {
    fn new(what: String, mut lat: Vec<u64>, expected: u64) -> Row {
        lat.sort_unstable();
        let pick = |q: f64| -> u64 {
            if lat.is_empty() {
                return 0;
            }
            let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
            lat[i.min(lat.len() - 1)]
        };
        Row {
            what,
            samples: lat.len(),
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            max_us: lat.last().copied().unwrap_or(0),
            lost: expected.saturating_sub(lat.len() as u64),
            expected,
        }
    }
}

async fn login(http: &reqwest::Client, base: &str, name: &str, pw: &str) -> Result<LoginResponse> {
    let r = http
        .post(format!("{base}/api/login"))
        .json(&LoginRequest {
            name: name.to_owned(),
            password: pw.to_owned(),
        })
        .send()
        .await
        .with_context(|| format!("login {name}"))?;
    if !r.status().is_success() {
        bail!("login {name}: {}", r.status());
    }
    Ok(r.json().await?)
}

/// A WebSocket session, `connect`ed and acked.
async fn session(base: &str, token: &str) -> Result<Ws> {
    let url = format!("{}/api/ws", base.replacen("http://", "ws://", 1));
    let fut = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let hello = Envelope::new("connect")
            .with_id("c1")
            .with_object(&ConnectObject {
                token: token.to_owned(),
                client: "bench-intercom/0.1".into(),
                priority: Priority::Normal,
            });
        ws.send(Message::Text(hello.to_text().into())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                    Ok(ServerEvent::Ack { id, .. }) if id == "c1" => return Ok(ws),
                    Ok(ServerEvent::Error { error, .. }) => bail!("connect: {}", error.message),
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => bail!("closed before ack"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .map_err(|_| anyhow!("connect timed out"))?
}

/// A listener: answers pings, stamps each portion of `stream` as it arrives, stops at its
/// `talk_end` (or after `limit`). Returns (seq, arrival) pairs.
async fn listen(mut ws: Ws, limit: Duration) -> Result<Vec<(u32, Instant)>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow!("no talk_end within {limit:?}"))?;
        match frame {
            Some(Ok(Message::Binary(b))) => {
                let at = Instant::now();
                if let Ok(p) = Portion::decode(&b) {
                    got.push((p.seq, at));
                }
            }
            Some(Ok(Message::Text(t))) => match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                Ok(ServerEvent::Ping { id }) => {
                    ws.send(Message::Text(
                        Envelope::new("pong").with_id(id).to_text().into(),
                    ))
                    .await?;
                }
                Ok(ServerEvent::TalkEnded(_)) => break,
                _ => {}
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("listener's session closed"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(got)
}

/// `frames` 20 ms Opus packets of a tone (what a browser's encoder sends). Frame `f` is at
/// [`phones::tone_hz`]`(f % TONES)`, so a phone can tell which portion a packet carries
/// even when the box dropped some (its live backlog bound) and the sequence numbers no
/// longer say.
fn opus_frames(frames: u32) -> Result<Vec<Vec<u8>>> {
    let mut enc = ivm_media::OpusFrameEncoder::new()?;
    let n = ivm_media::FRAME_SAMPLES;
    let mut phase = 0f32;
    (0..frames as usize)
        .map(|f| {
            let step = 2.0 * std::f32::consts::PI * phones::tone_hz(f % phones::TONES) / 48_000.0;
            let pcm: Vec<i16> = (0..n)
                .map(|_| {
                    phase = (phase + step) % (2.0 * std::f32::consts::PI);
                    (8_000.0 * phase.sin()) as i16
                })
                .collect();
            enc.encode(&pcm).map_err(Into::into)
        })
        .collect()
}

/// Opens the speaker's session and starts a talk to `guids`, every one of whom must be live:
/// the session and the talk's stream.
async fn start_talk(base: &str, speaker_token: &str, guids: Vec<Guid>) -> Result<(Ws, StreamId)> {
    let n = guids.len();
    let mut sp = session(base, speaker_token).await?;
    sp.send(Message::Text(
        talk_start("t1", guids, &TalkStartObject::default())
            .to_text()
            .into(),
    ))
    .await?;
    loop {
        let f = tokio::time::timeout(WAIT, sp.next())
            .await
            .map_err(|_| anyhow!("no talk_accepted"))?;
        if let Some(Ok(Message::Text(t))) = f {
            match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                Ok(ServerEvent::TalkAccepted { accepted, .. }) => {
                    if accepted.live.len() != n {
                        bail!("{} of {n} recipients live", accepted.live.len());
                    }
                    return Ok((sp, accepted.stream));
                }
                Ok(ServerEvent::TalkRefused { refused, .. }) => {
                    bail!("refused: {}", refused.message)
                }
                Ok(ServerEvent::Error { error, .. }) => bail!("talk_start: {}", error.message),
                _ => {}
            }
        }
    }
}

/// Sends the talk's portions at real-time pace (the last flagged last) and waits for the
/// speaker's `talk_end`: each portion's departure, by sequence number.
async fn speak(
    mut sp: Ws,
    stream: StreamId,
    frames: u32,
    packets: &[Vec<u8>],
) -> Result<Vec<Option<Instant>>> {
    let mut sent: Vec<Option<Instant>> = vec![None; frames as usize];
    let start = tokio::time::Instant::now();
    for i in 0..frames {
        tokio::time::sleep_until(start + FRAME * i).await;
        let frame = Portion {
            stream,
            seq: i,
            last: i + 1 == frames,
            opus: packets[i as usize].clone(),
        }
        .encode()?;
        sent[i as usize] = Some(Instant::now());
        sp.send(Message::Binary(frame.into())).await?;
    }
    // The speaker's talk_end (answering pings on the way).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, sp.next()).await {
            Err(_) => bail!("no talk_end for the speaker"),
            Ok(Some(Ok(Message::Text(t)))) => match decode_server(t.as_str(), DEFAULT_MAX_FRAME) {
                Ok(ServerEvent::TalkEnded(_)) => break,
                Ok(ServerEvent::Ping { id }) => {
                    sp.send(Message::Text(
                        Envelope::new("pong").with_id(id).to_text().into(),
                    ))
                    .await?;
                }
                _ => {}
            },
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => bail!("speaker's session closed"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sp.close(None)).await;
    Ok(sent)
}

/// One talk from the speaker to `listeners` (already connected): the row.
async fn fan_out(
    args: &Args,
    speaker_token: &str,
    listeners: Vec<(Guid, Ws)>,
    packets: &[Vec<u8>],
) -> Result<Row> {
    let n = listeners.len();
    let talk_time = FRAME * args.frames + Duration::from_secs(30);
    let mut tasks = JoinSet::new();
    let mut guids = Vec::with_capacity(n);
    for (g, ws) in listeners {
        guids.push(g);
        tasks.spawn(listen(ws, talk_time));
    }
    let (sp, stream) = start_talk(&args.base, speaker_token, guids).await?;
    let sent = speak(sp, stream, args.frames, packets).await?;
    let mut lat = Vec::with_capacity(n * args.frames as usize);
    while let Some(r) = tasks.join_next().await {
        for (seq, at) in r?? {
            if let Some(Some(s)) = sent.get(seq as usize) {
                lat.push(at.saturating_duration_since(*s).as_micros() as u64);
            }
        }
    }
    Ok(Row::new(
        format!("ivmd, WebSocket 1 -> {n}"),
        lat,
        n as u64 * u64::from(args.frames),
    ))
}

/// One talk from the speaker to desk phones (registered by this process): the row. The
/// portions start once every phone answered, so none waits in the box's ring backlog.
async fn phone_fan_out(
    args: &Args,
    speaker_token: &str,
    phones: Vec<(Guid, phones::Phone)>,
    packets: &[Vec<u8>],
) -> Result<Row> {
    let n = phones.len();
    let talk_time = FRAME * args.frames + Duration::from_secs(30);
    let (answered_tx, mut answered) = tokio::sync::mpsc::channel(4 * n.max(1));
    let mut tasks = JoinSet::new();
    let mut guids = Vec::with_capacity(n);
    for (g, phone) in phones {
        guids.push(g);
        tasks.spawn(phone.answer(talk_time, answered_tx.clone()));
    }
    drop(answered_tx);
    let (sp, stream) = start_talk(&args.base, speaker_token, guids).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    for i in 0..n {
        tokio::time::timeout_at(deadline, answered.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| anyhow!("{i} of {n} phones answered"))?;
    }
    // The ACK left the box as it took the 200: let the answers reach the talk.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = speak(sp, stream, args.frames, packets).await?;
    let mut lat = Vec::with_capacity(n * args.frames as usize);
    while let Some(r) = tasks.join_next().await {
        lat.extend(phones::latencies(&r??, &sent));
    }
    Ok(Row::new(
        format!("ivmd, 1 -> {n} phones (G.711)"),
        lat,
        n as u64 * u64::from(args.frames),
    ))
}

// ---------------------------------------------------------------------------------------------
// rtpengine

/// Bencode of the ng protocol's dictionaries (strings only).
fn bencode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = b"d".to_vec();
    for (k, v) in sorted {
        out.extend_from_slice(format!("{}:{k}{}:", k.len(), v.len()).as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'e');
    out
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=sendrecv\r\n"
    )
}

/// One ng command; returns the port of the `m=audio` line of the SDP in the answer.
async fn ng(ctl: &UdpSocket, to: SocketAddr, cookie: &str, cmd: &[(&str, &str)]) -> Result<u16> {
    let mut msg = format!("{cookie} ").into_bytes();
    msg.extend_from_slice(&bencode(cmd));
    ctl.send_to(&msg, to).await?;
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(5), ctl.recv(&mut buf))
        .await
        .map_err(|_| anyhow!("rtpengine did not answer {cookie}"))??;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    if !reply.contains("6:result2:ok") {
        bail!("rtpengine refused {cookie}: {reply}");
    }
    let port = reply
        .split("m=audio ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow!("no m=audio port in {reply}"))?;
    Ok(port)
}

/// `streams` 1:1 relays through rtpengine at once: the baseline row.
async fn rtpengine(ng_addr: SocketAddr, streams: u32, frames: u32) -> Result<Row> {
    let ctl = UdpSocket::bind("127.0.0.1:0").await?;
    let mut relays = Vec::new();
    for s in 0..streams {
        let caller = UdpSocket::bind("127.0.0.1:0").await?;
        let callee = UdpSocket::bind("127.0.0.1:0").await?;
        let call = format!("bench-{}-{s}", std::process::id());
        let offer = sdp(caller.local_addr()?.port());
        ng(
            &ctl,
            ng_addr,
            &format!("o{s}"),
            &[
                ("command", "offer"),
                ("call-id", &call),
                ("from-tag", "caller"),
                ("sdp", &offer),
            ],
        )
        .await?;
        let answer = sdp(callee.local_addr()?.port());
        // The answer's SDP (for the caller) names where the caller sends its media.
        let to = ng(
            &ctl,
            ng_addr,
            &format!("a{s}"),
            &[
                ("command", "answer"),
                ("call-id", &call),
                ("from-tag", "caller"),
                ("to-tag", "callee"),
                ("sdp", &answer),
            ],
        )
        .await?;
        caller.connect(("127.0.0.1", to)).await?;
        relays.push((call, caller, callee));
    }
    let mut tasks = JoinSet::new();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut calls = Vec::new();
    for (s, (call, caller, callee)) in relays.into_iter().enumerate() {
        calls.push(call);
        // The callee side: arrival stamps keyed by sequence number.
        tasks.spawn(async move {
            let mut got: Vec<(u32, Instant)> = Vec::new();
            let mut buf = [0u8; 2048];
            let end = start + FRAME * frames + Duration::from_secs(2);
            while let Ok(Ok(n)) = tokio::time::timeout_at(end, callee.recv(&mut buf)).await {
                let at = Instant::now();
                if n >= 12 {
                    got.push((u32::from(u16::from_be_bytes([buf[2], buf[3]])), at));
                }
            }
            (s, got, Vec::new())
        });
        // The caller side: one PCMU packet (160 bytes) every 20 ms, departures stamped.
        tasks.spawn(async move {
            let mut sent = Vec::with_capacity(frames as usize);
            let ssrc = 0x1000_0000u32 + s as u32;
            for i in 0..frames {
                tokio::time::sleep_until(start + FRAME * i).await;
                let mut p = vec![0x80u8, 0];
                p.extend_from_slice(&(i as u16).to_be_bytes());
                p.extend_from_slice(&(i * 160).to_be_bytes());
                p.extend_from_slice(&ssrc.to_be_bytes());
                p.extend((0..160).map(|k| (k as u8).wrapping_mul(7) | 0x80));
                sent.push(Instant::now());
                if caller.send(&p).await.is_err() {
                    break;
                }
            }
            (s, Vec::new(), sent)
        });
    }
    let mut got: HashMap<usize, Vec<(u32, Instant)>> = HashMap::new();
    let mut sent: HashMap<usize, Vec<Instant>> = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        let (s, g, t) = r?;
        if !g.is_empty() {
            got.insert(s, g);
        }
        if !t.is_empty() {
            sent.insert(s, t);
        }
    }
    for (i, call) in calls.iter().enumerate() {
        let _ = ng(
            &ctl,
            ng_addr,
            &format!("d{i}"),
            &[
                ("command", "delete"),
                ("call-id", call),
                ("from-tag", "caller"),
            ],
        )
        .await;
    }
    let mut lat = Vec::new();
    for (s, g) in got {
        let Some(t) = sent.get(&s) else { continue };
        for (seq, at) in g {
            if let Some(d) = t.get(seq as usize) {
                lat.push(at.saturating_duration_since(*d).as_micros() as u64);
            }
        }
    }
    Ok(Row::new(
        format!("rtpengine (userspace), {streams} x 1:1 RTP relays"),
        lat,
        u64::from(streams) * u64::from(frames),
    ))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let fanouts: Vec<usize> = args
        .fanouts
        .split(',')
        .map(|f| f.trim().parse().context("--fanouts"))
        .collect::<Result<_>>()?;
    let most = fanouts.iter().copied().max().unwrap_or(0);
    let http = reqwest::Client::builder().timeout(WAIT).build()?;
    say(&format!("logging in the speaker and {most} listeners"));
    let speaker = login(&http, &args.base, &args.speaker, &args.password).await?;
    let mut listeners = Vec::with_capacity(most);
    for i in 0..most {
        let name = format!("{}{i:03}", args.listener_prefix);
        listeners.push(login(&http, &args.base, &name, &args.password).await?);
    }
    let packets = opus_frames(args.frames)?;
    let mut rows = Vec::new();
    for &n in &fanouts {
        say(&format!("1 -> {n}: {} portions at 20 ms", args.frames));
        let mut sessions = Vec::with_capacity(n);
        for l in &listeners[..n] {
            sessions.push((l.user.guid, session(&args.base, &l.token).await?));
        }
        rows.push(fan_out(&args, &speaker.token, sessions, &packets).await?);
        // Let the talk's commit and the sessions' ends settle before the next.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut phone_row = None;
    if let (Some(file), Some(registrar)) = (&args.phones, args.sip) {
        let accounts = phones::accounts(file)?;
        say(&format!(
            "1 -> {} phones: registering, then {} portions at 20 ms",
            accounts.len(),
            args.frames
        ));
        let mut registered = Vec::with_capacity(accounts.len());
        for a in &accounts {
            let guid = login(&http, &args.base, &a.login, &args.password)
                .await?
                .user
                .guid;
            registered.push((guid, phones::Phone::register(a, registrar).await?));
        }
        // Let the registrations reach the users' presence before the talk.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let row = phone_fan_out(&args, &speaker.token, registered, &packets).await?;
        phone_row = Some(rows.len());
        rows.push(row);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut relay_row = None;
    if let Some(ng_addr) = args.rtpengine_ng {
        say(&format!(
            "rtpengine: {} relays of {} packets",
            args.rtp_streams, args.frames
        ));
        match rtpengine(ng_addr, args.rtp_streams, args.frames).await {
            Ok(r) => {
                relay_row = Some(rows.len());
                rows.push(r)
            }
            Err(e) => say(&format!("rtpengine baseline failed: {e:#}")),
        }
    }
    let mut table = String::from(
        "| path | frames measured | p50 ms | p99 ms | max ms | lost |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} of {} |\n",
            r.what,
            r.samples,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.max_us),
            r.lost,
            r.expected
        ));
    }
    if let (Some(p), Some(r)) = (phone_row, relay_row) {
        let (p, r) = (&rows[p], &rows[r]);
        let ratio = |a: u64, b: u64| format!("{:.1}", a as f64 / b.max(1) as f64);
        table.push_str(&format!(
            "\nPhones / rtpengine: p50 x{}, p99 x{}, max x{}\n",
            ratio(p.p50_us, r.p50_us),
            ratio(p.p99_us, r.p99_us),
            ratio(p.max_us, r.max_us)
        ));
    }
    print!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table)?;
    }
    Ok(())
}
