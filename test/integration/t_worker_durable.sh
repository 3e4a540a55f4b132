# Durability of the worker: kill -9 of the worker mid-run, an immediate
# restart of PostgreSQL mid-run, SIGTERM; every run completes once, with
# one set of outputs, and no model call of a checkpointed step is made
# again. Then DROP EXTENSION and DROP DATABASE with the worker busy: both
# return promptly, and the server log shows no crash of our own.
. test/lib/tap.sh
DB=pa_it_durable
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "DROP DATABASE IF EXISTS pa_it_drop" >/dev/null

worker_pid() { q "SELECT pid FROM pa_workers() WHERE database = '${1:-$DB}'" -d $DB; }
log_mark=$(wc -l < "$PA_PG_LOG")

lookup_agent_fixture durable

# First call: the tool (fast). Second call, after the tool result: slow.
ms_scenario '{"rules":[
  {"match":{"contains":"order-status-lost"},"responses":[{"delay_ms":2500,"tool_calls":[{"name":"record_r","arguments":{"ok":true}}]}],"repeat_last":true},
  {"match":{"has_tool":"record_r"},"responses":[{"tool_calls":[{"name":"lookup","arguments":{"order_id":1}}]}],"repeat_last":true}]}'
first_calls() { ms_py "sum(1 for r in d if r['path'] == '/v1/chat/completions' and 'order-status-lost' not in json.dumps(r['body']) and 'batch-$1' in json.dumps(r['body']))"; }
second_calls() { ms_py "sum(1 for r in d if 'order-status-lost' in json.dumps(r['body']) and 'batch-$1' in json.dumps(r['body']))"; }

# crash_batch NAME HOW: 20 runs; once every run's second call is on the
# wire (its first call and the tool checkpointed), crash as HOW.
crash_batch() {
    local name=$1 how=$2 pid
    q "SELECT count(pa_enqueue('durable', input => jsonb_build_object('batch', 'batch-$name', 'i', i))) FROM generate_series(1, 20) i" -d $DB >/dev/null
    local deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ] && [ "$(second_calls $name)" -lt 20 ]; do sleep 0.1; done
    is "$name: all 20 runs are mid-call when the crash comes" "$(second_calls $name)" "20"
    pid=$(worker_pid)
    case "$how" in
        kill9)   kill -9 "$pid" ;;
        restart) as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$PA_PGDATA" -m immediate -w restart -l "$PA_PG_LOG" >/dev/null ;;
        sigterm) kill -TERM "$pid" ;;
    esac
    ok "$name: every run completes" wait_until \
        "SELECT count(*) = 20 FROM pa.runs WHERE input->>'batch' = 'batch-$name' AND status = 'succeeded'" 60
    is "$name: one output per run, none lost, none twice" \
        "$(q "SELECT count(*) || ' ' || count(DISTINCT o.run_id) FROM pa.outputs o JOIN pa.runs r ON r.id = o.run_id WHERE r.input->>'batch' = 'batch-$name'" -d $DB)" "20 20"
    is "$name: no first model call repeated (checkpointed before the crash)" "$(first_calls $name)" "20"
    is "$name: each run resumed in a second attempt" \
        "$(q "SELECT string_agg(DISTINCT attempts::text, ',') FROM pa.runs WHERE input->>'batch' = 'batch-$name'" -d $DB)" "2"
    is "$name: the tool step is in each ledger once" \
        "$(q "SELECT count(*) FROM pa.run_steps s JOIN pa.runs r ON r.id = s.run_id WHERE r.input->>'batch' = 'batch-$name' AND s.kind = 'tool'" -d $DB)" "20"
}

crash_batch k9 kill9
like "kill -9: the postmaster restarted after the worker was killed" \
     "$(tail -n +"$log_mark" "$PA_PG_LOG" | grep -c 'terminated by signal 9')" "^[1-9]"
crash_batch rs restart
crash_batch st sigterm

# DROP EXTENSION while runs are in flight: prompt, the worker carries on.
q "CREATE DATABASE pa_it_drop" >/dev/null
q "CREATE EXTENSION procedural_agent; SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
   SELECT pa_create_model('oa', 'gpt-test', input_price => 1, output_price => 1);
   SELECT pa_create_agent('a', 'x', 'oa', 'gpt-test', '{\"r\": {\"schema\": {\"type\": \"object\"}}}', planning => 'none')" -d pa_it_drop >/dev/null
ms_scenario '{"default":{"delay_ms":3000,"tool_calls":[{"name":"record_r","arguments":{}}]}}'
ok "drop db: a worker serves it" wait_until "SELECT EXISTS (SELECT 1 FROM pa_workers() WHERE database = 'pa_it_drop')" 20
q "SELECT count(pa_enqueue('a')) FROM generate_series(1, 5)" -d pa_it_drop >/dev/null
wait_until "SELECT count(*) = 5 FROM pa.runs WHERE status = 'running'" 5 pa_it_drop
t0=$(date +%s%3N)
out=$(q "DROP EXTENSION procedural_agent" -d pa_it_drop)
ms=$(( $(date +%s%3N) - t0 ))
is "DROP EXTENSION with 5 runs in flight succeeds" "$out" ""
ok "DROP EXTENSION did not wait on the worker (${ms} ms)" test "$ms" -lt 2000
q "CREATE EXTENSION procedural_agent; SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
   SELECT pa_create_model('oa', 'gpt-test', input_price => 1, output_price => 1);
   SELECT pa_create_agent('a', 'x', 'oa', 'gpt-test', '{\"r\": {\"schema\": {\"type\": \"object\"}}}', planning => 'none')" -d pa_it_drop >/dev/null
id=$(q "SELECT pa_enqueue('a')" -d pa_it_drop)
is "re-created extension: the worker runs its queue again" \
   "$(q "SELECT pa_wait($id, '15 s')->>'status'" -d pa_it_drop)" "succeeded"
q "SELECT count(pa_enqueue('a')) FROM generate_series(1, 5)" -d pa_it_drop >/dev/null
wait_until "SELECT count(*) = 5 FROM pa.runs WHERE status = 'running'" 5 pa_it_drop
t0=$(date +%s%3N)
out=$(q "DROP DATABASE pa_it_drop")
ms=$(( $(date +%s%3N) - t0 ))
is "DROP DATABASE with the worker busy succeeds" "$out" ""
ok "DROP DATABASE returned promptly (${ms} ms)" test "$ms" -lt 4000

errs=$(tail -n +"$log_mark" "$PA_PG_LOG" | grep -E 'PANIC|TRAP|terminated by signal (6|11)|server process .* was terminated' | grep -v 'signal 9')
is "server log: no crash other than the killed worker" "$errs" ""
finish
