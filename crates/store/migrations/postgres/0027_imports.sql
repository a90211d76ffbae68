-- `POST /v1/imports` (issue 24): an uploaded history file and how its import goes. The
-- upload is kept until the import has run (then emptied); `report` is written with each
-- committed batch, in the same transaction as the batch and its checkpoint.
CREATE TABLE imports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    body BYTEA NOT NULL,
    bytes BIGINT NOT NULL,
    report TEXT NOT NULL,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
