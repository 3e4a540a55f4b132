/*
 * model.h — the provider-neutral shape of a conversation with a model.
 *
 * The step machine speaks only this shape; provider_openai.c and
 * provider_anthropic.c translate it to and from their wire formats. Plain C
 * over jansson (through pa_json.h): no server headers, so the translators
 * are unit-tested, fuzzed and sanitised outside the server.
 *
 * Neutral messages (json objects, in an array):
 *   {"role": "user",      "parts": [{"type": "text", "text": "..."}]}
 *   {"role": "assistant", "parts": [
 *        {"type": "thinking", "thinking": "...", "signature": "..."},
 *        {"type": "redacted_thinking", "data": "..."},
 *        {"type": "text", "text": "..."},
 *        {"type": "tool_call", "id": "...", "name": "...", "arguments": {...}}]}
 *   {"role": "tool",      "parts": [
 *        {"type": "tool_result", "id": "...", "content": "...", "is_error": false}]}
 * Thinking parts are kept exactly as received (Anthropic checks their
 * signatures) and sent back in the same assistant turn.
 *
 * Neutral tools (array): {"name", "description", "parameters": <JSON Schema>}
 *
 * Neutral response (object), from a parser:
 *   {"id": "...", "model": "...",
 *    "parts": [ ...assistant parts as above... ],
 *    "stop": "end_turn" | "tool_use" | "max_tokens" | "refusal" | "pause_turn",
 *    "refusal": "..." (when the model refused),
 *    "usage": {"input_tokens", "output_tokens", "cached_tokens",
 *              "cache_creation_tokens", "reasoning_tokens"}}
 * A tool_call whose arguments were not valid JSON (OpenAI sends a string)
 * carries "arguments_error": "<why>" and "arguments_raw": "<the string>"
 * instead of "arguments", so the loop can hand the error back to the model.
 */
#ifndef PA_MODEL_H
#define PA_MODEL_H

#include <stdbool.h>

#include "pa_json.h"

typedef struct PaModelRequest
{
	const char *model;
	const char *system;			/* system prompt, or NULL */
	json_t	   *messages;		/* neutral messages */
	json_t	   *tools;			/* neutral tools, or NULL/empty */
	const char *tool_choice;	/* "auto", "required", "none", or NULL (= provider default) */
	const char *force_tool;		/* a tool name the model must call, or NULL */
	bool		parallel_tool_calls;
	int			max_output_tokens;
	int			thinking_budget;	/* Anthropic budget_tokens; 0 = thinking off */
	const char *reasoning_effort;	/* OpenAI; NULL = not sent */
	bool		stream;			/* reserved for streaming (SSE) */
} PaModelRequest;

/* Usage of one call, and of a run (sums). */
typedef struct PaUsage
{
	long long	input_tokens;
	long long	output_tokens;
	long long	cached_tokens;
	long long	cache_creation_tokens;
	long long	reasoning_tokens;
} PaUsage;

/*
 * Each provider exports the same four functions. Every returned string is
 * malloc'd (caller frees); on failure NULL is returned and *errmsg is a
 * malloc'd sentence naming what was wrong (never containing credentials).
 */

/* Request body (JSON text) for the wire format. */
extern char *pa_openai_build_request(const PaModelRequest *req, char **errmsg);
extern char *pa_anthropic_build_request(const PaModelRequest *req, char **errmsg);

/* Parse a 2xx body into a neutral response (new reference). */
extern json_t *pa_openai_parse_response(const char *body, size_t len, char **errmsg);
extern json_t *pa_anthropic_parse_response(const char *body, size_t len, char **errmsg);

/*
 * A readable sentence from a non-2xx response: "<status> <type>: <message>"
 * from the provider's error body when it has one, else a short excerpt of
 * the body. Never NULL.
 */
extern char *pa_openai_error_message(long status, const char *body, size_t len);
extern char *pa_anthropic_error_message(long status, const char *body, size_t len);

/*
 * The `test` provider kind (provider_test.c): a neutral response built from
 * the request alone, without HTTP — outputs and, with call_tools, the
 * agent's own tools' arguments generated from their schemas. New reference,
 * or NULL and *errmsg when out of memory.
 */
extern json_t *pa_test_respond(const PaModelRequest *req, bool call_tools, char **errmsg);

/* Fill a PaUsage from a neutral response's "usage" object. */
extern void pa_usage_from_response(json_t *response, PaUsage *usage);

#endif							/* PA_MODEL_H */
