/*
 * run.c — the driver loop of one run: drive the step machine (agent.c)
 * with model calls (model_call.c) and tools (tools.c, nested agents),
 * leave a ledger (ledger.c), return the result. pa_invoke calls it in the
 * caller's backend; an agent tool calls it again for a nested run.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"

#include "access/xact.h"
#include "utils/resowner.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"
#include "run.h"
#include "tools.h"
#include "transcript.h"
#include "worker.h"

static json_t *
run_result(RunContext *rc, json_t *state, int64 run_id)
{
	json_t	   *outputs = json_object();
	json_t	   *recorded = json_object_get(state, "recorded");
	int			i;

	for (i = 0; i < rc->spec.n_outputs; i++)
	{
		json_t	   *list = json_object_get(recorded, rc->outputs[i].name);

		if (rc->outputs[i].many)
			json_object_set(outputs, rc->outputs[i].name, list);
		else if (json_array_size(list) > 0)
			json_object_set(outputs, rc->outputs[i].name, json_array_get(list, 0));
		else
			json_object_set_new(outputs, rc->outputs[i].name, json_null());
	}
	return json_pack("{s:I, s:s, s:i, s:o, s:O?, s:{s:I, s:I, s:I, s:I}, s:f}",
					 "run_id", (json_int_t) run_id,
					 "status", json_string_value(json_object_get(state, "status")),
					 "version", rc->version,
					 "outputs", outputs,
					 "error", json_object_get(state, "error"),
					 "usage", "input_tokens", (json_int_t) rc->usage.input_tokens,
					 "output_tokens", (json_int_t) rc->usage.output_tokens,
					 "cached_tokens", (json_int_t) rc->usage.cached_tokens,
					 "reasoning_tokens", (json_int_t) rc->usage.reasoning_tokens,
					 "cost_usd", rc->cost);
}

/*
 * Run fn(arg) in a subtransaction. On an error, roll it back and return
 * the error (copied into the caller's memory context) instead of aborting
 * the caller, so a run can end as failed with its ledger intact (and the
 * worker can go on with its other runs); NULL on success. A cancel or a
 * statement timeout still propagates.
 */
ErrorData *
pa_try_subtransaction(void (*fn) (void *), void *arg)
{
	MemoryContext mcxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(mcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(mcxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(mcxt);
	CurrentResourceOwner = owner;
	return edata;
}

/* The same, with the error as "message (SQLSTATE xxxxx)". */
char *
pa_in_subtransaction(void (*fn) (void *), void *arg)
{
	ErrorData  *edata = pa_try_subtransaction(fn, arg);
	char	   *failure;

	if (edata == NULL)
		return NULL;
	failure = psprintf("%s (SQLSTATE %s)", edata->message, unpack_sql_state(edata->sqlerrcode));
	FreeErrorData(edata);
	return failure;
}

typedef struct NestedRun
{
	PaRunRequest req;
	json_t	   *result;
} NestedRun;

static void
nested_run(void *arg)
{
	NestedRun  *n = (NestedRun *) arg;

	n->result = pa_run_agent(&n->req);
}

/* A nested run for an agent tool; its result goes back as the tool result. */
static char *
run_agent_tool(RunContext *rc, json_t *tool, json_t *arguments, bool *is_error)
{
	NestedRun	n = {{0}};
	json_t	   *result;
	json_t	   *answer;
	char	   *text;
	char	   *failure;

	if (rc->depth + 1 > pa_max_agent_depth)
	{
		*is_error = true;
		return psprintf("agent tools may nest %d levels deep; this call would be level %d",
						pa_max_agent_depth, rc->depth + 1);
	}
	n.req.agent_id = (int64) json_integer_value(json_object_get(tool, "agent_id"));
	n.req.conversation_id = rc->conversation_id;
	n.req.input = pa_json_to_jsonb(arguments);
	n.req.origin = "agent_tool";
	n.req.parent_run_id = rc->run_id;
	n.req.depth = rc->depth + 1;
	n.req.timeout_ms = Max(pa_run_remaining_ms(rc), 1);
	/* the nested agent may be gone, unreleased or invisible: a tool error */
	failure = pa_in_subtransaction(nested_run, &n);
	if (failure)
	{
		*is_error = true;
		return psprintf("the agent could not run: %s", failure);
	}
	result = n.result;
	answer = json_pack("{s:O, s:O, s:O?}", "status", json_object_get(result, "status"),
					   "outputs", json_object_get(result, "outputs"),
					   "error", json_object_get(result, "error"));
	*is_error = strcmp(json_string_value(json_object_get(result, "status")), "succeeded") != 0;
	text = pa_take_string(json_dumps(answer, JSON_COMPACT | JSON_SORT_KEYS));
	json_decref(answer);
	json_decref(result);
	return text;
}

typedef struct OutputsWrite
{
	RunContext *rc;
	json_t	   *state;
	int64		conversation_id;
} OutputsWrite;

/* Outputs, result-table rows and memory writes: all or nothing. */
static void
write_outputs(void *arg)
{
	OutputsWrite *w = (OutputsWrite *) arg;

	pa_ledger_write_outputs(w->rc->run_id, w->rc->agent_id, w->rc->version, w->conversation_id,
							w->state, json_object_get(w->rc->def, "outputs"), w->rc->owner);
	pa_builtin_commit(w->rc, w->state);
}

/*
 * Whether the outputs go to pa.outputs only (no result table among them,
 * no memory writes): then nothing the owner's tables may refuse is
 * written, and they need no subtransaction of their own.
 */
static bool
outputs_only_to_ledger(RunContext *rc, json_t *state)
{
	json_t	   *specs = json_object_get(rc->def, "outputs");
	const char *name;
	json_t	   *list;

	if (json_object_size(json_object_get(state, "memory_writes")) > 0)
		return false;
	json_object_foreach(json_object_get(state, "recorded"), name, list)
		if (json_is_integer(json_object_get(json_object_get(specs, name), "table")) &&
			json_array_size(list) > 0)
		return false;
	return true;
}

/* A tool call's answer: to the ledger, then to the step machine. */
void
pa_run_record_tool(RunContext *rc, json_t *state, json_t *call, const char *text,
				   bool is_error, double elapsed_ms)
{
	json_t	   *response = json_pack("{s:s}", "content", text);

	pa_ledger_step(rc->run_id, ++rc->ledger_steps, "tool",
				   json_string_value(json_object_get(call, "name")), elapsed_ms, 0, NULL, 0,
				   json_object_get(call, "arguments"), response, is_error ? text : NULL);
	json_decref(response);
	pa_sm_tool_result(&rc->spec, state, json_string_value(json_object_get(call, "id")),
					  text, is_error);
}

static void
run_tools(RunContext *rc, json_t *state)
{
	json_t	   *pending = json_deep_copy(pa_sm_pending(state));
	size_t		i;
	json_t	   *call;

	json_array_foreach(pending, i, call)
	{
		const char *name = json_string_value(json_object_get(call, "name"));
		json_t	   *tool = json_object_get(rc->tool_defs, name);
		json_t	   *args = json_object_get(call, "arguments");
		const char *kind = json_string_value(json_object_get(tool, "kind"));
		bool		is_error;
		instr_time	t0,
					t1;
		char	   *text;

		INSTR_TIME_SET_CURRENT(t0);
		if (strcmp(kind, "agent") == 0)
			text = run_agent_tool(rc, tool, args, &is_error);
		else if (strcmp(kind, "builtin") == 0)
			text = pa_builtin_run(rc, state, name, args, &is_error);
		else
			text = pa_run_tool(rc->owner, tool, args, pa_run_remaining_ms(rc), &is_error);
		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		pa_run_record_tool(rc, state, call, text, is_error, INSTR_TIME_GET_MILLISEC(t1));
	}
	json_decref(pending);
}

/*
 * The end of a run: outputs (with result rows and memory) written all or
 * nothing when it succeeded, then its ledger row and its deliveries;
 * returns the result.
 */
/* A run of pa_invoke's whose row is not written yet: written now, as running. */
static void
write_unwritten_row(RunContext *rc)
{
	const PaRunRequest *r = rc->unwritten;

	if (r == NULL)
		return;
	pa_ledger_start(rc->run_id, rc->agent_id, rc->version, r->conversation_id, r->origin,
					r->input, rc->owner, rc->requested_by, r->parent_run_id, rc->started_at);
	rc->unwritten = NULL;
}

json_t *
pa_run_finish(RunContext *rc, json_t *state)
{
	json_t	   *rows = NULL;
	json_t	   *result;
	json_t	   *finish;

	if (strcmp(json_string_value(json_object_get(state, "status")), "succeeded") != 0)
		;
	else if (outputs_only_to_ledger(rc, state))
		rows = pa_ledger_output_rows(rc->run_id, state);	/* inserted with the run's row */
	else
	{
		OutputsWrite w = {rc, state, rc->conversation_id};
		char	   *failure;

		/* result tables and memory refer to the run: its row first */
		write_unwritten_row(rc);
		failure = pa_in_subtransaction(write_outputs, &w);

		/* e.g. a value its result-table column refuses: the run fails, recorded */
		if (failure)
			pa_sm_fail(state, "output_write_failed",
					   psprintf("the outputs could not be written: %s", failure), NULL);
	}
	result = run_result(rc, state, rc->run_id);
	finish = pa_ledger_finish_row(rc->run_id, state, result, &rc->usage, rc->cost);
	/* the step rows waiting (pa_ledger_deferred_steps) go with it */
	if (rc->unwritten)
	{
		const PaRunRequest *r = rc->unwritten;
		PaRunStart	start = {rc->run_id, rc->agent_id, rc->version, r->conversation_id,
		r->origin, r->input, rc->owner, rc->requested_by, r->parent_run_id, rc->started_at};

		pa_ledger_finish_new(&start, finish, rows, pa_ledger_deferred_steps);
		rc->unwritten = NULL;
	}
	else
		pa_ledger_finish(rc->run_id, finish, rows, pa_ledger_deferred_steps, rc->lease_owner);
	if (pa_ledger_deferred_steps)
		json_array_clear(pa_ledger_deferred_steps);
	json_decref(finish);
	json_decref(rows);
	/* the outbox row commits with the outputs, or not at all */
	pa_deliveries_enqueue(rc, result);
	return result;
}

/*
 * A worker's run whose end can be written together with other runs' ends
 * (pa_ledger_finish_many): nothing but ledger rows to write (no result
 * table, no memory, no delivery). Returns its finish row and sets
 * *outputs, or NULL when the run must end with pa_run_finish.
 */
json_t *
pa_run_finish_deferred(RunContext *rc, json_t *state, json_t **outputs)
{
	bool		succeeded = strcmp(json_string_value(json_object_get(state, "status")), "succeeded") == 0;
	json_t	   *result;
	json_t	   *finish;

	if (rc->lease_owner == 0 ||
		(succeeded && (!outputs_only_to_ledger(rc, state) || pa_deliveries_wanted(rc))))
		return NULL;
	*outputs = succeeded ? pa_ledger_output_rows(rc->run_id, state) : json_array();
	result = run_result(rc, state, rc->run_id);
	finish = pa_ledger_finish_row(rc->run_id, state, result, &rc->usage, rc->cost);
	json_decref(result);
	return finish;
}

/*
 * The step machine's spec, the built-in tools and the first user message
 * (the transcript within the context budget), from the loaded context.
 */
char *
pa_run_prepare(RunContext *rc, json_t *context, const PaLoadedContext *events)
{
	char	   *transcript;
	char	   *err = NULL;
	size_t		omitted = 0;
	PaTranscriptOptions topts = {0};

	pa_run_build_spec(rc, context, events);
	/* The context budget is in tokens; about four bytes make a token. */
	topts.max_chars = (size_t) json_integer_value(json_object_get(rc->def, "context_budget")) * 4;
	topts.omitted = &omitted;
	topts.use_events = 1;
	topts.events = events->events;
	topts.n_events = (size_t) events->n_events;
	transcript = pa_render_transcript(context, &topts, &err);
	if (transcript == NULL)
		elog(ERROR, "could not render the transcript: %s", err ? pa_take_string(err) : "out of memory");
	pa_builtin_offer(rc, context, omitted);
	return pa_take_string(transcript);
}

json_t *
pa_run_agent(const PaRunRequest *rreq)
{
	RunContext	rc = {0};

	/* set inside PG_TRY, released in PG_FINALLY */
	json_t	   *volatile context = NULL;
	json_t	   *volatile state = NULL;
	json_t	   *result = NULL;
	char	   *transcript;
	long		timeout_ms;
	PaLoadedContext events;

	/* its step rows wait for its end (one statement); a nested run keeps its own */
	json_t	   *volatile outer_steps = pa_ledger_deferred_steps;
	json_t	   *volatile steps = json_array();

	pa_ledger_deferred_steps = steps;
	PG_TRY();
	{
		PaModelRequest req;
		PaSmAction	action;

		pa_run_load_definition(&rc, rreq);
		/* an agent tool's input was checked as the tool's arguments */
		if (strcmp(rreq->origin, "invoke") == 0)
			pa_run_check_input(&rc, rreq->input);
		rc.conversation_id = rreq->conversation_id;
		rc.depth = rreq->depth;
		timeout_ms = (long) json_number_value(json_object_get(rc.def, "timeout_ms"));
		if (rreq->timeout_ms > 0)
			timeout_ms = Min(timeout_ms, rreq->timeout_ms);
		rc.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
		context = pa_run_load_context(GetUserId(), rreq->conversation_id, rreq->input, &events);

		transcript = pa_run_prepare(&rc, context, &events);
		/* its row is written with its end (ledger.h) */
		rc.run_id = pa_ledger_reserve_run_id();
		rc.unwritten = rreq;
		rc.started_at = GetCurrentTimestamp();
		rc.requested_by = GetUserId();
		state = pa_sm_start(&rc.spec, transcript);

		while ((action = pa_sm_next(&rc.spec, state, &req)) != PA_SM_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (action == PA_SM_CALL_MODEL)
				pa_run_call_model(&rc, state, &req);
			else
				run_tools(&rc, state);
		}

		result = pa_run_finish(&rc, state);
	}
	PG_FINALLY();
	{
		pa_ledger_deferred_steps = outer_steps;
		json_decref(steps);
		pa_compiled_def_release(rc.compiled);
		json_decref(state);
		json_decref(context);
		json_decref(rc.def);
		json_decref(rc.tool_defs);
		json_decref(rc.spec.tools);
	}
	PG_END_TRY();
	return result;
}
