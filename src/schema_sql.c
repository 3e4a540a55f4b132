/*
 * schema_sql.c — the JSON Schema validator as the server uses it.
 *
 * The validator itself (jsonschema.c) is plain C. This file gives it
 *  - PostgreSQL's regular-expression engine for "pattern" and
 *    "patternProperties" (ECMA-262 patterns translated by regex_ecma.c),
 *  - a per-backend cache, so a schema is compiled once and reused by every
 *    validation that uses it (outputs are checked on every recorded call),
 *  - the SQL functions pa_validate() and pa._schema_problem().
 */
#include "pg_prelude.h"

#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"
#include "utils/tuplestore.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "regex_ecma.h"
#include "schema_sql.h"

/* ---- regex hooks over pg_regcomp / pg_regexec ---- */

static void *
pg_regex_compile(const char *ecma_pattern, char **errmsg, void *arg)
{
	char	   *translated;
	char	   *terr = NULL;
	pg_wchar   *wide;
	int			wlen;
	int			rc;
	regex_t    *re;

	translated = pa_regex_translate(ecma_pattern, PA_RE_TARGET_ARE, &terr);
	if (translated == NULL)
	{
		*errmsg = terr;
		return NULL;
	}

	wide = palloc((strlen(translated) + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(translated, wide, strlen(translated));
	free(translated);

	re = malloc(sizeof(regex_t));
	if (re == NULL)
	{
		pfree(wide);
		*errmsg = strdup("out of memory");
		return NULL;
	}
	rc = pg_regcomp(re, wide, wlen, REG_ADVANCED, C_COLLATION_OID);
	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		buf[256];

		pg_regerror(rc, re, buf, sizeof(buf));
		free(re);
		*errmsg = strdup(buf);
		return NULL;
	}
	return re;
}

static int
pg_regex_match(void *handle, const char *subject, size_t len, void *arg)
{
	pg_wchar   *wide = palloc_extended((len + 1) * sizeof(pg_wchar),
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);

	int			wlen;
	int			rc;

	if (wide == NULL)
		return -1;				/* reported as a validation failure, not a crash */
	wlen = pg_mb2wchar_with_len(subject, wide, len);

	rc = pg_regexec((regex_t *) handle, wide, wlen, 0, NULL, 0, NULL, 0);
	pfree(wide);
	if (rc == REG_OKAY)
		return 1;
	if (rc == REG_NOMATCH)
		return 0;
	return -1;
}

static void
pg_regex_release(void *handle, void *arg)
{
	pg_regfree((regex_t *) handle);
	free(handle);
}

static const PaRegexHooks pg_regex_hooks = {
	.compile = pg_regex_compile,
	.match = pg_regex_match,
	.release = pg_regex_release,
	.arg = NULL
};

/* ---- per-backend cache of compiled schemas, keyed by jsonb bytes ---- */

typedef struct CachedSchema
{
	uint32		hash;
	Size		len;
	char	   *bytes;			/* malloc'd copy of the jsonb datum */
	PaSchema   *schema;
} CachedSchema;

static CachedSchema *cache = NULL;
static int	cache_size = 0;
static int	cache_next = 0;		/* round-robin victim */

static void
cache_evict(CachedSchema *e)
{
	if (e->schema)
		pa_schema_free(e->schema);
	free(e->bytes);
	memset(e, 0, sizeof(*e));
}

static void
cache_resize(void)
{
	int			i;

	if (cache_size == pa_schema_cache_entries && cache != NULL)
		return;
	for (i = 0; i < cache_size; i++)
		cache_evict(&cache[i]);
	free(cache);
	cache_size = pa_schema_cache_entries;
	cache = calloc(cache_size, sizeof(CachedSchema));
	if (cache == NULL)
	{
		cache_size = 0;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for the schema cache")));
	}
	cache_next = 0;
}

PaSchema *
pa_schema_compile_owned(json_t *schema, const char *what)
{
	char	   *err = NULL;
	PaSchema   *compiled = pa_schema_compile(schema, &pg_regex_hooks, &err);

	if (compiled == NULL)
	{
		char	   *detail = pstrdup(err ? err : "unknown error");

		free(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s is not a valid JSON Schema", what),
				 errdetail("%s", detail),
				 errhint("The supported dialect is JSON Schema draft 2020-12 without $dynamicRef, unevaluated*, remote $ref and $vocabulary.")));
	}
	return compiled;
}

const PaSchema *
pa_schema_for(Jsonb *schema, const char *what)
{
	Size		len = VARSIZE(schema);
	uint32		hash = hash_bytes((const unsigned char *) schema, len);
	CachedSchema *slot;
	json_t	   *doc;
	PaSchema   *compiled;
	int			i;

	cache_resize();
	for (i = 0; i < cache_size; i++)
		if (cache[i].schema && cache[i].hash == hash && cache[i].len == len &&
			memcmp(cache[i].bytes, schema, len) == 0)
			return cache[i].schema;

	doc = pa_jsonb_to_json(schema);
	PG_TRY();
	{
		compiled = pa_schema_compile_owned(doc, what);
	}
	PG_FINALLY();
	{
		json_decref(doc);
	}
	PG_END_TRY();

	slot = &cache[cache_next];
	cache_next = (cache_next + 1) % cache_size;
	cache_evict(slot);
	slot->bytes = malloc(len);
	if (slot->bytes == NULL)
	{
		pa_schema_free(compiled);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for the schema cache")));
	}
	memcpy(slot->bytes, schema, len);
	slot->len = len;
	slot->hash = hash;
	slot->schema = compiled;
	return compiled;
}

json_t *
pa_schema_errors(const PaSchema *schema, json_t *instance)
{
	char	   *err = NULL;
	json_t	   *errors = pa_schema_validate(schema, instance,
											pa_max_validation_errors, &err);

	if (errors == NULL)
	{
		char	   *detail = pstrdup(err ? err : "out of memory");

		free(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("JSON Schema validation failed"),
				 errdetail("%s", detail)));
	}
	return errors;
}

/* ---- SQL functions ---- */

PG_FUNCTION_INFO_V1(pa_validate);

/*
 * pa_validate(schema jsonb, instance jsonb)
 *   RETURNS TABLE (path text, keyword text, message text, schema_path text)
 *
 * One row per violation, none when the instance is valid.
 */
Datum
pa_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *schema;
	Jsonb	   *instance;
	const PaSchema *compiled;
	json_t	   *doc;
	json_t	   *errors;
	json_t	   *e;
	size_t		i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schema and instance must not be null"),
				 errhint("Pass the JSON value 'null'::jsonb to validate a JSON null.")));
	schema = PG_GETARG_JSONB_P(0);
	instance = PG_GETARG_JSONB_P(1);

	InitMaterializedSRF(fcinfo, 0);
	compiled = pa_schema_for(schema, "schema");
	doc = pa_jsonb_to_json(instance);
	PG_TRY();
	{
		errors = pa_schema_errors(compiled, doc);
	}
	PG_FINALLY();
	{
		json_decref(doc);
	}
	PG_END_TRY();

	json_array_foreach(errors, i, e)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		const char *keys[4] = {"path", "keyword", "message", "schema_path"};
		int			k;

		for (k = 0; k < 4; k++)
		{
			const char *s = json_string_value(json_object_get(e, keys[k]));

			if (s)
				values[k] = CStringGetTextDatum(s);
			else
				nulls[k] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	json_decref(errors);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pa_schema_problem);

/*
 * pa._schema_problem(schema jsonb) RETURNS text — NULL when the schema
 * compiles, else why not. Definition functions use it to refuse bad
 * schemas with their own message.
 */
Datum
pa_schema_problem(PG_FUNCTION_ARGS)
{
	Jsonb	   *schema = PG_GETARG_JSONB_P(0);
	json_t	   *doc = pa_jsonb_to_json(schema);
	char	   *err = NULL;
	PaSchema   *compiled;
	text	   *result;

	PG_TRY();
	{
		compiled = pa_schema_compile(doc, &pg_regex_hooks, &err);
	}
	PG_FINALLY();
	{
		json_decref(doc);
	}
	PG_END_TRY();
	if (compiled)
	{
		pa_schema_free(compiled);
		PG_RETURN_NULL();
	}
	result = cstring_to_text(err ? err : "unknown error");
	free(err);
	PG_RETURN_TEXT_P(result);
}
