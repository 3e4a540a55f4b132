/*
 * model_int.h — helpers shared by the two provider translators
 * (provider_openai.c, provider_anthropic.c), defined in model.c, and the
 * translators' entry points for a decoded body, which the stream
 * accumulators (stream_openai.c, stream_anthropic.c) use too. Not for use
 * outside them: the step machine speaks only model.h and stream.h.
 *
 * Building: the translators assemble the body with pa_model_put/push,
 * which return 1 on failure (jansson steals the value either way), OR the
 * results into one flag and hand it to pa_model_dump, which turns the
 * whole tree into text or into a single "out of memory" sentence. Every
 * string in the request was checked for UTF-8 by pa_model_check_request
 * first, so a NULL from json_string() can only mean out of memory.
 */
#ifndef PA_MODEL_INT_H
#define PA_MODEL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Longest provider error sentence we pass on, in bytes (plus "..."). */
#define PA_MODEL_MAX_ERROR_TEXT 1000
/* Body excerpt in "HTTP 502: <excerpt>" when the body is not an error. */
#define PA_MODEL_EXCERPT_BYTES 200

/* Makes one provider tool definition; schema is consumed. */
typedef json_t *(*PaToolFn) (const char *name, const char *description, json_t *schema);

/* Error sentences */
extern char *pa_model_printf(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void pa_model_errorf(char **errmsg, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Building */
extern bool pa_model_check_request(const PaModelRequest *req, char **errmsg);
extern int	pa_model_put(json_t *obj, const char *key, json_t *value);
extern int	pa_model_push(json_t *arr, json_t *value);
extern char *pa_model_dump(json_t *body, int bad, char **errmsg);
extern const char *pa_model_str(json_t *obj, const char *key);
extern bool pa_model_blank(const char *s);
extern char *pa_model_join_text(json_t *parts, const char *sep);
extern json_t *pa_model_join_text_json(json_t *parts, const char *sep);
extern json_t *pa_model_tool_schema(json_t *tool);
extern json_t *pa_model_tools(json_t *tools, PaToolFn one);
extern char *pa_model_tool_result_text(json_t *part);
extern json_t *pa_model_call_arguments(json_t *part);
extern bool pa_model_has_tools(const PaModelRequest *req);

/* Parsing */
extern json_t *pa_model_load(const char *body, size_t len, char **errmsg);
extern json_t *pa_model_response_new(json_t *root);
extern json_t *pa_model_tool_call(const char *id, const char *name, json_t *value);
extern json_t *pa_model_usage(long long input, long long output, long long cached,
							  long long cache_creation, long long reasoning);
extern json_t *pa_model_finish(json_t *resp, const char *stop, const char *refusal, json_t *usage);
extern long long pa_model_int(json_t *obj, const char *key);
extern bool pa_model_body_error(json_t *root, char **errmsg);

/*
 * A decoded 2xx body (not consumed) to a neutral response, or NULL and
 * *errmsg. pa_*_parse_response load the body and come here; the stream
 * accumulators rebuild the body from the events and come here too.
 */
extern json_t *pa_openai_parse_root(json_t *root, char **errmsg);
extern json_t *pa_anthropic_parse_root(json_t *root, char **errmsg);

/* Error messages from non-2xx responses (both wire formats put "error" on top) */
extern char *pa_model_http_error(long status, const char *body, size_t len, bool prefer_code);

#endif							/* PA_MODEL_INT_H */
