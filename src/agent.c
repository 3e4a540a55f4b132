/*
 * agent.c — the step machine (see agent.h). Plain C over jansson.
 *
 * State keys:
 *   phase      "plan" (planning: high, before the first act call) | "act"
 *   status     "running" | "succeeded" | "failed"
 *   messages   neutral messages so far (system prompt is in the spec)
 *   steps      model calls made;  repairs: invalid outputs answered
 *   reminded   the one reminder about missing outputs was sent
 *   plan       text of the planning call (high)
 *   turn       ids of the tool calls of the last assistant turn, in order
 *   results    {id: tool_result part} answered so far for that turn
 *   pending    user tool calls still to run
 *   recorded   {output name: [objects]}
 *   evidence   {output name: [[event ids], ...]} parallel to recorded
 *   last_invalid {output, errors, attempt} of the last rejected output
 *   error      {code, message, detail} when failed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "json_dump.h"
#include "pa_buf.h"

#define RECORD_PREFIX "record_"

/* A text may be a whole transcript: checked as UTF-8 the fast way. */
static json_t *
text_message(const char *role, const char *text)
{
	return json_pack("{s:s, s:[{s:s, s:o}]}", "role", role, "parts",
					 "type", "text", "text", pa_json_text(text));
}

void
pa_sm_fail(json_t *state, const char *code, const char *message, json_t *detail)
{
	json_t	   *err = json_pack("{s:s, s:s}", "code", code, "message", message);

	if (detail)
		json_object_set(err, "detail", detail);
	json_object_set_new(state, "error", err);
	json_object_set_new(state, "status", json_string("failed"));
}

static void
succeed(json_t *state)
{
	json_object_set_new(state, "status", json_string("succeeded"));
}

static int
get_int(json_t *state, const char *key)
{
	return (int) json_integer_value(json_object_get(state, key));
}

static void
bump(json_t *state, const char *key)
{
	json_object_set_new(state, key, json_integer(get_int(state, key) + 1));
}

json_t *
pa_sm_start(const PaAgentSpec *spec, const char *first_user_text)
{
	json_t	   *state = json_pack("{s:s, s:s, s:[o], s:i, s:i, s:b, s:[], s:{}, s:[], s:{}, s:{}}",
								  "phase", strcmp(spec->planning, "high") == 0 ? "plan" : "act",
								  "status", "running",
								  "messages", text_message("user", first_user_text),
								  "steps", 0, "repairs", 0, "reminded", 0,
								  "turn", "results", "pending", "recorded", "evidence");
	int			i;
	json_t	   *recorded = json_object_get(state, "recorded");

	for (i = 0; i < spec->n_outputs; i++)
	{
		json_object_set_new(recorded, spec->outputs[i].name, json_array());
		if (spec->outputs[i].evidence)
			json_object_set_new(json_object_get(state, "evidence"), spec->outputs[i].name,
								json_array());
	}
	return state;
}

static const PaOutputType *
find_output(const PaAgentSpec *spec, const char *tool_name)
{
	int			i;

	if (strncmp(tool_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) != 0)
		return NULL;
	for (i = 0; i < spec->n_outputs; i++)
		if (strcmp(spec->outputs[i].name, tool_name + strlen(RECORD_PREFIX)) == 0)
			return &spec->outputs[i];
	return NULL;
}

static const PaUserTool *
find_user_tool(const PaAgentSpec *spec, const char *name)
{
	int			i;

	for (i = 0; i < spec->n_user_tools; i++)
		if (strcmp(spec->user_tools[i].name, name) == 0)
			return &spec->user_tools[i];
	return NULL;
}

/* Names of required outputs not recorded yet, comma separated; "" if none. */
static char *
missing_outputs(const PaAgentSpec *spec, json_t *state)
{
	PaBuf		b = {0};
	json_t	   *recorded = json_object_get(state, "recorded");
	int			i;

	pa_buf_puts(&b, "");
	for (i = 0; i < spec->n_outputs; i++)
		if (spec->outputs[i].required &&
			json_array_size(json_object_get(recorded, spec->outputs[i].name)) == 0)
		{
			if (b.len)
				pa_buf_puts(&b, ", ");
			pa_buf_puts(&b, spec->outputs[i].name);
		}
	return b.data;
}

/* Every output type is cardinality one and recorded: nothing left to do. */
static bool
all_single_outputs_recorded(const PaAgentSpec *spec, json_t *state)
{
	json_t	   *recorded = json_object_get(state, "recorded");
	int			i;

	for (i = 0; i < spec->n_outputs; i++)
		if (spec->outputs[i].many ||
			json_array_size(json_object_get(recorded, spec->outputs[i].name)) == 0)
			return false;
	return true;
}

static void
answer(json_t *state, const char *id, const char *content, bool is_error)
{
	json_object_set_new(json_object_get(state, "results"), id,
						json_pack("{s:s, s:s, s:s, s:b}", "type", "tool_result",
								  "id", id, "content", content, "is_error", is_error));
}

/* Validate and keep a record_<output> call; returns the tool result text. */
json_t *
pa_evidence_parameters(json_t *object_schema)
{
	static const char *const defs_keys[] = {"$defs", "definitions"};
	json_t	   *inner = json_copy(object_schema);
	json_t	   *wrapper = json_pack("{s:s, s:[s, s], s:b, s:{s:o, s:{s:s, s:{s:s}, s:i}}}",
									"type", "object", "required", "object", "evidence",
									"additionalProperties", 0, "properties",
									"object", inner ? inner : json_object(),
									"evidence", "type", "array", "items", "type", "integer", "minItems", 1);
	int			i;

	/*
	 * The object's local references ("#/$defs/x") are resolved against the
	 * document root, which is now the wrapper: its definitions move up with
	 * them (the definition API refuses other root references with evidence).
	 */
	for (i = 0; wrapper && inner && i < 2; i++)
	{
		json_t	   *defs = json_object_get(inner, defs_keys[i]);

		if (defs == NULL)
			continue;
		json_object_set(wrapper, defs_keys[i], defs);
		json_object_del(inner, defs_keys[i]);
	}
	return wrapper;
}

static int
id_cmp(const void *a, const void *b)
{
	long long	x = *(const long long *) a;
	long long	y = *(const long long *) b;

	return (x > y) - (x < y);
}

/*
 * Evidence must name events of this conversation: unknown ids become
 * validation errors, sent back for repair like any other.
 */
static void
check_evidence(const PaAgentSpec *spec, json_t *ids, json_t *errors)
{
	size_t		i;
	json_t	   *v;

	json_array_foreach(ids, i, v)
	{
		/* 5.0 is an integer for the schema: read any number */
		long long	id = (long long) json_number_value(v);
		char		path[64];
		char		msg[160];

		if (spec->event_ids &&
			bsearch(&id, spec->event_ids, spec->n_event_ids, sizeof(long long), id_cmp))
			continue;
		snprintf(path, sizeof(path), "/evidence/%zu", i);
		snprintf(msg, sizeof(msg), "event #%lld is not an event of this conversation", id);
		json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:s}", "path", path,
												"keyword", "evidence", "message", msg,
												"schema_path", "/properties/evidence"));
	}
}

static void
record_output(const PaAgentSpec *spec, json_t *state, const PaOutputType *out,
			  const char *id, json_t *args)
{
	char	   *err = NULL;
	json_t	   *errors = pa_schema_validate(out->schema, args, 20, &err);
	json_t	   *list = json_object_get(json_object_get(state, "recorded"), out->name);
	json_t	   *cited = json_object_get(json_object_get(state, "evidence"), out->name);
	PaBuf		b = {0};

	if (errors == NULL)
	{
		pa_buf_printf(&b, "The output could not be validated: %s", err ? err : "out of memory");
		answer(state, id, b.data, true);
		free(err);
		free(b.data);
		return;
	}
	if (out->evidence && json_array_size(errors) == 0)
		check_evidence(spec, json_object_get(args, "evidence"), errors);
	if (json_array_size(errors) == 0)
	{
		if (!out->many)
		{
			json_array_clear(list);
			json_array_clear(cited);
		}
		if (out->evidence)
		{
			json_array_append(list, json_object_get(args, "object"));
			json_array_append(cited, json_object_get(args, "evidence"));
		}
		else
			json_array_append(list, args);
		if (out->many)
			pa_buf_printf(&b, "Recorded %s #%zu.", out->name, json_array_size(list));
		else
			pa_buf_printf(&b, "Recorded %s.", out->name);
		answer(state, id, b.data, false);
	}
	else
	{
		size_t		i;
		json_t	   *e;

		json_object_set_new(state, "last_invalid",
							json_pack("{s:s, s:O, s:O}", "output", out->name,
									  "errors", errors, "attempt", args));
		bump(state, "repairs");
		if (get_int(state, "repairs") > spec->max_repairs)
		{
			pa_buf_printf(&b, "output %s is still invalid after %d repair attempts",
						  out->name, spec->max_repairs);
			pa_sm_fail(state, "invalid_output", b.data,
					   json_object_get(state, "last_invalid"));
			b.len = 0;			/* the tool result below is a text of its own */
		}
		pa_buf_printf(&b, "The %s object was NOT recorded: it does not match its schema.\n",
					  out->name);
		json_array_foreach(errors, i, e)
		{
			const char *path = json_string_value(json_object_get(e, "path"));

			pa_buf_printf(&b, "- at %s: %s\n", (path && *path) ? path : "(root)",
						  json_string_value(json_object_get(e, "message")));
		}
		pa_buf_printf(&b, "Call %s%s again with a corrected object.", RECORD_PREFIX, out->name);
		answer(state, id, b.data, true);
	}
	json_decref(errors);
	free(b.data);
}

static void
handle_tool_call(const PaAgentSpec *spec, json_t *state, json_t *call)
{
	const char *id = json_string_value(json_object_get(call, "id"));
	const char *name = json_string_value(json_object_get(call, "name"));
	json_t	   *args = json_object_get(call, "arguments");
	const PaOutputType *out;
	const PaUserTool *tool;
	PaBuf		b = {0};

	json_array_append_new(json_object_get(state, "turn"), json_string(id));
	if (json_object_get(call, "arguments_error"))
	{
		pa_buf_printf(&b, "The arguments of %s were not a JSON object (%s). Call it again with valid JSON.",
					  name, json_string_value(json_object_get(call, "arguments_error")));
		answer(state, id, b.data, true);
		/* a broken record_ call is an invalid output like any other */
		if ((out = find_output(spec, name)) != NULL)
		{
			json_object_set_new(state, "last_invalid",
								json_pack("{s:s, s:[{s:s, s:s, s:s}], s:O?}", "output", out->name,
										  "errors", "path", "", "keyword", "arguments",
										  "message", json_string_value(json_object_get(call, "arguments_error")),
										  "attempt", json_object_get(call, "arguments_raw")));
			bump(state, "repairs");
			if (get_int(state, "repairs") > spec->max_repairs)
				pa_sm_fail(state, "invalid_output",
						   "the model kept sending arguments that are not JSON objects", NULL);
		}
	}
	else if ((out = find_output(spec, name)) != NULL)
		record_output(spec, state, out, id, args);
	else if ((tool = find_user_tool(spec, name)) != NULL)
	{
		char	   *err = NULL;
		json_t	   *errors = pa_schema_validate(tool->parameters, args, 20, &err);

		if (errors && json_array_size(errors) == 0)
			json_array_append(json_object_get(state, "pending"), call);
		else
		{
			size_t		i;
			json_t	   *e;

			pa_buf_printf(&b, "The arguments of %s do not match its parameters:\n", name);
			json_array_foreach(errors, i, e)
				pa_buf_printf(&b, "- at %s: %s\n",
							  *json_string_value(json_object_get(e, "path")) ?
							  json_string_value(json_object_get(e, "path")) : "(root)",
							  json_string_value(json_object_get(e, "message")));
			if (errors == NULL)
				pa_buf_puts(&b, err ? err : "validation failed");
			answer(state, id, b.data, true);
		}
		json_decref(errors);
		free(err);
	}
	else
	{
		size_t		i;
		json_t	   *t;

		pa_buf_printf(&b, "There is no tool named %s. Available tools:", name);
		json_array_foreach(spec->tools, i, t)
			pa_buf_printf(&b, " %s", json_string_value(json_object_get(t, "name")));
		answer(state, id, b.data, true);
	}
	free(b.data);
}

void
pa_sm_model_response(const PaAgentSpec *spec, json_t *state, json_t *response)
{
	const char *stop = json_string_value(json_object_get(response, "stop"));
	json_t	   *parts = json_object_get(response, "parts");
	json_t	   *messages = json_object_get(state, "messages");
	size_t		i;
	json_t	   *p;
	int			calls = 0;

	bump(state, "steps");
	if (stop && strcmp(stop, "max_tokens") == 0)
	{
		pa_sm_fail(state, "truncated",
				   "the model's answer was cut off at max_output_tokens and cannot be used", NULL);
		return;
	}
	if (stop && strcmp(stop, "refusal") == 0)
	{
		json_t	   *why = json_object_get(response, "refusal");

		pa_sm_fail(state, "refusal", "the model refused to carry out the procedure",
				   why ? why : NULL);
		return;
	}

	if (strcmp(json_string_value(json_object_get(state, "phase")), "plan") == 0)
	{
		PaBuf		plan = {0};

		pa_buf_puts(&plan, "");
		json_array_foreach(parts, i, p)
			if (strcmp(json_string_value(json_object_get(p, "type")), "text") == 0)
				pa_buf_puts(&plan, json_string_value(json_object_get(p, "text")));
		json_object_set_new(state, "plan", json_string(plan.data));
		json_array_append_new(messages, text_message("assistant", *plan.data ? plan.data : "(no plan)"));
		json_array_append_new(messages, text_message("user",
													 "Now carry out the procedure, following your plan. "
													 "Record every output with its record_ tool."));
		json_object_set_new(state, "phase", json_string("act"));
		free(plan.data);
		return;
	}

	json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "assistant", "parts", parts));
	json_array_clear(json_object_get(state, "turn"));
	json_object_clear(json_object_get(state, "results"));
	json_array_clear(json_object_get(state, "pending"));

	json_array_foreach(parts, i, p)
		if (strcmp(json_string_value(json_object_get(p, "type")), "tool_call") == 0)
		{
			handle_tool_call(spec, state, p);
			calls++;
			if (strcmp(json_string_value(json_object_get(state, "status")), "running") != 0)
				return;
		}

	if (calls == 0 && !(stop && strcmp(stop, "pause_turn") == 0))
	{
		char	   *missing = missing_outputs(spec, state);

		if (*missing == '\0')
			succeed(state);
		else if (!json_is_true(json_object_get(state, "reminded")))
		{
			PaBuf		b = {0};

			pa_buf_printf(&b, "You ended your turn without recording: %s. "
						  "These outputs are required: record them now with their record_ tools.",
						  missing);
			json_array_append_new(messages, text_message("user", b.data));
			json_object_set_new(state, "reminded", json_true());
			free(b.data);
		}
		else
		{
			PaBuf		b = {0};

			pa_buf_printf(&b, "required outputs were not recorded: %s", missing);
			pa_sm_fail(state, "missing_outputs", b.data, NULL);
			free(b.data);
		}
		free(missing);
	}
}

json_t *
pa_sm_pending(json_t *state)
{
	return json_object_get(state, "pending");
}

void
pa_sm_tool_result(const PaAgentSpec *spec, json_t *state, const char *id,
				  const char *content, bool is_error)
{
	json_t	   *pending = json_object_get(state, "pending");
	size_t		i;
	json_t	   *c;

	answer(state, id, content, is_error);
	json_array_foreach(pending, i, c)
		if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
		{
			json_array_remove(pending, i);
			break;
		}
}

/* All calls of the last turn answered: append them as one tool message. */
static void
flush_results(json_t *state)
{
	json_t	   *turn = json_object_get(state, "turn");
	json_t	   *results = json_object_get(state, "results");
	json_t	   *parts;
	size_t		i;
	json_t	   *id;

	if (json_array_size(turn) == 0)
		return;
	parts = json_array();
	json_array_foreach(turn, i, id)
		json_array_append(parts, json_object_get(results, json_string_value(id)));
	json_array_append_new(json_object_get(state, "messages"),
						  json_pack("{s:s, s:o}", "role", "tool", "parts", parts));
	json_array_clear(turn);
	json_object_clear(results);
}

PaSmAction
pa_sm_next(const PaAgentSpec *spec, json_t *state, PaModelRequest *req)
{
	bool		planning;

	if (strcmp(json_string_value(json_object_get(state, "status")), "running") != 0)
		return PA_SM_DONE;
	/* Tools whose results no model call could read are not run. */
	if (json_array_size(pa_sm_pending(state)) > 0)
	{
		size_t		i;
		json_t	   *c;

		if (get_int(state, "steps") < spec->max_steps)
			return PA_SM_RUN_TOOLS;
		json_array_foreach(pa_sm_pending(state), i, c)
			answer(state, json_string_value(json_object_get(c, "id")),
				   "Not run: the run has no steps left.", true);
		json_array_clear(pa_sm_pending(state));
	}

	if (json_array_size(json_object_get(state, "turn")) > 0)
	{
		flush_results(state);
		/* A round trip saved: nothing can be added to single outputs. */
		if (spec->finish_when_recorded && all_single_outputs_recorded(spec, state))
		{
			succeed(state);
			return PA_SM_DONE;
		}
	}
	if (get_int(state, "steps") >= spec->max_steps)
	{
		char	   *missing = missing_outputs(spec, state);
		PaBuf		b = {0};

		/* Out of steps with everything required recorded: that is done. */
		if (*missing == '\0')
		{
			free(missing);
			succeed(state);
			return PA_SM_DONE;
		}
		pa_buf_printf(&b, "the run reached max_steps (%d)%s%s", spec->max_steps,
					  *missing ? " without recording: " : "", missing);
		pa_sm_fail(state, "max_steps", b.data, NULL);
		free(missing);
		free(b.data);
		return PA_SM_DONE;
	}

	planning = strcmp(json_string_value(json_object_get(state, "phase")), "plan") == 0;
	memset(req, 0, sizeof(*req));
	req->model = spec->model;
	req->system = planning ? spec->planning_prompt : spec->system_prompt;
	req->messages = json_object_get(state, "messages");
	req->tools = planning ? NULL : spec->tools;
	req->tool_choice = planning ? NULL : "auto";
	req->parallel_tool_calls = true;
	req->max_output_tokens = spec->max_output_tokens;
	req->thinking_budget = spec->thinking_budget;
	req->reasoning_effort = spec->reasoning_effort;
	return PA_SM_CALL_MODEL;
}
