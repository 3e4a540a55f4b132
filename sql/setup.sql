-- setup: the extension in a server that preloads pg_cron and
-- procedural_agent, the roles and helpers the other files use.
CREATE EXTENSION procedural_agent;
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'procedural_agent';
SELECT pa_preloaded();
SELECT current_setting('shared_preload_libraries');
-- every setting is documented; the prefix is reserved
SELECT name, CASE WHEN name = 'procedural_agent.database_names' THEN '(cluster)' ELSE setting END AS setting, context
  FROM pg_settings WHERE name LIKE 'procedural_agent.%' ORDER BY name;
SET procedural_agent.no_such_setting = 1;
SET procedural_agent.max_validation_errors = 0;
-- the data model
SELECT table_name FROM information_schema.tables WHERE table_schema = 'pa' ORDER BY 1;

-- Roles: two ordinary users and an administrator who is not a superuser.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['regress_pa_alice', 'regress_pa_bob', 'regress_pa_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
    END LOOP;
END $$;
GRANT CREATE ON SCHEMA public TO regress_pa_alice, regress_pa_bob;

-- expect_error(sql): run a statement, return its SQLSTATE, message and detail.
CREATE FUNCTION expect_error(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE cmd;
    RETURN 'no error';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN detail <> '' THEN ' / ' || detail ELSE '' END;
END $$;
GRANT EXECUTE ON FUNCTION expect_error(text) TO PUBLIC;
