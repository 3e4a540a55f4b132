/*
 * sql.c — small SPI helpers shared by the runtime files.
 */
#include "pg_prelude.h"

#include "executor/spi.h"
#include "utils/datum.h"

#include "procedural_agent.h"

Datum
pa_sql_value(Oid role, const char *sql, int nargs, Oid *argtypes,
			 Datum *values, const char *nulls, bool *isnull)
{
	MemoryContext caller = CurrentMemoryContext;
	PaRoleSwitch save;
	Datum		result = (Datum) 0;
	int			rc;

	*isnull = true;
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
	return result;
}
