# Runtime depth: HTTP tools (secrets, HMAC), customer memory across runs,
# transcripts over the context budget read through the built-in tools,
# evidence checked against the conversation, the cost ceiling, and the
# analytics view checked against the ledger.
. test/lib/tap.sh
DB=pa_it_depth
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_provider('an', 'anthropic', base_url => '$PA_MODEL_URL', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8);
SELECT pa_create_model('an', 'claude-test', input_price => 3, output_price => 15);
INSERT INTO pa.customers (external_id, name, context) VALUES ('cust-1', 'Ada', '{"tier": "gold"}');
INSERT INTO pa.conversations (external_id, customer_id, channel) VALUES ('conv-M1', 1, 'chat'), ('conv-M2', 1, 'chat'), ('conv-L', NULL, 'voice');
INSERT INTO pa.events (conversation_id, kind, role, content) VALUES
  (1, 'message', 'customer', 'Please always call me Ada, and I prefer email.'),
  (2, 'message', 'customer', 'Hello again.');
INSERT INTO pa.events (conversation_id, kind, role, content)
SELECT 3, 'message', CASE WHEN i % 2 = 0 THEN 'customer' ELSE 'agent' END,
       CASE WHEN i = 2500 THEN 'The magic refund code is ZEBRA-77.' ELSE 'filler message number ' || i END
  FROM generate_series(1, 5000) i;
SELECT pa_create_tool('notify_ops', 'http', url => '$PA_MODEL_URL/hooks/slack',
  parameters => '{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}',
  headers => '{"X-Team": "ops"}', secret_headers => '{"Authorization": "Bearer hook-SECRET-9"}',
  hmac_secret => 'whsec-SECRET-5');
SELECT pa_create_agent('notifier', 'Notify the ops team.', 'oa', 'gpt-test',
  '{"done": {"schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}', tools => '{notify_ops}', planning => 'none');
SELECT pa_create_agent('memo', 'Remember the customer preferences.', 'an', 'claude-test',
  '{"note": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}', planning => 'none');
SELECT pa_create_agent('reader', 'Find the refund code.', 'oa', 'gpt-test',
  '{"code": {"schema": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}, "evidence": true}}',
  planning => 'none', context_budget => 5000, max_repairs => 2);
SELECT pa_create_agent('pricey', 'Think a lot.', 'oa', 'gpt-test',
  '{"r": {"schema": {"type": "object"}}}', planning => 'none', max_cost_usd => 0.05, max_output_tokens => 1000);
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: tools, agents, a 5,000-event conversation" test $rc -eq 0

# HTTP tool: the receiver gets the body, headers, secret header and a verifiable signature.
ms_scenario '{"rules":[{"match":{"contains":"Notify the ops"},"responses":[
  {"tool_calls":[{"name":"notify_ops","arguments":{"text":"Order 42 needs a refund"}}]},
  {"tool_calls":[{"name":"record_done","arguments":{"ok":true}}]}]}]}'
r=$(inv "'notifier', 1")
is "http tool: a loopback receiver is refused by default (SSRF)" "$(jq_ "$r" "d['status']") $(ms_py "len([x for x in d if x['path'].startswith('/hooks/')])")" "succeeded 0"
like "http tool: ... and the model is told why" "$(ms_py "[m for m in d[-1]['body']['messages'] if m['role']=='tool'][0]['content']")" 'loopback, private or link-local'
ms_scenario '{"rules":[{"match":{"contains":"Notify the ops"},"responses":[
  {"tool_calls":[{"name":"notify_ops","arguments":{"text":"Order 42 needs a refund"}}]},
  {"tool_calls":[{"name":"record_done","arguments":{"ok":true}}]}]}]}'
r=$(q "SET procedural_agent.http_tool_allow_private = on; SELECT pa_invoke('notifier', 1)" -d $DB)
is "http tool: the run succeeds" "$(jq_ "$r" "d['status']")" "succeeded"
hook="[x for x in d if x['path'].startswith('/hooks/')][0]"
is "http tool: the receiver got the arguments as JSON" "$(ms_py "$hook['body']")" "{'text': 'Order 42 needs a refund'}"
is "http tool: with the tool's headers and secret headers" "$(ms_py "$hook['headers']['x-team'] + ' ' + $hook['headers']['authorization']")" "ops Bearer hook-SECRET-9"
expected_sig=$(/usr/bin/python3 -c "import hmac,hashlib; print('sha256=' + hmac.new(b'whsec-SECRET-5', b'{\"text\":\"Order 42 needs a refund\"}', hashlib.sha256).hexdigest())")
is "http tool: X-PA-Signature is the HMAC-SHA256 of the body" "$(ms_py "$hook['headers']['x-pa-signature']")" "$expected_sig"
like "http tool: the model gets the receiver's answer" "$(ms_py "[m for m in d[-1]['body']['messages'] if m['role']=='tool'][0]['content']")" '^HTTP 200'
is "http tool: no secret reached the model" "$(ms_py "sum(1 for x in d if x['provider'] and ('SECRET' in json.dumps(x['body'])))")" "0"
is "http tool: no secret reached the ledger" \
   "$(q "SELECT count(*) FROM (SELECT row_to_json(r)::text t FROM pa.runs r UNION ALL SELECT row_to_json(s)::text FROM pa.run_steps s) x WHERE t LIKE '%SECRET%'" -d $DB)" "0"

# Customer memory: remember in one run, recall in the next (committed with the run).
ms_scenario '{"rules":[{"match":{"contains":"conv-M1"},"responses":[
  {"tool_calls":[{"name":"remember","arguments":{"key":"contact","value":{"channel":"email","name":"Ada"}}}]},
  {"tool_calls":[{"name":"record_note","arguments":{"text":"prefers email"}}]}]},
 {"match":{"contains":"conv-M2"},"responses":[
  {"tool_calls":[{"name":"recall","arguments":{"key":"contact"}}]},
  {"tool_calls":[{"name":"record_note","arguments":{"text":"email Ada"}}]}]}]}'
r=$(inv "'memo', 1")
is "memory: the first run succeeds" "$(jq_ "$r" "d['status']")" "succeeded"
is "memory: written with the run" "$(q "SELECT value->>'channel' || ' ' || (updated_by_run = $(jq_ "$r" "d['run_id']")) FROM pa.customer_memory WHERE key = 'contact'" -d $DB)" "email true"
r=$(inv "'memo', 2")
is "memory: the second run recalls it" "$(ms_py "[b for b in d[-1]['body']['messages'][-1]['content'] if b['type']=='tool_result'][0]['content']")" '{"name": "Ada", "channel": "email"}'
like "memory: the prompt carries the customer's memory and context" "$(ms_py "d[-2]['body']['messages'][0]['content'][0]['text']")" 'contact.*email'
ms_scenario '{"rules":[{"match":{"contains":"conv-M1"},"responses":[
  {"tool_calls":[{"name":"remember","arguments":{"key":"contact","value":"phone"}}]},{"refusal":"no","stop":"refusal"}]}]}'
r=$(inv "'memo', 1")
is "memory: a failed run remembers nothing" "$(jq_ "$r" "d['status']") $(q "SELECT value->>'channel' FROM pa.customer_memory WHERE key = 'contact'" -d $DB)" "failed email"

# A 5,000-event transcript over the budget: head + tail + marker, read_events/search_events reach the rest.
ms_scenario '{"rules":[{"match":{"contains":"conv-L"},"responses":[
  {"tool_calls":[{"name":"search_events","arguments":{"query":"refund code"}}]},
  {"tool_calls":[{"name":"read_events","arguments":{"from_seq":2499,"to_seq":2501}}]},
  {"tool_calls":[{"name":"record_code","arguments":{"object":{"code":"ZEBRA-77"},"evidence":[99999]}}]},
  {"tool_calls":[{"name":"record_code","arguments":{"object":{"code":"ZEBRA-77"},"evidence":[2502]}}]}]}]}'
r=$(inv "'reader', 3")
is "long transcript: the run succeeds" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['code']['code']")" "succeeded ZEBRA-77"
first="d[0]['body']['messages'][1]['content']"
ok "long transcript: the prompt stays within the budget (~20,000 bytes)" test "$(ms_py "len($first)")" -lt 21000
like "long transcript: an explicit marker names what was left out" "$(ms_py "$first")" 'events left out here.*read_events'
unlike "long transcript: the middle is not in the prompt" "$(ms_py "$first")" 'ZEBRA'
is "long transcript: read_events and search_events are offered" "$(ms_py "sorted(t['function']['name'] for t in d[0]['body']['tools'])")" "['read_events', 'record_code', 'search_events']"
like "long transcript: search_events finds the event" "$(ms_py "d[1]['body']['messages'][-1]['content']")" '"seq": 2500.*ZEBRA-77'
like "long transcript: read_events returns the range" "$(ms_py "d[2]['body']['messages'][-1]['content']")" '"seq": 2499.*"seq": 2500.*"seq": 2501'
like "evidence: an id that is not an event of this conversation is rejected" "$(ms_py "d[3]['body']['messages'][-1]['content']")" 'at /evidence/0: event #99999 is not an event of this conversation'
is "evidence: the repaired object is stored with its evidence" "$(q "SELECT value->>'code' || ' ' || evidence::text FROM pa.outputs WHERE name = 'code'" -d $DB)" "ZEBRA-77 {2502}"
is "evidence: the record tool asks for the object and its evidence" "$(ms_py "[t['function']['parameters']['required'] for t in d[0]['body']['tools'] if t['function']['name']=='record_code'][0]")" "['object', 'evidence']"

# Cost ceiling: stop before a call that could go past max_cost_usd; what was spent is recorded.
ms_scenario '{"rules":[{"match":{"contains":"Think a lot"},"responses":[
  {"tool_calls":[{"name":"record_r","arguments":{"x":1}}],"usage":{"input_tokens":20000,"output_tokens":800}}],"repeat_last":true}]}'
q "SELECT pa_alter_agent('pricey', finish_when_recorded => false)" -d $DB >/dev/null
r=$(inv "'pricey', 1")
is "cost ceiling: the run stops, failed, with the reason" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code']")" "failed cost_ceiling"
like "cost ceiling: the message says what the next call could cost" "$(jq_ "$r" "d['error']['message']")" 'could cost up to .* past max_cost_usd \$0.050000 \(spent so far: \$0.046400\)'
is "cost ceiling: the spend is recorded and under the ceiling" "$(q "SELECT cost_usd::numeric(10,6) || ' ' || (cost_usd <= 0.05) FROM pa.runs WHERE id = $(jq_ "$r" "d['run_id']")" -d $DB)" "0.046400 true"
is "cost ceiling: only one model call was made" "$(ms_py "len(d)")" "1"

# Streaming: thinking over SSE, signatures round-tripped; a stalled stream; progress while it runs.
q "SELECT pa_create_provider('an0', 'anthropic', base_url => '$PA_MODEL_URL', api_key => '$PA_MODEL_KEY', options => '{\"max_retries\": 0}');
   SELECT pa_create_model('an0', 'claude-test', 3, 15);
   SELECT pa_create_agent('thinker', 'Think, then decide.', 'an0', 'claude-test',
     '{\"decision\": {\"schema\": {\"type\": \"object\", \"required\": [\"line\"], \"properties\": {\"line\": {\"type\": \"string\"}}}}}',
     tools => '{}', thinking_budget => 2048, max_output_tokens => 8192, planning => 'none', finish_when_recorded => false)" -d $DB >/dev/null
ms_scenario '{"rules":[{"match":{"contains":"Think, then decide"},"responses":[
  {"thinking":"Let me weigh the lines carefully.","tool_calls":[{"name":"record_decision","arguments":{"line":"billing"}}]},
  {"thinking":"All recorded.","text":"Done."}]}]}'
r=$(inv "'thinker', 1")
is "stream: the run succeeds" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['decision']['line']")" "succeeded billing"
is "stream: both calls were streamed" "$(ms_py "[x['body'].get('stream') for x in d]")" "[True, True]"
is "stream: the thinking block and its signature (assembled from deltas) went back unchanged" \
   "$(ms_py "[b['type'] for b in d[1]['body']['messages'][1]['content']] + [d[1]['body']['messages'][1]['content'][0]['thinking']]")" \
   "['thinking', 'tool_use', 'Let me weigh the lines carefully.']"
is "stream: the server verified the signature" "$(ms_py "[x['status'] for x in d]")" "[200, 200]"
ok "stream: usage came from the stream" test "$(q "SELECT output_tokens FROM pa.runs WHERE id = $(jq_ "$r" "d['run_id']")" -d $DB)" -gt 0
ms_scenario '{"rules":[{"match":{"contains":"Think, then decide"},"responses":[{"thinking":"hmm","text":"x","fault":"stall","after":3}]}]}'
start=$(date +%s%N)
r=$(q "SET procedural_agent.stream_idle_timeout = 1; SELECT pa_invoke('thinker', 1)" -d $DB)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "stalled stream: the run fails cleanly as a timeout" "$(jq_ "$r" "d['status'] + ' ' + d['error']['code']")" "failed timeout"
ok "stalled stream: after the idle timeout, not the run's (took ${ms} ms)" test "$ms" -lt 4000
ms_scenario '{"rules":[{"match":{"contains":"Think, then decide"},"responses":[
  {"thinking":"slow thoughts one by one","text":"a b c d e f g h","event_delay_ms":250,
   "tool_calls":[{"name":"record_decision","arguments":{"line":"tech"}}]},{"text":"Done."}]}]}'
psql -X -q -d $DB -c "SELECT pa_invoke('thinker', 1)" >/dev/null 2>&1 &
bg=$!
seen=""
for i in $(seq 1 30); do
    sleep 0.2
    seen=$(q "SELECT agent || ' ' || streaming || ' ' || (events > 0) || ' ' || (seconds > 0) FROM pa.calls_in_progress LIMIT 1" -d $DB)
    [ "$seen" = "thinker true true true" ] && break
done
wait $bg
is "progress: a slow stream is visible while it runs (events, seconds)" "$seen" "thinker true true true"
is "progress: nothing is left in flight afterwards" "$(q "SELECT count(*) FROM pa.calls_in_progress" -d $DB)" "0"
ms_scenario '{"rules":[{"match":{"contains":"Notify the ops"},"responses":[
  {"tool_calls":[{"name":"record_done","arguments":{"ok":true}}],"usage":{"input_tokens":10,"output_tokens":3}}]}]}'
r=$(q "SET procedural_agent.stream_min_output_tokens = 0; SELECT pa_invoke('notifier', 1)" -d $DB)
is "stream: OpenAI streams too, asking for usage" "$(jq_ "$r" "d['status']") $(ms_py "[d[0]['body'].get('stream'), d[0]['body'].get('stream_options')]")" "succeeded [True, {'include_usage': True}]"
is "stream: OpenAI usage from the final chunk" "$(jq_ "$r" "d['usage']['input_tokens'], d['usage']['output_tokens']")" "10 3"

# Analytics: the view's figures match the ledger.
view=$(q "SELECT agent || ':' || version || ':' || runs || ':' || succeeded || ':' || failed || ':' || input_tokens || ':' || round(cost_usd, 6) FROM pa.agent_version_stats WHERE agent = 'memo'" -d $DB)
ledger=$(q "SELECT 'memo:1:' || count(*) || ':' || count(*) FILTER (WHERE status = 'succeeded') || ':' || count(*) FILTER (WHERE status = 'failed') || ':' || sum(input_tokens) || ':' || round(sum(cost_usd), 6) FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'memo'" -d $DB)
is "analytics: runs by status, tokens and cost match the ledger" "$view" "$ledger"
is "analytics: durations are there" "$(q "SELECT p50_seconds > 0 AND p95_seconds >= p50_seconds FROM pa.agent_version_stats WHERE agent = 'memo'" -d $DB)" "t"
q "DROP DATABASE $DB" >/dev/null
finish
