# Schedules on pg_cron: pa_schedule creates a cron job whose command only
# queues a run (returns in milliseconds); the job fires and its run
# completes; pa_unschedule removes the job. A database without pg_cron
# gets a clear error with a hint. Runs in "postgres", the database of
# cron.database_name in the test cluster.
. test/lib/tap.sh
DB=postgres
q "DROP ROLE IF EXISTS pa_sc_owner; CREATE ROLE pa_sc_owner LOGIN" >/dev/null
setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8);
SELECT pa_grant_provider('oa', 'pa_sc_owner');
GRANT USAGE ON SCHEMA cron TO pa_sc_owner;
SET ROLE pa_sc_owner;
SELECT pa_create_agent('digest', 'Write the daily digest.', 'oa', 'gpt-test',
  '{"digest": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  planning => 'none');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture (the agent's owner is not a superuser)" test $rc -eq 0
ms_scenario '{"rules":[{"match":{"has_tool":"record_digest"},"responses":[{"tool_calls":[{"name":"record_digest","arguments":{"text":"quiet day"}}]}],"repeat_last":true}]}'

as_owner() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d $DB -c "SET ROLE pa_sc_owner" -c "$1" 2>&1; }
job=$(as_owner "SELECT pa_schedule('daily_digest', '* * * * *', 'digest', '{\"day\": \"today\"}')")
like "pa_schedule: returns the pg_cron job id" "$job" '^[0-9]+$'
is "the cron job only queues a run, as the schedule's owner" \
   "$(q "SELECT command || ' | ' || username FROM cron.job WHERE jobid = $job")" "SELECT public.pa_run_schedule('daily_digest') | pa_sc_owner"
out=$(as_owner "SELECT pa_schedule('daily_digest', '* * * * *', 'digest')")
like "pa_schedule: a taken name is refused" "$out" 'schedule "daily_digest" already exists'
out=$(as_owner "SELECT pa_schedule('bad', 'every day', 'digest')")
like "pa_schedule: pg_cron rejects a bad cron expression" "$out" "invalid schedule"
is "a refused schedule leaves nothing behind" "$(q "SELECT count(*) FROM pa.schedules WHERE name = 'bad'")" "0"

# What the job runs, called by hand: fast, one run per minute.
t0=$(date +%s%3N)
id=$(as_owner "SELECT pa_run_schedule('daily_digest')")
ms=$(( $(date +%s%3N) - t0 ))
like "pa_run_schedule queues a run" "$id" '^[0-9]+$'
is "pa_run_schedule twice in the same minute: no second run" "$(as_owner "SELECT pa_run_schedule('daily_digest') IS NULL")" "t"
echo "# pa_run_schedule through psql: $ms ms"
is "the scheduled run succeeds with its input" \
   "$(q "SELECT (pa_wait($id, '10 s'))->'outputs'->'digest'->>'text' || ' ' || origin || ' ' || (input->>'day') FROM pa.runs WHERE id = $id")" "quiet day schedule today"

# The cron job itself fires (at the next minute) and its run completes.
q "DELETE FROM pa.runs WHERE origin = 'schedule'" >/dev/null
ok "pg_cron fires the schedule and the run completes (within 70 s)" wait_until \
   "SELECT EXISTS (SELECT 1 FROM pa.runs WHERE origin = 'schedule' AND status = 'succeeded')" 70
is "the cron job's run took milliseconds" \
   "$(q "SELECT bool_and(end_time - start_time < interval '1 second') AND bool_and(status = 'succeeded') FROM cron.job_run_details WHERE jobid = $job")" "t"

as_owner "SELECT pa_unschedule('daily_digest')" >/dev/null
is "pa_unschedule removes the cron job and the schedule" \
   "$(q "SELECT count(*) FROM cron.job WHERE jobid = $job")$(q "SELECT count(*) FROM pa.schedules")" "00"
out=$(as_owner "SELECT pa_unschedule('daily_digest')")
like "pa_unschedule of an unknown schedule: 42704" "$out" 'schedule "daily_digest" does not exist'

# Without pg_cron in the database: a clear error with a hint.
q "DROP DATABASE IF EXISTS pa_it_nocron" >/dev/null; q "CREATE DATABASE pa_it_nocron" >/dev/null
out=$(psql -X -A -t -q -d pa_it_nocron 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => 'http://127.0.0.1:9/v1');
SELECT pa_create_model('oa', 'm', input_price => 1, output_price => 1);
SELECT pa_create_agent('a', 'x', 'oa', 'm', '{"r": {"schema": {"type": "object"}}}');
\set VERBOSITY verbose
SELECT pa_schedule('s', '* * * * *', 'a');
SQL
)
like "no pg_cron: SQLSTATE 55000" "$out" "ERROR:  55000: pg_cron is not installed in this database"
like "no pg_cron: the hint says what to do" "$out" "HINT:  Add pg_cron to shared_preload_libraries"
q "DROP DATABASE pa_it_nocron" >/dev/null

q "DROP EXTENSION procedural_agent" >/dev/null
q "REVOKE USAGE ON SCHEMA cron FROM pa_sc_owner; DROP OWNED BY pa_sc_owner; DROP ROLE pa_sc_owner" >/dev/null
finish
