
------------------------------------------------------------------------
-- Definition API: implementations (called as the extension owner by
-- pa_owner_call, with the real caller first) and their public entries
------------------------------------------------------------------------

-- Statements that carry API keys are never echoed to the server log on
-- error (log_min_error_statement = panic): the key stays out of the log.
CREATE FUNCTION pa._pa_create_provider(caller regrole, name text, kind text, base_url text,
                                       api_key text, api_key_env text, options jsonb)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic AS $$
DECLARE
    new_id bigint;
    opt record;
BEGIN
    PERFORM pa._check_name('provider name', name);
    PERFORM pa._require(kind, 'kind');
    IF kind NOT IN ('openai', 'anthropic', 'test') THEN
        PERFORM pa._fail('22023', format('unknown provider kind "%s"', kind), NULL,
            'Use openai (also for any OpenAI-compatible server: vLLM, Ollama, LiteLLM, llama.cpp), anthropic, or test (no network, deterministic answers).');
    END IF;
    IF kind = 'test' THEN
        -- the test model answers in process: nothing to reach, nothing to authenticate
        IF base_url IS NOT NULL OR api_key IS NOT NULL OR api_key_env IS NOT NULL THEN
            PERFORM pa._fail('22023', 'a test provider takes no base_url, api_key or api_key_env',
                'The test provider answers inside the server, without HTTP.');
        END IF;
    ELSE
        base_url := coalesce(base_url, CASE kind WHEN 'openai' THEN 'https://api.openai.com/v1'
                                                 ELSE 'https://api.anthropic.com' END);
        PERFORM pa._check_url('base_url', base_url);
        base_url := rtrim(base_url, '/');
    END IF;
    IF api_key IS NOT NULL AND api_key_env IS NOT NULL THEN
        PERFORM pa._fail('22023', 'api_key and api_key_env are mutually exclusive', NULL,
            'Store the key (api_key) or name the server environment variable that holds it (api_key_env).');
    END IF;
    IF api_key IS NOT NULL AND (api_key = '' OR api_key ~ '[\s]') THEN
        PERFORM pa._fail('22023', 'invalid API key', 'An API key is a non-empty string without whitespace.');
    END IF;
    -- Only variables meant for keys: a provider's URL is the admin's choice,
    -- so any other variable (PGPASSWORD, cloud credentials) could be sent away.
    IF api_key_env IS NOT NULL AND api_key_env !~ '^[A-Z][A-Z0-9_]*_API_KEY$' THEN
        PERFORM pa._fail('22023', format('invalid environment variable name "%s"', api_key_env),
            'Only variables whose names end in _API_KEY (e.g. OPENAI_API_KEY) may hold provider keys.');
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        PERFORM pa._fail('22023', 'provider options must be a JSON object');
    END IF;
    FOR opt IN SELECT * FROM jsonb_each(options) LOOP
        CASE opt.key
            WHEN 'timeout_ms', 'connect_timeout_ms', 'max_retries', 'max_concurrency' THEN
                IF jsonb_typeof(opt.value) <> 'number' THEN
                    PERFORM pa._fail('22023', format('provider option %s must be a number', opt.key));
                END IF;
                PERFORM pa._check_range('provider option ' || opt.key, (opt.value)::text::numeric,
                    CASE opt.key WHEN 'max_retries' THEN 0 WHEN 'max_concurrency' THEN 1 ELSE 100 END,
                    CASE opt.key WHEN 'max_retries' THEN 20 WHEN 'connect_timeout_ms' THEN 600000
                                 WHEN 'max_concurrency' THEN 100000 ELSE 86400000 END);
            WHEN 'anthropic_version' THEN
                IF kind <> 'anthropic' OR jsonb_typeof(opt.value) <> 'string' THEN
                    PERFORM pa._fail('22023', 'provider option anthropic_version must be a string, for anthropic providers');
                END IF;
            WHEN 'call_tools' THEN
                IF kind <> 'test' OR jsonb_typeof(opt.value) <> 'boolean' THEN
                    PERFORM pa._fail('22023', 'provider option call_tools must be a boolean, for test providers', NULL,
                        'With call_tools, the test model calls each of the agent''s tools once before recording its outputs.');
                END IF;
            WHEN 'headers' THEN
                PERFORM pa._check_string_map('provider option headers', opt.value);
                IF EXISTS (SELECT 1 FROM jsonb_object_keys(opt.value) k
                            WHERE lower(k) IN ('authorization', 'api-key', 'x-api-key', 'proxy-authorization', 'cookie')) THEN
                    PERFORM pa._fail('22023', 'provider option headers must not carry credentials', NULL,
                        'Headers are readable by every role; pass the key as api_key.');
                END IF;
            ELSE
                PERFORM pa._fail('22023', format('unknown provider option "%s"', opt.key), NULL,
                    'Known options: timeout_ms, connect_timeout_ms, max_retries, max_concurrency, anthropic_version, headers, call_tools.');
        END CASE;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pa.providers p WHERE p.name = _pa_create_provider.name) THEN
        PERFORM pa._fail('42710', format('provider "%s" already exists', name));
    END IF;

    INSERT INTO pa.providers (name, kind, base_url, api_key_env, options, owner)
    VALUES (name, kind, base_url, api_key_env, options, caller)
    RETURNING id INTO new_id;
    IF api_key IS NOT NULL THEN
        INSERT INTO pa.provider_secrets (provider_id, api_key) VALUES (new_id, api_key);
    END IF;
    RETURN new_id;
END $$;

CREATE FUNCTION pa._pa_set_provider_key(caller regrole, provider text, api_key text)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic AS $$
DECLARE
    p pa.providers;
BEGIN
    p := pa._provider_for(caller, provider, false);
    IF p.kind = 'test' AND api_key IS NOT NULL THEN
        PERFORM pa._fail('22023', 'a test provider takes no API key',
            'The test provider answers inside the server, without HTTP.');
    END IF;
    IF api_key IS NULL THEN
        DELETE FROM pa.provider_secrets WHERE provider_id = p.id;
        RETURN;
    END IF;
    IF api_key = '' OR api_key ~ '[\s]' THEN
        PERFORM pa._fail('22023', 'invalid API key', 'An API key is a non-empty string without whitespace.');
    END IF;
    INSERT INTO pa.provider_secrets (provider_id, api_key) VALUES (p.id, api_key)
    ON CONFLICT (provider_id) DO UPDATE SET api_key = excluded.api_key, updated_at = now();
    UPDATE pa.providers SET api_key_env = NULL WHERE id = p.id;
END $$;

CREATE FUNCTION pa._pa_grant_provider(caller regrole, provider text, grantee regrole)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pa.providers;
BEGIN
    p := pa._provider_for(caller, provider, false);
    PERFORM pa._require(grantee, 'grantee');
    INSERT INTO pa.provider_grants VALUES (p.id, grantee) ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION pa._pa_revoke_provider(caller regrole, provider text, grantee regrole)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pa.providers;
BEGIN
    p := pa._provider_for(caller, provider, false);
    PERFORM pa._require(grantee, 'grantee');
    DELETE FROM pa.provider_grants g WHERE g.provider_id = p.id AND g.grantee = _pa_revoke_provider.grantee;
END $$;

CREATE FUNCTION pa._pa_drop_provider(caller regrole, name text)
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pa.providers;
BEGIN
    p := pa._provider_for(caller, name, false);
    IF EXISTS (SELECT 1 FROM pa.agent_versions v WHERE v.provider_id = p.id) THEN
        PERFORM pa._fail('2BP01', format('cannot drop provider "%s" because agent versions use it', name),
            format('%s agent version(s) reference it; the ledger keeps them.',
                   (SELECT count(*) FROM pa.agent_versions v WHERE v.provider_id = p.id)),
            'Change the agents to another provider; rotate keys with pa_set_provider_key() instead of dropping.');
    END IF;
    DELETE FROM pa.providers WHERE id = p.id;
END $$;

CREATE FUNCTION pa._pa_create_model(caller regrole, provider text, name text,
                                    input_price numeric, output_price numeric,
                                    cached_input_price numeric, reasoning_price numeric,
                                    context_window integer, max_output_tokens integer)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pa.providers;
    new_id bigint;
BEGIN
    p := pa._provider_for(caller, provider, false);
    PERFORM pa._require(name, 'model name');
    IF name = '' OR length(name) > 200 OR name ~ '\s' THEN
        PERFORM pa._fail('42602', format('invalid model name "%s"', name), 'A model name is 1 to 200 characters without whitespace.');
    END IF;
    PERFORM pa._require(input_price, 'input_price');
    PERFORM pa._require(output_price, 'output_price');
    PERFORM pa._check_range('input_price', input_price, 0, 10000);
    PERFORM pa._check_range('output_price', output_price, 0, 10000);
    PERFORM pa._check_range('cached_input_price', cached_input_price, 0, 10000);
    PERFORM pa._check_range('reasoning_price', reasoning_price, 0, 10000);
    PERFORM pa._check_range('context_window', context_window, 1000, 100000000);
    PERFORM pa._check_range('max_output_tokens', max_output_tokens, 1, 10000000);
    IF EXISTS (SELECT 1 FROM pa.models m WHERE m.provider_id = p.id AND m.name = _pa_create_model.name) THEN
        PERFORM pa._fail('42710', format('model "%s" of provider "%s" already exists', name, provider));
    END IF;
    INSERT INTO pa.models (provider_id, name, input_price, output_price, cached_input_price,
                           reasoning_price, context_window, max_output_tokens)
    VALUES (p.id, name, input_price, output_price, coalesce(cached_input_price, input_price),
            coalesce(reasoning_price, output_price), context_window, max_output_tokens)
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;
