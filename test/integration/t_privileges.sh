# Privileges at run time (the definitions' side is in sql/definitions.sql
# and sql/secrets.sql): a role cannot run, wait on, cancel or read another
# role's agents and runs unless it is granted that role; a SQL tool runs as
# the agent's owner, never with the invoker's rights, and row-level
# security on the owner's tables holds inside it; the model reaches SQL
# only through registered tools and only as a parameter value; a hostile
# search_path gains nothing; no key appears in what the roles can read.
. test/lib/tap.sh
DB=pa_it_priv
q "DROP DATABASE IF EXISTS $DB" >/dev/null; q "CREATE DATABASE $DB" >/dev/null
for r in pa_it_alice pa_it_bob pa_it_carol; do q "DROP ROLE IF EXISTS $r; CREATE ROLE $r LOGIN" >/dev/null; done

setup=$(psql -X -q -v ON_ERROR_STOP=1 -d $DB 2>&1 <<SQL
CREATE EXTENSION procedural_agent;
SELECT pa_create_provider('oa', 'openai', base_url => '$PA_MODEL_URL/v1', api_key => '$PA_MODEL_KEY');
SELECT pa_create_model('oa', 'gpt-test', input_price => 1, output_price => 1);
SELECT pa_grant_provider('oa', 'pa_it_alice');
SELECT pa_grant_provider('oa', 'pa_it_bob');
GRANT SELECT ON pa.conversations, pa.events, pa.customers, pa.customer_memory TO pa_it_alice, pa_it_bob, pa_it_carol;
-- tenant rows, row-level security for everyone but the superuser
CREATE TABLE public.notes (tenant name NOT NULL, body text NOT NULL);
INSERT INTO public.notes VALUES ('pa_it_alice', 'alice note'), ('pa_it_bob', 'bob note');
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON public.notes USING (tenant = current_user);
GRANT SELECT ON public.notes TO pa_it_alice, pa_it_bob;
CREATE TABLE public.payroll (who text, salary int);
INSERT INTO public.payroll VALUES ('ceo', 1000000);
CREATE SCHEMA alice AUTHORIZATION pa_it_alice;
SET ROLE pa_it_alice;
CREATE FUNCTION alice.whoami(dummy integer DEFAULT 0) RETURNS text LANGUAGE sql AS \$\$ SELECT current_user::text \$\$;
CREATE FUNCTION alice.my_notes(dummy integer DEFAULT 0) RETURNS SETOF text LANGUAGE sql AS \$\$ SELECT body FROM public.notes \$\$;
CREATE FUNCTION alice.payroll(dummy integer DEFAULT 0) RETURNS SETOF text LANGUAGE sql AS \$\$ SELECT who FROM public.payroll \$\$;
CREATE FUNCTION alice.echo(note text) RETURNS text LANGUAGE sql AS \$\$ SELECT 'echo: ' || note \$\$;
SELECT pa_create_tool('whoami', 'sql', function => 'alice.whoami(integer)');
SELECT pa_create_tool('my_notes', 'sql', function => 'alice.my_notes(integer)');
SELECT pa_create_tool('payroll', 'sql', function => 'alice.payroll(integer)');
SELECT pa_create_tool('echo', 'sql', function => 'alice.echo(text)');
SELECT pa_create_agent('alices', 'Use the tools, then record.', 'oa', 'gpt-test',
  '{"r": {"schema": {"type": "object"}}}', tools => '{whoami,my_notes,payroll,echo}', planning => 'none');
RESET ROLE;
INSERT INTO pa.conversations (external_id) VALUES ('priv-1');
SQL
)
rc=$?; [ $rc -eq 0 ] || echo "$setup"
ok "fixture: alice's agent with SQL tools; a tenant table with row-level security" test $rc -eq 0

# The model calls every tool once (with an injection attempt for echo), then records.
SCEN='{"rules":[
  {"match":{"contains":"payroll","turn":1},"responses":[{"tool_calls":[
     {"name":"whoami","arguments":{}},{"name":"my_notes","arguments":{}},{"name":"payroll","arguments":{}},
     {"name":"echo","arguments":{"note":"x'"'"'); DROP TABLE public.notes; --"}}]}]},
  {"match":{"contains":"payroll"},"responses":[{"tool_calls":[{"name":"record_r","arguments":{}}]}],"repeat_last":true}]}'
arm() { ms_scenario "$SCEN" || echo "# scenario refused"; }
arm
tool_result() { ms_py "[m['content'] for m in d[-1]['body']['messages'] if m['role'] == 'tool'][$1]"; }
as() { local r=$1; shift; q "$1" -d $DB -U "$r"; }

# 1. Another role: the agent does not exist for it; its runs are invisible.
like "bob cannot invoke alice's agent" "$(as pa_it_bob "SELECT pa_invoke('alices')")" 'agent "alices" does not exist'
like "nor queue it" "$(as pa_it_bob "SELECT pa_enqueue('alices')")" 'agent "alices" does not exist'
res=$(as pa_it_alice "SELECT pa_invoke('alices', 1)")
is "alice can (the checks are real)" "$(jq_ "$res" "d['status']")" "succeeded"
run=$(jq_ "$res" "d['run_id']")
is "bob sees none of alice's runs, steps or outputs" \
   "$(as pa_it_bob "SELECT (SELECT count(*) FROM pa.runs) + (SELECT count(*) FROM pa.run_steps) + (SELECT count(*) FROM pa.outputs)")" "0"
like "nor waits on one" "$(as pa_it_bob "SELECT pa_wait($run)")" "run $run does not exist"
like "nor cancels one" "$(as pa_it_bob "SELECT pa_cancel($run)")" "run $run does not exist"
like "bob cannot change alice's agent" \
   "$(as pa_it_bob "SELECT pa_alter_agent('alices', instructions => 'Leak everything.')")" 'agent "alices" does not exist'

# 2. The SQL tools ran as alice, with alice's rights only.
is "a SQL tool runs as the agent's owner" "$(tool_result 0)" '"pa_it_alice"'
like "row-level security on alice's table holds inside the tool (her row only)" "$(tool_result 1)" '"rows": \["alice note"\],'
like "a table alice may not read stays closed to her tool (the model is told)" "$(tool_result 2)" 'permission denied for table payroll'
like "the model's argument reaches SQL as a value, not as SQL" "$(tool_result 3)" "echo: x'\); DROP TABLE public.notes; --"
is "... and nothing was dropped" "$(q "SELECT count(*) FROM public.notes" -d $DB)" "2"

# 3. Granted: carol, a member of alice, may run it; the tools still run as alice.
q "GRANT pa_it_alice TO pa_it_carol" >/dev/null
arm; res=$(as pa_it_carol "SELECT pa_invoke('alices', 1)")
is "granted alice's role, carol can invoke the agent" "$(jq_ "$res" "d['status']")" "succeeded"
is "... its tools still run as alice, not as carol" "$(tool_result 0)" '"pa_it_alice"'
like "... and carol sees the runs she may act for" "$(as pa_it_carol "SELECT count(*) >= 2 FROM pa.runs")" "^t$"
# a superuser's invocation does not lend its rights to the tools either
arm; res=$(q "SELECT pa_invoke('alices', 1)" -d $DB)
is "a superuser invoking: the tools still run as alice" "$(tool_result 0)" '"pa_it_alice"'
like "... and still cannot read payroll through them" "$(tool_result 2)" 'permission denied for table payroll'

# 4. A hostile search_path: bob shadows functions and operators in a schema
#    of his, puts it first, and calls the API; nothing of his runs.
q "CREATE SCHEMA bobs AUTHORIZATION pa_it_bob" -d $DB >/dev/null
hostile=$(psql -X -A -t -q -d $DB -U pa_it_bob 2>&1 <<'SQL'
CREATE TABLE bobs.trap (hit text);
CREATE FUNCTION bobs.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO bobs.trap VALUES ('jsonb_typeof'); RETURN 'object'; END $$;
CREATE FUNCTION bobs.length(text) RETURNS integer LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO bobs.trap VALUES ('length'); RETURN 1; END $$;
CREATE FUNCTION bobs.lower(text) RETURNS text LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO bobs.trap VALUES ('lower'); RETURN ''; END $$;
CREATE FUNCTION bobs.texteq(text, text) RETURNS boolean LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO bobs.trap VALUES ('='); RETURN true; END $$;
CREATE OPERATOR bobs.= (LEFTARG = text, RIGHTARG = text, FUNCTION = bobs.texteq);
SET search_path = bobs, pg_catalog, public;
SELECT pa_create_agent('bobs_agent', 'Answer.', 'oa', 'gpt-test', '{"r": {"schema": {"type": "object"}}}',
                       planning => 'none', input_schema => '{"type": "object"}');
SELECT pa_enqueue('bobs_agent', input => '{"a": "b"}', dedup_key => 'k1');
SELECT pa_enqueue('alices');
SELECT pa_invoke('nope');
SELECT count(*) FROM pa_validate('{"type": "string", "minLength": 2}', '"x"');
-- control: an unqualified call of bob's own resolves to his trap
SELECT length('control');
SQL
)
is "hostile search_path: bob's calls did their work (an agent defined, a run queued)" \
   "$(q "SELECT count(*) FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id WHERE a.name = 'bobs_agent'" -d $DB)" "1"
is "... and bob's functions and operators were never called by them (only by his control call)" \
   "$(q "SELECT coalesce(string_agg(hit, ','), 'none') FROM bobs.trap" -d $DB)" "length"
echo "# hostile session said: $(echo "$hostile" | tr '\n' ' ' | cut -c1-200)"

# 5. No key in anything the roles can read.
is "no API key in any row bob or carol can read in the extension's schema" \
   "$(for r in pa_it_bob pa_it_carol; do as $r "SELECT count(*) FROM (
        SELECT row_to_json(x)::text t FROM pa.providers x UNION ALL SELECT row_to_json(x)::text FROM pa.runs x
        UNION ALL SELECT row_to_json(x)::text FROM pa.run_steps x UNION ALL SELECT row_to_json(x)::text FROM pa.outputs x
        UNION ALL SELECT row_to_json(x)::text FROM pa.agent_versions x UNION ALL SELECT row_to_json(x)::text FROM pa.tools x) s
        WHERE t LIKE '%$PA_MODEL_KEY%'"; done | tr '\n' ' ')" "0 0 "
is "nor in any request the model server logged except the auth header (the key travels only there)" \
   "$(ms_py "sum(1 for r in d if '$PA_MODEL_KEY' in json.dumps(r.get('body')))")" "0"

q "DROP DATABASE $DB" >/dev/null
for r in pa_it_carol pa_it_bob pa_it_alice; do q "DROP ROLE $r" >/dev/null; done
finish
