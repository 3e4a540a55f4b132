/*
 * jsonschema_validate.c — evaluate a compiled schema against an instance.
 *
 * One recursive walk serves both entry points.  With an error array it
 * keeps going after a failure so that the caller (often a language model
 * repairing its output) learns about every problem at once; without one
 * it stops at the first failure.  Subschemas whose failures are not
 * errors of the instance ("not", "if", "contains", the branches of
 * "anyOf"/"oneOf") are always evaluated without collecting.
 *
 * Each message is a sentence about the value at "path": what it must be,
 * with the schema's numbers and names quoted, so it can be acted on
 * without reading the schema.
 */
#include "jsonschema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* at most this many errors of each anyOf/oneOf branch are summarized */
#define BRANCH_ERRORS 2
/* messages quoting values (enum lists, branch summaries) stop near here */
#define MESSAGE_BUDGET 400

typedef struct VCtx
{
	const PaSchema *schema;
	json_t	   *errors;			/* NULL: only decide valid or not */
	int			max_errors;
	int			nerrors;
	int			stop;			/* max_errors reached */
	int			depth;
	char	   *errmsg;			/* hard error (malloc'd) */
	PaBuf		ipath;			/* JSON pointer of the current instance */
} VCtx;

static int	validate(VCtx *c, const PaNode *n, json_t *inst);

static int	hard_error(VCtx *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static int
hard_error(VCtx *c, const char *fmt,...)
{
	va_list		ap;
	PaBuf		msg = {0};

	if (c->errmsg == NULL)
	{
		va_start(ap, fmt);
		pa_buf_vprintf(&msg, fmt, ap);
		va_end(ap);
		if (msg.oom)
			free(msg.data);
		else
			c->errmsg = msg.data;
	}
	return -1;
}

/* After a failed keyword: should evaluation of this schema stop? */
static int
give_up(VCtx *c)
{
	return c->errors == NULL || c->stop;
}

/*
 * Add an error with message "msg" (consumed) at schema location
 * "schema_path", or when that is NULL at the node's keyword; -1 on out of
 * memory.
 */
static int
report_at(VCtx *c, const PaNode *n, const char *keyword,
		  const char *schema_path, PaBuf *msg)
{
	PaBuf		sp = {0};
	json_t	   *e;

	if (c->errors == NULL || c->stop)
	{
		free(msg->data);
		return 0;
	}
	if (schema_path)
		pa_buf_puts(&sp, schema_path);
	else
	{
		pa_buf_puts(&sp, n->path);
		if (strcmp(keyword, "false") != 0)
		{
			pa_buf_puts(&sp, "/");
			pa_buf_put_pointer_token(&sp, keyword, strlen(keyword));
		}
	}
	e = (sp.oom || msg->oom || c->ipath.oom) ? NULL :
		json_pack("{s:s, s:s, s:s, s:s}", "path", c->ipath.data,
				  "keyword", keyword, "schema_path", sp.data,
				  "message", msg->data);
	free(sp.data);
	free(msg->data);
	if (e == NULL || json_array_append_new(c->errors, e) < 0)
		return hard_error(c, "out of memory");
	if (c->max_errors > 0 && ++c->nerrors >= c->max_errors)
		c->stop = 1;
	return 0;
}

static int
report_buf(VCtx *c, const PaNode *n, const char *keyword, PaBuf *msg)
{
	return report_at(c, n, keyword, NULL, msg);
}

static int	report(VCtx *c, const PaNode *n, const char *keyword, const char *fmt,...) __attribute__((format(printf, 4, 5)));

static int
report(VCtx *c, const PaNode *n, const char *keyword, const char *fmt,...)
{
	PaBuf		msg = {0};
	va_list		ap;

	if (c->errors == NULL || c->stop)
		return 0;
	va_start(ap, fmt);
	pa_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	return report_buf(c, n, keyword, &msg);
}

/* Push a member name or an index on the instance path; returns old length. */
static size_t
push_key(VCtx *c, const char *key)
{
	size_t		old = c->ipath.len;

	pa_buf_puts(&c->ipath, "/");
	pa_buf_put_pointer_token(&c->ipath, key, strlen(key));
	return old;
}

static size_t
push_index(VCtx *c, size_t i)
{
	size_t		old = c->ipath.len;

	pa_buf_printf(&c->ipath, "/%zu", i);
	return old;
}

static void
pop(VCtx *c, size_t old)
{
	if (!c->ipath.oom)
	{
		c->ipath.len = old;
		c->ipath.data[old] = '\0';
	}
}

/* Evaluate without collecting errors. */
static int
quiet(VCtx *c, const PaNode *n, json_t *inst)
{
	json_t	   *saved = c->errors;
	int			rc;

	c->errors = NULL;
	rc = validate(c, n, inst);
	c->errors = saved;
	return rc;
}

static int
regex_match(VCtx *c, void *re, const char *pattern, const char *s, size_t len)
{
	int			rc = c->schema->hooks.match(re, s, len, c->schema->hooks.arg);

	if (rc < 0)
		return hard_error(c, "regular expression match failed for pattern \"%s\"", pattern);
	return rc;
}

static const char *
plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---------- any type ---------- */

static unsigned
type_bits(json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_NULL:
			return PA_T_NULL;
		case JSON_TRUE:
		case JSON_FALSE:
			return PA_T_BOOLEAN;
		case JSON_OBJECT:
			return PA_T_OBJECT;
		case JSON_ARRAY:
			return PA_T_ARRAY;
		case JSON_STRING:
			return PA_T_STRING;
		case JSON_INTEGER:
			return PA_T_NUMBER | PA_T_INTEGER;
		case JSON_REAL:
			{
				PaNum		n;

				pa_num_from_json(v, &n);
				return PA_T_NUMBER | (pa_num_is_integral(&n) ? PA_T_INTEGER : 0);
			}
	}
	return 0;
}

static int
check_type(VCtx *c, const PaNode *n, json_t *inst)
{
	static const char *const names[] = {
		"null", "boolean", "object", "array", "number", "string", "integer"
	};
	PaBuf		msg = {0};
	const char *got;
	int			k,
				listed = 0,
				total = 0;

	if (n->types == 0 || (n->types & type_bits(inst)))
		return 1;
	if (c->errors == NULL)
		return 0;
	for (k = 0; k < 7; k++)
		total += (n->types >> k) & 1;
	pa_buf_puts(&msg, "must be ");
	for (k = 0; k < 7; k++)
	{
		if (!(n->types & (1u << k)))
			continue;
		if (listed > 0)
			pa_buf_puts(&msg, listed == total - 1 ? " or " : ", ");
		pa_buf_puts(&msg, names[k]);
		listed++;
	}
	got = json_is_integer(inst) ? "integer" : json_is_real(inst) ? "number" :
		names[json_is_null(inst) ? 0 : json_is_boolean(inst) ? 1 :
			  json_is_object(inst) ? 2 : json_is_array(inst) ? 3 : 5];
	pa_buf_printf(&msg, ", not %s", got);
	if (report_buf(c, n, "type", &msg) < 0)
		return -1;
	return 0;
}

static int
check_enum_const(VCtx *c, const PaNode *n, json_t *inst)
{
	int			valid = 1,
				rc;
	size_t		i;

	if (n->const_value)
	{
		if ((rc = pa_json_equal(inst, n->const_value, 0)) < 0)
			return hard_error(c, "value nested deeper than %d levels", PA_SCHEMA_MAX_DEPTH);
		if (rc == 0)
		{
			PaBuf		msg = {0};

			valid = 0;
			if (c->errors == NULL)
				return 0;
			pa_buf_puts(&msg, "must be exactly ");
			pa_buf_put_json(&msg, n->const_value, MESSAGE_BUDGET);
			if (report_buf(c, n, "const", &msg) < 0)
				return -1;
			if (give_up(c))
				return 0;
		}
	}
	if (n->enum_values)
	{
		for (i = 0; i < json_array_size(n->enum_values); i++)
		{
			if ((rc = pa_json_equal(inst, json_array_get(n->enum_values, i), 0)) < 0)
				return hard_error(c, "value nested deeper than %d levels", PA_SCHEMA_MAX_DEPTH);
			if (rc == 1)
				break;
		}
		if (i == json_array_size(n->enum_values))
		{
			PaBuf		msg = {0};

			if (c->errors == NULL)
				return 0;
			valid = 0;
			pa_buf_puts(&msg, "must be one of: ");
			for (i = 0; i < json_array_size(n->enum_values); i++)
			{
				if (msg.len > MESSAGE_BUDGET)
				{
					pa_buf_puts(&msg, ", ...");
					break;
				}
				if (i > 0)
					pa_buf_puts(&msg, ", ");
				pa_buf_put_json(&msg, json_array_get(n->enum_values, i), MESSAGE_BUDGET / 2);
			}
			if (report_buf(c, n, "enum", &msg) < 0)
				return -1;
		}
	}
	return valid;
}

/* ---------- numbers and strings ---------- */

static int
number_fails(VCtx *c, const PaNode *n, const char *kw, const char *what,
			 const PaNum *limit)
{
	PaBuf		msg = {0};

	if (c->errors == NULL)
		return 0;
	pa_buf_printf(&msg, "must be %s ", what);
	pa_buf_put_num(&msg, limit);
	return report_buf(c, n, kw, &msg) < 0 ? -1 : 0;
}

static int
check_number(VCtx *c, const PaNode *n, json_t *inst)
{
	PaNum		x;
	int			valid = 1;

	pa_num_from_json(inst, &x);
	if ((n->keys & PA_K_MINIMUM) && pa_num_cmp(&x, &n->minimum) < 0)
	{
		valid = 0;
		if (number_fails(c, n, "minimum", ">=", &n->minimum) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if ((n->keys & PA_K_MAXIMUM) && pa_num_cmp(&x, &n->maximum) > 0)
	{
		valid = 0;
		if (number_fails(c, n, "maximum", "<=", &n->maximum) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if ((n->keys & PA_K_EXCL_MINIMUM) && pa_num_cmp(&x, &n->excl_minimum) <= 0)
	{
		valid = 0;
		if (number_fails(c, n, "exclusiveMinimum", ">", &n->excl_minimum) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if ((n->keys & PA_K_EXCL_MAXIMUM) && pa_num_cmp(&x, &n->excl_maximum) >= 0)
	{
		valid = 0;
		if (number_fails(c, n, "exclusiveMaximum", "<", &n->excl_maximum) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if ((n->keys & PA_K_MULTIPLE_OF) && !pa_num_is_multiple(&x, &n->multiple_of))
	{
		valid = 0;
		if (number_fails(c, n, "multipleOf", "a multiple of", &n->multiple_of) < 0)
			return -1;
	}
	return valid;
}

static int
check_string(VCtx *c, const PaNode *n, json_t *inst)
{
	const char *s = json_string_value(inst);
	size_t		len = json_string_length(inst);
	long long	chars = 0;
	int			valid = 1,
				rc;

	if (n->min_length >= 0 || n->max_length >= 0)
		chars = (long long) pa_utf8_length(s, len);
	if (n->min_length >= 0 && chars < n->min_length)
	{
		valid = 0;
		if (report(c, n, "minLength", "must be at least %lld %s long", n->min_length,
				   plural(n->min_length, "character", "characters")) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if (n->max_length >= 0 && chars > n->max_length)
	{
		valid = 0;
		if (report(c, n, "maxLength", "must be at most %lld %s long", n->max_length,
				   plural(n->max_length, "character", "characters")) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if (n->pattern_re)
	{
		if ((rc = regex_match(c, n->pattern_re, n->pattern, s, len)) < 0)
			return -1;
		if (rc == 0)
		{
			PaBuf		msg = {0};
			json_t	   *p;

			if (c->errors == NULL)
				return 0;
			valid = 0;
			p = json_string(n->pattern);
			pa_buf_puts(&msg, "must match pattern ");
			if (p)
				pa_buf_put_json(&msg, p, MESSAGE_BUDGET);
			json_decref(p);
			if (report_buf(c, n, "pattern", &msg) < 0)
				return -1;
		}
	}
	return valid;
}

/* ---------- arrays ---------- */

static int
check_unique(VCtx *c, const PaNode *n, json_t *inst)
{
	size_t		a,
				b;
	int			rc = pa_json_find_duplicate(inst, &a, &b);

	if (rc < 0)
		return hard_error(c, rc == -2 ? "out of memory" :
						  "value nested deeper than " PA_STR(PA_SCHEMA_MAX_DEPTH) " levels");
	if (rc == 0)
		return 1;
	if (report(c, n, "uniqueItems", "must not contain duplicate items (items %zu and %zu are equal)",
			   a, b) < 0)
		return -1;
	return 0;
}

static int
check_contains(VCtx *c, const PaNode *n, json_t *inst)
{
	size_t		i;
	long long	found = 0,
				need = n->min_contains >= 0 ? n->min_contains : 1;
	int			rc;

	for (i = 0; i < json_array_size(inst); i++)
	{
		if ((rc = quiet(c, n->contains, json_array_get(inst, i))) < 0)
			return -1;
		found += rc;
		/* without maxContains, enough is enough */
		if (found >= need && n->max_contains < 0)
			break;
	}
	if (found < need)
	{
		if (report(c, n, n->min_contains >= 0 ? "minContains" : "contains",
				   "must contain at least %lld %s matching the \"contains\" schema (found %lld)",
				   need, plural(need, "item", "items"), found) < 0)
			return -1;
		return 0;
	}
	if (n->max_contains >= 0 && found > n->max_contains)
	{
		if (report(c, n, "maxContains",
				   "must contain at most %lld %s matching the \"contains\" schema (found %lld)",
				   n->max_contains, plural(n->max_contains, "item", "items"), found) < 0)
			return -1;
		return 0;
	}
	return 1;
}

static int
check_array(VCtx *c, const PaNode *n, json_t *inst)
{
	long long	size = (long long) json_array_size(inst);
	size_t		i,
				old;
	int			valid = 1,
				rc;

	if (n->min_items >= 0 && size < n->min_items)
	{
		valid = 0;
		if (report(c, n, "minItems", "must have at least %lld %s", n->min_items,
				   plural(n->min_items, "item", "items")) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if (n->max_items >= 0 && size > n->max_items)
	{
		valid = 0;
		if (report(c, n, "maxItems", "must have at most %lld %s", n->max_items,
				   plural(n->max_items, "item", "items")) < 0)
			return -1;
		if (give_up(c))
			return 0;
	}
	if ((n->keys & PA_K_UNIQUE_ITEMS) && (rc = check_unique(c, n, inst)) != 1)
	{
		if (rc < 0)
			return -1;
		valid = 0;
		if (give_up(c))
			return 0;
	}
	for (i = 0; i < (size_t) size; i++)
	{
		const PaNode *s = i < (size_t) n->nprefix_items ? n->prefix_items[i] : n->items;

		if (s == NULL)
			continue;
		if (s == n->items && s->boolean == 0)
		{
			/* "items": false says how long the array may be: say so once */
			valid = 0;
			if (report(c, n, "items", "must have at most %d %s", n->nprefix_items,
					   plural(n->nprefix_items, "item", "items")) < 0)
				return -1;
			if (give_up(c))
				return 0;
			break;
		}
		old = push_index(c, i);
		rc = validate(c, s, json_array_get(inst, i));
		pop(c, old);
		if (rc < 0)
			return -1;
		if (rc == 0)
		{
			valid = 0;
			if (give_up(c))
				return 0;
		}
	}
	if (n->contains && (rc = check_contains(c, n, inst)) != 1)
	{
		if (rc < 0)
			return -1;
		valid = 0;
	}
	return valid;
}

/* ---------- objects ---------- */

static const PaNode *
find_property(const PaNode *n, const char *key)
{
	int			lo = 0,
				hi = n->nproperties - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = strcmp(key, n->properties[mid].name);

		if (cmp == 0)
			return n->properties[mid].node;
		if (cmp < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * propertyNames: evaluate each name as a string; in collecting mode the
 * name's errors are reported on the object, prefixed with the name.
 */
static int
check_property_name(VCtx *c, const PaNode *n, const char *key)
{
	json_t	   *name = json_string(key);
	json_t	   *saved = c->errors;
	json_t	   *errs = NULL;
	size_t		i;
	int			rc;

	if (name == NULL)
		return hard_error(c, "out of memory");
	if (saved && !c->stop && (errs = json_array()) == NULL)
	{
		json_decref(name);
		return hard_error(c, "out of memory");
	}
	c->errors = errs;
	rc = validate(c, n->property_names, name);
	c->errors = saved;
	json_decref(name);
	for (i = 0; rc == 0 && errs && i < json_array_size(errs); i++)
	{
		json_t	   *e = json_array_get(errs, i);
		PaBuf		msg = {0};
		json_t	   *q = json_string(key);

		pa_buf_puts(&msg, "property name ");
		if (q)
			pa_buf_put_json(&msg, q, MESSAGE_BUDGET);
		json_decref(q);
		pa_buf_printf(&msg, " %s", json_string_value(json_object_get(e, "message")));
		if (report_at(c, n, "propertyNames",
					  json_string_value(json_object_get(e, "schema_path")), &msg) < 0)
			rc = -1;
	}
	json_decref(errs);
	return rc;
}

static int
check_object(VCtx *c, const PaNode *n, json_t *inst)
{
	long long	size = (long long) json_object_size(inst);
	const char *key;
	json_t	   *val;
	int			valid = 1,
				rc,
				i,
				k;

#define FAILED() do { valid = 0; if (give_up(c)) return 0; } while (0)

	if (n->min_properties >= 0 && size < n->min_properties)
	{
		if (report(c, n, "minProperties", "must have at least %lld %s", n->min_properties,
				   plural(n->min_properties, "property", "properties")) < 0)
			return -1;
		FAILED();
	}
	if (n->max_properties >= 0 && size > n->max_properties)
	{
		if (report(c, n, "maxProperties", "must have at most %lld %s", n->max_properties,
				   plural(n->max_properties, "property", "properties")) < 0)
			return -1;
		FAILED();
	}
	for (i = 0; i < n->nrequired; i++)
		if (json_object_get(inst, n->required[i]) == NULL)
		{
			if (report(c, n, "required", "must have required property \"%s\"",
					   n->required[i]) < 0)
				return -1;
			FAILED();
		}
	for (i = 0; i < n->ndep_required; i++)
	{
		const PaDepRequired *d = &n->dep_required[i];

		if (json_object_get(inst, d->name) == NULL)
			continue;
		for (k = 0; k < d->nprops; k++)
			if (json_object_get(inst, d->props[k]) == NULL)
			{
				if (report(c, n, "dependentRequired",
						   "must have property \"%s\" when property \"%s\" is present",
						   d->props[k], d->name) < 0)
					return -1;
				FAILED();
			}
	}
	json_object_foreach(inst, key, val)
	{
		const PaNode *p = n->nproperties ? find_property(n, key) : NULL;
		int			matched = p != NULL;
		size_t		old;

		if (p)
		{
			old = push_key(c, key);
			rc = validate(c, p, val);
			pop(c, old);
			if (rc < 0)
				return -1;
			if (rc == 0)
				FAILED();
		}
		for (i = 0; i < n->npattern_props; i++)
		{
			const PaPatternNode *pp = &n->pattern_props[i];

			if ((rc = regex_match(c, pp->re, pp->pattern, key, strlen(key))) < 0)
				return -1;
			if (rc == 0)
				continue;
			matched = 1;
			old = push_key(c, key);
			rc = validate(c, pp->node, val);
			pop(c, old);
			if (rc < 0)
				return -1;
			if (rc == 0)
				FAILED();
		}
		if (!matched && n->additional_properties)
		{
			if (n->additional_properties->boolean == 0)
			{
				/* name the property on the object: that is what to fix */
				if (report(c, n, "additionalProperties",
						   "must not have additional property \"%s\"", key) < 0)
					return -1;
				FAILED();
				continue;
			}
			old = push_key(c, key);
			rc = validate(c, n->additional_properties, val);
			pop(c, old);
			if (rc < 0)
				return -1;
			if (rc == 0)
				FAILED();
		}
		if (n->property_names)
		{
			if ((rc = check_property_name(c, n, key)) < 0)
				return -1;
			if (rc == 0)
				FAILED();
		}
	}
	for (i = 0; i < n->ndep_schemas; i++)
	{
		if (json_object_get(inst, n->dep_schemas[i].name) == NULL)
			continue;
		if ((rc = validate(c, n->dep_schemas[i].node, inst)) < 0)
			return -1;
		if (rc == 0)
			FAILED();
	}
#undef FAILED
	return valid;
}

/* ---------- in-place applicators ---------- */

/*
 * Evaluate an anyOf/oneOf branch.  When "summary" is given (collecting
 * mode), a failing branch's first errors are appended to it: "no branch
 * matched" alone does not say what to change.
 */
static int
branch(VCtx *c, const PaNode *s, json_t *inst, int idx, PaBuf *summary)
{
	json_t	   *saved = c->errors;
	int			saved_max = c->max_errors,
				saved_n = c->nerrors,
				saved_stop = c->stop;
	json_t	   *errs;
	size_t		i;
	int			rc;

	if (summary == NULL || saved == NULL || c->stop || summary->len > MESSAGE_BUDGET)
		return quiet(c, s, inst);
	if ((errs = json_array()) == NULL)
		return hard_error(c, "out of memory");
	c->errors = errs;
	c->max_errors = BRANCH_ERRORS;
	c->nerrors = 0;
	c->stop = 0;
	rc = validate(c, s, inst);
	c->errors = saved;
	c->max_errors = saved_max;
	c->nerrors = saved_n;
	c->stop = saved_stop;
	if (rc == 0)
	{
		pa_buf_printf(summary, "%s[%d] ", summary->len ? "; " : "", idx);
		for (i = 0; i < json_array_size(errs); i++)
		{
			json_t	   *e = json_array_get(errs, i);
			const char *path = json_string_value(json_object_get(e, "path"));

			if (i > 0)
				pa_buf_puts(summary, ", ");
			if (path && !c->ipath.oom && strcmp(path, c->ipath.data) != 0)
				pa_buf_printf(summary, "at %s: ", path);
			pa_buf_puts(summary, json_string_value(json_object_get(e, "message")));
		}
	}
	json_decref(errs);
	return rc;
}

static int
check_any_of(VCtx *c, const PaNode *n, json_t *inst)
{
	PaBuf		summary = {0};
	PaBuf		msg = {0};
	int			i,
				rc = 0;

	for (i = 0; i < n->nany_of; i++)
		if ((rc = branch(c, n->any_of[i], inst, i, &summary)) != 0)
			break;
	if (rc != 0)
	{
		free(summary.data);
		return rc;
	}
	pa_buf_puts(&msg, "must match at least one schema in \"anyOf\"");
	if (summary.len)
		pa_buf_printf(&msg, ": %s", summary.data);
	free(summary.data);
	return report_buf(c, n, "anyOf", &msg) < 0 ? -1 : 0;
}

static int
check_one_of(VCtx *c, const PaNode *n, json_t *inst)
{
	PaBuf		summary = {0};
	PaBuf		msg = {0};
	int			i,
				rc,
				first = -1,
				second = -1;

	for (i = 0; i < n->none_of && second < 0; i++)
	{
		rc = branch(c, n->one_of[i], inst, i, first < 0 ? &summary : NULL);
		if (rc < 0)
		{
			free(summary.data);
			return -1;
		}
		if (rc == 1 && first < 0)
			first = i;
		else if (rc == 1)
			second = i;
	}
	if (first >= 0 && second < 0)
	{
		free(summary.data);
		return 1;
	}
	if (first < 0)
	{
		pa_buf_puts(&msg, "must match exactly one schema in \"oneOf\", but matches none");
		if (summary.len)
			pa_buf_printf(&msg, ": %s", summary.data);
	}
	else
		pa_buf_printf(&msg, "must match exactly one schema in \"oneOf\", but matches more than one (%d and %d)",
					  first, second);
	free(summary.data);
	return report_buf(c, n, "oneOf", &msg) < 0 ? -1 : 0;
}

static int
check_applicators(VCtx *c, const PaNode *n, json_t *inst)
{
	int			valid = 1,
				rc,
				i;

#define STEP(expr) do { if ((rc = (expr)) < 0) return -1; \
		if (rc == 0) { valid = 0; if (give_up(c)) return 0; } } while (0)

	for (i = 0; i < n->nall_of; i++)
		STEP(validate(c, n->all_of[i], inst));
	if (n->nany_of)
		STEP(check_any_of(c, n, inst));
	if (n->none_of)
		STEP(check_one_of(c, n, inst));
	if (n->not_schema)
	{
		if ((rc = quiet(c, n->not_schema, inst)) < 0)
			return -1;
		if (rc == 1)
			STEP(report(c, n, "not", "must not match the schema in \"not\"") < 0 ? -1 : 0);
	}
	if (n->if_schema && (n->then_schema || n->else_schema))
	{
		if ((rc = quiet(c, n->if_schema, inst)) < 0)
			return -1;
		if (rc == 1 && n->then_schema)
			STEP(validate(c, n->then_schema, inst));
		else if (rc == 0 && n->else_schema)
			STEP(validate(c, n->else_schema, inst));
	}
#undef STEP
	return valid;
}

/* ---------- one schema ---------- */

static int
validate(VCtx *c, const PaNode *n, json_t *inst)
{
	int			valid = 1,
				rc = 1;

	if (n->boolean == 1)
		return 1;
	if (n->boolean == 0)
		return report(c, n, "false", "is not allowed here (the schema is false)") < 0 ? -1 : 0;
	if (c->depth >= PA_SCHEMA_MAX_DEPTH)
		return hard_error(c, "evaluation nested deeper than %d levels", PA_SCHEMA_MAX_DEPTH);
	c->depth++;

#define STEP(expr) do { if ((rc = (expr)) < 0) goto out; \
		if (rc == 0) { valid = 0; if (give_up(c)) goto out; } } while (0)

	if (n->ref)
		STEP(validate(c, n->ref, inst));
	STEP(check_type(c, n, inst));
	if (n->const_value || n->enum_values)
		STEP(check_enum_const(c, n, inst));
	switch (json_typeof(inst))
	{
		case JSON_INTEGER:
		case JSON_REAL:
			STEP(check_number(c, n, inst));
			break;
		case JSON_STRING:
			STEP(check_string(c, n, inst));
			break;
		case JSON_ARRAY:
			STEP(check_array(c, n, inst));
			break;
		case JSON_OBJECT:
			STEP(check_object(c, n, inst));
			break;
		default:
			break;
	}
	STEP(check_applicators(c, n, inst));
#undef STEP
out:
	c->depth--;
	return rc < 0 ? -1 : valid;
}

/* ---------- entry points ---------- */

json_t *
pa_schema_validate(const PaSchema *schema, json_t *instance, int max_errors,
				   char **errmsg)
{
	VCtx		c;
	int			rc;

	*errmsg = NULL;
	memset(&c, 0, sizeof(c));
	c.schema = schema;
	c.max_errors = max_errors;
	if ((c.errors = json_array()) == NULL)
	{
		*errmsg = strdup("out of memory");
		return NULL;
	}
	pa_buf_puts(&c.ipath, "");
	rc = validate(&c, schema->root, instance);
	if (rc >= 0 && c.ipath.oom)
		rc = hard_error(&c, "out of memory");
	free(c.ipath.data);
	if (rc < 0)
	{
		json_decref(c.errors);
		*errmsg = c.errmsg ? c.errmsg : strdup("out of memory");
		return NULL;
	}
	free(c.errmsg);
	return c.errors;
}

int
pa_schema_is_valid(const PaSchema *schema, json_t *instance, char **errmsg)
{
	VCtx		c;
	int			rc;

	*errmsg = NULL;
	memset(&c, 0, sizeof(c));
	c.schema = schema;
	pa_buf_puts(&c.ipath, "");
	rc = validate(&c, schema->root, instance);
	free(c.ipath.data);
	if (rc < 0)
	{
		*errmsg = c.errmsg ? c.errmsg : strdup("out of memory");
		return -1;
	}
	free(c.errmsg);
	return rc;
}
