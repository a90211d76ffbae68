//! Templates as the CRM team edits them (issue 21): immutable versions, the live one per
//! template, the draft being edited, and the numbered log of changes to what is live that
//! running workers watch to reload without a restart.

use crate::MessageId;
use jiff::Timestamp;

use super::Tx;
use crate::{Result, from_micros, micros};

/// One stored version of a template.
#[derive(Debug, Clone)]
pub struct TemplateVersion {
    /// The template's name.
    pub name: String,
    /// Its version, from 1.
    pub version: i32,
    /// The TOML definition.
    pub definition: String,
    /// `file` (read from the template folder at start) or `editor` (the admin UI).
    pub origin: String,
    /// Who wrote it (`files` for a deploy).
    pub author: String,
    /// What the author said about the change.
    pub note: String,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// Which version of a template is live, since when and by whom.
#[derive(Debug, Clone)]
pub struct LiveTemplate {
    /// The template's name.
    pub name: String,
    /// The live version.
    pub version: i32,
    /// Since when.
    pub since: Timestamp,
    /// Who made it live (`files` for a deploy).
    pub by: String,
}

/// What the admin UI's editors change: a template or a programme (issue 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A message template.
    Template,
    /// A programme.
    Programme,
}

impl Content {
    /// `template` or `programme`, as drafts and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Content::Template => "template",
            Content::Programme => "programme",
        }
    }

    /// How the audit log and the change log name one: `template:thanks`.
    pub fn subject(self, name: &str) -> String {
        format!("{}:{name}", self.as_str())
    }

    /// The table saying which version is live, and its key column.
    fn live_table(self) -> (&'static str, &'static str) {
        match self {
            Content::Template => ("template_live", "name"),
            Content::Programme => ("programme_live", "programme_id"),
        }
    }
}

/// The draft of a template or programme being edited.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The TOML definition as last saved.
    pub definition: String,
    /// Who saved it last.
    pub author: String,
    /// When.
    pub updated_at: Timestamp,
}

/// A change to what is live: a deploy, a publish or a roll-back.
#[derive(Debug, Clone)]
pub struct ContentChange {
    /// Its number; higher is later.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// `deploy`, `publish` or `rollback`.
    pub kind: String,
    /// The template.
    pub name: String,
    /// The version made live.
    pub version: i32,
    /// Who.
    pub by: String,
}

type VersionRow = (String, i32, String, String, String, String, i64);

fn version(row: VersionRow) -> Result<TemplateVersion> {
    let (name, version, definition, origin, author, note, at) = row;
    Ok(TemplateVersion {
        name,
        version,
        definition,
        origin,
        author,
        note,
        created_at: from_micros(at)?,
    })
}

impl Tx {
    /// Serialises changes to the templates between processes (two starting at once, two
    /// editors publishing at once) until the transaction ends; SQLite's single writer
    /// already does.
    pub async fn lock_content(&mut self) -> Result<()> {
        if let Tx::Postgres(t) = self {
            sqlx::query("LOCK TABLE template_live IN EXCLUSIVE MODE")
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Every version of a template, oldest first.
    pub async fn template_versions(&mut self, name: &str) -> Result<Vec<TemplateVersion>> {
        let rows: Vec<VersionRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT name, version, definition, origin, author, note, created_at
             FROM template_versions WHERE name = $1 ORDER BY version",
        )
        .bind(name)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(version).collect()
    }

    /// One version of a template.
    pub async fn template_version(
        &mut self,
        name: &str,
        number: i32,
    ) -> Result<Option<TemplateVersion>> {
        let row: Option<VersionRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT name, version, definition, origin, author, note, created_at
             FROM template_versions WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(number)
        .fetch_optional(&mut *c)
        .await?);
        row.map(version).transpose()
    }

    /// The latest version of a template that came from its file, if any.
    pub async fn latest_file_template(&mut self, name: &str) -> Result<Option<TemplateVersion>> {
        let row: Option<VersionRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT name, version, definition, origin, author, note, created_at
             FROM template_versions WHERE name = $1 AND origin = 'file'
             ORDER BY version DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *c)
        .await?);
        row.map(version).transpose()
    }

    /// Stores a new version of a template (the next number) and returns its number.
    pub async fn add_template_version(
        &mut self,
        name: &str,
        definition: &str,
        origin: &str,
        author: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<i32> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO template_versions (name, version, definition, origin, author, note, created_at)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6
             FROM template_versions WHERE name = $1
             RETURNING version",
        )
        .bind(name)
        .bind(definition)
        .bind(origin)
        .bind(author)
        .bind(note)
        .bind(micros(now))
        .fetch_one(&mut *c)
        .await?))
    }

    /// Which version of each template is live.
    pub async fn live_templates(&mut self) -> Result<Vec<LiveTemplate>> {
        let rows: Vec<(String, i32, i64, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT name, version, since, by_whom FROM template_live ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(name, version, since, by)| {
                Ok(LiveTemplate {
                    name,
                    version,
                    since: from_micros(since)?,
                    by,
                })
            })
            .collect()
    }

    /// The live definition of every template: (name, version, definition, whether it began
    /// as a file rather than in the admin UI's editor).
    pub async fn live_template_definitions(&mut self) -> Result<Vec<(String, i32, String, bool)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT l.name, l.version, v.definition,
                    EXISTS (SELECT 1 FROM template_versions f
                            WHERE f.name = l.name AND f.origin = 'file') AS from_file
             FROM template_live l
             JOIN template_versions v ON v.name = l.name AND v.version = l.version
             ORDER BY l.name",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// The number of the latest change to what is live (0 before any).
    pub async fn content_generation(&mut self) -> Result<i64> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) FROM content_changes",
        )
        .fetch_one(&mut *c)
        .await?))
    }

    /// The changes to what is live for one template or programme, newest first.
    pub async fn content_changes(
        &mut self,
        kind: Content,
        name: &str,
        limit: i64,
    ) -> Result<Vec<ContentChange>> {
        let name = kind.subject(name);
        let rows: Vec<(i64, i64, String, String, i32, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, at, kind, name, version, by_whom FROM content_changes
             WHERE name = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(&name)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, at, kind, name, version, by)| {
                Ok(ContentChange {
                    id,
                    at: from_micros(at)?,
                    kind,
                    name,
                    version,
                    by,
                })
            })
            .collect()
    }

    /// The latest messages made from a template (not those the policy blocked), newest
    /// first: what the editor tries a draft on.
    pub async fn recent_messages_of_template(
        &mut self,
        template: &str,
        limit: i64,
    ) -> Result<Vec<MessageId>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT id FROM messages WHERE template = $1 AND state IN ('sent', 'planned', 'sending', 'failed')
             ORDER BY id DESC LIMIT $2",
        )
        .bind(template)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?))
    }

    /// Which version of a template or programme is live, if one is.
    pub async fn live_version(&mut self, kind: Content, name: &str) -> Result<Option<i32>> {
        let (table, key) = kind.live_table();
        let sql = format!("SELECT version FROM {table} WHERE {key} = $1");
        Ok(
            on_tx!(self, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .bind(name)
            .fetch_optional(&mut *c)
            .await?),
        )
    }

    /// Makes a stored version live and logs the change (`change`: deploy, publish,
    /// rollback), which running workers see and reload on.
    pub async fn set_live(
        &mut self,
        kind: Content,
        name: &str,
        version: i32,
        change: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<()> {
        let (table, key) = kind.live_table();
        let sql = format!(
            "INSERT INTO {table} ({key}, version, since, by_whom) VALUES ($1, $2, $3, $4)
             ON CONFLICT ({key}) DO UPDATE SET version = $2, since = $3, by_whom = $4"
        );
        on_tx!(self, c => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(name)
            .bind(version)
            .bind(micros(now))
            .bind(by)
            .execute(&mut *c)
            .await?
            .rows_affected());
        self.log_content_change(change, &kind.subject(name), version, by, now)
            .await
    }

    /// Logs a change running workers must reload on (a template or programme made live, an
    /// audience saved): `subject` as the audit log names it.
    pub async fn log_content_change(
        &mut self,
        change: &str,
        subject: &str,
        version: i32,
        by: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO content_changes (at, kind, name, version, by_whom) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(micros(now))
        .bind(change)
        .bind(subject)
        .bind(version)
        .bind(by)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The draft of a template or programme, if one is being edited.
    pub async fn draft(&mut self, kind: Content, name: &str) -> Result<Option<Draft>> {
        let row: Option<(String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT definition, author, updated_at FROM content_drafts WHERE kind = $1 AND name = $2",
        )
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(definition, author, at)| {
            Ok(Draft {
                definition,
                author,
                updated_at: from_micros(at)?,
            })
        })
        .transpose()
    }

    /// The names with a draft being edited.
    pub async fn drafts(&mut self, kind: Content) -> Result<Vec<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT name FROM content_drafts WHERE kind = $1 ORDER BY name",
        )
        .bind(kind.as_str())
        .fetch_all(&mut *c)
        .await?))
    }

    /// Saves a draft (one per template or programme; the last save wins).
    pub async fn save_draft(
        &mut self,
        kind: Content,
        name: &str,
        definition: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO content_drafts (kind, name, definition, author, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, name) DO UPDATE SET definition = $3, author = $4, updated_at = $5",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(definition)
        .bind(author)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Drops a draft; false when there was none.
    pub async fn delete_draft(&mut self, kind: Content, name: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM content_drafts WHERE kind = $1 AND name = $2")
            .bind(kind.as_str())
            .bind(name)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}
