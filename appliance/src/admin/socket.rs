//! The admin socket: one JSON [`AdminRequest`] line in, one [`AdminResponse`] line out.
//!
//! The box binds `<data>/admin.sock` (mode 0600: only its own account, and root, may use it)
//! and publishes it at a well-known path ([`crate::runtime_dir`]) so `ivmd user ...` run from
//! any folder finds it. At stop it removes both, unless they are no longer its own (a
//! restart's new process may already have made them again).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ivm_actors::database::Op;
use ivm_actors::provisioning::ProvisionFront;
use ivm_service::Service;
use ivm_store::{Store, StoreError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::status::{gather, Live};
use super::{apply, AdminContext, AdminRequest, AdminResponse, BoxInfo};
use crate::runtime_dir::Published;

/// Longest request line accepted on the socket.
const MAX_LINE: usize = 64 * 1024;
/// How long `hello` waits for an answer: the box answers it without touching the database.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may take (argon2 for a password, a phone list on a busy box) before
/// the command gives up instead of hanging on a wedged box.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The socket's name, in the data folder and in the runtime folder.
pub const SOCKET_NAME: &str = "admin.sock";

/// The socket's path in the data folder.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET_NAME)
}

/// Sends `req` to the box listening at `socket` and reads its answer. `Ok(None)` when
/// nobody listens there: no such socket, or one left by a box that is gone (a crash). Any
/// other failure (permission denied, no answer in time) is an error.
pub fn call(socket: &Path, req: &AdminRequest) -> std::io::Result<Option<AdminResponse>> {
    call_within(socket, req, CALL_TIMEOUT)
}

/// Asks the box at `socket` who it is ([`AdminRequest::Hello`]); `Ok(None)` as for
/// [`call`].
pub fn hello(socket: &Path) -> std::io::Result<Option<BoxInfo>> {
    match call_within(socket, &AdminRequest::Hello, HELLO_TIMEOUT)? {
        Some(AdminResponse::Hello { info }) => Ok(Some(info)),
        Some(AdminResponse::Error { message }) => Err(std::io::Error::other(format!(
            "the box at {} answered: {message} (an older ivmd?)",
            socket.display()
        ))),
        Some(_) => Err(std::io::Error::other("unexpected answer to hello")),
        None => Ok(None),
    }
}

fn call_within(
    socket: &Path,
    req: &AdminRequest,
    timeout: Duration,
) -> std::io::Result<Option<AdminResponse>> {
    let mut stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// The socket server, run by the engine beside the HTTP service.
pub struct AdminSocket {
    listener: tokio::net::UnixListener,
    front: Arc<ProvisionFront>,
    info: Arc<BoxInfo>,
    live: Live,
    path: PathBuf,
    /// (device, inode) of the socket this process bound: removed at stop only if still so.
    inode: (u64, u64),
    published: Option<Published>,
}

impl AdminSocket {
    /// Binds `<data>/admin.sock` with mode 0600 (removing a stale socket left by a crash;
    /// the data folder's lock says no other box runs on it) and publishes it at the
    /// well-known path. Phone requests flush `front`'s pending sightings first and use its
    /// arming window.
    pub fn bind(
        info: Arc<BoxInfo>,
        live: Live,
        front: Arc<ProvisionFront>,
    ) -> std::io::Result<AdminSocket> {
        use std::os::unix::fs::PermissionsExt;
        let path = socket_path(&info.data_dir);
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let meta = std::fs::metadata(&path)?;
        let published = crate::runtime_dir::publish(&path, info.pid);
        Ok(AdminSocket {
            listener,
            front,
            info,
            live,
            inode: (meta.dev(), meta.ino()),
            path,
            published,
        })
    }

    /// Where the socket is published, when it is.
    pub fn published(&self) -> Option<&Path> {
        self.published.as_ref().map(|p| p.link())
    }
}

/// Answers one request.
async fn answer(
    req: AdminRequest,
    info: &BoxInfo,
    live: &Live,
    front: &ProvisionFront,
) -> AdminResponse {
    match req {
        AdminRequest::Hello => AdminResponse::Hello { info: info.clone() },
        AdminRequest::Status => match gather(info, live).await {
            Ok(status) => AdminResponse::Status { status },
            Err(message) => AdminResponse::Error { message },
        },
        req => {
            if let Err(e) = front.sightings().flush(&live.db).await {
                tracing::warn!(error = %e, "phone sightings not written");
            }
            let ctx = AdminContext {
                arm_window: front.arm_window(),
                provision_url: Some(front.provision_url().to_owned()),
                realm: info.sip_domain.clone(),
                sip_server: info.sip_server.clone(),
                names: live.names.clone(),
            };
            let swap = matches!(
                req,
                AdminRequest::TlsInstall { .. } | AdminRequest::TlsReset
            );
            let list = matches!(req, AdminRequest::GatewayList);
            match live.db.call(Apply { req, ctx, swap }).await {
                Ok(Applied {
                    resp: AdminResponse::Gateways { mut gateways },
                    key: None,
                }) if list => {
                    with_live_state(live, &mut gateways).await;
                    AdminResponse::Gateways { gateways }
                }
                Ok(Applied { resp, key: None }) => resp,
                // A new certificate is served from the next handshake on: no restart.
                Ok(Applied {
                    resp,
                    key: Some(Ok(key)),
                }) => {
                    live.tls.replace(key);
                    resp
                }
                Ok(Applied {
                    key: Some(Err(e)), ..
                }) => AdminResponse::Error {
                    message: format!("stored, but not served until a restart: {e}"),
                },
                Err(e) => AdminResponse::Error {
                    message: e.to_string(),
                },
            }
        }
    }
}

/// Fills in the gateways' live state (up/down, each line's) from the gateway actor; a
/// gateway the actor does not hold yet (added a moment ago) reads `down`.
async fn with_live_state(live: &Live, rows: &mut [super::GatewayRow]) {
    let Some(actor) = &live.gateways else {
        for r in rows.iter_mut() {
            r.state = "off".into();
        }
        return;
    };
    let states = actor
        .send(ivm_actors::gateway::GetGateways)
        .await
        .unwrap_or_default();
    for r in rows.iter_mut() {
        let s = states.iter().find(|s| s.name == r.name);
        r.state = if s.is_some_and(|s| s.up) {
            "up"
        } else {
            "down"
        }
        .into();
        for l in r.lines.iter_mut() {
            if let Some(st) = s.and_then(|s| s.lines.iter().find(|(e, _)| *e == l.endpoint)) {
                l.state = st.1.into();
            }
        }
    }
}

/// An admin request applied on a database thread ([`apply`], as the command line applies it
/// to a stopped box); after a certificate change, the key to serve from now on.
struct Apply {
    req: AdminRequest,
    ctx: AdminContext,
    /// The request may change the certificate: read the stored key back after it.
    swap: bool,
}

/// What [`Apply`] answers.
struct Applied {
    resp: AdminResponse,
    /// After a certificate change: the key to serve, or why it cannot be read.
    key: Option<Result<Arc<rustls::sign::CertifiedKey>, crate::tls::TlsError>>,
}

impl Op for Apply {
    type Output = Applied;
    fn run(self, s: &Store) -> Result<Applied, StoreError> {
        let resp = apply(s, self.req, &self.ctx);
        let key = (self.swap && matches!(resp, AdminResponse::Tls { .. }))
            .then(|| crate::tls::stored_key(s, s.data_dir()));
        Ok(Applied { resp, key })
    }
}

impl Service for AdminSocket {
    fn name(&self) -> &'static str {
        "admin-socket"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let stream = tokio::select! {
                    r = self.listener.accept() => match r {
                        Ok((s, _)) => s,
                        Err(_) => continue,
                    },
                    _ = shutdown.cancelled() => break,
                };
                let (info, live, front) =
                    (self.info.clone(), self.live.clone(), self.front.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    let mut reader = tokio::io::BufReader::new(read).take(MAX_LINE as u64);
                    if reader.read_line(&mut line).await.is_err() {
                        return;
                    }
                    let resp = match serde_json::from_str::<AdminRequest>(&line) {
                        Ok(req) => {
                            if !matches!(req, AdminRequest::Hello) {
                                tracing::info!(op = ?std::mem::discriminant(&req), "admin request");
                            }
                            answer(req, &info, &live, &front).await
                        }
                        Err(e) => AdminResponse::Error {
                            message: format!("bad request: {e}"),
                        },
                    };
                    let mut out = serde_json::to_string(&resp).unwrap_or_default();
                    out.push('\n');
                    let _ = write.write_all(out.as_bytes()).await;
                });
            }
            if let Some(p) = &self.published {
                p.remove();
            }
            let ours =
                std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.inode);
            if ours {
                let _ = std::fs::remove_file(&self.path);
            }
        })
    }
}
