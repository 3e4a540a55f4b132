/*
 * model_call.c — one model call of a run: build the provider's request,
 * POST it (retrying rate limits and transient failures within the run's
 * deadline), parse the answer, account usage and cost, write the step.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"
#include "common/pg_prng.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "progress.h"
#include "stream.h"
#include "procedural_agent.h"
#include "run.h"

static double
usage_cost(RunContext *rc, const PaUsage *u)
{
	json_t	   *m = json_object_get(rc->def, "model");
	double		in = json_number_value(json_object_get(m, "input_price"));
	double		out = json_number_value(json_object_get(m, "output_price"));
	double		cached = json_number_value(json_object_get(m, "cached_input_price"));
	double		reasoning = json_number_value(json_object_get(m, "reasoning_price"));
	double		uncached;

	/* OpenAI counts cached tokens inside prompt_tokens; Anthropic apart. */
	if (strcmp(rc->kind, "openai") == 0)
		uncached = (double) (u->input_tokens - u->cached_tokens);
	else
		uncached = (double) (u->input_tokens + u->cache_creation_tokens);
	return (uncached * in + (double) u->cached_tokens * cached +
			(double) (u->output_tokens - u->reasoning_tokens) * out +
			(double) u->reasoning_tokens * reasoning) / 1e6;
}

/*
 * max_cost_usd: stop before a call whose worst case (the whole request as
 * input at ~4 bytes a token, max_output_tokens of output) could take the
 * run past the ceiling; what was spent is recorded as usual.
 */
static bool
within_cost_ceiling(RunContext *rc, json_t *state, PaModelRequest *req, const char *body)
{
	json_t	   *ceiling = json_object_get(rc->def, "max_cost_usd");
	PaUsage		worst = {0};
	double		next;
	char	   *msg;

	if (!json_is_number(ceiling))
		return true;
	worst.input_tokens = (long long) strlen(body) / 4 + 1;
	worst.output_tokens = req->max_output_tokens;
	next = usage_cost(rc, &worst);
	if (rc->cost + next <= json_number_value(ceiling))
		return true;
	msg = psprintf("the next model call could cost up to $%.6f, which would take the run past "
				   "max_cost_usd $%.6f (spent so far: $%.6f)",
				   next, json_number_value(ceiling), rc->cost);
	pa_sm_fail(state, "cost_ceiling", msg, NULL);
	return false;
}

long
pa_run_remaining_ms(RunContext *rc)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), rc->deadline, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}

/* Sleep interruptibly. */
static void
pause_ms(long ms)
{
	/* by the clock: a latch set meanwhile ends a wait early, not the pause */
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	long		left;

	while ((left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until)) > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 100), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static bool
retryable(const PaHttpResponse *r)
{
	if (r->error && !r->truncated)
		return true;			/* transport failures: refused, reset, timed out */
	return pa_retry_status_retryable(r->status);
}

/*
 * How long to wait before attempt+1: exponential backoff with jitter,
 * retry-after when the provider gave one, and rate-limit resets for 429s
 * (on other answers those headers describe the window, not this request).
 */
static long
retry_wait_ms(const PaHttpResponse *r, int attempt)
{
	PaRetryHints h = r->retry;

	if (r->status != 429)
		h.reset_s = -1;
	return (long) (pa_retry_delay_s(attempt, &h, 0.5, 30.0,
									pg_prng_double(&pg_global_prng_state)) * 1000.0);
}

/* Streaming: the body goes to the SSE reader as it arrives. */
static bool
stream_data(void *arg, const char *data, size_t len, char **stream_error)
{
	PaStreamProgress p;

	/* The whole stream is bounded like a plain body. */
	pa_stream_progress((PaStream *) arg, &p);
	if ((size_t) p.bytes + len > (size_t) pa_max_response_bytes)
	{
		*stream_error = strdup("the streamed response is larger than procedural_agent.max_response_bytes");
		return false;
	}
	return pa_stream_feed((PaStream *) arg, data, len, stream_error) == 0;
}

/* Between waits: publish how far the call has got. */
static void
stream_tick(void *arg)
{
	PaStreamProgress p;

	pa_stream_progress((PaStream *) arg, &p);
	pa_progress_update(p.bytes, p.events, p.output_tokens, p.thinking_chars, p.tokens_reported);
}

/*
 * Long calls stream: a model thinking for minutes then keeps the
 * connection busy (proxies and load balancers drop idle ones), and its
 * progress is visible while it runs.
 */
static bool
should_stream(const PaModelRequest *req)
{
	if (pa_stream_min_output_tokens < 0)
		return false;
	return req->max_output_tokens >= pa_stream_min_output_tokens || req->thinking_budget > 0;
}

/* A call of either kind: what the ledger and the step machine need of it. */
static PaModelCall *
new_call(RunContext *rc, const PaModelRequest *req)
{
	PaModelCall *c = palloc0(sizeof(PaModelCall));

	c->rc = rc;
	c->stream = req->stream;
	c->plan = req->tools == NULL;
	c->model = pstrdup(req->model);
	c->summary = json_pack("{s:s, s:i, s:I, s:b}", "model", req->model,
						   "messages", (int) json_array_size(req->messages),
						   "tools", (json_int_t) json_array_size(req->tools), "stream", c->stream);
	return c;
}

/*
 * Provider kind test: the answer is made here, from the request; nothing
 * goes on the wire, the rest of the call (usage, cost, the step row, the
 * step machine) is the same as for a model's answer.
 */
static PaModelCall *
test_call_prepare(RunContext *rc, json_t *state, PaModelRequest *req)
{
	json_t	   *options = json_object_get(json_object_get(rc->def, "provider"), "options");
	char	   *err = NULL;
	char	   *body;
	json_t	   *answer;
	PaModelCall *c;

	req->stream = false;
	/* the messages stand for the body, serialised only when a ceiling needs them */
	if (json_is_number(json_object_get(rc->def, "max_cost_usd")))
	{
		bool		within;

		body = json_dumps(req->messages, JSON_COMPACT);
		if (body == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory building a request for the test provider")));
		within = within_cost_ceiling(rc, state, req, body);
		free(body);
		if (!within)
			return NULL;
	}
	answer = pa_test_respond(req, json_is_true(json_object_get(options, "call_tools")), &err);
	if (answer == NULL)
	{
		pa_sm_fail(state, "request_error", pa_take_string(err), NULL);
		return NULL;
	}
	c = new_call(rc, req);
	c->canned = answer;
	c->provider_timeout = 600000;
	return c;
}

/*
 * A model call, built once, attempted until it succeeds, fails or runs out
 * of retries. The blocking driver (pa_run_call_model) and the worker's
 * event loop share these steps: prepare, then for each attempt arm, POST
 * (their own way), complete.
 */
PaModelCall *
pa_model_call_prepare(RunContext *rc, json_t *state, PaModelRequest *req)
{
	json_t	   *provider = json_object_get(rc->def, "provider");
	json_t	   *options = json_object_get(provider, "options");
	bool		openai = strcmp(rc->kind, "openai") == 0;
	char	   *err = NULL;
	char	   *body;
	PaModelCall *c;

	if (strcmp(rc->kind, "test") == 0)
		return test_call_prepare(rc, state, req);
	req->stream = should_stream(req);
	body = openai ? pa_openai_build_request(req, &err) : pa_anthropic_build_request(req, &err);
	if (body == NULL)
	{
		pa_sm_fail(state, "request_error", pa_take_string(err), NULL);
		return NULL;
	}
	if (!within_cost_ceiling(rc, state, req, body))
	{
		free(body);
		return NULL;
	}
	c = new_call(rc, req);
	c->body = pstrdup(body);
	free(body);
	c->max_retries = json_is_integer(json_object_get(options, "max_retries")) ?
		(int) json_integer_value(json_object_get(options, "max_retries")) : 2;
	c->provider_timeout = json_is_integer(json_object_get(options, "timeout_ms")) ?
		(long) json_integer_value(json_object_get(options, "timeout_ms")) : 600000;
	c->hr.url = psprintf("%s%s", json_string_value(json_object_get(provider, "base_url")),
						 openai ? "/chat/completions" : "/v1/messages");
	c->hr.body = c->body;
	c->hr.connect_timeout_ms = json_is_integer(json_object_get(options, "connect_timeout_ms")) ?
		(long) json_integer_value(json_object_get(options, "connect_timeout_ms")) : 10000;
	c->hr.max_response_bytes = (size_t) pa_max_response_bytes;
	PG_TRY();
	{
		const char *hname;
		json_t	   *hvalue;

		c->hr.headers = pa_http_header(NULL, "Content-Type", "application/json");
		/* the provider's extra headers (never credentials: checked at definition) */
		json_object_foreach(json_object_get(options, "headers"), hname, hvalue)
			c->hr.headers = pa_http_header(c->hr.headers, hname, json_string_value(hvalue));
		if (openai)
		{
			if (rc->api_key)
				c->hr.headers = pa_http_header(c->hr.headers, "Authorization",
											   psprintf("Bearer %s", rc->api_key));
		}
		else
		{
			const char *version = json_string_value(json_object_get(options, "anthropic_version"));

			if (rc->api_key)
				c->hr.headers = pa_http_header(c->hr.headers, "x-api-key", rc->api_key);
			c->hr.headers = pa_http_header(c->hr.headers, "anthropic-version",
										   version ? version : "2023-06-01");
		}
	}
	PG_CATCH();
	{
		pa_model_call_free(c);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return c;
}

/*
 * Before each attempt: the timeout left, a fresh stream reader. False when
 * the run's deadline has passed: the run failed, its last step written.
 */
bool
pa_model_call_arm(PaModelCall *c, json_t *state)
{
	long		left = pa_run_remaining_ms(c->rc);

	if (left <= 0)
	{
		c->failure = pstrdup("the run's deadline passed");
		pa_sm_fail(state, "timeout", c->failure, NULL);
		pa_ledger_step(c->rc->run_id, ++c->rc->ledger_steps, "model", NULL, c->resp.elapsed_ms,
					   c->resp.status, NULL, 0, c->summary, NULL, c->failure);
		return false;
	}
	c->hr.timeout_ms = Min(left, c->provider_timeout);
	c->failure = NULL;
	if (c->stream)
	{
		if (c->ps)
			pa_stream_free(c->ps);
		c->ps = pa_stream_new(c->rc->kind, (size_t) pa_max_response_bytes);
		if (c->ps == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory for a response stream")));
		c->hr.on_data = stream_data;
		c->hr.on_tick = stream_tick;
		c->hr.arg = c->ps;
		c->hr.idle_timeout_ms = pa_stream_idle_timeout_s * 1000L;
	}
	return true;
}

/* The answer of one attempt as a neutral response, or NULL and c->failure. */
static json_t *
attempt_response(PaModelCall *c)
{
	PaHttpResponse *resp = &c->resp;
	bool		openai = strcmp(c->rc->kind, "openai") == 0;
	PaStream   *ps = c->ps;
	json_t	   *response = NULL;
	char	   *err = NULL;

	if (c->canned)
	{
		response = c->canned;
		c->canned = NULL;
		resp->status = 200;
		return response;
	}
	/* Closed after the final event without the chunked terminator: whole. */
	if (resp->error && c->stream && resp->event_stream && pa_stream_done(ps))
		resp->error = NULL;
	if (resp->error == NULL && resp->status >= 200 && resp->status < 300)
	{
		if (c->stream && resp->event_stream)
		{
			response = pa_stream_finish(ps, &err);
			/* cut short before its final event: a transport failure, retryable */
			if (response == NULL && !pa_stream_done(ps))
				resp->error = pa_take_string(err);
		}
		else					/* a server may answer plain JSON to a stream request */
			response = openai ? pa_openai_parse_response(resp->body.data, resp->body.len, &err)
				: pa_anthropic_parse_response(resp->body.data, resp->body.len, &err);
		if (response == NULL && resp->error == NULL)
			c->failure = psprintf("invalid response from the model: %s", pa_take_string(err));
	}
	if (resp->error)
		c->failure = psprintf("model call failed: %s", resp->error);
	else if (response == NULL && c->failure == NULL)
		c->failure = pa_take_string(openai ? pa_openai_error_message(resp->status, resp->body.data, resp->body.len)
									: pa_anthropic_error_message(resp->status, resp->body.data, resp->body.len));
	return response;
}

/*
 * After an attempt's transfer: DONE (the response went to the step
 * machine, usage and cost counted, the step written), RETRY (wait
 * *wait_ms, then arm and POST again) or FAILED (the run failed).
 */
PaCallOutcome
pa_model_call_complete(PaModelCall *c, json_t *state, long *wait_ms)
{
	RunContext *rc = c->rc;
	json_t	   *response = attempt_response(c);
	PaUsage		u;
	double		cost;

	if (response == NULL)
	{
		if (c->attempt < c->max_retries && retryable(&c->resp))
		{
			long		wait = retry_wait_ms(&c->resp, c->attempt);

			pa_ledger_step(rc->run_id, ++rc->ledger_steps, "model", "retry", c->resp.elapsed_ms,
						   c->resp.status, NULL, 0, c->summary, NULL, c->failure);
			if (wait < pa_run_remaining_ms(rc))
			{
				c->attempt++;
				*wait_ms = wait;
				return PA_CALL_RETRY;
			}
		}
		pa_sm_fail(state, c->resp.timed_out ? "timeout" : "model_error", c->failure, NULL);
		pa_ledger_step(rc->run_id, ++rc->ledger_steps, "model", NULL, c->resp.elapsed_ms,
					   c->resp.status, NULL, 0, c->summary, NULL, c->failure);
		return PA_CALL_FAILED;
	}

	pa_usage_from_response(response, &u);
	cost = usage_cost(rc, &u);
	rc->usage.input_tokens += u.input_tokens;
	rc->usage.output_tokens += u.output_tokens;
	rc->usage.cached_tokens += u.cached_tokens;
	rc->usage.cache_creation_tokens += u.cache_creation_tokens;
	rc->usage.reasoning_tokens += u.reasoning_tokens;
	rc->cost += cost;
	pa_ledger_step(rc->run_id, ++rc->ledger_steps, c->plan ? "plan" : "model", NULL,
				   c->resp.elapsed_ms, c->resp.status, &u, cost, c->summary, response, NULL);
	pa_sm_model_response(&rc->spec, state, response);
	json_decref(response);
	return PA_CALL_DONE;
}

void
pa_model_call_free(PaModelCall *c)
{
	if (c == NULL)
		return;
	if (c->ps)
		pa_stream_free(c->ps);
	c->ps = NULL;
	curl_slist_free_all(c->hr.headers);
	c->hr.headers = NULL;
	json_decref(c->summary);
	c->summary = NULL;
	json_decref(c->canned);
	c->canned = NULL;
}

/* One model call in this backend (with retries); false and the run failed on error. */
bool
pa_run_call_model(RunContext *rc, json_t *state, PaModelRequest *req)
{
	PaModelCall *volatile c = pa_model_call_prepare(rc, state, req);
	volatile PaCallOutcome outcome = PA_CALL_FAILED;

	if (c == NULL)
		return false;
	pa_progress_begin(rc->run_id, rc->owner, rc->agent_name, req->model, c->stream);
	PG_TRY();
	{
		while (pa_model_call_arm(c, state))
		{
			long		wait = 0;

			if (c->canned == NULL)
				pa_http_post(&c->hr, &c->resp);
			outcome = pa_model_call_complete(c, state, &wait);
			if (outcome != PA_CALL_RETRY)
				break;
			pause_ms(wait);
		}
	}
	PG_FINALLY();
	{
		pa_progress_end();
		pa_model_call_free(c);
	}
	PG_END_TRY();
	return outcome == PA_CALL_DONE;
}
