-- Issue 22: the admin UI's simulations and contact calendars run on workers as jobs
-- (`simulation`, `projection`) beside the workers' lanes, not inside the serving process.
-- Simulations are kept in the store, so every `serve` process behind a load
-- balancer shows the same runs and a run survives a restart. A worker killed mid-run leaves
-- the job to another, which runs it again from the start (a run is deterministic in its seed).
CREATE TABLE simulations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
-- A customer's coming year as the admin UI's contact calendar shows it: asked for by a page
-- view, worked out by a worker, shown while fresh.
CREATE TABLE projections (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    -- When a worker last worked it out (NULL until then); the year runs from then.
    worked_at BIGINT,
    -- The projected contacts as JSON, or why it could not be worked out.
    result TEXT,
    error TEXT
);
-- A worker's side tasks find their jobs through `jobs_ref (kind, ref_id)`: a handful of rows
-- of their kind, never the message jobs.
