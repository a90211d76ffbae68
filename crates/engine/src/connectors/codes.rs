//! Codes Aftercare issues, created in the shop too (issue 24): what to ask Shopify's
//! Admin GraphQL API (`discountCodeBasicCreate`) or WooCommerce's REST API
//! (`POST /wp-json/wc/v3/coupons`) for one code, and what their answer means. Sans-I/O: the
//! `shop_codes` job (`worker/shop_codes.rs`) makes the calls.
//!
//! A code keeps its terms in the shop: the amount or percentage on the whole order, the
//! minimum order, valid from its issue to its last moment, as often as the pool allows, and
//! — for a personal code — only for its customer (Shopify: the customer's id there, which is
//! their `external_id` when the shop is connected; WooCommerce: their email address). A
//! gift code (a free product) has no such discount in either API and is refused with the
//! reason; the shop's checkout can still ask `GET /v1/coupons/{code}`.

use aftercare_domain::loyalty::CouponValue;
use aftercare_store::ShopCode;
use serde_json::{Value, json};

/// What the shop made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The code exists in the shop now (made, or there already from an earlier try).
    Created,
    /// The shop will not take it; retrying will not help.
    Refused(String),
    /// Try again later (throttled, or the shop's trouble).
    Later(String),
    /// The shop failed on this request (an HTTP 500): perhaps this code's trouble, perhaps
    /// the shop's; told apart by whether it takes other codes.
    Failed(String),
}

/// A harmless question to Shopify's Admin GraphQL API: whether it answers at all.
pub const SHOPIFY_PROBE: &str = "{ shop { id } }";

/// Whether Shopify's answer to [`SHOPIFY_PROBE`] is a real answer (no GraphQL `errors`).
pub fn shopify_answered(answer: &str) -> bool {
    serde_json::from_str::<Value>(answer)
        .is_ok_and(|v| v.get("errors").is_none() && v["data"]["shop"].is_object())
}

const SHOPIFY_MUTATION: &str =
    "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}";

fn value_of(code: &ShopCode) -> Result<CouponValue, String> {
    match CouponValue::from_parts(&code.value_kind, code.value) {
        Some(CouponValue::Gift) => Err(
            "a gift code (a free product) is not a discount the shop's API can create; the checkout can ask GET /v1/coupons/{code}".into(),
        ),
        Some(v) => Ok(v),
        None => Err(format!("unknown value kind '{}'", code.value_kind)),
    }
}

fn euros(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The GraphQL request creating `code` in Shopify, titled `title` (the pool's name).
pub fn shopify_request(code: &ShopCode, title: &str) -> Result<Value, String> {
    let value = match value_of(code)? {
        CouponValue::Percent(p) => json!({"percentage": p as f64 / 100.0}),
        CouponValue::AmountCents(c) => {
            json!({"discountAmount": {"amount": euros(c), "appliesOnEachItem": false}})
        }
        CouponValue::Gift => unreachable!("refused above"),
    };
    // A personal code is for its customer only, when their Shopify id is known.
    let context = match code
        .customer_external_id
        .as_deref()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    {
        Some(id) => json!({"customers": {"add": [format!("gid://shopify/Customer/{id}")]}}),
        None => json!({"all": "ALL"}),
    };
    let mut input = json!({
        "title": format!("{title} · {}", code.display_code),
        "code": code.display_code,
        "startsAt": code.valid_from.to_string(),
        // Shopify's end is inclusive to the second; Aftercare's is exclusive.
        "endsAt": code
            .valid_until
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .map_err(|e| format!("a validity the shop cannot take: {e}"))?
            .to_string(),
        "context": context,
        "customerGets": {"value": value, "items": {"all": true}},
        "usageLimit": code.uses_left,
        "appliesOncePerCustomer": code.uses_left == 1,
    });
    if code.min_order_cents > 0 {
        input["minimumRequirement"] =
            json!({"subtotal": {"greaterThanOrEqualToSubtotal": euros(code.min_order_cents)}});
    }
    Ok(json!({"query": SHOPIFY_MUTATION, "variables": {"basicCodeDiscount": input}}))
}

/// What Shopify's answer (HTTP 200, GraphQL) says.
pub fn shopify_outcome(answer: &str) -> Outcome {
    let Ok(answer) = serde_json::from_str::<Value>(answer) else {
        return Outcome::Later("the answer is not JSON".into());
    };
    if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
        let throttled = errors
            .iter()
            .any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"));
        let text = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("; ");
        // Errors about the connection (throttling, a token without `write_discounts`,
        // Shopify's own trouble) are not the code's: it waits. Any other request-wide error
        // (a value Shopify cannot take) is about this code's request, which is refused, so
        // the codes after it are not held up.
        let connection = errors.iter().any(|e| {
            matches!(
                e.pointer("/extensions/code").and_then(Value::as_str),
                Some(
                    "ACCESS_DENIED"
                        | "INTERNAL_SERVER_ERROR"
                        | "UNAUTHORIZED"
                        | "SERVICE_UNAVAILABLE"
                )
            )
        });
        return if throttled {
            Outcome::Later(format!("throttled: {text}"))
        } else if connection {
            Outcome::Later(format!("Shopify refused the request: {text}"))
        } else {
            Outcome::Refused(text)
        };
    }
    let payload = answer.pointer("/data/discountCodeBasicCreate");
    let user_errors = payload
        .and_then(|p| p.get("userErrors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if user_errors.is_empty() {
        return if payload
            .and_then(|p| p.pointer("/codeDiscountNode/id"))
            .is_some()
        {
            Outcome::Created
        } else {
            Outcome::Refused("Shopify answered without a discount and without a reason".into())
        };
    }
    // The code is there from an earlier try that timed out after Shopify made it.
    if user_errors
        .iter()
        .all(|e| e.get("code").and_then(Value::as_str) == Some("TAKEN"))
    {
        return Outcome::Created;
    }
    Outcome::Refused(
        user_errors
            .iter()
            .map(|e| {
                let field = e
                    .get("field")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                format!("{field}: {message}")
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The REST body creating `code` in WooCommerce, described as `title` (the pool's name).
pub fn woocommerce_request(code: &ShopCode, title: &str) -> Result<Value, String> {
    let (kind, amount) = match value_of(code)? {
        CouponValue::Percent(p) => ("percent", p.to_string()),
        CouponValue::AmountCents(c) => ("fixed_cart", euros(c)),
        CouponValue::Gift => unreachable!("refused above"),
    };
    // WooCommerce takes the moment in GMT, without an offset.
    let expires = code.valid_until.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let mut body = json!({
        "code": code.display_code,
        "description": title,
        "discount_type": kind,
        "amount": amount,
        "date_expires_gmt": expires,
        "usage_limit": code.uses_left,
        "individual_use": true,
    });
    if code.min_order_cents > 0 {
        body["minimum_amount"] = euros(code.min_order_cents).into();
    }
    if let Some(email) = code.email.as_deref().filter(|e| !e.is_empty()) {
        body["email_restrictions"] = json!([email]);
        body["usage_limit_per_user"] = json!(code.uses_left);
    }
    Ok(body)
}

/// What WooCommerce's refusal (`status`, 4xx) says: a code that exists already is there;
/// a 400 about the coupon is a refusal of that code; anything else (401 or 403: the key;
/// 404: the address) is about the connection, and the code waits for it to be fixed.
pub fn woocommerce_refusal(status: u16, body: &str) -> Outcome {
    let short: String = body.chars().take(300).collect();
    if body.contains("woocommerce_rest_coupon_code_already_exists") {
        Outcome::Created
    } else if status == 400 {
        Outcome::Refused(short)
    } else {
        Outcome::Later(format!(
            "WooCommerce refused the request ({status}): {short}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(kind: &str, value: i64) -> ShopCode {
        ShopCode {
            id: 1,
            display_code: "EARLY-7KQ2-MX9P".into(),
            pool_id: "early-access".into(),
            value_kind: kind.into(),
            value,
            min_order_cents: 5000,
            valid_from: jiff::Timestamp::from_second(1_772_442_000).unwrap(),
            valid_until: jiff::Timestamp::from_second(1_772_442_000 + 14 * 86_400).unwrap(),
            uses_left: 1,
            customer_external_id: Some("706405506930370084".into()),
            email: Some("sanne@example.nl".into()),
            shop_tries: 0,
            shop_tried_at: None,
        }
    }

    #[test]
    fn a_personal_percentage_code_is_for_its_shopify_customer_only() {
        let request = shopify_request(&code("percent", 15), "Early access").unwrap();
        let input = &request["variables"]["basicCodeDiscount"];
        assert_eq!(input["code"], "EARLY-7KQ2-MX9P");
        assert_eq!(input["customerGets"]["value"]["percentage"], 0.15);
        assert_eq!(
            input["context"]["customers"]["add"][0],
            "gid://shopify/Customer/706405506930370084"
        );
        assert_eq!(
            input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
            "50.00"
        );
        assert_eq!(input["startsAt"], "2026-03-02T09:00:00Z");
        assert_eq!(input["endsAt"], "2026-03-16T08:59:59Z");
        assert_eq!(input["usageLimit"], 1);
    }

    #[test]
    fn a_customer_not_known_by_a_shopify_id_gets_a_code_anyone_could_use_once() {
        let mut c = code("amount_cents", 750);
        c.customer_external_id = Some("C1".into());
        let request = shopify_request(&c, "Sorry").unwrap();
        let input = &request["variables"]["basicCodeDiscount"];
        assert_eq!(input["context"], json!({"all": "ALL"}));
        assert_eq!(
            input["customerGets"]["value"]["discountAmount"]["amount"],
            "7.50"
        );
    }

    #[test]
    fn shopify_answers_are_read_taken_counts_as_there_and_request_errors_wait() {
        let made = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1"},"userErrors":[]}}}"#;
        assert_eq!(shopify_outcome(made), Outcome::Created);
        let taken = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"code":"TAKEN","message":"Code must be unique."}]}}}"#;
        assert_eq!(shopify_outcome(taken), Outcome::Created);
        let bad = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","endsAt"],"code":"INVALID","message":"Ends at needs to be after starts_at"}]}}}"#;
        assert_eq!(
            shopify_outcome(bad),
            Outcome::Refused(
                "basicCodeDiscount.endsAt: Ends at needs to be after starts_at".into()
            )
        );
        let throttled = r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}"#;
        assert!(matches!(shopify_outcome(throttled), Outcome::Later(_)));
        // A token without the scope is not the code's fault: it waits.
        let denied = r#"{"errors":[{"message":"Access denied for discountCodeBasicCreate field.","extensions":{"code":"ACCESS_DENIED"}}]}"#;
        assert!(matches!(shopify_outcome(denied), Outcome::Later(_)));
        // A value Shopify cannot take is this code's problem: refused, the queue goes on.
        let invalid = r#"{"errors":[{"message":"Variable $basicCodeDiscount of type DiscountCodeBasicInput! was provided invalid value for startsAt","extensions":{"problems":[{"path":["startsAt"]}]}}]}"#;
        assert!(matches!(shopify_outcome(invalid), Outcome::Refused(_)));
    }

    #[test]
    fn a_woocommerce_coupon_keeps_its_terms_and_its_last_moment() {
        let body = woocommerce_request(&code("amount_cents", 1000), "Thanks").unwrap();
        assert_eq!(body["discount_type"], "fixed_cart");
        assert_eq!(body["amount"], "10.00");
        assert_eq!(body["minimum_amount"], "50.00");
        assert_eq!(body["email_restrictions"], json!(["sanne@example.nl"]));
        assert_eq!(body["date_expires_gmt"], "2026-03-16T09:00:00");
        assert_eq!(
            woocommerce_refusal(
                400,
                r#"{"code":"woocommerce_rest_coupon_code_already_exists"}"#
            ),
            Outcome::Created
        );
        assert!(matches!(
            woocommerce_refusal(401, r#"{"code":"woocommerce_rest_cannot_create"}"#),
            Outcome::Later(_)
        ));
    }

    #[test]
    fn a_gift_code_is_refused_with_the_reason() {
        let e = shopify_request(&code("gift", 0), "Birthday").unwrap_err();
        assert!(e.contains("GET /v1/coupons/{code}"), "{e}");
        assert!(woocommerce_request(&code("gift", 0), "Birthday").is_err());
    }
}
