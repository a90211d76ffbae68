-- Saved audiences and one-off campaigns (issue 21). An audience is a condition on the
-- data model programmes use, versioned: a campaign remembers the version it was sent to.
CREATE TABLE audiences (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE audience_versions (
    audience_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (audience_id, version)
);

-- A campaign: a template sent once to an audience on a day at a local time, through the
-- policy, with a holdout. Its planning walks the customers in id order (cursor_id).
CREATE TABLE campaigns (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    audience_id TEXT NOT NULL,
    audience_version INTEGER NOT NULL,
    class TEXT NOT NULL,
    channels TEXT NOT NULL,
    send_on TEXT NOT NULL,
    local_time TEXT NOT NULL,
    holdout DOUBLE PRECISION NOT NULL,
    attribution_days INTEGER NOT NULL,
    state TEXT NOT NULL,
    cursor_id BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    planned_at BIGINT
);

-- Who a campaign reached: once per customer, held out or with its message.
CREATE TABLE campaign_recipients (
    campaign_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    holdout BOOLEAN NOT NULL,
    message_id BIGINT,
    planned_for BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
);
CREATE INDEX campaign_recipients_message ON campaign_recipients (message_id);
