/*
 * ledger_new.c — a pa_invoke run's row, written once with its end.
 *
 * pa_invoke is a caller waiting, so its write is the lean one: a plain
 * INSERT ... VALUES per row with scalar parameters (the run, then each
 * output, then each step: the foreign keys of the later rows see the
 * run). The worker's batched form (ledger.c, pa_ledger_finish_many) joins
 * JSON record sets in one statement; for a single run that statement's
 * executor start-up (function scans, CTE scans, hash joins) and the JSONB
 * built and taken apart again cost more than three small statements.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"

#define MAX_PARAMS 24

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

static void
insert_run(const PaRunStart *s, json_t *f)
{
	Params		p = {0};
	json_t	   *usage = json_object_get(f, "usage");

	add(&p, INT8OID, Int64GetDatum(s->run_id), false);
	add(&p, INT8OID, Int64GetDatum(s->agent_id), false);
	add(&p, INT4OID, Int32GetDatum(s->version), false);
	add(&p, INT8OID, Int64GetDatum(s->conversation_id), s->conversation_id < 0);
	add(&p, TEXTOID, CStringGetTextDatum(s->origin), false);
	add(&p, JSONBOID, JsonbPGetDatum(s->input), false);
	add_text(&p, json_object_get(f, "status"));
	add(&p, OIDOID, ObjectIdGetDatum(s->owner), false);
	add(&p, OIDOID, ObjectIdGetDatum(s->requested_by), false);
	add(&p, TIMESTAMPTZOID, TimestampTzGetDatum(s->started_at), false);
	add(&p, INT8OID, Int64GetDatum(s->parent_run_id), s->parent_run_id <= 0);
	add_text(&p, json_object_get(f, "plan"));
	add_jsonb(&p, json_object_get(f, "result"));
	add_jsonb(&p, json_object_get(f, "error"));
	add_jsonb(&p, json_object_get(f, "last_invalid"));
	add_int4(&p, json_object_get(f, "steps"));
	add_int8(&p, json_object_get(usage, "input_tokens"));
	add_int8(&p, json_object_get(usage, "output_tokens"));
	add_int8(&p, json_object_get(usage, "cached_tokens"));
	add_int8(&p, json_object_get(usage, "reasoning_tokens"));
	add_float8(&p, json_object_get(f, "cost"));
	/* error_detail as the batched form builds it (FINISH_ERROR_DETAIL in ledger.c) */
	run_insert("INSERT INTO pa.runs (id, agent_id, agent_version, conversation_id, origin, input, "
			   "  status, attempts, owner, requested_by, started_at, parent_run_id, plan, result, "
			   "  error_code, error_message, error_detail, steps, " FINISH_TOKENS ", cost_usd, "
			   "  finished_at) OVERRIDING SYSTEM VALUE "
			   "VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8::regrole, $9::regrole, $10, $11, $12, $13, "
			   "  $14->>'code', $14->>'message', CASE WHEN $14 IS NULL AND $15 IS NULL THEN NULL "
			   "    ELSE jsonb_strip_nulls(jsonb_build_object('detail', $14->'detail', "
			   "                                              'last_invalid', $15)) END, "
			   "  $16, $17, $18, $19, $20, $21, clock_timestamp())", &p);
}

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

static void
insert_output(const PaRunStart *s, json_t *row)
{
	Params		p = {0};
	json_t	   *cited = json_object_get(row, "evidence");

	add(&p, INT8OID, Int64GetDatum(s->run_id), false);
	add(&p, INT8OID, Int64GetDatum(s->agent_id), false);
	add(&p, INT4OID, Int32GetDatum(s->version), false);
	add(&p, INT8OID, Int64GetDatum(s->conversation_id), s->conversation_id < 0);
	add_text(&p, json_object_get(row, "name"));
	add_int4(&p, json_object_get(row, "ordinal"));
	add_jsonb(&p, json_object_get(row, "value"));
	add(&p, INT8ARRAYOID, json_is_array(cited) ? evidence_array(cited) : (Datum) 0,
		!json_is_array(cited));
	run_insert("INSERT INTO pa.outputs (run_id, agent_id, agent_version, conversation_id, name, "
			   "  ordinal, value, evidence) "
			   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", &p);
}

static void
insert_step(json_t *row)
{
	Params		p = {0};

	add_int8(&p, json_object_get(row, "run_id"));
	add_int4(&p, json_object_get(row, "step"));
	add_text(&p, json_object_get(row, "kind"));
	add_text(&p, json_object_get(row, "name"));
	add_text(&p, json_object_get(row, "error"));
	add_float8(&p, json_object_get(row, "latency_ms"));
	add_float8(&p, json_object_get(row, "ended"));
	add_int4(&p, json_object_get(row, "http_status"));
	add_int4(&p, json_object_get(row, "input_tokens"));
	add_int4(&p, json_object_get(row, "output_tokens"));
	add_int4(&p, json_object_get(row, "cached_tokens"));
	add_int4(&p, json_object_get(row, "reasoning_tokens"));
	add_float8(&p, json_object_get(row, "cost"));
	add_jsonb(&p, json_object_get(row, "request"));
	add_jsonb(&p, json_object_get(row, "response"));
	/* the step's times as the batched form computes them (STEP_VALUES in ledger.c) */
	run_insert("INSERT INTO pa.run_steps (run_id, step, kind, name, status, error, started_at, "
			   "  finished_at, http_status, " FINISH_TOKENS ", cost_usd, request, response) "
			   "VALUES ($1, $2, $3, $4, CASE WHEN $5 IS NULL THEN 'ok' ELSE 'error' END, $5, "
			   "  to_timestamp($7 - $6 / 1000), to_timestamp($7), $8, $9, $10, $11, $12, $13, "
			   "  $14, $15)", &p);
}

void
pa_ledger_finish_new(const PaRunStart *start, json_t *finish, json_t *outputs, json_t *steps)
{
	size_t		i;
	json_t	   *row;

	insert_run(start, finish);
	json_array_foreach(outputs, i, row)
		insert_output(start, row);
	json_array_foreach(steps, i, row)
		insert_step(row);
}
