# The test provider kind under the background worker: terminations run
# their agents to the end without any HTTP (the model server sees no
# request), rows land in the result table, pa_enqueue + pa_wait and a
# nested agent tool work, and the ledger counts tokens.
. test/lib/tap.sh
DB=pa_it_testkind
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<'SQL'
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('t', 'test', options => '{"call_tools": true}');
SELECT pa_create_model('t', 'test-model', input_price => 1, output_price => 4);
CREATE FUNCTION public.order_status(order_id bigint) RETURNS text LANGUAGE sql AS $$ SELECT 'shipped' $$;
SELECT pa_create_tool('order_status', 'sql', function => 'public.order_status(bigint)');
SELECT pa_create_agent('route', 'Pick a line.', 't', 'test-model',
  '{"route": {"schema": {"type": "object", "required": ["line"], "properties": {"line": {"enum": ["billing", "tech"]}}}}}',
  input_schema => '{"type": "object", "required": ["topic"], "properties": {"topic": {"type": "string"}}}', planning => 'none');
SELECT pa_create_tool('ask_route', 'agent', agent => 'route');
SELECT pa_create_agent('summary', 'Summarise.', 't', 'test-model',
  '{"summary": {"table": "public.summaries",
                "schema": {"type": "object", "required": ["text", "score"],
                           "properties": {"text": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}}}}}',
  tools => '{order_status,ask_route}', trigger_outcomes => '{resolved}', planning => 'none');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: a test provider, a SQL tool, an agent tool, a triggered agent with a result table" test $rc -eq 0
wait_until "SELECT count(*) = 1 FROM pa_workers() WHERE database = current_database()" 20 >/dev/null
before=$(ms_py "len(d)")

q "INSERT INTO pa.conversations (external_id, status, outcome)
   SELECT 'tk-' || i, 'terminated', CASE WHEN i % 5 = 0 THEN 'abandoned' ELSE 'resolved' END FROM generate_series(1, 50) i" -d $DB >/dev/null
ok "40 resolved terminations: 40 runs end" wait_until "SELECT count(*) = 40 FROM pa.runs WHERE status NOT IN ('queued', 'running') AND parent_run_id IS NULL" 60
is "... all succeeded" "$(q "SELECT string_agg(DISTINCT status, ',') FROM pa.runs" -d $DB)" "succeeded"
is "... one row each in the result table, schema-valid" \
   "$(q "SELECT count(*) || ' ' || min(score) || ' ' || max(score) FROM public.summaries" -d $DB)" "40 1 1"
is "... each called its SQL tool and its agent tool once (a nested run each)" \
   "$(q "SELECT (SELECT count(*) FROM pa.run_steps WHERE kind = 'tool' AND name = 'order_status') || ' ' ||
              (SELECT count(*) FROM pa.runs WHERE origin = 'agent_tool' AND status = 'succeeded')" -d $DB)" "40 40"
is "... tokens and cost counted in the ledger" \
   "$(q "SELECT bool_and(input_tokens > 0 AND output_tokens > 0 AND cost_usd > 0) FROM pa.runs" -d $DB)" "t"
is "... and the model server saw no request" "$(ms_py "len(d)")" "$before"

id=$(q "SELECT pa_enqueue('route', input => '{\"topic\": \"refund\"}')" -d $DB)
r=$(q "SELECT pa_wait($id, '10 s')" -d $DB)
is "pa_enqueue + pa_wait: the route is recorded" "$(jq_ "$r" "d['status'] + ' ' + d['outputs']['route']['line']")" "succeeded billing"
r=$(q "SELECT pa_enqueue('route', input => '{}')" -d $DB)
like "pa_enqueue: the input schema still holds" "$r" "22023|does not match"
finish
