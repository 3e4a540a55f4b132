# Deliveries: each succeeded run's outputs reach a webhook exactly once,
# signed (HMAC-SHA256 over the body) with the run id as idempotency key;
# Slack gets a readable message; a failing receiver is retried with
# backoff, every attempt recorded, then dead-lettered; pa_redeliver sends
# it again. Also: the outbox is transactional (a failed run delivers
# nothing) and a pa_invoke run delivers too.
. test/lib/tap.sh
DB=pa_it_deliver
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "ALTER SYSTEM SET procedural_agent.http_tool_allow_private = on" >/dev/null
q "ALTER SYSTEM SET procedural_agent.delivery_retry_base = 1" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

hooks() { ms_py "[r for r in d if r['path'].startswith('/hooks/$1')]"; }

setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8);
SELECT pa_create_agent('notes', 'Take notes.', 'oa', 'gpt-test',
  '{"note": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}},
    "tags": {"schema": {"type": "object", "properties": {"tag": {"type": "string"}}}, "cardinality": "many", "required": false}}',
  planning => 'none', trigger_outcomes => '{*}');
SELECT pa_add_delivery('notes', 'webhook', '$PA_MODEL_URL/hooks/crm', secret => 'whsec-test-123');
SELECT pa_add_delivery('notes', 'slack', '$PA_MODEL_URL/hooks/slack');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: an agent with a signed webhook and a Slack target" test $rc -eq 0
ok "a worker serves this database" wait_until "SELECT EXISTS (SELECT 1 FROM pa_workers() WHERE database = current_database())" 20

ms_scenario '{"rules":[
  {"match":{"contains":"please-fail"},"responses":[{"status":400,"message":"bad request"}],"repeat_last":true},
  {"match":{"contains":"Recorded note."},"responses":[{"text":"All recorded."}],"repeat_last":true},
  {"match":{"has_tool":"record_note"},"responses":[{"tool_calls":[{"name":"record_note","arguments":{"text":"call back tomorrow"}},{"name":"record_tags","arguments":{"tag":"vip"}}]}],"repeat_last":true}]}'

q "INSERT INTO pa.conversations (external_id, status, outcome) SELECT 'd-' || i, 'terminated', 'resolved' FROM generate_series(1, 5) i" -d $DB >/dev/null
ok "5 terminations: 10 deliveries delivered" wait_until "SELECT count(*) = 10 FROM pa.deliveries WHERE status = 'delivered'" 20
sleep 1.5     # anything sent twice would show up by now
is "webhook: each run's outputs exactly once" \
   "$(ms_py "(lambda ids: '%d %d' % (len(ids), len(set(ids))))([r['body']['run_id'] for r in d if r['path'] == '/hooks/crm'])")" "5 5"
is "webhook: the body is the run's outputs" \
   "$(ms_py "[r['body']['outputs'] for r in d if r['path'] == '/hooks/crm'][0]")" "{'note': {'text': 'call back tomorrow'}, 'tags': [{'tag': 'vip'}]}"
is "webhook: Idempotency-Key is the run id" \
   "$(ms_py "all(r['headers']['idempotency-key'] == str(r['body']['run_id']) for r in d if r['path'] == '/hooks/crm')")" "True"
is "webhook: every signature verifies (HMAC-SHA256 of the raw body)" \
   "$(ms_py "all(r['headers']['x-pa-signature'] == 'sha256=' + __import__('hmac').new(b'whsec-test-123', r['raw'].encode(), 'sha256').hexdigest() for r in d if r['path'] == '/hooks/crm')")" "True"
like "slack: a readable message naming the agent and the outputs" \
   "$(ms_py "[r['body']['text'] for r in d if r['path'] == '/hooks/slack'][0]")" '^\*notes\* \(version 1\) finished run [0-9]+ for conversation [0-9]+.*\*note\*: .*call back tomorrow'
is "attempts: one recorded per delivery, HTTP 200" \
   "$(q "SELECT count(*) || ' ' || bool_and(http_status = 200) FROM pa.delivery_attempts" -d $DB)" "10 true"
unlike "the signing secret is not in the outbox or the attempts" \
   "$(q "SELECT string_agg(d::text, '') FROM pa.deliveries d" -d $DB)$(q "SELECT string_agg(a::text, '') FROM pa.delivery_attempts a" -d $DB)" "whsec-test-123"
out=$(psql -X -A -t -q -d $DB -c "CREATE ROLE pa_dl_other" -c "SET ROLE pa_dl_other" -c "SELECT * FROM pa.delivery_secrets" 2>&1)
like "pa.delivery_secrets: not readable by other roles" "$out" "permission denied"
q "DROP ROLE pa_dl_other" -d $DB >/dev/null

# A failed run delivers nothing: the outbox row exists only with outputs.
id=$(q "SELECT pa_enqueue('notes', input => '{\"x\": \"please-fail\"}')" -d $DB)
is "a failing run: failed" "$(q "SELECT pa_wait($id, '10 s')->>'status'" -d $DB)" "failed"
is "a failing run: no delivery queued" "$(q "SELECT count(*) FROM pa.deliveries WHERE run_id = $id" -d $DB)" "0"

# pa_invoke runs deliver too, once they commit.
q "SELECT pa_invoke('notes')" -d $DB >/dev/null
ok "pa_invoke: its delivery goes out after commit" wait_until \
   "SELECT count(*) = 2 FROM pa.deliveries d JOIN pa.runs r ON r.id = d.run_id WHERE r.origin = 'invoke' AND d.status = 'delivered'" 10

# A failing receiver: retried with backoff (base 1 s), then dead; redeliver.
q "SELECT pa_drop_delivery('notes', '$PA_MODEL_URL/hooks/slack')" -d $DB >/dev/null
q "SELECT pa_add_delivery('notes', 'webhook', '$PA_MODEL_URL/hooks/flaky', max_attempts => 3)" -d $DB >/dev/null
curl -s -f -X POST "$PA_MODEL_URL/_control/hooks" -d '{"path": "/hooks/flaky", "status": 503}' >/dev/null
q "INSERT INTO pa.conversations (external_id, status, outcome) VALUES ('d-flaky', 'terminated', 'resolved')" -d $DB >/dev/null
flaky="SELECT d.%s FROM pa.deliveries d JOIN pa.runs r ON r.id = d.run_id JOIN pa.conversations c ON c.id = r.conversation_id WHERE c.external_id = 'd-flaky' AND d.url LIKE '%%flaky'"
ok "failing receiver: dead-lettered after 3 attempts" wait_until "$(printf "$flaky" "status = 'dead'")" 20
did=$(q "$(printf "$flaky" "id")" -d $DB)
is "failing receiver: 3 attempts recorded with their 503" \
   "$(q "SELECT string_agg(attempt || ':' || http_status, ',' ORDER BY attempt) FROM pa.delivery_attempts WHERE delivery_id = $did" -d $DB)" "1:503,2:503,3:503"
is "failing receiver: backoff between attempts (about 1 s, then 4 s)" \
   "$(q "SELECT bool_and(gap >= interval '0.9 s') AND max(gap) >= interval '3.8 s' FROM (SELECT started_at - lag(started_at) OVER (ORDER BY attempt) AS gap FROM pa.delivery_attempts WHERE delivery_id = $did) g WHERE gap IS NOT NULL" -d $DB)" "t"
is "the other target of that run was delivered once" \
   "$(q "SELECT string_agg(d.status, ',') FROM pa.deliveries d WHERE d.run_id = (SELECT run_id FROM pa.deliveries WHERE id = $did) AND d.id <> $did" -d $DB)" "delivered"
curl -s -f -X POST "$PA_MODEL_URL/_control/hooks" -d '{"path": "/hooks/flaky", "status": 200}' >/dev/null
q "SELECT pa_redeliver($did)" -d $DB >/dev/null
ok "pa_redeliver: delivered on the next attempt" wait_until "SELECT status = 'delivered' FROM pa.deliveries WHERE id = $did" 10
is "pa_redeliver: the 4th attempt is recorded" \
   "$(q "SELECT max(attempt) || ':' || (array_agg(http_status ORDER BY attempt DESC))[1] FROM pa.delivery_attempts WHERE delivery_id = $did" -d $DB)" "4:200"
out=$(q "SELECT pa_redeliver(987654)" -d $DB)
like "pa_redeliver of an unknown delivery: 42704" "$out" "delivery 987654 does not exist"
out=$(q "SELECT pa_add_delivery('notes', 'email', 'http://x')" -d $DB)
like "pa_add_delivery of an unknown kind: refused" "$out" 'invalid delivery kind "email"'
out=$(q "SELECT pa_add_delivery('notes', 'slack', 'http://x', secret => 's')" -d $DB)
like "pa_add_delivery: Slack targets take no secret" "$out" "only webhook deliveries are signed"

q "ALTER SYSTEM RESET procedural_agent.http_tool_allow_private" >/dev/null
q "ALTER SYSTEM RESET procedural_agent.delivery_retry_base" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
finish
