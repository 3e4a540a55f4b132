/*
 * providers_unit.c — the provider translators (provider_openai.c,
 * provider_anthropic.c, model.c) outside the server.
 *
 *   providers_unit [--out DIR]      unit tests; with --out every request body
 *                                   the tests mark as valid is written to DIR
 *                                   (NN-openai-name.json / NN-anthropic-...)
 *                                   for check_bodies.py to send to the
 *                                   model server
 *   providers_unit build|parse openai|anthropic     (stdin -> stdout)
 *   providers_unit error openai|anthropic STATUS    (stdin -> stdout)
 *
 * "build" reads {"model","system","messages","tools","tool_choice",
 * "force_tool","parallel_tool_calls","max_output_tokens","thinking_budget",
 * "reasoning_effort","stream"}; check_bodies.py drives whole conversations
 * through these modes. The tests end with "N passed, N failed"; exit
 * status 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_dump.h"
#include "model.h"

#include "unit_check.h"

static const char *outdir;
static int	nbodies;


typedef char *(*BuildFn) (const PaModelRequest *req, char **errmsg);
typedef json_t *(*ParseFn) (const char *body, size_t len, char **errmsg);

/* ---------- helpers ---------- */

/* A fixture: JSON text that must parse (a failure is a bug in the test). */
static json_t *
J(const char *text)
{
	json_error_t err;
	json_t	   *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
	{
		fprintf(stderr, "bad fixture: %s: %s\n", err.text, text);
		exit(2);
	}
	return v;
}

/* The value at a '/'-separated path; numeric segments index arrays. */
static json_t *
at(json_t *v, const char *path)
{
	char		seg[128];

	while (v != NULL && *path)
	{
		size_t		n = strcspn(path, "/");

		snprintf(seg, sizeof(seg), "%.*s", (int) n, path);
		path += n + (path[n] == '/');
		if (json_is_array(v))
			v = json_array_get(v, (size_t) atoi(seg));
		else
			v = json_object_get(v, seg);
	}
	return v;
}

static bool
str_is(json_t *root, const char *path, const char *want)
{
	const char *s = json_string_value(at(root, path));

	if (s == NULL || strcmp(s, want) != 0)
	{
		printf("  %s: got %s, want \"%s\"\n", path, s ? s : "(not a string)", want);
		return false;
	}
	return true;
}

static bool
int_is(json_t *root, const char *path, long long want)
{
	json_t	   *v = at(root, path);

	if (!json_is_integer(v) || json_integer_value(v) != want)
	{
		printf("  %s: want %lld\n", path, want);
		return false;
	}
	return true;
}

/* The value at path equals the JSON text want. */
static bool
json_is(json_t *root, const char *path, const char *want)
{
	json_t	   *w = J(want);
	bool		ok = json_equal(at(root, path), w);

	if (!ok)
	{
		char	   *got = at(root, path) ? json_dumps(at(root, path), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

		printf("  %s: got %s, want %s\n", path, got ? got : "(absent)", want);
		free(got);
	}
	json_decref(w);
	return ok;
}

static bool
absent(json_t *root, const char *path)
{
	return at(root, path) == NULL;
}

static bool
contains(const char *s, const char *needle)
{
	if (s != NULL && strstr(s, needle) != NULL)
		return true;
	printf("  \"%s\" does not contain \"%s\"\n", s ? s : "(null)", needle);
	return false;
}

static void
req_init(PaModelRequest *r, json_t *messages, json_t *tools)
{
	memset(r, 0, sizeof(*r));
	r->model = "test-model";
	r->system = "You are a careful agent.";
	r->messages = messages;
	r->tools = tools;
	r->parallel_tool_calls = true;
	r->max_output_tokens = 4096;
}

/*
 * Build a body and return it parsed. With "emit", the text is also written
 * to --out for the model server round trip: only bodies that must be
 * accepted as they are.
 */
static json_t *
build(const char *provider, const PaModelRequest *req, const char *name, bool emit)
{
	BuildFn		fn = strcmp(provider, "openai") == 0 ? pa_openai_build_request : pa_anthropic_build_request;
	char	   *err = NULL;
	char	   *text = fn(req, &err);
	json_t	   *body;

	if (text == NULL)
	{
		printf("  %s %s: build failed: %s\n", provider, name, err ? err : "(no errmsg)");
		free(err);
		return NULL;
	}
	if (emit && outdir != NULL)
	{
		char		path[4096];
		FILE	   *f;

		snprintf(path, sizeof(path), "%s/%02d-%s-%s.json", outdir, ++nbodies, provider, name);
		f = fopen(path, "w");
		if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		{
			fprintf(stderr, "cannot write %s\n", path);
			exit(2);
		}
	}
	body = J(text);
	free(text);
	return body;
}

/* A build that must fail; true when its sentence contains want. */
static bool
build_fails(BuildFn fn, const PaModelRequest *req, const char *want)
{
	char	   *err = NULL;
	char	   *text = fn(req, &err);
	bool		ok = text == NULL && contains(err, want);

	free(text);
	free(err);
	return ok;
}

static json_t *
parse(ParseFn fn, const char *body, char **err)
{
	*err = NULL;
	return fn(body, strlen(body), err);
}

/* A parse that must fail; true when its sentence contains want. */
static bool
parse_fails(ParseFn fn, const char *body, const char *want)
{
	char	   *err = NULL;
	json_t	   *r = fn(body, strlen(body), &err);
	bool		ok = r == NULL && contains(err, want);

	json_decref(r);
	free(err);
	return ok;
}

/* The arguments JSON string of an OpenAI tool call equals want (as JSON). */
static bool
args_are(json_t *call, const char *want)
{
	json_t	   *a = J(json_string_value(at(call, "function/arguments")));
	bool		ok = json_is(a, "", want);

	json_decref(a);
	return ok;
}

/* ---------- fixtures ---------- */

static const char *TOOLS =
"[{\"name\":\"get_weather\",\"description\":\"Weather for a city\","
"  \"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}},"
" {\"name\":\"record_weather\",\"description\":\"Record a reading\","
"  \"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"temp\":{\"type\":\"number\"}}}}]";

/* multi-step, parallel calls, a tool error, a reminder after the results */
static const char *MULTI_STEP =
"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Record the weather for Paris and Oslo.\"}]},"
" {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Looking both up.\"},"
"   {\"type\":\"tool_call\",\"id\":\"toolu_01A\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
"   {\"type\":\"tool_call\",\"id\":\"toolu_01B\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}]},"
" {\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"toolu_01A\",\"content\":\"{\\\"temp\\\":21}\",\"is_error\":false},"
"   {\"type\":\"tool_result\",\"id\":\"toolu_01B\",\"content\":\"city not found\",\"is_error\":true}]},"
" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Reminder: record the reading next.\"}]},"
" {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"toolu_01C\",\"name\":\"record_weather\","
"   \"arguments\":{\"city\":\"Paris\",\"temp\":21}}]},"
" {\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"toolu_01C\",\"content\":{\"saved\":true}}]}]";

/* an assistant turn as it came back with thinking on */
static const char *THINKING =
"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Weather in Paris?\"}]},"
" {\"role\":\"assistant\",\"parts\":["
"   {\"type\":\"thinking\",\"thinking\":\"The user wants Paris.\\nCall the tool.\",\"signature\":\"fixture-sig==\"},"
"   {\"type\":\"redacted_thinking\",\"data\":\"fixture-redacted\"},"
"   {\"type\":\"text\",\"text\":\"Checking.\"},"
"   {\"type\":\"tool_call\",\"id\":\"toolu_01T\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]},"
" {\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"toolu_01T\",\"content\":\"21 C\"}]}]";

/* ---------- building ---------- */

static void
test_multi_step(void)
{
	PaModelRequest r;
	json_t	   *msgs = J(MULTI_STEP),
			   *tools = J(TOOLS),
			   *b;

	req_init(&r, msgs, tools);
	r.tool_choice = "auto";

	b = build("openai", &r, "multi-step", true);
	CHECK(b != NULL, "openai multi-step builds");
	CHECK(str_is(b, "model", "test-model") && int_is(b, "max_completion_tokens", 4096),
		  "openai model and max_completion_tokens");
	CHECK(json_array_size(at(b, "messages")) == 8, "openai: system + 7 messages (one per tool result)");
	CHECK(str_is(b, "messages/0/role", "system") && str_is(b, "messages/0/content", "You are a careful agent."),
		  "openai system prompt is the first message");
	CHECK(str_is(b, "messages/1/content", "Record the weather for Paris and Oslo."), "openai user content is a string");
	CHECK(str_is(b, "messages/2/content", "Looking both up.") &&
		  json_array_size(at(b, "messages/2/tool_calls")) == 2, "openai assistant text and two calls");
	CHECK(str_is(b, "messages/2/tool_calls/1/id", "toolu_01B") &&
		  str_is(b, "messages/2/tool_calls/1/type", "function") &&
		  str_is(b, "messages/2/tool_calls/1/function/name", "get_weather") &&
		  args_are(at(b, "messages/2/tool_calls/1"), "{\"city\":\"Oslo\"}"),
		  "openai tool call: id, type, name, arguments as a JSON string");
	CHECK(json_is(b, "messages/3", "{\"role\":\"tool\",\"tool_call_id\":\"toolu_01A\",\"content\":\"{\\\"temp\\\":21}\"}"),
		  "openai tool result message");
	CHECK(str_is(b, "messages/4/content", "ERROR: city not found"), "openai tool error is prefixed ERROR:");
	CHECK(str_is(b, "messages/5/role", "user") && str_is(b, "messages/5/content", "Reminder: record the reading next."),
		  "openai reminder follows the tool messages");
	CHECK(json_is(b, "messages/6/content", "null") && json_array_size(at(b, "messages/6/tool_calls")) == 1,
		  "openai assistant without text: content null");
	CHECK(str_is(b, "messages/7/content", "{\"saved\":true}"), "openai non-string tool result is sent as JSON text");
	CHECK(json_is(b, "tools/0", "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather for a city\","
				  "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}"),
		  "openai tool definition, no strict");
	CHECK(str_is(b, "tool_choice", "auto") && json_is(b, "parallel_tool_calls", "true"),
		  "openai tool_choice and parallel_tool_calls");
	CHECK(absent(b, "reasoning_effort") && absent(b, "stream") && absent(b, "max_tokens") &&
		  json_object_size(b) == 6, "openai sends no other field");
	json_decref(b);

	b = build("anthropic", &r, "multi-step", true);
	CHECK(b != NULL, "anthropic multi-step builds");
	CHECK(str_is(b, "system", "You are a careful agent.") && int_is(b, "max_tokens", 4096),
		  "anthropic top-level system and max_tokens");
	CHECK(json_array_size(at(b, "messages")) == 5, "anthropic: results and reminder merged into one user turn");
	CHECK(json_is(b, "messages/0", "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Record the weather for Paris and Oslo.\"}]}"),
		  "anthropic user turn");
	CHECK(str_is(b, "messages/1/content/0/text", "Looking both up.") &&
		  json_is(b, "messages/1/content/2", "{\"type\":\"tool_use\",\"id\":\"toolu_01B\",\"name\":\"get_weather\",\"input\":{\"city\":\"Oslo\"}}"),
		  "anthropic assistant text then tool_use blocks");
	CHECK(str_is(b, "messages/2/role", "user") &&
		  json_is(b, "messages/2/content/0", "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"is_error\":false,\"content\":\"{\\\"temp\\\":21}\"}") &&
		  json_is(b, "messages/2/content/1/is_error", "true") &&
		  str_is(b, "messages/2/content/1/content", "city not found") &&
		  json_is(b, "messages/2/content/2", "{\"type\":\"text\",\"text\":\"Reminder: record the reading next.\"}"),
		  "anthropic merged user turn: tool_result blocks first, then the reminder");
	CHECK(str_is(b, "messages/4/content/0/content", "{\"saved\":true}"), "anthropic non-string tool result as JSON text");
	CHECK(json_is(b, "tools/1", "{\"name\":\"record_weather\",\"description\":\"Record a reading\",\"input_schema\":"
				  "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"temp\":{\"type\":\"number\"}}}}"),
		  "anthropic tool definition");
	CHECK(json_is(b, "tool_choice", "{\"type\":\"auto\"}") && absent(b, "thinking") && json_object_size(b) == 6,
		  "anthropic tool_choice auto, nothing else sent");
	json_decref(b);
	json_decref(msgs);
	json_decref(tools);
}

static void
test_thinking(void)
{
	PaModelRequest r;
	json_t	   *msgs = J(THINKING),
			   *tools = J(TOOLS),
			   *b;

	req_init(&r, msgs, tools);
	r.thinking_budget = 2048;
	r.max_output_tokens = 8192;

	b = build("anthropic", &r, "thinking", true);
	CHECK(b != NULL && json_is(b, "thinking", "{\"type\":\"enabled\",\"budget_tokens\":2048}") &&
		  int_is(b, "max_tokens", 8192), "anthropic thinking config");
	CHECK(json_is(b, "messages/1/content",
				  "[{\"type\":\"thinking\",\"thinking\":\"The user wants Paris.\\nCall the tool.\",\"signature\":\"fixture-sig==\"},"
				  "{\"type\":\"redacted_thinking\",\"data\":\"fixture-redacted\"},"
				  "{\"type\":\"text\",\"text\":\"Checking.\"},"
				  "{\"type\":\"tool_use\",\"id\":\"toolu_01T\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]"),
		  "anthropic thinking blocks copied unchanged, in order");
	CHECK(absent(b, "tool_choice"), "anthropic: no tool_choice when none asked and parallel allowed");
	json_decref(b);

	/* forcing is refused with thinking on: auto instead */
	r.force_tool = "get_weather";
	r.parallel_tool_calls = false;
	b = build("anthropic", &r, "thinking-forced", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"),
		  "anthropic thinking + force_tool: auto, parallel off");
	json_decref(b);
	r.force_tool = NULL;
	r.tool_choice = "required";
	b = build("anthropic", &r, "thinking-required", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"),
		  "anthropic thinking + required: auto");
	json_decref(b);

	r.tool_choice = NULL;
	r.parallel_tool_calls = true;
	r.reasoning_effort = "high";
	b = build("openai", &r, "thinking", true);
	CHECK(json_array_size(at(b, "messages")) == 4 && str_is(b, "messages/2/content", "Checking.") &&
		  json_object_size(at(b, "messages/2")) == 3 && args_are(at(b, "messages/2/tool_calls/0"), "{\"city\":\"Paris\"}"),
		  "openai drops thinking parts, keeps text and calls");
	CHECK(str_is(b, "reasoning_effort", "high") && absent(b, "thinking"), "openai reasoning_effort, no thinking field");
	CHECK(absent(b, "tool_choice"), "openai: no tool_choice when none asked");
	json_decref(b);

	/* an assistant turn with nothing but thinking has nothing OpenAI takes */
	json_array_remove(at(msgs, "1/parts"), 3);
	json_array_remove(at(msgs, "1/parts"), 2);
	json_array_remove(msgs, 2);
	b = build("openai", &r, "thinking-only", false);
	CHECK(json_array_size(at(b, "messages")) == 2, "openai skips a thinking-only assistant turn");
	json_decref(b);
	json_decref(msgs);
	json_decref(tools);
}

static void
test_tool_choice(void)
{
	PaModelRequest r;
	json_t	   *msgs = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go.\"}]}]"),
			   *tools = J(TOOLS),
			   *b;

	req_init(&r, msgs, tools);
	r.force_tool = "record_weather";
	r.parallel_tool_calls = false;
	b = build("openai", &r, "forced", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"function\",\"function\":{\"name\":\"record_weather\"}}") &&
		  json_is(b, "parallel_tool_calls", "false"), "openai force_tool");
	json_decref(b);
	b = build("anthropic", &r, "forced", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"tool\",\"name\":\"record_weather\",\"disable_parallel_tool_use\":true}"),
		  "anthropic force_tool, parallel off");
	json_decref(b);

	r.force_tool = NULL;
	r.tool_choice = "required";
	r.parallel_tool_calls = true;
	b = build("openai", &r, "required", true);
	CHECK(str_is(b, "tool_choice", "required"), "openai required");
	json_decref(b);
	b = build("anthropic", &r, "required", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"any\"}"), "anthropic required is any");
	json_decref(b);

	r.tool_choice = "none";
	r.parallel_tool_calls = false;
	b = build("openai", &r, "none", true);
	CHECK(str_is(b, "tool_choice", "none"), "openai none");
	json_decref(b);
	b = build("anthropic", &r, "none", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"none\"}"), "anthropic none (no parallel flag allowed there)");
	json_decref(b);

	r.tool_choice = NULL;
	b = build("anthropic", &r, "no-parallel", true);
	CHECK(json_is(b, "tool_choice", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"),
		  "anthropic parallel off alone: auto + disable_parallel_tool_use");
	json_decref(b);

	/* without tools, neither provider accepts tool_choice/parallel_tool_calls */
	r.tools = NULL;
	r.tool_choice = "none";
	r.max_output_tokens = 0;
	r.stream = true;
	b = build("openai", &r, "no-tools-stream", true);
	CHECK(absent(b, "tools") && absent(b, "tool_choice") && absent(b, "parallel_tool_calls") &&
		  absent(b, "max_completion_tokens"), "openai without tools: no tool fields; max 0 not sent");
	CHECK(json_is(b, "stream", "true") && json_is(b, "stream_options", "{\"include_usage\":true}"),
		  "openai stream asks for usage");
	json_decref(b);
	b = build("anthropic", &r, "no-tools-stream", true);
	CHECK(absent(b, "tools") && absent(b, "tool_choice") && int_is(b, "max_tokens", 4096) &&
		  json_is(b, "stream", "true"), "anthropic without tools; default max_tokens");
	json_decref(b);
	json_decref(msgs);
	json_decref(tools);
}

static void
test_text_rules(void)
{
	PaModelRequest r;
	json_t	   *msgs,
			   *tools = J("[{\"name\":\"noop\"},{\"name\":\"t2\",\"parameters\":{\"properties\":{}}}]"),
			   *b;

	/* blank text is never sent; a blank message disappears and its neighbours merge */
	msgs = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"First.\"},{\"type\":\"text\",\"text\":\"  \\n\"},"
			 "  {\"type\":\"text\",\"text\":\"\"},{\"type\":\"text\",\"text\":\"Second.\"}]},"
			 " {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\" \"}]},"
			 " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Third.\"}]},"
			 " {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Prefill: \\n\"}]}]");
	req_init(&r, msgs, tools);
	r.system = "   ";
	b = build("anthropic", &r, "blank-text", true);
	CHECK(json_array_size(at(b, "messages")) == 2 && json_array_size(at(b, "messages/0/content")) == 3,
		  "anthropic drops blank text and merges the user turns around it");
	CHECK(str_is(b, "messages/0/content/2/text", "Third.") && absent(b, "system"),
		  "anthropic merged turn keeps order; blank system not sent");
	CHECK(str_is(b, "messages/1/content/0/text", "Prefill:"), "anthropic trims a final assistant turn");
	CHECK(json_is(b, "tools/0/input_schema", "{\"type\":\"object\",\"properties\":{}}") &&
		  json_is(b, "tools/1/input_schema", "{\"properties\":{},\"type\":\"object\"}") && absent(b, "tools/0/description"),
		  "anthropic schema filled in: missing parameters, missing type");
	json_decref(b);
	b = build("openai", &r, "blank-text", true);
	CHECK(str_is(b, "messages/0/content", "First.\n\nSecond.") && str_is(b, "messages/1/content", "Third.") &&
		  str_is(b, "messages/2/content", "Prefill: \n") && absent(b, "messages/3"),
		  "openai joins user parts with a blank line; blank parts, turns and system dropped");
	CHECK(json_is(b, "tools/0/function", "{\"name\":\"noop\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}"),
		  "openai tool without parameters gets an empty object schema");
	json_decref(b);

	/* only a final assistant turn of white space: dropped entirely */
	json_decref(msgs);
	msgs = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Hi.\"}]},"
			 " {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Hello \"},{\"type\":\"text\",\"text\":\"\\t\"}]}]");
	r.messages = msgs;
	b = build("anthropic", &r, "trailing-space", true);
	CHECK(json_array_size(at(b, "messages")) == 2 && str_is(b, "messages/1/content/0/text", "Hello"),
		  "anthropic: whitespace after the last text is trimmed");
	json_decref(b);

	/* a reminder placed before the results still goes after them for Anthropic */
	json_decref(msgs);
	msgs = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go.\"}]},"
			 " {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"noop\",\"arguments\":{}}]},"
			 " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Reminder.\"}]},"
			 " {\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"c1\",\"content\":\"\"}]}]");
	r.messages = msgs;
	b = build("anthropic", &r, "reminder-first", true);
	CHECK(str_is(b, "messages/2/content/0/type", "tool_result") && str_is(b, "messages/2/content/1/text", "Reminder.") &&
		  absent(b, "messages/2/content/0/content"), "anthropic puts tool_result first; empty content left out");
	json_decref(b);
	json_decref(msgs);
	json_decref(tools);
}

static void
test_bad_arguments_round_trip(void)
{
	PaModelRequest r;
	json_t	   *msgs = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go.\"}]},"
						 " {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_X\",\"name\":\"get_weather\","
						 "   \"arguments_error\":\"arguments are not valid JSON\",\"arguments_raw\":\"{\\\"city\\\": \"}]},"
						 " {\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"call_X\","
						 "   \"content\":\"arguments are not valid JSON\",\"is_error\":true}]}]"),
			   *tools = J(TOOLS),
			   *b;

	req_init(&r, msgs, tools);
	b = build("openai", &r, "bad-arguments", true);
	CHECK(str_is(b, "messages/2/tool_calls/0/function/arguments", "{\"city\": "),
		  "openai sends malformed arguments back as written");
	json_decref(b);
	b = build("anthropic", &r, "bad-arguments", true);
	CHECK(json_is(b, "messages/1/content/0/input", "{}"), "anthropic sends {} for unparseable arguments");
	json_decref(b);
	json_decref(msgs);
	json_decref(tools);
}

static void
test_build_errors(void)
{
	PaModelRequest r;
	json_t	   *ok = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go.\"}]}]");
	json_t	   *tools = J(TOOLS);
	json_t	   *m;
	int			p;

	for (p = 0; p < 2; p++)
	{
		BuildFn		fn = p ? pa_anthropic_build_request : pa_openai_build_request;

		req_init(&r, ok, tools);
		r.model = NULL;
		CHECK(build_fails(fn, &r, "no model"), "no model");
		req_init(&r, NULL, tools);
		CHECK(build_fails(fn, &r, "messages is not an array"), "messages NULL");
		m = J("[{\"role\":\"system\",\"parts\":[]}]");
		req_init(&r, m, tools);
		CHECK(build_fails(fn, &r, "messages[0] has no \"role\""), "bad role");
		json_decref(m);
		m = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"a\",\"name\":\"b\",\"arguments\":{}}]}]");
		r.messages = m;
		CHECK(build_fails(fn, &r, "a user message cannot carry a \"tool_call\" part"), "part not allowed for role");
		json_decref(m);
		m = J("[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"a\",\"name\":\"b\"}]}]");
		r.messages = m;
		CHECK(build_fails(fn, &r, "neither an \"arguments\" object"), "tool_call without arguments");
		json_decref(m);
		m = J("[{\"role\":\"assistant\",\"parts\":[{\"type\":\"thinking\",\"thinking\":\"x\"}]}]");
		r.messages = m;
		CHECK(build_fails(fn, &r, "messages[0].parts[0]: thinking part has no \"signature\" string"), "thinking without signature");
		json_decref(m);
		m = J("[{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"a\",\"is_error\":\"yes\"}]}]");
		r.messages = m;
		CHECK(build_fails(fn, &r, "\"is_error\" is a string, not a boolean"), "is_error not boolean");
		json_decref(m);
		m = J("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"\"}]}]");
		r.messages = m;
		CHECK(build_fails(fn, &r, "nothing to send"), "empty conversation");
		json_decref(m);

		req_init(&r, ok, tools);
		r.force_tool = "nope";
		CHECK(build_fails(fn, &r, "force_tool \"nope\" is not among the tools"), "unknown force_tool");
		r.force_tool = NULL;
		r.tool_choice = "any";
		CHECK(build_fails(fn, &r, "tool_choice \"any\" is not auto, required or none"), "bad tool_choice");
		r.tool_choice = NULL;
		r.system = "bad \xC3\x28 utf8";
		CHECK(build_fails(fn, &r, "system prompt is not valid UTF-8"), "invalid UTF-8");
		r.system = NULL;
		m = J("[{\"name\":\"a\"},{\"name\":\"a\"}]");
		r.tools = m;
		CHECK(build_fails(fn, &r, "\"a\" is used twice"), "duplicate tool");
		json_decref(m);
		m = J("[{\"name\":\"a\",\"parameters\":{\"type\":\"string\"}}]");
		r.tools = m;
		CHECK(build_fails(fn, &r, "parameters must be a JSON Schema of type \"object\""), "non-object parameters");
		json_decref(m);
	}
	req_init(&r, ok, tools);
	r.thinking_budget = 512;
	CHECK(build_fails(pa_anthropic_build_request, &r, "at least 1024"), "anthropic budget too small");
	r.thinking_budget = 4096;
	CHECK(build_fails(pa_anthropic_build_request, &r, "less than max_output_tokens (4096)"), "anthropic budget >= max");
	json_decref(ok);
	json_decref(tools);
}

/* ---------- parsing ---------- */

static void
test_parse_openai(void)
{
	ParseFn		fn = pa_openai_parse_response;
	char	   *err;
	json_t	   *r;
	PaUsage		u;

	r = parse(fn, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-x\","
			  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\",\"refusal\":null,"
			  "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
			  "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,\"total_tokens\":120,"
			  "\"prompt_tokens_details\":{\"cached_tokens\":64,\"audio_tokens\":0},"
			  "\"completion_tokens_details\":{\"reasoning_tokens\":12}}}", &err);
	CHECK(r && str_is(r, "id", "chatcmpl-1") && str_is(r, "model", "gpt-x") &&
		  json_is(r, "parts", "[{\"type\":\"text\",\"text\":\"Hello.\"}]") && str_is(r, "stop", "end_turn") &&
		  absent(r, "refusal"), "openai text response");
	CHECK(json_is(r, "usage", "{\"input_tokens\":100,\"output_tokens\":20,\"cached_tokens\":64,"
				  "\"cache_creation_tokens\":0,\"reasoning_tokens\":12}"), "openai usage incl. details");
	pa_usage_from_response(r, &u);
	CHECK(u.input_tokens == 100 && u.output_tokens == 20 && u.cached_tokens == 64 &&
		  u.cache_creation_tokens == 0 && u.reasoning_tokens == 12, "pa_usage_from_response");
	json_decref(r);
	pa_usage_from_response(NULL, &u);
	CHECK(u.input_tokens == 0 && u.reasoning_tokens == 0, "pa_usage_from_response without usage");

	r = parse(fn, "{\"id\":\"c2\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
			  "\"refusal\":null,\"tool_calls\":["
			  "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
			  "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \"}},"
			  "{\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"noop\",\"arguments\":\"[1,2]\"}},"
			  "{\"id\":\"call_4\",\"type\":\"function\",\"function\":{\"name\":\"noop\",\"arguments\":\"\"}}]},"
			  "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}", &err);
	CHECK(r && json_array_size(at(r, "parts")) == 4 && str_is(r, "stop", "tool_use"), "openai tool calls");
	CHECK(json_is(r, "parts/0", "{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}"),
		  "openai arguments string parsed into an object");
	CHECK(absent(r, "parts/1/arguments") && str_is(r, "parts/1/arguments_raw", "{\"city\": ") &&
		  contains(json_string_value(at(r, "parts/1/arguments_error")), "arguments are not valid JSON"),
		  "openai malformed arguments: arguments_error + arguments_raw");
	CHECK(str_is(r, "parts/2/arguments_error", "arguments are an array, not a JSON object") &&
		  str_is(r, "parts/2/arguments_raw", "[1,2]"), "openai non-object arguments");
	CHECK(json_is(r, "parts/3/arguments", "{}"), "openai empty arguments string is {}");
	CHECK(json_is(r, "usage/input_tokens", "0"), "openai missing usage gives zeros");
	json_decref(r);

	r = parse(fn, "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"I can't help with that.\"},"
			  "\"finish_reason\":\"stop\"}]}", &err);
	CHECK(r && str_is(r, "stop", "refusal") && str_is(r, "refusal", "I can't help with that.") &&
		  json_array_size(at(r, "parts")) == 0, "openai refusal");
	json_decref(r);
	r = parse(fn, "{\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":\"content_filter\"}]}", &err);
	CHECK(r && str_is(r, "stop", "refusal") && contains(json_string_value(at(r, "refusal")), "content filter"),
		  "openai content_filter is a refusal");
	json_decref(r);
	r = parse(fn, "{\"choices\":[{\"message\":{\"content\":\"Partial\",\"refusal\":\"\"},\"finish_reason\":\"length\"}]}", &err);
	CHECK(r && str_is(r, "stop", "max_tokens") && absent(r, "refusal"), "openai length is max_tokens; empty refusal is none");
	json_decref(r);
	r = parse(fn, "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
			  "\"function\":{\"name\":\"noop\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}]}", &err);
	CHECK(r && str_is(r, "stop", "tool_use"), "openai forced call with finish_reason stop is tool_use");
	json_decref(r);

	CHECK(parse_fails(fn, "{\"object\":\"list\",\"data\":[{\"id\":\"m\",\"object\":\"model\"}]}", "response has no choices[0].message"),
		  "openai wrong shape");
	CHECK(parse_fails(fn, "{\"choices\":{}}", "response has no choices[0].message"), "openai choices not an array");
	CHECK(parse_fails(fn, "{\"choices\":[]}", "response has no choices[0].message"), "openai empty choices");
	CHECK(parse_fails(fn, "{\"choices\":[{\"finish_reason\":\"stop\"}]}", "response has no choices[0].message"),
		  "openai message missing");
	CHECK(parse_fails(fn, "{\"choices\":[{\"message\":{\"content\":42}}]}", "content or .refusal is neither"),
		  "openai content not a string");
	CHECK(parse_fails(fn, "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":{}}}]}", "tool_calls is not an array"),
		  "openai tool_calls not an array");
	CHECK(parse_fails(fn, "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"x\",\"arguments\":\"{}\"}}]}}]}",
					  "tool_calls[0] has no id"), "openai tool call without id");
	CHECK(parse_fails(fn, "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\",\"type\":\"custom\",\"custom\":{}}]}}]}",
					  "of type \"custom\""), "openai custom tool call");
	CHECK(parse_fails(fn, "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
					  "the provider returned an error: server_error: boom"), "openai 200 with an error body");
	CHECK(parse_fails(fn, "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"mess", "response is not valid JSON"),
		  "openai truncated JSON");
	CHECK(parse_fails(fn, "<html><body>502 Bad Gateway</body></html>", "response is not valid JSON"), "openai non-JSON");
	CHECK(parse_fails(fn, "", "response body is empty"), "openai empty body");
	CHECK(parse_fails(fn, "[1]", "response is an array, not a JSON object"), "openai array body");
}

static void
test_parse_anthropic(void)
{
	ParseFn		fn = pa_anthropic_parse_response;
	char	   *err;
	json_t	   *r;

	r = parse(fn, "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":["
			  "{\"type\":\"thinking\",\"thinking\":\"Let me see.\",\"signature\":\"c2ln\"},"
			  "{\"type\":\"redacted_thinking\",\"data\":\"UEFSMQ==\"},"
			  "{\"type\":\"text\",\"text\":\"Checking.\",\"citations\":null},"
			  "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}},"
			  "{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}],"
			  "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":50,\"output_tokens\":30,"
			  "\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":40,\"service_tier\":\"standard\"}}", &err);
	CHECK(r && str_is(r, "id", "msg_01") && str_is(r, "model", "claude-x") && str_is(r, "stop", "tool_use"),
		  "anthropic tool_use response");
	CHECK(json_is(r, "parts", "[{\"type\":\"thinking\",\"thinking\":\"Let me see.\",\"signature\":\"c2ln\"},"
				  "{\"type\":\"redacted_thinking\",\"data\":\"UEFSMQ==\"},{\"type\":\"text\",\"text\":\"Checking.\"},"
				  "{\"type\":\"tool_call\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]"),
		  "anthropic blocks to parts in order (server-tool block skipped)");
	CHECK(json_is(r, "usage", "{\"input_tokens\":50,\"output_tokens\":30,\"cached_tokens\":40,"
				  "\"cache_creation_tokens\":7,\"reasoning_tokens\":0}"), "anthropic usage");
	json_decref(r);

	r = parse(fn, "{\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"a\",\"input\":\"{bad\"},"
			  "{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"a\",\"input\":[1]},"
			  "{\"type\":\"tool_use\",\"id\":\"t3\",\"name\":\"a\",\"input\":\"{\\\"x\\\":1}\"}],\"stop_reason\":\"tool_use\"}", &err);
	CHECK(r && str_is(r, "parts/0/arguments_raw", "{bad") &&
		  contains(json_string_value(at(r, "parts/0/arguments_error")), "not valid JSON"),
		  "anthropic malformed input string");
	CHECK(str_is(r, "parts/1/arguments_raw", "[1]") && str_is(r, "parts/1/arguments_error", "arguments are an array, not a JSON object"),
		  "anthropic non-object input");
	CHECK(json_is(r, "parts/2/arguments", "{\"x\":1}"), "anthropic input as a JSON string is parsed");
	json_decref(r);

	{
		const char *cases[][2] = {
			{"stop_sequence", "end_turn"}, {"model_context_window_exceeded", "max_tokens"},
			{"pause_turn", "pause_turn"}, {"max_tokens", "max_tokens"}, {"end_turn", "end_turn"},
			{"something_new", "end_turn"},
		};
		size_t		i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			char		body[256];

			snprintf(body, sizeof(body), "{\"content\":[{\"type\":\"text\",\"text\":\"x\"}],\"stop_reason\":\"%s\"}", cases[i][0]);
			r = parse(fn, body, &err);
			CHECK(r && str_is(r, "stop", cases[i][1]), cases[i][0]);
			json_decref(r);
		}
	}
	r = parse(fn, "{\"content\":[{\"type\":\"text\",\"text\":\"I won't do that.\"}],\"stop_reason\":\"refusal\"}", &err);
	CHECK(r && str_is(r, "stop", "refusal") && str_is(r, "refusal", "I won't do that.") &&
		  str_is(r, "parts/0/text", "I won't do that."), "anthropic refusal with text");
	json_decref(r);
	r = parse(fn, "{\"content\":[],\"stop_reason\":\"refusal\"}", &err);
	CHECK(r && contains(json_string_value(at(r, "refusal")), "declined"), "anthropic refusal without text");
	json_decref(r);
	r = parse(fn, "{\"content\":[],\"stop_reason\":null}", &err);
	CHECK(r && str_is(r, "stop", "end_turn") && json_array_size(at(r, "parts")) == 0, "anthropic empty content");
	json_decref(r);

	CHECK(parse_fails(fn, "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"this should have been a list of blocks\","
					  "\"stop_reason\":42}", "response has no content array"), "anthropic wrong shape");
	CHECK(parse_fails(fn, "{\"content\":[],\"stop_reason\":42}", "stop_reason is neither"), "anthropic stop_reason not a string");
	CHECK(parse_fails(fn, "{\"content\":[{\"type\":\"tool_use\",\"name\":\"a\",\"input\":{}}]}",
					  "content[0] is a tool_use block without its required fields"), "anthropic tool_use without id");
	CHECK(parse_fails(fn, "{\"content\":[{\"text\":\"a\"}]}", "content[0] has no type"), "anthropic block without type");
	CHECK(parse_fails(fn, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
					  "the provider returned an error: overloaded_error: Overloaded"), "anthropic 200 with an error body");
	CHECK(parse_fails(fn, "{\"id\":\"msg_01\",\"content\":[{\"type\":\"te", "response is not valid JSON"), "anthropic truncated");
	CHECK(parse_fails(fn, "\"just a string\"", "response is a string, not a JSON object"), "anthropic string body");
}

/* ---------- error messages ---------- */

static bool
clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	for (; *p; p++)
		if (*p < 0x20 || *p == 0x7F)
			return false;
	/* jansson checks UTF-8 when making a string */
	{
		json_t	   *v = json_string(s);
		bool		ok = v != NULL;

		json_decref(v);
		return ok;
	}
}

static void
test_error_messages(void)
{
	char	   *m;
	char		body[600];
	size_t		i;
	const char *anth429 = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
		"\"Number of request tokens has exceeded your per-minute rate limit\"},\"request_id\":\"req_1\"}";
	const char *oai429 = "{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":\"requests\","
		"\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

	m = pa_anthropic_error_message(429, anth429, strlen(anth429));
	CHECK(m && strcmp(m, "HTTP 429 rate_limit_error: Number of request tokens has exceeded your per-minute rate limit") == 0,
		  "anthropic 429 sentence");
	free(m);
	m = pa_openai_error_message(429, oai429, strlen(oai429));
	CHECK(m && strcmp(m, "HTTP 429 rate_limit_exceeded: Rate limit reached for requests") == 0, "openai 429 prefers code");
	free(m);
	{
		const char *b = "{\"error\":{\"message\":\"Sorry\",\"type\":\"server_error\",\"code\":null}}";

		m = pa_openai_error_message(500, b, strlen(b));
	}
	CHECK(m && strcmp(m, "HTTP 500 server_error: Sorry") == 0, "openai type when no code");
	free(m);
	{
		const char *b = "{\"error\":\"plain\\nstring\"}";

		m = pa_openai_error_message(500, b, strlen(b));
	}
	CHECK(m && strcmp(m, "HTTP 500: plain string") == 0, "string error, newline cleaned");
	free(m);
	{
		const char *b = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>";

		m = pa_anthropic_error_message(502, b, strlen(b));
	}
	CHECK(m && strcmp(m, "HTTP 502: <html> <head><title>502 Bad Gateway</title></head> </html>") == 0, "non-JSON excerpt");
	free(m);
	m = pa_anthropic_error_message(503, "", 0);
	CHECK(m && strcmp(m, "HTTP 503: (empty body)") == 0, "empty body");
	free(m);
	m = pa_anthropic_error_message(503, NULL, 0);
	CHECK(m && strcmp(m, "HTTP 503: (empty body)") == 0, "NULL body");
	free(m);

	/* long body: 200 bytes, never a split character */
	memset(body, 'a', 199);
	for (i = 199; i + 2 < sizeof(body); i += 2)
		memcpy(body + i, "\xC3\xA9", 2);
	m = pa_openai_error_message(502, body, i);
	CHECK(m && strlen(m) == strlen("HTTP 502: ") + 199 + 3 && clean_utf8(m) &&
		  strcmp(m + strlen(m) - 3, "...") == 0, "excerpt cut at a character boundary");
	free(m);
	/* invalid UTF-8, control characters and NUL */
	{
		static const char b[] = "bad \xFF\xC3 \x01\x00 end\xED\xA0\x80";

		m = pa_openai_error_message(500, b, sizeof(b) - 1);
	}
	CHECK(m && clean_utf8(m) && contains(m, "bad ??") && contains(m, "end???"), "invalid bytes replaced");
	free(m);
	/* a long provider message is capped */
	{
		char	   *big = malloc(5000);

		strcpy(big, "{\"error\":{\"type\":\"x\",\"message\":\"");
		memset(big + strlen(big), 'm', 3000);
		strcpy(big + 3000 + strlen("{\"error\":{\"type\":\"x\",\"message\":\""), "\"}}");
		m = pa_anthropic_error_message(400, big, strlen(big));
		CHECK(m && strlen(m) < 1100 && contains(m, "HTTP 400 x: mmm"), "long message capped");
		free(m);
		free(big);
	}
}

/* ---------- command-line modes (used by check_bodies.py) ---------- */

static char *
read_stdin(size_t *len)
{
	size_t		cap = 1 << 16,
				n = 0,
				k;
	char	   *buf = malloc(cap);

	while (buf && (k = fread(buf + n, 1, cap - n - 1, stdin)) > 0)
	{
		n += k;
		if (cap - n - 1 == 0)
			buf = realloc(buf, cap *= 2);
	}
	if (buf == NULL)
		exit(2);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *
opt_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static int
cli(int argc, char **argv)
{
	bool		openai = argc > 2 && strcmp(argv[2], "openai") == 0;
	size_t		len;
	char	   *in = read_stdin(&len);
	char	   *out = NULL,
			   *err = NULL;
	int			rc = 0;

	if (strcmp(argv[1], "build") == 0)
	{
		json_t	   *spec = J(in);
		PaModelRequest r;

		memset(&r, 0, sizeof(r));
		r.model = opt_str(spec, "model");
		r.system = opt_str(spec, "system");
		r.messages = json_object_get(spec, "messages");
		r.tools = json_object_get(spec, "tools");
		r.tool_choice = opt_str(spec, "tool_choice");
		r.force_tool = opt_str(spec, "force_tool");
		r.parallel_tool_calls = !json_is_false(json_object_get(spec, "parallel_tool_calls"));
		r.max_output_tokens = (int) json_integer_value(json_object_get(spec, "max_output_tokens"));
		r.thinking_budget = (int) json_integer_value(json_object_get(spec, "thinking_budget"));
		r.reasoning_effort = opt_str(spec, "reasoning_effort");
		r.stream = json_is_true(json_object_get(spec, "stream"));
		out = openai ? pa_openai_build_request(&r, &err) : pa_anthropic_build_request(&r, &err);
		json_decref(spec);
	}
	else if (strcmp(argv[1], "parse") == 0)
	{
		json_t	   *resp = openai ? pa_openai_parse_response(in, len, &err) :
			pa_anthropic_parse_response(in, len, &err);

		out = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
		json_decref(resp);
	}
	else if (strcmp(argv[1], "error") == 0 && argc > 3)
		out = openai ? pa_openai_error_message(atol(argv[3]), in, len) :
			pa_anthropic_error_message(atol(argv[3]), in, len);
	else
		err = strdup("usage: providers_unit [--out DIR] | build|parse openai|anthropic | error openai|anthropic STATUS");
	if (out != NULL)
		printf("%s\n", out);
	else
	{
		fprintf(stderr, "%s\n", err ? err : "(no errmsg)");
		rc = 1;
	}
	free(out);
	free(err);
	free(in);
	return rc;
}

/* ---------- json_dump.c: json_dumps' compact text, byte for byte ---------- */

static void
check_dump_same(json_t *v, const char *what)
{
	char	   *ours = pa_json_dump(v);
	char	   *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	char		name[200];

	snprintf(name, sizeof(name), "pa_json_dump = json_dumps: %s", what);
	CHECK(ours && theirs && strcmp(ours, theirs) == 0, name);
	if (ours && theirs && strcmp(ours, theirs) != 0)
		fprintf(stderr, "  ours:   %s\n  theirs: %s\n", ours, theirs);
	free(ours);
	free(theirs);
}

static void
test_json_dump(void)
{
	static const char *docs[] = {
		"{}", "[]", "\"\"", "0", "-1", "9223372036854775807", "-9223372036854775808",
		"0.1", "1.5", "-0.0", "1e300", "1e-300", "123456789012345678901234567890.0", "2.5e-5",
		"3.0", "1e22", "true", "false", "null",
		"{\"a\": 1, \"b\": [1, 2.25, \"x\"], \"c\": {\"d\": null}}",
		"\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"",
		"\"controls \\u0001 \\u001f \\u007f del\"",
		"\"unicode \u00e9 \u4e2d \\ud83d\\ude00 \\u2028\"",
		"{\"k\\n\\\"ey\": \"v\", \"z\": [], \"a\": {}}",
		"[[[[[]]]], {\"x\": [true, false, null, 0, -0.5]}]",
	};
	size_t		i;
	json_t	   *big = json_array();

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
	{
		json_error_t err;
		json_t	   *v = json_loads(docs[i], JSON_DECODE_ANY, &err);

		if (v == NULL)
		{
			CHECK(0, docs[i]);
			continue;
		}
		check_dump_same(v, docs[i]);
		json_array_append_new(big, v);
	}
	/* reals across magnitudes, and every byte value in a string */
	for (i = 0; i < 400; i++)
	{
		double		x = (i % 2 ? -1.0 : 1.0) * (double) (i * 7919 % 1000 + 1) / 7.0;
		int			k;

		for (k = 0; k < (int) (i % 40); k++)
			x *= (i % 3 == 0) ? 1e-3 : 1e3;
		json_array_append_new(big, json_real(x));
	}
	{
		char		bytes[128];

		for (i = 0; i < 127; i++)
			bytes[i] = (char) (i + 1);
		bytes[127] = '\0';
		json_array_append_new(big, json_string(bytes));
	}
	check_dump_same(big, "400 reals, every ASCII byte, the documents above in one array");
	json_decref(big);
	/*
	 * Strings of every length up to 80 with one byte to escape (or a
	 * multibyte character) at every position: the writer skips eight plain
	 * bytes at a time, so the edges of those words are where it could slip.
	 */
	{
		static const char *const specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f",
		"\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", " "};
		json_t	   *strings = json_array();
		size_t		len;
		size_t		pos;
		size_t		k;

		for (len = 0; len <= 80; len++)
			for (pos = 0; pos <= len; pos++)
				for (k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
				{
					char		text[128];

					memset(text, 'a' + (char) (len % 26), len);
					text[len] = '\0';
					snprintf(text + pos, sizeof(text) - pos, "%s%.*s", specials[k],
							 (int) (len - pos), "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
					json_array_append_new(strings, json_string(text));
				}
		check_dump_same(strings, "strings of 0 to 80 bytes, a byte to escape at every position");
		json_decref(strings);
	}
	CHECK(pa_json_dump(NULL) == NULL, "pa_json_dump(NULL) is NULL");
}

/* Does pa_json_text_n(s, n) make what json_stringn(s, n) makes (both NULL, or equal strings)? */
static bool
text_same(const char *s, size_t n)
{
	json_t	   *ours = pa_json_text_n(s, n);
	json_t	   *theirs = json_stringn(s, n);
	bool		same = (ours == NULL) == (theirs == NULL) &&
		(ours == NULL || (json_string_length(ours) == n &&
						  memcmp(json_string_value(ours), s, n) == 0 && json_equal(ours, theirs)));

	json_decref(ours);
	json_decref(theirs);
	return same;
}

/* ---------- json_dump.c: pa_json_text, json_stringn with a faster UTF-8 check ---------- */
static void
test_json_text(void)
{
	unsigned	b0,
				b1;
	int			bad = 0;
	int			accepted = 0;
	size_t		len;
	size_t		pos;
	json_t	   *v;

	/*
	 * Every first byte with every second byte, each followed by two
	 * continuation bytes of the lowest, highest and a middle value: the
	 * overlong, surrogate and above-U+10FFFF edges are all in there.
	 */
	for (b0 = 0; b0 < 256; b0++)
		for (b1 = 0; b1 < 256; b1++)
		{
			static const unsigned char tails[] = {0x80, 0x9f, 0xa0, 0xbf, 0x41};
			size_t		t;

			for (t = 0; t < sizeof(tails); t++)
			{
				unsigned char seq[4] = {(unsigned char) b0, (unsigned char) b1, tails[t], tails[t]};
				size_t		k;

				for (k = 1; k <= 4; k++)
				{
					json_t	   *j = json_stringn((const char *) seq, k);

					accepted += j != NULL;
					json_decref(j);
					bad += !text_same((const char *) seq, k);
				}
			}
		}
	CHECK(bad == 0, "pa_json_text_n = json_stringn for all 1-4 byte sequences of every lead and second byte");
	CHECK(accepted > 1000, "and jansson accepted many of them (the comparison compared valid strings too)");

	/* an invalid or a multibyte character at every position of texts of 0..40 bytes: the 8-byte skip's edges */
	bad = 0;
	for (len = 0; len <= 40; len++)
		for (pos = 0; pos < len; pos++)
		{
			static const char *const odd[] = {"\xff", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\x80"};
			size_t		k;

			for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
			{
				char		text[64];
				size_t		n;

				memset(text, 'x', sizeof(text));
				memcpy(text + pos, odd[k], strlen(odd[k]));
				n = len > pos + strlen(odd[k]) ? len : pos + strlen(odd[k]);
				bad += !text_same(text, n);
				bad += !text_same(text, pos + 1);	/* cut inside the character */
			}
		}
	CHECK(bad == 0, "pa_json_text_n = json_stringn with odd bytes at every position of short texts");

	v = pa_json_text("plain \xc3\xa9 text");
	CHECK(v && strcmp(json_string_value(v), "plain \xc3\xa9 text") == 0, "pa_json_text keeps the text");
	json_decref(v);
	CHECK(pa_json_text("cut \xc3") == NULL, "pa_json_text refuses a cut character");
	CHECK(pa_json_text(NULL) == NULL, "pa_json_text(NULL) is NULL");
	v = pa_json_text_n("nul\0inside", 11);
	CHECK(v && json_string_length(v) == 11, "pa_json_text_n keeps a NUL byte, as json_stringn does");
	json_decref(v);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--out") != 0)
		return cli(argc, argv);
	if (argc > 2)
		outdir = argv[2];
	test_multi_step();
	test_thinking();
	test_tool_choice();
	test_text_rules();
	test_bad_arguments_round_trip();
	test_build_errors();
	test_parse_openai();
	test_parse_anthropic();
	test_error_messages();
	test_json_dump();
	test_json_text();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
