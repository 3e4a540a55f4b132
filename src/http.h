/*
 * http.h — every HTTP request of procedural_agent goes through here.
 *
 * One libcurl multi handle per backend (its connection cache keeps
 * connections to a provider alive between calls). A call waits in
 * curl_multi_poll slices of at most 100 ms and checks for interrupts
 * between them, so pg_cancel_backend and statement_timeout stop an
 * in-flight call promptly; the transfer is cleaned up before the error
 * propagates. Transport failures are returned, not raised, so the caller
 * decides between retrying and failing the run.
 */
#ifndef PA_HTTP_H
#define PA_HTTP_H

#include <curl/curl.h>

#include "lib/stringinfo.h"

#include "retry.h"

typedef struct PaHttpRequest
{
	const char *url;
	const char *body;			/* POST body (JSON) */
	struct curl_slist *headers; /* including credentials; never logged */
	long		connect_timeout_ms;
	long		timeout_ms;		/* whole transfer */
	long		idle_timeout_ms;	/* give up when nothing arrives for this long; 0 = off */
	bool		deny_private;	/* refuse loopback, private and link-local addresses */
	size_t		max_response_bytes;

	/*
	 * Streaming: when on_data is set, a 2xx text/event-stream body goes to
	 * it as it arrives instead of into resp->body (error bodies, and a
	 * server that answers with plain JSON anyway, are still collected). It
	 * runs inside libcurl, so it must not raise: it returns false and sets
	 * *stream_error to stop the transfer. on_tick runs between waits (at
	 * least every 100 ms), outside libcurl, and may do anything.
	 */
	bool		(*on_data) (void *arg, const char *data, size_t len, char **stream_error);
	void		(*on_tick) (void *arg);
	void	   *arg;
} PaHttpRequest;

typedef struct PaHttpResponse
{
	long		status;			/* HTTP status, 0 when no response */
	StringInfoData body;
	bool		truncated;		/* body exceeded max_response_bytes */
	bool		timed_out;
	char	   *error;			/* transport failure (palloc'd), NULL on success */
	PaRetryHints retry;			/* retry-after and rate-limit reset headers */
	char	   *request_id;		/* provider request id header, if any */
	double		elapsed_ms;
	bool		event_stream;	/* Content-Type: text/event-stream */
} PaHttpResponse;

extern void pa_http_post(const PaHttpRequest *req, PaHttpResponse *resp);

/*
 * The worker's event loop (http_loop.c): many transfers at once on one
 * multi handle. libcurl's sockets are kept in an epoll set whose single
 * descriptor the worker waits on together with its latch (one
 * WaitEventSet); libcurl's timer gives the wait's timeout. done(arg) runs
 * from pa_http_loop_run once a transfer is over, its response filled in
 * as pa_http_post would.
 */
typedef struct PaHttpTransfer PaHttpTransfer;
typedef struct PaHttpLoop PaHttpLoop;

extern PaHttpLoop *pa_http_loop_create(void);
extern int	pa_http_loop_fd(PaHttpLoop *loop);
extern long pa_http_loop_timeout_ms(PaHttpLoop *loop);
extern void pa_http_loop_run(PaHttpLoop *loop);
extern int	pa_http_loop_active(PaHttpLoop *loop);
extern PaHttpTransfer *pa_http_start(PaHttpLoop *loop, const PaHttpRequest *req,
									 PaHttpResponse *resp, void (*done) (void *arg), void *arg);
/* Stop a transfer without calling done; its response is left as it is. */
extern void pa_http_abandon(PaHttpLoop *loop, PaHttpTransfer *t);

/* Append "Name: value" to a header list; raises on out of memory. */
extern struct curl_slist *pa_http_header(struct curl_slist *list, const char *name, const char *value);

#endif							/* PA_HTTP_H */
