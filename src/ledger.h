/*
 * ledger.h — runs, steps and outputs: what every run leaves behind.
 * Written as the extension owner (ordinary roles only read the ledger),
 * except result-table rows, which are written as the agent's owner.
 */
#ifndef PA_LEDGER_H
#define PA_LEDGER_H

#include "model.h"

/*
 * pa_invoke's runs (and their nested runs) are invisible to other sessions
 * until the caller commits, so their row is written once, with their end
 * (pa_ledger_finish_new): the id is reserved first. A run whose outputs
 * go beyond the ledger (result tables, memory) gets its row written first,
 * as running, then ended like a worker's (pa_ledger_start, pa_ledger_finish).
 */
extern int64 pa_ledger_reserve_run_id(void);
extern void pa_ledger_start(int64 run_id, int64 agent_id, int32 version, int64 conversation_id,
							const char *origin, Jsonb *input, Oid owner, Oid requested_by,
							int64 parent_run_id, TimestampTz started_at);
/*
 * A step of a run (status 'error' when error is not NULL). Inserted at once,
 * or appended to pa_ledger_deferred_steps while that is set (the worker
 * writes a step's rows together: pa_ledger_write_steps, pa_ledger_finish_many).
 */
extern json_t *pa_ledger_deferred_steps;
extern void pa_ledger_step(int64 run_id, int step, const char *kind, const char *name,
						   double latency_ms, long http_status, const PaUsage *usage,
						   double cost, json_t *request, json_t *response, const char *error);
extern void pa_ledger_write_steps(json_t *rows);
/* outputs: the version's output specs {name: {"table": oid, ...}} */
/* state: the step machine's final state ("recorded", "evidence") */
extern void pa_ledger_write_outputs(int64 run_id, int64 agent_id, int32 version,
									int64 conversation_id, json_t *state, json_t *outputs,
									Oid owner);
/* Rows for pa_ledger_finish_many: the outputs a run recorded, and its outcome. */
extern json_t *pa_ledger_output_rows(int64 run_id, json_t *state);
extern json_t *pa_ledger_finish_row(int64 run_id, json_t *state, json_t *result,
									const PaUsage *usage, double cost);
/*
 * The end of runs in one statement; lease_owner: a worker's pid (only runs
 * still leased to it are written), 0 for pa_invoke. Returns the ids written.
 */
extern json_t *pa_ledger_finish_many(json_t *finishes, json_t *outputs, json_t *steps,
									 int lease_owner);
/* One run's end; outputs, steps NULL for none. ERROR when its lease was lost. */
extern void pa_ledger_finish(int64 run_id, json_t *finish, json_t *outputs, json_t *steps,
							 int lease_owner);
/*
 * SQL fragments both ways of ending runs write (ledger.c from JSON record
 * sets, ledger_new.c from parameters), given the expressions of their
 * inputs: a run's error_detail from its error object and last invalid
 * output; a step's status from its error, its start from its end and
 * latency.
 */
#define PA_RUN_ERROR_DETAIL_SQL(error, last_invalid) \
	"CASE WHEN " error " IS NULL AND " last_invalid " IS NULL THEN NULL " \
	"  ELSE jsonb_strip_nulls(jsonb_build_object('detail', " error "->'detail', " \
	"                                            'last_invalid', " last_invalid ")) END"
#define PA_STEP_STATUS_SQL(error) "CASE WHEN " error " IS NULL THEN 'ok' ELSE 'error' END"
#define PA_STEP_STARTED_SQL(ended, latency_ms) "to_timestamp(" ended " - " latency_ms " / 1000)"

/* What pa_ledger_finish_new writes of a run's start. */
typedef struct PaRunStart
{
	int64		run_id;
	int64		agent_id;
	int32		version;
	int64		conversation_id;	/* -1 = none */
	const char *origin;
	Jsonb	   *input;
	Oid			owner;
	Oid			requested_by;
	int64		parent_run_id;	/* 0 = none */
	TimestampTz started_at;
} PaRunStart;

/*
 * ledger_new.c: a run's row written with its end (finish:
 * pa_ledger_finish_row's), then its outputs (pa_ledger_output_rows') and
 * steps (pa_ledger_step's); outputs and steps may be NULL.
 */
extern void pa_ledger_finish_new(const PaRunStart *start, json_t *finish, json_t *outputs,
								 json_t *steps);
/* ERROR: the run's lease went to another attempt */
extern void pa_lost_lease(int64 run_id);

#endif							/* PA_LEDGER_H */
