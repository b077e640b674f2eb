-- Encryption at rest (GLP_DATA_KEY_FILE): one data key per day, wrapped by the file's key; retention
-- deletes a day's row, which leaves that day's sealed personal data unreadable in every copy.
CREATE TABLE data_keys (
	day        text PRIMARY KEY,   -- YYYY-MM-DD, UTC
	wrapped    bytea NOT NULL,     -- the data key, AES-256-GCM under the file key
	created_at bigint NOT NULL
);
-- The fingerprint (first 8 bytes of SHA-256) of the file key the outbox was written with; never the key.
CREATE TABLE data_key_file (id integer PRIMARY KEY CHECK (id = 1), fingerprint text NOT NULL);

-- The admin audit log: who read personal data or changed something. Each line's hash covers the
-- line before's: an edited or a deleted line breaks the chain (sidecar audit --verify).
CREATE TABLE audit (
	seq    bigint PRIMARY KEY,
	at     bigint NOT NULL,   -- Unix milliseconds
	"user" text NOT NULL,
	client text NOT NULL,
	action text NOT NULL,
	target text NOT NULL,
	status integer NOT NULL,
	prev   text NOT NULL,
	hash   text NOT NULL
);
CREATE INDEX audit_at ON audit (at);
-- The hash of the last line GLP_AUDIT_RETENTION deleted: the first line kept chains to it.
CREATE TABLE audit_anchor (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL);
