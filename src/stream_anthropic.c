/*
 * stream_anthropic.c — the accumulator for a streamed Messages response
 * ("stream": true).
 *
 * The events: message_start (the message with empty content, input usage),
 * then per content block content_block_start (the block with empty text,
 * thinking and signature, or an empty tool input; a redacted_thinking
 * block comes whole), content_block_delta (text_delta, thinking_delta,
 * signature_delta, input_json_delta: pieces of the tool input's JSON text,
 * valid only once concatenated), content_block_stop; then message_delta
 * (stop_reason, final usage) and message_stop. ping comes any time, and an
 * "error" event ends a failed stream. Unknown events and delta types are
 * skipped, as the API documents that new ones may appear.
 *
 * As for OpenAI, the accumulator rebuilds the message the non-streamed API
 * would have returned and hands it to pa_anthropic_parse_root.
 */
#include <stdlib.h>
#include <string.h>

#include "model_int.h"
#include "pa_buf.h"
#include "stream.h"

typedef struct AnBlock
{
	json_t	   *block;			/* as content_block_start gave it */
	const char *field;			/* the member the deltas grow: "text",
								 * "thinking", "input", or NULL */
	PaBuf		grown;			/* that member: its start value, then the
								 * deltas (for "input", the JSON text) */
	PaBuf		signature;
	bool		has_signature;
} AnBlock;

typedef struct AnAcc
{
	json_t	   *message;		/* message_start's message; NULL before */
	json_t	   *usage;			/* its usage, updated by message_delta */
	json_t	   *stop_reason;	/* from message_delta; NULL until then */
	AnBlock    *blocks;			/* by index */
	size_t		nblocks;
	size_t		capblocks;
} AnAcc;

static void *
an_create(void)
{
	return calloc(1, sizeof(AnAcc));
}

static void
an_destroy(void *p)
{
	AnAcc	   *acc = p;
	size_t		i;

	for (i = 0; i < acc->nblocks; i++)
	{
		json_decref(acc->blocks[i].block);
		free(acc->blocks[i].grown.data);
		free(acc->blocks[i].signature.data);
	}
	free(acc->blocks);
	json_decref(acc->message);
	json_decref(acc->usage);
	json_decref(acc->stop_reason);
	free(acc);
}

/* Copy the numbers of from into the usage object; null means "not known". */
static int
merge_usage(AnAcc *acc, json_t *from, PaStreamProgress *p)
{
	const char *key;
	json_t	   *v;
	int			bad = 0;

	json_object_foreach(from, key, v)
	{
		if (json_is_number(v))
			bad |= json_object_set(acc->usage, key, v) != 0;
	}
	p->input_tokens = pa_model_int(acc->usage, "input_tokens");
	return bad;
}

static int
message_start(AnAcc *acc, json_t *root, PaStreamProgress *p, char **errmsg)
{
	json_t	   *msg = json_object_get(root, "message");

	if (acc->message != NULL || !json_is_object(msg))
	{
		pa_model_errorf(errmsg, acc->message ? "the stream has a second message_start" :
						"stream event message_start has no \"message\" object");
		return -1;
	}
	acc->message = json_incref(msg);
	acc->usage = json_object();
	if (acc->usage == NULL || merge_usage(acc, json_object_get(msg, "usage"), p))
	{
		pa_model_errorf(errmsg, "out of memory while reading the stream");
		return -1;
	}
	return 0;
}

static int
block_oom(const AnBlock *b, char **errmsg)
{
	if (!b->grown.oom && !b->signature.oom)
		return 0;
	pa_model_errorf(errmsg, "out of memory while reading the stream");
	return -1;
}

static int
block_start(AnAcc *acc, json_t *root, PaStreamProgress *p, char **errmsg)
{
	json_t	   *block = json_object_get(root, "content_block");
	json_t	   *index = json_object_get(root, "index");
	const char *type = pa_model_str(block, "type");
	AnBlock    *b;

	if (!json_is_object(block) || type == NULL || !json_is_integer(index) ||
		json_integer_value(index) != (json_int_t) acc->nblocks)
	{
		pa_model_errorf(errmsg, "stream event content_block_start has no block, or not the next index (%zu)",
						acc->nblocks);
		return -1;
	}
	b = pa_stream_grow(acc->blocks, &acc->capblocks, acc->nblocks, sizeof(AnBlock));
	if (b == NULL)
	{
		pa_model_errorf(errmsg, "out of memory while reading the stream");
		return -1;
	}
	acc->blocks = b;
	b = &acc->blocks[acc->nblocks++];
	memset(b, 0, sizeof(AnBlock));
	b->block = json_incref(block);
	if (json_object_get(block, "input") != NULL)
		b->field = "input";		/* tool_use, and server tools' blocks */
	else if (strcmp(type, "text") == 0 || strcmp(type, "thinking") == 0)
	{
		b->field = strcmp(type, "text") == 0 ? "text" : "thinking";
		pa_buf_puts(&b->grown, pa_model_str(block, b->field) ? pa_model_str(block, b->field) : "");
	}
	if (pa_model_str(block, "signature") != NULL)
	{
		pa_buf_puts(&b->signature, pa_model_str(block, "signature"));
		b->has_signature = true;
	}
	/* a call or a redacted block is output before any delta */
	if (b->field == NULL || strcmp(b->field, "input") == 0)
		p->first_token = true;
	return block_oom(b, errmsg);
}

/*
 * What each delta type grows: the member of the delta that carries the
 * piece, and the block member it belongs to ("signature" is separate).
 */
static const struct
{
	const char *type;
	const char *piece;
	const char *field;
}			delta_kinds[] = {
	{"text_delta", "text", "text"},
	{"thinking_delta", "thinking", "thinking"},
	{"input_json_delta", "partial_json", "input"},
	{"signature_delta", "signature", "thinking"},
};

static int
block_delta(AnAcc *acc, json_t *root, PaStreamProgress *p, char **errmsg)
{
	json_t	   *index = json_object_get(root, "index");
	json_t	   *delta = json_object_get(root, "delta");
	const char *type = pa_model_str(delta, "type");
	json_t	   *piece;
	AnBlock    *b;
	size_t		k;

	if (!json_is_integer(index) || json_integer_value(index) < 0 ||
		(size_t) json_integer_value(index) >= acc->nblocks || type == NULL)
	{
		pa_model_errorf(errmsg, "stream event content_block_delta has no delta type, or an index no block has");
		return -1;
	}
	b = &acc->blocks[json_integer_value(index)];
	for (k = 0; k < sizeof(delta_kinds) / sizeof(delta_kinds[0]); k++)
		if (strcmp(type, delta_kinds[k].type) == 0)
			break;
	if (k == sizeof(delta_kinds) / sizeof(delta_kinds[0]))
		return 0;				/* citations_delta, and newer kinds */
	piece = json_object_get(delta, delta_kinds[k].piece);
	if (!json_is_string(piece) || b->field == NULL || strcmp(b->field, delta_kinds[k].field) != 0)
	{
		pa_model_errorf(errmsg, "stream event content_block_delta: a %s without its \"%s\" string, or for a %s block",
						type, delta_kinds[k].piece, pa_model_str(b->block, "type"));
		return -1;
	}
	if (strcmp(type, "signature_delta") == 0)
	{
		pa_buf_putn(&b->signature, json_string_value(piece), json_string_length(piece));
		b->has_signature = true;
	}
	else
	{
		pa_buf_putn(&b->grown, json_string_value(piece), json_string_length(piece));
		pa_stream_count(p, json_string_value(piece), json_string_length(piece),
						strcmp(type, "thinking_delta") == 0);
	}
	return block_oom(b, errmsg);
}

static int
message_delta(AnAcc *acc, json_t *root, PaStreamProgress *p, char **errmsg)
{
	json_t	   *delta = json_object_get(root, "delta");
	json_t	   *usage = json_object_get(root, "usage");

	if (json_object_get(delta, "stop_reason") != NULL)
	{
		json_decref(acc->stop_reason);
		acc->stop_reason = json_incref(json_object_get(delta, "stop_reason"));
	}
	if (merge_usage(acc, usage, p))
	{
		pa_model_errorf(errmsg, "out of memory while reading the stream");
		return -1;
	}
	/* the count is cumulative: message_start's is a placeholder */
	if (json_is_number(json_object_get(usage, "output_tokens")))
	{
		p->output_tokens = pa_model_int(usage, "output_tokens");
		p->tokens_reported = true;
	}
	return 0;
}

static int
an_dispatch(AnAcc *acc, const char *type, json_t *root, PaStreamProgress *p, char **errmsg)
{
	if (strcmp(type, "error") == 0)
	{
		if (!pa_model_body_error(root, errmsg))
			pa_model_errorf(errmsg, "the provider sent an error event without a message");
		return -1;
	}
	if (strcmp(type, "ping") == 0)
		return 0;
	if (strcmp(type, "message_start") == 0)
		return message_start(acc, root, p, errmsg);
	if (acc->message == NULL)
	{
		pa_model_errorf(errmsg, "stream event %s came before message_start", type);
		return -1;
	}
	if (strcmp(type, "content_block_start") == 0)
		return block_start(acc, root, p, errmsg);
	if (strcmp(type, "content_block_delta") == 0)
		return block_delta(acc, root, p, errmsg);
	if (strcmp(type, "content_block_stop") == 0)
	{
		json_t	   *index = json_object_get(root, "index");

		if (json_is_integer(index) && json_integer_value(index) >= 0 &&
			(size_t) json_integer_value(index) < acc->nblocks)
			return 0;
		pa_model_errorf(errmsg, "stream event content_block_stop has an index no block has");
		return -1;
	}
	if (strcmp(type, "message_delta") == 0)
		return message_delta(acc, root, p, errmsg);
	if (strcmp(type, "message_stop") == 0)
		p->done = true;
	return 0;
}

static int
an_event(void *p, const char *event, const char *data, size_t len,
		 PaStreamProgress *progress, char **errmsg)
{
	AnAcc	   *acc = p;
	json_t	   *root = pa_stream_event_json(event, data, len, errmsg);
	const char *type;
	int			rc;

	if (root == NULL)
		return -1;
	/* the data names its type; the SSE event name is the same word */
	type = pa_model_str(root, "type");
	rc = an_dispatch(acc, type ? type : event, root, progress, errmsg);
	json_decref(root);
	return rc;
}

/*
 * A block as the non-streamed message carries it. Tool input is the JSON
 * text parsed; when it does not parse it stays a string, which the parser
 * reports through arguments_error / arguments_raw, as it does for a
 * malformed input in a non-streamed body. No delta at all leaves the
 * start's input ({}).
 */
static json_t *
block_json(const AnBlock *b)
{
	json_t	   *out = json_copy(b->block);
	json_t	   *v = NULL;
	int			bad = out == NULL;

	if (b->field != NULL && strcmp(b->field, "input") == 0)
	{
		if (b->grown.len > 0)
		{
			v = json_loadb(b->grown.data, b->grown.len, JSON_DECODE_ANY, NULL);
			if (v == NULL)
				v = json_stringn(b->grown.data, b->grown.len);
			bad |= pa_model_put(out, "input", v);
		}
	}
	else if (b->field != NULL)
		bad |= pa_model_put(out, b->field, json_stringn(b->grown.data ? b->grown.data : "",
														b->grown.len));
	if (b->has_signature)
		bad |= pa_model_put(out, "signature",
							json_stringn(b->signature.data ? b->signature.data : "",
										 b->signature.len));
	if (bad)
	{
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *
an_finish(void *p, char **errmsg)
{
	AnAcc	   *acc = p;
	json_t	   *root = json_copy(acc->message);
	json_t	   *content = json_array();
	json_t	   *resp = NULL;
	size_t		i;
	int			bad = root == NULL || content == NULL;

	for (i = 0; i < acc->nblocks && !bad; i++)
		bad |= pa_model_push(content, block_json(&acc->blocks[i]));
	bad |= pa_model_put(root, "content", json_incref(content));
	if (acc->stop_reason != NULL)
		bad |= pa_model_put(root, "stop_reason", json_incref(acc->stop_reason));
	bad |= pa_model_put(root, "usage", json_incref(acc->usage));
	if (bad)
		pa_model_errorf(errmsg, "out of memory while reading the stream");
	else
		resp = pa_anthropic_parse_root(root, errmsg);
	json_decref(content);
	json_decref(root);
	return resp;
}

const PaStreamOps pa_stream_anthropic_ops = {
	an_create, an_event, an_finish, an_destroy
};
