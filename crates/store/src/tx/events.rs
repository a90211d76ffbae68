//! Events: the append-only log that drives programmes.

use super::*;
use crate::CustomerId;

impl Tx {
    /// Appends an event; `None` when `source_id` was stored before.
    pub async fn insert_event(
        &mut self,
        customer_id: CustomerId,
        event_type: &str,
        occurred_at: Timestamp,
        properties: &serde_json::Value,
        source_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<crate::EventId>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "INSERT INTO events (source_id, customer_id, event_type, occurred_at, received_at, properties)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source_id) DO NOTHING RETURNING id",
        )
        .bind(source_id)
        .bind(customer_id)
        .bind(event_type)
        .bind(micros(occurred_at))
        .bind(micros(now))
        .bind(to_json(properties))
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Appends many events in one statement; returns the ids of those stored (an event
    /// whose `source_id` was stored before is skipped).
    pub async fn insert_events(
        &mut self,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) -> Result<Vec<crate::EventId>> {
        let mut ids = Vec::with_capacity(events.len());
        // Six binds per row; stay well inside SQLite's and PostgreSQL's bind limits.
        for chunk in events.chunks(1000) {
            let chunk_ids: Vec<crate::EventId> = match self {
                // One statement text whatever the number of events (issue 22), as arrays.
                Tx::Postgres(c) => {
                    let sources: Vec<Option<&str>> = chunk.iter().map(|e| e.source_id).collect();
                    let customers: Vec<i64> = chunk.iter().map(|e| e.customer_id.0).collect();
                    let types: Vec<&str> = chunk.iter().map(|e| e.event_type).collect();
                    let occurred: Vec<i64> = chunk.iter().map(|e| micros(e.occurred_at)).collect();
                    let properties: Vec<String> =
                        chunk.iter().map(|e| to_json(e.properties)).collect();
                    sqlx::query_scalar(
                        "INSERT INTO events (source_id, customer_id, event_type, occurred_at, received_at, properties)
                         SELECT s, c, t, o, $5, p
                         FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $6::TEXT[])
                              WITH ORDINALITY AS e (s, c, t, o, p, n)
                         ORDER BY n
                         ON CONFLICT (source_id) DO NOTHING RETURNING id",
                    )
                    .bind(sources)
                    .bind(customers)
                    .bind(types)
                    .bind(occurred)
                    .bind(micros(now))
                    .bind(properties)
                    .fetch_all(&mut **c)
                    .await?
                }
                Tx::Sqlite(c, _) => {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO events (source_id, customer_id, event_type, occurred_at, received_at, properties) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.source_id)
                            .push_bind(e.customer_id)
                            .push_bind(e.event_type)
                            .push_bind(micros(e.occurred_at))
                            .push_bind(micros(now))
                            .push_bind(to_json(e.properties));
                    });
                    q.push(" ON CONFLICT (source_id) DO NOTHING RETURNING id");
                    q.build_query_scalar().fetch_all(&mut **c).await?
                }
            };
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }

    /// An event by id.
    pub async fn event(&mut self, id: crate::EventId) -> Result<StoredEvent> {
        let row: Option<StoredEvent> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, event_type, occurred_at, properties, source_id FROM events WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("event {id}")))
    }

    /// A customer's events, newest first.
    pub async fn events_of_customer(
        &mut self,
        customer_id: CustomerId,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, event_type, occurred_at, properties, source_id FROM events
             WHERE customer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?))
    }
}
