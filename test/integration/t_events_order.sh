# Events of one conversation get a gap-free order even when several
# sessions append at once (seq is assigned under the conversation's lock).
. test/lib/tap.sh
DB=pa_it_events
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION procedural_agent" -d $DB >/dev/null
conv=$(q "INSERT INTO pa.conversations (external_id, channel) VALUES ('c-1', 'chat') RETURNING id" -d $DB)

writer() {
    local who=$1 i
    for i in $(seq 1 150); do
        echo "INSERT INTO pa.events (conversation_id, kind, role, content) VALUES ($conv, 'message', '$who', 'm$i');"
    done | psql -X -q -d $DB >/dev/null 2>&1
}
writer customer & writer agent & writer human_agent &
wait

is "450 events stored" "$(q "SELECT count(*) FROM pa.events WHERE conversation_id = $conv" -d $DB)" "450"
is "seq is 1..450 without gaps or duplicates" \
   "$(q "SELECT min(seq) || '-' || max(seq) || '-' || count(DISTINCT seq) FROM pa.events WHERE conversation_id = $conv" -d $DB)" "1-450-450"
is "each writer's events keep their own order" \
   "$(q "SELECT count(*) FROM (SELECT role, content, seq, lag(seq) OVER (PARTITION BY role ORDER BY id) AS prev FROM pa.events) s WHERE seq < prev" -d $DB)" "0"
is "conversation knows its last seq" "$(q "SELECT last_event_seq FROM pa.conversations WHERE id = $conv" -d $DB)" "450"
like "an event of a missing conversation is refused (23503)" \
   "$(q "INSERT INTO pa.events (conversation_id, kind, role, content) VALUES (999999, 'message', 'customer', 'x')" -d $DB)" \
   'conversation 999999 does not exist'
is "terminating sets ended_at" \
   "$(q "UPDATE pa.conversations SET status = 'terminated', outcome = 'resolved' WHERE id = $conv RETURNING ended_at IS NOT NULL" -d $DB)" "t"
like "an outcome without termination is refused" \
   "$(q "INSERT INTO pa.conversations (outcome) VALUES ('resolved')" -d $DB)" 'violates check constraint'
q "DROP DATABASE $DB" >/dev/null

# A SQL_ASCII database stores any bytes: a transcript is UTF-8, so text that
# is not is refused with 22021 (and nothing is recorded), UTF-8 text passes.
ADB=pa_it_events_ascii
q "DROP DATABASE IF EXISTS $ADB" >/dev/null
q "CREATE DATABASE $ADB ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
q "CREATE EXTENSION procedural_agent" -d $ADB >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $ADB >/dev/null <<'SQL'
SELECT pa_create_provider('t', 'test');
SELECT pa_create_model('t', 'test-model', input_price => 1, output_price => 1);
SELECT pa_create_agent('note', 'Note it.', 't', 'test-model',
  '{"note": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}', planning => 'none');
INSERT INTO pa.conversations (external_id) VALUES ('a');
INSERT INTO pa.events (conversation_id, kind, role, content)
  VALUES ((SELECT id FROM pa.conversations), 'message', 'customer', 'caf' || E'\xc3\xa9 au lait');
SQL
is "SQL_ASCII: UTF-8 text in an event reaches the transcript" \
   "$(q "SELECT pa_invoke('note', (SELECT id FROM pa.conversations))->>'status'" -d $ADB)" "succeeded"
q "INSERT INTO pa.events (conversation_id, kind, role, content) VALUES ((SELECT id FROM pa.conversations), 'message', 'customer', 'bad ' || E'\\xff')" -d $ADB >/dev/null
like "SQL_ASCII: bytes that are not UTF-8 are refused (22021)" \
   "$(q "SELECT pa_invoke('note', (SELECT id FROM pa.conversations))" -d $ADB -v VERBOSITY=verbose)" '22021.*invalid byte sequence for encoding "UTF8"'
is "SQL_ASCII: the refused run left no row" "$(q "SELECT count(*) FROM pa.runs" -d $ADB)" "1"
q "DROP DATABASE $ADB" >/dev/null
finish
