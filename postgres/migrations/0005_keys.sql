-- What the SQLite file gained in its migration 0007: keys the sidecar keeps
-- in its store, such as the key that signs the click-id cookie's companion
-- (_glp_cid_sig), so that every sidecar of the fleet tells the cookies any
-- of them set. Made once, by the first start.
CREATE TABLE keys (
	name  text PRIMARY KEY,
	value bytea NOT NULL
);
