-- `[housekeeping] personal_data_days` (issue 24): messages' content and events'
-- properties older than the retention period are removed (the rows stay, counted in
-- reports); these find what still holds some without reading what was cleared before.
CREATE INDEX messages_with_content ON messages (planned_at) WHERE body_text IS NOT NULL OR recipient IS NOT NULL;
CREATE INDEX events_with_properties ON events (received_at) WHERE properties <> '{}';
