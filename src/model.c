/*
 * model.c — what both provider translators share: checking a neutral
 * request before either wire format is built, small jansson builders,
 * response scaffolding (tool-call arguments, usage), and readable error
 * sentences from provider bodies. Plain C over jansson; no server headers.
 *
 * Every sentence made here may end up in ereport(), so it is cleaned first:
 * invalid UTF-8 becomes '?', control characters and runs of white space
 * become one space, and it is cut (at a character boundary) when long.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_dump.h"
#include "model_int.h"
#include "pa_buf.h"

#define PA_MODEL_MAX_ERRMSG 2000

/* ---------- cleaning text for messages ---------- */

static bool
utf8_valid(const char *s)
{
	size_t		n = strlen(s);

	while (n > 0)
	{
		size_t		k = pa_utf8_seq_len((const unsigned char *) s, n);

		if (k == 0)
			return false;
		s += k;
		n -= k;
	}
	return true;
}

/*
 * Copy of s[0..len) fit for a log line: see the file header. "max" bounds
 * the bytes kept; "..." marks a cut. NULL only when out of memory.
 */
static char *
clean_text(const char *s, size_t len, size_t max)
{
	PaBuf		b = {0};
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;
	bool		space = false;

	while (i < len)
	{
		size_t		k = pa_utf8_seq_len(p + i, len - i);

		if (k == 1 && (p[i] < 0x20 || p[i] == 0x7F || p[i] == ' '))
		{
			/* collapse: an HTML error page is mostly line breaks */
			space = true;
			i++;
			continue;
		}
		if (b.len + (space ? 1 : 0) + (k ? k : 1) > max)
		{
			pa_buf_puts(&b, "...");
			break;
		}
		if (space && b.len > 0)
			pa_buf_putc(&b, ' ');
		space = false;
		if (k == 0)
		{
			pa_buf_putc(&b, '?');
			i++;
		}
		else
		{
			pa_buf_putn(&b, s + i, k);
			i += k;
		}
	}
	if (b.oom)
	{
		free(b.data);
		return NULL;
	}
	return b.data ? b.data : strdup("");
}

/* ---------- error sentences ---------- */

char *
pa_model_printf(const char *fmt,...)
{
	PaBuf		b = {0};
	va_list		ap;
	char	   *out;

	va_start(ap, fmt);
	pa_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (b.oom || b.data == NULL)
	{
		free(b.data);
		return NULL;
	}
	out = clean_text(b.data, b.len, PA_MODEL_MAX_ERRMSG);
	free(b.data);
	return out;
}

void
pa_model_errorf(char **errmsg, const char *fmt,...)
{
	PaBuf		b = {0};
	va_list		ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	pa_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	*errmsg = b.oom ? NULL : clean_text(b.data, b.len, PA_MODEL_MAX_ERRMSG);
	free(b.data);
}

static const char *
type_name(json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "an array";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		default:
			return "null";
	}
}

/* ---------- checking a neutral request ---------- */

/*
 * Which part types each role may carry and their required string fields.
 * Both builders rely on this check, so they never meet a missing field.
 */
typedef struct PartRule
{
	const char *role;
	const char *type;
	const char *fields[3];
} PartRule;

static const PartRule part_rules[] = {
	{"user", "text", {"text"}},
	{"assistant", "thinking", {"thinking", "signature"}},
	{"assistant", "redacted_thinking", {"data"}},
	{"assistant", "text", {"text"}},
	{"assistant", "tool_call", {"id", "name"}},
	{"tool", "tool_result", {"id"}},
};

static bool
check_part(json_t *part, const char *role, size_t i, size_t j, char **errmsg)
{
	const char *type = pa_model_str(part, "type");
	const PartRule *rule = NULL;
	size_t		r,
				f;
	json_t	   *v;

	if (type == NULL)
	{
		pa_model_errorf(errmsg, "messages[%zu].parts[%zu] has no \"type\" string", i, j);
		return false;
	}
	for (r = 0; r < sizeof(part_rules) / sizeof(part_rules[0]); r++)
		if (strcmp(part_rules[r].role, role) == 0 && strcmp(part_rules[r].type, type) == 0)
			rule = &part_rules[r];
	if (rule == NULL)
	{
		pa_model_errorf(errmsg, "messages[%zu].parts[%zu]: a %s message cannot carry a \"%s\" part",
						i, j, role, type);
		return false;
	}
	for (f = 0; f < 3 && rule->fields[f]; f++)
		if (pa_model_str(part, rule->fields[f]) == NULL)
		{
			pa_model_errorf(errmsg, "messages[%zu].parts[%zu]: %s part has no \"%s\" string",
							i, j, type, rule->fields[f]);
			return false;
		}
	if (strcmp(type, "tool_call") == 0 &&
		!json_is_object(json_object_get(part, "arguments")) &&
		pa_model_str(part, "arguments_raw") == NULL)
	{
		pa_model_errorf(errmsg, "messages[%zu].parts[%zu]: tool_call has neither an \"arguments\" object nor an \"arguments_raw\" string",
						i, j);
		return false;
	}
	v = json_object_get(part, "is_error");
	if (strcmp(type, "tool_result") == 0 && v != NULL && !json_is_boolean(v))
	{
		pa_model_errorf(errmsg, "messages[%zu].parts[%zu]: \"is_error\" is %s, not a boolean",
						i, j, type_name(v));
		return false;
	}
	return true;
}

static bool
check_messages(json_t *messages, char **errmsg)
{
	size_t		i,
				j;
	json_t	   *msg,
			   *part;

	if (!json_is_array(messages))
	{
		pa_model_errorf(errmsg, "messages is not an array");
		return false;
	}
	json_array_foreach(messages, i, msg)
	{
		const char *role = pa_model_str(msg, "role");
		json_t	   *parts = json_object_get(msg, "parts");

		if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
							 strcmp(role, "tool") != 0))
		{
			pa_model_errorf(errmsg, "messages[%zu] has no \"role\" of user, assistant or tool", i);
			return false;
		}
		if (!json_is_array(parts))
		{
			pa_model_errorf(errmsg, "messages[%zu] has no \"parts\" array", i);
			return false;
		}
		json_array_foreach(parts, j, part)
		{
			if (!check_part(part, role, i, j, errmsg))
				return false;
		}
	}
	return true;
}

static bool
check_tools(json_t *tools, char **errmsg)
{
	size_t		i,
				k;
	json_t	   *tool;

	if (tools == NULL)
		return true;
	if (!json_is_array(tools))
	{
		pa_model_errorf(errmsg, "tools is not an array");
		return false;
	}
	json_array_foreach(tools, i, tool)
	{
		const char *name = pa_model_str(tool, "name");
		json_t	   *params = json_object_get(tool, "parameters");
		json_t	   *type = json_object_get(params, "type");
		json_t	   *desc = json_object_get(tool, "description");

		if (name == NULL || name[0] == '\0')
		{
			pa_model_errorf(errmsg, "tools[%zu] has no \"name\" string", i);
			return false;
		}
		for (k = 0; k < i; k++)
			if (strcmp(name, pa_model_str(json_array_get(tools, k), "name")) == 0)
			{
				pa_model_errorf(errmsg, "tools[%zu]: the tool name \"%s\" is used twice", i, name);
				return false;
			}
		if (desc != NULL && !json_is_string(desc))
		{
			pa_model_errorf(errmsg, "tool \"%s\": description is %s, not a string", name, type_name(desc));
			return false;
		}
		/* both providers insist on an object schema at the top */
		if (params != NULL && (!json_is_object(params) ||
							   (type != NULL && !(json_is_string(type) &&
												  strcmp(json_string_value(type), "object") == 0))))
		{
			pa_model_errorf(errmsg, "tool \"%s\": parameters must be a JSON Schema of type \"object\"", name);
			return false;
		}
	}
	return true;
}

bool
pa_model_check_request(const PaModelRequest *req, char **errmsg)
{
	const char *strs[5];
	const char *what[5] = {"model", "system prompt", "tool_choice", "force_tool", "reasoning_effort"};
	size_t		i;

	if (req == NULL || req->model == NULL || req->model[0] == '\0')
	{
		pa_model_errorf(errmsg, "no model given");
		return false;
	}
	strs[0] = req->model;
	strs[1] = req->system;
	strs[2] = req->tool_choice;
	strs[3] = req->force_tool;
	strs[4] = req->reasoning_effort;
	for (i = 0; i < 5; i++)
		if (strs[i] != NULL && !utf8_valid(strs[i]))
		{
			pa_model_errorf(errmsg, "the %s is not valid UTF-8", what[i]);
			return false;
		}
	if (!check_messages(req->messages, errmsg) || !check_tools(req->tools, errmsg))
		return false;
	if (req->tool_choice != NULL && strcmp(req->tool_choice, "auto") != 0 &&
		strcmp(req->tool_choice, "required") != 0 && strcmp(req->tool_choice, "none") != 0)
	{
		pa_model_errorf(errmsg, "tool_choice \"%s\" is not auto, required or none", req->tool_choice);
		return false;
	}
	if (req->force_tool != NULL)
	{
		json_t	   *tool;
		bool		found = false;

		json_array_foreach(req->tools, i, tool)
			found = found || strcmp(pa_model_str(tool, "name"), req->force_tool) == 0;
		if (!found)
		{
			pa_model_errorf(errmsg, "force_tool \"%s\" is not among the tools offered", req->force_tool);
			return false;
		}
	}
	if (req->max_output_tokens < 0 || req->thinking_budget < 0)
	{
		pa_model_errorf(errmsg, "max_output_tokens and thinking_budget must not be negative");
		return false;
	}
	return true;
}

/* ---------- building ---------- */

int
pa_model_put(json_t *obj, const char *key, json_t *value)
{
	/* jansson releases value even when it fails, and fails on NULL */
	return json_object_set_new(obj, key, value) != 0;
}

int
pa_model_push(json_t *arr, json_t *value)
{
	return json_array_append_new(arr, value) != 0;
}

/* Body text from the tree (consumed), or NULL and *errmsg. */
char *
pa_model_dump(json_t *body, int bad, char **errmsg)
{
	char	   *out = NULL;

	if (body != NULL && !bad)
		out = pa_json_dump(body);	/* json_dumps' text, faster (json_dump.c) */
	json_decref(body);
	if (out == NULL)
		pa_model_errorf(errmsg, "out of memory while building the request");
	return out;
}

const char *
pa_model_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* True for a string with nothing but white space (the APIs reject it). */
bool
pa_model_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
			return false;
	return true;
}

/* A part's text when it is a text part that is not blank; NULL otherwise. */
static json_t *
nonblank_text(json_t *part)
{
	const char *text = pa_model_str(part, "text");

	if (strcmp(pa_model_str(part, "type"), "text") != 0 || text == NULL || pa_model_blank(text))
		return NULL;
	return json_object_get(part, "text");
}

/* The text parts of a message, joined by sep; blank ones add nothing. */
char *
pa_model_join_text(json_t *parts, const char *sep)
{
	PaBuf		b = {0};
	size_t		i;
	json_t	   *part;
	bool		first = true;

	json_array_foreach(parts, i, part)
	{
		const char *text = json_string_value(nonblank_text(part));

		if (text == NULL)
			continue;
		if (!first)
			pa_buf_puts(&b, sep);
		pa_buf_puts(&b, text);
		first = false;
	}
	if (b.oom)
	{
		free(b.data);
		return NULL;
	}
	return b.data ? b.data : strdup("");
}

/*
 * The same as a JSON string (a new reference), or NULL when out of memory.
 * One text part is the part's own string, not a copy: a transcript is
 * neither copied nor checked for UTF-8 again. Joined strings need no check
 * either: valid UTF-8 joined by an ASCII separator stays valid.
 */
json_t *
pa_model_join_text_json(json_t *parts, const char *sep)
{
	json_t	   *only = NULL;
	size_t		n = 0;
	size_t		i;
	json_t	   *part;
	char	   *text;
	json_t	   *joined;

	json_array_foreach(parts, i, part)
	{
		json_t	   *t = nonblank_text(part);

		if (t != NULL)
		{
			only = t;
			n++;
		}
	}
	if (n == 1)
		return json_incref(only);
	if ((text = pa_model_join_text(parts, sep)) == NULL)
		return NULL;
	joined = json_string_nocheck(text);
	free(text);
	return joined;
}

/*
 * A tool's parameters as sent: "type": "object" added when the schema left
 * it out (both APIs require it), an empty object schema when there is none.
 */
json_t *
pa_model_tool_schema(json_t *tool)
{
	json_t	   *params = json_object_get(tool, "parameters");
	json_t	   *out;

	out = params ? json_copy(params) : json_object();
	if (out != NULL && json_object_get(out, "type") == NULL &&
		pa_model_put(out, "type", json_string("object")))
	{
		json_decref(out);
		return NULL;
	}
	if (out != NULL && params == NULL &&
		pa_model_put(out, "properties", json_object()))
	{
		json_decref(out);
		return NULL;
	}
	return out;
}

/*
 * The tools array in a provider's shape: "one" makes a definition from the
 * name, description (NULL when none) and parameters schema (consumed).
 */
json_t *
pa_model_tools(json_t *tools, PaToolFn one)
{
	json_t	   *out = json_array();
	json_t	   *tool;
	size_t		i;
	int			bad = out == NULL;

	json_array_foreach(tools, i, tool)
	{
		if (!bad)
			bad |= pa_model_push(out, one(pa_model_str(tool, "name"),
										  pa_model_str(tool, "description"),
										  pa_model_tool_schema(tool)));
	}
	if (bad)
	{
		json_decref(out);
		return NULL;
	}
	return out;
}

/* A tool result's content as text: strings as they are, other JSON dumped. */
char *
pa_model_tool_result_text(json_t *part)
{
	json_t	   *content = json_object_get(part, "content");

	if (content == NULL || json_is_null(content))
		return strdup("");
	if (json_is_string(content))
		return strdup(json_string_value(content));
	return json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * A tool call's arguments as an object. A call that came back with
 * unparseable arguments has only arguments_raw; it goes back as {} (the
 * tool result tells the model what was wrong), as an object is required.
 */
json_t *
pa_model_call_arguments(json_t *part)
{
	json_t	   *args = json_object_get(part, "arguments");
	const char *raw;

	if (json_is_object(args))
		return json_incref(args);
	raw = pa_model_str(part, "arguments_raw");
	args = raw ? json_loads(raw, 0, NULL) : NULL;
	if (json_is_object(args))
		return args;
	json_decref(args);
	return json_object();
}

bool
pa_model_has_tools(const PaModelRequest *req)
{
	return req->tools != NULL && json_array_size(req->tools) > 0;
}

/* ---------- parsing ---------- */

/* A provider body as a JSON object, or NULL and a sentence saying why. */
json_t *
pa_model_load(const char *body, size_t len, char **errmsg)
{
	json_error_t err;
	json_t	   *root;

	if (body == NULL || len == 0)
	{
		pa_model_errorf(errmsg, "response body is empty");
		return NULL;
	}
	root = json_loadb(body, len, JSON_DECODE_ANY, &err);
	if (root == NULL)
	{
		pa_model_errorf(errmsg, "response is not valid JSON: %s (at byte %d of %zu)",
						err.text, err.position, len);
		return NULL;
	}
	if (!json_is_object(root))
	{
		pa_model_errorf(errmsg, "response is %s, not a JSON object", type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* The skeleton of a neutral response: id, model, empty parts. */
json_t *
pa_model_response_new(json_t *root)
{
	json_t	   *resp = json_object();
	int			bad = resp == NULL;
	const char *id = pa_model_str(root, "id");
	const char *model = pa_model_str(root, "model");

	if (!bad && id)
		bad |= pa_model_put(resp, "id", json_string(id));
	if (!bad && model)
		bad |= pa_model_put(resp, "model", json_string(model));
	if (!bad)
		bad |= pa_model_put(resp, "parts", json_array());
	if (bad)
	{
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/*
 * A neutral tool_call part. value is what the provider sent as arguments:
 * an object (Anthropic), or a JSON string (OpenAI; also a malformed
 * Anthropic input). When it does not give an object, the part carries
 * arguments_error and arguments_raw instead, so the loop can tell the model.
 */
json_t *
pa_model_tool_call(const char *id, const char *name, json_t *value)
{
	json_t	   *part = json_object();
	json_t	   *args = NULL;
	char	   *why = NULL;
	char	   *raw = NULL;
	int			bad;

	if (json_is_object(value))
		args = json_incref(value);
	else if (json_is_string(value) && pa_model_blank(json_string_value(value)))
		args = json_object();	/* some models send "" for a call without arguments */
	else if (json_is_string(value))
	{
		json_error_t err;

		args = json_loads(json_string_value(value), JSON_DECODE_ANY, &err);
		if (args == NULL)
			why = pa_model_printf("arguments are not valid JSON: %s (at character %d)",
								  err.text, err.position);
		raw = strdup(json_string_value(value));
	}
	else if (value != NULL)
	{
		args = json_incref(value);
		raw = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	else
	{
		why = pa_model_printf("the tool call has no arguments");
		raw = strdup("");
	}
	if (args != NULL && !json_is_object(args))
	{
		why = pa_model_printf("arguments are %s, not a JSON object", type_name(args));
		json_decref(args);
		args = NULL;
	}
	bad = part == NULL;
	bad |= pa_model_put(part, "type", json_string("tool_call"));
	bad |= pa_model_put(part, "id", json_string(id));
	bad |= pa_model_put(part, "name", json_string(name));
	if (args != NULL)
		bad |= pa_model_put(part, "arguments", args);
	else
	{
		bad |= pa_model_put(part, "arguments_error", why ? json_string(why) : NULL);
		bad |= pa_model_put(part, "arguments_raw", raw ? json_string(raw) : NULL);
	}
	free(why);
	free(raw);
	if (bad)
	{
		json_decref(part);
		return NULL;
	}
	return part;
}

json_t *
pa_model_usage(long long input, long long output, long long cached,
			   long long cache_creation, long long reasoning)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I}",
					 "input_tokens", (json_int_t) input,
					 "output_tokens", (json_int_t) output,
					 "cached_tokens", (json_int_t) cached,
					 "cache_creation_tokens", (json_int_t) cache_creation,
					 "reasoning_tokens", (json_int_t) reasoning);
}

/*
 * The tail of every parse: stop reason, refusal sentence (when refused) and
 * usage go on the response. Consumes usage; returns resp, or NULL (resp
 * released) when out of memory.
 */
json_t *
pa_model_finish(json_t *resp, const char *stop, const char *refusal, json_t *usage)
{
	int			bad = 0;

	bad |= pa_model_put(resp, "stop", json_string(stop));
	if (refusal != NULL)
		bad |= pa_model_put(resp, "refusal", json_string(refusal));
	bad |= pa_model_put(resp, "usage", usage);
	if (bad)
	{
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* An integer member, 0 when absent or not a number. */
long long
pa_model_int(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return (long long) json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9e18)
		return (long long) json_real_value(v);
	return 0;
}

void
pa_usage_from_response(json_t *response, PaUsage *usage)
{
	json_t	   *u = json_object_get(response, "usage");

	usage->input_tokens = pa_model_int(u, "input_tokens");
	usage->output_tokens = pa_model_int(u, "output_tokens");
	usage->cached_tokens = pa_model_int(u, "cached_tokens");
	usage->cache_creation_tokens = pa_model_int(u, "cache_creation_tokens");
	usage->reasoning_tokens = pa_model_int(u, "reasoning_tokens");
}

/* ---------- provider error bodies ---------- */

/*
 * The type and message of an error body. Both wire formats carry an
 * "error" member on top: OpenAI {"error":{"message","type","param","code"}},
 * Anthropic {"type":"error","error":{"type","message"}}. OpenAI's code is
 * the more telling name ("rate_limit_exceeded" beside type "requests"), so
 * it may be preferred. Some proxies send {"error":"text"}.
 */
static bool
error_parts(json_t *root, bool prefer_code, const char **type, const char **message)
{
	json_t	   *e = json_object_get(root, "error");
	const char *t,
			   *code;

	*type = NULL;
	*message = NULL;
	if (json_is_string(e))
		*message = json_string_value(e);
	else if (json_is_object(e))
	{
		*message = pa_model_str(e, "message");
		t = pa_model_str(e, "type");
		code = pa_model_str(e, "code");
		if (t == NULL || t[0] == '\0' || (prefer_code && code != NULL && code[0] != '\0'))
			t = code;
		if (t != NULL && t[0] != '\0')
			*type = t;
	}
	return *message != NULL;
}

/* A 2xx body that is an error after all (a proxy, a stream error event). */
bool
pa_model_body_error(json_t *root, char **errmsg)
{
	const char *type,
			   *message;

	if (!error_parts(root, false, &type, &message))
		return false;
	pa_model_errorf(errmsg, "the provider returned an error: %s%s%s",
					type ? type : "", type ? ": " : "", message);
	return true;
}

char *
pa_model_http_error(long status, const char *body, size_t len, bool prefer_code)
{
	json_t	   *root = (body && len) ? json_loadb(body, len, 0, NULL) : NULL;
	const char *type,
			   *message;
	char	   *out = NULL;
	char	   *text;

	if (root != NULL && error_parts(root, prefer_code, &type, &message))
	{
		text = clean_text(message, strlen(message), PA_MODEL_MAX_ERROR_TEXT);
		if (text && type)
			out = pa_model_printf("HTTP %ld %s: %s", status, type, text);
		else if (text)
			out = pa_model_printf("HTTP %ld: %s", status, text);
		free(text);
	}
	else if (body == NULL || len == 0)
		out = pa_model_printf("HTTP %ld: (empty body)", status);
	else
	{
		text = clean_text(body, len, PA_MODEL_EXCERPT_BYTES);
		if (text)
			out = pa_model_printf("HTTP %ld: %s", status, text);
		free(text);
	}
	json_decref(root);
	return out ? out : strdup("HTTP error (out of memory)");
}
