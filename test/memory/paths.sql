CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '@MODEL_URL@/v1', api_key => '@MODEL_KEY@');
SELECT pa_create_provider('an', 'anthropic', base_url => '@MODEL_URL@', api_key => '@MODEL_KEY@');
SELECT pa_create_model('oa', 'gpt-test', 1, 1);
SELECT pa_create_model('an', 'claude-test', 3, 15);
SELECT pa_create_provider('bad', 'gemini'); -- expect an error
CREATE TABLE public.tickets (output_id bigint, run_id bigint, conversation_id bigint, title text NOT NULL, priority text);
CREATE FUNCTION public.lookup_order(order_id bigint) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('order', order_id, 'status', 'lost') $$;
SELECT pa_create_tool('lookup_order', 'sql', function => 'public.lookup_order(bigint)');
SELECT pa_create_agent('mem_oa', 'Look the order up, then record a ticket.', 'oa', 'gpt-test', '{"ticket": {"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}, "priority": {"enum": ["low", "high"]}}}, "table": "public.tickets"}}', tools => '{lookup_order}', planning => 'none', trigger_outcomes => '{resolved}');
SELECT pa_create_agent('mem_an', 'Look the order up, then record a ticket.', 'an', 'claude-test', '{"ticket": {"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}, "priority": {"enum": ["low", "high"]}}}, "table": "public.tickets"}}', tools => '{lookup_order}', planning => 'none');
SELECT pa_create_agent('mem_bad', 'x', 'oa', 'gpt-test', '{"a": {"schema": {"$ref": "#"}}}'); -- expect an error
INSERT INTO pa.customers (external_id, name, context) VALUES ('c-1', 'Ada', '{"tier": "gold"}');
INSERT INTO pa.customer_memory (customer_id, key, value) VALUES (1, 'language', '"en"');
INSERT INTO pa.conversations (external_id, customer_id, channel) VALUES ('m-1', 1, 'chat');
INSERT INTO pa.events (conversation_id, kind, role, content) SELECT 1, 'message', CASE WHEN i % 2 = 0 THEN 'customer' ELSE 'agent' END, 'message ' || i || ' about order 42, é ü 中文' FROM generate_series(1, 60) i;
INSERT INTO pa.events (conversation_id, kind, name, payload) VALUES (1, 'event', 'transfer', '{"to": "billing"}');
SELECT pa_invoke('mem_oa', 1)->>'status' AS status;
SELECT pa_invoke('mem_an', 1)->>'status' AS status;
SELECT pa_invoke('mem_oa', 1, '{"q": "please-refuse"}')->>'status' AS status;
SELECT count(*) AS tickets FROM public.tickets;
SELECT pa_create_provider('tp', 'test', options => '{"call_tools": true}');
SELECT pa_create_model('tp', 'test-model', 1, 1);
SELECT pa_create_agent('mem_tp', 'Record it.', 'tp', 'test-model', '{"note": {"schema": {"$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string", "minLength": 3}}}}, "type": "object", "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 2, "uniqueItems": true}, "at": {"type": "string", "format": "date-time"}, "kind": {"anyOf": [{"enum": ["a", "b"]}, {"type": "integer"}]}}}, "evidence": true}, "step": {"cardinality": "many", "schema": {"type": "object", "allOf": [{"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0.5}}}]}}}', tools => '{lookup_order}', planning => 'high');
SELECT pa_invoke('mem_tp', 1)->>'status' AS status;
SELECT pa_invoke('nope'); -- expect an error
SELECT pa_invoke('mem_oa', 1, '[1]'); -- expect an error
SELECT count(*) AS violations FROM pa_validate('{"type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}, "b": {"type": "integer", "minimum": 3}}, "required": ["a"]}', '{"a": "ABC", "b": 1}');
SELECT pa_is_valid('{"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}', '[[[]]]') AS nested;
SELECT pa_is_valid('{"type": 5}', '1'); -- expect an error
SELECT pa_enqueue('mem_oa', 1, '{"n": 1}') AS queued;
UPDATE pa.conversations SET status = 'terminated', outcome = 'resolved', ended_at = now() WHERE id = 1;
SELECT pa_backfill('mem_an', conversations => ARRAY[1::bigint]) AS backfilled;
SELECT pa_alter_agent('mem_oa', instructions => 'Look it up twice.') AS version;
SELECT count(*) AS compared FROM pa_compare_versions('mem_oa', 1, 2);
SELECT pa_cancel(max(id)) AS cancelled FROM pa.runs WHERE status = 'queued';
SELECT pa_add_delivery('mem_an', 'webhook', 'https://example.com/hook', secret => 'whsec-1');
SELECT pa_drop_delivery('mem_an', 'https://example.com/hook');
SELECT pa_drop_agent('mem_an');
SELECT pa_drop_tool('lookup_order'); -- expect an error
DROP EXTENSION procedural_agent;
