//! Limits on text that comes from outside (issue 19): every text field has a maximum length,
//! and control characters are refused where they make no sense — a line break in a name or
//! an address adds a line to a letter's address window or to an email, a NUL ends up as
//! `=00`. Free text a person wrote (a cancellation reason, a product tip) may have line
//! breaks and tabs, nothing else below U+0020. JSON objects from outside (attributes, event
//! properties) are bounded in size and depth, and their strings follow the same rule.
//!
//! The OpenAPI document states the same limits (`maxLength`, and the pattern
//! [`ONE_LINE_PATTERN`] / [`TEXT_PATTERN`]), so a client knows them before it sends.

use crate::error::FieldError;

/// The JSON Schema pattern of a one-line text: no control characters (Unicode Cc).
pub const ONE_LINE_PATTERN: &str =
    "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069]*$";
/// The JSON Schema pattern of free text: line breaks and tabs, no other control characters
/// and no bidirectional controls.
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$";

/// The JSON Schema pattern of an id: no white space, control or bidirectional characters.
pub const ID_PATTERN: &str = "^[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202A-\\u202F\\u205F\\u2066-\\u2069\\u3000]+$";
/// The JSON Schema pattern of a one-line text with something in it besides white space.
pub const REQUIRED_LINE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069]*[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202A-\\u202F\\u205F\\u2066-\\u2069\\u3000][^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069]*$";
/// The JSON Schema pattern of an email address as [`crate::EmailAddress::parse`] takes it.
pub const EMAIL_PATTERN: &str = "^[^\\s<>@\\u0000-\\u001F\\u007F-\\u009F]+@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$";
/// The JSON Schema pattern of a phone number in international form.
pub const PHONE_PATTERN: &str = "^\\+[0-9]{8,15}$";

/// Implements `utoipa`'s schema for a string newtype with its limits and pattern.
#[macro_export]
#[doc(hidden)]
macro_rules! __string_schema {
    ($ty:ty, min = $min:expr, max = $max:expr, pattern = $pattern:expr, example = $example:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some($min))
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}
pub use crate::__string_schema as string_schema;

/// The largest JSON object of attributes or event properties, serialised, in bytes.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// How deep such an object may nest.
pub const MAX_JSON_DEPTH: usize = 8;
/// The longest string inside such an object, in characters.
pub const MAX_JSON_STRING_CHARS: usize = 2_000;

/// Unicode's line and paragraph separators: a line break in all but name.
fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// The bidirectional embedding, override and isolate controls: they turn text around on
/// screen ("invoice.pdf" that is "fdp.eciovni" underneath).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A one-line text: at most `max` characters, no control characters, line separators or
/// bidirectional controls.
pub fn line(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    length(field, value, max)?;
    if value
        .chars()
        .any(|c| c.is_control() || is_line_break(c) || is_bidi_control(c))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters such as line breaks or NUL",
        ));
    }
    Ok(())
}

/// A one-line text that must say something: not empty or only white space.
pub fn required_line(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    line(field, value, max)
}

/// Free text: at most `max` characters; line breaks and tabs, no other control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    length(field, value, max)?;
    if value
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(())
}

fn length(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A JSON object from outside: at most [`MAX_JSON_BYTES`] serialised, [`MAX_JSON_DEPTH`]
/// deep, keys one-line texts of at most 64 characters, strings free text of at most
/// [`MAX_JSON_STRING_CHARS`].
pub fn json_object<'a>(
    field: &str,
    entries: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) -> Result<(), FieldError> {
    let mut bytes = 2;
    for (key, value) in entries {
        let path = format!("{field}.{key}");
        line(&path, key, 64)?;
        if key.is_empty() {
            return Err(FieldError::new(path, "a key must not be empty"));
        }
        json_value(&path, value, 1)?;
        bytes += key.len() + 4 + serde_json::to_string(value).map_or(0, |s| s.len());
        if bytes > MAX_JSON_BYTES {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_JSON_BYTES} bytes as JSON"),
            ));
        }
    }
    Ok(())
}

fn json_value(field: &str, value: &serde_json::Value, depth: usize) -> Result<(), FieldError> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(FieldError::new(
            field,
            format!("must not nest deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    match value {
        Value::String(s) => text(field, s, MAX_JSON_STRING_CHARS),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| json_value(&format!("{field}[{i}]"), v, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let path = format!("{field}.{k}");
            line(&path, k, 64)?;
            json_value(&path, v, depth + 1)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// A cell for a CSV file that people open in a spreadsheet: a value starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return is prefixed with `'`, so it is shown as text and
/// never run as a formula (OWASP's advice on CSV injection).
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// `seed` with byte edits applied, for the fuzz targets: each edit is (where, what, byte),
/// `where` taken modulo the length, `what` 0 to replace, 1 to insert, 2 to remove; what is
/// no longer UTF-8 is replaced by U+FFFD.
pub fn with_edits(seed: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for &(at, what, byte) in edits {
        let pos = if bytes.is_empty() {
            0
        } else {
            at % bytes.len()
        };
        match what % 3 {
            0 if !bytes.is_empty() => bytes[pos] = byte,
            1 => bytes.insert(pos, byte),
            2 if !bytes.is_empty() => {
                bytes.remove(pos);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_texts_refuse_control_characters_and_length() {
        assert!(line("name", "Stride 4 – blauw", 100).is_ok());
        for bad in [
            "a\r\nBcc: x@example.nl",
            "a\0b",
            "a\tb",
            "\u{85}",
            "a\u{2028}b",
            "gpj.\u{202E}exe",
        ] {
            assert_eq!(line("name", bad, 100).unwrap_err().field, "name", "{bad:?}");
        }
        assert!(line("name", &"é".repeat(100), 100).is_ok());
        let e = line("name", &"é".repeat(101), 100).unwrap_err();
        assert_eq!(e.reason, "must be at most 100 characters");
        assert_eq!(
            required_line("city", "  ", 10).unwrap_err().reason,
            "must not be empty"
        );
    }

    #[test]
    fn free_text_keeps_line_breaks_and_tabs_only() {
        assert!(text("reason", "Te duur.\r\nEn te vaak\tmail.", 100).is_ok());
        assert!(text("reason", "nul\0", 100).is_err());
        assert!(text("reason", "bell\u{7}", 100).is_err());
    }

    #[test]
    fn json_objects_are_bounded_in_size_depth_and_strings() {
        let ok: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"segment":"runner","kids":[{"age":4}]}"#).unwrap();
        assert!(json_object("attributes", &ok).is_ok());
        let big: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|i| (format!("k{i}"), serde_json::json!("x".repeat(1_000))))
            .collect();
        assert_eq!(
            json_object("properties", &big).unwrap_err().field,
            "properties"
        );
        let mut deep = serde_json::json!(1);
        for _ in 0..10 {
            deep = serde_json::json!([deep]);
        }
        let nested: serde_json::Map<String, serde_json::Value> =
            [("d".to_string(), deep)].into_iter().collect();
        assert!(json_object("properties", &nested).is_err());
        let nul: serde_json::Map<String, serde_json::Value> =
            [("note".to_string(), serde_json::json!("a\0b"))]
                .into_iter()
                .collect();
        assert_eq!(
            json_object("properties", &nul).unwrap_err().field,
            "properties.note"
        );
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_text() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        for lead in ["+31", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with('\''), "{lead:?}");
        }
        assert_eq!(csv_cell("Kerkstraat 12"), "Kerkstraat 12");
    }
}
