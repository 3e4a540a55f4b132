# The model fault matrix: each fault, for each provider it applies to, on
# a pa_invoke run (the same model-call code serves the worker). Each case
# ends in its documented state (README "Running an agent", steps 3 and 5)
# with a clear error in pa.runs, and nothing crashes: the server log shows
# no backend that died, and the connection still works afterwards.
. test/lib/tap.sh
DB=pa_it_faults
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
log_lines0=$(wc -l < "$PA_PG_LOG")

# Short timeouts and one retry keep the hanging cases quick.
setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY',
  options => '{"timeout_ms": 1500, "max_retries": 1}');
SELECT pa_create_provider('an', 'anthropic', base_url => '$PA_MODEL_URL', api_key => '$PA_MODEL_KEY',
  options => '{"timeout_ms": 1500, "max_retries": 1}');
SELECT pa_create_provider('dead', 'openai', base_url => 'http://127.0.0.1:1/v1', api_key => 'k',
  options => '{"max_retries": 1}');
SELECT pa_create_model('oa', 'gpt-test', input_price => 1, output_price => 1);
SELECT pa_create_model('an', 'claude-test', input_price => 1, output_price => 1);
SELECT pa_create_model('dead', 'gpt-test', input_price => 1, output_price => 1);
CREATE FUNCTION public.lookup_order(order_id bigint) RETURNS jsonb LANGUAGE sql
  AS \$\$ SELECT jsonb_build_object('order', order_id, 'status', 'shipped') \$\$;
SELECT pa_create_tool('lookup_order', 'sql', function => 'public.lookup_order(bigint)');
SELECT pa_create_agent('f_openai', 'Answer.', 'oa', 'gpt-test',
  '{"answer": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  tools => '{lookup_order}', planning => 'none', max_repairs => 1);
SELECT pa_create_agent('f_anthropic', 'Answer.', 'an', 'claude-test',
  '{"answer": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  tools => '{lookup_order}', planning => 'none', max_repairs => 1);
SELECT pa_create_agent('f_dead', 'Answer.', 'dead', 'gpt-test',
  '{"answer": {"schema": {"type": "object"}}}', planning => 'none');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: an agent per provider, one on a closed port" test $rc -eq 0

OK_ANSWER='{"tool_calls":[{"name":"record_answer","arguments":{"text":"ok"}}]}'

# case AGENT SCENARIO: run it; prints status|error_code|error_message|steps
# where steps lists the run's ledger steps as kind:name:http_status:ok|error.
case_run() {
    ms_scenario "$2" || echo "scenario refused"
    q "SELECT pa_invoke('$1')" -d $DB >/dev/null 2>&1
    q "SELECT r.status || '|' || coalesce(r.error_code, '') || '|' || coalesce(r.error_message, '') || '|' ||
              coalesce((SELECT string_agg(s.kind || ':' || coalesce(s.name, '') || ':' || coalesce(s.http_status::text, '')
                                          || ':' || s.status, ' ' ORDER BY s.step)
                          FROM pa.run_steps s WHERE s.run_id = r.id), '')
         FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = '$1' ORDER BY r.id DESC LIMIT 1" -d $DB
}
# then SPEC: a scenario answering SPEC first, then the good answer.
then_ok() { echo "{\"rules\":[{\"responses\":[$1,$OK_ANSWER],\"repeat_last\":true}]}"; }
always() { echo "{\"rules\":[{\"responses\":[$1],\"repeat_last\":true}]}"; }

# tool_results: the tool results the model got in the last request, one per line.
tool_results() {
    ms_py "'\\n'.join(
        [m['content'] if isinstance(m['content'], str) else json.dumps(m['content']) for m in d[-1]['body']['messages'] if m['role'] == 'tool']
        if d[-1]['provider'] == 'openai' else
        [json.dumps(b.get('content')) for m in d[-1]['body']['messages'] if isinstance(m['content'], list)
         for b in m['content'] if b.get('type') == 'tool_result'])"
}
# gap: seconds between the first two model requests
gap() { ms_py "round(d[1]['time'] - d[0]['time'], 2)"; }

RETRIED_OK='^succeeded\|\|\|model:retry:%s:error model::200:ok$'
for p in openai anthropic; do
    a=f_$p
    like "$p, 429 with retry-after: retried, then succeeds" \
         "$(case_run $a "$(then_ok '{"status": 429, "retry_after": 1}')")" "$(printf "$RETRIED_OK" 429)"
    ok "$p, 429 with retry-after 1: the retry waited for it ($(gap) s)" \
         /usr/bin/python3 -c "import sys; sys.exit(0 if float('$(gap)') >= 0.95 else 1)"
    like "$p, 429 without retry-after: retried with backoff, then succeeds" \
         "$(case_run $a "$(then_ok '{"status": 429}')")" "$(printf "$RETRIED_OK" 429)"
    like "$p, 429 every time: fails after max_retries with the provider's message" \
         "$(case_run $a "$(always '{"status": 429, "retry_after": 1}')")" \
         '^failed\|model_error\|HTTP 429 rate_limit_(exceeded|error): .+\|model:retry:429:error model::429:error$'
    like "$p, 500: retried, then succeeds" "$(case_run $a "$(then_ok '{"status": 500}')")" "$(printf "$RETRIED_OK" 500)"
    like "$p, 503: retried, then succeeds" "$(case_run $a "$(then_ok '{"status": 503}')")" "$(printf "$RETRIED_OK" 503)"
    like "$p, other 4xx (400): fails at once with the provider's message" \
         "$(case_run $a "$(then_ok '{"status": 400, "message": "bad thing"}')")" \
         '^failed\|model_error\|HTTP 400 invalid_request_error: bad thing\|model::400:error$'
    like "$p, connection reset mid-body: retried, then succeeds" \
         "$(case_run $a "$(then_ok '{"fault": "reset_mid_body"}')")" "$(printf "$RETRIED_OK" 200)"
    like "$p, connection dropped (TCP reset): retried, then succeeds" \
         "$(case_run $a "$(then_ok '{"fault": "drop", "rst": true}')")" "$(printf "$RETRIED_OK" "")"
    like "$p, no answer at all: timeout, retried, then fails (timeout)" \
         "$(case_run $a "$(always '{"fault": "hang"}')")" \
         '^failed\|timeout\|model call failed: Timeout was reached: Operation timed out after 15[0-9][0-9] milliseconds with 0 bytes received\|model:retry::error model:::error$'
    like "$p, an answer that never ends: timeout, retried, then fails (timeout)" \
         "$(case_run $a "$(always '{"fault": "stall"}')")" \
         '^failed\|timeout\|model call failed: Timeout was reached: .* out of [0-9]+ bytes received\|model:retry:200:error model::200:error$'
    like "$p, truncated JSON: fails at once (not valid JSON, where)" \
         "$(case_run $a "$(then_ok '{"fault": "truncated_json"}')")" \
         '^failed\|model_error\|invalid response from the model: response is not valid JSON: premature end of input .*\|model::200:error$'
    like "$p, a body that is not JSON: fails at once" \
         "$(case_run $a "$(then_ok '{"fault": "non_json"}')")" \
         "^failed\\|model_error\\|invalid response from the model: response is not valid JSON: invalid token near '<' .*\\|model::200:error$"
    like "$p, valid JSON of the wrong shape: fails at once, saying what is missing" \
         "$(case_run $a "$(then_ok '{"fault": "wrong_shape"}')")" \
         '^failed\|model_error\|invalid response from the model: response has no (choices\[0\]\.message|content array)\|model::200:error$'
    like "$p, a 10 MB answer: refused past max_response_bytes, not retried" \
         "$(case_run $a "$(always '{"fault": "huge", "bytes": 10485760}')")" \
         '^failed\|model_error\|model call failed: response larger than 8388608 bytes\|model::200:error$'
    like "$p, tool call with malformed JSON arguments: the model is told, then succeeds" \
         "$(case_run $a "$(then_ok '{"tool_calls":[{"name":"record_answer","arguments":"{not json"}]}')")" '^succeeded\|\|\|model::200:ok model::200:ok$'
    like "$p, ... the tool result says the arguments are not JSON" "$(tool_results)" "(not valid JSON|invalid JSON|not a JSON object)"
    like "$p, unknown tool name: not run, the model is told, then succeeds" \
         "$(case_run $a "$(then_ok '{"tool_calls":[{"name":"drop_tables","arguments":{}}]}')")" '^succeeded\|\|\|model::200:ok model::200:ok$'
    like "$p, ... the tool result names the unknown tool" "$(tool_results)" "drop_tables"
    like "$p, arguments violating the tool's schema: not run, the model is told, then succeeds" \
         "$(case_run $a "$(then_ok '{"tool_calls":[{"name":"lookup_order","arguments":{"order_id":"abc"}}]}')")" '^succeeded\|\|\|model::200:ok model::200:ok$'
    r=$(tool_results)
    like "$p, ... the tool result is the validation error at /order_id" "$r" "order_id"
    unlike "$p, ... and the function was not called" "$r" "shipped"
    like "$p, an output violating its schema: repaired, then succeeds" \
         "$(case_run $a "$(then_ok '{"tool_calls":[{"name":"record_answer","arguments":{"text":5}}]}')")" '^succeeded\|\|\|model::200:ok model::200:ok$'
    like "$p, ... the repair request names the path and the rule" "$(tool_results)" "/text.*(string|type)"
    is "$p, ... and only the valid object is recorded" \
       "$(q "SELECT string_agg(o.value->>'text', ',') FROM pa.outputs o WHERE o.run_id = (SELECT max(id) FROM pa.runs)" -d $DB)" "ok"
    like "$p, still invalid after max_repairs: fails (invalid_output)" \
         "$(case_run $a "$(always '{"tool_calls":[{"name":"record_answer","arguments":{"text":5}}]}')")" \
         '^failed\|invalid_output\|output answer is still invalid after 1 repair attempts\|model::200:ok model::200:ok$'
    is "$p, ... the rejected object is kept in error_detail, nothing recorded" \
       "$(q "SELECT (error_detail->'last_invalid') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pa.outputs o WHERE o.run_id = r.id)
             FROM pa.runs r WHERE id = (SELECT max(id) FROM pa.runs)" -d $DB)" "t"
    like "$p, a refusal: fails (refusal)" "$(case_run $a "$(always '{"refusal": "I cannot help with that."}')")" \
         '^failed\|refusal\|the model refused to carry out the procedure\|model::200:ok$'
    like "$p, finish_reason length / stop_reason max_tokens: fails (truncated)" \
         "$(case_run $a "$(always '{"text": "cut", "stop": "max_tokens"}')")" \
         "^failed\\|truncated\\|the model's answer was cut off at max_output_tokens and cannot be used\\|model::200:ok$"
done
like "anthropic, 529 overloaded: retried, then succeeds" \
     "$(case_run f_anthropic "$(then_ok '{"status": 529}')")" "$(printf "$RETRIED_OK" 529)"
like "connection refused: retried, then fails with curl's reason" "$(case_run f_dead '{}')" \
     "^failed\\|model_error\\|model call failed: Couldn't connect to server.*\\|model:retry::error model:::error$"

# Nothing crashed: no backend died, the session still works.
crashes=$(tail -n +"$log_lines0" "$PA_PG_LOG" | grep -cE "terminated by signal|was terminated by|PANIC|TRAP:")
is "no backend crashed during the fault matrix" "$crashes" "0"
is "the server still answers" "$(q "SELECT count(*) > 0 FROM pa.runs" -d $DB)" "t"
finish
