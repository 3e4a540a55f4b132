/*
 * progress.c — one slot per backend in shared memory, written only by its
 * backend, read by pa_progress(). Readers may see a slot mid-update; the
 * figures are monotonic counters, so a torn read is at worst slightly old.
 */
#include "pg_prelude.h"

#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "procedural_agent.h"
#include "progress.h"

typedef struct ProgressSlot
{
	volatile int pid;			/* 0 = free */
	int64		run_id;
	Oid			owner;			/* the agent's owner: who may see this call */
	char		agent[64];
	char		model[64];
	bool		streaming;
	bool		tokens_reported;
	TimestampTz started;
	long long	bytes;
	long long	events;
	long long	output_tokens;
	long long	thinking_chars;
} ProgressSlot;

static ProgressSlot *slots = NULL;
static int	n_slots = 0;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
progress_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(mul_size(MaxBackends, sizeof(ProgressSlot)));
}

static void
progress_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("procedural_agent progress",
							mul_size(MaxBackends, sizeof(ProgressSlot)), &found);
	if (!found)
		memset(slots, 0, mul_size(MaxBackends, sizeof(ProgressSlot)));
	n_slots = MaxBackends;
	LWLockRelease(AddinShmemInitLock);
}

void
pa_progress_shmem_init(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = progress_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = progress_shmem_startup;
}

static ProgressSlot *
my_slot(void)
{
	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > n_slots)
		return NULL;
	return &slots[MyBackendId - 1];
}

/* Exits skip PG_FINALLY: free the slot on the way out too. */
static void
progress_on_exit(int code, Datum arg)
{
	pa_progress_end();
}

void
pa_progress_begin(int64 run_id, Oid owner, const char *agent, const char *model, bool streaming)
{
	ProgressSlot *s = my_slot();
	static bool exit_hook = false;

	if (s == NULL)
		return;
	if (!exit_hook)
	{
		before_shmem_exit(progress_on_exit, (Datum) 0);
		exit_hook = true;
	}
	s->pid = 0;
	pg_write_barrier();
	s->run_id = run_id;
	s->owner = owner;
	strlcpy(s->agent, agent ? agent : "", sizeof(s->agent));
	strlcpy(s->model, model ? model : "", sizeof(s->model));
	s->streaming = streaming;
	s->tokens_reported = false;
	s->started = GetCurrentTimestamp();
	s->bytes = s->events = s->output_tokens = s->thinking_chars = 0;
	pg_write_barrier();
	s->pid = MyProcPid;
}

void
pa_progress_update(long long bytes, long long events, long long output_tokens,
				   long long thinking_chars, bool tokens_reported)
{
	ProgressSlot *s = my_slot();

	if (s == NULL)
		return;
	s->bytes = bytes;
	s->events = events;
	s->output_tokens = output_tokens;
	s->thinking_chars = thinking_chars;
	s->tokens_reported = tokens_reported;
}

void
pa_progress_end(void)
{
	ProgressSlot *s = my_slot();

	if (s != NULL)
		s->pid = 0;
}

PG_FUNCTION_INFO_V1(pa_progress);

/*
 * pa_progress() RETURNS TABLE (pid, run_id, agent, model, streaming,
 *   started_at, seconds, bytes, events, output_tokens, tokens_reported,
 *   thinking_chars): the model calls in flight on this server, of the
 *   agents whose owner's rights the caller has.
 */
Datum
pa_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	pa_require_preload("pa_progress()");
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n_slots; i++)
	{
		ProgressSlot copy;
		Datum		values[12];
		bool		nulls[12] = {0};
		long		secs;
		int			usecs;

		if (slots[i].pid == 0)
			continue;
		pg_read_barrier();
		memcpy(&copy, &slots[i], sizeof(copy));
		if (copy.pid == 0 || !has_privs_of_role(GetUserId(), copy.owner))
			continue;
		TimestampDifference(copy.started, GetCurrentTimestamp(), &secs, &usecs);
		values[0] = Int32GetDatum(copy.pid);
		values[1] = Int64GetDatum(copy.run_id);
		values[2] = CStringGetTextDatum(copy.agent);
		values[3] = CStringGetTextDatum(copy.model);
		values[4] = BoolGetDatum(copy.streaming);
		values[5] = TimestampTzGetDatum(copy.started);
		values[6] = Float8GetDatum(secs + usecs / 1e6);
		values[7] = Int64GetDatum(copy.bytes);
		values[8] = Int64GetDatum(copy.events);
		values[9] = Int64GetDatum(copy.output_tokens);
		values[10] = BoolGetDatum(copy.tokens_reported);
		values[11] = Int64GetDatum(copy.thinking_chars);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
