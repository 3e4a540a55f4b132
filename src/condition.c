/*
 * condition.c — an agent's trigger condition: a SQL boolean expression
 * over the terminated conversation, always checked and evaluated with the
 * rights of the agent's owner, never those of the extension owner.
 */
#include "pg_prelude.h"

#include "executor/spi.h"
#include "utils/lsyscache.h"

#include "procedural_agent.h"

/* The query a condition is embedded in, with the conversation as "c". */
#define CONDITION_QUERY "SELECT (%s)::boolean FROM pa.conversations AS c WHERE c.id = $1"

PG_FUNCTION_INFO_V1(pa_check_condition);

/*
 * pa._check_condition(owner regrole, condition text) RETURNS void
 *
 * Parses and analyses the condition as the owner (SPI_prepare does not
 * plan or execute), so a syntax error, an unknown column or a non-boolean
 * expression is reported at definition time with its own SQLSTATE.
 */
Datum
pa_check_condition(PG_FUNCTION_ARGS)
{
	Oid			owner = PG_GETARG_OID(0);
	char	   *condition = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid			argtypes[1] = {INT8OID};
	Oid			save_userid;
	int			save_sec_context;
	SPIPlanPtr	plan;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(psprintf(CONDITION_QUERY, condition), 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (list_length(SPI_plan_get_plan_sources(plan)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("a trigger condition must be a single boolean expression")));
	SPI_finish();

	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_VOID();
}

/*
 * When a triggered run starts: does the version's condition hold for the
 * conversation? Evaluated as the agent's owner, with the session's
 * search_path like the owner's own queries; a conversation gone since is
 * "false".
 */
bool
pa_condition_holds(Oid owner, const char *condition, int64 conversation_id)
{
	bool		isnull;
	Datum		d;

	d = pa_sql_value_user_path(owner, psprintf(CONDITION_QUERY, condition), 1, (Oid[]) {INT8OID},
							   (Datum[]) {Int64GetDatum(conversation_id)}, NULL, &isnull);
	return !isnull && DatumGetBool(d);
}
