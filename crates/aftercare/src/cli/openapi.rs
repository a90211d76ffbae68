//! `aftercare openapi`: prints the API's OpenAPI 3.1 document (the same one the server
//! serves at `/v1/openapi.json`), for code generators, gateways and contract tests.

use std::io::Write;
use std::process::ExitCode;

/// Writes the document to standard output.
pub fn run() -> ExitCode {
    let doc = aftercare_web::api::openapi::document_value();
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    match writeln!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the document: {e}");
            ExitCode::from(2)
        }
    }
}
