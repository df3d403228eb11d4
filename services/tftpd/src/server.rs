//! The tokio side: the listening socket, one task and one socket per transfer, and the file
//! read in chunks on the blocking pool.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivm_provision::front::{FetchError, PhoneFiles, Served};
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use ivm_tftp::packet::{self, ErrorCode, Request, MAX_REQUEST_LEN};
use ivm_tftp::transfer::{Limits, State, Transfer};
use ivm_tftp::{MAX_BLOCK_SIZE, MAX_WINDOW_SIZE};

use crate::{MAX_TRANSFERS, READ_CHUNK};

/// What the server grants.
pub(crate) const LIMITS: Limits = Limits {
    max_block_size: MAX_BLOCK_SIZE,
    max_window_size: MAX_WINDOW_SIZE,
    default_timeout: Duration::from_secs(2),
    max_retries: 5,
};

/// How long shutdown waits for transfers to send their last ERROR.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Serves requests on `socket` until `shutdown`.
pub(crate) async fn serve(
    socket: std::net::UdpSocket,
    front: Arc<dyn PhoneFiles>,
    shutdown: CancellationToken,
) {
    let socket = match socket
        .set_nonblocking(true)
        .and_then(|()| UdpSocket::from_std(socket))
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "TFTP socket unusable");
            return;
        }
    };
    let local_ip = match socket.local_addr() {
        Ok(a) => a.ip(),
        Err(e) => {
            tracing::error!(error = %e, "TFTP socket unusable");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(MAX_TRANSFERS));
    // One byte more than a request may have, to tell an overlong one.
    let mut buf = vec![0u8; MAX_REQUEST_LEN + 1];
    let mut reply = Vec::new();
    loop {
        let (n, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "TFTP receive");
                    continue;
                }
            },
        };
        let req = match Request::parse(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(%peer, error = %e, "TFTP request malformed");
                packet::encode_error(
                    ErrorCode::IllegalOperation as u16,
                    &e.to_string(),
                    &mut reply,
                );
                let _ = socket.send_to(&reply, peer).await;
                continue;
            }
        };
        if req.write {
            tracing::info!(%peer, name = %req.name.escape_debug(), "TFTP write refused");
            let code = ErrorCode::IllegalOperation;
            packet::encode_error(code as u16, code.text(), &mut reply);
            let _ = socket.send_to(&reply, peer).await;
            continue;
        }
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(%peer, name = %req.name.escape_debug(), "TFTP busy: request refused");
            packet::encode_error(ErrorCode::Undefined as u16, "server busy", &mut reply);
            let _ = socket.send_to(&reply, peer).await;
            continue;
        };
        let span = tracing::info_span!("tftp", %peer, file = %req.name.escape_debug());
        let job = transfer(
            req,
            peer,
            local_ip,
            Arc::clone(&front),
            shutdown.clone(),
            permit,
        );
        tokio::spawn(job.instrument(span));
    }
    // Every transfer holds a permit until it ends: wait for them all, bounded.
    let all = u32::try_from(MAX_TRANSFERS).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_WAIT, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("TFTP transfers still running at shutdown");
    }
}

/// One transfer, from the front's answer to the last ACK.
async fn transfer(
    req: Request,
    peer: SocketAddr,
    local_ip: IpAddr,
    front: Arc<dyn PhoneFiles>,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    // A new TID (RFC 1350): a socket of its own, on the address the request came to.
    let sock = match UdpSocket::bind(SocketAddr::new(local_ip, 0)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "TFTP transfer socket");
            return;
        }
    };
    if let Err(e) = sock.connect(peer).await {
        tracing::warn!(error = %e, "TFTP transfer socket");
        return;
    }
    let mut source = match front
        .fetch(&req.name, peer.ip(), ivm_provision::Via::Tftp, None)
        .await
    {
        Ok(Served::Generated(r)) => Source::Memory(r.body.into_bytes(), 0),
        Ok(Served::File(path, size)) => {
            match tokio::task::spawn_blocking(move || File::open(path)).await {
                Ok(Ok(f)) => Source::File(ChunkedFile::new(f, size)),
                _ => {
                    send_error(
                        &sock,
                        ErrorCode::FileNotFound,
                        ErrorCode::FileNotFound.text(),
                    )
                    .await;
                    return;
                }
            }
        }
        Err(e) => {
            let (code, text) = match &e {
                FetchError::NotFound | FetchError::Unassigned => {
                    (ErrorCode::FileNotFound, ErrorCode::FileNotFound.text())
                }
                // TFTP cannot authenticate: whatever needs a credential is refused here.
                FetchError::Forbidden
                | FetchError::Unauthorized { .. }
                | FetchError::TooManyAttempts { .. } => (
                    ErrorCode::AccessViolation,
                    ErrorCode::AccessViolation.text(),
                ),
                FetchError::Internal(_) => (ErrorCode::Undefined, "internal error"),
            };
            tracing::info!(error = %e, "TFTP request refused");
            send_error(&sock, code, text).await;
            return;
        }
    };
    let started = Instant::now();
    let mut core = Transfer::new(&req, source.size(), &LIMITS);
    let mut out = Vec::with_capacity(4 + core.block_size());
    let mut rx = [0u8; 1024];
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    // The timer is armed no later than the core's deadline and re-armed when it fires early.
    let mut armed: Option<Instant> = None;
    // Made once: a fresh `cancelled()` per packet would register a waiter under a lock.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        if let Err(e) = source.feed(&mut core) {
            tracing::warn!(error = %e, "TFTP read");
            core.abort(ErrorCode::Undefined, "read error");
        }
        let now = Instant::now();
        while core.poll_transmit(now, &mut out) {
            if let Err(e) = sock.send(&out).await {
                tracing::info!(error = %e, "TFTP send");
                core.abort(ErrorCode::Undefined, "send failed");
                break;
            }
        }
        match core.state() {
            State::Running => {}
            State::Done => {
                tracing::info!(
                    bytes = core.acked_bytes(),
                    blksize = core.block_size(),
                    resent = core.resent(),
                    ms = started.elapsed().as_millis() as u64,
                    "TFTP transfer done"
                );
                break;
            }
            State::Failed(f) => {
                tracing::info!(
                    reason = %f,
                    bytes = core.acked_bytes(),
                    resent = core.resent(),
                    "TFTP transfer ended early"
                );
                break;
            }
        }
        if let Some(d) = core.poll_timeout() {
            if armed.is_none_or(|a| d < a) {
                sleep.as_mut().reset(d.into());
                armed = Some(d);
            }
        }
        let waits_for_file = core.wants() > 0 && source.waiting();
        tokio::select! {
            biased;
            () = &mut cancelled => core.abort(ErrorCode::Undefined, "server shutting down"),
            r = sock.recv(&mut rx) => match r {
                Ok(n) => core.handle(Instant::now(), &rx[..n]),
                // ICMP port unreachable: the client is gone.
                Err(e) => {
                    tracing::info!(error = %e, bytes = core.acked_bytes(), "TFTP client gone");
                    break;
                }
            },
            r = source.next_chunk(), if waits_for_file => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "TFTP read");
                    core.abort(ErrorCode::Undefined, "read error");
                }
            }
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                core.handle_timeout(Instant::now());
            }
        }
    }
}

async fn send_error(sock: &UdpSocket, code: ErrorCode, text: &str) {
    let mut p = Vec::new();
    packet::encode_error(code as u16, text, &mut p);
    let _ = sock.send(&p).await;
}

/// Where a transfer's bytes come from.
enum Source {
    /// A generated file and how much of it the core has taken.
    Memory(Vec<u8>, usize),
    /// A firmware file.
    File(ChunkedFile),
}

impl Source {
    fn size(&self) -> u64 {
        match self {
            Source::Memory(v, _) => v.len() as u64,
            Source::File(f) => f.size,
        }
    }

    /// Feeds the core what is at hand.
    fn feed(&mut self, core: &mut Transfer) -> io::Result<()> {
        match self {
            Source::Memory(v, pos) => {
                *pos += core.feed(&v[*pos..]);
                Ok(())
            }
            Source::File(f) => f.feed(core),
        }
    }

    /// Nothing at hand, a read under way.
    fn waiting(&self) -> bool {
        match self {
            Source::Memory(..) => false,
            Source::File(f) => f.pos == f.cur.len() && f.ahead.is_some(),
        }
    }

    /// Waits for the read under way (cancel-safe: the read goes on if this is dropped).
    async fn next_chunk(&mut self) -> io::Result<()> {
        match self {
            Source::Memory(..) => Ok(()),
            Source::File(f) => f.next_chunk().await,
        }
    }
}

/// A file read [`READ_CHUNK`] bytes at a time with `pread` on the blocking pool, one chunk
/// ahead: a transfer hops threads once per chunk rather than once per block, and holds at
/// most two chunks.
struct ChunkedFile {
    file: Arc<File>,
    /// The size when it was opened; a file that shrinks since is a read error.
    size: u64,
    /// Offset of the next chunk to ask for.
    next: u64,
    cur: Vec<u8>,
    pos: usize,
    ahead: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

impl ChunkedFile {
    fn new(file: File, size: u64) -> Self {
        let mut f = ChunkedFile {
            file: Arc::new(file),
            size,
            next: 0,
            cur: Vec::new(),
            pos: 0,
            ahead: None,
        };
        f.read_ahead();
        f
    }

    fn read_ahead(&mut self) {
        if self.next >= self.size {
            return;
        }
        let file = Arc::clone(&self.file);
        let at = self.next;
        let len = READ_CHUNK.min((self.size - at) as usize);
        self.next += len as u64;
        self.ahead = Some(tokio::task::spawn_blocking(move || {
            let mut v = vec![0u8; len];
            let mut n = 0;
            while n < len {
                match file.read_at(&mut v[n..], at + n as u64) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shorter than when opened",
                        ))
                    }
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(v)
        }));
    }

    /// Feeds the core from the current chunk, taking the next one if it is already read.
    fn feed(&mut self, core: &mut Transfer) -> io::Result<()> {
        loop {
            if core.wants() == 0 {
                return Ok(());
            }
            if self.pos < self.cur.len() {
                self.pos += core.feed(&self.cur[self.pos..]);
                continue;
            }
            match &self.ahead {
                Some(h) if h.is_finished() => {}
                _ => return Ok(()),
            }
            // Finished: this does not wait (it may still say "not yet" when the task's
            // cooperative budget is spent; then the transfer loop waits for it).
            let Some(mut h) = self.ahead.take() else {
                return Ok(());
            };
            match futures_util::FutureExt::now_or_never(&mut h) {
                Some(chunk) => self.take(chunk)?,
                None => {
                    self.ahead = Some(h);
                    return Ok(());
                }
            }
        }
    }

    async fn next_chunk(&mut self) -> io::Result<()> {
        let Some(h) = self.ahead.as_mut() else {
            return Ok(());
        };
        let chunk = h.await;
        self.ahead = None;
        self.take(chunk)
    }

    fn take(
        &mut self,
        chunk: Result<io::Result<Vec<u8>>, tokio::task::JoinError>,
    ) -> io::Result<()> {
        self.cur = chunk.map_err(io::Error::other)??;
        self.pos = 0;
        self.read_ahead();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_tftp::packet::Mode;

    /// Feeds a core straight from a `ChunkedFile`, as the transfer loop does, block by block.
    async fn read_all(len: usize, block: &str) -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "ivm-tftp-chunk-{}-{len}-{block}",
            std::process::id()
        ));
        std::fs::write(&path, &data).expect("write");
        let mut src = Source::File(ChunkedFile::new(
            File::open(&path).expect("open"),
            len as u64,
        ));
        let req = Request {
            write: false,
            name: "f".into(),
            mode: Mode::Octet,
            options: vec![("blksize".into(), block.into())],
        };
        let mut core = Transfer::new(&req, len as u64, &LIMITS);
        let now = Instant::now();
        let mut out = Vec::new();
        let mut got = Vec::new();
        assert!(core.poll_transmit(now, &mut out), "OACK");
        core.handle(now, b"\x00\x04\x00\x00");
        while core.state() == &State::Running {
            src.feed(&mut core).expect("feed");
            if core.poll_transmit(now, &mut out) {
                got.extend_from_slice(&out[4..]);
                let mut ack = Vec::new();
                packet::encode_ack(u16::from_be_bytes([out[2], out[3]]), &mut ack);
                core.handle(now, &ack);
            } else {
                assert!(src.waiting(), "stalled without a read under way");
                src.next_chunk().await.expect("chunk");
            }
        }
        let _ = std::fs::remove_file(&path);
        (data, got)
    }

    #[tokio::test]
    async fn chunked_file_reads_every_byte_once() {
        for len in [
            0,
            1,
            1468,
            READ_CHUNK - 1,
            READ_CHUNK,
            READ_CHUNK + 1,
            3 * READ_CHUNK + 777,
        ] {
            for block in ["512", "1468", "8192"] {
                let (want, got) = read_all(len, block).await;
                assert_eq!(got.len(), want.len(), "len {len} block {block}");
                assert!(got == want, "content differs: len {len} block {block}");
            }
        }
    }
}
