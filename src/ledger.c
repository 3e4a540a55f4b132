/*
 * ledger.c — writes pa.runs, pa.run_steps, pa.outputs and result tables.
 */
#include "pg_prelude.h"

#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"

/*
 * pa._run_end_recorded(status, finished_at), pa.runs' CHECK: false for a
 * run in a final state without its end time (see the install script for
 * why it is C). NULL arguments pass, as they would the SQL form.
 */
PG_FUNCTION_INFO_V1(pa_run_end_recorded);
Datum
pa_run_end_recorded(PG_FUNCTION_ARGS)
{
	static const char *const final[] = {"succeeded", "failed", "cancelled", "skipped"};
	text	   *status;
	int			i;

	if (PG_ARGISNULL(0) || !PG_ARGISNULL(1))
		PG_RETURN_BOOL(true);
	status = PG_GETARG_TEXT_PP(0);
	for (i = 0; i < 4; i++)
		if (VARSIZE_ANY_EXHDR(status) == strlen(final[i]) &&
			memcmp(VARDATA_ANY(status), final[i], strlen(final[i])) == 0)
			PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(true);
}

static Datum
jsonb_datum(json_t *value)
{
	return JsonbPGetDatum(pa_json_to_jsonb(value));
}

/*
 * The next id of pa.runs, taken from its sequence directly (a statement
 * through SPI for it was 2% of a pa_invoke). The caller needs no privilege
 * on the sequence: the extension takes the id on its behalf, as the
 * identity column would.
 */
int64
pa_ledger_reserve_run_id(void)
{
	Oid			seq = get_relname_relid("runs_id_seq", get_namespace_oid("pa", false));

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sequence pa.runs_id_seq does not exist"),
				 errhint("Reinstall the extension: DROP EXTENSION procedural_agent CASCADE; CREATE EXTENSION procedural_agent;")));
	return nextval_internal(seq, false);
}

void
pa_ledger_start(int64 run_id, int64 agent_id, int32 version, int64 conversation_id,
				const char *origin, Jsonb *input, Oid owner, Oid requested_by,
				int64 parent_run_id, TimestampTz started_at)
{
	Oid			types[10] = {INT8OID, INT4OID, INT8OID, TEXTOID, JSONBOID, OIDOID, OIDOID, INT8OID,
	INT8OID, TIMESTAMPTZOID};
	Datum		values[10];
	char		nulls[11] = "          ";
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
	values[8] = Int64GetDatum(run_id);
	values[9] = TimestampTzGetDatum(started_at);
	(void) pa_sql_value(pa_extension_owner(),
						"INSERT INTO pa.runs (id, agent_id, agent_version, conversation_id, origin, input, "
						"  status, attempts, owner, requested_by, started_at, parent_run_id) "
						"OVERRIDING SYSTEM VALUE "
						"VALUES ($9, $1, $2, $3, $4, $5, 'running', 1, $6::regrole, $7::regrole, $10, $8) "
						"RETURNING id",
						10, types, values, nulls, &isnull);
}

/* Where pa_ledger_step puts its rows instead of inserting them; NULL: insert now. */
json_t	   *pa_ledger_deferred_steps = NULL;

void
pa_ledger_step(int64 run_id, int step, const char *kind, const char *name,
			   double latency_ms, long http_status, const PaUsage *usage,
			   double cost, json_t *request, json_t *response, const char *error)
{
	PaUsage		none = {0};
	const PaUsage *u = usage ? usage : &none;
	json_t	   *row;

	/* when it ended, as it ended: the row may be inserted a little later */
	row = json_pack("{s:I, s:i, s:s, s:f, s:f, s:f, s:I, s:I, s:I, s:I}",
					"run_id", (json_int_t) run_id, "step", step, "kind", kind,
					"latency_ms", latency_ms, "cost", cost,
					"ended", (double) GetCurrentTimestamp() / USECS_PER_SEC +
					(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY,
					"input_tokens", (json_int_t) u->input_tokens,
					"output_tokens", (json_int_t) u->output_tokens,
					"cached_tokens", (json_int_t) u->cached_tokens,
					"reasoning_tokens", (json_int_t) u->reasoning_tokens);
	if (name)
		json_object_set_new(row, "name", json_string(name));
	if (error)
		json_object_set_new(row, "error", json_string(error));
	if (http_status > 0)
		json_object_set_new(row, "http_status", json_integer(http_status));
	if (request)
		json_object_set(row, "request", request);
	if (response)
		json_object_set(row, "response", response);
	if (pa_ledger_deferred_steps)
		json_array_append_new(pa_ledger_deferred_steps, row);
	else
	{
		json_t	   *rows = json_pack("[o]", row);

		pa_ledger_write_steps(rows);
		json_decref(rows);
	}
}

/* The step-row SQL shared by pa_ledger_write_steps and pa_ledger_finish_many. */
#define STEP_COLUMNS \
	"run_id, step, kind, name, status, error, started_at, finished_at, http_status, " \
	"input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, request, response"
#define STEP_VALUES(alias) \
	alias ".run_id, " alias ".step, " alias ".kind, " alias ".name, " \
	PA_STEP_STATUS_SQL(alias ".error") ", " alias ".error, " \
	PA_STEP_STARTED_SQL(alias ".ended", alias ".latency_ms") ", to_timestamp(" alias ".ended), " \
	alias ".http_status, " alias ".input_tokens, " alias ".output_tokens, " alias ".cached_tokens, " \
	alias ".reasoning_tokens, " alias ".cost, " alias ".request, " alias ".response"
#define STEP_RECORD \
	"(run_id bigint, step integer, kind text, name text, error text, latency_ms float8, ended float8, " \
	" http_status integer, input_tokens integer, output_tokens integer, cached_tokens integer, " \
	" reasoning_tokens integer, cost float8, request jsonb, response jsonb)"

/* Insert step rows (pa_ledger_step's), in one statement. */
void
pa_ledger_write_steps(json_t *rows)
{
	bool		isnull;

	if (json_array_size(rows) == 0)
		return;
	pa_sql_value(pa_extension_owner(),
				 "INSERT INTO pa.run_steps (" STEP_COLUMNS ") "
				 "SELECT " STEP_VALUES("s") " FROM jsonb_to_recordset($1) AS s" STEP_RECORD,
				 1, (Oid[]) {JSONBOID}, (Datum[]) {jsonb_datum(rows)}, NULL, &isnull);
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
 * [{"run_id", "name", "ordinal", "value", "evidence"}], for pa_ledger_finish_many.
 */
json_t *
pa_ledger_output_rows(int64 run_id, json_t *state)
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
			json_array_append_new(rows, json_pack("{s:I, s:s, s:I, s:O, s:O?}", "run_id", (json_int_t) run_id,
												  "name", name, "ordinal", (json_int_t) i + 1,
												  "value", obj, "evidence", json_array_get(cited, i)));
	}
	return rows;
}

/* A run's outcome as a row for pa_ledger_finish_many. */
json_t *
pa_ledger_finish_row(int64 run_id, json_t *state, json_t *result, const PaUsage *u, double cost)
{
	json_t	   *row = json_pack("{s:I, s:O, s:O, s:I, s:f, s:{s:I, s:I, s:I, s:I}}",
								"id", (json_int_t) run_id,
								"status", json_object_get(state, "status"),
								"result", result,
								"steps", (json_int_t) json_integer_value(json_object_get(state, "steps")),
								"cost", cost,
								"usage",
								"input_tokens", (json_int_t) u->input_tokens,
								"output_tokens", (json_int_t) u->output_tokens,
								"cached_tokens", (json_int_t) u->cached_tokens,
								"reasoning_tokens", (json_int_t) u->reasoning_tokens);
	const char *keys[] = {"plan", "error", "last_invalid"};
	int			i;

	for (i = 0; i < 3; i++)
		if (json_object_get(state, keys[i]) && !json_is_null(json_object_get(state, keys[i])))
			json_object_set(row, keys[i], json_object_get(state, keys[i]));
	return row;
}

/* A run's outcome: the finish rows' columns, and the values they give the run. */
#define FINISH_COLUMNS \
	"id bigint, status text, plan text, result jsonb, error jsonb, steps integer, usage jsonb, " \
	"cost float8, last_invalid jsonb"
#define FINISH_ERROR_DETAIL PA_RUN_ERROR_DETAIL_SQL("f.error", "f.last_invalid")
#define FINISH_TOKEN(kind) "(f.usage->>'" kind "')::bigint"
#define FINISH_RUNS \
	"WITH f AS (SELECT * FROM jsonb_to_recordset($1) AS f(" FINISH_COLUMNS ")), " \
	"u AS (UPDATE pa.runs r SET status = f.status, plan = f.plan, result = f.result, " \
	"        error_code = f.error->>'code', error_message = f.error->>'message', " \
	"        error_detail = " FINISH_ERROR_DETAIL ", " \
	"        steps = f.steps, input_tokens = " FINISH_TOKEN("input_tokens") ", " \
	"        output_tokens = " FINISH_TOKEN("output_tokens") ", " \
	"        cached_tokens = " FINISH_TOKEN("cached_tokens") ", " \
	"        reasoning_tokens = " FINISH_TOKEN("reasoning_tokens") ", cost_usd = f.cost, " \
	"        finished_at = clock_timestamp(), lease_owner = NULL, lease_expires_at = NULL " \
	"      FROM f WHERE %s AND r.id = f.id " \
	"        AND ($4 = 0 OR (r.lease_owner = $4 AND r.status = 'running')) " \
	"      RETURNING r.id, r.agent_id, r.agent_version, r.conversation_id)"
#define FINISH_OUTPUTS \
	"o AS (INSERT INTO pa.outputs (run_id, agent_id, agent_version, conversation_id, " \
	"        name, ordinal, value, evidence) " \
	"      SELECT u.id, u.agent_id, u.agent_version, u.conversation_id, x.name, x.ordinal, x.value, " \
	"             CASE WHEN jsonb_typeof(x.evidence) = 'array' " \
	"                  THEN ARRAY(SELECT jsonb_array_elements_text(x.evidence)::bigint) END " \
	"        FROM jsonb_to_recordset($2) AS x(run_id bigint, name text, ordinal integer, " \
	"                                         value jsonb, evidence jsonb) " \
	"        JOIN u ON u.id = x.run_id)"
#define FINISH_STEPS \
	"s AS (INSERT INTO pa.run_steps (" STEP_COLUMNS ") " \
	"      SELECT " STEP_VALUES("s") " FROM jsonb_to_recordset($3) AS s" STEP_RECORD \
	"        JOIN u ON u.id = s.run_id)"
#define FINISH_RESULT "SELECT coalesce(jsonb_agg(id), '[]') FROM u"

/*
 * The text of the statement ending runs, one of eight fixed texts (each
 * prepared once): the CTEs with nothing to insert are left out; one run is
 * found by plain key equality, a plan no table size can turn into a scan (a
 * plan kept from when pa.runs was nearly empty could hash-join a
 * sequential scan of it for the array form until the next ANALYZE).
 */
typedef enum FinishForm
{
	FINISH_MANY,
	FINISH_ONE
} FinishForm;

static const char *
finish_sql(FinishForm form, bool with_outputs, bool with_steps)
{
	static char *texts[8];
	int			k = form * 4 + (with_outputs ? 2 : 0) + (with_steps ? 1 : 0);

	if (texts[k] == NULL)
	{
		char	   *runs = psprintf(FINISH_RUNS, form == FINISH_ONE ? "r.id = ($5)[1]" : "r.id = ANY ($5)");

		texts[k] = MemoryContextStrdup(TopMemoryContext,
									   psprintf("%s%s%s %s", runs,
												with_outputs ? ", " FINISH_OUTPUTS : "",
												with_steps ? ", " FINISH_STEPS : "",
												FINISH_RESULT));
		pfree(runs);
	}
	return texts[k];
}

/*
 * The end of runs, in one statement whatever their number: each run's row
 * gets its outcome (finish rows, pa_ledger_finish_row), and its outputs
 * (pa_ledger_output_rows) and step rows (pa_ledger_step's) are inserted.
 * With lease_owner (a worker's pid), only runs still leased to it are
 * written, outputs and steps included; returns the ids of the runs written.
 */
json_t *
pa_ledger_finish_many(json_t *finishes, json_t *outputs, json_t *steps, int lease_owner)
{
	bool		isnull;
	Datum		d;
	const char *sql;
	Datum	   *elems = palloc(sizeof(Datum) * (json_array_size(finishes) + 1));
	ArrayType  *ids;
	size_t		i;
	json_t	   *f;

	/* the runs' ids as an array too: their rows are found by index, not joined by hash */
	json_array_foreach(finishes, i, f)
		elems[i] = Int64GetDatum((int64) json_integer_value(json_object_get(f, "id")));
	ids = construct_array(elems, (int) json_array_size(finishes), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	sql = finish_sql(json_array_size(finishes) == 1 ? FINISH_ONE : FINISH_MANY,
					 json_array_size(outputs) > 0, json_array_size(steps) > 0);
	d = pa_sql_value_by_index(pa_extension_owner(), sql,
							  5, (Oid[]) {JSONBOID, JSONBOID, JSONBOID, INT4OID, INT8ARRAYOID},
							  (Datum[]) {jsonb_datum(finishes), jsonb_datum(outputs), jsonb_datum(steps),
								  Int32GetDatum(lease_owner), PointerGetDatum(ids)},
							  NULL, &isnull);
	return pa_jsonb_to_json(DatumGetJsonbP(d));
}

/* One run's end (outputs, steps: NULL for none); see pa_ledger_finish_many. */
void
pa_ledger_finish(int64 run_id, json_t *finish, json_t *outputs, json_t *steps, int lease_owner)
{
	json_t	   *finishes = json_pack("[O]", finish);
	json_t	   *none = json_array();
	json_t	   *written = pa_ledger_finish_many(finishes, outputs ? outputs : none,
												steps ? steps : none, lease_owner);
	size_t		n = json_array_size(written);

	json_decref(finishes);
	json_decref(none);
	json_decref(written);
	/* a worker's run reclaimed meanwhile: the other attempt owns it now (the outputs roll back) */
	if (n == 0)
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
