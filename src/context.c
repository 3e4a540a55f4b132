/*
 * context.c — what a run reads of its conversation: the conversation, its
 * customer and the customer's memory, and its events in order, as the
 * reader (the agent's owner, or pa_invoke's caller) may see them.
 *
 * One statement however many conversations: the worker loads the
 * contexts of all the runs a step starts together (pa_run_load_contexts).
 * The head (conversation, customer, memory) is built once per
 * conversation (OFFSET 0 keeps it from being computed per event); events
 * come as plain columns turned into JSON here, with no JSONB built and
 * parsed again per event, and are put in order here (no sort node).
 */
#include "pg_prelude.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "run.h"

#define CONTEXT_SQL \
	"SELECT h.id, h.head, e.id, e.seq, e.occurred_at, e.kind, e.role, e.content, e.name, " \
	"       e.tool_call_id, e.payload " \
	"FROM (SELECT c.id, jsonb_build_object(" \
	"        'conversation', to_jsonb(c) - 'last_event_seq' - 'created_at' - 'updated_at'," \
	"        'customer', CASE WHEN cu.id IS NOT NULL THEN" \
	"           jsonb_build_object('external_id', cu.external_id, 'name', cu.name, 'context', cu.context) END," \
	"        'memory', CASE WHEN c.customer_id IS NULL THEN '{}'::jsonb ELSE" \
	"           coalesce((SELECT jsonb_object_agg(m.key, m.value) FROM pa.customer_memory m" \
	"                     WHERE m.customer_id = c.customer_id), '{}') END) AS head" \
	"      FROM pa.conversations c LEFT JOIN pa.customers cu ON cu.id = c.customer_id" \
	"      WHERE %s OFFSET 0) h " \
	"LEFT JOIN pa.events e ON e.conversation_id = h.id"

/* The event columns (from the third), as the event's keys. */
static const char *const event_keys[] = {"id", "seq", "occurred_at", "kind", "role",
"content", "name", "tool_call_id", "payload"};

#define N_EVENT_KEYS (sizeof(event_keys) / sizeof(event_keys[0]))

/*
 * One row: its conversation's head the first time, then its event if any.
 * The row is deformed once (column by column, each later column was found
 * by walking the ones before it); an event's NULL columns and empty payload
 * are left out, as the renderer reads a missing key as null and prints no
 * empty object (fewer keys to insert: most events have no name, tool call
 * id or payload).
 */
static void
context_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	json_t	   *by_id = (json_t *) arg;
	Datum		values[3 + N_EVENT_KEYS];
	bool		nulls[3 + N_EVENT_KEYS];
	char		key[32];
	json_t	   *context;
	json_t	   *event;
	int			k;

	Assert(desc->natts == 2 + (int) N_EVENT_KEYS);
	heap_deform_tuple(tuple, desc, values, nulls);
	snprintf(key, sizeof(key), "%lld", (long long) DatumGetInt64(values[0]));
	context = json_object_get(by_id, key);
	if (context == NULL)
	{
		context = pa_jsonb_to_json(DatumGetJsonbP(values[1]));
		json_object_set_new(context, "events", json_array());
		json_object_set_new(by_id, key, context);
	}
	if (nulls[2])
		return;					/* no events: the one row of the outer join */
	event = json_object();
	for (k = 0; k < (int) N_EVENT_KEYS; k++)
	{
		Oid			type = TupleDescAttr(desc, k + 2)->atttypid;
		Datum		value = values[k + 2];

		if (nulls[k + 2])
			continue;
		if (type == JSONBOID)
		{
			Jsonb	   *jb = DatumGetJsonbP(value);

			/* an empty payload renders as nothing, like a missing one */
			if (JB_ROOT_IS_OBJECT(jb) && JB_ROOT_COUNT(jb) == 0)
				continue;
			value = JsonbPGetDatum(jb);		/* detoasted once */
		}
		json_object_set_new(event, event_keys[k], pa_datum_to_json(value, type));
	}
	json_array_append_new(json_object_get(context, "events"), event);
}

static int
cmp_seq(const void *a, const void *b)
{
	json_int_t	x = json_integer_value(json_object_get(*(json_t *const *) a, "seq"));
	json_int_t	y = json_integer_value(json_object_get(*(json_t *const *) b, "seq"));

	return (x > y) - (x < y);
}

/* Events in conversation order. */
static void
sort_events(json_t *events)
{
	size_t		n = json_array_size(events);
	json_t	  **v;
	size_t		i;

	if (n < 2)
		return;
	v = palloc(sizeof(json_t *) * n);
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(events, i));
	qsort(v, n, sizeof(json_t *), cmp_seq);
	json_array_clear(events);
	for (i = 0; i < n; i++)
		json_array_append_new(events, v[i]);
	pfree(v);
}

json_t *
pa_run_load_contexts(Oid reader, const int64 *ids, int n)
{
	static char *sql_one = NULL;
	static char *sql_many = NULL;
	json_t	   *volatile by_id = json_object();
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));
	const char *key;
	json_t	   *context;
	int			i;

	/*
	 * One conversation is found by plain key equality: a plan kept from
	 * when the tables were nearly empty cannot turn that into a scan.
	 */
	if (sql_one == NULL)
	{
		sql_one = MemoryContextStrdup(TopMemoryContext, psprintf(CONTEXT_SQL, "c.id = ($1)[1]"));
		sql_many = MemoryContextStrdup(TopMemoryContext, psprintf(CONTEXT_SQL, "c.id = ANY ($1)"));
	}
	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	PG_TRY();
	{
		pa_sql_rows_by_index(reader, n == 1 ? sql_one : sql_many, 1, (Oid[]) {INT8ARRAYOID},
							 (Datum[]) {PointerGetDatum(construct_array(elems, n, INT8OID, 8,
																		FLOAT8PASSBYVAL,
																		TYPALIGN_DOUBLE))},
							 NULL, context_row, (void *) by_id);
	}
	PG_CATCH();
	{
		json_decref(by_id);		/* jansson's memory is not the transaction's */
		PG_RE_THROW();
	}
	PG_END_TRY();
	json_object_foreach(by_id, key, context)
		sort_events(json_object_get(context, "events"));
	return by_id;
}

json_t *
pa_run_load_context(Oid reader, int64 conversation_id, Jsonb *input)
{
	json_t	   *by_id;
	json_t	   *context;

	/* A standalone run reads no conversation (nor needs the right to). */
	if (conversation_id < 0)
		return json_pack("{s:n, s:n, s:{}, s:[], s:o}", "conversation", "customer", "memory",
						 "events", "input", pa_jsonb_to_json(input));
	by_id = pa_run_load_contexts(reader, &conversation_id, 1);
	context = json_object_size(by_id) == 1 ?
		json_incref(json_object_iter_value(json_object_iter(by_id))) : NULL;
	json_decref(by_id);
	if (context == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conversation %lld does not exist", (long long) conversation_id)));
	json_object_set_new(context, "input", pa_jsonb_to_json(input));
	return context;
}
