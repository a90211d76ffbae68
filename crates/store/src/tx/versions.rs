//! Stored programme versions, immutable once written; which one new enrolments start on;
//! the live pointer and drafts are `tx/content.rs`'s (issue 21).

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
}
