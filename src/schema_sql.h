/*
 * schema_sql.h — JSON Schema inside the server: compiled-schema cache,
 * PostgreSQL's regex engine as the validator's regex hook, SQL functions.
 */
#ifndef PA_SCHEMA_SQL_H
#define PA_SCHEMA_SQL_H

#include "pa_json.h"
#include "jsonschema.h"

/*
 * The compiled form of a jsonb schema, from this backend's cache (compiled
 * on a miss). Raises 42P17 when the schema is not a valid JSON Schema; the
 * message starts with what (e.g. "output \"ticket\"").
 */
extern const PaSchema *pa_schema_for(Jsonb *schema, const char *what);

/*
 * A compiled schema owned by the caller (free with pa_schema_free), for
 * code that holds schemas across calls that may evict cache entries.
 * Raises 42P17 like pa_schema_for.
 */
extern PaSchema *pa_schema_compile_owned(json_t *schema, const char *what);

/* New json array of error objects; empty when valid. */
extern json_t *pa_schema_errors(const PaSchema *schema, json_t *instance);

#endif							/* PA_SCHEMA_SQL_H */
