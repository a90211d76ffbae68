-- Issue 22: PostgreSQL's customer search gained trigram indexes; SQLite (the small shop's
-- store) keeps reading its customers for part of a name, and needs nothing here.
SELECT 1;
