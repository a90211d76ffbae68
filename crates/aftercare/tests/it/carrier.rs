//! A stand-in carrier on loopback for tests: it serves pick-up points for a postcode and
//! records every delivery change the carrier adapter posts, after checking its signature.

use std::sync::{Arc, Mutex};

use aftercare_domain::delivery::{CarrierConfig, PickupPoint, TrackingConfig};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const SECRET: &str = "carrier-test-secret-0123456789";

#[derive(Clone, Default)]
struct Shared {
    changes: Arc<Mutex<Vec<Value>>>,
    lookups: Arc<Mutex<Vec<String>>>,
    /// Statuses to answer the next posts with (then 200).
    answers: Arc<Mutex<Vec<u16>>>,
}

pub struct CarrierStub {
    pub base_url: String,
    shared: Shared,
}

pub fn points() -> Vec<PickupPoint> {
    let p = |id: &str, name: &str, street: &str, postcode: &str| PickupPoint {
        id: id.into(),
        name: name.into(),
        street: street.into(),
        postcode: postcode.into(),
        city: "Amsterdam".into(),
        hours: Some("ma–za 9:00–18:00".into()),
    };
    vec![
        p(
            "NL-1017-01",
            "Primera Leidseplein",
            "Leidseplein 12",
            "1017 PT",
        ),
        p(
            "NL-1016-02",
            "Pakketautomaat Westermarkt",
            "Westermarkt 2",
            "1016 DK",
        ),
        p("NL-9711-01", "Primera Groningen", "Vismarkt 1", "9711 KT"),
    ]
}

async fn lookup(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<axum::Json<Value>, StatusCode> {
    let signature = headers
        .get("aftercare-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signature.starts_with("t=") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    s.lookups
        .lock()
        .unwrap()
        .push(q.get("postcode").cloned().unwrap_or_default());
    Ok(axum::Json(serde_json::to_value(points()).unwrap()))
}

async fn change(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let valid = crate::helpers::signed_by(&headers, &body, SECRET);
    let answer = {
        let mut a = s.answers.lock().unwrap();
        if a.is_empty() { 200 } else { a.remove(0) }
    };
    let mut payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    payload["_signature_valid"] = valid.into();
    payload["_idempotency_key"] = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .into();
    payload["_answered"] = answer.into();
    s.changes.lock().unwrap().push(payload);
    let status = StatusCode::from_u16(answer).unwrap();
    if status.is_success() {
        (status, json!({"accepted": true}).to_string())
    } else {
        (status, "address not served on that day".to_string())
    }
}

impl CarrierStub {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/pickup-points", get(lookup))
            .route("/changes", post(change))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url, shared }
    }

    /// A `[tracking]` with carrier `postnl` adapted to this stub.
    pub fn tracking(&self) -> TrackingConfig {
        let mut t = TrackingConfig {
            allow_private_targets: true,
            ..TrackingConfig::default()
        };
        t.carriers.insert(
            "postnl".into(),
            CarrierConfig {
                name: "PostNL".into(),
                webhook_url: Some(format!("{}/changes", self.base_url)),
                webhook_secret: Some(SECRET.into()),
                pickup_points_url: Some(format!("{}/pickup-points", self.base_url)),
                ..CarrierConfig::default()
            },
        );
        t
    }

    /// The changes received so far.
    pub fn changes(&self) -> Vec<Value> {
        self.shared.changes.lock().unwrap().clone()
    }

    /// The postcodes pick-up points were looked up for.
    pub fn lookups(&self) -> Vec<String> {
        self.shared.lookups.lock().unwrap().clone()
    }

    /// Answer the next posts with these statuses.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .extend_from_slice(statuses);
    }
}
