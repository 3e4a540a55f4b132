/*
 * jsonschema.h — JSON Schema (draft 2020-12) compiler and validator over
 * jansson.  Plain C, no server headers.
 *
 * Scope: the core, applicator and validation vocabularies of 2020-12,
 * without $dynamicRef, unevaluatedItems/unevaluatedProperties, remote
 * $ref and $vocabulary.  "format" and the content keywords are
 * annotations.  $ref resolves JSON pointers (percent-decoded, ~0/~1),
 * $anchor, and $id-identified resources embedded in the same document
 * (any URI scheme), with relative references resolved against $id.
 *
 * Schemas are compiled once: keywords are parsed into structs, patterns
 * compiled through the caller's regex hooks, and references resolved to
 * pointers.  A compiled schema is read-only, so one may be shared by any
 * number of concurrent validations.
 *
 * Memory is malloc'd; nothing here calls back into the caller except the
 * regex hooks.  Hooks must not longjmp out (e.g. via ereport): that
 * would leak the validator's working memory.
 */
#ifndef PA_JSONSCHEMA_H
#define PA_JSONSCHEMA_H

#include <stddef.h>

#include "pa_json.h"

/*
 * Deepest nesting of schema evaluation (and of values compared by
 * const/enum/uniqueItems) before validation gives up with an error rather
 * than risk the stack.
 */
#define PA_SCHEMA_MAX_DEPTH 512

typedef struct PaRegexHooks
{
	/* compile: return an opaque handle or NULL and set *errmsg (malloc'd) */
	void	   *(*compile) (const char *ecma_pattern, char **errmsg, void *arg);
	/* match (search semantics, like ECMA RegExp.test — unanchored): 1 match, 0 no match, -1 error */
	int			(*match) (void *handle, const char *subject, size_t len, void *arg);
	void		(*release) (void *handle, void *arg);
	void	   *arg;
} PaRegexHooks;

/* opaque compiled schema, reusable, read-only after compile */
typedef struct PaSchema PaSchema;

/*
 * Compile "schema" (not retained: values needed later are referenced).
 * "hooks" may be NULL, and then a schema using pattern or
 * patternProperties is refused.  The hooks struct is copied.
 *
 * On failure returns NULL and *errmsg (malloc'd) names the problem with a
 * JSON pointer into the schema, e.g. "/properties/age/minimum: must be a
 * number".
 */
extern PaSchema *pa_schema_compile(json_t *schema, const PaRegexHooks *hooks,
								   char **errmsg);

/*
 * Validate.  Returns a new json array (caller decrefs) of error objects
 * {"path", "keyword", "schema_path", "message"}: path is an RFC 6901 JSON
 * pointer into the instance ("" for the root), schema_path one into the
 * schema document.  An empty array means valid.  max_errors > 0 stops
 * collecting after that many (0 = unlimited).  Returns NULL only on out of
 * memory, a regex hook error, or nesting beyond PA_SCHEMA_MAX_DEPTH (then
 * *errmsg is set, malloc'd).
 */
extern json_t *pa_schema_validate(const PaSchema *schema, json_t *instance,
								  int max_errors, char **errmsg);

/* Fast path: 1 valid, 0 invalid, -1 error (then *errmsg is set, malloc'd) */
extern int	pa_schema_is_valid(const PaSchema *schema, json_t *instance,
							   char **errmsg);

extern void pa_schema_free(PaSchema *schema);

/*
 * The value a JSON pointer fragment ("" or "/a/b", percent-encoded, with
 * ~0/~1 escapes) points at in doc, or NULL. Not a reference to doc.
 */
extern json_t *pa_json_fragment_get(json_t *doc, const char *fragment);

#endif							/* PA_JSONSCHEMA_H */
