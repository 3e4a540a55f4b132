# API keys stay out of pg_stat_activity (for other roles) and out of the
# server log at default settings, even when the statement carrying them
# fails. A control statement shows the log check can fail.
. test/lib/tap.sh
DB=pa_it_secrets
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION procedural_agent" -d $DB >/dev/null
q "DROP ROLE IF EXISTS pa_it_eve; CREATE ROLE pa_it_eve LOGIN" >/dev/null

# An administrator's statement that holds a key is running...
psql -X -q -d $DB -c "SELECT pa_create_provider('slow', 'openai', api_key => 'sk-IT-LIVESECRET-1'), pg_sleep(3)" >/dev/null 2>&1 &
bg=$!
sleep 1
# ...another role looks at pg_stat_activity.
# (the pattern is built so that this query does not match itself)
seen=$(q "SELECT count(*) FROM pg_stat_activity WHERE query ~ ('LIVE' || 'SECRET-1')" -d $DB -U pa_it_eve)
wait $bg
is "another role cannot see a key in pg_stat_activity" "$seen" "0"
is "a superuser can (the check is real)" \
   "$(psql -X -q -d $DB -c "SELECT pg_sleep(2) -- sk-IT-LIVESECRET-2" >/dev/null 2>&1 & sleep 1; q "SELECT count(*) FROM pg_stat_activity WHERE query ~ ('LIVE' || 'SECRET-2')" -d $DB; wait)" "1"

# Failing statements that carry keys.
q "SELECT pa_create_provider('slow', 'openai', api_key => 'sk-IT-LOGSECRET-A')" -d $DB >/dev/null  # duplicate name
q "SELECT pa_create_provider('p2', 'gemini', api_key => 'sk-IT-LOGSECRET-B')" -d $DB >/dev/null    # unknown kind
q "SELECT pa_set_provider_key('nope', 'sk-IT-LOGSECRET-C')" -d $DB >/dev/null                    # unknown provider
q "SELECT pa_set_provider_key('slow', 'sk IT LOGSECRET D')" -d $DB >/dev/null                    # invalid key
q "SELECT 'sk-IT-CONTROL-E'::integer" -d $DB >/dev/null                                           # control
sleep 0.5
like "the control statement is in the log" "$(grep -c 'sk-IT-CONTROL-E' "$PA_PG_LOG")" '^[1-9]'
is "no failing key-carrying statement is in the log" "$(grep -c 'LOGSECRET' "$PA_PG_LOG")" "0"
is "the key never reaches the log at all" "$(grep -c 'LIVESECRET-1' "$PA_PG_LOG")" "0"
is "the key is stored" "$(q "SELECT api_key FROM pa.provider_secrets" -d $DB)" "sk-IT-LIVESECRET-1"
like "the role cannot read it" "$(q "SELECT api_key FROM pa.provider_secrets" -d $DB -U pa_it_eve)" 'permission denied'
is "nor find it in any readable table of the extension" \
   "$(q "SELECT count(*) FROM pa.providers p WHERE row_to_json(p)::text ~ 'LIVESECRET'" -d $DB -U pa_it_eve)" "0"
like "a role cannot copy the secrets table out" \
   "$(q "COPY pa.provider_secrets TO STDOUT" -d $DB -U pa_it_eve)" 'permission denied'
q "DROP DATABASE $DB" >/dev/null
q "DROP ROLE pa_it_eve" >/dev/null
finish
