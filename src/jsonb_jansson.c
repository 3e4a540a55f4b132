/*
 * jsonb_jansson.c — walk jsonb straight into jansson values, and back.
 *
 * Going through text would be simpler, but jsonb prints numbers like 1e308
 * as 309 digits, which jansson refuses as "too big integer". Walking the
 * tree lets us choose: an integral numeric that fits int64 becomes a
 * jansson integer, everything else a double (JSON Schema compares numbers
 * by value, so 1 and 1.0 stay equal either way).
 */
#include "pg_prelude.h"

#include "utils/numeric.h"

#include "jsonb_jansson.h"

static json_t *
numeric_to_json(Numeric num)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(num)));
	json_t	   *result;

	/* numeric_out never uses exponents: no '.' means an integer. */
	if (strchr(text, '.') == NULL)
	{
		char	   *end;
		long long	i;

		errno = 0;
		i = strtoll(text, &end, 10);
		if (errno == 0 && *end == '\0')
		{
			pfree(text);
			return json_integer((json_int_t) i);
		}
	}
	result = json_real(strtod(text, NULL));
	pfree(text);
	return result;
}

static json_t *
scalar_to_json(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return json_null();
		case jbvBool:
			return v->val.boolean ? json_true() : json_false();
		case jbvString:
			return json_stringn(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return numeric_to_json(v->val.numeric);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;				/* keep compiler quiet */
}

/* Add child to the container on top of the stack (key set for objects). */
static void
attach(json_t *parent, const char *key, size_t keylen, json_t *child)
{
	if (json_is_array(parent))
		json_array_append_new(parent, child);
	else
	{
		char	   *k = pnstrdup(key, keylen);

		json_object_set_new(parent, k, child);
		pfree(k);
	}
}

json_t *
pa_jsonb_to_json(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap = 16;
	json_t	  **stack = palloc(cap * sizeof(json_t *));
	char	  **keys = palloc(cap * sizeof(char *));
	int		   *keylens = palloc(cap * sizeof(int));
	int			depth = 0;
	json_t	   *root = NULL;
	bool		raw_scalar = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		json_t	   *node = NULL;

		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (v.val.array.rawScalar)
				{
					raw_scalar = true;
					continue;
				}
				node = json_array();
				break;
			case WJB_BEGIN_OBJECT:
				node = json_object();
				break;
			case WJB_KEY:
				keys[depth - 1] = v.val.string.val;
				keylens[depth - 1] = v.val.string.len;
				continue;
			case WJB_VALUE:
			case WJB_ELEM:
				if (raw_scalar)
				{
					root = scalar_to_json(&v);
					continue;
				}
				attach(stack[depth - 1], keys[depth - 1], keylens[depth - 1],
					   scalar_to_json(&v));
				continue;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (raw_scalar)
					continue;
				depth--;
				if (depth == 0)
					root = stack[0];
				else
					attach(stack[depth - 1], keys[depth - 1], keylens[depth - 1],
						   stack[depth]);
				continue;
			default:
				continue;
		}

		/* A new container: it is attached to its parent when it ends. */
		if (depth == cap)
		{
			cap *= 2;
			stack = repalloc(stack, cap * sizeof(json_t *));
			keys = repalloc(keys, cap * sizeof(char *));
			keylens = repalloc(keylens, cap * sizeof(int));
		}
		stack[depth] = node;
		keys[depth] = NULL;
		keylens[depth] = 0;
		depth++;
	}
	pfree(stack);
	pfree(keys);
	pfree(keylens);
	return root;
}

Jsonb *
pa_json_to_jsonb(json_t *value)
{
	char	   *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY |
								  JSON_REAL_PRECISION(17));
	Datum		d;

	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while serialising a JSON value")));
	PG_TRY();
	{
		d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
	}
	PG_FINALLY();
	{
		free(text);
	}
	PG_END_TRY();
	return DatumGetJsonbP(d);
}
