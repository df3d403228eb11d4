//! The gateway control sockets: MGCP's call agent (UDP, 2727 by default; [`MgcpIn`]) and
//! MEGACO's controller (UDP, 2944; [`MegacoIn`]). One task reads datagrams and hands them to
//! the gateway actor; one sends what the actor queues. No state: the transaction layers and
//! the gateways are the actor's (`ivm_actors::gateway`), which also drops datagrams from
//! addresses no configured gateway has before parsing them.
//!
//! A datagram the actor's mailbox has no room for is dropped and counted (the gateway
//! retransmits): a flood cannot grow memory here.

use std::io;
use std::net::SocketAddr;

use actix::Recipient;
use futures_util::future::BoxFuture;
use ivm_actors::gateway::{MegacoIn, MgcpIn};
use ivm_service::Service;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest datagram read (the MGCP core refuses more than 8192 bytes, the MEGACO core its
/// `MAX_MESSAGE`, anyway).
const MAX_DATAGRAM: usize = 65_535;

/// A gateway control socket's task, handing datagrams to the actor as `M`.
pub struct ControlService<M: actix::Message<Result = ()> + Send> {
    name: &'static str,
    udp: UdpSocket,
    agent: Recipient<M>,
    outbox: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

/// The MGCP call agent's socket.
pub type MgcpService = ControlService<MgcpIn>;

/// The MEGACO controller's socket.
pub type MegacoService = ControlService<MegacoIn>;

impl<M> ControlService<M>
where
    M: actix::Message<Result = ()> + Send + From<(SocketAddr, Vec<u8>)> + 'static,
{
    /// Binds `addr`; returns the socket and its bound address.
    pub async fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, SocketAddr)> {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        Ok((udp, local))
    }

    /// The service `name` (`mgcp`, `megaco`) over a bound socket, feeding `agent` and
    /// sending its `outbox`.
    pub fn new(
        name: &'static str,
        udp: UdpSocket,
        agent: Recipient<M>,
        outbox: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    ) -> ControlService<M> {
        ControlService {
            name,
            udp,
            agent,
            outbox,
        }
    }
}

impl<M> Service for ControlService<M>
where
    M: actix::Message<Result = ()> + Send + From<(SocketAddr, Vec<u8>)> + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let ControlService {
                name,
                udp,
                agent,
                mut outbox,
            } = *self;
            let udp = std::sync::Arc::new(udp);
            let send = udp.clone();
            let sd = shutdown.clone();
            let sender = tokio::spawn(async move {
                loop {
                    let (to, bytes) = tokio::select! {
                        t = outbox.recv() => match t { Some(t) => t, None => break },
                        _ = sd.cancelled() => break,
                    };
                    if let Err(e) = send.send_to(&bytes, to).await {
                        tracing::debug!(%to, error = %e, name, "send failed");
                    }
                }
            });
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let mut dropped: u64 = 0;
            loop {
                let (n, from) = tokio::select! {
                    r = udp.recv_from(&mut buf) => match r {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::debug!(error = %e, name, "receive error");
                            continue;
                        }
                    },
                    _ = shutdown.cancelled() => break,
                };
                let msg = M::from((from, buf[..n].to_vec()));
                if agent.try_send(msg).is_err() {
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(
                            dropped,
                            name,
                            "datagrams dropped: the gateway actor is full"
                        );
                    }
                }
            }
            sender.abort();
        })
    }
}
