/*
 * stream.h — a streamed (SSE) model response, read as it arrives.
 *
 * The HTTP layer feeds the response body to pa_stream_feed in whatever
 * pieces it receives; pa_stream_finish then gives the neutral response of
 * model.h, the same json_equal value pa_openai_parse_response or
 * pa_anthropic_parse_response gives for the non-streamed body with the
 * same content (the accumulators rebuild that body and hand it to the
 * same parser). pa_stream_progress tells what has arrived so far, for the
 * ledger and for deciding that a call is taking too long.
 *
 * Plain C over jansson (through pa_json.h); no server headers. Every
 * returned string is malloc'd; errmsg arguments may be NULL.
 *
 * The code: sse.c (the SSE decoder, and the provider-neutral PaStream
 * below), stream_openai.c and stream_anthropic.c (one accumulator each).
 */
#ifndef PA_STREAM_H
#define PA_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "pa_json.h"

/* max_event_bytes 0 means this */
#define PA_STREAM_DEFAULT_MAX_EVENT_BYTES ((size_t) 4 * 1024 * 1024)

typedef struct PaStream PaStream;

typedef struct PaStreamProgress
{
	long long	events;			/* SSE events decoded (pings included) */
	long long	bytes;			/* bytes fed */
	long long	output_chars;	/* characters of text, refusal, thinking and
								 * tool arguments received */
	long long	thinking_chars; /* of which thinking */
	long long	input_tokens;	/* as reported; 0 until the provider says
								 * (Anthropic: at the start; OpenAI: at the
								 * end) */
	long long	output_tokens;	/* the provider's count once reported, else
								 * an estimate from output_chars */
	bool		tokens_reported;	/* output_tokens is the provider's count */
	bool		first_token;	/* some output has arrived */
	bool		done;			/* the final event was seen */
} PaStreamProgress;

/*
 * A reader for "openai" (Chat Completions chunks) or "anthropic" (Messages
 * events). NULL for another provider name or when out of memory.
 */
extern PaStream *pa_stream_new(const char *provider, size_t max_event_bytes);

/*
 * Feed body bytes. 0 on success. -1 and *errmsg on a malformed or
 * oversized event, out of memory, or an error event from the provider
 * ("the provider returned an error: overloaded_error: Overloaded"); the
 * stream has then failed for good and later calls repeat the sentence.
 * Bytes after the final event are ignored.
 */
extern int	pa_stream_feed(PaStream *s, const char *bytes, size_t len, char **errmsg);

/* The final event ([DONE] / message_stop) has been seen. */
extern bool pa_stream_done(const PaStream *s);

extern void pa_stream_progress(const PaStream *s, PaStreamProgress *p);

/*
 * The neutral response (new reference), or NULL and *errmsg: the stream's
 * failure, "the stream ended before its final event" when the final
 * event has not come, or what the non-stream parser finds wrong with the
 * rebuilt body. The stream is left as it was (free it after).
 */
extern json_t *pa_stream_finish(PaStream *s, char **errmsg);

extern void pa_stream_free(PaStream *s);

/* ---------- between sse.c and the accumulators only ---------- */

/*
 * One accumulator. event() gets each SSE event (after [DONE] or
 * message_stop none are passed) and updates the progress counters it
 * knows (chars, tokens, first_token, done); it returns 0, or -1 with
 * *errmsg. finish() is called only once done.
 */
typedef struct PaStreamOps
{
	void	   *(*create) (void);
	int			(*event) (void *acc, const char *event, const char *data, size_t len,
						  PaStreamProgress *p, char **errmsg);
	json_t	   *(*finish) (void *acc, char **errmsg);
	void		(*destroy) (void *acc);
} PaStreamOps;

extern const PaStreamOps pa_stream_openai_ops;
extern const PaStreamOps pa_stream_anthropic_ops;

/* An event's data as a JSON object, or NULL and *errmsg naming the event. */
extern json_t *pa_stream_event_json(const char *event, const char *data, size_t len,
									char **errmsg);

/*
 * array with room for one more of used elements of size bytes (*cap grows
 * by doubling), or NULL when out of memory (array is then unchanged).
 */
extern void *pa_stream_grow(void *array, size_t *cap, size_t used, size_t size);

/* Count n bytes of received output (UTF-8) into p. */
extern void pa_stream_count(PaStreamProgress *p, const char *s, size_t n, bool thinking);

#endif							/* PA_STREAM_H */
