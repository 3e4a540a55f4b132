/*
 * schema_example.c — a deterministic example instance of a JSON Schema
 * (see schema_example.h for the rules).
 *
 * Walks the schema document once, depth-bounded (a recursive $ref ends in
 * null rather than looping). "variant" numbers the items of an array so
 * that uniqueItems can be met: item i of a string array is "example",
 * "example 2", ...; of a number array 1, 2, ...
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "schema_example.h"

#define MAX_DEPTH 32
/* arrays and objects are kept small: an example, not a stress test */
#define MAX_GENERATED_ITEMS 8
/* optional properties stop here: a recursive schema's example stays small */
#define OPTIONAL_DEPTH 4

#define Max(a, b) ((a) > (b) ? (a) : (b))

typedef struct ExampleCtx
{
	json_t	   *root;
	bool		oom;
} ExampleCtx;

static json_t *example(ExampleCtx *cx, json_t *schema, int depth, int variant);

static json_t *
checked(ExampleCtx *cx, json_t *v)
{
	if (v == NULL)
		cx->oom = true;
	return v;
}

/* The subschema of the document carrying "$anchor": name, or NULL. */
static json_t *
find_anchor(json_t *at, const char *name, int depth)
{
	const char *key;
	json_t	   *value;
	size_t		i;

	if (depth > MAX_DEPTH)
		return NULL;
	if (json_is_object(at))
	{
		json_t	   *anchor = json_object_get(at, "$anchor");

		if (json_is_string(anchor) && strcmp(json_string_value(anchor), name) == 0)
			return at;
		json_object_foreach(at, key, value)
		{
			json_t	   *found = find_anchor(value, name, depth + 1);

			if (found)
				return found;
		}
	}
	json_array_foreach(at, i, value)
	{
		json_t	   *found = find_anchor(value, name, depth + 1);

		if (found)
			return found;
	}
	return NULL;
}

/* A fragment reference into the document ("#/a/b" or "#anchor"), or NULL. */
static json_t *
resolve_pointer(json_t *root, const char *ref)
{
	if (ref[0] != '#')
		return NULL;			/* another document: not followed */
	if (ref[1] == '\0' || ref[1] == '/')
		return pa_json_fragment_get(root, ref + 1);
	return find_anchor(root, ref + 1, 0);
}

/* A count keyword (minItems, maxLength, ...; 2.0 counts as 2), or -1. */
static long
count_of(json_t *s, const char *key)
{
	json_t	   *v = json_object_get(s, key);

	return json_is_number(v) && json_number_value(v) >= 0 ? (long) json_number_value(v) : -1;
}

/* A schema that nothing satisfies: false, or {"not": {}} */
static bool
forbidden(json_t *s)
{
	json_t	   *n = json_object_get(s, "not");

	return json_is_false(s) || (json_is_object(n) && json_object_size(n) == 0) || json_is_true(n);
}

/* into: the union of both schemas' properties and required, else first wins */
static void
merge_into(ExampleCtx *cx, json_t *into, json_t *from)
{
	const char *key;
	json_t	   *value;

	if (!json_is_object(from))
		return;
	json_object_foreach(from, key, value)
	{
		json_t	   *have = json_object_get(into, key);

		if (have == NULL)
		{
			if (json_object_set(into, key, value) != 0)
				cx->oom = true;
		}
		else if (strcmp(key, "properties") == 0 && json_is_object(have) && json_is_object(value))
		{
			json_t	   *copy = checked(cx, json_copy(have));

			if (copy && (json_object_update_missing(copy, value) != 0 ||
						 json_object_set_new(into, key, copy) != 0))
				cx->oom = true;
		}
		else if (strcmp(key, "required") == 0 && json_is_array(have) && json_is_array(value))
		{
			json_t	   *copy = checked(cx, json_copy(have));

			if (copy && (json_array_extend(copy, value) != 0 ||
						 json_object_set_new(into, key, copy) != 0))
				cx->oom = true;
		}
	}
}

/*
 * The schema with its applicators folded in: allOf merged, the first
 * branch of anyOf/oneOf merged, a local $ref followed. New reference.
 */
static json_t *
flatten(ExampleCtx *cx, json_t *schema, int depth)
{
	json_t	   *flat = checked(cx, json_copy(schema));
	json_t	   *ref = json_object_get(schema, "$ref");
	const char *applicators[] = {"allOf", "anyOf", "oneOf"};
	int			i;

	if (flat == NULL)
		return NULL;
	if (json_is_string(ref) && depth < MAX_DEPTH)
	{
		json_t	   *target = resolve_pointer(cx->root, json_string_value(ref));

		json_object_del(flat, "$ref");
		if (json_is_object(target))
		{
			json_t	   *t = flatten(cx, target, depth + 1);

			merge_into(cx, flat, t);
			json_decref(t);
		}
	}
	for (i = 0; i < 3; i++)
	{
		json_t	   *subs = json_object_get(schema, applicators[i]);
		size_t		j,
					n = i == 0 ? json_array_size(subs) : (json_array_size(subs) > 0 ? 1 : 0);

		json_object_del(flat, applicators[i]);
		for (j = 0; j < n && depth < MAX_DEPTH; j++)
		{
			json_t	   *sub = json_array_get(subs, j);
			json_t	   *t;

			if (!json_is_object(sub))
				continue;
			t = flatten(cx, sub, depth + 1);
			merge_into(cx, flat, t);
			json_decref(t);
		}
	}
	return flat;
}

/*
 * The type to produce: the first non-null one listed. Untyped, an object:
 * the keywords of the other types do not apply to it, so {} satisfies
 * them all (an object is what agents' schemas describe, too) — unless
 * "not" names the object type, then the first type it leaves.
 */
static const char *
pick_type(json_t *s)
{
	static const char *const order[] = {"object", "string", "integer", "boolean", "null", "array"};
	json_t	   *type = json_object_get(s, "type");
	const char *not_type = json_string_value(json_object_get(json_object_get(s, "not"), "type"));
	size_t		i;
	json_t	   *t;

	if (json_is_string(type))
		return json_string_value(type);
	json_array_foreach(type, i, t)
		if (json_is_string(t) && strcmp(json_string_value(t), "null") != 0)
		return json_string_value(t);
	if (json_array_size(type) > 0)
		return "null";
	for (i = 0; not_type && i < sizeof(order) / sizeof(order[0]) - 1; i++)
		if (strcmp(order[i], not_type) != 0)
			return order[i];
	return "object";
}

/* Does value have the schema's type (or is the schema untyped)? */
static bool
type_fits(json_t *s, json_t *value)
{
	static const char *const names[] = {"object", "array", "string", "integer", "real", "true", "false", "null"};
	json_t	   *type = json_object_get(s, "type");
	const char *have = names[json_typeof(value)];
	size_t		i;
	json_t	   *t;

	if (type == NULL)
		return true;
	if (strcmp(have, "real") == 0)
		have = "number";
	else if (strcmp(have, "true") == 0 || strcmp(have, "false") == 0)
		have = "boolean";
	json_array_foreach(type, i, t)
		if (json_is_string(t) && (strcmp(json_string_value(t), have) == 0 ||
								  (strcmp(json_string_value(t), "number") == 0 && strcmp(have, "integer") == 0)))
		return true;
	return json_is_string(type) && (strcmp(json_string_value(type), have) == 0 ||
									(strcmp(json_string_value(type), "number") == 0 && strcmp(have, "integer") == 0));
}

static const char *
format_example(const char *format)
{
	static const char *const formats[][2] = {
		{"date-time", "2026-01-15T09:30:00Z"},
		{"date", "2026-01-15"},
		{"time", "09:30:00Z"},
		{"email", "customer@example.com"},
		{"idn-email", "customer@example.com"},
		{"uri", "https://example.com/"},
		{"iri", "https://example.com/"},
		{"uri-reference", "https://example.com/"},
		{"uuid", "00000000-0000-4000-8000-000000000000"},
		{"hostname", "example.com"},
		{"idn-hostname", "example.com"},
		{"ipv4", "192.0.2.1"},
		{"ipv6", "2001:db8::1"},
		{"duration", "P1D"},
		{"json-pointer", "/example"},
		{"regex", "^example$"},
	};
	size_t		i;

	for (i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i][0], format) == 0)
			return formats[i][1];
	return NULL;
}

static json_t *
string_example(ExampleCtx *cx, json_t *s, int variant)
{
	const char *base = format_example(json_string_value(json_object_get(s, "format")));
	long		minl = count_of(s, "minLength");
	long		maxl = count_of(s, "maxLength");
	char		buf[512];
	size_t		len;

	if (base)
		snprintf(buf, sizeof(buf), "%s", base);
	else if (variant > 0)
		snprintf(buf, sizeof(buf), "example %d", variant + 1);
	else
		snprintf(buf, sizeof(buf), "example");
	len = strlen(buf);
	/* ASCII only, so bytes are code points */
	while ((long) len < minl && len < sizeof(buf) - 1)
		buf[len++] = 'x';
	buf[len] = '\0';
	if (maxl >= 0 && (long) len > maxl)
		buf[maxl] = '\0';
	return checked(cx, json_string(buf));
}

static json_t *
number_example(ExampleCtx *cx, json_t *s, bool integer, int variant)
{
	json_t	   *min = json_object_get(s, "minimum");
	json_t	   *xmin = json_object_get(s, "exclusiveMinimum");
	json_t	   *max = json_object_get(s, "maximum");
	json_t	   *xmax = json_object_get(s, "exclusiveMaximum");
	json_t	   *mult = json_object_get(s, "multipleOf");
	double		step = json_is_number(mult) && json_number_value(mult) > 0 ? json_number_value(mult) : 1;
	bool		has_lo = json_is_number(min) || json_is_number(xmin);
	bool		has_hi = json_is_number(max) || json_is_number(xmax);
	double		lo = json_is_number(min) ? json_number_value(min) : -INFINITY;
	double		hi = json_is_number(max) ? json_number_value(max) : INFINITY;
	double		v;

	if (json_is_number(xmin))
	{
		double		x = json_number_value(xmin);

		/* just above the bound: a step, or half way to the top */
		x += integer ? 1 : fmin(step, has_hi ? ((json_is_number(xmax) ? json_number_value(xmax) : hi) - x) / 2 : step);
		lo = fmax(lo, integer ? floor(json_number_value(xmin)) + 1 : x);
	}
	if (json_is_number(xmax))
		hi = fmin(hi, integer ? ceil(json_number_value(xmax)) - 1 : json_number_value(xmax));
	if (integer)
	{
		lo = ceil(lo);
		hi = floor(hi);
	}
	v = has_lo ? lo : (has_hi && hi < 1 ? hi : 1);
	v += variant * step;
	if (json_is_number(mult) && step > 0)
		v = ceil(v / step) * step;
	if (integer || (v == floor(v) && fabs(v) < 9e15))
		return checked(cx, json_integer((json_int_t) v));
	return checked(cx, json_real(v));
}

/*
 * Items: the prefix (up to a forbidden one), then as many as minItems and
 * minContains ask (at least one), the first minContains of them meeting
 * "contains" as well as "items".
 */
static json_t *
array_example(ExampleCtx *cx, json_t *s, int depth)
{
	json_t	   *arr = checked(cx, json_array());
	json_t	   *prefix = json_object_get(s, "prefixItems");
	json_t	   *items = json_object_get(s, "items");
	json_t	   *contains = json_object_get(s, "contains");
	long		n_prefix = (long) json_array_size(prefix);
	long		min_items = count_of(s, "minItems");
	long		max_items = count_of(s, "maxItems");
	long		min_contains = contains ? (count_of(s, "minContains") >= 0 ? count_of(s, "minContains") : 1) : 0;
	bool		unique = json_is_true(json_object_get(s, "uniqueItems"));
	long		want = 1,
				i;

	if (arr == NULL)
		return NULL;
	want = Max(want, Max(min_items, Max(n_prefix, min_contains)));
	if (min_items < 0 && want > MAX_GENERATED_ITEMS)
		want = MAX_GENERATED_ITEMS;
	if (max_items >= 0 && want > max_items)
		want = max_items;
	for (i = 0; i < want && !cx->oom; i++)
	{
		json_t	   *sub = i < n_prefix ? json_array_get(prefix, (size_t) i) : items;
		json_t	   *both = NULL;
		/* items after the prefix vary (all of them under uniqueItems) */
		int			variant = (int) (unique ? i : Max(i - n_prefix, 0));

		if (i < n_prefix ? forbidden(sub) : json_is_false(items))
			break;
		if (i < min_contains)
		{
			both = json_pack("{s:[OO]}", "allOf", sub ? sub : json_true(), contains);
			sub = both;
		}
		if (json_array_append_new(arr, example(cx, sub, depth + 1, variant)) != 0)
			cx->oom = true;
		json_decref(both);
	}
	return arr;
}

static bool
is_required(json_t *s, const char *key)
{
	size_t		i;
	json_t	   *name;

	json_array_foreach(json_object_get(s, "required"), i, name)
		if (json_is_string(name) && strcmp(json_string_value(name), key) == 0)
		return true;
	return false;
}

static json_t *
object_example(ExampleCtx *cx, json_t *s, int depth, int variant)
{
	json_t	   *obj = checked(cx, json_object());
	json_t	   *props = json_object_get(s, "properties");
	json_t	   *extra = json_object_get(s, "additionalProperties");
	long		minp = count_of(s, "minProperties");
	const char *key;
	json_t	   *sub;
	size_t		i;
	int			n = 0;

	if (obj == NULL)
		return NULL;
	json_object_foreach(props, key, sub)
	{
		if (forbidden(sub))
			continue;
		/* deep down (a recursive schema), the required properties only */
		if (depth >= OPTIONAL_DEPTH && !is_required(s, key))
			continue;
		/* item i of an array varies its properties: objects stay distinct */
		if (json_object_set_new(obj, key, example(cx, sub, depth + 1, variant)) != 0)
			cx->oom = true;
	}
	json_array_foreach(json_object_get(s, "required"), i, sub)
	{
		if (!json_is_string(sub) || json_object_get(obj, json_string_value(sub)))
			continue;
		if (json_object_set_new(obj, json_string_value(sub),
								json_is_object(extra) ? example(cx, extra, depth + 1, 0)
								: checked(cx, json_string("example"))) != 0)
			cx->oom = true;
	}
	while ((long) json_object_size(obj) < minp &&
		   !json_is_false(extra) && n < MAX_GENERATED_ITEMS && !cx->oom)
	{
		char		name[32];

		snprintf(name, sizeof(name), "extra_%d", ++n);
		if (json_object_set_new(obj, name, json_is_object(extra) ? example(cx, extra, depth + 1, 0)
								: checked(cx, json_string("example"))) != 0)
			cx->oom = true;
	}
	return obj;
}

static json_t *
example(ExampleCtx *cx, json_t *schema, int depth, int variant)
{
	json_t	   *s;
	json_t	   *v;
	json_t	   *out = NULL;
	const char *type;

	if (!json_is_object(schema) || depth > MAX_DEPTH || cx->oom)
		return checked(cx, json_null());
	s = flatten(cx, schema, depth);
	if (s == NULL)
		return NULL;

	if ((v = json_object_get(s, "const")) != NULL)
		out = checked(cx, json_deep_copy(v));
	else if (json_array_size(v = json_object_get(s, "enum")) > 0)
		out = checked(cx, json_deep_copy(json_array_get(v, (size_t) variant % json_array_size(v))));
	else if (json_array_size(v = json_object_get(s, "examples")) > 0)
		out = checked(cx, json_deep_copy(json_array_get(v, (size_t) variant % json_array_size(v))));
	else if ((v = json_object_get(s, "default")) != NULL && type_fits(s, v))
		out = checked(cx, json_deep_copy(v));
	else
	{
		type = pick_type(s);
		if (strcmp(type, "object") == 0)
			out = object_example(cx, s, depth, variant);
		else if (strcmp(type, "array") == 0)
			out = array_example(cx, s, depth);
		else if (strcmp(type, "string") == 0)
			out = string_example(cx, s, variant);
		else if (strcmp(type, "integer") == 0)
			out = number_example(cx, s, true, variant);
		else if (strcmp(type, "number") == 0)
			out = number_example(cx, s, false, variant);
		else if (strcmp(type, "boolean") == 0)
			out = checked(cx, json_boolean(variant % 2 == 0));
		else
			out = checked(cx, json_null());
	}
	json_decref(s);
	return out;
}

json_t *
pa_schema_example(json_t *schema)
{
	ExampleCtx	cx = {schema, false};
	json_t	   *out = example(&cx, schema, 0, 0);

	if (cx.oom)
	{
		json_decref(out);
		return NULL;
	}
	return out;
}
