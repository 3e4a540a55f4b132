/*
 * guc.c — every setting of procedural_agent, in one place.
 *
 * All names live under the reserved prefix "procedural_agent."; README.md
 * has a table of them with defaults and reload contexts. Keep the two in
 * step.
 */
#include "pg_prelude.h"

#include "utils/guc.h"

#include "procedural_agent.h"

int			pa_max_validation_errors = 20;
int			pa_schema_cache_entries = 64;
int			pa_tool_max_rows = 100;
int			pa_tool_max_result_bytes = 65536;
int			pa_max_response_bytes = 8 * 1024 * 1024;
int			pa_max_agent_depth = 3;
int			pa_stream_min_output_tokens = 8192;
int			pa_stream_idle_timeout_s = 60;
bool		pa_http_tool_allow_private = false;
char	   *pa_database_names = NULL;
int			pa_max_concurrent_runs = 100;
int			pa_workers_per_database = 1;
int			pa_lease_seconds = 60;
int			pa_run_retention_min = 0;
int			pa_delivery_retry_base_s = 30;

void
pa_define_settings(void)
{
	DefineCustomIntVariable("procedural_agent.max_validation_errors",
							"Maximum number of errors one JSON Schema validation reports.",
							"The validator stops collecting after this many errors; "
							"a model repairing an output acts on the first few anyway.",
							&pa_max_validation_errors,
							20, 1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.schema_cache_entries",
							"Number of compiled JSON Schemas each backend keeps for reuse.",
							"A schema is compiled once and reused while it stays in this cache.",
							&pa_schema_cache_entries,
							64, 1, 10000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.tool_max_rows",
							"Rows a set-returning SQL tool may return to the model.",
							"Beyond this the result is cut and marked as truncated.",
							&pa_tool_max_rows,
							100, 1, 100000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.tool_max_result_bytes",
							"Bytes of a tool result handed to the model.",
							NULL,
							&pa_tool_max_result_bytes,
							65536, 1024, 16 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.max_response_bytes",
							"Largest model response accepted.",
							"A larger response fails the call instead of filling memory.",
							&pa_max_response_bytes,
							8 * 1024 * 1024, 65536, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.max_agent_depth",
							"How deep agent tools may nest runs inside runs.",
							"A call beyond it comes back to the model as a tool error.",
							&pa_max_agent_depth,
							3, 1, 10,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.stream_min_output_tokens",
							"Model calls allowed this many output tokens or more are streamed (SSE).",
							"Calls with extended thinking always stream; -1 never streams.",
							&pa_stream_min_output_tokens,
							8192, -1, 10000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.stream_idle_timeout",
							"A streamed call that receives nothing for this long is abandoned.",
							"Providers send keep-alive events while a model thinks, so silence means a stalled stream.",
							&pa_stream_idle_timeout_s,
							60, 1, 3600,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("procedural_agent.http_tool_allow_private",
							 "Let HTTP tools reach loopback, private and link-local addresses.",
							 "Off by default: a tool's URL must not turn the database server into a "
							 "way into the internal network (metadata services, local ports).",
							 &pa_http_tool_allow_private,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("procedural_agent.database_names",
							   "Databases the background worker runs queued agents in (comma-separated).",
							   "One worker per database; the extension must be created in each.",
							   &pa_database_names,
							   "postgres",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.max_concurrent_runs",
							"Runs one worker keeps in flight at once.",
							"Runs waiting for an agent tool's nested run do not count.",
							&pa_max_concurrent_runs,
							100, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.workers_per_database",
							"Background workers serving each database in procedural_agent.database_names.",
							"Each worker claims and drives runs on its own (one CPU core at most); "
							"more workers spread a high run rate over more cores. "
							"max_concurrent_runs applies to each worker; a provider's max_concurrency "
							"to all of them together.",
							&pa_workers_per_database,
							1, 1, 8,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.lease_duration",
							"How long a worker's claim on a run lasts without being renewed.",
							"A worker renews its leases while it runs; a run whose lease expired "
							"(its worker is gone) is queued again and resumes from its checkpoint.",
							&pa_lease_seconds,
							60, 5, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.run_retention",
							"Finished runs older than this are deleted with their steps and outputs; 0 keeps them.",
							"Result-table rows written by the runs are the user's and are kept.",
							&pa_run_retention_min,
							0, 0, 52560000,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("procedural_agent.delivery_retry_base",
							"Wait before the first retry of a failed delivery; each further retry waits 4 times longer.",
							"Capped at 60 times this value (30 s: 30 s, 2 min, 8 min, 30 min, 30 min ...).",
							&pa_delivery_retry_base_s,
							30, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("procedural_agent");
}
