/*
 * sql.c — small SPI helpers shared by the runtime files.
 */
#include "pg_prelude.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "utils/datum.h"
#include "nodes/params.h"
#include "utils/guc.h"

#include "procedural_agent.h"

/*
 * With pin_path, the query runs with search_path = pg_catalog, pg_temp: SQL
 * run as the extension owner (a superuser) must not resolve a single
 * operator or function through the caller's search_path.
 */
/*
 * Prepared plans of the extension's own queries (the pinned-path ones:
 * fixed texts, run again and again by the worker), kept for the life of
 * the backend. Parsing and planning were most of a run's cost. The plan
 * cache revalidates a plan when a table changes, the role differs (row
 * security) or the search_path differs, so keeping them is safe. A fixed
 * table, no eviction: once it is full, further texts are run unprepared.
 */
#define PLAN_SLOTS 512

typedef struct PlanSlot
{
	uint32		hash;
	char	   *sql;			/* NULL = free */
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
	SPIPlanPtr	plan;
} PlanSlot;

static PlanSlot plan_slots[PLAN_SLOTS];

/* The kept plan of this text and signature, prepared on first use; NULL if the table is full. */
static SPIPlanPtr
cached_plan(const char *sql, int nargs, Oid *argtypes)
{
	uint32		h = hash_bytes((const unsigned char *) sql, (int) strlen(sql));
	int			i;

	for (i = 0; i < PLAN_SLOTS; i++)
	{
		PlanSlot   *p = &plan_slots[(h + i) % PLAN_SLOTS];

		if (p->sql == NULL)
		{
			SPIPlanPtr	plan;

			if (nargs > FUNC_MAX_ARGS)
				return NULL;
			/*
			 * Generic plans from the start: these statements are written for
			 * them (keys, indexes), and a custom plan per call was planning
			 * again on every pa_invoke (2% of its instructions).
			 */
			plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result), sql);
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			p->sql = MemoryContextStrdup(TopMemoryContext, sql);
			p->hash = h;
			p->nargs = nargs;
			memcpy(p->argtypes, argtypes, sizeof(Oid) * nargs);
			p->plan = plan;
			return plan;
		}
		if (p->hash == h && p->nargs == nargs && strcmp(p->sql, sql) == 0 &&
			memcmp(p->argtypes, argtypes, sizeof(Oid) * nargs) == 0)
			return p->plan;
	}
	return NULL;
}

/* What to do with the rows of a statement (inside SPI). */
typedef struct RowSink
{
	MemoryContext caller;
	bool	   *isnull;
	Datum		first;			/* sql_value: the first column of the first row */
	PaSqlRowFn	row_fn;			/* pa_sql_rows: called per row */
	void	   *arg;
} RowSink;

/*
 * pa_sql_rows' receiver: each row goes to row_fn as the executor makes it.
 * Through SPI's own receiver every row was formed into a tuple of the
 * result set first (a fifth of loading a 50-event transcript), then
 * deformed again by the caller.
 */
typedef struct RowDest
{
	DestReceiver pub;
	RowSink    *sink;
} RowDest;

static bool
row_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowSink    *sink = ((RowDest *) self)->sink;
	MemoryContext old = MemoryContextSwitchTo(sink->caller);

	slot_getallattrs(slot);
	sink->row_fn(slot->tts_values, slot->tts_isnull, slot->tts_tupleDescriptor, sink->arg);
	MemoryContextSwitchTo(old);
	return true;
}

static void
row_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
row_shutdown(DestReceiver *self)
{
}

static void
row_destroy(DestReceiver *self)
{
}

/* Run a prepared plan with its rows sent to sink->row_fn. */
static int
execute_to_rows(SPIPlanPtr plan, int nargs, Oid *argtypes, Datum *values, const char *nulls,
				RowSink *sink)
{
	RowDest		dest = {{row_receive, row_startup, row_shutdown, row_destroy, DestNone}, sink};
	SPIExecuteOptions options = {0};
	ParamListInfo params = makeParamList(nargs);
	int			i;

	for (i = 0; i < nargs; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = nulls != NULL && nulls[i] == 'n';
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = argtypes[i];
	}
	options.params = params;
	options.dest = (DestReceiver *) &dest;
	return SPI_execute_plan_extended(plan, &options);
}

/* How sql_run runs a statement. */
#define SQL_PIN_PATH	0x01	/* search_path = PA_PINNED_PATH, plan kept */
#define SQL_BY_INDEX	0x02	/* planned without seq scans, bitmap scans, sorts */

/* Set a planner or path setting until AtEOXact_GUC(nest). */
static void
set_for_statement(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static void
sql_run(Oid role, int flags, const char *sql, int nargs, Oid *argtypes,
		Datum *values, const char *nulls, long max_rows, RowSink *sink)
{
	SPIPlanPtr	plan = NULL;
	PaRoleSwitch save;
	int			rc;
	int			nest = 0;
	bool		pin_path = (flags & SQL_PIN_PATH) != 0;

	/* nothing to set when the session's path is that already */
	if (pin_path && strcmp(namespace_search_path, PA_PINNED_PATH) != 0)
	{
		nest = NewGUCNestLevel();
		set_for_statement("search_path", PA_PINNED_PATH);
	}
	if (flags & SQL_BY_INDEX)
	{
		if (nest == 0)
			nest = NewGUCNestLevel();
		set_for_statement("enable_seqscan", "off");
		set_for_statement("enable_bitmapscan", "off");
		set_for_statement("enable_sort", "off");
		/* a disabled path's cost would otherwise make it JIT-compile each time */
		set_for_statement("jit", "off");
	}
	pa_become_role(role, false, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (pin_path)
		plan = cached_plan(sql, nargs, argtypes);
	if (sink->row_fn)
	{
		/* rows go to row_fn: a plan is needed, if only for this once */
		if (plan == NULL && (plan = SPI_prepare(sql, nargs, argtypes)) == NULL)
			elog(ERROR, "SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result), sql);
		rc = execute_to_rows(plan, nargs, argtypes, values, nulls, sink);
	}
	else if (plan)
		rc = SPI_execute_plan(plan, values, nulls, false, max_rows);
	else
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, max_rows);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed (%s): %s", SPI_result_code_string(rc), sql);
	if (!sink->row_fn && SPI_tuptable != NULL && SPI_tuptable->tupdesc->natts > 0 &&
		SPI_processed > 0)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, sink->isnull);

		if (!*sink->isnull)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
			MemoryContext old = MemoryContextSwitchTo(sink->caller);

			sink->first = datumCopy(d, att->attbyval, att->attlen);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	pa_restore_role(&save);
	if (nest)
		AtEOXact_GUC(true, nest);
}

static Datum
sql_value(Oid role, int flags, const char *sql, int nargs, Oid *argtypes,
		  Datum *values, const char *nulls, bool *isnull)
{
	RowSink		sink = {CurrentMemoryContext, isnull};

	*isnull = true;
	sql_run(role, flags, sql, nargs, argtypes, values, nulls, 1, &sink);
	return sink.first;
}

void
pa_sql_rows_by_index(Oid role, const char *sql, int nargs, Oid *argtypes,
					 Datum *values, const char *nulls, PaSqlRowFn row_fn, void *arg)
{
	RowSink		sink = {CurrentMemoryContext, NULL, (Datum) 0, row_fn, arg};

	sql_run(role, SQL_PIN_PATH | SQL_BY_INDEX, sql, nargs, argtypes, values, nulls, 0, &sink);
}

Datum
pa_sql_value(Oid role, const char *sql, int nargs, Oid *argtypes,
			 Datum *values, const char *nulls, bool *isnull)
{
	return sql_value(role, SQL_PIN_PATH, sql, nargs, argtypes, values, nulls, isnull);
}

Datum
pa_sql_value_by_index(Oid role, const char *sql, int nargs, Oid *argtypes,
					  Datum *values, const char *nulls, bool *isnull)
{
	return sql_value(role, SQL_PIN_PATH | SQL_BY_INDEX, sql, nargs, argtypes, values, nulls, isnull);
}

Datum
pa_sql_value_user_path(Oid role, const char *sql, int nargs, Oid *argtypes,
					   Datum *values, const char *nulls, bool *isnull)
{
	return sql_value(role, 0, sql, nargs, argtypes, values, nulls, isnull);
}
