-- The branded tracking page (PX1–PX6): the carrier's expected window, the delivery changes
-- customers ask for (passed on to the carrier by the carrier job), fitting appointments for
-- click & collect orders, and recycling returns.

ALTER TABLE shipments ADD COLUMN expected_from BIGINT;
ALTER TABLE shipments ADD COLUMN expected_until BIGINT;

CREATE TABLE delivery_changes (
    id BIGSERIAL PRIMARY KEY,
    shipment_id BIGINT NOT NULL REFERENCES shipments (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    -- requested → confirmed (the carrier took it) | refused (the carrier said no)
    state TEXT NOT NULL,
    nonce TEXT NOT NULL UNIQUE,
    requested_at BIGINT NOT NULL,
    settled_at BIGINT,
    carrier_reply TEXT
);
CREATE INDEX delivery_changes_shipment ON delivery_changes (shipment_id, requested_at);

CREATE TABLE appointments (
    id BIGSERIAL PRIMARY KEY,
    store_id TEXT NOT NULL,
    slot_at BIGINT NOT NULL,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    created_at BIGINT NOT NULL,
    UNIQUE (store_id, slot_at)
);

CREATE TABLE recycling_requests (
    order_id BIGINT PRIMARY KEY REFERENCES orders (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    requested_at BIGINT NOT NULL
);
