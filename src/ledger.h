/*
 * ledger.h — runs, steps and outputs: what every run leaves behind.
 * Written as the extension owner (ordinary roles only read the ledger),
 * except result-table rows, which are written as the agent's owner.
 */
#ifndef PA_LEDGER_H
#define PA_LEDGER_H

#include "model.h"

extern int64 pa_ledger_start(int64 agent_id, int32 version, int64 conversation_id,
							 const char *origin, Jsonb *input, Oid owner, Oid requested_by,
							 int64 parent_run_id);
/* status is 'error' when error is not NULL, else 'ok' */
extern void pa_ledger_step(int64 run_id, int step, const char *kind, const char *name,
						   double latency_ms, long http_status, const PaUsage *usage,
						   double cost, json_t *request, json_t *response, const char *error);
/* outputs: the version's output specs {name: {"table": oid, ...}}; returns {name: [output ids]} */
/* state: the step machine's final state ("recorded", "evidence") */
extern void pa_ledger_write_outputs(int64 run_id, int64 agent_id, int32 version,
									int64 conversation_id, json_t *state, json_t *outputs,
									Oid owner);
/* The run a finish is about. */
typedef struct PaLedgerRun
{
	int64		run_id;
	int64		agent_id;
	int32		version;
	int64		conversation_id;	/* -1: none */
	int			lease_owner;	/* a worker's pid (the run must still be leased to it), 0 for pa_invoke */
} PaLedgerRun;

/* state: the step machine's final state ("recorded", "evidence") -> rows for pa_ledger_finish */
extern json_t *pa_ledger_output_rows(json_t *state);
/* output_rows: NULL when the outputs were written already (pa_ledger_write_outputs) */
extern void pa_ledger_finish(const PaLedgerRun *run, json_t *state, json_t *result,
							 const PaUsage *usage, double cost, json_t *output_rows);
/* ERROR: the run's lease went to another attempt */
extern void pa_lost_lease(int64 run_id);

#endif							/* PA_LEDGER_H */
