/*
 * stream_fuzz.c — libFuzzer target for the streamed (SSE) response
 * readers: the SSE decoder (src/sse.c) and the accumulators
 * (src/stream_openai.c, src/stream_anthropic.c), which hand the body they
 * rebuild to the non-stream parsers.
 *
 * Input: one control byte, then the response body as it comes off the
 * wire. Control byte: bit 0 picks the provider (0 openai, 1 anthropic);
 * bit 1 sets a small event limit (SMALL_EVENT_LIMIT bytes) to reach the
 * oversized-event path; bits 2-7 are the size of the pieces the body is
 * fed in (0: all at once), so events, CRLFs and UTF-8 sequences are split
 * anywhere, as network reads split them.
 *
 * Checked beyond the sanitizers, from stream.h's promises: after a failed
 * feed, later feeds fail too; the bytes counted are those fed up to the
 * failure; pa_stream_finish leaves the stream as it was (a second call
 * gives an equal answer); and an accepted response has model.h's shape
 * and goes back through the request builders (fuzz_neutral.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_neutral.h"
#include "stream.h"
#include "fuzz_init.h"

#define SMALL_EVENT_LIMIT 512

static void
stream_violation(const char *what)
{
	fprintf(stderr, "stream: %s\n", what);
	abort();
}

/* Feed the body in pieces of "step" bytes (all at once when 0). */
static void
feed(PaStream *s, const char *body, size_t len, size_t step)
{
	size_t		off = 0,
				counted = 0;
	bool		failed = false;
	PaStreamProgress p;

	do
	{
		size_t		n = (step == 0 || len - off < step) ? len - off : step;
		char	   *err = NULL;
		int			rc = pa_stream_feed(s, body + off, n, &err);

		if (failed && rc != -1)
			stream_violation("a feed after a failure succeeded");
		/* a failed stream takes no more bytes: they are not counted */
		if (!failed)
			counted += n;
		failed = failed || rc == -1;
		if (rc == -1 && err == NULL)
			stream_violation("a failed feed without a sentence");
		free(err);
		off += n;
	} while (off < len);

	pa_stream_progress(s, &p);
	if (p.bytes != (long long) counted)
		stream_violation("progress.bytes is not the number of bytes taken");
	if (p.thinking_chars > p.output_chars || p.output_tokens < 0)
		stream_violation("progress counters out of order");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *provider;
	size_t		limit,
				step;
	PaStream   *s;
	json_t	   *resp,
			   *again;
	char	   *err = NULL;

	if (size < 1)
		return 0;
	provider = (data[0] & 1) ? "anthropic" : "openai";
	limit = (data[0] & 2) ? SMALL_EVENT_LIMIT : 0;
	step = data[0] >> 2;
	if ((s = pa_stream_new(provider, limit)) == NULL)
		return 0;
	feed(s, (const char *) data + 1, size - 1, step);

	resp = pa_stream_finish(s, &err);
	free(err);
	err = NULL;
	again = pa_stream_finish(s, &err);
	free(err);
	if ((resp == NULL) != (again == NULL) || (resp && !json_equal(resp, again)))
		stream_violation("pa_stream_finish gave different answers twice");
	if (resp != NULL)
	{
		if (!pa_stream_done(s))
			stream_violation("a response before the final event");
		fuzz_check_neutral(resp);
		fuzz_send_back(resp);
	}
	json_decref(resp);
	json_decref(again);
	pa_stream_free(s);
	return 0;
}
