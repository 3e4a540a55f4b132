/*
 * sql.c — small SPI helpers shared by the runtime files.
 */
#include "pg_prelude.h"

#include "executor/spi.h"
#include "common/hashfn.h"
#include "utils/datum.h"
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
			plan = SPI_prepare(sql, nargs, argtypes);
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

static Datum
sql_value(Oid role, bool pin_path, const char *sql, int nargs, Oid *argtypes,
		  Datum *values, const char *nulls, bool *isnull)
{
	SPIPlanPtr	plan = NULL;
	MemoryContext caller = CurrentMemoryContext;
	PaRoleSwitch save;
	Datum		result = (Datum) 0;
	int			rc;
	int			nest = 0;

	*isnull = true;
	if (pin_path)
	{
		nest = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	pa_become_role(role, false, &save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (pin_path)
		plan = cached_plan(sql, nargs, argtypes);
	if (plan)
		rc = SPI_execute_plan(plan, values, nulls, false, 1);
	else
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 1);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed (%s): %s", SPI_result_code_string(rc), sql);
	if (SPI_processed > 0 && SPI_tuptable != NULL && SPI_tuptable->tupdesc->natts > 0)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);

		if (!*isnull)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
			MemoryContext old = MemoryContextSwitchTo(caller);

			result = datumCopy(d, att->attbyval, att->attlen);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	pa_restore_role(&save);
	if (pin_path)
		AtEOXact_GUC(true, nest);
	return result;
}

Datum
pa_sql_value(Oid role, const char *sql, int nargs, Oid *argtypes,
			 Datum *values, const char *nulls, bool *isnull)
{
	return sql_value(role, true, sql, nargs, argtypes, values, nulls, isnull);
}

Datum
pa_sql_value_user_path(Oid role, const char *sql, int nargs, Oid *argtypes,
					   Datum *values, const char *nulls, bool *isnull)
{
	return sql_value(role, false, sql, nargs, argtypes, values, nulls, isnull);
}
