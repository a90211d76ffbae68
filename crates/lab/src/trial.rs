//! Throw-away runs of the engine beside a live one: the admin UI's simulations and contact
//! calendars. Each run gets its own SQLite file in a folder of its own, a copy of the live
//! engine's settings that reaches nothing outside ([`Engine::throwaway_copy`]), the stand-in
//! carrier on loopback, and a virtual clock; the live data is only read and the folder is
//! removed when the run ends, also when it is cancelled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aftercare_domain::ManualClock;
use aftercare_engine::Engine;
use aftercare_engine::programme::parse_programme;
use aftercare_engine::reports::SimulationReport;
use aftercare_engine::versions;
use aftercare_store::{JobKind, Store};
use anyhow::Context;
use jiff::Timestamp;

use crate::stand_in::{self, StandInCarrier};

/// A programme's changed text, to simulate instead of the live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeChange {
    /// The programme it replaces (or adds, when no programme has this id).
    pub programme_id: String,
    /// The programme's TOML.
    pub text: String,
}

/// What a run takes from the live store besides the live engine's own programmes and
/// templates (which it copies as loaded, published in the editors too; issue 21).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveContent {
    /// The saved audiences programmes enter by: (id, name, condition).
    pub audiences: Vec<(String, String, String)>,
}

impl LiveContent {
    /// The audiences saved in `live`'s store.
    pub async fn of(live: &Engine) -> aftercare_store::Result<Self> {
        let mut tx = live.store().begin_read().await?;
        let audiences = tx.audiences().await?;
        tx.commit().await?;
        Ok(Self {
            audiences: audiences
                .into_iter()
                .map(|a| (a.id, a.name, a.definition))
                .collect(),
        })
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationRequest {
    /// Customers in the generated shop.
    pub customers: usize,
    /// Days to simulate.
    pub days: i64,
    /// Seed of the generated shop (the same seed gives the same shop).
    pub seed: u64,
    /// The first simulated day (a year of history comes before it).
    pub start: Timestamp,
    /// The library with this programme changed, or the library as it is.
    pub change: Option<ProgrammeChange>,
    /// The saved audiences it runs with (the live engine's programmes and templates are
    /// taken as loaded), so "as it is" is what customers get.
    pub live: LiveContent,
}

/// A throw-away engine with what it needs kept alive: its folder, clock and carrier.
#[derive(Debug)]
pub struct Trial {
    /// The engine, on the run's own store.
    pub engine: Engine,
    /// The run's virtual clock.
    pub clock: Arc<ManualClock>,
    _carrier: Option<StandInCarrier>,
    // Last, so the store's file is removed after the engine is gone.
    _dir: ThrowawayDir,
}

/// A throw-away folder, removed when dropped — also when the work in it is cancelled.
#[derive(Debug)]
pub struct ThrowawayDir(PathBuf);

impl ThrowawayDir {
    /// A fresh folder under the system's temporary folder for a run of `what`.
    pub fn new(what: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "aftercare-{what}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ThrowawayDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a throw-away engine beside `live` for a run of `what`, its clock at `from`: the
/// live engine's programmes and templates, `change` in place of its programme and
/// simulated as if it were live, and the saved audiences of `content`.
pub async fn engine(
    live: &Engine,
    what: &str,
    from: Timestamp,
    content: &LiveContent,
    change: Option<&ProgrammeChange>,
) -> anyhow::Result<Trial> {
    let dir = ThrowawayDir::new(what)?;
    // The run's own renderer over the same templates (storing them takes it by value).
    let renderer = live
        .renderer()
        .with_templates(std::iter::empty())
        .map_err(|f| anyhow::anyhow!("the live templates do not load ({} findings)", f.len()))?;
    let ctx = live.check_context();
    let mut library = live.programmes().current().clone();
    if let Some(change) = change {
        // A draft is simulated as if it were live: that is what the simulation is for.
        let mut table: toml::Table =
            toml::from_str(&change.text).context("the changed programme")?;
        table.remove("status");
        let text = toml::to_string(&table)?;
        let file = format!("simulated-{}.toml", change.programme_id);
        let p = parse_programme(Path::new(&file), &text, ctx)
            .map_err(|f| findings("the changed programme", &f))?;
        library.programmes.remove(&change.programme_id);
        if library.programmes.contains_key(&p.id) {
            anyhow::bail!(
                "the changed programme's id '{}' is another programme's; it replaces '{}'",
                p.id,
                change.programme_id
            );
        }
        library.programmes.insert(p.id.clone(), p);
    }

    let store = Store::open_with(
        &format!("sqlite://{}", dir.path().join("run.db").display()),
        false,
    )
    .await?;
    // Saved before the programmes are stored: storing them resolves each programme's
    // audience against the store.
    if !content.audiences.is_empty() {
        let mut tx = store.begin().await?;
        for (id, name, definition) in &content.audiences {
            tx.save_audience(id, name, definition, "simulation", from)
                .await?;
        }
        tx.commit().await?;
    }
    let programmes = versions::sync(&store, library, ctx, from)
        .await
        .map_err(|e| anyhow::anyhow!("storing the programmes: {e}"))?;
    let (renderer, generation) = aftercare_engine::content::sync_templates(&store, renderer, from)
        .await
        .map_err(|e| anyhow::anyhow!("storing the templates: {e}"))?;
    let clock = Arc::new(ManualClock::new(from));
    let mut tracking = aftercare_domain::delivery::TrackingConfig::default();
    let listener = stand_in::bind(&mut tracking).await?;
    let engine = live
        .throwaway_copy(
            store,
            clock.clone(),
            Arc::new(programmes),
            Arc::new(renderer),
        )
        .with_templates_as_of(generation)
        .with_tracking(tracking);
    aftercare_engine::loyalty::sync_pools(engine.store(), engine.loyalty(), from).await?;
    engine.ensure_calendar().await?;
    let carrier = listener.map(|l| stand_in::serve(&engine, l));
    Ok(Trial {
        engine,
        clock,
        _carrier: carrier,
        _dir: dir,
    })
}

fn findings(what: &str, found: &[aftercare_engine::programme::Finding]) -> anyhow::Error {
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{what} has mistakes:\n{}", lines.join("\n"))
}

/// Runs `request` on a throw-away engine beside `live` (the admin UI's simulator): the
/// generated shop through the engine itself, reporting its days to `progress`.
pub async fn simulate(
    live: &Engine,
    request: &SimulationRequest,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<SimulationReport> {
    let history_from = request.start - jiff::SignedDuration::from_hours(24 * 365);
    let trial = engine(
        live,
        "simulation",
        history_from,
        &request.live,
        request.change.as_ref(),
    )
    .await?;
    crate::exact::simulate(
        &trial.engine,
        &trial.clock,
        crate::shop::Size {
            customers: request.customers,
            seed: request.seed,
        },
        request.days,
        request.start,
        live.policy(),
        progress,
    )
    .await
}

/// How often a simulation being run records its days done and renews its job's lease.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How many times workers may take a side job and stop without finishing it (killed, out of
/// memory) before it ends as failed.
pub const SIDE_ATTEMPTS: i32 = 3;

/// Why a side job that workers kept stopping on ended.
pub fn given_up(attempts: i32) -> String {
    format!(
        "workers stopped {} times while working on it (killed or out of memory?)",
        attempts - 1
    )
}

/// How often an idle worker looks for a simulation to run.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the admin UI's side jobs on this worker until `shutdown` completes (issue 22: they
/// are worker jobs, not work inside the serving process): simulations one at a time, and
/// beside them customers' contact calendars one at a time, so a calendar does not wait
/// behind a simulated year, and messages wait behind neither (the worker's lanes never
/// claim them). Work in hand when `shutdown` completes is dropped; its job returns to the
/// other workers when its lease runs out.
pub async fn run_side_jobs(live: Engine, shutdown: impl std::future::Future<Output = ()>) {
    let simulations = side_loop(&live, "a simulation", |e| {
        Box::pin(run_queued_simulation(e))
    });
    let calendars = side_loop(&live, "a contact calendar", |e| {
        Box::pin(crate::projection::run_queued(e))
    });
    tokio::select! {
        () = shutdown => {}
        _ = async { tokio::join!(simulations, calendars) } => {}
    }
}

/// One side job's run: whether it found one.
type SideRun<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<bool>> + Send + 'a>>;

/// Aborts a spawned run when the loop that waits for it is dropped (at shutdown).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `run_one` as long as it finds work, and looks again every second when it does not.
/// Each run is a task of its own, so one that panics is logged (its job returns to the
/// workers when its lease runs out, and ends as failed after [`SIDE_ATTEMPTS`]) and the
/// loop goes on.
async fn side_loop(live: &Engine, what: &str, run_one: fn(&Engine) -> SideRun<'_>) {
    loop {
        let engine = live.clone();
        let task = tokio::spawn(async move { run_one(&engine).await });
        let _abort = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "Running {what} failed; trying again shortly.");
            }
            Err(e) => tracing::error!(error = %e, "Running {what} stopped unexpectedly."),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Claims the oldest due `simulation` job and runs it: the library as it is and, with a
/// change, the library with it, on throw-away engines beside `live`. The days done are
/// recorded every two seconds with the lease renewed; a worker that loses the lease (it
/// stalled past it and another worker took the job) stops, and what it found is not kept.
/// A run that fails is recorded as failed with the reason (it is deterministic, so it is not
/// retried); only the store failing leaves the job to be taken again. Whether one ran.
pub async fn run_queued_simulation(live: &Engine) -> anyhow::Result<bool> {
    use std::sync::atomic::{AtomicU64, Ordering};

    let store = live.store();
    let (worker, clock) = (live.worker_id(), live.clock().clone());
    let lease_until = |now: Timestamp| now.checked_add(live.lease()).unwrap_or(now);
    let now = clock.now();
    let Some(job) = store
        .claim_side_job(JobKind::Simulation, worker, now, lease_until(now))
        .await?
    else {
        return Ok(false);
    };
    let id = job.ref_id;
    let mut tx = store.begin().await?;
    let Some(run) = tx.simulation(id).await?.filter(|r| r.finished_at.is_none()) else {
        if tx.finish_job(job.id, worker).await? {
            tx.commit().await?;
        }
        return Ok(true);
    };
    if job.attempts > SIDE_ATTEMPTS {
        // Workers keep stopping while running it (killed, out of memory): it would block
        // every simulation after it, so it ends as failed.
        let why = format!("{}; try fewer customers or days", given_up(job.attempts));
        tx.finish_simulation(id, Err(&why), now).await?;
        if tx.finish_job(job.id, worker).await? {
            tx.commit().await?;
        }
        return Ok(true);
    }
    tx.take_simulation(id, worker, now).await?;
    tx.commit().await?;
    tracing::info!(
        simulation = id,
        customers = run.customers,
        days = run.days,
        "Simulation started."
    );

    let base_done = AtomicU64::new(0);
    let changed_done = AtomicU64::new(0);
    let done = |d: &AtomicU64| i64::try_from(d.load(Ordering::Relaxed)).unwrap_or(0);
    let work = async {
        let request = SimulationRequest {
            customers: usize::try_from(run.customers).unwrap_or(0),
            days: run.days,
            seed: u64::try_from(run.seed).unwrap_or(0),
            start: run.start_day,
            change: run
                .programme_id
                .clone()
                .zip(run.change_text.clone())
                .map(|(programme_id, text)| ProgrammeChange { programme_id, text }),
            live: LiveContent::of(live).await?,
        };
        let as_is = SimulationRequest {
            change: None,
            ..request.clone()
        };
        let base = simulate(live, &as_is, &|done, _| {
            base_done.store(done, Ordering::Relaxed)
        })
        .await?;
        let changed = match request.change {
            Some(_) => Some(
                simulate(live, &request, &|done, _| {
                    changed_done.store(done, Ordering::Relaxed);
                })
                .await?,
            ),
            None => None,
        };
        anyhow::Ok((base, changed))
    };
    // A third of the lease, so a renewal that fails once is made up by the next.
    let every = live
        .lease()
        .checked_div(3)
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .unwrap_or(PROGRESS_EVERY)
        .min(PROGRESS_EVERY);
    // Why the run stops before its end: another worker took it over, or it was cancelled.
    enum Stop {
        Lost,
        Cancelled,
    }
    let ticker = async {
        loop {
            tokio::time::sleep(every).await;
            let renewed = async {
                let mut tx = store.begin().await?;
                if !tx
                    .extend_lease(job.id, worker, lease_until(clock.now()))
                    .await?
                {
                    return anyhow::Ok(Some(Stop::Lost));
                }
                if tx
                    .simulation(id)
                    .await?
                    .is_none_or(|r| r.finished_at.is_some())
                {
                    return anyhow::Ok(Some(Stop::Cancelled));
                }
                tx.simulation_progress(id, done(&base_done), done(&changed_done))
                    .await?;
                tx.commit().await?;
                anyhow::Ok(None)
            };
            match renewed.await {
                Ok(None) => {}
                Ok(Some(stop)) => return stop,
                // The store failing once (busy, a dropped connection) is no reason to stop.
                Err(e) => {
                    tracing::warn!(simulation = id, error = %format!("{e:#}"), "Renewing a simulation's lease failed; trying again.")
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        stop = ticker => {
            match stop {
                Stop::Lost => tracing::warn!(simulation = id, "Another worker took this simulation over; stopping."),
                Stop::Cancelled => {
                    tracing::info!(simulation = id, "The simulation was cancelled; stopping.");
                    let mut tx = store.begin().await?;
                    if tx.finish_job(job.id, worker).await? {
                        tx.commit().await?;
                    }
                }
            }
            return Ok(true);
        }
    };
    let json = |r: &SimulationReport| serde_json::to_string(r);
    let outcome = match &outcome {
        Ok((base, changed)) => Ok((json(base)?, changed.as_ref().map(json).transpose()?)),
        Err(e) => Err(format!("{e:#}")),
    };
    let mut tx = store.begin().await?;
    tx.simulation_progress(id, done(&base_done), done(&changed_done))
        .await?;
    tx.finish_simulation(
        id,
        match &outcome {
            Ok((base, changed)) => Ok((base.as_str(), changed.as_deref())),
            Err(e) => Err(e.as_str()),
        },
        clock.now(),
    )
    .await?;
    if tx.finish_job(job.id, worker).await? {
        tx.commit().await?;
        match &outcome {
            Ok(_) => tracing::info!(simulation = id, "Simulation done."),
            Err(e) => tracing::warn!(simulation = id, error = %e, "Simulation failed."),
        }
    }
    Ok(true)
}
