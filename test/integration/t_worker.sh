# The background worker: termination trigger (outcome filter, condition,
# rollback, dedup), pa_enqueue / pa_wait / pa_cancel, concurrency (200
# runs against a 1 s model with max_concurrent_runs 100), SIGHUP, 429
# isolation between providers, tools (SQL, HTTP with idempotency key,
# agent tool as a nested run), versions (draft, backfill, compare,
# release switching the trigger), pg_stat_activity and pa_workers().
. test/lib/tap.sh
DB=pa_it_worker
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "DROP ROLE IF EXISTS pa_wk_owner; CREATE ROLE pa_wk_owner LOGIN" >/dev/null
q "DROP ROLE IF EXISTS pa_wk_other; CREATE ROLE pa_wk_other LOGIN" >/dev/null
q "ALTER SYSTEM SET procedural_agent.http_tool_allow_private = on" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

now_ms() { date +%s%3N; }
# cpu_ms PID: CPU time (user + system) a process has used, in ms.
cpu_ms() { awk '{ print ($14 + $15) * 1000 / 100 }' "/proc/$1/stat"; }
worker_pid() { q "SELECT pid FROM pa_workers() WHERE database = current_database()" -d $DB; }
# enqueue_wait 'ARGS' [TIMEOUT]: pa_enqueue(ARGS), committed, then pa_wait.
enqueue_wait() {
    local id
    id=$(q "SELECT pa_enqueue($1)" -d $DB) || { echo "$id"; return; }
    q "SELECT pa_wait($id, '${2:-10 s}')" -d $DB
}

setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_provider('an', 'anthropic', base_url => '$PA_MODEL_URL', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8);
SELECT pa_create_model('an', 'claude-test', input_price => 3, output_price => 15);
SELECT pa_grant_provider('oa', 'pa_wk_owner');
SELECT pa_grant_provider('an', 'pa_wk_owner');
-- the worker reads a conversation as the agent's owner
GRANT SELECT ON pa.conversations, pa.events, pa.customers, pa.customer_memory TO pa_wk_owner;
CREATE SCHEMA app AUTHORIZATION pa_wk_owner;
SET ROLE pa_wk_owner;
CREATE FUNCTION app.lookup_order(order_id bigint) RETURNS jsonb LANGUAGE sql
  AS \$\$ SELECT jsonb_build_object('order', order_id, 'status', 'lost') \$\$;
SELECT pa_create_tool('lookup_order', 'sql', function => 'app.lookup_order(bigint)');
SELECT pa_create_tool('notify', 'http', url => '$PA_MODEL_URL/hooks/notify',
  parameters => '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}');
SELECT pa_create_agent('summary', 'Summarise the conversation.', 'oa', 'gpt-test',
  '{"summary": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  planning => 'none', trigger_outcomes => '{resolved,escalated}');
SELECT pa_create_agent('voice_only', 'Score the call.', 'oa', 'gpt-test',
  '{"score": {"schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}',
  planning => 'none', trigger_outcomes => '{*}', trigger_condition => 'c.channel = ''voice''');
SELECT pa_create_agent('fast', 'Answer.', 'an', 'claude-test',
  '{"answer": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  planning => 'none');
SELECT pa_create_agent('tooled', 'Look up the order, notify, record.', 'oa', 'gpt-test',
  '{"ticket": {"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}}}',
  tools => '{lookup_order,notify}', planning => 'none');
SELECT pa_create_tool('ask_fast', 'agent', agent => 'fast', description => 'Ask the fast agent');
SELECT pa_create_agent('boss', 'Delegate, then record.', 'oa', 'gpt-test',
  '{"decision": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  tools => '{ask_fast}', planning => 'none');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: providers, tools and agents (owned by a non-superuser)" test $rc -eq 0
ok "a worker serves this database (pa_workers)" wait_until \
   "SELECT EXISTS (SELECT 1 FROM pa_workers() WHERE database = current_database())" 20

# The model: record whatever output is offered, after an optional delay.
SUMMARY='{"tool_calls":[{"name":"record_summary","arguments":{"text":"done"}}]}'
ms_scenario '{"rules":[
  {"match":{"has_tool":"record_summary"},"responses":[{"tool_calls":[{"name":"record_summary","arguments":{"text":"done"}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_score"},"responses":[{"tool_calls":[{"name":"record_score","arguments":{"n":7}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_answer","contains":"slow-please"},"responses":[{"delay_ms":5000,"tool_calls":[{"name":"record_answer","arguments":{"text":"late"}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_answer"},"responses":[{"tool_calls":[{"name":"record_answer","arguments":{"text":"42"}}]}],"repeat_last":true}]}'

# 1. Termination by UPDATE: the trigger queues the run; the worker runs it.
q "INSERT INTO pa.conversations (external_id, channel) VALUES ('w-1', 'voice');
   INSERT INTO pa.events (conversation_id, kind, role, content) VALUES (1, 'message', 'customer', 'Where is my parcel w-1?')" -d $DB >/dev/null
t0=$(now_ms)
q "UPDATE pa.conversations SET status = 'terminated', outcome = 'resolved', ended_at = now() WHERE id = 1" -d $DB >/dev/null
ok "termination: the run succeeds" wait_until \
   "SELECT status = 'succeeded' FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'summary' AND r.conversation_id = 1" 10
echo "# termination to outputs: $(( $(now_ms) - t0 )) ms"
is "termination: origin trigger, one output" \
   "$(q "SELECT r.origin || ' ' || count(o.*) FROM pa.runs r JOIN pa.outputs o ON o.run_id = r.id JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'summary' GROUP BY r.origin" -d $DB)" "trigger 1"
is "termination: the model saw the conversation" \
   "$(ms_py "sum(1 for r in d if 'Where is my parcel w-1?' in json.dumps(r['body']) and 'record_summary' in json.dumps(r['body']))")" "1"
is "condition true (voice): voice_only ran too" \
   "$(q "SELECT r.status FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'voice_only' AND r.conversation_id = 1" -d $DB)" "succeeded"

# 2. INSERTed already terminated; outcome filter; condition false; rollback.
q "INSERT INTO pa.conversations (external_id, channel, status, outcome) VALUES ('w-2', 'chat', 'terminated', 'escalated')" -d $DB >/dev/null
q "INSERT INTO pa.conversations (external_id, channel, status, outcome) VALUES ('w-3', 'chat', 'terminated', 'abandoned')" -d $DB >/dev/null
q "BEGIN; INSERT INTO pa.conversations (external_id, status, outcome) VALUES ('w-rolled-back', 'terminated', 'resolved'); ROLLBACK" -d $DB >/dev/null
ok "inserted terminated: its run succeeds" wait_until \
   "SELECT bool_and(r.status = 'succeeded') AND count(*) = 1 FROM pa.runs r JOIN pa.conversations c ON c.id = r.conversation_id JOIN pa.agents a ON a.id = r.agent_id WHERE c.external_id = 'w-2' AND a.name = 'summary'" 10
ok "condition false (chat): the run ends skipped" wait_until \
   "SELECT bool_and(r.status = 'skipped') AND count(*) = 2 FROM pa.runs r JOIN pa.conversations c ON c.id = r.conversation_id JOIN pa.agents a ON a.id = r.agent_id WHERE c.external_id IN ('w-2', 'w-3') AND a.name = 'voice_only'" 10
is "outcome filter: 'abandoned' queued no summary run" \
   "$(q "SELECT count(*) FROM pa.runs r JOIN pa.conversations c ON c.id = r.conversation_id JOIN pa.agents a ON a.id = r.agent_id WHERE c.external_id = 'w-3' AND a.name = 'summary'" -d $DB)" "0"
is "rollback: no run for the rolled-back conversation" \
   "$(q "SELECT count(*) FROM pa.runs WHERE conversation_id NOT IN (SELECT id FROM pa.conversations)" -d $DB)" "0"
q "UPDATE pa.conversations SET metadata = '{\"x\": 1}' WHERE id = 1; UPDATE pa.conversations SET status = 'terminated' WHERE id = 1" -d $DB >/dev/null
is "terminated again: no second run (each agent once per conversation)" \
   "$(q "SELECT count(*) FROM pa.runs WHERE conversation_id = 1" -d $DB)" "2"

# 3. pa_enqueue / pa_wait: the result has pa_invoke's shape.
res=$(enqueue_wait "'fast', input => '{\"q\": \"life\"}'")
is "pa_enqueue + pa_wait: succeeded with the output" "$(jq_ "$res" "d['status'], d['outputs']['answer']['text'], d['run_id'] > 0")" "succeeded 42 True"
like "pa_wait: usage and cost as pa_invoke reports them" "$res" '"usage": \{.*"cost_usd"'
out=$(q "BEGIN; SELECT pa_wait(pa_enqueue('fast'), '1 s'); ROLLBACK" -d $DB)
like "pa_wait in the enqueuing transaction: a clear error" "$out" "enqueued by this transaction"
out=$(q "SELECT pa_enqueue('nope')" -d $DB)
like "pa_enqueue of an unknown agent: 42704" "$out" 'agent "nope" does not exist'
out=$(q "SELECT pa_enqueue('fast', input => '[1]')" -d $DB)
like "pa_enqueue with a non-object input: refused" "$out" "input must be a JSON object"
a=$(q "SELECT pa_enqueue('fast', dedup_key => 'k1')" -d $DB); b=$(q "SELECT pa_enqueue('fast', dedup_key => 'k1')" -d $DB)
is "pa_enqueue dedup_key: the same run id" "$a" "$b"
out=$(q "SELECT pa_wait(123456789, '1 s')" -d $DB)
like "pa_wait of an unknown run: 42704" "$out" "run 123456789 does not exist"
out=$(psql -X -A -t -q -d $DB -c "SET ROLE pa_wk_other" -c "SELECT pa_wait($a, '1 s')" 2>&1)
like "pa_wait as another role that may not see the run: does not exist" "$out" "does not exist"

# 4. pa_cancel: a queued run (delayed) and a running one (slow model).
id=$(q "SELECT pa_enqueue('fast', run_after => now() + interval '1 hour')" -d $DB)
is "pa_cancel of a queued run: true" "$(q "SELECT pa_cancel($id)" -d $DB)" "t"
is "cancelled queued run" "$(q "SELECT status FROM pa.runs WHERE id = $id" -d $DB)" "cancelled"
id=$(q "SELECT pa_enqueue('fast', input => '{\"q\": \"slow-please\"}')" -d $DB)
wait_until "SELECT status = 'running' AND started_at < clock_timestamp() - interval '300 ms' FROM pa.runs WHERE id = $id" 5
t0=$(now_ms)
q "SELECT pa_cancel($id)" -d $DB >/dev/null
ok "pa_cancel of a running run: cancelled well before the model answers" wait_until \
   "SELECT status = 'cancelled' FROM pa.runs WHERE id = $id" 3
echo "# cancel took $(( $(now_ms) - t0 )) ms"
is "cancelled run: no output" "$(q "SELECT count(*) FROM pa.outputs WHERE run_id = $id" -d $DB)" "0"
is "pa_cancel of a finished run: false" "$(q "SELECT pa_cancel($id)" -d $DB)" "f"

# 5. 200 runs, model latency 1 s, max_concurrent_runs 100 (the default).
ms_scenario '{"rules":[{"match":{"has_tool":"record_answer"},"responses":[{"delay_ms":1000,"tool_calls":[{"name":"record_answer","arguments":{"text":"ok"}}]}],"repeat_last":true}]}'
t0=$(now_ms)
q "SELECT count(pa_enqueue('fast', input => jsonb_build_object('i', i))) FROM generate_series(1, 200) i" -d $DB >/dev/null
ok "200 runs at 1 s latency: all succeed" wait_until \
   "SELECT count(*) = 200 FROM pa.runs WHERE status = 'succeeded' AND input ? 'i'" 60
ms=$(( $(now_ms) - t0 ))
echo "# 200 runs x 1 s at concurrency 100: $ms ms"
ok "200 runs at 1 s latency finish in seconds (< 8 s), not minutes" test "$ms" -lt 8000
is "200 runs: one output each" "$(q "SELECT count(*) FROM pa.outputs o JOIN pa.runs r ON r.id = o.run_id WHERE r.input ? 'i'" -d $DB)" "200"

# 6. SIGHUP: max_concurrent_runs 5 caps runs in flight.
q "ALTER SYSTEM SET procedural_agent.max_concurrent_runs = 5" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
q "SELECT count(pa_enqueue('fast', input => jsonb_build_object('j', i))) FROM generate_series(1, 15) i" -d $DB >/dev/null
peak=0
wpid=$(worker_pid); c0=$(cpu_ms $wpid)
for i in $(seq 1 20); do
    n=$(q "SELECT count(*) FROM pa.runs WHERE status = 'running' AND input ? 'j'" -d $DB)
    [ "$n" -gt "$peak" ] && peak=$n
    sleep 0.1
done
cpu=$(( $(cpu_ms $wpid) - c0 ))
echo "# peak in flight with max_concurrent_runs 5: $peak; worker CPU over ~2.5 s at capacity: ${cpu} ms"
ok "SIGHUP: max_concurrent_runs 5 is honoured (peak $peak)" test "$peak" -le 5 -a "$peak" -ge 3
ok "at capacity with more queued, the worker waits instead of spinning (${cpu} ms CPU)" test "$cpu" -lt 500
ok "SIGHUP: the 15 runs complete" wait_until "SELECT count(*) = 15 FROM pa.runs WHERE status = 'succeeded' AND input ? 'j'" 20
q "ALTER SYSTEM RESET procedural_agent.max_concurrent_runs" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null

# 7. 429 on one provider (retry-after 2) never stalls the other.
ms_scenario '{"rules":[
  {"match":{"provider":"openai","has_tool":"record_summary"},"responses":[{"status":429,"retry_after":2},{"tool_calls":[{"name":"record_summary","arguments":{"text":"after 429"}}]}]},
  {"match":{"provider":"anthropic"},"responses":[{"tool_calls":[{"name":"record_answer","arguments":{"text":"quick"}}]}],"repeat_last":true}]}'
t0=$(now_ms)
slow=$(q "SELECT pa_enqueue('summary')" -d $DB)
sleep 0.3
quick=$(q "SELECT pa_enqueue('fast', input => '{\"p\": 1}')" -d $DB)
ok "429: the other provider's run succeeds meanwhile" wait_until "SELECT status = 'succeeded' FROM pa.runs WHERE id = $quick" 5
quick_ms=$(( $(now_ms) - t0 ))
cool=$(q "SELECT cooldowns->'oa'->>'cooling_down' FROM pa_workers() WHERE database = current_database()" -d $DB)
ok "429: the other provider was not held up (${quick_ms} ms)" test "$quick_ms" -lt 1800
is "429: pa_workers() shows the provider cooling down" "$cool" "true"
is "429: while it waits, its checkpoint counts the retry's ledger row (a resume numbers after it)" \
   "$(q "SELECT (checkpoint->>'ledger_steps')::int = (SELECT count(*) FROM pa.run_steps s WHERE s.run_id = r.id) FROM pa.runs r WHERE id = $slow AND status = 'running'" -d $DB)" "t"
ok "429: the rate-limited run succeeds after retry-after" wait_until "SELECT status = 'succeeded' FROM pa.runs WHERE id = $slow" 10
is "429: waited at least retry-after (2 s) between the attempts" \
   "$(q "SELECT extract(epoch FROM max(started_at) - min(started_at)) >= 1.9 FROM pa.run_steps WHERE run_id = $slow AND kind = 'model'" -d $DB)" "t"
is "429: the retry is in the ledger" "$(q "SELECT count(*) FROM pa.run_steps WHERE run_id = $slow AND name = 'retry' AND http_status = 429" -d $DB)" "1"

# 8. Tools in the worker: SQL as the owner, HTTP with an idempotency key, an agent tool.
ms_scenario '{"rules":[
  {"match":{"has_tool":"lookup_order","turn":1},"responses":[{"tool_calls":[{"name":"lookup_order","arguments":{"order_id":42}},{"name":"notify","arguments":{"text":"order 42 lost"}}]}]},
  {"match":{"has_tool":"lookup_order"},"responses":[{"tool_calls":[{"name":"record_ticket","arguments":{"title":"Lost order 42"}}]}]},
  {"match":{"has_tool":"ask_fast","turn":1},"responses":[{"tool_calls":[{"name":"ask_fast","arguments":{}}]}]},
  {"match":{"has_tool":"ask_fast"},"responses":[{"tool_calls":[{"name":"record_decision","arguments":{"text":"delegated"}}]}]},
  {"match":{"has_tool":"record_answer"},"responses":[{"tool_calls":[{"name":"record_answer","arguments":{"text":"from the child"}}]}],"repeat_last":true}]}'
res=$(enqueue_wait "'tooled'")
is "tools: the run succeeds with its ticket" "$(jq_ "$res" "d['status'], d['outputs']['ticket']['title']")" "succeeded Lost order 42"
run=$(jq_ "$res" "d['run_id']")
is "tools: the SQL tool's result went back to the model" \
   "$(ms_py "sum(1 for r in d if '\\\\\"status\\\\\": \\\\\"lost\\\\\"' in json.dumps(r['body']))" )" "1"
is "tools: the HTTP tool was called once, with the run's idempotency key" \
   "$(ms_py "[r['headers'].get('idempotency-key','').startswith('pa-run-$run-') for r in d if r['path'] == '/hooks/notify']")" "[True]"
res=$(enqueue_wait "'boss'")
is "agent tool: the parent succeeds" "$(jq_ "$res" "d['status'], d['outputs']['decision']['text']")" "succeeded delegated"
run=$(jq_ "$res" "d['run_id']")
is "agent tool: the nested run is a child run of origin agent_tool" \
   "$(q "SELECT origin || ' ' || status || ' ' || depth FROM pa.runs WHERE parent_run_id = $run" -d $DB)" "agent_tool succeeded 1"
like "agent tool: the child's outputs came back as the tool result" \
   "$(q "SELECT response::text FROM pa.run_steps WHERE run_id = $run AND kind = 'tool'" -d $DB)" 'from the child'

# 9. Versions: a draft runs only when named; backfill; compare; release switches the trigger.
ms_scenario '{"rules":[
  {"match":{"contains":"Summarise briefly"},"responses":[{"tool_calls":[{"name":"record_summary","arguments":{"text":"v2"}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_summary"},"responses":[{"tool_calls":[{"name":"record_summary","arguments":{"text":"done"}}]}],"repeat_last":true}]}'
is "draft: pa_alter_agent(release => false) makes version 2" \
   "$(q "SELECT pa_alter_agent('summary', instructions => 'Summarise briefly.', release => false)" -d $DB)" "2"
q "INSERT INTO pa.conversations (external_id, status, outcome) VALUES ('w-4', 'terminated', 'resolved')" -d $DB >/dev/null
ok "draft: the trigger still runs version 1" wait_until \
   "SELECT r.agent_version = 1 AND r.status = 'succeeded' FROM pa.runs r JOIN pa.conversations c ON c.id = r.conversation_id JOIN pa.agents a ON a.id = r.agent_id WHERE c.external_id = 'w-4' AND a.name = 'summary'" 10
n=$(q "SELECT pa_backfill('summary', version => 2, since => now() - interval '1 hour')" -d $DB)
is "backfill: version 2 queued over the 4 conversations that ended" "$n" "4"
ok "backfill: the runs succeed" wait_until "SELECT count(*) = 4 FROM pa.runs WHERE origin = 'backfill' AND status = 'succeeded'" 10
is "backfill again: nothing left to do" "$(q "SELECT pa_backfill('summary', version => 2, since => now() - interval '1 hour')" -d $DB)" "0"
is "backfill with redo: all again" "$(q "SELECT pa_backfill('summary', version => 2, since => now() - interval '1 hour', redo => true)" -d $DB)" "4"
out=$(q "SELECT pa_backfill('summary')" -d $DB)
like "backfill without a range: refused with a hint" "$out" "needs a time range or a list"
wait_until "SELECT count(*) = 0 FROM pa.runs WHERE origin = 'backfill' AND status IN ('queued', 'running')" 10
is "compare: field by field over the 3 conversations both versions did" \
   "$(q "SELECT string_agg(format('%s:%s:%s', field, value_a, value_b), ',' ORDER BY conversation_id) FROM pa_compare_versions('summary', 1, 2)" -d $DB)" \
   'text:"done":"v2",text:"done":"v2",text:"done":"v2"'
q "SELECT pa_release_agent('summary', 2)" -d $DB >/dev/null
q "INSERT INTO pa.conversations (external_id, status, outcome) VALUES ('w-5', 'terminated', 'resolved')" -d $DB >/dev/null
ok "release: the trigger now runs version 2" wait_until \
   "SELECT r.agent_version = 2 AND r.status = 'succeeded' FROM pa.runs r JOIN pa.conversations c ON c.id = r.conversation_id JOIN pa.agents a ON a.id = r.agent_id WHERE c.external_id = 'w-5' AND a.name = 'summary'" 10

# 10. Operations: pg_stat_activity, the queue view, statistics flushed.
is "pg_stat_activity: the worker shows its application name" \
   "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procedural_agent worker' AND datname = current_database()" -d $DB)" "1"
like "pg_stat_activity: and what it is doing" \
   "$(q "SELECT query FROM pg_stat_activity WHERE application_name = 'procedural_agent worker' AND datname = current_database()" -d $DB)" "runs in flight"
like "pa.queue: per agent counts" "$(q "SELECT agent || ' ' || ready || ' ' || running FROM pa.queue WHERE agent = 'fast'" -d $DB)" "^fast 0 0$"
ok "statistics: autovacuum sees the worker's writes on pa.runs" wait_until \
   "SELECT n_tup_upd > 200 FROM pg_stat_user_tables WHERE relid = 'pa.runs'::regclass" 5

# 11. Provider cap: max_concurrency 2 on a provider of its own.
q "SELECT pa_create_provider('capped', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY', options => '{\"max_concurrency\": 2}');
   SELECT pa_create_model('capped', 'gpt-test', input_price => 1, output_price => 1);
   SELECT pa_create_agent('capped_agent', 'Answer.', 'capped', 'gpt-test', '{\"answer\": {\"schema\": {\"type\": \"object\"}}}', planning => 'none')" -d $DB >/dev/null
ms_scenario '{"default":{"delay_ms":1000,"tool_calls":[{"name":"record_answer","arguments":{}}]}}'
t0=$(now_ms)
q "SELECT count(pa_enqueue('capped_agent', input => jsonb_build_object('c', i))) FROM generate_series(1, 6) i" -d $DB >/dev/null
peak=0
c0=$(cpu_ms $wpid)
for i in $(seq 1 15); do
    n=$(q "SELECT (cooldowns->'capped'->>'in_flight')::int FROM pa_workers() WHERE database = current_database()" -d $DB)
    [ -n "$n" ] && [ "$n" -gt "$peak" ] && peak=$n
    sleep 0.1
done
cpu=$(( $(cpu_ms $wpid) - c0 ))
ok "provider cap: runs held by the cap wait without spinning (${cpu} ms CPU)" test "$cpu" -lt 500
ok "provider cap: the 6 runs complete" wait_until "SELECT count(*) = 6 FROM pa.runs WHERE status = 'succeeded' AND input ? 'c'" 15
ms=$(( $(now_ms) - t0 ))
echo "# 6 runs x 1 s with max_concurrency 2: $ms ms, peak $peak in flight"
ok "provider cap: never more than 2 calls in flight (peak $peak)" test "$peak" -eq 2
ok "provider cap: so 6 one-second calls take 3 s or more" test "$ms" -ge 2900

# 12. A run its owner may not read fails at once (no retries), with the reason.
q "DROP ROLE IF EXISTS pa_wk_blind; CREATE ROLE pa_wk_blind; SELECT pa_grant_provider('oa', 'pa_wk_blind')" -d $DB >/dev/null
psql -X -q -d $DB -c "SET ROLE pa_wk_blind" -c "SELECT pa_create_agent('blind', 'x', 'oa', 'gpt-test', '{\"r\": {\"schema\": {\"type\": \"object\"}}}', planning => 'none')" >/dev/null
id=$(q "SELECT pa_enqueue('blind', conversation => 1)" -d $DB)
ok "owner without SELECT on the conversation: the run fails" wait_until "SELECT status = 'failed' FROM pa.runs WHERE id = $id" 10
is "... on its first attempt, saying why" \
   "$(q "SELECT attempts || ' ' || error_code || ' ' || (error_message ~ '^permission denied for table (conversations|events|customers|customer_memory)') FROM pa.runs WHERE id = $id" -d $DB)" "1 worker_error true"

# 13. Cached definitions follow every change at once (no waiting for a timeout).
ms_scenario '{"rules":[{"match":{"has_tool":"record_answer"},"responses":[{"tool_calls":[{"name":"record_answer","arguments":{"text":"ok"}}]}],"repeat_last":true}]}'
is "definitions: a run loads (and caches) 'fast'" "$(jq_ "$(enqueue_wait "'fast'")" "d['status']")" "succeeded"
q "SELECT pa_set_provider_key('an', 'wrong-key')" -d $DB >/dev/null
res=$(enqueue_wait "'fast'")
like "definitions: a rotated key is used by the very next run" "$(jq_ "$res" "d['status'], d['error']['message']")" "failed .*(401|authentication|invalid x-api-key)"
q "SELECT pa_set_provider_key('an', '$PA_MODEL_KEY')" -d $DB >/dev/null
is "definitions: and the key put back, by the run after" "$(jq_ "$(enqueue_wait "'fast'")" "d['status']")" "succeeded"
q "SELECT pa_add_delivery('fast', 'webhook', '$PA_MODEL_URL/hooks/late')" -d $DB >/dev/null
id=$(q "SELECT pa_enqueue('fast')" -d $DB); q "SELECT pa_wait($id, '10 s')" -d $DB >/dev/null
is "definitions: a delivery target added is used by the very next run" \
   "$(q "SELECT count(*) FROM pa.deliveries WHERE run_id = $id AND url LIKE '%/hooks/late'" -d $DB)" "1"

# 14. Retention: finished runs older than procedural_agent.run_retention go, with their steps.
q "UPDATE pa.runs SET finished_at = now() - interval '2 days', created_at = now() - interval '2 days' WHERE input ? 'j'" -d $DB >/dev/null
q "ALTER SYSTEM SET procedural_agent.run_retention = '1d'" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
ok "retention: runs finished 2 days ago are deleted (1d)" wait_until "SELECT count(*) = 0 FROM pa.runs WHERE input ? 'j'" 10
is "retention: newer runs stay" "$(q "SELECT count(*) FROM pa.runs WHERE input ? 'i'" -d $DB)" "200"
is "retention: the deleted runs' steps and outputs went with them" \
   "$(q "SELECT count(*) FROM pa.run_steps s WHERE NOT EXISTS (SELECT 1 FROM pa.runs r WHERE r.id = s.run_id)" -d $DB)" "0"
q "ALTER SYSTEM RESET procedural_agent.run_retention" >/dev/null

# 15. Ends written together (one statement per step batch): a run whose lease
#     went elsewhere while its call was out writes nothing, then resumes once;
#     a batch one run's row breaks is written run by run, so only that run fails.
ms_scenario '{"rules":[
  {"match":{"has_tool":"record_answer","contains":"lease-goes"},"responses":[{"delay_ms":1500,"tool_calls":[{"name":"record_answer","arguments":{"text":"first"}}]},{"tool_calls":[{"name":"record_answer","arguments":{"text":"second"}}]}]},
  {"match":{"has_tool":"record_answer","contains":"poison"},"responses":[{"delay_ms":300,"tool_calls":[{"name":"record_answer","arguments":{"text":"poison"}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_answer"},"responses":[{"delay_ms":300,"tool_calls":[{"name":"record_answer","arguments":{"text":"ok"}}]}],"repeat_last":true}]}'
# an agent with no delivery target: its runs' ends are written together
psql -X -q -d $DB -c "SET ROLE pa_wk_owner" -c "SELECT pa_create_agent('ends', 'Answer.', 'an', 'claude-test',
  '{\"answer\": {\"schema\": {\"type\": \"object\", \"required\": [\"text\"], \"properties\": {\"text\": {\"type\": \"string\"}}}}}',
  planning => 'none')" >/dev/null
id=$(q "SELECT pa_enqueue('ends', input => '{\"q\": \"lease-goes\"}')" -d $DB)
ok "lost lease: the run is in flight" wait_until "SELECT status = 'running' FROM pa.runs WHERE id = $id" 5
sleep 0.3
# as if another worker (pid 2, not alive) had reclaimed it meanwhile
q "UPDATE pa.runs SET lease_owner = 2 WHERE id = $id" -d $DB >/dev/null
ok "lost lease: the run ends, in a second attempt" wait_until "SELECT status = 'succeeded' FROM pa.runs WHERE id = $id" 15
is "lost lease: the first attempt wrote nothing (one output, 'second'; steps numbered once)" \
   "$(q "SELECT (SELECT string_agg(value->>'text', ',') FROM pa.outputs WHERE run_id = $id) || ' ' ||
           (SELECT attempts FROM pa.runs WHERE id = $id) || ' ' ||
           (SELECT count(*) = count(DISTINCT step) FROM pa.run_steps WHERE run_id = $id)" -d $DB)" "second 2 true"
ok "lost lease: the worker said so in the log" grep -q "run $id: its lease was lost before its end was written" "$PA_PG_LOG"
q "CREATE FUNCTION public.poison_output() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN IF NEW.value->>'text' = 'poison' THEN RAISE EXCEPTION 'poisoned output'; END IF; RETURN NEW; END \$\$;
   CREATE TRIGGER poison BEFORE INSERT ON pa.outputs FOR EACH ROW EXECUTE FUNCTION public.poison_output()" -d $DB >/dev/null
q "SELECT pa_enqueue('ends', input => jsonb_build_object('pz', i, 'q', CASE WHEN i = 3 THEN 'poison' ELSE 'fine' END),
                    max_attempts => 1) FROM generate_series(1, 6) i" -d $DB >/dev/null
ok "poisoned batch: the six runs end" wait_until "SELECT count(*) = 6 FROM pa.runs WHERE input ? 'pz' AND finished_at IS NOT NULL" 15
is "poisoned batch: five succeed with their output, the poisoned one fails alone, saying why" \
   "$(q "SELECT string_agg(r.status || ':' || (SELECT count(*) FROM pa.outputs o WHERE o.run_id = r.id)
                          || CASE WHEN r.error_message LIKE '%poisoned output%' THEN ':why' ELSE '' END, ' ' ORDER BY (r.input->>'pz')::int)
           FROM pa.runs r WHERE r.input ? 'pz'" -d $DB)" \
   "succeeded:1 succeeded:1 failed:0:why succeeded:1 succeeded:1 succeeded:1"
q "DROP TRIGGER poison ON pa.outputs; DROP FUNCTION public.poison_output()" -d $DB >/dev/null
# a conversation deleted while its run is in flight: the run ends normally
# (it read the conversation when it started; the ledger outlives it)
ms_scenario '{"default":{"delay_ms":1500,"tool_calls":[{"name":"record_answer","arguments":{"text":"after"}}]}}'
cid=$(q "INSERT INTO pa.conversations (external_id) VALUES ('to-be-deleted') RETURNING id" -d $DB)
id=$(q "SELECT pa_enqueue('ends', conversation => $cid)" -d $DB)
ok "deleted conversation: its run is in flight" wait_until "SELECT status = 'running' FROM pa.runs WHERE id = $id" 5
q "DELETE FROM pa.conversations WHERE id = $cid" -d $DB >/dev/null
ok "deleted conversation: the run still ends, succeeded" wait_until "SELECT status = 'succeeded' FROM pa.runs WHERE id = $id" 10
is "deleted conversation: its output is recorded with the conversation's id" \
   "$(q "SELECT string_agg(value->>'text' || ' ' || (conversation_id = $cid), ',') FROM pa.outputs WHERE run_id = $id" -d $DB)" "after true"

# 16. Two workers for the database: they share the queue (every run once)
#     and a provider's max_concurrency (counted across both).
q "ALTER SYSTEM SET procedural_agent.workers_per_database = 2" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
ok "workers_per_database 2: two workers serve the database" \
   wait_until "SELECT count(*) = 2 FROM pa_workers() WHERE database = current_database()" 15
ms_scenario '{"default":{"delay_ms":300,"tool_calls":[{"name":"record_answer","arguments":{"text":"ok"}}]}}'
q "SELECT count(pa_enqueue('fast', input => jsonb_build_object('two', i))) FROM generate_series(1, 300) i" -d $DB >/dev/null
ok "two workers: 300 runs succeed" wait_until "SELECT count(*) = 300 FROM pa.runs WHERE input ? 'two' AND status = 'succeeded'" 30
is "two workers: each run ran once and recorded one output" \
   "$(q "SELECT count(*) || ' ' || sum(attempts) || ' ' || (SELECT count(*) FROM pa.outputs o JOIN pa.runs r ON r.id = o.run_id WHERE r.input ? 'two')
         FROM pa.runs WHERE input ? 'two'" -d $DB)" "300 300 300"
is "two workers: both took runs" \
   "$(q "SELECT count(*) FROM pa_workers() WHERE database = current_database() AND claimed > 0" -d $DB)" "2"
# three runs per worker at most: each worker gets runs of the capped provider
q "ALTER SYSTEM SET procedural_agent.max_concurrent_runs = 3" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
ms_scenario '{"default":{"delay_ms":1000,"tool_calls":[{"name":"record_answer","arguments":{}}]}}'
claimed0=$(q "SELECT string_agg(pid || '=' || claimed, ',') FROM pa_workers() WHERE database = current_database()" -d $DB)
t0=$(now_ms)
q "SELECT count(pa_enqueue('capped_agent', input => jsonb_build_object('c2', i))) FROM generate_series(1, 6) i" -d $DB >/dev/null
peak=0
for i in $(seq 1 25); do
    n=$(q "SELECT coalesce(sum((cooldowns->'capped'->>'in_flight')::int), 0) FROM pa_workers() WHERE database = current_database()" -d $DB)
    [ -n "$n" ] && [ "$n" -gt "$peak" ] && peak=$n
    sleep 0.1
done
ok "two workers, provider cap: the 6 runs complete" wait_until "SELECT count(*) = 6 FROM pa.runs WHERE status = 'succeeded' AND input ? 'c2'" 15
ms=$(( $(now_ms) - t0 ))
echo "# two workers, 6 runs x 1 s with max_concurrency 2: $ms ms, peak $peak in flight over both"
ok "two workers, provider cap: never more than 2 calls in flight over both (peak $peak)" test "$peak" -eq 2
ok "two workers, provider cap: so 6 one-second calls take 3 s or more" test "$ms" -ge 2900
is "two workers, provider cap: both workers claimed some of them" \
   "$(q "SELECT count(*) FROM pa_workers() w WHERE database = current_database() AND w.claimed >
           coalesce((SELECT split_part(x, '=', 2)::bigint FROM unnest(string_to_array('$claimed0', ',')) x
                      WHERE split_part(x, '=', 1)::int = w.pid), 0)" -d $DB)" "2"
q "ALTER SYSTEM RESET procedural_agent.workers_per_database" >/dev/null
q "ALTER SYSTEM RESET procedural_agent.max_concurrent_runs" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
ok "workers_per_database back to 1: the second worker stops" \
   wait_until "SELECT count(*) = 1 FROM pa_workers() WHERE database = current_database()" 15

q "ALTER SYSTEM RESET procedural_agent.http_tool_allow_private" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
finish
