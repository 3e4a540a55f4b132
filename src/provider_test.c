/*
 * provider_test.c — the `test` provider kind: a model that needs no
 * network and answers the neutral request deterministically, for users'
 * own CI (agent definitions, triggers, result tables, the SQL over them).
 *
 * Each turn, looking only at the request:
 *   - no tools on offer (a planning call): a one-line plan;
 *   - with call_tools, until it has done so: one call of each of the
 *     agent's own tools (not the built-ins, not record_*) in one turn,
 *     arguments built from the tool's parameters;
 *   - then one record_<output> call per output not yet recorded
 *     successfully (a rejected one is sent again: the loop's repair limit
 *     ends it), the object built from the output's schema; an output with
 *     evidence cites the first event id of the transcript;
 *   - then a closing text turn.
 * Instances come from pa_schema_example (schema_example.h). Usage is
 * counted at ~4 bytes a token so that cost accounting has figures to sum.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_int.h"
#include "schema_example.h"

/* Built-in tools the worker offers by itself: the test model leaves them alone. */
static bool
own_tool(const char *name)
{
	static const char *const builtins[] = {"remember", "recall", "read_events", "search_events"};
	size_t		i;

	if (strncmp(name, "record_", 7) == 0)
		return false;
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(name, builtins[i]) == 0)
			return false;
	return true;
}

/* Bytes of text in the request: the basis of the input token count. */
static size_t
request_bytes(const PaModelRequest *req)
{
	char	   *m = json_dumps(req->messages, JSON_COMPACT);
	size_t		n = (m ? strlen(m) : 0) + (req->system ? strlen(req->system) : 0);

	free(m);
	return n;
}

/*
 * The first "[#<id>" of the first user message: the transcript renders each
 * event as "[#<id> <time> <role> ...]" (transcript.c, put_event).
 */
static long long
first_event_id(const PaModelRequest *req)
{
	json_t	   *msg = json_array_get(req->messages, 0);
	size_t		i;
	json_t	   *part;

	json_array_foreach(json_object_get(msg, "parts"), i, part)
	{
		const char *text = pa_model_str(part, "text");
		const char *at = text;

		while (at && (at = strstr(at, "[#")) != NULL)
		{
			char	   *end;
			long long	id = strtoll(at + 2, &end, 10);

			if (end > at + 2)
				return id;
			at += 2;
		}
	}
	return 0;
}

/*
 * What earlier turns did: how many tool calls were made, whether any of the
 * agent's own tools was called, and which tools' last result was success.
 */
typedef struct History
{
	int			calls;
	bool		called_own;
	json_t	   *ok_names;		/* tool name -> true, from results without error */
	json_t	   *call_names;		/* call id -> tool name */
} History;

static void
read_history(const PaModelRequest *req, History *h)
{
	size_t		i,
				j;
	json_t	   *msg,
			   *part;

	h->ok_names = json_object();
	h->call_names = json_object();
	json_array_foreach(req->messages, i, msg)
	{
		json_array_foreach(json_object_get(msg, "parts"), j, part)
		{
			const char *type = pa_model_str(part, "type");
			const char *id = pa_model_str(part, "id");

			if (strcmp(type, "tool_call") == 0 && id)
			{
				const char *name = pa_model_str(part, "name");

				h->calls++;
				if (name && own_tool(name))
					h->called_own = true;
				if (name)
					json_object_set_new(h->call_names, id, json_string(name));
			}
			else if (strcmp(type, "tool_result") == 0 && id)
			{
				const char *name = json_string_value(json_object_get(h->call_names, id));

				if (name == NULL)
					continue;
				if (json_is_true(json_object_get(part, "is_error")))
					json_object_del(h->ok_names, name);
				else
					json_object_set_new(h->ok_names, name, json_true());
			}
		}
	}
}

/* One tool call part with arguments built from the tool's parameters. */
static json_t *
call_part(json_t *tool, int n, long long event_id)
{
	json_t	   *schema = pa_model_tool_schema(tool);
	json_t	   *args = schema ? pa_schema_example(schema) : NULL;
	json_t	   *props = json_object_get(schema, "properties");
	json_t	   *part = NULL;
	char		id[32];

	/* record_<output> of an output with evidence: {"object", "evidence": [ids]} */
	if (json_is_object(args) && json_object_size(props) == 2 &&
		json_object_get(props, "object") && json_object_get(props, "evidence") && event_id > 0)
		json_object_set_new(args, "evidence", json_pack("[I]", (json_int_t) event_id));
	snprintf(id, sizeof(id), "call_test_%d", n);
	if (json_is_object(args))
		part = pa_model_tool_call(id, json_string_value(json_object_get(tool, "name")), args);
	json_decref(args);
	json_decref(schema);
	return part;
}

json_t *
pa_test_respond(const PaModelRequest *req, bool call_tools, char **errmsg)
{
	json_t	   *root = json_pack("{s:s, s:s}", "id", "test-response", "model", req->model ? req->model : "test");
	json_t	   *resp = root ? pa_model_response_new(root) : NULL;
	json_t	   *parts = json_object_get(resp, "parts");
	History		h = {0};
	bool		own_turn;
	const char *stop = "end_turn";
	size_t		i;
	json_t	   *tool;
	char	   *text;
	size_t		out_bytes;

	json_decref(root);
	if (resp == NULL)
	{
		pa_model_errorf(errmsg, "out of memory building the test model's answer");
		return NULL;
	}
	read_history(req, &h);

	/* the agent's own tools first, once, when asked to */
	own_turn = call_tools && !h.called_own && req->force_tool == NULL &&
		pa_model_has_tools(req) && (req->tool_choice == NULL || strcmp(req->tool_choice, "none") != 0);
	if (own_turn)
	{
		own_turn = false;
		json_array_foreach(req->tools, i, tool)
		{
			const char *name = pa_model_str(tool, "name");

			if (name && own_tool(name))
			{
				json_array_append_new(parts, call_part(tool, h.calls + (int) json_array_size(parts) + 1, 0));
				own_turn = true;
			}
		}
	}
	if (!own_turn && pa_model_has_tools(req) &&
		(req->tool_choice == NULL || strcmp(req->tool_choice, "none") != 0))
	{
		long long	event_id = first_event_id(req);

		json_array_foreach(req->tools, i, tool)
		{
			const char *name = pa_model_str(tool, "name");

			if (name == NULL || strncmp(name, "record_", 7) != 0 ||
				json_object_get(h.ok_names, name) != NULL ||
				(req->force_tool && strcmp(req->force_tool, name) != 0))
				continue;
			json_array_append_new(parts, call_part(tool, h.calls + (int) json_array_size(parts) + 1, event_id));
		}
	}
	if (json_array_size(parts) > 0)
		stop = "tool_use";
	else
		json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text",
											   pa_model_has_tools(req) ? "Recorded every output."
											   : "Plan: read the conversation, then record each output."));
	json_decref(h.ok_names);
	json_decref(h.call_names);

	text = json_dumps(parts, JSON_COMPACT);
	out_bytes = text ? strlen(text) : 0;
	free(text);
	resp = pa_model_finish(resp, stop, NULL,
						   pa_model_usage((long long) request_bytes(req) / 4 + 1,
										  (long long) out_bytes / 4 + 1, 0, 0, 0));
	if (resp == NULL)
		pa_model_errorf(errmsg, "out of memory building the test model's answer");
	return resp;
}
