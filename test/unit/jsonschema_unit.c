/*
 * jsonschema_unit.c — focused tests of the validator's contract that the
 * conformance suite does not look at: compile-time refusals and their
 * messages, error objects (paths, keywords, sentences), max_errors, depth
 * guards, number edge cases, and the ECMA pattern translator.
 *
 * Built and run by test/conformance/Makefile (make unit-check).  Ends with
 * "N passed, N failed"; exit status 1 if any failed.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "regex_ecma.h"

#include "unit_check.h"



/* ---------- glibc regex hooks (as in the conformance runner) ---------- */

static int	fail_matches;		/* make the match hook report an error */

static void *
re_compile(const char *pattern, char **errmsg, void *arg)
{
	char	   *ere = pa_regex_translate(pattern, PA_RE_TARGET_POSIX_ERE, errmsg);
	regex_t    *re;

	(void) arg;
	if (ere == NULL)
		return NULL;
	re = malloc(sizeof(regex_t));
	if (re == NULL || regcomp(re, ere, REG_EXTENDED | REG_NOSUB) != 0)
	{
		free(re);
		free(ere);
		*errmsg = strdup("regcomp failed");
		return NULL;
	}
	free(ere);
	return re;
}

static int
re_match(void *handle, const char *subject, size_t len, void *arg)
{
	regmatch_t	m;

	(void) arg;
	if (fail_matches)
		return -1;
	m.rm_so = 0;
	m.rm_eo = (regoff_t) len;
	return regexec(handle, subject, 1, &m, REG_STARTEND) == 0;
}

static void
re_release(void *handle, void *arg)
{
	(void) arg;
	regfree(handle);
	free(handle);
}

static const PaRegexHooks hooks = {re_compile, re_match, re_release, NULL};

/* ---------- helpers ---------- */

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t	   *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
	{
		printf("bad test JSON: %s: %s\n", text, err.text);
		exit(2);
	}
	return j;
}

/* Compile "schema"; return the error message (malloc'd) or NULL if it compiled. */
static char *
compile_error(const char *schema, const PaRegexHooks *h)
{
	json_t	   *j = parse(schema);
	char	   *err = NULL;
	PaSchema   *s = pa_schema_compile(j, h, &err);

	pa_schema_free(s);
	json_decref(j);
	return err;
}

static void
expect_compile_error(const char *schema, const char *expected)
{
	char	   *err = compile_error(schema, &hooks);

	CHECK(err && strstr(err, expected) != NULL, schema);
	if (err == NULL || strstr(err, expected) == NULL)
		printf("  expected \"%s\", got \"%s\"\n", expected, err ? err : "(compiled)");
	free(err);
}

static void
expect_compiles(const char *schema)
{
	char	   *err = compile_error(schema, &hooks);

	CHECK(err == NULL, schema);
	if (err)
		printf("  unexpected error: %s\n", err);
	free(err);
}

/* Validate; return the errors as compact JSON text (malloc'd), or NULL. */
static char *
errors_of(const char *schema, const char *instance, int max_errors)
{
	json_t	   *sj = parse(schema),
			   *ij = parse(instance),
			   *errs;
	char	   *err = NULL,
			   *text = NULL;
	PaSchema   *s = pa_schema_compile(sj, &hooks, &err);

	if (s == NULL)
	{
		printf("  compile failed: %s\n", err);
		free(err);
	}
	else if ((errs = pa_schema_validate(s, ij, max_errors, &err)) == NULL)
	{
		text = err;
	}
	else
	{
		int			fast = pa_schema_is_valid(s, ij, &err);

		text = json_dumps(errs, JSON_COMPACT);
		/* the fast path must agree */
		if (fast != (json_array_size(errs) == 0))
		{
			free(text);
			text = strdup("is_valid disagrees");
		}
		json_decref(errs);
	}
	pa_schema_free(s);
	json_decref(sj);
	json_decref(ij);
	return text;
}

static void
expect_errors(const char *schema, const char *instance, int max_errors,
			  const char *expected)
{
	char	   *got = errors_of(schema, instance, max_errors);

	CHECK(got && strcmp(got, expected) == 0, instance);
	if (got == NULL || strcmp(got, expected) != 0)
		printf("  schema %s\n  expected %s\n  got      %s\n", schema, expected, got ? got : "NULL");
	free(got);
}

static int
is_valid(const char *schema, const char *instance)
{
	char	   *got = errors_of(schema, instance, 1);
	int			rc = got ? strcmp(got, "[]") == 0 : -1;

	free(got);
	return rc;
}

/* ---------- tests ---------- */

static void
test_compile_errors(void)
{
	expect_compile_error("{\"properties\":{\"age\":{\"minimum\":\"x\"}}}",
						 "/properties/age/minimum: must be a number");
	expect_compile_error("{\"minLength\":-1}", "/minLength: must be a non-negative integer");
	expect_compile_error("{\"maxItems\":1.5}", "/maxItems: must be a non-negative integer");
	expect_compile_error("{\"required\":\"a\"}", "/required: must be an array of strings");
	expect_compile_error("{\"required\":[\"a\",\"a\"]}", "/required: must not contain \"a\" twice");
	expect_compile_error("{\"type\":\"strng\"}", "/type: unknown type \"strng\"");
	expect_compile_error("{\"type\":[]}", "/type: must not be an empty array");
	expect_compile_error("{\"enum\":1}", "/enum: must be an array");
	expect_compile_error("{\"multipleOf\":0}", "/multipleOf: must be greater than 0");
	expect_compile_error("{\"allOf\":[]}", "/allOf: must be a non-empty array of schemas");
	expect_compile_error("{\"properties\":{\"a\":1}}",
						 "/properties/a: must be a schema (an object or a boolean)");
	expect_compile_error("42", "(root): must be a schema");
	expect_compile_error("{\"items\":[{}]}", "/items: must be a schema (since draft 2020-12");
	expect_compile_error("{\"pattern\":\"(\"}", "/pattern: invalid regular expression \"(\": missing )");
	expect_compile_error("{\"patternProperties\":{\"a[\":{}}}",
						 "/patternProperties/a[: invalid regular expression \"a[\": unterminated character class");
	expect_compile_error("{\"pattern\":\"\\\\p{Script=Greek}\"}", "unsupported Unicode property");
	expect_compile_error("{\"$ref\":\"#/$defs/nope\"}", "/$ref: cannot resolve reference \"#/$defs/nope\"");
	expect_compile_error("{\"$ref\":\"#nope\"}", "/$ref: cannot resolve reference \"#nope\"");
	expect_compile_error("{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}",
						 "only references within this schema are supported");
	expect_compile_error("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
						 "$ref loop");
	expect_compile_error("{\"$ref\":\"#\"}", "$ref loop");
	expect_compile_error("{\"anyOf\":[{\"type\":\"string\"},{\"$ref\":\"#\"}]}", "$ref loop");
	expect_compile_error("{\"unevaluatedProperties\":false}", "/unevaluatedProperties: is not supported");
	expect_compile_error("{\"$dynamicRef\":\"#x\"}", "/$dynamicRef: is not supported");
	expect_compile_error("{\"$id\":\"http://x/y#frag\"}", "/$id: must not contain a fragment");
	expect_compile_error("{\"$anchor\":\"1x\"}", "/$anchor: must be a name");
	expect_compile_error("{\"$defs\":{\"a\":{\"$id\":\"http://x/a\"},\"b\":{\"$id\":\"http://x/a\"}}}",
						 "duplicate identifier \"http://x/a\"");

	/* valid schemas, including recursion that consumes input */
	expect_compiles("true");
	expect_compiles("{}");
	expect_compiles("{\"properties\":{\"next\":{\"$ref\":\"#\"}}}");
	expect_compiles("{\"$defs\":{\"t\":{\"items\":{\"$ref\":\"#/$defs/t\"}}},\"$ref\":\"#/$defs/t\"}");
	expect_compiles("{\"x-unknown\":{\"$ref\":\"#/nowhere\"},\"minLength\":2.0}");

	{
		char	   *err = compile_error("{\"pattern\":\"a\"}", NULL);

		CHECK(err && strstr(err, "/pattern: regular expressions are not available"), "no hooks");
		free(err);
	}
}

static void
test_error_objects(void)
{
	const char *schema =
		"{\"type\":\"object\",\"required\":[\"email\"],"
		"\"properties\":{\"age\":{\"type\":\"integer\",\"maximum\":10},"
		"\"level\":{\"enum\":[\"low\",\"high\"]},\"a/b~c\":{\"type\":\"string\"}},"
		"\"additionalProperties\":false}";

	expect_errors(schema, "{\"age\":11,\"level\":\"mid\",\"foo\":1,\"a/b~c\":2}", 0,
				  "[{\"path\":\"\",\"keyword\":\"required\",\"schema_path\":\"/required\",\"message\":\"must have required property \\\"email\\\"\"},"
				  "{\"path\":\"/age\",\"keyword\":\"maximum\",\"schema_path\":\"/properties/age/maximum\",\"message\":\"must be <= 10\"},"
				  "{\"path\":\"/level\",\"keyword\":\"enum\",\"schema_path\":\"/properties/level/enum\",\"message\":\"must be one of: \\\"low\\\", \\\"high\\\"\"},"
				  "{\"path\":\"\",\"keyword\":\"additionalProperties\",\"schema_path\":\"/additionalProperties\",\"message\":\"must not have additional property \\\"foo\\\"\"},"
				  "{\"path\":\"/a~1b~0c\",\"keyword\":\"type\",\"schema_path\":\"/properties/a~1b~0c/type\",\"message\":\"must be string, not integer\"}]");
	/* max_errors stops after the first */
	expect_errors(schema, "{\"age\":11,\"level\":\"mid\"}", 1,
				  "[{\"path\":\"\",\"keyword\":\"required\",\"schema_path\":\"/required\",\"message\":\"must have required property \\\"email\\\"\"}]");
	expect_errors("{\"items\":{\"type\":[\"string\",\"null\"]}}", "[null,1]", 0,
				  "[{\"path\":\"/1\",\"keyword\":\"type\",\"schema_path\":\"/items/type\",\"message\":\"must be null or string, not integer\"}]");
	expect_errors("{\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}", "{\"Foo\":1}", 0,
				  "[{\"path\":\"\",\"keyword\":\"propertyNames\",\"schema_path\":\"/propertyNames/pattern\",\"message\":\"property name \\\"Foo\\\" must match pattern \\\"^[a-z]+$\\\"\"}]");
	expect_errors("{\"prefixItems\":[{}],\"items\":false}", "[1,2]", 0,
				  "[{\"path\":\"\",\"keyword\":\"items\",\"schema_path\":\"/items\",\"message\":\"must have at most 1 item\"}]");
	expect_errors("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1", 0,
				  "[{\"path\":\"\",\"keyword\":\"oneOf\",\"schema_path\":\"/oneOf\",\"message\":\"must match exactly one schema in \\\"oneOf\\\", but matches more than one (0 and 1)\"}]");
	expect_errors("{\"anyOf\":[{\"type\":\"string\"},{\"properties\":{\"a\":{\"const\":1}}}]}", "{\"a\":2}", 0,
				  "[{\"path\":\"\",\"keyword\":\"anyOf\",\"schema_path\":\"/anyOf\",\"message\":\"must match at least one schema in \\\"anyOf\\\": [0] must be string, not object; [1] at /a: must be exactly 1\"}]");
	expect_errors("{\"$defs\":{\"pos\":{\"exclusiveMinimum\":0}},\"items\":{\"$ref\":\"#/$defs/pos\"}}", "[1,0]", 0,
				  "[{\"path\":\"/1\",\"keyword\":\"exclusiveMinimum\",\"schema_path\":\"/$defs/pos/exclusiveMinimum\",\"message\":\"must be > 0\"}]");
	expect_errors("{\"uniqueItems\":true}", "[1,2,1.0,2]", 0,
				  "[{\"path\":\"\",\"keyword\":\"uniqueItems\",\"schema_path\":\"/uniqueItems\",\"message\":\"must not contain duplicate items (items 0 and 2 are equal)\"}]");
	expect_errors("{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"a\":1}", 0,
				  "[{\"path\":\"\",\"keyword\":\"dependentRequired\",\"schema_path\":\"/dependentRequired\",\"message\":\"must have property \\\"b\\\" when property \\\"a\\\" is present\"}]");
	expect_errors("{\"contains\":{\"type\":\"string\"},\"minContains\":2}", "[\"a\",1]", 0,
				  "[{\"path\":\"\",\"keyword\":\"minContains\",\"schema_path\":\"/minContains\",\"message\":\"must contain at least 2 items matching the \\\"contains\\\" schema (found 1)\"}]");
	expect_errors("{\"minLength\":3}", "\"\xc3\xa9\xc3\xa9\"", 0,
				  "[{\"path\":\"\",\"keyword\":\"minLength\",\"schema_path\":\"/minLength\",\"message\":\"must be at least 3 characters long\"}]");
	expect_errors("false", "1", 0,
				  "[{\"path\":\"\",\"keyword\":\"false\",\"schema_path\":\"\",\"message\":\"is not allowed here (the schema is false)\"}]");
}

static void
test_numbers(void)
{
	CHECK(is_valid("{\"multipleOf\":0.0001}", "0.0075") == 1, "0.0075 multipleOf 0.0001");
	CHECK(is_valid("{\"multipleOf\":0.1}", "0.3") == 1, "0.3 multipleOf 0.1");
	CHECK(is_valid("{\"multipleOf\":0.01}", "19.99") == 1, "19.99 multipleOf 0.01");
	CHECK(is_valid("{\"multipleOf\":0.01}", "19.995") == 0, "19.995 multipleOf 0.01");
	CHECK(is_valid("{\"multipleOf\":0.123456789}", "1e308") == 0, "1e308 multipleOf 0.123456789");
	CHECK(is_valid("{\"multipleOf\":1e-8}", "12391239123") == 1, "big int multipleOf 1e-8");
	CHECK(is_valid("{\"multipleOf\":3}", "-9223372036854775806") == 1, "-(2^63-2) multipleOf 3");
	CHECK(is_valid("{\"multipleOf\":3.0}", "-9223372036854775806") == 1, "-(2^63-2) multipleOf 3.0");
	CHECK(is_valid("{\"multipleOf\":3}", "-9223372036854775808") == 0, "-2^63 multipleOf 3");
	CHECK(is_valid("{\"multipleOf\":0.5}", "-9223372036854775808") == 1, "-2^63 multipleOf 0.5");
	CHECK(is_valid("{\"multipleOf\":2.5}", "7.5") == 1, "7.5 multipleOf 2.5");
	CHECK(is_valid("{\"multipleOf\":2.5}", "1e300") == 1, "1e300 multipleOf 2.5");
	CHECK(is_valid("{\"type\":\"integer\"}", "1.0") == 1, "1.0 is an integer");
	CHECK(is_valid("{\"type\":\"integer\"}", "1e300") == 1, "1e300 is an integer");
	CHECK(is_valid("{\"type\":\"integer\"}", "1.5") == 0, "1.5 is not an integer");
	CHECK(is_valid("{\"const\":1}", "1.0") == 1, "1 == 1.0");
	CHECK(is_valid("{\"const\":9007199254740993}", "9007199254740992.0") == 0,
		  "2^53+1 != 2^53 (exact int/real comparison)");
	CHECK(is_valid("{\"maximum\":9007199254740992.0}", "9007199254740993") == 0,
		  "2^53+1 > 2^53.0");
	CHECK(is_valid("{\"enum\":[{\"a\":[1,2.0]}]}", "{\"a\":[1.0,2]}") == 1, "deep numeric equality");
}

/* a value nested "depth" arrays deep */
static json_t *
nested_arrays(int depth)
{
	json_t	   *v = json_array();
	int			i;

	for (i = 1; i < depth; i++)
	{
		json_t	   *outer = json_array();

		json_array_append_new(outer, v);
		v = outer;
	}
	return v;
}

static void
test_depth_guards(void)
{
	json_t	   *schema = parse("{\"items\":{\"$ref\":\"#\"}}");
	json_t	   *deep = nested_arrays(PA_SCHEMA_MAX_DEPTH + 50);
	json_t	   *shallow = nested_arrays(100);
	char	   *err = NULL;
	PaSchema   *s = pa_schema_compile(schema, &hooks, &err);
	json_t	   *errs;
	json_t	   *nest;
	int			i;

	CHECK(s != NULL, "recursive items schema compiles");
	errs = pa_schema_validate(s, deep, 0, &err);
	CHECK(errs == NULL && err && strstr(err, "nested deeper"), "deep instance is an error");
	free(err);
	err = NULL;
	CHECK(pa_schema_is_valid(s, deep, &err) == -1 && err, "deep instance is an error (fast path)");
	free(err);
	err = NULL;
	CHECK(pa_schema_is_valid(s, shallow, &err) == 1, "100 levels are fine");
	pa_schema_free(s);
	json_decref(schema);
	json_decref(deep);
	json_decref(shallow);

	/* a schema nested deeper than the limit is refused at compile time */
	nest = json_pack("{}");
	for (i = 0; i < PA_SCHEMA_MAX_DEPTH + 50; i++)
		nest = json_pack("{s:o}", "not", nest);
	s = pa_schema_compile(nest, &hooks, &err);
	CHECK(s == NULL && err && strstr(err, "nested too deeply"), "deep schema refused");
	free(err);
	pa_schema_free(s);
	json_decref(nest);
}

/* Long names and values make long messages, which must stay valid UTF-8. */
static void
test_long_messages(void)
{
	char		name[3000];
	char	   *schema,
			   *got;
	int			i;

	/* "é" repeated: any byte-level cut would split a character */
	for (i = 0; i < 1400; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[2800] = '\0';
	schema = malloc(7000);
	snprintf(schema, 7000, "{\"required\":[\"%s\"],\"pattern\":\"^%s$\"}", name, name);
	got = errors_of(schema, "\"x\"", 0);
	CHECK(got && strstr(got, "must match pattern \\\"^\xc3\xa9") && strstr(got, "...\""), "long pattern is cut with ...");
	free(got);
	got = errors_of(schema, "{}", 0);
	CHECK(got && strstr(got, name), "long property name is quoted whole");
	free(got);
	free(schema);
}

static void
test_regex_hook_error(void)
{
	json_t	   *schema = parse("{\"pattern\":\"a\"}");
	json_t	   *inst = parse("\"abc\"");
	char	   *err = NULL;
	PaSchema   *s = pa_schema_compile(schema, &hooks, &err);
	json_t	   *errs;

	fail_matches = 1;
	errs = pa_schema_validate(s, inst, 0, &err);
	CHECK(errs == NULL && err && strstr(err, "regular expression match failed"), "match hook error");
	free(err);
	err = NULL;
	CHECK(pa_schema_is_valid(s, inst, &err) == -1, "match hook error (fast path)");
	free(err);
	fail_matches = 0;
	pa_schema_free(s);
	json_decref(schema);
	json_decref(inst);
}

static void
expect_translation(const char *ecma, PaRegexTarget t, const char *expected)
{
	char	   *err = NULL;
	char	   *got = pa_regex_translate(ecma, t, &err);
	const char *shown = got ? got : err;

	CHECK(shown && strcmp(shown, expected) == 0, ecma);
	if (shown == NULL || strcmp(shown, expected) != 0)
		printf("  expected %s\n  got      %s\n", expected, shown ? shown : "NULL");
	free(got);
	free(err);
}

static void
test_translator(void)
{
	expect_translation("^\\d{3}-\\w+$", PA_RE_TARGET_ARE, "^[0-9]{3}-[0-9A-Z\\u005Fa-z]+$");
	expect_translation("^[^\\s]$", PA_RE_TARGET_ARE,
					   "^[^\\u0009-\\u000D\\u0020\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF]$");
	expect_translation("a+?(?:b|c)*(?=d)", PA_RE_TARGET_ARE, "a+(?:b|c)*(?=d)");
	expect_translation("(?<y>\\d)\\k<y>", PA_RE_TARGET_ARE, "([0-9])(?:\\1)");
	expect_translation("(?:a)(b)\\1", PA_RE_TARGET_POSIX_ERE, "(a)(b)\\2");
	expect_translation("[\\]\\-^]", PA_RE_TARGET_POSIX_ERE, "[]^-]");
	expect_translation("\\u{1F600}|x{2,}", PA_RE_TARGET_ARE, "\xf0\x9f\x98\x80|x{2,}");
	expect_translation("a{300}", PA_RE_TARGET_ARE, "repetition count above 255 is not supported at offset 1");
	expect_translation("(a)|\\1", PA_RE_TARGET_ARE,
					   "back reference to a group that may not take part in the match is not supported at offset 4");
	expect_translation("[\\d-z]", PA_RE_TARGET_ARE, "character class escape cannot bound a range at offset 5");
	expect_translation("(?=a)", PA_RE_TARGET_POSIX_ERE,
					   "lookahead and lookbehind are not supported by POSIX regular expressions at offset 0");
	expect_translation("\\A", PA_RE_TARGET_ARE, "invalid escape \\A at offset 1");
	expect_translation("a**", PA_RE_TARGET_ARE, "nothing to repeat at offset 2");
	expect_translation("", PA_RE_TARGET_ARE, "");
}

int
main(void)
{
	test_compile_errors();
	test_error_objects();
	test_numbers();
	test_depth_guards();
	test_long_messages();
	test_regex_hook_error();
	test_translator();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
