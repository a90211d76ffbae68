-- Addresses that bounced hard, from the mail provider's feedback: no email goes to them
-- until the customer's address changes.
CREATE TABLE email_suppressions (
    email TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
