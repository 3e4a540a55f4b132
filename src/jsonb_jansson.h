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
/*
 * A column's value (int2/4/8, bool, timestamptz as to_jsonb writes it,
 * jsonb; anything else through its text form); a row as an object of its
 * columns (NULL: JSON null). New references.
 */
extern json_t *pa_datum_to_json(Datum d, Oid type);
/* A value as its type's output function writes it (palloc'd). */
extern char *pa_datum_out(Datum d, Oid type);
extern json_t *pa_row_to_json(const Datum *values, const bool *nulls, TupleDesc desc);
/* palloc'd jsonb of a jansson value (any type, including scalars). */
extern Jsonb *pa_json_to_jsonb(json_t *value);

extern char *pa_take_string(char *s);
extern char *pa_take_json(json_t *value);

#endif							/* PA_JSONB_JANSSON_H */
