# test/lib/cluster.sh — a throwaway PostgreSQL 15 cluster and the local
# model server, for test/run (sourced). PostgreSQL refuses to run as root,
# so as root the cluster belongs to the unprivileged user "postgres".
#
# Exports: PA_RUN_DIR, PGHOST, PGPORT, PGUSER, PGDATABASE, PA_PG_LOG,
#          PA_MODEL_URL (http://127.0.0.1:<port> of the model server),
#          PA_MODEL_KEY (the API key it accepts).

PA_PG_BIN=${PA_PG_BIN:-/usr/lib/postgresql/15/bin}
export PGPORT=${PA_TEST_PORT:-55432}
export PGUSER=postgres
export PGDATABASE=postgres

# Run a command as the cluster's owner.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cluster_setup() {
    PA_RUN_DIR=$(mktemp -d /tmp/pa-test.XXXXXX) || return 1
    chmod 755 "$PA_RUN_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PA_RUN_DIR"
    export PA_RUN_DIR PGHOST="$PA_RUN_DIR"
    export PA_PGDATA="$PA_RUN_DIR/data" PA_PG_LOG="$PA_RUN_DIR/postgres.log"
    echo "== starting PostgreSQL in $PA_RUN_DIR (port $PGPORT)"
    as_pg "$PA_PG_BIN/initdb" -D "$PA_PGDATA" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$PA_RUN_DIR/initdb.log" 2>&1 || { cat "$PA_RUN_DIR/initdb.log"; return 1; }
    cat >>"$PA_PGDATA/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$PA_RUN_DIR'
shared_preload_libraries = 'pg_cron,procedural_agent'
cron.database_name = 'postgres'
cron.use_background_workers = on
procedural_agent.database_names = '${PA_DATABASE_NAMES:-postgres,pa_it_worker,pa_it_durable,pa_it_drop,pa_it_deliver,pa_it_crash,pa_it_testkind,pa_it_readme}'
max_worker_processes = 16
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] %u@%d '
CONF
    # Many HTTP transfers per backend later need more than 1,024 files.
    ulimit -n 20000 2>/dev/null || true
    as_pg "$PA_PG_BIN/pg_ctl" -D "$PA_PGDATA" -l "$PA_PG_LOG" -w -t 60 start >/dev/null \
        || { cat "$PA_PG_LOG"; return 1; }
    "$PA_PG_BIN/psql" -XAtq -c "CREATE EXTENSION pg_cron" >/dev/null || return 1
}

cluster_teardown() {
    model_server_stop
    if [ -n "${PA_PGDATA:-}" ] && [ -f "$PA_PGDATA/postmaster.pid" ]; then
        as_pg "$PA_PG_BIN/pg_ctl" -D "$PA_PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
            || as_pg "$PA_PG_BIN/pg_ctl" -D "$PA_PGDATA" -m immediate stop >/dev/null 2>&1
    fi
    if [ -n "${PA_RUN_DIR:-}" ] && [ -z "${PA_KEEP:-}" ]; then
        rm -rf "$PA_RUN_DIR"
    fi
}

# model_server_start [server.py options...], e.g. --responder demo/model_responses.py
model_server_start() {
    local portfile="$PA_RUN_DIR/model_server.port" i
    # A distinctive key, so tests can prove it never lands in the ledger.
    export PA_MODEL_KEY=${PA_MODEL_KEY:-pa-test-SECRET-key-0001}
    /usr/bin/python3 test/model_server/server.py --host 127.0.0.1 --port 0 \
        --api-key "$PA_MODEL_KEY" --port-file "$portfile" "$@" 2>"$PA_RUN_DIR/model_server.log" &
    PA_MODEL_PID=$!
    for i in $(seq 1 100); do
        [ -s "$portfile" ] && break
        sleep 0.1
    done
    [ -s "$portfile" ] || { cat "$PA_RUN_DIR/model_server.log"; return 1; }
    export PA_MODEL_URL="http://127.0.0.1:$(cat "$portfile")"
    echo "== model server at $PA_MODEL_URL"
}

model_server_stop() {
    if [ -n "${PA_MODEL_PID:-}" ]; then
        kill "$PA_MODEL_PID" 2>/dev/null
        wait "$PA_MODEL_PID" 2>/dev/null
        PA_MODEL_PID=
    fi
}
