//! Customers: search, one customer's page (profile, consents with their source, orders,
//! scores, loyalty, programmes and one timeline of events and messages with each
//! decision's reason), a template preview for this customer, a JSON export of their
//! personal data, fixing their name data (editors) and erasing it (admins), both audited.
//!
//! Requirements: FR1 (why a message was held back or blocked), DQ2 (fix a name prefix).

use aftercare_domain::{AddressForm, CustomerRecord};
use aftercare_engine::loyalty as engine_loyalty;
use aftercare_engine::render::RenderInput;
use aftercare_store::{MessageFilter, StoredCustomer, Tx};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team, urlencoding};
use super::{AdminError, AdminResult, not_found, page, problem};
use crate::AppState;

/// `?q=`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn display_name(r: &CustomerRecord) -> String {
    [
        r.first_name.as_deref(),
        r.name_prefix.as_deref(),
        r.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect::<Vec<_>>()
    .join(" ")
}

/// The form's value and the audit log's word for an address form.
fn address_form_name(form: AddressForm) -> &'static str {
    match form {
        AddressForm::Formal => "formal",
        AddressForm::Informal => "informal",
    }
}

fn row(c: &StoredCustomer) -> Value {
    let r = &c.record;
    json!({
        "id": r.external_id.as_str(), "name": display_name(r),
        "email": r.email.as_ref().map(|e| e.as_str().to_string()),
        "postcode": r.postal_address.as_ref().map(|a| a.postcode.clone()),
        "city": r.postal_address.as_ref().map(|a| a.city.clone()),
    })
}

/// `GET /admin/customers?q=`: search, or the first customers when there is no query.
pub async fn search(
    State(app): State<AppState>,
    team: Team,
    Query(q): Query<SearchQuery>,
) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let found = if q.q.trim().is_empty() {
        tx.customers_page(aftercare_store::CustomerId(0), 25)
            .await?
    } else {
        tx.search_customers(&q.q, 50).await?
    };
    tx.commit().await?;
    let customers: Vec<Value> = found.iter().map(row).collect();
    page(
        &team,
        "customers.html",
        json!({"section": "customers", "q": q.q.trim(), "customers": customers}),
    )
}

pub(super) async fn find(tx: &mut Tx, team: &Team, id: &str) -> Result<StoredCustomer, AdminError> {
    tx.customer_by_external_id(id).await?.ok_or_else(|| {
        not_found(
            team,
            &format!(
                "{}: {id}",
                team.lang
                    .pick("No customer with id", "Geen klant met nummer")
            ),
        )
    })
}

pub(super) fn minute(ts: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> String {
    ts.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// The customer's service cases from their `case_opened` and `case_resolved` events, newest
/// first: each resolution closes the oldest open case (the helpdesk sends no case id).
fn cases(events: &[aftercare_store::StoredEvent], zone: &jiff::tz::TimeZone) -> Vec<Value> {
    let mut oldest_first: Vec<&aftercare_store::StoredEvent> = events
        .iter()
        .filter(|e| e.event_type == "case_opened" || e.event_type == "case_resolved")
        .collect();
    oldest_first.sort_by_key(|e| (e.occurred_at, e.id));
    let prop = |e: &aftercare_store::StoredEvent, key: &str| -> Option<String> {
        serde_json::from_str::<Value>(&e.properties)
            .ok()?
            .get(key)?
            .as_str()
            .map(str::to_string)
    };
    let at = |e: &aftercare_store::StoredEvent| minute(e.occurred_at, zone);
    let mut cases: Vec<Value> = Vec::new();
    for e in oldest_first {
        if e.event_type == "case_opened" {
            cases.push(json!({"opened": at(e), "kind": prop(e, "kind"),
                "subject": prop(e, "subject"), "resolved": null, "channel": null}));
        } else if let Some(open) = cases.iter_mut().find(|c| c["resolved"].is_null()) {
            open["resolved"] = at(e).into();
            open["channel"] = prop(e, "channel").into();
        }
    }
    cases.reverse();
    cases
}

/// Which notice to show after a change.
#[derive(Debug, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

/// `GET /admin/customers/{id}`.
pub async fn show(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> AdminResult {
    let now = app.clock.now();
    let mut tx = app.store.begin_read().await?;
    let customer = find(&mut tx, &team, &id).await?;
    let orders = tx.orders_of_customer(customer.id, 50).await?;
    let events = tx.events_of_customer(customer.id, 300).await?;
    let messages = tx
        .messages(&MessageFilter {
            customer_id: Some(customer.id),
            limit: 300,
            ..Default::default()
        })
        .await?;
    let mut histories = Vec::with_capacity(messages.len());
    for m in &messages {
        histories.push(tx.message_transitions(m.id).await?);
    }
    // Clicks on tracked links and opens, where the step or the brand counts them.
    let engagement = tx.engagement_of_customer(customer.id).await?;
    let enrolments = tx.enrolments_of_customer(customer.id, 100).await?;
    let shipments = tx.shipments_of_customer(customer.id, 50).await?;
    let scores = tx.scores(customer.id).await?;
    let loyalty = engine_loyalty::summary(&mut tx, app.engine.loyalty(), customer.id, now).await?;
    tx.commit().await?;

    // Times in the team's view are the customer's local times: "sent at 09:00" means theirs.
    let zone = customer.record.time_zone.zone();
    let r = &customer.record;
    let mut timeline: Vec<(i64, Value)> = Vec::new();
    for e in &events {
        let at = e.occurred_at;
        let props = e.properties_json()?;
        let detail = props
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.is_string() || v.is_number())
                    .take(4)
                    .map(|(k, v)| {
                        format!(
                            "{k}: {}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default();
        timeline.push((at.as_microsecond(), json!({"kind": "event", "at": minute(at, &zone), "what": e.event_type, "detail": detail})));
    }
    for (m, history) in messages.iter().zip(histories) {
        let (clicks, opens) = engagement.get(&m.id).copied().unwrap_or_default();
        let at = m.sent_at.unwrap_or(m.planned_at);
        let history: Vec<Value> = history
            .iter()
            .map(|h| json!({"at": minute(h.at, &zone), "state": h.to_state, "reason": h.reason}))
            .collect();
        timeline.push((at.as_microsecond(), json!({
            "kind": "message", "at": minute(at, &zone), "what": m.template, "subject": m.subject,
            "programme": m.programme_id, "channel": m.channel.as_str(), "state": m.state.as_str(),
            "reason": m.reason, "history": history, "id": m.id,
            "clicks": clicks, "opens": opens,
        })));
    }
    timeline.sort_by_key(|(at, _)| std::cmp::Reverse(*at));

    let renderer = app.engine.renderer();
    let mut templates: Vec<&String> = renderer.template_names().iter().collect();
    templates.sort();
    let c = json!({
        "id": r.external_id.as_str(), "name": display_name(r),
        "greeting": app.engine.renderer().greeting(r).line,
        "first_name": r.first_name, "name_prefix": r.name_prefix, "last_name": r.last_name,
        "email": r.email.as_ref().map(|e| e.as_str().to_string()),
        "phone": r.phone.as_ref().map(|p| p.as_str().to_string()),
        "address": r.postal_address.as_ref().map(|a| format!("{} {}{}, {} {} ({})", a.street, a.house_number,
            a.house_number_addition.as_deref().map(|x| format!(" {x}")).unwrap_or_default(), a.postcode, a.city, a.country)),
        "locale": r.locale.tag(), "time_zone": r.time_zone.as_str(),
        "address_form": r.address_form.map(address_form_name),
        "birth_date": r.birth_date.map(|d| d.to_string()),
        "customer_since": r.customer_since.map(|d| d.to_string()),
        "attributes": r.attributes.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect::<Vec<_>>(),
        "consents": r.consents.iter().map(|k| json!({"purpose": if k.purpose == aftercare_domain::Purpose::Service { "service" } else { "marketing" }, "channel": k.channel.as_str(),
            "granted": k.granted, "source": k.source, "at": minute(k.at, &zone)})).collect::<Vec<_>>(),
    });
    let order_ids: std::collections::HashMap<aftercare_store::OrderId, &str> = orders
        .iter()
        .map(|o| (o.id, o.record.external_id.as_str()))
        .collect();
    let orders: Vec<Value> = orders
        .iter()
        .map(|o| {
            json!({"id": o.record.external_id.as_str(), "placed": minute(o.record.placed_at, &zone),
            "total": format!("{} {:.2}", o.record.currency, o.record.total_cents() as f64 / 100.0)})
        })
        .collect();
    let shipments: Vec<Value> = shipments
        .iter()
        .map(|sh| {
            let window = match (sh.expected_from, sh.expected_until) {
                (Some(a), Some(b)) => format!("{} – {}", minute(a, &zone), minute(b, &zone)),
                (Some(a), None) => minute(a, &zone),
                _ => String::new(),
            };
            json!({"id": sh.external_id, "carrier": sh.carrier, "status": sh.status,
                "at": minute(sh.status_at, &zone), "expected": window,
                "order": order_ids.get(&sh.order_id)})
        })
        .collect();
    let cases = cases(&events, &zone);
    let enrolments: Vec<Value> = enrolments
        .iter()
        .map(|e| {
            let step = app
                .engine
                .programmes()
                .version(&e.programme_id, e.programme_version)
                .and_then(|p| usize::try_from(e.step_index).ok().and_then(|i| p.steps.get(i)).map(|s| s.id.clone()));
            json!({"programme": e.programme_id, "version": e.programme_version,
                "state": if e.holdout { format!("{} (holdout)", e.state) } else { e.state.to_string() },
                "exit_reason": e.exit_reason, "step": step,
                "started": minute(e.started_at, &zone)})
        })
        .collect();
    let scores = scores.map(|s| {
        json!({"segment": s.rfm_segment, "rfm": format!("R{} F{} M{}", s.rfm_r, s.rfm_f, s.rfm_m),
        "p_alive": s.p_alive.map(|p| format!("{:.0}%", p * 100.0)),
        "clv": s.clv_12m_cents.map(|c| format!("{:.2}", c as f64 / 100.0))})
    });
    page(
        &team,
        "customer.html",
        json!({
            "section": "customers", "c": c, "orders": orders, "enrolments": enrolments,
            "shipments": shipments, "cases": cases, "timeline": timeline.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "scores": scores, "loyalty": {"balance": loyalty.balance, "tier": loyalty.tier},
            "templates": templates, "notice": notice.notice.filter(|n| n == "saved" || n == "erased"),
            "can_edit": team.role >= Role::Editor, "can_erase": team.role >= Role::Admin,
        }),
    )
}

/// `?template=`.
#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    template: String,
}

/// `GET /admin/customers/{id}/preview?template=`: the message as this customer would get it
/// now, with their latest order.
pub async fn preview(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> AdminResult {
    let renderer = app.engine.renderer();
    if !renderer.template_names().contains(&q.template) {
        return Err(AdminError::page(problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Unknown template", "Onbekend sjabloon"),
            &format!(
                "template: '{}' {}",
                q.template,
                team.lang.pick(
                    "is not one of the loaded templates",
                    "is geen van de geladen sjablonen"
                )
            ),
        )));
    }
    let mut tx = app.store.begin_read().await?;
    let customer = find(&mut tx, &team, &id).await?;
    let (order, products) = tx
        .latest_order_with_products(customer.id)
        .await?
        .map_or((None, Vec::new()), |(o, p)| (Some(o), p));
    tx.commit().await?;
    let event = json!({"order_external_id": order.as_ref().map(|o| o.record.external_id.as_str())});
    let sample = "https://example.invalid/p/preview";
    let links = json!({"loyalty": sample, "survey": sample, "preferences": sample, "tracking": sample, "unsubscribe": null});
    let input = RenderInput {
        customer: &customer.record,
        order: order.as_ref().map(|o| &o.record),
        products: &products,
        event: &event,
        recommendations: &[],
        successors: &[],
        picks: &[],
        new_skus: None,
        links: &links,
    };
    let ctx = match renderer.render(&q.template, &input) {
        Ok(r) => {
            json!({"subject": r.subject, "text": r.text, "html": r.html, "greeting": r.greeting})
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    let mut ctx = ctx;
    ctx["section"] = "customers".into();
    ctx["id"] = id.into();
    ctx["template"] = q.template.into();
    ctx["recipient"] = customer
        .record
        .email
        .as_ref()
        .map(|e| e.as_str().to_string())
        .into();
    page(&team, "preview.html", ctx)
}

/// `GET /admin/customers/{id}/export`: everything stored about the customer as JSON
/// (GDPR access request), audited.
pub async fn export(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> AdminResult {
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let customer = find(&mut tx, &team, &id).await?;
    let orders = tx.orders_of_customer(customer.id, 10_000).await?;
    let events = tx.events_of_customer(customer.id, 10_000).await?;
    let messages = tx
        .messages(&MessageFilter {
            customer_id: Some(customer.id),
            limit: 500,
            ..Default::default()
        })
        .await?;
    let loyalty = engine_loyalty::summary(&mut tx, app.engine.loyalty(), customer.id, now).await?;
    let scores = tx.scores(customer.id).await?;
    let mut event_rows = Vec::with_capacity(events.len());
    for e in &events {
        event_rows.push(json!({"type": e.event_type, "at": e.occurred_at.to_string(), "properties": e.properties_json()?}));
    }
    tx.audit(
        &team.username,
        "customer.export",
        &format!("customer:{id}"),
        None,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    let body = json!({
        "exported_at": now.to_string(),
        "customer": customer,
        "orders": orders.iter().map(|o| &o.record).collect::<Vec<_>>(),
        "events": event_rows,
        "messages": messages.iter().map(|m| json!({"template": m.template, "channel": m.channel.as_str(),
            "state": m.state.as_str(), "reason": m.reason, "planned_at": m.planned_at.to_string(),
            "sent_at": m.sent_at.map(|t| t.to_string()), "recipient": m.recipient, "subject": m.subject,
            "text": m.body_text})).collect::<Vec<_>>(),
        "loyalty": loyalty,
        "scores": scores.map(|s| json!({"rfm_segment": s.rfm_segment, "p_alive": s.p_alive, "clv_12m_cents": s.clv_12m_cents})),
    });
    let text = serde_json::to_string_pretty(&body)
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    let mut response = (StatusCode::OK, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"customer-{}.json\"",
        urlencoding(&id).replace('/', "_")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The fix-data form.
#[derive(Debug, Deserialize)]
pub struct FixForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    name_prefix: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    address_form: String,
}

fn field(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn bad_input(team: &Team, e: &aftercare_domain::FieldError) -> AdminError {
    AdminError::page(problem(
        team.lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        team.lang.pick("Not saved", "Niet opgeslagen"),
        &format!(
            "{}: {}. {}",
            e.field,
            e.reason,
            team.lang
                .pick("Nothing was changed.", "Er is niets veranderd.")
        ),
    ))
}

/// `POST /admin/customers/{id}/fix` (editor): names and address form, audited with the
/// record before and after.
pub async fn fix(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<FixForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let customer = find(&mut tx, &team, &id).await?;
    let before = customer.record.clone();
    let mut record = customer.record;
    record.first_name = field(&form.first_name);
    record.name_prefix = field(&form.name_prefix);
    record.last_name = field(&form.last_name);
    record.address_form = match form.address_form.as_str() {
        "" => None,
        "formal" => Some(AddressForm::Formal),
        "informal" => Some(AddressForm::Informal),
        other => {
            return Err(bad_input(
                &team,
                &aftercare_domain::FieldError::new(
                    "address_form",
                    format!("'{other}' is not formal or informal"),
                ),
            ));
        }
    };
    if let Err(e) = record.validate(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()) {
        return Err(bad_input(&team, &e));
    }
    let names = |r: &CustomerRecord| {
        json!({"first_name": r.first_name, "name_prefix": r.name_prefix, "last_name": r.last_name,
        "address_form": r.address_form.map(address_form_name)})
        .to_string()
    };
    tx.upsert_customer(&record, now).await?;
    tx.audit(
        &team.username,
        "customer.fix",
        &format!("customer:{id}"),
        Some(&names(&before)),
        Some(&names(&record)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "/admin/customers/{}?notice=saved",
        urlencoding(&id)
    ))
    .into_response())
}

/// The erase form: the customer id typed again.
#[derive(Debug, Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/customers/{id}/erase` (admin): removes the personal data (GDPR erasure);
/// queued messages are blocked, sent ones keep only their template and state.
pub async fn erase(
    State(app): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    Form(form): Form<EraseForm>,
) -> AdminResult {
    team.require(Role::Admin)?;
    team.check_csrf(&form.csrf)?;
    if form.confirm.trim() != id {
        return Err(bad_input(
            &team,
            &aftercare_domain::FieldError::new(
                "confirm",
                team.lang.pick(
                    "must be the customer id, to confirm",
                    "moet het klantnummer zijn, ter bevestiging",
                ),
            ),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.store.begin().await?;
    let customer = find(&mut tx, &team, &id).await?;
    aftercare_engine::privacy::erase_customer(&mut tx, &customer, &team.username, now)
        .await
        .map_err(|e| match e {
            aftercare_engine::ingest::IngestError::Invalid(f) => bad_input(&team, &f),
            aftercare_engine::ingest::IngestError::Store(s) => s.into(),
        })?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "/admin/customers/{}?notice=erased",
        urlencoding(&id)
    ))
    .into_response())
}
