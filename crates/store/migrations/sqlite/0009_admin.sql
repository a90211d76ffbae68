-- The admin UI: team accounts (argon2 hashes), server-side sessions with their CSRF token,
-- the audit log of every change a person makes, and which programmes are paused.
CREATE TABLE team_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Only a hash of the session cookie is stored, so a leaked database opens no session.
CREATE TABLE team_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES team_users (id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX team_sessions_user ON team_sessions (user_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before_value TEXT,
    after_value TEXT
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);

-- A paused programme starts no enrolments and holds its running ones; the programme files
-- stay the source of truth for what a programme does, this row only says "not now".
CREATE TABLE programme_pauses (
    programme_id TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL,
    paused_by TEXT NOT NULL
);
