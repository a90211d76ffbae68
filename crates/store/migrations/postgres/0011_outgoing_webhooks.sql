-- A programme's webhook step: the call to the brand's system, stored once per enrolment
-- step with its payload, then made (and retried) by a 'webhook' job.
CREATE TABLE outgoing_webhooks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrolment_id BIGINT NOT NULL REFERENCES enrolments (id),
    step_key TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    UNIQUE (enrolment_id, step_key)
);
