-- Issue 23: what a message is about (its template, and the household member it is
-- about), so the policy never sends the same one twice within its repeat window.
ALTER TABLE messages ADD COLUMN topic TEXT;
