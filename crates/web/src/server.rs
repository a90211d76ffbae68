//! The HTTP server's own accept loop, so that no client can hold the server down (issue 19).
//!
//! `axum::serve` keeps every connection for as long as the client likes: a client that sends
//! half a request line, or one byte every ten seconds, holds a file descriptor for ever, and a
//! thousand of them stop the server accepting anyone. Here each connection is served by
//! hyper's HTTP/1 connection with a timer, and:
//!
//! - the request head must arrive within `header_timeout_seconds` — this also closes a
//!   keep-alive connection that sits idle between requests for that long;
//! - a request (reading its body and answering it) must finish within
//!   `request_timeout_seconds`, or the client gets 408 problem+json;
//! - a connection lives at most `max_connection_seconds`, then is asked to close after the
//!   request in flight (a client that never reads its answer cannot keep it);
//! - at most `max_connections` connections are open at once, and at most
//!   `max_connections_per_client` from one address (one IPv6 /64), except from the
//!   `trusted_proxies`, which carry many clients. A connection over either cap gets a short
//!   `503` with `Retry-After` and is closed, so the caller knows why;
//! - on shutdown the listener closes, open connections finish the request in flight and
//!   close, and the server waits for them a bounded time.
//!
//! The open-connection table is keyed by client address and holds only addresses with an
//! open connection, so it is bounded by `max_connections`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tracing::{debug, warn};

/// `[server]`: how long and how many connections the server keeps (issue 19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Open connections at once (default 2,048; the server raises its open-file limit to
    /// fit, or takes fewer if it cannot). An eighth is kept for the trusted proxies.
    pub max_connections: usize,
    /// Open connections from one client address (default 32); trusted proxies are exempt.
    pub max_connections_per_client: usize,
    /// Seconds a client has to send a request's head, also between keep-alive requests
    /// (default 10).
    pub header_timeout_seconds: u64,
    /// Seconds to read a request's body and answer it (default 30).
    pub request_timeout_seconds: u64,
    /// Seconds a connection may stay open in all (default 300).
    pub max_connection_seconds: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 2048,
            max_connections_per_client: 32,
            header_timeout_seconds: 10,
            request_timeout_seconds: 30,
            max_connection_seconds: 300,
        }
    }
}

impl ServerLimits {
    /// Checks the limits are usable; names the key that is not.
    pub fn check(&self) -> Result<(), aftercare_domain::FieldError> {
        use aftercare_domain::FieldError;
        if !(1..=100_000).contains(&self.max_connections) {
            return Err(FieldError::new(
                "server.max_connections",
                "must be between 1 and 100000",
            ));
        }
        if self.max_connections_per_client == 0 {
            return Err(FieldError::new(
                "server.max_connections_per_client",
                "must be at least 1",
            ));
        }
        for (field, value) in [
            ("server.header_timeout_seconds", self.header_timeout_seconds),
            (
                "server.request_timeout_seconds",
                self.request_timeout_seconds,
            ),
            ("server.max_connection_seconds", self.max_connection_seconds),
        ] {
            if !(1..=86_400).contains(&value) {
                return Err(FieldError::new(field, "must be between 1 and 86400"));
            }
        }
        Ok(())
    }
}

/// How long open connections get to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Refusals being written at once; past that a connection over the cap is simply closed.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// Open connections per client address; an address leaves the table with its last one.
#[derive(Debug, Default)]
struct ClientCounts {
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    by_client: HashMap<IpAddr, usize>,
    total: usize,
}

/// One open connection counted against its client; uncounted when dropped.
struct ClientSlot {
    counts: Arc<ClientCounts>,
    client: IpAddr,
}

impl ClientCounts {
    /// Counts a connection of `client`, unless it has `cap` open already or all clients
    /// together have `total_cap`.
    fn enter(self: &Arc<Self>, client: IpAddr, cap: usize, total_cap: usize) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= total_cap {
            return None;
        }
        let n = open.by_client.entry(client).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        open.total += 1;
        Some(ClientSlot {
            counts: self.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

/// The address a client is counted by: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network), so rotating addresses inside it gains nothing.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// `wanted` connections, or as many as the process's open-file limit allows with room for
/// the database, SMTP and files: the soft limit is raised towards the hard one first.
fn fit_open_files(wanted: usize) -> usize {
    const SPARE: u64 = 128;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return wanted;
    }
    let needed = wanted as u64 + SPARE;
    if limit.rlim_cur < needed && limit.rlim_max > limit.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: needed.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    let fits = usize::try_from(limit.rlim_cur.saturating_sub(SPARE)).unwrap_or(usize::MAX);
    if fits < wanted {
        warn!(
            wanted,
            fits, "The open-file limit allows fewer connections than [server] max_connections."
        );
    }
    wanted.min(fits).max(1)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    trusted_proxies: Vec<ipnet::IpNet>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut limits = limits;
    limits.max_connections = fit_open_files(limits.max_connections);
    // Clients other than the trusted proxies may hold all but an eighth of the slots, so a
    // few addresses that fill their shares cannot lock out the shop behind its proxy.
    let untrusted_cap = limits.max_connections - limits.max_connections / 8;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let clients = Arc::new(ClientCounts::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment instead of spinning, then go on.
                    warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(
                stream,
                &refusals,
                "the server has as many connections open as it takes",
            );
            continue;
        };
        let client_slot = if trusted_proxies.iter().any(|n| n.contains(&peer.ip())) {
            None
        } else {
            match clients.enter(
                client_key(peer.ip()),
                limits.max_connections_per_client,
                untrusted_cap,
            ) {
                Some(s) => Some(s),
                None => {
                    debug!(%peer, "Refused a connection over the per-client cap.");
                    refuse(
                        stream,
                        &refusals,
                        "this client has as many connections open as it may",
                    );
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop_rx.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, app, &limits, stop).await;
            drop(client_slot);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: &ServerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_seconds))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, error = %e, "Connection ended with an error.");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
        () = tokio::time::sleep(Duration::from_secs(limits.max_connection_seconds)) => {
            debug!(%peer, "Closing a connection that has been open long enough.");
        }
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
}

/// Answers a connection over a cap with `503` and closes it, within a second.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>, why: &str) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return; // dropping the stream closes it
    };
    let body = serde_json::json!({
        "type": "https://aftercare.dev/problems/too_many_connections",
        "title": "Too many connections",
        "status": 503,
        "detail": format!("{why}; try again in a few seconds"),
        "code": "too_many_connections",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
        drop(permit);
    });
}

/// The request deadline: a request not read and answered within the limit gets 408.
pub async fn request_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::error::ApiError::Timeout(limit.as_secs()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::7".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.4".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_client_table_forgets_an_address_with_its_last_connection() {
        let counts = Arc::new(ClientCounts::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = counts.enter(ip, 2, 10).unwrap();
        let second = counts.enter(ip, 2, 10).unwrap();
        assert!(counts.enter(ip, 2, 10).is_none(), "a third is over the cap");
        drop(first);
        assert!(counts.enter(ip, 2, 10).is_some_and(|s| {
            drop(s);
            true
        }));
        drop(second);
        let open = counts.open.lock().unwrap();
        assert!(open.by_client.is_empty() && open.total == 0);
    }

    #[test]
    fn clients_together_leave_the_proxies_their_share() {
        let counts = Arc::new(ClientCounts::default());
        let held: Vec<_> = (1..=3u8)
            .map(|i| counts.enter(IpAddr::from([192, 0, 2, i]), 2, 3).unwrap())
            .collect();
        assert!(
            counts.enter(IpAddr::from([192, 0, 2, 9]), 2, 3).is_none(),
            "all clients together are at their cap"
        );
        drop(held);
    }

    #[test]
    fn limits_name_the_key_that_is_wrong() {
        let limits = ServerLimits {
            header_timeout_seconds: 0,
            ..ServerLimits::default()
        };
        assert_eq!(
            limits.check().unwrap_err().field,
            "server.header_timeout_seconds"
        );
        assert!(ServerLimits::default().check().is_ok());
    }
}
