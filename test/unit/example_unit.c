/*
 * example_unit.c — the `test` provider kind outside the server: example
 * instances of JSON Schemas (src/schema_example.c) and the test model's
 * turns (src/provider_test.c).
 *
 *   example_unit [json-schema-test-suite dir]   (or $PA_JSON_SCHEMA_SUITE)
 *
 * Every example is checked with the project's validator. With the
 * official suite's directory, every draft 2020-12 schema that some test
 * shows satisfiable gets an example too, and the share of valid ones is
 * printed and held to a floor (measured when written).
 */
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "model.h"
#include "regex_ecma.h"
#include "schema_example.h"
#include "../conformance/posix_regex_hooks.h"
#include "unit_check.h"

static PaRegexHooks hooks = {posix_compile, posix_match, posix_release, NULL};

/* 1 when the example of schema (JSON text) is valid against it */
static int
example_valid(json_t *schema, json_t **example_out)
{
	char	   *err = NULL;
	PaSchema   *compiled = pa_schema_compile(schema, &hooks, &err);
	json_t	   *ex;
	int			ok;

	if (compiled == NULL)
	{
		printf("  cannot compile: %s\n", err);
		free(err);
		return -1;
	}
	ex = pa_schema_example(schema);
	ok = ex != NULL && pa_schema_is_valid(compiled, ex, &err) == 1;
	free(err);
	pa_schema_free(compiled);
	if (example_out)
		*example_out = ex;
	else
		json_decref(ex);
	return ok;
}

static void
check_schema(const char *text, const char *expect)
{
	json_t	   *schema = json_loads(text, 0, NULL);
	json_t	   *ex = NULL;
	int			ok = schema ? example_valid(schema, &ex) : -1;
	char	   *dump = ex ? json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char		name[600];

	snprintf(name, sizeof(name), "example of %s is valid (got %s)", text, dump ? dump : "NULL");
	CHECK(ok == 1, name);
	if (expect)
	{
		snprintf(name, sizeof(name), "example of %s is %s (got %s)", text, expect, dump ? dump : "NULL");
		CHECK(dump && strcmp(dump, expect) == 0, name);
	}
	free(dump);
	json_decref(ex);
	json_decref(schema);
}

static void
test_examples(void)
{
	/* what agents' outputs and tools look like */
	check_schema("{\"type\": \"object\", \"required\": [\"title\", \"priority\"], \"properties\": {"
				 "\"title\": {\"type\": \"string\", \"minLength\": 12}, \"priority\": {\"enum\": [\"low\", \"high\"]},"
				 "\"score\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 5},"
				 "\"ratio\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1},"
				 "\"ok\": {\"type\": \"boolean\"}, \"when\": {\"type\": \"string\", \"format\": \"date-time\"},"
				 "\"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"minItems\": 3, \"uniqueItems\": true}}}",
				 "{\"title\":\"examplexxxxx\",\"priority\":\"low\",\"score\":1,\"ratio\":0.5,\"ok\":true,"
				 "\"when\":\"2026-01-15T09:30:00Z\",\"tags\":[\"example\",\"example 2\",\"example 3\"]}");
	check_schema("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"exclusiveMinimum\": 5, \"multipleOf\": 4}}}",
				 "{\"n\":8}");
	check_schema("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"number\", \"maximum\": -3.5}}}",
				 "{\"n\":-3.5}");
	check_schema("{\"type\": [\"null\", \"string\"], \"maxLength\": 3}", "\"exa\"");
	check_schema("{\"type\": \"null\"}", "null");
	check_schema("{\"const\": {\"a\": [1, 2]}}", "{\"a\":[1,2]}");
	/* a pattern is met through an example the schema gives */
	check_schema("{\"type\": \"string\", \"pattern\": \"^ORD-[0-9]{5}$\", \"examples\": [\"ORD-12345\"]}", "\"ORD-12345\"");
	check_schema("{\"type\": \"string\", \"default\": \"x\"}", "\"x\"");
	/* references, applicators */
	check_schema("{\"$defs\": {\"line\": {\"type\": \"object\", \"required\": [\"sku\"], \"properties\": {\"sku\": {\"type\": \"string\"}}}},"
				 "\"type\": \"object\", \"properties\": {\"lines\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/line\"}}}}",
				 "{\"lines\":[{\"sku\":\"example\"}]}");
	check_schema("{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]},"
				 "{\"properties\": {\"b\": {\"type\": \"boolean\"}}, \"required\": [\"b\"]}]}",
				 "{\"a\":1,\"b\":true}");
	check_schema("{\"anyOf\": [{\"type\": \"string\", \"format\": \"email\"}, {\"type\": \"integer\"}]}",
				 "\"customer@example.com\"");
	check_schema("{\"oneOf\": [{\"type\": \"object\", \"required\": [\"refund\"], \"properties\": {\"refund\": {\"type\": \"number\", \"minimum\": 0}}},"
				 "{\"type\": \"object\", \"required\": [\"replace\"], \"properties\": {\"replace\": {\"type\": \"boolean\"}}}]}",
				 "{\"refund\":0}");
	check_schema("{\"type\": \"object\", \"required\": [\"x\"], \"additionalProperties\": {\"type\": \"integer\"}, \"minProperties\": 3}",
				 "{\"x\":1,\"extra_1\":1,\"extra_2\":1}");
	check_schema("{\"type\": \"array\", \"prefixItems\": [{\"type\": \"integer\"}, {\"type\": \"string\"}], \"items\": false}",
				 "[1,\"example\"]");
	check_schema("{\"type\": \"array\", \"contains\": {\"const\": 7}, \"items\": {\"type\": \"integer\"}}", "[7]");
	check_schema("{\"type\": \"array\", \"maxItems\": 0}", "[]");
	check_schema("{\"type\": \"array\", \"minItems\": 2, \"uniqueItems\": true, \"items\": {\"type\": \"object\","
				 "\"properties\": {\"sku\": {\"type\": \"string\"}, \"n\": {\"type\": \"integer\"}}}}",
				 "[{\"sku\":\"example\",\"n\":1},{\"sku\":\"example 2\",\"n\":2}]");
	check_schema("{\"type\": \"object\", \"properties\": {\"gone\": false, \"kept\": {\"type\": \"string\", \"format\": \"uuid\"}}}",
				 "{\"kept\":\"00000000-0000-4000-8000-000000000000\"}");
	/* a recursive reference ends; the result is still an instance */
	check_schema("{\"type\": \"object\", \"properties\": {\"child\": {\"$ref\": \"#\"}}}",
				 "{\"child\":{\"child\":{\"child\":{\"child\":{}}}}}");
}

/* ---------- the test model's turns ---------- */

static json_t *
tool(const char *name, const char *params)
{
	return json_pack("{s:s, s:s, s:o}", "name", name, "description", "d", "parameters", json_loads(params, 0, NULL));
}

static json_t *
respond(PaModelRequest *req, bool call_tools)
{
	char	   *err = NULL;
	json_t	   *r = pa_test_respond(req, call_tools, &err);

	CHECK(r != NULL, "pa_test_respond answers");
	free(err);
	return r;
}

static const char *
part_name(json_t *resp, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(resp, "parts"), i), "name"));
}

static const char *
stop_of(json_t *resp)
{
	return json_string_value(json_object_get(resp, "stop"));
}

/* the assistant turn of resp, then a tool turn answering each call with ok (or an error) */
static void
answer_calls(json_t *messages, json_t *resp, bool is_error)
{
	json_t	   *results = json_array();
	size_t		i;
	json_t	   *part;

	json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "assistant", "parts", json_object_get(resp, "parts")));
	json_array_foreach(json_object_get(resp, "parts"), i, part)
		json_array_append_new(results, json_pack("{s:s, s:O, s:s, s:b}", "type", "tool_result",
												 "id", json_object_get(part, "id"), "content", "ok", "is_error", is_error));
	json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "tool", "parts", results));
}

static void
test_turns(void)
{
	json_t	   *tools = json_array();
	json_t	   *messages = json_pack("[{s:s, s:[{s:s, s:s}]}]", "role", "user", "parts", "type", "text", "text",
									 "Conversation 9\n[#41 2026-01-01T00:00:00Z customer] Hello\n[#42 agent] Hi");
	PaModelRequest req = {.model = "test-model", .system = "Do it.", .messages = messages, .tools = NULL};
	json_t	   *r,
			   *again,
			   *args;
	char	   *err = NULL;
	PaSchema   *compiled;

	/* a planning call offers no tools: a plan in text */
	r = respond(&req, true);
	CHECK(strcmp(stop_of(r), "end_turn") == 0 && part_name(r, 0) == NULL, "planning call: text, end_turn");
	CHECK(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")) > 0, "usage counted");
	json_decref(r);

	json_array_append_new(tools, tool("lookup_order", "{\"type\": \"object\", \"required\": [\"order_id\"], \"properties\": {\"order_id\": {\"type\": \"integer\", \"minimum\": 100}}}"));
	json_array_append_new(tools, tool("remember", "{\"type\": \"object\", \"properties\": {\"key\": {\"type\": \"string\"}}}"));
	json_array_append_new(tools, tool("record_ticket", "{\"type\": \"object\", \"required\": [\"title\"], \"properties\": {\"title\": {\"type\": \"string\"}}}"));
	json_array_append_new(tools, tool("record_step", "{\"type\": \"object\", \"required\": [\"object\", \"evidence\"], \"properties\": {"
									  "\"object\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"boolean\"}}},"
									  "\"evidence\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 1}}}"));
	req.tools = tools;
	req.tool_choice = "auto";

	/* without call_tools: straight to the outputs, every record_ tool once */
	r = respond(&req, false);
	CHECK(strcmp(stop_of(r), "tool_use") == 0, "records: tool_use");
	CHECK(json_array_size(json_object_get(r, "parts")) == 2 &&
		  strcmp(part_name(r, 0), "record_ticket") == 0 && strcmp(part_name(r, 1), "record_step") == 0,
		  "without call_tools: record_ticket and record_step, nothing else");
	args = json_object_get(json_array_get(json_object_get(r, "parts"), 1), "arguments");
	CHECK(json_integer_value(json_array_get(json_object_get(args, "evidence"), 0)) == 41,
		  "evidence cites the transcript's first event (#41)");
	again = respond(&req, false);
	CHECK(json_equal(r, again), "the same request gets the same answer");
	json_decref(again);
	json_decref(r);

	/* with call_tools: the agent's own tools first (not built-ins), valid arguments */
	r = respond(&req, true);
	CHECK(json_array_size(json_object_get(r, "parts")) == 1 && strcmp(part_name(r, 0), "lookup_order") == 0,
		  "call_tools: lookup_order alone first (remember is a built-in)");
	args = json_object_get(json_array_get(json_object_get(r, "parts"), 0), "arguments");
	compiled = pa_schema_compile(json_object_get(json_array_get(tools, 0), "parameters"), &hooks, &err);
	CHECK(compiled && pa_schema_is_valid(compiled, args, &err) == 1, "its arguments match its parameters");
	pa_schema_free(compiled);
	free(err);
	answer_calls(messages, r, false);
	json_decref(r);

	/* then the outputs; a rejected record is sent again, an accepted one is not */
	r = respond(&req, true);
	CHECK(json_array_size(json_object_get(r, "parts")) == 2 && strcmp(part_name(r, 0), "record_ticket") == 0,
		  "after the tool result: the records");
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(r, "parts"), 0), "id")),
				 "call_test_2") == 0, "call ids continue after the earlier calls");
	answer_calls(messages, r, true);
	json_decref(r);
	r = respond(&req, true);
	CHECK(json_array_size(json_object_get(r, "parts")) == 2, "rejected records are sent again");
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(r, "parts"), 1), "id")),
				 "call_test_5") == 0, "with fresh ids");
	answer_calls(messages, r, false);
	json_decref(r);
	r = respond(&req, true);
	CHECK(strcmp(stop_of(r), "end_turn") == 0 && part_name(r, 0) == NULL, "all recorded: a closing text turn");
	json_decref(r);

	/* tool_choice none: text only */
	req.tool_choice = "none";
	json_array_remove(messages, json_array_size(messages) - 1);
	r = respond(&req, true);
	CHECK(strcmp(stop_of(r), "end_turn") == 0, "tool_choice none: no tool call");
	json_decref(r);
	json_decref(tools);
	json_decref(messages);
}

/* ---------- the official suite's schemas ---------- */

static void
suite_coverage(const char *suite)
{
	char		dir[4096];
	DIR		   *d;
	struct dirent *e;
	int			total = 0,
				valid = 0;

	snprintf(dir, sizeof(dir), "%s", suite);
	if ((d = opendir(dir)) == NULL)
	{
		CHECK(0, "the suite's directory opens");
		return;
	}
	while ((e = readdir(d)) != NULL)
	{
		char		path[8192];
		json_t	   *groups;
		size_t		g,
					i;
		json_t	   *group,
				   *test;

		if (strstr(e->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		groups = json_load_file(path, JSON_DECODE_ANY, NULL);
		json_array_foreach(groups, g, group)
		{
			bool		satisfiable = false;
			char	   *err = NULL;
			PaSchema   *compiled;

			json_array_foreach(json_object_get(group, "tests"), i, test)
				satisfiable |= json_is_true(json_object_get(test, "valid"));
			/* out of the validator's scope (remote refs, ...): not counted */
			compiled = satisfiable ? pa_schema_compile(json_object_get(group, "schema"), &hooks, &err) : NULL;
			free(err);
			if (compiled == NULL)
				continue;
			pa_schema_free(compiled);
			total++;
			if (example_valid(json_object_get(group, "schema"), NULL) == 1)
				valid++;
			else if (getenv("PA_EXAMPLE_VERBOSE"))
				printf("  no valid example: %s / %s\n", e->d_name,
					   json_string_value(json_object_get(group, "description")));
		}
		json_decref(groups);
	}
	closedir(d);
	printf("suite coverage: %d of %d satisfiable draft 2020-12 schemas get a valid example (%.1f%%)\n",
		   valid, total, total ? 100.0 * valid / total : 0);
	/* 202 of 225 (89.8%) when written: a drop means the generator regressed */
	CHECK(total >= 200 && valid * 1000 >= total * 890, "suite coverage at least 89%");
}

int
main(int argc, char **argv)
{
	test_examples();
	test_turns();
	if (argc > 1)
		suite_coverage(argv[1]);
	else if (getenv("PA_JSON_SCHEMA_SUITE"))
		suite_coverage(getenv("PA_JSON_SCHEMA_SUITE"));
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
