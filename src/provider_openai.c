/*
 * provider_openai.c — the neutral conversation (model.h) to and from the
 * OpenAI Chat Completions wire format (POST /v1/chat/completions).
 *
 * Chat Completions differs from the neutral shape in four ways that matter:
 * the system prompt is a message; tool calls carry their arguments as a
 * JSON *string*; every tool result is a message of its own, answering one
 * call, with no error flag; and reasoning is never handed back (thinking
 * parts are dropped, as the API has no field for them). The API rejects
 * unknown top-level arguments, so only fields it names are ever sent.
 */
#include <stdlib.h>
#include <string.h>

#include "json_dump.h"
#include "model_int.h"

/* ---------- request ---------- */

/* {id, type:"function", function:{name, arguments:"<JSON text>"}} */
static json_t *
tool_call_json(json_t *part)
{
	json_t	   *args = json_object_get(part, "arguments");
	char	   *text;
	json_t	   *fn;

	/* a call whose arguments did not parse goes back as the model wrote it */
	if (json_is_object(args))
		text = json_dumps(args, JSON_COMPACT);
	else
		text = strdup(pa_model_str(part, "arguments_raw"));
	if (text == NULL)
		return NULL;
	fn = json_pack("{s:s,s:s}", "name", pa_model_str(part, "name"), "arguments", text);
	free(text);
	if (fn == NULL)
		return NULL;
	return json_pack("{s:s,s:s,s:o}", "id", pa_model_str(part, "id"),
					 "type", "function", "function", fn);
}

/*
 * An assistant message: text parts joined (the model's own output, split
 * only by where other parts fell, so no separator), then the tool calls.
 * A turn with neither (thinking only) has nothing OpenAI can take back.
 */
static int
add_assistant(json_t *out, json_t *msg)
{
	json_t	   *parts = json_object_get(msg, "parts");
	json_t	   *calls = json_array();
	char	   *text = pa_model_join_text(parts, "");
	json_t	   *m = json_object();
	json_t	   *part;
	size_t		i;
	int			bad = calls == NULL || text == NULL || m == NULL;

	json_array_foreach(parts, i, part)
	{
		if (!bad && strcmp(pa_model_str(part, "type"), "tool_call") == 0)
			bad |= pa_model_push(calls, tool_call_json(part));
	}
	if (!bad && text[0] == '\0' && json_array_size(calls) == 0)
	{
		free(text);
		json_decref(calls);
		json_decref(m);
		return 0;
	}
	if (!bad)
	{
		bad |= pa_model_put(m, "role", json_string("assistant"));
		bad |= pa_model_put(m, "content", text[0] ? json_string(text) : json_null());
		/* the API rejects "tool_calls": [] */
		if (json_array_size(calls) > 0)
			bad |= pa_model_put(m, "tool_calls", json_incref(calls));
		bad |= pa_model_push(out, json_incref(m));
	}
	free(text);
	json_decref(calls);
	json_decref(m);
	return bad;
}

/* One "tool" message per result; there is no is_error, so the text says so. */
static int
add_tool_results(json_t *out, json_t *msg)
{
	json_t	   *part;
	size_t		i;
	int			bad = 0;

	json_array_foreach(json_object_get(msg, "parts"), i, part)
	{
		char	   *content = pa_model_tool_result_text(part);
		char	   *text = NULL;

		if (content != NULL)
			text = json_is_true(json_object_get(part, "is_error")) ?
				pa_model_printf("ERROR: %s", content) : strdup(content);
		if (text == NULL)
			bad = 1;
		else
			bad |= pa_model_push(out, json_pack("{s:s,s:s,s:s}", "role", "tool",
												"tool_call_id", pa_model_str(part, "id"),
												"content", text));
		free(content);
		free(text);
	}
	return bad;
}

/* User text parts are separate pieces of prompt: a blank line between. */
static int
add_user(json_t *out, json_t *msg)
{
	json_t	   *text = pa_model_join_text_json(json_object_get(msg, "parts"), "\n\n");
	int			bad = text == NULL;

	if (!bad && json_string_length(text) > 0)
		bad |= pa_model_push(out, json_pack("{s:s,s:O}", "role", "user", "content", text));
	json_decref(text);
	return bad;
}

/* no "strict": the server holds it to rules our schemas need not meet */
static json_t *
tool_json(const char *name, const char *description, json_t *schema)
{
	return json_pack("{s:s,s:{s:s,s:s*,s:o}}", "type", "function", "function",
					 "name", name, "description", description, "parameters", schema);
}

char *
pa_openai_build_request(const PaModelRequest *req, char **errmsg)
{
	json_t	   *body,
			   *messages,
			   *msg;
	size_t		i,
				nsystem;
	int			bad;

	if (!pa_model_check_request(req, errmsg))
		return NULL;
	body = json_object();
	messages = json_array();
	bad = body == NULL || messages == NULL;
	bad |= pa_model_put(body, "model", json_string(req->model));
	if (req->system != NULL && !pa_model_blank(req->system))
		bad |= pa_model_push(messages, json_pack("{s:s,s:o}", "role", "system",
												 "content", pa_json_text(req->system)));
	nsystem = json_array_size(messages);
	json_array_foreach(req->messages, i, msg)
	{
		const char *role = pa_model_str(msg, "role");

		if (bad)
			break;
		if (strcmp(role, "user") == 0)
			bad |= add_user(messages, msg);
		else if (strcmp(role, "assistant") == 0)
			bad |= add_assistant(messages, msg);
		else
			bad |= add_tool_results(messages, msg);
	}
	if (!bad && json_array_size(messages) == nsystem)
	{
		json_decref(body);
		json_decref(messages);
		pa_model_errorf(errmsg, "the conversation has nothing to send");
		return NULL;
	}
	bad |= pa_model_put(body, "messages", messages);

	/* tool_choice and parallel_tool_calls are rejected without tools */
	if (pa_model_has_tools(req))
	{
		bad |= pa_model_put(body, "tools", pa_model_tools(req->tools, tool_json));
		if (req->force_tool != NULL)
			bad |= pa_model_put(body, "tool_choice",
								json_pack("{s:s,s:{s:s}}", "type", "function",
										  "function", "name", req->force_tool));
		else if (req->tool_choice != NULL)
			bad |= pa_model_put(body, "tool_choice", json_string(req->tool_choice));
		bad |= pa_model_put(body, "parallel_tool_calls", json_boolean(req->parallel_tool_calls));
	}
	if (req->max_output_tokens > 0)
		bad |= pa_model_put(body, "max_completion_tokens", json_integer(req->max_output_tokens));
	if (req->reasoning_effort != NULL)
		bad |= pa_model_put(body, "reasoning_effort", json_string(req->reasoning_effort));
	if (req->stream)
	{
		/* without include_usage a stream reports no token counts */
		bad |= pa_model_put(body, "stream", json_true());
		bad |= pa_model_put(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
	}
	return pa_model_dump(body, bad, errmsg);
}

/* ---------- response ---------- */

/* The calls of choices[0].message as neutral parts; false and *errmsg if malformed. */
static bool
parse_tool_calls(json_t *calls, json_t *parts, char **errmsg)
{
	json_t	   *call;
	size_t		i;

	if (calls == NULL || json_is_null(calls))
		return true;
	if (!json_is_array(calls))
	{
		pa_model_errorf(errmsg, "response choices[0].message.tool_calls is not an array");
		return false;
	}
	json_array_foreach(calls, i, call)
	{
		json_t	   *fn = json_object_get(call, "function");
		const char *type = pa_model_str(call, "type");
		const char *id = pa_model_str(call, "id");
		const char *name = pa_model_str(fn, "name");

		if (type != NULL && strcmp(type, "function") != 0)
		{
			pa_model_errorf(errmsg, "response tool_calls[%zu] is of type \"%s\"; only function tools are offered",
							i, type);
			return false;
		}
		if (id == NULL || name == NULL)
		{
			pa_model_errorf(errmsg, "response tool_calls[%zu] has no id or no function.name", i);
			return false;
		}
		if (pa_model_push(parts, pa_model_tool_call(id, name, json_object_get(fn, "arguments"))))
		{
			pa_model_errorf(errmsg, "out of memory while parsing the response");
			return false;
		}
	}
	return true;
}

/*
 * finish_reason to the neutral stop. A forced tool_choice comes back with
 * "stop" although the message holds calls, so calls decide that case.
 */
static const char *
openai_stop(const char *finish, bool has_calls, const char *refusal)
{
	if (refusal != NULL || (finish && strcmp(finish, "content_filter") == 0))
		return "refusal";
	if (finish && strcmp(finish, "length") == 0)
		return "max_tokens";
	if (has_calls || (finish && (strcmp(finish, "tool_calls") == 0 ||
								 strcmp(finish, "function_call") == 0)))
		return "tool_use";
	return "end_turn";
}

json_t *
pa_openai_parse_response(const char *body, size_t len, char **errmsg)
{
	json_t	   *root = pa_model_load(body, len, errmsg);
	json_t	   *resp = root ? pa_openai_parse_root(root, errmsg) : NULL;

	json_decref(root);
	return resp;
}

/*
 * A decoded completion (not consumed) to a neutral response. The stream
 * accumulator (stream_openai.c) rebuilds the same object from the chunks
 * and comes here too, so both paths give the same shape.
 */
json_t *
pa_openai_parse_root(json_t *root, char **errmsg)
{
	json_t	   *choice = json_array_get(json_object_get(root, "choices"), 0);
	json_t	   *msg = json_object_get(choice, "message");
	json_t	   *content = json_object_get(msg, "content");
	json_t	   *refusal_v = json_object_get(msg, "refusal");
	json_t	   *u = json_object_get(root, "usage");
	json_t	   *resp = NULL,
			   *parts;
	const char *refusal;
	const char *stop;

	if (!json_is_object(msg))
	{
		if (!pa_model_body_error(root, errmsg))
			pa_model_errorf(errmsg, "response has no choices[0].message");
		goto fail;
	}
	if ((content && !json_is_string(content) && !json_is_null(content)) ||
		(refusal_v && !json_is_string(refusal_v) && !json_is_null(refusal_v)))
	{
		pa_model_errorf(errmsg, "response choices[0].message.content or .refusal is neither a string nor null");
		goto fail;
	}
	resp = pa_model_response_new(root);
	parts = json_object_get(resp, "parts");
	if (resp == NULL ||
		(json_string_length(content) > 0 &&
		 pa_model_push(parts, json_pack("{s:s,s:O}", "type", "text", "text", content))))
	{
		pa_model_errorf(errmsg, "out of memory while parsing the response");
		goto fail;
	}
	if (!parse_tool_calls(json_object_get(msg, "tool_calls"), parts, errmsg))
		goto fail;
	/* some compatible servers send "refusal": "" for none */
	refusal = json_string_length(refusal_v) > 0 ? json_string_value(refusal_v) : NULL;
	stop = openai_stop(pa_model_str(choice, "finish_reason"),
					   json_array_size(json_object_get(msg, "tool_calls")) > 0, refusal);
	if (refusal == NULL && strcmp(stop, "refusal") == 0)
		refusal = "the response was withheld by the content filter";
	resp = pa_model_finish(resp, stop, refusal,
						   pa_model_usage(pa_model_int(u, "prompt_tokens"),
										  pa_model_int(u, "completion_tokens"),
										  pa_model_int(json_object_get(u, "prompt_tokens_details"), "cached_tokens"),
										  0,
										  pa_model_int(json_object_get(u, "completion_tokens_details"), "reasoning_tokens")));
	if (resp == NULL)
		pa_model_errorf(errmsg, "out of memory while parsing the response");
	return resp;

fail:
	json_decref(resp);
	return NULL;
}

char *
pa_openai_error_message(long status, const char *body, size_t len)
{
	return pa_model_http_error(status, body, len, true);
}
