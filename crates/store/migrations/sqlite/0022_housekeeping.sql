-- Housekeeping (issue 22 point 5): what is old enough to go is found by its age, and an
-- event an enrolment started from is kept.
CREATE INDEX events_received ON events (received_at);
CREATE INDEX enrolments_trigger ON enrolments (trigger_event_id);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX hook_deliveries_received ON hook_deliveries (received_at);
CREATE INDEX jobs_dead ON jobs (dead_at) WHERE dead_at IS NOT NULL;
