/*
 * agent_unit.c — the step machine (src/agent.c) outside the server.
 *
 * Each test builds a PaAgentSpec, drives the machine the way pa_invoke does
 * (pa_sm_start, then pa_sm_next: CALL_MODEL is answered with a scripted
 * neutral response, RUN_TOOLS with pa_sm_tool_result), and checks the state
 * and the requests it asks for.
 *
 * The state is the checkpoint: every run below replaces its state by the
 * JSON round trip of it (json_dumps, json_loads) after every transition and
 * goes on from the reloaded copy, and test_resume restarts one run from
 * each of its checkpoints and expects the same final state as the run
 * that was never interrupted.
 *
 * Built and run by test/unit/Makefile.agent. One line per check; ends with
 * "N passed, N failed"; exit status 1 if any failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int	passed,
			failed;

static void check_at(bool ok, int line, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static void
check_at(bool ok, int line, const char *fmt,...)
{
	va_list		ap;

	if (ok)
		passed++;
	else
		failed++;
	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" (line %d)", line);
	putchar('\n');
}

#define CHECK(cond, ...) check_at((cond), __LINE__, __VA_ARGS__)

/* ---------- json helpers ---------- */

/* Parse test JSON written with ' for " (the data has no apostrophes). */
static json_t *
js(const char *text)
{
	char	   *copy = strdup(text);
	char	   *p;
	json_error_t err;
	json_t	   *v;

	for (p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(copy, JSON_DECODE_ANY, &err);
	if (v == NULL)
	{
		printf("bad test JSON: %s\n%s\n", err.text, copy);
		exit(2);
	}
	free(copy);
	return v;
}

/* Does the value equal the test JSON? */
static bool
equals(json_t *value, const char *text)
{
	json_t	   *want = js(text);
	bool		ok = value != NULL && json_equal(value, want);

	if (!ok)
	{
		char	   *got = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;

		printf("    expected %s\n    got      %s\n", text, got ? got : "(null)");
		free(got);
	}
	json_decref(want);
	return ok;
}

static bool
streq(const char *a, const char *b)
{
	bool		ok = a != NULL && b != NULL && strcmp(a, b) == 0;

	if (!ok)
		printf("    expected \"%s\"\n    got      \"%s\"\n", b ? b : "(null)", a ? a : "(null)");
	return ok;
}

static bool
contains(const char *hay, const char *needle)
{
	bool		ok = hay != NULL && strstr(hay, needle) != NULL;

	if (!ok)
		printf("    \"%s\" not found in\n    \"%s\"\n", needle, hay ? hay : "(null)");
	return ok;
}

static const char *
sget(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int
iget(json_t *obj, const char *key)
{
	return (int) json_integer_value(json_object_get(obj, key));
}

/* Part i of a message. */
static json_t *
part(json_t *msg, size_t i)
{
	return json_array_get(json_object_get(msg, "parts"), i);
}

/* ---------- fixtures ---------- */

#define TICKET_SCHEMA "{'type':'object','properties':{'priority':{'enum':['low','high']}," \
	"'summary':{'type':'string','minLength':1}},'required':['priority','summary']," \
	"'additionalProperties':false}"
#define NOTE_SCHEMA "{'type':'object','properties':{'text':{'type':'string'}},'required':['text']}"
#define LOOKUP_SCHEMA "{'type':'object','properties':{'email':{'type':'string'}}," \
	"'required':['email'],'additionalProperties':false}"
#define WEATHER_SCHEMA "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}"

static json_t *ticket_json,
		   *note_json,
		   *lookup_json,
		   *weather_json;
static PaSchema *ticket_schema,
		   *note_schema,
		   *lookup_schema,
		   *weather_schema;
static PaOutputType ticket_only[1];		/* ticket: one, required */
static PaOutputType ticket_and_notes[2];	/* and note: many, optional */
static PaUserTool user_tools[2];
static json_t *tools_ticket;	/* record_ticket and the user tools */
static json_t *tools_mixed;		/* record_ticket, record_note and the user tools */

/*
 * Evidence outputs: the record tool's arguments are {"object", "evidence"},
 * checked against the wrapper schema the driver compiles (run_setup.c).
 */
static json_t *ticket_ev_json,
		   *note_ev_json;
static PaSchema *ticket_ev_schema,
		   *note_ev_schema;
static PaOutputType ev_ticket_only[1];	/* ticket: one, required, evidence */
static PaOutputType ev_ticket_and_notes[2];	/* and note: many, optional, evidence */
static json_t *tools_ev_ticket;	/* record_ticket (wrapped) and the user tools */
static json_t *tools_ev_mixed;	/* record_ticket, record_note (wrapped) and the user tools */

/* the conversation's event ids, ascending */
static const long long conversation_events[] = {3, 5, 8, 13};

#define N_CONVERSATION_EVENTS ((int) (sizeof(conversation_events) / sizeof(conversation_events[0])))

static PaSchema *
compile(json_t *schema)
{
	char	   *err = NULL;
	PaSchema   *s = pa_schema_compile(schema, NULL, &err);

	if (s == NULL)
	{
		printf("schema does not compile: %s\n", err ? err : "(no message)");
		exit(2);
	}
	return s;
}

/* The tools offered: record_ticket, record_note (when note is given), two user tools. */
static json_t *
tool_list(json_t *ticket, json_t *note)
{
	json_t	   *list = json_pack("[{s:s, s:s, s:O}]", "name", "record_ticket",
								 "description", "Record one ticket object.", "parameters", ticket);

	if (note)
		json_array_append_new(list, json_pack("{s:s, s:s, s:O}", "name", "record_note",
											  "description", "Record one note object.",
											  "parameters", note));
	json_array_append_new(list, json_pack("{s:s, s:s, s:O}", "name", "lookup_customer",
										  "description", "Find a customer.", "parameters", lookup_json));
	json_array_append_new(list, json_pack("{s:s, s:s, s:O}", "name", "get_weather",
										  "description", "The weather in a city.", "parameters", weather_json));
	return list;
}

static void
setup(void)
{
	ticket_json = js(TICKET_SCHEMA);
	note_json = js(NOTE_SCHEMA);
	lookup_json = js(LOOKUP_SCHEMA);
	weather_json = js(WEATHER_SCHEMA);
	ticket_schema = compile(ticket_json);
	note_schema = compile(note_json);
	lookup_schema = compile(lookup_json);
	weather_schema = compile(weather_json);

	ticket_only[0].name = "ticket";
	ticket_only[0].schema = ticket_schema;
	ticket_only[0].many = false;
	ticket_only[0].required = true;
	ticket_and_notes[0] = ticket_only[0];
	ticket_and_notes[1].name = "note";
	ticket_and_notes[1].schema = note_schema;
	ticket_and_notes[1].many = true;
	ticket_and_notes[1].required = false;
	user_tools[0].name = "lookup_customer";
	user_tools[0].parameters = lookup_schema;
	user_tools[1].name = "get_weather";
	user_tools[1].parameters = weather_schema;

	tools_ticket = tool_list(ticket_json, NULL);
	tools_mixed = tool_list(ticket_json, note_json);

	ticket_ev_json = pa_evidence_parameters(ticket_json);
	note_ev_json = pa_evidence_parameters(note_json);
	ticket_ev_schema = compile(ticket_ev_json);
	note_ev_schema = compile(note_ev_json);
	ev_ticket_only[0] = ticket_only[0];
	ev_ticket_only[0].schema = ticket_ev_schema;
	ev_ticket_only[0].evidence = true;
	ev_ticket_and_notes[0] = ev_ticket_only[0];
	ev_ticket_and_notes[1] = ticket_and_notes[1];
	ev_ticket_and_notes[1].schema = note_ev_schema;
	ev_ticket_and_notes[1].evidence = true;
	tools_ev_ticket = tool_list(ticket_ev_json, NULL);
	tools_ev_mixed = tool_list(ticket_ev_json, note_ev_json);
}

static void
teardown(void)
{
	pa_schema_free(ticket_schema);
	pa_schema_free(note_schema);
	pa_schema_free(lookup_schema);
	pa_schema_free(weather_schema);
	pa_schema_free(ticket_ev_schema);
	pa_schema_free(note_ev_schema);
	json_decref(tools_ev_ticket);
	json_decref(tools_ev_mixed);
	json_decref(ticket_ev_json);
	json_decref(note_ev_json);
	json_decref(tools_ticket);
	json_decref(tools_mixed);
	json_decref(ticket_json);
	json_decref(note_json);
	json_decref(lookup_json);
	json_decref(weather_json);
}

/* A spec over the ticket output alone (mixed: and the note output). */
static void
spec_init(PaAgentSpec *s, bool mixed)
{
	memset(s, 0, sizeof(*s));
	s->model = "test-model";
	s->system_prompt = "SYSTEM PROMPT";
	s->planning_prompt = "PLANNING PROMPT";
	s->planning = "none";
	s->tools = mixed ? tools_mixed : tools_ticket;
	s->outputs = mixed ? ticket_and_notes : ticket_only;
	s->n_outputs = mixed ? 2 : 1;
	s->user_tools = user_tools;
	s->n_user_tools = 2;
	s->max_steps = 10;
	s->max_repairs = 2;
	s->max_output_tokens = 1234;
	s->thinking_budget = 2048;
	s->reasoning_effort = "medium";
	s->finish_when_recorded = true;
}

/* The same over evidence outputs, in a conversation of conversation_events. */
static void
spec_init_evidence(PaAgentSpec *s, bool mixed)
{
	spec_init(s, mixed);
	s->tools = mixed ? tools_ev_mixed : tools_ev_ticket;
	s->outputs = mixed ? ev_ticket_and_notes : ev_ticket_only;
	s->event_ids = conversation_events;
	s->n_event_ids = N_CONVERSATION_EVENTS;
}

/* ---------- a run: the driver of pa_invoke, with a reload after every transition ---------- */

typedef struct Run
{
	const char *name;
	const PaAgentSpec *spec;
	json_t	   *state;
	int			reloads;
	int			bad_reloads;
	int			requests;		/* CALL_MODEL answers of pa_sm_next */
	PaModelRequest req;			/* the last one; messages deep-copied (they
								 * belong to the state) */
} Run;

/* Replace the state by its JSON round trip: the run goes on from the copy. */
static json_t *
reload(json_t *state, bool *ok)
{
	char	   *text = json_dumps(state, JSON_COMPACT);
	json_error_t err;
	json_t	   *copy = text ? json_loads(text, 0, &err) : NULL;

	free(text);
	*ok = copy != NULL && json_equal(copy, state);
	if (copy == NULL)
		return state;
	json_decref(state);
	return copy;
}

static void
checkpoint(Run *r)
{
	bool		ok;

	r->state = reload(r->state, &ok);
	r->reloads++;
	if (!ok)
		r->bad_reloads++;
}

static void
run_start(Run *r, const char *name, const PaAgentSpec *spec, const char *first)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->spec = spec;
	r->state = pa_sm_start(spec, first);
	checkpoint(r);
}

static PaSmAction
run_next(Run *r)
{
	PaModelRequest req;
	PaSmAction	a = pa_sm_next(r->spec, r->state, &req);

	if (a == PA_SM_CALL_MODEL)
	{
		r->requests++;
		json_decref(r->req.messages);
		r->req = req;
		r->req.messages = json_deep_copy(req.messages);
	}
	checkpoint(r);
	return a;
}

static void
run_respond(Run *r, const char *response)
{
	json_t	   *resp = js(response);

	pa_sm_model_response(r->spec, r->state, resp);
	json_decref(resp);
	checkpoint(r);
}

static void
run_result(Run *r, const char *id, const char *content, bool is_error)
{
	pa_sm_tool_result(r->spec, r->state, id, content, is_error);
	checkpoint(r);
}

static void
run_end(Run *r)
{
	CHECK(r->bad_reloads == 0 && r->reloads > 0,
		  "%s: the state survives its JSON round trip at every step (%d reloads)",
		  r->name, r->reloads);
	json_decref(r->state);
	json_decref(r->req.messages);
	r->state = NULL;
	r->req.messages = NULL;
}

static const char *
status(Run *r)
{
	return sget(r->state, "status");
}

static json_t *
messages(Run *r)
{
	return json_object_get(r->state, "messages");
}

static size_t
n_messages(Run *r)
{
	return json_array_size(messages(r));
}

/* Message i; negative counts from the end. */
static json_t *
message(Run *r, int i)
{
	return json_array_get(messages(r), i < 0 ? n_messages(r) + i : (size_t) i);
}

static json_t *
recorded(Run *r, const char *output)
{
	return json_object_get(json_object_get(r->state, "recorded"), output);
}

/* State "evidence"[output]: the id lists, parallel to recorded(output). */
static json_t *
evidence(Run *r, const char *output)
{
	return json_object_get(json_object_get(r->state, "evidence"), output);
}

static const char *
error_code(Run *r)
{
	return sget(json_object_get(r->state, "error"), "code");
}

static int
count_role(Run *r, const char *role)
{
	size_t		i;
	json_t	   *m;
	int			n = 0;

	json_array_foreach(messages(r), i, m)
		if (strcmp(sget(m, "role"), role) == 0)
		n++;
	return n;
}

/* The tool message answers the calls ids (comma separated), in that order. */
static bool
tool_message_ids(json_t *msg, const char *ids)
{
	char		buf[256];
	char	   *tok;
	char	   *save = NULL;
	size_t		i = 0;
	bool		ok = msg != NULL && streq(sget(msg, "role"), "tool");

	snprintf(buf, sizeof(buf), "%s", ids);
	for (tok = strtok_r(buf, ",", &save); ok && tok; tok = strtok_r(NULL, ",", &save), i++)
		ok = streq(sget(part(msg, i), "type"), "tool_result") && streq(sget(part(msg, i), "id"), tok);
	return ok && i == json_array_size(json_object_get(msg, "parts"));
}

/* Every error of the array is listed as "- at <path>: <message>". */
static bool
lists_errors(const char *text, json_t *errors)
{
	size_t		i;
	json_t	   *e;
	char		line[512];
	bool		ok = json_array_size(errors) > 0;

	json_array_foreach(errors, i, e)
	{
		const char *path = sget(e, "path");

		snprintf(line, sizeof(line), "- at %s: %s\n", *path ? path : "(root)", sget(e, "message"));
		ok = contains(text, line) && ok;
	}
	return ok;
}

#define VALID_TICKET "{'priority':'high','summary':'printer on fire'}"
#define RECORD_TICKET(id, args) \
	"{'type':'tool_call','id':'" id "','name':'record_ticket','arguments':" args "}"
#define RECORD_NOTE(id, text) \
	"{'type':'tool_call','id':'" id "','name':'record_note','arguments':{'text':'" text "'}}"
/* a record_ call of an evidence output: {"object": obj, "evidence": ids} */
#define RECORD_EV(tool, id, obj, ids) \
	"{'type':'tool_call','id':'" id "','name':'record_" tool "','arguments':" \
	"{'object':" obj ",'evidence':" ids "}}"
#define TOOL_USE(parts) "{'id':'r','model':'test-model','stop':'tool_use','parts':[" parts "]}"
#define END_TURN(text) "{'id':'r','model':'test-model','stop':'end_turn'," \
	"'parts':[{'type':'text','text':'" text "'}]}"

/* ---------- tests ---------- */

static void
test_finish_when_recorded(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	run_start(&r, "finish_when_recorded", &spec, "Ticket 42: the printer is on fire.");
	CHECK(streq(sget(r.state, "phase"), "act") && streq(status(&r), "running") &&
		  iget(r.state, "steps") == 0 && equals(json_object_get(r.state, "recorded"), "{'ticket':[]}"),
		  "start: phase act, running, no steps, an empty list per output");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "start: the first action is a model call");
	CHECK(streq(r.req.model, "test-model") && streq(r.req.system, "SYSTEM PROMPT") &&
		  r.req.tools == tools_ticket && streq(r.req.tool_choice, "auto") &&
		  r.req.force_tool == NULL && r.req.parallel_tool_calls &&
		  r.req.max_output_tokens == 1234 && r.req.thinking_budget == 2048 &&
		  streq(r.req.reasoning_effort, "medium") && !r.req.stream,
		  "request: model, system prompt, tools, tool_choice auto, parallel calls, limits from the spec");
	CHECK(equals(r.req.messages,
				 "[{'role':'user','parts':[{'type':'text','text':'Ticket 42: the printer is on fire.'}]}]"),
		  "request: the first user message is the given text");

	run_respond(&r, TOOL_USE("{'type':'text','text':'Recording.'}," RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(iget(r.state, "steps") == 1 && streq(status(&r), "running"),
		  "record: one step counted, still running until the next action");
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && r.requests == 1,
		  "finish_when_recorded: the single output recorded ends the run without another call");
	CHECK(equals(recorded(&r, "ticket"), "[" VALID_TICKET "]"), "finish_when_recorded: the ticket is recorded");
	CHECK(n_messages(&r) == 3 && tool_message_ids(message(&r, -1), "c1") &&
		  streq(sget(part(message(&r, -1), 0), "content"), "Recorded ticket.") &&
		  json_is_false(json_object_get(part(message(&r, -1), 0), "is_error")),
		  "finish_when_recorded: the record call is answered \"Recorded ticket.\"");
	CHECK(json_object_get(r.state, "error") == NULL, "finish_when_recorded: no error on success");
	run_end(&r);

	spec.finish_when_recorded = false;
	run_start(&r, "finish_when_recorded=false", &spec, "Ticket 42.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.requests == 2,
		  "finish_when_recorded=false: one more model call after the record");
	CHECK(json_array_size(r.req.messages) == 3 &&
		  tool_message_ids(json_array_get(r.req.messages, 2), "c1"),
		  "finish_when_recorded=false: that call carries the tool result");
	run_respond(&r, END_TURN("Done."));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  iget(r.state, "steps") == 2 && equals(recorded(&r, "ticket"), "[" VALID_TICKET "]"),
		  "finish_when_recorded=false: end_turn then succeeds with the ticket");
	run_end(&r);
}

static void
test_cardinality(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *tm;

	spec_init(&spec, true);
	run_start(&r, "cardinality", &spec, "Ticket 7.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_NOTE("n1", "first") "," RECORD_NOTE("n2", "second") ","
							 RECORD_TICKET("t1", "{'priority':'low','summary':'one'}")));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL,
		  "cardinality: with a many output, finish_when_recorded does not end the run");
	tm = message(&r, -1);
	CHECK(tool_message_ids(tm, "n1,n2,t1") &&
		  streq(sget(part(tm, 0), "content"), "Recorded note #1.") &&
		  streq(sget(part(tm, 1), "content"), "Recorded note #2.") &&
		  streq(sget(part(tm, 2), "content"), "Recorded ticket."),
		  "cardinality: many outputs are numbered, one outputs are not");
	run_respond(&r, TOOL_USE(RECORD_TICKET("t2", "{'priority':'high','summary':'two'}") ","
							 RECORD_NOTE("n3", "third")));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL &&
		  streq(sget(part(message(&r, -1), 1), "content"), "Recorded note #3."),
		  "cardinality: a later note is #3");
	CHECK(equals(recorded(&r, "ticket"), "[{'priority':'high','summary':'two'}]"),
		  "cardinality one: a second record replaces the first");
	CHECK(equals(recorded(&r, "note"), "[{'text':'first'},{'text':'second'},{'text':'third'}]"),
		  "cardinality many: records are appended in call order");
	run_respond(&r, END_TURN("Done."));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && count_role(&r, "user") == 1,
		  "cardinality: end_turn succeeds (the optional output needs no reminder)");
	run_end(&r);

	/* two records of a single output in one turn: the last one stays */
	spec_init(&spec, false);
	run_start(&r, "cardinality one, same turn", &spec, "Ticket 8.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("a", "{'priority':'low','summary':'a'}") ","
							 RECORD_TICKET("b", "{'priority':'low','summary':'b'}")));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  equals(recorded(&r, "ticket"), "[{'priority':'low','summary':'b'}]"),
		  "cardinality one: the later of two records in one turn is kept");
	run_end(&r);
}

static void
test_invalid_output(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *li;
	json_t	   *res;
	const char *text;

	spec_init(&spec, false);
	run_start(&r, "invalid output", &spec, "Ticket 9.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", "{'priority':'urgent','extra':1}")));
	li = json_object_get(r.state, "last_invalid");
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 1,
		  "invalid output: one repair counted, still running");
	CHECK(li != NULL && streq(sget(li, "output"), "ticket") &&
		  equals(json_object_get(li, "attempt"), "{'priority':'urgent','extra':1}") &&
		  json_array_size(json_object_get(li, "errors")) == 3,
		  "invalid output: last_invalid keeps the output, the attempt and its 3 errors");
	CHECK(json_array_size(recorded(&r, "ticket")) == 0, "invalid output: nothing recorded");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "invalid output: the model gets another call to repair");
	res = part(message(&r, -1), 0);
	text = sget(res, "content");
	CHECK(tool_message_ids(message(&r, -1), "c1") && json_is_true(json_object_get(res, "is_error")),
		  "invalid output: answered with a tool error");
	CHECK(lists_errors(text, json_object_get(li = json_object_get(r.state, "last_invalid"), "errors")),
		  "invalid output: the tool error lists every error as \"- at <path>: <message>\"");
	CHECK(contains(text, "- at /priority: ") &&
		  contains(text, "- at (root): must have required property \"summary\"\n") &&
		  contains(text, "- at (root): must not have additional property \"extra\"\n"),
		  "invalid output: the bad value at /priority, the missing and the extra property at (root)");
	CHECK(strncmp(text, "The ticket object was NOT recorded: it does not match its schema.\n", 66) == 0 &&
		  contains(text, "Call record_ticket again with a corrected object."),
		  "invalid output: the tool error says it was not recorded and how to repair");

	run_respond(&r, TOOL_USE(RECORD_TICKET("c2", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  equals(recorded(&r, "ticket"), "[" VALID_TICKET "]") && iget(r.state, "repairs") == 1,
		  "invalid output: the fixed object succeeds; repairs stays 1");
	run_end(&r);
}

static void
test_repairs_exhausted(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *err;
	json_t	   *detail;

	spec_init(&spec, false);
	spec.max_repairs = 1;
	run_start(&r, "repairs exhausted", &spec, "Ticket 10.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", "{'priority':'low'}")));
	CHECK(streq(status(&r), "running") && run_next(&r) == PA_SM_CALL_MODEL,
		  "repairs exhausted: the first invalid object (max_repairs 1) gets a repair call");
	run_respond(&r, TOOL_USE(RECORD_TICKET("c2", "{'priority':'high','summary':''}")));
	err = json_object_get(r.state, "error");
	detail = json_object_get(err, "detail");
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "invalid_output") &&
		  streq(sget(err, "message"), "output ticket is still invalid after 1 repair attempts"),
		  "repairs exhausted: the second invalid object fails the run with invalid_output");
	CHECK(detail != NULL && json_equal(detail, json_object_get(r.state, "last_invalid")) &&
		  streq(sget(detail, "output"), "ticket") &&
		  equals(json_object_get(detail, "attempt"), "{'priority':'high','summary':''}") &&
		  json_array_size(json_object_get(detail, "errors")) == 1 &&
		  streq(sget(json_array_get(json_object_get(detail, "errors"), 0), "path"), "/summary"),
		  "repairs exhausted: error detail is last_invalid {output, errors, attempt} of the last attempt");
	CHECK(strncmp(sget(json_object_get(json_object_get(r.state, "results"), "c2"), "content"),
				  "The ticket object was NOT recorded", 34) == 0,
		  "repairs exhausted: the last call's tool result is the repair text alone, not glued to the error message");
	CHECK(run_next(&r) == PA_SM_DONE && r.requests == 2 && iget(r.state, "repairs") == 2 &&
		  json_array_size(recorded(&r, "ticket")) == 0,
		  "repairs exhausted: done after 2 calls, nothing recorded");
	run_end(&r);

	/* max_repairs 0; the failure stops the turn: the user tool before it never runs */
	spec.max_repairs = 0;
	run_start(&r, "max_repairs 0", &spec, "Ticket 11.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'u1','name':'lookup_customer','arguments':{'email':'a@b'}},"
							 RECORD_TICKET("c1", "{}") ","
							 "{'type':'tool_call','id':'u2','name':'get_weather','arguments':{'city':'Oslo'}}"));
	CHECK(streq(error_code(&r), "invalid_output") && run_next(&r) == PA_SM_DONE,
		  "max_repairs 0: the first invalid object fails the run and no tools are run");
	CHECK(json_array_size(json_object_get(r.state, "pending")) == 1,
		  "max_repairs 0: calls after the failing one are not considered");
	run_end(&r);
}

static void
test_unknown_tool(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *tm;

	spec_init(&spec, false);
	run_start(&r, "unknown tool", &spec, "Ticket 12.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'x1','name':'delete_everything','arguments':{}},"
							 "{'type':'tool_call','id':'x2','name':'record_nothing','arguments':{}}"));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && streq(status(&r), "running"),
		  "unknown tool: the run goes on");
	tm = message(&r, -1);
	CHECK(tool_message_ids(tm, "x1,x2") &&
		  json_is_true(json_object_get(part(tm, 0), "is_error")) &&
		  streq(sget(part(tm, 0), "content"),
				"There is no tool named delete_everything. Available tools: "
				"record_ticket lookup_customer get_weather"),
		  "unknown tool: a tool error naming the available tools");
	CHECK(json_is_true(json_object_get(part(tm, 1), "is_error")) &&
		  contains(sget(part(tm, 1), "content"), "There is no tool named record_nothing."),
		  "unknown tool: record_ of an output that does not exist is unknown too");
	CHECK(iget(r.state, "repairs") == 0 && json_array_size(json_object_get(r.state, "pending")) == 0,
		  "unknown tool: no repair counted, nothing pending");
	run_end(&r);
}

static void
test_user_tool_invalid_args(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *args = js("{'mail':'a@b'}");
	char	   *err = NULL;
	json_t	   *errors = pa_schema_validate(lookup_schema, args, 20, &err);
	const char *text;

	spec_init(&spec, false);
	run_start(&r, "user tool, invalid arguments", &spec, "Ticket 13.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'u1','name':'lookup_customer','arguments':{'mail':'a@b'}}"));
	CHECK(json_array_size(pa_sm_pending(r.state)) == 0, "user tool, invalid arguments: not pending");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "user tool, invalid arguments: no RUN_TOOLS, the model is called again");
	text = sget(part(message(&r, -1), 0), "content");
	CHECK(tool_message_ids(message(&r, -1), "u1") &&
		  json_is_true(json_object_get(part(message(&r, -1), 0), "is_error")) &&
		  strncmp(text, "The arguments of lookup_customer do not match its parameters:\n", 62) == 0,
		  "user tool, invalid arguments: answered with a tool error");
	CHECK(json_array_size(errors) == 2 && lists_errors(text, errors),
		  "user tool, invalid arguments: the error lists each path and message");
	CHECK(iget(r.state, "repairs") == 0, "user tool, invalid arguments: not a repair of an output");
	run_end(&r);
	json_decref(errors);
	json_decref(args);
	free(err);
}

static void
test_user_tools_in_call_order(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *pending;
	json_t	   *tm;
	const char *response =
		"{'id':'r1','model':'test-model','stop':'tool_use','parts':["
		"{'type':'thinking','thinking':'Two lookups.','signature':'sig=='},"
		"{'type':'tool_call','id':'c1','name':'lookup_customer','arguments':{'email':'a@b'}},"
		"{'type':'tool_call','id':'c2','name':'get_weather','arguments':{'city':'Oslo'}},"
		RECORD_NOTE("c3", "seen") ","
		"{'type':'tool_call','id':'c4','name':'nope','arguments':{}}]}";
	json_t	   *resp_parts;

	spec_init(&spec, true);
	run_start(&r, "user tools", &spec, "Ticket 14.");
	run_next(&r);
	run_respond(&r, response);
	resp_parts = js(response);
	CHECK(n_messages(&r) == 2 && streq(sget(message(&r, -1), "role"), "assistant") &&
		  json_equal(json_object_get(message(&r, -1), "parts"), json_object_get(resp_parts, "parts")),
		  "user tools: the assistant turn is kept exactly, thinking included");
	json_decref(resp_parts);
	CHECK(run_next(&r) == PA_SM_RUN_TOOLS, "user tools: valid calls ask for RUN_TOOLS");
	pending = pa_sm_pending(r.state);
	CHECK(json_array_size(pending) == 2 &&
		  streq(sget(json_array_get(pending, 0), "id"), "c1") &&
		  streq(sget(json_array_get(pending, 0), "name"), "lookup_customer") &&
		  equals(json_object_get(json_array_get(pending, 0), "arguments"), "{'email':'a@b'}") &&
		  streq(sget(json_array_get(pending, 1), "id"), "c2") &&
		  streq(sget(json_array_get(pending, 1), "name"), "get_weather"),
		  "user tools: pending holds the two user calls with their arguments, in call order");

	/* answered out of order */
	run_result(&r, "c2", "sunny", false);
	CHECK(json_array_size(pa_sm_pending(r.state)) == 1 &&
		  streq(sget(json_array_get(pa_sm_pending(r.state), 0), "id"), "c1"),
		  "user tools: an answer removes its call from pending");
	CHECK(run_next(&r) == PA_SM_RUN_TOOLS && n_messages(&r) == 2,
		  "user tools: still RUN_TOOLS while a call is unanswered; no tool message yet");
	run_result(&r, "c1", "no customer with that email", true);
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.requests == 2, "user tools: all answered, the model is called");
	tm = message(&r, -1);
	CHECK(n_messages(&r) == 3 && count_role(&r, "tool") == 1 && tool_message_ids(tm, "c1,c2,c3,c4"),
		  "user tools: ONE tool message, results in call order though answered out of order");
	CHECK(streq(sget(part(tm, 0), "content"), "no customer with that email") &&
		  json_is_true(json_object_get(part(tm, 0), "is_error")) &&
		  streq(sget(part(tm, 1), "content"), "sunny") &&
		  json_is_false(json_object_get(part(tm, 1), "is_error")) &&
		  streq(sget(part(tm, 2), "content"), "Recorded note #1.") &&
		  json_is_false(json_object_get(part(tm, 2), "is_error")) &&
		  json_is_true(json_object_get(part(tm, 3), "is_error")),
		  "user tools: each result keeps its content and is_error");
	CHECK(json_equal(r.req.messages, messages(&r)), "user tools: the request carries the messages of the state");
	CHECK(json_array_size(json_object_get(r.state, "turn")) == 0 &&
		  json_object_size(json_object_get(r.state, "results")) == 0,
		  "user tools: turn and results are emptied by the flush");

	run_respond(&r, TOOL_USE(RECORD_TICKET("c5", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "user tools: record after the tools, a note output keeps it going");
	run_respond(&r, END_TURN("Done."));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  iget(r.state, "steps") == 3 && count_role(&r, "tool") == 2,
		  "user tools: the run succeeds after 3 steps");
	run_end(&r);
}

static void
test_arguments_error(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *tm;

	spec_init(&spec, false);
	run_start(&r, "arguments_error", &spec, "Ticket 15.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'m1','name':'lookup_customer',"
							 "'arguments_error':'unexpected end of input','arguments_raw':'{email'},"
							 "{'type':'tool_call','id':'m2','name':'record_ticket',"
							 "'arguments_error':'not an object','arguments_raw':'[1]'}"));
	CHECK(json_array_size(pa_sm_pending(r.state)) == 0 && run_next(&r) == PA_SM_CALL_MODEL,
		  "arguments_error: not pending, the model is called again");
	tm = message(&r, -1);
	CHECK(tool_message_ids(tm, "m1,m2") && json_is_true(json_object_get(part(tm, 0), "is_error")) &&
		  streq(sget(part(tm, 0), "content"),
				"The arguments of lookup_customer were not a JSON object (unexpected end of input). "
				"Call it again with valid JSON."),
		  "arguments_error: a user tool call gets a tool error with the reason");
	CHECK(json_is_true(json_object_get(part(tm, 1), "is_error")) &&
		  contains(sget(part(tm, 1), "content"), "The arguments of record_ticket were not a JSON object (not an object)"),
		  "arguments_error: so does a record call");
	CHECK(json_array_size(recorded(&r, "ticket")) == 0 && streq(status(&r), "running"),
		  "arguments_error: nothing recorded, still running");
	CHECK(iget(r.state, "repairs") == 1,
		  "arguments_error: the broken record call counts as a repair, the broken user tool call does not");
	run_end(&r);
}

static void
test_arguments_error_repairs(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *err;
	json_t	   *tm;

	spec_init(&spec, false);
	spec.max_repairs = 1;
	run_start(&r, "arguments_error repairs", &spec, "Ticket 15a.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'m1','name':'record_ticket',"
							 "'arguments_error':'unexpected end of input','arguments_raw':'{priority'}"));
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 1 && run_next(&r) == PA_SM_CALL_MODEL,
		  "arguments_error repairs: the first broken record call (max_repairs 1) is a repair, the model is called again");
	tm = message(&r, -1);
	CHECK(tool_message_ids(tm, "m1") && json_is_true(json_object_get(part(tm, 0), "is_error")) &&
		  streq(sget(part(tm, 0), "content"),
				"The arguments of record_ticket were not a JSON object (unexpected end of input). "
				"Call it again with valid JSON."),
		  "arguments_error repairs: answered with the arguments error");
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'m2','name':'record_ticket',"
							 "'arguments_error':'not an object','arguments_raw':'[1]'}"));
	err = json_object_get(r.state, "error");
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "invalid_output") &&
		  streq(sget(err, "message"), "the model kept sending arguments that are not JSON objects") &&
		  iget(r.state, "repairs") == 2,
		  "arguments_error repairs: the second one exceeds max_repairs and fails the run with invalid_output");
	CHECK(contains(sget(json_object_get(json_object_get(r.state, "results"), "m2"), "content"),
				   "The arguments of record_ticket were not a JSON object (not an object)"),
		  "arguments_error repairs: the failing call still has its tool result");
	CHECK(run_next(&r) == PA_SM_DONE && r.requests == 2 && json_array_size(recorded(&r, "ticket")) == 0,
		  "arguments_error repairs: done after 2 calls, nothing recorded");
	run_end(&r);

	/* one budget: a schema repair, then a broken record call */
	run_start(&r, "arguments_error after a schema repair", &spec, "Ticket 15b.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'u1','name':'lookup_customer',"
							 "'arguments_error':'not an object','arguments_raw':'1'},"
							 "{'type':'tool_call','id':'x1','name':'record_nothing',"
							 "'arguments_error':'not an object','arguments_raw':'2'},"
							 RECORD_TICKET("c1", "{'priority':'low'}")));
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 1,
		  "arguments_error after a schema repair: broken calls of a user tool and of an unknown record_ tool are no repairs");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "arguments_error after a schema repair: one repair call");
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'c2','name':'record_ticket',"
							 "'arguments_error':'unexpected end of input','arguments_raw':'{'}"));
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "invalid_output") &&
		  iget(r.state, "repairs") == 2 && run_next(&r) == PA_SM_DONE && r.requests == 2,
		  "arguments_error after a schema repair: the broken call uses up the same budget and fails the run");
	run_end(&r);

	/* max_repairs 0: the very first broken record call fails */
	spec.max_repairs = 0;
	run_start(&r, "arguments_error, max_repairs 0", &spec, "Ticket 15c.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'m1','name':'record_ticket',"
							 "'arguments_error':'not an object','arguments_raw':'[]'}"));
	CHECK(streq(error_code(&r), "invalid_output") && run_next(&r) == PA_SM_DONE && r.requests == 1,
		  "arguments_error, max_repairs 0: the first broken record call fails the run");
	run_end(&r);
}

static void
test_evidence(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *tm;

	spec_init_evidence(&spec, true);
	run_start(&r, "evidence", &spec, "Ticket 30.");
	CHECK(equals(json_object_get(r.state, "evidence"), "{'ticket':[],'note':[]}") &&
		  equals(json_object_get(r.state, "recorded"), "{'ticket':[],'note':[]}"),
		  "evidence: start with an empty id list per evidence output, beside its empty record list");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.req.tools == tools_ev_mixed,
		  "evidence: the request offers the wrapped record tools");
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c1", VALID_TICKET, "[3,5]") ","
							 RECORD_EV("note", "n1", "{'text':'first'}", "[8]") ","
							 RECORD_EV("note", "n2", "{'text':'second'}", "[3,13]")));
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 0 && run_next(&r) == PA_SM_CALL_MODEL,
		  "evidence: valid ids are accepted, no repair; a many output keeps the run going");
	tm = message(&r, -1);
	CHECK(tool_message_ids(tm, "c1,n1,n2") &&
		  streq(sget(part(tm, 0), "content"), "Recorded ticket.") &&
		  json_is_false(json_object_get(part(tm, 0), "is_error")) &&
		  streq(sget(part(tm, 1), "content"), "Recorded note #1.") &&
		  streq(sget(part(tm, 2), "content"), "Recorded note #2."),
		  "evidence: the calls are answered as plain records are");
	CHECK(equals(recorded(&r, "ticket"), "[" VALID_TICKET "]") &&
		  equals(recorded(&r, "note"), "[{'text':'first'},{'text':'second'}]"),
		  "evidence: \"recorded\" holds the bare objects, without the wrapper");
	CHECK(equals(evidence(&r, "ticket"), "[[3,5]]") && equals(evidence(&r, "note"), "[[8],[3,13]]"),
		  "evidence: \"evidence\" holds the id lists, parallel to \"recorded\"");

	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "t2", "{'priority':'low','summary':'two'}", "[13]") ","
							 RECORD_EV("note", "n3", "{'text':'third'}", "[5]")));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL &&
		  equals(recorded(&r, "ticket"), "[{'priority':'low','summary':'two'}]") &&
		  equals(evidence(&r, "ticket"), "[[13]]"),
		  "evidence, cardinality one: a second record replaces both the object and its ids");
	CHECK(equals(recorded(&r, "note"), "[{'text':'first'},{'text':'second'},{'text':'third'}]") &&
		  equals(evidence(&r, "note"), "[[8],[3,13],[5]]"),
		  "evidence, cardinality many: objects and id lists are appended side by side");
	run_respond(&r, END_TURN("Done."));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  equals(json_object_get(r.state, "evidence"), "{'ticket':[[13]],'note':[[8],[3,13],[5]]}"),
		  "evidence: the run succeeds with the ids of what it recorded");
	run_end(&r);

	/* outputs without evidence keep no ids */
	spec_init(&spec, false);
	run_start(&r, "no evidence", &spec, "Ticket 31.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") &&
		  equals(json_object_get(r.state, "evidence"), "{}") &&
		  equals(recorded(&r, "ticket"), "[" VALID_TICKET "]"),
		  "no evidence: state \"evidence\" stays {}, the arguments are the object");
	run_end(&r);
}

static void
test_evidence_unknown_ids(void)
{
	PaAgentSpec spec;
	Run			r;
	json_t	   *li;
	json_t	   *errors;
	json_t	   *res;
	const char *text;

	spec_init_evidence(&spec, false);
	run_start(&r, "evidence, unknown ids", &spec, "Ticket 32.");
	run_next(&r);
	/* events 3, 5, 8, 13: 1 is below them, 4 between, 99 above; 3 and 13 the ends */
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c1", VALID_TICKET, "[1,3,4,13,99]")));
	li = json_object_get(r.state, "last_invalid");
	errors = json_object_get(li, "errors");
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 1,
		  "evidence, unknown ids: counted as a repair, still running");
	CHECK(json_array_size(recorded(&r, "ticket")) == 0 && equals(evidence(&r, "ticket"), "[]"),
		  "evidence, unknown ids: neither the object nor the ids are kept");
	CHECK(streq(sget(li, "output"), "ticket") &&
		  equals(json_object_get(li, "attempt"), "{'object':" VALID_TICKET ",'evidence':[1,3,4,13,99]}") &&
		  json_array_size(errors) == 3 &&
		  streq(sget(json_array_get(errors, 0), "path"), "/evidence/0") &&
		  streq(sget(json_array_get(errors, 1), "path"), "/evidence/2") &&
		  streq(sget(json_array_get(errors, 2), "path"), "/evidence/4"),
		  "evidence, unknown ids: last_invalid has one error per unknown id, at its index");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "evidence, unknown ids: the model gets another call to repair");
	res = part(message(&r, -1), 0);
	text = sget(res, "content");
	CHECK(tool_message_ids(message(&r, -1), "c1") && json_is_true(json_object_get(res, "is_error")) &&
		  strncmp(text, "The ticket object was NOT recorded", 34) == 0,
		  "evidence, unknown ids: answered with a tool error");
	CHECK(contains(text, "- at /evidence/0: event #1 is not an event of this conversation\n") &&
		  contains(text, "- at /evidence/2: event #4 is not an event of this conversation\n") &&
		  contains(text, "- at /evidence/4: event #99 is not an event of this conversation\n") &&
		  lists_errors(text, json_object_get(json_object_get(r.state, "last_invalid"), "errors")),
		  "evidence, unknown ids: the tool error names each path /evidence/<i> and the unknown event");
	CHECK(strstr(text, "/evidence/1") == NULL && strstr(text, "/evidence/3") == NULL &&
		  strstr(text, "#3 ") == NULL && strstr(text, "#13 ") == NULL,
		  "evidence, unknown ids: known ids (the first and the last event) are not reported");

	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c2", VALID_TICKET, "[3,13]")));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && iget(r.state, "repairs") == 1 &&
		  equals(recorded(&r, "ticket"), "[" VALID_TICKET "]") && equals(evidence(&r, "ticket"), "[[3,13]]"),
		  "evidence, unknown ids: the corrected call succeeds; repairs stays 1");
	run_end(&r);

	/* unknown ids use up the repair budget like any invalid output */
	spec.max_repairs = 1;
	run_start(&r, "evidence, unknown ids exhaust repairs", &spec, "Ticket 33.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c1", VALID_TICKET, "[4]")));
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c2", VALID_TICKET, "[5,6]")));
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "invalid_output") &&
		  streq(sget(json_object_get(json_object_get(r.state, "error"), "detail"), "output"), "ticket") &&
		  equals(json_object_get(json_object_get(json_object_get(r.state, "error"), "detail"), "attempt"),
				 "{'object':" VALID_TICKET ",'evidence':[5,6]}"),
		  "evidence, unknown ids exhaust repairs: failed invalid_output, the last attempt as detail");
	CHECK(run_next(&r) == PA_SM_DONE && r.requests == 2 && equals(evidence(&r, "ticket"), "[]"),
		  "evidence, unknown ids exhaust repairs: done, no ids kept");
	run_end(&r);
}

static void
test_evidence_no_event_ids(void)
{
	PaAgentSpec spec;
	Run			r;
	const char *text;

	spec_init_evidence(&spec, false);
	spec.event_ids = NULL;
	spec.n_event_ids = 0;
	run_start(&r, "evidence, no event ids", &spec, "Ticket 34.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c1", VALID_TICKET, "[3,5]")));
	CHECK(streq(status(&r), "running") && iget(r.state, "repairs") == 1 &&
		  json_array_size(json_object_get(json_object_get(r.state, "last_invalid"), "errors")) == 2 &&
		  json_array_size(recorded(&r, "ticket")) == 0,
		  "evidence, no event ids: every id is rejected, counted as one repair");
	run_next(&r);
	text = sget(part(message(&r, -1), 0), "content");
	CHECK(contains(text, "- at /evidence/0: event #3 is not an event of this conversation\n") &&
		  contains(text, "- at /evidence/1: event #5 is not an event of this conversation\n"),
		  "evidence, no event ids: the tool error names each id");
	run_respond(&r, TOOL_USE(RECORD_EV("ticket", "c2", VALID_TICKET, "[8]")));
	CHECK(iget(r.state, "repairs") == 2 && equals(evidence(&r, "ticket"), "[]") &&
		  contains(sget(json_object_get(json_object_get(r.state, "results"), "c2"), "content"),
				   "- at /evidence/0: event #8 is not an event of this conversation\n"),
		  "evidence, no event ids: so is the next attempt");
	run_end(&r);
}

static void
test_reminder(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	run_start(&r, "reminder", &spec, "Ticket 16.");
	run_next(&r);
	run_respond(&r, END_TURN("All done."));
	CHECK(streq(status(&r), "running") && json_is_true(json_object_get(r.state, "reminded")),
		  "reminder: end_turn with the required output missing is not the end");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && n_messages(&r) == 3 && count_role(&r, "user") == 2 &&
		  streq(sget(message(&r, -1), "role"), "user") &&
		  streq(sget(part(message(&r, -1), 0), "text"),
				"You ended your turn without recording: ticket. "
				"These outputs are required: record them now with their record_ tools."),
		  "reminder: one user message names the missing output");
	run_respond(&r, END_TURN("Really done."));
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "missing_outputs") &&
		  streq(sget(json_object_get(r.state, "error"), "message"),
				"required outputs were not recorded: ticket"),
		  "reminder: the second such end_turn fails with missing_outputs");
	CHECK(run_next(&r) == PA_SM_DONE && r.requests == 2 && count_role(&r, "user") == 2,
		  "reminder: only one reminder, no third call");
	run_end(&r);

	run_start(&r, "reminder heeded", &spec, "Ticket 17.");
	run_next(&r);
	run_respond(&r, END_TURN("All done."));
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded"),
		  "reminder: recording after the reminder succeeds");
	run_end(&r);
}

static void
test_stops(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	run_start(&r, "max_tokens", &spec, "Ticket 18.");
	run_next(&r);
	run_respond(&r, "{'stop':'max_tokens','parts':[" RECORD_TICKET("c1", VALID_TICKET) "]}");
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "truncated") &&
		  run_next(&r) == PA_SM_DONE,
		  "stop max_tokens: failed \"truncated\"");
	CHECK(json_array_size(recorded(&r, "ticket")) == 0 && iget(r.state, "steps") == 1,
		  "stop max_tokens: the calls of a cut answer are not used");
	run_end(&r);

	run_start(&r, "refusal", &spec, "Ticket 19.");
	run_next(&r);
	run_respond(&r, "{'stop':'refusal','refusal':'I will not do that.','parts':[]}");
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "refusal") &&
		  equals(json_object_get(json_object_get(r.state, "error"), "detail"), "'I will not do that.'") &&
		  run_next(&r) == PA_SM_DONE,
		  "stop refusal: failed \"refusal\", the refusal text as detail");
	run_end(&r);

	run_start(&r, "refusal without text", &spec, "Ticket 20.");
	run_next(&r);
	run_respond(&r, "{'stop':'refusal','parts':[]}");
	CHECK(streq(error_code(&r), "refusal") &&
		  json_object_get(json_object_get(r.state, "error"), "detail") == NULL,
		  "stop refusal without text: no detail");
	run_end(&r);

	run_start(&r, "pause_turn", &spec, "Ticket 21.");
	run_next(&r);
	run_respond(&r, "{'stop':'pause_turn','parts':[{'type':'text','text':'Searching'}]}");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && streq(status(&r), "running") && r.requests == 2,
		  "stop pause_turn: another call");
	CHECK(json_array_size(r.req.messages) == 2 && streq(sget(message(&r, -1), "role"), "assistant") &&
		  json_is_false(json_object_get(r.state, "reminded")),
		  "stop pause_turn: nothing added but the assistant turn (no reminder, no tool message)");
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && iget(r.state, "steps") == 2,
		  "stop pause_turn: the run continues to success");
	run_end(&r);

	/* a transport failure reported by the driver */
	run_start(&r, "pa_sm_fail", &spec, "Ticket 22.");
	run_next(&r);
	{
		json_t	   *detail = js("{'status':503}");

		pa_sm_fail(r.state, "model_error", "503 overloaded", detail);
		json_decref(detail);
	}
	checkpoint(&r);
	CHECK(run_next(&r) == PA_SM_DONE &&
		  equals(json_object_get(r.state, "error"),
				 "{'code':'model_error','message':'503 overloaded','detail':{'status':503}}"),
		  "pa_sm_fail: the driver's failure ends the run with its code, message and detail");
	run_end(&r);
}

static void
test_max_steps(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	spec.max_steps = 2;
	run_start(&r, "max_steps", &spec, "Ticket 23.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'x1','name':'nope','arguments':{}}"));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "max_steps 2: a second call");
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'x2','name':'nope','arguments':{}}"));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "failed") && streq(error_code(&r), "max_steps") &&
		  r.requests == 2,
		  "max_steps 2: no third call, failed \"max_steps\"");
	CHECK(streq(sget(json_object_get(r.state, "error"), "message"),
				"the run reached max_steps (2) without recording: ticket"),
		  "max_steps: the message names the missing outputs");
	CHECK(tool_message_ids(message(&r, -1), "x2"), "max_steps: the last turn's results are still flushed");
	run_end(&r);

	/* the last step's record ends the run when finish_when_recorded */
	spec.max_steps = 1;
	run_start(&r, "max_steps, recorded at the last step", &spec, "Ticket 24.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded"),
		  "max_steps 1: a record in the only step still succeeds (finish_when_recorded)");
	run_end(&r);

	/* out of steps with every required output recorded: that is success */
	spec.finish_when_recorded = false;
	run_start(&r, "max_steps, all required recorded", &spec, "Ticket 24a.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && r.requests == 1 &&
		  json_object_get(r.state, "error") == NULL,
		  "max_steps 1, finish_when_recorded=false: the only step records the only required output, succeeded, no further request");
	CHECK(equals(recorded(&r, "ticket"), "[" VALID_TICKET "]") && tool_message_ids(message(&r, -1), "c1"),
		  "max_steps 1, finish_when_recorded=false: the ticket is kept, its result flushed");
	run_end(&r);

	/* an optional many output does not hold success back; the required one was recorded earlier */
	spec_init(&spec, true);
	spec.max_steps = 2;
	run_start(&r, "max_steps, required recorded before the last step", &spec, "Ticket 24b.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_CALL_MODEL, "max_steps 2, mixed: a second call (the note output is many)");
	run_respond(&r, TOOL_USE(RECORD_NOTE("n1", "last")));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && r.requests == 2 &&
		  equals(recorded(&r, "note"), "[{'text':'last'}]"),
		  "max_steps 2, mixed: out of steps with the required ticket recorded, succeeded");
	run_end(&r);
}

static void
test_last_step_tools(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	spec.max_steps = 2;
	run_start(&r, "last step tools", &spec, "Ticket 35.");
	run_next(&r);
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'c1','name':'lookup_customer','arguments':{'email':'a@b'}}"));
	CHECK(run_next(&r) == PA_SM_RUN_TOOLS, "last step tools: a tool called before the last step is run");
	run_result(&r, "c1", "Ada", false);
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.requests == 2, "last step tools: then the last call");
	run_respond(&r, TOOL_USE("{'type':'tool_call','id':'c2','name':'lookup_customer','arguments':{'email':'c@d'}},"
							 "{'type':'tool_call','id':'c3','name':'get_weather','arguments':{'city':'Oslo'}}"));
	CHECK(json_array_size(pa_sm_pending(r.state)) == 2,
		  "last step tools: the calls of the last step are valid and pending after the response");
	CHECK(run_next(&r) == PA_SM_DONE, "last step tools: pa_sm_next answers DONE, not RUN_TOOLS");
	CHECK(json_array_size(pa_sm_pending(r.state)) == 0, "last step tools: pending is emptied");
	CHECK(streq(status(&r), "failed") && streq(error_code(&r), "max_steps") &&
		  streq(sget(json_object_get(r.state, "error"), "message"),
				"the run reached max_steps (2) without recording: ticket") && r.requests == 2,
		  "last step tools: with the required ticket missing the run fails max_steps");
	CHECK(run_next(&r) == PA_SM_DONE && json_array_size(pa_sm_pending(r.state)) == 0,
		  "last step tools: asked again, still DONE with nothing to run");
	run_end(&r);

	/* max_steps 1, a record and a tool in the only step: the tool is not run, the run succeeds */
	spec.max_steps = 1;
	spec.finish_when_recorded = false;
	run_start(&r, "last step tools, required recorded", &spec, "Ticket 36.");
	run_next(&r);
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET) ","
							 "{'type':'tool_call','id':'c2','name':'get_weather','arguments':{'city':'Oslo'}}"));
	CHECK(json_array_size(pa_sm_pending(r.state)) == 1 && run_next(&r) == PA_SM_DONE &&
		  json_array_size(pa_sm_pending(r.state)) == 0,
		  "last step tools, required recorded: DONE, the tool is not run, pending emptied");
	CHECK(streq(status(&r), "succeeded") && r.requests == 1 && equals(recorded(&r, "ticket"), "[" VALID_TICKET "]"),
		  "last step tools, required recorded: the run succeeds with the ticket");
	run_end(&r);
}

static void
test_planning(void)
{
	PaAgentSpec spec;
	Run			r;

	spec_init(&spec, false);
	spec.planning = "high";
	run_start(&r, "planning high", &spec, "Ticket 25.");
	CHECK(streq(sget(r.state, "phase"), "plan"), "planning high: the run starts in phase plan");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.req.tools == NULL && r.req.tool_choice == NULL &&
		  streq(r.req.system, "PLANNING PROMPT") && json_array_size(r.req.messages) == 1,
		  "planning high: the first request has no tools and the planning system prompt");
	run_respond(&r, "{'stop':'end_turn','parts':["
				"{'type':'thinking','thinking':'hmm','signature':'s'},"
				"{'type':'text','text':'1. Read the ticket.\\n'},"
				"{'type':'text','text':'2. Record it.'}]}");
	CHECK(streq(sget(r.state, "plan"), "1. Read the ticket.\n2. Record it.") &&
		  streq(sget(r.state, "phase"), "act") && iget(r.state, "steps") == 1,
		  "planning high: the plan text is stored in state \"plan\", phase act");
	CHECK(n_messages(&r) == 3 && streq(sget(message(&r, 1), "role"), "assistant") &&
		  streq(sget(part(message(&r, 1), 0), "text"), "1. Read the ticket.\n2. Record it.") &&
		  streq(sget(message(&r, 2), "role"), "user") &&
		  contains(sget(part(message(&r, 2), 0), "text"), "Now carry out the procedure"),
		  "planning high: the plan is handed on as an assistant turn, then a user message to act");
	CHECK(run_next(&r) == PA_SM_CALL_MODEL && r.req.tools == tools_ticket &&
		  streq(r.req.tool_choice, "auto") && streq(r.req.system, "SYSTEM PROMPT") &&
		  json_array_size(r.req.messages) == 3,
		  "planning high: the act request carries the tools and the system prompt");
	run_respond(&r, TOOL_USE(RECORD_TICKET("c1", VALID_TICKET)));
	CHECK(run_next(&r) == PA_SM_DONE && streq(status(&r), "succeeded") && r.requests == 2 &&
		  iget(r.state, "steps") == 2,
		  "planning high: success after the plan call and one act call");
	run_end(&r);

	run_start(&r, "planning high, empty plan", &spec, "Ticket 26.");
	run_next(&r);
	run_respond(&r, "{'stop':'end_turn','parts':[]}");
	CHECK(streq(sget(r.state, "plan"), "") &&
		  streq(sget(part(message(&r, 1), 0), "text"), "(no plan)") &&
		  run_next(&r) == PA_SM_CALL_MODEL && r.req.tools == tools_ticket,
		  "planning high, empty plan: stored as \"\", acted on anyway");
	run_end(&r);

	spec.planning = "low";
	run_start(&r, "planning low", &spec, "Ticket 27.");
	CHECK(streq(sget(r.state, "phase"), "act") && run_next(&r) == PA_SM_CALL_MODEL &&
		  r.req.tools == tools_ticket && streq(r.req.system, "SYSTEM PROMPT") &&
		  json_object_get(r.state, "plan") == NULL,
		  "planning low: no planning call, the first request carries tools");
	run_end(&r);
}

/* ---------- resuming from checkpoints ---------- */

#define MAX_CHECKPOINTS 64

typedef struct Checkpoint
{
	char	   *text;			/* the state as JSON text */
	int			pos;			/* next scripted response */
} Checkpoint;

static const char *const resume_script[] = {
	"{'stop':'end_turn','parts':[{'type':'text','text':'Look up, then record.'}]}",
	TOOL_USE("{'type':'tool_call','id':'c1','name':'lookup_customer','arguments':{'email':'a@b'}},"
			 RECORD_TICKET("c2", "{'priority':'urgent'}") ","
			 "{'type':'tool_call','id':'c3','name':'get_weather','arguments':{'city':'Oslo'}}"),
	TOOL_USE(RECORD_TICKET("c4", VALID_TICKET) "," RECORD_NOTE("c5", "called")),
	END_TURN("Done."),
};

/*
 * Evidence outputs, a broken record call, an unknown event id, and user
 * tools in the last allowed step (max_steps 3): never run, yet the run
 * succeeds since the required ticket is in.
 */
static const char *const resume_evidence_script[] = {
	TOOL_USE("{'type':'tool_call','id':'e1','name':'record_ticket',"
			 "'arguments_error':'unexpected end of input','arguments_raw':'{object'},"
			 "{'type':'tool_call','id':'c1','name':'lookup_customer','arguments':{'email':'a@b'}},"
			 RECORD_EV("note", "n1", "{'text':'called'}", "[8]")),
	TOOL_USE(RECORD_EV("ticket", "t1", VALID_TICKET, "[3,4]") ","
			 "{'type':'tool_call','id':'c2','name':'get_weather','arguments':{'city':'Oslo'}}"),
	TOOL_USE(RECORD_EV("ticket", "t2", VALID_TICKET, "[3,5]") ","
			 "{'type':'tool_call','id':'c3','name':'lookup_customer','arguments':{'email':'c@d'}}"),
	END_TURN("never asked for"),
};

typedef struct Script
{
	const char *const *responses;
	int			n;
} Script;

static const Script plain_script = {resume_script, (int) (sizeof(resume_script) / sizeof(resume_script[0]))};
static const Script evidence_script = {resume_evidence_script,
(int) (sizeof(resume_evidence_script) / sizeof(resume_evidence_script[0]))};

static void
take_checkpoint(json_t *state, int pos, Checkpoint *cps, int *ncps)
{
	if (cps == NULL || *ncps >= MAX_CHECKPOINTS)
		return;
	cps[*ncps].text = json_dumps(state, JSON_COMPACT);
	cps[*ncps].pos = pos;
	(*ncps)++;
}

/*
 * Run to the end from state (taken over) and script position pos, answering
 * user tools last call first; record a checkpoint after every transition
 * when cps is given; reload the state from its JSON text after every
 * transition when reloading. Returns the final state.
 */
static json_t *
drive(const PaAgentSpec *spec, const Script *script, json_t *state, int pos, Checkpoint *cps, int *ncps,
	  bool reloading)
{
	PaModelRequest req;
	PaSmAction	a;
	bool		ok;

	take_checkpoint(state, pos, cps, ncps);
	while ((a = pa_sm_next(spec, state, &req)) != PA_SM_DONE)
	{
		take_checkpoint(state, pos, cps, ncps);
		if (reloading)
			state = reload(state, &ok);
		if (a == PA_SM_CALL_MODEL)
		{
			json_t	   *resp;

			if (pos >= script->n)
			{
				pa_sm_fail(state, "script_exhausted", "the test script has no more responses", NULL);
				continue;
			}
			resp = js(script->responses[pos++]);
			pa_sm_model_response(spec, state, resp);
			json_decref(resp);
		}
		else
		{
			json_t	   *pending = pa_sm_pending(state);
			json_t	   *call = json_array_get(pending, json_array_size(pending) - 1);
			char		content[128];
			const char *id = sget(call, "id");

			snprintf(content, sizeof(content), "result of %s %s", sget(call, "name"), id);
			pa_sm_tool_result(spec, state, id, content, false);
		}
		take_checkpoint(state, pos, cps, ncps);
		if (reloading)
			state = reload(state, &ok);
	}
	take_checkpoint(state, pos, cps, ncps);
	return state;
}

/*
 * Restart the run from each checkpoint (freed here); returns how many end
 * in a state other than the reference.
 */
static int
resume_from_each(const PaAgentSpec *spec, const Script *script, Checkpoint *cps, int ncps,
				 json_t *reference)
{
	int			i;
	int			bad = 0;

	for (i = 0; i < ncps; i++)
	{
		json_error_t err;
		json_t	   *state = json_loads(cps[i].text, 0, &err);
		json_t	   *final;

		free(cps[i].text);
		if (state == NULL)
		{
			bad++;
			printf("    checkpoint %d does not parse: %s\n", i, err.text);
			continue;
		}
		final = drive(spec, script, state, cps[i].pos, NULL, NULL, false);
		if (!json_equal(final, reference))
		{
			bad++;
			printf("    resumed from checkpoint %d, a different final state\n", i);
		}
		json_decref(final);
	}
	return bad;
}

static void
test_resume(void)
{
	PaAgentSpec spec;
	Checkpoint	cps[MAX_CHECKPOINTS];
	int			ncps = 0;
	int			bad;
	json_t	   *reference;
	json_t	   *reloaded;
	json_t	   *tm;

	spec_init(&spec, true);
	spec.planning = "high";
	spec.finish_when_recorded = false;

	/* the run as the server drives it: in memory, never reloaded */
	reference = drive(&spec, &plain_script, pa_sm_start(&spec, "Ticket 28."), 0, cps, &ncps, false);
	CHECK(streq(sget(reference, "status"), "succeeded") && iget(reference, "steps") == 4 &&
		  iget(reference, "repairs") == 1 && streq(sget(reference, "plan"), "Look up, then record."),
		  "resume: the reference run succeeds after plan, tools + repair, records, end_turn");
	tm = json_array_get(json_object_get(reference, "messages"), 4);
	CHECK(tool_message_ids(tm, "c1,c2,c3") &&
		  streq(sget(part(tm, 0), "content"), "result of lookup_customer c1") &&
		  json_is_true(json_object_get(part(tm, 1), "is_error")) &&
		  streq(sget(part(tm, 2), "content"), "result of get_weather c3"),
		  "resume: tools answered last first come back in call order with the repair between them");
	CHECK(equals(json_object_get(reference, "recorded"),
				 "{'ticket':[" VALID_TICKET "],'note':[{'text':'called'}]}"),
		  "resume: the reference run recorded the ticket and the note");

	/* the same run reloaded from JSON text after every transition */
	reloaded = drive(&spec, &plain_script, pa_sm_start(&spec, "Ticket 28."), 0, NULL, NULL, true);
	CHECK(json_equal(reloaded, reference),
		  "resume: reloading the state after every transition changes nothing");
	json_decref(reloaded);

	/* and restarted from each checkpoint */
	CHECK(ncps == 14, "resume: %d checkpoints taken (start, then before and after each of 6 transitions, end)", ncps);
	bad = resume_from_each(&spec, &plain_script, cps, ncps, reference);
	CHECK(bad == 0, "resume: from each of the %d checkpoints the run ends in the reference state", ncps);

	json_decref(reference);
}

static void
test_resume_evidence(void)
{
	PaAgentSpec spec;
	Checkpoint	cps[MAX_CHECKPOINTS];
	int			ncps = 0;
	int			bad;
	json_t	   *reference;
	json_t	   *reloaded;

	spec_init_evidence(&spec, true);
	spec.finish_when_recorded = false;
	spec.max_steps = 3;

	reference = drive(&spec, &evidence_script, pa_sm_start(&spec, "Ticket 37."), 0, cps, &ncps, false);
	CHECK(streq(sget(reference, "status"), "succeeded") && iget(reference, "steps") == 3 &&
		  iget(reference, "repairs") == 2 && json_object_get(reference, "error") == NULL,
		  "resume evidence: the reference run succeeds at max_steps after 2 repairs (broken call, unknown event)");
	CHECK(equals(json_object_get(reference, "recorded"), "{'ticket':[" VALID_TICKET "],'note':[{'text':'called'}]}") &&
		  equals(json_object_get(reference, "evidence"), "{'ticket':[[3,5]],'note':[[8]]}"),
		  "resume evidence: the reference run recorded the objects and their ids");
	CHECK(json_array_size(json_object_get(reference, "pending")) == 0,
		  "resume evidence: the last step's tool call was dropped, not run");
	CHECK(ncps == 12, "resume evidence: %d checkpoints taken (start, before and after 5 transitions, end)", ncps);

	reloaded = drive(&spec, &evidence_script, pa_sm_start(&spec, "Ticket 37."), 0, NULL, NULL, true);
	CHECK(json_equal(reloaded, reference),
		  "resume evidence: reloading the state after every transition changes nothing");
	json_decref(reloaded);

	bad = resume_from_each(&spec, &evidence_script, cps, ncps, reference);
	CHECK(bad == 0, "resume evidence: from each of the %d checkpoints the run ends in the reference state", ncps);

	json_decref(reference);
}

int
main(void)
{
	setup();
	test_finish_when_recorded();
	test_cardinality();
	test_invalid_output();
	test_repairs_exhausted();
	test_unknown_tool();
	test_user_tool_invalid_args();
	test_user_tools_in_call_order();
	test_arguments_error();
	test_arguments_error_repairs();
	test_evidence();
	test_evidence_unknown_ids();
	test_evidence_no_event_ids();
	test_reminder();
	test_stops();
	test_max_steps();
	test_last_step_tools();
	test_planning();
	test_resume();
	test_resume_evidence();
	teardown();

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
