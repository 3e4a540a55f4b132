/*
 * worker.h — the background side: a launcher (launcher.c) starts
 * procedural_agent.workers_per_database workers for each database named in
 * procedural_agent.database_names; each
 * worker (worker.c) claims queued runs and drives them as tasks
 * (worker_task.c) over one event loop.
 */
#ifndef PA_WORKER_H
#define PA_WORKER_H

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "http.h"
#include "pa_json.h"

#define PA_MAX_WORKERS 64
#define PA_MAX_PROVIDERS 256		/* providers one worker tracks */
#define PA_MAX_SHOWN_PROVIDERS 16	/* of which pa_workers() shows */
#define PA_MAX_CAPPED 32			/* capped providers counted across workers */

/* A provider as one worker sees it: its cap, its cooldown. */
typedef struct PaProviderState
{
	int64		id;
	char		name[NAMEDATALEN];
	int			in_flight;		/* model calls on the wire now */
	int			cap;			/* options.max_concurrency; 0 = none */
	TimestampTz cooldown_until; /* after a 429: no new call before */
} PaProviderState;

/* A capped provider's calls in flight from one worker. */
typedef struct PaCappedCount
{
	int64		provider_id;
	int			in_flight;
} PaCappedCount;

/* One worker in shared memory (pa_workers(), wake at commit). */
typedef struct PaWorkerSlot
{
	Oid			dboid;			/* InvalidOid = free */
	int			index;			/* 0 .. workers_per_database - 1 */
	int			pid;
	Latch	   *latch;
	TimestampTz started_at;
	int			in_flight;
	int64		claimed;
	int64		finished;
	TimestampTz last_claim_at;
	int			n_providers;
	PaProviderState providers[PA_MAX_SHOWN_PROVIDERS];
	/* calls of capped providers (max_concurrency): the cap spans the workers */
	int			n_capped;
	PaCappedCount capped[PA_MAX_CAPPED];
} PaWorkerSlot;

typedef struct PaWorkerShared
{
	slock_t		mutex;
	PaWorkerSlot slots[PA_MAX_WORKERS];
	pg_atomic_uint64 def_generation; /* bumped by every committed definition change */
} PaWorkerShared;

/* launcher.c */
extern PaWorkerShared *pa_workers_shared;
extern void pa_launcher_init(void);
extern PaWorkerSlot *pa_worker_slot_acquire(int index);
extern bool pa_capped_take(PaWorkerSlot *mine, int64 provider_id, int cap);
extern void pa_capped_release(PaWorkerSlot *mine, int64 provider_id);
extern bool pa_capped_has_room(PaWorkerSlot *mine, int64 provider_id, int cap);
extern int	pa_worker_live_pids(Oid dboid, int *pids, int max);
extern void pa_wake_worker_at_commit(void);
/* 0 without shared memory (library not preloaded): callers cannot trust caches */
extern uint64 pa_definitions_generation(void);
PGDLLEXPORT void pa_launcher_main(Datum arg);
PGDLLEXPORT void pa_worker_main(Datum arg);

/* worker_task.c: one run driven without blocking */
typedef struct PaTask PaTask;

typedef struct PaWorker
{
	PaHttpLoop *loop;
	PaWorkerSlot *slot;			/* in shared memory */
	int			pid;			/* lease owner */
	PaProviderState providers[PA_MAX_PROVIDERS];
	int			n_providers;
	PaTask	   *tasks;			/* every task in flight */
	int			n_tasks;
	int			n_waiting_children; /* not counted against max_concurrent_runs */
	int64		finished;
	bool		claim_soon;		/* runs may be queued (a full claim, a nested run): claim when there is room */
	bool		woken;			/* the latch was set since the last turn */
} PaWorker;

extern PaTask *pa_task_new(PaWorker *w, json_t *claimed);
extern bool pa_task_runnable(PaTask *t, TimestampTz now);
extern TimestampTz pa_task_wake_at(PaTask *t);
extern void pa_task_step(PaTask *t);
extern void pa_task_launch(PaTask *t);
extern bool pa_task_done(PaTask *t);
extern bool pa_task_waiting_child(PaTask *t);
extern int64 pa_task_run_id(PaTask *t);
extern int64 pa_task_parent_id(PaTask *t);
extern void pa_task_wake(PaTask *t);
extern void pa_task_cancel(PaTask *t);
extern void pa_task_free(PaTask *t);
extern PaTask *pa_task_next(PaTask *t);
extern void pa_tasks_preload_contexts(PaTask **batch, int n);
extern void pa_tasks_preload_forget(PaTask **batch, int n);
extern bool pa_task_finish_pending(PaTask *t);
extern void pa_task_collect_finish(PaTask *t, json_t *finishes, json_t *outputs, json_t *steps);
extern void pa_task_write_finish(PaTask *t);
extern void pa_task_finish_written(PaTask *t);

/* worker.c */
extern void pa_worker_begin_xact(void);
extern void pa_worker_commit_xact(void);
extern void pa_worker_recover(void);

/* deliveries.c: the outbox of a succeeded run's outputs */
struct RunContext;
extern void pa_deliveries_enqueue(struct RunContext *rc, json_t *result);
/* whether the run's agent may have delivery targets (then its end is enqueued) */
extern bool pa_deliveries_wanted(struct RunContext *rc);
extern void pa_deliveries_send(PaWorker *w);

#endif							/* PA_WORKER_H */
