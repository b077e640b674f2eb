-- The click log: landings with a click id, for operators and for the local match.
CREATE TABLE clicks (
	id         INTEGER PRIMARY KEY,
	click_id   TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	ip         TEXT    NOT NULL DEFAULT '',
	user_agent TEXT    NOT NULL DEFAULT '',
	path       TEXT    NOT NULL DEFAULT '',
	referrer   TEXT    NOT NULL DEFAULT '',
	utm        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX clicks_match ON clicks (ip, user_agent, at);
CREATE INDEX clicks_at ON clicks (at);
