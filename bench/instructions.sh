#!/usr/bin/env bash
# bench/instructions.sh — instructions per pa_invoke, counted by callgrind.
#
#   ./bench/instructions.sh [CALLS]      (default 200)
#
# The clock on a shared machine moves by tens of per cent between runs;
# instruction counts do not. This runs CALLS pa_invoke calls on a 50-event
# transcript (P3's shape) in single-user mode under valgrind's callgrind,
# counting only inside pa_invoke, against nginx answering one canned
# completion (bench/nginx.py), and prints the instructions per call and
# the functions that cost most. Needs the extension installed (make
# install), valgrind and nginx-light; as root it runs the server as the
# user postgres. Leaves nothing behind but its report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLS=${1:-200}
BIN=/usr/lib/postgresql/15/bin
PORT=${PA_BENCH_NGINX_PORT:-18490}
dir=$(mktemp -d /tmp/pa-instructions.XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"

/usr/bin/python3 "$ROOT/bench/nginx.py" "$dir" "$PORT"
/usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/nginx_error.log" &
NGINX_PID=$!
for _ in $(seq 1 50); do
    curl -s -f -X POST -d '{}' "http://127.0.0.1:$PORT/v1/chat/completions" >/dev/null && break
    sleep 0.1
done

as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
printf "shared_preload_libraries = 'procedural_agent'\nfsync = off\n" >> "$dir/data/postgresql.conf"
# single-user mode: one statement per line
cat > "$dir/setup.sql" <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('ngx', 'openai', base_url => 'http://127.0.0.1:$PORT/v1', api_key => 'bench');
SELECT pa_create_model('ngx', 'gpt-bench', input_price => 1, output_price => 1);
SELECT pa_create_agent('one', 'Answer.', 'ngx', 'gpt-bench', '{"answer": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}', planning => 'none');
INSERT INTO pa.conversations (external_id) VALUES ('p3');
INSERT INTO pa.events (conversation_id, kind, role, content) SELECT 1, 'message', CASE WHEN i % 2 = 0 THEN 'customer' ELSE 'agent' END, 'message number ' || i || ' about order 42' FROM generate_series(1, 50) i;
SQL
for _ in $(seq 1 "$CALLS"); do echo "SELECT pa_invoke('one', 1);"; done > "$dir/calls.sql"
chmod 644 "$dir"/*.sql
as_pg "$BIN/postgres" --single -D "$dir/data" -F postgres < "$dir/setup.sql" > "$dir/setup.out" 2>&1
as_pg valgrind --tool=callgrind --toggle-collect=pa_invoke --callgrind-out-file="$dir/callgrind.out" \
    "$BIN/postgres" --single -D "$dir/data" -F postgres < "$dir/calls.sql" > "$dir/calls.out" 2>"$dir/valgrind.log"
ok=$(grep -c '"status": "succeeded"' "$dir/calls.out" || true)
total=$(callgrind_annotate "$dir/callgrind.out" | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "calls: $CALLS ($ok succeeded)"
echo "instructions per pa_invoke: $((total / CALLS))"
echo "most costly, inclusive (share of all):"
callgrind_annotate --inclusive=yes "$dir/callgrind.out" 2>/dev/null \
    | grep -E '(procedural_agent\.so|Exec[A-Za-z]*Node|ExecutorStart|ExecutorFinish|AfterTriggerEndQuery)\]' \
    | grep -v 'pa_invoke\|pa_run_agent\|sql_run\|pa_sql_' | sed -n 1,15p
