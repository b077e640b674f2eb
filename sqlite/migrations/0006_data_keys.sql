-- Encryption at rest (GLP_DATA_KEY_FILE): one data key per day, wrapped by the file's key; retention
-- deletes a day's row, which leaves that day's sealed personal data unreadable in every copy.
CREATE TABLE data_keys (
	day        TEXT PRIMARY KEY,   -- YYYY-MM-DD, UTC
	wrapped    BLOB NOT NULL,      -- the data key, AES-256-GCM under the file key
	created_at INTEGER NOT NULL
);
-- The fingerprint (first 8 bytes of SHA-256) of the file key the outbox was written with; never the key.
CREATE TABLE data_key_file (id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL);
