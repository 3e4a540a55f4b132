
------------------------------------------------------------------------
-- Internal helpers (schema pa, not callable by PUBLIC)
------------------------------------------------------------------------

CREATE FUNCTION pa._schema_problem(schema jsonb) RETURNS text
LANGUAGE C STRICT STABLE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_schema_problem';
COMMENT ON FUNCTION pa._schema_problem(jsonb) IS 'NULL when the argument is a valid JSON Schema, else why not';

CREATE FUNCTION pa._caller_search_path() RETURNS text
LANGUAGE C STABLE SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_caller_search_path';

CREATE FUNCTION pa._check_condition(owner regrole, condition text) RETURNS void
LANGUAGE C STRICT SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_check_condition';

-- The object without its top-level null members. Unlike jsonb_strip_nulls,
-- nested values (JSON Schemas with "const": null, say) stay as they are.
CREATE FUNCTION pa._strip_top(obj jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(obj) WHERE value <> 'null'
$$;

-- Raise an error with an SQLSTATE, optional detail and hint.
CREATE FUNCTION pa._fail(code text, msg text, detail text DEFAULT NULL, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF detail IS NOT NULL AND hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, DETAIL = detail, HINT = hint;
    ELSIF detail IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, DETAIL = detail;
    ELSIF hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
    END IF;
END $$;

CREATE FUNCTION pa._require(value anyelement, what text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        PERFORM pa._fail('22004', format('%s must not be null', what));
    END IF;
END $$;

CREATE FUNCTION pa._check_name(what text, value text, max_len integer DEFAULT 63) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pa._require(value, what);
    IF value !~ ('^[a-z][a-z0-9_]{0,' || (max_len - 1) || '}$') THEN
        PERFORM pa._fail('42602', format('invalid %s "%s"', what, value),
            format('The name is 1 to %s characters: lowercase letters, digits and underscores, starting with a letter.', max_len));
    END IF;
END $$;

CREATE FUNCTION pa._check_range(what text, value numeric, lo numeric, hi numeric) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NOT NULL AND (value < lo OR value > hi) THEN
        PERFORM pa._fail('22003', format('%s %s is out of range', what, value),
            format('The value must be between %s and %s.', lo, hi));
    END IF;
END $$;

CREATE FUNCTION pa._check_url(what text, url text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pa._require(url, what);
    IF url !~* '^https?://[^/\s]+(/\S*)?$' THEN
        PERFORM pa._fail('22023', format('invalid %s "%s"', what, url),
            'Only absolute http:// and https:// URLs are accepted.');
    END IF;
END $$;

-- A JSON object whose values are all strings (HTTP headers).
CREATE FUNCTION pa._check_string_map(what text, value jsonb) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(value) <> 'object' THEN
        PERFORM pa._fail('22023', format('%s must be a JSON object', what),
            format('Got a JSON %s.', jsonb_typeof(value)));
    END IF;
    SELECT key INTO bad FROM jsonb_each(value)
     WHERE jsonb_typeof(jsonb_each.value) <> 'string' OR key !~ '^[A-Za-z0-9-]+$' LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM pa._fail('22023', format('invalid entry "%s" in %s', bad, what),
            'Header names are letters, digits and dashes; values are strings.');
    END IF;
END $$;

-- A JSON Schema that describes an object (tool arguments must be objects).
CREATE FUNCTION pa._check_object_schema(what text, schema jsonb) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problem text;
BEGIN
    PERFORM pa._require(schema, what);
    problem := pa._schema_problem(schema);
    IF problem IS NOT NULL THEN
        PERFORM pa._fail('42P17', format('%s is not a valid JSON Schema', what), problem,
            'The supported dialect is JSON Schema draft 2020-12 without $dynamicRef, unevaluated*, remote $ref and $vocabulary.');
    END IF;
    IF jsonb_typeof(schema) <> 'object' OR schema->'type' IS DISTINCT FROM '"object"' THEN
        PERFORM pa._fail('42P17', format('%s must describe a JSON object', what),
            'Model providers pass tool arguments as objects.',
            'Use "type": "object" at the top of the schema and put the fields under "properties".');
    END IF;
END $$;

CREATE FUNCTION pa._may_act_as(caller regrole, owner regrole) RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role(caller, owner, 'USAGE')
$$;

CREATE FUNCTION pa._provider_for(caller regrole, provider_name text, for_use boolean) RETURNS pa.providers
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pa.providers;
BEGIN
    PERFORM pa._require(provider_name, 'provider');
    SELECT * INTO p FROM pa.providers WHERE name = provider_name;
    IF NOT FOUND THEN
        PERFORM pa._fail('42704', format('provider "%s" does not exist', provider_name), NULL,
            'Create it with pa_create_provider().');
    END IF;
    IF NOT (pa._may_act_as(caller, p.owner)
            OR (for_use AND EXISTS (SELECT 1 FROM pa.provider_grants g
                                     WHERE g.provider_id = p.id AND pa._may_act_as(caller, g.grantee)))) THEN
        PERFORM pa._fail('42501', format('permission denied for provider "%s"', provider_name), NULL,
            CASE WHEN for_use THEN 'Its owner can allow you with pa_grant_provider().' END);
    END IF;
    RETURN p;
END $$;

-- The JSON Schema of a SQL type, for tool parameters; NULL if unsupported.
CREATE FUNCTION pa._json_schema_of_type(typ oid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t pg_type;
    item jsonb;
BEGIN
    SELECT * INTO t FROM pg_type WHERE oid = typ;
    IF t.typtype = 'd' THEN
        RETURN pa._json_schema_of_type(t.typbasetype);
    END IF;
    IF t.typtype = 'e' THEN
        RETURN jsonb_build_object('type', 'string', 'enum',
            (SELECT jsonb_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = typ));
    END IF;
    IF t.typcategory = 'A' AND t.typelem <> 0 THEN
        item := pa._json_schema_of_type(t.typelem);
        RETURN CASE WHEN item IS NULL THEN NULL ELSE jsonb_build_object('type', 'array', 'items', item) END;
    END IF;
    RETURN CASE typ
        WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
        WHEN 'smallint'::regtype THEN '{"type": "integer", "minimum": -32768, "maximum": 32767}'
        WHEN 'integer'::regtype THEN '{"type": "integer", "minimum": -2147483648, "maximum": 2147483647}'
        WHEN 'bigint'::regtype THEN '{"type": "integer"}'
        WHEN 'numeric'::regtype THEN '{"type": "number"}'
        WHEN 'real'::regtype THEN '{"type": "number"}'
        WHEN 'double precision'::regtype THEN '{"type": "number"}'
        WHEN 'text'::regtype THEN '{"type": "string"}'
        WHEN 'character varying'::regtype THEN '{"type": "string"}'
        WHEN 'character'::regtype THEN '{"type": "string"}'
        WHEN 'name'::regtype THEN '{"type": "string"}'
        WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
        WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
        WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
        WHEN 'timestamp without time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
        WHEN 'time without time zone'::regtype THEN '{"type": "string", "format": "time"}'
        WHEN 'interval'::regtype THEN '{"type": "string", "description": "a PostgreSQL interval, e.g. 2 hours"}'
        WHEN 'inet'::regtype THEN '{"type": "string"}'
        WHEN 'json'::regtype THEN '{}'
        WHEN 'jsonb'::regtype THEN '{}'
        ELSE NULL
    END::jsonb;
END $$;

-- Is a column of type typ able to hold a value of JSON Schema type jtype?
CREATE FUNCTION pa._column_accepts(typ oid, jtype text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t pg_type;
BEGIN
    SELECT * INTO t FROM pg_type WHERE oid = typ;
    IF t.typtype = 'd' THEN
        RETURN pa._column_accepts(t.typbasetype, jtype);
    END IF;
    IF typ IN ('json'::regtype, 'jsonb'::regtype) THEN
        RETURN true;
    END IF;
    RETURN CASE jtype
        WHEN 'string' THEN t.typcategory IN ('S', 'D', 'E', 'I', 'T') OR t.typtype = 'e'
                           OR typ = 'uuid'::regtype
        WHEN 'integer' THEN t.typcategory = 'N'
        WHEN 'number' THEN typ IN ('numeric'::regtype, 'real'::regtype, 'double precision'::regtype)
        WHEN 'boolean' THEN typ = 'boolean'::regtype
        WHEN 'array' THEN t.typcategory = 'A'
        WHEN 'null' THEN true
        ELSE false              -- object (and untyped) need json/jsonb
    END;
END $$;

-- The column type for a property of an output schema (documented in README).
CREATE FUNCTION pa._column_for_property(name text, prop jsonb, required boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    typ text;
    labels text;
BEGIN
    IF jsonb_typeof(prop->'enum') = 'array'
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(prop->'enum') e WHERE jsonb_typeof(e) <> 'string') THEN
        SELECT string_agg(quote_literal(e), ', ') INTO labels FROM jsonb_array_elements_text(prop->'enum') e;
        typ := format('text CHECK (%I IN (%s))', name, labels);
    ELSE
        typ := CASE prop->>'type'
            WHEN 'string' THEN CASE prop->>'format' WHEN 'date-time' THEN 'timestamptz' WHEN 'date' THEN 'date'
                                                     WHEN 'uuid' THEN 'uuid' ELSE 'text' END
            WHEN 'integer' THEN 'bigint'
            WHEN 'number' THEN 'double precision'
            WHEN 'boolean' THEN 'boolean'
            ELSE 'jsonb' END;
    END IF;
    RETURN format('%I %s%s', name, typ, CASE WHEN required THEN ' NOT NULL' ELSE '' END);
END $$;

-- Create a missing result table from an output's schema, owned by the caller;
-- an unqualified name goes to default_schema (the caller's first schema).
CREATE FUNCTION pa._create_result_table(caller regrole, output_name text, schema jsonb, table_name text,
                                        default_schema text)
RETURNS regclass
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[];
    nsp text;
    cols text;
    rel regclass;
BEGIN
    BEGIN
        parts := parse_ident(table_name);
    EXCEPTION WHEN others THEN
        PERFORM pa._fail('42602', format('invalid result table name "%s" for output "%s"', table_name, output_name));
    END;
    IF cardinality(parts) = 1 THEN
        nsp := default_schema;
        IF nsp IS NULL THEN
            PERFORM pa._fail('3F000', format('no schema to create result table "%s" in', table_name), NULL,
                'Schema-qualify the table name.');
        END IF;
        parts := ARRAY[nsp, parts[1]];
    ELSIF cardinality(parts) <> 2 THEN
        PERFORM pa._fail('42602', format('invalid result table name "%s" for output "%s"', table_name, output_name));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = parts[1]) THEN
        PERFORM pa._fail('3F000', format('schema "%s" does not exist', parts[1]));
    END IF;
    IF NOT has_schema_privilege(caller, parts[1], 'CREATE') THEN
        PERFORM pa._fail('42501', format('permission denied to create result table "%s.%s"', parts[1], parts[2]),
            format('Role %s needs CREATE on schema %s, or create the table first.', caller, parts[1]));
    END IF;
    SELECT string_agg(pa._column_for_property(p.key, p.value,
                          coalesce(schema->'required', '[]') ? p.key), E',\n    ' ORDER BY p.key)
      INTO cols FROM jsonb_each(coalesce(schema->'properties', '{}')) p
     WHERE p.key NOT IN ('run_id', 'output_id', 'conversation_id', 'created_at');
    EXECUTE format(E'CREATE TABLE %I.%I (\n    output_id bigint PRIMARY KEY,\n    run_id bigint NOT NULL,\n    conversation_id bigint,\n    created_at timestamptz NOT NULL DEFAULT now()%s)',
                   parts[1], parts[2], CASE WHEN cols IS NULL THEN '' ELSE E',\n    ' || cols END);
    rel := format('%I.%I', parts[1], parts[2])::regclass;
    EXECUTE format('ALTER TABLE %s OWNER TO %s', rel, caller::text);  -- regrole text is quoted already
    EXECUTE format('COMMENT ON TABLE %s IS %L', rel,
                   format('Output %s of procedural_agent (created from its schema)', output_name));
    RETURN rel;
END $$;

-- Check that a table can hold the objects of an output type.
CREATE FUNCTION pa._check_result_table(caller regrole, output_name text, schema jsonb, table_name text)
RETURNS regclass
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
    col record;
    prop jsonb;
    jtypes text[];
    jt text;
    required text[];
    default_schema text;
BEGIN
    -- Resolve the name the way the caller would. Everything called while
    -- the caller's search_path is in effect is schema-qualified: this runs
    -- as the extension owner.
    PERFORM pg_catalog.set_config('search_path',
        pg_catalog.replace(pg_catalog.replace(coalesce(pa._caller_search_path(), 'public'),
                                              '"$user"', pg_catalog.quote_ident(caller::text)),
                           '$user', pg_catalog.quote_ident(caller::text)), true);
    BEGIN
        rel := pg_catalog.to_regclass(table_name);
    EXCEPTION WHEN others THEN
        rel := NULL;
    END;
    default_schema := (pg_catalog.current_schemas(false))[1];
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF rel IS NOT NULL AND NOT has_schema_privilege(caller,
            (SELECT relnamespace FROM pg_class WHERE oid = rel), 'USAGE') THEN
        PERFORM pa._fail('42501', format('permission denied for the schema of result table "%s"', table_name));
    END IF;
    IF rel IS NULL THEN
        rel := pa._create_result_table(caller, output_name, schema, table_name, default_schema);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND relkind IN ('r', 'p')) THEN
        PERFORM pa._fail('42809', format('"%s" is not a table', rel::text), 'The result table of an output must be a table.');
    END IF;
    IF NOT has_table_privilege(caller, rel, 'INSERT') THEN
        PERFORM pa._fail('42501', format('permission denied to insert into result table "%s"', rel::text),
            format('Role %s needs INSERT on it: runs write there as the agent''s owner.', caller));
    END IF;
    SELECT array_agg(r) INTO required FROM jsonb_array_elements_text(coalesce(schema->'required', '[]')) r;
    required := coalesce(required, '{}');

    FOR col IN
        SELECT a.attname::text AS name, a.atttypid AS typ, a.attnotnull AS notnull,
               a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default,
               a.attgenerated <> '' AS generated
          FROM pg_attribute a
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        CONTINUE WHEN col.generated;
        IF col.name IN ('run_id', 'output_id', 'conversation_id') THEN
            IF col.typ <> 'bigint'::regtype THEN
                PERFORM pa._fail('42P16', format('result table "%s" is incompatible with output "%s"', rel::text, output_name),
                    format('Column %s is filled by procedural_agent and must be bigint, not %s.', col.name, format_type(col.typ, NULL)));
            END IF;
            CONTINUE;
        END IF;
        prop := schema->'properties'->col.name;
        IF prop IS NULL THEN
            IF col.notnull AND NOT col.has_default THEN
                PERFORM pa._fail('42P16', format('result table "%s" is incompatible with output "%s"', rel::text, output_name),
                    format('Column %s is NOT NULL without a default, and the output schema has no property of that name.', col.name));
            END IF;
            CONTINUE;
        END IF;
        IF col.notnull AND NOT col.has_default AND NOT col.name = ANY (required) THEN
            PERFORM pa._fail('42P16', format('result table "%s" is incompatible with output "%s"', rel::text, output_name),
                format('Column %s is NOT NULL without a default, but property %s is not required by the schema.', col.name, col.name));
        END IF;
        jtypes := CASE jsonb_typeof(prop->'type')
                      WHEN 'string' THEN ARRAY[prop->>'type']
                      WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(prop->'type'))
                      ELSE NULL END;
        IF jtypes IS NULL THEN
            IF col.typ NOT IN ('json'::regtype, 'jsonb'::regtype, 'text'::regtype) THEN
                PERFORM pa._fail('42P16', format('result table "%s" is incompatible with output "%s"', rel::text, output_name),
                    format('Property %s has no "type", so only a json, jsonb or text column can hold it; column %s is %s.',
                           col.name, col.name, format_type(col.typ, NULL)));
            END IF;
            CONTINUE;
        END IF;
        FOREACH jt IN ARRAY jtypes LOOP
            IF NOT pa._column_accepts(col.typ, jt) THEN
                PERFORM pa._fail('42P16', format('result table "%s" is incompatible with output "%s"', rel::text, output_name),
                    format('Column %s is %s, which cannot hold the JSON %s that property %s allows.',
                           col.name, format_type(col.typ, NULL), jt, col.name));
            END IF;
        END LOOP;
    END LOOP;
    RETURN rel;
END $$;
