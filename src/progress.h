/*
 * progress.h — live progress of model calls, in shared memory, so another
 * session sees how far a long call (a streamed answer that thinks for
 * minutes) has got while the run's own rows are still uncommitted.
 */
#ifndef PA_PROGRESS_H
#define PA_PROGRESS_H

extern void pa_progress_shmem_init(void);	/* from _PG_init, when preloaded */
extern void pa_progress_begin(int64 run_id, Oid owner, const char *agent, const char *model,
							  bool streaming);
extern void pa_progress_update(long long bytes, long long events, long long output_tokens,
							   long long thinking_chars, bool tokens_reported);
extern void pa_progress_end(void);

#endif							/* PA_PROGRESS_H */
