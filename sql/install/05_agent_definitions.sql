
-- Validate an agent definition and return it in normalised form (jsonb).
-- pa_create_agent and pa_alter_agent both go through here.
CREATE FUNCTION pa._agent_definition(
    caller regrole, instructions text, provider text, model text, outputs jsonb, tools text[],
    planning text, thinking_budget integer, reasoning_effort text, max_output_tokens integer,
    max_steps integer, max_repairs integer, timeout interval, context_budget integer,
    input_schema jsonb, trigger_outcomes text[], trigger_condition text, description text,
    finish_when_recorded boolean, max_cost_usd numeric)
RETURNS jsonb LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    prov pa.providers;
    mdl pa.models;
    outs jsonb := '{}';
    o record;
    spec jsonb;
    k text;
    tbl regclass;
    tool_names text[] := '{}';
    tname text;
    t pa.tools;
BEGIN
    PERFORM pa._require(instructions, 'instructions');
    IF btrim(instructions) = '' THEN
        PERFORM pa._fail('22023', 'instructions must not be empty', NULL, 'Tell the agent what procedure to execute.');
    END IF;
    IF length(instructions) > 1000000 THEN
        PERFORM pa._fail('22003', 'instructions are too long', 'The limit is 1,000,000 characters.');
    END IF;

    prov := pa._provider_for(caller, provider, true);
    PERFORM pa._require(model, 'model');
    SELECT * INTO mdl FROM pa.models m WHERE m.provider_id = prov.id AND m.name = model;
    IF NOT FOUND THEN
        PERFORM pa._fail('42704', format('model "%s" of provider "%s" does not exist', model, provider), NULL,
            'Register it with pa_create_model() so that its prices are known.');
    END IF;

    PERFORM pa._require(planning, 'planning');
    IF planning NOT IN ('none', 'low', 'high') THEN
        PERFORM pa._fail('22023', format('unknown planning intensity "%s"', planning), NULL, 'Use none, low or high.');
    END IF;
    PERFORM pa._require(max_output_tokens, 'max_output_tokens');
    PERFORM pa._check_range('max_output_tokens', max_output_tokens, 1, least(coalesce(mdl.max_output_tokens, 128000), 128000));
    IF thinking_budget IS NOT NULL THEN
        IF prov.kind NOT IN ('anthropic', 'test') THEN
            PERFORM pa._fail('22023', 'thinking_budget applies to anthropic providers only', NULL,
                'For OpenAI reasoning models, set reasoning_effort.');
        END IF;
        PERFORM pa._check_range('thinking_budget', thinking_budget, 1024, 128000);
        IF thinking_budget >= max_output_tokens THEN
            PERFORM pa._fail('22023', 'thinking_budget must be less than max_output_tokens',
                format('thinking_budget is %s and max_output_tokens is %s.', thinking_budget, max_output_tokens),
                'Raise max_output_tokens: thinking tokens count against it.');
        END IF;
    END IF;
    IF reasoning_effort IS NOT NULL THEN
        IF prov.kind NOT IN ('openai', 'test') THEN
            PERFORM pa._fail('22023', 'reasoning_effort applies to openai providers only', NULL,
                'For Anthropic models, set thinking_budget.');
        END IF;
        IF reasoning_effort NOT IN ('minimal', 'low', 'medium', 'high') THEN
            PERFORM pa._fail('22023', format('unknown reasoning_effort "%s"', reasoning_effort), NULL,
                'Use minimal, low, medium or high.');
        END IF;
    END IF;
    PERFORM pa._require(max_steps, 'max_steps');
    PERFORM pa._check_range('max_steps', max_steps, 1, 200);
    PERFORM pa._require(max_repairs, 'max_repairs');
    PERFORM pa._check_range('max_repairs', max_repairs, 0, 10);
    PERFORM pa._require(timeout, 'timeout');
    IF timeout < '1 second' OR timeout > '24 hours' THEN
        PERFORM pa._fail('22003', format('timeout %s is out of range', timeout), 'Timeout must be between 1 second and 24 hours.');
    END IF;
    PERFORM pa._check_range('context_budget', context_budget, 1000, least(coalesce(mdl.context_window, 2000000), 2000000));
    PERFORM pa._check_range('max_cost_usd', max_cost_usd, 0.000001, 100000);
    IF input_schema IS NOT NULL THEN
        PERFORM pa._check_object_schema('input_schema', input_schema);
    END IF;

    -- Outputs: name -> {schema, cardinality, required, description, table, evidence}
    PERFORM pa._require(outputs, 'outputs');
    IF jsonb_typeof(outputs) <> 'object' OR outputs = '{}' THEN
        PERFORM pa._fail('22023', 'outputs must be a non-empty JSON object', NULL,
            'Map each output name to {"schema": {...}, "cardinality": "one"|"many", "required": true|false}.');
    END IF;
    IF (SELECT count(*) FROM jsonb_object_keys(outputs)) > 32 THEN
        PERFORM pa._fail('22003', 'too many outputs', 'An agent has at most 32 output types.');
    END IF;
    FOR o IN SELECT key, value FROM jsonb_each(outputs) ORDER BY key LOOP
        PERFORM pa._check_name('output name', o.key, 57);
        IF jsonb_typeof(o.value) <> 'object' THEN
            PERFORM pa._fail('22023', format('output "%s" must be a JSON object', o.key));
        END IF;
        FOR k IN SELECT jsonb_object_keys(o.value) LOOP
            IF k NOT IN ('schema', 'cardinality', 'required', 'description', 'table', 'evidence') THEN
                PERFORM pa._fail('22023', format('unknown key "%s" in output "%s"', k, o.key), NULL,
                    'Known keys: schema, cardinality, required, description, table, evidence.');
            END IF;
        END LOOP;
        PERFORM pa._check_object_schema(format('schema of output "%s"', o.key), o.value->'schema');
        IF coalesce(o.value->>'cardinality', 'one') NOT IN ('one', 'many') THEN
            PERFORM pa._fail('22023', format('unknown cardinality "%s" of output "%s"', o.value->>'cardinality', o.key),
                NULL, 'Use one or many.');
        END IF;
        IF jsonb_typeof(coalesce(o.value->'required', 'true')) <> 'boolean'
           OR jsonb_typeof(coalesce(o.value->'evidence', 'false')) <> 'boolean' THEN
            PERFORM pa._fail('22023', format('"required" and "evidence" of output "%s" must be booleans', o.key));
        END IF;
        -- with evidence the schema is sent inside {"object": ..., "evidence": [...]}:
        -- its root moves, so only references into $defs / definitions (moved up with it) hold
        IF coalesce((o.value->>'evidence')::boolean, false) AND EXISTS (
               SELECT 1 FROM jsonb_path_query(o.value->'schema', 'strict $.**."$ref"') r
                WHERE jsonb_typeof(r) = 'string' AND r #>> '{}' LIKE '#%'
                  AND r #>> '{}' !~ '^#/(\$defs|definitions)/') THEN
            PERFORM pa._fail('42P17', format('schema of output "%s" refers to its own root, which evidence moves', o.key),
                'With "evidence": true the object is recorded inside {"object": ..., "evidence": [...]}.',
                'Put what is referred to under "$defs" and refer to it as "#/$defs/<name>".');
        END IF;
        IF o.value ? 'description' AND jsonb_typeof(o.value->'description') <> 'string' THEN
            PERFORM pa._fail('22023', format('description of output "%s" must be a string', o.key));
        END IF;
        tbl := NULL;
        IF o.value ? 'table' THEN
            IF jsonb_typeof(o.value->'table') <> 'string' THEN
                PERFORM pa._fail('22023', format('table of output "%s" must be a string naming a table', o.key));
            END IF;
            tbl := pa._check_result_table(caller, o.key, o.value->'schema', o.value->>'table');
        END IF;
        spec := jsonb_build_object(
            'schema', o.value->'schema',
            'cardinality', coalesce(o.value->>'cardinality', 'one'),
            'required', coalesce(o.value->'required', 'true'),
            'evidence', coalesce(o.value->'evidence', 'false'),
            'description', o.value->'description',
            'table', CASE WHEN tbl IS NULL THEN NULL ELSE tbl::oid END);
        outs := outs || jsonb_build_object(o.key, pa._strip_top(spec));
    END LOOP;

    -- Tools, by name, owned by (or usable as) the caller.
    FOREACH tname IN ARRAY coalesce(tools, '{}') LOOP
        PERFORM pa._require(tname, 'tool name');
        IF tname = ANY (tool_names) THEN
            PERFORM pa._fail('22023', format('tool "%s" is listed twice', tname));
        END IF;
        SELECT * INTO t FROM pa.tools x WHERE x.name = tname AND x.dropped_at IS NULL;
        -- another role's tool looks like no tool at all
        IF NOT FOUND OR NOT pa._may_act_as(caller, t.owner) THEN
            PERFORM pa._fail('42704', format('tool "%s" does not exist', tname), NULL,
                'Create it with pa_create_tool().');
        END IF;
        -- the function is resolved at call time; one already gone is refused now
        IF t.kind = 'sql' AND to_regprocedure(t.function_signature) IS NULL THEN
            PERFORM pa._fail('42883', format('the function of tool "%s" does not exist', tname),
                format('Its function was %s.', t.function_signature),
                'Create the function again, or drop the tool with pa_drop_tool().');
        END IF;
        tool_names := tool_names || tname;
    END LOOP;

    IF trigger_outcomes IS NOT NULL THEN
        IF array_position(trigger_outcomes, NULL) IS NOT NULL OR '' = ANY (trigger_outcomes) THEN
            PERFORM pa._fail('22023', 'trigger_outcomes must not contain nulls or empty strings');
        END IF;
        IF cardinality(trigger_outcomes) = 0 THEN
            trigger_outcomes := NULL;
        END IF;
    END IF;
    IF trigger_condition IS NOT NULL THEN
        IF trigger_outcomes IS NULL THEN
            PERFORM pa._fail('22023', 'trigger_condition needs trigger_outcomes', NULL,
                'The condition filters terminated conversations; list the outcomes (or ''*'' for any) too.');
        END IF;
        BEGIN
            PERFORM pa._check_condition(caller, trigger_condition);
        EXCEPTION WHEN others THEN
            PERFORM pa._fail(SQLSTATE, 'invalid trigger condition', SQLERRM,
                'The condition is a SQL boolean expression over the conversation, e.g. c.channel = ''voice''.');
        END;
    END IF;

    RETURN pa._strip_top(jsonb_build_object(
        'description', nullif(description, ''),
        'instructions', instructions,
        'provider_id', prov.id,
        'model_id', mdl.id,
        'outputs', outs,
        'tools', to_jsonb(ARRAY(SELECT unnest(tool_names) ORDER BY 1)),
        'planning', planning,
        'thinking_budget', thinking_budget,
        'reasoning_effort', reasoning_effort,
        'max_output_tokens', max_output_tokens,
        'max_steps', max_steps,
        'max_repairs', max_repairs,
        'timeout', extract(epoch FROM timeout),
        'context_budget', context_budget,
        'input_schema', input_schema,
        'trigger_outcomes', to_jsonb(trigger_outcomes),
        'trigger_condition', trigger_condition,
        'finish_when_recorded', coalesce(finish_when_recorded, true),
        'max_cost_usd', max_cost_usd));
END $$;

-- The normalised definition of a stored version (same shape as above).
CREATE FUNCTION pa._stored_definition(agent bigint, ver integer) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT pa._strip_top(jsonb_build_object(
        'description', v.description,
        'instructions', v.instructions,
        'provider_id', v.provider_id,
        'model_id', v.model_id,
        'outputs', (SELECT jsonb_object_agg(o.name, pa._strip_top(jsonb_build_object(
                        'schema', o.schema, 'cardinality', o.cardinality, 'required', o.required,
                        'evidence', o.evidence, 'description', o.description,
                        'table', o.result_table::oid)))
                      FROM pa.agent_outputs o WHERE o.agent_id = v.agent_id AND o.version = v.version),
        'tools', to_jsonb(ARRAY(SELECT t.name FROM pa.agent_tools at JOIN pa.tools t ON t.id = at.tool_id
                                 WHERE at.agent_id = v.agent_id AND at.version = v.version ORDER BY 1)),
        'planning', v.planning,
        'thinking_budget', v.thinking_budget,
        'reasoning_effort', v.reasoning_effort,
        'max_output_tokens', v.max_output_tokens,
        'max_steps', v.max_steps,
        'max_repairs', v.max_repairs,
        'timeout', extract(epoch FROM v.timeout),
        'context_budget', v.context_budget,
        'input_schema', v.input_schema,
        'trigger_outcomes', to_jsonb(v.trigger_outcomes),
        'trigger_condition', v.trigger_condition,
        'finish_when_recorded', v.finish_when_recorded,
        'max_cost_usd', v.max_cost_usd))
      FROM pa.agent_versions v WHERE v.agent_id = agent AND v.version = ver
$$;

CREATE FUNCTION pa._store_version(agent bigint, ver integer, def jsonb, caller regrole) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO pa.agent_versions (agent_id, version, description, instructions, provider_id, model_id,
        input_schema, planning, thinking_budget, reasoning_effort, max_output_tokens, max_steps,
        max_repairs, timeout, context_budget, trigger_outcomes, trigger_condition, finish_when_recorded, max_cost_usd, created_by)
    VALUES (agent, ver, def->>'description', def->>'instructions', (def->>'provider_id')::bigint,
        (def->>'model_id')::bigint, def->'input_schema', def->>'planning',
        (def->>'thinking_budget')::integer, def->>'reasoning_effort', (def->>'max_output_tokens')::integer,
        (def->>'max_steps')::integer, (def->>'max_repairs')::integer,
        make_interval(secs => (def->>'timeout')::double precision), (def->>'context_budget')::integer,
        CASE WHEN def ? 'trigger_outcomes' THEN ARRAY(SELECT jsonb_array_elements_text(def->'trigger_outcomes')) END,
        def->>'trigger_condition', (def->>'finish_when_recorded')::boolean,
        (def->>'max_cost_usd')::numeric, caller);
    INSERT INTO pa.agent_outputs (agent_id, version, name, ordinal, description, schema, cardinality,
                                  required, evidence, result_table)
    SELECT agent, ver, o.key, row_number() OVER (ORDER BY o.key), o.value->>'description', o.value->'schema',
           o.value->>'cardinality', (o.value->>'required')::boolean, (o.value->>'evidence')::boolean,
           (o.value->>'table')::oid::regclass
      FROM jsonb_each(def->'outputs') o;
    INSERT INTO pa.agent_tools (agent_id, version, tool_id)
    SELECT agent, ver, t.id
      FROM jsonb_array_elements_text(def->'tools') n JOIN pa.tools t ON t.name = n AND t.dropped_at IS NULL;
END $$;

CREATE FUNCTION pa._pa_create_agent(
    caller regrole, name text, instructions text, provider text, model text, outputs jsonb,
    tools text[], planning text, thinking_budget integer, reasoning_effort text,
    max_output_tokens integer, max_steps integer, max_repairs integer, timeout interval,
    context_budget integer, input_schema jsonb, trigger_outcomes text[], trigger_condition text,
    description text, finish_when_recorded boolean, max_cost_usd numeric, release boolean)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def jsonb;
    new_id bigint;
BEGIN
    PERFORM pa._check_name('agent name', name);
    IF EXISTS (SELECT 1 FROM pa.agents a WHERE a.name = _pa_create_agent.name AND a.dropped_at IS NULL) THEN
        PERFORM pa._fail('42710', format('agent "%s" already exists', name), NULL,
            'Change it with pa_alter_agent(), which creates a new version.');
    END IF;
    def := pa._agent_definition(caller, instructions, provider, model, outputs, tools, planning,
        thinking_budget, reasoning_effort, max_output_tokens, max_steps, max_repairs, timeout,
        context_budget, input_schema, trigger_outcomes, trigger_condition, description,
        finish_when_recorded, max_cost_usd);
    BEGIN
        INSERT INTO pa.agents (name, owner, latest_version, released_version)
        VALUES (name, caller, 1, CASE WHEN coalesce(release, true) THEN 1 END)
        RETURNING id INTO new_id;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pa._fail('42710', format('agent "%s" already exists', name));
    END;
    PERFORM pa._store_version(new_id, 1, def, caller);
    RETURN 1;
END $$;

-- The live agent of that name, which the caller may manage.
CREATE FUNCTION pa._agent_for(caller regrole, agent_name text) RETURNS pa.agents
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents;
BEGIN
    PERFORM pa._require(agent_name, 'agent name');
    -- FOR UPDATE: concurrent alters of one agent take turns.
    SELECT * INTO a FROM pa.agents x WHERE x.name = agent_name AND x.dropped_at IS NULL FOR UPDATE;
    IF NOT FOUND OR NOT pa._may_act_as(caller, a.owner) THEN
        -- Do not reveal agents of other roles.
        PERFORM pa._fail('42704', format('agent "%s" does not exist', agent_name));
    END IF;
    RETURN a;
END $$;

-- NULL keeps the current value; '' / 0 / '{}' / 'null' clear an optional one.
CREATE FUNCTION pa._pa_alter_agent(
    caller regrole, name text, instructions text, provider text, model text, outputs jsonb,
    tools text[], planning text, thinking_budget integer, reasoning_effort text,
    max_output_tokens integer, max_steps integer, max_repairs integer, timeout interval,
    context_budget integer, input_schema jsonb, trigger_outcomes text[], trigger_condition text,
    description text, finish_when_recorded boolean, max_cost_usd numeric, release boolean)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents;
    cur jsonb;
    cur_provider pa.providers;
    cur_model pa.models;
    cur_outputs jsonb;
    def jsonb;
    ver integer;
BEGIN
    a := pa._agent_for(caller, name);
    cur := pa._stored_definition(a.id, a.latest_version);
    SELECT * INTO cur_provider FROM pa.providers WHERE id = (cur->>'provider_id')::bigint;
    SELECT * INTO cur_model FROM pa.models WHERE id = (cur->>'model_id')::bigint;
    -- Stored outputs name their table by oid; give it back as a name.
    IF EXISTS (SELECT 1 FROM jsonb_each(cur->'outputs') o
                WHERE o.value ? 'table' AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = (o.value->>'table')::oid)) THEN
        PERFORM pa._fail('42P01', format('a result table of agent "%s" no longer exists', name), NULL,
            'Pass outputs again, naming an existing table (or a new one to create).');
    END IF;
    SELECT jsonb_object_agg(o.key, CASE WHEN o.value ? 'table'
                                        THEN o.value || jsonb_build_object('table', (o.value->>'table')::oid::regclass::text)
                                        ELSE o.value END)
      INTO cur_outputs FROM jsonb_each(cur->'outputs') o;

    -- The definition is checked with the owner's rights: it runs as the owner.
    def := pa._agent_definition(a.owner,
        coalesce(instructions, cur->>'instructions'),
        coalesce(provider, cur_provider.name),
        coalesce(model, CASE WHEN provider IS NULL OR provider = cur_provider.name THEN cur_model.name END),
        coalesce(outputs, cur_outputs),
        coalesce(tools, ARRAY(SELECT jsonb_array_elements_text(cur->'tools'))),
        coalesce(planning, cur->>'planning'),
        CASE WHEN thinking_budget = 0 THEN NULL ELSE coalesce(thinking_budget, (cur->>'thinking_budget')::integer) END,
        CASE WHEN reasoning_effort = '' THEN NULL ELSE coalesce(reasoning_effort, cur->>'reasoning_effort') END,
        coalesce(max_output_tokens, (cur->>'max_output_tokens')::integer),
        coalesce(max_steps, (cur->>'max_steps')::integer),
        coalesce(max_repairs, (cur->>'max_repairs')::integer),
        coalesce(timeout, make_interval(secs => (cur->>'timeout')::double precision)),
        CASE WHEN context_budget = 0 THEN NULL ELSE coalesce(context_budget, (cur->>'context_budget')::integer) END,
        CASE WHEN input_schema = 'null' THEN NULL ELSE coalesce(input_schema, cur->'input_schema') END,
        CASE WHEN trigger_outcomes = '{}' THEN NULL
             ELSE coalesce(trigger_outcomes, ARRAY(SELECT jsonb_array_elements_text(cur->'trigger_outcomes'))) END,
        CASE WHEN trigger_condition = '' THEN NULL ELSE coalesce(trigger_condition, cur->>'trigger_condition') END,
        CASE WHEN description = '' THEN NULL ELSE coalesce(description, cur->>'description') END,
        coalesce(finish_when_recorded, (cur->>'finish_when_recorded')::boolean),
        CASE WHEN max_cost_usd = 0 THEN NULL ELSE coalesce(max_cost_usd, (cur->>'max_cost_usd')::numeric) END);

    IF def = cur THEN
        -- Nothing changed: nothing to version, and nothing released by the way.
        RAISE NOTICE 'agent "%" is unchanged, still version %', name, a.latest_version;
        RETURN a.latest_version;
    END IF;
    ver := a.latest_version + 1;
    PERFORM pa._store_version(a.id, ver, def, caller);
    UPDATE pa.agents SET latest_version = ver, updated_at = now() WHERE id = a.id;
    IF coalesce(release, true) THEN
        UPDATE pa.agents SET released_version = ver, updated_at = now() WHERE id = a.id;
    END IF;
    RETURN ver;
END $$;

CREATE FUNCTION pa._pa_release_agent(caller regrole, name text, version integer)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents;
BEGIN
    a := pa._agent_for(caller, name);
    version := coalesce(version, a.latest_version);
    IF NOT EXISTS (SELECT 1 FROM pa.agent_versions v WHERE v.agent_id = a.id AND v.version = _pa_release_agent.version) THEN
        PERFORM pa._fail('42704', format('agent "%s" has no version %s', name, version), NULL,
            format('Its versions are 1 to %s.', a.latest_version));
    END IF;
    UPDATE pa.agents SET released_version = version, updated_at = now() WHERE id = a.id;
    RETURN version;
END $$;

CREATE FUNCTION pa._pa_drop_agent(caller regrole, name text, if_exists boolean)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents;
    tool_names text;
BEGIN
    PERFORM pa._require(name, 'agent name');
    IF coalesce(if_exists, false) AND NOT EXISTS (
        SELECT 1 FROM pa.agents x WHERE x.name = _pa_drop_agent.name AND x.dropped_at IS NULL
           AND pa._may_act_as(caller, x.owner)) THEN
        RAISE NOTICE 'agent "%" does not exist, skipping', name;
        RETURN;
    END IF;
    a := pa._agent_for(caller, name);
    SELECT string_agg(t.name, ', ') INTO tool_names FROM pa.tools t WHERE t.agent_id = a.id AND t.dropped_at IS NULL;
    IF tool_names IS NOT NULL THEN
        PERFORM pa._fail('2BP01', format('cannot drop agent "%s" because tools call it', name),
            format('Agent tools: %s.', tool_names), 'Drop those tools first with pa_drop_tool().');
    END IF;
    -- Queued runs will never start; running ones finish and are kept.
    UPDATE pa.runs SET status = 'cancelled', finished_at = now(), error_code = '2BP01',
                       error_message = 'agent was dropped before the run started'
     WHERE agent_id = a.id AND status = 'queued';
    UPDATE pa.agents SET dropped_at = now(), enabled = false, updated_at = now() WHERE id = a.id;
END $$;

