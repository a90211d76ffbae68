-- Issue 22: a local day's calendar scan of a time zone is cut into parts of 5,000 customers (ranges of ids),
-- each a job of its own (`calendar_part`), so several workers share a million customers and
-- a worker killed mid-part leaves the part to another. A part's row goes with the
-- transaction that stores its occasions.
CREATE TABLE calendar_parts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time_zone TEXT NOT NULL,
    local_date TEXT NOT NULL,
    after_id BIGINT NOT NULL,
    until_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
-- At most one live scores job: the calendar asks for it once a day, the job removes itself;
-- one set aside after failing too often does not stop the next day's.
CREATE UNIQUE INDEX jobs_one_scores ON jobs (kind) WHERE kind = 'scores' AND dead_at IS NULL;
