/*
 * sql.c — small SPI helpers shared by the runtime files.
 */
#include "pg_prelude.h"

#include "executor/spi.h"
#include "utils/datum.h"
#include "utils/guc.h"

#include "procedural_agent.h"

/*
 * With pin_path, the query runs with search_path = pg_catalog, pg_temp: SQL
 * run as the extension owner (a superuser) must not resolve a single
 * operator or function through the caller's search_path.
 */
static Datum
sql_value(Oid role, bool pin_path, const char *sql, int nargs, Oid *argtypes,
		  Datum *values, const char *nulls, bool *isnull)
{
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
