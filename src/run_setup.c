/*
 * run_setup.c — before a run starts: the agent version's definition (and
 * its secrets, read as the extension owner), the conversation as the
 * caller sees it, and the step machine's spec (prompts, tools, schemas).
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "prompt.h"
#include "run.h"
#include "schema_sql.h"
#include "worker.h"


/*
 * What a backend loaded of an agent version (the agent's row, provider,
 * model, outputs, tools, key), kept while no definition changed: every
 * committed change to a definition table bumps a generation counter in
 * shared memory (launcher.c), and an entry is used only while the counter
 * still reads what it read before the entry was loaded. The worker starts
 * many runs of one version in a burst; loading it was the largest single
 * cost of a run. Without shared memory (library not preloaded) an entry
 * lasts one second. Memory: TopMemoryContext (strings), jansson (json).
 */
#define DEF_CACHE_SLOTS 32
#define DEF_CACHE_MS 1000

typedef struct DefCacheSlot
{
	int64		agent_id;
	int32		version;
	uint64		generation;		/* 0: no shared memory, loaded_at decides */
	TimestampTz loaded_at;
	json_t	   *def;
	char	   *api_key;
	char	   *agent_name;
	Oid			owner;
} DefCacheSlot;

static DefCacheSlot def_cache[DEF_CACHE_SLOTS];

static DefCacheSlot *
cache_slot(int64 agent_id, int32 version)
{
	return &def_cache[(uint64) (agent_id * 31 + version) % DEF_CACHE_SLOTS];
}

static bool
cache_valid(DefCacheSlot *c, int64 agent_id, int32 version)
{
	uint64		gen = pa_definitions_generation();

	if (c->def == NULL || c->agent_id != agent_id || c->version != version)
		return false;
	if (gen != 0)
		return c->generation == gen;
	return !TimestampDifferenceExceeds(c->loaded_at, GetCurrentTimestamp(), DEF_CACHE_MS);
}

/*
 * The cached definition is shared, not copied: nothing changes a
 * definition once loaded (runs only read it), and a run keeps its
 * reference while the slot moves on to a newer one.
 */
static void
cache_use(DefCacheSlot *c, RunContext *rc)
{
	rc->def = json_incref(c->def);
	rc->kind = json_string_value(json_object_get(json_object_get(rc->def, "provider"), "kind"));
	rc->api_key = c->api_key ? pstrdup(c->api_key) : NULL;
}

static void
cache_store(RunContext *rc, uint64 generation)
{
	DefCacheSlot *c = cache_slot(rc->agent_id, rc->version);
	json_t	   *copy = json_incref(rc->def);

	json_decref(c->def);
	if (c->api_key)
		pfree(c->api_key);
	if (c->agent_name)
		pfree(c->agent_name);
	c->agent_id = rc->agent_id;
	c->version = rc->version;
	c->generation = generation;
	c->loaded_at = GetCurrentTimestamp();
	c->def = copy;
	c->api_key = rc->api_key ? MemoryContextStrdup(TopMemoryContext, rc->api_key) : NULL;
	c->agent_name = MemoryContextStrdup(TopMemoryContext, rc->agent_name);
	c->owner = rc->owner;
}

/* The definition of the agent version, as json (secrets apart). */
void
pa_run_load_definition(RunContext *rc, const PaRunRequest *req)
{
	char	   *agent;
	bool		isnull;
	Datum		d;
	json_t	   *j;
	uint64		generation;

	/*
	 * A run of a given version by id (the worker's runs; it bypasses row
	 * security as a superuser): all of it from the cache when nothing
	 * changed since.
	 */
	if (req->agent_id > 0 && req->version > 0 && superuser())
	{
		DefCacheSlot *c = cache_slot(req->agent_id, req->version);

		if (cache_valid(c, req->agent_id, req->version))
		{
			rc->agent_id = req->agent_id;
			rc->version = req->version;
			rc->agent_name = pstrdup(c->agent_name);
			rc->owner = c->owner;
			cache_use(c, rc);
			return;
		}
	}

	/* read before loading: a change committed meanwhile invalidates the entry */
	generation = pa_definitions_generation();

	/*
	 * As the caller: row-level security decides whether the agent exists.
	 * By name or by id, one key each (an OR of the two was a bitmap scan).
	 */
#define AGENT_SQL(key) \
	"SELECT jsonb_build_object('id', a.id, 'name', a.name, 'owner', a.owner::oid::bigint, 'version', " \
	"  CASE WHEN $2 > 0 THEN $2 ELSE a.released_version END, 'latest', a.latest_version) " \
	"FROM pa.agents a WHERE " key " AND a.dropped_at IS NULL"
	d = pa_sql_value(GetUserId(), req->agent ? AGENT_SQL("a.name = $1") : AGENT_SQL("a.id = $3"),
					 3, (Oid[]) {TEXTOID, INT4OID, INT8OID},
					 (Datum[]) {CStringGetTextDatum(req->agent ? req->agent : ""),
						 Int32GetDatum(req->version), Int64GetDatum(req->agent_id)},
					 NULL, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" does not exist", req->agent ? req->agent : "(by id)")));
	j = pa_jsonb_to_json(DatumGetJsonbP(d));
	agent = pstrdup(json_string_value(json_object_get(j, "name")));
	rc->agent_name = agent;
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

	{
		DefCacheSlot *c = cache_slot(rc->agent_id, rc->version);

		if (cache_valid(c, rc->agent_id, rc->version))
		{
			cache_use(c, rc);
			return;
		}
	}

	d = pa_sql_value(pa_extension_owner(),
					 "SELECT jsonb_build_object("
					 " 'instructions', v.instructions, 'planning', v.planning,"
					 " 'thinking_budget', coalesce(v.thinking_budget, 0), 'reasoning_effort', v.reasoning_effort,"
					 " 'max_output_tokens', v.max_output_tokens, 'max_steps', v.max_steps,"
					 " 'max_repairs', v.max_repairs, 'timeout_ms', extract(epoch FROM v.timeout) * 1000,"
					 " 'finish_when_recorded', v.finish_when_recorded, 'context_budget', v.context_budget,"
					 " 'max_cost_usd', v.max_cost_usd, 'trigger_condition', v.trigger_condition,"
					 " 'input_schema', v.input_schema,"
					 " 'deliveries', (SELECT count(*) FROM pa.agent_deliveries d WHERE d.agent_id = v.agent_id),"
					 " 'provider', jsonb_build_object('id', p.id, 'name', p.name, 'kind', p.kind, 'base_url', p.base_url, 'options', p.options),"
					 " 'model', jsonb_build_object('name', m.name, 'input_price', m.input_price,"
					 "     'output_price', m.output_price, 'cached_input_price', m.cached_input_price,"
					 "     'reasoning_price', m.reasoning_price),"
					 " 'outputs', (SELECT jsonb_object_agg(o.name, pa._strip_top(jsonb_build_object("
					 "     'schema', o.schema, 'cardinality', o.cardinality, 'required', o.required, 'evidence', o.evidence,"
					 "     'description', o.description, 'table', o.result_table::oid::bigint)))"
					 "   FROM pa.agent_outputs o WHERE o.agent_id = v.agent_id AND o.version = v.version),"
					 " 'tools', coalesce((SELECT jsonb_agg(jsonb_build_object('name', t.name, 'kind', t.kind,"
					 "     'description', t.description, 'signature', t.function_signature, 'agent_id', t.agent_id,"
					 "     'function_owner', t.function_owner::oid::bigint,"
					 "     'url', t.url, 'headers', t.headers,"
					 /* secret headers stay in memory for the call: never in a prompt or the ledger */
					 "     'secret', (SELECT jsonb_build_object('headers', s.headers, 'hmac_secret', s.hmac_secret)"
					 "                FROM pa.tool_secrets s WHERE s.tool_id = t.id),"
					 "     'timeout_ms', extract(epoch FROM t.timeout) * 1000,"
					 /* an agent tool takes its agent's input schema (released version) */
					 "     'parameters', CASE WHEN t.kind = 'agent' THEN coalesce((SELECT v2.input_schema"
					 "         FROM pa.agents a2 JOIN pa.agent_versions v2 ON v2.agent_id = a2.id"
					 "          AND v2.version = a2.released_version WHERE a2.id = t.agent_id),"
					 "         '{\"type\": \"object\"}') ELSE t.parameters END) ORDER BY t.name)"
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

	/*
	 * The key: stored (read as the extension owner), or named by
	 * api_key_env and read from the server's environment.
	 */
	d = pa_sql_value(pa_extension_owner(),
					 "SELECT s.api_key FROM pa.agent_versions v "
					 "JOIN pa.provider_secrets s ON s.provider_id = v.provider_id "
					 "WHERE v.agent_id = $1 AND v.version = $2",
					 2, (Oid[]) {INT8OID, INT4OID},
					 (Datum[]) {Int64GetDatum(rc->agent_id), Int32GetDatum(rc->version)},
					 NULL, &isnull);
	rc->api_key = isnull ? NULL : TextDatumGetCString(d);
	if (rc->api_key == NULL)
	{
		d = pa_sql_value(pa_extension_owner(),
						 "SELECT p.api_key_env FROM pa.agent_versions v "
						 "JOIN pa.providers p ON p.id = v.provider_id "
						 "WHERE v.agent_id = $1 AND v.version = $2",
						 2, (Oid[]) {INT8OID, INT4OID},
						 (Datum[]) {Int64GetDatum(rc->agent_id), Int32GetDatum(rc->version)},
						 NULL, &isnull);
		if (!isnull)
		{
			const char *v = getenv(TextDatumGetCString(d));

			rc->api_key = v ? pstrdup(v) : NULL;
		}
	}
	cache_store(rc, generation);
}

/* The step machine's spec: prompts, tools, compiled schemas. */
static int
cmp_event_id(const void *a, const void *b)
{
	long long	x = *(const long long *) a;
	long long	y = *(const long long *) b;

	return (x > y) - (x < y);
}

void
pa_run_build_spec(RunContext *rc, json_t *context, const PaLoadedContext *events)
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

	rc->compiled = pa_compiled_def_get(rc);
	rc->outputs = palloc0(sizeof(PaOutputType) * (json_object_size(outputs) + 1));
	rc->user_tools = palloc0(sizeof(PaUserTool) * (json_array_size(tools) + PA_MAX_BUILTIN_TOOLS + 1));
	rc->tool_defs = json_object();

	json_object_foreach(outputs, name, o)
	{
		bool		evidence = json_is_true(json_object_get(o, "evidence"));
		char	   *desc = psprintf("Record one %s object%s%s. %s", name,
									json_is_string(json_object_get(o, "description")) ? ": " : "",
									json_is_string(json_object_get(o, "description")) ?
									json_string_value(json_object_get(o, "description")) : "",
									evidence ? "Its arguments are the object and the ids of the events it rests on." :
									"Its arguments are the object itself.");
		json_t	   *parameters;

		rc->outputs[n].name = name;
		rc->outputs[n].schema = pa_compiled_output(rc->compiled, name, &parameters);
		rc->outputs[n].many = strcmp(json_string_value(json_object_get(o, "cardinality")), "many") == 0;
		rc->outputs[n].required = json_is_true(json_object_get(o, "required"));
		rc->outputs[n].evidence = evidence;
		json_array_append_new(offered, json_pack("{s:s, s:s, s:O}",
												 "name", psprintf("record_%s", name),
												 "description", desc,
												 "parameters", parameters));
		n++;
	}
	s->outputs = rc->outputs;
	s->n_outputs = n;

	n = 0;
	json_array_foreach(tools, i, o)
	{
		const char *tname = json_string_value(json_object_get(o, "name"));

		rc->user_tools[n].name = tname;
		rc->user_tools[n].parameters = pa_compiled_tool(rc->compiled, tname);
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
		elog(ERROR, "could not render the system prompt: %s", err ? pa_take_string(err) : "out of memory");
	s->system_prompt = pa_take_string(text);
	s->planning_prompt = NULL;
	if (strcmp(s->planning, "high") == 0)
	{
		text = pa_render_planning_prompt(json_string_value(json_object_get(rc->def, "instructions")),
										 outputs, offered, &err);
		if (text == NULL)
			elog(ERROR, "could not render the planning prompt: %s", err ? pa_take_string(err) : "out of memory");
		s->planning_prompt = pa_take_string(text);
	}
	s->max_steps = (int) json_integer_value(json_object_get(rc->def, "max_steps"));
	s->max_repairs = (int) json_integer_value(json_object_get(rc->def, "max_repairs"));
	s->max_output_tokens = (int) json_integer_value(json_object_get(rc->def, "max_output_tokens"));
	s->thinking_budget = (int) json_integer_value(json_object_get(rc->def, "thinking_budget"));
	s->reasoning_effort = json_string_value(json_object_get(rc->def, "reasoning_effort"));
	s->finish_when_recorded = json_is_true(json_object_get(rc->def, "finish_when_recorded"));

	/* Event ids, ascending, for checking evidence. */
	{
		int			k = 0;

		rc->event_ids = palloc(sizeof(long long) * (events->n_events + 1));
		for (k = 0; k < events->n_events; k++)
			rc->event_ids[k] = events->events[k].id.i;
		qsort(rc->event_ids, k, sizeof(long long), cmp_event_id);
		s->event_ids = rc->event_ids;
		s->n_event_ids = k;
	}
}

/*
 * pa_invoke's input: a JSON object, valid against the version's
 * input_schema when it has one (as pa_enqueue checks it, pa._check_input).
 */
void
pa_run_check_input(RunContext *rc, Jsonb *input)
{
	json_t	   *schema = json_object_get(rc->def, "input_schema");
	json_t	   *instance;
	json_t	   *errors;
	PaSchema   *compiled;
	StringInfoData detail;
	size_t		i;
	json_t	   *e;

	if (!JB_ROOT_IS_OBJECT(input) || JB_ROOT_IS_SCALAR(input))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input must be a JSON object")));
	if (!json_is_object(schema))
		return;
	compiled = pa_schema_compile_owned(schema, "input_schema");
	instance = pa_jsonb_to_json(input);
	errors = pa_schema_errors(compiled, instance);
	json_decref(instance);
	pa_schema_free(compiled);
	if (json_array_size(errors) == 0)
	{
		json_decref(errors);
		return;
	}
	initStringInfo(&detail);
	json_array_foreach(errors, i, e)
	{
		const char *path = json_string_value(json_object_get(e, "path"));

		if (i == 5)
			break;
		appendStringInfo(&detail, "%s%s: %s", i ? "; " : "", path && *path ? path : "(root)",
						 json_string_value(json_object_get(e, "message")));
	}
	json_decref(errors);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("input does not match the input schema of agent \"%s\" (version %d)",
					rc->agent_name, rc->version),
			 errdetail("%s.", detail.data)));
}
