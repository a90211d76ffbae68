//! A programme's `webhook` step on both backends: the brand's system on loopback receives
//! one signed POST per enrolment step (the signature verifies with the shared secret), a
//! failing receiver gets retries with backoff until it answers, a refusal ends the call,
//! and a target on an internal address is refused unless `allow_private_targets` is set.

use std::sync::{Arc, Mutex};

use aftercare_domain::webhooks::WebhookTarget;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::language::Lab;

pub(crate) const SECRET: &str = "brand-crm-secret-0123456789abcdef";

const VIP: &str = r#"
id = "vip"
name = "Tell the CRM about a big spender"
version = 1
trigger = { event = "order_placed" }

[[steps]]
id = "tell-crm"
webhook = { target = "crm", event = "vip_candidate" }
"#;

/// The brand's system: records each POST with whether its signature verifies, and answers
/// with the statuses queued (then 200).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    calls: Arc<Mutex<Vec<Value>>>,
    pub(crate) answers: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let valid = signed_by(&headers, &body, SECRET);
    let mut call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    call["_valid"] = valid.into();
    call["_key"] = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .into();
    r.calls.lock().unwrap().push(call);
    let answer = {
        let mut a = r.answers.lock().unwrap();
        if a.is_empty() { 200 } else { a.remove(0) }
    };
    StatusCode::from_u16(answer).unwrap()
}

impl Receiver {
    pub(crate) async fn start() -> (Self, String) {
        let r = Receiver::default();
        let app = Router::new()
            .route("/hooks/aftercare", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/aftercare", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub(crate) fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

async fn lab_calling(backend: Backend, url: &str, allow_private: bool) -> Lab {
    let url = url.to_string();
    Lab::configured(
        backend,
        "2026-05-04T08:00:00Z",
        &[("vip.toml", VIP)],
        move |c| {
            c.webhooks.insert(
                "crm".into(),
                WebhookTarget {
                    url,
                    secret: SECRET.into(),
                },
            );
            c.tracking.allow_private_targets = allow_private;
        },
    )
    .await
}

async fn state_of_calls(lab: &Lab) -> Vec<String> {
    let mut tx = lab.store.begin_read().await.unwrap();
    let mut out = Vec::new();
    for id in 1..=3 {
        if let Ok(c) = tx.outgoing_webhook(id).await {
            out.push(c.state.to_string());
        }
    }
    tx.commit().await.unwrap();
    out
}

both_backends!(
    a_webhook_step_posts_once_signed_and_retries_until_the_brand_answers,
    |backend| async move {
        let (receiver, url) = Receiver::start().await;
        receiver.answers.lock().unwrap().extend([503, 500]);
        let lab = lab_calling(backend, &url, true).await;
        lab.customer("V1", json!({})).await;
        lab.order("V1", "W-V1").await;
        lab.run().await;
        // Down twice: retried with backoff (30 s, then a minute, plus jitter); the virtual
        // clock moves an hour at a time.
        assert_eq!(receiver.calls().len(), 1);
        lab.hours(1).await;
        assert_eq!(receiver.calls().len(), 2);
        lab.hours(1).await;
        let calls = receiver.calls();
        assert_eq!(calls.len(), 3, "{calls:?}");
        for call in &calls {
            assert_eq!(call["_valid"], true, "the signature verifies: {call}");
            assert_eq!(call["_key"], "webhook-1", "the same key on every retry");
            assert_eq!(call["event"], "vip_candidate");
            assert_eq!(call["programme"], "vip");
            assert_eq!(call["step"], "tell-crm");
            assert_eq!(call["customer"], json!({"external_id": "V1"}));
        }
        assert_eq!(state_of_calls(&lab).await, ["delivered"]);
        lab.hours(24).await;
        assert_eq!(receiver.calls().len(), 3, "delivered once, never again");

        // A refusal (4xx) ends the call; it is not retried.
        receiver.answers.lock().unwrap().push(422);
        lab.order("V1", "W-V2").await;
        lab.run().await;
        lab.hours(2).await;
        assert_eq!(receiver.calls().len(), 4);
        assert_eq!(state_of_calls(&lab).await, ["delivered", "refused"]);
    }
);

both_backends!(
    a_webhook_to_an_internal_address_is_refused_unless_allowed,
    |backend| async move {
        let (receiver, url) = Receiver::start().await;
        let lab = lab_calling(backend, &url, false).await;
        lab.customer("V1", json!({})).await;
        lab.order("V1", "W-V1").await;
        lab.run().await;
        lab.hours(1).await;
        assert!(receiver.calls().is_empty(), "nothing reached loopback");
        let mut tx = lab.store.begin_read().await.unwrap();
        let call = tx.outgoing_webhook(1).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(call.state, aftercare_store::CallState::Refused);
        assert!(
            call.last_error
                .as_deref()
                .unwrap()
                .contains("is an internal address"),
            "{:?}",
            call.last_error
        );
    }
);
