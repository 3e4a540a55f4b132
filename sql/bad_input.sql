-- Bad input across the SQL API: each call is refused with a specific
-- SQLSTATE and a message saying what is wrong, and nothing is half-written
-- (the counts of every table the API writes are the same before and after).
SELECT pa_create_provider('bi_p', 'openai', base_url => 'http://127.0.0.1:9/v1', api_key => 'sk-bi');
SELECT pa_create_model('bi_p', 'bi-m', 1, 1);
SELECT pa_create_agent('bi', 'Answer.', 'bi_p', 'bi-m',
  '{"answer": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}',
  planning => 'none', input_schema => '{"type": "object", "properties": {"order": {"type": "integer"}}}');
INSERT INTO pa.conversations (external_id) VALUES ('bi-conv');
CREATE FUNCTION public.bi_gone(n integer) RETURNS integer LANGUAGE sql AS $$ SELECT n $$;
SELECT pa_create_tool('bi_gone', 'sql', function => 'public.bi_gone(integer)');
DROP FUNCTION public.bi_gone(integer);

CREATE TEMP TABLE bi_counts AS
SELECT (SELECT count(*) FROM pa.runs) AS runs, (SELECT count(*) FROM pa.run_steps) AS steps,
       (SELECT count(*) FROM pa.outputs) AS outputs, (SELECT count(*) FROM pa.agents) AS agents,
       (SELECT count(*) FROM pa.agent_versions) AS versions, (SELECT count(*) FROM pa.tools) AS tools,
       (SELECT count(*) FROM pa.schedules) AS schedules, (SELECT count(*) FROM pa.agent_deliveries) AS targets,
       (SELECT count(*) FROM pa.deliveries) AS deliveries;

-- invocation
SELECT expect_error($$SELECT pa_invoke(NULL)$$);
SELECT expect_error($$SELECT pa_invoke('')$$);
SELECT expect_error($$SELECT pa_invoke('no_such_agent')$$);
SELECT expect_error($$SELECT pa_invoke('bi', conversation => 987654321)$$);
SELECT expect_error($$SELECT pa_invoke('bi', input => '[1, 2]')$$);
SELECT expect_error($$SELECT pa_invoke('bi', input => 'null')$$);
SELECT expect_error($$SELECT pa_invoke('bi', input => '{"order": "forty-two"}')$$);
SELECT expect_error($$SELECT pa_invoke('bi', timeout => '-1 second')$$);
SELECT expect_error($$SELECT pa_invoke('bi', version => 99)$$);
SELECT expect_error($$SELECT pa_invoke('bi', version => 0)$$);
SELECT expect_error($$SELECT pa_invoke('bi', input => jsonb_build_object('order', repeat('x', 1000000)))$$);

-- the queue
SELECT expect_error($$SELECT pa_enqueue(NULL)$$);
SELECT expect_error($$SELECT pa_enqueue('no_such_agent')$$);
SELECT expect_error($$SELECT pa_enqueue('bi', priority => 40000)$$);
SELECT expect_error($$SELECT pa_enqueue('bi', max_attempts => 0)$$);
SELECT expect_error($$SELECT pa_enqueue('bi', dedup_key => '')$$);
SELECT expect_error($$SELECT pa_enqueue('bi', dedup_key => repeat('k', 100000))$$);
SELECT expect_error($$SELECT pa_enqueue('bi', conversation => -5)$$);
SELECT expect_error($$SELECT pa_enqueue('bi', input => '"text"')$$);
SELECT expect_error($$SELECT pa_enqueue('bi', version => 7)$$);
SELECT expect_error($$SELECT pa_wait(NULL)$$);
SELECT expect_error($$SELECT pa_wait(-1)$$);
SELECT expect_error($$SELECT pa_cancel(-1)$$);
SELECT expect_error($$SELECT pa_backfill('bi')$$);
SELECT expect_error($$SELECT pa_backfill('bi', since => now(), until => now() - interval '1 day')$$);
SELECT expect_error($$SELECT pa_backfill('no_such_agent', since => now() - interval '1 day')$$);
SELECT expect_error($$SELECT pa_compare_versions('bi', 1, 99)$$);
SELECT expect_error($$SELECT pa_compare_versions('no_such_agent', 1, 2)$$);

-- schedules (pg_cron lives in the postgres database, not this one)
SELECT expect_error($$SELECT pa_schedule('s1', 'not a cron line', 'bi')$$);
SELECT expect_error($$SELECT pa_schedule('', '* * * * *', 'bi')$$);
SELECT expect_error($$SELECT pa_schedule('s1', '* * * * *', 'no_such_agent')$$);
SELECT expect_error($$SELECT pa_unschedule('never_made')$$);
SELECT expect_error($$SELECT pa_run_schedule('never_made')$$);

-- deliveries
SELECT expect_error($$SELECT pa_add_delivery('bi', 'email', 'mailto:ops@example.com')$$);
SELECT expect_error($$SELECT pa_add_delivery('bi', 'webhook', 'not a url')$$);
SELECT expect_error($$SELECT pa_add_delivery('no_such_agent', 'webhook', 'https://example.com/h')$$);
SELECT expect_error($$SELECT pa_add_delivery('bi', 'webhook', 'https://example.com/h', max_attempts => 0)$$);
SELECT expect_error($$SELECT pa_redeliver(-1)$$);

-- definitions: invalid and cyclic schemas, huge and empty values, a dropped function
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"type": "nope"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"$ref": "#"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m',
  '{"a": {"schema": {"$defs": {"p": {"$ref": "#/$defs/q"}, "q": {"$ref": "#/$defs/p"}}, "$ref": "#/$defs/p"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"$ref": "https://example.com/s.json"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', '', 'bi_p', 'bi-m', '{"a": {"schema": {"type": "object"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent(repeat('x', 100), 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"type": "object"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', repeat('x', 2000000), 'bi_p', 'bi-m', '{"a": {"schema": {"type": "object"}}}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"type": "object"}}}', tools => '{bi_gone}')$$);
SELECT expect_error($$SELECT pa_create_agent('bi2', 'x', 'bi_p', 'bi-m', '{"a": {"schema": {"type": "object"}}}', max_steps => -1)$$);
SELECT expect_error($$SELECT pa_alter_agent('bi', outputs => '{"answer": {"schema": {"type": 5}}}')$$);
SELECT expect_error($$SELECT pa_create_tool('bi_t', 'sql', function => 'public.no_such_function(integer)')$$);

-- the validator
SELECT expect_error($$SELECT pa_is_valid('{"type": 5}', '1')$$);
SELECT expect_error($$SELECT pa_is_valid('{"$ref": "#"}', '1')$$);
SELECT expect_error($$SELECT pa_is_valid('{"$defs": {"p": {"$ref": "#/$defs/q"}, "q": {"$ref": "#/$defs/p"}}, "$ref": "#/$defs/p"}', '1')$$);
SELECT expect_error($$SELECT pa_is_valid('{"$ref": "#/$defs/missing"}', '1')$$);
SELECT expect_error($$SELECT pa_is_valid('{"pattern": "("}', '"x"')$$);

-- nothing was half-written
SELECT (SELECT count(*) FROM pa.runs) - runs AS runs, (SELECT count(*) FROM pa.run_steps) - steps AS steps,
       (SELECT count(*) FROM pa.outputs) - outputs AS outputs, (SELECT count(*) FROM pa.agents) - agents AS agents,
       (SELECT count(*) FROM pa.agent_versions) - versions AS versions, (SELECT count(*) FROM pa.tools) - tools AS tools,
       (SELECT count(*) FROM pa.schedules) - schedules AS schedules,
       (SELECT count(*) FROM pa.agent_deliveries) - targets AS targets,
       (SELECT count(*) FROM pa.deliveries) - deliveries AS deliveries
  FROM bi_counts;

-- an agent dropped with runs queued: they end cancelled, the ledger stays
SELECT count(pa_enqueue('bi', input => jsonb_build_object('order', i))) FROM generate_series(1, 3) i;
SELECT pa_drop_agent('bi');
SELECT status, error_code, count(*) FROM pa.runs r JOIN pa.agents a ON a.id = r.agent_id
 WHERE a.name = 'bi' GROUP BY 1, 2;
SELECT expect_error($$SELECT pa_enqueue('bi')$$);
SELECT pa_drop_tool('bi_gone');
