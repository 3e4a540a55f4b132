-- demo/agents.sql — the demo's agents, one per use case of the product.
--
-- psql variables: provider (the provider every agent uses), model, and
-- slack_url (the incoming webhook the follow-up agent posts to).
-- Run as a superuser in a database with the extension (demo/run does).
\set ON_ERROR_STOP on

CREATE SCHEMA IF NOT EXISTS demo;

------------------------------------------------------------------------
-- SQL tools: plain functions over the demo's reference tables. PL/pgSQL,
-- so they can be defined before the data set is loaded; the parameters
-- the model sees are derived from each signature.
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION demo.lookup_policy(topic text)
RETURNS TABLE (ref text, title text, body text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT p.ref, p.title, p.body FROM demo.policies p
                  WHERE p.topic = lower(lookup_policy.topic) ORDER BY p.ref;
END $$;
COMMENT ON FUNCTION demo.lookup_policy(text) IS 'The support policies on a topic (refund, delivery, damage, ...)';

CREATE OR REPLACE FUNCTION demo.available_lines(topic text, at timestamptz DEFAULT now())
RETURNS TABLE (name text, extension text, open_now boolean, hours text, skills text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT l.name, l.extension,
           extract(isodow FROM at AT TIME ZONE l.timezone)::int = ANY (l.days)
             AND (at AT TIME ZONE l.timezone)::time >= l.opens
             AND (at AT TIME ZONE l.timezone)::time < l.closes,
           format('%s-%s %s, days %s', l.opens, l.closes, l.timezone, array_to_string(l.days, ',')),
           l.skills
      FROM demo.ops_lines l
     WHERE lower(available_lines.topic) = ANY (l.skills) OR 'general' = ANY (l.skills)
     ORDER BY (lower(available_lines.topic) = ANY (l.skills)) DESC, l.name;
END $$;
COMMENT ON FUNCTION demo.available_lines(text, timestamptz) IS 'Ops lines that handle a topic, and whether each is open at a time';

CREATE OR REPLACE FUNCTION demo.day_stats(day date DEFAULT current_date - 1)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (
      SELECT jsonb_build_object(
               'day', day,
               'conversations', count(*),
               'by_outcome', coalesce((SELECT jsonb_object_agg(outcome, n) FROM (
                   SELECT outcome, count(*) n FROM pa.conversations
                    WHERE status = 'terminated' AND ended_at >= day AND ended_at < day + 1
                    GROUP BY outcome) o), '{}'),
               'by_channel', coalesce((SELECT jsonb_object_agg(channel, n) FROM (
                   SELECT channel, count(*) n FROM pa.conversations
                    WHERE status = 'terminated' AND ended_at >= day AND ended_at < day + 1
                    GROUP BY channel) ch), '{}'),
               'urgent_next_steps', (SELECT count(*) FROM demo.next_steps s
                    JOIN pa.conversations c ON c.id = s.conversation_id
                   WHERE s.priority = 'urgent' AND c.ended_at >= day AND c.ended_at < day + 1),
               'avg_resolution_quality', (SELECT round(avg(m.resolution_quality), 2)
                    FROM demo.conversation_metrics m JOIN pa.conversations c ON c.id = m.conversation_id
                   WHERE c.ended_at >= day AND c.ended_at < day + 1))
        FROM pa.conversations
       WHERE status = 'terminated' AND ended_at >= day AND ended_at < day + 1);
END $$;
COMMENT ON FUNCTION demo.day_stats(date) IS 'Counts of one day''s conversations, by outcome and channel, with the agents'' findings';

SELECT pa_create_tool('lookup_policy', 'sql', function => 'demo.lookup_policy(text)',
                      description => 'The support policies on a topic: refund, delivery, damage, subscription, pricing, warranty, security, escalation, privacy, shipping.');
SELECT pa_create_tool('available_lines', 'sql', function => 'demo.available_lines(text, timestamptz)',
                      description => 'The operations lines that handle a topic, with their hours and whether each is open now.');
SELECT pa_create_tool('day_stats', 'sql', function => 'demo.day_stats(date)',
                      description => 'Counts of the conversations that ended on a day (default: yesterday).');
SELECT pa_create_tool('notify_slack', 'http', url => :'slack_url',
    description => 'Post a message to the operations team''s Slack channel.',
    parameters => '{"type": "object", "required": ["text"],
                    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 3000,
                                            "description": "The message, in Slack mrkdwn"}}}');

------------------------------------------------------------------------
-- 1. Post-hoc: next steps for the operations team (typed table, many)
------------------------------------------------------------------------
SELECT pa_create_agent('next_steps',
    instructions => 'You review a finished customer-support conversation and list the next steps for the operations team: '
        'every concrete action someone must still take (refund to post, replacement to ship, callback to make, account to unlock). '
        'Record one next_step per action, citing the events that show it is needed. Record nothing when no action is left.',
    provider => :'provider', model => :'model',
    outputs => '{"next_step": {"cardinality": "many", "required": false, "evidence": true,
                  "table": "demo.next_steps",
                  "description": "One action the operations team must still take",
                  "schema": {"type": "object", "required": ["action", "team", "priority", "due_within_hours"],
                             "additionalProperties": false,
                             "properties": {
                               "action": {"type": "string", "minLength": 5, "maxLength": 300},
                               "team": {"enum": ["operations", "billing", "logistics", "support", "security"]},
                               "priority": {"enum": ["low", "normal", "high", "urgent"]},
                               "due_within_hours": {"type": "integer", "minimum": 1, "maximum": 720},
                               "order_id": {"type": "string"}}}}}',
    trigger_outcomes => '{*}', planning => 'none',
    description => 'Post-hoc: actionable next steps for the operations team');

------------------------------------------------------------------------
-- 2. Post-hoc: high-priority follow-ups, announced in Slack (HTTP tool)
------------------------------------------------------------------------
SELECT pa_create_agent('followup_alert',
    instructions => 'You decide whether a finished conversation needs a high-priority follow-up by a human. '
        'If it does (an angry customer left without a fix, money at stake, a security risk), post a short message '
        'to the operations team with notify_slack first, then record the followup. Otherwise record it with needed = false.',
    provider => :'provider', model => :'model',
    outputs => '{"followup": {"table": "demo.followups",
                  "schema": {"type": "object", "required": ["needed", "priority", "reason", "notified"],
                             "properties": {
                               "needed": {"type": "boolean"},
                               "priority": {"enum": ["none", "normal", "high"]},
                               "reason": {"type": "string", "maxLength": 500},
                               "notified": {"type": "boolean"}}}}}',
    tools => '{notify_slack}',
    trigger_outcomes => '{escalated,abandoned,refund_issued,transferred}', planning => 'none',
    description => 'Post-hoc: high-priority follow-ups, announced in Slack');

------------------------------------------------------------------------
-- 3. Post-hoc: quality and success metrics per conversation
------------------------------------------------------------------------
SELECT pa_create_agent('quality_metrics',
    instructions => 'You score the quality of a finished customer-support conversation. '
        'Judge whether the issue was resolved, at first contact, the customer''s sentiment at the end, '
        'resolution quality and empathy from 1 (poor) to 5 (excellent), whether the policies were followed, '
        'and the topic. Record the metrics once.',
    provider => :'provider', model => :'model',
    outputs => '{"metrics": {"table": "demo.conversation_metrics",
                  "schema": {"type": "object",
                             "required": ["resolved", "first_contact_resolution", "customer_sentiment",
                                          "resolution_quality", "empathy", "policy_followed", "topic"],
                             "properties": {
                               "resolved": {"type": "boolean"},
                               "first_contact_resolution": {"type": "boolean"},
                               "customer_sentiment": {"enum": ["negative", "neutral", "positive"]},
                               "resolution_quality": {"type": "integer", "minimum": 1, "maximum": 5},
                               "empathy": {"type": "integer", "minimum": 1, "maximum": 5},
                               "policy_followed": {"type": "boolean"},
                               "topic": {"enum": ["refund", "delivery", "damage", "subscription", "pricing", "warranty",
                                                  "security", "escalation", "privacy", "shipping", "other"]}}}}}',
    trigger_outcomes => '{*}', planning => 'none',
    description => 'Post-hoc: quality and success metrics');

------------------------------------------------------------------------
-- 4. Mid-conversation: a CRM ticket from the conversation so far and the policies
------------------------------------------------------------------------
SELECT pa_create_agent('crm_ticket',
    instructions => 'Compose a CRM ticket from the conversation so far. Look up the policies on its topic with '
        'lookup_policy and cite the ones that apply by their ref. Record one ticket.',
    provider => :'provider', model => :'model',
    outputs => '{"ticket": {"table": "demo.crm_tickets",
                  "schema": {"type": "object", "required": ["title", "category", "priority", "summary", "policy_refs"],
                             "properties": {
                               "title": {"type": "string", "minLength": 5, "maxLength": 120},
                               "category": {"enum": ["refund", "delivery", "damage", "subscription", "pricing", "warranty",
                                                     "security", "escalation", "privacy", "shipping", "other"]},
                               "priority": {"enum": ["low", "normal", "high", "urgent"]},
                               "summary": {"type": "string", "maxLength": 1000},
                               "requested_action": {"type": "string"},
                               "policy_refs": {"type": "array", "items": {"type": "string"}}}}}}',
    tools => '{lookup_policy}', planning => 'none',
    description => 'Mid-conversation: a CRM ticket, via pa_invoke');

------------------------------------------------------------------------
-- 5. Mid-conversation: the transfer line, chosen by an agent that another
--    agent calls as a tool
------------------------------------------------------------------------
SELECT pa_create_agent('transfer_line',
    instructions => 'Choose the operations line a conversation should be transferred to. Call available_lines with '
        'the topic, prefer a line that is open now and has the skill, and record the route.',
    provider => :'provider', model => :'model',
    outputs => '{"route": {"schema": {"type": "object", "required": ["line", "extension", "open_now", "reason"],
                             "properties": {
                               "line": {"type": "string"},
                               "extension": {"type": "string"},
                               "open_now": {"type": "boolean"},
                               "reason": {"type": "string"}}}}}',
    tools => '{available_lines}', planning => 'none',
    input_schema => '{"type": "object", "required": ["topic"],
                      "properties": {"topic": {"type": "string", "description": "refund, delivery, security, ..."},
                                     "urgency": {"enum": ["normal", "urgent"]}}}',
    description => 'Chooses a transfer line (used as a tool by live_assist)');

SELECT pa_create_tool('choose_transfer_line', 'agent', agent => 'transfer_line',
                      description => 'Ask the routing agent which operations line to transfer to.');

SELECT pa_create_agent('live_assist',
    instructions => 'You assist a live support conversation that must go to a human. Ask choose_transfer_line '
        'for the line (give it the topic), then record the handoff: the line, a message to the customer, '
        'and a summary for the human who picks it up.',
    provider => :'provider', model => :'model',
    outputs => '{"handoff": {"schema": {"type": "object", "required": ["line", "message_to_customer", "summary_for_human"],
                               "properties": {
                                 "line": {"type": "string"},
                                 "message_to_customer": {"type": "string"},
                                 "summary_for_human": {"type": "string"}}}}}',
    tools => '{choose_transfer_line}', planning => 'none',
    description => 'Mid-conversation: hands a live conversation to the right line');

------------------------------------------------------------------------
-- 6. Standalone: a daily digest, scheduled with pg_cron
------------------------------------------------------------------------
SELECT pa_create_agent('daily_digest',
    instructions => 'Write the daily digest of customer support for the operations lead: call day_stats for the day '
        '(the input''s day, else yesterday), then record the digest with a headline, highlights and risks.',
    provider => :'provider', model => :'model',
    outputs => '{"digest": {"table": "demo.daily_digests",
                  "schema": {"type": "object", "required": ["day", "headline", "conversations", "highlights", "risks"],
                             "properties": {
                               "day": {"type": "string", "format": "date"},
                               "headline": {"type": "string", "maxLength": 200},
                               "conversations": {"type": "integer", "minimum": 0},
                               "highlights": {"type": "array", "items": {"type": "string"}},
                               "risks": {"type": "array", "items": {"type": "string"}}}}}}',
    tools => '{day_stats}', planning => 'none',
    input_schema => '{"type": "object", "properties": {"day": {"type": "string", "format": "date"}}}',
    description => 'Standalone: the daily digest');
