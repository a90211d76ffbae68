-- RT1: the retention offer made at a cancellation, accepted with one click on a signed
-- page. `terms` is the offer as made (JSON: kind, parameters, title and description per
-- language), so a later change to `[retention]` does not change an offer already made.
CREATE TABLE retention_offers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
-- enrolment.
ALTER TABLE outgoing_webhooks ALTER COLUMN enrolment_id DROP NOT NULL;
