------------------------------------------------------------------------
-- The run queue: termination trigger, enqueue, wait, cancel, backfill,
-- and what operators look at. The background worker (src/worker*.c)
-- claims queued runs; it is woken at commit by pa._wake().
------------------------------------------------------------------------

-- Wake this database's worker when the current transaction commits (no
-- wake on rollback: nothing was enqueued).
CREATE FUNCTION pa._wake() RETURNS void
LANGUAGE C VOLATILE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_wake_at_commit';

-- Who may run an agent: roles that act as its owner (as for pa_invoke).
CREATE FUNCTION pa._runnable_agent(caller regrole, agent_name text) RETURNS pa.agents
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents;
BEGIN
    PERFORM pa._require(agent_name, 'agent name');
    SELECT * INTO a FROM pa.agents x WHERE x.name = agent_name AND x.dropped_at IS NULL;
    IF NOT FOUND OR NOT pa._may_act_as(caller, a.owner) THEN
        PERFORM pa._fail('42704', format('agent "%s" does not exist', agent_name));
    END IF;
    RETURN a;
END $$;

-- The version a run would use: the one named, else the released one.
CREATE FUNCTION pa._run_version(a pa.agents, version integer) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF version IS NULL THEN
        IF a.released_version IS NULL THEN
            PERFORM pa._fail('55000', format('agent "%s" has no released version', a.name), NULL,
                'Release one with pa_release_agent(), or name a version.');
        END IF;
        RETURN a.released_version;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pa.agent_versions v WHERE v.agent_id = a.id AND v.version = _run_version.version) THEN
        PERFORM pa._fail('42704', format('agent "%s" has no version %s', a.name, version));
    END IF;
    RETURN version;
END $$;

-- A run's input: a JSON object, valid against the version's input_schema
-- when it has one (the first violations in the detail).
CREATE FUNCTION pa._check_input(a pa.agents, v integer, input jsonb) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sch jsonb;
    problems text;
BEGIN
    IF input IS NULL OR jsonb_typeof(input) <> 'object' THEN
        PERFORM pa._fail('22023', 'input must be a JSON object');
    END IF;
    SELECT ver.input_schema INTO sch FROM pa.agent_versions ver WHERE ver.agent_id = a.id AND ver.version = v;
    IF sch IS NULL THEN
        RETURN;
    END IF;
    SELECT string_agg(CASE WHEN e.path = '' THEN '(root)' ELSE e.path END || ': ' || e.message, '; ')
      INTO problems FROM (SELECT * FROM @extschema@.pa_validate(sch, input) LIMIT 5) e;
    IF problems IS NOT NULL THEN
        PERFORM pa._fail('22023', format('input does not match the input schema of agent "%s" (version %s)', a.name, v),
            problems || '.');
    END IF;
END $$;

------------------------------------------------------------------------
-- Termination trigger. The terminating transaction pays for one row in an
-- inbox (no index) and a wake-up at commit, nothing more; the worker then
-- turns the inbox into runs in batches (expand_fn in src/worker.c): one per
-- enabled agent whose released version listens for the outcome (dedup key
-- terminated:<conversation>, so once per agent and conversation). A
-- rollback leaves no inbox row. The optional condition is evaluated when
-- the run starts, as the agent's owner (false: the run ends "skipped").
------------------------------------------------------------------------

CREATE TABLE pa.terminations (
    conversation_id bigint NOT NULL,
    outcome         text,
    requested_by    regrole NOT NULL,
    terminated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pa.terminations IS 'Inbox of terminations not yet turned into runs by the worker (emptied as it goes)';

CREATE FUNCTION pa._enqueue_on_termination() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'terminated' THEN
        RETURN NULL;
    END IF;
    INSERT INTO pa.terminations (conversation_id, outcome, requested_by)
    VALUES (NEW.id, NEW.outcome, session_user::regrole);
    PERFORM pa._wake();
    RETURN NULL;
END $$;

CREATE TRIGGER conversations_terminated
    AFTER INSERT OR UPDATE OF status ON pa.conversations
    FOR EACH ROW WHEN (NEW.status = 'terminated')
    EXECUTE FUNCTION pa._enqueue_on_termination();

------------------------------------------------------------------------
-- pa_enqueue / pa_wait / pa_cancel
------------------------------------------------------------------------

CREATE FUNCTION pa._pa_enqueue(caller regrole, agent text, conversation bigint, input jsonb,
    version integer, priority integer, run_after timestamptz, dedup_key text, max_attempts integer)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    a pa.agents := pa._runnable_agent(caller, agent);
    v integer := pa._run_version(a, version);
    run_id bigint;
BEGIN
    PERFORM pa._check_input(a, v, input);
    PERFORM pa._check_range('priority', priority, -32768, 32767);
    PERFORM pa._check_range('max_attempts', max_attempts, 1, 100);
    IF dedup_key = '' THEN
        PERFORM pa._fail('22023', 'dedup_key must not be empty', NULL, 'Pass NULL for no deduplication.');
    END IF;
    IF length(dedup_key) > 256 THEN
        PERFORM pa._fail('22001', 'dedup_key is too long', 'The limit is 256 characters.');
    END IF;
    IF conversation IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pa.conversations c WHERE c.id = conversation) THEN
        PERFORM pa._fail('23503', format('conversation %s does not exist', conversation));
    END IF;
    INSERT INTO pa.runs AS r (agent_id, agent_version, conversation_id, origin, input, owner, requested_by,
                              priority, run_after, dedup_key, max_attempts)
    VALUES (a.id, v, conversation, 'enqueue', input, a.owner, caller, priority,
            coalesce(run_after, now()), dedup_key, max_attempts)
    ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
    RETURNING r.id INTO run_id;
    IF run_id IS NULL THEN
        -- deduplicated: the run that already has this key
        SELECT r.id INTO run_id FROM pa.runs r WHERE r.agent_id = a.id AND r.dedup_key = _pa_enqueue.dedup_key;
        RETURN run_id;
    END IF;
    PERFORM pa._wake();
    RETURN run_id;
END $$;

CREATE FUNCTION @extschema@.pa_enqueue(agent text, conversation bigint DEFAULT NULL,
    input jsonb DEFAULT '{}', version integer DEFAULT NULL, priority integer DEFAULT 0,
    run_after timestamptz DEFAULT NULL, dedup_key text DEFAULT NULL, max_attempts integer DEFAULT 3)
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_enqueue IS 'Queue a run for the background worker; returns its id (the existing run''s id when dedup_key is taken)';

-- The result of a run as pa_invoke returns it; for a run not finished yet,
-- {run_id, status} only.
CREATE FUNCTION pa._run_result(r pa.runs) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN r.result IS NOT NULL THEN r.result
        ELSE jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'status', r.status, 'version', r.agent_version,
            'error', CASE WHEN r.error_code IS NOT NULL
                          THEN jsonb_build_object('code', r.error_code, 'message', r.error_message) END))
    END
$$;

CREATE FUNCTION @extschema@.pa_wait(run_id bigint, timeout interval DEFAULT '1 minute')
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pa.runs;
    deadline timestamptz := clock_timestamp() + coalesce(timeout, '1 minute');
    pause double precision := 0.002;
BEGIN
    IF run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be null' USING ERRCODE = '22004';
    END IF;
    LOOP
        -- read committed: each statement sees the latest committed state
        SELECT * INTO r FROM pa.runs x WHERE x.id = run_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'run % does not exist', run_id USING ERRCODE = '42704';
        END IF;
        IF r.status IN ('succeeded', 'failed', 'cancelled', 'skipped') OR clock_timestamp() >= deadline THEN
            RETURN pa._run_result(r);
        END IF;
        IF pause = 0.002 THEN
            IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL
               AND (SELECT x.xmin FROM pa.runs x WHERE x.id = run_id)
                   = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned()) THEN
                RAISE EXCEPTION 'run % was enqueued by this transaction', run_id USING ERRCODE = '55000',
                    HINT = 'The worker sees the run only after COMMIT; wait in a later transaction.';
            END IF;
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'pa_wait needs the read committed isolation level' USING ERRCODE = '25000',
                    DETAIL = 'Under a transaction snapshot the run''s progress would never become visible.';
            END IF;
        END IF;
        PERFORM pg_catalog.pg_sleep(least(pause, greatest(extract(epoch FROM deadline - clock_timestamp()), 0)));
        pause := least(pause * 2, 0.1);
    END LOOP;
END $$;
COMMENT ON FUNCTION @extschema@.pa_wait IS 'Wait for a run to finish (up to timeout); returns its result as pa_invoke does, or {run_id, status} if it is not finished';

CREATE FUNCTION pa._pa_cancel(caller regrole, run_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pa.runs;
BEGIN
    PERFORM pa._require(run_id, 'run_id');
    SELECT * INTO r FROM pa.runs x WHERE x.id = run_id FOR UPDATE;
    IF NOT FOUND OR NOT (pa._may_act_as(caller, r.owner) OR pa._may_act_as(caller, r.requested_by)) THEN
        PERFORM pa._fail('42704', format('run %s does not exist', run_id));
    END IF;
    IF r.status = 'queued' THEN
        UPDATE pa.runs SET status = 'cancelled', finished_at = now(), error_code = 'cancelled',
                           error_message = 'cancelled before it started'
         WHERE id = run_id;
        RETURN true;
    ELSIF r.status = 'running' THEN
        -- the worker stops it at its next step and records it as cancelled
        UPDATE pa.runs SET cancel_requested = true WHERE id = run_id;
        PERFORM pa._wake();
        RETURN true;
    END IF;
    RETURN false;
END $$;

CREATE FUNCTION @extschema@.pa_cancel(run_id bigint)
RETURNS boolean LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_cancel IS 'Cancel a queued or running run; false when it had already finished';

------------------------------------------------------------------------
-- pa_backfill: the agent's version over past conversations
------------------------------------------------------------------------

CREATE FUNCTION pa._pa_backfill(caller regrole, agent text, since timestamptz, until timestamptz,
    conversations bigint[], version integer, redo boolean, input jsonb, priority integer)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents := pa._runnable_agent(caller, agent);
    v integer := pa._run_version(a, version);
    n integer;
BEGIN
    IF since IS NULL AND until IS NULL AND conversations IS NULL THEN
        PERFORM pa._fail('22023', 'pa_backfill needs a time range or a list of conversations',
            NULL, 'Pass since/until (when conversations ended) or conversations => ARRAY(SELECT ...).');
    END IF;
    IF since IS NOT NULL AND until IS NOT NULL AND until <= since THEN
        PERFORM pa._fail('22023', 'until must be later than since');
    END IF;
    PERFORM pa._check_input(a, v, input);
    PERFORM pa._check_range('priority', priority, -32768, 32767);
    INSERT INTO pa.runs (agent_id, agent_version, conversation_id, origin, input, owner, requested_by, priority)
    SELECT a.id, v, c.id, 'backfill', input, a.owner, caller, priority
      FROM pa.conversations c
     WHERE c.status = 'terminated'
       AND (since IS NULL OR coalesce(c.ended_at, c.updated_at) >= since)
       AND (until IS NULL OR coalesce(c.ended_at, c.updated_at) < until)
       AND (conversations IS NULL OR c.id = ANY (conversations))
       AND (coalesce(redo, false) OR NOT EXISTS (
             SELECT 1 FROM pa.runs r
              WHERE r.agent_id = a.id AND r.agent_version = v AND r.conversation_id = c.id
                AND r.status IN ('queued', 'running', 'succeeded', 'skipped')))
     ORDER BY c.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pa._wake();
    END IF;
    RETURN n;
END $$;

CREATE FUNCTION @extschema@.pa_backfill(agent text, since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL, conversations bigint[] DEFAULT NULL, version integer DEFAULT NULL,
    redo boolean DEFAULT false, input jsonb DEFAULT '{}', priority integer DEFAULT -1)
RETURNS integer LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_backfill IS 'Queue the agent (released or named version) over terminated conversations in a time range or a list; skips those this version already did unless redo; returns how many';

------------------------------------------------------------------------
-- Comparing two versions over the same conversations, field by field
------------------------------------------------------------------------

-- Every top-level field of every output of each agent version's latest
-- succeeded run per conversation (security_invoker: row-level security
-- of the reader applies).
CREATE VIEW pa.version_fields WITH (security_invoker = true) AS
SELECT DISTINCT ON (r.agent_id, r.agent_version, r.conversation_id, o.name, o.ordinal, f.key)
       a.name AS agent, r.agent_id, r.agent_version AS version, r.conversation_id,
       o.name AS output, o.ordinal, f.key AS field, f.value
  FROM pa.runs r
  JOIN pa.agents a ON a.id = r.agent_id
  JOIN pa.outputs o ON o.run_id = r.id
  CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(o.value) = 'object' THEN o.value
                                     ELSE jsonb_build_object('value', o.value) END) f
 WHERE r.status = 'succeeded' AND r.conversation_id IS NOT NULL
 ORDER BY r.agent_id, r.agent_version, r.conversation_id, o.name, o.ordinal, f.key, r.id DESC;

-- pa_compare_versions' arguments: an agent the caller sees, with both
-- versions. Run as the caller (so it raises by itself: the pa._ helpers
-- are not granted to PUBLIC).
CREATE FUNCTION pa._check_versions(agent text, version_a integer, version_b integer) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid bigint;
    v integer;
BEGIN
    SELECT x.id INTO aid FROM pa.agents x WHERE x.name = agent AND x.dropped_at IS NULL;
    IF aid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('agent "%s" does not exist', agent);
    END IF;
    FOREACH v IN ARRAY ARRAY[version_a, version_b] LOOP
        IF v IS NULL OR NOT EXISTS (SELECT 1 FROM pa.agent_versions x WHERE x.agent_id = aid AND x.version = v) THEN
            RAISE EXCEPTION USING ERRCODE = '42704',
                MESSAGE = format('agent "%s" has no version %s', agent, coalesce(v::text, 'NULL'));
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION @extschema@.pa_compare_versions(agent text, version_a integer, version_b integer)
RETURNS TABLE (conversation_id bigint, output text, ordinal integer, field text,
               value_a jsonb, value_b jsonb, same boolean)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT pa._check_versions($1, $2, $3);
    WITH a AS (SELECT * FROM pa.version_fields f WHERE f.agent = $1 AND f.version = $2),
         b AS (SELECT * FROM pa.version_fields f WHERE f.agent = $1 AND f.version = $3),
         both_done AS (SELECT DISTINCT a.conversation_id FROM a
                        WHERE a.conversation_id IN (SELECT b.conversation_id FROM b))
    SELECT coalesce(a.conversation_id, b.conversation_id), coalesce(a.output, b.output),
           coalesce(a.ordinal, b.ordinal), coalesce(a.field, b.field), a.value, b.value,
           a.value IS NOT DISTINCT FROM b.value
      FROM (SELECT * FROM a WHERE a.conversation_id IN (SELECT conversation_id FROM both_done)) a
      FULL JOIN (SELECT * FROM b WHERE b.conversation_id IN (SELECT conversation_id FROM both_done)) b
        ON a.conversation_id = b.conversation_id AND a.output = b.output
       AND a.ordinal = b.ordinal AND a.field = b.field
     ORDER BY 1, 2, 3, 4
$$;
COMMENT ON FUNCTION @extschema@.pa_compare_versions IS 'Field-by-field outputs of two versions of an agent over the conversations both have run on';

------------------------------------------------------------------------
-- Operations
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.pa_workers()
RETURNS TABLE (database name, pid integer, started_at timestamptz, in_flight integer,
               claimed bigint, finished bigint, last_claim_at timestamptz, cooldowns jsonb)
LANGUAGE C VOLATILE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_workers';
COMMENT ON FUNCTION @extschema@.pa_workers IS 'The background workers: runs in flight, totals, per-provider cooldowns';

CREATE VIEW pa.queue WITH (security_invoker = true) AS
SELECT a.name AS agent,
       count(*) FILTER (WHERE r.status = 'queued' AND r.run_after <= now()) AS ready,
       count(*) FILTER (WHERE r.status = 'queued' AND r.run_after > now()) AS delayed,
       count(*) FILTER (WHERE r.status = 'running') AS running,
       min(r.created_at) FILTER (WHERE r.status = 'queued') AS oldest_queued_at,
       count(*) FILTER (WHERE r.status = 'failed' AND r.finished_at > now() - interval '1 hour') AS failed_last_hour
  FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id
 WHERE r.status IN ('queued', 'running') OR r.finished_at > now() - interval '1 hour'
 GROUP BY a.name;
COMMENT ON VIEW pa.queue IS 'Queue depth and runs in flight per agent, with failures of the last hour';

CREATE VIEW pa.recent_errors WITH (security_invoker = true) AS
SELECT r.id AS run_id, a.name AS agent, r.agent_version AS version, r.conversation_id, r.origin,
       r.attempts, r.error_code, r.error_message, r.finished_at
  FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id
 WHERE r.status = 'failed' AND r.finished_at > now() - interval '24 hours'
 ORDER BY r.finished_at DESC;
COMMENT ON VIEW pa.recent_errors IS 'Failed runs of the last 24 hours, newest first';

REVOKE ALL ON FUNCTION pa._wake(), pa._runnable_agent(regrole, text), pa._run_version(pa.agents, integer),
    pa._check_input(pa.agents, integer, jsonb),
    pa._enqueue_on_termination(), pa._pa_enqueue(regrole, text, bigint, jsonb, integer, integer, timestamptz, text, integer),
    pa._pa_cancel(regrole, bigint),
    pa._pa_backfill(regrole, text, timestamptz, timestamptz, bigint[], integer, boolean, jsonb, integer)
    FROM PUBLIC;
GRANT SELECT ON pa.queue, pa.recent_errors, pa.version_fields TO PUBLIC;
