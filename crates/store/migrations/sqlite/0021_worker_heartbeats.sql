-- Each worker process says it is alive every few seconds (`/metrics` shows how long ago),
-- with how many jobs it has run since it started.
CREATE TABLE worker_heartbeats (
    worker TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    jobs_done BIGINT NOT NULL
);
