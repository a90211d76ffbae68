-- Mobile numbers the SMS provider reported as permanently unreachable: no SMS goes to them
-- until the customer's number changes.
CREATE TABLE phone_suppressions (
    phone TEXT PRIMARY KEY,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
