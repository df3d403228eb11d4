//! The box's TFTP server: read-only, serving generated per-phone files and the firmware
//! folder through [`ivm_actors::provisioning::ProvisionFront`].
//!
//! # Layout
//! - [`TftpService`]: an engine [`Service`]; a socket bound by the caller (so a port in use is
//!   reported before the box says it is ready) and async-tftp's server, which does the
//!   protocol: RFC 1350 transfers, option negotiation (RFC 2347), blksize (2348, clamped to
//!   [`MAX_BLOCK_SIZE`]), timeout and tsize (2349), windowsize (7440, up to
//!   [`MAX_WINDOW_SIZE`]).
//! - `Front`: async-tftp's `Handler`, which asks the front for the file and refuses every
//!   write with a TFTP error.
//! - `ChunkedFile`: a firmware file read in [`READ_CHUNK`] pieces on the blocking pool, the
//!   next piece read ahead while the current one is sent, so a transfer hops threads once per
//!   chunk rather than once per block and holds at most two chunks in memory.
//!
//! # Run loop
//! ```text
//! thread "tftp": serve() (async-tftp: one task per transfer, on its own executor)
//!                raced against the shutdown token
//! ```
//! async-tftp runs every transfer on its own executor inside `serve()`, so it gets a thread of
//! its own rather than a tokio worker: a burst of firmware downloads then cannot hold up the
//! tokio workers that serve SIP and HTTP, and its wake-ups go to one parked thread instead of
//! through tokio's scheduler.

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use futures_util::future::BoxFuture;
use ivm_actors::engine::Service;
use ivm_actors::provisioning::{FetchError, ProvisionFront, Served};
use tokio_util::sync::CancellationToken;

/// Largest block size granted (a phone asking for more gets this).
pub const MAX_BLOCK_SIZE: u16 = 8192;
/// Largest window granted.
pub const MAX_WINDOW_SIZE: u16 = 64;

/// How much of a firmware file one blocking read fetches.
pub const READ_CHUNK: usize = 128 * 1024;

type Reader = Box<dyn futures_lite::AsyncRead + Unpin + Send>;

type ChunkTask = blocking::Task<io::Result<Vec<u8>>>;

/// A file read `READ_CHUNK` bytes at a time with `pread` on the blocking pool, one chunk ahead.
struct ChunkedFile {
    file: Arc<File>,
    /// Offset of the next chunk to ask for.
    next: u64,
    buf: Vec<u8>,
    pos: usize,
    ahead: Option<ChunkTask>,
    eof: bool,
}

impl ChunkedFile {
    fn new(file: File) -> Self {
        let mut f = Self {
            file: Arc::new(file),
            next: 0,
            buf: Vec::new(),
            pos: 0,
            ahead: None,
            eof: false,
        };
        f.ahead = Some(f.read_next());
        f
    }

    fn read_next(&mut self) -> ChunkTask {
        let file = Arc::clone(&self.file);
        let at = self.next;
        self.next += READ_CHUNK as u64;
        blocking::unblock(move || {
            let mut v = vec![0u8; READ_CHUNK];
            let mut n = 0;
            while n < v.len() {
                match file.read_at(&mut v[n..], at + n as u64) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            v.truncate(n);
            Ok(v)
        })
    }
}

impl futures_lite::AsyncRead for ChunkedFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.pos < this.buf.len() {
                let n = out.len().min(this.buf.len() - this.pos);
                out[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(n));
            }
            if this.eof {
                return Poll::Ready(Ok(0));
            }
            let Some(task) = this.ahead.as_mut() else {
                return Poll::Ready(Ok(0));
            };
            let chunk = match Pin::new(task).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            this.ahead = None;
            let chunk = chunk?;
            // A short chunk is the end of the file (the size was taken when it was opened).
            if chunk.len() < READ_CHUNK {
                this.eof = true;
            } else {
                this.ahead = Some(this.read_next());
            }
            this.buf = chunk;
            this.pos = 0;
        }
    }
}

struct Front(Arc<ProvisionFront>);

impl Handler for Front {
    type Reader = Reader;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Reader, Option<u64>), packet::Error> {
        let Some(name) = path.to_str() else {
            return Err(packet::Error::FileNotFound);
        };
        match self.0.fetch(name, client.ip(), "tftp", None).await {
            Ok(Served::Generated(r)) => {
                let body = r.body.into_bytes();
                let len = body.len() as u64;
                Ok((Box::new(futures_lite::io::Cursor::new(body)), Some(len)))
            }
            Ok(Served::File(path, size)) => match File::open(&path) {
                Ok(f) => Ok((Box::new(ChunkedFile::new(f)), Some(size))),
                Err(_) => Err(packet::Error::FileNotFound),
            },
            Err(FetchError::NotFound | FetchError::Unassigned) => Err(packet::Error::FileNotFound),
            Err(FetchError::Forbidden | FetchError::Unauthorized) => {
                Err(packet::Error::PermissionDenied)
            }
            Err(FetchError::Internal(m)) => Err(packet::Error::Msg(m)),
        }
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        tracing::info!(peer = %client, name = %path.display(), "TFTP write refused");
        Err(packet::Error::IllegalOperation)
    }
}

/// The TFTP server as the engine runs it.
pub struct TftpService {
    socket: UdpSocket,
    front: Arc<ProvisionFront>,
}

impl TftpService {
    /// Binds `addr` (call before the engine starts, to report a port in use).
    pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(addr)
    }

    /// A service over a bound socket.
    pub fn new(socket: UdpSocket, front: Arc<ProvisionFront>) -> Self {
        Self { socket, front }
    }
}

impl Service for TftpService {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            // The database actor and tracing are reached from the thread as from a worker.
            let rt = tokio::runtime::Handle::current();
            let Self { socket, front } = *self;
            let thread = std::thread::Builder::new()
                .name("tftp".into())
                .spawn(move || {
                    let _rt = rt.enter();
                    futures_lite::future::block_on(serve(socket, front, shutdown));
                    let _ = done_tx.send(());
                });
            if let Err(e) = thread {
                tracing::error!(error = %e, "TFTP thread not started");
                return;
            }
            let _ = done_rx.await;
            tracing::info!("TFTP server stopped");
        })
    }
}

/// async-tftp's server over `socket` until `shutdown` (runs on the "tftp" thread).
async fn serve(socket: UdpSocket, front: Arc<ProvisionFront>, shutdown: CancellationToken) {
    let builder = match TftpServerBuilder::with_handler(Front(front)).std_socket(socket) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "TFTP socket unusable");
            return;
        }
    };
    let server = match builder
        .block_size_limit(MAX_BLOCK_SIZE)
        .window_size_limit(MAX_WINDOW_SIZE)
        .build()
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "TFTP server failed to start");
            return;
        }
    };
    let stop = async {
        shutdown.cancelled().await;
        Ok(())
    };
    if let Err(e) = futures_lite::future::or(server.serve(), stop).await {
        tracing::error!(error = %e, "TFTP server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::AsyncReadExt;

    fn read_all(len: usize, step: usize) -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let path =
            std::env::temp_dir().join(format!("ivm-tftp-chunk-{}-{len}", std::process::id()));
        std::fs::write(&path, &data).expect("write");
        let mut r = ChunkedFile::new(File::open(&path).expect("open"));
        let mut got = Vec::new();
        let mut block = vec![0u8; step];
        futures_lite::future::block_on(async {
            loop {
                let n = r.read(&mut block).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&block[..n]);
            }
        });
        let _ = std::fs::remove_file(&path);
        (data, got)
    }

    #[test]
    fn chunked_file_reads_every_byte_once() {
        for len in [
            0,
            1,
            1468,
            READ_CHUNK - 1,
            READ_CHUNK,
            READ_CHUNK + 1,
            3 * READ_CHUNK + 777,
        ] {
            for step in [512, 1468, 8192] {
                let (want, got) = read_all(len, step);
                assert_eq!(got.len(), want.len(), "len {len} step {step}");
                assert!(got == want, "content differs: len {len} step {step}");
            }
        }
    }
}
