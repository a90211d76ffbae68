//! The calendar job: once a local day per time zone, birthdays, anniversaries, lifespans,
//! inactivity and household moments become events (see [`crate::occasions`]). The day's
//! scan of a zone is cut into parts of [`PART_SPAN`] customers, each a `calendar_part` job
//! any worker can take (issue 22), and the day's relationship scores are a `scores` job of
//! their own that runs first and then plans the parts (its `likely_lapsing` events come
//! before the day's occasions, as in the fast simulator), so a million customers are shared
//! between workers and a worker killed mid-way leaves its part to another.

use super::*;
use aftercare_store::{CalendarPart, CustomerId};

/// Customers per part of a zone's daily scan: a part stores its occasions in one
/// transaction of a second or two, well inside a job's lease.
pub const PART_SPAN: i64 = 5_000;

impl Engine {
    /// Schedules the hourly calendar job if it is not there yet.
    pub async fn ensure_calendar(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.ensure_recurring_job(JobKind::Calendar, now, now).await?;
        Ok(tx.commit().await?)
    }

    /// Plans calendar occasions for every time zone whose local day has begun (06:00)
    /// and was not planned yet, catching up at most three missed days, as `calendar_part`
    /// jobs — or, on the first run of a UTC day, asks for the day's `scores` job, which
    /// plans them when it is done; then reschedules itself for the next local 06:00 in any
    /// customer's time zone.
    pub(super) async fn run_calendar(&self, job: &Job) -> Result<(), EngineError> {
        let programmes = self.programmes();
        let now = self.clock.now();
        let wanted = wanted_occasions(&programmes);
        // The print partner's batch, once the day's cut-off has passed (own transaction).
        self.close_due_print_batch().await?;
        // Points whose date passed get their `expire` entry (idempotent, own transaction).
        let expired = crate::loyalty::expire_points(&self.store, now).await?;
        if expired > 0 {
            debug!(entries = expired, "Points expired.");
        }
        // What grows forever is trimmed (own transactions, idempotent).
        let pruned = crate::housekeeping::prune(&self.store, &self.housekeeping, now).await?;
        if pruned != crate::housekeeping::Pruned::default() {
            debug!(?pruned, "Housekeeping removed old rows.");
        }
        let mut tx = self.store.begin().await?;
        let zones = time_zones(&mut tx).await?;
        // Relationship scores, once a UTC day, before the day's occasions (their
        // `likely_lapsing` events come first, as the fast simulator has them): a job of its
        // own, which plans the day's parts when it is done. At most one live such job
        // exists. Once it has failed, the occasions no longer wait for it.
        let scoring = crate::scores::due(&mut tx, now).await?;
        if scoring {
            tx.ensure_recurring_job(JobKind::Scores, now, now).await?;
        }
        if !scoring || !tx.job_unfailed(JobKind::Scores).await? {
            self.plan_days(&mut tx, &zones, &wanted, now).await?;
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

    /// Stores the occasions of one part of a zone's local day (customers with ids in the
    /// part's range), removes the part and finishes its job, all in one transaction: a
    /// worker killed mid-way leaves the whole part to the next (events are also unique by
    /// their source, so nothing is stored twice).
    pub(super) async fn run_calendar_part(&self, job: &Job) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(part) = tx.calendar_part(job.ref_id).await? else {
            if tx.finish_job(job.id, &self.worker_id).await? {
                tx.commit().await?;
            }
            return Ok(());
        };
        let wanted = wanted_occasions(&self.programmes());
        let stored = match (
            jiff::tz::TimeZone::get(&part.time_zone),
            part.local_date.parse::<jiff::civil::Date>(),
        ) {
            (Ok(zone), Ok(date)) if !wanted.is_empty() => {
                self.scan_part(&mut tx, &part, &zone, date, &wanted, now)
                    .await?
            }
            _ => 0,
        };
        tx.delete_calendar_part(job.ref_id).await?;
        if tx.finish_job(job.id, &self.worker_id).await? {
            tx.commit().await?;
            debug!(zone = %part.time_zone, date = %part.local_date, after = i64::from(part.after_id), occasions = stored, "Calendar part stored.");
        } else {
            warn!(
                job_id = i64::from(job.id),
                "Lost the lease on a calendar part; another worker has it."
            );
        }
        Ok(())
    }

    /// The day's relationship scores (own transactions, [`crate::scores::refresh`]),
    /// keeping the job's lease while it works.
    pub(super) async fn run_scores(&self, job: &Job) -> Result<(), EngineError> {
        let lease = Lease {
            job: job.id,
            worker: &self.worker_id,
            length: self.lease,
            clock: self.clock.as_ref(),
        };
        let scored =
            crate::scores::refresh(&self.store, &self.scores, self.clock.now(), Some(&lease)).await;
        if let Ok(n @ 1..) = scored {
            debug!(customers = n, "Scores refreshed.");
        }
        // The day's occasions follow, also when scoring failed (it is retried on its own;
        // the birthdays do not wait for it).
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let zones = time_zones(&mut tx).await?;
        let wanted = wanted_occasions(&self.programmes());
        self.plan_days(&mut tx, &zones, &wanted, now).await?;
        // Only while this worker still holds the job (else the one that took it plans).
        match scored {
            Ok(_) => {
                if tx.finish_job(job.id, &self.worker_id).await? {
                    tx.commit().await?;
                }
                Ok(())
            }
            Err(e) => {
                if lease.renew(&mut tx).await.is_ok() {
                    tx.commit().await?;
                }
                Err(e.into())
            }
        }
    }

    /// Plans, as `calendar_part` jobs, every local day that has begun (06:00) in a zone and
    /// was not planned yet, catching up at most three missed days.
    async fn plan_days(
        &self,
        tx: &mut Tx,
        zones: &[(String, jiff::tz::TimeZone)],
        wanted: &crate::occasions::Wanted,
        now: jiff::Timestamp,
    ) -> Result<(), EngineError> {
        if wanted.is_empty() {
            return Ok(());
        }
        for (zone_name, zone) in zones {
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
                // Marked first: a day another worker planned meanwhile is not planned twice.
                if tx
                    .mark_calendar_scanned(zone_name, &date.to_string(), now)
                    .await?
                {
                    let parts = plan_parts(tx, zone_name, date, self.calendar_span, now).await?;
                    debug!(zone = %zone_name, %date, parts, "Calendar planned.");
                }
                date = match date.tomorrow() {
                    Ok(d) => d,
                    Err(_) => break,
                };
            }
        }
        Ok(())
    }

    /// Stores the occasions of the customers in one part of a zone's local day.
    async fn scan_part(
        &self,
        tx: &mut Tx,
        part: &CalendarPart,
        zone: &jiff::tz::TimeZone,
        date: jiff::civil::Date,
        wanted: &crate::occasions::Wanted,
        now: jiff::Timestamp,
    ) -> Result<usize, EngineError> {
        let products: HashMap<String, aftercare_domain::ProductRecord> = tx
            .products()
            .await?
            .into_iter()
            .map(|p| (p.sku.as_str().to_string(), p))
            .collect();
        let mut after = part.after_id;
        let mut stored = 0;
        loop {
            let customers = tx
                .customers_in_zone(&part.time_zone, after, part.until_id, 500)
                .await?;
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
                    occasions_on(date, &c.record, past, signed, &products, wanted)
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

/// Every time zone customers live in that this build knows.
async fn time_zones(tx: &mut Tx) -> Result<Vec<(String, jiff::tz::TimeZone)>, EngineError> {
    Ok(tx
        .customer_time_zones()
        .await?
        .into_iter()
        .filter_map(|name| jiff::tz::TimeZone::get(&name).ok().map(|zone| (name, zone)))
        .collect())
}

/// The occasions the live programmes use.
fn wanted_occasions(programmes: &Programmes) -> crate::occasions::Wanted {
    OCCASIONS
        .iter()
        .copied()
        .filter(|o| programmes.current().uses_occasion(o))
        .collect()
}

/// Cuts a zone's local day into parts of `size` customers and schedules a `calendar_part`
/// job for each; answers how many.
async fn plan_parts(
    tx: &mut Tx,
    zone: &str,
    date: jiff::civil::Date,
    size: i64,
    now: jiff::Timestamp,
) -> Result<usize, EngineError> {
    let ends = tx.zone_part_ends(zone, size).await?;
    let local_date = date.to_string();
    let mut parts = Vec::with_capacity(ends.len());
    let mut after = CustomerId(0);
    for until in ends {
        parts.push(CalendarPart {
            time_zone: zone.to_string(),
            local_date: local_date.clone(),
            after_id: after,
            until_id: until,
        });
        after = until;
    }
    let ids = tx.insert_calendar_parts(&parts, now).await?;
    tx.insert_jobs(JobKind::CalendarPart, &ids, now, now)
        .await?;
    Ok(ids.len())
}

/// A long job's hold on its lease: renewed as it goes ([`Tx::extend_lease`]).
pub struct Lease<'a> {
    job: aftercare_store::JobId,
    worker: &'a str,
    length: SignedDuration,
    clock: &'a dyn aftercare_domain::Clock,
}

impl Lease<'_> {
    /// Renews the lease for another full length within `tx`; an error when another worker
    /// took the job meanwhile (its lease ran out), so the work stops.
    pub async fn renew(&self, tx: &mut Tx) -> Result<(), aftercare_store::StoreError> {
        let now = self.clock.now();
        let until = now.checked_add(self.length).unwrap_or(now);
        if tx.extend_lease(self.job, self.worker, until).await? {
            Ok(())
        } else {
            Err(aftercare_store::StoreError::Conflict(
                "another worker took over this job".into(),
            ))
        }
    }
}
