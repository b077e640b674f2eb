-- The admin audit log: who read personal data or changed something. Each line's hash covers the
-- line before's: an edited or a deleted line breaks the chain (sidecar audit --verify).
CREATE TABLE audit (
	seq    INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,   -- Unix milliseconds
	user   TEXT NOT NULL,
	client TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	status INTEGER NOT NULL,
	prev   TEXT NOT NULL,
	hash   TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
-- The hash of the last line GLP_AUDIT_RETENTION deleted: the first line kept chains to it.
CREATE TABLE audit_anchor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
