//! The desk phones' network I/O, and nothing else: the SIP listener (UDP and TCP) and the
//! per-call RTP sockets. All state (transactions, registrations, calls, media sessions)
//! belongs to the station actor (`ivm_actors::station`); these tasks pass it bytes with the
//! source address and send what it queues.
//!
//! Why a crate of its own rather than a `server` module inside `ivm-sip`: the cores
//! (`ivm-sip`, `ivm-rtp`) stay free of tokio and actix and are shared with the station actor,
//! which depends on them; this crate depends on the actor (it delivers to its address), so it
//! cannot live below it. One crate for both SIP and RTP sockets because they are set up
//! together from one `[sip]` config section.
//!
//! # Layout
//! - [`SipService`]: an engine service; one task reads UDP datagrams, one accepts TCP
//!   connections (a task each, framed by `ivm_sip::message::Framer`), one sends the
//!   station's transmits (TCP ones to the connection they name).
//! - [`UdpMediaSockets`]: [`ivm_actors::station::MediaSockets`] over a port range; each
//!   socket has a task that forwards datagrams as [`RtpIn`] and sends the leg's queue;
//!   dropping the leg's [`MediaPort`] ends the task and frees the port.
//!
//! # Run loop (per UDP datagram)
//! ```text
//! recv_from -> station.do_send(SipIn { peer, Datagram(bytes) })
//! outbox.recv() -> socket.send_to(payload, peer)
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use actix::{Addr, Recipient};
use futures_util::future::BoxFuture;
use ivm_actors::engine::Service;
use ivm_actors::station::{LegId, MediaPort, MediaSockets, RtpIn, SipIn, SipInput, StationActor};
use ivm_sip::message::{Framed, Framer, Limits};
use ivm_sip::transaction::{Peer, Transmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest SIP datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked for the SIP UDP socket (about 2,000 REGISTERs of ~500 bytes).
const UDP_RECV_BUFFER: usize = 1 << 20;
/// Most TCP connections at once.
const MAX_TCP: usize = 1024;

type TcpWriters = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// The SIP listener: UDP and TCP on the same address.
pub struct SipService {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    station: Addr<StationActor>,
    outbox: mpsc::Receiver<Transmit>,
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

    /// The service over bound sockets, feeding `station` and sending its `outbox`.
    pub fn new(
        sockets: SipServiceSockets,
        station: Addr<StationActor>,
        outbox: mpsc::Receiver<Transmit>,
    ) -> SipService {
        SipService {
            udp: sockets.udp,
            tcp: sockets.tcp,
            station,
            outbox,
        }
    }
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
            } = *self;
            let udp = Arc::new(udp);
            let writers: TcpWriters = Arc::default();
            let send_udp = udp.clone();
            let send_writers = writers.clone();
            let sd = shutdown.clone();
            let sender = tokio::spawn(async move {
                loop {
                    let t = tokio::select! {
                        t = outbox.recv() => match t { Some(t) => t, None => break },
                        _ = sd.cancelled() => break,
                    };
                    if t.peer.transport.is_reliable() {
                        let w = send_writers
                            .lock()
                            .ok()
                            .and_then(|m| m.get(&t.peer.addr).cloned());
                        match w {
                            Some(w) => {
                                let _ = w.try_send(t.payload);
                            }
                            None => {
                                tracing::debug!(peer = %t.peer.addr, "no TCP connection for a SIP message")
                            }
                        }
                    } else if let Err(e) = send_udp.send_to(&t.payload, t.peer.addr).await {
                        tracing::debug!(peer = %t.peer.addr, error = %e, "SIP send failed");
                    }
                }
            });
            if let Some(listener) = tcp {
                let st = station.clone();
                let sd = shutdown.clone();
                let w = writers.clone();
                tokio::spawn(async move { accept_loop(listener, st, w, sd).await });
            }
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let (n, from) = tokio::select! {
                    r = udp.recv_from(&mut buf) => match r {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::debug!(error = %e, "SIP receive error");
                            continue;
                        }
                    },
                    _ = shutdown.cancelled() => break,
                };
                if n == 0 {
                    continue;
                }
                if station
                    .try_send(SipIn {
                        peer: Peer::udp(from),
                        input: SipInput::Datagram(buf[..n].to_vec()),
                    })
                    .is_err()
                {
                    tracing::debug!(%from, "station busy: SIP datagram dropped");
                }
            }
            let _ = sender.await;
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    station: Addr<StationActor>,
    writers: TcpWriters,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, from) = tokio::select! {
            r = listener.accept() => match r { Ok(r) => r, Err(_) => continue },
            _ = shutdown.cancelled() => break,
        };
        if writers.lock().map(|m| m.len()).unwrap_or(0) >= MAX_TCP {
            continue;
        }
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        if let Ok(mut m) = writers.lock() {
            m.insert(from, tx.clone());
        }
        let station = station.clone();
        let writers = writers.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
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
            'conn: loop {
                let n = tokio::select! {
                    r = read.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                    _ = shutdown.cancelled() => break,
                };
                framer.extend(&buf[..n]);
                loop {
                    match framer.next() {
                        Ok(Some(Framed::Message(m))) => {
                            let _ = station.try_send(SipIn {
                                peer: Peer::tcp(from),
                                input: SipInput::Message(m),
                            });
                        }
                        Ok(Some(Framed::Ping)) => {
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
    next: AtomicU16,
}

impl UdpMediaSockets {
    /// Sockets on `bind_ip`, ports `first..=last`.
    pub fn new(bind_ip: IpAddr, first: u16, last: u16) -> UdpMediaSockets {
        let first = first.max(1024);
        UdpMediaSockets {
            bind_ip,
            first,
            last: last.max(first),
            next: AtomicU16::new(first),
        }
    }

    fn bind_some(&self) -> io::Result<StdUdp> {
        let span = u32::from(self.last - self.first) + 1;
        for _ in 0..span.min(4096) {
            let p = self.next.fetch_add(2, Ordering::Relaxed);
            let port = if p > self.last || p < self.first {
                self.next.store(self.first + 2, Ordering::Relaxed);
                self.first
            } else {
                p
            };
            if let Ok(s) = StdUdp::bind(SocketAddr::new(self.bind_ip, port)) {
                return Ok(s);
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
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                tokio::select! {
                    r = sock.recv_from(&mut buf) => {
                        if let Ok((n, from)) = r {
                            if to.try_send(RtpIn { leg, from, bytes: buf[..n].to_vec() }).is_err() {
                                tracing::trace!(leg, "station busy: RTP dropped");
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
