//! The desk phones' network I/O, and nothing else: the SIP listener (UDP and TCP) and the
//! per-call RTP sockets. All state (transactions, registrations, calls, media sessions)
//! belongs to the station actor (`ivm_actors::station`); these tasks pass it bytes with the
//! source address and send what it queues.
//!
//! Why a crate of its own rather than a `server` module inside `ivm-sip`: the cores
//! (`ivm-sip`, `ivm-rtp`) stay free of tokio and actix and are shared with the station actor,
//! which depends on them; this crate depends on the actor's message types (it delivers
//! [`SipIn`] to a `Recipient<SipIn>` and [`RtpIn`] to the recipient each leg gives it; it
//! holds no actor type), so it cannot live below them. One crate for both SIP and RTP sockets because they are set up
//! together from one `[sip]` config section.
//!
//! # Layout
//! - [`SipService`]: an engine service; one task reads UDP datagrams and sends the
//!   station's transmits (TCP ones to the connection they name), one accepts TCP
//!   connections (a task each, framed by `ivm_sip::message::Framer`).
//! - [`MgcpService`], [`MegacoService`] (`mgcp.rs`): the MGCP call agent's and the MEGACO
//!   controller's UDP sockets for the gateway actor
//!   (analog phones behind media gateways).
//! - [`UdpMediaSockets`]: [`ivm_actors::media::MediaSockets`] over a port range; each
//!   socket has a task that forwards datagrams as [`RtpIn`] and sends the leg's queue;
//!   dropping the leg's [`MediaPort`] ends the task and frees the port.
//!
//! # On a hostile LAN
//! - SIP and RTP reach the station through two separate byte budgets
//!   ([`ivm_actors::budget::Budget`]): a datagram that does not fit its class's budget is
//!   dropped and counted (logged every [`DROP_LOG_EVERY`]), so an RTP flood cannot starve
//!   SIP and a SIP flood cannot starve the media.
//! - SIP over TCP: at most [`MAX_TCP`] connections, [`MAX_TCP_PER_ADDRESS`] from one
//!   address; a connection must deliver a complete message within [`TCP_FIRST_MESSAGE`] and
//!   then one at least every [`TCP_IDLE`] (a CRLF keep-alive counts; a message trickled in
//!   byte by byte does not), else it is closed. TCP_NODELAY is set: SIP messages are small
//!   and each is a whole write.
//! - RTP ports are picked at random in the range (a port cannot be guessed from the
//!   previous call's), and a media socket passes on only datagrams from the address of the
//!   phone the call is signalled with: RTP from anywhere else is dropped in the socket task,
//!   before it costs the actor anything or reaches a recording.
//!
//! # Run loop (per UDP datagram)
//! ```text
//! loop, the station's transmits first:
//!   outbox.recv() -> socket.send_to(payload, peer)
//!   recv_from -> budget.try_take(len) -> station.try_send(SipIn { peer, Datagram(bytes), permit })
//! ```

mod mgcp;

pub use mgcp::{ControlService, MegacoService, MgcpService};

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use futures_util::future::BoxFuture;
use ivm_actors::budget::{Budget, RTP_BUDGET, SIP_BUDGET};
use ivm_actors::media::{LegId, MediaPort, MediaSockets, RtpIn};
use ivm_actors::station::{SipIn, SipInput};
use ivm_service::Service;
use ivm_sip::message::{Framed, Framer, Limits};
use ivm_sip::transaction::{canonical_ip, Peer, Transmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest SIP datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked for the SIP UDP socket (about 2,000 REGISTERs of ~500 bytes).
const UDP_RECV_BUFFER: usize = 1 << 20;
/// Most TCP connections at once.
pub const MAX_TCP: usize = 1024;
/// Most TCP connections at once from one address (a phone needs one; a few for restarts).
pub const MAX_TCP_PER_ADDRESS: usize = 16;
/// A new TCP connection must deliver a complete SIP message (or a CRLF keep-alive) within
/// this long.
pub const TCP_FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// Longest time between complete messages (or keep-alives) on a TCP connection. Phones
/// registered over TCP refresh well within it: the registrar grants them at most
/// `StationConfig::tcp_max_expires` (240 s).
pub const TCP_IDLE: Duration = Duration::from_secs(300);
/// How often dropped-datagram counts are logged (when they grew).
pub const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

type TcpWriters = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// The SIP listener: UDP and TCP on the same address.
pub struct SipService {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    station: Recipient<SipIn>,
    outbox: mpsc::Receiver<Transmit>,
    budget: Budget,
}

impl SipService {
    /// Binds UDP (and TCP on the same port when `tcp`) at `addr`. Returns the service and
    /// the bound UDP address.
    /// With port 0 the system picks the UDP port; when that port is taken for TCP, another is
    /// tried (bounded), so an ephemeral bind does not fail by chance.
    pub async fn bind(addr: SocketAddr, tcp: bool) -> io::Result<(SipServiceSockets, SocketAddr)> {
        let attempts = if addr.port() == 0 && tcp { 20 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let udp = UdpSocket::bind(addr).await?;
            set_recv_buffer(&udp);
            let local = udp.local_addr()?;
            if !tcp {
                return Ok((SipServiceSockets { udp, tcp: None }, local));
            }
            match TcpListener::bind(local).await {
                Ok(t) => return Ok((SipServiceSockets { udp, tcp: Some(t) }, local)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                "no port free for both UDP and TCP",
            )
        }))
    }

    /// The service over bound sockets, feeding `station` (the station actor's SIP input: the
    /// one thing this service needs of it) and sending its `outbox`.
    pub fn new(
        sockets: SipServiceSockets,
        station: Recipient<SipIn>,
        outbox: mpsc::Receiver<Transmit>,
    ) -> SipService {
        SipService {
            udp: sockets.udp,
            tcp: sockets.tcp,
            station,
            outbox,
            budget: Budget::new(SIP_BUDGET),
        }
    }
}

/// Logs a class's dropped datagrams every [`DROP_LOG_EVERY`] while the count grows.
async fn log_drops(what: &'static str, budget: Budget, shutdown: CancellationToken) {
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DROP_LOG_EVERY) => {}
            _ = shutdown.cancelled() => break,
        }
        let now = budget.dropped();
        if now > seen {
            tracing::warn!(
                class = what,
                dropped = now - seen,
                total = now,
                "station input over budget: datagrams dropped"
            );
            seen = now;
        }
    }
}

/// Hands a SIP input to the station inside the SIP budget; `false` when dropped.
fn deliver_sip(
    station: &Recipient<SipIn>,
    budget: &Budget,
    peer: Peer,
    input: SipInput,
    len: usize,
) -> bool {
    let Some(permit) = budget.try_take(len) else {
        return false;
    };
    if station
        .try_send(SipIn {
            peer,
            input,
            permit: Some(permit),
        })
        .is_err()
    {
        budget.count_drop();
        return false;
    }
    true
}

/// Sends one of the station's transmits: a datagram, or a frame to the TCP connection it
/// names (dropped when that connection is gone or its queue is full).
async fn send(udp: &UdpSocket, writers: &TcpWriters, t: Transmit) {
    if t.peer.transport.is_reliable() {
        let w = writers
            .lock()
            .ok()
            .and_then(|m| m.get(&t.peer.addr).cloned());
        match w {
            Some(w) => {
                let _ = w.try_send(t.payload);
            }
            None => tracing::debug!(peer = %t.peer.addr, "no TCP connection for a SIP message"),
        }
    } else if let Err(e) = udp.send_to(&t.payload, t.peer.addr).await {
        tracing::debug!(peer = %t.peer.addr, error = %e, "SIP send failed");
    }
}

/// Sets up an accepted SIP connection: TCP_NODELAY, because a SIP message is one small
/// write and the next one (a second response, a NOTIFY) would otherwise wait for the
/// phone's delayed ACK (Nagle): ~40 ms on Linux per exchange.
fn tune_stream(stream: &impl std::os::fd::AsFd) -> io::Result<()> {
    socket2::SockRef::from(stream).set_tcp_nodelay(true)
}

/// Asks for a [`UDP_RECV_BUFFER`] receive buffer (the kernel caps it at
/// `net.core.rmem_max`), so a burst of REGISTERs waits in the kernel while the station works
/// instead of being dropped at the default ~200 KiB. Best effort: a refusal is only logged.
fn set_recv_buffer(udp: &UdpSocket) {
    if let Err(e) = socket2::SockRef::from(udp).set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "SIP UDP receive buffer not enlarged");
    }
}

/// Sockets bound before the station exists (so its config can name the bound address).
pub struct SipServiceSockets {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
}

impl Service for SipService {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let SipService {
                udp,
                tcp,
                station,
                mut outbox,
                budget,
            } = *self;
            tokio::spawn(log_drops("sip", budget.clone(), shutdown.clone()));
            let writers: TcpWriters = Arc::default();
            if let Some(listener) = tcp {
                let st = station.clone();
                let sd = shutdown.clone();
                let w = writers.clone();
                let b = budget.clone();
                tokio::spawn(async move { accept_loop(listener, st, w, b, sd).await });
            }
            // One task both receives and sends, and sends first: a response goes out before
            // the next request is read, as in a UDP worker of a classic SIP server. A separate
            // sender task (one more thread wake-up per datagram) let responses leave in
            // bursts larger than a client's receive buffer holds: SIPp's (64 KiB) dropped
            // exactly as many as it then retransmitted in bench-sip (d), and at 8,000
            // REGISTERs/s this loop cut those drops about threefold (docs/benchmarks.md,
            // issue 18).
            let mut buf = vec![0u8; MAX_DATAGRAM];
            // The station gone (its end of the outbox dropped), datagrams are still read
            // until shutdown, as before: they are dropped at `deliver_sip`.
            let mut station_open = true;
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    t = outbox.recv(), if station_open => match t {
                        Some(t) => send(&udp, &writers, t).await,
                        None => station_open = false,
                    },
                    r = udp.recv_from(&mut buf) => {
                        let (n, from) = match r {
                            Ok(r) => r,
                            Err(e) => {
                                tracing::debug!(error = %e, "SIP receive error");
                                continue;
                            }
                        };
                        if n > 0
                            && !deliver_sip(
                                &station,
                                &budget,
                                Peer::udp(from),
                                SipInput::Datagram(buf[..n].to_vec()),
                                n,
                            )
                        {
                            tracing::trace!(%from, "station busy: SIP datagram dropped");
                        }
                    }
                }
            }
        })
    }
}

/// Counts connections per address; a slot is given back when its guard drops.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_TCP_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.table.0.lock() {
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    station: Recipient<SipIn>,
    writers: TcpWriters,
    budget: Budget,
    shutdown: CancellationToken,
) {
    let per_address = Arc::new(PerAddress::default());
    let refused = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, from) = tokio::select! {
            r = listener.accept() => match r { Ok(r) => r, Err(_) => continue },
            _ = shutdown.cancelled() => break,
        };
        if writers.lock().map(|m| m.len()).unwrap_or(0) >= MAX_TCP {
            tracing::debug!(%from, "SIP over TCP: connection table full, refused");
            continue;
        }
        let Some(slot) = per_address.take(canonical_ip(from.ip())) else {
            if refused.fetch_add(1, Ordering::Relaxed).is_multiple_of(100) {
                tracing::info!(ip = %from.ip(), limit = MAX_TCP_PER_ADDRESS, "SIP over TCP: too many connections from one address, refused");
            }
            continue;
        };
        if let Err(e) = tune_stream(&stream) {
            tracing::debug!(%from, error = %e, "SIP over TCP: TCP_NODELAY not set");
        }
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        if let Ok(mut m) = writers.lock() {
            m.insert(from, tx.clone());
        }
        let station = station.clone();
        let writers = writers.clone();
        let shutdown = shutdown.clone();
        let budget = budget.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (mut read, mut write) = stream.into_split();
            let writer = tokio::spawn(async move {
                while let Some(b) = rx.recv().await {
                    if write.write_all(&b).await.is_err() {
                        break;
                    }
                }
            });
            let mut framer = Framer::new(Limits::default());
            let mut buf = vec![0u8; 16 * 1024];
            // Until the first complete message the short limit applies, then the idle one;
            // only complete messages and keep-alives move the deadline.
            let mut deadline = Instant::now() + TCP_FIRST_MESSAGE;
            'conn: loop {
                let n = tokio::select! {
                    r = read.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        tracing::debug!(%from, "SIP over TCP: idle connection closed");
                        break;
                    }
                    _ = shutdown.cancelled() => break,
                };
                framer.extend(&buf[..n]);
                loop {
                    match framer.next() {
                        Ok(Some(Framed::Message(m))) => {
                            deadline = Instant::now() + TCP_IDLE;
                            let len = m.body().len() + 512;
                            deliver_sip(
                                &station,
                                &budget,
                                Peer::tcp(from),
                                SipInput::Message(m),
                                len,
                            );
                        }
                        Ok(Some(Framed::Ping)) => {
                            deadline = Instant::now() + TCP_IDLE;
                            let _ = tx.try_send(b"\r\n".to_vec());
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(%from, error = %e, "SIP over TCP: bad stream, closing");
                            break 'conn;
                        }
                    }
                }
            }
            if let Ok(mut m) = writers.lock() {
                m.remove(&from);
            }
            drop(tx);
            writer.abort();
        });
    }
}

/// RTP sockets from a port range (even ports, RTP only; RTCP is not used).
pub struct UdpMediaSockets {
    bind_ip: IpAddr,
    first: u16,
    last: u16,
    budget: Budget,
}

/// Most random ports tried before giving up (the range may be nearly full).
const PORT_TRIES: usize = 64;

impl UdpMediaSockets {
    /// Sockets on `bind_ip`, ports `first..=last`.
    pub fn new(bind_ip: IpAddr, first: u16, last: u16) -> UdpMediaSockets {
        let first = first.max(1024);
        UdpMediaSockets {
            bind_ip,
            first,
            last: last.max(first),
            budget: Budget::new(RTP_BUDGET),
        }
    }

    /// The shared budget of RTP waiting for the station (its drop count, for tests and logs).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Binds a random even port of the range: [`PORT_TRIES`] random picks (a port in use is
    /// skipped), then a sweep from a random start, so a nearly full range still finds the
    /// free ports and the search stays bounded.
    fn bind_some(&self) -> io::Result<StdUdp> {
        let evens = (u32::from(self.last - self.first) / 2) + 1;
        let port_of = |i: u32| self.first + (2 * (i % evens)) as u16;
        let mut rng = rand::thread_rng();
        let start = rand::Rng::gen_range(&mut rng, 0..evens);
        let random = (0..PORT_TRIES).map(|_| rand::Rng::gen_range(&mut rng, 0..evens));
        let sweep = (0..evens.min(4096)).map(|k| start + k);
        for i in random.chain(sweep) {
            match StdUdp::bind(SocketAddr::new(self.bind_ip, port_of(i))) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free RTP port in the range",
        ))
    }
}

/// The local address that routes toward `peer` (for an unspecified bind address).
fn local_ip_toward(peer: IpAddr) -> Option<IpAddr> {
    let s = StdUdp::bind(SocketAddr::new(
        if peer.is_ipv4() {
            [0, 0, 0, 0].into()
        } else {
            [0u16; 8].into()
        },
        0,
    ))
    .ok()?;
    s.connect(SocketAddr::new(peer, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

impl MediaSockets for UdpMediaSockets {
    /// A media socket for `leg`; `toward` is the phone's signalling address, the only
    /// source whose datagrams are passed on.
    fn open(&self, leg: LegId, toward: IpAddr, to: Recipient<RtpIn>) -> io::Result<MediaPort> {
        let std = self.bind_some()?;
        std.set_nonblocking(true)?;
        let mut local = std.local_addr()?;
        if local.ip().is_unspecified() {
            if let Some(ip) = local_ip_toward(toward) {
                local.set_ip(ip);
            }
        }
        let sock = UdpSocket::from_std(std)?;
        let (tx, mut rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(512);
        let budget = self.budget.clone();
        let phone = canonical_ip(toward);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut foreign: u64 = 0;
            let mut over_budget: u64 = 0;
            loop {
                tokio::select! {
                    r = sock.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { continue };
                        // Latch only onto the signalling address: RTP from any other host
                        // never reaches the actor (nor a recording).
                        if canonical_ip(from.ip()) != phone {
                            foreign += 1;
                            if foreign.is_power_of_two() {
                                tracing::info!(leg, %from, dropped = foreign, "RTP from an address other than the phone's dropped");
                            }
                            continue;
                        }
                        let delivered = match budget.try_take(n) {
                            Some(permit) => to.try_send(RtpIn { leg, from, bytes: buf[..n].to_vec(), permit: Some(permit) }).is_ok(),
                            None => false,
                        };
                        if !delivered {
                            over_budget += 1;
                            if over_budget.is_power_of_two() {
                                tracing::warn!(leg, dropped = over_budget, total = budget.dropped(), "station input over the RTP budget: datagrams dropped");
                            }
                        }
                    }
                    m = rx.recv() => match m {
                        Some((dst, bytes)) => { let _ = sock.send_to(&bytes, dst).await; }
                        None => break,
                    },
                }
            }
        });
        Ok(MediaPort { local, tx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of 20 loopback ports (10 even ones) unlikely to be in use.
    fn free_block() -> u16 {
        for _ in 0..50 {
            let base = 20_000 + (rand::random::<u16>() % 2000) * 20;
            let all_free = (base..base + 20).all(|p| StdUdp::bind(("127.0.0.1", p)).is_ok());
            if all_free {
                return base;
            }
        }
        panic!("no free block of 20 loopback ports");
    }

    #[test]
    fn rtp_ports_are_random_even_in_range_and_the_range_can_be_filled() {
        let base = free_block();
        let m = UdpMediaSockets::new([127, 0, 0, 1].into(), base, base + 19);
        let mut held = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..10 {
            let s = m.bind_some().expect("a free port");
            let p = s.local_addr().expect("addr").port();
            assert!(
                (base..=base + 19).contains(&p) && (p - base).is_multiple_of(2),
                "{p}"
            );
            ports.push(p);
            held.push(s);
        }
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "every even port once: {ports:?}");
        let err = m.bind_some().expect_err("the range is full");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Random, not sequential: 20 opens in a fresh range rarely come out in order.
        drop(held);
        let in_order = (0..20)
            .filter(|_| {
                let a = m.bind_some().expect("port");
                let b = m.bind_some().expect("port");
                let (pa, pb) = (
                    a.local_addr().expect("a").port(),
                    b.local_addr().expect("b").port(),
                );
                pb == pa + 2
            })
            .count();
        assert!(
            in_order < 10,
            "ports follow each other {in_order} times of 20"
        );
    }

    #[test]
    fn accepted_sip_connections_have_tcp_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let _client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert!(!accepted.nodelay().expect("getsockopt"), "off by default");
        tune_stream(&accepted).expect("tune");
        assert!(accepted.nodelay().expect("getsockopt"), "TCP_NODELAY set");
    }

    #[test]
    fn connections_per_address_are_capped_and_given_back() {
        let t = Arc::new(PerAddress::default());
        let ip: IpAddr = [10, 0, 0, 1].into();
        let slots: Vec<Slot> = (0..MAX_TCP_PER_ADDRESS)
            .map(|_| t.take(ip).expect("slot"))
            .collect();
        assert!(t.take(ip).is_none(), "one more from the same address");
        assert!(t.take([10, 0, 0, 2].into()).is_some(), "another address");
        drop(slots);
        assert!(t.take(ip).is_some(), "given back");
    }
}
