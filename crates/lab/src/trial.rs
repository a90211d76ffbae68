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
use aftercare_store::Store;
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
