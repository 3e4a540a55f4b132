------------------------------------------------------------------------
-- Schedules on pg_cron. The cron job's command is only
-- "SELECT pa_run_schedule('name')", run as the role that created the
-- schedule: it queues one run (origin 'schedule') and returns in
-- milliseconds; the worker does the rest. Agent and input live here, so
-- changing them never touches the cron job.
------------------------------------------------------------------------

CREATE TABLE pa.schedules (
    name       text PRIMARY KEY,
    agent_id   bigint NOT NULL REFERENCES pa.agents ON DELETE CASCADE,
    version    integer,
    cron       text NOT NULL,
    input      jsonb NOT NULL DEFAULT '{}',
    owner      regrole NOT NULL,
    jobid      bigint,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pa.schedules IS 'Agents run on a pg_cron schedule; version NULL = the released version at each firing';

CREATE FUNCTION pa._require_pg_cron() RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM pa._fail('55000', 'pg_cron is not installed in this database',
            format('Schedules are pg_cron jobs; pg_cron runs its jobs from the database named by cron.database_name (now "%s").',
                   current_setting('cron.database_name', true)),
            'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron.');
    END IF;
END $$;

CREATE FUNCTION pa._pa_schedule(caller regrole, name text, cron text, agent text, input jsonb, version integer)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents := pa._runnable_agent(caller, agent);
    job bigint;
BEGIN
    PERFORM pa._check_name('schedule name', name);
    PERFORM pa._require(cron, 'cron');
    -- against the version named, or the one released now
    PERFORM pa._check_input(a, pa._run_version(a, version), input);
    PERFORM pa._require_pg_cron();
    IF EXISTS (SELECT 1 FROM pa.schedules s WHERE s.name = _pa_schedule.name) THEN
        PERFORM pa._fail('42710', format('schedule "%s" already exists', name), NULL,
            'Drop it first with pa_unschedule(), or choose another name.');
    END IF;
    -- pg_cron checks the cron expression; its error is the user's
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
       INTO job
      USING 'pa:' || name, cron, format('SELECT %s.pa_run_schedule(%L)',
                                        quote_ident((SELECT e.extnamespace::regnamespace::text FROM pg_extension e
                                                      WHERE e.extname = 'procedural_agent')), name),
            caller::text;
    INSERT INTO pa.schedules (name, agent_id, version, cron, input, owner, jobid)
    VALUES (name, a.id, version, cron, input, caller, job);
    RETURN job;
END $$;

CREATE FUNCTION @extschema@.pa_schedule(name text, cron text, agent text, input jsonb DEFAULT '{}',
    version integer DEFAULT NULL)
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_schedule IS 'Run an agent on a pg_cron schedule (the job only queues a run); returns the pg_cron job id';

CREATE FUNCTION pa._pa_unschedule(caller regrole, name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pa.schedules;
BEGIN
    PERFORM pa._require(name, 'schedule name');
    SELECT * INTO s FROM pa.schedules x WHERE x.name = _pa_unschedule.name FOR UPDATE;
    IF NOT FOUND OR NOT pa._may_act_as(caller, s.owner) THEN
        PERFORM pa._fail('42704', format('schedule "%s" does not exist', name));
    END IF;
    PERFORM pa._require_pg_cron();
    IF s.jobid IS NOT NULL THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING s.jobid;
    END IF;
    DELETE FROM pa.schedules x WHERE x.name = s.name;
END $$;

CREATE FUNCTION @extschema@.pa_unschedule(name text)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_unschedule IS 'Remove a schedule and its pg_cron job';

-- What the cron job calls: one run per firing (a firing retried within
-- the same minute is not queued twice).
CREATE FUNCTION pa._pa_run_schedule(caller regrole, name text) RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pa.schedules;
    a pa.agents;
    v integer;
    run_id bigint;
BEGIN
    SELECT * INTO s FROM pa.schedules x WHERE x.name = _pa_run_schedule.name;
    IF NOT FOUND OR NOT pa._may_act_as(caller, s.owner) THEN
        PERFORM pa._fail('42704', format('schedule "%s" does not exist', name));
    END IF;
    SELECT * INTO a FROM pa.agents x WHERE x.id = s.agent_id AND x.dropped_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pa._fail('42704', format('the agent of schedule "%s" was dropped', name));
    END IF;
    v := pa._run_version(a, s.version);
    INSERT INTO pa.runs AS r (agent_id, agent_version, origin, input, owner, requested_by, dedup_key)
    VALUES (a.id, v, 'schedule', s.input, a.owner, caller,
            format('schedule:%s:%s', s.name, to_char(date_trunc('minute', now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI')))
    ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
    RETURNING r.id INTO run_id;
    IF run_id IS NOT NULL THEN
        PERFORM pa._wake();
    END IF;
    RETURN run_id;
END $$;

CREATE FUNCTION @extschema@.pa_run_schedule(name text)
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_run_schedule IS 'Queue one run of a schedule now (what its pg_cron job calls); NULL if this minute''s run is queued already';

ALTER TABLE pa.schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY schedules_owner ON pa.schedules USING (pg_has_role(owner, 'USAGE'));
GRANT SELECT ON pa.schedules TO PUBLIC;
REVOKE ALL ON FUNCTION pa._require_pg_cron(), pa._pa_schedule(regrole, text, text, text, jsonb, integer),
    pa._pa_unschedule(regrole, text), pa._pa_run_schedule(regrole, text) FROM PUBLIC;
