//! What the daily calendar reads per time zone (customers, their orders, lines and contacts, products) and its own job.

use super::*;
use crate::CustomerId;
use crate::records::{Contact, ContactRow};

/// A slice of one local day's calendar scan of a time zone: the customers there with ids in
/// `(after_id, until_id]` (issue 22).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CalendarPart {
    /// The IANA time zone.
    pub time_zone: String,
    /// The local date scanned, `YYYY-MM-DD`.
    pub local_date: String,
    /// The slice starts after this customer id.
    pub after_id: CustomerId,
    /// ...and ends with this one.
    pub until_id: CustomerId,
}

impl Tx {
    /// Every time zone customers live in.
    pub async fn customer_time_zones(&mut self) -> Result<Vec<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT DISTINCT time_zone FROM customers ORDER BY time_zone")
            .fetch_all(&mut *c)
            .await?),
        )
    }

    /// The latest local date scanned for occasions in a time zone (`YYYY-MM-DD`).
    pub async fn last_calendar_scan(&mut self, time_zone: &str) -> Result<Option<String>> {
        Ok(
            on_tx!(self, c => sqlx::query_scalar("SELECT MAX(local_date) FROM calendar_scans WHERE time_zone = $1")
            .bind(time_zone)
            .fetch_one(&mut *c)
            .await?),
        )
    }

    /// Records that a time zone's local date was scanned (planned, since issue 22); `false`
    /// when it already was (another worker planned it first).
    pub async fn mark_calendar_scanned(
        &mut self,
        time_zone: &str,
        local_date: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "INSERT INTO calendar_scans (time_zone, local_date, scanned_at) VALUES ($1, $2, $3)
             ON CONFLICT (time_zone, local_date) DO NOTHING",
        )
        .bind(time_zone)
        .bind(local_date)
        .bind(micros(now))
        .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Whether a job of `kind` waits or runs that has not failed yet.
    pub async fn job_unfailed(&mut self, kind: JobKind) -> Result<bool> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND dead_at IS NULL AND last_error IS NULL)",
        )
        .bind(kind.as_str())
        .fetch_one(&mut *c)
        .await?))
    }

    /// The ids that cut a time zone's customers into parts of `size` customers: every
    /// `size`-th id, and the last one (none when nobody lives there). A shop with customers
    /// in many zones gets parts of real customers, not empty spans of ids.
    pub async fn zone_part_ends(&mut self, time_zone: &str, size: i64) -> Result<Vec<CustomerId>> {
        Ok(on_tx!(self, c => sqlx::query_scalar(
            "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n,
                                    COUNT(*) OVER () AS total
                             FROM customers WHERE time_zone = $1) t
             WHERE n % $2 = 0 OR n = total ORDER BY id",
        )
        .bind(time_zone)
        .bind(size.max(1))
        .fetch_all(&mut *c)
        .await?))
    }

    /// Stores the parts of one local day's scan of a time zone (issue 22: any worker takes
    /// any part) and answers their ids.
    pub async fn insert_calendar_parts(
        &mut self,
        parts: &[CalendarPart],
        now: Timestamp,
    ) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(parts.len());
        for chunk in parts.chunks(1000) {
            let made: Vec<i64> = on_tx!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO calendar_parts (time_zone, local_date, after_id, until_id, created_at) ",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(&p.time_zone)
                        .push_bind(&p.local_date)
                        .push_bind(p.after_id)
                        .push_bind(p.until_id)
                        .push_bind(micros(now));
                });
                q.push(" RETURNING id");
                q.build_query_scalar().fetch_all(&mut *c).await?
            });
            ids.extend(made);
        }
        Ok(ids)
    }

    /// One part of a calendar scan, unless it was done (and removed).
    pub async fn calendar_part(&mut self, id: i64) -> Result<Option<CalendarPart>> {
        Ok(on_tx!(self, c => sqlx::query_as(
            "SELECT time_zone, local_date, after_id, until_id FROM calendar_parts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?))
    }

    /// Removes a part of a calendar scan that is done.
    pub async fn delete_calendar_part(&mut self, id: i64) -> Result<()> {
        on_tx!(self, c => sqlx::query("DELETE FROM calendar_parts WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Customers in one time zone with ids in `(after_id, until]`, `limit` at a time.
    pub async fn customers_in_zone(
        &mut self,
        time_zone: &str,
        after_id: CustomerId,
        until: CustomerId,
        limit: i64,
    ) -> Result<Vec<StoredCustomer>> {
        let rows: Vec<CustomerRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, record, created_at, updated_at FROM customers
             WHERE time_zone = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4",
        )
        .bind(time_zone)
        .bind(after_id)
        .bind(until)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredCustomer::try_from).collect()
    }

    /// Order lines of customers with ids in `from..=to`: (customer id, order number,
    /// placed at, sku).
    pub async fn order_lines_of_customers(
        &mut self,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<Vec<(CustomerId, String, Timestamp, String)>> {
        let rows: Vec<(CustomerId, String, crate::Micros, String)> = on_tx!(self, c => sqlx::query_as(
            "SELECT o.customer_id, o.external_id, o.placed_at, l.sku FROM orders o
             JOIN order_lines l ON l.order_id = o.id
             WHERE o.customer_id BETWEEN $1 AND $2 ORDER BY o.customer_id, o.placed_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter()
            .map(|(id, order, at, sku)| Ok((id, order, at.at()?, sku)))
            .collect()
    }

    /// The orders of customers with ids in `from..=to`, by customer, oldest first.
    pub async fn orders_of_customers(
        &mut self,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<Vec<StoredOrder>> {
        let rows: Vec<OrderRow> = on_tx!(self, c => sqlx::query_as(
            "SELECT id, customer_id, record FROM orders WHERE customer_id BETWEEN $1 AND $2
             ORDER BY customer_id, placed_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(StoredOrder::try_from).collect()
    }

    /// The contacts since `since` of customers with ids in `from..=to` — messages sent,
    /// and letters queued for print — by customer, oldest first. A letter the policy let
    /// go counts from the moment it joined the print queue, not only once its batch is
    /// posted: otherwise a second message could pass the caps and the band in between.
    pub async fn contacts_of_customers(
        &mut self,
        from: CustomerId,
        to: CustomerId,
        since: Timestamp,
    ) -> Result<Vec<Contact>> {
        let rows: Vec<ContactRow> = on_tx!(self, c => sqlx::query_as(CONTACTS)
        .bind(from)
        .bind(to)
        .bind(micros(since))
        .fetch_all(&mut *c)
        .await?);
        rows.into_iter().map(Contact::try_from).collect()
    }

    /// One customer's [`Self::contacts_of_customers`], oldest first.
    pub async fn recent_contacts(
        &mut self,
        customer_id: CustomerId,
        since: Timestamp,
    ) -> Result<Vec<Contact>> {
        self.contacts_of_customers(customer_id, customer_id, since)
            .await
    }

    /// Every product.
    pub async fn products(&mut self) -> Result<Vec<ProductRecord>> {
        let rows: Vec<ProductRow> = on_tx!(self, c => sqlx::query_as("SELECT record FROM products ORDER BY sku")
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(ProductRecord::try_from).collect()
    }

    /// Schedules a recurring job of `kind` (one per kind: its partial unique index on
    /// `jobs (kind)` makes a second insert nothing) unless it exists.
    pub async fn ensure_recurring_job(
        &mut self,
        kind: JobKind,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO jobs (kind, ref_id, run_at, created_at) VALUES ($3, 0, $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(micros(run_at))
        .bind(micros(now))
        .bind(kind.as_str())
        .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Moves a recurring job to its next run, releasing the lease.
    pub async fn reschedule_job(
        &mut self,
        id: crate::JobId,
        worker: &str,
        run_at: Timestamp,
    ) -> Result<bool> {
        let n = on_tx!(self, c => sqlx::query(
            "UPDATE jobs SET run_at = $1, locked_until = NULL, locked_by = NULL, attempts = 0, last_error = NULL
             WHERE id = $2 AND locked_by = $3",
        )
        .bind(micros(run_at))
        .bind(id)
        .bind(worker)
        .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }
}

/// [`Tx::contacts_of_customers`]' query: a customer's sent messages, queued letters and
/// messages being handed over (at their planned time until they are sent): a worker deciding
/// about a customer counts what another worker has under way for them. A letter counts from
/// the moment the policy let it go to the print queue, before and after its batch closes,
/// so a decision never sees an earlier contact move later (the fast simulator counts it the
/// same way).
/// SQLite, without statistics, would take the `(state, id)` index and read every sent
/// message of every customer for each one asked about (`simulate --exact` got four times
/// slower over a few weeks of work); `state || ''` keeps both backends on the customer's
/// index. Public for the test that reads its query plan.
#[doc(hidden)]
pub const CONTACTS: &str =
    "SELECT customer_id, COALESCE(print_queued_at, sent_at, planned_at) AS at, class, channel,
        COALESCE(topic, template) AS topic
 FROM messages
 WHERE customer_id BETWEEN $1 AND $2
   AND state || '' IN ('sent', 'sending')
   AND COALESCE(print_queued_at, sent_at, planned_at) >= $3
 ORDER BY customer_id, at";
