//! Building and sending one email.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::pool::{Pool, Server};
use crate::SendError;

/// A rendered email, ready to send.
#[derive(Debug, Clone)]
pub struct EmailMessage {
    /// Sender display name, e.g. the brand.
    pub from_name: String,
    /// Sender address.
    pub from_address: String,
    /// Reply-To address, if different.
    pub reply_to: Option<String>,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// `Message-ID` header value without angle brackets; stable across retries.
    pub message_id: String,
    /// The `Date` header, from the engine's clock (so virtual time stays coherent).
    pub date: std::time::SystemTime,
    /// The signed one-click unsubscribe URL for non-transactional mail: sent as
    /// `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
    pub list_unsubscribe: Option<String>,
}

/// Sends email through one SMTP server with pooled connections, at most at the provider's
/// rate when one is set.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: Transport,
    url: String,
    limiter: Option<std::sync::Arc<governor::DefaultDirectRateLimiter>>,
    dkim: Option<std::sync::Arc<Dkim>>,
}

/// DKIM signing (RSA-SHA256, relaxed/relaxed): one configuration for mail with the RFC 8058
/// unsubscribe headers — which mailbox providers want covered by the signature — and one for
/// mail without them.
struct Dkim {
    with_unsubscribe: lettre::message::dkim::DkimConfig,
    plain: lettre::message::dkim::DkimConfig,
}

/// What signing needs: the selector and domain published in DNS, and the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    /// The selector (`<selector>._domainkey.<domain>` holds the public key).
    pub selector: String,
    /// The signing domain (`d=`), normally the sender's.
    pub domain: String,
    /// The RSA private key, PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`).
    pub private_key_pem: String,
}

/// `smtp://` servers go through [`Pool`] (Nagle off); `smtps://` through lettre's pool.
#[derive(Clone)]
enum Transport {
    Pooled(std::sync::Arc<Pool>),
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

/// At most this many connections to the server at once, as lettre's pool allows.
const MAX_CONNECTIONS: usize = 10;
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Dkim {
    fn new(settings: &DkimSettings) -> Result<Self, SendError> {
        use lettre::message::dkim::{
            DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
            DkimSigningKey,
        };
        let config = |unsubscribe: bool| -> Result<DkimConfig, SendError> {
            let key = DkimSigningKey::new(&settings.private_key_pem, DkimSigningAlgorithm::Rsa)
                .map_err(|e| SendError::Permanent(format!("dkim private key: {e}")))?;
            let mut headers = vec!["From", "To", "Subject", "Date", "Message-ID"];
            if unsubscribe {
                headers.extend(["List-Unsubscribe", "List-Unsubscribe-Post"]);
            }
            Ok(DkimConfig::new(
                settings.selector.clone(),
                settings.domain.clone(),
                key,
                headers
                    .into_iter()
                    .map(HeaderName::new_from_ascii_str)
                    .collect(),
                DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                },
            ))
        };
        Ok(Self {
            with_unsubscribe: config(true)?,
            plain: config(false)?,
        })
    }
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials: show only the host part.
        let host = self.url.rsplit('@').next().unwrap_or_default();
        write!(f, "SmtpMailer({host})")
    }
}

impl SmtpMailer {
    /// A mailer for `smtp://host:port` (plain, for a local MTA), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host` (implicit TLS).
    pub fn from_url(url: &str) -> Result<Self, SendError> {
        let transport = match Server::parse(url)? {
            Some(server) => Transport::Pooled(std::sync::Arc::new(Pool::new(
                server,
                MAX_CONNECTIONS,
                TIMEOUT,
            ))),
            None => Transport::Lettre(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| SendError::Permanent(format!("invalid SMTP URL: {e}")))?
                    .timeout(Some(TIMEOUT))
                    .build(),
            ),
        };
        Ok(Self {
            transport,
            url: url.to_string(),
            limiter: None,
            dkim: None,
        })
    }

    /// Signs every message with DKIM; an unreadable key is refused here, at start-up.
    pub fn with_dkim(mut self, settings: &DkimSettings) -> Result<Self, SendError> {
        self.dkim = Some(std::sync::Arc::new(Dkim::new(settings)?));
        Ok(self)
    }

    /// Sends at most `per_second` messages a second from this process (the provider's
    /// limit; 0: no limit). A message over the rate waits for its turn, it is not refused.
    pub fn with_rate(mut self, per_second: u32) -> Self {
        self.limiter = std::num::NonZeroU32::new(per_second).map(|n| {
            std::sync::Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                n,
            )))
        });
        self
    }

    /// Sends one message; returns once the server has accepted it.
    pub async fn send(&self, email: &EmailMessage) -> Result<(), SendError> {
        let mut message = build(email)?;
        if let Some(dkim) = &self.dkim {
            message.sign(if email.list_unsubscribe.is_some() {
                &dkim.with_unsubscribe
            } else {
                &dkim.plain
            });
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        match &self.transport {
            Transport::Pooled(pool) => pool.send(message.envelope(), &message.formatted()).await,
            Transport::Lettre(transport) => {
                transport.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        // Connection failures, timeouts and 4xx replies: try again later.
                        SendError::Transient(e.to_string())
                    }
                })
            }
        }
    }
}

fn build(email: &EmailMessage) -> Result<Message, SendError> {
    let mailbox = |name: Option<&str>, address: &str, field: &str| -> Result<Mailbox, SendError> {
        let address = address.parse().map_err(|e| {
            SendError::Permanent(format!("invalid {field} address '{address}': {e}"))
        })?;
        Ok(Mailbox::new(name.map(str::to_string), address))
    };
    let mut builder = Message::builder()
        .from(mailbox(
            Some(&email.from_name),
            &email.from_address,
            "from",
        )?)
        .to(mailbox(None, &email.to, "to")?)
        .subject(&email.subject)
        .message_id(Some(format!("<{}>", email.message_id)))
        .date(email.date);
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox(None, reply_to, "reply-to")?);
    }
    if let Some(url) = &email.list_unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ));
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(email.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(email.html.clone()),
                ),
        )
        .map_err(|e| SendError::Permanent(format!("could not build the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_message_has_both_parts_and_the_stable_message_id() {
        let email = EmailMessage {
            from_name: "Loopwerk".into(),
            from_address: "hallo@loopwerk.example".into(),
            reply_to: None,
            to: "jan@example.nl".into(),
            subject: "Je bestelling".into(),
            text: "Beste Jan,".into(),
            html: "<p>Beste Jan,</p>".into(),
            message_id: "msg-42@loopwerk.example".into(),
            date: std::time::SystemTime::UNIX_EPOCH,
            list_unsubscribe: Some("https://care.example/u/1.2.abc".into()),
        };
        let raw = String::from_utf8(build(&email).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <msg-42@loopwerk.example>"),
            "{raw}"
        );
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("From: Loopwerk <hallo@loopwerk.example>"));
        assert!(
            raw.contains("List-Unsubscribe: <https://care.example/u/1.2.abc>"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
    }

    #[test]
    fn an_invalid_recipient_is_a_permanent_error() {
        let email = EmailMessage {
            from_name: "Loopwerk".into(),
            from_address: "hallo@loopwerk.example".into(),
            reply_to: None,
            to: "not an address".into(),
            subject: "x".into(),
            text: "x".into(),
            html: "x".into(),
            message_id: "m@x".into(),
            date: std::time::SystemTime::UNIX_EPOCH,
            list_unsubscribe: None,
        };
        assert!(build(&email).unwrap_err().is_permanent());
    }
}
