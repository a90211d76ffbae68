-- Click tracking (issue 6), only for messages whose programme step asks for it: each web
-- link in such a message, by its position, and each click on its signed redirect. Opens
-- are tracked only when configured (below).
CREATE TABLE message_links (
    message_id BIGINT NOT NULL REFERENCES messages (id),
    position INTEGER NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (message_id, position)
);

CREATE TABLE link_clicks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX link_clicks_message ON link_clicks (message_id);

-- Opens, only when the brand turned `track_opens` on (off by default).
CREATE TABLE message_opens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX message_opens_message ON message_opens (message_id);
