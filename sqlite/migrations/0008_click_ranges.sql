-- Click-log fairness: each landing's address range (an IPv4 /24, an IPv6 /48;
-- sidecar.AddressRange), so that a full log makes room from the ranges that
-- hold the most landings, and no range can push out the others'. Clicks
-- logged before have none: together they are one range, the first trimmed.
ALTER TABLE clicks ADD COLUMN net TEXT NOT NULL DEFAULT '';
CREATE INDEX clicks_net ON clicks (net, id);
-- Corroborating a browser call looks up the landings of its click id.
CREATE INDEX clicks_click ON clicks (click_id, at);
