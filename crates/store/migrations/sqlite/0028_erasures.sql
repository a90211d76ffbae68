-- Customers whose personal data was erased (GDPR Art. 17, issue 24): an import of old
-- history does not fill the record again; the shop posting the customer anew does (and
-- ends the mark).
CREATE TABLE erased_customers (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    external_id TEXT NOT NULL UNIQUE,
    erased_at BIGINT NOT NULL
);
