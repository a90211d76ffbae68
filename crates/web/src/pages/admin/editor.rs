//! The template editor (issue 21): the CRM team changes a message's subject, body and short
//! text per language without a developer. A draft is saved as it is typed (one per
//! template), shown beside its preview for a sample customer of each language and address
//! form (or a real customer by id), with `check`'s findings and the register warnings, and
//! the difference from the live version. Publishing stores it as the next immutable version
//! and makes it live — refused, changing nothing, while it has findings — and every running
//! worker picks it up without a restart; any earlier version can be made live again with one
//! click. Each change is audited in its own transaction. The stored versions can be
//! downloaded as the same TOML the template files hold, so git can stay the record. A new
//! template is begun here too, as a draft copied from an existing one under a new name; it
//! goes live — and can be chosen by campaigns and programmes — when it is published.

use std::collections::{BTreeMap, HashMap};

use aftercare_engine::content::{ContentError, TemplateText, definition_from, parts};
use aftercare_engine::preview::{Sample, render_for};
use aftercare_engine::programme::Action;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Role, Team, urlencoding};
use super::{
    AdminError, AdminResult, CsrfForm, NoteForm, VersionForm, html, not_found, page, render,
};
use crate::AppState;
use aftercare_store::Content;

/// The longest text one field of the editor takes.
const MAX_FIELD: usize = 20_000;

fn stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// The programmes (id, step) that send `template`.
fn senders(app: &AppState, template: &str) -> Vec<String> {
    let programmes = app.engine.programmes();
    let mut out = Vec::new();
    for p in programmes.current().programmes.values() {
        for step in &p.steps {
            if let Action::Send(s) = &step.action
                && s.template == template
            {
                out.push(p.id.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `GET /admin/templates`.
pub async fn list(State(app): State<AppState>, team: Team) -> AdminResult {
    let mut tx = app.store.begin_read().await?;
    let live: HashMap<String, aftercare_store::LiveTemplate> = tx
        .live_templates()
        .await?
        .into_iter()
        .map(|l| (l.name.clone(), l))
        .collect();
    let drafts = tx.drafts(Content::Template).await?;
    tx.commit().await?;
    let renderer = app.engine.renderer();
    let mut names: Vec<&String> = renderer.template_names().iter().collect();
    // Templates begun in the editor and not yet published: a draft without a live version.
    names.extend(
        drafts
            .iter()
            .filter(|d| !renderer.template_names().contains(*d)),
    );
    names.sort();
    let rows: Vec<Value> = names
        .iter()
        .map(|name| {
            let l = live.get(*name);
            json!({
                "name": name, "version": l.map(|l| l.version),
                "since": l.map(|l| stamp(l.since)), "by": l.map(|l| l.by.clone()),
                "draft": drafts.contains(name), "used_by": senders(&app, name),
                "short": renderer.has_short_text(name),
                "new": !renderer.template_names().contains(*name),
            })
        })
        .collect();
    let mut existing: Vec<&String> = renderer.template_names().iter().collect();
    existing.sort();
    page(
        &team,
        "template_list.html",
        json!({"section": "templates", "templates": rows, "existing": existing,
               "can_edit": team.role >= Role::Editor}),
    )
}

/// `POST /admin/templates` (editor): begins a new template as a draft copied from an
/// existing one, and opens it in the editor; refused (422) naming the field.
pub async fn begin(
    State(app): State<AppState>,
    team: Team,
    Form(form): Form<super::BeginForm>,
) -> AdminResult {
    let (name, from) = form.checked(&team)?;
    let outcome = app.engine.begin_template(name, from, &team.username).await;
    super::begun(
        &team,
        outcome,
        &format!("/admin/templates/{}", urlencoding(name)),
    )
}

/// What the editor page can be asked for.
#[derive(Debug, Deserialize)]
pub struct EditorQuery {
    /// A real customer's id to preview for, instead of the samples.
    #[serde(default)]
    customer: String,
    /// Try the draft on the template's latest real messages.
    #[serde(default, rename = "try")]
    try_real: String,
}

/// How many of a template's latest real messages a draft is tried on (as many as a
/// publish must render for).
const TRIAL: i64 = aftercare_engine::content::PUBLISH_TRIAL;

fn unknown(team: &Team, name: &str) -> AdminError {
    not_found(
        team,
        &format!("{}: {name}", team.lang.pick("No template", "Geen sjabloon")),
    )
}

/// A sample as the page shows it.
fn sample_json(s: &Sample) -> Value {
    let (subject, text) = match &s.text {
        Ok(t) => {
            let (subject, body) = t
                .strip_prefix("Subject: ")
                .and_then(|t| t.split_once("\n\n"))
                .unwrap_or(("", t));
            (Some(subject.to_string()), Some(body.to_string()))
        }
        Err(_) => (None, None),
    };
    json!({
        "label": format!("{} · {}{}", s.locale.tag(), if s.formal { "formal" } else { "informal" },
                         s.variant.as_deref().map(|v| format!(" · {v}")).unwrap_or_default()),
        "subject": subject, "text": text, "html": s.html,
        "error": s.text.as_ref().err(), "mistakes": s.mistakes,
    })
}

/// The editor page: the draft (or the live version) in fields per language, its preview,
/// findings, the difference from the live version, the versions and the changes.
async fn editor_page(
    app: &AppState,
    team: &Team,
    name: &str,
    customer: &str,
    try_real: bool,
    status: StatusCode,
    refused: Option<&[aftercare_engine::programme::Finding]>,
) -> AdminResult {
    let renderer = app.engine.renderer();
    let mut tx = app.store.begin_read().await?;
    let draft = tx.draft(Content::Template, name).await?;
    // A template begun in the editor has no live text yet: its draft is all of it.
    let live_text = match (renderer.source(name), &draft) {
        (Some(text), _) => text.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => return Err(unknown(team, name)),
    };
    let versions = tx.template_versions(name).await?;
    let live = tx
        .live_templates()
        .await?
        .into_iter()
        .find(|l| l.name == name);
    let changes = tx.content_changes(Content::Template, name, 20).await?;
    // The customer by id, or the first the admin search finds by name, email or postcode.
    let real = if customer.is_empty() {
        None
    } else {
        let found = match tx.customer_by_external_id(customer).await? {
            Some(c) => Some(c),
            None => tx.search_customers(customer, 1).await?.into_iter().next(),
        };
        match found {
            Some(c) => {
                let latest = tx.latest_order_with_products(c.id).await?;
                Some((c, latest))
            }
            None => None,
        }
    };
    tx.commit().await?;
    let text = draft
        .as_ref()
        .map_or(live_text.as_str(), |d| d.definition.as_str());
    let checked = app.engine.check_template(name, text);
    let trial = if try_real {
        app.engine
            .try_template(name, text, TRIAL)
            .await
            .map_err(|e| AdminError::Api(crate::error::ApiError::Internal(e.to_string())))?
            .map(|t| {
                let rows = |v: &[(String, aftercare_store::MessageId, String)]| -> Vec<Value> {
                    v.iter()
                        .take(20)
                        .map(|(c, m, why)| json!({"customer": c, "message": m, "why": why}))
                        .collect()
                };
                json!({"tried": t.tried, "failed": t.failed.len(), "failures": rows(&t.failed),
                       "mistaken": t.mistakes.len(), "mistakes": rows(&t.mistakes),
                       "longest_subject": t.longest_subject})
            })
    } else {
        None
    };
    let fields = parts(text).unwrap_or_default();
    let languages: Vec<Value> = renderer
        .brand()
        .languages
        .iter()
        .map(|l| {
            let f = fields.get(l.tag()).cloned().unwrap_or_default();
            json!({"tag": l.tag(), "subject": f.subject, "body": f.body, "short": f.short.unwrap_or_default(),
                   "rows": f.body.lines().count().clamp(6, 30) + 1})
        })
        .collect();
    // The editor shows fields, not the TOML file the lines count in: a finding about a
    // language's subject, body or short text links to that field instead.
    let findings: Vec<Value> = refused
        .unwrap_or(&checked.findings)
        .iter()
        .map(|f| json!({"field": finding_field(&f.reason), "reason": f.reason}))
        .collect();
    let warnings: Vec<Value> = checked
        .samples
        .iter()
        .flat_map(|s| {
            s.mistakes
                .iter()
                .filter(|m| !m.starts_with("does not render"))
                .map(|m| {
                    json!({"sample": format!("{} {}", s.locale.tag(), if s.formal { "formal" } else { "informal" }), "mistake": m})
                })
        })
        .collect();
    let samples: Vec<Value> = checked.samples.iter().map(sample_json).collect();
    // A real customer: the draft as they would get it, with their latest order.
    let for_customer = match (&real, &checked.renderer) {
        (Some((c, latest)), Some(r)) => {
            let (order, products) = latest
                .as_ref()
                .map_or((None, Vec::new()), |(o, p)| (Some(&o.record), p.clone()));
            Some(
                match render_for(r, &c.record, order, &products, name, None) {
                    Ok(rendered) => {
                        json!({"id": c.record.external_id.as_str(), "subject": rendered.subject, "text": rendered.text, "html": rendered.html})
                    }
                    Err(e) => json!({"id": c.record.external_id.as_str(), "error": e.reason}),
                },
            )
        }
        (Some((_, _)), None) => Some(
            json!({"id": customer, "error": team.lang.pick("The draft cannot be loaded; see above.", "Het concept kan niet worden geladen; zie hierboven.")}),
        ),
        (None, _) if !customer.is_empty() => Some(
            json!({"id": customer, "error": team.lang.pick("No customer found.", "Geen klant gevonden.")}),
        ),
        _ => None,
    };
    let live_version_text = live
        .as_ref()
        .and_then(|l| versions.iter().find(|v| v.version == l.version))
        .map_or(live_text.clone(), |v| v.definition.clone());
    let diff = draft.as_ref().map(|d| {
        aftercare_engine::content::diff(&live_version_text, &d.definition, "live", "draft")
    });
    let live_version = live.as_ref().map(|l| l.version);
    let mut version_rows: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let before = i.checked_sub(1).and_then(|j| versions.get(j));
            json!({
                "version": v.version, "origin": v.origin, "author": v.author, "note": v.note,
                "at": stamp(v.created_at), "live": Some(v.version) == live_version,
                "diff": before.map(|b| aftercare_engine::content::diff(&b.definition, &v.definition,
                    &format!("v{}", b.version), &format!("v{}", v.version))),
            })
        })
        .collect();
    version_rows.reverse();
    let changes: Vec<Value> = changes
        .iter()
        .map(|c| json!({"at": stamp(c.at), "kind": c.kind, "version": c.version, "by": c.by}))
        .collect();
    let ctx = json!({
        "section": "templates", "name": name, "languages": languages,
        "live": live.as_ref().map(|l| json!({"version": l.version, "since": stamp(l.since), "by": l.by})),
        "draft": draft.as_ref().map(|d| json!({"author": d.author, "at": stamp(d.updated_at)})),
        "findings": findings, "refused": refused.is_some(), "warnings": warnings,
        "samples": samples, "customer": for_customer, "customer_id": customer, "trial": trial,
        "trial_size": TRIAL,
        "diff": diff, "versions": version_rows, "changes": changes,
        "used_by": senders(app, name), "can_edit": team.role >= Role::Editor,
    });
    Ok(html(
        status,
        render(team.lang, Some(team), "template_edit.html", ctx)?,
    ))
}

/// `GET /admin/templates/{name}[?customer=ID]`.
pub async fn show(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
    Query(q): Query<EditorQuery>,
) -> AdminResult {
    editor_page(
        &app,
        &team,
        &name,
        q.customer.trim(),
        !q.try_real.is_empty(),
        StatusCode::OK,
        None,
    )
    .await
}

/// The draft as the editor posts it: `csrf`, and per language `<tag>.subject`,
/// `<tag>.body`, `<tag>.short`.
fn draft_from_form(
    app: &AppState,
    team: &Team,
    name: &str,
    form: &HashMap<String, String>,
) -> Result<String, AdminError> {
    let renderer = app.engine.renderer();
    let bad = |field: &str, reason: &str| {
        AdminError::page(super::problem(
            team.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            team.lang.pick("Not saved", "Niet bewaard"),
            &format!("{field}: {reason}"),
        ))
    };
    let mut languages: BTreeMap<usize, (String, TemplateText)> = BTreeMap::new();
    for (key, value) in form {
        if key == "csrf" {
            continue;
        }
        let Some((tag, part)) = key.split_once('.') else {
            return Err(bad(key, "is not a field of the editor"));
        };
        let Some(index) = renderer
            .brand()
            .languages
            .iter()
            .position(|l| l.tag() == tag)
        else {
            return Err(bad(key, "is not a language the brand writes in"));
        };
        if value.chars().count() > MAX_FIELD {
            return Err(bad(key, &format!("is longer than {MAX_FIELD} characters")));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(bad(key, "holds a control character"));
        }
        // Browsers post line breaks as CRLF.
        let value = value.replace("\r\n", "\n").replace('\r', "\n");
        let entry = &mut languages
            .entry(index)
            .or_insert_with(|| (tag.to_string(), TemplateText::default()))
            .1;
        match part {
            "subject" => entry.subject = value.trim().to_string(),
            "body" => entry.body = value,
            "short" => entry.short = Some(value.trim().to_string()),
            _ => return Err(bad(key, "is not a field of the editor")),
        }
    }
    if languages.is_empty() {
        return Err(bad("subject", "no language was posted"));
    }
    let previous = renderer.source(name).unwrap_or_default().to_string();
    Ok(definition_from(
        &previous,
        languages.values().map(|(tag, t)| (tag.as_str(), t)),
    ))
}

fn back_to(name: &str) -> axum::response::Response {
    Redirect::to(&format!("/admin/templates/{}", urlencoding(name))).into_response()
}

/// `POST /admin/templates/{name}` (editor): saves the draft. A draft may still have
/// findings — it is work in progress; only publishing is refused.
pub async fn save(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    let live = app.engine.renderer().template_names().contains(&name);
    if !super::live_or_begun(&app, Content::Template, &name, live).await? {
        return Err(unknown(&team, &name));
    }
    let definition = draft_from_form(&app, &team, &name, &form)?;
    let back = format!("/admin/templates/{}", urlencoding(&name));
    super::keep_draft(
        &app,
        &team,
        Content::Template,
        &name,
        Some(&definition),
        &back,
    )
    .await
}

/// `POST /admin/templates/{name}/publish` (editor): the draft becomes the next live version,
/// or the page comes back with why not (422) and nothing changed.
pub async fn publish(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
    Form(form): Form<NoteForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let note = super::publish_note(&team, &form.note)?;
    let definition = super::draft_to_publish(&app, &team, Content::Template, &name).await?;
    let outcome = app
        .engine
        .publish_template(&name, &definition, &team.username, note)
        .await
        .map(|_| ());
    let missing = unknown(&team, &name);
    after_change(&app, &team, &name, outcome, missing).await
}

/// `POST /admin/templates/{name}/discard` (editor): drops the draft.
pub async fn discard(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    // Discarding a template begun here discards the template: back to the list.
    let back = if app.engine.renderer().template_names().contains(&name) {
        format!("/admin/templates/{}", urlencoding(&name))
    } else {
        "/admin/templates".to_string()
    };
    super::keep_draft(&app, &team, Content::Template, &name, None, &back).await
}

/// `POST /admin/templates/{name}/rollback` (editor): an earlier version is live again.
pub async fn roll_back(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
    Form(form): Form<VersionForm>,
) -> AdminResult {
    team.require(Role::Editor)?;
    team.check_csrf(&form.csrf)?;
    let version = super::version_number(&team, &form.version)?;
    let outcome = app
        .engine
        .roll_back_template(&name, version, &team.username)
        .await;
    let missing = match &outcome {
        Err(ContentError::NotFound(what)) => not_found(&team, what),
        _ => unknown(&team, &name),
    };
    after_change(&app, &team, &name, outcome, missing).await
}

/// Back to the editor after a publish or roll-back; refused, the editor again with why (422);
/// `missing` when there is no such template or version.
async fn after_change(
    app: &AppState,
    team: &Team,
    name: &str,
    outcome: Result<(), ContentError>,
    missing: AdminError,
) -> AdminResult {
    match outcome {
        Ok(()) => Ok(back_to(name)),
        Err(ContentError::Refused(findings)) => {
            editor_page(
                app,
                team,
                name,
                "",
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&findings),
            )
            .await
        }
        Err(ContentError::NotFound(_)) => Err(missing),
        Err(e) => Err(AdminError::Api(crate::error::ApiError::Internal(
            e.to_string(),
        ))),
    }
}

/// `GET /admin/templates/{name}/export`: the live version as the TOML file it would be in
/// the template folder, to commit to git.
pub async fn export(
    State(app): State<AppState>,
    team: Team,
    Path(name): Path<String>,
) -> AdminResult {
    let renderer = app.engine.renderer();
    let Some(text) = renderer.source(&name) else {
        return Err(unknown(&team, &name));
    };
    let mut response = text.to_string().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/toml; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The name is one of the loaded templates' (a file stem), so it is safe in the header.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.toml\"",
        name.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
            "_"
        )
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The editor field a finding is about (`nl-NL-body` for "[nl-NL] body: …"), if any.
fn finding_field(reason: &str) -> Option<String> {
    let (tag, rest) = reason.strip_prefix('[')?.split_once(']')?;
    let part = rest
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()?;
    matches!(part, "subject" | "body" | "short")
        .then(|| format!("{tag}-{part}"))
        .filter(|_| tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[cfg(test)]
mod finding_tests {
    use super::finding_field;

    #[test]
    fn a_finding_about_a_language_s_field_links_to_that_field() {
        assert_eq!(
            finding_field("[nl-NL] body: syntax error: unexpected end of input").as_deref(),
            Some("nl-NL-body")
        );
        assert_eq!(
            finding_field("[en] subject promises '20%' without a code").as_deref(),
            Some("en-subject")
        );
        assert_eq!(finding_field("template 'x' has no [fr-BE] section"), None);
    }
}
