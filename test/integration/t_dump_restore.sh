# pg_dump / restore keeps every definition, conversation, secret and run:
# the tables are marked as extension configuration.
. test/lib/tap.sh
SRC=pa_it_dump_src
DST=pa_it_dump_dst
for d in $SRC $DST; do q "DROP DATABASE IF EXISTS $d" >/dev/null; q "CREATE DATABASE $d" >/dev/null; done
q "CREATE EXTENSION procedural_agent;
   SELECT pa_create_provider('p', 'openai', api_key => 'sk-dump-1');
   SELECT pa_create_model('p', 'm', 1, 2);
   SELECT pa_create_agent('a', 'Do it.', 'p', 'm', '{\"r\": {\"schema\": {\"type\": \"object\"}}}');
   SELECT pa_alter_agent('a', max_steps => 7);
   INSERT INTO pa.conversations (external_id) VALUES ('c1');
   INSERT INTO pa.events (conversation_id, kind, role, content) SELECT id, 'message', 'customer', 'hi' FROM pa.conversations;" -d $SRC >/dev/null
pg_dump -d $SRC -Fc -f "$PA_RUN_DIR/dump.pgc" 2>"$PA_RUN_DIR/dump.err"
ok "pg_dump succeeds" test -s "$PA_RUN_DIR/dump.pgc"
pg_restore -d $DST "$PA_RUN_DIR/dump.pgc" 2>"$PA_RUN_DIR/restore.err"
is "pg_restore reports no error" "$(cat "$PA_RUN_DIR/restore.err")" ""
is "agents and versions come back" "$(q "SELECT string_agg(name || ':' || latest_version, ',') FROM pa.agents" -d $DST)" "a:2"
is "versions keep their settings" "$(q "SELECT string_agg(max_steps::text, ',' ORDER BY version) FROM pa.agent_versions" -d $DST)" "20,7"
is "the secret comes back" "$(q "SELECT api_key FROM pa.provider_secrets" -d $DST)" "sk-dump-1"
is "events come back" "$(q "SELECT count(*) FROM pa.events" -d $DST)" "1"
is "identities continue after the restored rows" \
   "$(q "INSERT INTO pa.conversations (external_id) VALUES ('c2') RETURNING id" -d $DST)" "2"
is "a restored agent can be altered" "$(q "SELECT pa_alter_agent('a', max_steps => 9)" -d $DST)" "3"
for d in $SRC $DST; do q "DROP DATABASE $d" >/dev/null; done
finish
