/*
 * schema_example.h — a deterministic example instance of a JSON Schema.
 *
 * The `test` provider kind answers with these: an agent's outputs and its
 * tools' arguments, built from their schemas, so that a user's own CI can
 * run agent definitions, triggers, result tables and the SQL over them
 * without a model. Plain C over jansson, no server headers.
 *
 * What it produces, first rule that applies:
 *   const; enum (its first value); examples (the first); default;
 *   $ref within the document ("#", "#/$defs/x", any JSON pointer);
 *   allOf merged into one schema; anyOf/oneOf: its first branch merged
 *   with the rest of the schema; then by type (the first non-null type
 *   listed; untyped: an object): an object with every property (from 4
 *   levels of nesting down, the required ones only, so that a recursive
 *   schema's example stays small; required ones without a property schema
 *   as strings) and
 *   minProperties met when additionalProperties allows; an array of
 *   max(minItems, 1) items (fewer if maxItems says so), prefixItems first,
 *   distinct items under uniqueItems, an item for "contains" first; a
 *   string by format (date-time, date, time, email, uri, uuid, hostname,
 *   ipv4, ipv6, duration) or "example", padded or cut to
 *   minLength/maxLength; numbers at the lower bound, or 1, rounded up to
 *   multipleOf; true; null.
 *
 * Not synthesised: strings for "pattern" (give the schema an "examples"
 * entry), "not", if/then/else, dependentSchemas. The caller validates the
 * instance as usual; a mismatch is an ordinary validation error.
 */
#ifndef PA_SCHEMA_EXAMPLE_H
#define PA_SCHEMA_EXAMPLE_H

#include "pa_json.h"

/* A new reference, or NULL when out of memory. schema is not retained. */
extern json_t *pa_schema_example(json_t *schema);

#endif							/* PA_SCHEMA_EXAMPLE_H */
