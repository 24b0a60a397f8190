//! A keep-alive HTTP/1.1 connection pool for plain-`http://` upstreams (local model servers),
//! whose connections are driven inside the task of the request using them.
//!
//! Why not reqwest here (ADR 0004): hyper's client hands a response body over one chunk per
//! wake-up of a separate connection task, so a relayed stream cost one write(2) per chunk and
//! every request paid reqwest's redirect/retry layers and a URL re-parse. Polling the
//! connection from the request's own task lets every chunk already read flow out in one write,
//! and the per-request path shrinks to hyper itself. TLS upstreams (cloud APIs) keep reqwest.
//!
//! Owns: connecting, reusing and discarding connections. Must not interpret requests.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{Connection, SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

// The connection is boxed: it is ~600 bytes, and a request moves its lease several times.
struct Idle {
    tx: SendRequest<Full<Bytes>>,
    conn: Box<Conn>,
    since: Instant,
}

/// A reused connection that fails this soon after the request went out, with no byte of
/// answer, was closed by the server while idle (it never read the request): resend once.
/// A later failure may mean the server read it and died while generating: no resend.
const STALE_WINDOW: Duration = Duration::from_millis(250);

/// Idle connections to one `host:port`.
pub(crate) struct H1Pool {
    authority: String,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

/// Why a request got no response head.
#[derive(Debug)]
pub(crate) struct SendError {
    pub message: String,
    /// It was the connect timeout.
    pub timeout: bool,
}

/// A connection taken from the pool for one request.
struct Lease {
    tx: SendRequest<Full<Bytes>>,
    conn: Box<Conn>,
    conn_done: bool,
    reused: bool,
}

impl H1Pool {
    pub(crate) fn new(
        authority: String,
        max_idle: usize,
        idle_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            authority,
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            connect_timeout,
        }
    }

    /// An idle connection that is still open, else a new one.
    async fn checkout(&self) -> Result<Lease, SendError> {
        loop {
            let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(mut i) = idle else { break };
            // Idle too long (`pool.idle_timeout`), or closed by the server while idle (its
            // future completes when polled): drop it.
            if i.since.elapsed() > self.idle_timeout || i.tx.is_closed() || poll_once(&mut i.conn) {
                continue;
            }
            return Ok(Lease {
                tx: i.tx,
                conn: i.conn,
                conn_done: false,
                reused: true,
            });
        }
        Box::pin(self.connect()).await
    }

    async fn connect(&self) -> Result<Lease, SendError> {
        let fail = |message: String| SendError {
            message,
            timeout: false,
        };
        let tcp =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.authority))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(fail(format!("connection failed: {e}"))),
                Err(_) => {
                    return Err(SendError {
                        message: format!(
                            "connection failed: no answer within {} (timeouts.connect)",
                            humantime::format_duration(self.connect_timeout)
                        ),
                        timeout: true,
                    });
                }
            };
        let _ = tcp.set_nodelay(true);
        let (tx, conn) = handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| fail(format!("connection failed: {e}")))?;
        Ok(Lease {
            tx,
            conn: Box::new(conn),
            conn_done: false,
            reused: false,
        })
    }

    fn checkin(&self, lease: Lease) {
        if lease.conn_done || !lease.tx.is_ready() {
            return;
        }
        if let Ok(mut v) = self.idle.lock()
            && v.len() < self.max_idle
        {
            v.push(Idle {
                tx: lease.tx,
                conn: lease.conn,
                since: Instant::now(),
            });
        }
    }

    /// Send `req` and wait for the response head. A reused connection that fails before the
    /// answer starts is retried once on a fresh one (see `exchange`).
    pub(crate) async fn send(
        self: &Arc<Self>,
        make: impl Fn() -> http::Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, H1Body), SendError> {
        let lease = self.checkout().await?;
        match Box::pin(exchange(lease, make())).await {
            Ok((parts, body, lease)) => Ok((parts, H1Body::new(body, lease, self.clone()))),
            Err(Failed { error, resend }) => {
                let again = match resend {
                    Resend::Unsent(req) => Some(*req),
                    Resend::Stale => Some(make()),
                    Resend::No => None,
                };
                let Some(req) = again else { return Err(error) };
                let lease = Box::pin(self.connect()).await?;
                Box::pin(exchange(lease, req))
                    .await
                    .map(|(parts, body, lease)| (parts, H1Body::new(body, lease, self.clone())))
                    .map_err(|f| f.error)
            }
        }
    }
}

/// Poll a connection once without a waker: true if it has finished (closed or failed).
fn poll_once(conn: &mut Conn) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(conn).poll(&mut cx).is_ready()
}

/// Whether a failed request may go out again on a fresh connection.
enum Resend {
    /// hyper never wrote it: always safe.
    Unsent(Box<http::Request<Full<Bytes>>>),
    /// A reused connection failed at once, with no answer: the server had closed it.
    Stale,
    No,
}

struct Failed {
    error: SendError,
    resend: Resend,
}

/// Drive the connection and the response future together until the head arrives.
async fn exchange(
    mut lease: Lease,
    req: http::Request<Full<Bytes>>,
) -> Result<(http::response::Parts, Incoming, Lease), Failed> {
    let sent_at = Instant::now();
    let mut fut = std::pin::pin!(lease.tx.try_send_request(req));
    let res = poll_fn(|cx| {
        if !lease.conn_done && Pin::new(&mut lease.conn).poll(cx).is_ready() {
            lease.conn_done = true;
        }
        fut.as_mut().poll(cx)
    })
    .await;
    match res {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            Ok((parts, body, lease))
        }
        Err(mut e) => {
            let resend = match e.take_message() {
                Some(req) => Resend::Unsent(Box::new(req)),
                None if lease.reused && sent_at.elapsed() < STALE_WINDOW => Resend::Stale,
                None => Resend::No,
            };
            Err(Failed {
                error: SendError {
                    message: format!("request failed: {}", e.error()),
                    timeout: false,
                },
                resend,
            })
        }
    }
}

/// A response body that keeps its connection going and returns it to the pool at its end.
pub(crate) struct H1Body {
    body: Incoming,
    lease: Option<Lease>,
    pool: Arc<H1Pool>,
}

impl H1Body {
    fn new(body: Incoming, lease: Lease, pool: Arc<H1Pool>) -> Self {
        Self {
            body,
            lease: Some(lease),
            pool,
        }
    }
}

impl Stream for H1Body {
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(l) = this.lease.as_mut()
                && !l.conn_done
                && Pin::new(&mut l.conn).poll(cx).is_ready()
            {
                l.conn_done = true;
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    _ => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.lease = None;
                    return Poll::Ready(Some(Err(e.to_string())));
                }
                Poll::Ready(None) => {
                    if let Some(mut l) = this.lease.take() {
                        // Let the connection settle into idle before it is reused.
                        if !l.conn_done && Pin::new(&mut l.conn).poll(cx).is_ready() {
                            l.conn_done = true;
                        }
                        this.pool.checkin(l);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
