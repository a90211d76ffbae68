//! A pool of SMTP connections with Nagle's algorithm off.
//!
//! lettre's own pool opens its sockets without `TCP_NODELAY`, and lettre writes a message's
//! body and its closing `<CRLF>.<CRLF>` as two writes: the second then waits for the
//! server's delayed ACK, 40 ms on Linux, on every message (lettre/lettre#1159, merged
//! upstream after 0.11.23, the newest release here). That caps one connection at about 25
//! messages a second. This pool opens the socket itself, sets `TCP_NODELAY`, and hands it
//! to lettre's connection (`connect_with_transport`), which then speaks SMTP, STARTTLS and
//! AUTH as before. Connections idle for more than half a second are checked with `NOOP` before reuse, as
//! lettre's pool does.
//!
//! Implicit TLS (`smtps://`) still goes through lettre's own transport; use STARTTLS on
//! port 587 (`smtp://…?tls=required`) for full speed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Semaphore;

use crate::SendError;

/// How encryption is set up after connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartTls {
    Never,
    IfOffered,
    Required,
}

/// Where and how to connect: parsed from an `smtp://` URL with the same meaning lettre's
/// `from_url` gives it (port 25 without `tls`, 587 with `tls=required|opportunistic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    host: String,
    port: u16,
    starttls: StartTls,
    user: Option<(String, String)>,
}

impl Server {
    /// The server of an `smtp://` URL; `None` for other schemes.
    pub(crate) fn parse(url: &str) -> Result<Option<Self>, SendError> {
        let bad = |why: String| SendError::Permanent(format!("invalid SMTP URL: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "smtp" {
            return Ok(None);
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("no host".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let starttls = match tls.as_deref() {
            None => StartTls::Never,
            Some("required") => StartTls::Required,
            Some("opportunistic") => StartTls::IfOffered,
            Some(other) => {
                return Err(bad(format!(
                    "tls={other}; use tls=required or tls=opportunistic"
                )));
            }
        };
        let port = parsed
            .port()
            .unwrap_or(if starttls == StartTls::Never { 25 } else { 587 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = (!parsed.username().is_empty()).then(|| {
            (
                decode(parsed.username()),
                decode(parsed.password().unwrap_or_default()),
            )
        });
        Ok(Some(Self {
            host,
            port,
            starttls,
            user,
        }))
    }
}

/// Up to `max` open connections to one server, idle ones kept for reuse.
pub(crate) struct Pool {
    server: Server,
    timeout: Duration,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    open: Semaphore,
}

/// How long an idle connection is kept; servers close idle sessions after a few minutes.
const IDLE: Duration = Duration::from_secs(60);
/// A connection idle for less than this is reused without a `NOOP` first.
const FRESH: Duration = Duration::from_millis(500);

impl Pool {
    pub(crate) fn new(server: Server, max: usize, timeout: Duration) -> Self {
        Self {
            server,
            timeout,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            open: Semaphore::new(max),
        }
    }

    /// Sends one message; returns once the server has accepted it.
    pub(crate) async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let _permit = self
            .open
            .acquire()
            .await
            .map_err(|_| SendError::Transient("the SMTP pool is closed".into()))?;
        let mut conn = match self.reuse().await {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match tokio::time::timeout(self.timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => {
                self.idle
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((conn, Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => {
                conn.abort().await;
                Err(if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                })
            }
            Err(_) => Err(SendError::Transient(format!(
                "the SMTP server did not answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    /// An idle connection that still answers `NOOP`.
    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()?;
            let idle = since.elapsed();
            // A connection that just delivered a message is trusted without a round trip.
            if idle < FRESH && !conn.has_broken() {
                return Some(conn);
            }
            if idle < IDLE && !conn.has_broken() && conn.test_connected().await {
                return Some(conn);
            }
            conn.abort().await;
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Transient(format!(
                "{what} {}:{}: {e}",
                self.server.host, self.server.port
            ))
        };
        let open = async {
            let tcp = tokio::net::TcpStream::connect((self.server.host.as_str(), self.server.port))
                .await
                .map_err(|e| transient("could not connect to", &e))?;
            tcp.set_nodelay(true)
                .map_err(|e| transient("could not set TCP_NODELAY towards", &e))?;
            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                .await
                .map_err(|e| transient("no SMTP greeting from", &e))?;
            if self.server.starttls != StartTls::Never
                && (conn.can_starttls() || self.server.starttls == StartTls::Required)
            {
                let params = TlsParameters::new(self.server.host.clone())
                    .map_err(|e| SendError::Permanent(format!("TLS set-up: {e}")))?;
                conn.starttls(params, &self.hello)
                    .await
                    .map_err(|e| transient("STARTTLS failed with", &e))?;
            }
            if let Some((user, password)) = &self.server.user {
                conn.auth(
                    &[Mechanism::Plain, Mechanism::Login],
                    &Credentials::new(user.clone(), password.clone()),
                )
                .await
                .map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(format!("SMTP login refused: {e}"))
                    } else {
                        transient("SMTP login failed at", &e)
                    }
                })?;
            }
            Ok(conn)
        };
        tokio::time::timeout(self.timeout, open)
            .await
            .map_err(|_| transient("timed out connecting to", &"no answer"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_mean_what_lettre_makes_of_them() {
        let plain = Server::parse("smtp://127.0.0.1:2525").unwrap().unwrap();
        assert_eq!((plain.port, plain.starttls), (2525, StartTls::Never));
        assert_eq!(
            Server::parse("smtp://mail.example").unwrap().unwrap().port,
            25
        );
        let submission = Server::parse("smtp://us%40r:p%3Ass@mail.example?tls=required")
            .unwrap()
            .unwrap();
        assert_eq!(submission.port, 587);
        assert_eq!(submission.starttls, StartTls::Required);
        assert_eq!(
            submission.user,
            Some(("us@r".to_string(), "p:ss".to_string()))
        );
        assert_eq!(Server::parse("smtps://mail.example").unwrap(), None);
        assert!(
            Server::parse("smtp://mail.example?tls=always")
                .unwrap_err()
                .to_string()
                .contains("tls=always")
        );
    }
}
