//! The MGCP call agent's socket (UDP, 2727 by default): one task reads datagrams and hands
//! them to the gateway actor as [`MgcpIn`]; one sends what the actor queues. No state: the
//! transaction layer and the gateways are the actor's (`ivm_actors::gateway`), which also
//! drops datagrams from addresses no configured gateway has before parsing them.
//!
//! A datagram the actor's mailbox has no room for is dropped and counted (the gateway
//! retransmits): a flood cannot grow memory here.

use std::io;
use std::net::SocketAddr;

use actix::Recipient;
use futures_util::future::BoxFuture;
use ivm_actors::gateway::MgcpIn;
use ivm_service::Service;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest datagram read (the MGCP core refuses more than 8192 bytes anyway).
const MAX_DATAGRAM: usize = 8192 + 1;

/// The call agent's socket task.
pub struct MgcpService {
    udp: UdpSocket,
    agent: Recipient<MgcpIn>,
    outbox: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

impl MgcpService {
    /// Binds `addr`; returns the socket and its bound address.
    pub async fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, SocketAddr)> {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        Ok((udp, local))
    }

    /// The service over a bound socket, feeding `agent` and sending its `outbox`.
    pub fn new(
        udp: UdpSocket,
        agent: Recipient<MgcpIn>,
        outbox: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    ) -> MgcpService {
        MgcpService { udp, agent, outbox }
    }
}

impl Service for MgcpService {
    fn name(&self) -> &'static str {
        "mgcp"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let MgcpService {
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
                        tracing::debug!(%to, error = %e, "MGCP send failed");
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
                            tracing::debug!(error = %e, "MGCP receive error");
                            continue;
                        }
                    },
                    _ = shutdown.cancelled() => break,
                };
                let msg = MgcpIn {
                    from,
                    bytes: buf[..n].to_vec(),
                };
                if agent.try_send(msg).is_err() {
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(
                            dropped,
                            "MGCP datagrams dropped: the gateway actor is full"
                        );
                    }
                }
            }
            sender.abort();
        })
    }
}
