-- Programmes as the CRM team edits them (issue 21): which stored version new enrolments
-- start on, where each version came from, and the draft being edited. Versions stay
-- immutable; an enrolment finishes on the version it started on.
ALTER TABLE programme_versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE programme_versions ADD COLUMN author TEXT NOT NULL DEFAULT 'files';
ALTER TABLE programme_versions ADD COLUMN note TEXT NOT NULL DEFAULT '';

CREATE TABLE programme_live (
    programme_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    since BIGINT NOT NULL,
    by_whom TEXT NOT NULL
);

CREATE TABLE programme_drafts (
    programme_id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    author TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
