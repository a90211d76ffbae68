-- Programmes as the CRM team edits them (issue 21): which stored version new enrolments
-- start on, and where each version came from (drafts are in content_drafts). Versions stay
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
