-- Issue 22: the admin UI's simulations run on workers as jobs (`simulation`), not inside the
-- serving process, and are kept in the store, so every `serve` process behind a load
-- balancer shows the same runs and a run survives a restart. A worker killed mid-run leaves
-- the job to another, which runs it again from the start (a run is deterministic in its seed).
CREATE TABLE simulations (
    id INTEGER PRIMARY KEY,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    customers BIGINT NOT NULL,
    days BIGINT NOT NULL,
    seed BIGINT NOT NULL,
    -- The first simulated day (micros).
    start_day BIGINT NOT NULL,
    -- The changed programme and its text, or none for the library as it is.
    programme_id TEXT,
    change_text TEXT,
    -- 1 while the run is unfinished, NULL after: at most one run at a time, race-free.
    running SMALLINT UNIQUE,
    -- When a worker took it (NULL while it waits for one).
    taken_at BIGINT,
    taken_by TEXT,
    baseline_done BIGINT NOT NULL DEFAULT 0,
    changed_done BIGINT NOT NULL DEFAULT 0,
    -- The reports as JSON, or why the run failed.
    report TEXT,
    changed_report TEXT,
    error TEXT,
    finished_at BIGINT
);
CREATE INDEX simulations_of_draft ON simulations (programme_id, id);
-- The one simulation job a worker's side task looks for, without reading the message jobs.
CREATE INDEX jobs_simulations_due ON jobs (run_at, id) WHERE kind = 'simulation' AND dead_at IS NULL;
