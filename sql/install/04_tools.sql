
-- Names the runtime gives its own tools; user tools may not take them.
CREATE FUNCTION pa._check_tool_name(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pa._check_name('tool name', name, 64);
    IF name LIKE 'record\_%' OR name IN ('remember', 'recall', 'read_events', 'search_events') THEN
        PERFORM pa._fail('42939', format('tool name "%s" is reserved', name),
            'Names starting with record_ and the built-in tools remember, recall, read_events and search_events are reserved.');
    END IF;
END $$;

-- JSON Schema of a SQL function's arguments, derived from its signature.
CREATE FUNCTION pa._sql_tool_parameters(fn regprocedure, OUT parameters jsonb, OUT arg_names text[])
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pg_proc;
    names text[];
    props jsonb := '{}';
    required jsonb := '[]';
    i integer;
    s jsonb;
BEGIN
    SELECT * INTO p FROM pg_proc WHERE oid = fn;
    IF p.prokind <> 'f' THEN
        PERFORM pa._fail('42809', format('%s is not a plain function', fn::text),
            'A sql tool calls a function; procedures, aggregates and window functions are not supported.');
    END IF;
    IF p.provariadic <> 0 THEN
        PERFORM pa._fail('0A000', format('variadic function %s cannot be a tool', fn::text));
    END IF;
    IF p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
       OR p.prorettype = 'cstring'::regtype THEN
        PERFORM pa._fail('0A000', format('function %s returns %s and cannot be a tool', fn::text, p.prorettype::regtype));
    END IF;
    -- Names of the input arguments, in call order.
    IF p.proargmodes IS NULL THEN
        names := p.proargnames[1:p.pronargs];
    ELSE
        SELECT array_agg(n ORDER BY ord) INTO names
          FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(n, m, ord)
         WHERE m IN ('i', 'b');
    END IF;
    FOR i IN 0 .. p.pronargs - 1 LOOP
        IF names IS NULL OR coalesce(names[i + 1], '') = '' THEN
            PERFORM pa._fail('42P13', format('argument %s of function %s has no name', i + 1, fn::text),
                'The model passes arguments by name: give every argument a name.');
        END IF;
        s := pa._json_schema_of_type(p.proargtypes[i]);
        IF s IS NULL THEN
            PERFORM pa._fail('0A000', format('argument %s of function %s has unsupported type %s',
                                             names[i + 1], fn::text, format_type(p.proargtypes[i], NULL)),
                'Supported: boolean, integers, numeric, floats, text types, uuid, date/time types, json, jsonb, enums, domains and arrays of these.');
        END IF;
        props := props || jsonb_build_object(names[i + 1], s);
        IF i < p.pronargs - p.pronargdefaults THEN
            required := required || to_jsonb(names[i + 1]);
        END IF;
    END LOOP;
    parameters := jsonb_build_object('type', 'object', 'properties', props,
                                     'required', required, 'additionalProperties', false);
    arg_names := coalesce(names[1:p.pronargs], '{}');
END $$;

CREATE FUNCTION pa._pa_create_tool(caller regrole, name text, kind text, description text,
                                   function regprocedure, url text, parameters jsonb,
                                   headers jsonb, secret_headers jsonb, hmac_secret text,
                                   agent text, timeout interval)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic AS $$
DECLARE
    new_id bigint;
    derived record;
    signature text;
    target pa.agents;
BEGIN
    PERFORM pa._check_tool_name(name);
    PERFORM pa._require(kind, 'kind');
    IF EXISTS (SELECT 1 FROM pa.tools t WHERE t.name = _pa_create_tool.name AND t.dropped_at IS NULL) THEN
        PERFORM pa._fail('42710', format('tool "%s" already exists', name));
    END IF;
    timeout := coalesce(timeout, '30 seconds');
    IF timeout < '100 milliseconds' OR timeout > '1 hour' THEN
        PERFORM pa._fail('22003', format('tool timeout %s is out of range', timeout), 'Timeout must be between 100 milliseconds and 1 hour.');
    END IF;
    IF kind NOT IN ('sql', 'http', 'agent') THEN
        PERFORM pa._fail('22023', format('unknown tool kind "%s"', kind), NULL, 'Use sql, http or agent.');
    END IF;
    IF kind <> 'sql' AND function IS NOT NULL THEN
        PERFORM pa._fail('22023', format('a %s tool takes no function', kind));
    END IF;
    IF kind <> 'http' AND (url IS NOT NULL OR headers IS NOT NULL OR secret_headers IS NOT NULL OR hmac_secret IS NOT NULL) THEN
        PERFORM pa._fail('22023', format('a %s tool takes no url, headers or hmac_secret', kind));
    END IF;
    IF kind <> 'agent' AND agent IS NOT NULL THEN
        PERFORM pa._fail('22023', format('a %s tool takes no agent', kind));
    END IF;

    IF kind = 'sql' THEN
        PERFORM pa._require(function, 'function');
        IF parameters IS NOT NULL THEN
            PERFORM pa._fail('22023', 'a sql tool takes no parameters', 'Its parameters are derived from the function''s signature.');
        END IF;
        IF NOT has_function_privilege(caller, function, 'EXECUTE') THEN
            PERFORM pa._fail('42501', format('permission denied for function %s', function::text),
                format('Role %s needs EXECUTE on it: the tool runs as the agent''s owner.', caller));
        END IF;
        derived := pa._sql_tool_parameters(function);
        SELECT format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) INTO signature
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = function;
        description := coalesce(description, obj_description(function, 'pg_proc'), '');
        INSERT INTO pa.tools (name, kind, description, parameters, function_signature, function_args,
                              function_owner, timeout, owner)
        VALUES (name, kind, description, derived.parameters, signature, derived.arg_names,
                (SELECT proowner FROM pg_proc WHERE oid = function), timeout, caller)
        RETURNING id INTO new_id;
    ELSIF kind = 'http' THEN
        PERFORM pa._check_url('tool url', url);
        PERFORM pa._check_object_schema(format('parameters of tool "%s"', name), parameters);
        PERFORM pa._check_string_map('headers', headers);
        PERFORM pa._check_string_map('secret_headers', secret_headers);
        IF hmac_secret = '' THEN
            PERFORM pa._fail('22023', 'hmac_secret must not be empty');
        END IF;
        INSERT INTO pa.tools (name, kind, description, parameters, url, headers, timeout, owner)
        VALUES (name, kind, coalesce(description, ''), parameters, url, coalesce(headers, '{}'), timeout, caller)
        RETURNING id INTO new_id;
        IF secret_headers IS NOT NULL OR hmac_secret IS NOT NULL THEN
            INSERT INTO pa.tool_secrets (tool_id, headers, hmac_secret)
            VALUES (new_id, coalesce(secret_headers, '{}'), hmac_secret);
        END IF;
    ELSE
        PERFORM pa._require(agent, 'agent');
        IF parameters IS NOT NULL THEN
            PERFORM pa._fail('22023', 'an agent tool takes no parameters', 'It takes the input schema of its agent.');
        END IF;
        SELECT * INTO target FROM pa.agents a WHERE a.name = agent AND a.dropped_at IS NULL;
        -- an agent the caller may not use looks like no agent at all
        IF NOT FOUND OR NOT pa._may_act_as(caller, target.owner) THEN
            PERFORM pa._fail('42704', format('agent "%s" does not exist', agent));
        END IF;
        INSERT INTO pa.tools (name, kind, description, agent_id, timeout, owner)
        VALUES (name, kind, coalesce(description, ''), target.id, timeout, caller)
        RETURNING id INTO new_id;
    END IF;
    RETURN new_id;
END $$;

CREATE FUNCTION pa._pa_drop_tool(caller regrole, name text, if_exists boolean)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t pa.tools;
    users text;
BEGIN
    PERFORM pa._require(name, 'tool name');
    SELECT * INTO t FROM pa.tools x WHERE x.name = _pa_drop_tool.name AND x.dropped_at IS NULL;
    IF NOT FOUND THEN
        IF coalesce(if_exists, false) THEN
            RAISE NOTICE 'tool "%" does not exist, skipping', name;
            RETURN;
        END IF;
        PERFORM pa._fail('42704', format('tool "%s" does not exist', name));
    END IF;
    IF NOT pa._may_act_as(caller, t.owner) THEN
        PERFORM pa._fail('42704', format('tool "%s" does not exist', name));
    END IF;
    SELECT string_agg(DISTINCT a.name, ', ') INTO users
      FROM pa.agent_tools at JOIN pa.agents a ON a.id = at.agent_id
     WHERE at.tool_id = t.id AND a.dropped_at IS NULL AND at.version IN (a.latest_version, a.released_version);
    IF users IS NOT NULL THEN
        PERFORM pa._fail('2BP01', format('cannot drop tool "%s" because agents use it', name),
            format('Used by the latest or released version of: %s.', users),
            'Alter those agents to stop using the tool first.');
    END IF;
    UPDATE pa.tools SET dropped_at = now() WHERE id = t.id;
END $$;
