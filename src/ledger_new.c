/*
 * ledger_new.c — a pa_invoke run's row, written once with its end.
 *
 * pa_invoke is a caller waiting, so its write is the lean one: its run,
 * outputs and steps as plain INSERT ... VALUES with scalar parameters, in
 * one statement (the run's and the outputs' inserts as data-modifying CTEs
 * of the steps'). The worker's batched form (ledger.c,
 * pa_ledger_finish_many) joins JSON record sets; for a single run that
 * statement's executor start-up (function scans, CTE scans, hash joins)
 * and the JSONB built and taken apart again cost more than the whole write.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"

/* the run (21), three outputs (4 each) and three steps (15 each) in one statement */
#define MAX_PARAMS 80
#define MAX_ROWS_TOGETHER 3

/* The parameters of one statement, appended in order ($1, $2, ...). */
typedef struct Params
{
	int			n;
	Oid			types[MAX_PARAMS];
	Datum		values[MAX_PARAMS];
	char		nulls[MAX_PARAMS + 1];
} Params;

static void
add(Params *p, Oid type, Datum value, bool isnull)
{
	Assert(p->n < MAX_PARAMS);
	p->types[p->n] = type;
	p->values[p->n] = isnull ? (Datum) 0 : value;
	p->nulls[p->n] = isnull ? 'n' : ' ';
	p->nulls[++p->n] = '\0';
}

static void
add_int8(Params *p, json_t *v)
{
	add(p, INT8OID, Int64GetDatum((int64) json_integer_value(v)), !json_is_integer(v));
}

static void
add_int4(Params *p, json_t *v)
{
	add(p, INT4OID, Int32GetDatum((int32) json_integer_value(v)), !json_is_integer(v));
}

static void
add_float8(Params *p, json_t *v)
{
	add(p, FLOAT8OID, Float8GetDatum(json_number_value(v)), !json_is_number(v));
}

static void
add_text(Params *p, json_t *v)
{
	add(p, TEXTOID, json_is_string(v) ? CStringGetTextDatum(json_string_value(v)) : (Datum) 0,
		!json_is_string(v));
}

/* The four token counts of an object, in FINISH_TOKENS' order, as int8 or int4. */
static void
add_tokens(Params *p, json_t *o, Oid type)
{
	static const char *const keys[] = {"input_tokens", "output_tokens", "cached_tokens",
	"reasoning_tokens"};
	int			i;

	for (i = 0; i < 4; i++)
		(type == INT8OID ? add_int8 : add_int4) (p, json_object_get(o, keys[i]));
}

/* Absent and JSON null are SQL NULL, as jsonb_to_recordset reads them. */
static void
add_jsonb(Params *p, json_t *v)
{
	bool		none = v == NULL || json_is_null(v);

	add(p, JSONBOID, none ? (Datum) 0 : JsonbPGetDatum(pa_json_to_jsonb(v)), none);
}

static void
run_insert(const char *sql, Params *p)
{
	bool		isnull;

	(void) pa_sql_value(pa_extension_owner(), sql, p->n, p->types, p->values, p->nulls, &isnull);
}

#define FINISH_TOKENS "input_tokens, output_tokens, cached_tokens, reasoning_tokens"

/* The ids a run's row and its outputs' rows share: $1 to $4 of their statements. */
static void
add_ids(Params *p, const PaRunStart *s)
{
	add(p, INT8OID, Int64GetDatum(s->run_id), false);
	add(p, INT8OID, Int64GetDatum(s->agent_id), false);
	add(p, INT4OID, Int32GetDatum(s->version), false);
	add(p, INT8OID, Int64GetDatum(s->conversation_id), s->conversation_id < 0);
}

/* The run's row: its 21 parameters, from $1 (add_ids' first). */
static void
add_run(Params *p, const PaRunStart *s, json_t *f)
{
	json_t	   *usage = json_object_get(f, "usage");

	add_ids(p, s);
	add(p, TEXTOID, CStringGetTextDatum(s->origin), false);
	add(p, JSONBOID, JsonbPGetDatum(s->input), false);
	add_text(p, json_object_get(f, "status"));
	add(p, OIDOID, ObjectIdGetDatum(s->owner), false);
	add(p, OIDOID, ObjectIdGetDatum(s->requested_by), false);
	add(p, TIMESTAMPTZOID, TimestampTzGetDatum(s->started_at), false);
	add(p, INT8OID, Int64GetDatum(s->parent_run_id), s->parent_run_id <= 0);
	add_text(p, json_object_get(f, "plan"));
	add_jsonb(p, json_object_get(f, "result"));
	add_jsonb(p, json_object_get(f, "error"));
	add_jsonb(p, json_object_get(f, "last_invalid"));
	add_int4(p, json_object_get(f, "steps"));
	add_tokens(p, usage, INT8OID);	/* bigint in pa.runs */
	add_float8(p, json_object_get(f, "cost"));
}

#define RUN_INSERT \
	"INSERT INTO pa.runs (id, agent_id, agent_version, conversation_id, origin, input, " \
	"  status, attempts, owner, requested_by, started_at, parent_run_id, plan, result, " \
	"  error_code, error_message, error_detail, steps, " FINISH_TOKENS ", cost_usd, " \
	"  finished_at) OVERRIDING SYSTEM VALUE " \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8::regrole, $9::regrole, $10, $11, $12, $13, " \
	"  $14->>'code', $14->>'message', " PA_RUN_ERROR_DETAIL_SQL("$14", "$15") ", " \
	"  $16, $17, $18, $19, $20, $21, clock_timestamp())"

/* A recorded object's cited event ids (integers, checked by the step machine). */
static Datum
evidence_array(json_t *cited)
{
	Datum	   *elems = palloc(sizeof(Datum) * (json_array_size(cited) + 1));
	size_t		i;
	json_t	   *id;

	json_array_foreach(cited, i, id)
	{
		if (!json_is_integer(id))
			elog(ERROR, "evidence of a recorded object is not an event id");
		elems[i] = Int64GetDatum((int64) json_integer_value(id));
	}
	return PointerGetDatum(construct_array(elems, (int) json_array_size(cited), INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* An output row's own 4 parameters (its ids are the run's $1 to $4). */
static void
add_output(Params *p, json_t *row)
{
	json_t	   *cited = json_object_get(row, "evidence");

	add_text(p, json_object_get(row, "name"));
	add_int4(p, json_object_get(row, "ordinal"));
	add_jsonb(p, json_object_get(row, "value"));
	add(p, INT8ARRAYOID, json_is_array(cited) ? evidence_array(cited) : (Datum) 0,
		!json_is_array(cited));
}

#define OUTPUT_INSERT \
	"INSERT INTO pa.outputs (run_id, agent_id, agent_version, conversation_id, name, " \
	"  ordinal, value, evidence) VALUES "

/* A step row's 15 parameters. */
static void
add_step(Params *p, json_t *row)
{
	add_int8(p, json_object_get(row, "run_id"));
	add_int4(p, json_object_get(row, "step"));
	add_text(p, json_object_get(row, "kind"));
	add_text(p, json_object_get(row, "name"));
	add_text(p, json_object_get(row, "error"));
	add_float8(p, json_object_get(row, "latency_ms"));
	add_float8(p, json_object_get(row, "ended"));
	add_int4(p, json_object_get(row, "http_status"));
	add_tokens(p, row, INT4OID);	/* integer in pa.run_steps */
	add_float8(p, json_object_get(row, "cost"));
	add_jsonb(p, json_object_get(row, "request"));
	add_jsonb(p, json_object_get(row, "response"));
}

#define STEP_INSERT \
	"INSERT INTO pa.run_steps (run_id, step, kind, name, status, error, started_at, " \
	"  finished_at, http_status, " FINISH_TOKENS ", cost_usd, request, response) VALUES "

/* An output's VALUES row whose own parameters start at $k. */
static void
output_values(StringInfo sql, int k)
{
	appendStringInfo(sql, "($1, $2, $3, $4, $%d, $%d, $%d, $%d)", k, k + 1, k + 2, k + 3);
}

/* A step's VALUES row whose parameters start at $k (add_step's order). */
static void
step_values(StringInfo sql, int k)
{
	appendStringInfo(sql, "($%d, $%d, $%d, $%d, " PA_STEP_STATUS_SQL("$%d") ", $%d, "
					 PA_STEP_STARTED_SQL("$%d", "$%d") ", to_timestamp($%d), $%d, $%d, $%d, $%d, $%d, "
					 "$%d, $%d, $%d)",
					 k, k + 1, k + 2, k + 3, k + 4, k + 4, k + 6, k + 5, k + 6, k + 7, k + 8,
					 k + 9, k + 10, k + 11, k + 12, k + 13, k + 14);
}

/*
 * The one statement writing a run with n_outputs outputs and n_steps steps
 * (each at most MAX_ROWS_TOGETHER): the run's insert, then the outputs',
 * then the steps' as data-modifying CTEs of the last one. Their foreign
 * keys are checked at the end of the statement, when the run's row is
 * there. One fixed text per shape, so one kept plan each.
 */
static const char *
together_sql(int n_outputs, int n_steps)
{
	static char *texts[MAX_ROWS_TOGETHER + 1][MAX_ROWS_TOGETHER + 1];
	StringInfoData sql;
	int			k = 22;
	int			i;

	if (texts[n_outputs][n_steps])
		return texts[n_outputs][n_steps];
	initStringInfo(&sql);
	if (n_outputs + n_steps > 0)
		appendStringInfoString(&sql, "WITH r AS (" RUN_INSERT ")");
	else
		appendStringInfoString(&sql, RUN_INSERT);
	if (n_outputs > 0)
	{
		appendStringInfoString(&sql, n_steps > 0 ? ", o AS (" OUTPUT_INSERT : " " OUTPUT_INSERT);
		for (i = 0; i < n_outputs; i++, k += 4)
		{
			if (i > 0)
				appendStringInfoString(&sql, ", ");
			output_values(&sql, k);
		}
		if (n_steps > 0)
			appendStringInfoChar(&sql, ')');
	}
	if (n_steps > 0)
	{
		appendStringInfoString(&sql, " " STEP_INSERT);
		for (i = 0; i < n_steps; i++, k += 15)
		{
			if (i > 0)
				appendStringInfoString(&sql, ", ");
			step_values(&sql, k);
		}
	}
	texts[n_outputs][n_steps] = MemoryContextStrdup(TopMemoryContext, sql.data);
	pfree(sql.data);
	return texts[n_outputs][n_steps];
}

/*
 * One statement for the run, its outputs and its steps (a statement each
 * costs its own plan check, executor start and trigger queue: for a run of
 * one output and one step, two thirds again). More rows than fit: the run,
 * then a statement per row.
 */
void
pa_ledger_finish_new(const PaRunStart *start, json_t *finish, json_t *outputs, json_t *steps)
{
	int			n_outputs = (int) json_array_size(outputs);
	int			n_steps = (int) json_array_size(steps);
	Params		p = {0};
	size_t		i;
	json_t	   *row;

	add_run(&p, start, finish);
	if (n_outputs <= MAX_ROWS_TOGETHER && n_steps <= MAX_ROWS_TOGETHER)
	{
		json_array_foreach(outputs, i, row)
			add_output(&p, row);
		json_array_foreach(steps, i, row)
			add_step(&p, row);
		run_insert(together_sql(n_outputs, n_steps), &p);
		return;
	}
	run_insert(RUN_INSERT, &p);
	json_array_foreach(outputs, i, row)
	{
		Params		po = {0};
		StringInfoData sql;

		add_ids(&po, start);
		add_output(&po, row);
		initStringInfo(&sql);
		appendStringInfoString(&sql, OUTPUT_INSERT);
		output_values(&sql, 5);
		run_insert(sql.data, &po);
	}
	json_array_foreach(steps, i, row)
	{
		Params		ps = {0};
		StringInfoData sql;

		add_step(&ps, row);
		initStringInfo(&sql);
		appendStringInfoString(&sql, STEP_INSERT);
		step_values(&sql, 1);
		run_insert(sql.data, &ps);
	}
}
