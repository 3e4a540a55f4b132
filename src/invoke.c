/*
 * invoke.c — pa_invoke(): run an agent synchronously in the caller's
 * backend (run.c does the work).
 *
 * Everything is written in the caller's transaction: if the caller rolls
 * back, the run, its steps and its outputs disappear with it (README).
 */
#include "pg_prelude.h"

#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "run.h"

PG_FUNCTION_INFO_V1(pa_invoke);

/*
 * pa_invoke(agent text, conversation bigint, input jsonb, timeout interval,
 *           version integer) RETURNS jsonb
 */
Datum
pa_invoke(PG_FUNCTION_ARGS)
{
	PaRunRequest req = {0};
	json_t	   *result;
	Jsonb	   *out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("agent must not be null")));
	req.agent = text_to_cstring(PG_GETARG_TEXT_PP(0));
	req.conversation_id = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	req.input = PG_ARGISNULL(2) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(2);
	req.version = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	if (!PG_ARGISNULL(4) && req.version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("agent \"%s\" has no version %d", req.agent, req.version)));
	req.origin = "invoke";
	if (!PG_ARGISNULL(3))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(3);

		req.timeout_ms = (long) ((iv->time + (int64) (iv->day + iv->month * DAYS_PER_MONTH) * USECS_PER_DAY) / 1000);
		if (req.timeout_ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must be positive")));
	}
	result = pa_run_agent(&req);
	out = pa_json_to_jsonb(result);
	json_decref(result);
	PG_RETURN_JSONB_P(out);
}
