/*
 * sse.c — the server-sent-events decoder of sse.h, and the provider-neutral
 * half of a streamed model response (stream.h): counting, failure and end
 * of stream, handing each event to the provider's accumulator
 * (stream_openai.c, stream_anthropic.c).
 *
 * The decoder follows the WHATWG "event stream interpretation" rules. It
 * works on bytes and splits only at CR and LF, which never occur inside a
 * UTF-8 sequence, so a chunk boundary inside a character needs no care;
 * the JSON parser checks the encoding of what the events carry.
 */
#include <stdlib.h>
#include <string.h>

#include "model_int.h"
#include "pa_buf.h"
#include "sse.h"
#include "stream.h"

#define PA_SSE_OOM "out of memory while reading the stream"

/* ---------- the decoder ---------- */

struct PaSse
{
	size_t		max;			/* bytes an event may take, line included */
	PaSseEventFn fn;
	void	   *arg;
	PaBuf		line;			/* a line cut by the chunk boundary */
	PaBuf		data;			/* the event's data lines, joined by \n */
	PaBuf		event;			/* the event's "event" field */
	bool		has_data;		/* a data line was seen ("data:" alone counts) */
	bool		skip_lf;		/* the last chunk ended in CR: an LF opening
								 * the next one ends no further line */
	bool		started;		/* past the first line, where a BOM may be */
	bool		failed;
	char	   *error;			/* the failure, repeated to later calls */
};

PaSse *
pa_sse_new(size_t max_event_bytes, PaSseEventFn fn, void *arg)
{
	PaSse	   *sse = calloc(1, sizeof(PaSse));

	if (sse == NULL)
		return NULL;
	sse->max = max_event_bytes;
	sse->fn = fn;
	sse->arg = arg;
	return sse;
}

void
pa_sse_free(PaSse *sse)
{
	if (sse == NULL)
		return;
	free(sse->line.data);
	free(sse->data.data);
	free(sse->event.data);
	free(sse->error);
	free(sse);
}

bool
pa_sse_pending(const PaSse *sse)
{
	return sse->line.len > 0 || sse->has_data || sse->event.len > 0;
}

/* Empty a buffer, keeping its memory (bounded by max) for the next event. */
static void
buf_clear(PaBuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* A copy of msg for the caller, who may not want one. */
static void
give_error(char **errmsg, const char *msg)
{
	if (errmsg != NULL)
		*errmsg = strdup(msg ? msg : PA_SSE_OOM);
}

/*
 * Latch the failure (msg is taken over; NULL means out of memory) and give
 * the caller a copy. Always -1.
 */
static int
sse_fail(PaSse *sse, char *msg, char **errmsg)
{
	sse->failed = true;
	sse->error = msg;
	give_error(errmsg, msg);
	return -1;
}

static bool
too_big(const PaSse *sse, size_t more)
{
	return sse->line.len + more + sse->data.len + sse->event.len > sse->max;
}

static int
oversized(PaSse *sse, char **errmsg)
{
	return sse_fail(sse, pa_model_printf("the stream has an event larger than %zu bytes",
										 sse->max), errmsg);
}

static int
dispatch(PaSse *sse, char **errmsg)
{
	char	   *msg = NULL;
	int			rc = 0;

	if (sse->has_data)
		rc = sse->fn(sse->arg, sse->event.len > 0 ? sse->event.data : "message",
					 sse->data.data ? sse->data.data : "", sse->data.len, &msg);
	buf_clear(&sse->data);
	buf_clear(&sse->event);
	sse->has_data = false;
	if (rc != 0)
		return sse_fail(sse, msg, errmsg);
	return 0;
}

/* One complete line, without its end. */
static int
process_line(PaSse *sse, const char *s, size_t n, char **errmsg)
{
	const char *colon;
	const char *v = "";
	size_t		flen,
				vlen = 0;

	if (!sse->started)
	{
		sse->started = true;
		if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		{
			s += 3;
			n -= 3;
		}
	}
	/*
	 * The field name is the whole line unless a colon ends it. Set after
	 * the BOM is skipped: set before, it counted the BOM, so a first line
	 * of a BOM and 1 or 2 bytes without a colon was compared with "data"
	 * or "event" past its end (found by test/fuzz/stream_fuzz; reproducer
	 * test/fuzz/seeds/stream/regress-sse-bom-short-line).
	 */
	flen = n;
	if (n == 0)
		return dispatch(sse, errmsg);
	if (s[0] == ':')
		return 0;				/* a comment: keep-alives are sent this way */
	if (sse->line.len == 0 && too_big(sse, n))
		return oversized(sse, errmsg);
	colon = memchr(s, ':', n);
	if (colon != NULL)
	{
		flen = (size_t) (colon - s);
		v = colon + 1;
		vlen = n - flen - 1;
		if (vlen > 0 && v[0] == ' ')
		{
			v++;
			vlen--;
		}
	}
	if (flen == 5 && memcmp(s, "event", 5) == 0)
	{
		buf_clear(&sse->event);
		pa_buf_putn(&sse->event, v, vlen);
	}
	else if (flen == 4 && memcmp(s, "data", 4) == 0)
	{
		if (sse->has_data)
			pa_buf_putc(&sse->data, '\n');
		pa_buf_putn(&sse->data, v, vlen);
		sse->has_data = true;
	}
	/* "id", "retry" and unknown fields: nothing we use */
	if (sse->event.oom || sse->data.oom)
		return sse_fail(sse, NULL, errmsg);
	return 0;
}

int
pa_sse_feed(PaSse *sse, const char *bytes, size_t len, char **errmsg)
{
	size_t		i = 0,
				j;
	int			rc;

	if (sse->failed)
	{
		give_error(errmsg, sse->error);
		return -1;
	}
	if (len == 0)
		return 0;
	if (sse->skip_lf && bytes[0] == '\n')
		i = 1;
	sse->skip_lf = false;
	while (i < len)
	{
		j = i;
		while (j < len && bytes[j] != '\n' && bytes[j] != '\r')
			j++;
		/* a partial line waits for the next chunk, unless it is too long */
		if (sse->line.len > 0 || j == len)
		{
			if (too_big(sse, j - i))
				return oversized(sse, errmsg);
			pa_buf_putn(&sse->line, bytes + i, j - i);
			if (sse->line.oom)
				return sse_fail(sse, NULL, errmsg);
			if (j == len)
				break;
			rc = process_line(sse, sse->line.data, sse->line.len, errmsg);
			buf_clear(&sse->line);
		}
		else
			rc = process_line(sse, bytes + i, j - i, errmsg);
		if (rc != 0)
			return rc;
		if (bytes[j] == '\r')
		{
			if (j + 1 == len)
				sse->skip_lf = true;
			else if (bytes[j + 1] == '\n')
				j++;
		}
		i = j + 1;
	}
	return 0;
}

/* ---------- a streamed model response ---------- */

struct PaStream
{
	const PaStreamOps *ops;
	void	   *acc;
	PaSse	   *sse;
	PaStreamProgress progress;
	bool		failed;
	char	   *error;			/* the failure (NULL: out of memory) */
};

/* The decoder's callback: count, then the accumulator. */
static int
stream_event(void *arg, const char *event, const char *data, size_t len, char **errmsg)
{
	PaStream   *s = arg;

	if (s->progress.done)
		return 0;
	s->progress.events++;
	return s->ops->event(s->acc, event, data, len, &s->progress, errmsg);
}

PaStream *
pa_stream_new(const char *provider, size_t max_event_bytes)
{
	const PaStreamOps *ops;
	PaStream   *s;

	if (provider != NULL && strcmp(provider, "openai") == 0)
		ops = &pa_stream_openai_ops;
	else if (provider != NULL && strcmp(provider, "anthropic") == 0)
		ops = &pa_stream_anthropic_ops;
	else
		return NULL;
	s = calloc(1, sizeof(PaStream));
	if (s == NULL)
		return NULL;
	s->ops = ops;
	s->acc = ops->create();
	s->sse = pa_sse_new(max_event_bytes ? max_event_bytes : PA_STREAM_DEFAULT_MAX_EVENT_BYTES,
						stream_event, s);
	if (s->acc == NULL || s->sse == NULL)
	{
		pa_stream_free(s);
		return NULL;
	}
	return s;
}

void
pa_stream_free(PaStream *s)
{
	if (s == NULL)
		return;
	if (s->acc != NULL)
		s->ops->destroy(s->acc);
	pa_sse_free(s->sse);
	free(s->error);
	free(s);
}

int
pa_stream_feed(PaStream *s, const char *bytes, size_t len, char **errmsg)
{
	char	   *msg = NULL;

	if (s->failed)
	{
		give_error(errmsg, s->error);
		return -1;
	}
	s->progress.bytes += (long long) len;
	if (s->progress.done)
		return 0;
	if (pa_sse_feed(s->sse, bytes, len, &msg) == 0 || s->progress.done)
	{
		/* whatever follows the final event (even a bad one) is not ours */
		free(msg);
		return 0;
	}
	s->failed = true;
	s->error = msg;
	give_error(errmsg, msg);
	return -1;
}

bool
pa_stream_done(const PaStream *s)
{
	return s->progress.done;
}

void
pa_stream_progress(const PaStream *s, PaStreamProgress *p)
{
	*p = s->progress;
	/* about 4 characters a token, as the providers' own rules of thumb */
	if (!p->tokens_reported)
		p->output_tokens = (p->output_chars + 3) / 4;
}

json_t *
pa_stream_finish(PaStream *s, char **errmsg)
{
	if (s->failed)
	{
		give_error(errmsg, s->error);
		return NULL;
	}
	if (!s->progress.done)
	{
		give_error(errmsg, "the stream ended before its final event");
		return NULL;
	}
	return s->ops->finish(s->acc, errmsg);
}

/* ---------- helpers for the accumulators ---------- */

json_t *
pa_stream_event_json(const char *event, const char *data, size_t len, char **errmsg)
{
	json_error_t err;
	json_t	   *root = json_loadb(data, len, 0, &err);

	if (root == NULL)
		pa_model_errorf(errmsg, "stream event \"%s\" is not valid JSON: %s (at byte %d of %zu)",
						event, err.text, err.position, len);
	else if (!json_is_object(root))
	{
		pa_model_errorf(errmsg, "stream event \"%s\" is not a JSON object", event);
		json_decref(root);
		root = NULL;
	}
	return root;
}

void *
pa_stream_grow(void *array, size_t *cap, size_t used, size_t size)
{
	size_t		ncap;
	void	   *n;

	if (used < *cap)
		return array;
	ncap = *cap ? *cap * 2 : 8;
	n = realloc(array, ncap * size);
	if (n != NULL)
		*cap = ncap;
	return n;
}

void
pa_stream_count(PaStreamProgress *p, const char *s, size_t n, bool thinking)
{
	long long	chars = 0;
	size_t		i;

	/* characters, not bytes: count every byte that starts one */
	for (i = 0; i < n; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			chars++;
	p->output_chars += chars;
	if (thinking)
		p->thinking_chars += chars;
	if (chars > 0)
		p->first_token = true;
}
