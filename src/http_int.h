/*
 * http_int.h — a transfer in flight, shared by the blocking call of a
 * backend (http.c) and the worker's event loop (http_loop.c).
 */
#ifndef PA_HTTP_INT_H
#define PA_HTTP_INT_H

#include "portability/instr_time.h"

#include "http.h"

struct PaHttpTransfer
{
	PaHttpResponse *resp;
	size_t		max_bytes;
	const PaHttpRequest *req;
	CURL	   *easy;
	char		errbuf[CURL_ERROR_SIZE];
	char	   *stream_error;	/* malloc'd, from on_data */
	bool		denied;			/* a connection to a private address was refused */
	instr_time	start;
	instr_time	last_activity;	/* when bytes last arrived */
	MemoryContext mcxt;			/* where the response's strings go (the caller's) */

	/* the worker's loop only */
	void		(*done) (void *arg);
	void	   *done_arg;
	bool		finished;
	struct PaHttpTransfer *prev;
	struct PaHttpTransfer *next;
};

extern void pa_http_global_init(void);
extern PaHttpTransfer *pa_http_transfer_new(const PaHttpRequest *req, PaHttpResponse *resp);
extern bool pa_http_transfer_idle(PaHttpTransfer *t);
extern void pa_http_transfer_conclude(PaHttpTransfer *t, CURLcode result);
extern void pa_http_transfer_free(PaHttpTransfer *t);

#endif							/* PA_HTTP_INT_H */
