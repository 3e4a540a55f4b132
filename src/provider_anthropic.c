/*
 * provider_anthropic.c — the neutral conversation (model.h) to and from the
 * Anthropic Messages wire format (POST /v1/messages).
 *
 * Messages is close to the neutral shape, with these rules to respect:
 * - tool results travel in a *user* turn and must come first in it, and
 *   consecutive turns of one role are one turn to the API, so the builder
 *   merges them itself (tool results, then e.g. a reminder text);
 * - thinking and redacted_thinking blocks go back unchanged and in their
 *   place (their signatures are checked), and with thinking on no forcing
 *   tool_choice is accepted;
 * - text blocks must not be empty or white space only, and a final
 *   assistant turn must not end in white space;
 * - every object is closed: an unknown field anywhere is a 400.
 */
#include <stdlib.h>
#include <string.h>

#include "json_dump.h"
#include "model_int.h"

/* max_tokens is required; used when the request leaves it at 0 */
#define PA_ANTHROPIC_DEFAULT_MAX_TOKENS 4096
#define PA_ANTHROPIC_MIN_THINKING_BUDGET 1024

/* ---------- request ---------- */

/* Append block to the last turn when it has this role, else open a turn. */
static int
add_block(json_t *turns, const char *role, json_t *block)
{
	json_t	   *last = json_array_get(turns, json_array_size(turns) - 1);

	if (block == NULL)
		return 1;
	if (last != NULL && strcmp(pa_model_str(last, "role"), role) == 0)
		return pa_model_push(json_object_get(last, "content"), block);
	return pa_model_push(turns, json_pack("{s:s,s:[o]}", "role", role, "content", block));
}

static json_t *
tool_result_block(json_t *part)
{
	char	   *content = pa_model_tool_result_text(part);
	json_t	   *block;

	if (content == NULL)
		return NULL;
	block = json_pack("{s:s,s:s,s:b}", "type", "tool_result",
					  "tool_use_id", pa_model_str(part, "id"),
					  "is_error", json_is_true(json_object_get(part, "is_error")));
	/* content is optional; an empty one is left out rather than sent blank */
	if (block != NULL && content[0] != '\0' &&
		pa_model_put(block, "content", json_string(content)))
	{
		json_decref(block);
		block = NULL;
	}
	free(content);
	return block;
}

/*
 * The block for one neutral part, or NULL with *skip set when the part is
 * not sent (blank text). Thinking blocks are copied field by field: the
 * API rejects any extra member, and the signature covers the text only.
 */
static json_t *
part_block(json_t *part, bool *skip)
{
	const char *type = pa_model_str(part, "type");

	*skip = false;
	if (strcmp(type, "text") == 0)
	{
		*skip = pa_model_blank(pa_model_str(part, "text"));
		return *skip ? NULL : json_pack("{s:s,s:s}", "type", "text",
										"text", pa_model_str(part, "text"));
	}
	if (strcmp(type, "thinking") == 0)
		return json_pack("{s:s,s:s,s:s}", "type", "thinking",
						 "thinking", pa_model_str(part, "thinking"),
						 "signature", pa_model_str(part, "signature"));
	if (strcmp(type, "redacted_thinking") == 0)
		return json_pack("{s:s,s:s}", "type", "redacted_thinking",
						 "data", pa_model_str(part, "data"));
	if (strcmp(type, "tool_call") == 0)
		return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use",
						 "id", pa_model_str(part, "id"),
						 "name", pa_model_str(part, "name"),
						 "input", pa_model_call_arguments(part));
	return tool_result_block(part);
}

/*
 * The API wants tool_result blocks first in a user turn. Merging can put a
 * text first (a user message before the results); a stable partition puts
 * the results ahead without reordering anything else.
 */
static int
results_first(json_t *turn)
{
	json_t	   *content = json_object_get(turn, "content");
	json_t	   *sorted = json_array();
	json_t	   *block;
	size_t		i;
	int			pass,
				bad = sorted == NULL;

	for (pass = 0; pass < 2 && !bad; pass++)
		json_array_foreach(content, i, block)
		{
			bool		result = strcmp(pa_model_str(block, "type"), "tool_result") == 0;

			if (result == (pass == 0))
				bad |= pa_model_push(sorted, json_incref(block));
		}
	bad |= pa_model_put(turn, "content", sorted);
	return bad;
}

/*
 * A final assistant turn (a prefill, or a paused turn sent back to be
 * continued) must not end in white space: trim the last text, dropping
 * blocks and the turn itself when nothing is left.
 */
static int
trim_final_assistant(json_t *turns)
{
	for (;;)
	{
		size_t		n = json_array_size(turns);
		json_t	   *last = json_array_get(turns, n - 1);
		json_t	   *content = json_object_get(last, "content");
		size_t		k = json_array_size(content);
		json_t	   *block = json_array_get(content, k - 1);
		const char *text;
		size_t		len;

		if (last == NULL || strcmp(pa_model_str(last, "role"), "assistant") != 0)
			return 0;
		if (k == 0)
		{
			json_array_remove(turns, n - 1);
			continue;
		}
		if (strcmp(pa_model_str(block, "type"), "text") != 0)
			return 0;
		text = pa_model_str(block, "text");
		len = strlen(text);
		while (len > 0 && strchr(" \t\n\r\f\v", text[len - 1]) != NULL)
			len--;
		if (len > 0)
			return pa_model_put(block, "text", json_stringn(text, len));
		json_array_remove(content, k - 1);
	}
}

static json_t *
build_turns(json_t *messages)
{
	json_t	   *turns = json_array();
	json_t	   *msg,
			   *part,
			   *turn;
	size_t		i,
				j;
	int			bad = turns == NULL;

	json_array_foreach(messages, i, msg)
	{
		const char *role = strcmp(pa_model_str(msg, "role"), "assistant") == 0 ? "assistant" : "user";

		json_array_foreach(json_object_get(msg, "parts"), j, part)
		{
			bool		skip;
			json_t	   *block = bad ? NULL : part_block(part, &skip);

			if (!bad && !skip)
				bad |= add_block(turns, role, block);
		}
	}
	json_array_foreach(turns, i, turn)
	{
		if (!bad && strcmp(pa_model_str(turn, "role"), "user") == 0)
			bad |= results_first(turn);
	}
	if (!bad)
		bad |= trim_final_assistant(turns);
	if (bad)
	{
		json_decref(turns);
		return NULL;
	}
	return turns;
}

static json_t *
tool_json(const char *name, const char *description, json_t *schema)
{
	return json_pack("{s:s,s:s*,s:o}", "name", name, "description", description,
					 "input_schema", schema);
}

/*
 * tool_choice, or NULL for the provider default. With thinking on, the API
 * refuses a forcing choice ("any", "tool"), so "auto" stands in for it and
 * the caller must check that the model did call the tool. Parallel calls
 * are turned off inside tool_choice, which "none" does not allow (nor need).
 */
static json_t *
tool_choice_json(const PaModelRequest *req, int *bad)
{
	const char *type = NULL;
	json_t	   *tc;

	if (req->force_tool != NULL)
		type = req->thinking_budget > 0 ? "auto" : "tool";
	else if (req->tool_choice != NULL && strcmp(req->tool_choice, "required") == 0)
		type = req->thinking_budget > 0 ? "auto" : "any";
	else if (req->tool_choice != NULL)
		type = req->tool_choice;
	if (!req->parallel_tool_calls && type == NULL)
		type = "auto";
	if (type == NULL)
		return NULL;
	tc = json_pack("{s:s}", "type", type);
	*bad |= tc == NULL;
	if (strcmp(type, "none") == 0)
		return tc;
	if (strcmp(type, "tool") == 0)
		*bad |= pa_model_put(tc, "name", json_string(req->force_tool));
	if (!req->parallel_tool_calls)
		*bad |= pa_model_put(tc, "disable_parallel_tool_use", json_true());
	return tc;
}

char *
pa_anthropic_build_request(const PaModelRequest *req, char **errmsg)
{
	json_t	   *body,
			   *turns,
			   *tc;
	long long	max_tokens;
	int			bad;

	if (!pa_model_check_request(req, errmsg))
		return NULL;
	max_tokens = req->max_output_tokens > 0 ? req->max_output_tokens :
		PA_ANTHROPIC_DEFAULT_MAX_TOKENS + (long long) req->thinking_budget;
	if (req->thinking_budget > 0 &&
		(req->thinking_budget < PA_ANTHROPIC_MIN_THINKING_BUDGET || req->thinking_budget >= max_tokens))
	{
		pa_model_errorf(errmsg, "thinking_budget %d must be at least %d and less than max_output_tokens (%lld)",
						req->thinking_budget, PA_ANTHROPIC_MIN_THINKING_BUDGET, max_tokens);
		return NULL;
	}
	turns = build_turns(req->messages);
	if (turns == NULL)
	{
		pa_model_errorf(errmsg, "out of memory while building the request");
		return NULL;
	}
	if (json_array_size(turns) == 0)
	{
		json_decref(turns);
		pa_model_errorf(errmsg, "the conversation has nothing to send");
		return NULL;
	}
	body = json_object();
	bad = body == NULL;
	bad |= pa_model_put(body, "model", json_string(req->model));
	bad |= pa_model_put(body, "max_tokens", json_integer(max_tokens));
	if (req->system != NULL && !pa_model_blank(req->system))
		bad |= pa_model_put(body, "system", pa_json_text(req->system));
	bad |= pa_model_put(body, "messages", turns);
	if (req->thinking_budget > 0)
		bad |= pa_model_put(body, "thinking", json_pack("{s:s,s:i}", "type", "enabled",
														"budget_tokens", req->thinking_budget));
	/* tool_choice without tools is rejected */
	if (pa_model_has_tools(req))
	{
		bad |= pa_model_put(body, "tools", pa_model_tools(req->tools, tool_json));
		tc = tool_choice_json(req, &bad);
		if (tc != NULL)
			bad |= pa_model_put(body, "tool_choice", tc);
	}
	if (req->stream)
		bad |= pa_model_put(body, "stream", json_true());
	return pa_model_dump(body, bad, errmsg);
}

/* ---------- response ---------- */

/*
 * Append the neutral part for one content block. Server-tool blocks and
 * empty text are skipped; false (and *errmsg) for a malformed block.
 */
static bool
parse_block(json_t *block, size_t i, json_t *parts, char **errmsg)
{
	const char *type = pa_model_str(block, "type");
	const char *text = pa_model_str(block, "text");
	const char *thinking = pa_model_str(block, "thinking");
	const char *signature = pa_model_str(block, "signature");
	const char *id = pa_model_str(block, "id");
	const char *name = pa_model_str(block, "name");
	json_t	   *part = NULL;

	if (type == NULL)
	{
		pa_model_errorf(errmsg, "response content[%zu] has no type", i);
		return false;
	}
	if (strcmp(type, "text") == 0 && text != NULL)
	{
		if (text[0] == '\0')
			return true;
		part = json_pack("{s:s,s:s}", "type", "text", "text", text);
	}
	else if (strcmp(type, "thinking") == 0 && thinking != NULL && signature != NULL)
		part = json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", thinking,
						 "signature", signature);
	else if (strcmp(type, "redacted_thinking") == 0 && pa_model_str(block, "data") != NULL)
		part = json_pack("{s:s,s:s}", "type", "redacted_thinking",
						 "data", pa_model_str(block, "data"));
	else if (strcmp(type, "tool_use") == 0 && id != NULL && name != NULL)
		part = pa_model_tool_call(id, name, json_object_get(block, "input"));
	else if (strcmp(type, "text") == 0 || strcmp(type, "thinking") == 0 ||
			 strcmp(type, "redacted_thinking") == 0 || strcmp(type, "tool_use") == 0)
	{
		pa_model_errorf(errmsg, "response content[%zu] is a %s block without its required fields", i, type);
		return false;
	}
	else
		return true;			/* server-tool blocks: we offer no server tools */
	if (pa_model_push(parts, part))
	{
		pa_model_errorf(errmsg, "out of memory while parsing the response");
		return false;
	}
	return true;
}

/* stop_reason to the neutral stop; NULL when it is not a string or null. */
static const char *
anthropic_stop(json_t *reason, bool has_calls)
{
	static const char *const same[] = {"end_turn", "tool_use", "max_tokens", "pause_turn", "refusal"};
	const char *r = json_string_value(reason);
	size_t		i;

	if (reason != NULL && !json_is_null(reason) && r == NULL)
		return NULL;
	for (i = 0; r != NULL && i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(r, same[i]) == 0)
			return same[i];
	if (r != NULL && strcmp(r, "model_context_window_exceeded") == 0)
		return "max_tokens";
	/* stop_sequence, and reasons newer than this code */
	return has_calls ? "tool_use" : "end_turn";
}

json_t *
pa_anthropic_parse_response(const char *body, size_t len, char **errmsg)
{
	json_t	   *root = pa_model_load(body, len, errmsg);
	json_t	   *resp = root ? pa_anthropic_parse_root(root, errmsg) : NULL;

	json_decref(root);
	return resp;
}

/*
 * A decoded message (not consumed) to a neutral response. The stream
 * accumulator (stream_anthropic.c) rebuilds the same object from the
 * events and comes here too, so both paths give the same shape.
 */
json_t *
pa_anthropic_parse_root(json_t *root, char **errmsg)
{
	json_t	   *content = json_object_get(root, "content");
	json_t	   *u = json_object_get(root, "usage");
	json_t	   *resp = NULL,
			   *parts,
			   *block,
			   *part;
	const char *stop;
	char	   *refusal = NULL;
	bool		has_calls = false;
	size_t		i;

	if (!json_is_array(content))
	{
		if (!pa_model_body_error(root, errmsg))
			pa_model_errorf(errmsg, "response has no content array");
		goto fail;
	}
	resp = pa_model_response_new(root);
	if (resp == NULL)
	{
		pa_model_errorf(errmsg, "out of memory while parsing the response");
		goto fail;
	}
	parts = json_object_get(resp, "parts");
	json_array_foreach(content, i, block)
	{
		if (!parse_block(block, i, parts, errmsg))
			goto fail;
	}
	json_array_foreach(parts, i, part)
		has_calls = has_calls || strcmp(pa_model_str(part, "type"), "tool_call") == 0;
	stop = anthropic_stop(json_object_get(root, "stop_reason"), has_calls);
	if (stop == NULL)
	{
		pa_model_errorf(errmsg, "response stop_reason is neither a string nor null");
		goto fail;
	}
	/* the refusal, if any, is what text the model gave with it */
	if (strcmp(stop, "refusal") == 0)
	{
		refusal = pa_model_join_text(parts, "");
		if (refusal != NULL && refusal[0] == '\0')
		{
			free(refusal);
			refusal = strdup("the model declined to respond (stop_reason refusal)");
		}
	}
	resp = pa_model_finish(resp, stop, refusal,
						   pa_model_usage(pa_model_int(u, "input_tokens"),
										  pa_model_int(u, "output_tokens"),
										  pa_model_int(u, "cache_read_input_tokens"),
										  pa_model_int(u, "cache_creation_input_tokens"),
										  0));
	if (resp == NULL || (strcmp(stop, "refusal") == 0 && refusal == NULL))
	{
		pa_model_errorf(errmsg, "out of memory while parsing the response");
		goto fail;
	}
	free(refusal);
	return resp;

fail:
	free(refusal);
	json_decref(resp);
	return NULL;
}

char *
pa_anthropic_error_message(long status, const char *body, size_t len)
{
	return pa_model_http_error(status, body, len, false);
}
