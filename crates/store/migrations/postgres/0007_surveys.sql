-- Surveys a programme sends (MQ1, MQ2): one response per invitation, answers saved as they
-- are given, one question per screen.
CREATE TABLE survey_responses (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    segment TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX survey_responses_kind ON survey_responses (kind, completed_at);

CREATE TABLE survey_answers (
    response_id BIGINT NOT NULL REFERENCES survey_responses (id),
    question TEXT NOT NULL,
    score INTEGER,
    importance INTEGER,
    evaluation INTEGER,
    comment TEXT,
    answered_at BIGINT NOT NULL,
    PRIMARY KEY (response_id, question)
);
