------------------------------------------------------------------------
-- Definition changes: every statement that writes a definition table
-- bumps, at commit, a generation counter in shared memory. Backends (the
-- worker above all) keep what they loaded of an agent version only while
-- the counter has not moved (src/run_setup.c, src/launcher.c).
------------------------------------------------------------------------

CREATE FUNCTION pa._definitions_changed() RETURNS trigger
LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_definitions_changed';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['providers', 'provider_secrets', 'provider_grants', 'models', 'tools',
                             'tool_secrets', 'agents', 'agent_versions', 'agent_outputs', 'agent_tools',
                             'agent_deliveries', 'delivery_secrets'] LOOP
        EXECUTE format('CREATE TRIGGER definitions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pa.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pa._definitions_changed()', t);
    END LOOP;
END $$;

REVOKE ALL ON FUNCTION pa._definitions_changed() FROM PUBLIC;
