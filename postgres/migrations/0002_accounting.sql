-- What the SQLite file gained in its migrations 0003-0005, for the fleet's database.

-- 0003: whether the browser said a landing was a top-level navigation (Sec-Fetch-Mode: navigate,
-- Sec-Fetch-Dest: document). The local match uses no other click. Clicks logged before are not
-- known to be one.
ALTER TABLE clicks ADD COLUMN top_level boolean NOT NULL DEFAULT false;

-- 0004: exact accounting, what GLP Winner holds after every lost answer.
-- landed: how many attempts of the event may have reached GLP Winner unanswered (the request was
-- written and no answer read, or its lease ran out after a crash); the final state counts them.
ALTER TABLE events ADD COLUMN landed integer NOT NULL DEFAULT 0;
-- possible_double: GLP Winner may hold the event twice (soft-matched, 201 after a landed attempt).
ALTER TABLE events ADD COLUMN possible_double boolean NOT NULL DEFAULT false;
-- Answers that would pause the relay (401, 403, redirect, 404, 405) this event drew, and the last
-- one's time: an event that keeps drawing them while others are accepted is rejected.
ALTER TABLE events ADD COLUMN refused_alone integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN last_refused_at bigint;

ALTER TABLE attempts ADD COLUMN may_have_landed boolean NOT NULL DEFAULT false;
-- Identical uncounted attempts (a paused relay's probes) collapse into one row: how many, and the last.
ALTER TABLE attempts ADD COLUMN repeats integer NOT NULL DEFAULT 1;
ALTER TABLE attempts ADD COLUMN last_at bigint;

-- The report counts a day's events by state from this index alone (an index-only scan).
CREATE INDEX events_report ON events (created_at, test, state, possible_double);
-- Stats and metrics count the possible doubles, which are few.
CREATE INDEX events_double ON events (id) WHERE possible_double;

-- 0005: referrers are kept without their query string or fragment: where a visitor came from, not
-- what they searched for. Clicks logged before keep only what precedes '?' or '#'.
UPDATE clicks SET referrer = split_part(split_part(referrer, '#', 1), '?', 1) WHERE referrer ~ '[?#]';
