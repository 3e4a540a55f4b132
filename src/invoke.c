/*
 * invoke.c — pa_invoke(): run an agent synchronously in the caller's
 * backend, driving the step machine (agent.c) with real HTTP (http.c)
 * and tools (tools.c), and leaving a ledger (ledger.c).
 *
 * Everything is written in the caller's transaction: if the caller rolls
 * back, the run, its steps and its outputs disappear with it (README).
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "agent.h"
#include "http.h"
#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"
#include "prompt.h"
#include "schema_sql.h"
#include "tools.h"
#include "transcript.h"

/* Everything one run needs, loaded once. */
typedef struct RunContext
{
	int64		agent_id;
	int32		version;
	Oid			owner;
	json_t	   *def;			/* version, provider, model, outputs, tools */
	char	   *api_key;		/* never logged, never stored */
	const char *kind;			/* openai | anthropic */
	PaAgentSpec spec;
	PaOutputType *outputs;
	PaUserTool *user_tools;
	json_t	   *tool_defs;		/* name -> tool definition */
	PaSchema  **schemas;		/* owned, freed at the end */
	int			n_schemas;
	TimestampTz deadline;
	PaUsage		usage;
	double		cost;
	int64		run_id;
	int			ledger_steps;	/* rows written to pa.run_steps */
} RunContext;

static char *
take_string(char *s)
{
	char	   *p = pstrdup(s ? s : "");

	free(s);
	return p;
}

static PaSchema *
own_schema(RunContext *rc, json_t *schema, const char *what)
{
	PaSchema   *s = pa_schema_compile_owned(schema, what);

	rc->schemas[rc->n_schemas++] = s;
	return s;
}

/* The definition of the agent version, as json (secrets apart). */
static void
load_definition(RunContext *rc, const char *agent, int32 version_or_0)
{
	bool		isnull;
	Datum		d;
	json_t	   *j;

	/* As the caller: row-level security decides whether the agent exists. */
	d = pa_sql_value(GetUserId(),
					 "SELECT jsonb_build_object('id', a.id, 'owner', a.owner::oid::bigint, 'version', "
					 "  CASE WHEN $2 > 0 THEN $2 ELSE a.released_version END, 'latest', a.latest_version) "
					 "FROM pa.agents a WHERE a.name = $1 AND a.dropped_at IS NULL",
					 2, (Oid[]) {TEXTOID, INT4OID},
					 (Datum[]) {CStringGetTextDatum(agent), Int32GetDatum(version_or_0)},
					 NULL, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" does not exist", agent)));
	j = pa_jsonb_to_json(DatumGetJsonbP(d));
	rc->agent_id = json_integer_value(json_object_get(j, "id"));
	rc->owner = (Oid) json_integer_value(json_object_get(j, "owner"));
	if (!json_is_integer(json_object_get(j, "version")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent \"%s\" has no released version", agent),
				 errhint("Release one with pa_release_agent(), or name a version.")));
	rc->version = (int32) json_integer_value(json_object_get(j, "version"));
	if (rc->version < 1 || rc->version > json_integer_value(json_object_get(j, "latest")))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" has no version %d", agent, rc->version)));
	json_decref(j);

	d = pa_sql_value(pa_extension_owner(),
					 "SELECT jsonb_build_object("
					 " 'instructions', v.instructions, 'planning', v.planning,"
					 " 'thinking_budget', coalesce(v.thinking_budget, 0), 'reasoning_effort', v.reasoning_effort,"
					 " 'max_output_tokens', v.max_output_tokens, 'max_steps', v.max_steps,"
					 " 'max_repairs', v.max_repairs, 'timeout_ms', extract(epoch FROM v.timeout) * 1000,"
					 " 'finish_when_recorded', v.finish_when_recorded,"
					 " 'provider', jsonb_build_object('kind', p.kind, 'base_url', p.base_url, 'options', p.options),"
					 " 'model', jsonb_build_object('name', m.name, 'input_price', m.input_price,"
					 "     'output_price', m.output_price, 'cached_input_price', m.cached_input_price,"
					 "     'reasoning_price', m.reasoning_price),"
					 " 'outputs', (SELECT jsonb_object_agg(o.name, jsonb_strip_nulls(jsonb_build_object("
					 "     'schema', o.schema, 'cardinality', o.cardinality, 'required', o.required,"
					 "     'description', o.description, 'table', o.result_table::oid::bigint)))"
					 "   FROM pa.agent_outputs o WHERE o.agent_id = v.agent_id AND o.version = v.version),"
					 " 'tools', coalesce((SELECT jsonb_agg(jsonb_build_object('name', t.name, 'kind', t.kind,"
					 "     'description', t.description, 'parameters', t.parameters, 'signature', t.function_signature,"
					 "     'timeout_ms', extract(epoch FROM t.timeout) * 1000) ORDER BY t.name)"
					 "   FROM pa.agent_tools at JOIN pa.tools t ON t.id = at.tool_id"
					 "   WHERE at.agent_id = v.agent_id AND at.version = v.version), '[]'))"
					 "FROM pa.agent_versions v JOIN pa.providers p ON p.id = v.provider_id"
					 " JOIN pa.models m ON m.id = v.model_id "
					 "WHERE v.agent_id = $1 AND v.version = $2",
					 2, (Oid[]) {INT8OID, INT4OID},
					 (Datum[]) {Int64GetDatum(rc->agent_id), Int32GetDatum(rc->version)},
					 NULL, &isnull);
	rc->def = pa_jsonb_to_json(DatumGetJsonbP(d));
	rc->kind = json_string_value(json_object_get(json_object_get(rc->def, "provider"), "kind"));

	/* The key: read as the extension owner, or from the server's environment. */
	d = pa_sql_value(pa_extension_owner(),
					 "SELECT coalesce(s.api_key, '$env:' || p.api_key_env) FROM pa.agent_versions v "
					 "JOIN pa.providers p ON p.id = v.provider_id "
					 "LEFT JOIN pa.provider_secrets s ON s.provider_id = p.id "
					 "WHERE v.agent_id = $1 AND v.version = $2",
					 2, (Oid[]) {INT8OID, INT4OID},
					 (Datum[]) {Int64GetDatum(rc->agent_id), Int32GetDatum(rc->version)},
					 NULL, &isnull);
	rc->api_key = isnull ? NULL : TextDatumGetCString(d);
	if (rc->api_key && strncmp(rc->api_key, "$env:", 5) == 0)
	{
		const char *v = getenv(rc->api_key + 5);

		rc->api_key = v ? pstrdup(v) : NULL;
	}
}

/* The step machine's spec: prompts, tools, compiled schemas. */
static void
build_spec(RunContext *rc, json_t *context)
{
	json_t	   *outputs = json_object_get(rc->def, "outputs");
	json_t	   *tools = json_object_get(rc->def, "tools");
	json_t	   *offered = json_array();
	const char *name;
	json_t	   *o;
	size_t		i;
	int			n = 0;
	char	   *err = NULL;
	char	   *text;
	PaAgentSpec *s = &rc->spec;

	rc->schemas = palloc0(sizeof(PaSchema *) * (json_object_size(outputs) + json_array_size(tools) + 1));
	rc->outputs = palloc0(sizeof(PaOutputType) * (json_object_size(outputs) + 1));
	rc->user_tools = palloc0(sizeof(PaUserTool) * (json_array_size(tools) + 1));
	rc->tool_defs = json_object();

	json_object_foreach(outputs, name, o)
	{
		char	   *desc = psprintf("Record one %s object%s%s. Its arguments are the object itself.",
									name, json_is_string(json_object_get(o, "description")) ? ": " : "",
									json_is_string(json_object_get(o, "description")) ?
									json_string_value(json_object_get(o, "description")) : "");

		rc->outputs[n].name = name;
		rc->outputs[n].schema = own_schema(rc, json_object_get(o, "schema"), psprintf("output \"%s\"", name));
		rc->outputs[n].many = strcmp(json_string_value(json_object_get(o, "cardinality")), "many") == 0;
		rc->outputs[n].required = json_is_true(json_object_get(o, "required"));
		json_array_append_new(offered, json_pack("{s:s, s:s, s:O}",
												 "name", psprintf("record_%s", name),
												 "description", desc,
												 "parameters", json_object_get(o, "schema")));
		n++;
	}
	s->outputs = rc->outputs;
	s->n_outputs = n;

	n = 0;
	json_array_foreach(tools, i, o)
	{
		const char *tname = json_string_value(json_object_get(o, "name"));

		if (strcmp(json_string_value(json_object_get(o, "kind")), "sql") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("tool \"%s\" of kind %s cannot be run by pa_invoke yet", tname,
							json_string_value(json_object_get(o, "kind"))),
					 errdetail("This version runs sql tools; http and agent tools come with the next runtime release."),
					 errhint("Alter the agent to use only sql tools for now.")));
		rc->user_tools[n].name = tname;
		rc->user_tools[n].parameters = own_schema(rc, json_object_get(o, "parameters"),
												  psprintf("parameters of tool \"%s\"", tname));
		json_object_set(rc->tool_defs, tname, o);
		json_array_append_new(offered, json_pack("{s:s, s:s, s:O}", "name", tname,
												 "description", json_string_value(json_object_get(o, "description")),
												 "parameters", json_object_get(o, "parameters")));
		n++;
	}
	s->user_tools = rc->user_tools;
	s->n_user_tools = n;
	s->tools = offered;

	s->model = json_string_value(json_object_get(json_object_get(rc->def, "model"), "name"));
	s->planning = json_string_value(json_object_get(rc->def, "planning"));
	text = pa_render_system_prompt(json_string_value(json_object_get(rc->def, "instructions")),
								   outputs, s->planning, &err);
	if (text == NULL)
		elog(ERROR, "could not render the system prompt: %s", err ? take_string(err) : "out of memory");
	s->system_prompt = take_string(text);
	s->planning_prompt = NULL;
	if (strcmp(s->planning, "high") == 0)
	{
		text = pa_render_planning_prompt(json_string_value(json_object_get(rc->def, "instructions")),
										 outputs, offered, &err);
		if (text == NULL)
			elog(ERROR, "could not render the planning prompt: %s", err ? take_string(err) : "out of memory");
		s->planning_prompt = take_string(text);
	}
	s->max_steps = (int) json_integer_value(json_object_get(rc->def, "max_steps"));
	s->max_repairs = (int) json_integer_value(json_object_get(rc->def, "max_repairs"));
	s->max_output_tokens = (int) json_integer_value(json_object_get(rc->def, "max_output_tokens"));
	s->thinking_budget = (int) json_integer_value(json_object_get(rc->def, "thinking_budget"));
	s->reasoning_effort = json_string_value(json_object_get(rc->def, "reasoning_effort"));
	s->finish_when_recorded = json_is_true(json_object_get(rc->def, "finish_when_recorded"));
}

/* Cost in USD of one call's usage, from the model's prices per million. */
static double
usage_cost(RunContext *rc, const PaUsage *u)
{
	json_t	   *m = json_object_get(rc->def, "model");
	double		in = json_number_value(json_object_get(m, "input_price"));
	double		out = json_number_value(json_object_get(m, "output_price"));
	double		cached = json_number_value(json_object_get(m, "cached_input_price"));
	double		reasoning = json_number_value(json_object_get(m, "reasoning_price"));
	double		uncached;

	/* OpenAI counts cached tokens inside prompt_tokens; Anthropic apart. */
	if (strcmp(rc->kind, "openai") == 0)
		uncached = (double) (u->input_tokens - u->cached_tokens);
	else
		uncached = (double) (u->input_tokens + u->cache_creation_tokens);
	return (uncached * in + (double) u->cached_tokens * cached +
			(double) (u->output_tokens - u->reasoning_tokens) * out +
			(double) u->reasoning_tokens * reasoning) / 1e6;
}

static long
remaining_ms(RunContext *rc)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), rc->deadline, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}

/* Sleep interruptibly. */
static void
pause_ms(long ms)
{
	while (ms > 0)
	{
		long		slice = Min(ms, 100);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 slice, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		ms -= slice;
	}
}

static bool
retryable(const PaHttpResponse *r)
{
	if (r->error && !r->truncated)
		return true;
	return r->status == 408 || r->status == 429 || r->status == 500 || r->status == 502 ||
		r->status == 503 || r->status == 504 || r->status == 529;
}

/* One model call (with retries); false and the run failed on error. */
static bool
call_model(RunContext *rc, json_t *state, PaModelRequest *req)
{
	json_t	   *provider = json_object_get(rc->def, "provider");
	json_t	   *options = json_object_get(provider, "options");
	bool		openai = strcmp(rc->kind, "openai") == 0;
	char	   *err = NULL;
	char	   *body = openai ? pa_openai_build_request(req, &err) : pa_anthropic_build_request(req, &err);
	int			max_retries = json_is_integer(json_object_get(options, "max_retries")) ?
		(int) json_integer_value(json_object_get(options, "max_retries")) : 2;
	PaHttpRequest hr = {0};
	PaHttpResponse resp;
	json_t	   *response = NULL;
	json_t	   *summary;
	int			attempt;
	char	   *failure = NULL;

	if (body == NULL)
	{
		pa_sm_fail(state, "request_error", take_string(err), NULL);
		return false;
	}
	hr.url = psprintf("%s%s", json_string_value(json_object_get(provider, "base_url")),
					  openai ? "/chat/completions" : "/v1/messages");
	hr.body = body;
	hr.headers = pa_http_header(NULL, "Content-Type", "application/json");
	if (openai)
	{
		if (rc->api_key)
			hr.headers = pa_http_header(hr.headers, "Authorization", psprintf("Bearer %s", rc->api_key));
	}
	else
	{
		const char *version = json_string_value(json_object_get(options, "anthropic_version"));

		if (rc->api_key)
			hr.headers = pa_http_header(hr.headers, "x-api-key", rc->api_key);
		hr.headers = pa_http_header(hr.headers, "anthropic-version", version ? version : "2023-06-01");
	}
	hr.connect_timeout_ms = json_is_integer(json_object_get(options, "connect_timeout_ms")) ?
		(long) json_integer_value(json_object_get(options, "connect_timeout_ms")) : 10000;
	hr.low_speed_time_s = 0;
	hr.max_response_bytes = (size_t) pa_max_response_bytes;

	summary = json_pack("{s:s, s:i, s:I}", "model", req->model,
						"messages", (int) json_array_size(req->messages),
						"tools", (json_int_t) json_array_size(req->tools));
	for (attempt = 0;; attempt++)
	{
		long		left = remaining_ms(rc);
		long		provider_timeout = json_is_integer(json_object_get(options, "timeout_ms")) ?
			(long) json_integer_value(json_object_get(options, "timeout_ms")) : 600000;

		if (left <= 0)
		{
			failure = pstrdup("the run's deadline passed");
			pa_sm_fail(state, "timeout", failure, NULL);
			break;
		}
		hr.timeout_ms = Min(left, provider_timeout);
		pa_http_post(&hr, &resp);
		if (resp.error == NULL && resp.status >= 200 && resp.status < 300)
		{
			response = openai ? pa_openai_parse_response(resp.body.data, resp.body.len, &err)
				: pa_anthropic_parse_response(resp.body.data, resp.body.len, &err);
			if (response == NULL)
				failure = psprintf("invalid response from the model: %s", take_string(err));
		}
		else if (resp.error)
			failure = psprintf("model call failed: %s", resp.error);
		else
			failure = take_string(openai ? pa_openai_error_message(resp.status, resp.body.data, resp.body.len)
								  : pa_anthropic_error_message(resp.status, resp.body.data, resp.body.len));

		if (response != NULL)
			break;
		if (attempt < max_retries && retryable(&resp))
		{
			long		wait = resp.retry_after_s >= 0 ? (long) (resp.retry_after_s * 1000)
				: 500L << attempt;

			pa_ledger_step(rc->run_id, ++rc->ledger_steps,
						   "model", "retry", false, resp.elapsed_ms, resp.status, NULL, 0, summary, NULL, failure);
			if (wait < remaining_ms(rc))
			{
				pause_ms(wait);
				failure = NULL;
				continue;
			}
		}
		pa_sm_fail(state, resp.timed_out ? "timeout" : "model_error", failure, NULL);
		break;
	}
	curl_slist_free_all(hr.headers);
	free(body);

	if (response)
	{
		PaUsage		u;
		double		cost;

		pa_usage_from_response(response, &u);
		cost = usage_cost(rc, &u);
		rc->usage.input_tokens += u.input_tokens;
		rc->usage.output_tokens += u.output_tokens;
		rc->usage.cached_tokens += u.cached_tokens;
		rc->usage.cache_creation_tokens += u.cache_creation_tokens;
		rc->usage.reasoning_tokens += u.reasoning_tokens;
		rc->cost += cost;
		pa_ledger_step(rc->run_id, ++rc->ledger_steps,
					   req->tools ? "model" : "plan", NULL, true, resp.elapsed_ms, resp.status, &u, cost,
					   summary, response, NULL);
		pa_sm_model_response(&rc->spec, state, response);
		json_decref(response);
	}
	else
		pa_ledger_step(rc->run_id, ++rc->ledger_steps,
					   "model", NULL, false, resp.elapsed_ms, resp.status, NULL, 0, summary, NULL, failure);
	json_decref(summary);
	return response != NULL;
}

/* The conversation as the agent sees it: what is visible to this statement. */
static json_t *
load_context(int64 conversation_id, Jsonb *input)
{
	bool		isnull;
	Datum		d;
	json_t	   *j;

	d = pa_sql_value(GetUserId(),
					 "SELECT jsonb_build_object("
					 " 'conversation', (SELECT to_jsonb(c) - 'last_event_seq' - 'created_at' - 'updated_at'"
					 "                  FROM pa.conversations c WHERE c.id = $1),"
					 " 'customer', (SELECT jsonb_build_object('external_id', cu.external_id, 'name', cu.name, 'context', cu.context)"
					 "              FROM pa.customers cu JOIN pa.conversations c ON c.customer_id = cu.id WHERE c.id = $1),"
					 " 'memory', coalesce((SELECT jsonb_object_agg(m.key, m.value) FROM pa.customer_memory m"
					 "              JOIN pa.conversations c ON c.customer_id = m.customer_id WHERE c.id = $1), '{}'),"
					 " 'events', coalesce((SELECT jsonb_agg(to_jsonb(e) - 'conversation_id' ORDER BY e.seq)"
					 "              FROM pa.events e WHERE e.conversation_id = $1), '[]'),"
					 " 'input', $2)",
					 2, (Oid[]) {INT8OID, JSONBOID},
					 (Datum[]) {Int64GetDatum(conversation_id), JsonbPGetDatum(input)},
					 NULL, &isnull);
	j = pa_jsonb_to_json(DatumGetJsonbP(d));
	if (conversation_id >= 0 && json_is_null(json_object_get(j, "conversation")))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conversation %lld does not exist", (long long) conversation_id)));
	return j;
}

/* {run_id, status, outputs: {name: object | [objects]}, error, usage, cost_usd} */
static json_t *
run_result(RunContext *rc, json_t *state, int64 run_id)
{
	json_t	   *outputs = json_object();
	json_t	   *recorded = json_object_get(state, "recorded");
	int			i;

	for (i = 0; i < rc->spec.n_outputs; i++)
	{
		json_t	   *list = json_object_get(recorded, rc->outputs[i].name);

		if (rc->outputs[i].many)
			json_object_set(outputs, rc->outputs[i].name, list);
		else if (json_array_size(list) > 0)
			json_object_set(outputs, rc->outputs[i].name, json_array_get(list, 0));
		else
			json_object_set_new(outputs, rc->outputs[i].name, json_null());
	}
	return json_pack("{s:I, s:s, s:i, s:o, s:O?, s:{s:I, s:I, s:I, s:I}, s:f}",
					 "run_id", (json_int_t) run_id,
					 "status", json_string_value(json_object_get(state, "status")),
					 "version", rc->version,
					 "outputs", outputs,
					 "error", json_object_get(state, "error"),
					 "usage", "input_tokens", (json_int_t) rc->usage.input_tokens,
					 "output_tokens", (json_int_t) rc->usage.output_tokens,
					 "cached_tokens", (json_int_t) rc->usage.cached_tokens,
					 "reasoning_tokens", (json_int_t) rc->usage.reasoning_tokens,
					 "cost_usd", rc->cost);
}

PG_FUNCTION_INFO_V1(pa_invoke);

/*
 * pa_invoke(agent text, conversation bigint, input jsonb, timeout interval,
 *           version integer) RETURNS jsonb
 */
Datum
pa_invoke(PG_FUNCTION_ARGS)
{
	RunContext	rc = {0};
	json_t	   *context;
	json_t	   *state = NULL;
	json_t	   *result;
	char	   *transcript;
	char	   *err = NULL;
	int64		conversation_id;
	int64		run_id;
	Jsonb	   *input;
	Jsonb	   *out;
	long		timeout_ms;
	PaTranscriptOptions topts = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("agent must not be null")));
	conversation_id = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	input = PG_ARGISNULL(2) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(2);

	load_definition(&rc, text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4));
	timeout_ms = (long) json_number_value(json_object_get(rc.def, "timeout_ms"));
	if (!PG_ARGISNULL(3))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(3);
		long		ms = (long) ((iv->time + (int64) (iv->day + iv->month * 30) * USECS_PER_DAY) / 1000);

		if (ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must be positive")));
		timeout_ms = Min(timeout_ms, ms);
	}
	rc.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	context = load_context(conversation_id, input);
	PG_TRY();
	{
		PaModelRequest req;
		PaSmAction	action;

		build_spec(&rc, context);
		transcript = pa_render_transcript(context, &topts, &err);
		if (transcript == NULL)
			elog(ERROR, "could not render the transcript: %s", err ? take_string(err) : "out of memory");
		run_id = pa_ledger_start(rc.agent_id, rc.version, conversation_id, "invoke", input,
								 rc.owner, GetUserId());
		state = pa_sm_start(&rc.spec, take_string(transcript));
		rc.run_id = run_id;

		while ((action = pa_sm_next(&rc.spec, state, &req)) != PA_SM_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (action == PA_SM_CALL_MODEL)
				call_model(&rc, state, &req);
			else
			{
				json_t	   *pending = json_deep_copy(pa_sm_pending(state));
				size_t		i;
				json_t	   *call;

				json_array_foreach(pending, i, call)
				{
					const char *name = json_string_value(json_object_get(call, "name"));
					bool		is_error;
					instr_time	t0,
								t1;
					char	   *text;

					INSTR_TIME_SET_CURRENT(t0);
					text = pa_run_tool(rc.owner, json_object_get(rc.tool_defs, name),
									   json_object_get(call, "arguments"), &is_error);
					INSTR_TIME_SET_CURRENT(t1);
					INSTR_TIME_SUBTRACT(t1, t0);
					pa_ledger_step(run_id, ++rc.ledger_steps, "tool", name, !is_error,
								   INSTR_TIME_GET_MILLISEC(t1), 0, NULL, 0,
								   json_object_get(call, "arguments"),
								   json_pack("{s:s}", "content", text), is_error ? text : NULL);
					pa_sm_tool_result(&rc.spec, state, json_string_value(json_object_get(call, "id")),
									  text, is_error);
				}
				json_decref(pending);
			}
		}

		if (strcmp(json_string_value(json_object_get(state, "status")), "succeeded") == 0)
			pa_ledger_write_outputs(run_id, rc.agent_id, rc.version, conversation_id,
									json_object_get(state, "recorded"),
									json_object_get(rc.def, "outputs"), rc.owner);
		result = run_result(&rc, state, run_id);
		pa_ledger_finish(run_id, state, result, &rc.usage, rc.cost);
		out = pa_json_to_jsonb(result);
		json_decref(result);
	}
	PG_FINALLY();
	{
		int			i;

		for (i = 0; i < rc.n_schemas; i++)
			pa_schema_free(rc.schemas[i]);
		json_decref(state);
		json_decref(context);
		json_decref(rc.def);
		json_decref(rc.tool_defs);
		json_decref(rc.spec.tools);
	}
	PG_END_TRY();
	PG_RETURN_JSONB_P(out);
}
