-- RT1: the retention offer made at a cancellation, accepted with one click on a signed
-- page. `terms` is the offer as made (JSON: kind, parameters, title and description per
-- language), so a later change to `[retention]` does not change an offer already made.
CREATE TABLE retention_offers (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    offer_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    product_sku TEXT,
    contract_external_id TEXT,
    terms TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    accepted_at BIGINT
);
CREATE INDEX retention_offers_customer ON retention_offers (customer_id);

-- A call to the brand's system that no programme step makes (an accepted offer) has no
-- enrolment; SQLite changes a column's NOT NULL only by rebuilding the table.
CREATE TABLE outgoing_webhooks_new (
    id INTEGER PRIMARY KEY,
    enrolment_id BIGINT REFERENCES enrolments (id),
    step_key TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    UNIQUE (enrolment_id, step_key)
);
INSERT INTO outgoing_webhooks_new
    SELECT id, enrolment_id, step_key, target, payload, state, last_error, created_at, done_at
    FROM outgoing_webhooks;
DROP TABLE outgoing_webhooks;
ALTER TABLE outgoing_webhooks_new RENAME TO outgoing_webhooks;
