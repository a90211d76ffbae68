-- Issue 21: API tokens carry scopes, so the shop's token cannot export or erase customers
-- and a dashboard's token cannot write. Tokens made before keep every scope.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'all';
