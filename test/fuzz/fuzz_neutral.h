/*
 * fuzz_neutral.h — checks shared by the provider and stream fuzz targets
 * (header-only: each target is one translation unit).
 *
 * A neutral response (model.h) goes straight to the step machine
 * (src/agent.c), which reads it without checking types: it strcmp()s each
 * part's "type", prints tool names with %s, and appends the text of text
 * parts. So beyond the sanitizers, every response a parser accepts is
 * checked against the shape model.h promises (fuzz_check_neutral aborts
 * on a violation), and is then sent back the way the loop does: as the
 * assistant turn of the next request, answered by one tool result per
 * call, through both request builders.
 */
#ifndef FUZZ_NEUTRAL_H
#define FUZZ_NEUTRAL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void
fuzz_violation(const char *what, json_t *resp)
{
	char	   *dump = json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY);

	fprintf(stderr, "neutral response breaks model.h: %s\n%s\n", what, dump ? dump : "?");
	free(dump);
	abort();
}

static int
fuzz_is_one_of(const char *s, const char *const *set)
{
	for (; s != NULL && *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

#define STR(obj, key) json_is_string(json_object_get((obj), (key)))

static void
fuzz_check_part(json_t *part, json_t *resp)
{
	const char *type = json_string_value(json_object_get(part, "type"));

	if (type == NULL)
		fuzz_violation("a part without a string type", resp);
	if (strcmp(type, "text") == 0)
	{
		if (!STR(part, "text"))
			fuzz_violation("text part without text", resp);
	}
	else if (strcmp(type, "thinking") == 0)
	{
		if (!STR(part, "thinking") || !STR(part, "signature"))
			fuzz_violation("thinking part without thinking or signature", resp);
	}
	else if (strcmp(type, "redacted_thinking") == 0)
	{
		if (!STR(part, "data"))
			fuzz_violation("redacted_thinking part without data", resp);
	}
	else if (strcmp(type, "tool_call") == 0)
	{
		int			has_args = json_is_object(json_object_get(part, "arguments"));
		int			has_error = STR(part, "arguments_error") && STR(part, "arguments_raw");

		if (!STR(part, "id") || !STR(part, "name"))
			fuzz_violation("tool_call without a string id and name", resp);
		if (has_args == has_error)
			fuzz_violation("tool_call needs either arguments or arguments_error + arguments_raw", resp);
	}
	else
		fuzz_violation("unknown part type", resp);
}

static void
fuzz_check_neutral(json_t *resp)
{
	static const char *const stops[] = {"end_turn", "tool_use", "max_tokens", "refusal",
	"pause_turn", NULL};
	static const char *const counts[] = {"input_tokens", "output_tokens", "cached_tokens",
	"cache_creation_tokens", "reasoning_tokens", NULL};
	json_t	   *parts = json_object_get(resp, "parts");
	json_t	   *usage = json_object_get(resp, "usage");
	json_t	   *part;
	size_t		i;
	const char *stop = json_string_value(json_object_get(resp, "stop"));
	PaUsage		u;

	if (!json_is_object(resp) || !json_is_array(parts))
		fuzz_violation("no parts array", resp);
	if (!fuzz_is_one_of(stop, stops))
		fuzz_violation("stop is not one of model.h's", resp);
	if (strcmp(stop, "refusal") == 0 && !STR(resp, "refusal"))
		fuzz_violation("refusal without its sentence", resp);
	for (i = 0; counts[i] != NULL; i++)
		if (!json_is_integer(json_object_get(usage, counts[i])))
			fuzz_violation("usage count missing", resp);
	json_array_foreach(parts, i, part)
		fuzz_check_part(part, resp);
	pa_usage_from_response(resp, &u);
}

/* The next request of the loop: this response as the assistant turn. */
static void
fuzz_send_back(json_t *resp)
{
	json_t	   *parts = json_object_get(resp, "parts");
	json_t	   *results = json_array();
	json_t	   *tools = json_array();
	json_t	   *messages;
	json_t	   *part;
	size_t		i;
	PaModelRequest req;
	char	   *body;
	char	   *err = NULL;

	json_array_foreach(parts, i, part)
	{
		const char *type = json_string_value(json_object_get(part, "type"));

		if (strcmp(type, "tool_call") != 0)
			continue;
		json_array_append_new(results,
							  json_pack("{s:s,s:O,s:s,s:b}", "type", "tool_result",
										"id", json_object_get(part, "id"),
										"content", "done", "is_error", (int) (i % 2)));
		json_array_append_new(tools,
							  json_pack("{s:O,s:s,s:{s:s}}", "name", json_object_get(part, "name"),
										"description", "a tool", "parameters", "type", "object"));
	}
	messages = json_pack("[{s:s,s:[{s:s,s:s}]},{s:s,s:O}]",
						 "role", "user", "parts", "type", "text", "text", "Go on.",
						 "role", "assistant", "parts", parts);
	if (messages != NULL && json_array_size(results) > 0)
		json_array_append_new(messages, json_pack("{s:s,s:O}", "role", "tool", "parts", results));

	memset(&req, 0, sizeof(req));
	req.model = "m";
	req.system = "Be brief.";
	req.messages = messages;
	req.tools = tools;
	req.max_output_tokens = 2048;
	body = pa_openai_build_request(&req, &err);
	free(body);
	free(err);
	err = NULL;
	/* thinking on: Anthropic then keeps thinking parts, and checks them */
	req.thinking_budget = 1024;
	body = pa_anthropic_build_request(&req, &err);
	free(body);
	free(err);

	json_decref(messages);
	json_decref(results);
	json_decref(tools);
}

#undef STR

/*
 * One provider's response target: the input, a response body as the HTTP
 * layer hands it over (counted, not NUL-terminated), goes to the
 * provider's parser as a 2xx body and to its error reader as the body of
 * an error status; an accepted response is checked against model.h's
 * shape and sent back through the request builders.
 */
static inline int
fuzz_response(json_t *(*parse) (const char *, size_t, char **),
			  char *(*error_message) (long, const char *, size_t),
			  const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	char	   *err = NULL;
	json_t	   *resp = parse(body, size, &err);

	if (resp != NULL)
	{
		fuzz_check_neutral(resp);
		fuzz_send_back(resp);
		json_decref(resp);
	}
	free(err);
	free(error_message(400 + (long) (size % 200), body, size));
	return 0;
}

#endif							/* FUZZ_NEUTRAL_H */
