/*
 * ledger.c — writes pa.runs, pa.run_steps, pa.outputs and result tables.
 */
#include "pg_prelude.h"

#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"

static Datum
jsonb_datum(json_t *value)
{
	return JsonbPGetDatum(pa_json_to_jsonb(value));
}

static Datum
usage_datum(const PaUsage *u)
{
	json_t	   *j = json_pack("{s:I, s:I, s:I, s:I, s:I}",
							  "input_tokens", (json_int_t) u->input_tokens,
							  "output_tokens", (json_int_t) u->output_tokens,
							  "cached_tokens", (json_int_t) u->cached_tokens,
							  "cache_creation_tokens", (json_int_t) u->cache_creation_tokens,
							  "reasoning_tokens", (json_int_t) u->reasoning_tokens);
	Datum		d = jsonb_datum(j);

	json_decref(j);
	return d;
}

int64
pa_ledger_start(int64 agent_id, int32 version, int64 conversation_id,
				const char *origin, Jsonb *input, Oid owner, Oid requested_by,
				int64 parent_run_id)
{
	Oid			types[8] = {INT8OID, INT4OID, INT8OID, TEXTOID, JSONBOID, OIDOID, OIDOID, INT8OID};
	Datum		values[8];
	char		nulls[9] = "        ";
	bool		isnull;

	values[0] = Int64GetDatum(agent_id);
	values[1] = Int32GetDatum(version);
	values[2] = Int64GetDatum(conversation_id);
	if (conversation_id < 0)
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(origin);
	values[4] = JsonbPGetDatum(input);
	values[5] = ObjectIdGetDatum(owner);
	values[6] = ObjectIdGetDatum(requested_by);
	values[7] = Int64GetDatum(parent_run_id);
	if (parent_run_id <= 0)
		nulls[7] = 'n';
	return DatumGetInt64(pa_sql_value(pa_extension_owner(),
									  "INSERT INTO pa.runs (agent_id, agent_version, conversation_id, origin, input, "
									  "  status, attempts, owner, requested_by, started_at, parent_run_id) "
									  "VALUES ($1, $2, $3, $4, $5, 'running', 1, $6::regrole, $7::regrole, clock_timestamp(), $8) "
									  "RETURNING id",
									  8, types, values, nulls, &isnull));
}

void
pa_ledger_step(int64 run_id, int step, const char *kind, const char *name,
			   double latency_ms, long http_status, const PaUsage *usage,
			   double cost, json_t *request, json_t *response, const char *error)
{
	Oid			types[11] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID,
	INT4OID, JSONBOID, FLOAT8OID, JSONBOID, JSONBOID};
	Datum		values[11];
	char		nulls[12] = "           ";
	PaUsage		none = {0};
	bool		isnull;

	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(step);
	values[2] = CStringGetTextDatum(kind);
	values[3] = name ? CStringGetTextDatum(name) : (Datum) 0;
	if (!name)
		nulls[3] = 'n';
	values[4] = error ? CStringGetTextDatum(error) : (Datum) 0;
	if (!error)
		nulls[4] = 'n';
	values[5] = Float8GetDatum(latency_ms);
	values[6] = Int32GetDatum((int32) http_status);
	if (http_status <= 0)
		nulls[6] = 'n';
	values[7] = usage_datum(usage ? usage : &none);
	values[8] = Float8GetDatum(cost);
	values[9] = request ? jsonb_datum(request) : (Datum) 0;
	if (!request)
		nulls[9] = 'n';
	values[10] = response ? jsonb_datum(response) : (Datum) 0;
	if (!response)
		nulls[10] = 'n';
	pa_sql_value(pa_extension_owner(),
				 "INSERT INTO pa.run_steps (run_id, step, kind, name, status, error, started_at, finished_at, "
				 "  http_status, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, request, response) "
				 "VALUES ($1, $2, $3, $4, CASE WHEN $5 IS NULL THEN 'ok' ELSE 'error' END, $5, "
				 "  clock_timestamp() - make_interval(secs => $6 / 1000), clock_timestamp(), $7, "
				 "  ($8->>'input_tokens')::int, ($8->>'output_tokens')::int, ($8->>'cached_tokens')::int, "
				 "  ($8->>'reasoning_tokens')::int, $9, $10, $11)",
				 11, types, values, nulls, &isnull);
}

/* INSERT into a result table the columns the object (plus ids) provides. */
static void
write_result_row(Oid table, json_t *object, int64 run_id, int64 output_id,
				 int64 conversation_id, Oid owner)
{
	json_t	   *row = json_deep_copy(object);
	StringInfoData cols;
	StringInfoData sql;
	char	   *qname;
	int			attnum;
	HeapTuple	tup;
	bool		isnull;

	json_object_set_new(row, "run_id", json_integer(run_id));
	json_object_set_new(row, "output_id", json_integer(output_id));
	if (conversation_id >= 0)
		json_object_set_new(row, "conversation_id", json_integer(conversation_id));

	initStringInfo(&cols);
	for (attnum = 1;; attnum++)
	{
		Form_pg_attribute att;

		tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(table), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(tup))
			break;
		att = (Form_pg_attribute) GETSTRUCT(tup);
		if (!att->attisdropped && !att->attgenerated &&
			json_object_get(row, NameStr(att->attname)) != NULL)
			appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
							 quote_identifier(NameStr(att->attname)));
		ReleaseSysCache(tup);
	}
	if (get_rel_name(table) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the result table (oid %u) of output this run recorded no longer exists", table),
				 errhint("Alter the agent to name an existing result table.")));
	qname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
									   get_rel_name(table));
	initStringInfo(&sql);
	if (cols.len == 0)
		appendStringInfo(&sql, "INSERT INTO %s DEFAULT VALUES", qname);
	else
		appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1)",
						 qname, cols.data, cols.data, qname);
	pa_sql_value(owner, sql.data, 1, (Oid[]) {JSONBOID}, (Datum[]) {jsonb_datum(row)}, NULL, &isnull);
	json_decref(row);
}

void
pa_ledger_write_outputs(int64 run_id, int64 agent_id, int32 version,
						int64 conversation_id, json_t *state, json_t *outputs, Oid owner)
{
	json_t	   *recorded = json_object_get(state, "recorded");
	const char *name;
	json_t	   *list;

	json_object_foreach(recorded, name, list)
	{
		json_t	   *cited = json_object_get(json_object_get(state, "evidence"), name);
		json_t	   *spec = json_object_get(outputs, name);
		json_t	   *table = json_object_get(spec, "table");
		size_t		i;
		json_t	   *obj;

		json_array_foreach(list, i, obj)
		{
			Oid			types[8] = {INT8OID, INT8OID, INT4OID, INT8OID, TEXTOID, INT4OID, JSONBOID, JSONBOID};
			Datum		values[8];
			char		nulls[9] = "        ";
			bool		isnull;
			int64		output_id;

			values[0] = Int64GetDatum(run_id);
			values[1] = Int64GetDatum(agent_id);
			values[2] = Int32GetDatum(version);
			values[3] = Int64GetDatum(conversation_id);
			if (conversation_id < 0)
				nulls[3] = 'n';
			values[4] = CStringGetTextDatum(name);
			values[5] = Int32GetDatum((int32) i + 1);
			values[6] = jsonb_datum(obj);
			values[7] = cited ? jsonb_datum(json_array_get(cited, i)) : (Datum) 0;
			if (!cited)
				nulls[7] = 'n';
			output_id = DatumGetInt64(pa_sql_value(pa_extension_owner(),
												   "INSERT INTO pa.outputs (run_id, agent_id, agent_version, conversation_id, name, ordinal, value, evidence) "
												   "VALUES ($1, $2, $3, $4, $5, $6, $7, "
												   "  CASE WHEN $8 IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text($8)::bigint) END) RETURNING id",
												   8, types, values, nulls, &isnull));
			if (json_is_integer(table))
				write_result_row((Oid) json_integer_value(table), obj, run_id, output_id,
								 conversation_id, owner);
		}
	}
}

/*
 * The recorded objects of a run as rows for pa.outputs:
 * [{"name", "ordinal", "value", "evidence"}], for pa_ledger_finish.
 */
json_t *
pa_ledger_output_rows(json_t *state)
{
	json_t	   *rows = json_array();
	const char *name;
	json_t	   *list;

	json_object_foreach(json_object_get(state, "recorded"), name, list)
	{
		json_t	   *cited = json_object_get(json_object_get(state, "evidence"), name);
		size_t		i;
		json_t	   *obj;

		json_array_foreach(list, i, obj)
			json_array_append_new(rows, json_pack("{s:s, s:I, s:O, s:O?}", "name", name,
												  "ordinal", (json_int_t) i + 1, "value", obj,
												  "evidence", json_array_get(cited, i)));
	}
	return rows;
}

/*
 * The run's row gets its outcome; with output_rows (pa_ledger_output_rows),
 * its outputs are inserted by the same statement. One statement, not one
 * per row: this is the end of every run.
 */
void
pa_ledger_finish(const PaLedgerRun *run, json_t *state, json_t *result, const PaUsage *u,
				 double cost, json_t *output_rows)
{
	json_t	   *error = json_object_get(state, "error");
	json_t	   *plan = json_object_get(state, "plan");
	Oid			types[14] = {INT8OID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, INT4OID, JSONBOID, FLOAT8OID,
	JSONBOID, INT4OID, INT8OID, INT4OID, INT8OID, JSONBOID};
	Datum		values[14];
	char		nulls[15] = "              ";
	bool		isnull;
	int64		run_id = run->run_id;

	values[0] = Int64GetDatum(run_id);
	values[9] = Int32GetDatum(run->lease_owner);
	values[10] = Int64GetDatum(run->agent_id);
	values[11] = Int32GetDatum(run->version);
	values[12] = Int64GetDatum(run->conversation_id);
	if (run->conversation_id < 0)
		nulls[12] = 'n';
	values[13] = output_rows ? jsonb_datum(output_rows) : (Datum) 0;
	if (!output_rows)
		nulls[13] = 'n';
	values[1] = CStringGetTextDatum(json_string_value(json_object_get(state, "status")));
	values[2] = plan ? CStringGetTextDatum(json_string_value(plan)) : (Datum) 0;
	if (!plan)
		nulls[2] = 'n';
	values[3] = jsonb_datum(result);
	values[4] = error ? jsonb_datum(error) : (Datum) 0;
	if (!error)
		nulls[4] = 'n';
	values[5] = Int32GetDatum((int32) json_integer_value(json_object_get(state, "steps")));
	values[6] = usage_datum(u);
	values[7] = Float8GetDatum(cost);
	values[8] = json_object_get(state, "last_invalid") ?
		jsonb_datum(json_object_get(state, "last_invalid")) : (Datum) 0;
	if (!json_object_get(state, "last_invalid"))
		nulls[8] = 'n';
	pa_sql_value(pa_extension_owner(),
				 "WITH o AS (INSERT INTO pa.outputs (run_id, agent_id, agent_version, conversation_id, "
				 "             name, ordinal, value, evidence) "
				 "           SELECT $1, $11, $12, $13, x.name, x.ordinal, x.value, "
				 "                  CASE WHEN jsonb_typeof(x.evidence) = 'array' "
				 "                       THEN ARRAY(SELECT jsonb_array_elements_text(x.evidence)::bigint) END "
				 "             FROM jsonb_to_recordset($14) AS x(name text, ordinal integer, value jsonb, evidence jsonb)) "
				 "UPDATE pa.runs SET status = $2, plan = $3, result = $4, "
				 "  error_code = $5->>'code', error_message = $5->>'message', "
				 "  error_detail = CASE WHEN $5 IS NULL AND $9 IS NULL THEN NULL "
				 "                      ELSE jsonb_strip_nulls(jsonb_build_object('detail', $5->'detail', 'last_invalid', $9)) END, "
				 "  steps = $6, input_tokens = ($7->>'input_tokens')::bigint, "
				 "  output_tokens = ($7->>'output_tokens')::bigint, cached_tokens = ($7->>'cached_tokens')::bigint, "
				 "  reasoning_tokens = ($7->>'reasoning_tokens')::bigint, cost_usd = $8, "
				 "  finished_at = clock_timestamp(), lease_owner = NULL, lease_expires_at = NULL "
				 "WHERE id = $1 AND ($10 = 0 OR (lease_owner = $10 AND status = 'running')) RETURNING true",
				 14, types, values, nulls, &isnull);
	/* a worker's run reclaimed meanwhile: the other attempt owns it now (the outputs roll back) */
	if (isnull && run->lease_owner != 0)
		pa_lost_lease(run_id);
}

void
pa_lost_lease(int64 run_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("run %lld is no longer leased to this worker", (long long) run_id),
			 errdetail("Its lease expired or it was cancelled; another attempt owns it now.")));
}
