-- Aftercare foundation schema. Times are microseconds since the Unix epoch (UTC) in BIGINT,
-- so that SQLite and PostgreSQL store and compare them the same way. JSON is TEXT.

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    email TEXT,
    last_name TEXT,
    postcode TEXT,
    record TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_email ON customers (email);
CREATE INDEX customers_postcode ON customers (postcode);

CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    placed_at BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    delivery_method TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, placed_at);

CREATE TABLE order_lines (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_sku ON order_lines (sku);

CREATE TABLE shipments (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    status_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE shipment_events (
    id INTEGER PRIMARY KEY,
    shipment_id BIGINT NOT NULL REFERENCES shipments (id),
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    location TEXT,
    received_at BIGINT NOT NULL,
    UNIQUE (shipment_id, status, at)
);

CREATE TABLE contracts (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    product_sku TEXT,
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    cancelled_at BIGINT,
    record TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    resolved_at BIGINT,
    record TEXT NOT NULL
);

-- Append-only: rows are never updated or deleted (except by a GDPR erasure).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    source_id TEXT UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    event_type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    properties TEXT NOT NULL
);
CREATE INDEX events_customer ON events (customer_id, occurred_at);

CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY,
    programme_id TEXT NOT NULL,
    programme_version INTEGER NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    trigger_event_id BIGINT NOT NULL REFERENCES events (id),
    state TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    context TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (programme_id, customer_id, trigger_event_id)
);
CREATE INDEX enrolments_customer ON enrolments (customer_id);

-- Durable timers and work: a row is a job due at run_at; a worker leases it until
-- locked_until. Finished jobs are deleted in the same transaction as their effect.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    locked_until BIGINT,
    locked_by TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    enrolment_id BIGINT REFERENCES enrolments (id),
    step_key TEXT NOT NULL,
    programme_id TEXT,
    template TEXT NOT NULL,
    class TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    planned_at BIGINT NOT NULL,
    sent_at BIGINT,
    recipient TEXT,
    subject TEXT,
    body_text TEXT,
    body_html TEXT,
    greeting TEXT,
    header_message_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (enrolment_id, step_key)
);
CREATE INDEX messages_customer ON messages (customer_id, planned_at);
CREATE INDEX messages_state ON messages (state, id);

CREATE TABLE message_transitions (
    id INTEGER PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES messages (id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX message_transitions_message ON message_transitions (message_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- One row per Idempotency-Key and route: the first answer, replayed to every retry.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
