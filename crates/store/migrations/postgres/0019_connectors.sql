-- Shop and shipping platforms' webhooks (issue 24): every delivery is kept once per
-- platform and delivery id, with its raw payload, so a repeat is recognised and a payload
-- that did not map can be replayed after a fix. 'applied', 'ignored' or 'rejected'.
CREATE TABLE hook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    UNIQUE (platform, delivery_id)
);
CREATE INDEX hook_deliveries_state ON hook_deliveries (state, id);

-- A platform's own id for something Aftercare knows by another: Shopify's order id for
-- the order Aftercare knows by its name ("#1001"), which fulfilments and refunds name.
CREATE TABLE platform_ids (
    platform TEXT NOT NULL,
    kind TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (platform, kind, platform_id)
);
