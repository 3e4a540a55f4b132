/*
 * json_dump.h — compact JSON text of a jansson value (json_dump.c).
 */
#ifndef PA_JSON_DUMP_H
#define PA_JSON_DUMP_H

#include "pa_json.h"

/*
 * What json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) returns, byte for
 * byte; malloc'd (free()); NULL when out of memory or value is NULL.
 */
extern char *pa_json_dump(json_t *value);

#endif							/* PA_JSON_DUMP_H */
