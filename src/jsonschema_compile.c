/*
 * jsonschema_compile.c — turn a JSON Schema document into PaNode structs.
 *
 * After the scan pass (jsonschema_resolve.c) has located every schema,
 * resource and anchor, each schema becomes one node: every keyword's value
 * is checked and parsed, patterns are compiled through the hooks and each
 * $ref is resolved to its target's node.  Nodes are memoized by the
 * jansson object they come from and registered before their keywords are
 * compiled, so a recursive reference simply points back at a node under
 * construction.
 *
 * Last, references that loop without descending into the instance
 * ({"$ref": "#"} at the root, two $defs referring to each other) are
 * refused: evaluating them could never terminate.
 */
#include "jsonschema_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Base URI of a document without $id; only its shape matters. */
#define DEFAULT_BASE "pa:/schema.json"

static PaNode *
new_node(PaCompileCtx *c, const char *path, int boolean)
{
	PaNode	   *n = calloc(1, sizeof(PaNode));

	if (n == NULL || (n->path = strdup(path)) == NULL)
	{
		free(n);
		pa_compile_oom(c);
		return NULL;
	}
	n->boolean = boolean;
	n->min_length = n->max_length = -1;
	n->min_items = n->max_items = -1;
	n->min_properties = n->max_properties = -1;
	n->min_contains = n->max_contains = -1;
	n->next_alloc = c->schema->nodes;
	c->schema->nodes = n;
	return n;
}

/* ---------- keyword value checks ---------- */

static int
get_count(PaCompileCtx *c, PaNode *n, json_t *j, const char *kw, long long *out)
{
	json_t	   *v = json_object_get(j, kw);

	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		*out = (long long) json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) >= 0 &&
			 json_real_value(v) == floor(json_real_value(v)) &&
			 json_real_value(v) < 9.2e18)
		*out = (long long) json_real_value(v);
	else
	{
		pa_compile_error(c, n->path, kw, "must be a non-negative integer");
		return -1;
	}
	return 0;
}

static int
get_number(PaCompileCtx *c, PaNode *n, json_t *j, const char *kw,
		   unsigned flag, PaNum *out)
{
	json_t	   *v = json_object_get(j, kw);

	if (v == NULL)
		return 0;
	if (!json_is_number(v))
	{
		pa_compile_error(c, n->path, kw, "must be a number");
		return -1;
	}
	pa_num_from_json(v, out);
	n->keys |= flag;
	return 0;
}

/* An array of distinct strings, copied; "where" names it for errors. */
static int
get_string_array(PaCompileCtx *c, const char *where, json_t *v,
				 char ***out, int *nout)
{
	size_t		i,
				k;

	if (!json_is_array(v))
	{
		pa_compile_error(c, where, NULL, "must be an array of strings");
		return -1;
	}
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (*out == NULL)
	{
		pa_compile_oom(c);
		return -1;
	}
	for (i = 0; i < json_array_size(v); i++)
	{
		json_t	   *s = json_array_get(v, i);

		if (!json_is_string(s))
		{
			pa_compile_error(c, where, NULL, "must be an array of strings");
			return -1;
		}
		for (k = 0; k < i; k++)
			if (strcmp((*out)[k], json_string_value(s)) == 0)
			{
				pa_compile_error(c, where, NULL, "must not contain \"%s\" twice",
								 json_string_value(s));
				return -1;
			}
		if (((*out)[i] = strdup(json_string_value(s))) == NULL)
		{
			pa_compile_oom(c);
			return -1;
		}
		(*nout)++;
	}
	return 0;
}

static void *
compile_regex(PaCompileCtx *c, const char *pattern, const char *path,
			  const char *kw)
{
	char	   *msg = NULL;
	void	   *re;

	if (!c->schema->have_hooks)
	{
		pa_compile_error(c, path, kw, "regular expressions are not available here");
		return NULL;
	}
	re = c->schema->hooks.compile(pattern, &msg, c->schema->hooks.arg);
	if (re == NULL)
		pa_compile_error(c, path, kw, "invalid regular expression \"%s\": %s",
						 pattern, msg ? msg : "unknown error");
	free(msg);
	return re;
}

/* compile one subschema at path/kw[/key or /idx] */
static PaNode *
sub(PaCompileCtx *c, PaNode *n, json_t *v, const char *base, const char *kw,
	const char *key, int idx, int depth)
{
	char	   *p = pa_child_path(c, n->path, kw, key, idx);
	PaNode	   *s;

	if (p == NULL)
		return NULL;
	s = pa_compile_schema(c, v, base, p, depth + 1);
	free(p);
	return s;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const PaNamedNode *) a)->name, ((const PaNamedNode *) b)->name);
}

/* ---------- the keywords ---------- */

static int
compile_types(PaCompileCtx *c, PaNode *n, json_t *v)
{
	static const char *const names[] = {
		"null", "boolean", "object", "array", "number", "string", "integer"
	};
	size_t		i,
				count = json_is_array(v) ? json_array_size(v) : 1;
	int			k;

	if (json_is_array(v) && count == 0)
	{
		pa_compile_error(c, n->path, "type", "must not be an empty array");
		return -1;
	}
	for (i = 0; i < count; i++)
	{
		json_t	   *t = json_is_array(v) ? json_array_get(v, i) : v;

		if (!json_is_string(t))
		{
			pa_compile_error(c, n->path, "type", "must be a type name or an array of type names");
			return -1;
		}
		for (k = 0; k < 7; k++)
			if (strcmp(json_string_value(t), names[k]) == 0)
				break;
		if (k == 7)
		{
			pa_compile_error(c, n->path, "type", "unknown type \"%s\" (expected null, boolean, object, array, number, string or integer)",
							 json_string_value(t));
			return -1;
		}
		if (n->types & (1u << k))
		{
			pa_compile_error(c, n->path, "type", "must not list \"%s\" twice", names[k]);
			return -1;
		}
		n->types |= 1u << k;
	}
	return 0;
}

/* keywords whose value is an object of schemas */
static int
compile_maps(PaCompileCtx *c, PaNode *n, json_t *j, const char *base, int depth)
{
	static const char *const kws[] = {
		"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"
	};
	int			k;

	for (k = 0; k < 5; k++)
	{
		json_t	   *m = json_object_get(j, kws[k]);
		const char *key;
		json_t	   *v;
		PaNamedNode *named = NULL;
		int			nn = 0;

		if (m == NULL)
			continue;
		if (!json_is_object(m))
		{
			pa_compile_error(c, n->path, kws[k], "must be an object whose values are schemas");
			return -1;
		}
		if (k == 0 || k == 2)
		{
			named = calloc(json_object_size(m) + 1, sizeof(PaNamedNode));
			if (named == NULL)
			{
				pa_compile_oom(c);
				return -1;
			}
			if (k == 0)
				n->properties = named;
			else
				n->dep_schemas = named;
		}
		else if (k == 1)
		{
			n->pattern_props = calloc(json_object_size(m) + 1, sizeof(PaPatternNode));
			if (n->pattern_props == NULL)
			{
				pa_compile_oom(c);
				return -1;
			}
		}
		json_object_foreach(m, key, v)
		{
			PaNode	   *s = sub(c, n, v, base, kws[k], key, -1, depth);

			if (s == NULL)
				return -1;
			if (named)
			{
				if ((named[nn].name = strdup(key)) == NULL)
				{
					pa_compile_oom(c);
					return -1;
				}
				named[nn++].node = s;
				if (k == 0)
					n->nproperties = nn;
				else
					n->ndep_schemas = nn;
			}
			else if (k == 1)
			{
				PaPatternNode *pp = &n->pattern_props[n->npattern_props];
				char	   *where = pa_child_path(c, n->path, kws[k], key, -1);

				if (where == NULL)
					return -1;
				pp->node = s;
				pp->pattern = strdup(key);
				if (pp->pattern)
					pp->re = compile_regex(c, key, where, NULL);
				free(where);
				n->npattern_props++;
				if (pp->pattern == NULL)
					pa_compile_oom(c);
				if (pp->re == NULL)
					return -1;
			}
		}
	}
	if (n->nproperties > 1)
		qsort(n->properties, (size_t) n->nproperties, sizeof(PaNamedNode), name_cmp);
	return 0;
}

/* keywords whose value is one schema, or a non-empty array of schemas */
static int
compile_applicators(PaCompileCtx *c, PaNode *n, json_t *j, const char *base,
					int depth)
{
	static const char *const one[] = {
		"items", "additionalProperties", "propertyNames", "contains", "not",
		"if", "then", "else", "contentSchema"
	};
	static const char *const many[] = {"prefixItems", "allOf", "anyOf", "oneOf"};
	PaNode	  **one_dst[9];
	PaNode	   *content = NULL;
	PaNode	 ***many_dst[4];
	int		   *many_n[4];
	int			k;
	size_t		i;

	one_dst[0] = &n->items;
	one_dst[1] = &n->additional_properties;
	one_dst[2] = &n->property_names;
	one_dst[3] = &n->contains;
	one_dst[4] = &n->not_schema;
	one_dst[5] = &n->if_schema;
	one_dst[6] = &n->then_schema;
	one_dst[7] = &n->else_schema;
	one_dst[8] = &content;		/* an annotation: checked, then unused */
	many_dst[0] = &n->prefix_items;
	many_n[0] = &n->nprefix_items;
	many_dst[1] = &n->all_of;
	many_n[1] = &n->nall_of;
	many_dst[2] = &n->any_of;
	many_n[2] = &n->nany_of;
	many_dst[3] = &n->one_of;
	many_n[3] = &n->none_of;

	for (k = 0; k < 9; k++)
	{
		json_t	   *v = json_object_get(j, one[k]);

		if (v == NULL)
			continue;
		if (k == 0 && json_is_array(v))
		{
			pa_compile_error(c, n->path, "items", "must be a schema (since draft 2020-12 an array of schemas is written \"prefixItems\")");
			return -1;
		}
		if ((*one_dst[k] = sub(c, n, v, base, one[k], NULL, -1, depth)) == NULL)
			return -1;
	}
	for (k = 0; k < 4; k++)
	{
		json_t	   *v = json_object_get(j, many[k]);

		if (v == NULL)
			continue;
		if (!json_is_array(v) || json_array_size(v) == 0)
		{
			pa_compile_error(c, n->path, many[k], "must be a non-empty array of schemas");
			return -1;
		}
		if ((*many_dst[k] = calloc(json_array_size(v), sizeof(PaNode *))) == NULL)
		{
			pa_compile_oom(c);
			return -1;
		}
		for (i = 0; i < json_array_size(v); i++)
		{
			PaNode	   *s = sub(c, n, json_array_get(v, i), base, many[k], NULL, (int) i, depth);

			if (s == NULL)
				return -1;
			(*many_dst[k])[(*many_n[k])++] = s;
		}
	}
	return 0;
}

static int
compile_dependent_required(PaCompileCtx *c, PaNode *n, json_t *v)
{
	const char *key;
	json_t	   *arr;

	if (!json_is_object(v))
	{
		pa_compile_error(c, n->path, "dependentRequired", "must be an object whose values are arrays of strings");
		return -1;
	}
	n->dep_required = calloc(json_object_size(v) + 1, sizeof(PaDepRequired));
	if (n->dep_required == NULL)
	{
		pa_compile_oom(c);
		return -1;
	}
	json_object_foreach(v, key, arr)
	{
		PaDepRequired *d = &n->dep_required[n->ndep_required++];
		char	   *where = pa_child_path(c, n->path, "dependentRequired", key, -1);
		int			rc;

		if (where == NULL)
			return -1;
		d->name = strdup(key);
		rc = get_string_array(c, where, arr, &d->props, &d->nprops);
		free(where);
		if (d->name == NULL)
			pa_compile_oom(c);
		if (rc < 0 || d->name == NULL)
			return -1;
	}
	return 0;
}

/* keywords that are annotations or identifiers: only their types matter */
static int
check_annotations(PaCompileCtx *c, PaNode *n, json_t *j)
{
	static const char *const unsupported[] = {
		"$dynamicRef", "unevaluatedItems", "unevaluatedProperties"
	};
	static const char *const strings[] = {
		"$schema", "$id", "$ref", "$comment", "title", "description", "format",
		"contentEncoding", "contentMediaType", "pattern"
	};
	static const char *const booleans[] = {
		"deprecated", "readOnly", "writeOnly", "uniqueItems"
	};
	json_t	   *v;
	int			k;

	for (k = 0; k < 3; k++)
		if (json_object_get(j, unsupported[k]))
		{
			pa_compile_error(c, n->path, unsupported[k], "is not supported by this validator");
			return -1;
		}
	for (k = 0; k < 10; k++)
		if ((v = json_object_get(j, strings[k])) && !json_is_string(v))
		{
			pa_compile_error(c, n->path, strings[k], "must be a string");
			return -1;
		}
	for (k = 0; k < 4; k++)
		if ((v = json_object_get(j, booleans[k])) && !json_is_boolean(v))
		{
			pa_compile_error(c, n->path, booleans[k], "must be a boolean");
			return -1;
		}
	for (k = 0; k < 2; k++)
	{
		const char *kw = k == 0 ? "$anchor" : "$dynamicAnchor";

		if ((v = json_object_get(j, kw)) &&
			(!json_is_string(v) || !pa_valid_anchor(json_string_value(v))))
		{
			pa_compile_error(c, n->path, kw, "must be a name matching ^[A-Za-z_][-A-Za-z0-9._]*$");
			return -1;
		}
	}
	if ((v = json_object_get(j, "examples")) && !json_is_array(v))
	{
		pa_compile_error(c, n->path, "examples", "must be an array");
		return -1;
	}
	if ((v = json_object_get(j, "$vocabulary")) && !json_is_object(v))
	{
		pa_compile_error(c, n->path, "$vocabulary", "must be an object");
		return -1;
	}
	return 0;
}

static int
compile_keywords(PaCompileCtx *c, PaNode *n, json_t *j, const char *base, int depth)
{
	static const char *const counts[] = {
		"minLength", "maxLength", "minItems", "maxItems", "minProperties",
		"maxProperties", "minContains", "maxContains"
	};
	long long  *count_dst[8];
	json_t	   *v;
	int			k;

	count_dst[0] = &n->min_length;
	count_dst[1] = &n->max_length;
	count_dst[2] = &n->min_items;
	count_dst[3] = &n->max_items;
	count_dst[4] = &n->min_properties;
	count_dst[5] = &n->max_properties;
	count_dst[6] = &n->min_contains;
	count_dst[7] = &n->max_contains;

	if (check_annotations(c, n, j) < 0)
		return -1;
	if ((v = json_object_get(j, "type")) && compile_types(c, n, v) < 0)
		return -1;
	if ((v = json_object_get(j, "enum")) != NULL)
	{
		if (!json_is_array(v))
		{
			pa_compile_error(c, n->path, "enum", "must be an array");
			return -1;
		}
		n->enum_values = json_incref(v);
	}
	if ((v = json_object_get(j, "const")) != NULL)
		n->const_value = json_incref(v);
	if (get_number(c, n, j, "minimum", PA_K_MINIMUM, &n->minimum) < 0 ||
		get_number(c, n, j, "maximum", PA_K_MAXIMUM, &n->maximum) < 0 ||
		get_number(c, n, j, "exclusiveMinimum", PA_K_EXCL_MINIMUM, &n->excl_minimum) < 0 ||
		get_number(c, n, j, "exclusiveMaximum", PA_K_EXCL_MAXIMUM, &n->excl_maximum) < 0 ||
		get_number(c, n, j, "multipleOf", PA_K_MULTIPLE_OF, &n->multiple_of) < 0)
		return -1;
	if ((n->keys & PA_K_MULTIPLE_OF) && !(n->multiple_of.is_int ?
										  n->multiple_of.i > 0 : n->multiple_of.d > 0))
	{
		pa_compile_error(c, n->path, "multipleOf", "must be greater than 0");
		return -1;
	}
	for (k = 0; k < 8; k++)
		if (get_count(c, n, j, counts[k], count_dst[k]) < 0)
			return -1;
	if (json_is_true(json_object_get(j, "uniqueItems")))
		n->keys |= PA_K_UNIQUE_ITEMS;
	if ((v = json_object_get(j, "pattern")) != NULL)
	{
		if ((n->pattern = strdup(json_string_value(v))) == NULL)
		{
			pa_compile_oom(c);
			return -1;
		}
		if ((n->pattern_re = compile_regex(c, n->pattern, n->path, "pattern")) == NULL)
			return -1;
	}
	if ((v = json_object_get(j, "required")) != NULL)
	{
		char	   *where = pa_child_path(c, n->path, "required", NULL, -1);
		int			rc;

		if (where == NULL)
			return -1;
		rc = get_string_array(c, where, v, &n->required, &n->nrequired);
		free(where);
		if (rc < 0)
			return -1;
	}
	if ((v = json_object_get(j, "dependentRequired")) &&
		compile_dependent_required(c, n, v) < 0)
		return -1;
	if (compile_applicators(c, n, j, base, depth) < 0 ||
		compile_maps(c, n, j, base, depth) < 0)
		return -1;
	if ((v = json_object_get(j, "$ref")) != NULL)
	{
		if ((n->ref_text = strdup(json_string_value(v))) == NULL)
		{
			pa_compile_oom(c);
			return -1;
		}
		/* 2020-12: $id in the same object is the base of this $ref */
		if ((n->ref = pa_resolve_ref(c, n->ref_text, base, n->path, depth)) == NULL)
			return -1;
	}
	return 0;
}

/*
 * Compile schema j found at "path" under base URI "base" (both used only
 * when the scan did not see j: a $ref into an unusual place).
 */
PaNode *
pa_compile_schema(PaCompileCtx *c, json_t *j, const char *base,
				  const char *path, int depth)
{
	PaSeenSchema *s;
	PaNode	   *n;

	if (depth > PA_SCHEMA_MAX_DEPTH)
	{
		pa_compile_error(c, path, NULL, "schema nested too deeply");
		return NULL;
	}
	/* jansson's true and false are singletons: never memoize them */
	if (json_is_boolean(j))
		return new_node(c, path, json_is_true(j));
	if (!json_is_object(j))
	{
		pa_compile_error(c, path, NULL, "must be a schema (an object or a boolean)");
		return NULL;
	}
	s = pa_seen_get(c, j);
	if (s && s->node)
		return s->node;
	if (s == NULL)
	{
		/* a $ref into a place the scan does not visit: scan it from here */
		char	   *p = strdup(path);

		if (p == NULL)
		{
			pa_compile_oom(c);
			return NULL;
		}
		if (pa_scan_schema(c, j, base, p, depth) < 0)
			return NULL;
		s = pa_seen_get(c, j);
	}
	if ((n = new_node(c, s->path, -1)) == NULL)
		return NULL;
	s->node = n;
	if (compile_keywords(c, n, j, s->base, depth) < 0)
		return NULL;
	return n;
}

/* ---------- loops that never consume input ---------- */

/*
 * Depth-first over the edges that apply a schema to the same instance
 * ($ref and the in-place applicators).  A back edge is a loop that would
 * recurse forever on any instance reaching it.
 */
static int
check_loops(PaCompileCtx *c, PaNode *n, int depth)
{
	PaNode	   *kids[5];
	int			i;

	if (n == NULL || n->visit == 2)
		return 0;
	if (n->visit == 1)
	{
		pa_compile_error(c, n->path, NULL, "$ref loop: this schema applies itself to the same value without end");
		return -1;
	}
	if (depth > 4 * PA_SCHEMA_MAX_DEPTH)
	{
		pa_compile_error(c, n->path, NULL, "schema nested too deeply");
		return -1;
	}
	n->visit = 1;
	kids[0] = n->ref;
	kids[1] = n->not_schema;
	kids[2] = n->if_schema;
	kids[3] = n->then_schema;
	kids[4] = n->else_schema;
	for (i = 0; i < 5; i++)
		if (check_loops(c, kids[i], depth + 1) < 0)
			return -1;
	for (i = 0; i < n->nall_of; i++)
		if (check_loops(c, n->all_of[i], depth + 1) < 0)
			return -1;
	for (i = 0; i < n->nany_of; i++)
		if (check_loops(c, n->any_of[i], depth + 1) < 0)
			return -1;
	for (i = 0; i < n->none_of; i++)
		if (check_loops(c, n->one_of[i], depth + 1) < 0)
			return -1;
	for (i = 0; i < n->ndep_schemas; i++)
		if (check_loops(c, n->dep_schemas[i].node, depth + 1) < 0)
			return -1;
	n->visit = 2;
	return 0;
}

PaSchema *
pa_schema_compile(json_t *schema, const PaRegexHooks *hooks, char **errmsg)
{
	PaCompileCtx c;
	PaNode	   *n;

	*errmsg = NULL;
	memset(&c, 0, sizeof(c));
	c.schema = calloc(1, sizeof(PaSchema));
	if (c.schema == NULL)
	{
		*errmsg = strdup("out of memory");
		return NULL;
	}
	if (hooks && hooks->compile && hooks->match && hooks->release)
	{
		c.schema->hooks = *hooks;
		c.schema->have_hooks = 1;
	}
	if (json_is_object(schema))
	{
		char	   *p = strdup("");

		/* the document is a resource even without $id */
		if (p == NULL)
			pa_compile_oom(&c);
		else if (pa_scan_schema(&c, schema, DEFAULT_BASE, p, 0) == 0 &&
				 !json_is_string(json_object_get(schema, "$id")))
			pa_ident_add(&c, strdup(DEFAULT_BASE), schema, "", NULL);
	}
	if (c.err == NULL)
		c.schema->root = pa_compile_schema(&c, schema, DEFAULT_BASE, "", 0);
	for (n = c.schema->nodes; n && c.err == NULL; n = n->next_alloc)
		check_loops(&c, n, 0);
	pa_compile_ctx_cleanup(&c);
	if (c.err)
	{
		pa_schema_free(c.schema);
		*errmsg = c.err;
		return NULL;
	}
	return c.schema;
}
