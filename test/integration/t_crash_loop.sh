# The crash loop: 1,000 runs (two model calls and a SQL tool each, model
# latency 50 to 900 ms at random) while the worker is killed with SIGKILL
# 20 times at random moments; then 200 runs through two immediate restarts
# of PostgreSQL. Every run ends, once; each has exactly one output, one
# tool step and one step per completed model call; the postmaster stays
# up (a SIGKILLed backend makes it reinitialise shared memory and restart
# every backend: that is PostgreSQL's own recovery, not ours to avoid);
# the server log shows no crash but the kills.
. test/lib/tap.sh
DB=pa_it_crash
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
log_mark=$(wc -l < "$PA_PG_LOG")
postmaster0=$(head -1 "$PA_PGDATA/postmaster.pid")

lookup_agent_fixture crashy

# Two calls per run (lookup, then record), each delayed by the run's
# latency class (lat-0 ... lat-3 in its input: 50, 200, 500, 900 ms).
scenario='{"rules":['
for c in 0 1 2 3; do
    d=$(echo "50 200 500 900" | cut -d' ' -f$((c + 1)))
    scenario="$scenario
  {\"match\":{\"contains\":[\"order-status-lost\",\"lat-$c\"]},\"responses\":[{\"delay_ms\":$d,\"tool_calls\":[{\"name\":\"record_r\",\"arguments\":{\"ok\":true}}]}],\"repeat_last\":true},
  {\"match\":{\"contains\":\"lat-$c\"},\"responses\":[{\"delay_ms\":$d,\"tool_calls\":[{\"name\":\"lookup\",\"arguments\":{\"order_id\":1}}]}],\"repeat_last\":true},"
done
scenario="${scenario%,}]}"
ms_scenario "$scenario" || echo "# scenario refused"

# this cluster's worker only: another cluster on the machine (a developer's)
# may have a worker for a database of the same name
worker_pid() { pgrep -P "$postmaster0" -f "procedural_agent worker for $DB" | head -1; }

# check_batch NAME N: the runs of the batch all ended, each exactly once.
check_batch() {
    local name=$1 n=$2
    ok "$name: all $n runs end" wait_until \
        "SELECT count(*) = $n FROM pa.runs WHERE input->>'batch' = '$name' AND status IN ('succeeded', 'failed', 'cancelled')" 180
    is "$name: every run succeeded" \
       "$(q "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM pa.runs WHERE input->>'batch' = '$name' GROUP BY 1) s" -d $DB)" \
       "succeeded $n"
    is "$name: one output per run (none lost, none twice)" \
       "$(q "SELECT count(*) || ' ' || count(DISTINCT o.run_id) FROM pa.outputs o JOIN pa.runs r ON r.id = o.run_id WHERE r.input->>'batch' = '$name'" -d $DB)" "$n $n"
    is "$name: one tool step and two model steps per run in the ledger" \
       "$(q "SELECT count(*) FILTER (WHERE k = '1 2') FROM (SELECT r.id, count(*) FILTER (WHERE s.kind = 'tool') || ' ' ||
                     count(*) FILTER (WHERE s.kind = 'model' AND s.status = 'ok') AS k
               FROM pa.runs r JOIN pa.run_steps s ON s.run_id = r.id WHERE r.input->>'batch' = '$name' GROUP BY r.id) x" -d $DB)" "$n"
    is "$name: no run left leased or queued" \
       "$(q "SELECT count(*) FROM pa.runs WHERE input->>'batch' = '$name' AND (lease_owner IS NOT NULL OR status IN ('queued', 'running'))" -d $DB)" "0"
}

# 1. 1,000 runs, 20 SIGKILLs of the worker at random moments while it has runs in flight.
q "SELECT count(pa_enqueue('crashy', input => jsonb_build_object('batch', 'kill', 'i', i, 'lat', 'lat-' || floor(random() * 4)::int),
                           max_attempts => 100)) FROM generate_series(1, 1000) i" -d $DB >/dev/null
kills=0
t0=$SECONDS
while [ $kills -lt 20 ] && [ $((SECONDS - t0)) -lt 240 ]; do
    # the worker back (after the previous kill) and busy again
    pid=""
    for _ in $(seq 1 100); do
        pid=$(worker_pid)
        [ -n "$pid" ] && [ "$(q "SELECT coalesce(sum(in_flight), 0) > 0 FROM pa_workers() WHERE database = current_database()" -d $DB 2>/dev/null)" = "t" ] && break
        pid=""; sleep 0.1
    done
    [ -z "$pid" ] && break
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
done
secs=$((SECONDS - t0))
wait_until "SELECT true" 60 >/dev/null
echo "# $kills kills in $secs s; runs succeeded by then: $(q "SELECT count(*) FROM pa.runs WHERE input->>'batch' = 'kill' AND status = 'succeeded'" -d $DB)"
is "kill loop: the worker was killed 20 times, each time with runs in flight" "$kills" "20"
is "kill loop: the postmaster stayed up (same pid)" "$(head -1 "$PA_PGDATA/postmaster.pid")" "$postmaster0"
check_batch kill 1000
echo "# attempts: $(q "SELECT string_agg(attempts || ' x' || n, ', ' ORDER BY attempts) FROM (SELECT attempts, count(*) n FROM pa.runs WHERE input->>'batch' = 'kill' GROUP BY 1) s" -d $DB)"
ok "kill loop: runs were interrupted and resumed (some took several attempts)" \
   test "$(q "SELECT max(attempts) FROM pa.runs WHERE input->>'batch' = 'kill'" -d $DB)" -ge 2

# 2. 200 runs through two immediate restarts of PostgreSQL.
q "SELECT count(pa_enqueue('crashy', input => jsonb_build_object('batch', 'restart', 'i', i, 'lat', 'lat-' || floor(random() * 4)::int),
                           max_attempts => 100)) FROM generate_series(1, 200) i" -d $DB >/dev/null
for r in 1 2; do
    wait_until "SELECT coalesce(sum(in_flight), 0) > 0 FROM pa_workers() WHERE database = current_database()" 30 >/dev/null
    sleep "0.$((RANDOM % 9 + 1))"
    as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$PA_PGDATA" -m immediate -w restart -l "$PA_PG_LOG" >/dev/null
done
ok "restarts: the server is back" wait_until "SELECT true" 30
check_batch restart 200

# The postmaster of the kill loop stayed up; no crash but the kills.
log=$(tail -n +"$log_mark" "$PA_PG_LOG")
is "server log: the 20 kills, each a worker terminated by signal 9" \
   "$(echo "$log" | grep 'terminated by signal 9' | grep -c 'procedural_agent worker')" "20"
is "server log: no crash other than the killed workers" \
   "$(echo "$log" | grep -E 'PANIC|TRAP|terminated by signal (6|11)|was terminated by exception' | head -3)" ""
finish
