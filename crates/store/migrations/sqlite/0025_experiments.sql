-- Content experiments (issue 21): which variant of a send step a message is, and the
-- winner the team applied once the interval said so (then everyone gets it).
ALTER TABLE messages ADD COLUMN variant TEXT;

CREATE TABLE experiment_winners (
    programme_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    chosen_by TEXT NOT NULL,
    chosen_at BIGINT NOT NULL,
    PRIMARY KEY (programme_id, step_id)
);
