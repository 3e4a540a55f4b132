# Every SQL block of README.md, in order, in a database served by a
# worker, each block one check (psql with ON_ERROR_STOP); then what the
# tutorial says happened is checked against the tables.
. test/lib/tap.sh
DB=pa_it_readme
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "DROP ROLE IF EXISTS analyst" >/dev/null

blocks=$(mktemp -d)
# README.md -> blocks/NNN.sql, with the line each block starts on
/usr/bin/python3 - "$blocks" <<'PY'
import re, sys
text = open("README.md", encoding="utf-8").read()
n = 0
for m in re.finditer(r"^```sql\n(.*?)^```", text, re.S | re.M):
    n += 1
    line = text.count("\n", 0, m.start()) + 1
    open(f"{sys.argv[1]}/{n:03d}.sql", "w").write(f"-- README.md line {line}\n" + m.group(1))
PY
count=$(ls "$blocks" | wc -l)
ok "README.md has SQL blocks to run ($count)" test "$count" -ge 10
for f in "$blocks"/*.sql; do
    where=$(head -n 1 "$f" | sed 's/^-- //')
    out=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB -f "$f" 2>&1)
    rc=$?
    ok "SQL block at $where runs" test $rc -eq 0 || echo "$out" | head -n 20 | sed 's/^/#   /'
done
rm -rf "$blocks"

# What the tutorial says happened
is "tutorial: pa_invoke recorded the ticket shown" \
   "$(q "SELECT value FROM pa.outputs WHERE run_id = 1" -d $DB)" '{"title": "example", "refund": true, "priority": "low"}'
is "tutorial: and a row in the result table it created" "$(q "SELECT count(*) FROM public.tickets WHERE run_id = 1" -d $DB)" "1"
is "tutorial: the termination ran the agent in the background" \
   "$(q "SELECT string_agg(status, ',') FROM pa.runs WHERE origin = 'trigger' AND conversation_id = 1042" -d $DB)" "succeeded"
is "tutorial: the queued run succeeded with its input" \
   "$(q "SELECT status || ' ' || (input->>'reason') FROM pa.runs WHERE origin = 'enqueue'" -d $DB)" "succeeded audit"
is "tutorial: the test provider's draft ran (version 3)" \
   "$(q "SELECT count(*) FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'ticket' AND r.agent_version = 3 AND r.status = 'succeeded'" -d $DB)" "2"
ok "background section: the voice conversation's summary ran" \
   wait_until "SELECT count(*) = 1 FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'summary' AND r.status = 'succeeded'" 20
is "no run of the README failed" "$(q "SELECT count(*) FROM pa.runs WHERE status = 'failed'" -d $DB)" "0"

q "DROP DATABASE $DB" >/dev/null
q "DROP ROLE IF EXISTS analyst" >/dev/null
finish
