//! The OpenAPI 3.1 document, generated from the handlers, the answer types and the domain
//! types, and finished in one place (issue 19): text fields carry the patterns of
//! [`aftercare_domain::text`] (a field marked `format = "one-line"`, `"required-line"` or
//! `"text"` gets its pattern), and every operation lists the errors every operation can
//! answer, as RFC 9457 problem+json. The document is checked by `openapi-spec-validator`
//! and the live API against it by Schemathesis, in the test suite.

use std::sync::OnceLock;

use aftercare_domain::text;
use axum::Json;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::{answers, handlers, loyalty};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aftercare API",
        version = "1",
        description = "Customers, products, orders, shipment status events and generic events in; messages and timelines out. Errors are RFC 9457 problem+json: 400 for a request that is not of the right form (not JSON, a wrong type, a missing field, a bad path or query parameter), 422 for a well-formed request with a value that is not acceptable (a rule the schema cannot say: a date in the future, a customer that does not exist, a postcode for the wrong country)."
    ),
    components(schemas(
        aftercare_domain::CustomerRecord,
        aftercare_domain::ProductRecord,
        aftercare_domain::ProductText,
        aftercare_domain::ProductTranslations,
        aftercare_domain::OrderRecord,
        aftercare_domain::ContractRecord,
        aftercare_domain::ShipmentEventRecord,
        aftercare_domain::EventRecord,
        aftercare_domain::CancellationRecord,
        handlers::EventBatch,
        handlers::TimelineEntry,
        handlers::FeedbackBatch,
        aftercare_engine::feedback::Feedback,
        handlers::ChannelStatus,
        aftercare_store::Message,
        loyalty::PointsRequest,
        loyalty::ClaimRequest,
        loyalty::IssueRequest,
        loyalty::RedeemRequest,
        loyalty::ImportRequest,
        loyalty::ReferralRequest,
        loyalty::ReturnRequest,
        answers::Problem
    ))
)]
pub(super) struct ApiDoc;

/// The finished document, made once.
pub fn document_value() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, api) = super::documented().split_for_parts();
        let mut doc = serde_json::to_value(api).unwrap_or(Value::Null);
        finish(&mut doc);
        doc
    })
}

/// The OpenAPI 3.1 document for API v1.
pub async fn document(_caller: super::extract::Caller) -> Json<Value> {
    Json(document_value().clone())
}

/// The errors an operation can answer besides those it names itself.
fn errors_of(operation: &Value) -> Vec<(&'static str, &'static str)> {
    let mut errors = vec![
        (
            "400",
            "The request is not of the right form: not JSON, a wrong type, a missing field, or a bad path or query parameter",
        ),
        ("401", "No valid bearer token, or no valid signature"),
        ("404", "Nothing at this path, or no such resource"),
        ("408", "The request was not received and answered in time"),
        (
            "500",
            "Something failed on our side; the request changed nothing",
        ),
    ];
    if operation.get("requestBody").is_some() {
        errors.push(("413", "The body is larger than 2 MiB"));
        errors.push(("415", "The body is not sent as JSON"));
        errors.push(("422", "A value is not acceptable; `field` names it"));
    }
    if operation.get("security").is_some() {
        errors.push((
            "403",
            "The token's scopes do not allow this request (`token_scope`; the detail names the scope it needs)",
        ));
    }
    let idempotent = operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
    if idempotent {
        errors.push((
            "409",
            "A request with this Idempotency-Key is still being processed (`idempotency_key_in_progress`), or another request wrote the same record at the same moment (`conflict`): retry",
        ));
    }
    errors
}

fn finish(doc: &mut Value) {
    doc["components"]["securitySchemes"]["bearer"] = json!({"type": "http", "scheme": "bearer",
        "description": "A token from `aftercare token create --name NAME --scope SCOPE`. Its scopes decide what it may do: `read` (every GET under /v1 but a customer's export), `shop` (what the shop sends and asks at checkout), `campaigns` (audiences and campaigns), `privacy` (a customer's export and erasure), `operations` (dead jobs, received webhooks, /metrics), `metrics` (/metrics alone), or `all`. Any scope may read this document."});
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let errors = errors_of(operation);
                let responses = &mut operation["responses"];
                for (status, description) in errors {
                    if responses.get(status).is_none() {
                        responses[status] = json!({
                            "description": description,
                            "content": {"application/problem+json": {"schema": problem}},
                        });
                    }
                }
                if let Some(params) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                {
                    for p in params.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
                        p["schema"] = json!({
                            "type": "string", "minLength": 1, "maxLength": 255,
                            "pattern": "^[!-~]([ -~]*[!-~])?$",
                        });
                    }
                }
            }
        }
    }
    text_patterns(doc);
}

/// Replaces the text formats by their patterns, everywhere in the document.
fn text_patterns(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let pattern = match map.get("format").and_then(Value::as_str) {
                Some("one-line") => Some(text::ONE_LINE_PATTERN),
                Some("required-line") => Some(text::REQUIRED_LINE_PATTERN),
                Some("text") => Some(text::TEXT_PATTERN),
                _ => None,
            };
            if let Some(pattern) = pattern {
                map.remove("format");
                map.insert("pattern".into(), json!(pattern));
            }
            map.values_mut().for_each(text_patterns);
        }
        Value::Array(items) => items.iter_mut().for_each(text_patterns),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_carry_their_patterns_and_every_operation_its_errors() {
        let doc = document_value();
        let product = &doc["components"]["schemas"]["ProductRecord"]["properties"];
        assert_eq!(product["name"]["pattern"], text::REQUIRED_LINE_PATTERN);
        assert_eq!(product["name"]["maxLength"], 200);
        assert!(product["name"].get("format").is_none());
        let post = &doc["paths"]["/v1/products"]["post"]["responses"];
        for status in ["400", "401", "413", "415", "422", "500"] {
            assert_eq!(
                post[status]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{status}"
            );
        }
        let list = &doc["paths"]["/v1/messages"]["get"]["parameters"];
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .all(|p| p["in"] == "query" && p["required"] != true),
            "{list}"
        );
    }
}
