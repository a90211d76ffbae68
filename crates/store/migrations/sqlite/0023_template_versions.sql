-- Templates as the CRM team edits them (issue 21). Every definition a template ever had is
-- a version, immutable once written: from its file (a deploy) or from the admin UI's
-- editor. One version per template is live; its draft is the one being edited.
CREATE TABLE template_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    origin TEXT NOT NULL,
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE template_live (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    since BIGINT NOT NULL,
    by_whom TEXT NOT NULL
);

-- The draft being edited, one per template or programme (kind: template, programme).
CREATE TABLE content_drafts (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    author TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Every change to what is live, numbered: a running worker reloads its templates when the
-- highest number moves, so a publish reaches every process without a restart.
CREATE TABLE content_changes (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    by_whom TEXT NOT NULL
);
CREATE INDEX content_changes_name ON content_changes (name, id);

-- The template editor tries a draft on the latest real messages of its template.
CREATE INDEX messages_template ON messages (template, id);
