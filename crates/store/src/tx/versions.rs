//! Stored programme versions, immutable once written.

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
}
