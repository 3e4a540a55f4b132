/*
 * stream_openai.c — the accumulator for a streamed Chat Completion
 * ("stream": true): "chat.completion.chunk" objects, one per event, then
 * "data: [DONE]".
 *
 * Each chunk carries a delta of choices[0]: pieces of content and refusal
 * to concatenate, and tool_calls fragments keyed by "index" (the first
 * fragment of a call brings its id, type and name, the later ones pieces
 * of its arguments string; calls may interleave). finish_reason comes on
 * the last content chunk; with stream_options.include_usage a last chunk
 * with "choices": [] brings the usage. An error midway arrives as
 * data: {"error": {...}}.
 *
 * Rather than building the neutral response itself, the accumulator
 * rebuilds the message the non-streamed API would have returned and hands
 * it to pa_openai_parse_root, so the two paths cannot drift apart.
 */
#include <stdlib.h>
#include <string.h>

#include "model_int.h"
#include "pa_buf.h"
#include "stream.h"

typedef struct OaCall
{
	json_int_t	index;
	char	   *id;
	char	   *type;
	char	   *name;
	PaBuf		args;			/* the arguments string, pieced together */
} OaCall;

typedef struct OaAcc
{
	json_t	   *head;			/* "id" and "model", from the first chunk
								 * that has them */
	PaBuf		content;
	PaBuf		refusal;
	bool		has_refusal;
	json_t	   *finish_reason;
	json_t	   *usage;
	OaCall	   *calls;			/* in order of first appearance */
	size_t		ncalls;
	size_t		capcalls;
} OaAcc;

static void *
oa_create(void)
{
	OaAcc	   *acc = calloc(1, sizeof(OaAcc));

	if (acc != NULL && (acc->head = json_object()) == NULL)
	{
		free(acc);
		return NULL;
	}
	return acc;
}

static void
oa_destroy(void *p)
{
	OaAcc	   *acc = p;
	size_t		i;

	for (i = 0; i < acc->ncalls; i++)
	{
		free(acc->calls[i].id);
		free(acc->calls[i].type);
		free(acc->calls[i].name);
		free(acc->calls[i].args.data);
	}
	free(acc->calls);
	free(acc->content.data);
	free(acc->refusal.data);
	json_decref(acc->head);
	json_decref(acc->finish_reason);
	json_decref(acc->usage);
	free(acc);
}

/*
 * Append the string member key of obj (a delta piece) to buf. Absent and
 * null add nothing; anything else is malformed. *seen is set when it was a
 * string (may be NULL).
 */
static int
append_piece(json_t *obj, const char *key, PaBuf *buf, bool *seen,
			 PaStreamProgress *p, char **errmsg)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
	{
		pa_model_errorf(errmsg, "stream chunk delta \"%s\" is neither a string nor null", key);
		return -1;
	}
	pa_buf_putn(buf, json_string_value(v), json_string_length(v));
	pa_stream_count(p, json_string_value(v), json_string_length(v), false);
	if (seen != NULL)
		*seen = true;
	return 0;
}

/*
 * Keep the first non-empty value of a call's id, type or name. OpenAI
 * sends each whole in the call's first fragment; some compatible servers
 * repeat them in later fragments, which must not be concatenated.
 */
static bool
keep_first(char **slot, const char *value)
{
	if (*slot != NULL || value == NULL || value[0] == '\0')
		return true;
	*slot = strdup(value);
	return *slot != NULL;
}

static OaCall *
find_call(OaAcc *acc, json_int_t index, PaStreamProgress *p)
{
	size_t		i;
	OaCall	   *calls,
			   *call;

	for (i = 0; i < acc->ncalls; i++)
		if (acc->calls[i].index == index)
			return &acc->calls[i];
	calls = pa_stream_grow(acc->calls, &acc->capcalls, acc->ncalls, sizeof(OaCall));
	if (calls == NULL)
		return NULL;
	acc->calls = calls;
	call = &acc->calls[acc->ncalls++];
	memset(call, 0, sizeof(OaCall));
	call->index = index;
	/* a call opening is output, even before its arguments come */
	p->first_token = true;
	return call;
}

static int
call_fragment(OaAcc *acc, json_t *frag, PaStreamProgress *p, char **errmsg)
{
	json_t	   *index = json_object_get(frag, "index");
	json_t	   *fn = json_object_get(frag, "function");
	OaCall	   *call;

	if (!json_is_integer(index) || json_integer_value(index) < 0)
	{
		pa_model_errorf(errmsg, "stream chunk tool_calls fragment has no \"index\"");
		return -1;
	}
	call = find_call(acc, json_integer_value(index), p);
	if (call == NULL ||
		!keep_first(&call->id, pa_model_str(frag, "id")) ||
		!keep_first(&call->type, pa_model_str(frag, "type")) ||
		!keep_first(&call->name, pa_model_str(fn, "name")))
	{
		pa_model_errorf(errmsg, "out of memory while reading the stream");
		return -1;
	}
	return append_piece(fn, "arguments", &call->args, NULL, p, errmsg);
}

/* The delta of choices[0]. */
static int
choice_delta(OaAcc *acc, json_t *choice, PaStreamProgress *p, char **errmsg)
{
	json_t	   *delta = json_object_get(choice, "delta");
	json_t	   *finish = json_object_get(choice, "finish_reason");
	json_t	   *calls = json_object_get(delta, "tool_calls");
	json_t	   *frag;
	size_t		i;

	if (json_is_string(finish))
	{
		json_decref(acc->finish_reason);
		acc->finish_reason = json_incref(finish);
	}
	if (append_piece(delta, "content", &acc->content, NULL, p, errmsg) != 0 ||
		append_piece(delta, "refusal", &acc->refusal, &acc->has_refusal, p, errmsg) != 0)
		return -1;
	if (calls != NULL && !json_is_null(calls) && !json_is_array(calls))
	{
		pa_model_errorf(errmsg, "stream chunk delta \"tool_calls\" is not an array");
		return -1;
	}
	json_array_foreach(calls, i, frag)
	{
		if (call_fragment(acc, frag, p, errmsg) != 0)
			return -1;
	}
	return 0;
}

/*
 * Keep the first non-empty "id" or "model" of the chunks (Azure opens with
 * a content-filter chunk whose id and model are empty).
 */
static int
keep_head(OaAcc *acc, json_t *root, const char *key)
{
	const char *v = pa_model_str(root, key);

	if (pa_model_str(acc->head, key) != NULL || v == NULL || v[0] == '\0')
		return 0;
	return pa_model_put(acc->head, key, json_string(v));
}

static int
oa_chunk(OaAcc *acc, json_t *root, PaStreamProgress *p, char **errmsg)
{
	json_t	   *choices = json_object_get(root, "choices");
	json_t	   *usage = json_object_get(root, "usage");
	json_t	   *choice;
	size_t		i;
	int			bad = 0;

	bad |= keep_head(acc, root, "id");
	bad |= keep_head(acc, root, "model");
	if (json_is_object(usage))
	{
		json_decref(acc->usage);
		acc->usage = json_incref(usage);
		p->input_tokens = pa_model_int(usage, "prompt_tokens");
		p->output_tokens = pa_model_int(usage, "completion_tokens");
		p->tokens_reported = true;
	}
	if (choices != NULL && !json_is_array(choices))
	{
		pa_model_errorf(errmsg, "stream chunk \"choices\" is not an array");
		return -1;
	}
	/* only one choice is asked for; another index is not ours */
	json_array_foreach(choices, i, choice)
	{
		json_t	   *index = json_object_get(choice, "index");

		if ((index == NULL || json_integer_value(index) == 0) &&
			choice_delta(acc, choice, p, errmsg) != 0)
			return -1;
	}
	if (bad || acc->content.oom || acc->refusal.oom)
	{
		pa_model_errorf(errmsg, "out of memory while reading the stream");
		return -1;
	}
	return 0;
}

static int
oa_event(void *p, const char *event, const char *data, size_t len,
		 PaStreamProgress *progress, char **errmsg)
{
	json_t	   *root;
	int			rc;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
	{
		progress->done = true;
		return 0;
	}
	root = pa_stream_event_json(event, data, len, errmsg);
	if (root == NULL)
		return -1;
	if (pa_model_body_error(root, errmsg))
		rc = -1;
	else
		rc = oa_chunk(p, root, progress, errmsg);
	json_decref(root);
	return rc;
}

static int
by_index(const void *a, const void *b)
{
	json_int_t	x = ((const OaCall *) a)->index;
	json_int_t	y = ((const OaCall *) b)->index;

	return x < y ? -1 : x > y;
}

/* A call as the non-streamed message carries it; what is missing stays out. */
static json_t *
call_json(const OaCall *call)
{
	json_t	   *fn = json_pack("{s:s%}", "arguments",
							   call->args.data ? call->args.data : "", call->args.len);
	json_t	   *out = json_object();
	int			bad = fn == NULL || out == NULL || call->args.oom;

	if (call->name != NULL)
		bad |= pa_model_put(fn, "name", json_string(call->name));
	if (call->id != NULL)
		bad |= pa_model_put(out, "id", json_string(call->id));
	if (call->type != NULL)
		bad |= pa_model_put(out, "type", json_string(call->type));
	bad |= pa_model_put(out, "function", fn);
	if (bad)
	{
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *
oa_finish(void *p, char **errmsg)
{
	OaAcc	   *acc = p;
	json_t	   *root = json_copy(acc->head);
	json_t	   *msg = json_object();
	json_t	   *calls = json_array();
	json_t	   *resp = NULL;
	size_t		i;
	int			bad = root == NULL || msg == NULL || calls == NULL;

	/* the API lists the calls by index, however their fragments came */
	if (acc->ncalls > 1)
		qsort(acc->calls, acc->ncalls, sizeof(OaCall), by_index);
	for (i = 0; i < acc->ncalls && !bad; i++)
		bad |= pa_model_push(calls, call_json(&acc->calls[i]));
	bad |= pa_model_put(msg, "role", json_string("assistant"));
	bad |= pa_model_put(msg, "content", acc->content.len > 0 ?
						json_stringn(acc->content.data, acc->content.len) : json_null());
	bad |= pa_model_put(msg, "refusal", acc->has_refusal ?
						json_stringn(acc->refusal.data ? acc->refusal.data : "",
									 acc->refusal.len) : json_null());
	if (json_array_size(calls) > 0)
		bad |= pa_model_put(msg, "tool_calls", json_incref(calls));
	bad |= pa_model_put(root, "choices",
						json_pack("[{s:i,s:O,s:O}]", "index", 0, "message", msg,
								  "finish_reason", acc->finish_reason ? acc->finish_reason : json_null()));
	if (acc->usage != NULL)
		bad |= pa_model_put(root, "usage", json_incref(acc->usage));
	if (bad)
		pa_model_errorf(errmsg, "out of memory while reading the stream");
	else
		resp = pa_openai_parse_root(root, errmsg);
	json_decref(calls);
	json_decref(msg);
	json_decref(root);
	return resp;
}

const PaStreamOps pa_stream_openai_ops = {
	oa_create, oa_event, oa_finish, oa_destroy
};
