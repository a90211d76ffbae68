-- Issue 22: the admin UI's customer search by part of a name or address read every customer
-- on PostgreSQL (2.2 s at a million). Trigram indexes (pg_trgm, a trusted extension that
-- ships with PostgreSQL) let `LIKE '%part%'` use an index. Building them on a large store
-- takes a while (about a minute per million customers).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_email_trgm ON customers USING gin (LOWER(email) gin_trgm_ops);
CREATE INDEX customers_last_name_trgm ON customers USING gin (LOWER(last_name) gin_trgm_ops);
CREATE INDEX customers_first_name_trgm ON customers
    USING gin (LOWER(record::jsonb ->> 'first_name') gin_trgm_ops);
