//! Stored programme versions, immutable once written; which one new enrolments start on;
//! and the draft the admin UI's programme editor is working on (issue 21).

use super::*;

impl Tx {
    /// The stored definition of a programme version.
    pub async fn programme_version(
        &mut self,
        programme_id: &str,
        version: i32,
    ) -> Result<Option<String>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT definition FROM programme_versions WHERE programme_id = $1 AND version = $2",
        )
        .bind(programme_id)
        .bind(version)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Stores a programme version the first time it is seen.
    pub async fn insert_programme_version(
        &mut self,
        programme_id: &str,
        version: i32,
        definition: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_versions (programme_id, version, definition, first_seen)
             VALUES ($1, $2, $3, $4) ON CONFLICT (programme_id, version) DO NOTHING",
        )
        .bind(programme_id)
        .bind(version)
        .bind(definition)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Every stored programme version: (id, version, definition).
    pub async fn programme_versions(&mut self) -> Result<Vec<(String, i32, String)>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, version, definition FROM programme_versions ORDER BY programme_id, version",
        )
        .fetch_all(&mut *c)
        .await?))
    }

    /// Every stored version of one programme: (version, definition, origin, author, note,
    /// first seen), oldest first.
    #[allow(clippy::type_complexity)]
    pub async fn programme_history(
        &mut self,
        programme_id: &str,
    ) -> Result<Vec<(i32, String, String, String, String, Timestamp)>> {
        let rows: Vec<(i32, String, String, String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT version, definition, origin, author, note, first_seen FROM programme_versions
             WHERE programme_id = $1 ORDER BY version",
        )
        .bind(programme_id)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(v, d, o, a, n, at)| Ok((v, d, o, a, n, crate::from_micros(at)?)))
            .collect()
    }

    /// Stores a version the programme editor published.
    pub async fn insert_edited_programme_version(
        &mut self,
        programme_id: &str,
        version: i32,
        definition: &str,
        author: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_versions (programme_id, version, definition, first_seen, origin, author, note)
             VALUES ($1, $2, $3, $4, 'editor', $5, $6)",
        )
        .bind(programme_id)
        .bind(version)
        .bind(definition)
        .bind(micros(now))
        .bind(author)
        .bind(note)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The highest version read from the programme's file so far.
    pub async fn latest_file_programme_version(
        &mut self,
        programme_id: &str,
    ) -> Result<Option<i32>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT MAX(version) FROM programme_versions WHERE programme_id = $1 AND origin = 'file'",
        )
        .bind(programme_id)
        .fetch_one(&mut *c)
        .await?))
    }

    /// Which version new enrolments start on, per programme: (id, version, since, by).
    pub async fn live_programmes(&mut self) -> Result<Vec<(String, i32, Timestamp, String)>> {
        let rows: Vec<(String, i32, i64, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT programme_id, version, since, by_whom FROM programme_live ORDER BY programme_id",
        )
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, v, at, by)| Ok((id, v, crate::from_micros(at)?, by)))
            .collect()
    }

    /// Makes a stored version the one new enrolments start on, and logs the change
    /// (`kind`: deploy, publish, rollback) where running workers see it.
    pub async fn set_live_programme(
        &mut self,
        programme_id: &str,
        version: i32,
        kind: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_live (programme_id, version, since, by_whom) VALUES ($1, $2, $3, $4)
             ON CONFLICT (programme_id) DO UPDATE SET version = $2, since = $3, by_whom = $4",
        )
        .bind(programme_id)
        .bind(version)
        .bind(micros(now))
        .bind(by)
        .execute(&mut *c)
        .await?
        .rows_affected());
        on_tx!(self, c => sqlx::query(
            "INSERT INTO content_changes (at, kind, name, version, by_whom) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(micros(now))
        .bind(kind)
        .bind(format!("programme:{programme_id}"))
        .bind(version)
        .bind(by)
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The draft of a programme being edited: (definition, author, saved at).
    pub async fn programme_draft(
        &mut self,
        programme_id: &str,
    ) -> Result<Option<(String, String, Timestamp)>> {
        let row: Option<(String, String, i64)> = on_tx!(self, c => sqlx::query_as(
            "SELECT definition, author, updated_at FROM programme_drafts WHERE programme_id = $1",
        )
        .bind(programme_id)
        .fetch_optional(&mut *c)
        .await?);
        row.map(|(d, a, at)| Ok((d, a, crate::from_micros(at)?)))
            .transpose()
    }

    /// Saves a programme's draft (the last save wins).
    pub async fn save_programme_draft(
        &mut self,
        programme_id: &str,
        definition: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO programme_drafts (programme_id, definition, author, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (programme_id) DO UPDATE SET definition = $2, author = $3, updated_at = $4",
        )
        .bind(programme_id)
        .bind(definition)
        .bind(author)
        .bind(micros(now))
        .execute(&mut *c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Drops a programme's draft; false when there was none.
    pub async fn delete_programme_draft(&mut self, programme_id: &str) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query("DELETE FROM programme_drafts WHERE programme_id = $1")
            .bind(programme_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}
