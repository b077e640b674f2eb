-- The outbox and the click log, as the SQLite file has them (outbox/migrations), for a fleet of
-- sidecars on one database. Times are Unix milliseconds, as in the file.
CREATE TABLE events (
	id                     text PRIMARY KEY,          -- UUIDv7: sorts by creation time
	idem_key               text UNIQUE,               -- Idempotency-Key, else conversion_id; NULL for none
	payload                jsonb NOT NULL,            -- the conversion as relayed, less providerId
	test                   boolean NOT NULL,
	click_source           text NOT NULL DEFAULT '',
	state                  text NOT NULL,
	attempts               integer NOT NULL DEFAULT 0,
	next_attempt_at        bigint NOT NULL,           -- due time; while leased, the lease's end
	lease_until            bigint,                    -- set while a relay worker holds it
	last_status            integer NOT NULL DEFAULT 0,
	last_error             text NOT NULL DEFAULT '',
	last_body              text NOT NULL DEFAULT '',
	upstream_conversion_id text NOT NULL DEFAULT '',
	upstream_click_id      text NOT NULL DEFAULT '',
	upstream_recorded_at   text NOT NULL DEFAULT '',
	created_at             bigint NOT NULL,
	queued_at              bigint NOT NULL,
	updated_at             bigint NOT NULL,
	finished_at            bigint,
	erased                 boolean NOT NULL DEFAULT false
);
CREATE INDEX events_due ON events (next_attempt_at) WHERE state = 'queued';
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_finished ON events (finished_at) WHERE finished_at IS NOT NULL AND NOT erased;

CREATE TABLE attempts (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id    text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	n           integer NOT NULL,                      -- the event's attempt count when it was made
	started_at  bigint NOT NULL,
	duration_us bigint NOT NULL,
	status      integer NOT NULL DEFAULT 0,
	error       text NOT NULL DEFAULT '',
	body        text NOT NULL DEFAULT '',
	outcome     text NOT NULL
);
CREATE INDEX attempts_event ON attempts (event_id, id);

-- A row the readiness probe rewrites to learn whether the database takes writes.
CREATE TABLE probe (id integer PRIMARY KEY CHECK (id = 1), at bigint NOT NULL);
INSERT INTO probe (id, at) VALUES (1, 0);

-- The click log: landings with a click id, for operators and for the local match.
CREATE TABLE clicks (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	click_id   text   NOT NULL,
	at         bigint NOT NULL,
	ip         text   NOT NULL DEFAULT '',
	user_agent text   NOT NULL DEFAULT '',
	path       text   NOT NULL DEFAULT '',
	referrer   text   NOT NULL DEFAULT '',
	utm        text   NOT NULL DEFAULT ''
);
CREATE INDEX clicks_match ON clicks (ip, user_agent, at);
CREATE INDEX clicks_at ON clicks (at);
