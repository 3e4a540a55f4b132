# Event times in a transcript are written as JSON writes a timestamptz
# (to_jsonb), in the caller's time zone: the loader computes the zone's
# offset once per stretch between transitions (src/context.c), so times
# on both sides of DST changes, in zones with odd offsets, in the past and
# out of order must come out exactly as to_jsonb prints them.
. test/lib/tap.sh
DB=pa_it_times
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v url="$PA_MODEL_URL/v1" -v key="$PA_MODEL_KEY" -d $DB >/dev/null <<'SQL'
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => :'url', api_key => :'key');
SELECT pa_create_model('oa', 'gpt-test', input_price => 1, output_price => 1);
SELECT pa_create_agent('note', 'Note it.', 'oa', 'gpt-test',
  '{"note": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}', planning => 'none');
INSERT INTO pa.conversations (external_id) VALUES ('times');
-- in seq order but not in time order: later, earlier, across transitions
INSERT INTO pa.events (conversation_id, kind, role, content, occurred_at)
SELECT (SELECT id FROM pa.conversations), 'message', 'customer', 'event ' || n, t::timestamptz
  FROM unnest(ARRAY[
    '2026-03-08 06:59:59.999999+00', '2026-03-08 07:00:00+00', '2026-03-08 07:00:00.5+00',
    '2026-11-01 05:59:59+00', '2026-11-01 06:00:00.000001+00', '2026-11-01 06:30:00.12+00',
    '2026-03-29 00:59:59+00', '2026-03-29 01:00:00+00', '2026-10-25 01:00:00+00',
    '2026-01-01 00:00:00+00', '1999-12-31 23:59:59.999+00', '1970-01-01 00:00:00+00',
    '1969-12-31 23:59:59.000001+00', '1950-06-15 12:00:00+00', '1918-03-31 10:00:00+00',
    '2026-04-05 13:45:00+00', '2026-09-27 14:00:00+00', '2099-07-04 03:00:00.000100+00',
    '2026-11-24 18:00:00+00', '2026-07-01 00:00:00+00', '0500-01-01 00:00:00+00',
    '10000-01-01 00:00:00+00', '2026-06-30 23:59:59+00'
  ]) WITH ORDINALITY AS x(t, n);
SQL
conv=$(q "SELECT id FROM pa.conversations" -d $DB)
# the event lines' heads as to_jsonb writes the times in zone $1, one per line
expected() {
    q "SET TimeZone = '$1';
       SELECT string_agg('[#' || id || ' ' || (to_jsonb(occurred_at) #>> '{}') || ' ', E'\n' ORDER BY seq)
         FROM pa.events WHERE conversation_id = $conv" -d $DB
}
# how many of those lines the transcript the model received lacks
missing_in_last_request() {
    ms_requests | /usr/bin/python3 -c "
import json, sys
heads = sys.argv[1].split('\n')
text = json.load(sys.stdin)['requests'][-1]['body']['messages'][1]['content']
print(sum(1 for h in heads if h not in text))" "$1"
}
for tz in UTC America/New_York Europe/London Europe/Dublin Asia/Kathmandu America/St_Johns \
          Pacific/Chatham Australia/Lord_Howe Africa/Monrovia Europe/Amsterdam 'Etc/GMT+12' '<+0330>-3:30'; do
    ms_scenario '{"rules":[{"match":{"contains":"times"},"responses":[{"tool_calls":[{"name":"record_note","arguments":{"text":"ok"}}]}]}]}'
    status=$(q "SET TimeZone = '$tz'; SELECT pa_invoke('note', $conv)->>'status'" -d $DB)
    is "TimeZone $tz: the run succeeds" "$status" "succeeded"
    is "TimeZone $tz: all 23 event times as to_jsonb writes them" "$(missing_in_last_request "$(expected "$tz")")" "0"
done
# the check is not vacuous: the last transcript (made in another zone) lacks UTC's times
is "a transcript made in one zone does not hold another zone's times" \
   "$(missing_in_last_request "$(expected UTC)")" "23"
q "DROP DATABASE $DB" >/dev/null
finish
