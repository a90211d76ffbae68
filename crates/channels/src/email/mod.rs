//! Email over SMTP with lettre: a pooled transport to `AFTERCARE_SMTP_URL`, and MIME
//! messages with a text and an HTML part and a stable `Message-ID`, so a retried message
//! is recognisable as the same message by every server on its way. `smtp://` servers are
//! reached through this crate's own pool of lettre connections with Nagle's algorithm off
//! (see `pool`), which sends about a hundred times more messages a second per connection.

mod pool;
mod send;

pub use send::{DkimSettings, EmailMessage, SmtpMailer};
