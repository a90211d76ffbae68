//! The calendar job: once a local day per time zone, birthdays, anniversaries, lifespans,
//! inactivity and household moments become events (see [`crate::occasions`]).

use super::*;
use aftercare_store::CustomerId;

impl Engine {
    /// Schedules the hourly calendar job if it is not there yet.
    pub async fn ensure_calendar(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.ensure_recurring_job(JobKind::Calendar, now, now).await?;
        Ok(tx.commit().await?)
    }

    /// Computes calendar occasions for every time zone whose local day has begun (06:00)
    /// and was not scanned yet, catching up at most three missed days; then reschedules
    /// itself for the next local 06:00 in any customer's time zone.
    pub(super) async fn run_calendar(&self, job: &Job) -> Result<(), EngineError> {
        let programmes = self.programmes();
        let now = self.clock.now();
        let wanted: crate::occasions::Wanted = OCCASIONS
            .iter()
            .copied()
            .filter(|o| programmes.current().uses_occasion(o))
            .collect();
        // The print partner's batch, once the day's cut-off has passed (own transaction).
        self.close_due_print_batch().await?;
        // Points whose date passed get their `expire` entry (idempotent, own transaction).
        let expired = crate::loyalty::expire_points(&self.store, now).await?;
        if expired > 0 {
            debug!(entries = expired, "Points expired.");
        }
        // Relationship scores, once a day (own transaction; posts likely_lapsing events).
        let scored = crate::scores::refresh(&self.store, &self.scores, now).await?;
        if scored > 0 {
            debug!(customers = scored, "Scores refreshed.");
        }
        // What grows forever is trimmed (own transactions, idempotent).
        let pruned = crate::housekeeping::prune(&self.store, &self.housekeeping, now).await?;
        if pruned != crate::housekeeping::Pruned::default() {
            debug!(?pruned, "Housekeeping removed old rows.");
        }
        let mut tx = self.store.begin().await?;
        let zones: Vec<(String, jiff::tz::TimeZone)> = tx
            .customer_time_zones()
            .await?
            .into_iter()
            .filter_map(|name| jiff::tz::TimeZone::get(&name).ok().map(|zone| (name, zone)))
            .collect();
        if !wanted.is_empty() {
            let products: HashMap<String, aftercare_domain::ProductRecord> = tx
                .products()
                .await?
                .into_iter()
                .map(|p| (p.sku.as_str().to_string(), p))
                .collect();
            for (zone_name, zone) in &zones {
                let local = now.to_zoned_datetime(zone.clone());
                if local.hour() < 6 {
                    continue;
                }
                let today = local.date();
                let last: Option<jiff::civil::Date> = tx
                    .last_calendar_scan(zone_name)
                    .await?
                    .and_then(|d| d.parse().ok());
                let earliest = today
                    .checked_sub(jiff::Span::new().days(3))
                    .unwrap_or(today);
                let mut date = last
                    .and_then(|d| d.tomorrow().ok())
                    .map_or(today, |d| d.max(earliest));
                while date <= today {
                    let n = self
                        .scan_zone(&mut tx, zone_name, zone, date, &products, &wanted, now)
                        .await?;
                    tx.mark_calendar_scanned(zone_name, &date.to_string(), now)
                        .await?;
                    debug!(zone = %zone_name, %date, occasions = n, "Calendar scanned.");
                    date = match date.tomorrow() {
                        Ok(d) => d,
                        Err(_) => break,
                    };
                }
            }
        }
        let next_hour = now
            .round(
                jiff::TimestampRound::new()
                    .smallest(jiff::Unit::Hour)
                    .mode(jiff::RoundMode::Trunc),
            )
            .ok()
            .and_then(|t| t.checked_add(SignedDuration::from_hours(1)).ok())
            .unwrap_or(now);
        // Next run: the first moment a customer's local day begins (06:00 there), or in an
        // hour when no customer has a zone yet.
        let six = jiff::civil::time(6, 0, 0, 0);
        let next_morning = zones
            .iter()
            .filter_map(|(_, zone)| {
                let local = now.to_zoned_datetime(zone.clone());
                next_local_time(&local, six)
                    .filter(|t| *t > now)
                    .or_else(|| {
                        let tomorrow = local.date().tomorrow().ok()?;
                        tomorrow
                            .to_datetime(six)
                            .to_zoned_datetime(local.time_zone().clone())
                            .ok()
                            .map(|z| z.timestamp())
                    })
            })
            .min();
        // ...or the print partner's next cut-off, when that comes first.
        let next = next_morning
            .unwrap_or(next_hour)
            .min(self.next_cut_off(now).unwrap_or(next_hour.max(now)));
        if tx.reschedule_job(job.id, &self.worker_id, next).await? {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Stores the occasions of every customer in one time zone on one local date.
    #[allow(clippy::too_many_arguments)]
    async fn scan_zone(
        &self,
        tx: &mut Tx,
        zone_name: &str,
        zone: &jiff::tz::TimeZone,
        date: jiff::civil::Date,
        products: &HashMap<String, aftercare_domain::ProductRecord>,
        wanted: &crate::occasions::Wanted,
        now: jiff::Timestamp,
    ) -> Result<usize, EngineError> {
        let mut after = CustomerId(0);
        let mut stored = 0;
        loop {
            let customers = tx.customers_in_zone(zone_name, after, 500).await?;
            let (Some(first), Some(last)) = (customers.first(), customers.last()) else {
                break;
            };
            after = last.id;
            let mut orders: HashMap<CustomerId, Vec<PastOrder>> = HashMap::new();
            for (customer_id, order, placed_at, sku) in
                tx.order_lines_of_customers(first.id, last.id).await?
            {
                let placed_on = placed_at.to_zoned_datetime(zone.clone()).date();
                let list = orders.entry(customer_id).or_default();
                match list.last_mut() {
                    Some(o) if o.external_id == order => o.skus.push(sku),
                    _ => list.push(PastOrder {
                        external_id: order,
                        placed_on,
                        skus: vec![sku],
                    }),
                }
            }
            let mut contracts: HashMap<CustomerId, Vec<aftercare_domain::ContractRecord>> =
                HashMap::new();
            for (customer_id, contract) in tx.contracts_of_customers(first.id, last.id).await? {
                contracts.entry(customer_id).or_default().push(contract);
            }
            let found: Vec<(CustomerId, Occasion)> = customers
                .iter()
                .flat_map(|c| {
                    let past = orders.get(&c.id).map_or(&[][..], Vec::as_slice);
                    let signed = contracts.get(&c.id).map_or(&[][..], Vec::as_slice);
                    occasions_on(date, &c.record, past, signed, products, wanted)
                        .into_iter()
                        .map(move |o| (c.id, o))
                })
                .collect();
            let event_types: Vec<String> =
                found.iter().map(|(_, o)| occasion_event(o.kind)).collect();
            let rows: Vec<NewEvent<'_>> = found
                .iter()
                .zip(&event_types)
                .map(|((customer_id, o), event_type)| NewEvent {
                    source_id: Some(&o.source_id),
                    customer_id: *customer_id,
                    event_type,
                    occurred_at: now,
                    properties: &o.properties,
                })
                .collect();
            let ids = tx.insert_events(&rows, now).await?;
            tx.insert_jobs(JobKind::Event, &ids, now, now).await?;
            stored += ids.len();
        }
        Ok(stored)
    }
}
