-- The full programme language: wait_for, goals, holdouts, exits and immutable versions.
ALTER TABLE enrolments ADD COLUMN holdout BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE enrolments ADD COLUMN wait_event TEXT;
ALTER TABLE enrolments ADD COLUMN wait_match TEXT;
ALTER TABLE enrolments ADD COLUMN wait_deadline BIGINT;
ALTER TABLE enrolments ADD COLUMN goal_event TEXT;
ALTER TABLE enrolments ADD COLUMN goal_deadline BIGINT;
ALTER TABLE enrolments ADD COLUMN goal_reached_at BIGINT;
ALTER TABLE enrolments ADD COLUMN exit_reason TEXT;
CREATE INDEX enrolments_customer_state ON enrolments (customer_id, state);
CREATE INDEX enrolments_programme ON enrolments (programme_id, customer_id, started_at);
CREATE INDEX jobs_ref ON jobs (kind, ref_id);

ALTER TABLE messages ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';

-- Each programme version as first seen: running enrolments finish on it, and versions
-- can be compared.
CREATE TABLE programme_versions (
    programme_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (programme_id, version)
);

-- Calendar occasions are computed per time zone, once per local date.
ALTER TABLE customers ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Amsterdam';
CREATE INDEX customers_time_zone ON customers (time_zone, id);
CREATE TABLE calendar_scans (
    time_zone TEXT NOT NULL,
    local_date TEXT NOT NULL,
    scanned_at BIGINT NOT NULL,
    PRIMARY KEY (time_zone, local_date)
);
-- At most one calendar job: it reschedules itself every hour.
CREATE UNIQUE INDEX jobs_one_calendar ON jobs (kind) WHERE kind = 'calendar';

-- A job that kept failing is set aside (dead-lettered) with its last error, not retried forever.
ALTER TABLE jobs ADD COLUMN dead_at BIGINT;

-- Policy decisions keep a stable reason code beside the sentence.
ALTER TABLE message_transitions ADD COLUMN code TEXT;
