/*
 * launcher.c — the launcher and the shared state of the workers.
 *
 * The launcher (a static background worker, registered when the library
 * is preloaded) starts procedural_agent.workers_per_database dynamic
 * workers for each database listed in procedural_agent.database_names,
 * restarts a worker that stopped (with a pause growing to 8 s, e.g. while
 * a listed database does not exist yet), and on SIGHUP starts or stops
 * workers to match the settings.
 *
 * Shared memory holds one slot per worker: its latch, so a transaction
 * that enqueued runs wakes its database's workers at commit
 * (pa_wake_at_commit), what pa_workers() shows, and the calls in flight
 * to capped providers, so that a provider's max_concurrency holds across
 * the workers of a database.
 */
#include "pg_prelude.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "tcop/tcopprot.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/varlena.h"
#include "utils/tuplestore.h"
#include "funcapi.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"

#include "procedural_agent.h"
#include "worker.h"

PaWorkerShared *pa_workers_shared = NULL;

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
workers_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(sizeof(PaWorkerShared));
}

static void
workers_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pa_workers_shared = ShmemInitStruct("procedural_agent workers", sizeof(PaWorkerShared), &found);
	if (!found)
	{
		memset(pa_workers_shared, 0, sizeof(PaWorkerShared));
		SpinLockInit(&pa_workers_shared->mutex);
		pg_atomic_init_u64(&pa_workers_shared->def_generation, 1);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* From _PG_init, when preloaded: shared memory and the launcher. */
void
pa_launcher_init(void)
{
	BackgroundWorker bgw = {0};

	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = workers_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = workers_shmem_startup;

	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "procedural_agent");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pa_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "procedural_agent launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "procedural_agent launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * A worker takes the slot of its (database, index). At most one worker
 * per pair: a second one (two launchers cannot exist, but a slot of a
 * worker that has not exited yet can) waits for the slot to be freed.
 */
static void
slot_release(int code, Datum arg)
{
	PaWorkerSlot *slot = (PaWorkerSlot *) DatumGetPointer(arg);

	SpinLockAcquire(&pa_workers_shared->mutex);
	slot->dboid = InvalidOid;
	slot->pid = 0;
	slot->latch = NULL;
	SpinLockRelease(&pa_workers_shared->mutex);
}

PaWorkerSlot *
pa_worker_slot_acquire(int index)
{
	PaWorkerSlot *slot = NULL;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&pa_workers_shared->mutex);
	for (i = 0; i < PA_MAX_WORKERS; i++)
		if (pa_workers_shared->slots[i].dboid == MyDatabaseId &&
			pa_workers_shared->slots[i].index == index)
		{
			SpinLockRelease(&pa_workers_shared->mutex);
			return NULL;		/* another worker has this place */
		}
	for (i = 0; i < PA_MAX_WORKERS && slot == NULL; i++)
		if (pa_workers_shared->slots[i].dboid == InvalidOid)
		{
			slot = &pa_workers_shared->slots[i];
			memset(slot, 0, sizeof(*slot));
			slot->dboid = MyDatabaseId;
			slot->index = index;
			slot->pid = MyProcPid;
			slot->latch = MyLatch;
			slot->started_at = now;
		}
	SpinLockRelease(&pa_workers_shared->mutex);
	if (slot)
		on_shmem_exit(slot_release, PointerGetDatum(slot));
	return slot;
}

int
pa_worker_live_pids(Oid dboid, int *pids, int max)
{
	int			n = 0;
	int			i;

	SpinLockAcquire(&pa_workers_shared->mutex);
	for (i = 0; i < PA_MAX_WORKERS && n < max; i++)
		if (pa_workers_shared->slots[i].dboid == dboid)
			pids[n++] = pa_workers_shared->slots[i].pid;
	SpinLockRelease(&pa_workers_shared->mutex);
	return n;
}

/*
 * Capped providers. Each worker publishes in its slot how many calls it
 * has in flight per capped provider; taking a call's place sums them over
 * the database's workers under the slots' lock, so the cap is exact
 * across workers. A worker past PA_MAX_CAPPED capped providers at once
 * counts the rest only for itself.
 */
static int
capped_total(Oid dboid, int64 provider_id)
{
	int			total = 0;
	int			i;
	int			j;

	for (i = 0; i < PA_MAX_WORKERS; i++)
	{
		PaWorkerSlot *s = &pa_workers_shared->slots[i];

		if (s->dboid != dboid)
			continue;
		for (j = 0; j < s->n_capped; j++)
			if (s->capped[j].provider_id == provider_id)
				total += s->capped[j].in_flight;
	}
	return total;
}

bool
pa_capped_has_room(PaWorkerSlot *mine, int64 provider_id, int cap)
{
	int			total;

	SpinLockAcquire(&pa_workers_shared->mutex);
	total = capped_total(mine->dboid, provider_id);
	SpinLockRelease(&pa_workers_shared->mutex);
	return total < cap;
}

bool
pa_capped_take(PaWorkerSlot *mine, int64 provider_id, int cap)
{
	PaCappedCount *entry = NULL;
	bool		taken = false;
	int			j;

	SpinLockAcquire(&pa_workers_shared->mutex);
	if (capped_total(mine->dboid, provider_id) < cap)
	{
		taken = true;
		for (j = 0; j < mine->n_capped && entry == NULL; j++)
			if (mine->capped[j].provider_id == provider_id)
				entry = &mine->capped[j];
		/* a new entry, or the place of one no longer in use */
		for (j = 0; j < mine->n_capped && entry == NULL; j++)
			if (mine->capped[j].in_flight == 0)
				entry = &mine->capped[j];
		if (entry == NULL && mine->n_capped < PA_MAX_CAPPED)
			entry = &mine->capped[mine->n_capped++];
		if (entry)
		{
			if (entry->provider_id != provider_id)
				entry->in_flight = 0;
			entry->provider_id = provider_id;
			entry->in_flight++;
		}
	}
	SpinLockRelease(&pa_workers_shared->mutex);
	return taken;
}

/* A call of a capped provider ended: the database's other workers may go on. */
void
pa_capped_release(PaWorkerSlot *mine, int64 provider_id)
{
	Latch	   *others[PA_MAX_WORKERS];
	int			n = 0;
	int			i;

	SpinLockAcquire(&pa_workers_shared->mutex);
	for (i = 0; i < mine->n_capped; i++)
		if (mine->capped[i].provider_id == provider_id && mine->capped[i].in_flight > 0)
		{
			mine->capped[i].in_flight--;
			break;
		}
	for (i = 0; i < PA_MAX_WORKERS; i++)
		if (pa_workers_shared->slots[i].dboid == mine->dboid &&
			&pa_workers_shared->slots[i] != mine && pa_workers_shared->slots[i].latch)
			others[n++] = pa_workers_shared->slots[i].latch;
	SpinLockRelease(&pa_workers_shared->mutex);
	for (i = 0; i < n; i++)
		SetLatch(others[i]);
}

/*
 * Things to do when the current transaction commits (nothing if it
 * aborts), one transaction callback for all of them:
 *
 * - wake: pa._wake() marks the transaction; at commit the latches of the
 *   database's workers are set, so a run starts within milliseconds of the
 *   commit that queued it and no worker polls.
 * - definitions changed: a statement trigger on every definition table
 *   (providers, keys, models, tools, agents, versions, deliveries) marks
 *   the transaction; at commit a counter in shared memory is bumped.
 *   Backends cache what they load of a version tagged with the generation
 *   read before loading it, so a cached definition is used only while
 *   nothing changed.
 */
static bool wake_pending = false;
static bool defs_changed_pending = false;
static bool callback_registered = false;

static void
at_commit_callback(XactEvent event, void *arg)
{
	int			i;

	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (defs_changed_pending)
			pg_atomic_fetch_add_u64(&pa_workers_shared->def_generation, 1);
		if (wake_pending)
		{
			Latch	   *latches[PA_MAX_WORKERS];
			int			n = 0;

			SpinLockAcquire(&pa_workers_shared->mutex);
			for (i = 0; i < PA_MAX_WORKERS; i++)
				if (pa_workers_shared->slots[i].dboid == MyDatabaseId &&
					pa_workers_shared->slots[i].latch)
					latches[n++] = pa_workers_shared->slots[i].latch;
			SpinLockRelease(&pa_workers_shared->mutex);
			for (i = 0; i < n; i++)
				SetLatch(latches[i]);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_pending = defs_changed_pending = false;
}

/* Mark one of the flags above (without shared memory there is nothing to do). */
static void
at_commit(bool *flag)
{
	if (pa_workers_shared == NULL)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(at_commit_callback, NULL);
		callback_registered = true;
	}
	*flag = true;
}

void
pa_wake_worker_at_commit(void)
{
	at_commit(&wake_pending);
}

PG_FUNCTION_INFO_V1(pa_wake_at_commit);

Datum
pa_wake_at_commit(PG_FUNCTION_ARGS)
{
	pa_wake_worker_at_commit();
	PG_RETURN_VOID();
}

uint64
pa_definitions_generation(void)
{
	if (pa_workers_shared == NULL)
		return 0;
	return pg_atomic_read_u64(&pa_workers_shared->def_generation);
}

PG_FUNCTION_INFO_V1(pa_definitions_changed);

/* Statement trigger: the definitions change when this transaction commits. */
Datum
pa_definitions_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pa_definitions_changed() must be called as a trigger")));
	at_commit(&defs_changed_pending);
	return PointerGetDatum(NULL);
}

/*
 * pa_workers(): one row per running worker. Cooldowns as
 * {"provider": {"until": ts, "in_flight": n}}.
 */
PG_FUNCTION_INFO_V1(pa_workers);

Datum
pa_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PaWorkerSlot *copy;
	int			i;
	int			j;
	TimestampTz now = GetCurrentTimestamp();

	pa_require_preload("pa_workers()");
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc0(sizeof(PaWorkerSlot) * PA_MAX_WORKERS);
	/* only the live slots: the lock is the one every committing wake takes */
	SpinLockAcquire(&pa_workers_shared->mutex);
	for (i = 0; i < PA_MAX_WORKERS; i++)
		if (pa_workers_shared->slots[i].dboid != InvalidOid)
			copy[i] = pa_workers_shared->slots[i];
	SpinLockRelease(&pa_workers_shared->mutex);

	for (i = 0; i < PA_MAX_WORKERS; i++)
	{
		PaWorkerSlot *s = &copy[i];
		Datum		values[8];
		bool		nulls[8] = {0};
		char	   *db;
		StringInfoData cool;

		if (s->dboid == InvalidOid)
			continue;
		db = get_database_name(s->dboid);
		if (db == NULL)
			continue;
		initStringInfo(&cool);
		appendStringInfoChar(&cool, '{');
		for (j = 0; j < s->n_providers; j++)
		{
			PaProviderState *p = &s->providers[j];

			if (j > 0)
				appendStringInfoString(&cool, ", ");
			escape_json(&cool, p->name);
			appendStringInfo(&cool, ": {\"in_flight\": %d, \"cooling_down\": %s, \"until\": ",
							 p->in_flight, p->cooldown_until > now ? "true" : "false");
			if (p->cooldown_until > now)
			{
				appendStringInfoChar(&cool, '"');
				appendStringInfoString(&cool, timestamptz_to_str(p->cooldown_until));
				appendStringInfoString(&cool, "\"}");
			}
			else
				appendStringInfoString(&cool, "null}");
		}
		appendStringInfoChar(&cool, '}');
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(db));
		values[1] = Int32GetDatum(s->pid);
		values[2] = TimestampTzGetDatum(s->started_at);
		values[3] = Int32GetDatum(s->in_flight);
		values[4] = Int64GetDatum(s->claimed);
		values[5] = Int64GetDatum(s->finished);
		values[6] = TimestampTzGetDatum(s->last_claim_at);
		nulls[6] = s->last_claim_at == 0;
		values[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(cool.data));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------- */
/* The launcher                                                       */
/* ---------------------------------------------------------------- */

typedef struct LaunchedWorker
{
	char		dbname[NAMEDATALEN];
	int			index;			/* 0 .. workers_per_database - 1 */
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;		/* when it may be (re)started */
	TimestampTz started;
	int			failures;		/* in a row: the pause grows */
	bool		wanted;
} LaunchedWorker;

static LaunchedWorker launched[PA_MAX_WORKERS];
static int	n_launched = 0;

static LaunchedWorker *
launched_for(const char *dbname, int index)
{
	int			i;

	for (i = 0; i < n_launched; i++)
		if (strcmp(launched[i].dbname, dbname) == 0 && launched[i].index == index)
			return &launched[i];
	if (n_launched == PA_MAX_WORKERS)
		return NULL;
	memset(&launched[n_launched], 0, sizeof(LaunchedWorker));
	strlcpy(launched[n_launched].dbname, dbname, NAMEDATALEN);
	launched[n_launched].index = index;
	return &launched[n_launched++];
}

static void
start_worker(LaunchedWorker *lw)
{
	BackgroundWorker bgw = {0};

	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "procedural_agent");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pa_worker_main");
	if (lw->index == 0)
		snprintf(bgw.bgw_name, BGW_MAXLEN, "procedural_agent worker for %s", lw->dbname);
	else
		snprintf(bgw.bgw_name, BGW_MAXLEN, "procedural_agent worker %d for %s", lw->index + 1, lw->dbname);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "procedural_agent worker");
	strlcpy(bgw.bgw_extra, lw->dbname, BGW_EXTRALEN);
	bgw.bgw_main_arg = Int32GetDatum(lw->index);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &lw->handle))
	{
		lw->handle = NULL;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a procedural_agent worker for database \"%s\"", lw->dbname),
				 errhint("Raise max_worker_processes.")));
	}
}

/*
 * Start, restart or stop workers to match procedural_agent.database_names
 * and procedural_agent.workers_per_database.
 */
static void
launcher_reconcile(void)
{
	char	   *raw = pstrdup(pa_database_names);
	List	   *names = NIL;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			j;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in procedural_agent.database_names")));
		names = NIL;
	}
	for (i = 0; i < n_launched; i++)
		launched[i].wanted = false;
	foreach(lc, names)
	{
		int			index;

		for (index = 0; index < pa_workers_per_database; index++)
		{
			LaunchedWorker *lw = launched_for((const char *) lfirst(lc), index);

			if (lw)
				lw->wanted = true;
		}
	}
	list_free(names);
	pfree(raw);
	for (i = 0; i < n_launched; i++)
	{
		LaunchedWorker *lw = &launched[i];
		pid_t		pid;

		if (lw->handle && GetBackgroundWorkerPid(lw->handle, &pid) == BGWH_STOPPED)
		{
			/* it stopped: try again later, later each time it fails */
			pfree(lw->handle);
			lw->handle = NULL;
			/* a worker that ran a good while before stopping starts afresh */
			if (now - lw->started > 60 * USECS_PER_SEC)
				lw->failures = 0;
			lw->failures++;
			lw->next_start = TimestampTzPlusMilliseconds(now, 1000L << Min(lw->failures, 3));
		}
		if (!lw->wanted && lw->handle)
		{
			TerminateBackgroundWorker(lw->handle);
			lw->failures = 0;
		}
		else if (lw->wanted && lw->handle == NULL && now >= lw->next_start)
		{
			start_worker(lw);
			lw->started = now;
		}
	}
	/* forget the workers neither wanted nor running any more */
	for (i = 0, j = 0; i < n_launched; i++)
		if (launched[i].wanted || launched[i].handle != NULL)
			launched[j++] = launched[i];
	n_launched = j;
}

void
pa_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgstat_report_appname("procedural_agent launcher");

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launcher_reconcile();
		/* woken when a worker starts or stops (bgw_notify_pid) or on SIGHUP */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
