/*
 * procedural_agent.h — what the server-side files share: settings and the
 * few cross-file entry points. Plain-C cores (jsonschema, regex_ecma) do not
 * include this header.
 */
#ifndef PROCEDURAL_AGENT_H
#define PROCEDURAL_AGENT_H

#include "access/htup.h"
#include "access/tupdesc.h"

/* guc.c */
extern int	pa_max_validation_errors;
extern int	pa_schema_cache_entries;
extern int	pa_tool_max_rows;
extern int	pa_tool_max_result_bytes;
extern int	pa_max_response_bytes;
extern int	pa_max_agent_depth;
extern int	pa_stream_min_output_tokens;
extern int	pa_stream_idle_timeout_s;
extern bool pa_http_tool_allow_private;
extern char *pa_database_names;
extern int	pa_max_concurrent_runs;
extern int	pa_workers_per_database;
extern int	pa_lease_seconds;
extern int	pa_run_retention_min;
extern int	pa_delivery_retry_base_s;
extern void pa_define_settings(void);

/* condition.c */
extern bool pa_condition_holds(Oid owner, const char *condition, int64 conversation_id);

/* procedural_agent.c */
extern bool pa_loaded_at_startup;
extern void pa_require_preload(const char *feature);

/* owner_call.c: whose rights code runs with */
typedef struct PaRoleSwitch
{
	Oid			userid;
	int			sec_context;
} PaRoleSwitch;

extern Oid	pa_extension_owner(void);
extern void pa_extension_owner_forget(bool pin);
/* Run as role until pa_restore_role; restricted: no SET ROLE, no temp tables. */
extern void pa_become_role(Oid role, bool restricted, PaRoleSwitch *save);
extern void pa_restore_role(const PaRoleSwitch *save);

/*
 * sql.c: one query through SPI as a role, first column of the first row
 * copied into the caller's memory context (*isnull when no row or NULL).
 */
extern Datum pa_sql_value(Oid role, const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool *isnull);
/*
 * The same for the worker's batch statements (claims, expanding the
 * termination inbox, ending runs, loading contexts): planned with sequential
 * scans, bitmap scans and sorts disabled, so that they walk their index in
 * order whatever the statistics say. A plan is kept for the life of the
 * backend, and the statistics of a queue are stale by nature: planned
 * while it was empty, a claim sorted the whole backlog on every call
 * (10,000 queued runs: 22 ms a claim instead of 2), and a batch's
 * conversations were found by scanning all of them. JIT is off for them
 * (a disabled path's cost is enormous).
 */
extern Datum pa_sql_value_by_index(Oid role, const char *sql, int nargs, Oid *argtypes,
								   Datum *values, const char *nulls, bool *isnull);
/*
 * Every row of a query (planned by index) through SPI as a role: row_fn is
 * called per row as the executor makes it (no result set is built), in the
 * caller's memory context; the values are the executor's until the next
 * row: copy what you keep.
 */
typedef void (*PaSqlRowFn) (const Datum *values, const bool *nulls, TupleDesc desc, void *arg);
extern void pa_sql_rows_by_index(Oid role, const char *sql, int nargs, Oid *argtypes,
								 Datum *values, const char *nulls, PaSqlRowFn row_fn, void *arg);
/* The search_path of the extension's own statements (the worker's own path too). */
#define PA_PINNED_PATH "pg_catalog, pg_temp"
/*
 * The same with the session's search_path: only for calling a tool's
 * function as the agent's owner (its body may rely on the path, and the
 * caller can act as that owner anyway). Everything else pins the path.
 */
extern Datum pa_sql_value_user_path(Oid role, const char *sql, int nargs, Oid *argtypes,
									Datum *values, const char *nulls, bool *isnull);

#endif							/* PROCEDURAL_AGENT_H */
