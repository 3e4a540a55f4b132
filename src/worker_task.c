/*
 * worker_task.c — one run driven by the worker without ever blocking.
 *
 * A task is the run's context and step-machine state plus where it is:
 *
 *   NEW        claimed; definition, conversation and checkpoint not loaded
 *   READY      ask the step machine what is next
 *   HTTP       a model call or an HTTP tool call is on the wire
 *   HTTP_DONE  its answer arrived; process it
 *   SLEEP      a model call waits to be retried (backoff, retry-after)
 *   PROVIDER   the provider is cooling down after a 429, or at its cap
 *   CHILD      an agent tool's nested run is queued; wait for its result
 *   DONE       finished and recorded
 *
 * pa_task_step runs inside a (sub)transaction opened by the worker and
 * goes as far as it can without waiting: SQL and built-in tools run
 * there; model and HTTP-tool calls are started on the worker's event loop
 * and the step ends. Every completed model call and tool result is
 * checkpointed (with a lease renewal) before anything else happens, so a
 * run resumes after a crash without repeating them.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"
#include "run.h"
#include "tools.h"
#include "worker.h"

typedef enum TaskPhase
{
	T_NEW,
	T_READY,
	T_HTTP,
	T_HTTP_DONE,
	T_SLEEP,
	T_PROVIDER,
	T_CHILD,
	T_DONE
} TaskPhase;

struct PaTask
{
	PaWorker   *w;
	PaTask	   *next;
	MemoryContext mcxt;			/* the run's: definition, spec, context */
	MemoryContext step_cxt;		/* reset at each step */
	MemoryContext call_cxt;		/* the model or HTTP-tool call in progress */
	int64		run_id;
	json_t	   *claimed;		/* the row as claimed */
	RunContext	rc;
	json_t	   *state;
	json_t	   *context;
	TaskPhase	phase;
	TimestampTz wake_at;		/* SLEEP: when to try again */
	bool		cancel;
	bool		check_child;	/* CHILD: look whether the nested run ended */
	PaProviderState *provider;
	bool		holds_provider; /* counted in provider->in_flight */
	bool		holds_capped;	/* counted in the slot's capped calls too */
	PaModelCall *call;			/* the model call in progress */
	PaHttpTransfer *xfer;		/* on the wire */
	bool		launch;			/* a request is ready to go once the step commits */
	bool		dirty;			/* the state moved on: checkpoint at the end of the step */
	json_t	   *tool_call;		/* the HTTP or agent tool call in progress */
	PaHttpRequest treq;
	PaHttpResponse tresp;
	int64		child_run_id;
	json_t	   *steps;			/* ledger rows of this step, written at its end */
	bool		side_effects;	/* this step wrote more than ledger rows (SQL tool, nested run) */
	json_t	   *finish_row;		/* ended in this step, to be written with other runs' ends */
	json_t	   *finish_outputs;
	json_t	   *preloaded;		/* its context, loaded with other runs' (without input) */
	const PaLoadedContext *preloaded_events;	/* with it, in this step's transaction */
	Oid			preloaded_by;	/* as this reader */
};

static void advance(PaTask *t);
static void release_provider(PaTask *t);

static const char *
claimed_str(PaTask *t, const char *key)
{
	return json_string_value(json_object_get(t->claimed, key));
}

static int64
claimed_int(PaTask *t, const char *key, int64 dflt)
{
	json_t	   *v = json_object_get(t->claimed, key);

	return json_is_integer(v) ? (int64) json_integer_value(v) : dflt;
}

PaTask *
pa_task_new(PaWorker *w, json_t *claimed)
{
	MemoryContext mcxt = AllocSetContextCreate(TopMemoryContext, "procedural_agent task",
											   ALLOCSET_DEFAULT_SIZES);
	PaTask	   *t = MemoryContextAllocZero(mcxt, sizeof(PaTask));

	t->w = w;
	t->mcxt = mcxt;
	t->step_cxt = AllocSetContextCreate(mcxt, "procedural_agent step", ALLOCSET_DEFAULT_SIZES);
	t->claimed = json_incref(claimed);
	t->run_id = claimed_int(t, "id", 0);
	t->phase = T_NEW;
	t->next = w->tasks;
	w->tasks = t;
	w->n_tasks++;
	return t;
}

PaTask *
pa_task_next(PaTask *t)
{
	return t->next;
}

int64
pa_task_run_id(PaTask *t)
{
	return t->run_id;
}

int64
pa_task_parent_id(PaTask *t)
{
	return claimed_int(t, "parent_run_id", 0);
}

bool
pa_task_done(PaTask *t)
{
	return t->phase == T_DONE;
}

bool
pa_task_waiting_child(PaTask *t)
{
	return t->phase == T_CHILD;
}

/* A nested run may have ended: look at the next step. */
void
pa_task_wake(PaTask *t)
{
	if (t->phase == T_CHILD)
		t->check_child = true;
}

/* pa_cancel() asked: stop what is on the wire; the next step records it. */
void
pa_task_cancel(PaTask *t)
{
	t->cancel = true;
	t->launch = false;
	if (t->xfer)
	{
		pa_http_abandon(t->w->loop, t->xfer);
		t->xfer = NULL;
	}
	release_provider(t);
	/* an answer already in is processed (and paid for) first */
	if (t->phase != T_NEW && t->phase != T_DONE && t->phase != T_HTTP_DONE)
		t->phase = T_READY;
}

static void
release_provider(PaTask *t)
{
	if (t->holds_provider)
	{
		t->provider->in_flight--;
		t->holds_provider = false;
	}
	if (t->holds_capped)
	{
		pa_capped_release(t->w->slot, t->provider->id);
		t->holds_capped = false;
	}
}

/* Memory for a call that outlives the step preparing it. */
static MemoryContext
call_context(PaTask *t)
{
	if (t->call_cxt == NULL)
		t->call_cxt = AllocSetContextCreate(t->mcxt, "procedural_agent call", ALLOCSET_DEFAULT_SIZES);
	return t->call_cxt;
}

/* The call is over: its request, response and transfers go. */
static void
end_call(PaTask *t)
{
	pa_model_call_free(t->call);
	t->call = NULL;
	curl_slist_free_all(t->treq.headers);
	t->treq.headers = NULL;
	json_decref(t->tool_call);
	t->tool_call = NULL;
	if (t->call_cxt)
		MemoryContextDelete(t->call_cxt);
	t->call_cxt = NULL;
}

static bool
provider_available(PaTask *t, TimestampTz now)
{
	PaProviderState *p = t->provider;

	if (p == NULL)
		return true;
	if (now < p->cooldown_until)
		return false;
	/* the cap counts the calls of all the database's workers */
	return p->cap <= 0 ||
		(p->in_flight < p->cap && pa_capped_has_room(t->w->slot, p->id, p->cap));
}

bool
pa_task_runnable(PaTask *t, TimestampTz now)
{
	switch (t->phase)
	{
		case T_NEW:
		case T_READY:
		case T_HTTP_DONE:
			return true;
		case T_SLEEP:
			return now >= t->wake_at && provider_available(t, now);
		case T_PROVIDER:
			return provider_available(t, now);
		case T_CHILD:
			return t->check_child || t->cancel;
		default:
			return false;
	}
}

/* When a sleeping task becomes runnable by itself; 0 = not by time. */
TimestampTz
pa_task_wake_at(PaTask *t)
{
	if (t->phase == T_SLEEP)
		return Max(t->wake_at, t->provider ? t->provider->cooldown_until : 0);
	if (t->phase == T_PROVIDER && t->provider)
		return t->provider->cooldown_until;
	return 0;
}

void
pa_task_free(PaTask *t)
{
	PaWorker   *w = t->w;
	PaTask	  **pp;

	if (t->xfer)
		pa_http_abandon(w->loop, t->xfer);
	release_provider(t);
	end_call(t);
	for (pp = &w->tasks; *pp; pp = &(*pp)->next)
		if (*pp == t)
		{
			*pp = t->next;
			w->n_tasks--;
			break;
		}
	pa_compiled_def_release(t->rc.compiled);
	json_decref(t->state);
	json_decref(t->context);
	json_decref(t->claimed);
	json_decref(t->rc.def);
	json_decref(t->rc.tool_defs);
	json_decref(t->rc.spec.tools);
	json_decref(t->steps);
	json_decref(t->finish_row);
	json_decref(t->finish_outputs);
	json_decref(t->preloaded);
	MemoryContextDelete(t->mcxt);
}

/* The step machine's state and the run's figures, after a step that moved it on. */
static void
write_checkpoint(PaTask *t)
{
	RunContext *rc = &t->rc;
	json_t	   *cp = json_pack("{s:O, s:{s:I, s:I, s:I, s:I, s:I}, s:f, s:i}",
							   "sm", t->state,
							   "usage", "input_tokens", (json_int_t) rc->usage.input_tokens,
							   "output_tokens", (json_int_t) rc->usage.output_tokens,
							   "cached_tokens", (json_int_t) rc->usage.cached_tokens,
							   "cache_creation_tokens", (json_int_t) rc->usage.cache_creation_tokens,
							   "reasoning_tokens", (json_int_t) rc->usage.reasoning_tokens,
							   "cost", rc->cost, "ledger_steps", rc->ledger_steps);
	Datum		jb = JsonbPGetDatum(pa_json_to_jsonb(cp));
	bool		isnull;

	json_decref(cp);
	(void) pa_sql_value(pa_extension_owner(),
						"UPDATE pa.runs SET checkpoint = $2, steps = ($2->'sm'->>'steps')::int, "
						"  input_tokens = ($2->'usage'->>'input_tokens')::bigint, "
						"  output_tokens = ($2->'usage'->>'output_tokens')::bigint, "
						"  cached_tokens = ($2->'usage'->>'cached_tokens')::bigint, "
						"  reasoning_tokens = ($2->'usage'->>'reasoning_tokens')::bigint, "
						"  cost_usd = ($2->>'cost')::numeric, "
						"  lease_expires_at = clock_timestamp() + make_interval(secs => $4) "
						"WHERE id = $1 AND lease_owner = $3 AND status = 'running' RETURNING true",
						4, (Oid[]) {INT8OID, JSONBOID, INT4OID, INT4OID},
						(Datum[]) {Int64GetDatum(t->run_id), jb, Int32GetDatum(t->w->pid),
							Int32GetDatum(pa_lease_seconds)},
						NULL, &isnull);
	if (isnull)
		pa_lost_lease(t->run_id);
}

static void
restore(PaTask *t, json_t *cp)
{
	json_t	   *u = json_object_get(cp, "usage");
	RunContext *rc = &t->rc;

	t->state = json_deep_copy(json_object_get(cp, "sm"));
	rc->usage.input_tokens = json_integer_value(json_object_get(u, "input_tokens"));
	rc->usage.output_tokens = json_integer_value(json_object_get(u, "output_tokens"));
	rc->usage.cached_tokens = json_integer_value(json_object_get(u, "cached_tokens"));
	rc->usage.cache_creation_tokens = json_integer_value(json_object_get(u, "cache_creation_tokens"));
	rc->usage.reasoning_tokens = json_integer_value(json_object_get(u, "reasoning_tokens"));
	rc->cost = json_number_value(json_object_get(cp, "cost"));
	rc->ledger_steps = (int) json_integer_value(json_object_get(cp, "ledger_steps"));
}

/* The run ends: outputs and ledger (run.c), then its deliveries. */
static void
finish(PaTask *t)
{
	json_t	   *result;

	/* the final UPDATE checks the lease (rc.lease_owner): a run reclaimed meanwhile fails the step */
	if (t->cancel)
	{
		pa_sm_fail(t->state, "cancelled", "the run was cancelled with pa_cancel()", NULL);
		json_object_set_new(t->state, "status", json_string("cancelled"));
	}

	/*
	 * Nothing but ledger rows to write, and nothing else written in this
	 * step: the worker writes this end with the other runs' ends of the
	 * batch, in one statement (pa_task_collect_finish).
	 */
	if (!t->side_effects)
	{
		t->finish_row = pa_run_finish_deferred(&t->rc, t->state, &t->finish_outputs);
		if (t->finish_row)
		{
			t->phase = T_DONE;
			return;
		}
	}
	result = pa_run_finish(&t->rc, t->state);
	json_decref(result);
	t->phase = T_DONE;
	t->w->finished++;
}

/* Ended before it began: a false condition (skipped) or a cancel. */
static void
finish_early(PaTask *t, const char *status, const char *reason)
{
	bool		isnull;

	(void) pa_sql_value(pa_extension_owner(),
						"UPDATE pa.runs SET status = $2, finished_at = clock_timestamp(), "
						"  lease_owner = NULL, lease_expires_at = NULL, "
						"  result = jsonb_build_object('run_id', id, 'status', $2, 'version', agent_version, 'reason', $3::text) "
						"WHERE id = $1 AND lease_owner = $4 AND status = 'running' RETURNING true",
						4, (Oid[]) {INT8OID, TEXTOID, TEXTOID, INT4OID},
						(Datum[]) {Int64GetDatum(t->run_id), CStringGetTextDatum(status),
							CStringGetTextDatum(reason), Int32GetDatum(t->w->pid)},
						NULL, &isnull);
	if (isnull)
		pa_lost_lease(t->run_id);
	t->phase = T_DONE;
	t->w->finished++;
}

static PaProviderState *
provider_state(PaWorker *w, json_t *provider)
{
	int64		id = (int64) json_integer_value(json_object_get(provider, "id"));
	json_t	   *cap = json_object_get(json_object_get(provider, "options"), "max_concurrency");
	PaProviderState *p = NULL;
	int			i;

	for (i = 0; i < w->n_providers; i++)
		if (w->providers[i].id == id)
			p = &w->providers[i];
	if (p == NULL && w->n_providers < PA_MAX_PROVIDERS)
	{
		p = &w->providers[w->n_providers++];
		memset(p, 0, sizeof(*p));
		p->id = id;
		strlcpy(p->name, json_string_value(json_object_get(provider, "name")), NAMEDATALEN);
	}
	if (p)						/* the cap may have been changed since */
		p->cap = json_is_integer(cap) ? (int) json_integer_value(cap) : 0;
	return p;
}

/* Load what the run needs; resume from the checkpoint if there is one. */
static void
setup(PaTask *t)
{
	RunContext *rc = &t->rc;
	PaRunRequest req = {0};
	json_t	   *input = json_object_get(t->claimed, "input");
	json_t	   *cp = json_object_get(t->claimed, "checkpoint");
	char	   *transcript;

	req.agent_id = claimed_int(t, "agent_id", 0);
	req.version = (int32) claimed_int(t, "agent_version", 0);
	req.conversation_id = claimed_int(t, "conversation_id", -1);
	req.input = pa_json_to_jsonb(input ? input : json_object());
	req.origin = claimed_str(t, "origin");
	req.depth = (int) claimed_int(t, "depth", 0);

	if (t->cancel)
	{
		finish_early(t, "cancelled", "cancelled with pa_cancel()");
		return;
	}
	pa_run_load_definition(rc, &req);
	rc->run_id = t->run_id;
	rc->lease_owner = t->w->pid;
	rc->conversation_id = req.conversation_id;
	rc->depth = req.depth;
	if (strcmp(req.origin, "trigger") == 0 && req.conversation_id >= 0 &&
		json_is_string(json_object_get(rc->def, "trigger_condition")) &&
		!pa_condition_holds(rc->owner, json_string_value(json_object_get(rc->def, "trigger_condition")),
							req.conversation_id))
	{
		finish_early(t, "skipped", "the trigger condition was false when the run started");
		return;
	}
	/* the conversation as the agent's owner may read it */
	if (t->preloaded && t->preloaded_by == rc->owner)
	{
		/* a shallow copy: runs of several agents may share one conversation's */
		t->context = json_copy(t->preloaded);
		json_object_set_new(t->context, "input", pa_jsonb_to_json(req.input));
		transcript = pa_run_prepare(rc, t->context, t->preloaded_events);
	}
	else
	{
		/* its events are needed for the transcript only: not for the run's life */
		MemoryContext load_cxt = AllocSetContextCreate(CurrentMemoryContext, "pa context load",
													   ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(load_cxt);
		PaLoadedContext events;

		t->context = pa_run_load_context(rc->owner, req.conversation_id, req.input, &events);
		MemoryContextSwitchTo(old);
		transcript = pa_run_prepare(rc, t->context, &events);
		MemoryContextDelete(load_cxt);
	}
	json_decref(t->preloaded);
	t->preloaded = NULL;
	t->preloaded_events = NULL;
	rc->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   (long) json_number_value(json_object_get(rc->def, "timeout_ms")));
	t->provider = provider_state(t->w, json_object_get(rc->def, "provider"));
	if (json_is_object(cp) && json_is_object(json_object_get(cp, "sm")))
		restore(t, cp);
	else
		t->state = pa_sm_start(&rc->spec, transcript);
	t->phase = T_READY;
}

static void
on_http_done(void *arg)
{
	PaTask	   *t = (PaTask *) arg;

	t->xfer = NULL;
	t->phase = T_HTTP_DONE;
}

/* One attempt of the model call on the wire; false when the run ran out of time. */
static bool
start_model_attempt(PaTask *t)
{
	/* another worker took the capped provider's last place: wait, call kept */
	if (t->provider && t->provider->cap > 0)
	{
		if (!pa_capped_take(t->w->slot, t->provider->id, t->provider->cap))
		{
			t->phase = T_SLEEP;
			t->wake_at = 0;
			return true;
		}
		t->holds_capped = true;
	}
	if (!pa_model_call_arm(t->call, t->state))
	{
		release_provider(t);
		end_call(t);
		return false;
	}
	if (t->provider)
	{
		t->provider->in_flight++;
		t->holds_provider = true;
	}
	t->launch = true;
	t->phase = T_HTTP;
	return true;
}

/*
 * Put the prepared request on the wire. The worker calls this after the
 * transaction that checkpointed the step before it has committed: a crash
 * in between must not lose a result whose request was already sent.
 */
void
pa_task_launch(PaTask *t)
{
	MemoryContext old;

	if (!t->launch)
		return;
	t->launch = false;
	/* the test provider's answer is already in: nothing goes on the wire */
	if (t->call && t->call->canned)
	{
		t->phase = T_HTTP_DONE;
		return;
	}
	/* the transfer and its response belong to the call */
	old = MemoryContextSwitchTo(call_context(t));
	if (t->call)
		t->xfer = pa_http_start(t->w->loop, &t->call->hr, &t->call->resp, on_http_done, t);
	else
		t->xfer = pa_http_start(t->w->loop, &t->treq, &t->tresp, on_http_done, t);
	MemoryContextSwitchTo(old);
}

static void
start_http_tool(PaTask *t, json_t *call, json_t *tool)
{
	long		timeout_ms = Min((long) json_number_value(json_object_get(tool, "timeout_ms")),
								 pa_run_remaining_ms(&t->rc));
	char	   *key;
	MemoryContext old;

	if (timeout_ms <= 0)
	{
		pa_run_record_tool(&t->rc, t->state, call, "Not run: the run's deadline has passed.", true, 0);
		t->dirty = true;
		return;
	}
	/* the same key if this call is sent again after a crash */
	key = psprintf("pa-run-%lld-%s", (long long) t->run_id,
				   json_string_value(json_object_get(call, "id")));
	old = MemoryContextSwitchTo(call_context(t));
	pa_http_tool_request(tool, json_object_get(call, "arguments"), timeout_ms, key, &t->treq);
	MemoryContextSwitchTo(old);
	t->tool_call = json_deep_copy(call);
	t->launch = true;
	t->phase = T_HTTP;
}

/*
 * An agent tool: the nested run is queued like any other (the dedup key
 * makes this idempotent when a resumed run asks again) and this run waits
 * for it. False when it could not be queued (the tool's error recorded).
 */
static bool
start_child(PaTask *t, json_t *call, json_t *tool)
{
	RunContext *rc = &t->rc;
	bool		isnull;
	Datum		d;
	char	   *key;

	if (rc->depth + 1 > pa_max_agent_depth)
	{
		pa_run_record_tool(rc, t->state, call,
						   psprintf("agent tools may nest %d levels deep; this call would be level %d",
									pa_max_agent_depth, rc->depth + 1), true, 0);
		t->dirty = true;
		return false;
	}
	key = psprintf("tool:%lld:%s", (long long) t->run_id, json_string_value(json_object_get(call, "id")));
	d = pa_sql_value(pa_extension_owner(),
					 "INSERT INTO pa.runs AS r (agent_id, agent_version, conversation_id, origin, input, owner, "
					 "  requested_by, parent_run_id, depth, dedup_key, priority) "
					 "SELECT a.id, a.released_version, $2, 'agent_tool', $3, a.owner, $4::regrole, $5, $6, $7, 1 "
					 "  FROM pa.agents a WHERE a.id = $1 AND a.dropped_at IS NULL AND a.released_version IS NOT NULL "
					 "ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL "
					 "  DO UPDATE SET dedup_key = EXCLUDED.dedup_key RETURNING r.id",
					 7, (Oid[]) {INT8OID, INT8OID, JSONBOID, OIDOID, INT8OID, INT2OID, TEXTOID},
					 (Datum[]) {Int64GetDatum((int64) json_integer_value(json_object_get(tool, "agent_id"))),
						 Int64GetDatum(rc->conversation_id),
						 JsonbPGetDatum(pa_json_to_jsonb(json_object_get(call, "arguments"))),
						 ObjectIdGetDatum(rc->owner), Int64GetDatum(t->run_id),
						 Int16GetDatum((int16) (rc->depth + 1)), CStringGetTextDatum(key)},
					 rc->conversation_id < 0 ? " n     " : "       ", &isnull);
	if (isnull)
	{
		pa_run_record_tool(rc, t->state, call,
						   "the agent could not run: it was dropped or has no released version", true, 0);
		t->dirty = true;
		return false;
	}
	t->child_run_id = DatumGetInt64(d);
	t->tool_call = json_deep_copy(call);
	t->phase = T_CHILD;
	t->check_child = true;		/* a resumed run's child may be done already */
	t->w->claim_soon = true;
	return true;
}

static void
check_child(PaTask *t)
{
	bool		isnull;
	Datum		d;
	json_t	   *answer;
	char	   *text;
	bool		is_error;

	t->check_child = false;
	d = pa_sql_value(pa_extension_owner(),
					 "SELECT jsonb_strip_nulls(jsonb_build_object('status', status, "
					 "  'outputs', result->'outputs', 'error', result->'error', "
					 "  'message', CASE WHEN result IS NULL THEN error_message END)) "
					 "FROM pa.runs WHERE id = $1 AND status IN ('succeeded', 'failed', 'cancelled', 'skipped')",
					 1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(t->child_run_id)}, NULL, &isnull);
	if (isnull)
		return;					/* still running */
	answer = pa_jsonb_to_json(DatumGetJsonbP(d));
	is_error = strcmp(json_string_value(json_object_get(answer, "status")), "succeeded") != 0;
	text = pa_take_string(json_dumps(answer, JSON_COMPACT | JSON_SORT_KEYS));
	json_decref(answer);
	pa_run_record_tool(&t->rc, t->state, t->tool_call, text, is_error, 0);
	end_call(t);
	t->phase = T_READY;
	t->dirty = true;
	advance(t);
}

/* Run the step machine until it must wait or is done. */
static void
advance(PaTask *t)
{
	RunContext *rc = &t->rc;

	for (;;)
	{
		PaModelRequest req;
		PaSmAction	action;
		json_t	   *call;
		json_t	   *tool;
		const char *kind;
		const char *name;
		char	   *text;
		bool		is_error;
		instr_time	t0,
					t1;

		if (t->cancel)
		{
			finish(t);
			return;
		}
		action = pa_sm_next(&rc->spec, t->state, &req);
		if (action == PA_SM_DONE)
		{
			finish(t);
			return;
		}
		if (action == PA_SM_CALL_MODEL)
		{
			if (!provider_available(t, GetCurrentTimestamp()))
			{
				t->phase = T_PROVIDER;
				return;
			}
			{
				MemoryContext old = MemoryContextSwitchTo(call_context(t));

				t->call = pa_model_call_prepare(rc, t->state, &req);
				MemoryContextSwitchTo(old);
			}
			if (t->call != NULL && start_model_attempt(t))
				return;
			end_call(t);
			continue;			/* the run failed: the machine says done */
		}

		call = json_array_get(pa_sm_pending(t->state), 0);
		name = json_string_value(json_object_get(call, "name"));
		tool = json_object_get(rc->tool_defs, name);
		kind = json_string_value(json_object_get(tool, "kind"));
		if (kind == NULL)
		{
			/* resumed with other built-ins on offer than when it was called */
			pa_run_record_tool(rc, t->state, call, "This tool is not available any more.", true, 0);
			t->dirty = true;
			continue;
		}
		if (strcmp(kind, "http") == 0)
		{
			start_http_tool(t, call, tool);
			if (t->phase == T_HTTP)
				return;
			continue;
		}
		if (strcmp(kind, "agent") == 0)
		{
			t->side_effects = true; /* the nested run is queued */
			if (start_child(t, call, tool))
				return;
			continue;
		}
		INSTR_TIME_SET_CURRENT(t0);
		if (strcmp(kind, "builtin") == 0)
			text = pa_builtin_run(rc, t->state, name, json_object_get(call, "arguments"), &is_error);
		else
		{
			t->side_effects = true; /* a SQL tool may write */
			text = pa_run_tool(rc->owner, tool, json_object_get(call, "arguments"),
							   pa_run_remaining_ms(rc), &is_error);
		}
		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		pa_run_record_tool(rc, t->state, call, text, is_error, INSTR_TIME_GET_MILLISEC(t1));
		t->dirty = true;
	}
}

/* A transfer ended: a model attempt or an HTTP tool call. */
static void
http_done(PaTask *t)
{
	release_provider(t);
	t->phase = T_READY;
	if (t->call)
	{
		long		wait = 0;
		PaCallOutcome outcome = pa_model_call_complete(t->call, t->state, &wait);

		if (outcome == PA_CALL_RETRY)
		{
			TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait);

			/* rate limited: no run starts a call to this provider before then */
			if (t->provider && (t->call->resp.status == 429 || t->call->resp.status == 529))
				t->provider->cooldown_until = Max(t->provider->cooldown_until, until);
			t->wake_at = until;
			t->phase = T_SLEEP;
			/* the retry's ledger row is in: a resumed run numbers after it */
			t->dirty = true;
			return;
		}
		end_call(t);
		if (outcome == PA_CALL_DONE)
			t->dirty = true;
	}
	else if (t->tool_call)
	{
		bool		is_error;
		char	   *text = pa_http_tool_result(&t->tresp, &is_error);

		pa_run_record_tool(&t->rc, t->state, t->tool_call, text, is_error, t->tresp.elapsed_ms);
		end_call(t);
		t->dirty = true;
	}
	advance(t);
}

void
pa_task_step(PaTask *t)
{
	MemoryContext old;

	/* what a step allocates lives until the next step, no longer */
	MemoryContextReset(t->step_cxt);
	old = MemoryContextSwitchTo(t->step_cxt);
	/* the step's ledger rows are written together at its end */
	if (t->steps == NULL)
		t->steps = json_array();
	pa_ledger_deferred_steps = t->steps;
	t->side_effects = false;
	switch (t->phase)
	{
		case T_NEW:
			/* the definition, spec and context last the whole run */
			MemoryContextSwitchTo(t->mcxt);
			setup(t);
			MemoryContextSwitchTo(t->step_cxt);
			if (t->phase == T_READY)
				advance(t);
			break;
		case T_HTTP_DONE:
			http_done(t);
			break;
		case T_SLEEP:
			/* others in this batch may have filled the provider since */
			if (!t->cancel && !provider_available(t, GetCurrentTimestamp()))
				break;
			if (t->cancel || !start_model_attempt(t))
				advance(t);
			break;
		case T_CHILD:
			if (t->cancel)
				advance(t);
			else
				check_child(t);
			break;
		case T_READY:
		case T_PROVIDER:
			advance(t);
			break;
		default:
			break;
	}

	/*
	 * One checkpoint per step, at its end: everything the step did commits
	 * together, and nothing leaves the process before the commit, so
	 * intermediate checkpoints would add nothing. A finished run needs
	 * none: its outcome is recorded.
	 */
	if (t->dirty && t->phase != T_DONE)
		write_checkpoint(t);
	t->dirty = false;
	pa_ledger_deferred_steps = NULL;
	if (t->finish_row == NULL)
	{
		pa_ledger_write_steps(t->steps);
		json_array_clear(t->steps);
	}
	MemoryContextSwitchTo(old);
}

/* A run this step starts, reading a conversation (not loaded yet). */
static bool
wants_context(PaTask *t)
{
	return t != NULL && t->phase == T_NEW && !t->cancel && t->preloaded == NULL &&
		claimed_int(t, "conversation_id", -1) >= 0 && claimed_int(t, "owner_oid", 0) != 0;
}

typedef struct Preload
{
	Oid			reader;
	int64	   *ids;
	int			n;
	PaLoadedContext *contexts;
	int			n_contexts;
} Preload;

static void
preload_fn(void *arg)
{
	Preload    *p = (Preload *) arg;

	p->contexts = pa_run_load_contexts(p->reader, p->ids, p->n, &p->n_contexts);
}

/*
 * The conversations of the runs this step starts, one statement per
 * reader (the agents' owners as claimed) rather than one per run. Should
 * it fail, or a conversation be missing, each run loads its own in its
 * setup (and fails, if it must, by itself). setup() uses a preloaded
 * context only if the agent's owner is still that reader.
 */
void
pa_tasks_preload_contexts(PaTask **batch, int n)
{
	bool	   *taken = palloc0(sizeof(bool) * n);
	int64	   *ids = palloc(sizeof(int64) * n);
	PaTask	  **tasks = palloc(sizeof(PaTask *) * n);
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		Preload		p = {0};
		int			k = 0;
		ErrorData  *edata;

		if (taken[i] || !wants_context(batch[i]))
			continue;
		p.reader = (Oid) claimed_int(batch[i], "owner_oid", 0);
		for (j = i; j < n; j++)
			if (!taken[j] && wants_context(batch[j]) &&
				(Oid) claimed_int(batch[j], "owner_oid", 0) == p.reader)
			{
				taken[j] = true;
				tasks[k] = batch[j];
				ids[k++] = claimed_int(batch[j], "conversation_id", -1);
			}
		if (k < 2)
			continue;			/* alone: its setup loads it */
		p.ids = ids;
		p.n = k;
		edata = pa_try_subtransaction(preload_fn, &p);
		if (edata)
		{
			FreeErrorData(edata);
			continue;
		}
		for (j = 0; j < k; j++)
		{
			int			c;

			for (c = 0; c < p.n_contexts; c++)
				if (p.contexts[c].id == ids[j])
				{
					tasks[j]->preloaded = json_incref(p.contexts[c].head);
					tasks[j]->preloaded_events = &p.contexts[c];
					tasks[j]->preloaded_by = p.reader;
					break;
				}
		}
		/* the heads are the tasks' now; the events stay in this transaction's memory */
		for (j = 0; j < p.n_contexts; j++)
			json_decref(p.contexts[j].head);
	}
	pfree(taken);
	pfree(ids);
	pfree(tasks);
}

/*
 * After the step: a preloaded context not used (its run failed before its
 * setup) is forgotten, as its events end with the transaction.
 */
void
pa_tasks_preload_forget(PaTask **batch, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (batch[i] && batch[i]->preloaded)
		{
			json_decref(batch[i]->preloaded);
			batch[i]->preloaded = NULL;
			batch[i]->preloaded_events = NULL;
		}
}

/* The run ended in its last step and its rows wait for pa_task_collect_finish. */
bool
pa_task_finish_pending(PaTask *t)
{
	return t->finish_row != NULL;
}

/* Append its rows to the worker's batch of ends (pa_ledger_finish_many). */
void
pa_task_collect_finish(PaTask *t, json_t *finishes, json_t *outputs, json_t *steps)
{
	json_array_append(finishes, t->finish_row);
	json_array_extend(outputs, t->finish_outputs);
	json_array_extend(steps, t->steps);
}

/* Its end alone (the batch failed): an ERROR when its lease was lost. */
void
pa_task_write_finish(PaTask *t)
{
	json_t	   *finishes = json_pack("[O]", t->finish_row);
	json_t	   *written = pa_ledger_finish_many(finishes, t->finish_outputs, t->steps, t->w->pid);
	size_t		n = json_array_size(written);

	json_decref(finishes);
	json_decref(written);
	if (n == 0)
		pa_lost_lease(t->run_id);
}

/* Its end is written: it counts as finished. */
void
pa_task_finish_written(PaTask *t)
{
	json_decref(t->finish_row);
	t->finish_row = NULL;
	t->w->finished++;
}
