------------------------------------------------------------------------
-- Deliveries: where a succeeded run's outputs go (a webhook, HMAC-signed,
-- and/or a Slack incoming webhook). Written in the same transaction as
-- the run's outputs (an outbox), sent by the worker afterwards, retried
-- with backoff, every attempt recorded, dead-lettered after the last one.
--
-- Targets belong to the agent, not to a version: moving a webhook is not
-- a change of the agent's behaviour and should not need a release.
------------------------------------------------------------------------

CREATE TABLE pa.agent_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id     bigint NOT NULL REFERENCES pa.agents ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url          text NOT NULL,
    max_attempts integer NOT NULL DEFAULT 6 CHECK (max_attempts BETWEEN 1 AND 50),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, url)
);
COMMENT ON TABLE pa.agent_deliveries IS 'Where the outputs of an agent''s succeeded runs are sent';

-- The signing secret: readable by no role but the extension owner.
CREATE TABLE pa.delivery_secrets (
    target_id   bigint PRIMARY KEY REFERENCES pa.agent_deliveries ON DELETE CASCADE,
    hmac_secret text NOT NULL
);

CREATE TABLE pa.deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES pa.runs ON DELETE CASCADE,
    target_id       bigint REFERENCES pa.agent_deliveries ON DELETE SET NULL,
    kind            text NOT NULL,
    url             text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_http_status integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (run_id, target_id)
);
COMMENT ON TABLE pa.deliveries IS 'The outbox: one row per run and target; status pending, delivered or dead (dead-lettered)';
CREATE INDEX deliveries_due_idx ON pa.deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE pa.delivery_attempts (
    delivery_id bigint NOT NULL REFERENCES pa.deliveries ON DELETE CASCADE,
    attempt     integer NOT NULL,
    started_at  timestamptz NOT NULL,
    latency_ms  double precision,
    http_status integer,
    error       text,
    PRIMARY KEY (delivery_id, attempt)
);
COMMENT ON TABLE pa.delivery_attempts IS 'Every attempt to send a delivery, with its answer';

-- A failing call must not write the secret to the server log.
CREATE FUNCTION pa._pa_add_delivery(caller regrole, agent text, kind text, url text, secret text, max_attempts integer)
RETURNS bigint LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp SET log_min_error_statement = panic AS $$
#variable_conflict use_column
DECLARE
    a pa.agents := pa._agent_for(caller, agent);
    tid bigint;
BEGIN
    PERFORM pa._require(kind, 'kind');
    IF kind NOT IN ('webhook', 'slack') THEN
        PERFORM pa._fail('22023', format('invalid delivery kind "%s"', kind), NULL, 'Use webhook or slack.');
    END IF;
    PERFORM pa._require(url, 'url');
    PERFORM pa._check_url('delivery url', url);
    PERFORM pa._check_range('max_attempts', max_attempts, 1, 50);
    IF secret IS NOT NULL AND kind <> 'webhook' THEN
        PERFORM pa._fail('22023', 'only webhook deliveries are signed', NULL,
            'Slack incoming webhooks authenticate by their URL; pass secret => NULL.');
    END IF;
    IF secret = '' THEN
        PERFORM pa._fail('22023', 'secret must not be empty');
    END IF;
    INSERT INTO pa.agent_deliveries AS t (agent_id, kind, url, max_attempts)
    VALUES (a.id, _pa_add_delivery.kind, _pa_add_delivery.url, _pa_add_delivery.max_attempts)
    ON CONFLICT (agent_id, url) DO UPDATE SET kind = EXCLUDED.kind, max_attempts = EXCLUDED.max_attempts
    RETURNING t.id INTO tid;
    DELETE FROM pa.delivery_secrets s WHERE s.target_id = tid;
    IF secret IS NOT NULL THEN
        INSERT INTO pa.delivery_secrets VALUES (tid, secret);
    END IF;
    RETURN tid;
END $$;

CREATE FUNCTION @extschema@.pa_add_delivery(agent text, kind text, url text, secret text DEFAULT NULL,
    max_attempts integer DEFAULT 6)
RETURNS bigint LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_add_delivery IS 'Send the outputs of each succeeded run of the agent to a webhook (signed with secret) or a Slack incoming webhook';

CREATE FUNCTION pa._pa_drop_delivery(caller regrole, agent text, url text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a pa.agents := pa._agent_for(caller, agent);
BEGIN
    DELETE FROM pa.agent_deliveries d WHERE d.agent_id = a.id AND d.url = _pa_drop_delivery.url;
    IF NOT FOUND THEN
        PERFORM pa._fail('42704', format('agent "%s" has no delivery to that url', agent));
    END IF;
END $$;

CREATE FUNCTION @extschema@.pa_drop_delivery(agent text, url text)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';

CREATE FUNCTION pa._pa_redeliver(caller regrole, delivery_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d pa.deliveries;
    r pa.runs;
BEGIN
    PERFORM pa._require(delivery_id, 'delivery_id');
    SELECT * INTO d FROM pa.deliveries x WHERE x.id = delivery_id FOR UPDATE;
    IF FOUND THEN
        SELECT * INTO r FROM pa.runs x WHERE x.id = d.run_id;
    END IF;
    IF NOT FOUND OR NOT pa._may_act_as(caller, r.owner) THEN
        PERFORM pa._fail('42704', format('delivery %s does not exist', delivery_id));
    END IF;
    -- as many attempts again as the first time
    UPDATE pa.deliveries x SET status = 'pending', next_attempt_at = now(),
           max_attempts = x.attempts + coalesce((SELECT t.max_attempts FROM pa.agent_deliveries t
                                                  WHERE t.id = x.target_id), 6)
     WHERE x.id = delivery_id;
    PERFORM pa._wake();
END $$;

CREATE FUNCTION @extschema@.pa_redeliver(delivery_id bigint)
RETURNS void LANGUAGE C SECURITY INVOKER AS 'MODULE_PATHNAME', 'pa_owner_call';
COMMENT ON FUNCTION @extschema@.pa_redeliver IS 'Send a delivery again (e.g. a dead-lettered one), with a fresh allowance of attempts';

ALTER TABLE pa.agent_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_deliveries_owner ON pa.agent_deliveries
    USING (EXISTS (SELECT 1 FROM pa.agents a WHERE a.id = agent_id));
ALTER TABLE pa.deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY deliveries_owner ON pa.deliveries USING (EXISTS (SELECT 1 FROM pa.runs r WHERE r.id = run_id));
ALTER TABLE pa.delivery_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY delivery_attempts_owner ON pa.delivery_attempts
    USING (EXISTS (SELECT 1 FROM pa.deliveries d WHERE d.id = delivery_id));

REVOKE ALL ON pa.delivery_secrets FROM PUBLIC;
GRANT SELECT ON pa.agent_deliveries, pa.deliveries, pa.delivery_attempts TO PUBLIC;
REVOKE ALL ON FUNCTION pa._pa_add_delivery(regrole, text, text, text, text, integer),
    pa._pa_drop_delivery(regrole, text, text), pa._pa_redeliver(regrole, bigint) FROM PUBLIC;
