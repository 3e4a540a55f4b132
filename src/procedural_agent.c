/*
 * procedural_agent.c — module entry point.
 *
 * _PG_init defines the settings and remembers whether the library was
 * loaded through shared_preload_libraries. Everything that works in a
 * plain backend (definitions, validation, pa_invoke) works either way;
 * features that need the postmaster (background workers, shared memory)
 * call pa_require_preload() and refuse with a hint otherwise.
 */
#include "pg_prelude.h"

#include "procedural_agent.h"
#include "progress.h"
#include "worker.h"

PG_MODULE_MAGIC;

bool		pa_loaded_at_startup = false;

void		_PG_init(void);

void
_PG_init(void)
{
	pa_loaded_at_startup = process_shared_preload_libraries_in_progress;
	pa_define_settings();
	if (pa_loaded_at_startup)
	{
		pa_progress_shmem_init();
		pa_launcher_init();
	}
}

/*
 * Refuse a feature that needs the library preloaded by the postmaster.
 */
void
pa_require_preload(const char *feature)
{
	if (!pa_loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires procedural_agent to be loaded via shared_preload_libraries",
						feature),
				 errhint("Add procedural_agent to shared_preload_libraries in postgresql.conf and restart the server.")));
}

PG_FUNCTION_INFO_V1(pa_preloaded);

/*
 * pa_preloaded() — true when the library was loaded at server start, so
 * that scripts and monitoring can check the deployment.
 */
Datum
pa_preloaded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pa_loaded_at_startup);
}
