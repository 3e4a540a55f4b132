# pa_invoke against the local model server, both providers: multi-step and
# parallel tool use, SQL tools as the owner, repairs, thinking, planning,
# cardinality, result tables, usage and cost. Asserts on what the model
# server received as well as on what was recorded.
. test/lib/tap.sh
DB=pa_it_invoke
log_mark=$(wc -l < "$PA_PG_LOG")
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "DROP ROLE IF EXISTS pa_it_owner; CREATE ROLE pa_it_owner LOGIN" >/dev/null
setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_provider('an', 'anthropic', base_url => '$PA_MODEL_URL', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8, cached_input_price => 0.5, reasoning_price => 10);
SELECT pa_create_model('an', 'claude-test', input_price => 3, output_price => 15, cached_input_price => 0.3);
SELECT pa_grant_provider('oa', 'pa_it_owner');
SELECT pa_grant_provider('an', 'pa_it_owner');
GRANT SELECT, INSERT ON pa.conversations, pa.events TO pa_it_owner;
INSERT INTO pa.conversations (external_id, channel, metadata) VALUES ('conv-A', 'voice', '{"lang": "en"}');
INSERT INTO pa.events (conversation_id, kind, role, content) VALUES
  (1, 'message', 'customer', 'My order 42 never arrived and I want a refund'),
  (1, 'message', 'agent', 'I am sorry, let me check order 42');
CREATE TABLE private_notes (note text);
INSERT INTO private_notes VALUES ('superuser only');
CREATE SCHEMA app AUTHORIZATION pa_it_owner;
SET ROLE pa_it_owner;
CREATE FUNCTION app.lookup_order(order_id bigint) RETURNS jsonb LANGUAGE sql
  AS \$\$ SELECT jsonb_build_object('order', order_id, 'status', CASE WHEN order_id = 42 THEN 'lost' ELSE 'delivered' END) \$\$;
CREATE FUNCTION app.fragile(n integer) RETURNS integer LANGUAGE sql AS \$\$ SELECT 100 / n \$\$;
CREATE FUNCTION app.read_notes() RETURNS SETOF text LANGUAGE sql AS \$\$ SELECT note FROM public.private_notes \$\$;
CREATE FUNCTION app.split_name(full_name text, OUT first_name text, OUT last_name text) LANGUAGE sql
  AS \$\$ SELECT split_part(full_name, ' ', 1), split_part(full_name, ' ', 2) \$\$;
CREATE FUNCTION app.slow(seconds integer) RETURNS text LANGUAGE sql AS \$\$ SELECT pg_sleep(seconds)::text \$\$;
CREATE TABLE app.tickets (output_id bigint, run_id bigint, title text NOT NULL, priority text NOT NULL, amount numeric);
SELECT pa_create_tool('lookup_order', 'sql', function => 'app.lookup_order(bigint)');
SELECT pa_create_tool('fragile', 'sql', function => 'app.fragile(integer)');
SELECT pa_create_tool('read_notes', 'sql', function => 'app.read_notes()');
SELECT pa_create_tool('slow', 'sql', function => 'app.slow(integer)', timeout => '1 second');
SELECT pa_create_tool('split_name', 'sql', function => 'app.split_name(text)');
SELECT pa_create_agent('namer', 'Split the name.', 'oa', 'gpt-test',
  '{"n": {"schema": {"type": "object"}}}', tools => '{split_name}', planning => 'none');
SELECT pa_create_agent('ticket', 'Make a CRM ticket.', 'oa', 'gpt-test',
  '{"ticket": {"schema": {"type": "object", "required": ["title", "priority"], "additionalProperties": false,
     "properties": {"title": {"type": "string"}, "priority": {"enum": ["low", "high"]}, "amount": {"type": "number"}}},
     "table": "app.tickets"}}',
  tools => '{lookup_order,fragile,read_notes,slow}', max_repairs => 1, planning => 'none');
SELECT pa_create_agent('steps', 'List next steps.', 'oa', 'gpt-test',
  '{"step": {"schema": {"type": "object", "required": ["action", "due"], "properties": {"action": {"type": "string"},
     "due": {"type": "string", "format": "date"}, "urgent": {"type": "boolean"}}}, "cardinality": "many", "table": "app.next_steps"},
    "summary": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}, "required": false}}');
SELECT pa_create_agent('route', 'Choose the transfer line.', 'an', 'claude-test',
  '{"decision": {"schema": {"type": "object", "required": ["line"], "properties": {"line": {"type": "string"}}}}}',
  tools => '{lookup_order}', thinking_budget => 2048, max_output_tokens => 8192, planning => 'high');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: providers, tools and agents are defined (as a non-superuser owner)" test $rc -eq 0

# 1. OpenAI: a tool call, then the output; typed table; the request log.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"lookup_order","arguments":{"order_id":42}}],"usage":{"input_tokens":1000,"output_tokens":100,"cached_tokens":400,"reasoning_tokens":20}},
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"Order 42 lost","priority":"high","amount":19.9}}],"usage":{"input_tokens":2000,"output_tokens":50}}]}]}'
r=$(inv "'ticket', 1")
is "openai: the run succeeds" "$(jq_ "$r" "d['status']")" "succeeded"
is "openai: the output comes back keyed by type" "$(jq_ "$r" "d['outputs']['ticket']['title']")" "Order 42 lost"
is "openai: the second request answers the tool call with the tool's result" \
   "$(ms_py "[m for m in d[1]['body']['messages'] if m['role']=='tool'][0]['content']")" '{"order": 42, "status": "lost"}'
is "openai: the tool_call_id matches the call" \
   "$(ms_py "d[1]['body']['messages'][-1]['tool_call_id'] == d[1]['body']['messages'][-2]['tool_calls'][0]['id']")" "True"
like "openai: the transcript reached the model" "$(ms_py "d[0]['body']['messages'][1]['content']")" 'My order 42 never arrived'
is "openai: the tools offered are record_ticket and the SQL tools" \
   "$(ms_py "sorted(t['function']['name'] for t in d[0]['body']['tools'])")" "['fragile', 'lookup_order', 'read_notes', 'record_ticket', 'slow']"
is "openai: derived parameters reach the model" \
   "$(ms_py "[t['function']['parameters'] for t in d[0]['body']['tools'] if t['function']['name']=='lookup_order'][0]['required']")" "['order_id']"
is "openai: the key travels only in the Authorization header" "$(ms_py "d[0]['headers']['authorization']")" "Bearer $PA_MODEL_KEY"
is "typed table row written by the agent's owner" \
   "$(q "SELECT title || '|' || priority || '|' || amount || '|' || (run_id IS NOT NULL) FROM app.tickets" -d $DB)" "Order 42 lost|high|19.9|true"
is "pa.outputs row" "$(q "SELECT name || ':' || ordinal || ':' || (value->>'priority') FROM pa.outputs" -d $DB)" "ticket:1:high"
# cost: (1000-400)*2 + 400*0.5 + (100-20)*8 + 20*10 = 1200+200+640+200 = 2240; (2000*2 + 50*8) = 4400 → 6640 / 1e6
is "usage and cost from the price table" \
   "$(q "SELECT input_tokens || '/' || output_tokens || '/' || cached_tokens || '/' || reasoning_tokens || '/' || round(cost_usd, 6) FROM pa.runs WHERE id = 1" -d $DB)" \
   "3000/150/400/20/0.006640"
is "steps: model, tool, model" "$(q "SELECT string_agg(kind || coalesce(':' || name, ''), ',' ORDER BY step) FROM pa.run_steps WHERE run_id = 1" -d $DB)" "model,tool:lookup_order,model"
is "the run ended without a third call (single output recorded)" "$(ms_py "len(d)")" "2"

# The opt-out: finish_when_recorded => false lets the model speak once more.
q "SET ROLE pa_it_owner; SELECT pa_alter_agent('ticket', finish_when_recorded => false)" -d $DB >/dev/null
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"Again","priority":"low"}}]},{"text":"All recorded."}]}]}'
r=$(inv "'ticket', 1")
is "opt-out: the model is called again after the last output, then the run ends" "$(jq_ "$r" "d['status'], d['version']") $(ms_py "len(d)")" "succeeded 2 2"
q "SET ROLE pa_it_owner; SELECT pa_alter_agent('ticket', finish_when_recorded => true)" -d $DB >/dev/null

# 2. Parallel calls, a failing tool, a denied tool, a timed-out tool: all answered, the run goes on.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"fragile","arguments":{"n":0}},{"name":"read_notes","arguments":{}},{"name":"lookup_order","arguments":{"order_id":7}},{"name":"slow","arguments":{"seconds":5}}]},
  {"tool_calls":[{"name":"fragile","arguments":{"n":4}}]},
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"Recovered","priority":"low"}}]}]}]}'
r=$(inv "'ticket', 1")
is "tools: the run succeeds after tool errors" "$(jq_ "$r" "d['status']")" "succeeded"
is "tools: all four parallel calls are answered in one turn" "$(ms_py "len([m for m in d[1]['body']['messages'] if m['role']=='tool'])")" "4"
like "tools: division by zero comes back as a tool error" "$(ms_py "[m for m in d[1]['body']['messages'] if m['role']=='tool'][0]['content']")" '^ERROR: ERROR 22012: division by zero'
like "tools: the owner may not read private_notes, and the model is told" "$(ms_py "[m for m in d[1]['body']['messages'] if m['role']=='tool'][1]['content']")" 'ERROR 42501: permission denied for table private_notes'
is "tools: the other calls still ran" "$(ms_py "[m for m in d[1]['body']['messages'] if m['role']=='tool'][2]['content']")" '{"order": 7, "status": "delivered"}'
like "tools: a slow tool is stopped by its timeout" "$(ms_py "[m for m in d[1]['body']['messages'] if m['role']=='tool'][3]['content']")" 'the tool timed out'
is "tools: the model recovers with a good call" "$(ms_py "d[2]['body']['messages'][-1]['content']")" "25"
is "tools: nothing the failed tools did survives, the run's rows do" "$(q "SELECT count(*) FROM pa.run_steps WHERE run_id = (SELECT max(run_id) FROM pa.run_steps WHERE kind = 'tool') AND kind = 'tool' AND status = 'error'" -d $DB)" "3"

# A function with OUT arguments: only the input one is passed, the result is a record.
ms_scenario '{"rules":[{"match":{"contains":"Split the name"},"responses":[
  {"tool_calls":[{"name":"split_name","arguments":{"full_name":"Ada Lovelace"}}]},
  {"tool_calls":[{"name":"record_n","arguments":{}}]}]}]}'
r=$(inv "'namer', 1")
is "OUT arguments: the tool takes only the input argument" "$(ms_py "[t['function']['parameters']['required'] for t in d[0]['body']['tools'] if t['function']['name']=='split_name'][0]")" "['full_name']"
is "OUT arguments: the result is the record as JSON" "$(ms_py "d[1]['body']['messages'][-1]['content']")" '{"last_name": "Lovelace", "first_name": "Ada"}'

# A tool function dropped and re-created by another role is refused, not run as the owner.
q "DROP FUNCTION app.split_name(text); CREATE FUNCTION app.split_name(full_name text, OUT first_name text, OUT last_name text) LANGUAGE sql AS \$\$ SELECT 'pwned', 'pwned' \$\$" -d $DB >/dev/null
ms_scenario '{"rules":[{"match":{"contains":"Split the name"},"responses":[
  {"tool_calls":[{"name":"split_name","arguments":{"full_name":"Ada Lovelace"}}]},
  {"tool_calls":[{"name":"record_n","arguments":{}}]}]}]}'
r=$(inv "'namer', 1")
like "a re-created tool function of another owner is refused" "$(ms_py "d[1]['body']['messages'][-1]['content']")" 'now belongs to another role'

# 3. Repair after an invalid output; then failure when repairs run out.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"T","priority":"urgent","extra":1}}]},
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"T","priority":"high"}}]}]}]}'
r=$(inv "'ticket', 1")
is "repair: succeeds on the second attempt" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['ticket']['priority']")" "succeeded high"
like "repair: the model is told each error with its path" "$(ms_py "d[1]['body']['messages'][-1]['content']")" 'at /priority: must be one of: "low", "high"'
like "repair: ... including the extra property" "$(ms_py "d[1]['body']['messages'][-1]['content']")" 'must not have additional property "extra"'
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"T"}}]}],"repeat_last":true}]}'
r=$(inv "'ticket', 1")
is "repairs exhausted: the run fails with a clear code" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code']")" "failed invalid_output"
is "repairs exhausted: the last errors and attempt are kept" \
   "$(q "SELECT error_detail->'last_invalid'->'attempt'->>'title' || ' ' || (error_detail->'last_invalid'->'errors'->0->>'message') FROM pa.runs ORDER BY id DESC LIMIT 1" -d $DB)" \
   'T must have required property "priority"'
is "repairs exhausted: no output is written" "$(q "SELECT count(*) FROM pa.outputs o JOIN pa.runs r ON r.id = o.run_id WHERE r.status = 'failed'" -d $DB)" "0"

# 4. Cardinality many, optional output, result table created from the schema.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"record_step","arguments":{"action":"Refund","due":"2026-12-01","urgent":true}},
                 {"name":"record_step","arguments":{"action":"Call back","due":"2026-12-02"}}]},
  {"text":"Done."}]}]}'
r=$(inv "'steps', 1")
is "many: both objects come back as an array, the optional one as null" "$(jq_ "$r" "[s['action'] for s in d['outputs']['step']], d['outputs']['summary']")" "['Refund', 'Call back'] None"
is "many: the created table holds typed rows" \
   "$(q "SELECT string_agg(action || ':' || due || ':' || coalesce(urgent::text, '-'), ',' ORDER BY output_id) FROM app.next_steps" -d $DB)" "Refund:2026-12-01:true,Call back:2026-12-02:-"
is "many: the created table's columns follow the documented mapping" \
   "$(q "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'next_steps'" -d $DB)" \
   "output_id bigint NO, run_id bigint NO, conversation_id bigint YES, created_at timestamp with time zone NO, action text NO, due date NO, urgent boolean YES"
is "many: the created table belongs to the agent's owner" "$(q "SELECT tableowner FROM pg_tables WHERE tablename = 'next_steps'" -d $DB)" "pa_it_owner"

# A value its result-table column refuses: the run fails, its ledger stays.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"tool_calls":[{"name":"record_step","arguments":{"action":"Refund","due":"next week-ish"}}]},{"text":"Done."}]}]}'
r=$(inv "'steps', 1")
is "output write failure: the run fails with a clear code" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code']")" "failed output_write_failed"
like "output write failure: the message names the problem" "$(jq_ "$r" "d['error']['message']")" 'invalid input syntax for type date'
is "output write failure: the run is in the ledger, nothing half-written" \
   "$(q "SELECT r.status || ' ' || (SELECT count(*) FROM pa.outputs o WHERE o.run_id = r.id) FROM pa.runs r WHERE r.id = $(jq_ "$r" "d['run_id']")" -d $DB)" "failed 0"

# 5. Anthropic: planning high stores a plan; thinking blocks go back signed; parallel calls.
ms_scenario '{"rules":[{"match":{"provider":"anthropic"},"responses":[
  {"thinking":"Plan first.","text":"1. Look up order 42. 2. Record the line."},
  {"thinking":"I need the order.","tool_calls":[{"name":"lookup_order","arguments":{"order_id":42}},{"name":"lookup_order","arguments":{"order_id":43}}]},
  {"thinking":"Billing handles lost orders.","tool_calls":[{"name":"record_decision","arguments":{"line":"billing"}}]}]}]}'
r=$(inv "'route', 1")
is "anthropic: succeeds" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['decision']['line']")" "succeeded billing"
is "anthropic: the plan is stored on the run" "$(q "SELECT plan FROM pa.runs ORDER BY id DESC LIMIT 1" -d $DB)" "1. Look up order 42. 2. Record the line."
is "anthropic: the planning call offers no tools" "$(ms_py "'tools' in d[0]['body']")" "False"
is "anthropic: thinking is enabled with the budget" "$(ms_py "d[1]['body']['thinking']")" "{'type': 'enabled', 'budget_tokens': 2048}"
is "anthropic: the thinking block goes back first in the assistant turn, with its signature" \
   "$(ms_py "[b['type'] for b in d[2]['body']['messages'][-2]['content']][0] + ' ' + str(len(d[2]['body']['messages'][-2]['content'][0]['signature']) > 10)")" "thinking True"
is "anthropic: both tool results in one user turn" "$(ms_py "[b['type'] for b in d[2]['body']['messages'][-1]['content']]")" "['tool_result', 'tool_result']"
is "anthropic: every request was accepted (signatures verified)" "$(ms_py "[r['status'] for r in d]")" "[200, 200, 200]"
is "anthropic: the key travels only in x-api-key" "$(ms_py "d[0]['headers']['x-api-key'] + ' ' + str('authorization' in d[0]['headers'])")" "$PA_MODEL_KEY False"

# 5b. Agent tools: a nested run whose outputs are the tool result; the depth limit.
q "SET ROLE pa_it_owner;
   SELECT pa_create_agent('classify', 'Classify the reason.', 'oa', 'gpt-test',
     '{\"label\": {\"schema\": {\"type\": \"object\", \"required\": [\"line\"], \"properties\": {\"line\": {\"type\": \"string\"}}}}}',
     planning => 'none', input_schema => '{\"type\": \"object\", \"required\": [\"reason\"], \"properties\": {\"reason\": {\"type\": \"string\"}}}');
   SELECT pa_create_tool('ask_classify', 'agent', agent => 'classify', description => 'Ask the classifier');
   SELECT pa_create_agent('triage', 'Triage using the classifier.', 'oa', 'gpt-test',
     '{\"decision\": {\"schema\": {\"type\": \"object\", \"properties\": {\"line\": {\"type\": \"string\"}}}}}',
     tools => '{ask_classify}', planning => 'none');
   SELECT pa_create_agent('loop', 'Loop.', 'oa', 'gpt-test', '{\"r\": {\"schema\": {\"type\": \"object\"}}}', planning => 'none', max_steps => 2);
   SELECT pa_create_tool('ask_loop', 'agent', agent => 'loop');
   SELECT pa_alter_agent('loop', tools => '{ask_loop}');" -d $DB >/dev/null
ms_scenario '{"rules":[
  {"match":{"contains":"Classify the reason."},"responses":[{"tool_calls":[{"name":"record_label","arguments":{"line":"billing"}}]}]},
  {"match":{"contains":"Triage using"},"responses":[
     {"tool_calls":[{"name":"ask_classify","arguments":{"reason":"refund for order 42"}}]},
     {"tool_calls":[{"name":"record_decision","arguments":{"line":"billing"}}]}]}]}'
r=$(inv "'triage', 1")
is "agent tool: the outer run succeeds" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['decision']['line']")" "succeeded billing"
like "agent tool: the nested run's outputs are the tool result" "$(ms_py "[m for m in d[2]['body']['messages'] if m['role']=='tool'][0]['content']")" '"outputs":\{"label":\{"line":"billing"\}\}'
like "agent tool: the nested run saw the tool's arguments as its input" "$(ms_py "d[1]['body']['messages'][1]['content']")" 'refund for order 42'
is "agent tool: the nested run is in the ledger, linked to its parent" \
   "$(q "SELECT c.origin || ' ' || (c.parent_run_id = p.id) FROM pa.runs c JOIN pa.runs p ON p.id = c.parent_run_id WHERE p.id = $(jq_ "$r" "d['run_id']")" -d $DB)" "agent_tool true"
ms_scenario '{"rules":[{"match":{"has_tool":"ask_loop"},"responses":[{"tool_calls":[{"name":"ask_loop","arguments":{}}]}],"repeat_last":true}]}'
r=$(inv "'loop', 1")
is "depth limit: runs nest 3 levels below the top run, no more" \
   "$(q "WITH RECURSIVE t AS (SELECT id, 0 AS depth FROM pa.runs WHERE id = $(jq_ "$r" "d['run_id']") UNION ALL SELECT r.id, t.depth + 1 FROM pa.runs r JOIN t ON r.parent_run_id = t.id) SELECT max(depth) FROM t" -d $DB)" "3"
like "depth limit: the deepest call is answered with a tool error" \
   "$(q "SELECT error FROM pa.run_steps WHERE kind = 'tool' AND error LIKE '%nest%' LIMIT 1" -d $DB)" 'agent tools may nest 3 levels deep'

# 6. Cancellation and timeouts: an HTTP wait is interrupted promptly; the backend stays healthy.
ms_scenario '{"default":{"fault":"hang"}}'
start=$(date +%s%N)
out=$(psql -X -q -d $DB -c "SET statement_timeout = '1s'" -c "SELECT pa_invoke('ticket', 1)" -c "SELECT 'alive'" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
like "statement_timeout interrupts the HTTP wait" "$out" 'canceling statement due to statement timeout'
like "... and the session goes on" "$out" 'alive'
ok "... within 1.5 s (took ${ms} ms)" test "$ms" -lt 1500
psql -X -q -d $DB -c "SELECT pa_invoke('ticket', 1)" >"$PA_RUN_DIR/cancel.out" 2>&1 &
bg=$!
pid=""
for i in $(seq 1 50); do
    sleep 0.1
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pa_invoke%' AND state = 'active' AND pid <> pg_backend_pid()" -d $DB)
    [ -n "$pid" ] && break
done
sleep 0.3   # let it reach the HTTP wait
start=$(date +%s%N)
q "SELECT pg_cancel_backend($pid)" -d $DB >/dev/null
wait $bg
ms=$(( ($(date +%s%N) - start) / 1000000 ))
like "pg_cancel_backend stops pa_invoke" "$(cat "$PA_RUN_DIR/cancel.out")" 'canceling statement due to user request'
ok "... within 300 ms of the cancel (took ${ms} ms)" test "$ms" -lt 300
r=$(inv "'ticket', 1, timeout => '1 second'")
is "pa_invoke's own timeout fails the run cleanly" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code']")" "failed timeout"
ok "no backend crashed" test "$(tail -n +"$log_mark" "$PA_PG_LOG" | grep -c 'terminated by signal')" -eq 0

# 6b. Provider errors: a rate limit is retried after retry-after; a bad key fails clearly.
ms_scenario '{"rules":[{"match":{"contains":"conv-A"},"responses":[
  {"status":429,"retry_after":1},
  {"tool_calls":[{"name":"record_ticket","arguments":{"title":"After 429","priority":"low"}}]}]}]}'
start=$(date +%s%N)
r=$(inv "'ticket', 1")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "429: retried once, then succeeds" "$(jq_ "$r" "d['status']") $(ms_py "[x['status'] for x in d]")" "succeeded [429, 200]"
ok "429: waited for retry-after (1 s; took ${ms} ms)" test "$ms" -ge 1000
is "429: the retry is in the ledger" "$(q "SELECT count(*) FROM pa.run_steps WHERE run_id = $(jq_ "$r" "d['run_id']") AND name = 'retry' AND http_status = 429" -d $DB)" "1"
q "SELECT pa_create_provider('badkey', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => 'sk-wrong-key'); SELECT pa_create_model('badkey', 'gpt-test', 1, 1); SELECT pa_grant_provider('badkey', 'pa_it_owner')" -d $DB >/dev/null
q "SET ROLE pa_it_owner; SELECT pa_create_agent('badkey_agent', 'x', 'badkey', 'gpt-test', '{\"r\": {\"schema\": {\"type\": \"object\"}}}')" -d $DB >/dev/null
r=$(inv "'badkey_agent', 1")
like "401: the run fails with the provider's message" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code'] + ' ' + d['error']['message']")" '^failed model_error HTTP 401 .*(API key|api key)'
unlike "401: the message does not echo the key" "$(jq_ "$r" "d['error']['message']")" 'sk-wrong-key'
# 7. Secrets: the key appears nowhere in the ledger.
is "no API key in runs, steps or outputs" \
   "$(q "SELECT count(*) FROM (SELECT row_to_json(r)::text t FROM pa.runs r UNION ALL SELECT row_to_json(s)::text FROM pa.run_steps s UNION ALL SELECT row_to_json(o)::text FROM pa.outputs o) x WHERE t LIKE '%' || '$PA_MODEL_KEY' || '%'" -d $DB)" "0"
q "DROP DATABASE $DB" >/dev/null
q "DROP ROLE pa_it_owner" >/dev/null
finish
