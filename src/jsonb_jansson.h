/*
 * jsonb_jansson.h — convert between PostgreSQL jsonb and jansson values.
 */
#ifndef PA_JSONB_JANSSON_H
#define PA_JSONB_JANSSON_H

#include "pa_json.h"

/* New reference; numbers become integers when integral and in int64 range. */
extern json_t *pa_jsonb_to_json(Jsonb *jb);
/* text in the server encoding -> a JSON string (UTF-8) */
extern json_t *pa_text_to_json(const char *s, int len);
/* palloc'd jsonb of a jansson value (any type, including scalars). */
extern Jsonb *pa_json_to_jsonb(json_t *value);

extern char *pa_take_string(char *s);
extern char *pa_take_json(json_t *value);

#endif							/* PA_JSONB_JANSSON_H */
