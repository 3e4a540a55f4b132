/*
 * jsonschema_suite.c — run the JSON Schema Test Suite (draft 2020-12)
 * against the plain-C validator, outside the server.
 *
 *   jsonschema_suite <suite-dir> [-v]
 *
 * Every *.json file of the directory is an array of groups
 * {description, schema, tests: [{description, data, valid}]}.  Prints one
 * line per in-scope file ("file.json: P/T passed"), a FAIL line per failing
 * test, the number of tests in scope, and last "N passed, N failed".
 * Exit status 1 if any test failed or the in-scope count is not the one the
 * suite's README promises (so a drifting skip list is noticed).
 *
 * Patterns run on glibc <regex.h> after translation to POSIX ERE
 * (regex_ecma.h); the process stays in the C locale, which the byte-level
 * translation expects.
 */
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "regex_ecma.h"
#include "posix_regex_hooks.h"

/* README.md of the suite: "That leaves 1,008 tests in scope." */
#define EXPECTED_IN_SCOPE 1008

/*
 * What the suite's README puts out of scope: test/conformance/out_of_scope.txt,
 * shared with the server-side runner (run_server_suite.py). Each line is
 * "file.json" (the whole file) or "file.json: group description"; '#'
 * starts a comment.
 */
#define MAX_SKIPS 64

typedef struct SuiteSkip
{
	char	   *file;
	char	   *group;			/* NULL: the whole file */
} SuiteSkip;

static SuiteSkip suite_skips[MAX_SKIPS];
static int	n_skips = 0;

static void
load_scope(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[1024];

	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f))
	{
		char	   *sep;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n_skips == MAX_SKIPS)
		{
			fprintf(stderr, "%s: too many lines\n", path);
			exit(2);
		}
		sep = strstr(line, ": ");
		if (sep)
		{
			*sep = '\0';
			suite_skips[n_skips].group = strdup(sep + 2);
		}
		suite_skips[n_skips].file = strdup(line);
		n_skips++;
	}
	fclose(f);
}

static void
free_scope(void)
{
	int			i;

	for (i = 0; i < n_skips; i++)
	{
		free(suite_skips[i].file);
		free(suite_skips[i].group);
	}
}

static int
skipped(const char *file, const char *group)
{
	int			i;

	for (i = 0; i < n_skips; i++)
		if (strcmp(suite_skips[i].file, file) == 0 &&
			(suite_skips[i].group == NULL ||
			 (group && strcmp(suite_skips[i].group, group) == 0)))
			return 1;
	return 0;
}

/* ---------- the run ---------- */

typedef struct Totals
{
	int			passed;
	int			failed;
	int			verbose;
} Totals;

static const char *
str_or(json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

/*
 * One test: both entry points must agree with "valid", and with each
 * other (an empty error array exactly when valid).
 */
static int
run_test(const PaSchema *schema, json_t *test, int verbose, char **why)
{
	json_t	   *data = json_object_get(test, "data");
	int			expect = json_is_true(json_object_get(test, "valid"));
	char	   *err = NULL;
	json_t	   *errors;
	int			fast;

	fast = pa_schema_is_valid(schema, data, &err);
	if (fast < 0)
	{
		*why = err;
		return 0;
	}
	errors = pa_schema_validate(schema, data, 0, &err);
	if (errors == NULL)
	{
		*why = err;
		return 0;
	}
	if (verbose && json_array_size(errors) > 0)
	{
		char	   *dump = json_dumps(errors, JSON_COMPACT);

		printf("    errors: %s\n", dump ? dump : "?");
		free(dump);
	}
	if ((json_array_size(errors) == 0) != (fast == 1))
	{
		*why = strdup("pa_schema_is_valid and pa_schema_validate disagree");
		json_decref(errors);
		return 0;
	}
	json_decref(errors);
	return fast == expect;
}

static void
run_file(const char *dir, const char *file, Totals *t)
{
	char		path[4096];
	json_error_t jerr;
	json_t	   *groups;
	size_t		g,
				i;
	int			passed = 0,
				total = 0;
	PaRegexHooks hooks = {posix_compile, posix_match, posix_release, NULL};
	/* FAIL lines are printed after the file's summary line */
	char	   *fails = NULL;
	size_t		fails_len = 0;
	FILE	   *fs = open_memstream(&fails, &fails_len);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	if (!json_is_array(groups))
	{
		printf("%s: cannot load: %s\n", file, jerr.text);
		t->failed++;
		json_decref(groups);
		fclose(fs);
		free(fails);
		return;
	}
	for (g = 0; g < json_array_size(groups); g++)
	{
		json_t	   *group = json_array_get(groups, g);
		const char *gdesc = str_or(json_object_get(group, "description"), "?");
		json_t	   *tests = json_object_get(group, "tests");
		char	   *cerr = NULL;
		PaSchema   *schema;

		if (skipped(file, gdesc))
			continue;
		schema = pa_schema_compile(json_object_get(group, "schema"), &hooks, &cerr);
		for (i = 0; i < json_array_size(tests); i++)
		{
			json_t	   *test = json_array_get(tests, i);
			const char *tdesc = str_or(json_object_get(test, "description"), "?");
			char	   *why = NULL;
			int			ok;

			if (t->verbose)
				printf("  %s / %s\n", gdesc, tdesc);
			total++;
			if (schema == NULL)
			{
				ok = 0;
				why = strdup(cerr ? cerr : "compile failed");
			}
			else
				ok = run_test(schema, test, t->verbose, &why);
			if (ok)
				passed++;
			else
				fprintf(fs, "FAIL %s: %s / %s%s%s\n", file, gdesc, tdesc,
						why ? ": " : "", why ? why : "");
			free(why);
		}
		free(cerr);
		pa_schema_free(schema);
	}
	json_decref(groups);
	fclose(fs);
	printf("%s: %d/%d passed\n", file, passed, total);
	if (fails)
		fputs(fails, stdout);
	free(fails);
	t->passed += passed;
	t->failed += total - passed;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int
main(int argc, char **argv)
{
	DIR		   *d;
	struct dirent *de;
	char	  **names = NULL;
	size_t		n = 0,
				i;
	Totals		t = {0, 0, 0};
	int			in_scope;
	char		scope[4096];
	const char *slash = strrchr(argv[0], '/');

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s <suite-dir> [-v]\n", argv[0]);
		return 2;
	}
	t.verbose = argc > 2 && strcmp(argv[2], "-v") == 0;
	/* out_of_scope.txt sits beside this program's source and binary */
	snprintf(scope, sizeof(scope), "%.*sout_of_scope.txt",
			 slash ? (int) (slash - argv[0] + 1) : 0, argv[0]);
	load_scope(scope);
	if ((d = opendir(argv[1])) == NULL)
	{
		perror(argv[1]);
		return 2;
	}
	while ((de = readdir(d)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
		{
			names = realloc(names, (n + 1) * sizeof(char *));
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(char *), name_cmp);
	for (i = 0; i < n; i++)
	{
		if (!skipped(names[i], NULL))
			run_file(argv[1], names[i], &t);
		free(names[i]);
	}
	free(names);
	free_scope();
	in_scope = t.passed + t.failed;
	printf("%d tests in scope (README: %d)\n", in_scope, EXPECTED_IN_SCOPE);
	printf("%d passed, %d failed\n", t.passed, t.failed);
	return (t.failed > 0 || in_scope != EXPECTED_IN_SCOPE) ? 1 : 0;
}
