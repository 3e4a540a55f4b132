/*
 * worker.c — the background worker of one database.
 *
 * One loop, one wait: the latch (set at commit by whoever queued runs,
 * by pa_cancel, by SIGHUP/SIGTERM), postmaster death, and the epoll
 * descriptor of every HTTP transfer in flight (http_loop.c), with
 * libcurl's next timeout as the wait's timeout. Each turn:
 *
 *   - claim queued runs up to procedural_agent.max_concurrent_runs, in one
 *     short transaction (FOR UPDATE SKIP LOCKED, with a lease);
 *   - step every runnable task (worker_task.c) in one transaction, each
 *     in its own subtransaction so one run's error touches no other;
 *   - let libcurl move the transfers, whose completions make tasks
 *     runnable again;
 *   - now and then: renew leases, reclaim runs of workers that died,
 *     notice cancellations, send deliveries, apply retention.
 *
 * No transaction is ever open while the worker waits.
 */
#include "pg_prelude.h"

#include <sys/resource.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "run.h"
#include "ledger.h"
#include "worker.h"

/* Runs stepped in one transaction at most (a commit covers them all). */
#define STEP_BATCH 256
/* Runs claimed in one transaction at most. */
#define CLAIM_BATCH 500

typedef struct FailedRun
{
	int64		run_id;
	char	   *message;
	bool		permanent;		/* retrying cannot help (e.g. permission denied) */
} FailedRun;

static PaWorker worker;
static PaWorkerSlot *my_slot;
static MemoryContext failed_cxt;	/* failed runs between a step and their requeue */

void
pa_worker_begin_xact(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/* After an error outside any one run: report it, leave the transaction. */
void
pa_worker_recover(void)
{
	MemoryContextSwitchTo(TopMemoryContext);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(TopMemoryContext);
}

void
pa_worker_commit_xact(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/* Is the extension there (it may be created, dropped, re-created)? */
static bool
extension_ready(void)
{
	bool		ready;

	pa_worker_begin_xact();
	ready = OidIsValid(get_extension_oid("procedural_agent", true));
	pa_worker_commit_xact();
	return ready;
}

/*
 * DROP DATABASE holds the database's lock while it waits (5 s) for other
 * sessions to leave: when the lock is taken, leave, so it never fails
 * because of us. The launcher starts us again if the database survives.
 */
static void
leave_if_database_dropped(void)
{
	LOCKTAG		tag;

	pa_worker_begin_xact();
	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		pa_worker_commit_xact();
		ereport(LOG,
				(errmsg("procedural_agent worker leaving: its database is being dropped or renamed")));
		proc_exit(0);
	}
	LockRelease(&tag, AccessShareLock, false);
	pa_worker_commit_xact();
}

/* Drop every task (the extension went away); their rows went with it. */
static void
drop_all_tasks(void)
{
	while (worker.tasks)
		pa_task_free(worker.tasks);
}

/*
 * Runs held by workers that are gone (crash, kill, restart) or whose
 * lease expired go back to the queue, keeping their checkpoint; past
 * max_attempts they fail; a cancel asked meanwhile is honoured. Runs
 * leased to this worker but not in its memory (dropped after an error)
 * are orphans too. This worker's own leases never expire under it: it
 * renews them.
 */
static void
reclaim(void)
{
	int			pids[PA_MAX_WORKERS];
	int			n = pa_worker_live_pids(MyDatabaseId, pids, PA_MAX_WORKERS);
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));
	Datum	   *mine = palloc(sizeof(Datum) * (worker.n_tasks + 1));
	int			n_mine = 0;
	int			i;
	bool		isnull;
	PaTask	   *t;

	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(pids[i]);
	for (t = worker.tasks; t; t = pa_task_next(t))
		mine[n_mine++] = Int64GetDatum(pa_task_run_id(t));
	(void) pa_sql_value(pa_extension_owner(),
						"UPDATE pa.runs SET "
						"  status = CASE WHEN cancel_requested THEN 'cancelled' "
						"                WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
						"  finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts "
						"                     THEN clock_timestamp() END, "
						"  error_code = CASE WHEN cancel_requested THEN 'cancelled' "
						"                    WHEN attempts >= max_attempts THEN 'interrupted' ELSE error_code END, "
						"  error_message = CASE WHEN cancel_requested THEN 'the run was cancelled with pa_cancel()' "
						"       WHEN attempts >= max_attempts THEN format('the run was interrupted on each of its %s attempts "
						"            (its worker stopped or lost the lease)', attempts) "
						"       ELSE error_message END, "
						"  lease_owner = NULL, lease_expires_at = NULL, run_after = clock_timestamp() "
						"WHERE status = 'running' AND lease_owner IS NOT NULL "
						"  AND CASE WHEN lease_owner = $2 THEN id <> ALL ($3) "
						"           ELSE lease_owner <> ALL ($1) OR lease_expires_at < clock_timestamp() END",
						3, (Oid[]) {INT4ARRAYOID, INT4OID, INT8ARRAYOID},
						(Datum[]) {PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT)),
							Int32GetDatum(worker.pid),
							PointerGetDatum(construct_array(mine, n_mine, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))},
						NULL, &isnull);
}

static void
renew_leases(void)
{
	bool		isnull;

	(void) pa_sql_value(pa_extension_owner(),
						"UPDATE pa.runs SET lease_expires_at = clock_timestamp() + make_interval(secs => $2) "
						"WHERE lease_owner = $1 AND status = 'running'",
						2, (Oid[]) {INT4OID, INT4OID},
						(Datum[]) {Int32GetDatum(worker.pid), Int32GetDatum(pa_lease_seconds)},
						NULL, &isnull);
}

/* pa_cancel() marks running runs; stop ours. */
static void
notice_cancellations(void)
{
	bool		isnull;
	Datum		d;
	json_t	   *ids;
	size_t		i;
	json_t	   *id;
	PaTask	   *t;

	d = pa_sql_value(pa_extension_owner(),
					 "SELECT jsonb_agg(id) FROM pa.runs WHERE lease_owner = $1 AND status = 'running' "
					 "  AND cancel_requested",
					 1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(worker.pid)}, NULL, &isnull);
	if (isnull)
		return;
	ids = pa_jsonb_to_json(DatumGetJsonbP(d));
	json_array_foreach(ids, i, id)
		for (t = worker.tasks; t; t = pa_task_next(t))
		if (pa_task_run_id(t) == (int64) json_integer_value(id))
			pa_task_cancel(t);
	json_decref(ids);
}

/* Finished runs older than procedural_agent.run_retention, a batch at a time. */
static void
apply_retention(void)
{
	bool		isnull;

	if (pa_run_retention_min <= 0)
		return;
	(void) pa_sql_value(pa_extension_owner(),
						"DELETE FROM pa.runs WHERE id IN (SELECT id FROM pa.runs "
						"  WHERE status IN ('succeeded', 'failed', 'cancelled', 'skipped') "
						"    AND finished_at < clock_timestamp() - make_interval(mins => $1) LIMIT 10000)",
						1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(pa_run_retention_min)},
						NULL, &isnull);
}

/*
 * The termination inbox into runs: one per enabled agent whose released
 * version listens for the outcome (dedup key terminated:<conversation>,
 * so once per agent and conversation). At most EXPAND_BATCH terminations
 * a statement: the first runs start while the rest of a large burst waits,
 * and the database's other workers expand the next rows meanwhile (rows
 * another worker is expanding are skipped). A prepared plan, by index: it
 * was planned while the inbox was empty, and a plan that filters a scan
 * of the inbox by each taken row's ctid (quadratic) looked cheapest then.
 */
#define EXPAND_BATCH 1000

static void
expand_fn(void *arg)
{
	bool		isnull;
	Datum		d;

	d = pa_sql_value_by_index(pa_extension_owner(),
							  "WITH t AS (DELETE FROM pa.terminations "
							  "            WHERE ctid = ANY (ARRAY(SELECT ctid FROM pa.terminations "
							  "                                     LIMIT $1 FOR UPDATE SKIP LOCKED)) "
							  "            RETURNING conversation_id, outcome, requested_by), "
							  "r AS (INSERT INTO pa.runs (agent_id, agent_version, conversation_id, origin, owner, "
							  "                           requested_by, dedup_key) "
							  "      SELECT a.id, a.released_version, t.conversation_id, 'trigger', a.owner, "
							  "             t.requested_by, 'terminated:' || t.conversation_id "
							  "        FROM t "
							  "        JOIN pa.agents a ON a.enabled AND a.dropped_at IS NULL "
							  "                        AND a.released_version IS NOT NULL "
							  "        JOIN pa.agent_versions v ON v.agent_id = a.id AND v.version = a.released_version "
							  "       WHERE v.trigger_outcomes IS NOT NULL "
							  "         AND ('*' = ANY (v.trigger_outcomes) OR t.outcome = ANY (v.trigger_outcomes)) "
							  "      ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING) "
							  "SELECT count(*)::integer FROM t",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(EXPAND_BATCH)}, NULL, &isnull);
	*(int *) arg = isnull ? 0 : DatumGetInt32(d);
}

/*
 * Returns how many terminations were taken from the inbox (a full batch:
 * there may be more). In a subtransaction: should it fail
 * (say, an extension whose tables are older than this library), queued
 * runs are still served.
 */
static int
expand_terminations(void)
{
	int			n = 0;
	ErrorData  *edata = pa_try_subtransaction(expand_fn, &n);

	if (edata)
	{
		ereport(WARNING,
				(errmsg("procedural_agent could not turn terminations into runs: %s", edata->message)));
		FreeErrorData(edata);
		return 0;
	}
	return n;
}

/* A claimed run's row: a task for it. */
static void
claimed_row(const Datum *values, const bool *nulls, TupleDesc desc, void *arg)
{
	json_t	   *row = pa_row_to_json(values, nulls, desc);
	PaTask	   *t = pa_task_new(&worker, row);

	if (json_is_true(json_object_get(row, "cancel_requested")))
		pa_task_cancel(t);
	json_decref(row);
	(*(int *) arg)++;
}

/*
 * Claim up to n queued runs; returns how many. The runs to update are
 * found by their ids as an array, by primary key, whatever the statistics
 * say: joined to a CTE of the claimed ids instead, a plan made while
 * pa.runs was analyzed nearly empty (and kept) walked the whole primary
 * key for every claim, comparing each run with each claimed id. A burst
 * of 10,000 runs then went at ~800 runs/s instead of ~5,000.
 */
static int
claim(int n)
{
	int			got = 0;

	pa_sql_rows_by_index(pa_extension_owner(),
						 "UPDATE pa.runs r SET status = 'running', lease_owner = $2, "
						 "  lease_expires_at = clock_timestamp() + make_interval(secs => $3), "
						 "  attempts = r.attempts + 1, started_at = coalesce(r.started_at, clock_timestamp()) "
						 "WHERE r.id = ANY (ARRAY(SELECT id FROM pa.runs WHERE status = 'queued' "
						 "                          AND run_after <= clock_timestamp() "
						 "                        ORDER BY priority DESC, run_after, id "
						 "                        LIMIT $1 FOR UPDATE SKIP LOCKED)) "
						 "RETURNING r.id, r.agent_id, r.agent_version, r.conversation_id, r.origin, r.input, "
						 "          r.checkpoint, r.depth, r.parent_run_id, r.cancel_requested, "
						 "          r.owner::oid::bigint AS owner_oid",
						 3, (Oid[]) {INT4OID, INT4OID, INT4OID},
						 (Datum[]) {Int32GetDatum(n), Int32GetDatum(worker.pid), Int32GetDatum(pa_lease_seconds)},
						 NULL, claimed_row, &got);
	return got;
}

/*
 * A run whose step raised an error: back to the queue (a later attempt
 * resumes from its last checkpoint) or, past max_attempts, failed with
 * that error. A run whose lease was lost is somebody else's now.
 */
static void
requeue_failed(List *failed)
{
	ListCell   *lc;

	if (failed == NIL)
		return;
	pa_worker_begin_xact();
	foreach(lc, failed)
	{
		FailedRun  *f = (FailedRun *) lfirst(lc);
		bool		isnull;

		(void) pa_sql_value(pa_extension_owner(),
							"UPDATE pa.runs SET "
							"  status = CASE WHEN $4 OR attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
							"  finished_at = CASE WHEN $4 OR attempts >= max_attempts THEN clock_timestamp() END, "
							"  run_after = clock_timestamp() + make_interval(secs => least(300, 5 * 2 ^ (attempts - 1))), "
							"  error_code = 'worker_error', error_message = $2, "
							"  lease_owner = NULL, lease_expires_at = NULL "
							"WHERE id = $1 AND lease_owner = $3 AND status = 'running'",
							4, (Oid[]) {INT8OID, TEXTOID, INT4OID, BOOLOID},
							(Datum[]) {Int64GetDatum(f->run_id), CStringGetTextDatum(f->message),
								Int32GetDatum(worker.pid), BoolGetDatum(f->permanent)},
							NULL, &isnull);
	}
	pa_worker_commit_xact();
}

static void
step_fn(void *arg)
{
	pa_task_step((PaTask *) arg);
}

/*
 * A run whose step (or end) raised an error, to be requeued or failed after
 * the batch commits (NULL: its lease was lost; it is somebody else's now).
 */
static FailedRun *
failed_run(PaTask *t, ErrorData *edata)
{
	FailedRun  *failed = NULL;

	ereport(WARNING,
			(errmsg("procedural_agent run %lld: %s", (long long) pa_task_run_id(t), edata->message)));
	if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
	{
		/* recorded after this transaction: keep it beyond its memory */
		failed = MemoryContextAlloc(failed_cxt, sizeof(FailedRun));
		failed->run_id = pa_task_run_id(t);
		failed->message = MemoryContextStrdup(failed_cxt,
											  psprintf("%s (SQLSTATE %s)", edata->message,
													   unpack_sql_state(edata->sqlerrcode)));
		/* access, undefined objects, bad data: the same again next time */
		failed->permanent =
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION;
	}
	FreeErrorData(edata);
	pa_task_free(t);
	return failed;
}

static void
add_failed(List **failed, FailedRun *f)
{
	MemoryContext old;

	if (f == NULL)
		return;					/* lost lease: nothing to record */
	old = MemoryContextSwitchTo(failed_cxt);
	*failed = lappend(*failed, f);
	MemoryContextSwitchTo(old);
}

/*
 * One task's step in a subtransaction: an error rolls back only this run's
 * writes; the task is dropped and the run requeued (or failed) after the
 * batch commits. Returns false when the task was dropped.
 */
static bool
step_one(PaTask *t, List **failed)
{
	ErrorData  *edata = pa_try_subtransaction(step_fn, t);

	pa_ledger_deferred_steps = NULL;	/* set by the step, left by an error */
	if (edata == NULL)
		return true;
	add_failed(failed, failed_run(t, edata));
	return false;
}

typedef struct FinishBatch
{
	json_t	   *finishes;
	json_t	   *outputs;
	json_t	   *steps;
	json_t	   *written;		/* ids of the runs written */
} FinishBatch;

static void
finish_batch_fn(void *arg)
{
	FinishBatch *b = (FinishBatch *) arg;

	b->written = pa_ledger_finish_many(b->finishes, b->outputs, b->steps, worker.pid);
}

static void
write_finish_fn(void *arg)
{
	pa_task_write_finish((PaTask *) arg);
}

static bool
json_ids_contain(json_t *ids, int64 id)
{
	size_t		i;
	json_t	   *v;

	json_array_foreach(ids, i, v)
		if ((int64) json_integer_value(v) == id)
		return true;
	return false;
}

/*
 * The runs of the batch that ended with nothing but ledger rows to write:
 * their ends in one statement (one executor start for them all instead of
 * several per run). Should it fail, each is written alone, so that one bad
 * run fails by itself. A run whose lease was lost meanwhile is not written
 * and is dropped: its other attempt owns it.
 */
static void
write_finishes(PaTask **batch, int n, List **failed)
{
	FinishBatch b = {json_array(), json_array(), json_array(), NULL};
	ErrorData  *edata;
	int			pending = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (batch[i] && pa_task_finish_pending(batch[i]))
		{
			pa_task_collect_finish(batch[i], b.finishes, b.outputs, b.steps);
			pending++;
		}
	if (pending > 0)
	{
		edata = pa_try_subtransaction(finish_batch_fn, &b);
		if (edata)
			FreeErrorData(edata);
		for (i = 0; i < n; i++)
		{
			PaTask	   *t = batch[i];

			if (t == NULL || !pa_task_finish_pending(t))
				continue;
			if (edata == NULL && json_ids_contain(b.written, pa_task_run_id(t)))
				pa_task_finish_written(t);
			else if (edata == NULL)
			{
				ereport(WARNING,
						(errmsg("procedural_agent run %lld: its lease was lost before its end was written",
								(long long) pa_task_run_id(t))));
				pa_task_free(t);
				batch[i] = NULL;
			}
			else
			{
				ErrorData  *e = pa_try_subtransaction(write_finish_fn, t);

				if (e == NULL)
					pa_task_finish_written(t);
				else
				{
					add_failed(failed, failed_run(t, e));
					batch[i] = NULL;
				}
			}
		}
	}
	json_decref(b.finishes);
	json_decref(b.outputs);
	json_decref(b.steps);
	json_decref(b.written);
}

/* Step every runnable task; returns how many were stepped. */
static int
step_tasks(void)
{
	TimestampTz now = GetCurrentTimestamp();
	PaTask	   *batch[STEP_BATCH];
	int64		done_parents[STEP_BATCH];
	int			n = 0;
	int			n_parents = 0;
	int			i;
	PaTask	   *t;
	List	   *failed = NIL;

	for (t = worker.tasks; t && n < STEP_BATCH; t = pa_task_next(t))
		if (pa_task_runnable(t, now))
			batch[n++] = t;
	if (n == 0)
		return 0;

	pa_worker_begin_xact();
	pa_tasks_preload_contexts(batch, n);
	for (i = 0; i < n; i++)
		if (!step_one(batch[i], &failed))
			batch[i] = NULL;	/* freed */
	pa_tasks_preload_forget(batch, n);
	write_finishes(batch, n, &failed);
	pa_worker_commit_xact();

	/* committed: now the requests the steps prepared may go out */
	for (i = 0; i < n; i++)
		if (batch[i])
			pa_task_launch(batch[i]);

	/* finished: out of memory; parents waiting on them look again */
	for (i = 0; i < n; i++)
		if (batch[i] && pa_task_done(batch[i]))
		{
			if (pa_task_parent_id(batch[i]) > 0)
				done_parents[n_parents++] = pa_task_parent_id(batch[i]);
			pa_task_free(batch[i]);
		}
	for (i = 0; i < n_parents; i++)
		for (t = worker.tasks; t; t = pa_task_next(t))
			if (pa_task_run_id(t) == done_parents[i])
				pa_task_wake(t);
	requeue_failed(failed);
	MemoryContextReset(failed_cxt);
	return n;
}

/* Shared memory and pg_stat_activity: what this worker is doing. */
static void
publish(int64 claimed_total, TimestampTz last_claim)
{
	static int	last_in_flight = -1;
	static int	last_tasks = -1;
	int			in_flight = pa_http_loop_active(worker.loop);

	SpinLockAcquire(&pa_workers_shared->mutex);
	my_slot->in_flight = worker.n_tasks;
	my_slot->claimed = claimed_total;
	my_slot->finished = worker.finished;
	my_slot->last_claim_at = last_claim;
	my_slot->n_providers = Min(worker.n_providers, PA_MAX_SHOWN_PROVIDERS);
	memcpy(my_slot->providers, worker.providers, sizeof(PaProviderState) * my_slot->n_providers);
	SpinLockRelease(&pa_workers_shared->mutex);

	if (in_flight != last_in_flight || worker.n_tasks != last_tasks)
	{
		char		activity[128];

		snprintf(activity, sizeof(activity), "%d runs in flight, %d HTTP transfers",
				 worker.n_tasks, in_flight);
		pgstat_report_activity(worker.n_tasks > 0 ? STATE_RUNNING : STATE_IDLE, activity);
		last_in_flight = in_flight;
		last_tasks = worker.n_tasks;
	}
}

/* Runs this worker may still take on (parents waiting on a nested run do not count). */
static int
free_capacity(void)
{
	int			capacity = pa_max_concurrent_runs - worker.n_tasks;
	PaTask	   *t;

	for (t = worker.tasks; t; t = pa_task_next(t))
		if (pa_task_waiting_child(t))
			capacity++;
	return capacity;
}

/* Milliseconds until the loop must turn again without an event. */
static long
wait_timeout(TimestampTz now)
{
	long		timeout = 1000;
	long		curl_ms = pa_http_loop_timeout_ms(worker.loop);
	PaTask	   *t;

	if (curl_ms >= 0)
		timeout = Min(timeout, curl_ms);
	for (t = worker.tasks; t; t = pa_task_next(t))
	{
		TimestampTz at = pa_task_wake_at(t);

		if (pa_task_runnable(t, now))
			return 0;
		if (at > now)			/* a time already past wakes nothing */
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, at, &secs, &usecs);
			timeout = Min(timeout, secs * 1000 + (usecs + 999) / 1000);
		}
	}
	return Max(timeout, 0);
}

static void
worker_loop(void)
{
	WaitEventSet *set;
	TimestampTz last_renew = 0;
	TimestampTz last_cancel_check = 0;
	TimestampTz last_reclaim = 0;
	TimestampTz last_retention = 0;
	TimestampTz last_drop_check = 0;
	TimestampTz last_claim = 0;
	TimestampTz last_child_check = 0;
	TimestampTz last_owner_lookup = 0;
	TimestampTz last_expand = 0;
	bool		inbox_full = true;
	int64		claimed_total = 0;
	bool		woken = true;
	bool		installed = false;

	set = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(set, WL_SOCKET_READABLE, pa_http_loop_fd(worker.loop), NULL, NULL);

	for (;;)
	{
		TimestampTz now;
		WaitEvent	ev;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			last_retention = 0; /* a new retention applies now */
		}
		now = GetCurrentTimestamp();

		/*
		 * The extension's owner (whom our statements run as), looked up
		 * again when woken and at least every second, not every turn: a
		 * turn can be a handful of completions, and the lookup (an index
		 * scan of pg_extension) was a few per cent of a run. An owner
		 * changed by REASSIGN OWNED is used within a second.
		 */
		if (woken || TimestampDifferenceExceeds(last_owner_lookup, now, 1000))
		{
			pa_extension_owner_forget(true);
			last_owner_lookup = now;
		}

		if (TimestampDifferenceExceeds(last_drop_check, now, 1000))
		{
			leave_if_database_dropped();
			last_drop_check = now;
		}

		/* Created, dropped, created again: look when woken, or every second. */
		if (!installed || woken)
		{
			bool		ready = extension_ready();

			if (!ready && installed)
				drop_all_tasks();
			if (ready && !installed)
				last_reclaim = 0;	/* a fresh start: reclaim at once */
			installed = ready;
		}
		if (!installed)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			woken = true;
			continue;
		}

		PG_TRY();
		{
			int			capacity;

			if (TimestampDifferenceExceeds(last_reclaim, now, pa_lease_seconds * 1000 / 3) ||
				TimestampDifferenceExceeds(last_renew, now, pa_lease_seconds * 1000 / 3))
			{
				pa_worker_begin_xact();
				renew_leases();
				reclaim();
				pa_worker_commit_xact();
				last_reclaim = last_renew = now;
				woken = true;	/* reclaimed runs are queued: claim them */
			}
			if ((woken && TimestampDifferenceExceeds(last_cancel_check, now, 50)) ||
				TimestampDifferenceExceeds(last_cancel_check, now, 1000))
			{
				pa_worker_begin_xact();
				notice_cancellations();
				pa_worker_commit_xact();
				last_cancel_check = now;
			}
			if (TimestampDifferenceExceeds(last_retention, now, 60 * 1000))
			{
				pa_worker_begin_xact();
				apply_retention();
				pa_worker_commit_xact();
				last_retention = now;
			}

			capacity = free_capacity();
			if (capacity > 0 && (woken || worker.claim_soon ||
								 TimestampDifferenceExceeds(last_claim, now, 1000)))
			{
				int			want = Min(capacity, CLAIM_BATCH);
				int			got;

				/*
				 * Terminations committed since: their runs first. The
				 * database's other workers are woken at commit: they found
				 * the inbox locked or the runs not yet committed, and would
				 * otherwise sleep up to a second with runs waiting. The
				 * inbox is read when woken (a termination's commit wakes
				 * us), after a full batch, and every second (rows another
				 * worker had locked and then released); not on the turns
				 * in between, where it was empty but for the statement's
				 * cost.
				 */
				pa_worker_begin_xact();
				if (woken || inbox_full || TimestampDifferenceExceeds(last_expand, now, 1000))
				{
					int			expanded = expand_terminations();

					if (expanded > 0)
					{
						CommandCounterIncrement();
						pa_wake_worker_at_commit();
					}
					inbox_full = (expanded == EXPAND_BATCH);
					last_expand = now;
				}
				got = claim(want);
				pa_worker_commit_xact();
				claimed_total += got;
				last_claim = now;
				/* a full batch: there may be more, claim as soon as there is room */
				worker.claim_soon = (got == want);
			}

			/* waiting parents look at their children now and then */
			if (TimestampDifferenceExceeds(last_child_check, now, 1000))
			{
				PaTask	   *t;

				for (t = worker.tasks; t; t = pa_task_next(t))
					pa_task_wake(t);
				last_child_check = now;
			}

			step_tasks();
			worker.woken = woken;
			pa_deliveries_send(&worker);
			pa_http_loop_run(worker.loop);
			/* completions made tasks runnable: step them before waiting */
			step_tasks();
		}
		PG_CATCH();
		{
			/*
			 * An error outside any one run (the extension dropped midway, a
			 * failed commit): forget the runs in memory; their leases lapse
			 * and they resume from their checkpoints.
			 */
			pa_worker_recover();
			drop_all_tasks();
			installed = false;
		}
		PG_END_TRY();

		publish(claimed_total, last_claim);
		now = GetCurrentTimestamp();
		/* queued runs left over and room for them: no waiting */
		timeout = (worker.claim_soon && free_capacity() > 0) ? 0 : wait_timeout(now);
		woken = false;
		if (WaitEventSetWait(set, timeout, &ev, 1, PG_WAIT_EXTENSION) > 0 &&
			(ev.events & WL_LATCH_SET))
		{
			ResetLatch(MyLatch);
			woken = true;
		}
	}
}

/*
 * Every run in flight holds a socket: lift the soft limit on open files to
 * the hard one (1,024 by default is less than max_concurrent_runs may ask).
 */
static void
raise_open_files_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			ereport(LOG,
					(errmsg("procedural_agent worker could not raise its open files limit: %m")));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		(rlim_t) pa_max_concurrent_runs + 100 > rl.rlim_cur)
		ereport(LOG,
				(errmsg("procedural_agent.max_concurrent_runs (%d) is close to the worker's open files limit (%lu)",
						pa_max_concurrent_runs, (unsigned long) rl.rlim_cur),
				 errhint("Raise the hard limit (ulimit -Hn, LimitNOFILE=) of the server.")));
}

void
pa_worker_main(Datum arg)
{
	char		dbname[NAMEDATALEN];
	int			index = DatumGetInt32(arg);

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname("procedural_agent worker");

	my_slot = pa_worker_slot_acquire(index);
	if (my_slot == NULL)
	{
		ereport(LOG,
				(errmsg("procedural_agent worker %d for database \"%s\" not started: another one is running",
						index + 1, dbname)));
		proc_exit(0);
	}
	/*
	 * A checkpoint must survive a crash, or a model call would be made
	 * again: commit at least locally durable even where the server's
	 * default is synchronous_commit = off. A stricter setting is kept.
	 */
	if (synchronous_commit < SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	raise_open_files_limit();
	worker.pid = MyProcPid;
	worker.slot = my_slot;
	worker.loop = pa_http_loop_create();
	failed_cxt = AllocSetContextCreate(TopMemoryContext, "procedural_agent failed runs",
									   ALLOCSET_SMALL_SIZES);
	ereport(LOG, (errmsg("procedural_agent worker %d started for database \"%s\"", index + 1, dbname)));
	worker_loop();
}
