-- The definition API: providers, models, tools, agents with versions.
-- Every bad definition is refused with a specific SQLSTATE.

-- Providers and models are administered (EXECUTE is not granted to PUBLIC).
SELECT pa_create_provider('local_openai', 'openai', base_url => 'http://127.0.0.1:9/v1/', api_key => 'sk-regress-openai-0001');
SELECT pa_create_provider('local_anthropic', 'anthropic', base_url => 'http://127.0.0.1:9', api_key_env => 'PA_TEST_ANTHROPIC_API_KEY',
                          options => '{"timeout_ms": 60000, "anthropic_version": "2023-06-01"}');
SELECT name, kind, base_url, api_key_env, options, owner FROM pa.providers ORDER BY id;
SELECT pa_create_model('local_openai', 'gpt-test', input_price => 2.5, output_price => 10, cached_input_price => 1.25);
SELECT pa_create_model('local_anthropic', 'claude-test', 3, 15, context_window => 200000, max_output_tokens => 64000);
SELECT p.name, m.name, input_price, output_price, cached_input_price, reasoning_price
  FROM pa.models m JOIN pa.providers p ON p.id = m.provider_id ORDER BY m.id;
SELECT pa_grant_provider('local_openai', 'regress_pa_alice');
SELECT pa_grant_provider('local_anthropic', 'regress_pa_alice');

-- bad providers and models
SELECT expect_error($$SELECT pa_create_provider('p1', 'gemini')$$);
SELECT expect_error($$SELECT pa_create_provider('Bad Name', 'openai')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', base_url => 'ftp://example.com')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', api_key => 'k', api_key_env => 'K')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', api_key_env => 'PGPASSWORD')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', options => '{"headers": {"Authorization": "Bearer x"}}')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', options => '{"timeout_ms": 5}')$$);
SELECT expect_error($$SELECT pa_create_provider('p1', 'openai', options => '{"retries": 5}')$$);
SELECT expect_error($$SELECT pa_create_provider('local_openai', 'openai')$$);
SELECT expect_error($$SELECT pa_create_provider(NULL, 'openai')$$);
SELECT expect_error($$SELECT pa_create_model('nope', 'm', 1, 1)$$);
SELECT expect_error($$SELECT pa_create_model('local_openai', 'gpt-test', 1, 1)$$);
SELECT expect_error($$SELECT pa_create_model('local_openai', 'm2', -1, 1)$$);

-- an agent owned by alice, with tools and a typed result table
SET ROLE regress_pa_alice;
CREATE TABLE public.tickets (
    output_id  bigint,
    run_id     bigint,
    title      text NOT NULL,
    priority   text NOT NULL,
    amount     numeric,
    tags       jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TYPE public.urgency AS ENUM ('low', 'normal', 'high');
CREATE FUNCTION public.lookup_order(order_id bigint, include_items boolean DEFAULT false)
RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT jsonb_build_object('order', order_id, 'items', include_items) $$;
COMMENT ON FUNCTION public.lookup_order IS 'Look up an order by id';
CREATE FUNCTION public.open_lines(at timestamptz, urgency urgency, skills text[]) RETURNS SETOF text
LANGUAGE sql STABLE AS $$ SELECT 'line-1' $$;

SELECT pa_create_tool('lookup_order', 'sql', function => 'lookup_order(bigint, boolean)');
SELECT pa_create_tool('open_lines', 'sql', function => 'open_lines(timestamptz, urgency, text[])', description => 'Transfer lines open now');
SELECT pa_create_tool('notify_slack', 'http', url => 'https://hooks.slack.example/services/T/B/X',
    parameters => '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}',
    secret_headers => '{"X-Api-Token": "tok-regress-secret"}');
SELECT name, kind, description, parameters, function_signature, function_args, url, headers, timeout
  FROM pa.tools ORDER BY id;

\set outputs '{"ticket": {"schema": {"type": "object", "required": ["title", "priority"], "properties": {"title": {"type": "string"}, "priority": {"enum": ["low", "high"], "type": "string"}, "amount": {"type": "number"}, "tags": {"type": "array"}}}, "table": "tickets", "description": "The CRM ticket"}, "next_step": {"schema": {"type": "object", "properties": {"action": {"type": "string"}}}, "cardinality": "many", "required": false}}'
SELECT pa_create_agent('crm_ticket', 'Compose a CRM ticket from the conversation.', 'local_openai', 'gpt-test',
    :'outputs', tools => ARRAY['lookup_order', 'notify_slack'], reasoning_effort => 'low',
    trigger_outcomes => ARRAY['resolved', 'escalated'], trigger_condition => $$c.channel = 'voice'$$);
SELECT a.name, a.owner, a.latest_version, a.released_version, v.planning, v.reasoning_effort, v.max_steps,
       v.max_repairs, v.timeout, v.trigger_outcomes, v.trigger_condition
  FROM pa.agents a JOIN pa.agent_versions v ON v.agent_id = a.id ORDER BY v.version;
SELECT name, ordinal, cardinality, required, evidence, result_table FROM pa.agent_outputs ORDER BY name;
SELECT t.name FROM pa.agent_tools at JOIN pa.tools t ON t.id = at.tool_id ORDER BY 1;

-- versions: a change makes a new version, no change makes none, drafts wait for release
SELECT pa_alter_agent('crm_ticket', max_steps => 30);
SELECT pa_alter_agent('crm_ticket', max_steps => 30);
SELECT pa_alter_agent('crm_ticket', instructions => 'Compose a CRM ticket. Be brief.', release => false);
SELECT latest_version, released_version FROM pa.agents WHERE name = 'crm_ticket';
SELECT version, max_steps, left(instructions, 30) FROM pa.agent_versions ORDER BY version;
SELECT pa_release_agent('crm_ticket');
SELECT latest_version, released_version FROM pa.agents WHERE name = 'crm_ticket';
SELECT pa_alter_agent('crm_ticket', trigger_condition => '', trigger_outcomes => '{}', tools => '{}');
SELECT version, trigger_outcomes, trigger_condition,
       (SELECT count(*) FROM pa.agent_tools t WHERE t.agent_id = v.agent_id AND t.version = v.version) AS tools
  FROM pa.agent_versions v ORDER BY version;
SELECT expect_error($$SELECT pa_release_agent('crm_ticket', 9)$$);

-- an agent on anthropic with thinking, and an agent tool
SELECT pa_create_agent('transfer_line', 'Choose the transfer line.', 'local_anthropic', 'claude-test',
    '{"decision": {"schema": {"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"]}}}',
    tools => ARRAY['open_lines'], planning => 'high', thinking_budget => 2048, max_output_tokens => 8192,
    input_schema => '{"type": "object", "properties": {"reason": {"type": "string"}}}');
SELECT pa_create_tool('ask_transfer_line', 'agent', agent => 'transfer_line', description => 'Ask the specialist');

-- bad definitions: each refused with its own SQLSTATE
\set one '{"r": {"schema": {"type": "object"}}}'
SELECT expect_error($$SELECT pa_create_agent('crm_ticket', 'x', 'local_openai', 'gpt-test', '{"r": {"schema": {"type": "object"}}}')$$);
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'Agent-1', 'x', 'local_openai', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'no_provider', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-9', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', '   ', 'local_openai', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test', '{}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"r": {"schema": {"type": "objekt"}}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"r": {"schema": {"type": "string"}}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"Bad-Name!": {"schema": {"type": "object"}}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"' || repeat('x', 58) || '": {"schema": {"type": "object"}}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"r": {"schema": {"type": "object"}, "cardinality": "several"}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    '{"r": {"schema": {"type": "object"}, "colour": "red"}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, tools => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{no_such_tool}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, planning => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', 'extreme'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, max_steps => 0)', 'a1', 'x', 'local_openai', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, max_repairs => 11)', 'a1', 'x', 'local_openai', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, timeout => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '2 days'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, thinking_budget => 4096)', 'a1', 'x', 'local_openai', 'gpt-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, thinking_budget => 512)', 'a1', 'x', 'local_anthropic', 'claude-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, thinking_budget => 4096, max_output_tokens => 4096)', 'a1', 'x', 'local_anthropic', 'claude-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, max_output_tokens => 100000)', 'a1', 'x', 'local_anthropic', 'claude-test', :'one'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, reasoning_effort => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', 'maximal'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_condition => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', 'true'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_outcomes => %L, trigger_condition => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{resolved}', 'c.chanel = 1'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_outcomes => %L, trigger_condition => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{resolved}', 'c.channel ='));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_outcomes => %L, trigger_condition => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{resolved}', 'c.id + 1'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_outcomes => %L, trigger_condition => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{resolved}', 'true); DROP TABLE public.tickets; SELECT (true'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, input_schema => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{"type": "object", "properties": {"n": {"minimum": "zero"}}}'));
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L, trigger_outcomes => %L)', 'a1', 'x', 'local_openai', 'gpt-test', :'one', '{resolved,""}'));
-- result tables that cannot hold the output
CREATE TABLE public.bad_types (title integer, priority text);
CREATE TABLE public.bad_notnull (title text, priority text, score integer NOT NULL);
CREATE TABLE public.bad_optional (title text, priority text, amount numeric NOT NULL);
CREATE TABLE public.bad_system (run_id text, title text, priority text);
\set ticket_schema '{"type": "object", "required": ["title", "priority"], "properties": {"title": {"type": "string"}, "priority": {"type": "string"}, "amount": {"type": "number"}}}'
SELECT expect_error(format('SELECT pa_create_agent(%L, %L, %L, %L, %L)', 'a1', 'x', 'local_openai', 'gpt-test',
    jsonb_build_object('t', jsonb_build_object('schema', :'ticket_schema'::jsonb, 'table', t))))
  FROM unnest(ARRAY['no_such_schema.t', 'bad_types', 'bad_notnull', 'bad_optional', 'bad_system', 'pa.events']) t;
-- tools
SELECT expect_error($$SELECT pa_create_tool('record_ticket', 'http', url => 'https://x.example', parameters => '{"type": "object"}')$$);
SELECT expect_error($$SELECT pa_create_tool('remember', 'http', url => 'https://x.example', parameters => '{"type": "object"}')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'python')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'http', url => 'file:///etc/passwd', parameters => '{"type": "object"}')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'http', url => 'https://x.example')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'http', url => 'https://x.example', parameters => '{"type": "object"}', headers => '{"X-A": 1}')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'lookup_order(bigint, boolean)', parameters => '{"type": "object"}')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'pg_catalog.pg_reload_conf()')$$);
CREATE FUNCTION public.unnamed_args(bigint) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.point_arg(p point) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.many(VARIADIC xs int[]) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'unnamed_args(bigint)')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'point_arg(point)')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'many(int[])')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'agent', agent => 'nobody')$$);
SELECT expect_error($$SELECT pa_create_tool('lookup_order', 'sql', function => 'lookup_order(bigint, boolean)')$$);
SELECT expect_error($$SELECT pa_create_tool('t1', 'sql', function => 'lookup_order(bigint, boolean)', timeout => '1 day')$$);
SELECT expect_error($$SELECT pa_drop_tool('open_lines')$$);
SELECT expect_error($$SELECT pa_drop_agent('transfer_line')$$);
-- alice may not administer providers
SELECT expect_error($$SELECT pa_create_provider('mine', 'openai')$$);
SELECT expect_error($$SELECT pa_create_model('local_openai', 'm3', 1, 1)$$);
RESET ROLE;

-- bob sees none of alice's agents or tools and cannot change or use them
SET ROLE regress_pa_bob;
SELECT count(*) FROM pa.agents;
SELECT count(*) FROM pa.tools;
SELECT count(*) FROM pa.agent_versions;
SELECT expect_error($$SELECT pa_alter_agent('crm_ticket', max_steps => 5)$$);
SELECT expect_error($$SELECT pa_drop_agent('crm_ticket')$$);
SELECT expect_error($$SELECT pa_create_agent('b1', 'x', 'local_openai', 'gpt-test', '{"r": {"schema": {"type": "object"}}}')$$);
RESET ROLE;
SELECT pa_grant_provider('local_openai', 'regress_pa_bob');
SET ROLE regress_pa_bob;
SELECT expect_error($$SELECT pa_create_agent('b1', 'x', 'local_openai', 'gpt-test', '{"r": {"schema": {"type": "object"}}}', tools => '{lookup_order}')$$);
SELECT pa_create_agent('b1', 'x', 'local_openai', 'gpt-test', '{"r": {"schema": {"type": "object"}}}');
SELECT name, owner FROM pa.agents;
-- the implementation cannot be called directly with a forged caller
SELECT expect_error($$SELECT pa._pa_drop_agent('regress_pa_alice', 'crm_ticket', false)$$);
RESET ROLE;

-- dropping: tools first, then the agent; queued runs are cancelled
SET ROLE regress_pa_alice;
SELECT pa_drop_tool('ask_transfer_line');
-- runs are written by procedural_agent, never directly by users
SELECT expect_error($$INSERT INTO pa.runs (agent_id, agent_version, origin, owner, requested_by)
    SELECT id, latest_version, 'enqueue', owner, owner FROM pa.agents WHERE name = 'transfer_line'$$);
RESET ROLE;
INSERT INTO pa.runs (agent_id, agent_version, origin, owner, requested_by)
SELECT id, latest_version, 'enqueue', owner, owner FROM pa.agents WHERE name = 'transfer_line';
SET ROLE regress_pa_alice;
SELECT pa_drop_agent('transfer_line');
SELECT pa_drop_agent('transfer_line', if_exists => true);
SELECT status, error_code, error_message FROM pa.runs;
SELECT name, dropped_at IS NOT NULL AS dropped FROM pa.agents ORDER BY id;
-- the name can be reused; the old versions stay
SELECT pa_create_agent('transfer_line', 'Choose again.', 'local_openai', 'gpt-test', :'one');
SELECT name, latest_version, dropped_at IS NOT NULL AS dropped FROM pa.agents ORDER BY id;
RESET ROLE;
SELECT expect_error($$SELECT pa_drop_provider('local_openai')$$);
