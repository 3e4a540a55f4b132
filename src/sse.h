/*
 * sse.h — an incremental decoder of server-sent events (the
 * text/event-stream format of the WHATWG HTML standard, section 9.2).
 *
 * Bytes are fed in chunks split anywhere (inside a line, inside a CRLF,
 * inside a UTF-8 sequence); each complete event is handed to a callback.
 * Lines end with CRLF, LF or CR. "data" lines are joined with "\n";
 * comments (":") and the "id" and "retry" fields are ignored, as are
 * unknown fields; an event without data lines is not dispatched. Memory is
 * bounded: an event (with the line being read) larger than max_event_bytes
 * is an error. Plain C, no server headers, no jansson.
 */
#ifndef PA_SSE_H
#define PA_SSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Called once per event. event is the "event" field, "message" when the
 * event named none; data is NUL-terminated, len excludes the NUL (data may
 * hold NUL bytes). Return 0 to go on, or -1 with *errmsg set to a malloc'd
 * sentence to stop: the decoder then fails for good.
 */
typedef int (*PaSseEventFn) (void *arg, const char *event, const char *data,
							 size_t len, char **errmsg);

typedef struct PaSse PaSse;

/* NULL when out of memory. */
extern PaSse *pa_sse_new(size_t max_event_bytes, PaSseEventFn fn, void *arg);

/*
 * Decode len more bytes, calling fn for every event they complete. 0 on
 * success; -1 with *errmsg (malloc'd; errmsg may be NULL) on an oversized
 * event, out of memory, an error from fn, or any call after a failure.
 */
extern int	pa_sse_feed(PaSse *sse, const char *bytes, size_t len, char **errmsg);

/* True when bytes of an unfinished event are held (a cut-off stream). */
extern bool pa_sse_pending(const PaSse *sse);

extern void pa_sse_free(PaSse *sse);

#endif							/* PA_SSE_H */
