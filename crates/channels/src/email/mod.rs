//! Email over SMTP with lettre: a pooled transport to `AFTERCARE_SMTP_URL`, and MIME
//! messages with a text and an HTML part and a stable `Message-ID`, so a retried message
//! is recognisable as the same message by every server on its way.

mod send;

pub use send::{DkimSettings, EmailMessage, SmtpMailer};
