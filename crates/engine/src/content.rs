//! Templates as the CRM team edits them (issue 21): every definition a template ever had is
//! a stored, immutable version; one is live. At start the template files are the seed — a
//! file whose text changed since its last stored version is a deploy and goes live — and
//! otherwise what the admin UI's editor published stays live. A draft is checked as a file
//! would be (it loads in every language the brand writes in, renders for a sample customer
//! of each language and address form, and every programme that sends it still passes
//! `check`, and it renders for the template's latest real messages as their delivery did)
//! before it can be published, so a change `check` refuses never goes live. A
//! publish or a roll-back is a numbered change in the store; every running process
//! ([`Engine::refresh_content`], called by the worker loop) reloads when the number moves.

use aftercare_store::MessageId;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use aftercare_store::{Content, Store, StoreError};
use jiff::Timestamp;

use crate::preview::{Sample, render_samples_of};
use crate::programme::{Finding, parse_programme};
use crate::render::Renderer;
use crate::worker::Engine;

/// The renderer every job uses, replaced whole when the live templates change.
#[derive(Debug)]
pub(crate) struct LiveRenderer {
    current: RwLock<Arc<Renderer>>,
    /// The number of the last content change loaded.
    generation: AtomicI64,
}

impl LiveRenderer {
    pub(crate) fn new(renderer: Arc<Renderer>) -> Self {
        Self {
            current: RwLock::new(renderer),
            generation: AtomicI64::new(0),
        }
    }

    pub(crate) fn get(&self) -> Arc<Renderer> {
        self.current
            .read()
            .map_or_else(|e| e.into_inner().clone(), |r| r.clone())
    }

    fn set(&self, renderer: Renderer, generation: i64) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(renderer);
        self.generation.store(generation, Ordering::SeqCst);
    }
}

/// Why a template could not be synced, checked or made live.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The definition does not pass `check`: these findings say why.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Finding>),
    /// No such template (or version).
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Gathering what a message is rendered with failed.
    #[error(transparent)]
    Engine(#[from] crate::worker::EngineError),
}

/// The same definition, whatever its comments and layout.
fn canonical(text: &str) -> Option<String> {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| toml::to_string(&t).ok())
}

/// `base` with the templates `renderer` has — which exist, and which have a short text for
/// SMS and push — as programmes are checked against them.
pub fn with_templates(
    base: &crate::programme::CheckContext,
    renderer: &Renderer,
) -> crate::programme::CheckContext {
    let mut ctx = base.clone();
    ctx.templates = renderer.template_names().clone();
    ctx.short_templates = renderer
        .template_names()
        .iter()
        .filter(|t| renderer.has_short_text(t))
        .cloned()
        .collect();
    ctx
}

/// Stores each template file whose text changed since its last stored version as a new
/// live version (a deploy), then returns the renderer with the live version of every
/// template and the number of the last content change.
pub async fn sync_templates(
    store: &Store,
    files: Renderer,
    now: Timestamp,
) -> Result<(Renderer, i64), ContentError> {
    let mut tx = store.begin().await?;
    tx.lock_content().await?;
    let live: std::collections::HashMap<String, i32> = tx
        .live_templates()
        .await?
        .into_iter()
        .map(|l| (l.name, l.version))
        .collect();
    for (name, text) in files.sources() {
        let latest = tx.latest_file_template(name).await?;
        let changed = latest
            .as_ref()
            .is_none_or(|v| canonical(&v.definition) != canonical(text));
        if changed {
            let version = tx
                .add_template_version(name, text, "file", "files", "", now)
                .await?;
            tx.set_live(Content::Template, name, version, "deploy", "files", now)
                .await?;
        } else if let (Some(v), None) = (&latest, live.get(name)) {
            tx.set_live(Content::Template, name, v.version, "deploy", "files", now)
                .await?;
        }
    }
    let definitions = tx.live_template_definitions().await?;
    let generation = tx.content_generation().await?;
    tx.commit().await?;
    // Published in the editor over a file, or begun in the editor (no file ever had it); a
    // template whose file was removed stays out.
    let edited: Vec<(String, String)> = definitions
        .into_iter()
        .filter(|(name, _, text, from_file)| files.source(name).map_or(!from_file, |f| f != text))
        .map(|(name, _, text, _)| (name, text))
        .collect();
    let names: Vec<String> = edited.iter().map(|(n, _)| n.clone()).collect();
    let renderer = files.with_templates(edited).map_err(|findings| {
        ContentError::Refused(
            findings
                .into_iter()
                .map(|mut f| {
                    f.reason = format!(
                        "{} (the live version was published in the admin UI; publish a fixed one there or change the file: {})",
                        f.reason,
                        names.join(", ")
                    );
                    f
                })
                .collect(),
        )
    })?;
    Ok((renderer, generation))
}

/// A draft checked as `check` would: the renderer with it in place, or the findings, and the
/// draft rendered for each sample customer.
#[derive(Debug)]
pub struct Checked {
    /// The renderer with the draft in place, when it loads and every programme passes.
    pub renderer: Option<Renderer>,
    /// What refuses it: `file:line: reason` as `check` prints.
    pub findings: Vec<Finding>,
    /// The draft for a customer of each language and address form (empty when it does not
    /// load); register mistakes are warnings, a sample that does not render is a finding.
    pub samples: Vec<Sample>,
}

/// How many of a template's latest real messages a change must render for to go live.
pub const PUBLISH_TRIAL: i64 = 500;

/// A draft tried on the latest real messages of its template: rendered as their delivery
/// renders (the customer, the order in context, the enrolment's data), nothing sent.
#[derive(Debug, Default)]
pub struct Trial {
    /// Messages the draft was rendered for.
    pub tried: usize,
    /// Those it did not render for: (customer id, message id, why).
    pub failed: Vec<(String, MessageId, String)>,
    /// Those with wording that does not fit the customer's language or address form:
    /// (customer id, message id, what).
    pub mistakes: Vec<(String, MessageId, String)>,
    /// The longest subject line it gave, in characters.
    pub longest_subject: usize,
}

impl Engine {
    /// Tries `definition` as `name` on the template's latest `limit` real messages (not the
    /// ones the policy blocked). `None` when the draft does not load.
    pub async fn try_template(
        &self,
        name: &str,
        definition: &str,
        limit: i64,
    ) -> Result<Option<Trial>, ContentError> {
        let Ok(renderer) = self.renderer().with_template(name, definition) else {
            return Ok(None);
        };
        let now = self.clock().now();
        let mut trial = Trial::default();
        let mut tx = self.store().begin_read().await?;
        for id in tx.recent_messages_of_template(name, limit).await? {
            let message = tx.message(id).await?;
            let customer = tx.customer(message.customer_id).await?;
            let context = match message.enrolment_id {
                Some(e) => aftercare_store::Tx::enrolment_context(&tx.enrolment(e).await?)?,
                None => serde_json::Value::Null,
            };
            let data = self
                .message_data(&mut tx, &message, customer.id, &context, now, &renderer)
                .await?;
            trial.tried += 1;
            let who = customer.record.external_id.as_str().to_string();
            match renderer.render(name, &data.input(&customer.record, &context)) {
                Ok(r) => {
                    trial.longest_subject = trial.longest_subject.max(r.subject.chars().count());
                    let formal = customer
                        .record
                        .address_form
                        .unwrap_or(renderer.brand().default_address_form)
                        == aftercare_domain::AddressForm::Formal;
                    let locale = renderer.brand().language_for(customer.record.locale);
                    let text = format!("{}\n\n{}", r.subject, r.text);
                    for m in crate::register::mistakes(
                        locale,
                        formal,
                        customer.record.first_name.as_deref(),
                        &text,
                    ) {
                        trial.mistakes.push((who.clone(), id, m));
                    }
                }
                Err(e) => trial.failed.push((who, id, e.reason)),
            }
        }
        tx.commit().await?;
        Ok(Some(trial))
    }

    /// The templates every job renders with now.
    pub fn renderer(&self) -> Arc<Renderer> {
        self.renderer.get()
    }

    /// Says which content change the templates given to [`Engine::new`] are as of (what
    /// [`sync_templates`] returned), so the first look for changes loads nothing again.
    pub fn with_templates_as_of(self, generation: i64) -> Self {
        self.renderer.generation.store(generation, Ordering::SeqCst);
        self
    }

    /// Reloads the live templates when another process (or this one) changed them since
    /// the last load; true when it did. A live version that no longer loads is logged and
    /// the templates stay as they were.
    pub async fn refresh_content(&self) -> Result<bool, ContentError> {
        let mut tx = self.store().begin_read().await?;
        let generation = tx.content_generation().await?;
        if generation <= self.renderer.generation.load(Ordering::SeqCst) {
            tx.commit().await?;
            return Ok(false);
        }
        let definitions = tx.live_template_definitions().await?;
        tx.commit().await?;
        self.reload_programmes().await;
        let current = self.renderer();
        // Changed ones, and new ones begun in the editor (not a file this process lacks).
        let changed: Vec<(String, String)> = definitions
            .into_iter()
            .filter(|(name, _, text, from_file)| {
                current.source(name).map_or(!from_file, |live| live != text)
            })
            .map(|(name, _, text, _)| (name, text))
            .collect();
        match current.with_templates(changed) {
            Ok(renderer) => {
                tracing::info!(generation, "Templates reloaded.");
                self.renderer.set(renderer, generation);
                Ok(true)
            }
            Err(findings) => {
                tracing::error!(
                    generation,
                    ?findings,
                    "The live templates do not load; keeping the ones loaded before."
                );
                self.renderer.generation.store(generation, Ordering::SeqCst);
                Ok(false)
            }
        }
    }

    /// Reloads the programmes at their live versions from the store; a programme whose
    /// stored versions no longer load keeps the one loaded before.
    async fn reload_programmes(&self) {
        let current = self.programmes();
        let ids: Vec<String> = current.current().programmes.keys().cloned().collect();
        match crate::versions::reload(self.store(), &ids, self.check_context()).await {
            Ok(reloaded) => {
                let merged = reloaded.keeping(&current);
                tracing::info!("Programmes reloaded.");
                self.set_programmes(merged);
            }
            Err(e) => tracing::warn!(error = %e, "Reloading the programmes failed."),
        }
    }

    /// Checks `definition` as the new text of `name`: it loads, renders for every sample
    /// customer, and every programme still passes with it.
    pub fn check_template(&self, name: &str, definition: &str) -> Checked {
        let programmes = self.programmes();
        let current = self.renderer();
        let file = std::path::PathBuf::from(format!("{name}.toml"));
        let renderer = match current.with_template(name, definition) {
            Ok(r) => r,
            Err(findings) => {
                return Checked {
                    renderer: None,
                    // Only what is wrong with this template: the rest loaded before.
                    findings: findings.into_iter().filter(|f| f.file == file).collect(),
                    samples: Vec::new(),
                };
            }
        };
        let samples = render_samples_of(&renderer, name);
        let mut findings: Vec<Finding> = samples
            .iter()
            .filter_map(|s| {
                s.text.as_ref().err().map(|e| Finding {
                    file: file.clone(),
                    line: 1,
                    column: 1,
                    reason: format!(
                        "[{} {}] does not render: {e}",
                        s.locale.tag(),
                        if s.formal { "formal" } else { "informal" }
                    ),
                })
            })
            .collect();
        // Every programme on the templates as they would be (an SMS step needs a short text).
        let ctx = with_templates(self.check_context(), &renderer);
        for p in programmes.current().programmes.values() {
            if let Err(more) = parse_programme(&p.source, &p.text, &ctx) {
                findings.extend(more.into_iter().map(|mut f| {
                    f.reason = format!("with this template, {}", f.reason);
                    f
                }));
            }
        }
        Checked {
            renderer: findings.is_empty().then_some(renderer),
            findings,
            samples,
        }
    }

    /// Publishes `definition` as the next version of `name` and makes it live, in one
    /// transaction with its audit entry; refused (nothing changes) when it does not pass
    /// [`Engine::check_template`]. The draft, if any, is done with. Returns the version.
    pub async fn publish_template(
        &self,
        name: &str,
        definition: &str,
        by: &str,
        note: &str,
    ) -> Result<i32, ContentError> {
        // A template begun in the editor is published for the first time under a new name.
        if self.known_template(name).is_err() {
            new_template_name(name).map_err(ContentError::NotFound)?;
        }
        self.fit_to_publish(name, definition).await?;
        let mut tx = self.store().begin().await?;
        tx.lock_content().await?;
        let version = tx
            .add_template_version(name, definition, "editor", by, note, self.clock().now())
            .await?;
        self.go_live(tx, Content::Template, name, version, "publish", by, note)
            .await?;
        Ok(version)
    }

    /// Makes an earlier version of `name` live again, checked as a publish is (the
    /// programmes may have changed since), audited.
    pub async fn roll_back_template(
        &self,
        name: &str,
        version: i32,
        by: &str,
    ) -> Result<(), ContentError> {
        self.known_template(name)?;
        let mut tx = self.store().begin_read().await?;
        let stored = tx.template_version(name, version).await?;
        tx.commit().await?;
        let Some(stored) = stored else {
            return Err(ContentError::NotFound(format!(
                "template '{name}' has no version {version}"
            )));
        };
        self.fit_to_publish(name, &stored.definition).await?;
        let mut tx = self.store().begin().await?;
        tx.lock_content().await?;
        self.go_live(tx, Content::Template, name, version, "rollback", by, "")
            .await
    }

    /// Makes `version` of `name` live in `tx` (after a publish its draft is done with),
    /// audits it with the version before, commits, and reloads this process's templates and
    /// programmes; other processes follow within seconds.
    #[allow(clippy::too_many_arguments)]
    async fn go_live(
        &self,
        mut tx: aftercare_store::Tx,
        kind: Content,
        name: &str,
        version: i32,
        change: &str,
        by: &str,
        note: &str,
    ) -> Result<(), ContentError> {
        let now = self.clock().now();
        let before = tx.live_version(kind, name).await?;
        tx.set_live(kind, name, version, change, by, now).await?;
        if change == "publish" {
            tx.delete_draft(kind, name).await?;
        }
        tx.audit(
            by,
            &format!("{}.{change}", kind.as_str()),
            &kind.subject(name),
            Some(&serde_json::json!({ "version": before }).to_string()),
            Some(&serde_json::json!({ "version": version, "note": note }).to_string()),
            now,
        )
        .await?;
        tx.commit().await?;
        self.refresh_content().await?;
        Ok(())
    }

    /// Refuses a definition that does not pass [`Engine::check_template`] or does not render
    /// for one of the template's latest real messages.
    async fn fit_to_publish(&self, name: &str, definition: &str) -> Result<(), ContentError> {
        let checked = self.check_template(name, definition);
        if !checked.findings.is_empty() {
            return Err(ContentError::Refused(checked.findings));
        }
        let trial = self
            .try_template(name, definition, PUBLISH_TRIAL)
            .await?
            .unwrap_or_default();
        if trial.failed.is_empty() {
            return Ok(());
        }
        Err(ContentError::Refused(
            trial
                .failed
                .into_iter()
                .map(|(customer, message, why)| Finding {
                    file: std::path::PathBuf::from(format!("{name}.toml")),
                    line: 1,
                    column: 1,
                    reason: format!(
                        "does not render for customer {customer}'s message #{message}: {why}"
                    ),
                })
                .collect(),
        ))
    }

    /// Begins a new template as a draft named `name`, a copy of template `from`'s live
    /// definition, audited (issue 21: a new message needs no developer). It goes live when
    /// its draft is published, checked as every publish is. Refused, naming the field, when
    /// the name is taken or not a template name, or `from` is not a template.
    pub async fn begin_template(
        &self,
        name: &str,
        from: &str,
        by: &str,
    ) -> Result<Result<(), crate::campaigns::Refusal>, ContentError> {
        let refuse = |field, reason: String| Ok(Err(crate::campaigns::Refusal { field, reason }));
        if let Err(reason) = new_template_name(name) {
            return refuse("name", reason);
        }
        let renderer = self.renderer();
        if renderer.template_names().contains(name) {
            return refuse("name", format!("there is a template '{name}' already"));
        }
        let Some(definition) = renderer.source(from) else {
            return refuse("from", format!("there is no template '{from}'"));
        };
        self.begin_draft(Content::Template, "name", name, from, definition, by)
            .await
    }

    /// Saves `definition` as the draft of the new `name` (begun from `from`), audited;
    /// refused under `field` when the name ever had a version or is being written already.
    async fn begin_draft(
        &self,
        kind: Content,
        field: &'static str,
        name: &str,
        from: &str,
        definition: &str,
        by: &str,
    ) -> Result<Result<(), crate::campaigns::Refusal>, ContentError> {
        let refuse = |reason: String| Ok(Err(crate::campaigns::Refusal { field, reason }));
        let what = kind.as_str();
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        tx.lock_content().await?;
        let had_versions = match kind {
            Content::Template => !tx.template_versions(name).await?.is_empty(),
            Content::Programme => !tx.programme_history(name).await?.is_empty(),
        };
        if had_versions {
            return refuse(format!("'{name}' was a {what} before; choose another"));
        }
        if tx.draft(kind, name).await?.is_some() {
            return refuse(format!("a new {what} '{name}' is being written already"));
        }
        tx.save_draft(kind, name, definition, by, now).await?;
        tx.audit(
            by,
            &format!("{what}.begin"),
            &kind.subject(name),
            None,
            Some(&serde_json::json!({ "from": from }).to_string()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    fn known_template(&self, name: &str) -> Result<(), ContentError> {
        if self.renderer().template_names().contains(name) {
            Ok(())
        } else {
            Err(ContentError::NotFound(format!("no template '{name}'")))
        }
    }
}

/// Whether `name` can name a new template: 1 to 60 lowercase letters, digits and
/// underscores, starting with a letter (as the template files are named); why not.
pub fn new_template_name(name: &str) -> Result<(), String> {
    new_name(name, '_', "underscores")
}

/// Whether `id` can name a new programme: 1 to 60 lowercase letters, digits and hyphens,
/// starting with a letter (as the programme files are named); why not.
pub fn new_programme_id(id: &str) -> Result<(), String> {
    new_name(id, '-', "hyphens")
}

fn new_name(name: &str, joiner: char, joiners: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let fits = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == joiner)
        && name.len() <= 60;
    if fits {
        Ok(())
    } else {
        Err(format!(
            "1 to 60 lowercase letters, digits and {joiners}, starting with a letter"
        ))
    }
}

/// A programme's definition with its top-level lines (those before the first table)
/// `version` — and, when given, `id` and `name` — rewritten, everything else as it was: a
/// copy's first version, or the live text as the editor's next version.
pub fn programme_header(text: &str, id: Option<&str>, name: Option<&str>, version: i32) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::with_capacity(text.len());
    let mut in_tables = false;
    for line in text.lines() {
        let key = line.split('=').next().map(str::trim);
        in_tables |= line.trim_start().starts_with('[');
        match (key, in_tables, id, name) {
            (Some("id"), false, Some(id), _) => out.push_str(&format!("id = {}", quoted(id))),
            (Some("name"), false, _, Some(name)) => {
                out.push_str(&format!("name = {}", quoted(name)));
            }
            (Some("version"), false, ..) => out.push_str(&format!("version = {version}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// One language of a template as the editor shows it: subject, body and the optional short
/// text for SMS and push.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    /// The subject line.
    #[serde(default)]
    pub subject: String,
    /// The body (text; the HTML part is made from it in the brand's layout).
    #[serde(default)]
    pub body: String,
    /// The short text for SMS and app push.
    pub short: Option<String>,
}

/// A definition's languages, by locale tag; why not when it is not a template's TOML.
pub fn parts(definition: &str) -> Result<std::collections::BTreeMap<String, TemplateText>, String> {
    toml::from_str(definition).map_err(|e| e.message().to_string())
}

/// The comment lines a definition starts with (its requirement ids), kept when the editor
/// writes it again.
fn header(definition: &str) -> String {
    definition
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .filter(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A TOML string: a multi-line literal for text with line breaks, as the template files
/// are written (so a diff against a file reads line by line), else a quoted string.
fn toml_text(text: &str) -> String {
    let literal_ok = !text.contains("'''")
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t');
    if text.contains('\n') && literal_ok {
        let body = if text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n")
        };
        format!("'''\n{body}'''")
    } else {
        toml::Value::String(text.to_string()).to_string()
    }
}

/// Writes a definition from the editor's fields, in the order given, under the comment
/// lines `previous` started with.
pub fn definition_from<'a>(
    previous: &str,
    languages: impl IntoIterator<Item = (&'a str, &'a TemplateText)>,
) -> String {
    let mut out = header(previous);
    for (tag, t) in languages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{tag}]\nsubject = {}\n", toml_text(&t.subject)));
        out.push_str(&format!("body = {}\n", toml_text(&t.body)));
        if let Some(short) = t.short.as_deref().filter(|s| !s.trim().is_empty()) {
            out.push_str(&format!("short = {}\n", toml_text(short)));
        }
    }
    out
}

/// A definition as the editor would write it, so two versions compare field by field —
/// not by quoting style or the order of the keys (the text itself when it does not parse).
pub fn normalized(definition: &str) -> String {
    match parts(definition) {
        Ok(p) => definition_from(definition, p.iter().map(|(k, v)| (k.as_str(), v))),
        Err(_) => definition.to_string(),
    }
}

/// The difference between two definitions, field by field (see [`normalized`]).
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    crate::versions::diff(&normalized(old), &normalized(new), old_name, new_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_written_from_the_editor_reads_back_as_the_same_fields() {
        let file = include_str!("../../../programmes/templates/we_miss_you.toml");
        let read = parts(file).unwrap();
        let written = definition_from(file, read.iter().map(|(k, v)| (k.as_str(), v)));
        assert_eq!(parts(&written).unwrap(), read);
        assert!(written.starts_with("# WB1.\n\n["), "{written}");
        assert_eq!(canonical(&written), canonical(file), "{written}");
    }

    #[test]
    fn a_diff_shows_the_changed_field_only() {
        let file = include_str!("../../../programmes/templates/order_confirmation.toml");
        let mut p = parts(file).unwrap();
        p.get_mut("en").unwrap().subject = "Order {{ order.external_id }} is in".into();
        let edited = definition_from(file, p.iter().map(|(k, v)| (k.as_str(), v)));
        let d = diff(file, &edited, "live", "draft");
        let changed: Vec<&str> = d
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        assert_eq!(changed.len(), 2, "{d}");
    }

    #[test]
    fn a_runaway_loop_in_a_draft_fails_its_render_instead_of_holding_the_worker() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../programmes/templates"
        ));
        let renderer = Renderer::load_dir(dir, crate::render::Brand::default()).unwrap();
        // Every template of the library renders well within its fuel.
        for sample in crate::preview::render_samples(&renderer) {
            assert!(
                sample.text.is_ok(),
                "{}: {:?}",
                sample.template,
                sample.text
            );
        }
        let mut fields = parts(renderer.source("thanks").unwrap()).unwrap();
        for t in fields.values_mut() {
            t.body =
                "{% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}"
                    .into();
        }
        let draft = definition_from("", fields.iter().map(|(k, v)| (k.as_str(), v)));
        let candidate = renderer.with_template("thanks", &draft).unwrap();
        let samples = crate::preview::render_samples_of(&candidate, "thanks");
        assert!(
            samples
                .iter()
                .all(|s| s.text.as_ref().is_err_and(|e| e.contains("fuel"))),
            "{:?}",
            samples[0].text
        );
    }

    #[test]
    fn text_the_literal_form_cannot_hold_is_quoted() {
        let odd = TemplateText {
            subject: "Say \"hi\"".into(),
            body: "a ''' b\nc".into(),
            short: Some("  ".into()),
        };
        let written = definition_from("", [("en", &odd)]);
        let read = parts(&written).unwrap();
        assert_eq!(read["en"].subject, odd.subject);
        assert_eq!(read["en"].body, odd.body);
        assert_eq!(
            read["en"].short, None,
            "a blank short text is no short text"
        );
    }
}

/// A programme draft checked as `check` would, with the version it must carry.
#[derive(Debug)]
pub struct CheckedProgramme {
    /// The programme, when the draft loads.
    pub programme: Option<crate::programme::Programme>,
    /// What refuses it: `file:line:column: reason`.
    pub findings: Vec<Finding>,
    /// The version a published draft must say: one above every stored one.
    pub next_version: i32,
}

impl Engine {
    /// The check context with the templates as they are loaded now.
    fn programme_context(&self) -> crate::programme::CheckContext {
        with_templates(self.check_context(), &self.renderer())
    }

    /// Checks `text` as a change to simulate in place of programme `id` (or beside the
    /// library, for a new id): it loads with the templates and settings live now, and does
    /// not take another programme's id. The version is not checked: any text may be tried.
    pub fn check_simulated_programme(&self, id: &str, text: &str) -> Result<(), Vec<Finding>> {
        let file = std::path::PathBuf::from(format!("{id}.toml"));
        let p = parse_programme(&file, text, &self.programme_context())?;
        if p.id != id && self.programmes().current().get(&p.id).is_some() {
            return Err(vec![Finding {
                file,
                line: 1,
                column: 1,
                reason: format!(
                    "the id '{}' belongs to another programme; a change keeps the id of '{id}'",
                    p.id
                ),
            }]);
        }
        Ok(())
    }

    /// Checks `definition` as the next version of programme `id` (issue 21): it loads with
    /// every check `aftercare check` makes, keeps its id, and says the next version.
    pub async fn check_programme(
        &self,
        id: &str,
        definition: &str,
    ) -> Result<CheckedProgramme, ContentError> {
        let mut tx = self.store().begin_read().await?;
        let history = tx.programme_history(id).await?;
        tx.commit().await?;
        let next_version = history.last().map_or(1, |v| v.0 + 1);
        let file = std::path::PathBuf::from(format!("{id}.toml"));
        let at = |reason: String| Finding {
            file: file.clone(),
            line: 1,
            column: 1,
            reason,
        };
        match parse_programme(&file, definition, &self.programme_context()) {
            Ok(p) => {
                let mut findings = Vec::new();
                if p.id != id {
                    findings.push(at(format!(
                        "id: this is programme '{id}'; begin a new programme from the list of programmes"
                    )));
                }
                if let Some(audience) = &p.audience {
                    let mut tx = self.store().begin_read().await?;
                    let saved = tx.audience(audience).await?;
                    tx.commit().await?;
                    if saved.is_none() {
                        findings.push(at(format!(
                            "audience: no saved audience '{audience}'; save it under Campaigns → Audiences first"
                        )));
                    }
                }
                if p.version != next_version {
                    findings.push(at(format!(
                        "version: the next version is {next_version} (customers already enrolled stay on theirs)"
                    )));
                }
                Ok(CheckedProgramme {
                    programme: findings.is_empty().then_some(p),
                    findings,
                    next_version,
                })
            }
            Err(findings) => Ok(CheckedProgramme {
                programme: None,
                findings,
                next_version,
            }),
        }
    }

    /// Publishes `definition` as programme `id`'s next version and makes it the one new
    /// enrolments start on, in one transaction with its audit entry; refused (nothing
    /// changes) while it has a finding. Running enrolments finish on their own version.
    pub async fn publish_programme(
        &self,
        id: &str,
        definition: &str,
        by: &str,
        note: &str,
    ) -> Result<i32, ContentError> {
        // A programme begun in the editor is published for the first time under a new id.
        if self.known_programme(id).is_err() {
            new_programme_id(id).map_err(ContentError::NotFound)?;
        }
        let checked = self.check_programme(id, definition).await?;
        if !checked.findings.is_empty() {
            return Err(ContentError::Refused(checked.findings));
        }
        let version = checked.next_version;
        let mut tx = self.store().begin().await?;
        tx.lock_content().await?;
        // Another editor may have published meanwhile: the version is checked again here.
        if tx
            .programme_history(id)
            .await?
            .last()
            .is_some_and(|v| v.0 >= version)
        {
            return Err(ContentError::Refused(vec![Finding {
                file: std::path::PathBuf::from(format!("{id}.toml")),
                line: 1,
                column: 1,
                reason: "version: another version was published meanwhile; reload the page".into(),
            }]));
        }
        tx.insert_edited_programme_version(id, version, definition, by, note, self.clock().now())
            .await?;
        self.go_live(tx, Content::Programme, id, version, "publish", by, note)
            .await?;
        Ok(version)
    }

    /// Makes a stored version of programme `id` the one new enrolments start on again
    /// (audited), if it still loads with the templates and settings of today.
    pub async fn roll_back_programme(
        &self,
        id: &str,
        version: i32,
        by: &str,
    ) -> Result<(), ContentError> {
        self.known_programme(id)?;
        let mut tx = self.store().begin_read().await?;
        let stored = tx.programme_version(id, version).await?;
        tx.commit().await?;
        let Some(text) = stored else {
            return Err(ContentError::NotFound(format!(
                "programme '{id}' has no version {version}"
            )));
        };
        let file = std::path::PathBuf::from(format!("{id} v{version}"));
        parse_programme(&file, &text, &self.programme_context()).map_err(ContentError::Refused)?;
        let mut tx = self.store().begin().await?;
        tx.lock_content().await?;
        self.go_live(tx, Content::Programme, id, version, "rollback", by, "")
            .await
    }

    /// Begins a new programme as a draft with id `id`, a copy of programme `from`'s live
    /// definition with the new id and version 1, audited (issue 21). It starts enrolling
    /// when its draft is published — checked, and simulated first, as every publish is.
    /// Refused, naming the field, when the id is taken (now or ever) or not an id, or
    /// `from` is not a programme.
    pub async fn begin_programme(
        &self,
        id: &str,
        from: &str,
        by: &str,
    ) -> Result<Result<(), crate::campaigns::Refusal>, ContentError> {
        let refuse = |field, reason: String| Ok(Err(crate::campaigns::Refusal { field, reason }));
        if let Err(reason) = new_programme_id(id) {
            return refuse("id", reason);
        }
        let programmes = self.programmes();
        if programmes.current().get(id).is_some() {
            return refuse("id", format!("there is a programme '{id}' already"));
        }
        let Some(source) = programmes.current().get(from) else {
            return refuse("from", format!("there is no programme '{from}'"));
        };
        let definition = programme_header(
            &source.text,
            Some(id),
            Some(&format!("{} (copy)", source.name)),
            1,
        );
        self.begin_draft(Content::Programme, "id", id, from, &definition, by)
            .await
    }

    fn known_programme(&self, id: &str) -> Result<(), ContentError> {
        if self.programmes().current().get(id).is_some() {
            Ok(())
        } else {
            Err(ContentError::NotFound(format!("no programme '{id}'")))
        }
    }
}
