# Without shared_preload_libraries the extension still defines and
# validates and says it was not preloaded; what needs the postmaster
# (shared memory: pa_progress) refuses with a hint.
. test/lib/tap.sh
dir="$PA_RUN_DIR/nopreload"
port=$((PGPORT + 1))
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg rm -rf "$dir"
as_pg mkdir -p "$dir"
as_pg /usr/lib/postgresql/15/bin/initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1
printf "port = $port\nlisten_addresses = ''\nunix_socket_directories = '$dir'\nfsync = off\n" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
if as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$dir/data" -l "$dir/log" -w start >/dev/null; then
    pass "a server without preloaded libraries starts"
    is "the extension installs and reports it is not preloaded" \
       "$(q 'CREATE EXTENSION procedural_agent; SELECT pa_preloaded()' -h "$dir" -p $port)" "f"
    is "validation works without preloading" \
       "$(q "SELECT pa_is_valid('{\"type\": \"integer\"}', '5')" -h "$dir" -p $port)" "t"
    out=$(psql -X -q -h "$dir" -p $port -c "SELECT * FROM pa_progress()" 2>&1)
    like "a feature that needs shared memory refuses clearly" "$out" 'pa_progress\(\) requires procedural_agent to be loaded via shared_preload_libraries'
    like "... with a hint" "$out" 'HINT:  Add procedural_agent to shared_preload_libraries'
    like "... and its SQLSTATE (55000) via a DO block" \
       "$(q "DO \$\$ BEGIN PERFORM * FROM pa_progress(); EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'sqlstate 55000'; END \$\$" -h "$dir" -p $port)" 'sqlstate 55000'
    as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$dir/data" -m fast -w stop >/dev/null
else
    fail "a server without preloaded libraries starts"
fi
finish
