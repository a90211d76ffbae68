-- Letters by post: each day's batch for the print partner. A letter waits in state
-- 'sending' with print_queued_at set until the day's cut-off; then it joins the batch
-- (print_batch_id) and becomes 'sent'. The batch's files are made from the stored letters,
-- so they can be made again, byte for byte, at any time.
CREATE TABLE print_batches (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    batch_day TEXT NOT NULL,
    posted_on TEXT NOT NULL,
    cut_off_at BIGINT NOT NULL,
    letters BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (partner, batch_day)
);

ALTER TABLE messages ADD COLUMN print_queued_at BIGINT;
ALTER TABLE messages ADD COLUMN print_batch_id BIGINT REFERENCES print_batches (id);
CREATE INDEX messages_print_queue ON messages (print_batch_id, print_queued_at);
