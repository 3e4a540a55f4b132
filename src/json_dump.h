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

/*
 * What json_stringn(s, n) / json_string(s) return (NULL for bytes that are
 * not valid UTF-8), with a faster check: for long texts.
 */
extern json_t *pa_json_text_n(const char *s, size_t n);
extern json_t *pa_json_text(const char *s);

/* Length of the valid UTF-8 sequence at s (at most n bytes, n >= 1), or 0. */
extern size_t pa_utf8_seq_len(const unsigned char *s, size_t n);

#endif							/* PA_JSON_DUMP_H */
