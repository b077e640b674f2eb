-- Events: one conversion each, and what happened to it. Times are Unix milliseconds.
CREATE TABLE events (
	id                     TEXT PRIMARY KEY,          -- UUIDv7: sorts by creation time
	idem_key               TEXT UNIQUE,               -- Idempotency-Key, else conversion_id; NULL for none
	payload                TEXT NOT NULL,             -- the conversion as relayed, less providerId
	test                   INTEGER NOT NULL,
	click_source           TEXT NOT NULL DEFAULT '',
	state                  TEXT NOT NULL,
	attempts               INTEGER NOT NULL DEFAULT 0,
	next_attempt_at        INTEGER NOT NULL,          -- due time; while leased, the lease's end
	lease_until            INTEGER,                   -- set while a relay worker holds it
	last_status            INTEGER NOT NULL DEFAULT 0,
	last_error             TEXT NOT NULL DEFAULT '',
	last_body              TEXT NOT NULL DEFAULT '',
	upstream_conversion_id TEXT NOT NULL DEFAULT '',
	upstream_click_id      TEXT NOT NULL DEFAULT '',
	upstream_recorded_at   TEXT NOT NULL DEFAULT '',
	created_at             INTEGER NOT NULL,
	queued_at              INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL,
	finished_at            INTEGER,
	erased                 INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID; -- the time-ordered id is the table's own key: one B-tree fewer to write per event
CREATE INDEX events_due ON events (next_attempt_at) WHERE state = 'queued';
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_finished ON events (finished_at) WHERE finished_at IS NOT NULL AND erased = 0;

CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY,
	event_id    TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	n           INTEGER NOT NULL,                      -- the event's attempt count when it was made
	started_at  INTEGER NOT NULL,
	duration_us INTEGER NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	body        TEXT NOT NULL DEFAULT '',
	outcome     TEXT NOT NULL
);
CREATE INDEX attempts_event ON attempts (event_id, id);

-- A row the readiness probe rewrites to learn whether the disk takes writes.
CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
INSERT INTO probe (id, at) VALUES (1, 0);
