/*
 * stream_unit.c — the SSE decoder (sse.c) and the streamed-response
 * accumulators (stream_openai.c, stream_anthropic.c) outside the server.
 *
 *   stream_unit                                 unit tests
 *   stream_unit stream openai|anthropic [STEP]  SSE body on stdin, fed STEP
 *                                               bytes at a time (default:
 *                                               all at once) -> neutral JSON
 *   stream_unit parse openai|anthropic          non-streamed body on stdin
 *                                               -> neutral JSON
 *   stream_unit compare openai|anthropic SSE BODY [STEP]
 *                                               the streamed and the
 *                                               non-streamed parse are
 *                                               json_equal, once the parts a
 *                                               server makes afresh for each
 *                                               response (its id, redacted
 *                                               thinking data) are blanked
 *
 * stream_check.sh drives the modes against the local model server. The
 * tests end with "N passed, N failed"; exit status 1 if any failed. In
 * fixtures ' stands for " (and \\' for an escaped quote), to keep them
 * readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "pa_buf.h"
#include "sse.h"
#include "stream.h"

#include "unit_check.h"



#define ENDED "the stream ended before its final event"

/* ---------- helpers ---------- */

/* A fixture with ' for ", malloc'd. */
static char *
q(const char *s)
{
	char	   *out = strdup(s);
	char	   *p;

	if (out == NULL)
		exit(2);
	for (p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static json_t *
J(const char *fixture)
{
	char	   *text = q(fixture);
	json_error_t err;
	json_t	   *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
	{
		fprintf(stderr, "bad fixture: %s: %s\n", err.text, text);
		exit(2);
	}
	free(text);
	return v;
}

static bool
contains(const char *s, const char *needle)
{
	if (s != NULL && strstr(s, needle) != NULL)
		return true;
	printf("  \"%s\" does not contain \"%s\"\n", s ? s : "(null)", needle);
	return false;
}

static bool
same(json_t *got, json_t *want)
{
	char	   *a,
			   *b;

	if (got != NULL && want != NULL && json_equal(got, want))
		return true;
	a = got ? json_dumps(got, JSON_COMPACT) : NULL;
	b = want ? json_dumps(want, JSON_COMPACT) : NULL;
	printf("  got  %s\n  want %s\n", a ? a : "(null)", b ? b : "(null)");
	free(a);
	free(b);
	return false;
}

/* got equals the fixture */
static bool
same_fx(json_t *got, const char *fixture)
{
	json_t	   *want = J(fixture);
	bool		ok = same(got, want);

	json_decref(want);
	return ok;
}

/*
 * SSE text from event data fixtures, NULL-terminated. Anthropic events are
 * named after their "type", as the API does; OpenAI's are not named.
 */
static char *
sse_text(const char *const *events, bool named, const char *eol)
{
	PaBuf		b = {0};
	size_t		i;

	for (i = 0; events[i] != NULL; i++)
	{
		char	   *data = q(events[i]);

		if (named)
		{
			json_t	   *v = json_loads(data, 0, NULL);

			pa_buf_printf(&b, "event: %s%s", json_string_value(json_object_get(v, "type")), eol);
			json_decref(v);
		}
		pa_buf_printf(&b, "data: %s%s%s", data, eol, eol);
		free(data);
	}
	if (b.oom)
		exit(2);
	return b.data;
}

/* Feed text in pieces cut at the given offsets (ascending, may be empty). */
static PaStream *
feed_cut(const char *provider, const char *text, size_t len, const size_t *cuts,
		 int ncuts, char **err)
{
	PaStream   *s = pa_stream_new(provider, 0);
	size_t		from = 0;
	int			i;

	*err = NULL;
	for (i = 0; i <= ncuts; i++)
	{
		size_t		to = i < ncuts ? cuts[i] : len;

		if (*err == NULL && pa_stream_feed(s, text + from, to - from, err) != 0)
			break;
		from = to;
	}
	return s;
}

/* The neutral response of a whole stream fed STEP bytes at a time (0: at once). */
static json_t *
stream_parse(const char *provider, const char *text, size_t len, size_t step, char **err)
{
	PaStream   *s = pa_stream_new(provider, 0);
	size_t		i;
	json_t	   *r = NULL;

	*err = NULL;
	if (step == 0)
		step = len ? len : 1;
	for (i = 0; i < len; i += step)
		if (pa_stream_feed(s, text + i, len - i < step ? len - i : step, err) != 0)
			break;
	if (*err == NULL)
		r = pa_stream_finish(s, err);
	pa_stream_free(s);
	return r;
}

static json_t *
body_parse(const char *provider, const char *fixture)
{
	char	   *text = q(fixture);
	char	   *err = NULL;
	json_t	   *r = strcmp(provider, "openai") == 0 ?
		pa_openai_parse_response(text, strlen(text), &err) :
		pa_anthropic_parse_response(text, strlen(text), &err);

	if (r == NULL)
		printf("  body does not parse: %s\n", err);
	free(err);
	free(text);
	return r;
}

/*
 * The stream's result equals the non-streamed parse of body, fed at once,
 * byte by byte, with CRLF line ends and, with "cuts", cut in two at every
 * offset (byte by byte crosses every boundary too, but with one decoder
 * state; the cuts start afresh each time, at a cost under valgrind, so
 * the richest streams only). Returns the streamed response.
 */
static json_t *
stream_vs_body(const char *provider, const char *const *events, const char *body,
			   bool cuts, const char *name)
{
	bool		named = strcmp(provider, "anthropic") == 0;
	char	   *text = sse_text(events, named, "\n");
	char	   *crlf = sse_text(events, named, "\r\n");
	size_t		len = strlen(text);
	json_t	   *want = body_parse(provider, body);
	char	   *err;
	json_t	   *got = stream_parse(provider, text, len, 0, &err);
	json_t	   *r;
	bool		all = true;
	size_t		k;
	char		desc[200];

	snprintf(desc, sizeof(desc), "%s: streamed equals non-streamed", name);
	if (got == NULL)
		printf("  stream failed: %s\n", err);
	CHECK(same(got, want), desc);
	free(err);

	r = stream_parse(provider, text, len, 1, &err);
	snprintf(desc, sizeof(desc), "%s: fed byte by byte", name);
	CHECK(same(r, want), desc);
	json_decref(r);
	free(err);

	for (k = 0; k <= len && all && cuts; k++)
	{
		PaStream   *s = feed_cut(provider, text, len, &k, 1, &err);

		r = err ? NULL : pa_stream_finish(s, &err);
		all = r != NULL && json_equal(r, want);
		if (!all)
			printf("  cut at %zu: %s\n", k, err ? err : "differs");
		json_decref(r);
		free(err);
		pa_stream_free(s);
	}
	snprintf(desc, sizeof(desc), "%s: cut in two at each of %zu offsets", name, len + 1);
	if (cuts)
		CHECK(all, desc);

	r = stream_parse(provider, crlf, strlen(crlf), 7, &err);
	snprintf(desc, sizeof(desc), "%s: CRLF line ends", name);
	CHECK(same(r, want), desc);
	json_decref(r);
	free(err);

	json_decref(want);
	free(text);
	free(crlf);
	return got;
}

/* Feeding the stream fails (or, with at_finish, finish fails) with needle. */
static bool
stream_fails(const char *provider, const char *const *events, bool at_finish,
			 const char *needle)
{
	char	   *text = sse_text(events, strcmp(provider, "anthropic") == 0, "\n");
	PaStream   *s = pa_stream_new(provider, 0);
	char	   *err = NULL,
			   *again = NULL;
	int			rc = pa_stream_feed(s, text, strlen(text), &err);
	json_t	   *r = NULL;
	bool		ok;

	if (rc == 0)
		r = pa_stream_finish(s, &err);
	ok = (at_finish ? rc == 0 : rc != 0) && r == NULL && contains(err, needle);
	/* a failure is for good: later calls repeat it */
	if (rc != 0)
		ok = ok && pa_stream_feed(s, "data: {}\n\n", 10, &again) == -1 &&
			again != NULL && strcmp(again, err) == 0;
	json_decref(r);
	free(err);
	free(again);
	free(text);
	pa_stream_free(s);
	return ok;
}

/* ---------- the SSE decoder ---------- */

/* Collects events as [[event, data], ...]; fails on data "FAIL". */
static int
collect(void *arg, const char *event, const char *data, size_t len, char **errmsg)
{
	if (len == 4 && memcmp(data, "FAIL", 4) == 0)
	{
		*errmsg = strdup("the callback refused");
		return -1;
	}
	return json_array_append_new(arg, json_pack("[ss%]", event, data, len));
}

static json_t *
decode(const char *text, size_t max, size_t step, char **err)
{
	size_t		len = strlen(text);
	json_t	   *out = json_array();
	PaSse	   *d = pa_sse_new(max, collect, out);
	size_t		i;

	*err = NULL;
	for (i = 0; i < len; i += step)
		if (pa_sse_feed(d, text + i, len - i < step ? len - i : step, err) != 0)
			break;
	pa_sse_free(d);
	return out;
}

static bool
decodes_to(const char *text, const char *want_fixture)
{
	char	   *err;
	json_t	   *got = decode(text, 1000, strlen(text) ? strlen(text) : 1, &err);
	json_t	   *want = J(want_fixture);
	bool		ok = err == NULL && same(got, want);

	if (err)
		printf("  error: %s\n", err);
	free(err);
	json_decref(got);
	json_decref(want);
	return ok;
}

static void
test_sse(void)
{
	static const char mixed[] =
		"\xEF\xBB\xBF: a comment first\r\n"
		"event: first\r\ndata: caf\xC3\xA9 \xE2\x9C\x93\r\n\r\n"
		"id: 7\nretry: 3000\ndata:no space\ndata:  two spaces\ndata\n\n"
		"event: empty\rdata: \xF0\x9F\x98\x80 cr only\r\r"
		": keep-alive\n\n"
		"event: dropped\n\n"
		"data: {\"x\": [1, 2]}\n\n";
	static const char want[] =
		"[['first','caf\xC3\xA9 \xE2\x9C\x93'],"
		"['message','no space\\n two spaces\\n'],"
		"['empty','\xF0\x9F\x98\x80 cr only'],"
		"['message','{\\'x\\': [1, 2]}']]";
	size_t		len = sizeof(mixed) - 1;
	json_t	   *ref,
			   *got;
	char	   *err;
	size_t		i,
				j;
	bool		all = true;
	PaSse	   *d;
	json_t	   *out;

	CHECK(decodes_to("event: a\ndata: x\n\ndata: y\ndata: z\n\n",
					 "[['a','x'],['message','y\\nz']]"), "sse: event name, multi-line data joined by \\n");
	CHECK(decodes_to("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "[['message','a'],['message','b'],['message','c']]"),
		  "sse: CRLF, CR and LF line ends");
	CHECK(decodes_to(": ping\nid: 5\nretry: 100\nfoo: bar\ndata: q\n\n", "[['message','q']]"),
		  "sse: comments, id, retry and unknown fields ignored");
	CHECK(decodes_to("event: e\n\nevent: f\nid: 1\n\ndata: after\n\n", "[['message','after']]"),
		  "sse: an event without data is not dispatched, and its name does not stick");
	CHECK(decodes_to("data\n\ndata:\n\ndata:  x \n\n", "[['message',''],['message',''],['message',' x ']]"),
		  "sse: field without colon, empty value, one space removed");
	CHECK(decodes_to("event:\ndata: d\n\n", "[['message','d']]"), "sse: empty event name is \"message\"");
	CHECK(decodes_to("data: no blank line at the end\n", "[]"), "sse: an unfinished event is not dispatched");
	CHECK(decodes_to("\xEF\xBB\xBF" "data: bom\n\n", "[['message','bom']]"), "sse: a leading BOM is skipped");

	ref = decode(mixed, 1000, len, &err);
	CHECK(err == NULL && same_fx(ref, want), "sse: a mixed stream decodes");
	free(err);
	for (i = 0; i <= len && all; i++)
		for (j = i; j <= len && all; j++)
		{
			size_t		cuts[2] = {i, j};
			size_t		from = 0;
			int			k;

			out = json_array();
			d = pa_sse_new(1000, collect, out);
			for (k = 0; k <= 2; k++)
			{
				size_t		to = k < 2 ? cuts[k] : len;

				all = all && pa_sse_feed(d, mixed + from, to - from, NULL) == 0;
				from = to;
			}
			all = all && json_equal(out, ref);
			if (!all)
				printf("  cut at %zu and %zu differs\n", i, j);
			pa_sse_free(d);
			json_decref(out);
		}
	CHECK(all, "sse: the mixed stream cut in three at every pair of offsets decodes the same");
	got = decode(mixed, 1000, 1, &err);
	CHECK(err == NULL && json_equal(got, ref), "sse: byte by byte");
	json_decref(got);
	free(err);
	json_decref(ref);

	got = decode("data: 0123456789\n\ndata: 0123456789012345678901234567890123456789\n\n", 32, 5, &err);
	CHECK(json_array_size(got) == 1 && contains(err, "an event larger than 32 bytes"), "sse: an oversized event fails");
	json_decref(got);
	free(err);
	got = decode("data: 0123456789012345678901234567890123456789", 32, 4, &err);
	CHECK(contains(err, "larger than 32 bytes"), "sse: an oversized unfinished line fails before it ends");
	json_decref(got);
	free(err);
	got = decode("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", 32, 53, &err);
	CHECK(contains(err, "larger than 32 bytes"), "sse: data lines count together");
	json_decref(got);
	free(err);
	got = decode(": 0123456789012345678901234567890123456789\ndata: ok\n\n", 32, 53, &err);
	CHECK(err == NULL && json_array_size(got) == 1, "sse: a long comment within one chunk costs nothing");
	json_decref(got);
	free(err);

	out = json_array();
	d = pa_sse_new(100, collect, out);
	CHECK(pa_sse_feed(d, "data: x", 7, NULL) == 0 && pa_sse_pending(d), "sse: pending inside an event");
	CHECK(pa_sse_feed(d, "\n\n", 2, NULL) == 0 && !pa_sse_pending(d) && json_array_size(out) == 1,
		  "sse: not pending after it");
	err = NULL;
	CHECK(pa_sse_feed(d, "data: FAIL\n\ndata: y\n\n", 21, &err) == -1 && contains(err, "the callback refused") &&
		  json_array_size(out) == 1, "sse: a callback error stops the decoder");
	free(err);
	err = NULL;
	CHECK(pa_sse_feed(d, "data: z\n\n", 9, &err) == -1 && contains(err, "the callback refused"),
		  "sse: and later feeds repeat it");
	free(err);
	pa_sse_free(d);
	json_decref(out);
}

/* ---------- OpenAI ---------- */

#define OA "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'gpt-x','system_fingerprint':'fp',"
#define OA_USAGE OA "'choices':[],'usage':{'prompt_tokens':100,'completion_tokens':20,'total_tokens':120," \
	"'prompt_tokens_details':{'cached_tokens':64},'completion_tokens_details':{'reasoning_tokens':12}}}"
#define OA_ROLE OA "'choices':[{'index':0,'delta':{'role':'assistant','content':'','refusal':null},'finish_reason':null}],'usage':null}"
#define OA_BODY "{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'gpt-x','choices':[{'index':0,"

static const char *const oa_text[] = {
	OA_ROLE,
	OA "'choices':[{'index':0,'delta':{'content':'Hello, '},'finish_reason':null}],'usage':null}",
	OA "'choices':[{'index':0,'delta':{'content':'w\xC3\xB6rld \xE2\x9C\x93'},'finish_reason':null}],'usage':null}",
	OA "'choices':[{'index':0,'delta':{'content':' done.'},'finish_reason':null}],'usage':null}",
	OA "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}],'usage':null}",
	OA_USAGE,
	"[DONE]",
	NULL
};

static const char oa_text_body[] =
	OA_BODY "'message':{'role':'assistant','content':'Hello, w\xC3\xB6rld \xE2\x9C\x93 done.','refusal':null},"
	"'finish_reason':'stop'}],'usage':{'prompt_tokens':100,'completion_tokens':20,'total_tokens':120,"
	"'prompt_tokens_details':{'cached_tokens':64},'completion_tokens_details':{'reasoning_tokens':12}}}";

/* three calls whose fragments interleave, one with arguments that do not parse */
static const char *const oa_calls[] = {
	OA_ROLE,
	OA "'choices':[{'index':0,'delta':{'content':'Checking.'},'finish_reason':null}]}",
	OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'id':'call_b','type':'function','function':{'name':'get_weather','arguments':''}}]}}]}",
	OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'call_a','type':'function','function':{'name':'get_weather','arguments':'{\\'ci'}}]}}]}",
	OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'function':{'arguments':'{\\'city\\': \\'Os'}}]}}]}",
	OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'ty\\':\\'Paris\\'}'}},"
	"{'index':2,'id':'call_c','type':'function','function':{'name':'record','arguments':'{\\'temp\\': '}}]}}]}",
	OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'id':'call_b','function':{'name':'get_weather','arguments':'lo\\'}'}}]}}]}",
	OA "'choices':[{'index':0,'delta':{},'finish_reason':'tool_calls'}]}",
	"[DONE]",
	NULL
};

static const char oa_calls_body[] =
	OA_BODY "'message':{'role':'assistant','content':'Checking.','refusal':null,'tool_calls':["
	"{'id':'call_a','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},"
	"{'id':'call_b','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\': \\'Oslo\\'}'}},"
	"{'id':'call_c','type':'function','function':{'name':'record','arguments':'{\\'temp\\': '}}]},"
	"'finish_reason':'tool_calls'}]}";

/* opened by an Azure-style content-filter chunk with an empty id and model */
static const char *const oa_refusal[] = {
	"{'id':'','object':'','created':0,'model':'','choices':[],'prompt_filter_results':[{'prompt_index':0}]}",
	OA_ROLE,
	OA "'choices':[{'index':0,'delta':{'refusal':'I cannot '},'finish_reason':null}]}",
	OA "'choices':[{'index':0,'delta':{'refusal':'help with that.'},'finish_reason':null}]}",
	OA "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}]}",
	"[DONE]",
	NULL
};

static const char oa_refusal_body[] =
	OA_BODY "'message':{'role':'assistant','content':null,'refusal':'I cannot help with that.'},'finish_reason':'stop'}]}";

static void
test_openai(void)
{
	json_t	   *r;
	PaStream   *s;
	PaStreamProgress p;
	char	   *err = NULL;
	char	   *text;
	static const char *const early[] = {OA_ROLE, OA "'choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}]}",
	OA "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}]}", NULL};
	static const char *const failing[] = {OA_ROLE, "{'error':{'message':'The server had an error while processing your request.',"
	"'type':'server_error','param':null,'code':null}}", NULL};
	static const char *const bad_json[] = {OA_ROLE, "{'choices':[{'index':0,", NULL};
	static const char *const bad_delta[] = {OA "'choices':[{'index':0,'delta':{'content':42}}]}", NULL};
	static const char *const no_index[] = {OA "'choices':[{'index':0,'delta':{'tool_calls':[{'id':'x'}]}}]}", NULL};
	static const char *const no_id[] = {OA "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'name':'f','arguments':'{}'}}]}}]}",
	"[DONE]", NULL};

	r = stream_vs_body("openai", oa_text, oa_text_body, false, "openai text + usage chunk");
	CHECK(same_fx(r, "{'id':'chatcmpl-1','model':'gpt-x','parts':[{'type':'text','text':'Hello, w\xC3\xB6rld \xE2\x9C\x93 done.'}],"
					"'stop':'end_turn','usage':{'input_tokens':100,'output_tokens':20,'cached_tokens':64,"
					"'cache_creation_tokens':0,'reasoning_tokens':12}}"), "openai text: the neutral response");
	json_decref(r);
	r = stream_vs_body("openai", oa_calls, oa_calls_body, true, "openai interleaved parallel tool calls");
	CHECK(r && json_array_size(json_object_get(r, "parts")) == 4 &&
		  same_fx(json_array_get(json_object_get(r, "parts"), 2),
				  "{'type':'tool_call','id':'call_b','name':'get_weather','arguments':{'city':'Oslo'}}") &&
		  contains(json_string_value(json_object_get(json_array_get(json_object_get(r, "parts"), 3), "arguments_error")),
				   "arguments are not valid JSON") &&
		  same_fx(json_object_get(json_array_get(json_object_get(r, "parts"), 3), "arguments_raw"), "'{\\'temp\\': '"),
		  "openai calls: by index, repeated id and name kept once, bad arguments reported");
	CHECK(same_fx(json_object_get(r, "usage"), "{'input_tokens':0,'output_tokens':0,'cached_tokens':0,"
											  "'cache_creation_tokens':0,'reasoning_tokens':0}"),
		  "openai calls: no usage chunk gives zeros, as a body without usage");
	json_decref(r);
	r = stream_vs_body("openai", oa_refusal, oa_refusal_body, false, "openai refusal");
	CHECK(r && contains(json_string_value(json_object_get(r, "refusal")), "I cannot help with that.") &&
		  contains(json_string_value(json_object_get(r, "id")), "chatcmpl-1"),
		  "openai refusal pieces joined; an empty id does not stick");
	json_decref(r);

	CHECK(stream_fails("openai", early, true, ENDED), "openai: no [DONE] -> ended before its final event");
	CHECK(stream_fails("openai", failing, false,
					   "the provider returned an error: server_error: The server had an error"),
		  "openai: an error chunk fails the stream");
	CHECK(stream_fails("openai", bad_json, false, "stream event \"message\" is not valid JSON"),
		  "openai: an event that is not JSON");
	CHECK(stream_fails("openai", bad_delta, false, "delta \"content\" is neither a string nor null"),
		  "openai: content not a string");
	CHECK(stream_fails("openai", no_index, false, "has no \"index\""), "openai: tool call fragment without index");
	CHECK(stream_fails("openai", no_id, true, "tool_calls[0] has no id"),
		  "openai: a call without id fails at finish, as in the body");
	CHECK(pa_stream_new("mistral", 0) == NULL, "unknown provider -> NULL");

	/* progress, and what follows [DONE] */
	text = sse_text(oa_text, false, "\n");
	s = pa_stream_new("openai", 0);
	pa_stream_progress(s, &p);
	CHECK(p.events == 0 && p.bytes == 0 && !p.first_token && !p.done, "openai progress: nothing yet");
	pa_stream_feed(s, text, strstr(text, "\" done.\"") - text, NULL);
	pa_stream_progress(s, &p);
	CHECK(p.events == 3 && p.first_token && p.output_chars == 14 && p.output_tokens == 4 &&
		  !p.tokens_reported && p.input_tokens == 0 && !p.done,
		  "openai progress: events, characters (not bytes), estimated tokens");
	pa_stream_feed(s, strstr(text, "\" done.\""), strlen(strstr(text, "\" done.\"")), NULL);
	pa_stream_progress(s, &p);
	CHECK(p.events == 7 && p.done && pa_stream_done(s) && p.tokens_reported && p.output_tokens == 20 &&
		  p.input_tokens == 100 && p.bytes == (long long) strlen(text) && p.output_chars == 20,
		  "openai progress: reported usage, done");
	CHECK(pa_stream_feed(s, "data: {not json\n\n", 17, &err) == 0 && err == NULL,
		  "openai: bytes after [DONE] are ignored");
	r = pa_stream_finish(s, &err);
	CHECK(r != NULL, "openai: finish after trailing bytes");
	json_decref(r);
	r = pa_stream_finish(s, &err);
	CHECK(r != NULL, "openai: finish may be called twice");
	json_decref(r);
	pa_stream_free(s);
	free(text);
}

/* ---------- Anthropic ---------- */

#define AN_START "{'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant','model':'claude-x'," \
	"'content':[],'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':50,'output_tokens':1," \
	"'cache_creation_input_tokens':3,'cache_read_input_tokens':7}}}"
#define AN_DELTA(i, d) "{'type':'content_block_delta','index':" #i ",'delta':" d "}"
#define AN_STOP(i) "{'type':'content_block_stop','index':" #i "}"
#define AN_BODY "{'id':'msg_1','type':'message','role':'assistant','model':'claude-x','stop_sequence':null,"

static const char *const an_think[] = {
	AN_START,
	"{'type':'content_block_start','index':0,'content_block':{'type':'thinking','thinking':'','signature':''}}",
	"{'type':'ping'}",
	AN_DELTA(0, "{'type':'thinking_delta','thinking':'Let me think'}"),
	AN_DELTA(0, "{'type':'thinking_delta','thinking':' about Par\xC3\xADs.'}"),
	AN_DELTA(0, "{'type':'signature_delta','signature':'c2lnbmF0'}"),
	AN_DELTA(0, "{'type':'signature_delta','signature':'dXJl'}"),
	AN_STOP(0),
	"{'type':'content_block_start','index':1,'content_block':{'type':'text','text':'','citations':null}}",
	AN_DELTA(1, "{'type':'text_delta','text':'Looking it up '}"),
	AN_DELTA(1, "{'type':'citations_delta','citation':{'type':'char_location','cited_text':'x'}}"),
	AN_DELTA(1, "{'type':'text_delta','text':'\xE2\x9C\x93.'}"),
	AN_STOP(1),
	"{'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{}}}",
	AN_DELTA(2, "{'type':'input_json_delta','partial_json':''}"),
	AN_DELTA(2, "{'type':'input_json_delta','partial_json':'{\\'city\\': \\'Pa'}"),
	AN_DELTA(2, "{'type':'input_json_delta','partial_json':'ris\\', \\'days\\': [1, 2]}'}"),
	AN_STOP(2),
	"{'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},'usage':{'output_tokens':42}}",
	"{'type':'message_stop'}",
	NULL
};

static const char an_think_body[] =
	AN_BODY "'content':[{'type':'thinking','thinking':'Let me think about Par\xC3\xADs.','signature':'c2lnbmF0dXJl'},"
	"{'type':'text','text':'Looking it up \xE2\x9C\x93.','citations':null},"
	"{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Paris','days':[1,2]}}],"
	"'stop_reason':'tool_use','usage':{'input_tokens':50,'output_tokens':42,'cache_creation_input_tokens':3,"
	"'cache_read_input_tokens':7}}";

/* redacted thinking, a call without arguments, one whose input does not parse */
static const char *const an_redacted[] = {
	"{'type':'ping'}",
	AN_START,
	"{'type':'content_block_start','index':0,'content_block':{'type':'redacted_thinking','data':'UEFSMQ=='}}",
	AN_STOP(0),
	"{'type':'content_block_start','index':1,'content_block':{'type':'tool_use','id':'toolu_1','name':'noop','input':{}}}",
	AN_STOP(1),
	"{'type':'some_future_event','x':1}",
	"{'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':'toolu_2','name':'record','input':{}}}",
	AN_DELTA(2, "{'type':'input_json_delta','partial_json':''}"),
	AN_DELTA(2, "{'type':'input_json_delta','partial_json':'{\\'temp\\': '}"),
	AN_STOP(2),
	"{'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},"
	"'usage':{'input_tokens':null,'output_tokens':9,'cache_read_input_tokens':null}}",
	"{'type':'message_stop'}",
	NULL
};

static const char an_redacted_body[] =
	AN_BODY "'content':[{'type':'redacted_thinking','data':'UEFSMQ=='},"
	"{'type':'tool_use','id':'toolu_1','name':'noop','input':{}},"
	"{'type':'tool_use','id':'toolu_2','name':'record','input':'{\\'temp\\': '}],"
	"'stop_reason':'tool_use','usage':{'input_tokens':50,'output_tokens':9,'cache_creation_input_tokens':3,"
	"'cache_read_input_tokens':7}}";

static const char *const an_refusal[] = {
	AN_START,
	"{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}",
	AN_DELTA(0, "{'type':'text_delta','text':'I will not do that.'}"),
	AN_STOP(0),
	"{'type':'message_delta','delta':{'stop_reason':'refusal'},'usage':{'output_tokens':5}}",
	"{'type':'message_stop'}",
	NULL
};

static const char an_refusal_body[] =
	AN_BODY "'content':[{'type':'text','text':'I will not do that.'}],'stop_reason':'refusal',"
	"'usage':{'input_tokens':50,'output_tokens':5,'cache_creation_input_tokens':3,'cache_read_input_tokens':7}}";

static void
test_anthropic(void)
{
	json_t	   *r;
	PaStream   *s;
	PaStreamProgress p;
	char	   *text;
	const char *cut;
	static const char *const early[] = {AN_START,
		"{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}",
	AN_DELTA(0, "{'type':'text_delta','text':'Hi'}"), AN_STOP(0),
	"{'type':'message_delta','delta':{'stop_reason':'end_turn'},'usage':{'output_tokens':1}}", NULL};
	static const char *const overloaded[] = {AN_START,
		"{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'},'request_id':'req_1'}", NULL};
	static const char *const before_start[] = {
	"{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}", NULL};
	static const char *const wrong_delta[] = {AN_START,
		"{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}",
	AN_DELTA(0, "{'type':'input_json_delta','partial_json':'{}'}"), NULL};
	static const char *const skipped_index[] = {AN_START,
	"{'type':'content_block_start','index':1,'content_block':{'type':'text','text':''}}", NULL};
	static const char *const no_block[] = {AN_START, AN_DELTA(0, "{'type':'text_delta','text':'x'}"), NULL};
	static const char *const no_signature[] = {AN_START,
		"{'type':'content_block_start','index':0,'content_block':{'type':'thinking','thinking':''}}",
	AN_DELTA(0, "{'type':'thinking_delta','thinking':'hm'}"), AN_STOP(0), "{'type':'message_stop'}", NULL};

	r = stream_vs_body("anthropic", an_think, an_think_body, true, "anthropic thinking + signature_delta + tool_use");
	CHECK(same_fx(r, "{'id':'msg_1','model':'claude-x','parts':["
					"{'type':'thinking','thinking':'Let me think about Par\xC3\xADs.','signature':'c2lnbmF0dXJl'},"
					"{'type':'text','text':'Looking it up \xE2\x9C\x93.'},"
					"{'type':'tool_call','id':'toolu_1','name':'get_weather','arguments':{'city':'Paris','days':[1,2]}}],"
					"'stop':'tool_use','usage':{'input_tokens':50,'output_tokens':42,'cached_tokens':7,"
					"'cache_creation_tokens':3,'reasoning_tokens':0}}"), "anthropic thinking: the neutral response");
	json_decref(r);
	r = stream_vs_body("anthropic", an_redacted, an_redacted_body, false, "anthropic redacted_thinking + tool inputs");
	CHECK(r && same_fx(json_array_get(json_object_get(r, "parts"), 0), "{'type':'redacted_thinking','data':'UEFSMQ=='}") &&
		  same_fx(json_object_get(json_array_get(json_object_get(r, "parts"), 1), "arguments"), "{}") &&
		  same_fx(json_object_get(json_array_get(json_object_get(r, "parts"), 2), "arguments_raw"), "'{\\'temp\\': '"),
		  "anthropic: redacted kept, no input delta is {}, bad input reported raw");
	CHECK(r && same_fx(json_object_get(r, "usage"), "{'input_tokens':50,'output_tokens':9,'cached_tokens':7,"
												   "'cache_creation_tokens':3,'reasoning_tokens':0}"),
		  "anthropic: message_delta usage merged over message_start's, nulls skipped");
	json_decref(r);
	r = stream_vs_body("anthropic", an_refusal, an_refusal_body, false, "anthropic refusal");
	CHECK(r && contains(json_string_value(json_object_get(r, "refusal")), "I will not do that."),
		  "anthropic refusal: the text is the refusal");
	json_decref(r);

	CHECK(stream_fails("anthropic", early, true, ENDED), "anthropic: no message_stop -> ended before its final event");
	CHECK(stream_fails("anthropic", overloaded, false,
					   "the provider returned an error: overloaded_error: Overloaded"),
		  "anthropic: an error event fails the stream");
	CHECK(stream_fails("anthropic", before_start, false, "came before message_start"),
		  "anthropic: a block before message_start");
	CHECK(stream_fails("anthropic", wrong_delta, false, "a input_json_delta without its \"partial_json\" string, or for a text block"),
		  "anthropic: a delta that does not fit its block");
	CHECK(stream_fails("anthropic", skipped_index, false, "not the next index (0)"),
		  "anthropic: block indexes go in order");
	CHECK(stream_fails("anthropic", no_block, false, "an index no block has"), "anthropic: a delta without its block");
	CHECK(stream_fails("anthropic", no_signature, true, "thinking block without its required fields"),
		  "anthropic: thinking never signed fails at finish, as in the body");

	text = sse_text(an_think, true, "\n");
	s = pa_stream_new("anthropic", 0);
	cut = strstr(text, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1");
	pa_stream_feed(s, text, cut - text, NULL);
	pa_stream_progress(s, &p);
	CHECK(p.events == 8 && p.first_token && p.thinking_chars == 25 && p.output_chars == 25 &&
		  p.input_tokens == 50 && p.output_tokens == 7 && !p.tokens_reported && !p.done,
		  "anthropic progress: thinking characters, input tokens from message_start, estimate");
	pa_stream_feed(s, cut, strlen(cut), NULL);
	pa_stream_progress(s, &p);
	CHECK(p.done && p.tokens_reported && p.output_tokens == 42 && p.thinking_chars == 25 &&
		  p.output_chars == 25 + 16 + 33, "anthropic progress: reported output tokens, done");
	pa_stream_free(s);
	free(text);

	s = pa_stream_new("anthropic", 64);
	text = sse_text(an_think, true, "\n");
	CHECK(pa_stream_feed(s, text, strlen(text), NULL) == -1, "anthropic: max_event_bytes applies");
	r = pa_stream_finish(s, NULL);
	CHECK(r == NULL, "anthropic: no response from a failed stream");
	pa_stream_free(s);
	free(text);
}

/* ---------- command-line modes (used by stream_check.sh) ---------- */

static char *
read_all(FILE *f, size_t *len)
{
	PaBuf		b = {0};
	char		chunk[65536];
	size_t		k;

	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		pa_buf_putn(&b, chunk, k);
	if (b.oom)
		exit(2);
	*len = b.len;
	return b.data ? b.data : strdup("");
}

static char *
read_path(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *out;

	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	out = read_all(f, len);
	fclose(f);
	return out;
}

static json_t *
parse_body_text(const char *provider, const char *text, size_t len, char **err)
{
	return strcmp(provider, "openai") == 0 ? pa_openai_parse_response(text, len, err) :
		pa_anthropic_parse_response(text, len, err);
}

/* Blank what the server makes afresh for every response. */
static void
normalise(json_t *r)
{
	json_t	   *part;
	size_t		i;

	json_object_del(r, "id");
	json_array_foreach(json_object_get(r, "parts"), i, part)
	{
		if (json_is_string(json_object_get(part, "data")))
			json_object_set_new(part, "data", json_string("(blanked)"));
	}
}

static int
cli(int argc, char **argv)
{
	const char *provider = argv[2];
	size_t		len,
				blen;
	char	   *in,
			   *body = NULL,
			   *err = NULL,
			   *berr = NULL;
	json_t	   *r,
			   *b = NULL;
	int			rc = 0;

	if (strcmp(argv[1], "compare") == 0 && argc > 4)
	{
		in = read_path(argv[3], &len);
		body = read_path(argv[4], &blen);
		r = stream_parse(provider, in, len, argc > 5 ? (size_t) atol(argv[5]) : 0, &err);
		b = parse_body_text(provider, body, blen, &berr);
		if (r == NULL || b == NULL)
			fprintf(stderr, "stream: %s\nbody: %s\n", err ? err : "ok", berr ? berr : "ok");
		else
		{
			normalise(r);
			normalise(b);
			if (!same(r, b))
				rc = 1;
		}
		rc |= r == NULL || b == NULL;
	}
	else
	{
		in = read_all(stdin, &len);
		if (strcmp(argv[1], "stream") == 0)
			r = stream_parse(provider, in, len, argc > 3 ? (size_t) atol(argv[3]) : 0, &err);
		else
			r = parse_body_text(provider, in, len, &err);
		if (r != NULL)
		{
			char	   *out = json_dumps(r, JSON_COMPACT);

			printf("%s\n", out);
			free(out);
		}
		else
		{
			fprintf(stderr, "%s\n", err ? err : "(no errmsg)");
			rc = 1;
		}
	}
	json_decref(r);
	json_decref(b);
	free(err);
	free(berr);
	free(in);
	free(body);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc > 2 && (strcmp(argv[2], "openai") == 0 || strcmp(argv[2], "anthropic") == 0) &&
		(strcmp(argv[1], "stream") == 0 || strcmp(argv[1], "parse") == 0 || strcmp(argv[1], "compare") == 0))
		return cli(argc, argv);
	if (argc > 1)
	{
		fprintf(stderr, "usage: stream_unit [stream|parse openai|anthropic [STEP] | compare openai|anthropic SSE BODY [STEP]]\n");
		return 2;
	}
	test_sse();
	test_openai();
	test_anthropic();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
