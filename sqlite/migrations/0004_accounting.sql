-- Exact accounting: what GLP Winner holds, after every lost answer.
-- landed: how many attempts of the event may have reached GLP Winner unanswered (the request was
-- written and no answer read, or its lease ran out after a crash); the final state counts them.
ALTER TABLE events ADD COLUMN landed INTEGER NOT NULL DEFAULT 0;
-- possible_double: GLP Winner may hold the event twice (soft-matched, 201 after a landed attempt).
ALTER TABLE events ADD COLUMN possible_double INTEGER NOT NULL DEFAULT 0;
-- Answers that would pause the relay (401, 403, redirect, 404, 405) this event drew, and the last one's time:
-- an event that keeps drawing them while others are accepted is rejected, not a reason to pause.
ALTER TABLE events ADD COLUMN refused_alone INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN last_refused_at INTEGER;

ALTER TABLE attempts ADD COLUMN may_have_landed INTEGER NOT NULL DEFAULT 0;
-- Identical uncounted attempts (a paused relay's probes) collapse into one row: how many, and the last.
ALTER TABLE attempts ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE attempts ADD COLUMN last_at INTEGER;

-- The report counts a day's events by state from this index alone (it covers the query).
CREATE INDEX events_report ON events (created_at, test, state, possible_double);
-- Stats and metrics count the possible doubles, which are few.
CREATE INDEX events_double ON events (id) WHERE possible_double = 1;
