-- Secrets: no role other than a superuser or the extension owner can read
-- an API key or a tool's secret header, through any table, view or error.
SELECT pa_create_provider('secret_provider', 'openai', api_key => 'sk-regress-TOPSECRET-42');
SELECT count(*) FROM pa.provider_secrets;

SET ROLE regress_pa_alice;
SELECT expect_error('SELECT * FROM pa.provider_secrets');
SELECT expect_error('SELECT * FROM pa.tool_secrets');
SELECT expect_error('SELECT api_key FROM pa.provider_secrets');
-- nothing alice can read holds the key or the secret header value
SELECT c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pa' AND c.relkind IN ('r', 'v', 'm') AND has_table_privilege(c.oid, 'SELECT')
 ORDER BY 1;
DO $$
DECLARE
    r record;
    hits integer;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'pa' AND c.relkind IN ('r', 'v', 'm') AND has_table_privilege(c.oid, 'SELECT') LOOP
        EXECUTE format('SELECT count(*) FROM %s t WHERE row_to_json(t)::text ~ %L', r.rel, 'TOPSECRET|tok-regress')
           INTO hits;
        IF hits > 0 THEN
            RAISE WARNING 'secret visible in %', r.rel;
        END IF;
    END LOOP;
END $$;
-- nor can alice call the internals that touch secrets, or the admin API
SELECT expect_error($$SELECT pa._pa_set_provider_key('regress_pa_alice', 'secret_provider', 'x')$$);
SELECT expect_error($$SELECT pa_set_provider_key('secret_provider', 'sk-new')$$);
SELECT expect_error($$SELECT pa._pa_create_provider('regress_pa_alice', 'p', 'openai', NULL, NULL, NULL, '{}')$$);
-- error messages never echo a key
SELECT expect_error($$SELECT pa_create_provider('secret_provider', 'openai', api_key => 'sk-regress-TOPSECRET-42')$$) ~ 'TOPSECRET';
RESET ROLE;
SELECT expect_error($$SELECT pa_create_provider('secret_provider', 'openai', api_key => 'sk-regress-TOPSECRET-42')$$) ~ 'TOPSECRET';
SELECT expect_error($$SELECT pa_create_provider('p2', 'openai', api_key => 'sk regress TOPSECRET')$$) ~ 'TOPSECRET';

-- an administrator who is not a superuser can be given the provider API
GRANT EXECUTE ON FUNCTION pa_create_provider, pa_set_provider_key, pa_create_model TO regress_pa_admin;
SET ROLE regress_pa_admin;
SELECT pa_create_provider('admin_provider', 'anthropic', api_key => 'sk-ant-regress-TOPSECRET-7') > 0 AS created;
SELECT pa_set_provider_key('admin_provider', 'sk-ant-regress-TOPSECRET-8');
SELECT expect_error('SELECT * FROM pa.provider_secrets');
SELECT name, owner FROM pa.providers WHERE name = 'admin_provider';
-- not someone else's provider
SELECT expect_error($$SELECT pa_set_provider_key('secret_provider', 'sk-x')$$);
RESET ROLE;
SELECT p.name, s.api_key FROM pa.provider_secrets s JOIN pa.providers p ON p.id = s.provider_id ORDER BY 1;
-- the functions that take keys never log their statement on error
SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pa' AND p.proconfig::text ~ 'log_min_error_statement' ORDER BY 1;

-- A hostile search_path gains nothing: SQL that procedural_agent runs as
-- the extension owner never resolves operators through the caller's path.
SET ROLE regress_pa_alice;
CREATE FUNCTION public.evil_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE regress_pa_alice SUPERUSER';
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.evil_eq);
SET search_path = public, pg_catalog;
SELECT pa_invoke('crm_ticket', timeout => '1 second')->>'status' AS status;
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_pa_alice';
DROP OPERATOR public.= (bigint, bigint);
DROP FUNCTION public.evil_eq(bigint, bigint);
