/*
 * pa_json.h — the only way this project includes jansson.
 *
 * PostgreSQL's executable exports a SQL-callable C function named
 * json_object(PG_FUNCTION_ARGS), and jansson exports json_object(void).
 * When this library is loaded into the server, a direct call of
 * json_object() binds to the server's symbol and the backend crashes.
 * Every file therefore includes this header instead of <jansson.h>, and
 * new objects are made through pa_json_object_new(), which never names
 * the clashing symbol.
 *
 * Include order in server files: "pg_prelude.h" first, then this header.
 * This header has no server dependency, so plain-C cores (validator,
 * provider translators, renderer) can be built and fuzzed outside the
 * server.
 */
#ifndef PA_JSON_H
#define PA_JSON_H

#include <jansson.h>

static inline json_t *
pa_json_object_new(void)
{
	return json_pack("{}");
}

/* Any later json_object() call in our code becomes the safe constructor. */
#define json_object() pa_json_object_new()

#endif							/* PA_JSON_H */
