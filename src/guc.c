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

	MarkGUCPrefixReserved("procedural_agent");
}
