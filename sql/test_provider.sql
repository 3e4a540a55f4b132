-- The test provider kind: agents run end to end without a network, with
-- outputs built from their schemas (what users run in their own CI).
-- Definitions: what a test provider takes and refuses.
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'test', base_url => 'http://127.0.0.1:9')$$);
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'test', api_key => 'sk-x')$$);
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'test', api_key_env => 'OPENAI_API_KEY')$$);
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'test', options => '{"call_tools": "yes"}')$$);
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'openai', options => '{"call_tools": true}')$$);
SELECT expect_error($$SELECT pa_create_provider('tp_bad', 'mock')$$);
SELECT pa_create_provider('tp', 'test');
SELECT pa_create_provider('tp_tools', 'test', options => '{"call_tools": true}');
SELECT name, kind, base_url, options FROM pa.providers WHERE name LIKE 'tp%' ORDER BY name;
SELECT expect_error($$SELECT pa_set_provider_key('tp', 'sk-x')$$);
SELECT pa_create_model('tp', 'test-model', input_price => 1, output_price => 2);
SELECT pa_create_model('tp_tools', 'test-model', 0, 0);

-- an agent with the settings of a real one (thinking, effort) can be tested unchanged
CREATE TABLE public.tp_tickets (output_id bigint, run_id bigint, conversation_id bigint,
                                title text NOT NULL, priority text NOT NULL, due date, tags jsonb);
SELECT pa_create_agent('tp_ticket', 'Compose a ticket.', 'tp', 'test-model',
  '{"ticket": {"table": "public.tp_tickets",
               "schema": {"type": "object", "required": ["title", "priority"],
                          "properties": {"title": {"type": "string", "minLength": 10},
                                         "priority": {"enum": ["high", "low"]},
                                         "due": {"type": "string", "format": "date"},
                                         "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": true},
                                         "code": {"type": "string", "pattern": "^T-[0-9]{3}$", "examples": ["T-042"]}}}},
    "step": {"cardinality": "many", "evidence": true,
             "schema": {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 5}}}}}',
  thinking_budget => 2048, planning => 'high');
SELECT pa_create_agent('tp_effort', 'Answer.', 'tp', 'test-model',
  '{"a": {"schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}', reasoning_effort => 'low');

INSERT INTO pa.conversations (external_id, channel) VALUES ('tp-1', 'chat');
INSERT INTO pa.events (conversation_id, kind, role, content)
SELECT id, 'message', r, t FROM pa.conversations,
       (VALUES ('customer', 'My order 42 never came.'), ('agent', 'Let me check.')) v(r, t)
 WHERE external_id = 'tp-1';

-- a run: plan, records, closing turn; outputs in pa.outputs and the table
SELECT r->>'status' AS status, r->'outputs' AS outputs, r->'usage'->'input_tokens' > '0' AS tokens_counted,
       (r->>'cost_usd')::numeric > 0 AS cost_counted
  FROM pa_invoke('tp_ticket', (SELECT id FROM pa.conversations WHERE external_id = 'tp-1')) r;
SELECT title, priority, due, tags FROM public.tp_tickets;
-- the evidence is an event of the conversation
SELECT o.name, e.content FROM pa.outputs o JOIN pa.events e ON e.id = o.evidence[1] WHERE o.name = 'step';
SELECT kind, status FROM pa.run_steps
 WHERE run_id = (SELECT max(id) FROM pa.runs WHERE agent_id = (SELECT id FROM pa.agents WHERE name = 'tp_ticket'))
 ORDER BY step;
SELECT plan FROM pa.runs WHERE agent_id = (SELECT id FROM pa.agents WHERE name = 'tp_ticket');
-- deterministic: the same conversation gives the same outputs
SELECT (SELECT r->'outputs' FROM pa_invoke('tp_ticket', c.id) r) = (SELECT r->'outputs' FROM pa_invoke('tp_ticket', c.id) r) AS same
  FROM pa.conversations c WHERE external_id = 'tp-1';
SELECT pa_invoke('tp_effort', NULL)->'outputs' AS outputs;

-- call_tools: each of the agent's tools once, with arguments that match its parameters
CREATE TABLE public.tp_calls (order_id bigint, express boolean, at timestamptz DEFAULT now());
CREATE FUNCTION public.tp_order(order_id bigint, express boolean DEFAULT false) RETURNS text
LANGUAGE sql AS $$ INSERT INTO public.tp_calls (order_id, express) VALUES (order_id, express) RETURNING 'shipped' $$;
CREATE TYPE public.tp_level AS ENUM ('gold', 'silver');
CREATE FUNCTION public.tp_level_of(level public.tp_level, since date) RETURNS text
LANGUAGE sql AS $$ SELECT level::text || ' since ' || since $$;
SELECT pa_create_tool('tp_order', 'sql', function => 'public.tp_order(bigint, boolean)');
SELECT pa_create_tool('tp_level_of', 'sql', function => 'public.tp_level_of(public.tp_level, date)');
SELECT pa_create_agent('tp_tooling', 'Check the order.', 'tp_tools', 'test-model',
  '{"answer": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}}}',
  tools => '{tp_order,tp_level_of}', planning => 'none');
SELECT r->>'status' AS status, r->'outputs' AS outputs
  FROM pa_invoke('tp_tooling', (SELECT id FROM pa.conversations WHERE external_id = 'tp-1')) r;
SELECT order_id, express FROM public.tp_calls;
SELECT kind, name, status, response FROM pa.run_steps
 WHERE run_id = (SELECT max(id) FROM pa.runs) AND kind = 'tool' ORDER BY step;
-- the test provider on its own: the same agent without call_tools calls no tool
SELECT pa_alter_agent('tp_tooling', provider => 'tp', model => 'test-model');
SELECT pa_invoke('tp_tooling', NULL)->>'status' AS status;
SELECT count(*) AS tool_calls FROM public.tp_calls;

-- a schema the generator cannot satisfy (a pattern without an example):
-- the run fails like any model's invalid output, and says why
SELECT pa_create_agent('tp_pattern', 'Answer.', 'tp', 'test-model',
  '{"a": {"schema": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "pattern": "^[0-9]+$"}}}}}',
  max_repairs => 1, planning => 'none');
SELECT r->>'status' AS status, r->'error'->>'code' AS code, r->'error'->>'message' AS message
  FROM pa_invoke('tp_pattern', NULL) r;

-- the cost ceiling holds for test models too (their usage is priced like any model's)
SELECT pa_create_agent('tp_ceiling', 'Answer.', 'tp', 'test-model',
  '{"a": {"schema": {"type": "object"}}}', planning => 'none', max_cost_usd => 0.000001);
SELECT r->>'status' AS status, r->'error'->>'code' AS code FROM pa_invoke('tp_ceiling', NULL) r;

-- evidence wraps the object: its references into $defs still resolve
-- (they move up with it); a reference to its own root is refused
SELECT pa_create_agent('tp_refs', 'Record the lines.', 'tp', 'test-model',
  '{"order": {"evidence": true,
              "schema": {"$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}},
                         "type": "object", "required": ["lines"],
                         "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/line"},
                                                  "minItems": 2, "uniqueItems": true}}}}}', planning => 'none');
SELECT r->>'status' AS status, r->'outputs' AS outputs
  FROM pa_invoke('tp_refs', (SELECT id FROM pa.conversations WHERE external_id = 'tp-1')) r;
SELECT expect_error($$SELECT pa_create_agent('tp_root', 'x', 'tp', 'test-model',
  '{"a": {"evidence": true, "schema": {"type": "object", "properties": {"child": {"$ref": "#"}}}}}')$$);

-- pa.runs' CHECK (a C function): a run in a final state has its end time
SELECT pa._run_end_recorded('succeeded', NULL) AS succeeded_no_end,
       pa._run_end_recorded('succeeded', now()) AS succeeded_ended,
       pa._run_end_recorded('running', NULL) AS running,
       pa._run_end_recorded('skipped', NULL) AS skipped_no_end,
       pa._run_end_recorded(NULL, NULL) AS unknown;
DO $$
DECLARE
    c text;
BEGIN
    UPDATE pa.runs SET finished_at = NULL WHERE id = (SELECT min(id) FROM pa.runs WHERE status = 'succeeded');
    RAISE NOTICE 'no error';
EXCEPTION WHEN check_violation THEN
    GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
    RAISE NOTICE '%: %', SQLSTATE, c;
END $$;

DROP TABLE public.tp_tickets, public.tp_calls;
