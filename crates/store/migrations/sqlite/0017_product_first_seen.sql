-- IN1: when a product first came into the catalogue, so inspiration can show what is new.
-- Products already there count from their last update.
ALTER TABLE products ADD COLUMN first_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE products SET first_seen_at = updated_at;
