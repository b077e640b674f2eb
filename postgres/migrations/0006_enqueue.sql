-- glp.enqueue(conversion jsonb, idempotency_key text) returns text: an app
-- whose data lives in this database enqueues a conversion in the
-- transaction of its order (docs/postgres.md). The field rules are a server
-- call's (package ingest's decoder is their source; docs/postgres.md lists
-- what this function cannot express, and ingest's
-- TestGLPEnqueueKeepsTheServerCallsFieldRules holds the two to one table).
-- An invalid conversion raises 22023 naming each bad field (DETAIL: a JSON
-- object of field -> problem); a key already enqueued or accepted returns the
-- first event's id and stores nothing; a commit wakes the fleet (NOTIFY on
-- the store's channel). The function lives in schema glp and finds the
-- outbox's tables where this migration found them (its search_path).
CREATE SCHEMA IF NOT EXISTS glp;

-- json_kind names a JSON value's kind as the sidecar's decoder does.
CREATE OR REPLACE FUNCTION glp.json_kind(v jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE jsonb_typeof(v) WHEN 'string' THEN 'a string' WHEN 'object' THEN 'an object' WHEN 'array' THEN 'an array'
		WHEN 'boolean' THEN 'a boolean' ELSE 'a number' END
$$;

-- string_problem is what is wrong with a string field's value before its own rule: not a string, or
-- a control character in it (refused whatever the field); NULL when neither.
CREATE OR REPLACE FUNCTION glp.string_problem(v jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(v) <> 'string' THEN 'must be a string, not ' || glp.json_kind(v)
		WHEN (v #>> '{}') ~ '[\x01-\x1f\x7f]' THEN 'must not hold a control character (U+0000 to U+001F, U+007F)' END
$$;

CREATE OR REPLACE FUNCTION glp.enqueue(conversion jsonb, idempotency_key text) RETURNS text
LANGUAGE plpgsql VOLATILE
AS $body$
DECLARE
	bad       jsonb := '{}';
	click     text;
	token     text;
	email     text;
	ip        text;
	conv_id   text;
	test_mode boolean := false;
	key       text;
	name      text;
	val       jsonb;
	addr      inet;
	now_ms    bigint;
	hex_ms    text;
	u         text;
	new_id    text;
	found_id  text;
BEGIN
	IF EXISTS (SELECT 1 FROM data_key_file) THEN
		RAISE EXCEPTION 'glp.enqueue: this outbox seals personal fields (GLP_DATA_KEY_FILE), which only the sidecar can do: post the conversion to the sidecar instead'
			USING ERRCODE = 'feature_not_supported';
	END IF;
	IF conversion IS NULL OR jsonb_typeof(conversion) <> 'object' THEN
		RAISE EXCEPTION 'glp.enqueue: invalid conversion: body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = '{"body":"must be a JSON object"}';
	END IF;

	-- Each field: the first of its spellings present and not null wins.
	-- click id
	SELECT n INTO name FROM unnest(ARRAY['glpClickId', 'transaction_id', 'glp_click_id']) AS n
		WHERE jsonb_typeof(conversion -> n) IS NOT NULL AND jsonb_typeof(conversion -> n) <> 'null' LIMIT 1;
	IF name IS NOT NULL THEN
		val := conversion -> name;
		IF glp.string_problem(val) IS NOT NULL THEN
			bad := bad || jsonb_build_object(name, glp.string_problem(val));
		ELSIF (val #>> '{}') !~ '^[!-~]+$' OR length(val #>> '{}') > 256 OR (val #>> '{}') ~ '["'',;\\<>&`]' THEN
			bad := bad || jsonb_build_object(name, 'must be 1 to 256 printable ASCII characters without spaces or any of "'',;\<>&`');
		ELSE
			click := val #>> '{}';
		END IF;
	END IF;
	-- session token and conversion id: 1 to 256 bytes
	FOR i IN 1..2 LOOP
		name := NULL;
		SELECT n INTO name FROM unnest(CASE i WHEN 1 THEN ARRAY['session_token', 'sessionToken'] ELSE ARRAY['conversion_id', 'conversionId'] END) AS n
			WHERE jsonb_typeof(conversion -> n) IS NOT NULL AND jsonb_typeof(conversion -> n) <> 'null' LIMIT 1;
		CONTINUE WHEN name IS NULL;
		val := conversion -> name;
		IF glp.string_problem(val) IS NOT NULL THEN
			bad := bad || jsonb_build_object(name, glp.string_problem(val));
		ELSIF octet_length(val #>> '{}') NOT BETWEEN 1 AND 256 THEN
			bad := bad || jsonb_build_object(name, 'must be 1 to 256 bytes long');
		ELSIF i = 1 THEN
			token := val #>> '{}';
		ELSE
			conv_id := val #>> '{}';
		END IF;
	END LOOP;
	-- email: trimmed, at most 254 bytes, the upstream's address rule
	IF jsonb_typeof(conversion -> 'email') IS NOT NULL AND jsonb_typeof(conversion -> 'email') <> 'null' THEN
		val := conversion -> 'email';
		IF glp.string_problem(val) IS NOT NULL THEN
			bad := bad || jsonb_build_object('email', glp.string_problem(val));
		ELSE
			email := btrim(val #>> '{}', ' ');
			IF octet_length(email) > 254 OR email LIKE '.%' OR position('..' IN email) > 0
				OR email !~ '^[A-Za-z0-9_''+\-.]*[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$' THEN
				bad := bad || jsonb_build_object('email', 'must be a valid email address of at most 254 bytes');
				email := NULL;
			END IF;
		END IF;
	END IF;
	-- ip: one IPv4 or IPv6 address, no prefix length, no zone; an IPv4-mapped one unmapped
	IF jsonb_typeof(conversion -> 'ip') IS NOT NULL AND jsonb_typeof(conversion -> 'ip') <> 'null' THEN
		val := conversion -> 'ip';
		IF glp.string_problem(val) IS NOT NULL THEN
			bad := bad || jsonb_build_object('ip', glp.string_problem(val));
		ELSE
			BEGIN
				addr := (val #>> '{}')::inet;
			EXCEPTION WHEN invalid_text_representation THEN
				addr := NULL;
			END;
			IF addr IS NULL OR position('/' IN val #>> '{}') > 0 OR (val #>> '{}') !~ '^[0-9A-Fa-f:.]+$'
				OR (family(addr) = 4 AND (val #>> '{}') ~ '(^|\.)0[0-9]') THEN
				bad := bad || jsonb_build_object('ip', 'must be an IPv4 or IPv6 address');
			ELSE
				ip := host(addr);
				IF family(addr) = 6 AND ip ~* '^::ffff:[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' THEN
					ip := substr(ip, 8);
				END IF;
				-- kept only when it is an end user's: not loopback, private, unspecified, link-local or multicast
				-- (the backend passed its own or its proxy's by mistake; the sidecar's server calls drop it too)
				IF ip::inet <<= ANY (ARRAY['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7',
					'0.0.0.0/32', '::/128', '169.254.0.0/16', 'fe80::/10', '224.0.0.0/4', 'ff00::/8']::inet[]) THEN
					ip := NULL;
				END IF;
			END IF;
		END IF;
	END IF;
	-- testMode: a boolean, or absent or null
	IF jsonb_typeof(conversion -> 'testMode') IS NOT NULL AND jsonb_typeof(conversion -> 'testMode') NOT IN ('null', 'boolean') THEN
		bad := bad || jsonb_build_object('testMode', 'must be a boolean, not ' || glp.json_kind(conversion -> 'testMode'));
	ELSE
		test_mode := coalesce((conversion ->> 'testMode')::boolean, false);
	END IF;
	-- the key: the Idempotency-Key's rule, else the conversion id
	IF idempotency_key IS NOT NULL AND idempotency_key <> '' AND (idempotency_key !~ '^[!-~]+$' OR length(idempotency_key) > 256) THEN
		bad := bad || jsonb_build_object('idempotency_key', 'must be 1 to 256 printable ASCII characters without spaces');
	END IF;
	IF bad <> '{}' THEN
		RAISE EXCEPTION 'glp.enqueue: invalid conversion: %', (SELECT string_agg(k || ' ' || v, '; ' ORDER BY k) FROM jsonb_each_text(bad) AS e(k, v))
			USING ERRCODE = 'invalid_parameter_value', DETAIL = bad::text;
	END IF;
	IF click IS NULL AND token IS NULL AND email IS NULL AND ip IS NULL THEN
		RAISE EXCEPTION 'glp.enqueue: nothing to attribute the conversion to: give glpClickId (transaction_id), session_token, email or ip'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = '{"body":"nothing to attribute"}';
	END IF;
	key := coalesce(nullif(idempotency_key, ''), conv_id);

	-- The event: a UUIDv7 id (its time from the clock, the rest random), queued and due now.
	now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
	hex_ms := lpad(to_hex(now_ms), 12, '0');
	u := gen_random_uuid()::text;
	new_id := substr(hex_ms, 1, 8) || '-' || substr(hex_ms, 9, 4) || '-7' || substr(u, 16, 3) || substr(u, 19);
	INSERT INTO events (id, idem_key, payload, test, click_source, state, next_attempt_at, created_at, queued_at, updated_at)
		VALUES (new_id, key, jsonb_strip_nulls(jsonb_build_object('transaction_id', click, 'session_token', token, 'email', email, 'ip', ip, 'conversion_id', conv_id)),
			test_mode, CASE WHEN click IS NULL THEN '' ELSE 'body' END, 'queued', now_ms, now_ms, now_ms, now_ms)
		ON CONFLICT (idem_key) DO NOTHING
		RETURNING id INTO found_id;
	IF found_id IS NULL THEN -- the key was enqueued or accepted before: its first event
		SELECT id INTO found_id FROM events WHERE idem_key = key;
		RETURN found_id;
	END IF;
	PERFORM pg_notify('glp_sidecar_events', '');
	RETURN found_id;
END
$body$;

-- The function finds the outbox's tables in the schema this migration found them in.
DO $install$
BEGIN
	EXECUTE format('ALTER FUNCTION glp.enqueue(jsonb, text) SET search_path = %I, pg_catalog',
		(SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'events'::regclass));
END
$install$;
