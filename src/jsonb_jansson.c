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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
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
	if (result == NULL)			/* jansson has no infinity */
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a number is out of range for JSON processing"),
				 errdetail("Numbers must fit a double precision value.")));
	pfree(text);
	return result;
}

/*
 * jansson holds UTF-8 only: convert from a non-UTF8 server encoding. In a
 * UTF8 database the server has already verified the text (and text holds
 * no NUL), so jansson's own check of every byte is skipped.
 */
json_t *
pa_text_to_json(const char *s, int len)
{
	char	   *utf8;
	json_t	   *j;

	if (GetDatabaseEncoding() == PG_UTF8)
		return json_stringn_nocheck(s, (size_t) len);
	utf8 = pg_server_to_any(s, len, PG_UTF8);
	j = json_stringn(utf8, utf8 == s ? (size_t) len : strlen(utf8));

	if (j == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("a JSON string could not be converted to UTF-8")));
	return j;
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
			return pa_text_to_json(v->val.string.val, v->val.string.len);
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
		char	   *k = pg_server_to_any(key, keylen, PG_UTF8);

		if (k == key)
			k = pnstrdup(key, keylen);
		if (json_object_set_new(parent, k, child) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("a JSON key could not be converted to UTF-8")));
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

/*
 * Numbers: integers exactly; doubles through float8out, which prints the
 * shortest text that reads back as the same double (19.9, not
 * 19.899999999999999), then numeric_in.
 */
static Numeric
number_to_numeric(json_t *value)
{
	char	   *text;
	Numeric		n;

	if (json_is_integer(value))
		return int64_to_numeric((int64) json_integer_value(value));
	text = DatumGetCString(DirectFunctionCall1(float8out,
											   Float8GetDatum(json_real_value(value))));
	n = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	pfree(text);
	return n;
}

static JsonbValue *
push_value(JsonbParseState **state, JsonbIteratorToken token, json_t *value)
{
	JsonbValue	v;
	const char *key;
	json_t	   *child;
	size_t		i;

	switch (json_typeof(value))
	{
		case JSON_OBJECT:
			pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
			json_object_foreach(value, key, child)
			{
				v.type = jbvString;
				v.val.string.val = pg_any_to_server(key, strlen(key), PG_UTF8);
				v.val.string.len = strlen(v.val.string.val);
				pushJsonbValue(state, WJB_KEY, &v);
				push_value(state, WJB_VALUE, child);
			}
			return pushJsonbValue(state, WJB_END_OBJECT, NULL);
		case JSON_ARRAY:
			pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
			json_array_foreach(value, i, child)
				push_value(state, WJB_ELEM, child);
			return pushJsonbValue(state, WJB_END_ARRAY, NULL);
		case JSON_STRING:
			v.type = jbvString;
			v.val.string.val = pg_any_to_server(json_string_value(value),
												json_string_length(value), PG_UTF8);
			v.val.string.len = v.val.string.val == json_string_value(value) ?
				json_string_length(value) : strlen(v.val.string.val);
			break;
		case JSON_INTEGER:
		case JSON_REAL:
			v.type = jbvNumeric;
			v.val.numeric = number_to_numeric(value);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			v.type = jbvBool;
			v.val.boolean = json_is_true(value);
			break;
		default:
			v.type = jbvNull;
			break;
	}
	if (*state == NULL)
	{
		/* a scalar at top level is a one-element raw-scalar array */
		JsonbValue	arr;

		arr.type = jbvArray;
		arr.val.array.rawScalar = true;
		arr.val.array.nElems = 1;
		pushJsonbValue(state, WJB_BEGIN_ARRAY, &arr);
		pushJsonbValue(state, WJB_ELEM, &v);
		return pushJsonbValue(state, WJB_END_ARRAY, NULL);
	}
	return pushJsonbValue(state, token, &v);
}

/* A malloc'd string (from jansson) as a palloc'd one; NULL becomes "". */
char *
pa_take_string(char *s)
{
	char	   *p = pstrdup(s ? s : "");

	free(s);
	return p;
}

/* Compact JSON text of any value, palloc'd. */
char *
pa_take_json(json_t *value)
{
	return pa_take_string(json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY));
}

Jsonb *
pa_json_to_jsonb(json_t *value)
{
	JsonbParseState *state = NULL;

	return JsonbValueToJsonb(push_value(&state, WJB_ELEM, value));
}

char *
pa_datum_out(Datum d, Oid type)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(type, &out, &varlena);
	return OidOutputFunctionCall(out, d);
}

json_t *
pa_datum_to_json(Datum d, Oid type)
{
	switch (type)
	{
		case INT8OID:
			return json_integer((json_int_t) DatumGetInt64(d));
		case INT4OID:
			return json_integer((json_int_t) DatumGetInt32(d));
		case INT2OID:
			return json_integer((json_int_t) DatumGetInt16(d));
		case BOOLOID:
			return json_boolean(DatumGetBool(d));
		case TIMESTAMPTZOID:
			/* as to_jsonb() writes it */
			return json_string(JsonEncodeDateTime(NULL, d, TIMESTAMPTZOID, NULL));
		case JSONBOID:
			return pa_jsonb_to_json(DatumGetJsonbP(d));
		case TEXTOID:
			{
				text	   *t = DatumGetTextPP(d);

				return pa_text_to_json(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
		default:
			{
				char	   *s = pa_datum_out(d, type);

				return pa_text_to_json(s, (int) strlen(s));
			}
	}
}

json_t *
pa_row_to_json(const Datum *values, const bool *nulls, TupleDesc desc)
{
	json_t	   *row = json_object();
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		json_object_set_new(row, NameStr(att->attname),
							nulls[i] ? json_null() : pa_datum_to_json(values[i], att->atttypid));
	}
	return row;
}
