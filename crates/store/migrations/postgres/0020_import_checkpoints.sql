-- `aftercare import`: how far each file got, so an interrupted import resumes after the
-- last committed line. A file is known by its kind, size and the hash of its start.
CREATE TABLE import_checkpoints (
    file_key TEXT PRIMARY KEY,
    line BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
