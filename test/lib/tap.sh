# test/lib/tap.sh — tiny assertion helpers for integration tests (sourced).
# Each assertion prints "ok - ..." or "not ok - ..."; finish prints the
# counts and sets the exit status.
PA_T_PASS=0
PA_T_FAIL=0

pass() { echo "ok - $1"; PA_T_PASS=$((PA_T_PASS + 1)); }
fail() { echo "not ok - $1"; PA_T_FAIL=$((PA_T_FAIL + 1)); }

# ok DESC COMMAND...: passes when the command succeeds.
ok() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

# is DESC GOT EXPECTED
is() {
    if [ "$2" == "$3" ]; then pass "$1"; else fail "$1"; echo "#   got:      '$2'"; echo "#   expected: '$3'"; fi
}

# like DESC GOT REGEX / unlike DESC GOT REGEX
like() { if [[ "$2" =~ $3 ]]; then pass "$1"; else fail "$1"; echo "#   '$2' does not match /$3/"; fi; }
unlike() { if [[ "$2" =~ $3 ]]; then fail "$1"; echo "#   '$2' matches /$3/"; else pass "$1"; fi; }

# q SQL [psql args]: one query, unaligned tuples only; errors go to stdout.
q() { local sql=$1; shift; psql -X -A -t -q -v ON_ERROR_STOP=1 "$@" -c "$sql" 2>&1; }

finish() {
    echo "$PA_T_PASS passed, $PA_T_FAIL failed"
    [ "$PA_T_FAIL" -eq 0 ]
}

# The local model server (started by test/run): install a scenario, read
# what it received.
ms_scenario() { curl -s -f -X POST "$PA_MODEL_URL/_control/reset" >/dev/null &&
                curl -s -f -X POST "$PA_MODEL_URL/_control/scenario" -d "$1" >/dev/null; }
ms_requests() { curl -s -f "$PA_MODEL_URL/_control/requests"; }
# ms_py 'python expression over d (the request log)': print its value.
ms_py() { ms_requests | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin)['requests']; print($1)"; }

# inv ARGS: SELECT pa_invoke(ARGS) in $DB; jq_ JSON EXPR: a python
# expression over d (the JSON), printed.
inv() { q "SELECT pa_invoke($1)" -d "$DB"; }
jq_() { /usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

# wait_until SQL SECONDS [DB]: poll (5 times a second) until the query
# returns t in DB (default $DB); false on timeout. Errors count as "not yet"
# (e.g. while the server restarts).
wait_until() {
    local deadline=$((SECONDS + $2)) db=${3:-$DB}
    while [ $SECONDS -lt $deadline ]; do
        [ "$(q "$1" -d "$db" 2>/dev/null)" = "t" ] && return 0
        sleep 0.2
    done
    return 1
}

# lookup_agent_fixture AGENT: in $DB, the extension, an OpenAI provider on
# the model server and an agent that calls the SQL tool lookup (it answers
# 'order-status-lost') and records {"ok": true}; then a worker serving $DB.
# Two checks.
lookup_agent_fixture() {
    local setup rc
    setup=$(psql -X -q -v ON_ERROR_STOP=1 -d "$DB" 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 2, output_price => 8);
CREATE FUNCTION public.lookup(order_id bigint) RETURNS text LANGUAGE sql AS \$\$ SELECT 'order-status-lost' \$\$;
SELECT pa_create_tool('lookup', 'sql', function => 'public.lookup(bigint)');
SELECT pa_create_agent('$1', 'Look up the order, then record.', 'oa', 'gpt-test',
  '{"r": {"schema": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}}',
  tools => '{lookup}', planning => 'none');
SQL
)
    rc=$?; [ $rc -eq 0 ] || echo "$setup"
    ok "fixture: agent $1 with the SQL tool lookup" test $rc -eq 0
    ok "a worker serves this database" wait_until \
       "SELECT EXISTS (SELECT 1 FROM pa_workers() WHERE database = current_database())" 20
}
