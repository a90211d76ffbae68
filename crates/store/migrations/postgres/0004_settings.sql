-- Installation-wide settings the system makes itself, e.g. the secret that signs customer
-- links when none is configured (so links stay valid across restarts).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
