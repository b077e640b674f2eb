-- Click-log trust: whether the browser said a landing was a top-level
-- navigation (Sec-Fetch-Mode: navigate, Sec-Fetch-Dest: document). The local
-- match uses no other click. Clicks logged before are not known to be one.
ALTER TABLE clicks ADD COLUMN top_level INTEGER NOT NULL DEFAULT 0;
