/*
 * jsonschema_fuzz.c — libFuzzer target for the JSON Schema compiler and
 * validator (src/jsonschema*.c) and the ECMA pattern translator
 * (src/regex_ecma*.c).
 *
 * Input: "<schema JSON>" SEP "<instance JSON>", SEP being the first NUL
 * byte, or the first newline when there is no NUL. Without a separator
 * the schema is validated against itself. Both halves are parsed with
 * jansson; when both parse, the schema is compiled and the instance
 * validated three ways (all errors, at most one, the fast path).
 *
 * Checked beyond the sanitizers: pa_schema_is_valid and pa_schema_validate
 * agree (the contract the conformance runner checks too), and max_errors
 * is honoured.
 *
 * Patterns: every pattern is translated for both targets (PostgreSQL's
 * ARE, which the server uses, and POSIX ERE). The ERE is then run on
 * glibc <regex.h>, as the conformance runner does, unless it looks costly
 * for glibc (see ere_affordable); the fuzzer is after our code, not
 * glibc's limits. A subject containing MATCH_ERROR_MARK makes the match
 * hook fail, to exercise the validator's error path (a real engine fails
 * on out of memory or an over-complex pattern).
 */
#define _GNU_SOURCE				/* memmem */

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "regex_ecma.h"
#include "fuzz_init.h"

#define MATCH_ERROR_MARK "!regex-error!"
/* glibc expands bounded repeats by copying: keep pattern size x bounds small */
#define ERE_MAX_COST 65536
/* back references make glibc's matcher exponential in the subject length */
#define BACKREF_MAX_SUBJECT 32

typedef struct FuzzRegex
{
	regex_t		re;
	bool		compiled;		/* false: answers come from stand_in() */
	bool		backref;
} FuzzRegex;

/*
 * A rough upper bound of the work glibc's regcomp does: the pattern length
 * times every repeat bound in it (nested or not, so it overestimates).
 */
static bool
ere_affordable(const char *ere, bool *backref)
{
	double		cost = (double) strlen(ere) + 1;
	const char *p;

	*backref = false;
	for (p = ere; *p; p++)
	{
		if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9')
			*backref = true;
		else if (*p == '{')
		{
			long		bound = strtol(p + 1, NULL, 10);
			const char *comma = p + 1 + strspn(p + 1, "0123456789");

			if (*comma == ',' && comma[1] != '}')
				bound = strtol(comma + 1, NULL, 10);
			cost *= (double) bound + 1;
		}
		if (cost > ERE_MAX_COST)
			return false;
	}
	return true;
}

static void *
fuzz_compile(const char *pattern, char **errmsg, void *arg)
{
	char	   *ere;
	char	   *are;
	char	   *are_err = NULL;
	FuzzRegex  *h;

	(void) arg;
	/* the server's target: its refusals do not matter here, its crashes do */
	are = pa_regex_translate(pattern, PA_RE_TARGET_ARE, &are_err);
	free(are);
	free(are_err);

	ere = pa_regex_translate(pattern, PA_RE_TARGET_POSIX_ERE, errmsg);
	if (ere == NULL)
		return NULL;
	if ((h = calloc(1, sizeof(FuzzRegex))) == NULL)
	{
		free(ere);
		*errmsg = strdup("out of memory");
		return NULL;
	}
	if (ere_affordable(ere, &h->backref))
	{
		int			rc = regcomp(&h->re, ere, REG_EXTENDED | REG_NOSUB);

		if (rc != 0)
		{
			char		buf[256];

			regerror(rc, &h->re, buf, sizeof(buf));
			*errmsg = strdup(buf);
			free(h);
			free(ere);
			return NULL;
		}
		h->compiled = true;
	}
	free(ere);
	return h;
}

/* A deterministic answer for patterns glibc is not asked about. */
static int
stand_in(const char *subject, size_t len)
{
	uint32_t	hash = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
		hash = (hash ^ (unsigned char) subject[i]) * 16777619u;
	return (int) (hash >> 31);
}

static int
fuzz_match(void *handle, const char *subject, size_t len, void *arg)
{
	FuzzRegex  *h = handle;
	regmatch_t	m;
	int			rc;

	(void) arg;
	if (memmem(subject, len, MATCH_ERROR_MARK, strlen(MATCH_ERROR_MARK)) != NULL)
		return -1;
	if (!h->compiled || (h->backref && len > BACKREF_MAX_SUBJECT))
		return stand_in(subject, len);
	/* REG_STARTEND: the subject is counted, not NUL-terminated */
	m.rm_so = 0;
	m.rm_eo = (regoff_t) len;
	rc = regexec(&h->re, subject, 1, &m, REG_STARTEND);
	if (rc == 0)
		return 1;
	return rc == REG_NOMATCH ? 0 : -1;
}

static void
fuzz_release(void *handle, void *arg)
{
	FuzzRegex  *h = handle;

	(void) arg;
	if (h->compiled)
		regfree(&h->re);
	free(h);
}

static const PaRegexHooks hooks = {fuzz_compile, fuzz_match, fuzz_release, NULL};

static json_t *
load(const uint8_t *data, size_t size)
{
	return json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static void
check_validation(const PaSchema *schema, json_t *instance)
{
	char	   *err = NULL;
	json_t	   *all = pa_schema_validate(schema, instance, 0, &err);
	json_t	   *one;
	int			fast;

	free(err);
	err = NULL;
	fast = pa_schema_is_valid(schema, instance, &err);
	free(err);
	err = NULL;
	if (all != NULL && fast >= 0 && (json_array_size(all) == 0) != (fast == 1))
	{
		fprintf(stderr, "pa_schema_is_valid says %d but pa_schema_validate found %zu error(s)\n",
				fast, json_array_size(all));
		abort();
	}
	one = pa_schema_validate(schema, instance, 1, &err);
	free(err);
	if (one != NULL && json_array_size(one) > 1)
	{
		fprintf(stderr, "max_errors 1 gave %zu errors\n", json_array_size(one));
		abort();
	}
	json_decref(all);
	json_decref(one);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, '\0', size);
	json_t	   *schema_doc;
	json_t	   *instance;
	PaSchema   *schema;
	char	   *err = NULL;

	if (sep == NULL)
		sep = memchr(data, '\n', size);
	schema_doc = load(data, sep ? (size_t) (sep - data) : size);
	if (schema_doc == NULL)
		return 0;
	instance = sep ? load(sep + 1, size - (size_t) (sep - data) - 1) : json_incref(schema_doc);
	if (instance == NULL)
	{
		json_decref(schema_doc);
		return 0;
	}

	schema = pa_schema_compile(schema_doc, &hooks, &err);
	free(err);
	if (schema != NULL)
	{
		check_validation(schema, instance);
		pa_schema_free(schema);
	}
	json_decref(instance);
	json_decref(schema_doc);
	return 0;
}
