/*
 * builtin_tools.c — the tools every run may get from procedural_agent
 * itself, offered when they make sense:
 *
 *   remember(key, value), recall(key)   the customer has a memory
 *   read_events(from_seq, to_seq),      the transcript was cut to fit the
 *   search_events(query, limit)         context budget
 *
 * Memory writes are kept in the run's state and written with the run's
 * outcome (pa_builtin_commit), so a failed run remembers nothing. Events
 * are read with the same rights and snapshot as the transcript.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "run.h"
#include "schema_sql.h"

/* Events one read_events call returns at most. */
#define READ_EVENTS_MAX 200

/*
 * A built-in tool's parameters, parsed and compiled once per backend (they
 * are fixed texts): the schema offered to the model and the compiled one.
 */
typedef struct BuiltinSchema
{
	const char *name;
	json_t	   *schema;
	PaSchema   *compiled;
} BuiltinSchema;

static BuiltinSchema builtin_schemas[PA_MAX_BUILTIN_TOOLS];

static BuiltinSchema *
builtin_schema(const char *name, const char *parameters)
{
	int			i;

	for (i = 0; i < PA_MAX_BUILTIN_TOOLS && builtin_schemas[i].name; i++)
		if (strcmp(builtin_schemas[i].name, name) == 0)
			return &builtin_schemas[i];
	if (i == PA_MAX_BUILTIN_TOOLS)
		elog(ERROR, "too many built-in tools");
	{
		json_error_t jerr;
		json_t	   *schema = json_loads(parameters, 0, &jerr);

		if (schema == NULL)
			elog(ERROR, "built-in tool %s has an invalid schema: %s", name, jerr.text);
		PG_TRY();
		{
			builtin_schemas[i].compiled = pa_schema_compile_owned(schema, name);
		}
		PG_CATCH();
		{
			json_decref(schema);
			PG_RE_THROW();
		}
		PG_END_TRY();
		builtin_schemas[i].schema = schema;
		builtin_schemas[i].name = name;
	}
	return &builtin_schemas[i];
}

static void
offer(RunContext *rc, const char *name, const char *description, const char *parameters)
{
	BuiltinSchema *b = builtin_schema(name, parameters);
	PaUserTool *t = &rc->user_tools[rc->spec.n_user_tools++];

	t->name = name;
	t->parameters = b->compiled;
	rc->spec.user_tools = rc->user_tools;
	json_object_set_new(rc->tool_defs, name, json_pack("{s:s, s:s}", "name", name, "kind", "builtin"));
	json_array_append_new(rc->spec.tools, json_pack("{s:s, s:s, s:O}", "name", name,
													"description", description, "parameters", b->schema));
}

void
pa_builtin_offer(RunContext *rc, json_t *context, size_t events_omitted)
{
	json_t	   *conversation = json_object_get(context, "conversation");

	rc->customer_id = json_is_integer(json_object_get(conversation, "customer_id")) ?
		json_integer_value(json_object_get(conversation, "customer_id")) : -1;
	if (rc->customer_id > 0)
	{
		offer(rc, "remember",
			  "Remember something about this customer for later conversations (saved when the run succeeds).",
			  "{\"type\": \"object\", \"required\": [\"key\", \"value\"], \"additionalProperties\": false,"
			  " \"properties\": {\"key\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 200},"
			  " \"value\": {}}}");
		offer(rc, "recall",
			  "Recall what is remembered about this customer under a key.",
			  "{\"type\": \"object\", \"required\": [\"key\"], \"additionalProperties\": false,"
			  " \"properties\": {\"key\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 200}}}");
	}
	if (events_omitted > 0)
	{
		offer(rc, "read_events",
			  "Read the conversation's events with seq from from_seq to to_seq (at most 200 at a time).",
			  "{\"type\": \"object\", \"required\": [\"from_seq\", \"to_seq\"], \"additionalProperties\": false,"
			  " \"properties\": {\"from_seq\": {\"type\": \"integer\", \"minimum\": 1},"
			  " \"to_seq\": {\"type\": \"integer\", \"minimum\": 1}}}");
		offer(rc, "search_events",
			  "Find the conversation's events whose text or payload contains the query (case-insensitive).",
			  "{\"type\": \"object\", \"required\": [\"query\"], \"additionalProperties\": false,"
			  " \"properties\": {\"query\": {\"type\": \"string\", \"minLength\": 1},"
			  " \"limit\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 50}}}");
	}
}

/* Events as a JSON array text, read as the run's requester. */
static char *
events_query(RunContext *rc, const char *where, int limit, int nargs, Oid *types, Datum *values)
{
	bool		isnull;
	Datum		d;
	char	   *sql = psprintf("SELECT coalesce(jsonb_agg(jsonb_strip_nulls(to_jsonb(e) - 'conversation_id') "
							   "ORDER BY e.seq), '[]') FROM (SELECT * FROM pa.events e "
							   "WHERE e.conversation_id = $1 AND %s ORDER BY e.seq LIMIT %d) e",
							   where, limit);
	Oid			t[3] = {INT8OID};
	Datum		v[3] = {Int64GetDatum(rc->conversation_id)};
	int			i;

	for (i = 0; i < nargs; i++)
	{
		t[i + 1] = types[i];
		v[i + 1] = values[i];
	}
	d = pa_sql_value(GetUserId(), sql, nargs + 1, t, v, NULL, &isnull);
	return JsonbToCString(NULL, &DatumGetJsonbP(d)->root, VARSIZE(DatumGetPointer(d)));
}

char *
pa_builtin_run(RunContext *rc, json_t *state, const char *name, json_t *args, bool *is_error)
{
	const char *key = json_string_value(json_object_get(args, "key"));

	*is_error = false;
	if (strcmp(name, "remember") == 0)
	{
		json_t	   *writes = json_object_get(state, "memory_writes");

		if (writes == NULL)
		{
			writes = json_object();
			json_object_set_new(state, "memory_writes", writes);
		}
		json_object_set(writes, key, json_object_get(args, "value"));
		return psprintf("Remembered %s (saved when this run succeeds).", key);
	}
	if (strcmp(name, "recall") == 0)
	{
		json_t	   *pending = json_object_get(json_object_get(state, "memory_writes"), key);
		bool		isnull;
		Datum		d;

		if (pending)
			return pa_take_string(json_dumps(pending, JSON_ENCODE_ANY | JSON_COMPACT));
		d = pa_sql_value(GetUserId(), "SELECT value::text FROM pa.customer_memory WHERE customer_id = $1 AND key = $2",
						 2, (Oid[]) {INT8OID, TEXTOID},
						 (Datum[]) {Int64GetDatum(rc->customer_id), CStringGetTextDatum(key)}, NULL, &isnull);
		return isnull ? psprintf("Nothing is remembered under %s.", key) : TextDatumGetCString(d);
	}
	if (strcmp(name, "read_events") == 0)
		return events_query(rc, "e.seq BETWEEN $2 AND $3", READ_EVENTS_MAX, 2, (Oid[]) {INT4OID, INT4OID},
							(Datum[]) {Int32GetDatum((int32) json_integer_value(json_object_get(args, "from_seq"))),
								Int32GetDatum((int32) json_integer_value(json_object_get(args, "to_seq")))});
	if (strcmp(name, "search_events") == 0)
	{
		json_t	   *limit = json_object_get(args, "limit");

		return events_query(rc, "(strpos(lower(e.content), lower($2)) > 0 "
							"OR strpos(lower(e.payload::text), lower($2)) > 0)",
							limit ? (int) json_integer_value(limit) : 20, 1, (Oid[]) {TEXTOID},
							(Datum[]) {CStringGetTextDatum(json_string_value(json_object_get(args, "query")))});
	}
	*is_error = true;
	return psprintf("unknown built-in tool %s", name);
}

/* The run succeeded: its memory writes become the customer's memory. */
void
pa_builtin_commit(RunContext *rc, json_t *state)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(json_object_get(state, "memory_writes"), key, value)
	{
		bool		isnull;

		pa_sql_value(pa_extension_owner(),
					 "INSERT INTO pa.customer_memory (customer_id, key, value, updated_by_run) "
					 "VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, key) DO UPDATE "
					 "SET value = excluded.value, updated_at = now(), updated_by_run = excluded.updated_by_run",
					 4, (Oid[]) {INT8OID, TEXTOID, JSONBOID, INT8OID},
					 (Datum[]) {Int64GetDatum(rc->customer_id), CStringGetTextDatum(key),
						 JsonbPGetDatum(pa_json_to_jsonb(value)), Int64GetDatum(rc->run_id)},
					 NULL, &isnull);
	}
}
