# The test cluster is what README promises: PostgreSQL 15, pg_cron and
# procedural_agent preloaded, run by an unprivileged user.
. test/lib/tap.sh
DB=pa_it_cluster
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null

like "server is PostgreSQL 15" "$(q 'SHOW server_version')" '^15\.'
is "pg_cron and procedural_agent are preloaded" "$(q 'SHOW shared_preload_libraries')" "pg_cron,procedural_agent"
is "the server does not run as root" "$(ps -o user= -p "$(head -n 1 "$PA_PGDATA/postmaster.pid")" | tr -d ' ')" "postgres"
is "the extension installs" "$(q 'CREATE EXTENSION procedural_agent; SELECT pa_preloaded()' -d $DB)" "t"
is "pg_cron schedules a job" "$(q "SELECT cron.schedule('pa-it-probe', '0 3 * * *', 'SELECT 1') > 0")" "t"
is "pg_cron unschedules it" "$(q "SELECT cron.unschedule('pa-it-probe')")" "t"
is "the extension drops and comes back" \
   "$(q 'DROP EXTENSION procedural_agent; CREATE EXTENSION procedural_agent; SELECT count(*) FROM pa.agents' -d $DB)" "0"
q "DROP DATABASE $DB" >/dev/null
finish
