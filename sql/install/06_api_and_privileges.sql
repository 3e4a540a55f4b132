
------------------------------------------------------------------------
-- Public API (C entry points; see src/owner_call.c)
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.pa_create_provider(name text, kind text, base_url text DEFAULT NULL,
    api_key text DEFAULT NULL, api_key_env text DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_create_provider IS 'Register a model provider (openai, any OpenAI-compatible base_url, or anthropic)';

CREATE FUNCTION @extschema@.pa_set_provider_key(provider text, api_key text)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_set_provider_key IS 'Store or rotate a provider''s API key (NULL removes it)';

CREATE FUNCTION @extschema@.pa_grant_provider(provider text, grantee regrole)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
CREATE FUNCTION @extschema@.pa_revoke_provider(provider text, grantee regrole)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
CREATE FUNCTION @extschema@.pa_drop_provider(name text)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';

CREATE FUNCTION @extschema@.pa_create_model(provider text, name text, input_price numeric,
    output_price numeric, cached_input_price numeric DEFAULT NULL, reasoning_price numeric DEFAULT NULL,
    context_window integer DEFAULT NULL, max_output_tokens integer DEFAULT NULL)
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_create_model IS 'Register a model of a provider with its prices in USD per million tokens';

CREATE FUNCTION @extschema@.pa_create_tool(name text, kind text, description text DEFAULT NULL,
    function regprocedure DEFAULT NULL, url text DEFAULT NULL, parameters jsonb DEFAULT NULL,
    headers jsonb DEFAULT NULL, secret_headers jsonb DEFAULT NULL, hmac_secret text DEFAULT NULL,
    agent text DEFAULT NULL, timeout interval DEFAULT '30 seconds')
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_create_tool IS 'Register a tool: kind sql (a function), http (a fixed URL) or agent (another agent)';

CREATE FUNCTION @extschema@.pa_drop_tool(name text, if_exists boolean DEFAULT false)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';

CREATE FUNCTION @extschema@.pa_create_agent(name text, instructions text, provider text, model text,
    outputs jsonb, tools text[] DEFAULT '{}', planning text DEFAULT 'low',
    thinking_budget integer DEFAULT NULL, reasoning_effort text DEFAULT NULL,
    max_output_tokens integer DEFAULT 4096, max_steps integer DEFAULT 20, max_repairs integer DEFAULT 2,
    timeout interval DEFAULT '10 minutes', context_budget integer DEFAULT NULL,
    input_schema jsonb DEFAULT NULL, trigger_outcomes text[] DEFAULT NULL,
    trigger_condition text DEFAULT NULL, description text DEFAULT NULL,
    finish_when_recorded boolean DEFAULT true, max_cost_usd numeric DEFAULT NULL,
    release boolean DEFAULT true)
RETURNS integer LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_create_agent IS 'Define a procedural agent (version 1); returns the version';

CREATE FUNCTION @extschema@.pa_alter_agent(name text, instructions text DEFAULT NULL,
    provider text DEFAULT NULL, model text DEFAULT NULL, outputs jsonb DEFAULT NULL,
    tools text[] DEFAULT NULL, planning text DEFAULT NULL, thinking_budget integer DEFAULT NULL,
    reasoning_effort text DEFAULT NULL, max_output_tokens integer DEFAULT NULL,
    max_steps integer DEFAULT NULL, max_repairs integer DEFAULT NULL, timeout interval DEFAULT NULL,
    context_budget integer DEFAULT NULL, input_schema jsonb DEFAULT NULL,
    trigger_outcomes text[] DEFAULT NULL, trigger_condition text DEFAULT NULL,
    description text DEFAULT NULL, finish_when_recorded boolean DEFAULT NULL,
    max_cost_usd numeric DEFAULT NULL, release boolean DEFAULT true)
RETURNS integer LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_alter_agent IS 'Change an agent: a new version when anything changed; returns the version';

CREATE FUNCTION @extschema@.pa_release_agent(name text, version integer DEFAULT NULL)
RETURNS integer LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_release_agent IS 'Make a version (default: the latest) the one triggers and schedules run';

CREATE FUNCTION @extschema@.pa_drop_agent(name text, if_exists boolean DEFAULT false)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_drop_agent IS 'Drop an agent: cancels its queued runs, keeps versions and ledger';

CREATE FUNCTION @extschema@.pa_validate(schema jsonb, instance jsonb)
RETURNS TABLE (path text, keyword text, message text, schema_path text)
LANGUAGE C STABLE PARALLEL SAFE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_validate';
COMMENT ON FUNCTION @extschema@.pa_validate IS 'Validate a JSON value against a JSON Schema (draft 2020-12); one row per violation';

CREATE FUNCTION @extschema@.pa_is_valid(schema jsonb, instance jsonb) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
RETURN NOT EXISTS (SELECT 1 FROM @extschema@.pa_validate(schema, instance));

CREATE FUNCTION @extschema@.pa_preloaded() RETURNS boolean
LANGUAGE C STABLE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_preloaded';
COMMENT ON FUNCTION @extschema@.pa_preloaded IS 'True when procedural_agent was loaded via shared_preload_libraries';

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

-- Nothing internal is callable by ordinary roles.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pa FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pa FROM PUBLIC;
-- Providers and models are administered: grant these to who may manage them.
REVOKE ALL ON FUNCTION @extschema@.pa_create_provider, @extschema@.pa_set_provider_key,
    @extschema@.pa_grant_provider, @extschema@.pa_revoke_provider, @extschema@.pa_drop_provider,
    @extschema@.pa_create_model FROM PUBLIC;

-- Definitions are readable (no secrets in them); rows of agents, tools and
-- runs only by roles that act as their owner (row-level security).
GRANT SELECT ON pa.providers, pa.models, pa.agents, pa.agent_versions, pa.agent_outputs,
    pa.agent_tools, pa.tools, pa.runs, pa.run_steps, pa.outputs TO PUBLIC;

ALTER TABLE pa.agents ENABLE ROW LEVEL SECURITY;
CREATE POLICY agents_owner ON pa.agents USING (pg_has_role(owner, 'USAGE'));
ALTER TABLE pa.agent_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_versions_owner ON pa.agent_versions
    USING (EXISTS (SELECT 1 FROM pa.agents a WHERE a.id = agent_id));
ALTER TABLE pa.agent_outputs ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_outputs_owner ON pa.agent_outputs
    USING (EXISTS (SELECT 1 FROM pa.agents a WHERE a.id = agent_id));
ALTER TABLE pa.agent_tools ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_tools_owner ON pa.agent_tools
    USING (EXISTS (SELECT 1 FROM pa.agents a WHERE a.id = agent_id));
ALTER TABLE pa.tools ENABLE ROW LEVEL SECURITY;
CREATE POLICY tools_owner ON pa.tools USING (pg_has_role(owner, 'USAGE'));
ALTER TABLE pa.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_owner ON pa.runs
    USING (pg_has_role(owner, 'USAGE') OR pg_has_role(requested_by, 'USAGE'));
ALTER TABLE pa.run_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY run_steps_owner ON pa.run_steps USING (EXISTS (SELECT 1 FROM pa.runs r WHERE r.id = run_id));
ALTER TABLE pa.outputs ENABLE ROW LEVEL SECURITY;
CREATE POLICY outputs_owner ON pa.outputs USING (EXISTS (SELECT 1 FROM pa.runs r WHERE r.id = run_id));

-- Conversation data belongs to the application: the administrator grants
-- it (e.g. GRANT SELECT, INSERT, UPDATE ON pa.conversations, pa.events TO app).

------------------------------------------------------------------------
-- Running agents
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.pa_invoke(agent text, conversation bigint DEFAULT NULL,
    input jsonb DEFAULT '{}', timeout interval DEFAULT NULL, version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE C VOLATILE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_invoke';
COMMENT ON FUNCTION @extschema@.pa_invoke IS 'Run an agent now, in this backend, over the conversation as this statement sees it; returns {run_id, status, outputs, error, usage, cost_usd}';

------------------------------------------------------------------------
-- Analytics: how is each agent version doing?
------------------------------------------------------------------------

-- security_invoker: the reader's row-level security applies, so a role
-- sees figures for the agents it may see, nothing else.
CREATE VIEW pa.agent_version_stats WITH (security_invoker = true) AS
SELECT a.name AS agent,
       a.id AS agent_id,
       a.dropped_at IS NOT NULL AS dropped,
       r.agent_version AS version,
       count(*) AS runs,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE r.status = 'skipped') AS skipped,
       count(*) FILTER (WHERE r.status IN ('queued', 'running')) AS in_progress,
       round(count(*) FILTER (WHERE r.status = 'succeeded')::numeric
             / nullif(count(*) FILTER (WHERE r.status IN ('succeeded', 'failed')), 0), 4) AS success_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at))
           AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at))
           AS p95_seconds,
       round(avg(r.steps), 2) AS avg_steps,
       sum(r.input_tokens) AS input_tokens,
       sum(r.output_tokens) AS output_tokens,
       sum(r.cached_tokens) AS cached_tokens,
       sum(r.reasoning_tokens) AS reasoning_tokens,
       sum(r.cost_usd) AS cost_usd,
       round(avg(r.cost_usd), 6) AS avg_cost_usd,
       max(r.created_at) AS last_run_at
  FROM pa.runs r
  JOIN pa.agents a ON a.id = r.agent_id
 GROUP BY a.id, a.name, a.dropped_at, r.agent_version;
COMMENT ON VIEW pa.agent_version_stats IS 'Per agent version: runs by status, success rate, p50/p95 duration, steps, tokens by kind, cost';
GRANT SELECT ON pa.agent_version_stats TO PUBLIC;

------------------------------------------------------------------------
-- Live progress of model calls (needs shared_preload_libraries)
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.pa_progress(OUT pid integer, OUT run_id bigint, OUT agent text,
    OUT model text, OUT streaming boolean, OUT started_at timestamptz, OUT seconds double precision,
    OUT bytes bigint, OUT events bigint, OUT output_tokens bigint, OUT tokens_reported boolean,
    OUT thinking_chars bigint)
RETURNS SETOF record LANGUAGE C VOLATILE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_progress';
COMMENT ON FUNCTION @extschema@.pa_progress IS 'Model calls in flight: seconds so far, bytes, events and output tokens (streamed), thinking';

CREATE VIEW pa.calls_in_progress AS SELECT * FROM @extschema@.pa_progress();
COMMENT ON VIEW pa.calls_in_progress IS 'Model calls in flight of the agents the reader may see, with their progress';
GRANT SELECT ON pa.calls_in_progress TO PUBLIC;
