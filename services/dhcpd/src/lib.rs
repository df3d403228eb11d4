//! The box's DHCPv4 service: the thin I/O layer around the sans-IO [`ivm_dhcp::Server`].
//!
//! # Layout
//! - [`bind`]: one UDP socket per interface on port 67 with `SO_BINDTODEVICE`,
//!   `SO_BROADCAST`, `SO_REUSEADDR` and `IP_PKTINFO` (so the core learns whether a request was
//!   broadcast), made with socket2.
//! - [`probe`]: before serving, [`ivm_dhcp::RogueProbe`]: a DISCOVER broadcast from port 68
//!   out of each interface; any OFFER within the wait means another DHCP server is on the
//!   LAN, and the box refuses to start its own (an outage otherwise) unless forced.
//! - [`DhcpService`]: an engine `Service`: a receive task per socket feeds one loop that runs
//!   `Server::handle_batch` on a blocking thread over every datagram already queued (group
//!   commit: the lease store fsyncs once per batch, before any of its ACKs leaves), sends the
//!   replies out of the request's interface, and tells the provisioning front through its
//!   port ([`ivm_provision::DhcpNotes`]) which phones it saw (sightings for the phone
//!   registry, flushed in batches by the front) and which leases it bound (only the leased
//!   address may do a phone's armed first fetch). It depends on no actor.
//!
//! # Run loop
//! ```text
//! recv (bytes, src, iface, broadcast?) + whatever else is queued (up to 64)
//!   -> spawn_blocking(server.handle_batch(now, reqs))   // one lease-store fsync per batch
//!   -> send each reply (Hardware destinations are broadcast: no ARP entry without privileges)
//!   -> drain events: PhoneSeen -> notes.phone_seen ; Bound/Released/Declined -> notes.lease_* ;
//!      PoolExhausted -> warn
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::BoxFuture;
use ivm_dhcp::{Destination, Event, Request, Server};
use ivm_provision::{DhcpNotes, Mac};
use ivm_service::Service;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// A socket could not be made or bound.
    #[error("{interface}: {what}: {source}")]
    Socket {
        /// Interface.
        interface: String,
        /// Which step.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// Another DHCP server answered the probe.
    #[error("another DHCP server ({server}) answered on {interface}; not starting ours (set [dhcp] force = true to override)")]
    Rogue {
        /// Interface.
        interface: String,
        /// Its server identifier.
        server: Ipv4Addr,
    },
    /// The interface has no readable MAC address.
    #[error("{0}: cannot read its MAC address")]
    NoMac(String),
}

fn sock_err<'a>(
    interface: &'a str,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> DhcpError + 'a {
    move |source| DhcpError::Socket {
        interface: interface.to_owned(),
        what,
        source,
    }
}

/// A UDP socket bound to `0.0.0.0:port` on `interface` with SO_BINDTODEVICE, SO_BROADCAST,
/// SO_REUSEADDR and IP_PKTINFO. Needs CAP_NET_RAW (bind to device) and, for port 67,
/// CAP_NET_BIND_SERVICE.
pub fn bind(interface: &str, port: u16) -> Result<std::net::UdpSocket, DhcpError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(sock_err(interface, "socket"))?;
    s.set_reuse_address(true)
        .map_err(sock_err(interface, "SO_REUSEADDR"))?;
    s.set_broadcast(true)
        .map_err(sock_err(interface, "SO_BROADCAST"))?;
    s.bind_device(Some(interface.as_bytes()))
        .map_err(sock_err(interface, "SO_BINDTODEVICE"))?;
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
        .map_err(sock_err(interface, "IP_PKTINFO"))?;
    s.set_nonblocking(true)
        .map_err(sock_err(interface, "O_NONBLOCK"))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(sock_err(interface, "bind"))?;
    Ok(s.into())
}

/// The interface's MAC from sysfs.
pub fn interface_mac(interface: &str) -> Result<Mac, DhcpError> {
    if interface.is_empty() || interface.contains('/') || interface.contains("..") {
        return Err(DhcpError::NoMac(interface.to_owned()));
    }
    std::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
        .ok()
        .and_then(|s| Mac::parse(s.trim()).ok())
        .ok_or_else(|| DhcpError::NoMac(interface.to_owned()))
}

/// Broadcasts a DISCOVER out of `interface` (from port `client_port`, to `server_port`)
/// and waits up to `wait` for an OFFER from a server other than `own`. `Ok(None)`: nobody
/// answered.
pub async fn probe(
    interface: &str,
    own: &[Ipv4Addr],
    client_port: u16,
    server_port: u16,
    wait: Duration,
) -> Result<Option<Ipv4Addr>, DhcpError> {
    let mac = interface_mac(interface)?;
    let probe = ivm_dhcp::RogueProbe::new(mac).ignore(own.iter().copied());
    let sock = UdpSocket::from_std(bind(interface, client_port)?)
        .map_err(sock_err(interface, "register"))?;
    let discover = probe.discover().map_err(|e| DhcpError::Socket {
        interface: interface.to_owned(),
        what: "encode probe",
        source: std::io::Error::other(e.to_string()),
    })?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 1500];
    // The DISCOVER goes out again every second, as a client's would: some servers answer
    // late (dnsmasq pings an address for up to 3 s before offering it).
    let mut resend = Instant::now();
    // Bounded: at most 256 datagrams or `wait`, whichever comes first.
    for _ in 0..256 {
        if Instant::now() >= resend {
            sock.send_to(&discover, (Ipv4Addr::BROADCAST, server_port))
                .await
                .map_err(sock_err(interface, "send probe"))?;
            resend = Instant::now() + Duration::from_secs(1);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let Ok(r) = tokio::time::timeout(
            left.min(resend.saturating_duration_since(Instant::now())),
            sock.recv_from(&mut buf),
        )
        .await
        else {
            continue;
        };
        let (n, src) = r.map_err(sock_err(interface, "receive probe answer"))?;
        let SocketAddr::V4(src) = src else { continue };
        if let Some(server) = probe.offer_from(&buf[..n], *src.ip()) {
            return Ok(Some(server));
        }
    }
    Ok(None)
}

/// Bound, unexpired leases (walks every lease: called at most about once a second).
fn leases_in_use(srv: &Server) -> usize {
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    srv.leases()
        .filter(|l| l.state == ivm_dhcp::LeaseState::Bound && l.blocks(now))
        .count()
}

struct Datagram {
    bytes: Vec<u8>,
    source: SocketAddrV4,
    interface: usize,
    to_broadcast: bool,
}

/// Receives one datagram with its IP_PKTINFO destination.
fn recv_pktinfo(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddrV4, bool)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
    let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    let mut broadcast = false;
    for c in msg
        .cmsgs()
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?
    {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
            let dst = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
            broadcast = dst.is_broadcast() || dst.octets()[3] == 255;
        }
    }
    let src = msg
        .address
        .map(|a| SocketAddrV4::new(a.ip(), a.port()))
        .unwrap_or_else(|| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    Ok((msg.bytes, src, broadcast))
}

/// Most datagrams handled in one group commit (one lease-store sync).
const MAX_BATCH: usize = 64;

/// Datagrams queued between the receive tasks and the core; beyond it they are dropped
/// (clients retransmit). Sized to ride out a slow `fdatasync` (~100 ms at ~10k packets/s).
const QUEUE: usize = 4096;

/// The DHCP server as the engine runs it.
pub struct DhcpService {
    server: Server,
    sockets: Vec<(String, Arc<UdpSocket>)>,
    client_port: u16,
    leases: Arc<AtomicUsize>,
    notes: Arc<dyn DhcpNotes>,
}

impl DhcpService {
    /// A service over bound sockets (one per interface, from [`bind`]); `client_port` is 68
    /// except in tests. The phones it sees and the leases it binds go to `notes` (the
    /// provisioning front).
    pub fn new(
        server: Server,
        sockets: Vec<(String, std::net::UdpSocket)>,
        client_port: u16,
        notes: Arc<dyn DhcpNotes>,
    ) -> std::io::Result<Self> {
        let sockets = sockets
            .into_iter()
            .map(|(i, s)| Ok((i, Arc::new(UdpSocket::from_std(s)?))))
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            server,
            sockets,
            client_port,
            leases: Arc::new(AtomicUsize::new(0)),
            notes,
        })
    }

    /// Publishes the number of leases in use (bound, not expired) to `gauge`, for the front
    /// panel's status page. Counted at most once a second, after a batch, since counting walks
    /// every lease.
    pub fn with_lease_gauge(mut self, gauge: Arc<AtomicUsize>) -> Self {
        self.leases = gauge;
        self
    }
}

impl Service for DhcpService {
    fn name(&self) -> &'static str {
        "dhcp"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let DhcpService {
                server,
                sockets,
                client_port,
                leases,
                notes,
            } = *self;
            // The journal's leases, for the front's first-fetch check.
            let now_s = SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            for l in server.leases() {
                if l.state == ivm_dhcp::LeaseState::Bound && l.blocks(now_s) {
                    notes.lease_bound(l.mac, l.ip.into(), l.expires);
                }
            }
            let mut counted: Option<Instant> = None;
            let mut stale = false;
            let mut server = Some(server);
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Datagram>(QUEUE);
            let mut readers = Vec::new();
            for (index, (name, sock)) in sockets.iter().enumerate() {
                let (sock, tx, stop, name) =
                    (sock.clone(), tx.clone(), shutdown.clone(), name.clone());
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let r = tokio::select! {
                            r = sock.async_io(Interest::READABLE, || recv_pktinfo(&sock, &mut buf)) => r,
                            _ = stop.cancelled() => break,
                        };
                        match r {
                            Ok((n, source, to_broadcast)) => {
                                let d = Datagram {
                                    bytes: buf[..n].to_vec(),
                                    source,
                                    interface: index,
                                    to_broadcast,
                                };
                                // Full queue: drop (DHCP clients retransmit).
                                let _ = tx.try_send(d);
                            }
                            Err(e) => {
                                tracing::warn!(interface = %name, error = %e, "DHCP receive failed");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }));
            }
            drop(tx);
            loop {
                let first = tokio::select! {
                    d = rx.recv() => match d { Some(d) => d, None => break },
                    _ = shutdown.cancelled() => break,
                    // A batch came too soon after the last count: count once things settle.
                    _ = tokio::time::sleep(Duration::from_secs(1)), if stale => {
                        if let Some(srv) = server.as_ref() {
                            leases.store(leases_in_use(srv), Ordering::Relaxed);
                        }
                        stale = false;
                        continue;
                    }
                };
                // Group commit: take what is already queued (bounded), run the core over the
                // whole batch with one lease-store sync, then send every reply. No reply
                // leaves before the sync returned (`Server::handle_batch`).
                let mut batch = Vec::with_capacity(MAX_BATCH);
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                let Some(mut srv) = server.take() else { break };
                let names: Vec<String> = sockets.iter().map(|(n, _)| n.clone()).collect();
                let joined = tokio::task::spawn_blocking(move || {
                    let reqs: Vec<Request<'_>> = batch
                        .iter()
                        .map(|d| Request {
                            bytes: &d.bytes,
                            source: d.source,
                            interface: &names[d.interface],
                            to_broadcast: d.to_broadcast,
                        })
                        .collect();
                    let replies = srv.handle_batch(SystemTime::now(), &reqs);
                    let mut events = Vec::new();
                    while let Some(e) = srv.poll_event() {
                        events.push(e);
                    }
                    let meta: Vec<(usize, SocketAddrV4)> =
                        batch.iter().map(|d| (d.interface, d.source)).collect();
                    (srv, meta, replies, events)
                })
                .await;
                let Ok((srv, meta, replies, events)) = joined else {
                    tracing::error!("DHCP handler panicked; stopping the DHCP service");
                    break;
                };
                stale = true;
                if counted.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    leases.store(leases_in_use(&srv), Ordering::Relaxed);
                    counted = Some(Instant::now());
                    stale = false;
                }
                server = Some(srv);
                for ((interface, source), replies) in meta.into_iter().zip(replies) {
                    let (iface, sock) = sockets[interface].clone();
                    let span = tracing::debug_span!("dhcp", interface = %iface, source = %source);
                    async {
                        for r in replies {
                            let to = match r.destination {
                                // Without an ARP entry the client cannot be reached by unicast
                                // yet; every client accepts the broadcast.
                                Destination::Hardware { .. } | Destination::Broadcast => {
                                    SocketAddrV4::new(Ipv4Addr::BROADCAST, client_port)
                                }
                                Destination::Unicast(ip) => SocketAddrV4::new(ip, client_port),
                                Destination::Relay(_) => r.destination.socket_addr(),
                            };
                            let out = sockets
                                .iter()
                                .find(|(n, _)| *n == r.interface)
                                .map(|(_, s)| s.clone())
                                .unwrap_or_else(|| sock.clone());
                            if let Err(e) = out.send_to(&r.bytes, to).await {
                                tracing::warn!(%to, error = %e, "DHCP send failed");
                            } else {
                                tracing::debug!(%to, kind = ?r.msg_type, "DHCP reply sent");
                            }
                        }
                    }
                    .instrument(span)
                    .await;
                }
                async {
                    for e in events {
                        match e {
                            Event::PhoneSeen { mac, vendor, class } => {
                                tracing::info!(mac = %mac, vendor = %vendor, class = ?class, "phone seen (DHCP)");
                                // Option 60 may name the model too (`Polycom-VVX400`,
                                // `Cisco Systems, Inc. IP Phone CP-7965G`).
                                let id = class
                                    .as_deref()
                                    .map(|c| ivm_provision::Identity::from_vendor_class(c.as_bytes()))
                                    .unwrap_or_default();
                                notes.phone_seen(mac, vendor, id.model);
                            }
                            Event::Bound { mac, ip, expires } => {
                                notes.lease_bound(mac, ip.into(), expires);
                                tracing::debug!(event = ?e, "DHCP");
                            }
                            Event::Released { mac, .. } | Event::Declined { mac, .. } => {
                                notes.lease_ended(mac);
                                tracing::info!(event = ?e, "DHCP");
                            }
                            Event::PoolExhausted { .. } => {
                                tracing::warn!(event = ?e, "DHCP pool exhausted")
                            }
                            Event::Dropped { .. } => tracing::debug!(event = ?e, "DHCP dropped"),
                            // Per-exchange noise at info level (the core already logs each
                            // bound lease at info): three log lines per DORA cost throughput.
                            Event::Offered { .. } => {
                                tracing::debug!(event = ?e, "DHCP")
                            }
                            other => tracing::info!(event = ?other, "DHCP"),
                        }
                    }
                }
                .instrument(tracing::debug_span!("dhcp events"))
                .await;
            }
            for r in readers {
                let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
            }
            tracing::info!("DHCP server stopped");
        })
    }
}
