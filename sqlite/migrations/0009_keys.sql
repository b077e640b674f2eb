-- Keys the sidecar keeps in its store: the key that signs the click-id
-- cookie's companion (_glp_cid_sig), so that every sidecar sharing this
-- outbox tells the cookies any of them set. Made once, by the first start.
CREATE TABLE keys (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
